"""Time helpers. The database holds UTC; communities see their own zone.

Every datetime used in a query must be converted with ``as_utc`` first: on SQLite,
Tortoise stores aware datetimes as UTC text but compares filter values as given, so a
``+08:00`` value silently matches nothing.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo


def utcnow() -> datetime:
    return datetime.now(UTC)


def as_utc(moment: datetime) -> datetime:
    if moment.tzinfo is None:
        raise ValueError("naive datetime: times must carry a zone")
    return moment.astimezone(UTC)


def local_day_start(day: date, timezone: str) -> datetime:
    """Midnight starting ``day`` in the zone, in UTC."""
    return as_utc(datetime.combine(day, time(0), tzinfo=ZoneInfo(timezone)))


def local_month_start(moment: datetime, timezone: str) -> datetime:
    local = moment.astimezone(ZoneInfo(timezone))
    return local_day_start(local.date().replace(day=1), timezone)


def local_year_start(year: int, timezone: str) -> datetime:
    return local_day_start(date(year, 1, 1), timezone)


ONE_DAY = timedelta(days=1)
