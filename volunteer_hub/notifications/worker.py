"""`vhub worker`: deliver the outbox, send shift reminders, run the wish timers, record
no-shows, flag qualifications about to expire.

Several workers may run at once (on PostgreSQL): the outbox lease and the reminders'
dedupe keys keep every message single.

Delivery is at least once. A worker that dies (``kill -9``, a power cut) after a message
went out but before its success was recorded leaves the delivery leased; when the lease
runs out, it is sent again with the same idempotency key. The window is kept small: a
message holds one of ``concurrency`` slots from the moment its send starts until its
outcome is committed, so a crash repeats at most ``concurrency`` messages per worker
(in practice the ones on the wire, one per sending thread of the notifier, and the few
whose group commit was under way). Successes are committed together (``_Round.sent``):
one UPDATE, at most every ``GROUP_COMMIT_EVERY`` seconds, records all that finished since
the previous one. Which channels drop such a repeat: ``docs/notifications.md``.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field
from datetime import timedelta

from pydantic import BaseModel, ValidationError
from tortoise.exceptions import IntegrityError

from volunteer_hub.hooktypes import NotificationChannel
from volunteer_hub.hub import Hub
from volunteer_hub.models import Signup, SignupStatus
from volunteer_hub.notifications import invitations, outbox
from volunteer_hub.notifications.outbox import ClaimedChannel, ClaimedDelivery
from volunteer_hub.notifications.planner import Planner
from volunteer_hub.notifications.senders import Notifier, Outgoing, SendError, UrlTemplate
from volunteer_hub.services import dispatch, no_shows, referrals, teams, wishes
from volunteer_hub.services.channels import destination_hosts, resolves_privately
from volunteer_hub.services.uow import unit_of_work

log = logging.getLogger(__name__)

REMINDER_BEFORE = timedelta(hours=2)
# Messages between the start of their send and their recorded outcome, per worker: the
# most a crash can repeat. Three times the notifier's 16 threads, so that those stay busy
# while finished messages wait for their group commit.
CONCURRENCY = 48
BATCH = 500  # deliveries claimed at once
# Seconds between the starts of two UPDATEs of successes (per batch): fewer statements,
# and on SQLite fewer waits for the write lock that the workers share.
GROUP_COMMIT_EVERY = 0.02


@dataclass
class RunReport:
    sent: int = 0
    failed: int = 0
    reminders: int = 0
    expired: int = 0
    escalated: int = 0
    invitations_expired: int = 0  # unanswered by their deadline: the next was invited
    referrals_renewed: int = 0  # expired links of waiting matters, sent again
    expiring: int = 0  # qualifications flagged as ending within 30 days
    no_shows: int = 0  # shifts not come to and wishes not served in time, recorded
    errors: list[str] = field(default_factory=list)


class Worker:
    def __init__(
        self,
        hub: Hub,
        notifier: Notifier,
        *,
        concurrency: int = CONCURRENCY,
        lease: timedelta = outbox.LEASE,
        planner: Planner | None = None,
    ) -> None:
        self.hub = hub
        self.notifier = notifier
        self.planner = planner or Planner()  # writes the shift reminders
        self.lease = lease  # longer than any one send can take
        self._slots = asyncio.Semaphore(concurrency)

    async def run_once(self, *, batch: int = BATCH) -> RunReport:
        """The timers, then the outbox until nothing is due."""
        report = RunReport()
        report.reminders = await self.plan_reminders()
        report.expired = await wishes.expire_overdue(self.hub)
        report.escalated = await wishes.advance_escalations(self.hub)
        report.invitations_expired = await dispatch.expire_due(self.hub)
        report.referrals_renewed = await referrals.renew_expired_links(self.hub)
        try:
            report.no_shows = (await no_shows.record_overdue(self.hub)).total
        except Exception as exc:  # logged; the messages below must still go out
            log.exception("recording no-shows failed")
            report.errors.append(f"no-shows: {exc!r}")
        report.expiring = await teams.flag_expiring_qualifications(self.hub)
        while True:
            claim = await outbox.claim(self.hub, limit=batch, lease=self.lease)
            if not claim.deliveries:
                return report
            batch_round = _Round(self.hub, claim)
            results = await asyncio.gather(
                *(self._deliver(claim, d, batch_round) for d in claim.deliveries)
            )
            for error in results:
                if error is None:
                    report.sent += 1
                else:
                    report.failed += 1
                    report.errors.append(error)
            if report.failed and report.sent == 0:
                return report  # everything failing: leave it to the backoff

    async def run_forever(
        self, *, interval: float = 5.0, stop: asyncio.Event | None = None, batch: int = BATCH
    ) -> None:
        stop = stop or asyncio.Event()
        while not stop.is_set():
            try:
                await self.run_once(batch=batch)
            except Exception:  # keep serving; the next round retries
                log.exception("worker round failed")
            try:
                await asyncio.wait_for(stop.wait(), timeout=interval)
            except TimeoutError:
                pass

    async def _deliver(
        self, claim: outbox.Claim, delivery: ClaimedDelivery, batch_round: _Round
    ) -> str | None:
        if not delivery.addressable:
            error = "the address is not confirmed, or no longer the person's"
            await outbox.failed(self.hub, claim, delivery, error, final=True)
            return error
        async with self._slots:
            try:
                message = self._message(delivery, batch_round)
                message = await invitations.with_invitation(self.hub, delivery, message)
                await self.notifier.send(message)
            except SendError as exc:
                await outbox.failed(self.hub, claim, delivery, str(exc), final=exc.permanent)
                return str(exc)
            except Exception as exc:  # a channel plugin's bug must not stop the others
                log.exception("delivery %s failed", delivery.id)
                await outbox.failed(self.hub, claim, delivery, repr(exc))
                return repr(exc)
            await batch_round.sent(delivery)  # recorded before the slot sends another
        return None

    def _message(self, delivery: ClaimedDelivery, batch_round: _Round | None = None) -> Outgoing:
        config = delivery.channel
        batch_round = batch_round or _Round(self.hub, None)
        kind, settings, template_url = batch_round.channel(config)
        notification = delivery.notification
        try:
            url = kind.build_url(settings, delivery.address, delivery.idempotency_key)
        except ValueError as exc:  # the channel refuses the address: so it will again
            raise SendError(f"the channel refused the address: {exc}", permanent=True) from None
        return Outgoing(
            delivery_id=delivery.id,
            url=url,
            subject=notification.subject,
            body=notification.body,
            html=notification.html if kind.html else None,
            public_only=not self.hub.settings.allow_private_network,
            template=None
            if template_url is None
            else UrlTemplate(
                template_url,
                ((ADDRESS_MARK, delivery.address), (KEY_MARK, delivery.idempotency_key)),
            ),
        )

    async def plan_reminders(self) -> int:
        """A reminder for each confirmed shift starting within two hours, once."""
        now = self.hub.now()
        due = await Signup.filter(
            status=SignupStatus.CONFIRMED,
            occurrence__start__gt=now,
            occurrence__start__lte=now + REMINDER_BEFORE,
            occurrence__cancelled=False,
        ).select_related("person", "occurrence", "occurrence__task", "occurrence__task__community")
        made = 0
        for signup in due:
            try:
                async with unit_of_work(self.hub, None):
                    await self.planner.notify_signup(
                        now,
                        signup,
                        "shift.reminder",
                        dedupe_key=f"shift.reminder:{signup.id}",
                    )
            except IntegrityError:
                continue  # reminded already (by this or another worker)
            made += 1
        return made


class _Round:
    """What one claimed batch shares: each channel's checked settings, and the group commit.

    A channel's settings are decrypted, validated and checked against private networks
    once per batch instead of once per message. Successes are recorded by group commit:
    a message that went out waits (holding its slot) until an UPDATE that includes it
    has committed. One UPDATE runs at a time, at most one per ``GROUP_COMMIT_EVERY``,
    and takes every success that finished since the previous one: the statements stay
    few however fast messages go, and a message waits about ``GROUP_COMMIT_EVERY`` at most
    (plus the UPDATE itself).
    """

    def __init__(self, hub: Hub, claim: outbox.Claim | None) -> None:
        self.hub = hub
        self.claim = claim
        self._channels: dict[int, _Checked | SendError] = {}
        self._waiting: list[int] = []  # sent, for the next UPDATE
        self._next: asyncio.Future[None] | None = None  # done when that UPDATE committed
        self._writer: asyncio.Task[None] | None = None
        self._began = 0.0  # when the last UPDATE started (monotonic)

    def channel(self, config: ClaimedChannel) -> _Checked:
        found = self._channels.get(config.id)
        if found is None:
            try:
                found = _check_channel(self.hub, config)
            except SendError as exc:
                found = exc
            self._channels[config.id] = found
        if isinstance(found, SendError):
            raise SendError(str(found), permanent=found.permanent)
        return found

    async def sent(self, delivery: ClaimedDelivery) -> None:
        """Record a success; return once it is committed (or raise what the UPDATE raised)."""
        self._waiting.append(delivery.id)
        if self._next is None:
            self._next = asyncio.get_running_loop().create_future()
        recorded = self._next
        if self._writer is None or self._writer.done():
            self._writer = asyncio.create_task(self._write())
        # Shielded: a waiter cancelled (the worker stopping) must not cancel the others'.
        await asyncio.shield(recorded)

    async def _write(self) -> None:
        while self._waiting:
            pause = self._began + GROUP_COMMIT_EVERY - time.monotonic()
            if pause > 0:
                await asyncio.sleep(pause)
            self._began = time.monotonic()
            ids, self._waiting = self._waiting, []
            recorded, self._next = self._next, None
            assert recorded is not None and self.claim is not None
            try:
                await outbox.sent_many(self.hub, self.claim, ids)
            except Exception as exc:  # each waiter raises it; the lease resends them
                recorded.set_exception(exc)
            else:
                recorded.set_result(None)


# (the channel, its settings, its URL with marks for the address and the key, or None)
_Checked = tuple[NotificationChannel, BaseModel, str | None]
ADDRESS_MARK = "vhubmarkaddress"
KEY_MARK = "vhubmarkkey"


def _check_channel(hub: Hub, config: ClaimedChannel) -> _Checked:
    kind = hub.notification_channels().get(config.code)
    if kind is None:
        raise SendError(f"no plugin provides the channel {config.code!r}", permanent=True)
    try:
        settings = kind.settings.model_validate(hub.box.open(config.secret))
    except (ValueError, ValidationError) as exc:
        raise SendError(f"channel settings unusable: {exc}", permanent=True) from None
    if not hub.settings.allow_private_network and any(
        resolves_privately(h) for h in destination_hosts(settings)
    ):
        raise SendError("the channel points at a private network", permanent=True)
    try:
        template_url = kind.build_url(settings, ADDRESS_MARK, KEY_MARK)
    except Exception:  # a channel may check the address: then each URL is parsed whole
        template_url = None
    return kind, settings, template_url
