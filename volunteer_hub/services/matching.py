"""Ranking volunteers for a wish (精准对接) as a set operation.

1. Hard filters, on the community's feature snapshot (``volunteer_features``: a few
   statements per change of the database, not per call) plus two small per-wish queries
   (claimed wishes of the community, the resident's do-not-send list): an active person
   with the volunteer role here; a member of an active team of the kind that serves the
   category (any volunteer when none does); a valid, verified qualification for restricted
   categories; not the resident nor whoever posted; declared weekly availability that
   meets the wish's time (someone who declared none counts as free); no confirmed shift
   or claimed wish overlapping the wish's window; under the community's weekly hours cap;
   not on the resident's do-not-send list.
2. One vectorised score (numpy) over what is left, then plugin scores through
   ``vh_match_score`` in one batch call (only when a plugin implements it).
3. Reasons in words, for the few returned.

Registration rules (``vh_check_team_join``) hold when a person joins a team: an active
membership has passed them, so ranking calls no rule per volunteer. There is no per-wish
registration hook.

``rank_shift`` ranks volunteers for one occurrence of a task (a shift) on the same snapshot,
filters and score where they apply; there the signup's registration rules
(``vh_check_signup``) are asked of the best, one by one, until enough pass.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import numpy as np

from volunteer_hub import db
from volunteer_hub.clock import as_utc, local_day_start
from volunteer_hub.errors import PermissionDenied
from volunteer_hub.hooktypes import CandidateFacts, MatchScore
from volunteer_hub.hub import Hub
from volunteer_hub.i18n import LocalizedText
from volunteer_hub.models import Occurrence, Person, Task, Team, Wish
from volunteer_hub.services import tasks
from volunteer_hub.services.access import Actor
from volunteer_hub.services.facts import person_facts, wish_facts
from volunteer_hub.services.teams import check_rules
from volunteer_hub.services.volunteer_features import (
    Features,
    available,
    busy,
    claims,
    claims_sql,
    features,
    free,
    local_pieces,
    token_from_rows,
    token_rows_sql,
    under_cap,
)
from volunteer_hub.services.wishes import category_of, get_wish

# The core score's weights (points). Documented in docs/matching.md.
SAME_GRID = 30.0
SKILL_FIT = 15.0
FREE_THEN = 20.0  # declared free for the whole window (in proportion for part of it)
UNDECLARED = 10.0  # said nothing about when they are free
BUSY_THAT_DAY = -40.0  # a shift or claimed wish on the needed day (no window given)
FAIRNESS = 25.0  # minus the hours of the last 30 days, never below 0
NO_SHOW = -15.0  # per unexcused no-show, halving every 90 days
PARTY_MAX = 10.0  # a party member's remaining yearly hours, up to this
OPEN_CLAIM = -10.0  # per wish claimed and not yet fulfilled

WEEKDAYS_ZH = ("周一", "周二", "周三", "周四", "周五", "周六", "周日")
WEEKDAYS_EN = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")


@dataclass(frozen=True)
class Candidate:
    person_id: int
    name: str
    score: float
    reasons: tuple[LocalizedText, ...]


@dataclass(frozen=True)
class TimeFrame:
    """When the wish needs help, in UTC, and as local (weekday, start, end) minute pieces.

    ``exact``: the wish gave a window (clashes exclude); otherwise it is the needed-by day
    (a shift that day only lowers the score).
    """

    start: datetime
    end: datetime
    pieces: tuple[tuple[int, int, int], ...]
    exact: bool

    @property
    def minutes(self) -> float:
        return sum(e - s for _, s, e in self.pieces)


def time_frame(wish: Wish, timezone: str) -> TimeFrame | None:
    """The wish's window, else its needed-by day, else None (no time filter)."""
    if wish.window_start is not None and wish.window_end is not None:
        start, end, exact = as_utc(wish.window_start), as_utc(wish.window_end), True
    elif wish.needed_by is not None:
        start = local_day_start(wish.needed_by, timezone)
        end = local_day_start(wish.needed_by + timedelta(days=1), timezone)
        exact = False
    else:
        return None
    return TimeFrame(start, end, local_pieces(start, end, timezone), exact)


async def candidates(hub: Hub, actor: Actor, wish_id: int, *, limit: int = 10) -> list[Candidate]:
    """Volunteers who may serve the wish, best first (staff only)."""
    wish = await get_wish(hub, actor, wish_id)
    if not actor.is_staff(wish.community_id):
        raise PermissionDenied("Only staff of this community can do this.")
    return await rank(hub, wish, limit=limit)


@dataclass
class _Scored:
    """The ranking's arrays for the volunteers left after the filters (``idx``)."""

    snap: Features
    idx: np.ndarray
    score: np.ndarray
    overlap: np.ndarray | None
    busy_day: np.ndarray
    hours30: np.ndarray
    no_shows: np.ndarray
    party_left: np.ndarray
    claims: np.ndarray
    skill: np.ndarray
    same_grid: np.ndarray
    frame: TimeFrame | None = None
    plugin_reasons: dict[int, list[LocalizedText]] = field(default_factory=dict)


async def rank(
    hub: Hub, wish: Wish, *, limit: int = 10, exclude: Collection[int] = ()
) -> list[Candidate]:
    """Volunteers who may serve ``wish``, best first (score, then person id), at most
    ``limit``; ``exclude`` leaves people out (those already invited). For whoever
    dispatches it: staff, or the services inviting the next volunteer."""
    scored = await _score(hub, wish, exclude)
    if scored is None or not len(scored.idx):
        return []
    rounded = np.round(scored.score, 2)
    return _candidates(hub, scored, _top(rounded, scored.snap.ids[scored.idx], max(0, limit)))


def _candidates(hub: Hub, scored: _Scored, order: Sequence[int]) -> list[Candidate]:
    """The candidates at positions ``order`` of ``scored``, with their reasons."""
    rounded = np.round(scored.score, 2)
    missed = scored.snap.no_show_count(hub.now())
    return [
        Candidate(
            person_id=int(scored.snap.ids[scored.idx[i]]),
            name=scored.snap.names[scored.idx[i]],
            score=float(rounded[i]),
            reasons=_reasons(scored, int(i), int(missed[scored.idx[i]])),
        )
        for i in order
    ]


def _top(scores: np.ndarray, ids: np.ndarray, limit: int) -> np.ndarray:
    """Positions of the ``limit`` best by score, then id: a partition first (linear), then
    a sort of those tied with the last one kept or better."""
    if limit <= 0 or not len(scores):
        return np.zeros(0, dtype=np.int64)
    if len(scores) > limit:
        kth = -np.partition(-scores, limit - 1)[limit - 1]
        keep = np.flatnonzero(scores >= kth)
    else:
        keep = np.arange(len(scores))
    return keep[np.lexsort((ids[keep], -scores[keep]))][:limit]


async def eligible_ids(hub: Hub, wish: Wish, *, exclude: Collection[int] = ()) -> list[int]:
    """Everyone the hard filters let through for ``wish``, by person id (for tests, tools)."""
    scored = await _score(hub, wish, exclude)
    return [] if scored is None else sorted(scored.snap.ids[scored.idx].tolist())


async def _score(hub: Hub, wish: Wish, exclude: Collection[int]) -> _Scored | None:
    category = category_of(hub, wish.community_id, wish.category)
    if not category.served:
        return None
    # One round trip: the snapshot's freshness token, the resident's do-not-send list and
    # the community's claimed wishes.
    rows = await db.read(
        token_rows_sql() + " UNION ALL SELECT 'd', person_id, NULL, NULL, NULL FROM do_not_send"
        " WHERE resident_id = ?" + claims_sql(),
        wish.resident_id,
        wish.community_id,
    )
    snap = await features(hub, wish.community_id, token_from_rows(rows))
    if not snap.size:
        return None
    today = hub.now().astimezone(ZoneInfo(snap.timezone)).date()
    mask = np.ones(snap.size, dtype=bool)
    if category.team_kind:
        mask &= snap.kinds.get(category.team_kind, np.zeros(snap.size, dtype=bool))
    if category.restricted and category.qualifications:
        mask &= snap.qualified(category.qualifications, today)
    left_out = {wish.resident_id, wish.posted_by_id, *exclude}
    left_out.update(int(r[1]) for r in rows if r[0] == "d")
    scored = _filter_and_score(
        hub,
        snap,
        mask,
        left_out,
        time_frame(wish, snap.timezone),
        [r for r in rows if r[0] == "c"],
        grid_id=wish.grid_id,
        skill=(category.code, category.team_kind, category.name),
    )
    _plugin_scores(hub, wish, scored, hub.now())
    return scored


def _filter_and_score(
    hub: Hub,
    snap: Features,
    mask: np.ndarray,
    left_out: Collection[int | None],
    frame: TimeFrame | None,
    claim_rows: list[Sequence],
    *,
    grid_id: int | None,
    skill: tuple[str, str | None, LocalizedText] | None,
    whole: bool = False,
) -> _Scored:
    """The filters every need shares (not ``left_out``; free by declared availability; no
    clash; under the weekly cap), applied to ``mask``, then the core score of those left.
    ``skill``: the (code, team kind, name) a skill is named like, if any. ``whole``: the
    declared free times must cover the whole frame (a shift, as the roster wants), not
    only some of it (a wish: help at some point of its window)."""
    n = snap.size
    now = hub.now()
    pos, _ = snap.positions(sorted(i for i in left_out if i is not None))
    mask[pos] = False

    held = claims(snap, claim_rows)
    overlap = None
    busy_day = np.zeros(n, dtype=bool)
    if frame is None:
        mask &= under_cap(snap, now, now)
    elif frame.exact:
        mask &= free(snap, frame.start, frame.end, held, whole=whole)
    else:
        # A day to do it in: a shift or claim that day lowers the score instead, and only
        # the week's load counts against the cap.
        mask &= available(snap, frame.start, frame.end, whole=False)
        mask &= under_cap(snap, frame.start, frame.start)
        busy_day[busy(snap, frame.start, frame.end, held)] = True
    if frame is not None:
        overlap = snap.overlap_minutes(frame.pieces)

    idx = np.flatnonzero(mask)
    hours30 = snap.hours_between(now - timedelta(days=30), now)[idx]
    no_shows = snap.no_show_weight(now)[idx]
    party_left = snap.party_hours_left(now)[idx]
    same_grid = (snap.grid[idx] == grid_id) if grid_id is not None else np.zeros(len(idx), bool)
    fit = _skill_fit(snap, idx, *skill) if skill else np.zeros(len(idx), bool)
    score = SAME_GRID * same_grid + SKILL_FIT * fit
    if frame is not None and overlap is not None:
        declared = snap.declared[idx]
        share = np.minimum(1.0, overlap[idx] / max(1.0, frame.minutes))
        free_then = np.where(
            declared, FREE_THEN * (share if frame.exact else share > 0), UNDECLARED
        )
        score = score + free_then + BUSY_THAT_DAY * busy_day[idx]
    score = score + np.maximum(0.0, FAIRNESS - hours30)
    score = score + NO_SHOW * no_shows + np.minimum(PARTY_MAX, party_left)
    score = score + OPEN_CLAIM * held.count[idx]
    return _Scored(
        snap,
        idx,
        score,
        overlap,
        busy_day,
        hours30,
        no_shows,
        party_left,
        held.count[idx],
        fit,
        same_grid,
        frame,
    )


# --- one occurrence of a task (a shift) ---------------------------------------------------

# How many more candidates than wanted are ranked at first when the registration rules may
# refuse some of them; the ask grows until enough pass or everyone was looked at.
_RULES_MARGIN = 10


async def rank_shift(
    hub: Hub,
    occurrence: Occurrence,
    task: Task,
    team: Team | None,
    *,
    limit: int = 10,
    exclude: Collection[int] = (),
) -> list[Candidate]:
    """Volunteers who may come to ``occurrence`` of ``task`` (its ``community`` loaded;
    ``team``: the task's), best first (score, then person id), at most ``limit``.

    The filters of a wish where they apply, on the same snapshot: an active volunteer of
    the community; an active member of the task's team for a team task (a signup to it
    is refused otherwise); declared weekly availability covering the whole shift (none
    declared: free); no confirmed shift or claimed wish overlapping it; under the weekly
    hours cap with the shift's hours. Then: not signed up for the occurrence (waiting
    too) nor ever invited to it, nor in ``exclude``; and allowed by the registration
    rules, asked exactly as a signup asks them (``vh_check_signup``), best first until
    ``limit`` pass. The score is a wish's without the grid (a task has none), a skill
    named like the team's kind or name, and no ``vh_match_score`` (it scores wishes)."""
    scored = await _score_shift(hub, occurrence, task, team, exclude)
    if scored is None or not len(scored.idx) or limit <= 0:
        return []
    rounded = np.round(scored.score, 2)
    ids = scored.snap.ids[scored.idx]
    if not hub.plugins.implemented("vh_check_signup"):
        return _candidates(hub, scored, _top(rounded, ids, limit))
    signup = await tasks.signup_facts(task, team, occurrence.start, occurrence)
    allowed: list[int] = []
    window, seen = limit + _RULES_MARGIN, 0
    while True:
        order = _top(rounded, ids, window)
        for i in order[seen:].tolist():
            person = await Person.get(id=int(ids[i]))
            if not check_rules(hub, "vh_check_signup", person=await person_facts(person),
                               signup=signup):  # fmt: skip
                allowed.append(i)
                if len(allowed) == limit:
                    return _candidates(hub, scored, allowed)
        if len(order) < window:  # everyone was looked at
            return _candidates(hub, scored, allowed)
        seen, window = len(order), window * 4


_LIVE_SIGNUPS = ", ".join(f"'{s.value}'" for s in tasks.ACTIVE_SIGNUP)


async def _score_shift(
    hub: Hub, occurrence: Occurrence, task: Task, team: Team | None, exclude: Collection[int]
) -> _Scored | None:
    # One round trip: the freshness token, the community's claimed wishes, who is on the
    # occurrence already (signed up or invited), and the team's active members.
    sql = (
        token_rows_sql()
        + claims_sql()
        + " UNION ALL SELECT 'o', person_id, NULL, NULL, NULL FROM signup"
        f" WHERE occurrence_id = ? AND status IN ({_LIVE_SIGNUPS})"
        " UNION ALL SELECT 'o', person_id, NULL, NULL, NULL FROM invitation"
        " WHERE occurrence_id = ?"
    )
    params: list[int] = [task.community_id, occurrence.id, occurrence.id]
    if team is not None:
        sql += (
            " UNION ALL SELECT 'm', person_id, NULL, NULL, NULL FROM team_membership"
            " WHERE team_id = ? AND status = 'active'"
        )
        params.append(team.id)
    rows = await db.read(sql, *params)
    snap = await features(hub, task.community_id, token_from_rows(rows))
    if not snap.size:
        return None
    mask = np.ones(snap.size, dtype=bool)
    if team is not None:
        mask[:] = False
        mask[snap.positions([int(r[1]) for r in rows if r[0] == "m"])[0]] = True
    start, end = as_utc(occurrence.start), as_utc(occurrence.end)
    frame = TimeFrame(start, end, local_pieces(start, end, snap.timezone), exact=True)
    return _filter_and_score(
        hub,
        snap,
        mask,
        {*exclude, *(int(r[1]) for r in rows if r[0] == "o")},
        frame,
        [r for r in rows if r[0] == "c"],
        grid_id=None,
        skill=(team.kind, team.kind, team.name) if team is not None else None,
        whole=True,  # one rule with the roster: a place is for the whole shift
    )


def _skill_fit(
    snap: Features, idx: np.ndarray, code: str, team_kind: str | None, name: LocalizedText
) -> np.ndarray:
    """Whether each volunteer lists a skill named like the category (its code, its serving
    team kind, or its name in a language): a mask kept with the snapshot per category."""
    words = {code.lower()}
    if team_kind:
        words.add(team_kind.lower())
    words.update(v.lower() for v in ([name] if isinstance(name, str) else name.values()))
    key = frozenset(words)
    mask = snap.masks.get(key)
    if mask is None:
        mask = np.fromiter(
            (any(s.lower() in words for s in skills) for skills in snap.skills),
            dtype=bool,
            count=snap.size,
        )
        snap.masks[key] = mask
    return mask[idx]


def _plugin_scores(hub: Hub, wish: Wish, scored: _Scored, now: datetime) -> None:
    """Add the scores of plugins implementing ``vh_match_score`` (one batch call each)."""
    if not len(scored.idx) or not hub.plugins.implemented("vh_match_score"):
        return
    counts = scored.snap.no_show_count(now)
    batch = tuple(
        CandidateFacts(
            person=scored.snap.person_facts(p),
            hours_last_30_days=round(float(scored.hours30[i]), 2),
            open_claims=int(scored.claims[i]),
            busy_on_needed_day=bool(scored.busy_day[p]),
            no_shows=int(counts[p]),
            core_score=round(float(scored.score[i]), 2),
        )
        for i, p in enumerate(scored.idx.tolist())
    )
    extra = np.zeros(len(batch))
    reasons: dict[int, list[LocalizedText]] = {}
    for result in hub.plugins.call("vh_match_score", wish=wish_facts(wish), candidates=batch):
        if result.error is not None or result.value is None:
            continue
        value = result.value
        if not (
            isinstance(value, Sequence)
            and len(value) == len(batch)
            and all(v is None or isinstance(v, MatchScore) for v in value)
        ):
            hub.plugins.record_failure(
                result.plugin,
                "vh_match_score",
                TypeError(
                    "vh_match_score must return one MatchScore or None per candidate "
                    f"({len(batch)}), not {type(value).__name__}"
                ),
            )
            continue
        for i, answer in enumerate(value):
            if answer is not None:
                extra[i] += float(answer.score)
                if answer.reasons:
                    reasons.setdefault(i, []).extend(answer.reasons)
    scored.score = scored.score + extra
    scored.plugin_reasons = reasons


def _hours(value: float) -> str:
    return f"{round(float(value), 1):g}"


def _clock(minute: int) -> str:
    return f"{minute // 60}:{minute % 60:02d}"


def _reasons(scored: _Scored, i: int, missed: int) -> tuple[LocalizedText, ...]:
    snap = scored.snap
    p = int(scored.idx[i])
    out: list[LocalizedText] = []
    if scored.same_grid[i]:
        out.append({"zh-CN": "同一网格", "en": "Lives in the same grid"})
    if scored.skill[i]:
        out.append({"zh-CN": "有相关技能", "en": "Has a matching skill"})
    frame = scored.frame
    if frame is not None:
        if scored.busy_day[p]:
            out.append({"zh-CN": "当天已有排班", "en": "Already busy that day"})
        if not snap.declared[p]:
            out.append(
                {
                    "zh-CN": "未登记空闲时间，视为有空",
                    "en": "Has not said when they are free: counted as free",
                }
            )
        else:
            for weekday, start, end in frame.pieces:
                for s, e in snap.slots_of(p, weekday):
                    if min(e, end) > max(s, start):
                        out.append(
                            {
                                "zh-CN": f"{WEEKDAYS_ZH[weekday - 1]} {_clock(s)}–{_clock(e)} 有空",
                                "en": f"Free {WEEKDAYS_EN[weekday - 1]} {_clock(s)}–{_clock(e)}",
                            }
                        )
                        break
                else:
                    continue
                break
    hours = _hours(scored.hours30[i])
    out.append(
        {"zh-CN": f"近30天服务 {hours} 小时", "en": f"{hours} hours served in the last 30 days"}
    )
    if missed:
        out.append(
            {"zh-CN": f"近一年缺勤 {missed} 次", "en": f"{missed} no-show(s) in the last year"}
        )
    else:
        out.append({"zh-CN": "可靠：无缺勤记录", "en": "Reliable: no missed commitments"})
    if snap.is_party[p] and scored.party_left[i] > 0:
        left = _hours(scored.party_left[i])
        out.append(
            {
                "zh-CN": f"在职党员：今年还差 {left} 小时",
                "en": f"Party member: {left} hours short of this year's target",
            }
        )
    claims = int(scored.claims[i])
    if claims:
        out.append(
            {
                "zh-CN": f"手头有 {claims} 个未完成的心愿",
                "en": f"{claims} claimed wish(es) in progress",
            }
        )
    out.extend(scored.plugin_reasons.get(i, ()))
    return tuple(out)
