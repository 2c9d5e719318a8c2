"""Real message sinks on 127.0.0.1: an HTTP webhook receiver and an SMTP server (aiosmtpd).

Both honour an idempotency key, as a careful receiver does: a repeat of a key already
accepted is counted as a duplicate and not delivered again.
"""

from __future__ import annotations

import json
import socket
import ssl
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email import message_from_bytes
from email.header import decode_header, make_header
from http.server import BaseHTTPRequestHandler, HTTPServer, ThreadingHTTPServer
from ipaddress import IPv4Address
from pathlib import Path

from aiosmtpd.controller import Controller
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID


@dataclass
class Received:
    key: str
    subject: str
    body: str
    to: str
    raw: dict = field(default_factory=dict)
    path: str = ""  # with the query string, for webhooks
    host: str = ""  # the Host header, for webhooks
    # E-mail attachments, in order: (content type, file name, decoded bytes).
    attachments: list[tuple[str, str, bytes]] = field(default_factory=list)


class _Sink:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.accepted: dict[str, Received] = {}
        self.duplicates: list[str] = []
        self.attempts = 0

    def _accept(self, item: Received) -> None:
        with self.lock:
            if item.key in self.accepted:
                self.duplicates.append(item.key)
            else:
                self.accepted[item.key] = item


class WebhookSink(_Sink):
    """Answers ``fail_first`` requests with 500, then accepts JSON posts.

    It keeps connections alive (HTTP/1.1) as a real gateway does, and closes one that
    stays idle for ``idle_timeout`` seconds; ``keep_alive=False`` answers in HTTP/1.0 and
    closes each connection after one request. ``connections`` counts the connections
    accepted. ``one_at_a_time`` serves a single connection at a time (without keep-alive,
    which would hold the others off). With ``tls`` (see ``self_signed``) it serves https.
    """

    def __init__(
        self,
        fail_first: int = 0,
        always_fail: bool = False,
        delay: float = 0.0,
        one_at_a_time: bool = False,
        keep_alive: bool = True,
        idle_timeout: float = 5.0,
        tls: Path | None = None,
    ) -> None:
        super().__init__()
        self.fail_first = fail_first
        self.always_fail = always_fail
        self.delay = delay
        self.connections = 0
        sink = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1" if keep_alive and not one_at_a_time else "HTTP/1.0"
            timeout = idle_timeout

            def setup(self) -> None:
                super().setup()
                with sink.lock:
                    sink.connections += 1

            def do_POST(self) -> None:
                length = int(self.headers.get("content-length", 0))
                payload = json.loads(self.rfile.read(length) or b"{}")
                with sink.lock:
                    sink.attempts += 1
                    failing = sink.always_fail or sink.attempts <= sink.fail_first
                if sink.delay:
                    threading.Event().wait(sink.delay)
                if failing:
                    self._answer(500)
                    return
                sink._accept(
                    Received(
                        key=self.headers.get("Idempotency-Key", ""),
                        subject=payload.get("title", ""),
                        body=payload.get("message", ""),
                        to=payload.get("to", ""),
                        raw=payload,
                        path=self.path,
                        host=self.headers.get("Host", ""),
                    )
                )
                self._answer(200)

            def _answer(self, status: int) -> None:
                self.send_response(status)
                self.send_header("Content-Length", "0")  # the connection stays usable
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        server_class = HTTPServer if one_at_a_time else ThreadingHTTPServer
        # A worker opens up to a hundred connections at once: the default listen backlog
        # (5) would refuse some of them.
        server_class = type(
            "Sink" + server_class.__name__, (server_class,), {"request_queue_size": 1024}
        )
        self.server = server_class(("127.0.0.1", 0), Handler)
        if tls is not None:  # a PEM file with the certificate and its key
            context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            context.load_cert_chain(tls)
            self.server.socket = context.wrap_socket(self.server.socket, server_side=True)
        self.port = self.server.server_address[1]
        self.url = f"{'https' if tls else 'http'}://127.0.0.1:{self.port}/hook"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> WebhookSink:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


def self_signed(directory: Path) -> Path:
    """A PEM file with a certificate for 127.0.0.1 and its key (trust it to verify the sink)."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "volunteer_hub test sink")])
    now = datetime.now(UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(IPv4Address("127.0.0.1"))]), critical=False
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    path = directory / "sink.pem"
    path.write_bytes(
        certificate.public_bytes(serialization.Encoding.PEM)
        + key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return path


class SmtpSink(_Sink):
    def __init__(self) -> None:
        super().__init__()
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        sink = self

        class Handler:
            async def handle_DATA(self, server, session, envelope):
                message = message_from_bytes(envelope.content)
                text = ""
                attachments = []
                for part in message.walk():
                    if part.get_content_type() == "text/plain":
                        text = part.get_payload(decode=True).decode("utf-8")
                    if part.get_content_disposition() == "attachment":
                        attachments.append(
                            (
                                part.get_content_type(),
                                part.get_filename() or "",
                                part.get_payload(decode=True),
                            )
                        )
                with sink.lock:
                    sink.attempts += 1
                sink._accept(
                    Received(
                        key=message.get("X-Idempotency-Key", ""),
                        subject=str(make_header(decode_header(message["Subject"]))),
                        body=text,
                        to=",".join(envelope.rcpt_tos),
                        attachments=attachments,
                    )
                )
                return "250 OK"

        self.controller = Controller(Handler(), hostname="127.0.0.1", port=self.port)

    def __enter__(self) -> SmtpSink:
        self.controller.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.controller.stop()
