"""The in-app inbox: every notification lands here, whatever the channels (but the codes
that confirm an address)."""

from __future__ import annotations

from volunteer_hub.db import read, table_name
from volunteer_hub.errors import NotFound
from volunteer_hub.hub import Hub
from volunteer_hub.models import Notification
from volunteer_hub.notifications.planner import CODE_EVENT, RESET_CODE_EVENT
from volunteer_hub.services.access import Actor


async def list_inbox(
    actor: Actor, *, before_id: int | None = None, limit: int = 50, unread: bool = False
) -> list[Notification]:
    """The actor's notifications, newest first, older than ``before_id``."""
    # Not the codes that confirm an address (whoever typed the address would read them),
    # nor those that set a new password (a session is no proof of owning the address).
    query = Notification.filter(person_id=actor.id).exclude(
        event__in=(CODE_EVENT, RESET_CODE_EVENT)
    )
    if before_id is not None:
        query = query.filter(id__lt=before_id)
    if unread:
        query = query.filter(read_at__isnull=True)
    return await query.order_by("-id").limit(limit)


async def mark_read(hub: Hub, actor: Actor, notification_id: int) -> None:
    updated = await Notification.filter(
        id=notification_id, person_id=actor.id, read_at__isnull=True
    ).update(read_at=hub.now())
    if not updated and not await Notification.exists(id=notification_id, person_id=actor.id):
        raise NotFound("No such notification.", code="notification_not_found")


async def mark_all_read(hub: Hub, actor: Actor) -> int:
    """Mark every unread notification of the actor read; how many were."""
    return await Notification.filter(person_id=actor.id, read_at__isnull=True).update(
        read_at=hub.now()
    )


# One indexed COUNT (the notification index starts with person_id), on every page the
# person sees: the unread number in the header. Codes are not counted, as they are not shown.
UNREAD_SQL = (
    f"SELECT COUNT(*) FROM {table_name(Notification)}"
    " WHERE person_id = ? AND read_at IS NULL AND event <> ?"
)


async def unread_count(person_id: int) -> int:
    """How many notifications the person has not read (the header's number)."""
    rows = await read(UNREAD_SQL, person_id, CODE_EVENT)
    return int(rows[0][0]) if rows else 0
