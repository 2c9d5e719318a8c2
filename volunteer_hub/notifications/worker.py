"""`vhub worker`: deliver the outbox, send shift reminders, run the wish timers.

Several workers may run at once (on PostgreSQL): the outbox lease and the reminders'
dedupe keys keep every message single.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from datetime import timedelta

from pydantic import ValidationError
from tortoise.exceptions import IntegrityError

from volunteer_hub.hub import Hub
from volunteer_hub.models import Delivery, Signup, SignupStatus
from volunteer_hub.notifications import outbox
from volunteer_hub.notifications.planner import notify_signup
from volunteer_hub.notifications.senders import Notifier, Outgoing, SendError
from volunteer_hub.services import wishes
from volunteer_hub.services.channels import destination_hosts, resolves_privately
from volunteer_hub.services.uow import unit_of_work

log = logging.getLogger(__name__)

REMINDER_BEFORE = timedelta(hours=2)
CONCURRENCY = 100


@dataclass
class RunReport:
    sent: int = 0
    failed: int = 0
    reminders: int = 0
    expired: int = 0
    escalated: int = 0
    errors: list[str] = field(default_factory=list)


class Worker:
    def __init__(
        self,
        hub: Hub,
        notifier: Notifier,
        *,
        concurrency: int = CONCURRENCY,
        lease: timedelta = outbox.LEASE,
    ) -> None:
        self.hub = hub
        self.notifier = notifier
        self.lease = lease  # longer than any one send can take
        self._slots = asyncio.Semaphore(concurrency)

    async def run_once(self, *, batch: int = 500) -> RunReport:
        """The timers, then the outbox until nothing is due."""
        report = RunReport()
        report.reminders = await self.plan_reminders()
        report.expired = await wishes.expire_overdue(self.hub)
        report.escalated = await wishes.advance_escalations(self.hub)
        while True:
            claim = await outbox.claim(self.hub, limit=batch, lease=self.lease)
            if not claim.deliveries:
                return report
            results = await asyncio.gather(*(self._deliver(claim, d) for d in claim.deliveries))
            for error in results:
                if error is None:
                    report.sent += 1
                else:
                    report.failed += 1
                    report.errors.append(error)
            if report.failed and report.sent == 0:
                return report  # everything failing: leave it to the backoff

    async def run_forever(
        self, *, interval: float = 5.0, stop: asyncio.Event | None = None
    ) -> None:
        stop = stop or asyncio.Event()
        while not stop.is_set():
            try:
                await self.run_once()
            except Exception:  # keep serving; the next round retries
                log.exception("worker round failed")
            try:
                await asyncio.wait_for(stop.wait(), timeout=interval)
            except TimeoutError:
                pass

    async def _deliver(self, claim: outbox.Claim, delivery: Delivery) -> str | None:
        async with self._slots:
            try:
                message = self._message(delivery)
                await self.notifier.send(message)
            except SendError as exc:
                await outbox.failed(self.hub, claim, delivery, str(exc), final=exc.permanent)
                return str(exc)
            except Exception as exc:  # a channel plugin's bug must not stop the others
                log.exception("delivery %s failed", delivery.id)
                await outbox.failed(self.hub, claim, delivery, repr(exc))
                return repr(exc)
            await outbox.sent(self.hub, claim, delivery)
            return None

    def _message(self, delivery: Delivery) -> Outgoing:
        config = delivery.channel
        kind = self.hub.notification_channels().get(config.code)
        if kind is None:
            raise SendError(f"no plugin provides the channel {config.code!r}", permanent=True)
        try:
            settings = kind.settings.model_validate(self.hub.box.open(config.secret))
        except (ValueError, ValidationError) as exc:
            raise SendError(f"channel settings unusable: {exc}", permanent=True) from None
        if not self.hub.settings.allow_private_network and any(
            resolves_privately(h) for h in destination_hosts(settings)
        ):
            raise SendError("the channel points at a private network", permanent=True)
        notification = delivery.notification
        return Outgoing(
            delivery_id=delivery.id,
            url=kind.build_url(settings, delivery.address, delivery.idempotency_key),
            subject=notification.subject,
            body=notification.body,
            html=notification.html if kind.html else None,
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
                    await notify_signup(
                        self.hub,
                        now,
                        signup,
                        "shift.reminder",
                        dedupe_key=f"shift.reminder:{signup.id}",
                    )
            except IntegrityError:
                continue  # reminded already (by this or another worker)
            made += 1
        return made
