"""Recurring tasks: RRULE checking and bounded expansion in the community's wall-clock time.

Every expansion is bounded. In time: a window is at most ``HORIZON`` long, a rule is
accepted only if it has an occurrence within ``HORIZON`` of its first start, and
``next_start`` looks ``HORIZON`` ahead, not further. In count: at most
``MAX_OCCURRENCES`` per window, ``COUNT`` at most that many. And in work: dateutil walks
a rule from its first start until it finds an occurrence or runs past ``datetime.MAXYEAR``,
so a rule with no (further) occurrence, such as a 30 February, would be walked to the
year 9999 (the freeze of issue 10). Here dateutil is given a copy of the problem moved
forward by whole years with the same calendar (the same leap years and weekdays), as
close to the year 9999 as that allows, so its walk ends within a few decades after the
window whatever the rule (``calendar_shift``). A stored rule that the checks refuse
(rows older than them) expands to nothing, and never raises in a read.
"""

from __future__ import annotations

import calendar
import logging
import re
import threading
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from functools import cache, lru_cache
from zoneinfo import ZoneInfo

from cachetools import LRUCache
from dateutil.rrule import rrule, rrulestr

from volunteer_hub.clock import as_utc

log = logging.getLogger(__name__)

# A rule must occur within two years (732 days) of its first start; no expansion looks
# further than that beyond its own start.
HORIZON = timedelta(days=732)
MAX_OCCURRENCES = 1000  # per expansion; also the largest COUNT
MAX_INTERVAL = 100  # every 100 days, weeks, months or years at most
UNTIL_YEARS = (2000, 2200)  # as for the tasks' own times (validation.Moment)
# A stored rule whose first start is older than this is not expanded at all: the walk from
# the first start to the window grows with the age, and no task lives this long.
MAX_AGE_YEARS = 100

# Shifts repeat at most daily; finer rules would flood the schedule.
_FREQS = {"DAILY", "WEEKLY", "MONTHLY", "YEARLY"}
_SUB_DAILY = {"HOURLY", "MINUTELY", "SECONDLY", "BYHOUR", "BYMINUTE", "BYSECOND"}
# RFC 5545 parts dateutil expands as the RFC says (BYEASTER, dateutil's own, is not one).
_PARTS = {"FREQ", "INTERVAL", "COUNT", "UNTIL", "WKST", "BYDAY", "BYMONTHDAY", "BYYEARDAY"}
_PARTS |= {"BYWEEKNO", "BYMONTH", "BYSETPOS"}
_UNTIL = re.compile(r"([0-9]{8})(?:T([0-9]{6})(Z?))?")
_NUMBER = re.compile(r"[0-9]{1,6}")


class RecurrenceError(ValueError):
    """The RRULE cannot be used; ``msgid`` (translatable) with ``params`` says why."""

    def __init__(self, msgid: str, **params: object) -> None:
        super().__init__(msgid)
        self.msgid = msgid
        self.params = params


@dataclass(frozen=True)
class Rule:
    """A checked rule: ``core`` is what dateutil expands (every part but UNTIL), ``until``
    the last moment (UTC) an occurrence may start, ``text`` the rule as stored."""

    text: str
    core: str
    until: datetime | None
    count: int | None


def normalize_rule(text: str) -> str:
    """The rule without surrounding space and without an ``RRULE:`` prefix (any case)."""
    body = text.strip()
    return body[6:] if body.upper().startswith("RRULE:") else body


@lru_cache(maxsize=1024)
def parse_rule(text: str, timezone: str) -> Rule:
    """The rule's parts checked on their own (no first start needed).

    A floating UNTIL (no ``Z``) is the community's local time; a date alone includes the
    whole local day.
    """
    body = normalize_rule(text)
    if not body or "\n" in body or "\r" in body or "DTSTART" in body.upper():
        raise RecurrenceError("Must be a single RRULE line without DTSTART.")
    parts: dict[str, str] = {}
    for part in body.split(";"):
        key, sep, value = part.partition("=")
        key, value = key.strip().upper(), value.strip()
        if key in _SUB_DAILY or value.upper() in _SUB_DAILY:
            raise RecurrenceError("The rule may repeat at most daily.")
        if not sep or not value or key not in _PARTS or key in parts:
            raise RecurrenceError("Must be a valid RRULE (RFC 5545).")
        parts[key] = value
    if parts.get("FREQ", "").upper() not in _FREQS:
        raise RecurrenceError("Must be a valid RRULE (RFC 5545).")
    interval = _number(parts.get("INTERVAL", "1"))
    if not 1 <= interval <= MAX_INTERVAL:
        raise RecurrenceError("INTERVAL must be a whole number from 1 to {max}.", max=MAX_INTERVAL)
    count = None
    if "COUNT" in parts:
        count = _number(parts["COUNT"])
        if not 1 <= count <= MAX_OCCURRENCES:
            raise RecurrenceError(
                "COUNT must be a whole number from 1 to {max}.", max=MAX_OCCURRENCES
            )
    until = _until(parts.pop("UNTIL"), ZoneInfo(timezone)) if "UNTIL" in parts else None
    if until is not None and count is not None:
        raise RecurrenceError("A rule may end with COUNT or with UNTIL, not both.")
    core = ";".join(f"{key}={value}" for key, value in parts.items())
    try:
        rrulestr(core, dtstart=datetime(2000, 1, 1, tzinfo=UTC))  # dateutil's own checks
    except (ValueError, TypeError, OverflowError):
        raise RecurrenceError("Must be a valid RRULE (RFC 5545).") from None
    return Rule(body, core, until, count)


def _number(value: str) -> int:
    if not _NUMBER.fullmatch(value):
        raise RecurrenceError("Must be a valid RRULE (RFC 5545).")
    return int(value)


def _until(value: str, zone: ZoneInfo) -> datetime:
    match = _UNTIL.fullmatch(value)
    if match is None:
        raise RecurrenceError("Must be a valid RRULE (RFC 5545).")
    day, clock, utc = match.groups()
    try:
        local = datetime.strptime(day + (clock or "235959"), "%Y%m%d%H%M%S")
    except ValueError:
        raise RecurrenceError("Must be a valid RRULE (RFC 5545).") from None
    low, high = UNTIL_YEARS
    if not low <= local.year <= high:  # year 1 or 9999 would not survive a zone's offset
        raise RecurrenceError("UNTIL must be a date between {low} and {high}.", low=low, high=high)
    return local.replace(tzinfo=UTC if utc else zone).astimezone(UTC)


def check_rule(text: str, first_start: datetime, timezone: str) -> str:
    """The rule as it is to be stored, or RecurrenceError saying what is wrong with it.

    Beyond ``parse_rule``: a first start between 2000 and 2200 (as ``validation.Moment``
    takes), UNTIL not before it, and at least one occurrence within ``HORIZON`` of it.
    """
    rule = parse_rule(text, timezone)
    low, high = UNTIL_YEARS
    if not low <= first_start.year <= high:  # only a row older than the checks has one
        raise RecurrenceError("Must be a date and time between 2000 and 2200.")
    if rule.until is not None and rule.until < first_start:
        raise RecurrenceError("UNTIL must not be before the first start.")
    if not _starts(rule, first_start, timezone, first_start, first_start + HORIZON, 1):
        raise RecurrenceError("The rule has no occurrence within two years of the first start.")
    return rule.text


@lru_cache(maxsize=4096)
def _usable(text: str, first_start: datetime, timezone: str) -> Rule | None:
    """A stored rule, if ``check_rule`` accepts it; rows older than the checks may not pass."""
    try:
        check_rule(text, first_start, timezone)
    except RecurrenceError as exc:
        log.warning("a stored RRULE is not expanded (%s): %r", exc.msgid, text)
        return None
    return parse_rule(text, timezone)


def utc_rule(text: str, timezone: str) -> str:
    """The stored rule as RFC 5545 wants it beside a DTSTART with TZID: UNTIL in UTC."""
    rule = parse_rule(text, timezone)
    if rule.until is None:
        return rule.core
    return f"{rule.core};UNTIL={rule.until:%Y%m%dT%H%M%SZ}"


# --- expansion ------------------------------------------------------------------------------


def expand(
    first_start: datetime,
    duration: timedelta,
    rule_text: str | None,
    timezone: str,
    window_start: datetime,
    window_end: datetime,
) -> list[tuple[datetime, datetime]]:
    """The (start, end) pairs, in UTC, of the occurrences that start within the window
    (cut to ``HORIZON`` and ``MAX_OCCURRENCES``). A walk of whole hours is kept for the
    next caller (``cached_expansion``)."""
    if not rule_text:
        starts = [first_start] if window_start <= first_start < window_end else []
        return _pairs(starts, duration, window_start, window_end)
    key = _hours_key(rule_text, first_start, timezone, window_start, window_end)
    if key is not None:
        with _KEPT_LOCK:
            kept = _KEPT.get(key, _MISSING)
        if kept is _MISSING:
            kept = _walk_hours(*key)
            with _KEPT_LOCK:
                _KEPT[key] = kept
        if kept is not None:
            return _pairs(kept, duration, window_start, window_end)
    rule = _usable(rule_text, first_start, timezone)
    if rule is None:
        return []
    starts = _starts(rule, first_start, timezone, window_start, window_end, MAX_OCCURRENCES)
    return _pairs(starts, duration, window_start, window_end)


def cached_expansion(
    first_start: datetime,
    duration: timedelta,
    rule_text: str | None,
    timezone: str,
    window_start: datetime,
    window_end: datetime,
) -> list[tuple[datetime, datetime]] | None:
    """What ``expand`` answers, if that needs no walk of the rule: a one-off task, or a
    window whose hours an earlier ``expand`` walked. None otherwise, so that the caller can
    walk it off the event loop (a walk takes 0.1 ms for a weekly rule, more for old
    daily ones)."""
    if not rule_text:
        return expand(first_start, duration, rule_text, timezone, window_start, window_end)
    key = _hours_key(rule_text, first_start, timezone, window_start, window_end)
    if key is None:
        return None
    with _KEPT_LOCK:
        kept = _KEPT.get(key)
    return None if kept is None else _pairs(kept, duration, window_start, window_end)


# Reads ask for "from now, for 8 weeks", with a new now every time. Each expansion is a
# pure function of the rule and its window, so the walk of the whole hours around a window
# is kept and filtered: every read of a task within the same hour shares one walk. Only
# walks of fewer than _KEPT_MOST starts are kept (at most ~7 kB each); None marks a longer
# one, which the exact walk answers every time.
_KEPT_MOST = 128
_KEPT: LRUCache = LRUCache(maxsize=1024)
_KEPT_LOCK = threading.Lock()  # expansions run on the event loop and in worker threads
_MISSING = object()
_HOUR = timedelta(hours=1)


def _hours_key(
    rule_text: str, first_start: datetime, timezone: str, low: datetime, high: datetime
) -> tuple[str, datetime, str, datetime, datetime] | None:
    """The whole UTC hours around [low, high) as the key of their walk; None when they
    are longer than ``HORIZON`` (the exact walk would stop at ``low + HORIZON``, which the
    hours' walk, starting earlier, would cut short)."""
    start = as_utc(low).replace(minute=0, second=0, microsecond=0)
    end = as_utc(high)
    floor = end.replace(minute=0, second=0, microsecond=0)
    end = floor if floor == end else floor + _HOUR
    if end - start > HORIZON:
        return None
    return rule_text, first_start, timezone, start, end


def _walk_hours(
    rule_text: str, first_start: datetime, timezone: str, low: datetime, high: datetime
) -> tuple[datetime, ...] | None:
    rule = _usable(rule_text, first_start, timezone)
    if rule is None:
        return ()
    starts = _starts(rule, first_start, timezone, low, high, _KEPT_MOST)
    # Cut at _KEPT_MOST, the walk may miss starts of the window: not kept.
    return tuple(starts) if len(starts) < _KEPT_MOST else None


def _pairs(
    starts: list[datetime] | tuple[datetime, ...],
    duration: timedelta,
    low: datetime,
    high: datetime,
) -> list[tuple[datetime, datetime]]:
    return [(as_utc(s), as_utc(s + duration)) for s in starts if low <= s < high]


def next_start(
    first_start: datetime, rule_text: str | None, timezone: str, after: datetime
) -> datetime | None:
    """The first occurrence starting after ``after`` and within ``HORIZON`` of it (UTC)."""
    if not rule_text:
        return as_utc(first_start) if first_start > after else None
    rule = _usable(rule_text, first_start, timezone)
    if rule is None:
        return None
    after = after + timedelta(microseconds=1)
    found = _starts(rule, first_start, timezone, after, after + HORIZON, 1)
    return as_utc(found[0]) if found else None


def occurs_at(first_start: datetime, rule_text: str | None, timezone: str, start: datetime) -> bool:
    """Does an occurrence of the task start exactly at ``start``?"""
    if not rule_text:
        return start == first_start
    found = expand(
        first_start, timedelta(0), rule_text, timezone, start, start + timedelta(seconds=1)
    )
    return any(s == start for s, _ in found)


def _starts(
    rule: Rule, first_start: datetime, timezone: str, low: datetime, high: datetime, limit: int
) -> list[datetime]:
    """The rule's starts in [low, high), cut at ``HORIZON`` after ``low`` and at ``limit``."""
    zone = ZoneInfo(timezone)
    high = min(high, low + HORIZON)
    if rule.until is not None:
        high = min(high, rule.until + timedelta(microseconds=1))
    low = max(low, first_start)
    if high <= low:
        return []
    begin, low_local, high_local = (t.astimezone(zone) for t in (first_start, low, high))
    if high_local.year - begin.year > MAX_AGE_YEARS:
        return []
    shift = calendar_shift(begin.year, high_local.year)
    expanded = _dateutil_rule(rule.core, _moved(begin, shift))
    end = _moved(high_local, shift)
    starts = []
    for moment in expanded.xafter(_moved(low_local, shift), count=limit, inc=True):
        if moment >= end:
            break
        starts.append(_moved(moment, -shift))
    return starts


@lru_cache(maxsize=1024)
def _dateutil_rule(core: str, dtstart: datetime) -> rrule:
    return rrulestr(core, dtstart=dtstart, cache=False)


def _moved(moment: datetime, years: int) -> datetime:
    """The same wall-clock time ``years`` later, in a year with the same calendar."""
    return moment.replace(year=moment.year + years)


@lru_cache(maxsize=256)
def calendar_shift(first_year: int, last_year: int) -> int:
    """The most years by which the years from ``first_year`` to ``last_year`` can move and
    keep their calendar (leap years, the weekday of every date), staying before the year
    9999 (so that a local time there still has a UTC one).

    dateutil walks a rule until it finds an occurrence or passes ``datetime.MAXYEAR``:
    expanding the moved copy bounds that walk to the years left after ``last_year + shift``
    (within 28 years of the end of the calendar, or 400 when the span holds a century
    year that is not a leap year), instead of the thousands left after today.
    """
    top = date.max.year - 1 - last_year
    for shift in range(top, 0, -1):
        if all(_year_kind(y) == _year_kind(y + shift) for y in range(first_year, last_year + 1)):
            return shift
    return 0


@cache
def _year_kind(year: int) -> tuple[bool, int]:
    return calendar.isleap(year), date(year, 1, 1).weekday()
