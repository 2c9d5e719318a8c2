"""The HTML pages: server-rendered, working without JavaScript, on the same services as the API."""

from volunteer_hub.web.pages import accounts, roster, staff, volunteer, wishes

ROUTES = [
    *accounts.ROUTES,
    *wishes.ROUTES,
    *staff.ROUTES,
    *roster.ROUTES,
    *volunteer.ROUTES,
]
