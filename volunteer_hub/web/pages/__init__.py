"""The HTML pages: server-rendered, working without JavaScript, on the same services as the API."""

from volunteer_hub.web.pages import (
    accounts,
    availability,
    console,
    emergency,
    reach,
    roster,
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
    *availability.ROUTES,
]
