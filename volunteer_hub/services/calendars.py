"""Calendar feeds (RFC 5545): a person's shifts and claimed wishes, a team's schedule.

A personal feed lives at a secret address derived from the person's id, their
``calendar_version`` and an HMAC keyed with the installation secret: nothing is stored,
and bumping the version revokes every address given out before. A team feed is public
and names nobody.

Times are in the community's zone with its VTIMEZONE. SEQUENCE is the number of audit
entries of what an event shows (append-only, so it only grows) and DTSTAMP the time of
the latest of them: the same data always gives the same bytes, so ETags hold.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
import re
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from icalendar import Alarm, Calendar, Event, vCalAddress, vDuration, vRecur
from tortoise.expressions import F, Q
from tortoise.functions import Count, Max

from volunteer_hub.clock import as_utc
from volunteer_hub.errors import NotFound
from volunteer_hub.hub import Hub
from volunteer_hub.i18n import DEFAULT_LOCALE, translate
from volunteer_hub.models import (
    AuditEntry,
    Occurrence,
    Person,
    Signup,
    SignupStatus,
    Task,
    Team,
    Wish,
    WishStatus,
)
from volunteer_hub.recurrence import next_start, utc_rule
from volunteer_hub.services.access import Actor
from volunteer_hub.services.uow import unit_of_work

log = logging.getLogger(__name__)

PRODID = "-//volunteer_hub//volunteer_hub calendar feeds//ZH"
UID_DOMAIN = "volunteer-hub"
# Past events stay in a feed this long; cancelled ones (STATUS:CANCELLED) this long after
# their cancellation, so that subscribed phones see the change and drop them.
HISTORY = timedelta(days=90)
CANCELLED_KEPT = timedelta(days=30)
SHIFT_REMINDER = timedelta(hours=-2)
# An all-day wish is due on its day: remind at 18:00 the evening before.
DAY_REMINDER = timedelta(hours=-6)
WISH_WITHOUT_DATE = timedelta(hours=1)
REFRESH = timedelta(hours=1)

SHOWN_SIGNUPS = (SignupStatus.CONFIRMED, SignupStatus.CHECKED_IN, SignupStatus.COMPLETED)
SHOWN_WISHES = (WishStatus.CLAIMED, WishStatus.FULFILLED, WishStatus.CONFIRMED)
# person id, calendar version, the first 32 hex digits of the HMAC; canonical numbers only.
_TOKEN = re.compile(r"(0|[1-9][0-9]{0,9})-(0|[1-9][0-9]{0,9})-([0-9a-f]{32})")
_MAX_DB_INT = 2**31 - 1


# --- the secret address -------------------------------------------------------------------


def _signature(secret_key: str, person_id: int, version: int) -> str:
    message = f"calendar:{person_id}:{version}".encode()
    return hmac.new(secret_key.encode(), message, hashlib.sha256).hexdigest()[:32]


def feed_token(secret_key: str, person_id: int, version: int) -> str:
    return f"{person_id}-{version}-{_signature(secret_key, person_id, version)}"


async def my_feed_token(hub: Hub, actor: Actor) -> str:
    """The token of the actor's personal feed address (valid until they revoke it)."""
    version = await Person.filter(id=actor.id).values_list("calendar_version", flat=True)
    if not version:
        raise NotFound("No such calendar feed.", code="calendar_not_found")
    return feed_token(hub.settings.secret_key, actor.id, version[0])


async def revoke_feed(hub: Hub, actor: Actor) -> None:
    """Revoke the actor's feed address: every address given out before answers 404."""
    person = await actor.load_person()
    async with unit_of_work(hub, actor.id) as uow:
        await Person.filter(id=person.id).update(calendar_version=F("calendar_version") + 1)
        version = (await Person.filter(id=person.id).values_list("calendar_version", flat=True))[0]
        await uow.record(
            "calendar.revoked",
            person,
            community_id=person.community_id,
            before={"calendar_version": version - 1},
            after={"calendar_version": version},
        )


async def person_for_token(hub: Hub, token: str) -> Person:
    """The person whose current feed address carries ``token``; anything else is not found."""
    match = _TOKEN.fullmatch(token)
    if match is not None:
        person_id, version = int(match[1]), int(match[2])
        if person_id <= _MAX_DB_INT and version <= _MAX_DB_INT:
            expected = _signature(hub.settings.secret_key, person_id, version)
            if hmac.compare_digest(expected, match[3]):
                person = await Person.get_or_none(id=person_id)
                if person is not None and person.calendar_version == version:
                    return person
    raise NotFound("No such calendar feed.", code="calendar_not_found")


# --- the personal feed --------------------------------------------------------------------


async def personal_feed(hub: Hub, token: str, locale: str = DEFAULT_LOCALE) -> bytes:
    """The person's confirmed shifts and claimed wishes, and those recently cancelled."""
    person = await person_for_token(hub, token)
    now = hub.now()
    since, cancelled_since = as_utc(now - HISTORY), as_utc(now - CANCELLED_KEPT)

    signups = await (
        Signup.filter(person_id=person.id, occurrence__start__gte=since)
        .filter(
            Q(status__in=SHOWN_SIGNUPS)
            | Q(status=SignupStatus.CANCELLED, cancelled_at__gte=cancelled_since)
        )
        .select_related("occurrence", "occurrence__task", "occurrence__task__community")
        .order_by("id")
    )
    # A cancelled signup is shown only if it once held a place (and so was in the feed).
    held = await _held_a_place([s.id for s in signups if s.status is SignupStatus.CANCELLED])
    signups = [s for s in signups if s.status is not SignupStatus.CANCELLED or s.id in held]

    wishes = await (
        Wish.filter(claimer_id=person.id, status__in=(*SHOWN_WISHES, WishStatus.CANCELLED))
        .filter(Q(needed_by__gte=since.date()) | Q(needed_by__isnull=True, claimed_at__gte=since))
        .select_related("community")
        .order_by("id")
    )

    stats = await _audit_stats(
        {
            "signup": [s.id for s in signups],
            "task": [s.occurrence.task_id for s in signups],
            "occurrence": [s.occurrence_id for s in signups],
            "wish": [w.id for w in wishes],
        }
    )
    # A cancelled wish stays while its cancellation (its latest audit entry) is recent.
    wishes = [
        w
        for w in wishes
        if w.status is not WishStatus.CANCELLED
        or stats.stamp([("wish", w.id)], w.created_at) >= cancelled_since
    ]
    zone = None
    if person.community_id is not None:
        zone = await Person.filter(id=person.id).values_list("community__timezone", flat=True)
    cal = _calendar(
        uid=f"person-{person.id}@{UID_DOMAIN}",
        name=translate("My volunteer service", locale),
        timezone=zone[0] if zone else None,
    )
    for signup in signups:
        cal.add_component(_shift_event(signup, stats, locale))
    for wish in wishes:
        event = _wish_event(wish, stats, locale)
        if event is not None:
            cal.add_component(event)
    return _serialize(cal)


async def _held_a_place(signup_ids: list[int]) -> set[int]:
    if not signup_ids:
        return set()
    return set(
        await AuditEntry.filter(
            entity_type="signup",
            entity_id__in=signup_ids,
            action__in=("signup.confirmed", "signup.promoted"),
        ).values_list("entity_id", flat=True)
    )


def _shift_event(signup: Signup, stats: _Stats, locale: str) -> Event:
    occurrence = signup.occurrence
    task = occurrence.task
    zone = ZoneInfo(task.community.timezone)
    cancelled = signup.status is SignupStatus.CANCELLED or occurrence.cancelled
    keys = [("signup", signup.id), ("task", task.id), ("occurrence", occurrence.id)]
    event = Event.new(
        uid=f"signup-{signup.id}@{UID_DOMAIN}",
        summary=task.title,
        start=occurrence.start.astimezone(zone),
        end=occurrence.end.astimezone(zone),
        location=task.location or None,
        description=task.description or None,
        sequence=stats.sequence(keys),
        stamp=stats.stamp(keys, task.created_at),
        status="CANCELLED" if cancelled else "CONFIRMED",
    )
    if not cancelled and signup.status is not SignupStatus.COMPLETED:
        event.add_component(_reminder(SHIFT_REMINDER, task.title, locale))
    return event


def _wish_event(wish: Wish, stats: _Stats, locale: str) -> Event | None:
    """A claimed wish: all day on its needed-by date, or an hour from the claim.

    Only the wish's title: never the resident's name, phone, address or description.
    """
    keys = [("wish", wish.id)]
    cancelled = wish.status is WishStatus.CANCELLED
    start: date | datetime
    if wish.needed_by is not None:
        start, end = wish.needed_by, wish.needed_by + timedelta(days=1)
    elif wish.claimed_at is not None:
        start = wish.claimed_at.astimezone(ZoneInfo(wish.community.timezone))
        end = start + WISH_WITHOUT_DATE
    else:
        return None
    event = Event.new(
        uid=f"wish-{wish.id}@{UID_DOMAIN}",
        summary=wish.title,
        start=start,
        end=end,
        description=translate("A micro-wish you claimed.", locale),
        sequence=stats.sequence(keys),
        stamp=stats.stamp(keys, wish.created_at),
        status="CANCELLED" if cancelled else "CONFIRMED",
    )
    if wish.status is WishStatus.CLAIMED and wish.needed_by is not None:
        event.add_component(_reminder(DAY_REMINDER, wish.title, locale))
    return event


def _reminder(trigger: timedelta, title: str, locale: str) -> Alarm:
    alarm = Alarm.new(description=translate("Reminder: {title}", locale, title=title))
    alarm.add("action", "DISPLAY")  # Alarm.new adds neither ACTION nor TRIGGER
    alarm.add("trigger", trigger)
    return alarm


# --- the team feed ------------------------------------------------------------------------


async def team_feed(hub: Hub, team_id: int, locale: str = DEFAULT_LOCALE) -> bytes:
    """A team's public schedule: each recurring task one event with RRULE and EXDATEs.

    Names nobody: no signups, no leader, no author.
    """
    team = None
    if 0 <= team_id <= _MAX_DB_INT:
        team = await Team.get_or_none(id=team_id).select_related("community")
    if team is None:
        raise NotFound("No such team.", code="team_not_found")
    timezone = team.community.timezone
    since = as_utc(hub.now() - HISTORY)
    tasks = await Task.filter(team_id=team.id).order_by("id")
    occurrences: dict[int, list[tuple[int, datetime, bool]]] = defaultdict(list)
    for occurrence_id, task_id, start, cancelled in await Occurrence.filter(
        task_id__in=[t.id for t in tasks]
    ).values_list("id", "task_id", "start", "cancelled"):
        occurrences[task_id].append((occurrence_id, start, cancelled))
    stats = await _audit_stats(
        {
            "task": [t.id for t in tasks],
            "occurrence": [o[0] for rows in occurrences.values() for o in rows],
        }
    )
    cal = _calendar(
        uid=f"team-{team.id}@{UID_DOMAIN}",
        name=f"{team.community.name} · {team.name}",
        timezone=timezone,
    )

    def build() -> bytes:
        for task in tasks:
            rows = occurrences[task.id]
            keys = [("task", task.id), *(("occurrence", o[0]) for o in rows)]
            event = _task_event(task, timezone, since, rows, stats, keys)
            if event is not None:
                cal.add_component(event)
        return _serialize(cal)

    # Off the event loop: each task's rule is walked (bounded, see recurrence), and a team
    # may have many tasks.
    return await asyncio.to_thread(build)


def _task_event(
    task: Task,
    timezone: str,
    since: datetime,
    rows: list[tuple[int, datetime, bool]],
    stats: _Stats,
    keys: list[tuple[str, int]],
) -> Event | None:
    zone = ZoneInfo(timezone)
    duration = task.ends_at - task.starts_at
    cancelled = sorted(as_utc(start) for _, start, is_cancelled in rows if is_cancelled)
    start = task.starts_at
    rule = None
    if task.rrule:
        # The set is defined by the rule: start at its first occurrence (RFC 5545 leaves a
        # DTSTART outside the rule undefined) and leave out tasks whose rule has run out.
        first = next_start(task.starts_at, task.rrule, timezone, start - timedelta(microseconds=1))
        if first is None or next_start(task.starts_at, task.rrule, timezone, since) is None:
            return None
        start, rule = first, vRecur.from_ical(utc_rule(task.rrule, timezone))
    elif task.ends_at < since:
        return None
    event = Event.new(
        uid=f"task-{task.id}@{UID_DOMAIN}",
        summary=task.title,
        start=start.astimezone(zone),
        end=(start + duration).astimezone(zone),
        location=task.location or None,
        description=task.description or None,
        sequence=stats.sequence(keys),
        stamp=stats.stamp(keys, task.created_at),
        # A cancelled task: the whole event (every occurrence of a series) is cancelled.
        status="CANCELLED"
        if task.cancelled_at is not None or (rule is None and cancelled)
        else "CONFIRMED",
    )
    if rule is not None:
        event.add("rrule", rule)
        for moment in cancelled:
            event.add("exdate", [moment.astimezone(zone)])
    return event


# --- shared -------------------------------------------------------------------------------


class _Stats:
    """Audit entries by entity: how many, and when the latest was written."""

    def __init__(self, rows: dict[tuple[str, int], tuple[int, datetime]]) -> None:
        self.rows = rows

    def sequence(self, keys: Iterable[tuple[str, int]]) -> int:
        return sum(self.rows[k][0] for k in keys if k in self.rows)

    def stamp(self, keys: Iterable[tuple[str, int]], default: datetime) -> datetime:
        return max((self.rows[k][1] for k in keys if k in self.rows), default=as_utc(default))


async def _audit_stats(ids_by_type: dict[str, list[int]]) -> _Stats:
    rows: dict[tuple[str, int], tuple[int, datetime]] = {}
    for entity_type, ids in ids_by_type.items():
        unique = sorted(set(ids))
        for i in range(0, len(unique), 500):
            for row in (
                await AuditEntry.filter(entity_type=entity_type, entity_id__in=unique[i : i + 500])
                .annotate(n=Count("id"), last=Max("created_at"))
                .group_by("entity_id")
                .values("entity_id", "n", "last")
            ):
                rows[(entity_type, int(row["entity_id"]))] = (int(row["n"]), _utc(row["last"]))
    return _Stats(rows)


def _utc(value: datetime | str) -> datetime:
    """An aggregate's datetime: SQLite answers text, PostgreSQL a datetime."""
    moment = datetime.fromisoformat(value) if isinstance(value, str) else value
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else as_utc(moment)


def _calendar(*, uid: str, name: str, timezone: str | None) -> Calendar:
    cal = Calendar.new(prodid=PRODID, uid=uid, name=name, refresh_interval=REFRESH)
    cal.add("calscale", "GREGORIAN")
    cal.add("x-published-ttl", vDuration(REFRESH))  # what Outlook and Apple read
    if timezone:
        cal.add("x-wr-timezone", timezone)
    return cal


def _serialize(cal: Calendar) -> bytes:
    cal.add_missing_timezones()  # to_ical() alone writes TZIDs without their VTIMEZONE
    return cal.to_ical()


# --- invitations (an iTIP REQUEST attached to an invitation e-mail) ----------------------------
# Built by the feeds' own functions, so an invitation and a feed give one thing the same UID
# and SEQUENCE: a wish is ``wish-{id}`` (as in the personal feed once it is claimed); an
# occurrence of a task is ``task-{id}`` (as in the team feed), with a RECURRENCE-ID naming the
# occurrence when the task recurs. A person's shift in the personal feed is ``signup-{id}``:
# that signup does not exist when the invitation is sent.


@dataclass(frozen=True)
class Party:
    """An organizer or attendee of an invitation: an e-mail address and a display name."""

    email: str
    name: str


async def wish_invitation(
    wish: Wish, *, locale: str, organizer: Party | None = None, attendee: Party | None = None
) -> bytes | None:
    """An invitation to claim ``wish``: all day on its needed-by date, with a reminder the
    evening before. None for a wish without a date (there is nothing to put in a calendar).

    Only the wish's title: never the resident's name, phone, address or description.
    """
    if wish.needed_by is None:
        return None
    event = _wish_event(wish, await _audit_stats({"wish": [wish.id]}), locale)
    if event is None:
        return None
    event.pop("DESCRIPTION", None)
    event.add(
        "description",
        translate(
            "You are invited to claim this micro-wish. It is yours only once you claim it.",
            locale,
        ),
    )
    if wish.status is WishStatus.OPEN:  # nobody has taken it on yet
        event.pop("STATUS", None)
        event.add("status", "TENTATIVE")
    if not event.walk("VALARM"):
        event.add_component(_reminder(DAY_REMINDER, wish.title, locale))
    return _invitation(event, organizer, attendee)


async def occurrence_invitation(
    occurrence: Occurrence,
    *,
    now: datetime,
    locale: str,
    organizer: Party | None = None,
    attendee: Party | None = None,
) -> bytes | None:
    """An invitation to one occurrence of a task (``occurrence.task.community`` loaded), in
    the community's zone with its VTIMEZONE and a reminder two hours before. None when the
    team feed would not show the task any more.
    """
    task = occurrence.task
    timezone = task.community.timezone
    zone = ZoneInfo(timezone)
    rows = list(await Occurrence.filter(task_id=task.id).values_list("id", "start", "cancelled"))
    keys = [("task", task.id), *(("occurrence", row[0]) for row in rows)]
    stats = await _audit_stats({"task": [task.id], "occurrence": [row[0] for row in rows]})
    event = await asyncio.to_thread(
        _task_event, task, timezone, as_utc(now - HISTORY), rows, stats, keys
    )
    if event is None:
        return None
    if task.rrule:  # the one occurrence, as an instance of the team feed's recurring event
        for name in ("RRULE", "EXDATE", "DTSTART", "DTEND"):
            event.pop(name, None)
        event.add("dtstart", occurrence.start.astimezone(zone))
        event.add("dtend", occurrence.end.astimezone(zone))
        event.add("recurrence-id", occurrence.start.astimezone(zone))
    event.add_component(_reminder(SHIFT_REMINDER, task.title, locale))
    return _invitation(event, organizer, attendee)


def _invitation(event: Event, organizer: Party | None, attendee: Party | None) -> bytes:
    """A REQUEST (RFC 5546) from the organizer to the attendee; a PUBLISH if either is unknown.

    RSVP is FALSE: accepting in a mail program claims nothing; the wish is claimed, or the
    shift signed up for, in volunteer_hub.
    """
    method = "REQUEST" if organizer is not None and attendee is not None else "PUBLISH"
    cal = Calendar.new(
        prodid=PRODID, method=method, calscale="GREGORIAN", uid=f"invitation-{event['UID']}"
    )
    if organizer is not None and attendee is not None:
        event.add("organizer", vCalAddress.new(organizer.email, cn=organizer.name))
        event.add(
            "attendee",
            vCalAddress.new(
                attendee.email,
                cn=attendee.name,
                role="REQ-PARTICIPANT",
                partstat="NEEDS-ACTION",
                rsvp=False,
            ),
        )
    cal.add_component(event)
    return _serialize(cal)
