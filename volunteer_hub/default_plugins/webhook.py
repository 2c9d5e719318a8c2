"""The webhook channel's apprise service: apprise's JSON post on keep-alive connections.

Apprise's ``json://`` service sends with ``requests``, building a session, a connection
pool and a new TCP (and TLS) connection for every message and scanning the environment
for proxies twice: about 2 ms of CPU per message, most of an emergency call-out's cost.
``vhubjson://`` (``vhubjsons://`` for https) posts the same JSON body with the same
headers, on urllib3 connection pools that a ``ConnectionPool`` keeps between messages.

The pools belong to the notifier that sends (``notifications.senders.AppriseNotifier``),
which hands them to the services it builds through their apprise asset (``PooledAsset``);
without one a service connects for its message alone. Where the outbox must reach only
the public internet, the host name is resolved here, each address checked, and the
connection made to that very address (the name goes in the Host header and as the TLS
server name): a name that comes to resolve to a private address is refused, and nothing
resolves it again between the check and the connection. Redirects are not followed (the
staff-configured host is the only destination), and proxies from the environment are not
used.

This module is the one place of the webhook channel's scheme and apprise service: the
channel (``default_plugins.channels``) declares the service, the Hub registers it with
apprise, and the notifier only lends its pools.
"""

from __future__ import annotations

import base64
import http.client
import socket
import ssl
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from json import dumps
from typing import Any
from urllib.parse import quote, urlencode

import apprise
import urllib3
from apprise.plugins.custom_json import JSONPayloadField, NotifyJSON
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.exceptions import ConnectTimeoutError, NewConnectionError, ProtocolError

from volunteer_hub.validation import is_private_host

# apprise reads a trailing "s" as "secure": vhubjsons:// posts over https.
WEBHOOK_SCHEME, WEBHOOK_SECURE_SCHEME = "vhubjson", "vhubjsons"

IDLE_REUSE = 30.0  # seconds: an older idle connection may be half-open, so connect anew
MAX_RESPONSE = 64 * 1024  # bytes of a response read to keep its connection; more: close it

# What a failed request raises: refused, timed out, TLS, a broken answer.
REQUEST_ERRORS = (OSError, http.client.HTTPException, urllib3.exceptions.HTTPError)


class PrivateAddress(OSError):
    """The destination resolved to a private address where only public ones are allowed."""


@dataclass(frozen=True)
class Response:
    status: int
    body: bytes


class ConnectionPool:
    """Keep-alive HTTP(S) connections: one urllib3 pool for each address and host name.

    A destination's host name is resolved (and the answer kept for ``IDLE_REUSE``
    seconds), then its urllib3 pool is the one for that address, which connects only
    there. Up to ``maxsize`` connections of each pool are kept (one per sending thread is
    enough). A kept connection is reused unless it has been idle too long or the server
    has closed it; a request that fails on a reused connection before any answer is made
    once more (the server closed it meanwhile; in the rare case that it had the first,
    the Idempotency-Key lets it drop the repeat). The pools of destinations not sent to
    for ``IDLE_REUSE`` seconds are closed, so that they do not pile up (many communities,
    many gateways).
    """

    def __init__(self, maxsize: int = 16) -> None:
        self.maxsize = maxsize
        self.connects = 0  # connections opened so far (for tests and benchmarks)
        self._lock = threading.Lock()
        self._pools: dict[tuple, tuple[urllib3.HTTPConnectionPool, float]] = {}
        self._resolved: dict[tuple[str, int], tuple[list[str], float]] = {}
        self._open: set[HTTPConnection] = set()
        self._tls: dict[bool, ssl.SSLContext] = {}
        self._swept = time.monotonic()
        self._thread = threading.local()  # connections opened by this thread

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
        """Send one request; raise one of ``REQUEST_ERRORS`` if it failed.

        ``timeout`` is (to connect, to read); ``public_only`` refuses to connect to a
        private address (PrivateAddress), whatever name led there.
        """
        host = host.strip("[]")
        port = port or (443 if secure else 80)
        default_port = port == (443 if secure else 80)
        name = f"[{host}]" if ":" in host else host
        headers = {"Host": name if default_port else f"{name}:{port}", **headers}
        addresses = self._addresses(host, port)
        for number, address in enumerate(addresses, start=1):
            if public_only and is_private_host(address):
                raise PrivateAddress(f"{host} resolved to a private address ({address})")
            pool = self._pool(secure, address, port, host, verify)
            try:
                return self._send(pool, method, target, body, headers, timeout)
            except (NewConnectionError, ConnectTimeoutError):
                if number == len(addresses):  # nothing was sent: try the next address
                    raise
        raise AssertionError("unreachable")

    def __len__(self) -> int:
        """How many connections are open."""
        return len(self._open)

    def close(self) -> None:
        with self._lock:
            pools, self._pools = self._pools, {}
        for pool, _ in pools.values():
            pool.close()  # closes the idle ones; those in use close when they come back

    def _send(
        self,
        pool: urllib3.HTTPConnectionPool,
        method: str,
        target: str,
        body: bytes,
        headers: dict[str, str],
        timeout: tuple[float, float],
    ) -> Response:
        for last_try in (False, True):
            opened_before = getattr(self._thread, "connects", 0)
            try:
                response = pool.urlopen(
                    method,
                    target,
                    body=body,
                    headers=headers,
                    retries=False,
                    redirect=False,
                    assert_same_host=False,
                    timeout=urllib3.Timeout(connect=timeout[0], read=timeout[1]),
                    preload_content=False,
                )
            except ProtocolError as exc:
                reused = getattr(self._thread, "connects", 0) == opened_before
                cause = exc.args[-1] if exc.args else None
                stale = isinstance(cause, ConnectionError | http.client.BadStatusLine)
                if last_try or not (reused and stale):
                    raise
                continue
            try:
                content = response.read(MAX_RESPONSE)
                if not response.isclosed():  # an answer too long to read through
                    response.close()  # and its connection
            finally:
                response.release_conn()
            return Response(response.status, content)
        raise AssertionError("unreachable")

    def _addresses(self, host: str, port: int) -> list[str]:
        """``host``'s addresses, in the order to try them (kept a while: a DNS query per
        message would cost more than the message)."""
        now = time.monotonic()
        found = self._resolved.get((host, port))
        if found is not None and now - found[1] < IDLE_REUSE:
            return found[0]
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        addresses = list(dict.fromkeys(str(info[4][0]) for info in infos))
        with self._lock:
            if len(self._resolved) > 1000:  # gateways come and go: keep this bounded
                self._resolved.clear()
            self._resolved[host, port] = (addresses, now)
        return addresses

    def _pool(
        self, secure: bool, address: str, port: int, host: str, verify: bool
    ) -> urllib3.HTTPConnectionPool:
        """The pool of connections to ``address`` for ``host`` (closing idle pools now and then)."""
        key = (secure, address, port, host, verify)
        now = time.monotonic()
        idle: list[urllib3.HTTPConnectionPool] = []
        with self._lock:
            if now - self._swept > IDLE_REUSE:
                self._swept = now
                for old in [k for k, (_, used) in self._pools.items() if now - used >= IDLE_REUSE]:
                    idle.append(self._pools.pop(old)[0])
            found = self._pools.get(key)
            pool = found[0] if found is not None else self._new_pool(*key)
            self._pools[key] = (pool, now)
        for old in idle:
            old.close()
        return pool

    def _new_pool(
        self, secure: bool, address: str, port: int, host: str, verify: bool
    ) -> urllib3.HTTPConnectionPool:
        watch = {"opened": self._opened, "closed": self._closed}
        if not secure:
            return _Pool(address, port, maxsize=self.maxsize, block=False, **watch)
        return _SecurePool(
            address,
            port,
            maxsize=self.maxsize,
            block=False,
            cert_reqs=ssl.CERT_REQUIRED if verify else ssl.CERT_NONE,
            ssl_context=self._context(verify),
            server_hostname=host,  # SNI and the certificate's name: the host, not the address
            **watch,
        )

    def _context(self, verify: bool) -> ssl.SSLContext:
        context = self._tls.get(verify)
        if context is None:  # loading the trusted certificates takes milliseconds: once
            context = ssl.create_default_context()
            if not verify:  # the URL's ?verify=no
                context.check_hostname = False
                context.verify_mode = ssl.CERT_NONE
            self._tls[verify] = context
        return context

    def _opened(self, connection: HTTPConnection) -> None:
        self._thread.connects = getattr(self._thread, "connects", 0) + 1
        with self._lock:
            self.connects += 1
            self._open.add(connection)

    def _closed(self, connection: HTTPConnection) -> None:
        with self._lock:
            self._open.discard(connection)


class _Watched:
    """A urllib3 connection that tells its ``ConnectionPool`` when it opens and closes,
    and is not reused after ``IDLE_REUSE`` seconds idle."""

    def __init__(
        self,
        *args: Any,
        opened: Callable[[HTTPConnection], None],
        closed: Callable[[HTTPConnection], None],
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self.on_open, self.on_close = opened, closed
        self.idle_since = time.monotonic()

    def connect(self) -> None:
        super().connect()
        self.on_open(self)

    def close(self) -> None:
        super().close()
        self.on_close(self)

    def getresponse(self, *args: Any, **kwargs: Any) -> Any:
        try:
            return super().getresponse(*args, **kwargs)
        finally:
            self.idle_since = time.monotonic()

    @property
    def is_connected(self) -> bool:  # urllib3 asks before it reuses a kept connection
        return super().is_connected and time.monotonic() - self.idle_since < IDLE_REUSE


class _Connection(_Watched, HTTPConnection):
    pass


class _SecureConnection(_Watched, HTTPSConnection):
    pass


class _Pool(urllib3.HTTPConnectionPool):
    ConnectionCls = _Connection


class _SecurePool(urllib3.HTTPSConnectionPool):
    ConnectionCls = _SecureConnection


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
            pool = ConnectionPool(maxsize=1)
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
        except REQUEST_ERRORS as exc:
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
