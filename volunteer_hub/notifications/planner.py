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
from collections.abc import Awaitable, Callable
from datetime import datetime
from functools import partial
from typing import Any
from zoneinfo import ZoneInfo

from volunteer_hub import db
from volunteer_hub.events import EventDispatch, PendingEvent
from volunteer_hub.hooktypes import DomainEvent
from volunteer_hub.hub import Hub
from volunteer_hub.i18n import localize
from volunteer_hub.models import (
    CallOut,
    ChannelConfig,
    Community,
    Delivery,
    Escalation,
    Notification,
    NotificationPriority,
    Occurrence,
    PartyReport,
    Person,
    PersonChannel,
    Role,
    RoleAssignment,
    Signup,
    SignupStatus,
    Task,
    TeamMembership,
    Wish,
)
from volunteer_hub.notifications.bulk import Recipient, notify_many
from volunteer_hub.notifications.quiet_hours import after_quiet_hours
from volunteer_hub.notifications.render import Templates
from volunteer_hub.services import callouts, channels

__all__ = ["CODE_EVENT", "PLANS", "Planner", "after_quiet_hours"]

_LEVEL_NAMES = {
    Escalation.BLUE: {"zh-CN": "蓝牌", "en": "blue"},
    Escalation.YELLOW: {"zh-CN": "黄牌", "en": "yellow"},
    Escalation.RED: {"zh-CN": "红牌", "en": "red"},
}

CODE_EVENT = "channel.code"  # the one message an unconfirmed address receives


class Planner:
    """Writes notifications (the inbox) and their deliveries (the outbox), in the
    caller's transaction, rendered with its own templates."""

    def __init__(self, templates: Templates | None = None) -> None:
        self.templates = templates or Templates()

    def subscribe(self, events: EventDispatch[Hub]) -> None:
        """Plan the notifications of every event that has a plan (``PLANS``)."""
        for name, plan in PLANS.items():
            events.subscribe(name, partial(plan, self))

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
    ) -> Notification:
        """Write one notification (the inbox entry) and its outbox deliveries, now.

        Deliveries go to the person's confirmed addresses only (an unconfirmed one may be
        someone else's).
        """
        notification = await self._notification(
            now, person, community, event, entity_type, entity_id, context, priority, dedupe_key
        )
        start = not_before or now
        if priority is NotificationPriority.NORMAL:
            start = after_quiet_hours(start, community)
        chosen = {
            pc.code: pc
            for pc in await PersonChannel.filter(
                person_id=person.id, enabled=True, confirmed_at__isnull=False
            )
        }
        if chosen:
            configs = await ChannelConfig.filter(
                community_id=community.id, enabled=True, code__in=list(chosen)
            )
            for config in configs:
                await _deliver(notification, config, chosen[config.code].address, start, now)
        return notification

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
    ) -> Notification:
        rendered = self.templates.render(
            event, person.locale, {**context, "person": person, "community": community}
        )
        return await Notification.create(
            person_id=person.id,
            community_id=community.id,
            event=event,
            entity_type=entity_type,
            entity_id=entity_id,
            priority=priority,
            locale=person.locale,
            subject=rendered.subject,
            body=rendered.body,
            html=rendered.html,
            dedupe_key=dedupe_key,
            created_at=now,
        )


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


async def _wish_to_resident(planner: Planner, hub: Hub, pending: PendingEvent) -> None:
    event = pending.event
    wish = await Wish.get(id=event.entity_id).select_related("community", "resident", "claimer")
    recipients = [wish.resident]
    if wish.posted_by_id != wish.resident_id:  # the grid worker who posts for someone hears too
        recipients.append(await Person.get(id=wish.posted_by_id))
    for person in recipients:
        await planner.notify(
            event.occurred_at,
            person=person,
            community=wish.community,
            event=event.name,
            entity_type="wish",
            entity_id=wish.id,
            context={"wish": wish, "claimer": wish.claimer},
        )


async def _wish_escalated(planner: Planner, hub: Hub, pending: PendingEvent) -> None:
    event = pending.event
    wish = await Wish.get(id=event.entity_id).select_related("community")
    staff_ids = await RoleAssignment.filter(
        community_id=wish.community_id, role=Role.STAFF
    ).values_list("person_id", flat=True)
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
    """Staff invite a volunteer to claim a wish: what, when, where, never the resident's contact."""
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
        },
    )


async def _task_invited(planner: Planner, hub: Hub, pending: PendingEvent) -> None:
    """Staff or a team leader invite a person to one occurrence of a task."""
    event = pending.event
    occurrence = await Occurrence.get(id=event.entity_id).select_related("task", "task__community")
    task: Task = occurrence.task
    zone = ZoneInfo(task.community.timezone)
    start, end = occurrence.start.astimezone(zone), occurrence.end.astimezone(zone)
    await planner.notify(
        event.occurred_at,
        person=await Person.get(id=event.data["person_id"]),
        community=task.community,
        event=event.name,
        entity_type="occurrence",
        entity_id=occurrence.id,
        context={
            "task": task,
            "inviter": await _inviter(event),
            "start": start.strftime("%Y-%m-%d %H:%M"),
            "end": end.strftime("%H:%M" if end.date() == start.date() else "%Y-%m-%d %H:%M"),
        },
    )


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


async def _inviter(event: DomainEvent) -> Person | None:
    return await Person.get_or_none(id=event.actor_id) if event.actor_id else None


PLANS: dict[str, Plan] = {
    "wish.approved": _wish_to_resident,
    "wish.rejected": _wish_to_resident,
    "wish.claimed": _wish_to_resident,
    "wish.fulfilled": _wish_to_resident,
    "wish.escalated": _wish_escalated,
    "signup.confirmed": _signup,
    "signup.waitlisted": _signup,
    "signup.promoted": _signup,
    "signup.cancelled": _signup_cancelled,
    "occurrence.messaged": _shift_messaged,
    "task.updated": _task_updated,
    "wish.invited": _wish_invited,
    "task.invited": _task_invited,
    "team.membership_approved": _membership_decided,
    "team.membership_refused": _membership_decided,
    "party_report.accepted": _party_report_decided,
    "party_report.refused": _party_report_decided,
    "person.channel_set": _code_message,
    "person.channel_code_sent": _code_message,
    "person.channel_confirmed": _address_confirmed,
    callouts.EVENT: _callout,
}
