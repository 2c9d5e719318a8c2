"""The administration console: communities (admins), a community's settings, its grids,
people, teams, notification channels, and the plugins' status.

As in ``pages/staff.py``, the services decide who may do what (staff of the community,
or an admin, who acts as staff of every community); these handlers read forms, call
them, and show what they answer. Every console link carries ``?community=``.
"""

from __future__ import annotations

from starlette.responses import Response

from volunteer_hub.errors import NotFound, VolunteerHubError
from volunteer_hub.i18n import localize
from volunteer_hub.services import console, people, teams
from volunteer_hub.services.views import CommunityView, Role
from volunteer_hub.web.pages.base import Page, form_errors, page_route, status_of
from volunteer_hub.web.pages.forms import all_values, given, values
from volunteer_hub.web.pages.staff import require_community

# The zones offered first on the settings page (any IANA zone may be typed).
ZONES = ("Asia/Shanghai", "Asia/Urumqi", "Asia/Hong_Kong", "Asia/Macau", "Asia/Taipei")
ROLE_FILTERS = ("resident", "volunteer", "party_member", "grid_worker", "staff")


def _form_id(raw: str | None) -> int:
    if raw is None or not raw.isdigit() or len(raw) > 9:
        raise NotFound("Not found.")
    return int(raw)


def _refusal(exc: VolunteerHubError) -> None:
    """Refusals a page cannot show beside a field are answered as errors."""
    if exc.kind in ("not_found", "forbidden", "unauthenticated"):
        raise exc


# --- communities (administrators) ------------------------------------------------------------


async def communities_page(
    page: Page, *, errors: dict | None = None, form: dict | None = None, status: int = 200
) -> Response:
    found = await console.admin_communities(page.user)
    return page.render(
        "admin/communities.html",
        status=status,
        communities=found,
        zones=ZONES,
        errors=errors or {},
        form=form or {"timezone": "Asia/Shanghai"},
        section="communities",
    )


async def create_community(page: Page) -> Response:
    form = values(await page.read_form(), "name", "timezone")
    try:
        created = await people.create_community(page.hub, page.user, given(form))
    except VolunteerHubError as exc:
        _refusal(exc)
        return await communities_page(
            page, errors=form_errors(exc, page.locale), form=form, status=status_of(exc)
        )
    return page.redirect("/admin/communities", done="created", created=created.id)


# --- a community's settings ------------------------------------------------------------------


async def settings_page(
    page: Page, *, errors: dict | None = None, form: dict | None = None, status: int = 200
) -> Response:
    community = await require_community(page)
    found = await console.community_settings(page.hub, page.user, community.id)
    shown = found.community
    return page.render(
        "staff/community.html",
        status=status,
        community=shown,
        categories=[
            (c.code, localize(c.name, page.locale), c.served, c.manual) for c in found.categories
        ],
        zones=ZONES,
        errors=errors or {},
        form=form
        or {
            "approve_volunteers": shown.approve_volunteers,
            "quiet_start": shown.quiet_start,
            "quiet_end": shown.quiet_end,
            "timezone": shown.timezone,
            "manual": list(shown.manual_dispatch_categories),
            "dispatch_k": shown.dispatch_k,
            "invitation_minutes": shown.invitation_minutes,
        },
        section="settings",
    )


async def save_settings(page: Page) -> Response:
    community = await require_community(page)
    posted = await page.read_form()
    typed = ("quiet_start", "quiet_end", "timezone", "dispatch_k", "invitation_minutes")
    form = values(posted, *typed, "approve_volunteers")
    manual = all_values(posted, "manual")
    data = {
        "approve_volunteers": form["approve_volunteers"] == "on",
        "manual_dispatch_categories": manual,
        **given({k: form[k] for k in typed}),
    }
    try:
        await people.update_community(page.hub, page.user, community.id, data)
    except VolunteerHubError as exc:
        _refusal(exc)
        shown = {**data, **form, "approve_volunteers": data["approve_volunteers"], "manual": manual}
        return await settings_page(
            page, errors=form_errors(exc, page.locale), form=shown, status=status_of(exc)
        )
    return page.redirect("/staff/community", community=community.id, done="saved")


# --- grids -------------------------------------------------------------------------------------


async def grids_page(
    page: Page, *, errors: dict | None = None, typed: dict | None = None, status: int = 200
) -> Response:
    community = await require_community(page)
    grids = await people.grid_views(page.user, community.id)
    return page.render(
        "staff/grids.html",
        status=status,
        community=community,
        grids=grids,
        errors=errors or {},
        typed=typed or {},
        section="grids",
    )


async def create_grid(page: Page) -> Response:
    community = await require_community(page)
    form = values(await page.read_form(), "name")
    try:
        await people.create_grid(page.hub, page.user, community.id, given(form))
    except VolunteerHubError as exc:
        _refusal(exc)
        errors = {"new": form_errors(exc, page.locale)}
        return await grids_page(page, errors=errors, typed={"new": form}, status=status_of(exc))
    return page.redirect("/staff/grids", community=community.id, done="created")


async def rename_grid(page: Page) -> Response:
    community = await require_community(page)
    grid_id = page.path_id()
    form = values(await page.read_form(), "name")
    try:
        await people.rename_grid(page.hub, page.user, grid_id, given(form))
    except VolunteerHubError as exc:
        _refusal(exc)
        errors = {grid_id: form_errors(exc, page.locale)}
        return await grids_page(page, errors=errors, typed={grid_id: form}, status=status_of(exc))
    return page.redirect("/staff/grids", community=community.id, done="renamed")


# --- people --------------------------------------------------------------------------------------


async def people_page(page: Page) -> Response:
    community = await require_community(page)
    query = {
        "q": (page.request.query_params.get("q") or "").strip(),
        "role": page.request.query_params.get("role") or "",
    }
    errors: dict[str, str] = {}
    found = None
    status = 200
    if query["q"] or query["role"]:
        try:
            found = await people.search_people(
                page.user,
                community.id,
                {k: v for k, v in query.items() if v},
                limit=console.PAGE_LIMIT,
                by_name=True,
            )
        except VolunteerHubError as exc:
            _refusal(exc)
            errors, status = form_errors(exc, page.locale), status_of(exc)
    else:
        found = await people.search_people(
            page.user, community.id, {"role": "staff"}, limit=console.PAGE_LIMIT, by_name=True
        )
    return page.render(
        "staff/people.html",
        status=status,
        community=community,
        query=query,
        roles=ROLE_FILTERS,
        found=found,
        searched=bool(query["q"] or query["role"]),
        errors=errors,
        section="people",
    )


async def person_page(
    page: Page, *, errors: dict | None = None, typed: dict | None = None, status: int = 200
) -> Response:
    community = await require_community(page)
    detail = await people.person_detail(page.user, page.path_id())
    grids = await people.list_grids(community.id)
    return page.render(
        "staff/person.html",
        status=status,
        community=community,
        detail=detail,
        person=detail.person,
        grids=[(g.id, g.name) for g in grids],
        errors=errors or {},
        typed=typed or {},
        section="people",
    )


def _person_action(name: str, act):
    """A form on a person's page; a refusal is shown there, under the form's ``name``."""

    async def endpoint(page: Page) -> Response:
        community = await require_community(page)
        person_id = page.path_id()
        form = await page.read_form()
        try:
            done = await act(page, community, person_id, form)
        except VolunteerHubError as exc:
            _refusal(exc)
            typed = {name: values(form, "role", "grid_id")}
            errors = {name: form_errors(exc, page.locale)}
            return await person_page(page, errors=errors, typed=typed, status=status_of(exc))
        return page.redirect(f"/staff/people/{person_id}", community=community.id, done=done)

    endpoint.__name__ = f"person_{name}"
    return page_route(f"/staff/people/{{id:int}}/{name}", endpoint, methods=["POST"])


async def _assign(page: Page, community: CommunityView, person_id: int, form) -> str:
    typed = values(form, "role", "grid_id")
    grid = typed["grid_id"]
    grid_id = _form_id(grid) if grid is not None else None
    await people.assign_role(
        page.hub, page.user, community.id, person_id, typed["role"] or "", grid_id=grid_id
    )
    return "assigned"


async def _revoke(page: Page, community: CommunityView, person_id: int, form) -> str:
    typed = values(form, "role", "grid_id")
    grid = typed["grid_id"]
    await people.revoke_role(
        page.hub,
        page.user,
        community.id,
        person_id,
        typed["role"] or "",
        grid_id=_form_id(grid) if grid is not None else None,
    )
    return "revoked"


async def _deactivate(page: Page, community: CommunityView, person_id: int, form) -> str:
    await console.deactivate_person(page.hub, page.user, person_id)
    return "deactivated"


async def _reactivate(page: Page, community: CommunityView, person_id: int, form) -> str:
    await people.reactivate_person(page.hub, page.user, person_id)
    return "reactivated"


# --- teams ---------------------------------------------------------------------------------------


async def teams_page(
    page: Page, *, errors: dict | None = None, typed: dict | None = None, status: int = 200
) -> Response:
    community = await require_community(page)
    found = await console.team_views(page.user, community.id)
    kinds = page.hub.team_kinds()
    return page.render(
        "staff/teams.html",
        status=status,
        community=community,
        teams=found,
        kinds=[(code, localize(k.name, page.locale)) for code, k in kinds.items()],
        kind_names={code: localize(k.name, page.locale) for code, k in kinds.items()},
        leaders=await console.leader_choices(page.user, community.id),
        errors=errors or {},
        typed=typed or {},
        section="teams",
    )


async def create_team(page: Page) -> Response:
    community = await require_community(page)
    form = values(await page.read_form(), "name", "kind", "leader_id")
    try:
        await teams.create_team(page.hub, page.user, community.id, given(form))
    except VolunteerHubError as exc:
        _refusal(exc)
        errors = {"new": form_errors(exc, page.locale)}
        return await teams_page(page, errors=errors, typed={"new": form}, status=status_of(exc))
    return page.redirect("/staff/teams", community=community.id, done="created")


async def change_team(page: Page) -> Response:
    community = await require_community(page)
    team_id = page.path_id()
    form = values(await page.read_form(), "name", "leader_id")
    data: dict = {"name": form["name"]} if form["name"] else {}
    if form["leader_id"] == "none":
        data["no_leader"] = True
    elif form["leader_id"]:
        data["leader_id"] = form["leader_id"]
    try:
        await teams.update_team(page.hub, page.user, team_id, data)
    except VolunteerHubError as exc:
        _refusal(exc)
        errors = {team_id: form_errors(exc, page.locale)}
        return await teams_page(page, errors=errors, typed={team_id: form}, status=status_of(exc))
    return page.redirect("/staff/teams", community=community.id, done="changed")


# --- notification channels -----------------------------------------------------------------------


async def channels_page(
    page: Page, *, errors: dict | None = None, typed: dict | None = None, status: int = 200
) -> Response:
    community = await require_community(page)
    forms = await console.channel_forms(page.hub, page.user, community.id)
    return page.render(
        "staff/channels.html",
        status=status,
        community=community,
        forms=[(f, localize(f.name, page.locale)) for f in forms],
        errors=errors or {},
        typed=typed or {},
        section="channels",
    )


async def configure_channel(page: Page) -> Response:
    community = await require_community(page)
    posted = await page.read_form()
    head = values(posted, "code", "name", "enabled")
    code = head["code"] or ""
    kinds = page.hub.notification_channels()
    if code not in kinds:
        raise NotFound("Not found.")
    names = [f"s_{n}" for n in kinds[code].settings.model_json_schema().get("properties", {})]
    raw = {k[2:]: v for k, v in values(posted, *names).items()}
    try:
        await console.configure_channel(
            page.hub,
            page.user,
            community.id,
            code,
            head["name"] or "",
            raw,
            head["enabled"] == "on",
        )
    except VolunteerHubError as exc:
        _refusal(exc)
        found = form_errors(exc, page.locale)
        errors = {code: {k.removeprefix("settings."): v for k, v in found.items()}}
        typed = {code: {**head, **{k: v for k, v in raw.items() if k not in _secrets(page, code)}}}
        return await channels_page(page, errors=errors, typed=typed, status=status_of(exc))
    return page.redirect("/staff/channels", community=community.id, done="configured")


def _secrets(page: Page, code: str) -> tuple[str, ...]:
    return page.hub.notification_channels()[code].secret_settings


# --- plugins -----------------------------------------------------------------------------------


async def plugins_page(page: Page) -> Response:
    """Administrators: every plugin with its errors; with ``?community=``, that community's
    settings. Staff: their community's view, read-only."""
    raw = page.request.query_params.get("community")
    community = None
    if raw is not None or not page.user.is_admin:
        community = await require_community(page)
    lines = console.plugin_lines(page.hub, page.user, community.id if community else None)
    return page.render(
        "admin/plugins.html",
        community=community,
        plugins=lines,
        section="plugins",
    )


# --- the home page of staff and administrators ---------------------------------------------------


def console_home(page: Page) -> str | None:
    """Where an administrator (the communities) or staff (the console) start; None for
    everyone else (the resident's home)."""
    if page.actor is None:
        return None
    if page.actor.is_admin:
        return "/admin/communities"
    staffed = sorted(
        g.community_id
        for g in page.actor.grants
        if g.role is Role.STAFF and g.community_id is not None
    )
    if not staffed:
        return None
    if page.community_id in staffed:
        return "/staff"
    return f"/staff?community={staffed[0]}"  # staff of a community they do not live in


ROUTES = [
    page_route("/admin/communities", communities_page),
    page_route("/admin/communities", create_community, methods=["POST"]),
    page_route("/admin/plugins", plugins_page),
    page_route("/staff/community", settings_page),
    page_route("/staff/community", save_settings, methods=["POST"]),
    page_route("/staff/grids", grids_page),
    page_route("/staff/grids", create_grid, methods=["POST"]),
    page_route("/staff/grids/{id:int}/rename", rename_grid, methods=["POST"]),
    page_route("/staff/people", people_page),
    page_route("/staff/people/{id:int}", person_page),
    _person_action("roles", _assign),
    _person_action("revoke", _revoke),
    _person_action("deactivate", _deactivate),
    _person_action("reactivate", _reactivate),
    page_route("/staff/teams", teams_page),
    page_route("/staff/teams", create_team, methods=["POST"]),
    page_route("/staff/teams/{id:int}/change", change_team, methods=["POST"]),
    page_route("/staff/channels", channels_page),
    page_route("/staff/channels", configure_channel, methods=["POST"]),
]
