"""The webhook channel's apprise service: apprise's JSON post on keep-alive connections.

Apprise's ``json://`` service sends with ``requests``, building a session, a connection
pool and a new TCP (and TLS) connection for every message and scanning the environment
for proxies twice: about 2 ms of CPU per message, most of an emergency call-out's cost.
``vhubjson://`` (``vhubjsons://`` for https) posts the same JSON body with the same
headers, but on connections that a ``ConnectionPool`` keeps open between messages.

The pool belongs to the notifier that sends (``senders.AppriseNotifier``), which hands it
to the services it builds through their apprise asset (``PooledAsset``); without one a
service connects for its message alone. Where the outbox must reach only the public
internet, the pool checks the address it actually connected to (not only the name that
the worker checked before): a host name that comes to resolve to a private address is
refused. Redirects are not followed (the staff-configured host is the only destination),
and proxies from the environment are not used.
"""

from __future__ import annotations

import base64
import http.client
import select
import socket
import ssl
import threading
import time
from dataclasses import dataclass
from json import dumps
from urllib.parse import quote, urlencode

import apprise
from apprise.manager_plugins import NotificationManager
from apprise.plugins.custom_json import JSONPayloadField, NotifyJSON

from volunteer_hub.default_plugins.channels import WEBHOOK_SCHEME, WEBHOOK_SECURE_SCHEME
from volunteer_hub.validation import is_private_host

IDLE_REUSE = 30.0  # seconds: an older idle connection may be half-open, so connect anew
MAX_RESPONSE = 64 * 1024  # bytes of a response read to keep its connection; more: close it


class PrivateAddress(OSError):
    """The destination resolved to a private address where only public ones are allowed."""


@dataclass(frozen=True)
class Response:
    status: int
    body: bytes


class ConnectionPool:
    """Keep-alive HTTP(S) connections: per sending thread, one for each destination.

    Each thread keeps its own connections, so nothing is locked per request. A kept
    connection is reused unless it has been idle too long or the server has closed it;
    a request that fails on a reused connection before any answer is made once more on
    a new one (the server closed it meanwhile; in the rare case that it had the first,
    the Idempotency-Key lets it drop the repeat).
    """

    def __init__(self) -> None:
        self._local = threading.local()
        self._lock = threading.Lock()
        self._open: set[http.client.HTTPConnection] = set()
        self._tls: dict[bool, ssl.SSLContext] = {}
        self.connects = 0  # connections opened so far (for tests and benchmarks)

    def request(
        self,
        method: str,
        *,
        secure: bool,
        host: str,
        port: int | None,
        target: str,
        body: bytes,
        headers: dict[str, str],
        timeout: tuple[float, float],
        verify: bool = True,
        public_only: bool = False,
    ) -> Response:
        """Send one request; raise OSError or http.client.HTTPException if it failed.

        ``timeout`` is (to connect, to read); ``public_only`` refuses to connect to a
        private address (PrivateAddress), whatever name led there.
        """
        key = (secure, host, port or (443 if secure else 80), verify)
        for last_try in (False, True):
            conn, reused, private = self._connection(key, timeout, public_only)
            try:
                conn.request(method, target, body=body, headers=headers)
                response = conn.getresponse()
                content = response.read(MAX_RESPONSE)
            except (OSError, http.client.HTTPException) as exc:
                self._forget(conn)
                stale = isinstance(exc, ConnectionError | http.client.BadStatusLine)
                if last_try or not (reused and stale):
                    raise
                continue
            if response.isclosed() and conn.sock is not None:
                self._keep(key, conn, private)
            else:  # the server closes it, or an answer too long to read through
                self._forget(conn)
            return Response(response.status, content)
        raise AssertionError("unreachable")

    def __len__(self) -> int:
        """How many connections are open."""
        return len(self._open)

    def close(self) -> None:
        with self._lock:
            connections, self._open = self._open, set()
        for conn in connections:
            conn.close()

    def _connection(
        self, key: tuple, timeout: tuple[float, float], public_only: bool
    ) -> tuple[http.client.HTTPConnection, bool, bool]:
        """A connection to ``key``'s destination, whether it was kept, whether private."""
        found = self._kept().pop(key, None)
        if found is not None:
            conn, idle_since, private = found
            if (
                time.monotonic() - idle_since < IDLE_REUSE
                and not (public_only and private)
                and _still_open(conn.sock)
            ):
                conn.sock.settimeout(timeout[1])
                return conn, True, private
            self._forget(conn)
        secure, host, port, verify = key
        # Connect here, not in http.client, to see the address before sending anything.
        sock = socket.create_connection((host.strip("[]"), port), timeout=timeout[0])
        try:
            # As http.client does: headers and body may go in separate segments, and
            # Nagle's algorithm would hold the second until the first is acknowledged.
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            peer = sock.getpeername()[0]
            if public_only and is_private_host(peer):
                raise PrivateAddress(f"{host} resolved to a private address ({peer})")
            if secure:
                sock = self._context(verify).wrap_socket(sock, server_hostname=host.strip("[]"))
        except BaseException:
            sock.close()
            raise
        sock.settimeout(timeout[1])
        kind = http.client.HTTPSConnection if secure else http.client.HTTPConnection
        conn = kind(host, port, timeout=timeout[1])  # the class gives the Host header
        conn.sock = sock
        with self._lock:
            self._open.add(conn)
            self.connects += 1
        return conn, False, is_private_host(peer)

    def _context(self, verify: bool) -> ssl.SSLContext:
        context = self._tls.get(verify)
        if context is None:  # loading the trusted certificates takes milliseconds: once
            context = ssl.create_default_context()
            if not verify:  # the URL's ?verify=no
                context.check_hostname = False
                context.verify_mode = ssl.CERT_NONE
            self._tls[verify] = context
        return context

    def _keep(self, key: tuple, conn: http.client.HTTPConnection, private: bool) -> None:
        kept = self._kept()
        if key in kept:  # one per thread and destination
            self._forget(kept[key][0])
        now = time.monotonic()
        kept[key] = (conn, now, private)
        # Close what is too old to be reused, now and then: connections to destinations
        # that are not sent to again must not pile up (many communities, many gateways).
        if now - getattr(self._local, "swept", 0.0) > IDLE_REUSE:
            self._local.swept = now
            for old in [k for k, (_, since, _) in kept.items() if now - since >= IDLE_REUSE]:
                self._forget(kept.pop(old)[0])

    def _kept(self) -> dict[tuple, tuple[http.client.HTTPConnection, float, bool]]:
        """This thread's idle connections: (connection, idle since, to a private address)."""
        kept = getattr(self._local, "kept", None)
        if kept is None:
            kept = self._local.kept = {}
        return kept

    def _forget(self, conn: http.client.HTTPConnection) -> None:
        conn.close()
        with self._lock:
            self._open.discard(conn)


def _still_open(sock: socket.socket | None) -> bool:
    """Whether an idle kept-alive connection can take another request.

    Nothing may arrive on an idle HTTP connection: if the socket is readable, the
    server closed it (or broke the protocol). Over TLS the readable bytes may be only
    the server's session tickets, which reading consumes without giving data.
    """
    if sock is None:
        return False
    try:
        if not select.select([sock], [], [], 0)[0]:
            return True
        sock.setblocking(False)
        sock.recv(1)  # b"": closed; anything else: not a clean HTTP exchange
    except (ssl.SSLWantReadError, BlockingIOError):
        return True
    except (OSError, ValueError):
        return False
    return False


class PooledAsset(apprise.AppriseAsset):
    """An apprise asset that carries the sending notifier's connection pool and policy."""

    pool: ConnectionPool | None = None
    public_only: bool = False


class NotifyKeepAliveJSON(NotifyJSON):
    """Apprise's JSON notification (same URL options, body and headers), kept alive."""

    service_name = "JSON (keep-alive)"
    protocol = WEBHOOK_SCHEME
    secure_protocol = WEBHOOK_SECURE_SCHEME

    def send(self, body, title="", notify_type=apprise.NotifyType.INFO, attach=None, **kwargs):
        try:
            files = _attachments(attach)
        except OSError as exc:
            self.logger.error(f"Could not read an attachment: {exc}")
            return False
        payload = {
            JSONPayloadField.VERSION: self.json_version,
            JSONPayloadField.TITLE: title,
            JSONPayloadField.MESSAGE: body,
            JSONPayloadField.ATTACHMENTS: files,
            JSONPayloadField.MESSAGETYPE: notify_type.value,
        }
        for name, value in self.payload_extras.items():  # as NotifyJSON: rename, drop, add
            if name in payload:
                moved = payload.pop(name)
                if value:
                    payload[value] = moved
            else:
                payload[name] = value
        headers = {"User-Agent": self.app_id, "Content-Type": "application/json"}
        if self.user:
            token = base64.b64encode(f"{self.user}:{self.password or ''}".encode()).decode()
            headers["Authorization"] = f"Basic {token}"
        headers.update(self.headers)
        target = quote(self.fullpath or "/", safe="/%:@!$&'()*+,;=-._~")
        if self.params:
            target += "?" + urlencode(self.params, quote_via=quote)
        pool = getattr(self.asset, "pool", None)
        one_off = pool is None
        if one_off:
            pool = ConnectionPool()
        self.throttle()
        try:
            response = pool.request(
                self.method,
                secure=self.secure,
                host=self.host,
                port=self.port,
                target=target,
                body=dumps(payload).encode(),
                headers=headers,
                timeout=self.request_timeout,
                verify=self.verify_certificate,
                public_only=getattr(self.asset, "public_only", False),
            )
        except (OSError, http.client.HTTPException) as exc:
            self.logger.warning(
                f"A connection error occurred sending JSON notification to {self.host}: {exc}"
            )
            return False
        finally:
            if one_off:
                pool.close()
        if not 200 <= response.status < 300:
            reason = self.http_response_code_lookup(response.status)
            self.logger.warning(
                f"Failed to send JSON {self.method} notification: "
                f"{reason}{', ' if reason else ''}error={response.status}."
            )
            return False
        self.logger.info(f"Sent JSON {self.method} notification.")
        return True


def _attachments(attach) -> list[dict[str, str]]:
    files = []
    for number, attachment in enumerate(attach or (), start=1):
        if not attachment:
            raise OSError(attachment.url(privacy=True))
        files.append(
            {
                "filename": attachment.name or f"file{number:03}.dat",
                "base64": attachment.base64(),
                "mimetype": attachment.mimetype,
            }
        )
    return files


_registering = threading.Lock()


def register() -> None:
    """Make apprise know ``vhubjson://`` (once per process: apprise's registry is global).

    The first call loads apprise's own services too (0.1-0.5 s).
    """
    manager = NotificationManager()
    with _registering:
        if WEBHOOK_SCHEME not in manager:
            manager.add(NotifyKeepAliveJSON)
