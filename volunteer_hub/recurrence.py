"""Recurring tasks: RRULE parsing and expansion in the community's wall-clock time."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

from dateutil.rrule import DAILY, MONTHLY, WEEKLY, YEARLY, rrule, rrulestr

from volunteer_hub.clock import as_utc

# Shifts repeat at most daily; finer rules would flood the schedule.
_ALLOWED_FREQS = {DAILY, WEEKLY, MONTHLY, YEARLY}
_SUB_DAILY_PARTS = {"BYHOUR", "BYMINUTE", "BYSECOND"}
MAX_OCCURRENCES = 1000


class RecurrenceError(ValueError):
    """The RRULE cannot be used; ``msgid`` says why (translatable)."""

    def __init__(self, msgid: str) -> None:
        super().__init__(msgid)
        self.msgid = msgid


def normalize_rule(text: str) -> str:
    """The rule without surrounding space and without an ``RRULE:`` prefix (any case)."""
    body = text.strip()
    return body[6:] if body.upper().startswith("RRULE:") else body


@lru_cache(maxsize=1024)
def parse_rrule(text: str, first_start: datetime, timezone: str) -> rrule:
    """Parse an RRULE (with or without the ``RRULE:`` prefix) anchored at the first start.

    The rule runs from the first start in the community's zone, so 19:00 stays 19:00
    there. A floating UNTIL (no ``Z``) is read as the community's local time. Parsed
    rules are cached: every read of a recurring task expands its rule.
    """
    body = normalize_rule(text)
    if not body or "\n" in body or "\r" in body or "DTSTART" in body.upper():
        raise RecurrenceError("Must be a single RRULE line without DTSTART.")
    keys = {part.partition("=")[0].strip().upper() for part in body.split(";")}
    if keys & _SUB_DAILY_PARTS:
        # BYHOUR and the like repeat within a day and move the shift off its start time.
        raise RecurrenceError("The rule may repeat at most daily.")
    zone = ZoneInfo(timezone)
    try:
        body = ";".join(_utc_until(part, zone) for part in body.split(";"))
        rule = rrulestr(body, dtstart=first_start.astimezone(zone))
    except (ValueError, TypeError):
        raise RecurrenceError("Must be a valid RRULE (RFC 5545).") from None
    if not isinstance(rule, rrule) or rule._freq not in _ALLOWED_FREQS:
        raise RecurrenceError("The rule may repeat at most daily.")
    if rule._interval < 1:
        raise RecurrenceError("Must be a valid RRULE (RFC 5545).")
    return rule


def _utc_until(part: str, zone: ZoneInfo) -> str:
    key, _, value = part.partition("=")
    if key.strip().upper() != "UNTIL" or value.upper().endswith("Z"):
        return part
    if len(value) == 8:  # a date: the whole local day is included
        local = datetime.strptime(value, "%Y%m%d").replace(hour=23, minute=59, second=59)
    else:
        local = datetime.strptime(value, "%Y%m%dT%H%M%S")
    until = local.replace(tzinfo=zone).astimezone(UTC)
    return f"UNTIL={until:%Y%m%dT%H%M%S}Z"


def expand(
    first_start: datetime,
    duration: timedelta,
    rule_text: str | None,
    timezone: str,
    window_start: datetime,
    window_end: datetime,
) -> list[tuple[datetime, datetime]]:
    """The (start, end) pairs, in UTC, of the occurrences that start within the window."""
    if not rule_text:
        starts = [first_start] if window_start <= first_start < window_end else []
    else:
        starts = []
        rule = parse_rrule(rule_text, first_start, timezone)
        for start in rule.xafter(window_start, count=MAX_OCCURRENCES, inc=True):
            if start >= window_end:
                break
            starts.append(start)
    return [(as_utc(s), as_utc(s + duration)) for s in starts]


def next_start(
    first_start: datetime, rule_text: str | None, timezone: str, after: datetime
) -> datetime | None:
    """The first occurrence starting after ``after`` (UTC), however far ahead; None if none."""
    if not rule_text:
        return as_utc(first_start) if first_start > after else None
    found = parse_rrule(rule_text, first_start, timezone).after(after, inc=False)
    return as_utc(found) if found else None


def occurs_at(first_start: datetime, rule_text: str | None, timezone: str, start: datetime) -> bool:
    """Does an occurrence of the task start exactly at ``start``?"""
    if not rule_text:
        return start == first_start
    found = expand(
        first_start, timedelta(0), rule_text, timezone, start, start + timedelta(seconds=1)
    )
    return any(s == start for s, _ in found)
