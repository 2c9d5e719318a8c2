"""Real message sinks on 127.0.0.1: an HTTP webhook receiver and an SMTP server (aiosmtpd).

Both honour an idempotency key, as a careful receiver does: a repeat of a key already
accepted is counted as a duplicate and not delivered again.
"""

from __future__ import annotations

import json
import socket
import threading
from dataclasses import dataclass, field
from email import message_from_bytes
from email.header import decode_header, make_header
from http.server import BaseHTTPRequestHandler, HTTPServer, ThreadingHTTPServer

from aiosmtpd.controller import Controller


@dataclass
class Received:
    key: str
    subject: str
    body: str
    to: str
    raw: dict = field(default_factory=dict)
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
    """Answers ``fail_first`` requests with 500, then accepts JSON posts."""

    def __init__(
        self,
        fail_first: int = 0,
        always_fail: bool = False,
        delay: float = 0.0,
        one_at_a_time: bool = False,
    ) -> None:
        super().__init__()
        self.fail_first = fail_first
        self.always_fail = always_fail
        self.delay = delay
        sink = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("content-length", 0))
                payload = json.loads(self.rfile.read(length) or b"{}")
                with sink.lock:
                    sink.attempts += 1
                    failing = sink.always_fail or sink.attempts <= sink.fail_first
                if sink.delay:
                    threading.Event().wait(sink.delay)
                if failing:
                    self.send_response(500)
                    self.end_headers()
                    return
                sink._accept(
                    Received(
                        key=self.headers.get("Idempotency-Key", ""),
                        subject=payload.get("title", ""),
                        body=payload.get("message", ""),
                        to=payload.get("to", ""),
                        raw=payload,
                    )
                )
                self.send_response(200)
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
        self.port = self.server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}/hook"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> WebhookSink:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


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
