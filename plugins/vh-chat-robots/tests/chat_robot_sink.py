"""Stand-ins for WeCom's and DingTalk's robot webhooks on 127.0.0.1, as strict as the real ones.

WeCom (``/cgi-bin/webhook/send?key=…``) refuses an unknown key with errcode 93000.
DingTalk (``/robot/send?access_token=…&timestamp=…&sign=…``) re-computes the signature
on its own from the secret it was given, and refuses with errcode 310000 a wrong one, a
sign that is not URL-encoded exactly once, or a timestamp more than an hour off. Both
answer HTTP 200 with an ``errcode``, as the real robots do, and can be told to refuse
(``fail``: an errcode, e.g. too many messages). A repeat of an idempotency key already
accepted counts as a duplicate.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, quote_plus, urlsplit


@dataclass
class Post:
    path: str
    raw_query: str
    headers: dict[str, str]
    payload: dict
    errcode: int


@dataclass
class RobotSink:
    wecom_key: str = "wecom-test-key"
    dingtalk_token: str = "dingtalktesttoken"
    dingtalk_secret: str = "SECdingtalktestsecret0123456789"
    fail: int | None = None  # an errcode to answer every post with
    posts: list[Post] = field(default_factory=list)
    accepted: dict[str, dict] = field(default_factory=dict)  # idempotency key → payload
    duplicates: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.lock = threading.Lock()
        sink = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length", 0)))
                answer = sink.answer(self.path, dict(self.headers), json.loads(body or b"{}"))
                data = json.dumps(answer).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base_url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> RobotSink:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()

    def expected_sign(self, timestamp: str) -> str:
        """The sign as DingTalk's documentation computes it, URL-encoded once."""
        secret = self.dingtalk_secret.encode()
        digest = hmac.new(secret, f"{timestamp}\n{self.dingtalk_secret}".encode(), hashlib.sha256)
        return quote_plus(base64.b64encode(digest.digest()))

    def answer(self, target: str, headers: dict[str, str], payload: dict) -> dict:
        """What the robot answers a post to ``target`` (path and query), recording it."""
        parts = urlsplit(target)
        query = parse_qs(parts.query)
        errcode, errmsg = 0, "ok"
        if parts.path == "/cgi-bin/webhook/send":
            if query.get("key") != [self.wecom_key]:
                errcode, errmsg = 93000, "invalid webhook url"
        elif parts.path == "/robot/send":
            raw = dict(p.split("=", 1) for p in parts.query.split("&") if "=" in p)
            timestamp = query.get("timestamp", ["0"])[0]
            if query.get("access_token") != [self.dingtalk_token]:
                errcode, errmsg = 300001, "token is not exist"
            elif abs(time.time() * 1000 - int(timestamp)) > 3600 * 1000:
                errcode, errmsg = 310000, "invalid timestamp"
            elif raw.get("sign") != self.expected_sign(timestamp):
                errcode, errmsg = 310000, "sign not match"
        else:
            errcode, errmsg = 404, "no such path"
        if not errcode and self.fail is not None:
            errcode, errmsg = self.fail, "refused by the test"
        key = headers.get("X-Idempotency-Key", "")
        with self.lock:
            self.posts.append(Post(parts.path, parts.query, headers, payload, errcode))
            if not errcode:
                if key in self.accepted:
                    self.duplicates.append(key)
                else:
                    self.accepted[key] = payload
        return {"errcode": errcode, "errmsg": errmsg}
