"""Domain events inside their transaction: services publish them without knowing who listens.

A service records each audited change with ``UnitOfWork.record`` (``services/uow.py``),
which names the event. Just before the transaction commits, the unit of work hands its
events to the subscribers held here (one ``EventDispatch`` per Hub), so that whatever a
subscriber writes (notifications and their outbox rows) commits or rolls back with the
change. Who subscribes is decided when the application is composed
(``volunteer_hub.bootstrap``); a Hub built without subscribers plans nothing.

A subscriber may take a run of consecutive events of one name at once
(``EventDispatch.subscribe_batch``): the notifications write a roster plan's thousands of
invitation messages in a few statements that way. Plugins still hear each event.

After commit, the same events, without their secrets, reach plugins through the
``vh_domain_event`` hook.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from itertools import groupby
from typing import Any, Generic, TypeVar

from volunteer_hub.hooktypes import DomainEvent

# Every event a unit of work may record: its name is also the audit entry's action.
# ``UnitOfWork.record`` refuses any other name, and tests hold the ``vh_domain_event``
# docstring and every ``record("…")`` in the code to this list.
EVENT_NAMES: tuple[str, ...] = (
    "community.created",
    "community.updated",
    "community.emergency_started",
    "community.emergency_ended",
    "grid.created",
    "grid.updated",
    "person.registered",
    "person.admin_created",
    "person.password_changed",
    "person.locale_changed",
    "person.channel_set",
    "person.channel_code_sent",
    "person.channel_confirmed",
    "person.channel_tested",
    "person.updated",
    "person.deactivated",
    "person.reactivated",
    "person.reset_code_issued",
    "person.password_reset",
    "role.assigned",
    "role.revoked",
    "channel.configured",
    "delivery.retried",
    "open311_key.created",
    "open311_key.revoked",
    "calendar.revoked",
    "team.created",
    "team.updated",
    "team.joined",
    "team.membership_approved",
    "team.membership_started",
    "team.membership_refused",
    "qualification.declared",
    "qualification.verified",
    "qualification.refused",
    "qualification.expiring",
    "party_report.filed",
    "party_report.accepted",
    "party_report.refused",
    "wish.posted",
    "wish.approved",
    "wish.rejected",
    "wish.claimed",
    "wish.fulfilled",
    "wish.confirmed",
    "wish.cancelled",
    "wish.expired",
    "wish.escalated",
    "wish.invited",
    "wish.handed_back",
    "wish.dispatched",
    "wish.dispatch_exhausted",
    "wish.no_show",
    "wish.referred",
    "wish.referral_acknowledged",
    "wish.referral_renewed",
    "wish.resolved",
    "invitation.accepted",
    "invitation.declined",
    "invitation.expired",
    "invitation.withdrawn",
    "person.availability_set",
    "person.do_not_send",
    "responsible_contact.set",
    "roster.proposed",
    "roster.adjusted",
    "roster.accepted",
    "roster.discarded",
    "task.created",
    "task.invited",
    "task.updated",
    "task.cancelled",
    "occurrence.cancelled",
    "occurrence.messaged",
    "occurrence.dispatch_exhausted",
    "signup.confirmed",
    "signup.waitlisted",
    "signup.promoted",
    "signup.cancelled",
    "signup.checked_in",
    "signup.checked_out",
    "signup.no_show",
    "signup.excused",
    "no_show.recorded",
    "no_show.excused",
    "emergency.callout",
    "emergency.acknowledged",
)


@dataclass(frozen=True)
class PendingEvent:
    """A recorded event inside its transaction, as subscribers see it.

    ``secret`` holds what a subscriber needs but nobody else may see (the code that
    confirms an address, the call-out's acknowledgement links): it is never published to
    plugins, never written to the audit trail, and kept out of ``repr`` (so out of logs).
    """

    event: DomainEvent
    secret: Mapping[str, Any] = field(default_factory=dict, repr=False)


Context = TypeVar("Context")
Subscriber = Callable[[Context, PendingEvent], Awaitable[None]]
# Takes a run of consecutive events of one name at once (a roster plan's invitations).
BatchSubscriber = Callable[[Context, Sequence[PendingEvent]], Awaitable[None]]


class EventDispatch(Generic[Context]):
    """Who listens to which event inside the transaction, in the order they subscribed.

    ``Context`` is what the unit of work passes along (the Hub): subscribers get it at
    each call, so one subscriber serves every Hub that shares this dispatch.
    """

    def __init__(self) -> None:
        # (takes a batch, subscriber), in the order they subscribed
        self._subscribers: dict[str, list[tuple[bool, Callable[..., Awaitable[None]]]]] = {}

    def subscribe(self, name: str, subscriber: Subscriber[Context]) -> None:
        self._add(name, False, subscriber)

    def subscribe_batch(self, name: str, subscriber: BatchSubscriber[Context]) -> None:
        """Hear each run of consecutive ``name`` events of a transaction in one call: the
        subscriber can then write for all of them in a few statements."""
        self._add(name, True, subscriber)

    def _add(self, name: str, batch: bool, subscriber: Callable[..., Awaitable[None]]) -> None:
        if name not in EVENT_NAMES:
            raise ValueError(f"no event is named {name!r}")
        self._subscribers.setdefault(name, []).append((batch, subscriber))

    def subscribers(self, name: str) -> list[Callable[..., Awaitable[None]]]:
        return [subscriber for _, subscriber in self._subscribers.get(name, ())]

    async def dispatch(self, context: Context, events: Iterable[PendingEvent]) -> None:
        """Call each event's subscribers, run by run: a run of consecutive events of one
        name goes to each subscriber in turn (a batch subscriber once with the whole run,
        any other once per event, in order). One that raises stops the change (the
        caller's transaction rolls back)."""
        for name, run in groupby(events, key=lambda pending: pending.event.name):
            run = list(run)
            for batch, subscriber in self._subscribers.get(name, ()):
                if batch:
                    await subscriber(context, run)
                    continue
                for pending in run:
                    await subscriber(context, pending)
