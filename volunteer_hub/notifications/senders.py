"""Sending one message: the Notifier protocol, with apprise and in-memory implementations."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

import apprise


@dataclass(frozen=True)
class Outgoing:
    delivery_id: int
    url: str  # built by the channel from staff settings and a person's address
    subject: str
    body: str
    html: str | None = None


class SendError(Exception):
    """The message did not go out; ``permanent`` ones are not retried."""

    def __init__(self, message: str, *, permanent: bool = False) -> None:
        super().__init__(message)
        self.permanent = permanent


class Notifier(Protocol):
    async def send(self, message: Outgoing) -> None:
        """Send, or raise SendError."""


class AppriseNotifier:
    """Sends through apprise; retries are the outbox's, so apprise makes one attempt."""

    def __init__(self, timeout: float = 10.0) -> None:
        self.timeout = timeout

    async def send(self, message: Outgoing) -> None:
        sender = apprise.Apprise()
        if not sender.add(message.url):
            raise SendError("apprise cannot use this channel's address", permanent=True)
        result = await sender.async_notify(
            body=message.html or message.body,
            title=message.subject,
            body_format=apprise.NotifyFormat.HTML if message.html else apprise.NotifyFormat.TEXT,
        )
        if not result:
            reasons = "; ".join(dict.fromkeys(entry.message for entry in result.logs()))
            raise SendError(f"{result.status.name}: {reasons}"[:500])


@dataclass
class MemoryNotifier:
    """Keeps messages in a list (for unit tests of planning; delivery tests use real sinks)."""

    sent: list[Outgoing] = field(default_factory=list)

    async def send(self, message: Outgoing) -> None:
        self.sent.append(message)
