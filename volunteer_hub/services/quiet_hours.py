"""A community's quiet hours: ordinary messages wait until they end (urgent ones do not),
and an invitation's answer clock stops during them (``dispatch.deadline``)."""

from __future__ import annotations

from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from volunteer_hub.clock import as_utc
from volunteer_hub.models import Community


def after_quiet_hours(moment: datetime, community: Community) -> datetime:
    """``moment``, or the end of the community's quiet hours if it falls inside them."""
    start, end = time.fromisoformat(community.quiet_start), time.fromisoformat(community.quiet_end)
    if start == end:
        return moment
    zone = ZoneInfo(community.timezone)
    local = moment.astimezone(zone)
    now = local.time()
    quiet = (start <= now or now < end) if start > end else (start <= now < end)
    if not quiet:
        return moment
    day = local.date() if now < end else local.date() + timedelta(days=1)
    return as_utc(datetime.combine(day, end, tzinfo=zone))
