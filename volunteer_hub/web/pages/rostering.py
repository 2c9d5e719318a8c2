"""The optimal fair roster's staff pages (排班方案): choose a period and generate a plan,
preview it (who, where, why, the load spread before and after), take a person off or give
a place to someone else, then accept it (its places go out as invitations) or discard it.

For staff of the community; the services (``services.rostering``) decide.
"""

from __future__ import annotations

from datetime import date, timedelta
from zoneinfo import ZoneInfo

from starlette.responses import Response

from volunteer_hub.errors import InvalidInput, NotFound, VolunteerHubError
from volunteer_hub.services import rostering
from volunteer_hub.web.pages.base import Page, form_errors, page_route, status_of
from volunteer_hub.web.pages.forms import values
from volunteer_hub.web.pages.staff import Bar, require_community
from volunteer_hub.web.pages.volunteer import _when_span


def _notices(page: Page) -> dict[str, str]:
    return {
        "removed": page.gettext("The person is off this place in the plan."),
        "swapped": page.gettext("The place now goes to the person you chose."),
        "accepted": page.gettext("The plan is accepted: everyone in it is invited."),
        "discarded": page.gettext("The plan is discarded."),
    }


def _spread_bars(page: Page, spread: dict, kind: str) -> list[Bar]:
    hist = spread.get("histogram") or []
    return [
        Bar(page.gettext("%(count)s places", count=k), n, str(n), kind) for k, n in enumerate(hist)
    ]


async def roster_home(
    page: Page, *, errors: dict | None = None, form: dict | None = None, status: int = 200
) -> Response:
    community = await require_community(page)
    zone = ZoneInfo(community.timezone)
    plans = [
        {
            "id": p.id,
            "status": p.status.value,
            "summary": p.summary or {},
            "first": p.period_start.astimezone(zone).date(),
            "last": (p.period_end.astimezone(zone) - timedelta(days=1)).date(),
        }
        for p in await rostering.list_plans(page.user, community.id)
    ]
    start, end = rostering.default_period(page.hub, community.timezone)
    return page.render(
        "staff/roster_plans.html",
        status=status,
        community=community,
        plans=plans,
        form=form or {"start": start.isoformat(), "end": end.isoformat()},
        errors=errors or {},
        timezone=community.timezone,
        section="roster_plans",
    )


def _date(raw: str | None, field: str) -> date | None:
    if not raw:
        return None
    try:
        return date.fromisoformat(raw)
    except ValueError:
        raise InvalidInput.for_field(field, "Give a date like 2026-12-07.") from None


async def generate(page: Page) -> Response:
    community = await require_community(page)
    form = values(await page.read_form(), "start", "end")
    try:
        data = {"start": _date(form["start"], "start"), "end": _date(form["end"], "end")}
        plan = await rostering.generate_plan(page.hub, page.user, community.id, data)
    except VolunteerHubError as exc:
        if exc.kind in ("not_found", "forbidden"):
            raise
        return await roster_home(
            page, errors=form_errors(exc, page.locale), form=form, status=status_of(exc)
        )
    return page.redirect(f"/staff/roster/{plan.id}")


async def plan_page(
    page: Page, *, errors: dict | None = None, status: int = 200, skipped: list | None = None
) -> Response:
    view = await rostering.plan_view(page.hub, page.user, page.path_id(), page.locale)
    shifts: dict[tuple, list] = {}
    for a in view.assignments:
        shifts.setdefault((a.occurrence_start, a.task_id), []).append(a)
    summary = view.summary
    zone = ZoneInfo(view.timezone)
    return page.render(
        "staff/roster_plan.html",
        first=view.period_start.astimezone(zone).date(),
        last=(view.period_end.astimezone(zone) - timedelta(days=1)).date(),
        status=status,
        plan=view,
        shifts=list(shifts.values()),
        summary=summary,
        before=_spread_bars(page, summary.get("before", {}), "muted"),
        after=_spread_bars(page, summary.get("after", {}), ""),
        community={"id": view.community_id},
        span=_when_span(page),
        notices=_notices(page),
        errors=errors or {},
        skipped=skipped,
        timezone=view.timezone,
        section="roster_plans",
    )


def _assignment_id(raw: str | None) -> int:
    if raw is None or not raw.isdigit() or len(raw) > 9:
        raise NotFound("No such assignment in this plan.", code="assignment_not_found")
    return int(raw)


async def remove(page: Page) -> Response:
    plan_id = page.path_id()
    form = values(await page.read_form(), "assignment_id")
    try:
        await rostering.remove_assignment(
            page.hub, page.user, plan_id, _assignment_id(form["assignment_id"])
        )
    except VolunteerHubError as exc:
        if exc.kind in ("not_found", "forbidden"):
            raise
        return await plan_page(page, errors=form_errors(exc, page.locale), status=status_of(exc))
    return page.redirect(f"/staff/roster/{plan_id}", done="removed")


async def swap_page(page: Page, *, errors: dict | None = None, status: int = 200) -> Response:
    plan_id, aid = page.path_id(), page.path_id("aid")
    view = await rostering.plan_view(page.hub, page.user, plan_id, page.locale)
    assignment = next((a for a in view.assignments if a.id == aid), None)
    if assignment is None:
        raise NotFound("No such assignment in this plan.", code="assignment_not_found")
    options = await rostering.replacement_candidates(page.hub, page.user, plan_id, aid)
    return page.render(
        "staff/roster_swap.html",
        status=status,
        plan=view,
        assignment=assignment,
        options=options,
        community={"id": view.community_id},
        span=_when_span(page),
        errors=errors or {},
        timezone=view.timezone,
        section="roster_plans",
    )


async def swap(page: Page) -> Response:
    plan_id, aid = page.path_id(), page.path_id("aid")
    form = values(await page.read_form(), "person_id")
    raw = form["person_id"] or ""
    try:
        if not raw.isdigit() or len(raw) > 9:
            raise InvalidInput.for_field("person_id", "Choose a person.")
        await rostering.swap_assignment(page.hub, page.user, plan_id, aid, {"person_id": raw})
    except VolunteerHubError as exc:
        if exc.kind in ("not_found", "forbidden"):
            raise
        return await swap_page(page, errors=form_errors(exc, page.locale), status=status_of(exc))
    return page.redirect(f"/staff/roster/{plan_id}", done="swapped")


async def accept(page: Page) -> Response:
    plan_id = page.path_id()
    await page.read_form()
    try:
        result = await rostering.accept_plan(page.hub, page.user, plan_id)
    except VolunteerHubError as exc:
        if exc.kind in ("not_found", "forbidden"):
            raise
        return await plan_page(page, errors=form_errors(exc, page.locale), status=status_of(exc))
    if result.skipped:  # say which places were skipped, on the plan itself
        return await plan_page(page, skipped=list(result.skipped))
    return page.redirect(f"/staff/roster/{plan_id}", done="accepted")


async def discard(page: Page) -> Response:
    plan_id = page.path_id()
    await page.read_form()
    try:
        await rostering.discard_plan(page.hub, page.user, plan_id)
    except VolunteerHubError as exc:
        if exc.kind in ("not_found", "forbidden"):
            raise
        return await plan_page(page, errors=form_errors(exc, page.locale), status=status_of(exc))
    return page.redirect(f"/staff/roster/{plan_id}", done="discarded")


ROUTES = [
    page_route("/staff/roster", roster_home),
    page_route("/staff/roster", generate, methods=["POST"]),
    page_route("/staff/roster/{id:int}", plan_page),
    page_route("/staff/roster/{id:int}/remove", remove, methods=["POST"]),
    page_route("/staff/roster/{id:int}/swap/{aid:int}", swap_page),
    page_route("/staff/roster/{id:int}/swap/{aid:int}", swap, methods=["POST"]),
    page_route("/staff/roster/{id:int}/accept", accept, methods=["POST"]),
    page_route("/staff/roster/{id:int}/discard", discard, methods=["POST"]),
]
