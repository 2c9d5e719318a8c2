"""The outbox queue: claim due deliveries under a lease, then record what happened.

A claim is a lease: a worker that dies mid-batch leaves its deliveries ``sending``
until the lease runs out, then another worker claims them again and resends them with
the same idempotency key, which the sink uses to drop the repeat. On PostgreSQL many
workers share the queue with ``SELECT … FOR UPDATE SKIP LOCKED``; on SQLite the claim
is one UPDATE statement, atomic under the database's write lock.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from tortoise.expressions import F, Q, Subquery

from volunteer_hub import db
from volunteer_hub.errors import Conflict, NotFound, PermissionDenied
from volunteer_hub.hub import Hub
from volunteer_hub.models import Delivery, DeliveryStatus
from volunteer_hub.notifications.planner import CODE_EVENT
from volunteer_hub.services.access import Actor
from volunteer_hub.services.people import get_community
from volunteer_hub.services.uow import unit_of_work

MAX_ATTEMPTS = 6
BACKOFF_BASE = timedelta(seconds=30)
BACKOFF_CAP = timedelta(hours=1)
LEASE = timedelta(minutes=2)


def backoff(attempts: int) -> timedelta:
    """30 s, 1 min, 2 min, 4 min … up to an hour, after the n-th failed attempt."""
    return min(BACKOFF_CAP, BACKOFF_BASE * (2 ** max(0, attempts - 1)))


@dataclass(frozen=True, slots=True)
class ClaimedChannel:
    """What sending needs of a ChannelConfig."""

    id: int
    code: str
    secret: str


@dataclass(frozen=True, slots=True)
class ClaimedNotification:
    """What sending needs of a Notification."""

    id: int
    person_id: int | None  # None: to a responsible contact (no account, no inbox)
    event: str
    entity_id: int
    locale: str
    subject: str
    body: str
    html: str | None


@dataclass(frozen=True, slots=True)
class ClaimedDelivery:
    """A leased delivery with its notification and channel: plain values, not ORM models
    (building 500 models, with their datetimes parsed, cost a worker more than sending)."""

    id: int
    address: str
    idempotency_key: str
    attempts: int  # counting the attempt this claim makes
    notification: ClaimedNotification
    channel: ClaimedChannel
    # Whether the address is still the person's confirmed one for the channel (for a
    # code: still the one waiting for it). A changed or unconfirmed address gets nothing.
    # A message to a responsible contact goes to the address staff set for the contact.
    addressable: bool = True


@dataclass(frozen=True)
class Claim:
    token: str
    deliveries: list[ClaimedDelivery]


def _due(now: datetime) -> Q:
    return Q(status=DeliveryStatus.PENDING, not_before__lte=now) | Q(
        status=DeliveryStatus.SENDING, lease_until__lt=now
    )


async def claim(hub: Hub, *, limit: int = 200, lease: timedelta = LEASE) -> Claim:
    """Lease up to ``limit`` due deliveries to this worker (oldest first)."""
    now = hub.now()
    token = secrets.token_hex(16)
    changes = {
        "status": DeliveryStatus.SENDING,
        "lease_token": token,
        "lease_until": now + lease,
        "attempts": F("attempts") + 1,
    }
    if hub.settings.is_sqlite:
        due_ids = Delivery.filter(_due(now)).order_by("id").limit(limit).values("id")
        await Delivery.filter(_due(now), id__in=Subquery(due_ids)).update(**changes)
    else:
        # One statement that locks the rows it picks. (Tortoise 1.1 drops FOR UPDATE from
        # ``select_for_update().values_list()``: with it, two workers claimed, and sent,
        # the same deliveries.)
        await db.execute(
            "UPDATE delivery SET status = ?, lease_token = ?, lease_until = ?,"
            " attempts = attempts + 1 WHERE id IN (SELECT id FROM delivery WHERE"
            " (status = ? AND not_before <= ?) OR (status = ? AND lease_until < ?)"
            " ORDER BY id LIMIT ? FOR UPDATE SKIP LOCKED)",
            DeliveryStatus.SENDING.value,
            token,
            now + lease,
            DeliveryStatus.PENDING.value,
            now,
            DeliveryStatus.SENDING.value,
            now,
            limit,
        )
    rows = await db.fetch(
        "SELECT d.id, d.address, d.idempotency_key, d.attempts, d.channel_id,"
        " n.id AS n_id, n.person_id, n.event, n.entity_id, n.locale, n.subject, n.body, n.html,"
        " c.code, c.secret, pc.address AS pc_address, pc.confirmed_at AS pc_confirmed_at"
        " FROM delivery d JOIN notification n ON n.id = d.notification_id"
        " JOIN channel_config c ON c.id = d.channel_id"
        " LEFT JOIN person_channel pc ON pc.person_id = n.person_id AND pc.code = c.code"
        " WHERE d.lease_token = ? AND d.status = ? ORDER BY d.id",
        token,
        DeliveryStatus.SENDING.value,
    )
    channels: dict[int, ClaimedChannel] = {}
    deliveries = []
    for r in rows:
        channel = channels.get(r["channel_id"])
        if channel is None:
            channel = channels[r["channel_id"]] = ClaimedChannel(
                r["channel_id"], r["code"], r["secret"]
            )
        notification = ClaimedNotification(
            r["n_id"],
            r["person_id"],
            r["event"],
            r["entity_id"],
            r["locale"],
            r["subject"],
            r["body"],
            r["html"],
        )
        confirmed = r["pc_confirmed_at"] is not None
        to_contact = r["person_id"] is None
        deliveries.append(
            ClaimedDelivery(
                r["id"],
                r["address"],
                r["idempotency_key"],
                r["attempts"],
                notification,
                channel,
                to_contact
                or (r["pc_address"] == r["address"] and confirmed != (r["event"] == CODE_EVENT)),
            )
        )
    return Claim(token, deliveries)


async def sent(hub: Hub, claim: Claim, delivery: ClaimedDelivery) -> bool:
    """Record a success; False if the lease was lost meanwhile (someone else owns it now)."""
    return bool(
        await Delivery.filter(
            id=delivery.id, lease_token=claim.token, status=DeliveryStatus.SENDING
        ).update(status=DeliveryStatus.SENT, sent_at=hub.now(), lease_until=None, last_error=None)
    )


async def sent_many(hub: Hub, claim: Claim, ids: list[int]) -> int:
    """Record many successes in one statement; those whose lease was lost are left alone.

    Hand-written: the worker runs it for every few messages (its group commit), and
    Tortoise's query building cost twice the statement's own CPU time.
    """
    marks = ", ".join("?" * len(ids))
    return await db.execute(
        "UPDATE delivery SET status = ?, sent_at = ?, lease_until = NULL, last_error = NULL"
        f" WHERE lease_token = ? AND status = ? AND id IN ({marks})",
        DeliveryStatus.SENT.value,
        hub.now(),
        claim.token,
        DeliveryStatus.SENDING.value,
        *ids,
    )


async def failed(
    hub: Hub, claim: Claim, delivery: ClaimedDelivery, error: str, *, final: bool = False
) -> None:
    """Record a failure: try again after a backoff, or give up (dead letter)."""
    now = hub.now()
    dead = final or delivery.attempts >= MAX_ATTEMPTS
    await Delivery.filter(
        id=delivery.id, lease_token=claim.token, status=DeliveryStatus.SENDING
    ).update(
        status=DeliveryStatus.DEAD if dead else DeliveryStatus.PENDING,
        not_before=now if dead else now + backoff(delivery.attempts),
        lease_until=None,
        last_error=error[:2000],
    )


# --- staff: the dead letters -----------------------------------------------------------


async def dead_letters(actor: Actor, community_id: int, *, limit: int = 100) -> list[Delivery]:
    await get_community(community_id)
    if not actor.is_staff(community_id):
        raise PermissionDenied("Only staff of this community can do this.")
    return (
        await Delivery.filter(status=DeliveryStatus.DEAD, notification__community_id=community_id)
        .order_by("-id")
        .limit(limit)
        .select_related("notification", "channel")
    )


async def retry(hub: Hub, actor: Actor, delivery_id: int) -> Delivery:
    """Staff send a dead letter again (after fixing the channel), from zero attempts."""
    delivery = await Delivery.get_or_none(id=delivery_id).select_related("notification")
    if delivery is None or not actor.is_staff(delivery.notification.community_id or -1):
        raise NotFound("No such delivery.", code="delivery_not_found")
    async with unit_of_work(hub, actor.id) as uow:
        await uow.move(
            delivery,
            DeliveryStatus.DEAD,
            DeliveryStatus.PENDING,
            Conflict("Only a dead delivery can be retried.", code="invalid_state"),
            attempts=0,
            not_before=uow.now,
            lease_token=None,
        )
        await uow.record(
            "delivery.retried",
            delivery,
            community_id=delivery.notification.community_id,
            before={"status": "dead"},
            after={"status": "pending"},
        )
    await delivery.refresh_from_db()
    return delivery
