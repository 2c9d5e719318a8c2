"""Emergency mode and call-outs in the staff console.

``/staff/emergency`` shows whether the community is in emergency mode, switches it on (a
reason, the call-out it sends, the wish categories approved without review) and off.
``/staff/callouts`` lists the call-outs with their acknowledgements and sends a new one;
``/staff/callouts/{id}`` shows one call-out's headcount, which ``/static/emergency.js``
keeps current by polling ``/staff/callouts/{id}/headcount`` (the same numbers as the API's
``GET /api/v1/callouts/{id}``, for the page's session cookie). The services decide who
may do what; these handlers read forms, call them, and show what they answer.
"""

from __future__ import annotations

from zoneinfo import ZoneInfo

from starlette.datastructures import FormData
from starlette.responses import JSONResponse, Response

from volunteer_hub.errors import VolunteerHubError
from volunteer_hub.i18n import localize
from volunteer_hub.services import callouts, emergency, people
from volunteer_hub.services.views import CommunityView
from volunteer_hub.web.pages.base import Page, form_errors, page_route, status_of
from volunteer_hub.web.pages.forms import all_values, given, values
from volunteer_hub.web.pages.staff import require_community

TARGET_FIELDS = ("target_kind", "team_id", "grid_id", "skill")
# The form field that names a target's value, by kind.
VALUE_FIELD = {"team": "team_id", "grid": "grid_id", "skill": "skill"}


def _target(form: dict[str, str | None]) -> dict:
    """The call-out's target from the form: its kind, and the value its own field gives."""
    kind = form.get("target_kind") or "everyone"
    target: dict = {"kind": kind}
    field = VALUE_FIELD.get(kind)
    if field is not None and form.get(field) is not None:
        raw = form[field]
        target["value"] = int(raw) if kind != "skill" and raw.isdigit() and len(raw) < 10 else raw
    return target


def _errors(page: Page, exc: VolunteerHubError, kind: str | None) -> dict[str, str]:
    """The service's field errors under the form's names (a target's value: its own field)."""
    errors = {}
    for key, message in form_errors(exc, page.locale).items():
        if key in ("target.value", "target"):
            key = VALUE_FIELD.get(kind or "", "target_kind")
        elif key.startswith("target"):
            key = "target_kind"
        errors.setdefault(key, message)
    return errors


async def _choices(page: Page, community: CommunityView) -> dict:
    found = await emergency.choices(page.hub, page.user, community.id)
    names = page.hub.wish_categories(community.id)
    return {
        "teams": [(str(i), name) for i, name in found.teams],
        "grids": [(str(i), name) for i, name in found.grids],
        "categories": [
            (code, localize(names[code].name, page.locale)) for code in found.categories
        ],
    }


def _target_text(page: Page, choices: dict, kind: str, value: str | None) -> str:
    """Whom a call-out named, in words."""
    if kind == "team":
        name = dict(choices["teams"]).get(value or "", value)
        return page.gettext("Team: %(name)s", name=name)
    if kind == "grid":
        name = dict(choices["grids"]).get(value or "", value)
        return page.gettext("Grid: %(name)s", name=name)
    if kind == "skill":
        return page.gettext("Skill: %(name)s", name=value)
    return page.gettext("Every volunteer")


# --- emergency mode -----------------------------------------------------------------------


async def emergency_page(
    page: Page,
    *,
    errors: dict | None = None,
    form: dict | None = None,
    chosen: list[str] | None = None,
    status: int = 200,
) -> Response:
    community = await require_community(page)
    choices = await _choices(page, community)
    state = await emergency.state(page.user, community.id)
    count = None
    if state.callout_id is not None:
        count = await callouts.headcount(page.hub, page.user, state.callout_id)
    names = dict(choices["categories"])
    return page.render(
        "staff/emergency.html",
        status=status,
        community=community,
        state=state,
        count=count,
        chosen_names=[names.get(code, code) for code in state.categories],
        errors=errors or {},
        form=form or {"target_kind": "everyone"},
        chosen=chosen or [],
        section="emergency",
        **choices,
    )


async def start_emergency(page: Page) -> Response:
    community = await require_community(page)
    posted = await page.read_form()
    form = values(posted, "reason", "message", *TARGET_FIELDS)
    chosen = all_values(posted, "categories")
    data = {
        **given({k: form[k] for k in ("reason", "message")}),
        "target": _target(form),
        "categories": chosen,
    }
    try:
        await emergency.start(page.hub, page.user, community.id, data)
    except VolunteerHubError as exc:
        if exc.kind in ("not_found", "forbidden"):
            raise
        errors = _errors(page, exc, form.get("target_kind"))
        return await emergency_page(
            page, errors=errors, form=form, chosen=chosen, status=status_of(exc)
        )
    return page.redirect("/staff/emergency", community=community.id, done="started")


async def end_emergency(page: Page) -> Response:
    community = await require_community(page)
    form = values(await page.read_form(), "note")
    try:
        await emergency.end(page.hub, page.user, community.id, given(form))
    except VolunteerHubError as exc:
        if exc.kind in ("not_found", "forbidden"):
            raise
        return await emergency_page(
            page, errors=form_errors(exc, page.locale), form=form, status=status_of(exc)
        )
    return page.redirect("/staff/emergency", community=community.id, done="ended")


# --- call-outs ------------------------------------------------------------------------------


async def callout_list(
    page: Page, *, errors: dict | None = None, form: dict | None = None, status: int = 200
) -> Response:
    community = await require_community(page)
    choices = await _choices(page, community)
    found = await callouts.list_callouts(page.user, community.id)
    listed = [(c, _target_text(page, choices, c.target_kind, c.target_value)) for c in found]
    return page.render(
        "staff/callouts.html",
        status=status,
        community=community,
        listed=listed,
        errors=errors or {},
        form=form or {"target_kind": "everyone"},
        section="callouts",
        **choices,
    )


async def create_callout(page: Page) -> Response:
    community = await require_community(page)
    posted: FormData = await page.read_form()
    form = values(posted, "title", "message", *TARGET_FIELDS)
    data = {**given({k: form[k] for k in ("title", "message")}), "target": _target(form)}
    try:
        callout = await callouts.call_out(page.hub, page.user, community.id, data)
    except VolunteerHubError as exc:
        if exc.kind in ("not_found", "forbidden"):
            raise
        errors = _errors(page, exc, form.get("target_kind"))
        return await callout_list(page, errors=errors, form=form, status=status_of(exc))
    return page.redirect(f"/staff/callouts/{callout.id}", community=community.id, done="sent")


async def callout_page(page: Page) -> Response:
    count = await callouts.headcount(page.hub, page.user, page.path_id())
    community = await people.find_community(count.community_id)  # the call-out's own
    choices = await _choices(page, community)
    return page.render(
        "staff/callout.html",
        community=community,
        count=count,
        target=_target_text(page, choices, count.target_kind, count.target_value),
        section="callouts",
    )


async def callout_headcount(page: Page) -> Response:
    """The headcount as JSON, for the call-out page's script (the session's cookie)."""
    count = await callouts.headcount(page.hub, page.user, page.path_id())
    body = {
        "id": count.id,
        "recipients": count.recipients,
        "acknowledged": count.acknowledged,
        "delivered": count.delivered,
        "created_at": count.created_at.astimezone(ZoneInfo(count.timezone)).isoformat(),
    }
    return JSONResponse(body)


ROUTES = [
    page_route("/staff/emergency", emergency_page),
    page_route("/staff/emergency/start", start_emergency, methods=["POST"]),
    page_route("/staff/emergency/end", end_emergency, methods=["POST"]),
    page_route("/staff/callouts", callout_list),
    page_route("/staff/callouts", create_callout, methods=["POST"]),
    page_route("/staff/callouts/{id:int}", callout_page),
    page_route("/staff/callouts/{id:int}/headcount", callout_headcount),
]
