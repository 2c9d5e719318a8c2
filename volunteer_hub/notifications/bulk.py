"""Many notifications at once (an emergency call-out): a few statements, not one per person.

``Planner.notify`` writes one person's notification and its deliveries with an INSERT
each; for 10,000 people that is 20,000 round trips inside one transaction. This writes
the same rows with multi-row INSERTs: the notifications (reading their ids back with
``RETURNING``), then every delivery. It runs inside the caller's transaction, like
``Planner.notify``, and writes exactly what ``Planner.notify`` would.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Sequence
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
_IN_LIST = 900  # person ids per channel lookup


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
    render = _Renderer(templates, event, {**context, "community": community})
    rows = []
    for r in recipients:
        rendered = render(r, personal(r) if personal is not None else {})
        rows.append(
            (
                r.id,
                community.id,
                event,
                entity_type,
                entity_id,
                priority.value,
                r.locale,
                rendered.subject,
                rendered.body,
                rendered.html,
                None,
                now,
                None,
            )
        )
    inserted = await db.insert_rows(
        "notification", _NOTIFICATION_COLUMNS, rows, returning=("id", "person_id")
    )
    notification_of = {row["person_id"]: row["id"] for row in inserted}

    start = now if priority is NotificationPriority.URGENT else after_quiet_hours(now, community)
    deliveries = []
    person_ids = list(notification_of)
    for first in range(0, len(person_ids), _IN_LIST):
        chunk = person_ids[first : first + _IN_LIST]
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
            notification_id = notification_of[a["person_id"]]
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
