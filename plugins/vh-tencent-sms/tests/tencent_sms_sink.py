"""A stand-in for sms.tencentcloudapi.com on 127.0.0.1, as strict as the real one.

It re-computes each request's TC3-HMAC-SHA256 signature on its own (not with the plugin's
code) from what actually arrived, refuses a bad or stale one as Tencent does
(``AuthFailure.SignatureFailure``, ``AuthFailure.SignatureExpire``), and answers SendSms
like Tencent: a ``SendStatusSet``, or the error it was told to give. Like a careful
receiver, it counts a repeat of a SessionContext it accepted as a duplicate.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

_AUTHORIZATION = re.compile(
    r"TC3-HMAC-SHA256 Credential=(?P<id>[^/]+)/(?P<date>[0-9-]+)/(?P<service>\w+)/tc3_request, "
    r"SignedHeaders=(?P<signed>[a-z0-9;\-]+), Signature=(?P<signature>[0-9a-f]{64})"
)


def expected_signature(secret_key: str, headers, signed: str, body: bytes) -> str:
    """TC3-HMAC-SHA256 as Tencent's documentation spells it out, from the received request."""
    names = signed.split(";")
    canonical = "POST\n/\n\n"
    canonical += "".join(f"{n}:{headers.get(n, '').strip().lower()}\n" for n in names)
    canonical += f"\n{signed}\n{hashlib.sha256(body).hexdigest()}"
    timestamp = int(headers["X-TC-Timestamp"])
    date = datetime.fromtimestamp(timestamp, UTC).date().isoformat()
    to_sign = (
        f"TC3-HMAC-SHA256\n{timestamp}\n{date}/sms/tc3_request\n"
        + hashlib.sha256(canonical.encode()).hexdigest()
    )

    def mac(key: bytes, text: str) -> bytes:
        return hmac.new(key, text.encode(), hashlib.sha256).digest()

    key = mac(mac(mac(f"TC3{secret_key}".encode(), date), "sms"), "tc3_request")
    return hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()


@dataclass
class Request:
    headers: dict[str, str]
    payload: dict
    verified: bool
    signed_headers: str = ""


@dataclass
class TencentSmsSink:
    secret_id: str
    secret_key: str
    # None: send; ("error", code): refuse the request; ("status", code): refuse the number;
    # ("http", status): a gateway error with no API answer.
    fail: tuple[str, str | int] | None = None
    requests: list[Request] = field(default_factory=list)
    accepted: dict[str, dict] = field(default_factory=dict)  # SessionContext → payload
    duplicates: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.lock = threading.Lock()
        sink = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length", 0)))
                status, answer = sink.answer(self.headers, body)
                data = json.dumps(answer).encode() if answer is not None else b"gateway error"
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.endpoint = f"http://127.0.0.1:{self.port}"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> TencentSmsSink:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()

    def answer(self, headers, body: bytes) -> tuple[int, dict | None]:
        """The HTTP status and JSON answer to a SendSms request, recording it."""
        request_id = str(uuid.uuid4())
        payload = json.loads(body or b"{}")
        auth = _AUTHORIZATION.fullmatch(headers.get("Authorization", ""))
        verified = bool(
            auth
            and auth["id"] == self.secret_id
            and auth["service"] == "sms"
            and hmac.compare_digest(
                auth["signature"],
                expected_signature(self.secret_key, headers, auth["signed"], body),
            )
            and {"content-type", "host"} <= set(auth["signed"].split(";"))
        )
        with self.lock:
            self.requests.append(
                Request(dict(headers), payload, verified, auth["signed"] if auth else "")
            )
        if not verified:
            return 200, _error("AuthFailure.SignatureFailure", "bad signature", request_id)
        if abs(time.time() - int(headers["X-TC-Timestamp"])) > 300:
            return 200, _error("AuthFailure.SignatureExpire", "stale timestamp", request_id)
        if headers.get("X-TC-Action") != "SendSms" or headers.get("X-TC-Version") != "2021-01-11":
            return 200, _error("InvalidAction", "unknown action", request_id)
        if self.fail is not None:
            kind, code = self.fail
            if kind == "http":
                return int(code), None
            if kind == "error":
                return 200, _error(str(code), "refused by the test", request_id)
        context = payload.get("SessionContext", "")
        code = str(self.fail[1]) if self.fail and self.fail[0] == "status" else "Ok"
        if code == "Ok":
            with self.lock:
                if context in self.accepted:
                    self.duplicates.append(context)
                else:
                    self.accepted[context] = payload
        statuses = [
            {
                "SerialNo": f"2433:{uuid.uuid4().int % 10**20}",
                "PhoneNumber": phone,
                "Fee": 1 if code == "Ok" else 0,
                "SessionContext": context,
                "Code": code,
                "Message": "send success" if code == "Ok" else "refused by the test",
                "IsoCode": "CN",
            }
            for phone in payload.get("PhoneNumberSet", [])
        ]
        return 200, {"Response": {"SendStatusSet": statuses, "RequestId": request_id}}


def _error(code: str, message: str, request_id: str) -> dict:
    return {"Response": {"Error": {"Code": code, "Message": message}, "RequestId": request_id}}
