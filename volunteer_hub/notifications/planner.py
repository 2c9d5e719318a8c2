"""Who hears of what: turn domain events into notifications and outbox rows.

Runs inside the transaction of the change (``unit_of_work``), so a notification exists
exactly when its change does. Deliveries wait out the community's quiet hours, unless
urgent (a red escalation, an emergency).
"""

from __future__ import annotations

import secrets
from collections.abc import Awaitable, Callable
from datetime import datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from volunteer_hub.clock import as_utc
from volunteer_hub.hooktypes import DomainEvent
from volunteer_hub.hub import Hub
from volunteer_hub.i18n import localize
from volunteer_hub.models import (
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
    Task,
    TeamMembership,
    Wish,
)

_LEVEL_NAMES = {
    Escalation.BLUE: {"zh-CN": "蓝牌", "en": "blue"},
    Escalation.YELLOW: {"zh-CN": "黄牌", "en": "yellow"},
    Escalation.RED: {"zh-CN": "红牌", "en": "red"},
}

CODE_EVENT = "channel.code"  # the one message an unconfirmed address receives


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


async def notify(
    hub: Hub,
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
    notification = await _notification(
        hub, now, person, community, event, entity_type, entity_id, context, priority, dedupe_key
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
    hub: Hub,
    now: datetime,
    *,
    person: Person,
    community: Community,
    config: ChannelConfig,
    address: PersonChannel,
    context: dict[str, Any],
) -> Notification:
    """The message with the code that confirms ``address``: to that address alone, at once
    (quiet hours or not), and not in the inbox (where whoever typed the address would
    read the code)."""
    notification = await _notification(
        hub,
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


async def _notification(
    hub: Hub,
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
    rendered = hub.templates.render(
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

Plan = Callable[[Hub, DomainEvent], Awaitable[None]]


async def _wish_to_resident(hub: Hub, event: DomainEvent) -> None:
    wish = await Wish.get(id=event.entity_id).select_related("community", "resident", "claimer")
    recipients = [wish.resident]
    if wish.posted_by_id != wish.resident_id:  # the grid worker who posts for someone hears too
        recipients.append(await Person.get(id=wish.posted_by_id))
    for person in recipients:
        await notify(
            hub,
            event.occurred_at,
            person=person,
            community=wish.community,
            event=event.name,
            entity_type="wish",
            entity_id=wish.id,
            context={"wish": wish, "claimer": wish.claimer},
        )


async def _wish_escalated(hub: Hub, event: DomainEvent) -> None:
    wish = await Wish.get(id=event.entity_id).select_related("community")
    staff_ids = await RoleAssignment.filter(
        community_id=wish.community_id, role=Role.STAFF
    ).values_list("person_id", flat=True)
    urgent = wish.escalation is Escalation.RED
    for person in await Person.filter(id__in=list(set(staff_ids))):
        await notify(
            hub,
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


async def _signup(hub: Hub, event: DomainEvent) -> None:
    await notify_signup(hub, event.occurred_at, await _load_signup(event.entity_id), event.name)


async def notify_signup(
    hub: Hub, now: datetime, signup: Signup, event: str, **kw: Any
) -> Notification:
    task: Task = signup.occurrence.task
    community = task.community
    start = signup.occurrence.start.astimezone(ZoneInfo(community.timezone))
    return await notify(
        hub,
        now,
        person=signup.person,
        community=community,
        event=event,
        entity_type="signup",
        entity_id=signup.id,
        context={"task": task, "start": start.strftime("%Y-%m-%d %H:%M")},
        **kw,
    )


async def _signup_cancelled(hub: Hub, event: DomainEvent) -> None:
    """A volunteer who cancels knows it; one whose shift staff cancelled must be told."""
    if event.data.get("reason") == "occurrence_cancelled":
        signup = await _load_signup(event.entity_id)
        await notify_signup(hub, event.occurred_at, signup, "occurrence.cancelled")


async def _wish_invited(hub: Hub, event: DomainEvent) -> None:
    """Staff invite a volunteer to claim a wish: what, when, where, never the resident's contact."""
    wish = await Wish.get(id=event.entity_id).select_related("community", "grid")
    person = await Person.get(id=event.data["person_id"])
    category = hub.wish_categories(wish.community_id).get(wish.category)
    await notify(
        hub,
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


async def _task_invited(hub: Hub, event: DomainEvent) -> None:
    """Staff or a team leader invite a person to one occurrence of a task."""
    occurrence = await Occurrence.get(id=event.entity_id).select_related("task", "task__community")
    task: Task = occurrence.task
    zone = ZoneInfo(task.community.timezone)
    start, end = occurrence.start.astimezone(zone), occurrence.end.astimezone(zone)
    await notify(
        hub,
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


async def _membership_decided(hub: Hub, event: DomainEvent) -> None:
    """Staff or a leader approved or refused a membership: the volunteer hears (and why)."""
    membership = await TeamMembership.get(id=event.entity_id).select_related(
        "person", "team", "team__community"
    )
    await notify(
        hub,
        event.occurred_at,
        person=membership.person,
        community=membership.team.community,
        event=event.name,
        entity_type="team_membership",
        entity_id=membership.id,
        context={"team": membership.team, "reason": event.data.get("reason")},
    )


async def _party_report_decided(hub: Hub, event: DomainEvent) -> None:
    """Staff accepted or refused a party report: the reporter hears (and why)."""
    report = await PartyReport.get(id=event.entity_id).select_related("person", "community")
    await notify(
        hub,
        event.occurred_at,
        person=report.person,
        community=report.community,
        event=event.name,
        entity_type="party_report",
        entity_id=report.id,
        context={"report": report, "reason": event.data.get("reason")},
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
    "wish.invited": _wish_invited,
    "task.invited": _task_invited,
    "team.membership_approved": _membership_decided,
    "team.membership_refused": _membership_decided,
    "party_report.accepted": _party_report_decided,
    "party_report.refused": _party_report_decided,
}


async def plan(hub: Hub, events: list[DomainEvent]) -> None:
    for event in events:
        handler = PLANS.get(event.name)
        if handler is not None:
            await handler(hub, event)
