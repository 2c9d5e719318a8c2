"""The HTML pages: server-rendered, working without JavaScript, on the same services as the API."""

from volunteer_hub.web.pages import (
    accounts,
    availability,
    console,
    emergency,
    invitations,
    no_shows,
    reach,
    referrals,
    roster,
    rostering,
    staff,
    volunteer,
    wishes,
)

ROUTES = [
    *accounts.ROUTES,
    *wishes.ROUTES,
    *staff.ROUTES,
    *emergency.ROUTES,
    *console.ROUTES,
    *roster.ROUTES,
    *volunteer.ROUTES,
    *reach.ROUTES,
    *referrals.ROUTES,
    *no_shows.ROUTES,
    *invitations.ROUTES,
    *rostering.ROUTES,
    *availability.ROUTES,
]
