"""Staff's page of a community's no-shows (``services.no_shows``): who did not come to a
shift or serve a wish in time, and a form to excuse each with a note. The volunteer's own
record is a section of their schedule (``pages.volunteer``)."""

from __future__ import annotations

from starlette.responses import Response

from volunteer_hub.errors import VolunteerHubError
from volunteer_hub.services import no_shows
from volunteer_hub.web.pages.base import Page, form_errors, page_route, status_of
from volunteer_hub.web.pages.forms import given, values
from volunteer_hub.web.pages.staff import require_community

SHOWN = 100


async def no_shows_page(
    page: Page,
    *,
    errors: dict | None = None,
    typed: dict | None = None,
    problem: str | None = None,
    status: int = 200,
) -> Response:
    community = await require_community(page)
    rows = await no_shows.community_no_shows(page.hub, page.user, community.id, limit=SHOWN)
    return page.render(
        "staff/no_shows.html",
        status=status,
        community=community,
        rows=rows,
        notices={
            "excused": page.gettext("Excused: it no longer counts, and the volunteer is told.")
        },
        errors=errors or {},
        typed=typed or {},
        problem=problem,
        section="no_shows",
    )


async def excuse(page: Page) -> Response:
    no_show_id = page.path_id()
    form = values(await page.read_form(), "note")
    try:
        await no_shows.excuse(page.hub, page.user, no_show_id, given({"note": form["note"]}))
    except VolunteerHubError as exc:
        if exc.kind in ("not_found", "forbidden"):
            raise
        found = form_errors(exc, page.locale)
        return await no_shows_page(
            page,
            errors={no_show_id: found},
            typed={no_show_id: form},
            problem=found.get("__all__"),  # excused meanwhile: its form is gone
            status=status_of(exc),
        )
    community = page.request.query_params.get("community")
    query = {"community": community} if community else {}
    return page.redirect("/staff/no-shows", **query, done="excused")


ROUTES = [
    page_route("/staff/no-shows", no_shows_page),
    page_route("/staff/no-shows/{id:int}/excuse", excuse, methods=["POST"]),
]
