"""Unit of work: one transaction, its audit entries, and its events.

Each event goes to the Hub's in-transaction subscribers just before commit (what they
write commits with the change: notifications and their outbox rows), then, once the
transaction has committed, to plugins (``vh_domain_event``). Services record events
without knowing who listens (``volunteer_hub.events``).
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from enum import Enum, StrEnum
from typing import Any

from tortoise.models import Model
from tortoise.transactions import in_transaction

from volunteer_hub import db
from volunteer_hub.db import table_name
from volunteer_hub.errors import Conflict
from volunteer_hub.events import EVENT_NAMES, PendingEvent
from volunteer_hub.hooktypes import DomainEvent
from volunteer_hub.hub import Hub
from volunteer_hub.models import AuditEntry

log = logging.getLogger(__name__)

_KNOWN_EVENTS = frozenset(EVENT_NAMES)


def snapshot(obj: Model, *field_names: str) -> dict[str, Any]:
    """A JSON-ready picture of some fields of a row, for the audit trail."""
    return {name: _jsonable(getattr(obj, name)) for name in field_names}


def _jsonable(value: Any) -> Any:
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    return value


class UnitOfWork:
    def __init__(self, hub: Hub, actor_id: int | None) -> None:
        self.hub = hub
        self.actor_id = actor_id
        self.now = hub.now()
        self.pending: list[PendingEvent] = []

    @property
    def events(self) -> list[DomainEvent]:
        """The events recorded so far, as plugins will see them."""
        return [p.event for p in self.pending]

    async def move(
        self,
        entity: Model,
        expected: StrEnum,
        new: StrEnum,
        refused: Conflict | Callable[[], Awaitable[Conflict]],
        **changes: Any,
    ) -> None:
        """Move ``entity``'s status from ``expected`` to ``new`` (with ``changes``) only if
        it still is ``expected``: one conditional UPDATE, so of two concurrent moves only
        one wins. Otherwise raise ``refused`` (or the conflict it builds, from a fresh read)."""
        query = type(entity).filter(pk=entity.pk, status=expected)
        if not await query.update(status=new, **changes):
            raise refused if isinstance(refused, Conflict) else await refused()

    async def record(
        self,
        action: str,
        entity: Model,
        *,
        community_id: int | None,
        before: dict[str, Any] | None = None,
        after: dict[str, Any] | None = None,
        data: dict[str, Any] | None = None,
        secret: Mapping[str, Any] | None = None,
    ) -> None:
        """Write the audit entry in this transaction; queue the domain event of the same name.

        ``secret`` goes to the in-transaction subscribers only (``PendingEvent.secret``):
        neither to the audit entry nor to plugins.
        """
        if action not in _KNOWN_EVENTS:
            raise ValueError(f"unknown event {action!r}: add it to volunteer_hub.events")
        entity_type = table_name(type(entity))
        await AuditEntry.create(
            community_id=community_id,
            actor_id=self.actor_id,
            action=action,
            entity_type=entity_type,
            entity_id=entity.pk,
            before=_jsonable(before),
            after=_jsonable(after),
            created_at=self.now,
        )
        event = DomainEvent(
            name=action,
            community_id=community_id,
            entity_type=entity_type,
            entity_id=entity.pk,
            actor_id=self.actor_id,
            occurred_at=self.now,
            data=_jsonable(data or after or {}),
        )
        self.pending.append(PendingEvent(event, secret or {}))

    async def record_many(
        self, action: str, model: type[Model], entries: Sequence[Recorded]
    ) -> None:
        """``record`` for many rows of one table at once (a worker's batch, an accepted
        roster plan): the audit entries in multi-row INSERTs (``db.insert_rows``), one event
        per row, as ``record`` would queue them."""
        if action not in _KNOWN_EVENTS:
            raise ValueError(f"unknown event {action!r}: add it to volunteer_hub.events")
        if not entries:
            return
        entity_type = table_name(model)
        rows, events = [], []
        for e in entries:
            after = _jsonable(e.after)  # once: the audit entry's and, often, the event's
            rows.append(
                (
                    e.community_id,
                    self.actor_id,
                    action,
                    entity_type,
                    e.entity_id,
                    db.json_value(_jsonable(e.before)),
                    db.json_value(after),
                    self.now,
                )
            )
            events.append(
                DomainEvent(
                    name=action,
                    community_id=e.community_id,
                    entity_type=entity_type,
                    entity_id=e.entity_id,
                    actor_id=self.actor_id,
                    occurred_at=self.now,
                    data=_jsonable(e.data) if e.data else after or {},
                )
            )
        await db.insert_rows(table_name(AuditEntry), _AUDIT_COLUMNS, rows)
        self.pending += [PendingEvent(event) for event in events]


_AUDIT_COLUMNS = (
    "community_id", "actor_id", "action", "entity_type", "entity_id", "before", "after",
    "created_at",
)  # fmt: skip


@dataclass(frozen=True)
class Recorded:
    """One row's change for ``UnitOfWork.record_many``: what ``record`` takes of it."""

    entity_id: int
    community_id: int | None
    before: dict[str, Any] | None = None
    after: dict[str, Any] | None = None
    data: dict[str, Any] | None = None


@asynccontextmanager
async def unit_of_work(hub: Hub, actor_id: int | None) -> AsyncIterator[UnitOfWork]:
    """Run a change in one transaction: its events go to the Hub's subscribers before
    commit (what they write commits with the change), then to plugins once committed."""
    uow = UnitOfWork(hub, actor_id)
    async with in_transaction():
        yield uow
        await hub.events.dispatch(hub, uow.pending)
    await publish(hub, uow.events)


async def publish(hub: Hub, events: list[DomainEvent]) -> None:
    for event in events:
        # Failures are recorded in the plugin's status by the host; the change stands.
        await hub.plugins.acall("vh_domain_event", event=event)
