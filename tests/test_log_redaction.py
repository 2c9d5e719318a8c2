"""Secrets never reach a log line: real servers in subprocesses, their real log output.

``vhub serve --workers 2`` (uvicorn with our log configuration, applied in each worker)
and plain ``uvicorn … --factory`` (the app factory protects the handlers uvicorn made)
serve a seeded SQLite database; every kind of secret travels in a request, and the
servers' output must hold none of them, the redaction marker in their place, and the
ordinary query parameters as they were.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import subprocess
import sys
import textwrap
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.factories import World
from tests.test_http_workers import free_port, server_env, stop, wait_until_healthy
from volunteer_hub import db, logs
from volunteer_hub.config import Settings, sqlite_url
from volunteer_hub.hub import Hub
from volunteer_hub.services import calendars, open311_keys

BIN = Path(sys.executable).parent
REPEAT = 6  # each request several times, so that both workers serve some


@dataclass
class Seeded:
    community_id: int
    team_id: int
    key: str
    feed_token: str


async def seed(database_url: str, data_dir: Path) -> Seeded:
    await db.upgrade(database_url)
    settings = Settings(
        database_url=database_url,
        secret_key="test",  # the server's (server_env): the feed token must be valid there
        data_dir=data_dir,
        disable_plugin_autoload=True,
        password_profile="CHEAPEST",
    )
    async with db.database(database_url):
        hub = Hub.create(settings)
        w = await World(hub).build()
        team = await w.team("elderly_care")
        _, key = await open311_keys.create_key(
            hub, w.staff, w.community.id, {"name": "12345热线", "scopes": ["requests:read"]}
        )
        feed = await calendars.my_feed_token(hub, w.staff)
    return Seeded(w.community.id, team.id, key, feed)


def serve_command(kind: str, port: int) -> list[str]:
    common = ["--host", "127.0.0.1", "--port", str(port), "--workers", "2"]
    if kind == "vhub serve":
        return [str(BIN / "vhub"), "serve", *common]
    return [str(BIN / "uvicorn"), "volunteer_hub.web.asgi:app_factory", "--factory", *common]


@pytest.mark.parametrize("kind", ["vhub serve", "uvicorn --factory"])
def test_secrets_are_redacted_from_the_servers_logs(kind: str, tmp_path: Path) -> None:
    database_url = sqlite_url(tmp_path / "vhub.sqlite3")
    s = asyncio.run(seed(database_url, tmp_path))
    ack, login_token, code, password = (secrets.token_urlsafe(24) for _ in range(4))
    secret_values = [s.key, s.feed_token, ack, login_token, code, password]
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    log = tmp_path / "serve.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            serve_command(kind, port),
            env=server_env(database_url, tmp_path),
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    try:
        wait_until_healthy(proc, base, log)
        for _ in range(REPEAT):
            with httpx.Client(base_url=base, timeout=30) as client:
                r = client.get(
                    "/open311/v2/requests.json",
                    params={"jurisdiction_id": s.community_id, "status": "open", "api_key": s.key},
                )
                assert r.status_code == 200, r.text
                r = client.get(
                    "/open311/v2/requests.xml",
                    params={"jurisdiction_id": s.community_id},
                    headers={"Authorization": f"Bearer {s.key}"},
                )
                assert r.status_code == 200, r.text
                r = client.get(f"/calendar/{s.feed_token}.ics")
                assert r.status_code == 200 and "BEGIN:VCALENDAR" in r.text
                assert client.get(f"/ack/{ack}").status_code == 404
                client.get(
                    "/login",
                    params={"next": "/me", "token": login_token, "code": code},
                )
                # The name encoded, and the value in a form-style query.
                client.get(f"/open311/v2/services.json?jurisdiction_id=1&api%5Fkey={password}")
                assert client.get(f"/calendar/teams/{s.team_id}.ics").status_code == 200
    finally:
        stop(proc)
    text = log.read_text()
    access = [line for line in text.splitlines() if '"GET ' in line and "/healthz" not in line]
    assert len(access) == 7 * REPEAT, text
    for value in secret_values:
        assert value not in text, f"a secret is in the log:\n{text}"
    assert text.count(logs.MARKER) == 6 * REPEAT, text  # one per secret in a request line
    # Ordinary parameters and public paths are left as they were.
    assert f"jurisdiction_id={s.community_id}&status=open&api_key=[redacted]" in text, text
    assert "/calendar/[redacted].ics" in text and "/ack/[redacted]" in text
    assert "next=%2Fme&token=[redacted]&code=[redacted]" in text
    assert f"/calendar/teams/{s.team_id}.ics" in text


def test_our_loggers_and_tracebacks_are_redacted_with_the_served_configuration(
    tmp_path: Path,
) -> None:
    """The configuration ``vhub serve`` gives uvicorn, in a process of its own: the project's
    loggers (through the root handler) and uvicorn's error logger, messages, arguments
    and tracebacks."""
    script = textwrap.dedent(
        """
        import logging, logging.config
        from volunteer_hub import logs

        logging.config.dictConfig(logs.log_config("info"))
        ours = logging.getLogger("volunteer_hub.web.api")
        ours.error("unhandled error on %s %s", "GET", "/calendar/FEEDSECRET.ics")
        ours.warning("retrying https://sms.example/send?to=1&key=KEYSECRET")
        ours.warning("header Authorization: Bearer BEARERSECRET, then %(who)s", {"who": "x"})
        try:
            raise ValueError("bad link /ack/ACKSECRET?api_key=APISECRET")
        except ValueError:
            ours.exception("failed for %s", "/open311/v2/requests.json?jurisdiction_id=3")
        logging.getLogger("uvicorn.error").error("Exception in ASGI application GET %s",
                                                 "/x?password=PWSECRET")
        logging.getLogger("volunteer_hub.services").info("not shown at info: %s", "?token=T")
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=True
    )
    text = done.stdout + done.stderr
    for value in ("FEEDSECRET", "KEYSECRET", "BEARERSECRET", "ACKSECRET", "APISECRET", "PWSECRET"):
        assert value not in text, text
    assert "/calendar/[redacted].ics" in text
    assert "to=1&key=[redacted]" in text
    assert "Bearer [redacted], then x" in text
    assert "ValueError: bad link /ack/[redacted]?api_key=[redacted]" in text
    assert "requests.json?jurisdiction_id=3" in text
    assert "password=[redacted]" in text
    assert "not shown at info" not in text


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "/open311/v2/requests.json?api_key=o311_abc",
            "/open311/v2/requests.json?api_key=[redacted]",
        ),
        ("/x?API_KEY=a&b=2", "/x?API_KEY=[redacted]&b=2"),
        ("/x?b=2&api%5fkey=a", "/x?b=2&api%5fkey=[redacted]"),
        ("/x?token=", "/x?token="),  # nothing to hide
        ("/x?tokens=1&monkey=2&codes=3", "/x?tokens=1&monkey=2&codes=3"),
        ("/calendar/12-0-abcDEF.ics", "/calendar/[redacted].ics"),
        ("/calendar/teams/7.ics", "/calendar/teams/7.ics"),
        ("GET /ack/AbC_d-e HTTP/1.1", "GET /ack/[redacted] HTTP/1.1"),
        ("authorization: bearer abc.def", "authorization: bearer [redacted]"),
        ("Basic dXNlcjpwYXNz", "Basic [redacted]"),
    ],
)
def test_redact(text: str, expected: str) -> None:
    assert logs.redact(text) == expected


def test_protect_handlers_is_idempotent() -> None:
    handler = logging.StreamHandler()
    logger = logging.getLogger("uvicorn.access")
    logger.addHandler(handler)
    try:
        logs.protect_handlers()
        logs.protect_handlers()
        assert sum(isinstance(f, logs.RedactSecrets) for f in handler.filters) == 1
        # Warnings of loggers without a handler go to the last resort: redacted too.
        assert any(isinstance(f, logs.RedactSecrets) for f in logging.lastResort.filters)
    finally:
        logger.removeHandler(handler)
