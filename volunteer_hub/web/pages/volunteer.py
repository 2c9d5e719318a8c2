"""The volunteer's pages: wishes to claim, tasks and shifts, my schedule, my calendar, my
hours, teams, and the in-service party member's report. The services decide; these
handlers read the request, call them, and show the answer or the refusal in plain words."""

from __future__ import annotations

import io
from datetime import datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import segno
from babel.dates import format_skeleton, format_time
from starlette.responses import Response

from volunteer_hub.errors import VolunteerHubError
from volunteer_hub.i18n import localize
from volunteer_hub.services import calendars, no_shows, people, roster, tasks, teams, wishes
from volunteer_hub.services.access import active_team_ids, awaiting_approval
from volunteer_hub.services.views import MembershipStatus, Role, WishStatus
from volunteer_hub.web.pages.base import Page, form_errors, page_route, safe_next, status_of
from volunteer_hub.web.pages.forms import given, values
from volunteer_hub.web.routes.calendars import personal_feed, team_feed

WISHES_SHOWN = 100
# Field names of the join form for what the service reports of the first qualification.
JOIN_FIELDS = {
    "qualifications.0.kind": "qualification",
    "qualifications.0.expires_on": "expires_on",
    "qualifications.0.certificate_number": "certificate_number",
}
# The same fields when a member declares a qualification later (a renewal).
DECLARE_FIELDS = {
    "kind": "qualification",
    "expires_on": "expires_on",
    "certificate_number": "certificate_number",
}
JOINED = {MembershipStatus.ACTIVE: "joined", MembershipStatus.PENDING: "pending"}


def _notices(page: Page) -> dict[str, str]:
    """The line shown after a form went through (``?done=<slug>``)."""
    return {
        "confirmed": page.gettext("You are signed up. Thank you!"),
        "waitlisted": page.gettext(
            "All places are taken, so you are on the waiting list. If a place frees up, "
            "you move up by yourself and we let you know."
        ),
        "cancelled": page.gettext("Your signup is cancelled."),
        "checked_in": page.gettext("You are checked in. Thank you for coming!"),
        "checked_out": page.gettext("You are checked out and your hours are recorded."),
        "joined": page.gettext("Welcome to the team!"),
        "pending": page.gettext(
            "Your request is in: once staff have approved it (and checked any qualification "
            "you declared), you are a member."
        ),
        "revoked": page.gettext(
            "The old address no longer works. Subscribe again with the new one below."
        ),
        "declared": page.gettext(
            "Thank you. Staff will check the certificate; until then the one checked "
            "before still counts."
        ),
        "reported": page.gettext(
            "Thank you for reporting to the community. Its staff will confirm your report."
        ),
    }


def _problem(page: Page, exc: VolunteerHubError) -> dict:
    """A refusal for the page: the service's message and each reason (rules, fields)."""
    body = exc.as_dict(page.locale)
    return {"message": body["message"], "reasons": [d["message"] for d in body["details"]]}


def _hours(value: Decimal | None) -> str:
    """1.50 → "1.5", 12.00 → "12"."""
    text = f"{value or 0:.2f}"
    return text.rstrip("0").rstrip(".")


def _when_span(page: Page):
    """A shift's time in its community's zone: "Tue, Dec 1, 2026 7:00 PM–9:00 PM"."""

    def span(start: datetime, end: datetime, zone: str) -> str:
        tz, locale = ZoneInfo(zone), page.babel_locale
        first = format_skeleton("yMMMEd", start, tzinfo=tz, locale=locale)
        last = format_time(end, "short", tzinfo=tz, locale=locale)
        if end.astimezone(tz).date() != start.astimezone(tz).date():  # a night shift
            last = format_skeleton("MMMEd", end, tzinfo=tz, locale=locale) + " " + last
        return f"{first} {format_time(start, 'short', tzinfo=tz, locale=locale)}–{last}"

    return span


def _render(page: Page, template: str, status: int = 200, **context) -> Response:
    return page.render(
        template,
        status=status,
        notices=_notices(page),
        hours=_hours,
        span=_when_span(page),
        **context,
    )


# --- wishes to claim -------------------------------------------------------------------------


async def browse_wishes(page: Page) -> Response:
    community_id = page.community_id
    if community_id is None:
        return page.redirect("/")
    actor = page.user
    categories = {
        code: localize(c.name, page.locale)
        for code, c in page.hub.wish_categories(community_id).items()
    }
    grids = {g.id: g.name for g in await people.list_grids(community_id)}
    query = values(page.request.query_params, "category", "grid")
    category = query["category"] if query["category"] in categories else None
    grid_id = next((g for g in grids if str(g) == query["grid"]), None)  # nonsense: no filter
    found = {}
    for status in (WishStatus.OPEN, WishStatus.CLAIMED):
        found[status.value] = await wishes.list_wishes(
            page.hub,
            actor,
            community_id,
            status=status,
            category=category,
            grid_id=grid_id,
            limit=WISHES_SHOWN,
        )
    return _render(
        page,
        "volunteer/wishes.html",
        open_wishes=found["open"],
        claimed_wishes=found["claimed"],
        categories=categories,
        grids=grids,
        category=category or "",
        grid_id=grid_id or "",
        volunteer=actor.has_role(community_id, Role.VOLUNTEER),
        awaiting=await awaiting_approval(actor, community_id),
        shown=WISHES_SHOWN,
    )


# --- tasks and signups -----------------------------------------------------------------------


async def task_list(page: Page) -> Response:
    community_id = page.community_id
    if community_id is None:
        return page.redirect("/")
    show_all = page.request.query_params.get("show") == "all"
    board = await tasks.task_board(page.hub, page.user, community_id, places_left_only=not show_all)
    return _render(
        page,
        "volunteer/tasks.html",
        board=board,
        show_all=show_all,
        my_teams=await active_team_ids(page.user.id),
    )


async def task_page(page: Page, *, problem: dict | None = None, status: int = 200) -> Response:
    actor = page.user
    task = await tasks.get_task(actor, page.path_id())
    team = await teams.get_team(task.team_id) if task.team_id is not None else None
    mine = {s.start: s for s in await tasks.my_signups(page.hub, actor, task_id=task.id)}
    return _render(
        page,
        "volunteer/task.html",
        status=status,
        task=task,
        team=team,
        member=team is None or team.id in await active_team_ids(actor.id),
        occurrences=await tasks.open_occurrences(page.hub, task),
        mine=mine,
        problem=problem,
        zone=task.community.timezone,
        manages=await roster.may_manage(actor, task.id),
    )


async def sign_up(page: Page) -> Response:
    task_id = page.path_id()
    form = values(await page.read_form(), "occurrence_start")
    data = {"occurrence_start": form["occurrence_start"]} if form["occurrence_start"] else {}
    try:
        signup = await tasks.sign_up(page.hub, page.user, task_id, data)
    except VolunteerHubError as exc:
        if exc.kind == "not_found":
            raise
        return await task_page(page, problem=_problem(page, exc), status=status_of(exc))
    return page.redirect(f"/tasks/{task_id}", done=signup.status.value)


def _signup_action(name: str, service, done: str):
    """A button on a signup (cancel, check in, check out); refusals show on my schedule."""

    async def act(page: Page) -> Response:
        form = values(await page.read_form(), "next")
        try:
            await service(page.hub, page.user, page.path_id())
        except VolunteerHubError as exc:
            if exc.kind == "not_found":
                raise
            return await schedule(page, problem=_problem(page, exc), status=status_of(exc))
        return page.redirect(safe_next(form["next"] or "/schedule"), done=done)

    act.__name__ = f"signup_{name.replace('-', '_')}"
    return page_route(f"/signups/{{id:int}}/{name}", act, methods=["POST"])


# --- my schedule, calendar and hours ---------------------------------------------------------


def _signup_actions(signup: tasks.MySignup) -> set[str]:
    """The buttons the signup allows now; the services check again on submit."""
    allowed = {
        "cancel": signup.may_cancel,
        "check-in": signup.may_check_in,
        "check-out": signup.may_check_out,
    }
    return {name for name, may in allowed.items() if may}


def _check_in_qr(code: str) -> str:
    """A check-in code as a QR image (a data: address; the page allows data: images)."""
    return segno.make_qr(code, error="m").svg_data_uri(scale=4, border=4, light="#fff")


async def schedule(page: Page, *, problem: dict | None = None, status: int = 200) -> Response:
    actor = page.user
    mine = await tasks.my_signups(page.hub, actor)
    codes = await roster.my_check_in_codes(page.hub, actor, [s.id for s in mine])
    return _render(
        page,
        "volunteer/schedule.html",
        status=status,
        signups=mine,
        codes=codes,
        code_images={signup_id: _check_in_qr(code) for signup_id, code in codes.items()},
        record=await no_shows.my_record(page.hub, actor),
        actions={s.id: _signup_actions(s) for s in mine},
        claims=await wishes.my_claims(page.hub, actor),
        problem=problem,
    )


async def _feed_url(page: Page) -> str:
    """The secret address of the person's feed, built as GET /api/v1/me/calendar builds it."""
    token = await calendars.my_feed_token(page.hub, page.user)
    return str(page.request.url_for(personal_feed.__name__, token=token))


async def calendar(page: Page) -> Response:
    url = await _feed_url(page)
    community_id = page.community_id
    team_feeds = []
    if community_id is not None:
        team_feeds = [
            (team.name, str(page.request.url_for(team_feed.__name__, tid=team.id)))
            for team in await teams.list_teams(community_id, limit=200)
        ]
    return _render(
        page,
        "volunteer/calendar.html",
        url=url,
        webcal="webcal://" + url.split("://", 1)[1],
        team_feeds=team_feeds,
    )


async def calendar_qr(page: Page) -> Response:
    """The feed address as a QR code, for a phone to scan from a computer's screen."""
    buffer = io.BytesIO()
    segno.make(await _feed_url(page), error="m").save(
        buffer,
        kind="svg",
        scale=4,
        border=4,
        xmldecl=False,
        omitsize=True,  # the page's CSS sizes it
        light="#fff",
        title=page.gettext("QR code of your calendar address"),
    )
    # The address is a secret: no cache may keep it.
    return Response(
        buffer.getvalue(), media_type="image/svg+xml", headers={"Cache-Control": "no-store"}
    )


async def revoke_calendar(page: Page) -> Response:
    await calendars.revoke_feed(page.hub, page.user)
    return page.redirect("/calendar", done="revoked")


async def my_hours(page: Page) -> Response:
    records = await tasks.service_records(page.user)
    return _render(page, "volunteer/hours.html", total=records.total_hours, records=records.items)


# --- teams -----------------------------------------------------------------------------------


async def team_list(
    page: Page,
    *,
    failed: int | None = None,
    action: str = "join",
    problem: dict | None = None,
    errors: dict | None = None,
    form: dict | None = None,
    status: int = 200,
) -> Response:
    """The community's teams, each with a join form (or, for a member, their qualifications
    and a form to declare a new or renewed one); ``failed`` is the team whose ``action``
    (join, declare) was refused, shown with ``problem``, ``errors`` beside its fields and
    what was typed."""
    community_id = page.community_id
    if community_id is None:
        return page.redirect("/")
    kinds = page.hub.team_kinds()
    qualification_names = {
        code: localize(q.name, page.locale) for code, q in page.hub.qualification_kinds().items()
    }
    held: dict[int | None, list] = {}
    for q in await teams.my_qualifications(page.user):
        held.setdefault(q.team_id, []).append(q)
    today = page.hub.today(page.timezone)
    return _render(
        page,
        "volunteer/teams.html",
        status=status,
        teams=await teams.list_teams(community_id, limit=200),
        kind_names={code: localize(k.name, page.locale) for code, k in kinds.items()},
        memberships=await teams.my_memberships(page.user),
        held=held,
        soon=today + timedelta(days=teams.EXPIRY_REMINDER_DAYS),
        needed={
            kind: [qualification_names.get(q, q) for q in codes]
            for kind, codes in teams.qualifications_by_team_kind(page.hub, community_id).items()
        },
        qualifications=qualification_names,
        today=today.isoformat(),
        today_date=today,
        failed=failed,
        action=action,
        problem=problem,
        errors=errors or {},
        form=form or {},
    )


QUALIFICATION_FORM = ("qualification", "certificate_number", "expires_on")


async def join_team(page: Page) -> Response:
    team_id = page.path_id()
    form = values(await page.read_form(), *QUALIFICATION_FORM)
    data = {}
    if any(form.values()):
        # A date or number without a kind goes on to the service, which asks for the kind.
        data["qualifications"] = [_qualification(form)]
    try:
        membership = await teams.join_team(page.hub, page.user, team_id, data)
    except VolunteerHubError as exc:
        if exc.kind in ("not_found", "forbidden"):
            raise
        fields = form_errors(exc, page.locale)
        errors = {JOIN_FIELDS[k]: v for k, v in fields.items() if k in JOIN_FIELDS}
        return await team_list(
            page,
            failed=team_id,
            problem=None if errors and exc.kind == "invalid" else _problem(page, exc),
            errors=errors,
            form=form,
            status=status_of(exc),
        )
    return page.redirect("/teams", done=JOINED[membership.status])


def _qualification(form: dict[str, str | None]) -> dict:
    return given(
        {
            "kind": form["qualification"],
            "expires_on": form["expires_on"],
            "certificate_number": form["certificate_number"],
        }
    )


async def declare_qualification(page: Page) -> Response:
    """A member declares a new or renewed certificate for a team; staff check it."""
    team_id = page.path_id()
    form = values(await page.read_form(), *QUALIFICATION_FORM)
    try:
        await teams.declare_qualification(page.hub, page.user, team_id, _qualification(form))
    except VolunteerHubError as exc:
        if exc.kind in ("not_found", "forbidden"):
            raise
        fields = form_errors(exc, page.locale)
        errors = {DECLARE_FIELDS[k]: v for k, v in fields.items() if k in DECLARE_FIELDS}
        return await team_list(
            page,
            failed=team_id,
            action="declare",
            problem=None if errors and exc.kind == "invalid" else _problem(page, exc),
            errors=errors,
            form=form,
            status=status_of(exc),
        )
    return page.redirect("/teams", done="declared")


# --- in-service party members ----------------------------------------------------------------


async def party(
    page: Page,
    *,
    problem: dict | None = None,
    errors: dict | None = None,
    form: dict | None = None,
    status: int = 200,
) -> Response:
    communities = await people.list_communities(limit=200)
    progress = (await teams.party_progress(page.hub, page.user))["items"]
    for item in progress:
        target = item["target"] or Decimal(1)
        item["percent"] = min(100, int(item["hours"] * 100 / target))
    return _render(
        page,
        "volunteer/party.html",
        status=status,
        progress=progress,
        community_names={c.id: c.name for c in communities},
        communities=[(c.id, c.name) for c in communities],
        problem=problem,
        errors=errors or {},
        form=form or {"community_id": page.community_id or ""},
    )


async def file_party_report(page: Page) -> Response:
    form = values(await page.read_form(), "community_id", "work_unit", "party_branch")
    data = given(form)
    try:
        await teams.file_party_report(page.hub, page.user, data)
    except VolunteerHubError as exc:
        if exc.kind in ("not_found", "forbidden"):
            raise
        errors = form_errors(exc, page.locale)
        problem = None if exc.kind == "invalid" else _problem(page, exc)  # rules: every reason
        return await party(page, problem=problem, errors=errors, form=form, status=status_of(exc))
    return page.redirect("/party", done="reported")


ROUTES = [
    page_route("/wishes", browse_wishes),
    page_route("/tasks", task_list),
    page_route("/tasks/{id:int}", task_page),
    page_route("/tasks/{id:int}/signup", sign_up, methods=["POST"]),
    _signup_action("cancel", tasks.cancel_signup, "cancelled"),
    _signup_action("check-in", tasks.check_in, "checked_in"),
    _signup_action("check-out", tasks.check_out, "checked_out"),
    page_route("/schedule", schedule),
    page_route("/calendar", calendar),
    page_route("/calendar/qr.svg", calendar_qr),
    page_route("/calendar/revoke", revoke_calendar, methods=["POST"]),
    page_route("/hours", my_hours),
    page_route("/teams", team_list),
    page_route("/teams/{id:int}/join", join_team, methods=["POST"]),
    page_route("/teams/{id:int}/qualifications", declare_qualification, methods=["POST"]),
    page_route("/party", party),
    page_route("/party", file_party_report, methods=["POST"]),
]
