"""Per-volunteer features of a community as numpy arrays: the matcher's snapshot.

Ranking a wish among 50,000 volunteers cannot read 50,000 rows per call. What changes
slowly (who volunteers here, their grid, team kinds, qualifications, declared weekly
availability, party targets) and the dated facts the scores need (service hours, confirmed
shifts, unexcused no-shows) are read once into arrays: a few statements whatever the
number of volunteers. Time-dependent terms (hours in the last 30 days, a no-show's decay,
a qualification's expiry, the week of a wish) are computed from the dated arrays at each
call, so a snapshot never goes stale by the clock alone.

Freshness: the snapshot lives in the Hub (``hub.caches``), never in the module. Each use
first runs ONE statement of indexed ``MAX(id)`` look-ups (the audit trail and every table
the features come from). Any new row is seen at once, by every process sharing the
database; an audited change (every service records one) is seen through the audit
entries after the last one seen, unless its action cannot touch a feature (a wish posted,
an invitation sent). A change reads again only the part it touches (a signup: the shifts;
new free times: the availability; ...), into a copy that replaces the snapshot whole; a new
person, role or membership, or an action not known here, reads everything again. A change
made behind the services' back (a raw ``UPDATE`` that writes no audit entry) is seen at the
latest after ``MAX_AGE_SECONDS``, when everything is read again.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np

from volunteer_hub import db
from volunteer_hub.clock import local_year_start
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


_AUDIT_TAIL_ROWS = 1000
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
    birth_dates: list[date | None]
    skills: list[tuple[str, ...]]
    kinds: dict[str, np.ndarray]  # team kind -> member of an active team of that kind
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

    def slots_of(self, position: int, weekday: int) -> list[tuple[int, int]]:
        if weekday not in self.slots:
            return []
        pos, s, e = self.slots[weekday]
        hit = pos == position
        return sorted(zip(s[hit].tolist(), e[hit].tolist(), strict=True))

    def person_facts(self, position: int) -> PersonFacts:
        if self._kinds_of is None:
            kinds_of: list[list[str]] = [[] for _ in range(self.size)]
            for kind, mask in self.kinds.items():
                for p in np.flatnonzero(mask).tolist():
                    kinds_of[p].append(kind)
            self._kinds_of = [tuple(sorted(k)) for k in kinds_of]
        return PersonFacts(
            id=int(self.ids[position]),
            name=self.names[position],
            community_id=self.community_id,
            grid_id=None if self.grid[position] < 0 else int(self.grid[position]),
            birth_date=self.birth_dates[position],
            skills=self.skills[position],
            qualifications=tuple(
                (kind, expires, verified)
                for p, kind, expires, verified in self.qualification_rows
                if p == position
            ),
            team_kinds=self._kinds_of[position],
        )


async def features(hub: Hub, community_id: int, token: tuple[int, ...] | None = None) -> Features:
    """The community's feature snapshot, fresh: reloaded when the database changed.

    ``token``: the freshness token if the caller read it already (``token_rows_sql``)."""
    cache: dict[int, Features] = hub.caches.setdefault(CACHE_KEY, {})
    if token is None:
        token = tuple(int(v or 0) for v in (await db.read(_TOKEN_SQL))[0])
    current = cache.get(community_id)
    changed = await _changes(current, token) if current is not None else ALL
    if current is not None and not changed:
        if not db.in_transaction_now():  # a transaction's own ids may still roll back
            current.token = token
        return current
    if current is not None and changed is not ALL:
        # Only some parts changed: read those again into a copy (rankings running
        # meanwhile keep the old snapshot whole), then put the copy in its place.
        snapshot = replace(current, sums={}, token=token)
        now = hub.now()
        for name in sorted(changed):
            await PARTS[name](snapshot, now)
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


ALL: frozenset[str] = frozenset({"*"})


async def _changes(snapshot: Features, token: tuple) -> frozenset[str]:
    """What changed since ``snapshot`` was read: nothing (empty), some parts (their
    names), or ``ALL`` (read everything again)."""
    if time.monotonic() - snapshot.loaded_at > MAX_AGE_SECONDS:
        return ALL
    if token == snapshot.token:
        return frozenset()
    parts: set[str] = set()
    for i, (new, old) in enumerate(zip(token[1:], snapshot.token[1:], strict=True)):
        if new != old:
            if TABLE_PARTS[i] is None:
                return ALL  # a new person, role or membership
            parts.add(TABLE_PARTS[i])
    if token[0] != snapshot.token[0]:
        rows = await db.read(
            f"SELECT action FROM audit_entry WHERE id > ? ORDER BY id LIMIT {_AUDIT_TAIL_ROWS}",
            snapshot.token[0],
        )
        if len(rows) >= _AUDIT_TAIL_ROWS:
            return ALL
        for (action,) in rows:
            action = str(action)
            if action.startswith(_HARMLESS_ACTIONS):
                continue
            part = next((p for prefix, p in ACTION_PARTS if action.startswith(prefix)), None)
            if part is None:
                return ALL
            parts.add(part)
    return frozenset(parts)


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


async def load(hub: Hub, community_id: int, now: datetime | None = None) -> Features:
    """Read a community's features: nine statements, whatever its size."""
    now = now or hub.now()
    community = await db.fetch(
        "SELECT timezone, weekly_hours_cap FROM community WHERE id = ?", community_id
    )
    timezone = community[0]["timezone"] if community else "Asia/Shanghai"
    cap = int(community[0]["weekly_hours_cap"]) if community else 0
    people = await db.read(
        "SELECT id, name, grid_id, birth_date, skills FROM person"
        f" WHERE active = ? AND id IN ({_VOLUNTEERS}) ORDER BY id",
        True,
        community_id,
    )
    ids = np.fromiter((r[0] for r in people), dtype=np.int64, count=len(people))
    n = len(ids)
    skills: dict[Any, tuple[str, ...]] = {}  # most people share a few skill lists
    dates: dict[Any, date | None] = {}

    def parsed(value: Any, memo: dict, parse) -> Any:
        key = value if isinstance(value, str | date) or value is None else json.dumps(value)
        if key not in memo:
            memo[key] = parse(value)
        return memo[key]

    snap = Features(
        community_id=community_id,
        timezone=timezone,
        weekly_hours_cap=cap,
        ids=ids,
        names=[r[1] for r in people],
        grid=np.fromiter(
            (-1 if r[2] is None else r[2] for r in people),
            dtype=np.int64,
            count=n,
        ),
        birth_dates=[parsed(r[3], dates, _as_date) for r in people],
        skills=[parsed(r[4], skills, _json_list) for r in people],
        kinds={},
        verified={},
        qualification_rows=[],
        declared=np.zeros(n, dtype=bool),
        slots={},
        rec_pos=np.zeros(0, dtype=np.int64),
        rec_at=np.zeros(0, dtype=np.int64),
        rec_hours=np.zeros(0),
        shift_pos=np.zeros(0, dtype=np.int64),
        shift_start=np.zeros(0, dtype=np.int64),
        shift_end=np.zeros(0, dtype=np.int64),
        ns_pos=np.zeros(0, dtype=np.int64),
        ns_at=np.zeros(0, dtype=np.int64),
        party_target=np.zeros(n),
        is_party=np.zeros(n, dtype=bool),
    )
    if not n:
        return snap

    rows = await db.read(
        "SELECT m.person_id, t.kind FROM team_membership m JOIN team t ON t.id = m.team_id"
        " WHERE t.community_id = ? AND m.status = 'active'",
        community_id,
    )
    if rows:
        person_ids = np.array([r[0] for r in rows], dtype=np.int64)
        kinds = np.array([r[1] for r in rows], dtype=object)
        pos, found = snap.positions(person_ids)
        for kind in set(kinds[found].tolist()):
            mask = np.zeros(n, dtype=bool)
            mask[pos[kinds[found] == kind]] = True
            snap.kinds[kind] = mask

    for part in PARTS.values():
        await part(snap, now)
    return snap


async def _qualifications(snap: Features, now: datetime) -> None:
    snap.qualification_rows, snap.verified = [], {}
    rows = await db.fetch(
        "SELECT person_id, kind, expires_on, verified FROM qualification"
        f" WHERE person_id IN ({_VOLUNTEERS})",
        snap.community_id,
    )
    if rows:
        pos, found = snap.positions([r["person_id"] for r in rows])
        kept = [r for r, ok in zip(rows, found.tolist(), strict=True) if ok]
        snap.qualification_rows = [
            (int(p), r["kind"], _as_date(r["expires_on"]), bool(r["verified"]))
            for p, r in zip(pos.tolist(), kept, strict=True)
        ]
        by_kind: dict[str, tuple[list[int], list[int]]] = {}
        for p, kind, expires, verified in snap.qualification_rows:
            if verified:
                entry = by_kind.setdefault(kind, ([], []))
                entry[0].append(p)
                entry[1].append(expires.toordinal() if expires else 10**9)
        snap.verified = {
            kind: (np.array(p, dtype=np.int64), np.array(e, dtype=np.int64))
            for kind, (p, e) in by_kind.items()
        }


async def _availability(snap: Features, now: datetime) -> None:
    declared, slots = np.zeros(snap.size, dtype=bool), {}
    rows = await db.read(
        "SELECT person_id, weekday, start_minute, end_minute FROM availability_slot"
        f" WHERE person_id IN ({_VOLUNTEERS})",
        snap.community_id,
    )
    if rows:
        table = np.array(rows, dtype=np.int64).reshape(-1, 4)
        pos, found = snap.positions(table[:, 0])
        table = table[found]
        declared[pos] = True
        for weekday in range(1, 8):
            on_day = table[:, 1] == weekday
            if on_day.any():
                slots[weekday] = (pos[on_day], table[on_day, 2], table[on_day, 3])
    snap.declared, snap.slots = declared, slots


async def _records(snap: Features, now: datetime) -> None:
    snap.sums = {}
    snap.rec_pos, snap.rec_at, snap.rec_hours = _EMPTY_INT, _EMPTY_INT, np.zeros(0)
    rows = await db.read(
        f"SELECT person_id, {epoch('started_at')}, hours FROM service_record"
        f" WHERE started_at >= ? AND person_id IN ({_VOLUNTEERS})",
        now - timedelta(days=RECORDS_DAYS),
        snap.community_id,
    )
    if rows:
        pos, found = snap.positions([r[0] for r in rows])
        at = np.array([r[1] for r in rows], dtype=np.int64)[found]
        hours = np.array([float(r[2]) for r in rows])[found]
        order = np.argsort(at, kind="stable")
        snap.rec_pos, snap.rec_at, snap.rec_hours = pos[order], at[order], hours[order]


async def _shifts(snap: Features, now: datetime) -> None:
    snap.sums = {}
    snap.shift_pos, snap.shift_start, snap.shift_end = _EMPTY_INT, _EMPTY_INT, _EMPTY_INT
    rows = await db.read(
        f"SELECT s.person_id, {epoch('o.start')}, {epoch(_OCC_END)} FROM signup s"
        " JOIN occurrence o ON o.id = s.occurrence_id"
        " WHERE s.status IN ('confirmed', 'checked_in') AND o.cancelled = ?"
        ' AND o."end" >= ?'
        f" AND s.person_id IN ({_VOLUNTEERS})",
        False,
        now - timedelta(days=SHIFT_DAYS),
        snap.community_id,
    )
    if rows:
        table = np.array(rows, dtype=np.int64).reshape(-1, 3)
        pos, found = snap.positions(table[:, 0])
        table = table[found]
        order = np.argsort(table[:, 1], kind="stable")
        snap.shift_pos = pos[order]
        snap.shift_start, snap.shift_end = table[order, 1], table[order, 2]


async def _no_shows(snap: Features, now: datetime) -> None:
    snap.ns_pos, snap.ns_at = _EMPTY_INT, _EMPTY_INT
    rows = await db.read(
        f"SELECT person_id, {epoch('occurred_at')} FROM no_show"
        f" WHERE excused_at IS NULL AND occurred_at >= ? AND person_id IN ({_VOLUNTEERS})",
        now - timedelta(days=NO_SHOW_DAYS),
        snap.community_id,
    )
    if rows:
        table = np.array(rows, dtype=np.int64).reshape(-1, 2)
        pos, found = snap.positions(table[:, 0])
        snap.ns_pos, snap.ns_at = pos, table[found, 1]


async def _party(snap: Features, now: datetime) -> None:
    target, member = np.zeros(snap.size), np.zeros(snap.size, dtype=bool)
    rows = await db.read(
        "SELECT person_id, yearly_hours_target FROM party_report"
        " WHERE community_id = ? AND status = 'accepted'",
        snap.community_id,
    )
    if rows:
        pos, found = snap.positions([r[0] for r in rows])
        target[pos] = np.array([float(r[1]) for r in rows])[found]
        member[pos] = True
    snap.party_target, snap.is_party = target, member


_EMPTY_INT = np.zeros(0, dtype=np.int64)

# The parts of a snapshot that can be read again on their own, by name.
PARTS = {
    "qualifications": _qualifications,
    "availability": _availability,
    "records": _records,
    "shifts": _shifts,
    "no_shows": _no_shows,
    "party": _party,
}
# What a new row in each table of the token (after the audit trail) changes: None, all.
TABLE_PARTS = (
    None,
    None,
    None,
    "qualifications",
    "availability",
    "records",
    "shifts",
    "no_shows",
    "party",
)
# What an audited change does, by the start of its action: None, all (the default too).
ACTION_PARTS = (
    ("qualification.", "qualifications"),
    ("person.availability_set", "availability"),
    ("signup.", "shifts"),  # a record or a no-show it writes is a new row: seen by its table
    ("occurrence.cancelled", "shifts"),
    ("task.cancelled", "shifts"),
    ("task.updated", "shifts"),  # its shifts' times
    ("no_show.", "no_shows"),
    ("party_report.", "party"),
)


@dataclass(frozen=True)
class VolunteerFeatures:
    """Features of given people at a moment, aligned with ``person_ids`` (for the roster)."""

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

    year_start = local_year_start(now.astimezone(ZoneInfo(snap.timezone)).year, snap.timezone)
    remaining = np.where(
        snap.is_party,
        np.maximum(0.0, snap.party_target - snap.hours_between(year_start, now)),
        0.0,
    )
    return VolunteerFeatures(
        person_ids=wanted,
        known=found,
        grid=aligned(snap.grid, -1),
        hours_last_30_days=aligned(snap.hours_between(now - timedelta(days=30), now)),
        no_show_weight=aligned(snap.no_show_weight(now)),
        party_hours_remaining=aligned(remaining),
        declared_availability=aligned(snap.declared, False),
    )
