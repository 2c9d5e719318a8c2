"""The JSON API's endpoints, one module per area (API.md's sections)."""

from volunteer_hub.web.routes import (
    accounts,
    availability,
    calendars,
    callouts,
    communities,
    invitations,
    no_shows,
    notifications,
    open311_keys,
    plugins,
    referrals,
    rostering,
    tasks,
    wishes,
)

ENDPOINTS = [
    *accounts.ENDPOINTS,
    *communities.ENDPOINTS,
    *wishes.ENDPOINTS,
    *tasks.ENDPOINTS,
    *calendars.ENDPOINTS,
    *notifications.ENDPOINTS,
    *invitations.ENDPOINTS,
    *callouts.ENDPOINTS,
    *open311_keys.ENDPOINTS,
    *plugins.ENDPOINTS,
    *referrals.ENDPOINTS,
    *no_shows.ENDPOINTS,
    *rostering.ENDPOINTS,
    *availability.ENDPOINTS,
]
