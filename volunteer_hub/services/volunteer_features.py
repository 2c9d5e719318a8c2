"""Per-volunteer features of a community as numpy arrays: the matcher's snapshot.

Ranking a wish among 50,000 volunteers cannot read 50,000 rows per call. What changes
slowly (who volunteers here, their grid, their teams, qualifications, declared weekly
availability, party targets) and the dated facts the scores need (service hours, confirmed
shifts, unexcused no-shows) are read once into arrays: a few statements whatever the
number of volunteers. Time-dependent terms (hours in the last 30 days, a no-show's decay,
a qualification's expiry, the week of a wish) are computed from the dated arrays at each
call, so a snapshot never goes stale by the clock alone. The ranking (``matching``) and the
roster (``rostering``) both read it, and decide who may take on a time with one rule,
``free``.

Freshness: the snapshot lives in the Hub (``hub.caches``), never in the module. Each use
first runs ONE statement of indexed ``MAX(id)`` look-ups (the audit trail and every table
the features come from), so every process sharing the database sees a change at once.
What changed is then read, and only that, into a copy that replaces the snapshot whole:

- new rows (ids after the last seen, by primary key) name their people: a new role or
  membership, qualification, free time, service record, signup, no-show or party report;
- the audit entries written since (every service records one) name the rest: a
  deactivation or reactivation, an approval, a verified or refused qualification, new free
  times, a signup's move, an excused no-show... through their entity (the row's
  ``person_id``; for a row deleted since, a revoked role or a refused qualification, the
  ``person_id`` one of its entries holds). Actions that cannot touch a feature (a wish
  posted, an invitation sent) are passed over.

Someone who may have joined or left the volunteers (a new role, a person's own entry) is
read again whole and spliced in: the ids stay sorted and every part's rows of theirs are
replaced (one statement for the people, one per part). Other changes read only that
person's rows of the part (their free times, their shifts...), one statement; people who
are not volunteers here cost nothing. A few changes read one part again for everyone: a
cancelled occurrence or task and a task's new times (the shifts), a team's change (the
team kinds), the community's settings. Each part is built in one canonical order, so a
snapshot read in pieces holds exactly the arrays a full read gives (tests hold it so).

On PostgreSQL ids are handed out at insert, not at commit: a transaction can commit after
one holding later ids was seen, its rows behind the last id seen. So the ids read past that
were not there (in flight, or rolled back) are kept as the snapshot's holes (the newest
``HOLES_AT_MOST`` per table) and looked for again at the next change.

Everything is read again only when: there is no snapshot yet; an audit action is not
known here; more than ``AT_MOST`` audit entries, new rows of one table or people changed
at once; a person-change entry names nobody findable; or the snapshot is older than
``MAX_AGE_SECONDS``. That last one is the safety net for what no statement above can see:
a change made behind the services' back (a raw ``UPDATE`` that writes no audit entry, such
as ``community.weekly_hours_cap``, which no service sets); a late commit with nothing
changing after it, or one that was in flight during a full read (no holes are known then).
"""

from __future__ import annotations

import json
import time
from bisect import bisect_left, bisect_right
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np

from volunteer_hub import db
from volunteer_hub.clock import local_day_start, local_year_start
from volunteer_hub.hooktypes import PersonFacts
from volunteer_hub.hub import Hub

CACHE_KEY = "matching.features"
MAX_AGE_SECONDS = 60.0
# A no-show weighs half as much after this many days, a quarter after twice as many: the one
# value ranking, the roster and the volunteer's own record (no_shows.reliability) use.
HALF_LIFE_DAYS = 90.0
# How far back dated facts are read: a year of hours (the party target, this year), two
# half-lives' worth and more of no-shows.
RECORDS_DAYS = 400
NO_SHOW_DAYS = 730
SHIFT_DAYS = 8

# Audit actions that never change a feature: their entries do not force a reload.
_HARMLESS_ACTIONS = (
    "wish.",
    "invitation.",
    "roster.",
    "responsible_contact.",
    "delivery.",
    "open311_key.",
    "calendar.",
    "channel.",
    "person.channel_",
    "person.password",
    "person.reset_code",
    "person.locale_changed",
    "person.do_not_send",  # read per wish, never cached
    "occurrence.messaged",
    "occurrence.dispatch_exhausted",
    "qualification.expiring",
    "grid.",
    "task.invited",
    "task.created",  # a new task has nobody signed up yet
    "team.created",  # nobody is a member yet
    "community.created",
    "community.emergency_",
    "emergency.",
)

# The tables the features come from, audit trail first: the freshness token is their
# MAX(id)s, each an index look-up.
TOKEN_TABLES = (
    "audit_entry",
    "person",
    "role_assignment",
    "team_membership",
    "qualification",
    "availability_slot",
    "service_record",
    "signup",
    "no_show",
    "party_report",
)
_TOKEN_SQL = "SELECT " + ", ".join(f"(SELECT MAX(id) FROM {t})" for t in TOKEN_TABLES)


def token_rows_sql() -> str:
    """The token as rows ``('t', position, max id, NULL, NULL)``: a caller may append its
    own rows of five columns with ``UNION ALL`` to read them in the same round trip."""
    return " UNION ALL ".join(
        f"SELECT 't', {i}, (SELECT MAX(id) FROM {t}), CAST(NULL AS BIGINT), CAST(NULL AS BIGINT)"
        for i, t in enumerate(TOKEN_TABLES)
    )


def token_from_rows(rows: Sequence[Sequence[Any]]) -> tuple[int, ...]:
    values = [0] * len(TOKEN_TABLES)
    for row in rows:
        if row[0] == "t":
            values[int(row[1])] = int(row[2] or 0)
    return tuple(values)


_OCC_END = 'o."end"'  # END is a keyword

_VOLUNTEERS = "SELECT person_id FROM role_assignment WHERE community_id = ? AND role = 'volunteer'"


def epoch(column: str) -> str:
    """SQL for a datetime column as whole seconds since 1970 (UTC), in either dialect."""
    if db.is_postgres():
        return f"CAST(EXTRACT(EPOCH FROM {column}) AS BIGINT)"
    return f"CAST(strftime('%s', {column}) AS INTEGER)"


def to_epoch(moment: datetime) -> int:
    return int(moment.timestamp())


@dataclass
class Features:
    """One community's volunteers (active people with the volunteer role), by position.

    ``ids`` is sorted; every per-person array is aligned with it. Dated facts are sparse
    arrays (position, seconds since 1970, ...) sorted by time.
    """

    community_id: int
    timezone: str
    weekly_hours_cap: int
    ids: np.ndarray
    names: list[str]
    grid: np.ndarray  # -1: none
    home: np.ndarray  # the community the person registered in (``person.community_id``; -1: none)
    birth_dates: list[date | None]
    skills: list[tuple[str, ...]]
    # Active memberships, in any community's team, sorted by (position, team): for a team's
    # members and the kinds a person serves (the registration rules see every kind).
    team_pos: np.ndarray
    team_ids: np.ndarray
    team_kinds: np.ndarray  # object: the team's kind
    team_community: np.ndarray
    kinds: dict[str, np.ndarray]  # team kind -> member of an active team of that kind here
    # kind -> (position, expiry as an ordinal day; a huge number when it never expires);
    # verified qualifications only.
    verified: dict[str, tuple[np.ndarray, np.ndarray]]
    qualification_rows: list[tuple[int, str, date | None, bool]]
    declared: np.ndarray  # said when they are free (else free at any time)
    slots: dict[int, tuple[np.ndarray, np.ndarray, np.ndarray]]  # weekday -> pos, start, end
    rec_pos: np.ndarray
    rec_at: np.ndarray
    rec_hours: np.ndarray
    shift_pos: np.ndarray
    shift_start: np.ndarray
    shift_end: np.ndarray
    ns_pos: np.ndarray
    ns_at: np.ndarray
    party_target: np.ndarray  # yearly hours; 0 for a person without an accepted report
    is_party: np.ndarray
    token: tuple = ()
    loaded_at: float = 0.0
    masks: dict[frozenset[str], np.ndarray] = field(default_factory=dict, repr=False)
    sums: dict[tuple[str, int, int], np.ndarray] = field(default_factory=dict, repr=False)
    _kinds_of: list[tuple[str, ...]] | None = field(default=None, repr=False)
    # Each weekday's slots merged per person (touching ones joined), built when first asked.
    _merged: dict[int, tuple[np.ndarray, np.ndarray, np.ndarray]] | None = field(
        default=None, repr=False
    )
    # Token position -> ids at or below the last seen that were not visible when read (a
    # transaction still in flight, or rolled back): looked for again at the next change.
    holes: dict[int, frozenset[int]] = field(default_factory=dict, repr=False)

    @property
    def size(self) -> int:
        return len(self.ids)

    def positions(self, person_ids: Sequence[int] | np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The positions of ``person_ids`` that are volunteers here, and which of them are."""
        wanted = np.asarray(person_ids, dtype=np.int64)
        if not self.size or not len(wanted):
            return np.zeros(0, dtype=np.int64), np.zeros(len(wanted), dtype=bool)
        pos = np.searchsorted(self.ids, wanted)
        clipped = np.minimum(pos, self.size - 1)
        found = self.ids[clipped] == wanted
        return clipped[found], found

    # --- dated sums, at call time --------------------------------------------------

    def hours_between(self, start: datetime, end: datetime) -> np.ndarray:
        """Verified service hours per person with records started in [start, end).

        Kept per slice of the (time-sorted) records: while no record enters or leaves the
        interval, the sums are the same and are not summed again."""
        lo, hi = np.searchsorted(self.rec_at, [to_epoch(start), to_epoch(end)], side="left")
        key = ("records", int(lo), int(hi))
        if key not in self.sums:
            self._bound_sums()
            self.sums[key] = np.bincount(
                self.rec_pos[lo:hi], self.rec_hours[lo:hi], minlength=self.size
            )
        return self.sums[key]

    def shift_hours_between(self, start: datetime, end: datetime) -> np.ndarray:
        """Hours of confirmed shifts starting in [start, end) (not yet service records)."""
        lo, hi = np.searchsorted(self.shift_start, [to_epoch(start), to_epoch(end)])
        key = ("shifts", int(lo), int(hi))
        if key not in self.sums:
            self._bound_sums()
            hours = (self.shift_end[lo:hi] - self.shift_start[lo:hi]) / 3600.0
            self.sums[key] = np.bincount(self.shift_pos[lo:hi], hours, minlength=self.size)
        return self.sums[key]

    def _bound_sums(self) -> None:
        if len(self.sums) >= 32:  # each is an array of the community's size
            self.sums.clear()

    def load_between(self, start: datetime, end: datetime) -> np.ndarray:
        """Hours per person in [start, end): service records and confirmed shifts (the
        weekly hours cap's load)."""
        return self.hours_between(start, end) + self.shift_hours_between(start, end)

    def shifts_starting(self, start: datetime, end: datetime) -> np.ndarray:
        """Confirmed shifts per person starting in [start, end) (places held)."""
        lo, hi = np.searchsorted(self.shift_start, [to_epoch(start), to_epoch(end)])
        return np.bincount(self.shift_pos[lo:hi], minlength=self.size)

    def members(self, team_id: int) -> np.ndarray:
        """Positions of the team's active members, ascending."""
        return self.team_pos[self.team_ids == team_id]

    def shifts_overlapping(self, start: datetime, end: datetime) -> np.ndarray:
        """Positions with a confirmed shift overlapping [start, end)."""
        hi = np.searchsorted(self.shift_start, to_epoch(end), side="left")
        hit = self.shift_end[:hi] > to_epoch(start)
        return self.shift_pos[:hi][hit]

    def no_show_weight(self, now: datetime) -> np.ndarray:
        """Unexcused no-shows per person, each halving every HALF_LIFE_DAYS."""
        age_days = np.maximum(0, to_epoch(now) - self.ns_at) / 86400.0
        weights = np.power(0.5, age_days / HALF_LIFE_DAYS)
        weights[self.ns_at > to_epoch(now)] = 0.0
        return np.bincount(self.ns_pos, weights, minlength=self.size)

    def party_hours_left(self, now: datetime) -> np.ndarray:
        """A party member's yearly hours still to do (accepted report; this local year's
        service records), 0 for others."""
        year = now.astimezone(ZoneInfo(self.timezone)).year
        done = self.hours_between(local_year_start(year, self.timezone), now)
        return np.where(self.is_party, np.maximum(0.0, self.party_target - done), 0.0)

    def no_show_count(self, now: datetime, days: int = 365) -> np.ndarray:
        at = to_epoch(now)
        hit = (self.ns_at <= at) & (self.ns_at > at - days * 86400)
        return np.bincount(self.ns_pos[hit], minlength=self.size)

    def qualified(self, kinds: Sequence[str], today: date) -> np.ndarray:
        """Holds a verified qualification of one of ``kinds`` valid on ``today``."""
        mask = np.zeros(self.size, dtype=bool)
        for kind in kinds:
            if kind in self.verified:
                pos, expires = self.verified[kind]
                mask[pos[expires >= today.toordinal()]] = True
        return mask

    def overlap_minutes(self, pieces: Sequence[tuple[int, int, int]]) -> np.ndarray:
        """Minutes of declared availability overlapping local (weekday, start, end) pieces."""
        total = np.zeros(self.size)
        for weekday, start, end in pieces:
            if weekday not in self.slots:
                continue
            pos, s, e = self.slots[weekday]
            overlap = np.minimum(e, end) - np.maximum(s, start)
            hit = overlap > 0
            total += np.bincount(pos[hit], overlap[hit], minlength=self.size)
        return total

    def covered_minutes(self, pieces: Sequence[tuple[int, int, int]]) -> np.ndarray:
        """Minutes of local (weekday, start, end) pieces that declared availability covers
        (overlapping or touching slots joined: nothing counted twice)."""
        if self._merged is None:
            self._merged = {day: _joined_slots(*slots) for day, slots in self.slots.items()}
        total = np.zeros(self.size)
        for weekday, start, end in pieces:
            if weekday in self._merged:
                pos, s, e = self._merged[weekday]
                overlap = np.minimum(e, end) - np.maximum(s, start)
                hit = overlap > 0
                total += np.bincount(pos[hit], overlap[hit], minlength=self.size)
        return total

    def slots_of(self, position: int, weekday: int) -> list[tuple[int, int]]:
        if weekday not in self.slots:
            return []
        pos, s, e = self.slots[weekday]
        hit = pos == position
        return sorted(zip(s[hit].tolist(), e[hit].tolist(), strict=True))

    def person_facts(self, position: int) -> PersonFacts:
        """What ``facts.person_facts`` gives for the volunteer at ``position`` (the kinds of
        their teams anywhere, their own community), from the snapshot."""
        if self._kinds_of is None:
            kinds_of: list[set[str]] = [set() for _ in range(self.size)]
            for p, kind in zip(self.team_pos.tolist(), self.team_kinds.tolist(), strict=True):
                kinds_of[p].add(kind)
            self._kinds_of = [tuple(sorted(k)) for k in kinds_of]
        # The rows are sorted by position: this person's are one run of them.
        first = bisect_left(self.qualification_rows, position, key=lambda r: r[0])
        last = bisect_right(self.qualification_rows, position, key=lambda r: r[0])
        return PersonFacts(
            id=int(self.ids[position]),
            name=self.names[position],
            community_id=None if self.home[position] < 0 else int(self.home[position]),
            grid_id=None if self.grid[position] < 0 else int(self.grid[position]),
            birth_date=self.birth_dates[position],
            skills=self.skills[position],
            qualifications=tuple(
                (kind, expires, verified)
                for _, kind, expires, verified in self.qualification_rows[first:last]
            ),
            team_kinds=self._kinds_of[position],
        )


# --- who may take on a time: one rule for the ranking and the roster ----------------------------


def local_pieces(start: datetime, end: datetime, timezone: str) -> tuple[tuple[int, int, int], ...]:
    """[start, end) cut at local midnights: (ISO weekday, first minute, end minute)."""
    zone = ZoneInfo(timezone)
    cur = start.astimezone(zone)
    stop = end.astimezone(zone)
    pieces = []
    while cur < stop:
        midnight = datetime.combine(cur.date() + timedelta(days=1), datetime.min.time(), zone)
        piece_end = min(midnight, stop)
        first = cur.hour * 60 + cur.minute
        last = 1440 if piece_end == midnight else piece_end.hour * 60 + piece_end.minute
        if last > first:
            pieces.append((cur.isoweekday(), first, last))
        cur = piece_end
    return tuple(pieces)


def week_of(moment: datetime, timezone: str) -> tuple[datetime, datetime]:
    """The local Monday-to-Monday week holding ``moment``, in UTC."""
    day = moment.astimezone(ZoneInfo(timezone)).date()
    monday = day - timedelta(days=day.weekday())
    return local_day_start(monday, timezone), local_day_start(monday + timedelta(7), timezone)


def claims_sql() -> str:
    """Rows ``('c', claimer, window start, window end, needed-by)`` of the community's
    claimed wishes (parameter: the community's id), to append with ``UNION ALL`` to a
    round trip (``token_rows_sql``)."""
    return (
        f" UNION ALL SELECT 'c', claimer_id, {epoch('window_start')}, {epoch('window_end')},"
        f" {epoch('needed_by')} FROM wish"
        " WHERE community_id = ? AND status = 'claimed' AND claimer_id IS NOT NULL"
    )


@dataclass(frozen=True)
class Claims:
    """The community's claimed wishes: how many each volunteer holds, and when each keeps
    its claimer busy (its window, else its needed-by day in the community's zone)."""

    count: np.ndarray  # per position
    pos: np.ndarray
    start: np.ndarray  # seconds since 1970
    end: np.ndarray

    def overlapping(self, start: datetime, end: datetime) -> np.ndarray:
        """Positions holding a claimed wish whose time overlaps [start, end)."""
        return self.pos[(self.start < to_epoch(end)) & (self.end > to_epoch(start))]


def claims(snap: Features, rows: Sequence[Sequence[Any]]) -> Claims:
    """``Claims`` from the rows of ``claims_sql`` (other rows ignored)."""
    rows = [r for r in rows if r[0] == "c"]
    counts = np.zeros(snap.size)
    pos, found = snap.positions([int(r[1]) for r in rows])
    np.add.at(counts, pos, 1)
    kept = [r for r, f in zip(rows, found.tolist(), strict=True) if f]
    spans: list[tuple[int, int, int]] = []
    for p, row in zip(pos.tolist(), kept, strict=True):
        if row[2] is not None and row[3] is not None:
            spans.append((p, int(row[2]), int(row[3])))
        elif row[4] is not None:
            needed = datetime.fromtimestamp(int(row[4]), ZoneInfo("UTC")).date()
            begins = to_epoch(local_day_start(needed, snap.timezone))
            spans.append((p, begins, begins + 86400))
    table = np.array(spans, dtype=np.int64).reshape(len(spans), 3)
    return Claims(counts, table[:, 0], table[:, 1], table[:, 2])


def busy(snap: Features, start: datetime, end: datetime, held: Claims) -> np.ndarray:
    """Positions with a confirmed (or checked-in) shift or a claimed wish overlapping
    [start, end)."""
    return np.concatenate([snap.shifts_overlapping(start, end), held.overlapping(start, end)])


def available(snap: Features, start: datetime, end: datetime, *, whole: bool) -> np.ndarray:
    """Free by declared weekly availability (in the community's zone) for [start, end):
    someone who declared none is free at any time; someone who did needs slots covering
    all of it (``whole``: a roster's place) or some of it (a wish's window, a shift's
    freed place)."""
    pieces = local_pieces(start, end, snap.timezone)
    if whole:
        enough = snap.covered_minutes(pieces) >= sum(e - s for _, s, e in pieces)
    else:
        enough = snap.overlap_minutes(pieces) > 0
    return ~snap.declared | enough


def under_cap(snap: Features, start: datetime, end: datetime) -> np.ndarray:
    """The week's hours (service records and confirmed shifts, the local week holding
    ``start``) plus [start, end)'s own within ``weekly_hours_cap`` (0: no cap)."""
    if snap.weekly_hours_cap <= 0:
        return np.ones(snap.size, dtype=bool)
    week_start, week_end = week_of(start, snap.timezone)
    needed = (end - start).total_seconds() / 3600
    return snap.load_between(week_start, week_end) + needed <= snap.weekly_hours_cap + 1e-9


def free(
    snap: Features, start: datetime, end: datetime, held: Claims, *, whole: bool
) -> np.ndarray:
    """Who may take on [start, end), per position: ``available`` for it, not ``busy`` then,
    and ``under_cap`` with its hours. The rule of a wish's window (``whole=False``), a
    shift's freed place (the same) and a roster's places (``whole=True``, ``free_pairs``)."""
    mask = available(snap, start, end, whole=whole) & under_cap(snap, start, end)
    mask[busy(snap, start, end, held)] = False
    return mask


def free_pairs(
    snap: Features,
    starts: np.ndarray,
    ends: np.ndarray,
    pair_span: np.ndarray,
    pair_pos: np.ndarray,
    held: Claims,
    *,
    whole: bool,
) -> np.ndarray:
    """``free`` for many (time, person) pairs: pair i asks whether position ``pair_pos[i]``
    may take on [``starts[pair_span[i]]``, ``ends[...]``) (seconds since 1970). The rule is
    applied once per distinct time (a week's recurring shifts share a few dozen), then
    looked up for each pair."""
    out = np.zeros(len(pair_span), dtype=bool)
    if not len(pair_span):
        return out
    times, which = np.unique(np.stack([starts, ends], axis=1), axis=0, return_inverse=True)
    which = which.reshape(-1)[pair_span]
    order = np.argsort(which, kind="stable")
    bounds = np.searchsorted(which[order], np.arange(len(times) + 1))
    utc = ZoneInfo("UTC")
    for k, (start, end) in enumerate(times.tolist()):
        chosen = order[bounds[k] : bounds[k + 1]]
        if len(chosen):
            mask = free(snap, datetime.fromtimestamp(start, utc),
                        datetime.fromtimestamp(end, utc), held, whole=whole)  # fmt: skip
            out[chosen] = mask[pair_pos[chosen]]
    return out


async def features(hub: Hub, community_id: int, token: tuple[int, ...] | None = None) -> Features:
    """The community's feature snapshot, fresh: what changed in the database read again.

    ``token``: the freshness token if the caller read it already (``token_rows_sql``)."""
    cache: dict[int, Features] = hub.caches.setdefault(CACHE_KEY, {})
    if token is None:
        token = tuple(int(v or 0) for v in (await db.read(_TOKEN_SQL))[0])
    current = cache.get(community_id)
    changed = await _changes(current, token) if current is not None else EVERYTHING
    if current is not None and not changed:
        if not db.in_transaction_now():  # a transaction's own ids may still roll back
            current.token = token
            if changed.holes is not None:
                current.holes = changed.holes
        return current
    if current is not None and not changed.everything:
        # Read what changed into a copy (rankings running meanwhile keep the old snapshot
        # whole), then put the copy in its place.
        snapshot = replace(current, sums={}, token=token)
        if changed.holes is not None:
            snapshot.holes = changed.holes
        now = hub.now()
        if changed.people:
            snapshot = await _splice_people(snapshot, changed.people, now)
        for name, people in sorted(changed.rows.items()):
            if name not in changed.parts:
                await _splice_rows(snapshot, name, people - changed.people, now)
        for name in sorted(changed.parts):
            await _read_part(snapshot, name, now)
    else:
        snapshot = await load(hub, community_id)
        snapshot.token = token
        snapshot.loaded_at = time.monotonic()
    if not db.in_transaction_now():  # what a transaction read may still roll back
        cache[community_id] = snapshot
    return snapshot


def forget(hub: Hub) -> None:
    """Drop this Hub's snapshots (the next ranking reloads)."""
    hub.caches.pop(CACHE_KEY, None)


# --- what changed since a snapshot was read ---------------------------------------------------


@dataclass(frozen=True)
class Changes:
    """What to read again: everything, or whole parts, people whole (their place among the
    volunteers and every part), and some people's rows of a part."""

    everything: bool = False
    parts: frozenset[str] = frozenset()
    people: frozenset[int] = frozenset()
    rows: dict[str, frozenset[int]] = field(default_factory=dict)
    holes: dict[int, frozenset[int]] | None = None  # the snapshot's holes now (None: same)

    def __bool__(self) -> bool:
        return self.everything or bool(self.parts or self.people or self.rows)


EVERYTHING = Changes(everything=True)
# More new rows in a table, audit entries, people or rows of a part than this: read the
# part (or everything) again rather than row by row.
AT_MOST = 1000
PERSON = "person"  # a person read again whole: whether they volunteer here, and every part

# What a new row in each table of the token (after the audit trail) changes, for the person
# it names; ``None``: nothing by itself (a new person volunteers only through a new role row).
# The SQL narrows the rows to those that can matter here (``?``: the community).
TABLE_PARTS: tuple[tuple[str | None, str], ...] = (
    (None, ""),
    (PERSON, "community_id = ? AND role = 'volunteer'"),
    ("kinds", ""),  # a team anywhere: the rules see every kind a person serves
    ("qualifications", ""),
    ("availability", ""),
    ("records", ""),
    ("shifts", ""),
    ("no_shows", ""),
    ("party", "community_id = ? AND status = 'accepted'"),
)
# Audited changes to one person's features, by the start of their action (after
# ``_HARMLESS_ACTIONS``): the part of that person's to read again. The entry's entity names
# the person: itself, or its row's ``person_id``, or (its row gone: a revoked role, a
# refused qualification) the ``person_id`` its before/after holds.
PERSON_ACTIONS = (
    ("person.availability_set", "availability"),
    ("person.", PERSON),  # deactivated, reactivated, updated, registered
    ("role.", PERSON),
    ("team.joined", "kinds"),  # a volunteer role it gives is a role entry of its own
    ("team.membership_", "kinds"),
    ("qualification.", "qualifications"),
    ("signup.", "shifts"),  # a record or a no-show it writes is a new row: seen by its table
    ("no_show.", "no_shows"),
    ("party_report.", "party"),
)
# The tables those entries' entities live in (each row has a ``person_id``).
_PERSON_TABLES = (
    "role_assignment",
    "team_membership",
    "qualification",
    "signup",
    "no_show",
    "party_report",
)
# Audited changes to a part of everyone's features: that part is read again whole.
ACTION_PARTS = (
    ("occurrence.cancelled", "shifts"),
    ("task.cancelled", "shifts"),
    ("task.updated", "shifts"),  # its shifts' times
    ("team.updated", "kinds"),
    ("community.updated", "community"),  # time zone, weekly hours cap
)


async def _changes(snapshot: Features, token: tuple) -> Changes:
    """What changed since ``snapshot`` was read, from the new rows of the token's tables
    and the audit entries written since (nothing when neither names a feature)."""
    if time.monotonic() - snapshot.loaded_at > MAX_AGE_SECONDS:
        return EVERYTHING
    # Read once: a ranking that finds nothing to read moves the cached snapshot's token
    # and holes on, maybe while this one waits for the database.
    last, known_holes = snapshot.token, snapshot.holes
    if token == last:
        return Changes()
    parts: set[str] = set()
    rows: dict[str, set[int]] = {}
    branches: list[str] = []
    params: list[Any] = []
    part_of: dict[int, str] = {}
    for index, (table, (part, narrow), new, old) in enumerate(
        zip(TOKEN_TABLES[1:], TABLE_PARTS, token[1:], last[1:], strict=True), start=1
    ):
        holes = known_holes.get(index, frozenset())
        if part is None or (new == old and not holes):
            continue
        if new - old > AT_MOST:
            if part == PERSON:
                return EVERYTHING
            parts.add(part)
            continue
        part_of[index] = part
        # Every row (for the holes), flagged when it can matter here.
        flag = f"CASE WHEN {narrow} THEN 1 ELSE 0 END" if narrow else "1"
        branches.append(
            f"SELECT {index}, id, person_id, {flag} FROM {table}"
            f" WHERE (id > ? AND id <= ?){_or_in(holes)}"
        )
        params += [snapshot.community_id] * narrow.count("?") + [old, new, *holes]
    seen: dict[int, set[int]] = {}
    if branches:
        for index, row_id, person_id, matters in await db.read(
            " UNION ALL ".join(branches), *params
        ):
            seen.setdefault(int(index), set()).add(int(row_id))
            if matters:
                rows.setdefault(part_of[int(index)], set()).add(int(person_id))
    if token[0] != last[0] or known_holes.get(0):
        audited = await _audited(last[0], known_holes.get(0, frozenset()), token[0], parts, rows)
        if audited is None:
            return EVERYTHING
        seen[0] = audited
    people = frozenset(rows.pop(PERSON, ()))
    if len(people) > AT_MOST:
        return EVERYTHING
    for part, named in list(rows.items()):
        if len(named) > AT_MOST:
            parts.add(part)
            del rows[part]
    return Changes(
        parts=frozenset(parts),
        people=people,
        rows={part: frozenset(named) for part, named in rows.items()},
        holes=_holes(last, known_holes, token, seen),
    )


# Holes kept per table: the newest; older ones are left to the full read of MAX_AGE_SECONDS.
HOLES_AT_MOST = 100


def _or_in(holes: frozenset[int]) -> str:
    return f" OR id IN ({_marks(holes)})" if holes else ""


def _holes(
    last: tuple, known: dict[int, frozenset[int]], token: tuple, seen: dict[int, set[int]]
) -> dict[int, frozenset[int]]:
    """The ids looked for (the ``known`` holes, those after ``last`` up to ``token``) and
    not found (``seen``: what each looked-at table showed)."""
    holes = dict(known)
    for index, found in seen.items():
        wanted = holes.get(index, frozenset()) | set(range(last[index] + 1, token[index] + 1))
        missing = sorted(wanted - found)[-HOLES_AT_MOST:]
        if missing:
            holes[index] = frozenset(missing)
        else:
            holes.pop(index, None)
    return holes


async def _audited(
    after_id: int,
    holes: frozenset[int],
    last_id: int,
    parts: set[str],
    rows: dict[str, set[int]],
) -> set[int] | None:
    """Add what the audit entries after ``after_id`` up to ``last_id`` (and ``holes``)
    change to ``parts`` and ``rows``; the ids of the entries read, or None when everything
    must be read again (an action not known here, too many entries, a person-change naming
    nobody)."""
    entries = await db.read(
        "SELECT id, action, entity_type, entity_id FROM audit_entry"
        f" WHERE (id > ? AND id <= ?){_or_in(holes)} ORDER BY id LIMIT {AT_MOST}",
        after_id,
        last_id,
        *holes,
    )
    if len(entries) >= AT_MOST:
        return None
    seen = {int(e[0]) for e in entries}
    lookups: dict[str, dict[int, list[tuple[int, str]]]] = {}  # table -> row id -> entries
    for entry_id, action, entity_type, entity_id in entries:
        action = str(action)
        if action.startswith(_HARMLESS_ACTIONS):
            continue
        part = next((p for prefix, p in ACTION_PARTS if action.startswith(prefix)), None)
        if part is not None:
            parts.add(part)
            continue
        part = next((p for prefix, p in PERSON_ACTIONS if action.startswith(prefix)), None)
        if part is None:
            return None
        if entity_type == "person":
            rows.setdefault(part, set()).add(int(entity_id))
        elif entity_type in _PERSON_TABLES:
            by_row = lookups.setdefault(str(entity_type), {})
            by_row.setdefault(int(entity_id), []).append((int(entry_id), part))
        else:
            return None
    if not lookups:
        return seen
    found = await db.read(
        " UNION ALL ".join(
            f"SELECT '{table}', id, person_id FROM {table} WHERE id IN ({_marks(by_row)})"
            for table, by_row in lookups.items()
        ),
        *(row_id for by_row in lookups.values() for row_id in by_row),
    )
    for table, row_id, person_id in found:
        for _, part in lookups[str(table)].pop(int(row_id)):
            rows.setdefault(part, set()).add(int(person_id))
    # Rows deleted since (a revoked role, a refused qualification): one of their entries
    # says whose they were.
    gone = [named for by_row in lookups.values() for named in by_row.values()]
    if gone:
        entry_ids = [entry_id for named in gone for entry_id, _ in named]
        said = {
            int(entry_id): _person_named(after) or _person_named(before)
            for entry_id, before, after in await db.read(
                f'SELECT id, "before", "after" FROM audit_entry WHERE id IN ({_marks(entry_ids)})',
                *entry_ids,
            )
        }
        for named in gone:
            person_id = next((said[e] for e, _ in named if said.get(e) is not None), None)
            if person_id is None:
                return None
            for _, part in named:
                rows.setdefault(part, set()).add(person_id)
    return seen


def _person_named(value: Any) -> int | None:
    if isinstance(value, str):
        value = json.loads(value)
    person_id = value.get("person_id") if isinstance(value, dict) else None
    return int(person_id) if isinstance(person_id, int) else None


def _marks(values: Sequence | dict) -> str:
    return ", ".join("?" * len(values))


# --- reading: the community, its volunteers, then each part ------------------------------------

# One part's rows in person-id space: column 0 the person ids, then the part's columns. A
# part is read into this form, and a snapshot's part is turned back into it, so some
# people's rows can be replaced and the arrays built again the way a full read builds them.
Table = tuple[np.ndarray, ...]


def _columns(rows: Sequence[Sequence[Any]], dtypes: Sequence[Any]) -> Table:
    columns: list[np.ndarray] = []
    for i, dtype in enumerate(dtypes):
        values = [r[i] for r in rows]
        if dtype is object:
            column = np.empty(len(values), dtype=object)
            column[:] = values
        else:
            column = np.array(values, dtype=dtype).reshape(len(values))
        columns.append(column)
    return tuple(columns)


def _without(table: Table, people: np.ndarray) -> Table:
    keep = ~np.isin(table[0], people)
    return tuple(column[keep] for column in table)


def _joined(a: Table, b: Table) -> Table:
    return tuple(np.concatenate([x, y]) for x, y in zip(a, b, strict=True))


def _who(column: str, snap: Features, people: Sequence[int] | None) -> tuple[str, list[Any]]:
    """SQL keeping ``column`` to the community's volunteers, or to ``people``."""
    if people is None:
        return f"{column} IN ({_VOLUNTEERS})", [snap.community_id]
    return f"{column} IN ({_marks(people)})", list(people)


@dataclass(frozen=True)
class _Part:
    """A part of a snapshot that can be read again on its own, whole or for some people."""

    read: Callable[[Features, datetime, Sequence[int] | None], Awaitable[Table]]
    rows_of: Callable[[Features], Table]  # the snapshot's rows, back in person-id space
    build: Callable[[Features, Table], None]  # the arrays, in the order a full read gives


async def load(hub: Hub, community_id: int, now: datetime | None = None) -> Features:
    """Read a community's features: nine statements, whatever its size."""
    now = now or hub.now()
    snap = Features(
        community_id=community_id,
        timezone="Asia/Shanghai",
        weekly_hours_cap=0,
        **_people_fields([]),
        **_empty_parts(0),
    )
    await _read_community(snap)
    people = _people_fields(await _read_people(snap, None))
    snap = replace(snap, **people, **_empty_parts(len(people["ids"])))
    if snap.size:
        for part in PARTS.values():
            part.build(snap, await part.read(snap, now, None))
    return snap


def from_rows(
    community_id: int,
    timezone: str,
    weekly_hours_cap: int,
    people: Sequence[Sequence[Any]],
    parts: dict[str, Table],
) -> Features:
    """A snapshot from rows as a read gives them, without a database (for tests and
    tools): ``people`` (id, name, grid, birth date, skills, community) by id, and each
    named part's rows in columns, person ids first (``PARTS``; a part not named is empty)."""
    snap = Features(
        community_id=community_id,
        timezone=timezone,
        weekly_hours_cap=weekly_hours_cap,
        **_people_fields(people),
        **_empty_parts(len(people)),
    )
    for name, table in parts.items():
        PARTS[name].build(snap, table)
    return snap


async def _read_community(snap: Features) -> None:
    rows = await db.read(
        "SELECT timezone, weekly_hours_cap FROM community WHERE id = ?", snap.community_id
    )
    if rows:
        snap.timezone, snap.weekly_hours_cap = str(rows[0][0]), int(rows[0][1])


async def _read_people(snap: Features, people: Sequence[int] | None) -> Sequence[Sequence[Any]]:
    """The community's active volunteers (of ``people``, if given), by id."""
    columns = (
        "SELECT id, name, grid_id, birth_date, skills, community_id FROM person WHERE active = ?"
    )
    if people is None:
        sql = f"{columns} AND id IN ({_VOLUNTEERS}) ORDER BY id"
        return await db.read(sql, True, snap.community_id)
    # A few people: their role rows by the (person, community) index, not all volunteers'.
    return await db.read(
        f"{columns} AND id IN ({_marks(people)}) AND EXISTS (SELECT 1 FROM role_assignment r"
        " WHERE r.person_id = person.id AND r.community_id = ? AND r.role = 'volunteer')"
        " ORDER BY id",
        True,
        *people,
        snap.community_id,
    )


def _people_fields(people: Sequence[Sequence[Any]]) -> dict[str, Any]:
    """A snapshot's per-person fields from person rows (id, name, grid, birth date, skills,
    community)."""
    skills: dict[Any, tuple[str, ...]] = {}  # most people share a few skill lists
    dates: dict[Any, date | None] = {}

    def parsed(value: Any, memo: dict, parse) -> Any:
        key = value if isinstance(value, str | date) or value is None else json.dumps(value)
        if key not in memo:
            memo[key] = parse(value)
        return memo[key]

    n = len(people)
    return {
        "ids": np.fromiter((r[0] for r in people), dtype=np.int64, count=n),
        "names": [r[1] for r in people],
        "grid": np.fromiter(
            (-1 if r[2] is None else r[2] for r in people), dtype=np.int64, count=n
        ),
        # -1: no community of their own (an administrator may volunteer in a team).
        "home": np.fromiter(
            (-1 if r[5] is None else r[5] for r in people), dtype=np.int64, count=n
        ),
        "birth_dates": [parsed(r[3], dates, _as_date) for r in people],
        "skills": [parsed(r[4], skills, _json_list) for r in people],
    }


def _empty_parts(n: int) -> dict[str, Any]:
    """Every part empty, for ``n`` people; no cached masks or sums."""
    return {
        "team_pos": _EMPTY_INT,
        "team_ids": _EMPTY_INT,
        "team_kinds": np.empty(0, dtype=object),
        "team_community": _EMPTY_INT,
        "kinds": {},
        "verified": {},
        "qualification_rows": [],
        "declared": np.zeros(n, dtype=bool),
        "slots": {},
        "rec_pos": _EMPTY_INT,
        "rec_at": _EMPTY_INT,
        "rec_hours": np.zeros(0),
        "shift_pos": _EMPTY_INT,
        "shift_start": _EMPTY_INT,
        "shift_end": _EMPTY_INT,
        "ns_pos": _EMPTY_INT,
        "ns_at": _EMPTY_INT,
        "party_target": np.zeros(n),
        "is_party": np.zeros(n, dtype=bool),
        "masks": {},
        "sums": {},
        "_kinds_of": None,
        "_merged": None,
    }


async def _splice_people(snap: Features, people: frozenset[int], now: datetime) -> Features:
    """``snap`` with ``people`` read again whole: added, kept or dropped as volunteers
    (the ids stay sorted; others' positions may move), and every part's rows of theirs
    replaced. One statement for the people, one per part."""
    asked = np.array(sorted(people), dtype=np.int64)
    fresh = _people_fields(await _read_people(snap, asked.tolist()))
    held, was = snap.positions(asked)
    touched = np.union1d(fresh["ids"], asked[was])
    if not len(touched):
        return snap  # none of them volunteers here, before or now
    keep = np.ones(snap.size, dtype=bool)
    keep[held] = False
    ids = np.concatenate([snap.ids[keep], fresh["ids"]])
    order = np.argsort(ids, kind="stable")
    ids = ids[order]
    # Lists: drop those read again, then insert the fresh ones at their final places
    # (ascending), each a C-level move of the list.
    gone = sorted(held.tolist(), reverse=True)
    places = np.searchsorted(ids, fresh["ids"]).tolist()

    def merged(old: list, new: list) -> list:
        out = list(old)
        for p in gone:
            del out[p]
        for p, value in zip(places, new, strict=True):
            out.insert(p, value)
        return out

    # Cached skill masks stay right for everyone kept (their skills are the same), and
    # someone without skills matches no words: kept when no newcomer lists a skill.
    masks = {}
    if not any(fresh["skills"]):
        extra = np.zeros(len(fresh["ids"]), dtype=bool)
        masks = {k: np.concatenate([m[keep], extra])[order] for k, m in snap.masks.items()}
    spliced = replace(
        snap,
        ids=ids,
        names=merged(snap.names, fresh["names"]),
        grid=np.concatenate([snap.grid[keep], fresh["grid"]])[order],
        home=np.concatenate([snap.home[keep], fresh["home"]])[order],
        birth_dates=merged(snap.birth_dates, fresh["birth_dates"]),
        skills=merged(snap.skills, fresh["skills"]),
        **_empty_parts(len(ids)),
    )
    spliced.masks = masks
    touched_ids = touched.tolist()
    for part in PARTS.values():
        fresh_rows = await part.read(spliced, now, touched_ids)
        part.build(spliced, _joined(_without(part.rows_of(snap), touched), fresh_rows))
    return spliced


async def _splice_rows(snap: Features, name: str, people: frozenset[int], now: datetime) -> None:
    """Read ``people``'s rows of one part again, into ``snap`` (one statement). Only the
    volunteers here matter: one who becomes one is read whole (``_splice_people``)."""
    wanted = np.array(sorted(people), dtype=np.int64)
    _, found = snap.positions(wanted)
    wanted = wanted[found]
    if not len(wanted):
        return
    part = PARTS[name]
    fresh = await part.read(snap, now, wanted.tolist())
    part.build(snap, _joined(_without(part.rows_of(snap), wanted), fresh))


async def _read_part(snap: Features, name: str, now: datetime) -> None:
    """Read one part again whole, into ``snap``."""
    if name == "community":
        await _read_community(snap)
        return
    part = PARTS[name]
    part.build(snap, await part.read(snap, now, None))


def _json_list(value: Any) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        value = json.loads(value)
    return tuple(str(v) for v in value)


def _as_date(value: Any) -> date | None:
    if value is None or isinstance(value, date):
        return value
    return date.fromisoformat(str(value)[:10])


# --- the parts ---------------------------------------------------------------------------------


async def _read_kinds(snap: Features, now: datetime, people: Sequence[int] | None) -> Table:
    who, params = _who("m.person_id", snap, people)
    rows = await db.read(
        "SELECT m.person_id, m.team_id, t.kind, t.community_id FROM team_membership m"
        f" JOIN team t ON t.id = m.team_id WHERE m.status = 'active' AND {who}",
        *params,
    )
    return _columns(rows, (np.int64, np.int64, object, np.int64))


def _kinds_rows(snap: Features) -> Table:
    return snap.ids[snap.team_pos], snap.team_ids, snap.team_kinds, snap.team_community


def _build_kinds(snap: Features, table: Table) -> None:
    person_ids, team_ids, kinds, communities = table
    pos, found = snap.positions(person_ids)
    team_ids, kinds, communities = team_ids[found], kinds[found], communities[found]
    order = np.lexsort((team_ids, pos))
    snap.team_pos, snap.team_ids = pos[order], team_ids[order]
    snap.team_kinds, snap.team_community = kinds[order], communities[order]
    snap.kinds, snap._kinds_of = {}, None
    here = snap.team_community == snap.community_id
    for kind in sorted(set(snap.team_kinds[here].tolist())):
        mask = np.zeros(snap.size, dtype=bool)
        mask[snap.team_pos[here & (snap.team_kinds == kind)]] = True
        snap.kinds[kind] = mask


async def _read_qualifications(
    snap: Features, now: datetime, people: Sequence[int] | None
) -> Table:
    who, params = _who("person_id", snap, people)
    rows = await db.read(
        f"SELECT person_id, kind, expires_on, verified FROM qualification WHERE {who}", *params
    )
    return _columns(
        [(r[0], r[1], _as_date(r[2]), bool(r[3])) for r in rows], (np.int64, object, object, bool)
    )


def _qualification_rows(snap: Features) -> Table:
    return _columns(
        [(int(snap.ids[p]), kind, expires, ok) for p, kind, expires, ok in snap.qualification_rows],
        (np.int64, object, object, bool),
    )


def _build_qualifications(snap: Features, table: Table) -> None:
    person_ids, kinds, expiry, verified = table
    pos, found = snap.positions(person_ids)
    snap.qualification_rows = sorted(
        zip(
            pos.tolist(),
            kinds[found].tolist(),
            expiry[found].tolist(),
            verified[found].tolist(),
            strict=True,
        ),
        key=lambda r: (r[0], r[1], r[2] or date.max, r[3]),
    )
    by_kind: dict[str, tuple[list[int], list[int]]] = {}
    for p, kind, expires, ok in snap.qualification_rows:
        if ok:
            entry = by_kind.setdefault(kind, ([], []))
            entry[0].append(p)
            entry[1].append(expires.toordinal() if expires else 10**9)
    snap.verified = {
        kind: (np.array(p, dtype=np.int64), np.array(e, dtype=np.int64))
        for kind, (p, e) in by_kind.items()
    }


async def _read_availability(snap: Features, now: datetime, people: Sequence[int] | None) -> Table:
    who, params = _who("person_id", snap, people)
    rows = await db.read(
        f"SELECT person_id, weekday, start_minute, end_minute FROM availability_slot WHERE {who}",
        *params,
    )
    return _columns(rows, (np.int64,) * 4)


def _availability_rows(snap: Features) -> Table:
    per_day = [
        (snap.ids[pos], np.full(len(pos), weekday, dtype=np.int64), start, end)
        for weekday, (pos, start, end) in sorted(snap.slots.items())
    ]
    if not per_day:
        return _columns([], (np.int64,) * 4)
    return tuple(np.concatenate(column) for column in zip(*per_day, strict=True))


def _build_availability(snap: Features, table: Table) -> None:
    person_ids, weekdays, starts, ends = table
    pos, found = snap.positions(person_ids)
    weekdays, starts, ends = weekdays[found], starts[found], ends[found]
    snap.declared = np.zeros(snap.size, dtype=bool)
    snap.declared[pos] = True
    snap.slots, snap._merged = {}, None
    for weekday in range(1, 8):
        on_day = weekdays == weekday
        if on_day.any():
            p, s, e = pos[on_day], starts[on_day], ends[on_day]
            order = np.lexsort((e, s, p))
            snap.slots[weekday] = (p[order], s[order], e[order])


def _joined_slots(
    pos: np.ndarray, start: np.ndarray, end: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One weekday's slots (sorted by position, start) with each person's overlapping or
    touching ones joined."""
    if not len(pos):
        return pos, start, end
    # The running end within each person's run (a later person's offset is always larger).
    offset = pos * 2000
    reach = np.maximum.accumulate(offset + end) - offset
    new = np.ones(len(pos), dtype=bool)
    new[1:] = (pos[1:] != pos[:-1]) | (start[1:] > reach[:-1])
    firsts = np.flatnonzero(new)
    lasts = np.append(firsts[1:] - 1, len(pos) - 1)
    return pos[firsts], start[firsts], reach[lasts]


async def _read_records(snap: Features, now: datetime, people: Sequence[int] | None) -> Table:
    who, params = _who("person_id", snap, people)
    rows = await db.read(
        f"SELECT person_id, {epoch('started_at')}, hours FROM service_record"
        f" WHERE started_at >= ? AND {who}",
        now - timedelta(days=RECORDS_DAYS),
        *params,
    )
    return _columns(rows, (np.int64, np.int64, float))


def _by_time(snap: Features, table: Table) -> tuple[np.ndarray, ...]:
    """The volunteers' dated rows as positions and columns, sorted by time (the first
    column), then position, then the rest: the order a full read gives."""
    person_ids, *columns = table
    pos, found = snap.positions(person_ids)
    columns = [column[found] for column in columns]
    order = np.lexsort((*reversed(columns[1:]), pos, columns[0]))
    return pos[order], *(column[order] for column in columns)


def _build_records(snap: Features, table: Table) -> None:
    snap.sums = {}
    snap.rec_pos, snap.rec_at, snap.rec_hours = _by_time(snap, table)


async def _read_shifts(snap: Features, now: datetime, people: Sequence[int] | None) -> Table:
    who, params = _who("s.person_id", snap, people)
    rows = await db.read(
        f"SELECT s.person_id, {epoch('o.start')}, {epoch(_OCC_END)} FROM signup s"
        " JOIN occurrence o ON o.id = s.occurrence_id"
        " WHERE s.status IN ('confirmed', 'checked_in') AND o.cancelled = ?"
        f' AND o."end" >= ? AND {who}',
        False,
        now - timedelta(days=SHIFT_DAYS),
        *params,
    )
    return _columns(rows, (np.int64,) * 3)


def _build_shifts(snap: Features, table: Table) -> None:
    snap.sums = {}
    snap.shift_pos, snap.shift_start, snap.shift_end = _by_time(snap, table)


async def _read_no_shows(snap: Features, now: datetime, people: Sequence[int] | None) -> Table:
    who, params = _who("person_id", snap, people)
    rows = await db.read(
        f"SELECT person_id, {epoch('occurred_at')} FROM no_show"
        f" WHERE excused_at IS NULL AND occurred_at >= ? AND {who}",
        now - timedelta(days=NO_SHOW_DAYS),
        *params,
    )
    return _columns(rows, (np.int64, np.int64))


def _build_no_shows(snap: Features, table: Table) -> None:
    snap.ns_pos, snap.ns_at = _by_time(snap, table)


async def _read_party(snap: Features, now: datetime, people: Sequence[int] | None) -> Table:
    narrow = f" AND person_id IN ({_marks(people)})" if people is not None else ""
    rows = await db.read(
        "SELECT person_id, yearly_hours_target FROM party_report"
        f" WHERE community_id = ? AND status = 'accepted'{narrow}",
        snap.community_id,
        *(people or ()),
    )
    return _columns(rows, (np.int64, float))


def _party_rows(snap: Features) -> Table:
    return snap.ids[snap.is_party], snap.party_target[snap.is_party]


def _build_party(snap: Features, table: Table) -> None:
    person_ids, targets = table
    pos, found = snap.positions(person_ids)
    snap.party_target, snap.is_party = np.zeros(snap.size), np.zeros(snap.size, dtype=bool)
    snap.party_target[pos] = targets[found]
    snap.is_party[pos] = True


_EMPTY_INT = np.zeros(0, dtype=np.int64)

# The parts of a snapshot, by name; each can be read again on its own.
PARTS = {
    "kinds": _Part(_read_kinds, _kinds_rows, _build_kinds),
    "qualifications": _Part(_read_qualifications, _qualification_rows, _build_qualifications),
    "availability": _Part(_read_availability, _availability_rows, _build_availability),
    "records": _Part(
        _read_records, lambda s: (s.ids[s.rec_pos], s.rec_at, s.rec_hours), _build_records
    ),
    "shifts": _Part(
        _read_shifts,
        lambda s: (s.ids[s.shift_pos], s.shift_start, s.shift_end),
        _build_shifts,
    ),
    "no_shows": _Part(_read_no_shows, lambda s: (s.ids[s.ns_pos], s.ns_at), _build_no_shows),
    "party": _Part(_read_party, _party_rows, _build_party),
}


@dataclass(frozen=True)
class VolunteerFeatures:
    """Features of given people at a moment, aligned with ``person_ids`` (for tools; the
    roster reads the snapshot itself)."""

    person_ids: np.ndarray
    known: np.ndarray  # a volunteer of the community (else every other array holds zeros)
    grid: np.ndarray
    hours_last_30_days: np.ndarray
    no_show_weight: np.ndarray
    party_hours_remaining: np.ndarray
    declared_availability: np.ndarray


async def volunteer_features(
    hub: Hub, community_id: int, person_ids: Sequence[int], at: datetime | None = None
) -> VolunteerFeatures:
    """Per-volunteer features of ``person_ids`` in a community, as numpy arrays."""
    snap = await features(hub, community_id)
    now = at or hub.now()
    wanted = np.asarray(person_ids, dtype=np.int64)
    pos, found = snap.positions(wanted)

    def aligned(values: np.ndarray, fill: Any = 0) -> np.ndarray:
        out = np.full(len(wanted), fill, dtype=values.dtype)
        out[found] = values[pos]
        return out

    return VolunteerFeatures(
        person_ids=wanted,
        known=found,
        grid=aligned(snap.grid, -1),
        hours_last_30_days=aligned(snap.hours_between(now - timedelta(days=30), now)),
        no_show_weight=aligned(snap.no_show_weight(now)),
        party_hours_remaining=aligned(snap.party_hours_left(now)),
        declared_availability=aligned(snap.declared, False),
    )
