"""Many notifications at once (an emergency call-out, an accepted roster plan's invitations):
a few statements, not one per person.

``Planner.notify`` writes one person's notification and its deliveries with an INSERT
each; for 10,000 people that is 20,000 round trips inside one transaction. This writes
the same rows with multi-row INSERTs: the notifications (reading their ids back with
``RETURNING``), then every delivery. It runs inside the caller's transaction, like
``Planner.notify``, and writes exactly what ``Planner.notify`` would, but relays nothing to
a grid worker (a caller sends the messages of people told that way through
``Planner.notify``).
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from markupsafe import escape

from volunteer_hub import db
from volunteer_hub.models import Community, DeliveryStatus, NotificationPriority
from volunteer_hub.notifications.render import Rendered, Templates
from volunteer_hub.services.quiet_hours import after_quiet_hours

_NOTIFICATION_COLUMNS = (
    "person_id",
    "community_id",
    "event",
    "entity_type",
    "entity_id",
    "priority",
    "locale",
    "subject",
    "body",
    "html",
    "dedupe_key",
    "created_at",
    "read_at",
)
_DELIVERY_COLUMNS = (
    "notification_id",
    "channel_id",
    "address",
    "idempotency_key",
    "status",
    "attempts",
    "not_before",
    "lease_token",
    "lease_until",
    "last_error",
    "sent_at",
    "created_at",
)


@dataclass(frozen=True)
class Recipient:
    """Who a message is for: what the templates may show of them (``person.name``)."""

    id: int
    name: str
    locale: str


@dataclass(frozen=True)
class BulkResult:
    notifications: int
    deliveries: int


@dataclass(frozen=True)
class Message:
    """One message for ``notify_groups``: to whom, about which row, and the template
    values that are its own (a link, a deadline: strings, so that it renders fast)."""

    recipient: Recipient
    entity_id: int
    personal: dict[str, Any]


async def notify_many(
    templates: Templates,
    now: datetime,
    *,
    recipients: Sequence[Recipient],
    community: Community,
    event: str,
    entity_type: str,
    entity_id: int,
    context: dict[str, Any],
    personal: Callable[[Recipient], dict[str, Any]] | None = None,
    priority: NotificationPriority = NotificationPriority.NORMAL,
) -> BulkResult:
    """One notification per recipient (distinct people), and its outbox deliveries, now.

    ``personal(recipient)`` adds what differs per person to the template context (a
    secret link). Quiet hours hold NORMAL messages back, as in ``Planner.notify``.
    """
    if len({r.id for r in recipients}) != len(recipients):
        raise ValueError("recipients must be distinct people")
    messages = [
        Message(r, entity_id, personal(r) if personal is not None else {}) for r in recipients
    ]
    return await notify_groups(
        templates,
        now,
        community=community,
        event=event,
        entity_type=entity_type,
        groups=[(context, messages)],
        priority=priority,
    )


async def notify_groups(
    templates: Templates,
    now: datetime,
    *,
    community: Community,
    event: str,
    entity_type: str,
    groups: Iterable[tuple[dict[str, Any], Sequence[Message]]],
    priority: NotificationPriority = NotificationPriority.NORMAL,
) -> BulkResult:
    """Notifications of one event about rows of one table (a roster plan's invitations to
    many shifts), and their outbox deliveries, now, in a few statements whatever their
    number. Each group's messages share its template ``context`` (rendered once per
    language); each message adds its own values. One message per person and row."""
    rows = []
    for context, messages in groups:
        render = _Renderer(templates, event, {**context, "community": community})
        for m in messages:
            rendered = render(m.recipient, m.personal)
            rows.append(
                (
                    m.recipient.id,
                    community.id,
                    event,
                    entity_type,
                    m.entity_id,
                    priority.value,
                    m.recipient.locale,
                    rendered.subject,
                    rendered.body,
                    rendered.html,
                    None,
                    now,
                    None,
                )
            )
    if len({(row[0], row[4]) for row in rows}) != len(rows):
        raise ValueError("one message per person and row")
    inserted = await db.insert_rows(
        "notification", _NOTIFICATION_COLUMNS, rows, returning=("id", "person_id")
    )
    notifications_of: dict[int, list[int]] = {}
    for row in sorted(inserted, key=lambda row: row["id"]):
        notifications_of.setdefault(row["person_id"], []).append(row["id"])

    start = now if priority is NotificationPriority.URGENT else after_quiet_hours(now, community)
    deliveries = []
    for chunk in db.chunks(notifications_of):
        addresses = await db.fetch(
            "SELECT pc.person_id, pc.address, cc.id AS channel_id"
            " FROM person_channel pc JOIN channel_config cc ON cc.code = pc.code"
            " WHERE cc.community_id = ? AND cc.enabled AND pc.enabled"
            " AND pc.confirmed_at IS NOT NULL"
            f" AND pc.person_id IN ({', '.join('?' * len(chunk))})"
            " ORDER BY pc.person_id, cc.id",
            community.id,
            *chunk,
        )
        for a in addresses:
            for notification_id in notifications_of[a["person_id"]]:
                deliveries.append(
                    (
                        notification_id,
                        a["channel_id"],
                        a["address"],
                        f"{notification_id}-{a['channel_id']}-{secrets.token_hex(8)}",
                        DeliveryStatus.PENDING.value,
                        0,
                        start,
                        None,
                        None,
                        None,
                        None,
                        now,
                    )
                )
    await db.insert_rows("delivery", _DELIVERY_COLUMNS, deliveries)
    return BulkResult(notifications=len(inserted), deliveries=len(deliveries))


class _Renderer:
    """Renders one event for many people: once per language, then each person's values.

    Rendering three templates per person is most of the cost of a large call-out. So the
    templates are rendered once per language with marks in place of the person's name and
    personal values (a link), and each person's message is the marks replaced (escaped in
    HTML, as the template would). The first person of each language is also rendered in
    full and compared: a template that does more with these values than print them (or
    uses other things of the person) is rendered in full for everyone.
    """

    def __init__(self, templates: Templates, event: str, context: dict[str, Any]) -> None:
        self.templates = templates
        self.event = event
        self.context = context
        self._marked: dict[str, Rendered | None] = {}

    def __call__(self, person: Recipient, extra: dict[str, Any]) -> Rendered:
        marked = self._marked.get(person.locale, _UNSEEN)
        if marked is _UNSEEN:
            full = self._full(person, extra)
            self._marked[person.locale] = self._check(person, extra, full)
            return full
        if marked is None or not all(isinstance(v, str) for v in extra.values()):
            return self._full(person, extra)
        return _fill(marked, _values(person, extra))

    def _full(self, person: Recipient, extra: dict[str, Any]) -> Rendered:
        context = {**self.context, **extra, "person": person}
        return self.templates.render(self.event, person.locale, context)

    def _check(self, person: Recipient, extra: dict[str, Any], full: Rendered) -> Rendered | None:
        if not all(isinstance(v, str) for v in extra.values()):
            return None
        stand_in = Recipient(id=-1, name=_NAME_MARK, locale=person.locale)
        marks = {key: f"{_MARK}{i}x" for i, key in enumerate(extra)}
        marked = self._full(stand_in, marks)
        if len(marked.subject) >= _SUBJECT_MAX:  # cut short: the cut may fall elsewhere
            return None
        return marked if _fill(marked, _values(person, extra)) == full else None


_UNSEEN: Any = object()
_MARK = "vhubmark"
_NAME_MARK = f"{_MARK}namex"
_SUBJECT_MAX = 200  # Templates.render keeps at most this much of a subject


def _values(person: Recipient, extra: dict[str, str]) -> dict[str, str]:
    # The name last: nothing is replaced inside a name, whatever it says.
    return {f"{_MARK}{i}x": v for i, v in enumerate(extra.values())} | {_NAME_MARK: person.name}


def _fill(marked: Rendered, values: dict[str, str]) -> Rendered:
    subject, body, html = marked.subject, marked.body, marked.html
    for mark, value in values.items():
        subject = subject.replace(mark, value)
        body = body.replace(mark, value)
        if html is not None:
            html = html.replace(mark, str(escape(value)))
    return Rendered(subject=" ".join(subject.split())[:_SUBJECT_MAX], body=body, html=html)
