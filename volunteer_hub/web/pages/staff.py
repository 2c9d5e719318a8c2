"""The staff console: the review queue, candidates and invitations for a wish, new tasks
with a recurrence picker, the escalation board, the dashboards, and the approval of new
volunteers and party reports.

The services decide who may do what (staff of the community, or an admin); these
handlers read forms, call them, and show what they answer. An admin (who has no home
community) picks a community first; every console link carries ``?community=``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from babel.dates import format_skeleton
from babel.numbers import format_decimal
from starlette.responses import Response

from volunteer_hub.errors import FieldProblem, InvalidInput, NotFound, VolunteerHubError
from volunteer_hub.i18n import localize
from volunteer_hub.services import console as staff_console
from volunteer_hub.services import (
    invitations,
    people,
    referrals,
    reports,
    tasks,
    teams,
    wishes,
)
from volunteer_hub.services.views import CommunityView
from volunteer_hub.validation import parse
from volunteer_hub.web.pages.base import Page, form_errors, page_route, status_of
from volunteer_hub.web.pages.forms import all_values, given, values

WEEKDAYS = ("MO", "TU", "WE", "TH", "FR", "SA", "SU")  # RRULE BYDAY codes, Monday first
TASK_FIELDS = (
    "title",
    "description",
    "team_id",
    "capacity",
    "location",
    "date",
    "start_time",
    "end_time",
    "repeat",
    "until",
)
# The task service's field names → the form's (the schedule is typed as date and times).
_TASK_ERROR_FIELDS = {"starts_at": "start_time", "ends_at": "end_time", "rrule": "days"}
# How many volunteers the workload chart draws (the table lists them all).
CHART_VOLUNTEERS = 20


# --- which community ---------------------------------------------------------------------


async def _community(page: Page) -> CommunityView | None:
    """The community the console is for: ``?community=`` (admins, staff of several), else
    the person's own. None when an admin has not chosen yet. Who may see it is the
    services' to decide."""
    raw = page.request.query_params.get("community")
    if raw is None:
        community_id = page.community_id
        if community_id is None:
            return None
    elif raw.isdigit() and len(raw) < 10:
        community_id = int(raw)
    else:
        raise NotFound("No such community.", code="community_not_found")
    return await people.find_community(community_id)


def _wish_id(raw: str | None) -> int:
    if raw is None or not raw.isdigit() or len(raw) > 9:
        raise NotFound("No such wish.", code="wish_not_found")
    return int(raw)


# --- the index --------------------------------------------------------------------------


async def console(page: Page) -> Response:
    community = await _community(page)
    if community is None:
        return await _choose_community(page)
    overview = await reports.overview(page.hub, page.user, community.id)
    return page.render("staff/index.html", community=community, overview=overview, section="index")


async def _choose_community(page: Page) -> Response:
    """An administrator without a home community picks one."""
    communities = await staff_console.communities_to_choose(page.user)
    return page.render("staff/choose.html", communities=communities)


# --- the review queue -----------------------------------------------------------------------


async def review_queue(
    page: Page, *, errors: dict | None = None, typed: dict | None = None, status: int = 200
) -> Response:
    community = await require_community(page)
    queue = await reports.review_queue(page.hub, page.user, community.id)
    return page.render(
        "staff/review.html",
        status=status,
        community=community,
        queue=queue,
        categories=category_names(page, community.id),
        errors=errors or {},
        typed=typed or {},
        section="review",
    )


async def require_community(page: Page) -> CommunityView:
    """The console's community (``?community=``, else the person's own); 404 when none is
    given or it does not exist. Every console page asks this one."""
    community = await _community(page)
    if community is None:
        raise NotFound("No such community.", code="community_not_found")
    return community


def category_names(page: Page, community_id: int) -> dict[str, str]:
    """The community's wish categories by code, named in the page's language."""
    return {
        code: localize(c.name, page.locale)
        for code, c in page.hub.wish_categories(community_id).items()
    }


# --- one wish: review, candidates, invitations, escalation ---------------------------------


async def wish_page(
    page: Page,
    *,
    errors: dict[str, dict[str, str]] | None = None,
    typed: dict | None = None,
    status: int = 200,
) -> Response:
    """``errors``: the failed form's name (review, invite, escalate) → its field errors."""
    found = await staff_console.wish_for_staff(page.hub, page.user, page.path_id())
    wish = found.wish
    candidates = [
        (c, [localize(reason, page.locale) for reason in c.reasons]) for c in found.candidates
    ]
    return page.render(
        "staff/wish.html",
        status=status,
        wish=wish,
        community=found.community,
        category=category_names(page, wish.community_id).get(wish.category, wish.category),
        candidates=candidates,
        invited=found.invited,
        invitations=[(i, [localize(r, page.locale) for r in i.reasons]) for i in found.invitations],
        levels=wish.levels,
        referral_rows=await referrals.referrals_for(page.user, wish.id),
        errors=errors or {},
        typed=typed or {},
        section="review",
    )


def _wish_action(name: str, service, *fields: str):
    """A form on the staff wish page; a refusal is shown there with what was typed."""

    async def act(page: Page) -> Response:
        wish_id = page.path_id()
        form = values(await page.read_form(), *fields)
        try:
            wish = await service(page.hub, page.user, wish_id, given(form))
        except VolunteerHubError as exc:
            if exc.kind in ("not_found", "forbidden"):
                raise
            errors = {name: form_errors(exc, page.locale)}
            return await wish_page(page, errors=errors, typed=form, status=status_of(exc))
        done = wish.status.value if name == "review" else name
        return page.redirect(f"/staff/wishes/{wish_id}", done=done)

    act.__name__ = f"staff_wish_{name}"
    return page_route(f"/staff/wishes/{{id:int}}/{name}", act, methods=["POST"])


# --- the escalation board --------------------------------------------------------------------


async def escalation_board(
    page: Page, *, errors: dict | None = None, typed: dict | None = None, status: int = 200
) -> Response:
    community = await require_community(page)
    board = await reports.escalation_board(page.hub, page.user, community.id)
    return page.render(
        "staff/board.html",
        status=status,
        community=community,
        board=board,
        levels={w.id: w.levels for w in board.wishes},
        errors=errors or {},
        typed=typed or {},
        section="board",
    )


def _listed_action(service, show, path: str, done: str | None, *fields: str):
    """A form on a list of wishes (the queue, the board) that names its wish in ``wish_id``;
    a refusal is shown beside that wish, with what was typed. ``done``: the notice's slug
    (None: the wish's new status)."""

    async def act(page: Page) -> Response:
        form = values(await page.read_form(), "wish_id", *fields)
        wish_id = _wish_id(form.pop("wish_id"))
        try:
            wish = await service(page.hub, page.user, wish_id, given(form))
        except VolunteerHubError as exc:
            if exc.kind in ("not_found", "forbidden"):
                raise
            errors = {wish_id: form_errors(exc, page.locale)}
            return await show(page, errors=errors, typed={wish_id: form}, status=status_of(exc))
        return page.redirect(path, community=wish.community_id, done=done or wish.status.value)

    act.__name__ = f"staff_list_{service.__name__}"
    return page_route(path, act, methods=["POST"])


# --- new volunteers and party reports to approve ----------------------------------------------


async def approvals(
    page: Page, *, errors: dict | None = None, typed: dict | None = None, status: int = 200
) -> Response:
    """Pending memberships and qualifications to check (staff; a team's leaders see their
    teams') and party reports (staff)."""
    community = await require_community(page)
    waiting = await staff_console.approvals(page.user, community.id)
    return page.render(
        "staff/approvals.html",
        status=status,
        community=community,
        memberships=waiting.memberships,
        qualifications=waiting.qualifications,
        reports=waiting.reports,
        is_staff=waiting.staff,
        qualification_names={
            code: localize(q.name, page.locale)
            for code, q in page.hub.qualification_kinds().items()
        },
        errors=errors or {},
        typed=typed or {},
        section="approvals",
    )


def _decision(service, key: str, done: str, *fields: str):
    """A form of the approvals page naming its membership or report in ``key``; a refusal
    is shown beside it, with what was typed."""

    async def act(page: Page) -> Response:
        community = await require_community(page)
        form = values(await page.read_form(), key, *fields)
        raw = form.pop(key)
        if raw is None or not raw.isdigit() or len(raw) > 9:
            raise NotFound("Not found.")
        item_id = int(raw)
        try:
            if fields:
                await service(page.hub, page.user, item_id, given(form))
            else:
                await service(page.hub, page.user, item_id)
        except VolunteerHubError as exc:
            if exc.kind in ("not_found", "forbidden"):
                raise
            errors = {(key, item_id): form_errors(exc, page.locale)}
            typed = {(key, item_id): form}
            return await approvals(page, errors=errors, typed=typed, status=status_of(exc))
        return page.redirect("/staff/approvals", community=community.id, done=done)

    act.__name__ = f"staff_{service.__name__}"
    return act


# --- new tasks with a recurrence picker --------------------------------------------------------


@dataclass(frozen=True)
class Schedule:
    starts_at: datetime
    ends_at: datetime
    rrule: str | None


def build_schedule(
    form: dict[str, str | None], days: list[str], timezone: str
) -> tuple[Schedule | None, list[FieldProblem]]:
    """The first shift and its RRULE from the picker's fields, or what is wrong with them.

    ``date`` is the first day (for a weekly task: the first chosen weekday on or after
    it, since an RRULE's first start should itself match the rule); ``start_time`` and
    ``end_time`` are wall-clock times in ``timezone``, an end not after the start being
    the next day's. Weekly: ``days`` (MO..SU) until the end of the local day ``until``,
    written as a UTC UNTIL, as RFC 5545 asks when the start has a time zone.
    """
    problems: list[FieldProblem] = []
    first = _parse(
        _day,
        form.get("date"),
        FieldProblem("date", "Must be a date (YYYY-MM-DD)."),
        problems,
    )
    start = _parse(
        _time,
        form.get("start_time"),
        FieldProblem("start_time", "Must be a time (HH:MM)."),
        problems,
    )
    end = _parse(
        _time, form.get("end_time"), FieldProblem("end_time", "Must be a time (HH:MM)."), problems
    )
    weekly = form.get("repeat") == "weekly"
    chosen = [d for d in WEEKDAYS if d in days]
    until = None
    if weekly:
        if not chosen or len(chosen) != len(set(days)):
            problems.append(FieldProblem("days", "Choose one or more days of the week."))
        until = _parse(
            _day,
            form.get("until"),
            FieldProblem("until", "Must be a date (YYYY-MM-DD)."),
            problems,
        )
    if problems or first is None or start is None or end is None:
        return None, problems
    zone = ZoneInfo(timezone)
    rule = None
    if weekly and until is not None:
        wanted = {WEEKDAYS.index(d) for d in chosen}
        first = next(
            day for day in (first + timedelta(days=n) for n in range(7)) if day.weekday() in wanted
        )
        if until < first:
            return None, [
                FieldProblem("until", "No chosen day falls between the first day and this date.")
            ]
        last_moment = datetime.combine(until, time(23, 59, 59), tzinfo=zone).astimezone(UTC)
        rule = f"FREQ=WEEKLY;BYDAY={','.join(chosen)};UNTIL={last_moment:%Y%m%dT%H%M%SZ}"
    starts_at = datetime.combine(first, start, tzinfo=zone)
    ends_at = datetime.combine(first, end, tzinfo=zone)
    if ends_at <= starts_at:  # e.g. 22:00-06:00: a night shift
        ends_at = datetime.combine(first + timedelta(days=1), end, tzinfo=zone)
    return Schedule(starts_at, ends_at, rule), []


def _day(raw: str) -> date:
    value = date.fromisoformat(raw)
    if value.year > 9000:  # a week or a zone later must still be a date
        raise ValueError(raw)
    return value


def _time(raw: str) -> time:
    """A wall-clock time; one with its own offset ("19:00+08:00") is refused: the zone is
    the community's."""
    value = time.fromisoformat(raw)
    if value.tzinfo is not None:
        raise ValueError(raw)
    return value


def _parse(parser, raw: str | None, problem: FieldProblem, problems: list[FieldProblem]):
    """``parser(raw)``, or None with a problem noted: "required" when empty, else ``problem``."""
    if raw is None:
        problems.append(FieldProblem(problem.field, "This field is required."))
        return None
    try:
        return parser(raw)
    except ValueError:
        problems.append(problem)
        return None


async def new_task_form(
    page: Page,
    *,
    errors: dict | None = None,
    form: dict | None = None,
    days: list[str] | None = None,
    status: int = 200,
) -> Response:
    community = await require_community(page)
    planning = await staff_console.task_planning(page.hub, page.user, community)
    return page.render(
        "staff/task_new.html",
        status=status,
        community=community,
        teams=[("", page.gettext("No team: open to every volunteer"))]
        + [(str(team_id), name) for team_id, name in planning.teams],
        weekdays=WEEKDAYS,
        errors=errors or {},
        form=form or {"repeat": "once", "capacity": "1"},
        days=days or [],
        today=planning.today.isoformat(),
        created=page.request.query_params.get("task", ""),
        section="task",
    )


async def create_task(page: Page) -> Response:
    community = await require_community(page)
    posted = await page.read_form()
    form = values(posted, *TASK_FIELDS)
    days = all_values(posted, "days")
    schedule, problems = build_schedule(form, days, community.timezone)
    data = given({k: form[k] for k in ("title", "description", "team_id", "capacity", "location")})
    if schedule is None:
        # Show every mistake at once: the other fields are checked as the service would.
        errors = {p.field: p.render(page.locale)["message"] for p in problems}
        return await new_task_form(
            page,
            errors={**_other_task_errors(page, data), **errors},
            form=form,
            days=days,
            status=422,
        )
    data.update(starts_at=schedule.starts_at, ends_at=schedule.ends_at)
    if schedule.rrule:
        data["rrule"] = schedule.rrule
    try:
        task = await tasks.create_task(page.hub, page.user, community.id, data)
    except VolunteerHubError as exc:
        if exc.kind in ("not_found", "forbidden"):
            raise
        errors = {_TASK_ERROR_FIELDS.get(k, k): v for k, v in form_errors(exc, page.locale).items()}
        return await new_task_form(page, errors=errors, form=form, days=days, status=status_of(exc))
    return page.redirect("/staff/tasks/new", community=community.id, done="task", task=task.id)


def _other_task_errors(page: Page, data: dict[str, str]) -> dict[str, str]:
    """The task service's input errors for everything but the schedule."""
    try:
        parse(tasks.TaskIn, data)
    except InvalidInput as exc:
        found = form_errors(exc, page.locale)
        return {k: v for k, v in found.items() if k not in ("starts_at", "ends_at", "__all__")}
    return {}


# --- dashboards ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Bar:
    """One bar of a chart: its label, its length, the text shown after it."""

    label: str
    value: float
    shown: str
    kind: str = ""


async def dashboards(page: Page) -> Response:
    community = await require_community(page)
    found = await staff_console.dashboards(page.hub, page.user, community)
    hours, funnel, load = found.hours, found.funnel, found.load
    months = [format_skeleton("yMMM", m, locale=page.babel_locale) for m in hours.months]
    team_names = {t.team_id: t.name or page.gettext("Wishes (no team)") for t in hours.teams}
    return page.render(
        "staff/dashboards.html",
        community=community,
        funnel=funnel,
        funnel_bars=_funnel_bars(page, funnel),
        hours=hours,
        months=months,
        team_names=team_names,
        team_bars={
            t.team_id: [
                Bar(month, float(h), _number(page, h))
                for month, h in zip(months, t.by_month, strict=True)
            ]
            for t in hours.teams
        },
        hours_top=float(hours.top),
        load=load,
        load_bars=[
            Bar(v.name, float(v.hours), _load_text(page, v)) for v in load.busy[:CHART_VOLUNTEERS]
        ],
        month=format_skeleton("yMMM", load.month, locale=page.babel_locale),
        number=lambda value: _number(page, value),
        section="dashboards",
    )


def _number(page: Page, value) -> str:
    return format_decimal(value, locale=page.babel_locale)


def _funnel_bars(page: Page, funnel: reports.Funnel) -> list[Bar]:
    names = {
        "submitted": page.gettext("Posted"),
        "open": page.gettext("Approved"),
        "claimed": page.gettext("Claimed"),
        "fulfilled": page.gettext("Done"),
        "confirmed": page.gettext("Confirmed"),
        "rejected": page.gettext("Not accepted"),
        "cancelled": page.gettext("Cancelled"),
        "expired": page.gettext("Expired"),
    }
    bars = []
    for kind, rows in (("stage", funnel.stages), ("exit", funnel.exits)):
        for code, n in rows:
            share = round(100 * n / funnel.posted) if funnel.posted else 0
            bars.append(Bar(names[code], n, f"{n} ({share}%)", kind))
    return bars


def _load_text(page: Page, load: reports.Load) -> str:
    return page.gettext(
        "%(hours)s h · %(claims)s claimed · %(shifts)s shifts",
        hours=_number(page, load.hours),
        claims=load.open_claims,
        shifts=load.upcoming_shifts,
    )


ROUTES = [
    page_route("/staff", console),
    page_route("/staff/review", review_queue),
    _listed_action(invitations.review, review_queue, "/staff/review", None, "decision", "reason"),
    page_route("/staff/wishes/{id:int}", wish_page),
    _wish_action("review", invitations.review, "decision", "reason"),
    _wish_action("invite", invitations.invite_to_wish, "person_id"),
    _wish_action("escalate", wishes.escalate, "level", "referral"),
    page_route("/staff/escalations", escalation_board),
    _listed_action(
        wishes.escalate, escalation_board, "/staff/escalations", "escalated", "level", "referral"
    ),
    page_route("/staff/approvals", approvals),
    page_route(
        "/staff/approvals/approve",
        _decision(teams.approve_membership, "membership_id", "approved"),
        methods=["POST"],
    ),
    page_route(
        "/staff/approvals/refuse",
        _decision(teams.refuse_membership, "membership_id", "refused", "reason"),
        methods=["POST"],
    ),
    page_route(
        "/staff/approvals/verify-qualification",
        _decision(teams.verify_qualification, "qualification_id", "verified"),
        methods=["POST"],
    ),
    page_route(
        "/staff/approvals/refuse-qualification",
        _decision(teams.refuse_qualification, "qualification_id", "not_verified", "reason"),
        methods=["POST"],
    ),
    page_route(
        "/staff/approvals/accept-report",
        _decision(teams.accept_party_report, "report_id", "accepted"),
        methods=["POST"],
    ),
    page_route(
        "/staff/approvals/refuse-report",
        _decision(teams.refuse_party_report, "report_id", "refused", "reason"),
        methods=["POST"],
    ),
    page_route("/staff/tasks/new", new_task_form),
    page_route("/staff/tasks/new", create_task, methods=["POST"]),
    page_route("/staff/dashboards", dashboards),
]
