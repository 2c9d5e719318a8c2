"""Sending one message: the Notifier protocol, with apprise and in-memory implementations."""

from __future__ import annotations

import asyncio
import re
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Protocol

import apprise
from apprise.attachment.memory import AttachMemory

from volunteer_hub.default_plugins.webhook import ConnectionPool, PooledAsset


@dataclass(frozen=True)
class Attachment:
    """A file sent with a message (an invitation's .ics), held in memory."""

    name: str
    content: bytes
    mime_type: str = "application/octet-stream"


@dataclass(frozen=True)
class UrlTemplate:
    """A channel's URL with marks where each message's own values go, and those values.

    The same channel gives every message the same URL but for the person's address and
    the idempotency key. With the template, a notifier can parse the channel's URL once
    and fill in the values, instead of parsing each message's URL again.
    """

    url: str
    values: tuple[tuple[str, str], ...]  # (mark, this message's value)


@dataclass(frozen=True)
class Outgoing:
    delivery_id: int
    url: str  # built by the channel from staff settings and a person's address
    subject: str
    body: str
    html: str | None = None
    attachments: tuple[Attachment, ...] = ()
    template: UrlTemplate | None = None  # ``url`` in parts, when the channel gives one
    # Refuse to connect to a private address (checked on the address connected to, by
    # the services that can: the webhook's).
    public_only: bool = False


class SendError(Exception):
    """The message did not go out; ``permanent`` ones are not retried."""

    def __init__(self, message: str, *, permanent: bool = False) -> None:
        super().__init__(message)
        self.permanent = permanent


class Notifier(Protocol):
    async def send(self, message: Outgoing) -> None:
        """Send, or raise SendError."""


class AppriseNotifier:
    """Sends through apprise; retries are the outbox's, so apprise makes one attempt.

    Apprise's services block (``requests``, ``smtplib``, the webhook's urllib3),
    so each message is sent in one of ``threads`` threads: synchronously there, through
    an ``Apprise`` object that the thread keeps (apprise's own async path hands every
    message to its thread pool and back, with more bookkeeping per message than the send
    itself). A channel's URL is parsed once (``Outgoing.template``) and each message's
    service is built from the parsed parts with its own values: parsing a URL costs
    apprise more than sending. The notifier owns a ``ConnectionPool`` that the services
    able to keep connections alive (the webhook channel's ``vhubjson://``) share.
    """

    def __init__(self, timeout: float = 10.0, *, threads: int = 16) -> None:
        self.timeout = timeout
        # Kept-alive connections for the services that take them (the webhook's).
        self.pool = ConnectionPool(maxsize=threads)
        # Send in the calling thread: not in apprise's pool (async_mode), and without the
        # service deadline that hands each send to that pool to be waited for; each
        # request is still bounded by the service's socket timeouts (4 s by default).
        self._assets = {}
        for public_only in (False, True):
            asset = PooledAsset(async_mode=False, service_timeout=0)
            asset.pool, asset.public_only = self.pool, public_only
            self._assets[public_only] = asset
        self._threads = ThreadPoolExecutor(threads, thread_name_prefix="apprise")
        self._local = threading.local()
        self._parsed: dict[str, dict[str, Any] | None] = {}  # template URL → its parts
        # Apprise imports its ~100 service modules on the first URL it parses (0.5 s
        # here): do it now, beside the caller, not in the first emergency's messages.
        self._threads.submit(apprise.NotificationManager().load_modules)

    async def send(self, message: Outgoing) -> None:
        await asyncio.get_running_loop().run_in_executor(self._threads, self._send, message)

    def close(self) -> None:
        self._threads.shutdown(wait=True)
        self.pool.close()

    def _send(self, message: Outgoing) -> None:
        try:
            service = self._service(message)
        except Exception as exc:  # the service refused its URL's values
            raise SendError(
                f"apprise cannot use this channel's address: {exc}", permanent=True
            ) from None
        if service is None:
            raise SendError("apprise cannot use this channel's address", permanent=True)
        sender = getattr(self._local, "sender", None)
        if sender is None:
            sender = self._local.sender = apprise.Apprise(asset=self._assets[False])
        sender.add(service)
        try:
            result = sender.notify(
                body=message.html or message.body,
                title=message.subject,
                body_format=apprise.NotifyFormat.HTML
                if message.html
                else apprise.NotifyFormat.TEXT,
                attach=_attachments(message),
            )
        finally:
            sender.clear()
        if not result:
            reasons = "; ".join(dict.fromkeys(entry.message for entry in result.logs()))
            raise SendError(f"{result.status.name}: {reasons}"[:500])

    def _service(self, message: Outgoing) -> Any:
        """The message's apprise service (None if apprise knows no such URL).

        Built without ``suppress_exceptions``, which formats a debug line with the
        service's whole URL for every message, logged or not (7 % of a send).
        """
        asset = self._assets[message.public_only]
        template = message.template
        url: str | dict[str, Any] = message.url
        if template is not None and all(_PLAIN.fullmatch(v) for _, v in template.values):
            parts = self._parts(template, message.url)
            if parts is not None:
                url = _fill(parts, dict(template.values))
        return apprise.Apprise.instantiate(url, asset=asset, suppress_exceptions=False)

    def _parts(self, template: UrlTemplate, url: str) -> dict[str, Any] | None:
        """The template's parsed parts; None if filling them in does not give ``url``'s.

        Checked on the first message of each template: a service whose parser changes
        the values (case, splitting) is parsed message by message, as before.
        """
        if template.url in self._parsed:
            return self._parsed[template.url]
        parts = apprise.plugins.url_to_dict(template.url, secure_logging=True)
        direct = apprise.plugins.url_to_dict(url, secure_logging=True)
        if parts is None or direct is None or _fill(parts, dict(template.values)) != direct:
            parts = None
        if len(self._parsed) > 1000:  # channels come and go: keep this bounded
            self._parsed.clear()
        self._parsed[template.url] = parts
        return parts


# A value that URL quoting and apprise's parsing leave exactly as it is.
_PLAIN = re.compile(r"[0-9a-z@._+\-]{1,200}")


def _fill(value: Any, values: dict[str, str]) -> Any:
    """A deep copy of parsed URL parts with each mark replaced by its value."""
    if isinstance(value, str):
        for mark, real in values.items():
            if mark in value:
                value = value.replace(mark, real)
        return value
    if isinstance(value, dict):
        return {_fill(k, values): _fill(v, values) for k, v in value.items()}
    if isinstance(value, list | tuple | set):
        return type(value)(_fill(v, values) for v in value)
    return value


def _attachments(message: Outgoing) -> apprise.AppriseAttachment | None:
    """The message's files as apprise attachments (in memory: nothing touches the disk)."""
    if not message.attachments:
        return None
    return apprise.AppriseAttachment(
        [
            AttachMemory(content=a.content, name=a.name, mimetype=a.mime_type)
            for a in message.attachments
        ]
    )
