"""Who hears of what: the notifications' subscriber to domain events.

``Planner.subscribe`` puts its plans on a Hub's event dispatch (``volunteer_hub.bootstrap``
does, when it composes the application). They run inside the transaction of the change,
just before it commits (``services/uow.py``), so a notification and its outbox rows exist
exactly when its change does. Deliveries wait out the community's quiet hours, unless
urgent (a red escalation, an emergency, a confirmation code).

The planner holds the message templates; the services know nothing of it.
"""

from __future__ import annotations

import secrets
from collections.abc import Awaitable, Callable, Collection, Sequence
from datetime import date, datetime
from functools import partial
from typing import Any
from zoneinfo import ZoneInfo

from babel.dates import format_date

from volunteer_hub import db
from volunteer_hub.events import EventDispatch, PendingEvent
from volunteer_hub.hooktypes import DomainEvent
from volunteer_hub.hub import Hub
from volunteer_hub.i18n import DEFAULT_LOCALE, localize, normalize_locale
from volunteer_hub.models import (
    AuditEntry,
    CallOut,
    ChannelConfig,
    Community,
    Delivery,
    Escalation,
    NoShow,
    Notification,
    NotificationPriority,
    Occurrence,
    PartyReport,
    Person,
    PersonChannel,
    Qualification,
    Referral,
    Role,
    RoleAssignment,
    Signup,
    SignupStatus,
    Task,
    TeamMembership,
    Wish,
)
from volunteer_hub.notifications.bulk import Message, Recipient, notify_groups, notify_many
from volunteer_hub.notifications.render import Rendered, Templates
from volunteer_hub.services import auth, callouts, channels, invitations, referrals, roster
from volunteer_hub.services.quiet_hours import after_quiet_hours
from volunteer_hub.validation import mask_phone

__all__ = ["BATCH_PLANS", "CODE_EVENT", "PLANS", "RESET_CODE_EVENT", "Planner", "after_quiet_hours"]

_LEVEL_NAMES = {
    Escalation.BLUE: {"zh-CN": "蓝牌", "en": "blue"},
    Escalation.YELLOW: {"zh-CN": "黄牌", "en": "yellow"},
    Escalation.RED: {"zh-CN": "红牌", "en": "red"},
}

CODE_EVENT = "channel.code"  # the one message an unconfirmed address receives
RESIDENT_ESCALATION_TEMPLATE = "wish.escalated.resident"  # in a resident's words
RELAY_TEMPLATE = "relay"  # a resident's message as their grid worker receives it
# The message with a code to set a new password: to confirmed addresses, never the inbox.
RESET_CODE_EVENT = "password.code"


class Planner:
    """Writes notifications (the inbox) and their deliveries (the outbox), in the
    caller's transaction, rendered with its own templates."""

    def __init__(self, templates: Templates | None = None) -> None:
        self.templates = templates or Templates()

    def subscribe(self, events: EventDispatch[Hub]) -> None:
        """Plan the notifications of every event that has a plan (``PLANS``,
        ``BATCH_PLANS``)."""
        for name, plan in PLANS.items():
            events.subscribe(name, partial(plan, self))
        for name, batch_plan in BATCH_PLANS.items():
            events.subscribe_batch(name, partial(batch_plan, self))

    async def notify(
        self,
        now: datetime,
        *,
        person: Person,
        community: Community,
        event: str,
        entity_type: str,
        entity_id: int,
        context: dict[str, Any],
        priority: NotificationPriority = NotificationPriority.NORMAL,
        not_before: datetime | None = None,
        dedupe_key: str | None = None,
        template: str | None = None,
        not_relayed_to: Collection[int] = (),
    ) -> Notification:
        """Write one notification (the inbox entry) and its outbox deliveries, now.

        Deliveries go to the person's confirmed addresses only (an unconfirmed one may be
        someone else's). ``template`` names the message's templates when they are not the
        event's. A resident reached through their grid worker
        (``Person.reached_through_grid_worker``) is told through the grid worker(s) of
        their grid too, but those in ``not_relayed_to``: each gets the message in their
        own inbox and channels, saying whom it is for.
        """
        template = template or event
        notification = await self._notification(
            now, person, community, event, entity_type, entity_id, context, priority,
            dedupe_key, template,
        )  # fmt: skip
        start = not_before or now
        if priority is NotificationPriority.NORMAL:
            start = after_quiet_hours(start, community)
        await _deliver_to_channels(notification, person.id, community.id, start, now)
        # A password code is the person's own secret: never relayed, even to a grid worker.
        relay = event != RESET_CODE_EVENT
        if relay and person.reached_through_grid_worker and person.grid_id is not None:
            for worker in await _grid_workers(person, exclude=not_relayed_to):
                relayed = await self._relayed(
                    now, worker, person, community, event, entity_type, entity_id, context,
                    priority, template,
                )  # fmt: skip
                await _deliver_to_channels(relayed, worker.id, community.id, start, now)
        return notification

    async def _relayed(
        self,
        now: datetime,
        worker: Person,
        resident: Person,
        community: Community,
        event: str,
        entity_type: str,
        entity_id: int,
        context: dict[str, Any],
        priority: NotificationPriority,
        template: str,
    ) -> Notification:
        """The resident's message, in the grid worker's language, wrapped in a note
        saying whom it is for (their name and masked phone: the grid worker knows them)."""
        inner = self.templates.render(
            template, worker.locale, {**context, "person": resident, "community": community}
        )
        rendered = self.templates.render(
            RELAY_TEMPLATE,
            worker.locale,
            {
                "person": worker,
                "resident": resident,
                "resident_phone": mask_phone(resident.phone),
                "inner": inner,
                "community": community,
            },
        )
        return await _store(
            now, worker, community, event, entity_type, entity_id, priority, rendered, None,
            worker.locale,
        )  # fmt: skip

    async def notify_code(
        self,
        now: datetime,
        *,
        person: Person,
        community: Community,
        config: ChannelConfig,
        address: PersonChannel,
        context: dict[str, Any],
    ) -> Notification:
        """The message with the code that confirms ``address``: to that address alone, at
        once (quiet hours or not), and not in the inbox (where whoever typed the address
        would read the code)."""
        notification = await self._notification(
            now,
            person,
            community,
            CODE_EVENT,
            "person_channel",
            address.id,
            context,
            NotificationPriority.URGENT,
            None,
        )
        await _deliver(notification, config, address.address, now, now)
        return notification

    async def notify_address(
        self,
        now: datetime,
        *,
        person: Person,
        community: Community,
        config: ChannelConfig,
        address: PersonChannel,
        event: str,
        context: dict[str, Any],
    ) -> Notification:
        """A message about one address (a test message): to that address alone, at once,
        and in the inbox."""
        notification = await self._notification(
            now, person, community, event, "person_channel", address.id, context,
            NotificationPriority.URGENT, None,
        )  # fmt: skip
        await _deliver(notification, config, address.address, now, now)
        return notification

    async def notify_contact(
        self,
        now: datetime,
        *,
        community: Community,
        config: ChannelConfig,
        address: str,
        event: str,
        entity_type: str,
        entity_id: int,
        context: dict[str, Any],
        priority: NotificationPriority = NotificationPriority.NORMAL,
        locale: str = DEFAULT_LOCALE,
    ) -> Notification:
        """A message to a responsible contact (吹哨), who has no account: no inbox entry
        (``Notification.person`` empty), one delivery to the address staff set for them,
        in their language, after quiet hours unless urgent."""
        rendered = self.templates.render(event, locale, {**context, "community": community})
        notification = await _store(
            now, None, community, event, entity_type, entity_id, priority, rendered, None, locale
        )
        start = now
        if priority is NotificationPriority.NORMAL:
            start = after_quiet_hours(now, community)
        await _deliver(notification, config, address, start, now)
        return notification

    async def notify_signup(
        self,
        now: datetime,
        signup: Signup,
        event: str,
        extra: dict[str, Any] | None = None,
        **kw: Any,
    ) -> Notification:
        """A message about a signup (``signup`` loaded with its person, occurrence, task
        and community); ``extra``: more for its template."""
        task: Task = signup.occurrence.task
        community = task.community
        start = signup.occurrence.start.astimezone(ZoneInfo(community.timezone))
        return await self.notify(
            now,
            person=signup.person,
            community=community,
            event=event,
            entity_type="signup",
            entity_id=signup.id,
            context={"task": task, "start": start.strftime("%Y-%m-%d %H:%M"), **(extra or {})},
            **kw,
        )

    async def _notification(
        self,
        now: datetime,
        person: Person,
        community: Community,
        event: str,
        entity_type: str,
        entity_id: int,
        context: dict[str, Any],
        priority: NotificationPriority,
        dedupe_key: str | None,
        template: str | None = None,
    ) -> Notification:
        rendered = self.templates.render(
            template or event, person.locale, {**context, "person": person, "community": community}
        )
        return await _store(
            now, person, community, event, entity_type, entity_id, priority, rendered, dedupe_key,
            person.locale,
        )  # fmt: skip


async def _store(
    now: datetime,
    person: Person | None,
    community: Community,
    event: str,
    entity_type: str,
    entity_id: int,
    priority: NotificationPriority,
    rendered: Rendered,
    dedupe_key: str | None,
    locale: str,
) -> Notification:
    """One notification, rendered in ``locale``: a person's (their inbox), or with no
    person (a message to a responsible contact)."""
    return await Notification.create(
        person_id=person.id if person else None,
        community_id=community.id,
        event=event,
        entity_type=entity_type,
        entity_id=entity_id,
        priority=priority,
        locale=locale,
        subject=rendered.subject,
        body=rendered.body,
        html=rendered.html,
        dedupe_key=dedupe_key,
        created_at=now,
    )


async def _deliver_to_channels(
    notification: Notification, person_id: int, community_id: int, start: datetime, now: datetime
) -> None:
    """Deliveries to the person's enabled, confirmed addresses on the community's channels."""
    chosen = {
        pc.code: pc
        for pc in await PersonChannel.filter(
            person_id=person_id, enabled=True, confirmed_at__isnull=False
        )
    }
    if chosen:
        configs = await ChannelConfig.filter(
            community_id=community_id, enabled=True, code__in=list(chosen)
        )
        for config in configs:
            await _deliver(notification, config, chosen[config.code].address, start, now)


async def _grid_workers(resident: Person, exclude: Collection[int]) -> list[Person]:
    """The grid workers of the resident's grid (never the resident), by id."""
    ids = await RoleAssignment.filter(
        community_id=resident.community_id, role=Role.GRID_WORKER, grid_id=resident.grid_id
    ).values_list("person_id", flat=True)
    wanted = set(ids) - set(exclude) - {resident.id}
    return await Person.filter(id__in=sorted(wanted)).order_by("id") if wanted else []


async def _deliver(
    notification: Notification,
    config: ChannelConfig,
    address: str,
    not_before: datetime,
    now: datetime,
) -> None:
    await Delivery.create(
        notification_id=notification.id,
        channel_id=config.id,
        address=address,
        idempotency_key=f"{notification.id}-{config.id}-{secrets.token_hex(8)}",
        not_before=not_before,
        created_at=now,
    )


# --- event plans ----------------------------------------------------------------------

# A plan: what the planner writes for one event, inside the event's transaction.
Plan = Callable[["Planner", Hub, PendingEvent], Awaitable[None]]
BatchPlan = Callable[["Planner", Hub, Sequence[PendingEvent]], Awaitable[None]]


async def _wish_to_resident(planner: Planner, hub: Hub, pending: PendingEvent) -> None:
    """The resident hears what became of their wish, and so does whoever posted it for
    them (a grid worker, staff); when they are told through a grid worker, the one who
    posted it is not told twice."""
    event = pending.event
    wish = await Wish.get(id=event.entity_id).select_related("community", "resident", "claimer")
    for person, template in await _wish_recipients(wish, event.name):
        await planner.notify(
            event.occurred_at,
            person=person,
            community=wish.community,
            event=event.name,
            entity_type="wish",
            entity_id=wish.id,
            context=_wish_context(wish, person.locale),
            template=template,
            not_relayed_to=(wish.posted_by_id,),
        )


async def _wish_recipients(wish: Wish, event: str) -> list[tuple[Person, str]]:
    """The resident, with the event's templates, and (if someone else posted the wish)
    its poster, with the same templates."""
    recipients = [(wish.resident, event)]
    if wish.posted_by_id != wish.resident_id:  # the grid worker who posts for someone hears too
        recipients.append((await Person.get(id=wish.posted_by_id), event))
    return recipients


def _wish_context(wish: Wish, locale: str) -> dict[str, Any]:
    """What a resident's message about their wish may say: who claimed it (their name and
    the last four digits of their phone, so that the resident knows the call; never the
    full number, which API.md keeps from the resident) and when it is needed, in words."""
    claimer = wish.claimer if wish.claimer_id else None
    return {
        "wish": wish,
        "claimer": claimer,
        "claimer_phone_tail": claimer.phone[-4:] if claimer else None,
        "needed_by": _long_date(wish.needed_by, locale) if wish.needed_by else None,
    }


def _long_date(day: date, locale: str) -> str:
    return format_date(day, "full", locale=normalize_locale(locale).replace("-", "_"))


async def _wish_escalated(planner: Planner, hub: Hub, pending: PendingEvent) -> None:
    """Staff act on an escalated wish; the resident (and whoever posted it for them) is
    told, in plain words, that it was passed on and is being followed up."""
    event = pending.event
    wish = await Wish.get(id=event.entity_id).select_related("community", "resident", "claimer")
    staff_ids = await _staff_ids(wish.community_id)
    urgent = wish.escalation is Escalation.RED
    for person in await Person.filter(id__in=list(set(staff_ids))):
        await planner.notify(
            event.occurred_at,
            person=person,
            community=wish.community,
            event=event.name,
            entity_type="wish",
            entity_id=wish.id,
            context={
                "wish": wish,
                "level_name": localize(_LEVEL_NAMES[wish.escalation], person.locale),
            },
            priority=NotificationPriority.URGENT if urgent else NotificationPriority.NORMAL,
        )
    told = set(staff_ids)
    for person, _ in await _wish_recipients(wish, event.name):
        if person.id in told:  # staff who posted it have their own message
            continue
        await planner.notify(
            event.occurred_at,
            person=person,
            community=wish.community,
            event=event.name,
            entity_type="wish",
            entity_id=wish.id,
            context=_wish_context(wish, person.locale)
            | {"first": wish.escalation is Escalation.BLUE},
            template=RESIDENT_ESCALATION_TEMPLATE,
            not_relayed_to=(wish.posted_by_id,),
        )


async def _load_signup(signup_id: int) -> Signup:
    return await Signup.get(id=signup_id).select_related(
        "person", "occurrence", "occurrence__task", "occurrence__task__community"
    )


async def _signup(planner: Planner, hub: Hub, pending: PendingEvent) -> None:
    event = pending.event
    await planner.notify_signup(event.occurred_at, await _load_signup(event.entity_id), event.name)


async def _signup_cancelled(planner: Planner, hub: Hub, pending: PendingEvent) -> None:
    """A volunteer who cancels knows it; one whose shift staff cancelled must be told."""
    event = pending.event
    if event.data.get("reason") == "occurrence_cancelled":
        signup = await _load_signup(event.entity_id)
        await planner.notify_signup(event.occurred_at, signup, "occurrence.cancelled")
    elif event.data.get("reason") == "task_cancelled":  # the whole task, with staff's reason
        signup = await _load_signup(event.entity_id)
        await planner.notify_signup(event.occurred_at, signup, "task.cancelled")


async def _shift_messaged(planner: Planner, hub: Hub, pending: PendingEvent) -> None:
    """Staff or the team's leader wrote to everyone with a place on one shift."""
    event = pending.event
    for signup in await Signup.filter(
        occurrence_id=event.entity_id,
        status__in=[SignupStatus.CONFIRMED, SignupStatus.CHECKED_IN],
    ).select_related("person", "occurrence", "occurrence__task", "occurrence__task__community"):
        await planner.notify_signup(
            event.occurred_at,
            signup,
            event.name,
            extra={"message": event.data["message"], "sender": await _inviter(event)},
        )


async def _task_updated(planner: Planner, hub: Hub, pending: PendingEvent) -> None:
    """A task's time or place changed: its volunteers of the shifts ahead are told."""
    event = pending.event
    if not {"starts_at", "ends_at", "location"} & set(event.data.get("changed", [])):
        return
    for signup in await Signup.filter(
        occurrence__task_id=event.entity_id,
        occurrence__end__gt=event.occurred_at,
        status__in=[SignupStatus.CONFIRMED, SignupStatus.WAITLISTED],
    ).select_related("person", "occurrence", "occurrence__task", "occurrence__task__community"):
        await planner.notify_signup(event.occurred_at, signup, event.name)


async def _wish_invited(planner: Planner, hub: Hub, pending: PendingEvent) -> None:
    """A volunteer is invited to claim a wish (by dispatch or staff): what, when, where, how
    to answer, never the resident's contact."""
    event = pending.event
    wish = await Wish.get(id=event.entity_id).select_related("community", "grid")
    person = await Person.get(id=event.data["person_id"])
    category = hub.wish_categories(wish.community_id).get(wish.category)
    await planner.notify(
        event.occurred_at,
        person=person,
        community=wish.community,
        event=event.name,
        entity_type="wish",
        entity_id=wish.id,
        context={
            "wish": wish,
            "inviter": await _inviter(event),
            "category": localize(category.name, person.locale) if category else wish.category,
            "needed_by": wish.needed_by.isoformat() if wish.needed_by else None,
            "grid": wish.grid,
            **_answer_context(hub, event, wish.community),
        },
        # An urgent wish's answer clock runs through quiet hours: so must its invitation.
        priority=NotificationPriority.URGENT if wish.urgent else NotificationPriority.NORMAL,
    )


def _answer_context(hub: Hub, event: DomainEvent, community: Community) -> dict[str, Any]:
    """Where and by when an invitation (``invitation_id`` in its event) is answered: a page
    behind the login, so the link gives nothing away to whoever else reads the message."""
    invitation_id = event.data.get("invitation_id")
    if invitation_id is None:  # an invitation recorded without a row (before issue 13)
        return {"answer_url": None, "answer_by": None}
    expires_at = event.data.get("expires_at")
    answer_by = None
    if expires_at:
        local = datetime.fromisoformat(expires_at).astimezone(ZoneInfo(community.timezone))
        answer_by = local.strftime("%Y-%m-%d %H:%M")
    return {"answer_url": invitations.answer_url(hub, invitation_id), "answer_by": answer_by}


async def _invitation_withdrawn(planner: Planner, hub: Hub, pending: PendingEvent) -> None:
    """Someone else took the wish (or it closed), or the shift was cancelled: whoever was
    still invited to it is told that no answer is needed."""
    event = pending.event
    if event.data.get("occurrence_id") is not None:
        occurrence, context = await _shift_context(event.data["occurrence_id"])
        community = occurrence.task.community
        context["wish"] = None
    elif event.data.get("wish_id") is not None:
        wish = await Wish.get(id=event.data["wish_id"]).select_related("community")
        community = wish.community
        context = {"wish": wish, "taken": event.data.get("wish_status") == "claimed"}
    else:
        return
    await planner.notify(
        event.occurred_at,
        person=await Person.get(id=event.data["person_id"]),
        community=community,
        event=event.name,
        entity_type="invitation",
        entity_id=event.entity_id,
        context=context,
    )


async def _tasks_invited(planner: Planner, hub: Hub, run: Sequence[PendingEvent]) -> None:
    """People invited to occurrences of tasks (``task.invited``): by staff or a team's
    leader, by an accepted roster plan, or by the community for a place freed by a decline
    or an expiry. Each hears of their shift, with the link and the time to answer.

    A run of invitations (a roster plan's, a shift's refill) is written in a few statements
    (``notify_groups``); one invitation, and anyone told through their grid worker, as
    any message (``Planner.notify``): the same rows either way, from the same context."""
    events = [pending.event for pending in run]
    shifts = await _shift_contexts({e.entity_id for e in events})
    recipients = await _recipients({e.data["person_id"] for e in events})
    inviter_ids = sorted({e.actor_id for e in events if e.actor_id is not None})
    inviters = {p.id: p for p in await Person.filter(id__in=inviter_ids)} if inviter_ids else {}
    bulk: dict[tuple[int, datetime], tuple[Community, dict[tuple, tuple[dict, list]]]] = {}
    for event in events:
        task, shift = shifts[event.entity_id]
        community = task.community
        inviter = inviters.get(event.actor_id) if event.actor_id is not None else None
        context = shift | {"inviter": inviter, **_answer_context(hub, event, community)}
        recipient, relayed = recipients[event.data["person_id"]]
        if len(events) == 1 or relayed:
            await planner.notify(
                event.occurred_at,
                person=await Person.get(id=recipient.id),
                community=community,
                event=event.name,
                entity_type="occurrence",
                entity_id=event.entity_id,
                context=context,
            )
            continue
        # What differs between a task's invitations goes in each message (rendered fast).
        own = {key: context.pop(key) for key in _OWN_VALUES}
        _, groups = bulk.setdefault((community.id, event.occurred_at), (community, {}))
        _, messages = groups.setdefault((task.id, event.actor_id), (context, []))
        messages.append(Message(recipient, event.entity_id, own))
    for (_, now), (community, groups) in bulk.items():
        await notify_groups(
            planner.templates,
            now,
            community=community,
            event="task.invited",
            entity_type="occurrence",
            groups=list(groups.values()),
        )


# The values of a shift invitation's message that are its own, not its task's.
_OWN_VALUES = ("start", "end", "answer_url", "answer_by")


async def _recipients(person_ids: set[int]) -> dict[int, tuple[Recipient, bool]]:
    """Each person as a message's recipient, and whether they are told through their grid
    worker (``Planner.notify`` relays those)."""
    found = {}
    for chunk in db.chunks(sorted(person_ids)):
        for p in await Person.filter(id__in=chunk).values(
            "id", "name", "locale", "reached_through_grid_worker", "grid_id"
        ):
            relayed = p["reached_through_grid_worker"] and p["grid_id"] is not None
            found[p["id"]] = (Recipient(p["id"], p["name"], p["locale"]), relayed)
    return found


async def _shift_dispatch_exhausted(planner: Planner, hub: Hub, pending: PendingEvent) -> None:
    """A shift's freed places found nobody left to invite (``dispatch.refill_shift``): the
    community's staff hear once, with how many places are free and a link to its roster."""
    event = pending.event
    occurrence, context = await _shift_context(event.entity_id)
    task: Task = occurrence.task
    link = hub.settings.public_url + roster.shift_path(task.id, occurrence.start)
    staff = await Person.filter(id__in=await _staff_ids(task.community_id), active=True)
    for person in sorted(staff, key=lambda p: p.id):
        await planner.notify(
            event.occurred_at,
            person=person,
            community=task.community,
            event=event.name,
            entity_type="occurrence",
            entity_id=occurrence.id,
            context=context | {"free": event.data.get("free", 1), "roster_url": link},
        )


async def _shift_context(occurrence_id: int) -> tuple[Occurrence, dict[str, Any]]:
    """An occurrence (with its task and community) and what its messages say of it."""
    occurrence = await Occurrence.get(id=occurrence_id).select_related("task", "task__community")
    return occurrence, _shift_words(occurrence.task, occurrence.start, occurrence.end)


async def _shift_contexts(ids: set[int]) -> dict[int, tuple[Task, dict[str, Any]]]:
    """``_shift_context`` for many occurrences: each one's task (with its community) and
    what its messages say of it, a query per many (the tasks read once each)."""
    rows = []
    for chunk in db.chunks(sorted(ids)):
        rows += await Occurrence.filter(id__in=chunk).values("id", "task_id", "start", "end")
    tasks = {}
    for chunk in db.chunks(sorted({r["task_id"] for r in rows})):
        tasks |= {t.id: t for t in await Task.filter(id__in=chunk).select_related("community")}
    return {
        r["id"]: (tasks[r["task_id"]], _shift_words(tasks[r["task_id"]], r["start"], r["end"]))
        for r in rows
    }


def _shift_words(task: Task, start: datetime, end: datetime) -> dict[str, Any]:
    """What a message says of a shift: the task, the local start and end (the end's date
    only when it is another day)."""
    zone = ZoneInfo(task.community.timezone)
    start, end = start.astimezone(zone), end.astimezone(zone)
    return {
        "task": task,
        "start": start.strftime("%Y-%m-%d %H:%M"),
        "end": end.strftime("%H:%M" if end.date() == start.date() else "%Y-%m-%d %H:%M"),
    }


async def _membership_decided(planner: Planner, hub: Hub, pending: PendingEvent) -> None:
    """Staff or a leader approved or refused a membership: the volunteer hears (and why)."""
    event = pending.event
    membership = await TeamMembership.get(id=event.entity_id).select_related(
        "person", "team", "team__community"
    )
    await planner.notify(
        event.occurred_at,
        person=membership.person,
        community=membership.team.community,
        event=event.name,
        entity_type="team_membership",
        entity_id=membership.id,
        context={"team": membership.team, "reason": event.data.get("reason")},
    )


async def _party_report_decided(planner: Planner, hub: Hub, pending: PendingEvent) -> None:
    """Staff accepted or refused a party report: the reporter hears (and why)."""
    event = pending.event
    report = await PartyReport.get(id=event.entity_id).select_related("person", "community")
    await planner.notify(
        event.occurred_at,
        person=report.person,
        community=report.community,
        event=event.name,
        entity_type="party_report",
        entity_id=report.id,
        context={"report": report, "reason": event.data.get("reason")},
    )


def _kind_name(hub: Hub, kind: str, locale: str) -> str:
    found = hub.qualification_kinds().get(kind)
    return localize(found.name, locale) if found else kind


async def _qualification_decided(planner: Planner, hub: Hub, pending: PendingEvent) -> None:
    """Staff or a leader verified or refused a qualification declared later (a renewal):
    the holder hears (and why). One verified with its membership is told by that approval."""
    event = pending.event
    if event.data.get("with_membership"):
        return
    person = await Person.get(id=event.data["person_id"])
    await planner.notify(
        event.occurred_at,
        person=person,
        community=await Community.get(id=event.community_id),
        event=event.name,
        entity_type="qualification",
        entity_id=event.entity_id,
        context={
            "kind_name": _kind_name(hub, event.data["kind"], person.locale),
            "expires_on": event.data.get("expires_on"),
            "reason": event.data.get("reason"),
        },
    )


async def _qualification_expiring(planner: Planner, hub: Hub, pending: PendingEvent) -> None:
    """A qualification ends within 30 days: the holder and the community's staff hear, each
    once per qualification and expiry date (the dedupe keys)."""
    event = pending.event
    q = await Qualification.get(id=event.entity_id).select_related("person", "membership__team")
    community = await Community.get(id=event.community_id)
    staff_ids = await _staff_ids(community.id)
    staff = await Person.filter(id__in=list(set(staff_ids) - {q.person_id}), active=True)
    expires_on = event.data["expires_on"]
    for person in [q.person, *sorted(staff, key=lambda p: p.id)]:
        await planner.notify(
            event.occurred_at,
            person=person,
            community=community,
            event=event.name,
            entity_type="qualification",
            entity_id=q.id,
            context={
                "for_staff": person.id != q.person_id,
                "holder": q.person,
                "kind_name": _kind_name(hub, q.kind, person.locale),
                "expires_on": expires_on,
                "days_left": event.data["days_left"],
                "team_name": q.membership.team.name if q.membership else None,
            },
            dedupe_key=f"{event.name}:{q.id}:{expires_on}:{person.id}",
        )


async def _code_message(planner: Planner, hub: Hub, pending: PendingEvent) -> None:
    """A new code for an address (the event's secret): to that address alone. An earlier
    code's message, if not sent yet, is not sent: one code works at a time."""
    code = pending.secret.get(channels.CODE_SECRET)
    if code is None:  # the address was only turned on or off
        return
    event = pending.event
    address = await PersonChannel.get(id=event.entity_id).select_related("person")
    await _forget_codes(address.id)
    community = await Community.get(id=event.community_id)
    config = await ChannelConfig.get_or_none(
        community_id=community.id, code=address.code, enabled=True
    )
    if config is None:  # turned off by staff meanwhile: the person asks again later
        return
    await planner.notify_code(
        event.occurred_at,
        person=address.person,
        community=community,
        config=config,
        address=address,
        context={"code": code, "minutes": int(channels.CODE_TTL.total_seconds() // 60)},
    )


async def _test_message(planner: Planner, hub: Hub, pending: PendingEvent) -> None:
    """A test message, asked for on the channels page: to that address alone, at once."""
    event = pending.event
    address = await PersonChannel.get(id=event.entity_id).select_related("person")
    community = await Community.get(id=event.community_id)
    config = await ChannelConfig.get_or_none(
        community_id=community.id, code=address.code, enabled=True
    )
    if config is None:
        return
    await planner.notify_address(
        event.occurred_at,
        person=address.person,
        community=community,
        config=config,
        address=address,
        event=event.name,
        context={"channel": config.name},
    )


async def _address_confirmed(planner: Planner, hub: Hub, pending: PendingEvent) -> None:
    await _forget_codes(pending.event.entity_id)


async def _forget_codes(address_id: int) -> None:
    """Delete the code messages of an address (and their deliveries): no code stays readable."""
    await Notification.filter(
        event=CODE_EVENT, entity_type="person_channel", entity_id=address_id
    ).delete()


async def _callout(planner: Planner, hub: Hub, pending: PendingEvent) -> None:
    """An emergency call-out: one urgent message to each recipient, with their own
    acknowledgement link (the tokens are the event's secret), in a few statements."""
    event = pending.event
    tokens: dict[int, str] = pending.secret[callouts.ACK_TOKENS]
    callout = await CallOut.get(id=event.entity_id).select_related("community")
    rows = await db.fetch(
        "SELECT p.id, p.name, p.locale FROM callout_recipient r"
        " JOIN person p ON p.id = r.person_id WHERE r.callout_id = ? ORDER BY p.id",
        callout.id,
    )
    await notify_many(
        planner.templates,
        event.occurred_at,
        recipients=[Recipient(id=r["id"], name=r["name"], locale=r["locale"]) for r in rows],
        community=callout.community,
        event=event.name,
        entity_type=event.entity_type,
        entity_id=callout.id,
        context={"callout": callout},
        personal=lambda r: {"ack_url": callouts.ack_url(hub, tokens[r.id])},
        priority=NotificationPriority.URGENT,
    )


async def _emergency_ended(planner: Planner, hub: Hub, pending: PendingEvent) -> None:
    """Emergency mode is over: everyone its call-out called is told to stand down (urgent:
    some may be on their way), with the note staff left."""
    event = pending.event
    callout_id = event.data.get("callout_id")
    if callout_id is None:
        return
    community = await Community.get(id=event.entity_id)
    rows = await db.fetch(
        "SELECT p.id, p.name, p.locale FROM callout_recipient r"
        " JOIN person p ON p.id = r.person_id WHERE r.callout_id = ? ORDER BY p.id",
        callout_id,
    )
    await notify_many(
        planner.templates,
        event.occurred_at,
        recipients=[Recipient(id=r["id"], name=r["name"], locale=r["locale"]) for r in rows],
        community=community,
        event=event.name,
        entity_type=event.entity_type,
        entity_id=community.id,
        context={"reason": event.data.get("reason") or "", "note": event.data.get("note")},
        priority=NotificationPriority.URGENT,
    )


async def _wish_referred(planner: Planner, hub: Hub, pending: PendingEvent) -> None:
    """吹哨: a responsible contact hears of a wish at their level, with their own link
    (the event's secret), through their channel, in their language: the wish's title,
    category, grid, age and level, never the resident's personal data. Urgent (quiet hours
    or not) when the wish is red or marked urgent. A channel turned off meanwhile sends
    nothing (staff see the referral unacknowledged). ``wish.referral_renewed``: the same
    with a new link, as a reminder (its own template)."""
    token = pending.secret.get(referrals.TOKEN_SECRET)
    if token is None:
        return
    event = pending.event
    referral = await Referral.get(id=event.data["referral_id"]).select_related(
        "contact", "wish", "wish__community", "wish__grid"
    )
    wish = referral.wish
    community = wish.community
    config = await ChannelConfig.get_or_none(
        community_id=community.id, code=referral.contact.channel_code, enabled=True
    )
    if config is None:
        return
    category = hub.wish_categories(community.id).get(wish.category)
    locale = referral.contact.locale
    urgent = wish.urgent or referral.level is Escalation.RED
    await planner.notify_contact(
        event.occurred_at,
        community=community,
        config=config,
        address=referral.contact.address,
        event=event.name,
        entity_type="referral",
        entity_id=referral.id,
        context={
            "contact": referral.contact,
            "wish": wish,
            "category": localize(category.name, locale) if category else wish.category,
            "grid": wish.grid,
            "age": referrals.age_in_words(event.occurred_at - wish.created_at, locale),
            "level_name": referrals.level_name(referral.level, locale),
            "link": referrals.link(hub, token),
            "acknowledged": referral.acknowledged_at is not None,  # a reminder says so
        },
        priority=NotificationPriority.URGENT if urgent else NotificationPriority.NORMAL,
        locale=locale,
    )


async def _wish_resolved(planner: Planner, hub: Hub, pending: PendingEvent) -> None:
    """A responsible contact closed a referred wish as resolved: the resident (and whoever
    posted it for them) hears who resolved it and their note, and is asked to confirm."""
    event = pending.event
    wish = await Wish.get(id=event.entity_id).select_related(
        "community", "resident", "claimer", "resolved_by"
    )
    for person, template in await _wish_recipients(wish, event.name):
        await planner.notify(
            event.occurred_at,
            person=person,
            community=wish.community,
            event=event.name,
            entity_type="wish",
            entity_id=wish.id,
            context={**_wish_context(wish, person.locale), "resolver": wish.resolved_by},
            template=template,
            not_relayed_to=(wish.posted_by_id,),
        )


async def _wish_handed_back(planner: Planner, hub: Hub, pending: PendingEvent) -> None:
    """A volunteer gave a claimed wish back (``wish.handed_back``), or did not serve it in
    time (``wish.no_show``, each with its own templates): the resident (and whoever posted
    it for them) and the community's staff hear that it is open again, and whether it was
    offered to another volunteer (an invitation recorded in the same change)."""
    event = pending.event
    wish = await Wish.get(id=event.entity_id).select_related("community", "resident")
    volunteer = await Person.get(id=event.data["volunteer_id"])
    # This change's own audit entries: the hand-back, and an invitation recorded after it.
    trail = AuditEntry.filter(entity_type="wish", entity_id=wish.id)
    handed = await trail.filter(action=event.name).order_by("-id").first()
    offered = (
        handed is not None and await trail.filter(action="wish.invited", id__gt=handed.id).exists()
    )
    recipients = {wish.resident_id: wish.resident}
    if wish.posted_by_id not in recipients:
        recipients[wish.posted_by_id] = await Person.get(id=wish.posted_by_id)
    staff_ids = await _staff_ids(wish.community_id)
    for person in await Person.filter(id__in=sorted(set(staff_ids) - set(recipients))):
        recipients[person.id] = person
    for person in recipients.values():
        await planner.notify(
            event.occurred_at,
            person=person,
            community=wish.community,
            event=event.name,
            entity_type="wish",
            entity_id=wish.id,
            context={
                "wish": wish,
                "volunteer": volunteer,
                "reason": event.data.get("reason"),
                "offered": offered,
            },
        )


async def _no_show_excused(planner: Planner, hub: Hub, pending: PendingEvent) -> None:
    """Staff (or the team's leader) excused a no-show: the volunteer hears that it does not
    count, and the reason staff accepted."""
    event = pending.event
    row = await NoShow.get(id=event.entity_id).select_related(
        "person", "community", "signup__occurrence__task", "wish"
    )
    zone = ZoneInfo(row.community.timezone)
    if row.signup_id is not None:
        title = row.signup.occurrence.task.title
        when = row.signup.occurrence.start.astimezone(zone)
    else:
        title, when = row.wish.title, row.occurred_at.astimezone(zone)
    await planner.notify(
        event.occurred_at,
        person=row.person,
        community=row.community,
        event=event.name,
        entity_type="no_show",
        entity_id=row.id,
        context={"title": title, "when": when.strftime("%Y-%m-%d %H:%M"), "note": row.note},
    )


async def _reset_code_message(planner: Planner, hub: Hub, pending: PendingEvent) -> None:
    """A code to set a new password, which the person asked for (the event's secret): to
    their confirmed addresses, at once, and not in the inbox. A code staff issued has no
    secret here: staff hand it over themselves."""
    code = pending.secret.get(auth.RESET_CODE_SECRET)
    if code is None:
        return
    event = pending.event
    person = await Person.get(id=event.entity_id)
    await _forget_reset_codes(person.id)  # one code works at a time
    await planner.notify(
        event.occurred_at,
        person=person,
        community=await Community.get(id=event.community_id),
        event=RESET_CODE_EVENT,
        entity_type="person",
        entity_id=person.id,
        context={"code": code, "minutes": int(auth.RESET_CODE_TTL.total_seconds() // 60)},
        priority=NotificationPriority.URGENT,
    )


async def _password_reset(planner: Planner, hub: Hub, pending: PendingEvent) -> None:
    """A password was set anew with a code: the code's messages go (nothing stays
    readable), and the person is told, in case it was not them."""
    event = pending.event
    await _forget_reset_codes(event.entity_id)
    person = await Person.get(id=event.entity_id)
    if event.community_id is None:
        return
    await planner.notify(
        event.occurred_at,
        person=person,
        community=await Community.get(id=event.community_id),
        event=event.name,
        entity_type="person",
        entity_id=person.id,
        context={},
        priority=NotificationPriority.URGENT,
    )


async def _forget_reset_codes(person_id: int) -> None:
    await Notification.filter(
        event=RESET_CODE_EVENT, entity_type="person", entity_id=person_id
    ).delete()


async def _staff_ids(community_id: int) -> list[int]:
    """The people who hold the staff role in a community (each once)."""
    ids = await RoleAssignment.filter(community_id=community_id, role=Role.STAFF).values_list(
        "person_id", flat=True
    )
    return sorted(set(ids))


async def _inviter(event: DomainEvent) -> Person | None:
    return await Person.get_or_none(id=event.actor_id) if event.actor_id else None


# Plans that take a run of consecutive events of one name at once (``subscribe_batch``).
BATCH_PLANS: dict[str, BatchPlan] = {
    "task.invited": _tasks_invited,
}

PLANS: dict[str, Plan] = {
    "wish.approved": _wish_to_resident,
    "wish.rejected": _wish_to_resident,
    "wish.claimed": _wish_to_resident,
    "wish.fulfilled": _wish_to_resident,
    "wish.expired": _wish_to_resident,
    "wish.escalated": _wish_escalated,
    "wish.handed_back": _wish_handed_back,
    "wish.referred": _wish_referred,
    "wish.referral_renewed": _wish_referred,  # its reminder template, the same context
    "wish.resolved": _wish_resolved,
    "wish.no_show": _wish_handed_back,
    "no_show.excused": _no_show_excused,
    "person.reset_code_issued": _reset_code_message,
    "person.password_reset": _password_reset,
    "signup.confirmed": _signup,
    "signup.waitlisted": _signup,
    "signup.promoted": _signup,
    "signup.cancelled": _signup_cancelled,
    "occurrence.messaged": _shift_messaged,
    "task.updated": _task_updated,
    "wish.invited": _wish_invited,
    "occurrence.dispatch_exhausted": _shift_dispatch_exhausted,
    "invitation.withdrawn": _invitation_withdrawn,
    "team.membership_approved": _membership_decided,
    "team.membership_refused": _membership_decided,
    "qualification.verified": _qualification_decided,
    "qualification.refused": _qualification_decided,
    "qualification.expiring": _qualification_expiring,
    "party_report.accepted": _party_report_decided,
    "party_report.refused": _party_report_decided,
    "person.channel_set": _code_message,
    "person.channel_code_sent": _code_message,
    "person.channel_confirmed": _address_confirmed,
    "person.channel_tested": _test_message,
    callouts.EVENT: _callout,
    "community.emergency_ended": _emergency_ended,
}
