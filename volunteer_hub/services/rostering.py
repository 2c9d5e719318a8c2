"""The optimal fair roster (排班方案): every open place of a period assigned at once.

Staff of a community ask for a plan for a period (by default next Monday to Sunday in the
community's zone). ``generate_plan`` reads the period's open places, and takes their
candidates from the ranking's feature snapshot (``volunteer_features``: who volunteers,
their teams, free times, shifts, hours, no-shows and the rules' facts) with the ranking's
rule (``volunteer_features.free_pairs``); it scores each pair with numpy
(``score_inputs`` and ``score_pairs``), and hands the arrays to the min-cost flow of
``services.roster_solver``; the result is a draft ``RosterPlan`` with one
``RosterAssignment`` per place. Staff preview it (``plan_view``), remove or swap people
(``remove_assignment``, ``swap_assignment``: clashes, capacity, availability and the rules
checked again), then accept it (``accept_plan``: each assignment becomes a pending
``Invitation`` to its occurrence and the event ``task.invited``, the rows a staff
invitation writes, in a few statements for the whole plan through
``dispatch.invite_many_to_occurrences``) or discard it (``discard_plan``).

Not to be confused with ``services.roster``: the attendance list of one task.

What a plan guarantees (``roster_solver`` states the model exactly):

- candidates: for a team task its active members, otherwise the community's volunteers;
  active people only; not signed up for, nor invited to, the occurrence already; free by
  their declared weekly availability (none declared: free) for the whole shift; no clash
  with a place they hold (confirmed or checked in) or a wish of the community they claimed
  (its window, else its needed-by day); the week's hours plus the shift's within the cap;
- never more people than an occurrence's open places (capacity − taken, cancelled ones
  left out); never two places of one person whose times overlap; at most ``max_places``
  places a person in the period, counting those held, and never more hours than the
  community's weekly hours cap (kept soundly: see ``_hours_cap``);
- the registration rules (``vh_check_signup``) allow every assigned pair: they are asked
  for the pairs of the optimum only, and the flow is solved again without those they
  refuse (lazy constraint generation; optimal over the allowed pairs);
- a minimum group (a rule that refuses an occurrence for too small a capacity, such as
  the silver patrol's night pairs) is never left short: the occurrence gets nobody or at
  least that many people together with those signed up.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
from pydantic import model_validator
from tortoise.expressions import Subquery

from volunteer_hub import db
from volunteer_hub.clock import ONE_DAY, as_utc, local_day_start
from volunteer_hub.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from volunteer_hub.hooktypes import PersonFacts, SignupFacts
from volunteer_hub.hub import Hub
from volunteer_hub.i18n import LocalizedText, localize
from volunteer_hub.models import (
    Community,
    Grid,
    Invitation,
    InvitationStatus,
    MembershipStatus,
    Occurrence,
    Person,
    Qualification,
    Role,
    RoleAssignment,
    RosterAssignment,
    RosterPlan,
    RosterPlanStatus,
    Signup,
    SignupStatus,
    Task,
    Team,
    TeamMembership,
)
from volunteer_hub.recurrence import expand
from volunteer_hub.services import dispatch, roster_solver, tasks, volunteer_features
from volunteer_hub.services.access import Actor
from volunteer_hub.services.people import get_community
from volunteer_hub.services.teams import check_rules
from volunteer_hub.services.uow import unit_of_work
from volunteer_hub.validation import Id, Input, parse

MAX_DAYS = 31
FAIRNESS_DAYS = 30
DEFAULT_PARTY_TARGET = 12.0
WEIGHTS = roster_solver.Weights()


class PlanIn(Input):
    """The period, as local dates: ``start`` (default next Monday) to ``end`` inclusive
    (default six days after ``start``), at most 31 days."""

    start: date | None = None
    end: date | None = None

    @model_validator(mode="after")
    def _ordered(self) -> PlanIn:
        if self.start and self.end and self.end < self.start:
            raise InvalidInput.for_field("end", "Must not be before the start.")
        if self.start and self.end and (self.end - self.start).days >= MAX_DAYS:
            raise InvalidInput.for_field("end", "A plan covers at most 31 days.")
        return self


class SwapIn(Input):
    person_id: Id


# --- the problem, from the database ----------------------------------------------------------


@dataclass
class Problem:
    """The arrays the solver takes, and what is needed to name and write the result."""

    community: Community
    period_start: datetime
    period_end: datetime
    occ_task: np.ndarray  # task id of each occurrence
    occ_start: np.ndarray  # epoch seconds
    occ_end: np.ndarray
    occ_capacity: np.ndarray
    occ_taken: np.ndarray
    occ_min_group: np.ndarray
    people: np.ndarray  # person id of each person index (the snapshot's ids)
    pair_occ: np.ndarray
    pair_person: np.ndarray
    pair_score: np.ndarray
    load_before: np.ndarray
    features: ScoreInputs
    tasks: dict[int, Task]
    team_kinds: dict[int, str | None]  # task id -> its team's kind
    snap: volunteer_features.Features  # person index = the snapshot's position
    extra_cap: np.ndarray | None = None  # more places each person may get (the hours cap)

    def instance(self) -> roster_solver.Instance:
        return roster_solver.Instance(
            occ_start=self.occ_start,
            occ_end=self.occ_end,
            places=np.clip(self.occ_capacity - self.occ_taken, 0, None),
            pair_occ=self.pair_occ,
            pair_person=self.pair_person,
            pair_score=self.pair_score,
            n_people=len(self.people),
            load_before=self.load_before,
            min_group=self.occ_min_group,
            taken=self.occ_taken,
            extra_cap=self.extra_cap,
        )

    def moment(self, seconds: int) -> datetime:
        return datetime.fromtimestamp(int(seconds), tz=ZoneInfo("UTC"))


@dataclass
class ScoreInputs:
    """Per-person facts the score reads (index: the problem's ``people``), taken from the
    feature snapshot at a moment (``score_inputs``), and per-task skill words."""

    hours_30d: np.ndarray
    no_show_weight: np.ndarray  # no-shows decaying with a half-life
    party_left: np.ndarray  # share of a party member's yearly hours still to do, 0..1
    grid: np.ndarray  # grid id or 0
    skills: list[tuple[str, ...]]
    task_skill_words: dict[int, str]  # task id -> its title, description and location
    grid_names: dict[int, str]


def default_period(hub: Hub, timezone: str) -> tuple[date, date]:
    """Next Monday to the Sunday after, in the community's zone."""
    today = hub.today(timezone)
    monday = today + timedelta(days=7 - today.weekday())
    return monday, monday + timedelta(days=6)


def _period(hub: Hub, community: Community, data: PlanIn) -> tuple[datetime, datetime]:
    start, end = default_period(hub, community.timezone)
    if data.start:
        start = data.start
        end = data.end or start + timedelta(days=6)
    elif data.end:
        raise InvalidInput.for_field("start", "Give the first day too.")
    if data.start and data.end and (end - start).days >= MAX_DAYS:
        raise InvalidInput.for_field("end", "A plan covers at most 31 days.")
    begins = local_day_start(start, community.timezone)
    ends = local_day_start(end, community.timezone) + ONE_DAY
    if ends <= hub.now():
        raise InvalidInput.for_field("end", "This period is over.")
    return max(begins, hub.now()), ends


async def load_problem(hub: Hub, community: Community, start: datetime, end: datetime) -> Problem:
    """The period's open places (a few statements) and their candidates (the feature
    snapshot, with the period's own reads in one round trip)."""
    tz = community.timezone
    task_rows = await Task.filter(community_id=community.id, cancelled_at__isnull=True).filter(
        starts_at__lt=end
    )
    task_rows = [t for t in task_rows if t.rrule or t.starts_at >= start]
    by_id = {t.id: t for t in task_rows}
    stored = await Occurrence.filter(
        task_id__in=list(by_id), start__gte=start, start__lt=end
    ).values_list("task_id", "start", "capacity", "taken", "cancelled")
    stored_by = {(t, s): (c, k, x) for t, s, c, k, x in stored}

    def walk() -> list[tuple[int, datetime, datetime]]:
        found = []
        for t in task_rows:
            if t.rrule:
                for s, e in expand(t.starts_at, t.ends_at - t.starts_at, t.rrule, tz, start, end):
                    found.append((t.id, s, e))
            elif start <= t.starts_at < end:
                found.append((t.id, t.starts_at, t.ends_at))
        return found

    occ = []
    for task_id, s, e in await asyncio.to_thread(walk):
        capacity, taken, cancelled = stored_by.get(
            (task_id, s), (by_id[task_id].capacity, 0, False)
        )
        if not cancelled and capacity > taken:
            occ.append((task_id, s, e, capacity, taken))
    occ.sort(key=lambda o: (o[1], o[0]))
    occ_task = np.array([o[0] for o in occ], dtype=np.int64)
    occ_start = np.array([int(o[1].timestamp()) for o in occ], dtype=np.int64)
    occ_end = np.array([int(o[2].timestamp()) for o in occ], dtype=np.int64)
    occ_capacity = np.array([o[3] for o in occ], dtype=np.int64)
    occ_taken = np.array([o[4] for o in occ], dtype=np.int64)

    # One round trip: the snapshot's freshness token, the community's claimed wishes and
    # who is on the period's occurrences already (signed up, waiting too, or invited).
    rows = await db.read(
        volunteer_features.token_rows_sql() + volunteer_features.claims_sql() + _on_sql(),
        community.id,
        community.id,
        start,
        end,
        *(s.value for s in tasks.ACTIVE_SIGNUP),
        community.id,
        start,
        end,
    )
    snap = await volunteer_features.features(
        hub, community.id, volunteer_features.token_from_rows(rows)
    )
    if snap.weekly_hours_cap != community.weekly_hours_cap:
        # The community's row, read just now, is the fresher: a cap set by an operator's
        # UPDATE reaches the snapshot only with its next full read.
        snap = replace(snap, weekly_hours_cap=community.weekly_hours_cap)

    # Candidates: team members for team tasks, the community's volunteers otherwise.
    team_ids = sorted({t.team_id for t in task_rows if t.team_id})
    teams = {t.id: t for t in await Team.filter(id__in=team_ids)} if team_ids else {}
    pools: dict[int | None, np.ndarray] = {None: np.arange(snap.size)}
    for team_id in team_ids:
        pools[team_id] = snap.members(team_id)
    occ_pool = [pools[by_id[int(t)].team_id] for t in occ_task]
    sizes = np.array([len(p) for p in occ_pool], dtype=np.int64)
    pair_occ = np.repeat(np.arange(len(occ)), sizes)
    pair_person = np.concatenate(occ_pool) if occ else np.zeros(0, dtype=np.int64)

    keep = volunteer_features.free_pairs(
        snap, occ_start, occ_end, pair_occ, pair_person, volunteer_features.claims(snap, rows),
        whole=True,
    )  # fmt: skip
    keep &= ~_on_already(snap, rows, occ_task, occ_start, pair_occ, pair_person)
    pair_occ, pair_person = pair_occ[keep], pair_person[keep]

    load_before = snap.shifts_starting(start, end)
    extra_cap = _hours_cap(community, start, end, snap.load_between(start, end), occ_start,
                           occ_end, pair_occ, pair_person)  # fmt: skip
    grid_names = dict(await Grid.filter(community_id=community.id).values_list("id", "name"))
    features = score_inputs(snap, hub.now(), list(by_id.values()), grid_names)
    pair_score = score_pairs(features, pair_person, occ_task, pair_occ)
    team_kinds = {t.id: teams[t.team_id].kind if t.team_id else None for t in task_rows}
    problem = Problem(
        community=community,
        period_start=start,
        period_end=end,
        occ_task=occ_task,
        occ_start=occ_start,
        occ_end=occ_end,
        occ_capacity=occ_capacity,
        occ_taken=occ_taken,
        occ_min_group=np.zeros(len(occ), dtype=np.int64),
        people=snap.ids,
        pair_occ=pair_occ,
        pair_person=pair_person,
        pair_score=pair_score,
        load_before=load_before,
        features=features,
        tasks=by_id,
        team_kinds=team_kinds,
        snap=snap,
        extra_cap=extra_cap,
    )
    return problem


def _on_sql() -> str:
    """Rows ``('o', person, task, occurrence start, NULL)`` of who is on an occurrence of
    the community's tasks starting in the period: signed up (waiting too) or invited
    (parameters: the community, start, end, the live signup statuses, then the community,
    start, end again)."""
    live = ", ".join("?" * len(tasks.ACTIVE_SIGNUP))
    start = volunteer_features.epoch("o.start")
    return (
        f" UNION ALL SELECT 'o', s.person_id, o.task_id, {start}, NULL FROM signup s"
        " JOIN occurrence o ON o.id = s.occurrence_id JOIN task t ON t.id = o.task_id"
        f" WHERE t.community_id = ? AND o.start >= ? AND o.start < ? AND s.status IN ({live})"
        f" UNION ALL SELECT 'o', i.person_id, o.task_id, {start}, NULL FROM invitation i"
        " JOIN occurrence o ON o.id = i.occurrence_id"
        " WHERE i.community_id = ? AND o.start >= ? AND o.start < ?"
    )


def _on_already(
    snap: volunteer_features.Features,
    rows: list,
    occ_task: np.ndarray,
    occ_start: np.ndarray,
    pair_occ: np.ndarray,
    pair_person: np.ndarray,
) -> np.ndarray:
    """Which pairs' person is on the pair's occurrence already (the ``_on_sql`` rows)."""
    on = [r for r in rows if r[0] == "o"]
    if not on or not len(pair_occ):
        return np.zeros(len(pair_occ), dtype=bool)
    key_of = {(int(t), int(s)): i for i, (t, s) in enumerate(zip(occ_task, occ_start, strict=True))}
    pos, found = snap.positions([int(r[1]) for r in on])
    occurrence = [key_of.get((int(r[2]), int(r[3]))) for r, f in zip(on, found, strict=True) if f]
    n = snap.size
    keys = np.array([o * n + p for o, p in zip(occurrence, pos.tolist(), strict=True)
                     if o is not None], dtype=np.int64)  # fmt: skip
    return np.isin(pair_occ * n + pair_person, keys)


def _hours_cap(
    community: Community,
    start: datetime,
    end: datetime,
    held_hours: np.ndarray,
    occ_start: np.ndarray,
    occ_end: np.ndarray,
    pair_occ: np.ndarray,
    pair_person: np.ndarray,
) -> np.ndarray | None:
    """How many more places each person may get under the community's weekly hours cap
    (``weekly_hours_cap`` per week of the period; 0 or less: no cap). Shifts differ in
    length and a flow counts places, not hours, so the cap is kept soundly: no more places
    than the hours left divided by the longest shift the person is a candidate for. Their
    places never add up to more than the cap; someone with only short shifts may get fewer
    than the hours would allow."""
    cap = community.weekly_hours_cap
    if cap is None or cap <= 0:
        return None
    allowed = cap * (end - start).total_seconds() / (7 * 86400)
    longest = np.zeros(len(held_hours))
    if len(pair_occ):
        np.maximum.at(longest, pair_person, (occ_end - occ_start)[pair_occ] / 3600)
    left = np.clip(allowed - held_hours, 0, None)
    with np.errstate(divide="ignore", invalid="ignore"):
        places = np.where(longest > 0, np.floor(left / np.where(longest > 0, longest, 1)), 0)
    return places.astype(np.int64)


def score_inputs(
    snap: volunteer_features.Features, now: datetime, task_rows: list[Task], grid_names: dict
) -> ScoreInputs:
    """What the score reads, from the snapshot at ``now``."""
    target = np.where(snap.party_target > 0, snap.party_target, DEFAULT_PARTY_TARGET)
    return ScoreInputs(
        hours_30d=snap.hours_between(now - timedelta(days=FAIRNESS_DAYS), now),
        no_show_weight=snap.no_show_weight(now),
        party_left=np.where(snap.is_party, snap.party_hours_left(now) / target, 0.0),
        grid=np.where(snap.grid < 0, 0, snap.grid),
        skills=snap.skills,
        task_skill_words={
            t.id: f"{t.title} {t.description or ''} {t.location or ''}".casefold()
            for t in task_rows
        },
        grid_names=grid_names,
    )


# Weights of the score's terms (they sum to 1).
W_SKILL, W_GRID, W_FAIR, W_RELIABLE, W_PARTY = 0.3, 0.15, 0.3, 0.15, 0.1


def _task_matrices(
    features: ScoreInputs, task_ids: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(skills of each person, skills each task names, the grid each task names or 0)."""
    vocabulary = sorted({s for skills in features.skills for s in skills if s})
    word_index = {w: i for i, w in enumerate(vocabulary)}
    person_skill = np.zeros((len(features.skills), max(len(vocabulary), 1)), dtype=bool)
    for p, skills in enumerate(features.skills):
        for s in skills:
            if s in word_index:
                person_skill[p, word_index[s]] = True
    task_skill = np.zeros((len(task_ids), person_skill.shape[1]), dtype=bool)
    task_grid = np.zeros(len(task_ids), dtype=np.int64)
    for t, task_id in enumerate(task_ids.tolist()):
        text = features.task_skill_words.get(task_id, "")
        for w, i in word_index.items():
            if w.casefold() in text:
                task_skill[t, i] = True
        for grid_id, name in features.grid_names.items():
            if name and name.casefold() in text:
                task_grid[t] = grid_id
    return person_skill, task_skill, task_grid


def score_pairs(
    features: ScoreInputs, pair_person: np.ndarray, occ_task: np.ndarray, pair_occ: np.ndarray
) -> np.ndarray:
    """The fit of each (person, occurrence's task) pair in [0, 1], vectorised."""
    if not len(pair_person):
        return np.zeros(0)
    task_ids, occ_task_index = np.unique(occ_task, return_inverse=True)
    task_index = occ_task_index[pair_occ]
    person_skill, task_skill, task_grid = _task_matrices(features, task_ids)
    per_person = (
        W_FAIR / (1.0 + features.hours_30d / 4.0)
        + W_RELIABLE * 0.5**features.no_show_weight
        + W_PARTY * features.party_left
    )
    skill_hit = np.zeros(len(pair_person), dtype=bool)
    if task_skill.any():
        tasks_with_skills = task_skill.any(1)
        relevant = tasks_with_skills[task_index]
        idx = np.flatnonzero(relevant)
        skill_hit[idx] = (person_skill[pair_person[idx]] & task_skill[task_index[idx]]).any(1)
    grid = task_grid[task_index]
    grid_hit = (grid != 0) & (features.grid[pair_person] == grid)
    return per_person[pair_person] + W_SKILL * skill_hit + W_GRID * grid_hit


def reasons_for(problem: Problem, pair: int) -> list[LocalizedText]:
    """The words for staff: why this person for this place (never raw numbers of the score)."""
    f = problem.features
    p = int(problem.pair_person[pair])
    task_id = int(problem.occ_task[problem.pair_occ[pair]])
    text = f.task_skill_words.get(task_id, "")
    reasons: list[LocalizedText] = []
    matched = [s for s in f.skills[p] if s and s.casefold() in text]
    if matched:
        reasons.append(
            {"zh-CN": f"技能对口：{'、'.join(matched)}", "en": f"Skills fit: {', '.join(matched)}"}
        )
    grid = int(f.grid[p])
    if grid and f.grid_names.get(grid, "").casefold() in text and f.grid_names.get(grid):
        name = f.grid_names[grid]
        reasons.append({"zh-CN": f"住在本网格（{name}）", "en": f"Lives in the grid ({name})"})
    hours = float(f.hours_30d[p])
    if hours < 4:
        reasons.append(
            {"zh-CN": "近30天服务较少，轮到他/她了", "en": "Served little in the last 30 days"}
        )
    else:
        reasons.append(
            {
                "zh-CN": f"近30天已服务{hours:.0f}小时",
                "en": f"Served {hours:.0f} hours in the last 30 days",
            }
        )
    if f.no_show_weight[p] < 0.05:
        reasons.append({"zh-CN": "没有缺席记录", "en": "No missed shifts"})
    else:
        reasons.append({"zh-CN": "近期有缺席记录", "en": "Missed a shift recently"})
    if f.party_left[p] > 0:
        reasons.append(
            {
                "zh-CN": "在职党员，年度服务时长尚未完成",
                "en": "Party member with yearly hours to do",
            }
        )
    return reasons


# --- the rules, at set level ------------------------------------------------------------------


class _Rules:
    """The registration rules for the pairs the solver asks about (``roster_solver.solve``'s
    ``check``), and each occurrence's minimum group. A person's facts come from the
    snapshot, built when the rules first ask about them."""

    def __init__(
        self, hub: Hub, problem: Problem, confirmed: dict[tuple[int, int], tuple[int, ...]]
    ) -> None:
        self.hub = hub
        self.problem = problem
        self.facts: dict[int, PersonFacts] = {}  # by person index
        self.confirmed = confirmed
        self.zone = ZoneInfo(problem.community.timezone)
        self._signups: dict[tuple[int, int], SignupFacts] = {}

    def signup(self, o: int, capacity: int | None = None) -> SignupFacts:
        key = (o, capacity or 0)
        if key not in self._signups:
            pr = self.problem
            task = pr.tasks[int(pr.occ_task[o])]
            start = pr.moment(pr.occ_start[o])
            self._signups[key] = SignupFacts(
                task_id=task.id,
                task_title=task.title,
                team_id=task.team_id,
                team_kind=pr.team_kinds[task.id],
                community_id=task.community_id,
                local_start=start.astimezone(self.zone),
                local_end=pr.moment(pr.occ_end[o]).astimezone(self.zone),
                capacity=capacity or int(pr.occ_capacity[o]),
                confirmed_people=self.confirmed.get((task.id, int(pr.occ_start[o])), ()),
            )
        return self._signups[key]

    def person(self, p: int) -> PersonFacts:
        if p not in self.facts:
            self.facts[p] = self.problem.snap.person_facts(p)
        return self.facts[p]

    def refused(self, pairs: np.ndarray) -> np.ndarray:
        pr = self.problem
        out = np.zeros(len(pairs), dtype=bool)
        for k, i in enumerate(pairs.tolist()):
            person = self.person(int(pr.pair_person[i]))
            out[k] = bool(
                check_rules(
                    self.hub,
                    "vh_check_signup",
                    person=person,
                    signup=self.signup(int(pr.pair_occ[i])),
                )  # fmt: skip
            )
        return out

    def minimum_groups(self) -> np.ndarray:
        """For each occurrence, the fewest people it may have (0: no minimum): the smallest
        capacity at which the rules stop refusing its first candidate for what they refuse
        at a smaller one. A rule that refuses an occurrence for too small a capacity (night
        patrols walked in pairs) asks, in effect, that it be walked by that many people.
        Asked once per shift shape: the task, its local start and end times, its capacity."""
        pr = self.problem
        groups = np.zeros(len(pr.occ_task), dtype=np.int64)
        first = np.full(len(pr.occ_task), -1)
        order = np.argsort(pr.pair_occ, kind="stable")
        occs, where = np.unique(pr.pair_occ[order], return_index=True)
        first[occs] = order[where]
        shapes: dict[tuple, int] = {}  # one probe per shift shape, not per occurrence
        for o in np.flatnonzero(first >= 0).tolist():
            capacity = int(pr.occ_capacity[o])
            if capacity < 2:
                continue
            facts = self.signup(o)
            shape = (facts.task_id, facts.local_start.time(), facts.local_end.time(), capacity)
            if shape not in shapes:
                shapes[shape] = self._probe(o, int(pr.pair_person[first[o]]))
            groups[o] = shapes[shape]
        return groups

    def _probe(self, o: int, p: int) -> int:
        person = self.person(p)
        capacity = int(self.problem.occ_capacity[o])
        full = {v.rule for v in check_rules(self.hub, "vh_check_signup", person=person,
                                             signup=self.signup(o))}  # fmt: skip
        for c in range(1, capacity):
            at = {v.rule for v in check_rules(self.hub, "vh_check_signup", person=person,
                                               signup=self.signup(o, c))}  # fmt: skip
            if at <= full:
                return c if c > 1 else 0
        return capacity


def _volunteers(community_id: int) -> Subquery:
    """The community's volunteers (joining a team makes one), as a subquery: a filter on
    tens of thousands of ids is slower to build and to run than the join."""
    return Subquery(
        RoleAssignment.filter(community_id=community_id, role=Role.VOLUNTEER).values("person_id")
    )


async def _person_facts(person_ids: list[int], community_id: int) -> dict[int, PersonFacts]:
    """``facts.person_facts`` for many people (volunteers of the community), in three
    statements."""
    wanted = set(person_ids)
    who: Any = person_ids if len(person_ids) <= 500 else _volunteers(community_id)
    rows = await Person.filter(id__in=who).values_list(
        "id", "name", "community_id", "grid_id", "birth_date", "skills"
    )
    quals: dict[int, list[tuple]] = {}
    for pid, kind, expires, verified in await Qualification.filter(person_id__in=who).values_list(
        "person_id", "kind", "expires_on", "verified"
    ):
        quals.setdefault(pid, []).append((kind, expires, verified))
    kinds: dict[int, set[str]] = {}
    for pid, kind in await TeamMembership.filter(
        person_id__in=who, status=MembershipStatus.ACTIVE
    ).values_list("person_id", "team__kind"):
        kinds.setdefault(pid, set()).add(kind)
    return {
        pid: PersonFacts(
            id=pid,
            name=name,
            community_id=cid,
            grid_id=gid,
            birth_date=born,
            skills=tuple(skills or ()),
            qualifications=tuple(quals.get(pid, ())),
            team_kinds=tuple(sorted(kinds.get(pid, ()))),
        )
        for pid, name, cid, gid, born, skills in rows
        if pid in wanted
    }


async def _confirmed(problem: Problem) -> dict[tuple[int, int], tuple[int, ...]]:
    rows = await Signup.filter(
        occurrence__task_id__in=list(problem.tasks),
        occurrence__start__gte=problem.period_start,
        occurrence__start__lt=problem.period_end,
        status__in=[SignupStatus.CONFIRMED, SignupStatus.CHECKED_IN],
    ).values_list("occurrence__task_id", "occurrence__start", "person_id")
    out: dict[tuple[int, int], list[int]] = {}
    for task_id, start, person_id in rows:
        out.setdefault((task_id, int(start.timestamp())), []).append(person_id)
    return {k: tuple(v) for k, v in out.items()}


async def solve_problem(hub: Hub, problem: Problem) -> roster_solver.Solution:
    """The minimum groups, then the solver (in a thread), asking the rules lazily."""
    rules = _Rules(hub, problem, await _confirmed(problem))
    problem.occ_min_group = rules.minimum_groups()
    return await asyncio.to_thread(roster_solver.solve, problem.instance(), WEIGHTS, rules.refused)


# --- staff: generate, view, adjust, accept, discard -------------------------------------------


def _check_staff(actor: Actor, community_id: int) -> None:
    if not actor.is_staff(community_id):
        raise PermissionDenied("Only staff of this community can do this.")


async def generate_plan(
    hub: Hub, actor: Actor, community_id: int, data: PlanIn | dict | None = None
) -> RosterPlan:
    """A draft plan for the period: every open place assigned at once (roster.proposed)."""
    community = await get_community(community_id)
    _check_staff(actor, community.id)
    data = parse(PlanIn, data or {})
    start, end = _period(hub, community, data)
    problem = await load_problem(hub, community, start, end)
    solution = await solve_problem(hub, problem)
    chosen = solution.chosen
    summary = _summary(problem, chosen, solution)
    async with unit_of_work(hub, actor.id) as uow:
        plan = await RosterPlan.create(
            community_id=community.id,
            period_start=start,
            period_end=end,
            status=RosterPlanStatus.DRAFT,
            summary=summary,
            created_by_id=actor.id,
            created_at=uow.now,
        )
        await RosterAssignment.bulk_create(
            [
                RosterAssignment(
                    plan_id=plan.id,
                    task_id=int(problem.occ_task[problem.pair_occ[i]]),
                    occurrence_start=problem.moment(problem.occ_start[problem.pair_occ[i]]),
                    person_id=int(problem.people[problem.pair_person[i]]),
                    score=round(float(problem.pair_score[i]), 4),
                    reasons=reasons_for(problem, int(i)),
                )
                for i in chosen.tolist()
            ],
            batch_size=1000,
        )
        await uow.record(
            "roster.proposed",
            plan,
            community_id=community.id,
            after={
                "period_start": start,
                "period_end": end,
                "places": summary["places"],
                "assigned": summary["assigned"],
            },
        )
    return plan


def _spread(loads: np.ndarray) -> dict[str, Any]:
    hist = np.bincount(loads) if len(loads) else np.zeros(1, dtype=np.int64)
    return {
        "histogram": hist.tolist(),  # people with 0, 1, 2... places
        "max": int(loads.max()) if len(loads) else 0,
        "mean": round(float(loads.mean()), 2) if len(loads) else 0.0,
        "none": int((loads == 0).sum()),
    }


def _summary(problem: Problem, chosen: np.ndarray, solution: roster_solver.Solution) -> dict:
    could = np.zeros(len(problem.people), dtype=bool)
    could[problem.pair_person] = True  # the people who could take a place
    after = problem.load_before + np.bincount(
        problem.pair_person[chosen], minlength=len(problem.people)
    )
    places = int(np.clip(problem.occ_capacity - problem.occ_taken, 0, None).sum())
    return {
        "occurrences": len(problem.occ_task),
        "places": places,
        "assigned": len(chosen),
        "left_open": places - len(chosen),
        "candidates": int(could.sum()),
        "pairs": len(problem.pair_occ),
        "refused_by_rules": len(solution.refused),
        "closed_for_minimum_group": len(solution.closed),
        "before": _spread(problem.load_before[could]),
        "after": _spread(after[could]),
        # Places the candidates held before the plan (those with any), for recounting the
        # spread after an adjustment.
        "held": {
            str(int(problem.people[i])): int(problem.load_before[i])
            for i in np.flatnonzero(could & (problem.load_before > 0)).tolist()
        },
    }


async def _plan(actor: Actor, plan_id: int) -> RosterPlan:
    plan = await RosterPlan.get_or_none(id=plan_id)
    if plan is None or not actor.is_staff(plan.community_id):
        raise NotFound("No such roster plan.", code="roster_plan_not_found")
    return plan


@dataclass(frozen=True)
class AssignmentView:
    id: int
    task_id: int
    task_title: str
    location: str | None
    occurrence_start: datetime
    occurrence_end: datetime
    person_id: int
    name: str
    reasons: tuple[str, ...]


@dataclass(frozen=True)
class RosterPlanView:
    id: int
    community_id: int
    status: RosterPlanStatus
    period_start: datetime
    period_end: datetime
    timezone: str
    summary: dict
    assignments: tuple[AssignmentView, ...]


async def plan_view(hub: Hub, actor: Actor, plan_id: int, locale: str = "zh-CN") -> RosterPlanView:
    """A plan as staff see it: each place with who and why, in ``locale``."""
    plan = await _plan(actor, plan_id)
    community = await get_community(plan.community_id)
    rows = (
        await RosterAssignment.filter(plan_id=plan.id)
        .order_by("occurrence_start", "task_id", "id")
        .values_list("id", "task_id", "occurrence_start", "person_id", "reasons")
    )
    task_ids = sorted({r[1] for r in rows})
    task_rows = {t.id: t for t in await Task.filter(id__in=task_ids)}
    names = dict(await Person.filter(id__in=sorted({r[3] for r in rows})).values_list("id", "name"))
    return RosterPlanView(
        id=plan.id,
        community_id=plan.community_id,
        status=plan.status,
        period_start=plan.period_start,
        period_end=plan.period_end,
        timezone=community.timezone,
        summary=plan.summary or {},
        assignments=tuple(
            AssignmentView(
                id=aid,
                task_id=tid,
                task_title=task_rows[tid].title,
                location=task_rows[tid].location,
                occurrence_start=start,
                occurrence_end=start + (task_rows[tid].ends_at - task_rows[tid].starts_at),
                person_id=pid,
                name=names.get(pid, ""),
                reasons=tuple(localize(r, locale) for r in reasons or ()),
            )
            for aid, tid, start, pid, reasons in rows
        ),
    )


async def list_plans(actor: Actor, community_id: int, limit: int = 20) -> list[RosterPlan]:
    _check_staff(actor, community_id)
    return await RosterPlan.filter(community_id=community_id).order_by("-id").limit(limit)


async def _draft_assignment(hub: Hub, actor: Actor, plan_id: int, assignment_id: int):
    plan = await _plan(actor, plan_id)
    if plan.status is not RosterPlanStatus.DRAFT:
        raise Conflict("Only a draft plan can change.", code="plan_not_draft")
    assignment = await RosterAssignment.get_or_none(id=assignment_id, plan_id=plan.id)
    if assignment is None:
        raise NotFound("No such assignment in this plan.", code="assignment_not_found")
    return plan, assignment


async def _refresh_summary(plan: RosterPlan) -> None:
    summary = dict(plan.summary or {})
    people = await RosterAssignment.filter(plan_id=plan.id).values_list("person_id", flat=True)
    summary["assigned"] = len(people)
    summary["left_open"] = summary.get("places", len(people)) - len(people)
    loads = Counter(people)
    for person_id, held in (summary.get("held") or {}).items():
        loads[int(person_id)] += held
    # Everyone else among the candidates holds nothing.
    after_loads = list(loads.values())
    after_loads += [0] * max(0, summary.get("candidates", 0) - len(after_loads))
    summary["after"] = _spread(np.array(after_loads, dtype=np.int64))
    await RosterPlan.filter(id=plan.id).update(summary=summary)


async def _lock_draft(plan_id: int) -> None:
    """Inside a transaction: write the plan's row (changing nothing) while it is a draft, so
    changes to one plan queue one behind the other; 409 once it is accepted or discarded."""
    if not await RosterPlan.filter(id=plan_id, status=RosterPlanStatus.DRAFT).update(
        status=RosterPlanStatus.DRAFT
    ):
        raise Conflict("Only a draft plan can change.", code="plan_not_draft")


async def remove_assignment(hub: Hub, actor: Actor, plan_id: int, assignment_id: int) -> None:
    """Staff take a person off a draft plan (the place stays open in it): roster.adjusted."""
    plan, assignment = await _draft_assignment(hub, actor, plan_id, assignment_id)
    async with unit_of_work(hub, actor.id) as uow:
        await _lock_draft(plan.id)
        await RosterAssignment.filter(id=assignment.id).delete()
        await _refresh_summary(plan)
        await uow.record(
            "roster.adjusted",
            plan,
            community_id=plan.community_id,
            before={"assignment_id": assignment.id, "person_id": assignment.person_id},
            after={"removed": assignment.id, "task_id": assignment.task_id},
        )


async def swap_assignment(
    hub: Hub, actor: Actor, plan_id: int, assignment_id: int, data: SwapIn | dict
) -> RosterAssignment:
    """Staff give a draft plan's place to another person, who must be a candidate for it
    now (team, availability, not on it already, the rules) and hold no clashing place in
    the plan or outside it: 422 ``not_eligible`` otherwise. roster.adjusted."""
    plan, assignment = await _draft_assignment(hub, actor, plan_id, assignment_id)
    data = parse(SwapIn, data)
    eligible = await replacement_candidates(hub, actor, plan.id, assignment.id, limit=None)
    if data.person_id not in {c[0] for c in eligible}:
        raise InvalidInput.for_field("person_id", "This person cannot take this place.")
    async with unit_of_work(hub, actor.id) as uow:
        await _lock_draft(plan.id)
        reasons = [{"zh-CN": "工作人员调整", "en": "Chosen by staff"}]
        await RosterAssignment.filter(id=assignment.id).update(
            person_id=data.person_id, reasons=reasons
        )
        await _refresh_summary(plan)
        await uow.record(
            "roster.adjusted",
            plan,
            community_id=plan.community_id,
            before={"assignment_id": assignment.id, "person_id": assignment.person_id},
            after={"assignment_id": assignment.id, "person_id": data.person_id},
        )
    return await RosterAssignment.get(id=assignment.id)


async def replacement_candidates(
    hub: Hub, actor: Actor, plan_id: int, assignment_id: int, *, limit: int | None = 10
) -> list[tuple[int, str]]:
    """Who could take this place instead, best first: candidates of the occurrence (as the
    plan was made) not clashing with their places in the plan, allowed by the rules."""
    plan, assignment = await _draft_assignment(hub, actor, plan_id, assignment_id)
    community = await get_community(plan.community_id)
    task = await Task.get(id=assignment.task_id)
    start = assignment.occurrence_start
    end = start + (task.ends_at - task.starts_at)
    problem = await load_problem(hub, community, max(start, hub.now()), end)
    o = np.flatnonzero(
        (problem.occ_task == task.id) & (problem.occ_start == int(start.timestamp()))
    )
    if not len(o):
        return []
    in_plan = await RosterAssignment.filter(plan_id=plan.id).values_list(
        "person_id", "task_id", "occurrence_start"
    )
    planned = await Task.filter(id__in=sorted({r[1] for r in in_plan}))
    durations = {t.id: t.ends_at - t.starts_at for t in planned}
    clashing = {pid for pid, tid, s in in_plan if s < end and s + durations[tid] > start}
    pairs = np.flatnonzero(problem.pair_occ == o[0])
    pairs = pairs[np.argsort(-problem.pair_score[pairs], kind="stable")]
    rules = _Rules(hub, problem, await _confirmed(problem))
    out = []
    for i in pairs.tolist():
        p = int(problem.pair_person[i])
        pid = int(problem.people[p])
        if pid in clashing or rules.refused(np.array([i]))[0]:
            continue
        out.append((pid, problem.snap.names[p]))
        if limit is not None and len(out) >= limit:
            break
    return out


@dataclass(frozen=True)
class AcceptResult:
    plan: RosterPlan
    timezone: str
    invited: int
    skipped: tuple[dict, ...]  # {assignment_id, person_id, task_id, occurrence_start, reason}


async def accept_plan(hub: Hub, actor: Actor, plan_id: int) -> AcceptResult:
    """Staff accept a draft plan: each assignment becomes a pending invitation to its
    occurrence (``task.invited``), to answer within the community's ``invitation_minutes``
    (quiet hours not counted) and before the shift starts.
    Places taken since the plan was made are skipped and named (``skipped``), as are
    people no longer able to come (signed up or invited already, deactivated, refused by
    the rules). A plan accepted or discarded already: 409 ``plan_not_draft``.

    One transaction, all or nothing: the tasks' rows written in id order, then the
    occurrences' (made where missing), then the invitations, their audit entries, their
    messages and deliveries (the planner, before commit) each in a few multi-row
    statements, whatever the plan's size; one ``task.invited`` per invitation and
    ``roster.accepted`` reach plugins after commit."""
    plan = await _plan(actor, plan_id)
    community = await get_community(plan.community_id)
    rows = await RosterAssignment.filter(plan_id=plan.id).order_by(
        "occurrence_start", "task_id", "-score", "id"
    )
    task_rows = {t.id: t for t in await Task.filter(id__in=sorted({r.task_id for r in rows}))}
    teams = {t.id: t for t in await Team.filter(
        id__in=sorted({t.team_id for t in task_rows.values() if t.team_id}))}  # fmt: skip
    facts = await _person_facts(sorted({r.person_id for r in rows}), community.id)
    active = set()
    for chunk in db.chunks(sorted(facts)):
        active.update(await Person.filter(id__in=chunk, active=True).values_list("id", flat=True))
    invites: list[dispatch.ShiftInvite] = []
    skipped = []
    async with unit_of_work(hub, actor.id) as uow:
        await uow.move(
            plan,
            RosterPlanStatus.DRAFT,
            RosterPlanStatus.ACCEPTED,
            Conflict("This plan is no longer a draft.", code="plan_not_draft"),
            accepted_at=uow.now,
        )
        # Every task's row first, in id order (the lock signups and edits take first): two
        # plans accepted at once queue instead of deadlocking, and each task is written once.
        capacities: dict[int, int | None] = {}
        for task_id in sorted(task_rows):
            try:
                capacities[task_id] = await tasks.lock_task(task_id)
            except Conflict:
                capacities[task_id] = None  # cancelled
        by_occurrence: dict[tuple[int, datetime], list[RosterAssignment]] = {}
        for row in rows:
            by_occurrence.setdefault((row.task_id, row.occurrence_start), []).append(row)
        open_now = {}
        for (task_id, start), group in by_occurrence.items():
            if capacities[task_id] is None:
                skipped += [_skip(r, "task_cancelled") for r in group]
            elif start <= uow.now:
                skipped += [_skip(r, "started") for r in group]
            else:
                open_now[task_id, start] = group
        # Then the occurrences' rows (made where missing), and what stands on them now.
        for task in task_rows.values():
            task.community = community
        occurrences = await tasks.lock_occurrences(
            [(task_rows[t], start, capacities[t]) for t, start in open_now]
        )
        on_shift = await _on_shift([o.id for o in occurrences.values()])
        for (task_id, start), group in open_now.items():
            task = task_rows[task_id]
            occurrence = occurrences[task_id, as_utc(start)]
            if occurrence.cancelled:
                skipped += [_skip(r, "occurrence_cancelled") for r in group]
                continue
            shift = on_shift.get(occurrence.id, _OnShift())
            free = occurrence.capacity - occurrence.taken - shift.pending
            signup = tasks.signup_facts_with(
                task, teams.get(task.team_id), start, occurrence, shift.holding
            )
            for row in group:
                if row.person_id not in active:
                    reason = "inactive"
                elif row.person_id in shift.signed:
                    reason = "already_signed_up"
                elif row.person_id in shift.invited:
                    reason = "already_invited"
                elif free <= 0:
                    reason = "place_taken"
                elif check_rules(hub, "vh_check_signup", person=facts[row.person_id],
                                 signup=signup):  # fmt: skip
                    reason = "registration_refused"
                else:
                    reason = None
                if reason:
                    skipped.append(_skip(row, reason))
                    continue
                free -= 1
                invites.append(
                    dispatch.ShiftInvite(
                        occurrence,
                        row.person_id,
                        invited_by=actor.id,
                        roster_plan_id=plan.id,
                        reasons=row.reasons,
                    )
                )
        await dispatch.invite_many_to_occurrences(uow, community, invites)
        await uow.record(
            "roster.accepted",
            plan,
            community_id=community.id,
            after={"invited": len(invites), "skipped": len(skipped)},
        )
    await plan.refresh_from_db()
    return AcceptResult(plan, community.timezone, len(invites), tuple(skipped))


@dataclass
class _OnShift:
    """What stands on an occurrence as a plan is accepted."""

    pending: int = 0  # pending invitations (they hold a place)
    invited: set[int] = field(default_factory=set)  # everyone with an invitation to it
    signed: set[int] = field(default_factory=set)  # signed up, waiting or checked in
    holding: list[int] = field(default_factory=list)  # confirmed or checked in


async def _on_shift(occurrence_ids: list[int]) -> dict[int, _OnShift]:
    """Each occurrence's invitations and signups (its row locked), a query per many."""
    found: dict[int, _OnShift] = {}
    for chunk in db.chunks(sorted(occurrence_ids)):
        for occurrence_id, person_id, status in await Invitation.filter(
            occurrence_id__in=chunk
        ).values_list("occurrence_id", "person_id", "status"):
            shift = found.setdefault(occurrence_id, _OnShift())
            shift.invited.add(person_id)
            shift.pending += status == InvitationStatus.PENDING
        for occurrence_id, person_id, status in await Signup.filter(
            occurrence_id__in=chunk, status__in=tasks.ACTIVE_SIGNUP
        ).values_list("occurrence_id", "person_id", "status"):
            shift = found.setdefault(occurrence_id, _OnShift())
            shift.signed.add(person_id)
            if status in tasks.HOLDING_PLACE:
                shift.holding.append(person_id)
    return found


def _skip(row: RosterAssignment, reason: str) -> dict:
    return {
        "assignment_id": row.id,
        "person_id": row.person_id,
        "task_id": row.task_id,
        "occurrence_start": row.occurrence_start,
        "reason": reason,
    }


async def discard_plan(hub: Hub, actor: Actor, plan_id: int) -> RosterPlan:
    """Staff discard a draft plan (roster.discarded); 409 ``plan_not_draft`` otherwise."""
    plan = await _plan(actor, plan_id)
    async with unit_of_work(hub, actor.id) as uow:
        await uow.move(
            plan,
            RosterPlanStatus.DRAFT,
            RosterPlanStatus.DISCARDED,
            Conflict("This plan is no longer a draft.", code="plan_not_draft"),
        )
        await uow.record("roster.discarded", plan, community_id=plan.community_id, after={})
    await plan.refresh_from_db()
    return plan
