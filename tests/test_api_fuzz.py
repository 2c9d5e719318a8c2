"""Property-based fuzzing of the whole HTTP API from its own OpenAPI document (schemathesis).

Design, and why:

* The Tortoise database context and its connections belong to the test's event loop, so
  every request must run on that loop. schemathesis' own ASGI transport (``case.call``)
  runs the app in a private event-loop thread that would not see the test's database, and
  bridging threads both ways is fragile. So the fuzz is **generate, then send**:
  Hypothesis draws the cases of an operation synchronously (pure data generation, no I/O),
  then the async test sends each case, serialised exactly as schemathesis would send it,
  to the real ASGI app through ``httpx.ASGITransport`` on the test's own loop, and judges
  the answer with ``case.validate_response``. Generation never depends on responses, so
  nothing is lost, and nothing crosses threads.
* Deterministic and bounded: ``derandomize=True`` (a fixed seed), no example database, no
  shrinking (the app is stateful: a shrink would replay against a changed world), and
  ``EXAMPLES`` cases per operation: 25 positive and 15 negative (negative cases mostly stop
  at validation; the file must stay within about a minute on SQLite on 2 cores). The cases
  of an operation are drawn once per session and replayed for each identity and database.
  Failures are collected, not raised, so one run reports every distinct problem, grouped
  by cause (a 5xx by its exception, with the product lines that raised it), each with the
  shortest request that shows it. The app's own error log is silenced for the same reason.
* Real data: each test builds a World (community, grids, admin, staff, grid worker, teams,
  a volunteer, a resident, wishes in several states, a recurring and a team task with
  signups) in the test's database (a SQLite file; PostgreSQL too with VHUB_TEST_POSTGRES_URL).
  Positive cases are steered half of the time onto ids that exist (path ids and ``*_id``
  fields) and onto plausible phones, passwords, categories, kinds and times, so handlers run
  past the "not found" and validation guards. Requests carry the bearer token of an ADMIN
  and, in a second pass, of a plain resident, so allowed and refused paths are both
  exercised (a logout revokes the token, so a fresh one is minted after it); a third test
  sends them with no token and with garbage tokens.
* Both generation modes: POSITIVE (documented inputs) and NEGATIVE (schema-violating
  inputs, which must also be refused with a 4xx). A deterministic hostile-input test adds
  what generators rarely produce: invalid JSON, non-object JSON, deep nesting, invalid
  UTF-8, lone surrogates, NUL bytes and control characters, huge strings, wrong types,
  far-away dates, ids beyond 32 and 64 bits, forged cursors, each put into an otherwise
  valid request. Issue 10 added integers past Python's 4300-digit limit (in paths, queries
  and raw into every body field), raw NaN and Infinity, booleans, fractions and digits as
  text for integers, years 0, 1 and 9999 and offsets beyond ±24 h for dates, and RRULEs
  that never match or end in an overflowing year: all of these must be refused (4xx). The
  World also holds a task stored with a rule that never matches, read by every task read.

Checks on every response: no 5xx; the status is documented for the operation; the content
type is the documented JSON; the body matches the documented schema (error bodies match
ErrorResponse); no stack trace in the body.
"""

from __future__ import annotations

import base64
import json
import logging
import re
import traceback
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import httpx
import hypothesis
import jsonschema_rs
import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, Phase
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.core.failures import FailureGroup
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

import volunteer_hub
from tests.factories import PASSWORD, World
from volunteer_hub.models import Role, Task
from volunteer_hub.services import auth, calendars, tasks, wishes
from volunteer_hub.web import create_app
from volunteer_hub.web.app import API_PREFIX
from volunteer_hub.web.routes import ENDPOINTS

EXAMPLES = {GenerationMode.POSITIVE: 25, GenerationMode.NEGATIVE: 15}  # per operation
BASE_URL = "http://testserver"
CLIENT_ADDRESS = ("203.0.113.9", 50000)
# Tokens are minted from another address, so fuzzed failed logins never throttle them.
TOKEN_ADDRESS = "198.51.100.1"
PRODUCT_DIR = str(Path(volunteer_hub.__file__).parent)
TRACE_MARKERS = ("Traceback (most recent call last)", 'File "/', "\n  File ")

Check = Callable[..., Any]
BASE_CHECKS: list[Check] = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]


# --- the world the fuzz runs against --------------------------------------------------------


@dataclass
class Fixture:
    """The World, the ids that exist (by kind), and the phones of the identities."""

    world: World
    ids: dict[str, list[Any]] = field(default_factory=dict)
    phones: dict[str, str] = field(default_factory=dict)

    def first(self, kind: str) -> Any:
        return self.ids[kind][0]


async def build_world(hub) -> Fixture:
    w = await World(hub).build()
    team = await w.team("elderly_care", "助老服务队")
    other_team = await w.team("repair", "维修队")
    volunteer = await w.volunteer("李志愿", team=team)
    resident = await w.person("王奶奶", birth_date=date(1944, 5, 1))
    other_staff = await w.person("张主任", roles=[Role.STAFF])

    open_wish = await wishes.post(
        hub,
        resident,
        w.community.id,
        {"title": "陪同去医院", "description": "周四上午需要人陪同", "category": "elderly_care"},
    )
    open_wish = await wishes.review(hub, w.staff, open_wish.id, {"decision": "approve"})
    claimed = await wishes.post(
        hub,
        w.grid_worker,
        w.community.id,
        {
            "title": "帮忙买菜",
            "description": "买一周的菜",
            "category": "errand",
            "on_behalf_of": resident.id,
        },
    )
    await wishes.review(hub, w.staff, claimed.id, {"decision": "approve"})
    await wishes.claim(hub, volunteer, claimed.id)
    submitted = await wishes.post(
        hub,
        resident,
        w.community.id,
        {"title": "修水龙头", "description": "厨房水龙头漏水", "category": "repair"},
    )

    patrol = await tasks.create_task(
        hub,
        w.staff,
        w.community.id,
        {
            "title": "银发巡逻",
            "starts_at": datetime(2026, 12, 3, 11, 0, tzinfo=UTC),  # 19:00 in Shanghai
            "ends_at": datetime(2026, 12, 3, 13, 0, tzinfo=UTC),
            "capacity": 1,
            "rrule": "FREQ=WEEKLY;BYDAY=TU,TH",
            "location": "幸福里东门",
        },
    )
    visit = await tasks.create_task(
        hub,
        w.staff,
        w.community.id,
        {
            "title": "助老探访",
            "team_id": team.id,
            "starts_at": datetime(2026, 12, 2, 2, 0, tzinfo=UTC),
            "ends_at": datetime(2026, 12, 2, 4, 0, tzinfo=UTC),
            "capacity": 3,
        },
    )
    # A row as a version before the rule checks could store it: a rule that never matches.
    never = await Task.create(
        created_at=hub.now(),
        community_id=w.community.id,
        team_id=team.id,
        title="二月三十日",
        description="",
        starts_at=datetime(2026, 12, 3, 11, 0, tzinfo=UTC),
        ends_at=datetime(2026, 12, 3, 13, 0, tzinfo=UTC),
        capacity=2,
        rrule=NEVER_MATCHING[0],
        created_by_id=w.staff.id,
    )
    s1 = await tasks.sign_up(hub, volunteer, patrol.id)
    s2 = await tasks.sign_up(hub, resident, patrol.id)  # waitlisted: capacity 1
    s3 = await tasks.sign_up(hub, volunteer, visit.id)

    people = [w.admin, w.staff, w.grid_worker, volunteer, resident, other_staff]
    feeds = [await calendars.my_feed_token(hub, p) for p in (volunteer, resident)]
    return Fixture(
        world=w,
        ids={
            "community": [w.community.id],
            "grid": [w.grid.id, w.other_grid.id],
            "team": [team.id, other_team.id],
            "person": [p.id for p in people],
            "wish": [open_wish.id, claimed.id, submitted.id],
            "task": [patrol.id, visit.id, never.id],
            "signup": [s1.id, s2.id, s3.id],
            "feed": feeds,
        },
        phones={"admin": w.admin.person.phone, "resident": resident.person.phone},
    )


async def mint_token(hub, phone: str) -> str:
    return (await auth.login(hub, phone, PASSWORD, TOKEN_ADDRESS)).token


@pytest.fixture
async def fixture(hub, caplog) -> Fixture:
    # The app logs every 500 with its traceback; the findings report each cause once.
    caplog.set_level(logging.CRITICAL, logger="volunteer_hub.web.api")
    return await build_world(hub)


class Recorder:
    """Wraps the ASGI app to remember the exception behind a 500 (for the report)."""

    def __init__(self, app) -> None:
        self.app = app
        self.error: BaseException | None = None

    async def __call__(self, scope, receive, send) -> None:
        try:
            await self.app(scope, receive, send)
        except Exception as exc:
            self.error = exc
            raise

    def take(self) -> BaseException | None:
        error, self.error = self.error, None
        return error


@dataclass
class Client:
    http: httpx.AsyncClient
    recorder: Recorder


@pytest.fixture
def vhub_settings(vhub_settings):
    """The fuzz registers far more often from one address than anyone may: every request
    must reach the parser here (test_throttle.py tests the limit)."""
    return replace(vhub_settings, registrations_per_hour=1_000_000)


@pytest.fixture
async def client(hub, settings):
    recorder = Recorder(create_app(settings, hub=hub, manage_database=False))
    transport = httpx.ASGITransport(app=recorder, client=CLIENT_ADDRESS, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url=BASE_URL) as http:
        yield Client(http, recorder)


async def load_schema(client: Client):
    r = await client.http.get("/openapi.json")
    assert r.status_code == 200, r.text
    return schemathesis.openapi.from_dict(r.json())


def operations(schema) -> list:
    """Every operation of the document; one that cannot be tested fails here, with the reason."""
    return [item.ok() for item in schema.get_all_operations()]


# --- generating cases, steered onto real data -------------------------------------------------

_PATH_KINDS = {
    "/api/v1/people/{id}": "person",
    "/api/v1/wishes/": "wish",
    "/api/v1/tasks/": "task",
    "/api/v1/signups/": "signup",
    "/api/v1/grids/": "grid",
    "/api/v1/teams/{id}": "team",
}
_NAME_KINDS = {"cid": "community", "tid": "team", "token": "feed"}
_FIELD_KINDS = {
    "community_id": "community",
    "grid_id": "grid",
    "team_id": "team",
    "person_id": "person",
    "on_behalf_of": "person",
    "leader_id": "person",
}
# Rules that never match, or end in a year a zone's offset overflows: all refused (422).
NEVER_MATCHING = [
    "FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=30",
    "FREQ=DAILY;BYMONTH=4;BYMONTHDAY=31",
    "FREQ=WEEKLY;UNTIL=00010101",
    "FREQ=WEEKLY;UNTIL=99991231T235959",
    "FREQ=WEEKLY;COUNT=0",
    "FREQ=WEEKLY;COUNT=2;UNTIL=20270101",
]
_SHANGHAI_EVENINGS = [f"2026-12-{d:02d}T19:00:00+08:00" for d in (3, 8, 10)]
PLAUSIBLE: dict[str, st.SearchStrategy] = {
    "phone": st.integers(13900000000, 13999999999).map(str),
    "password": st.sampled_from([PASSWORD, "Zx9-long-enough"]),
    "category": st.sampled_from(["elderly_care", "errand", "repair", "psychology", "other"]),
    "kind": st.sampled_from(["elderly_care", "repair", "counsellor", "first_aid", "legal_aid"]),
    "timezone": st.sampled_from(["Asia/Shanghai", "Asia/Urumqi", "UTC"]),
    "rrule": st.sampled_from(["FREQ=WEEKLY;BYDAY=TU,TH", "FREQ=DAILY;COUNT=3", *NEVER_MATCHING]),
    "starts_at": st.sampled_from(_SHANGHAI_EVENINGS[:2]),
    "ends_at": st.sampled_from([s.replace("T19", "T21") for s in _SHANGHAI_EVENINGS[:2]]),
    "occurrence_start": st.sampled_from(_SHANGHAI_EVENINGS),
    "birth_date": st.sampled_from(
        ["1944-05-01", "1990-01-31", "2015-06-01", "0001-01-01", "9999-12-31", "2030-01-01"]
    ),
}


def _path_kind(path: str, name: str) -> str | None:
    """Which kind of thing a path parameter names (None: unknown, left as generated)."""
    if name in _NAME_KINDS:
        return _NAME_KINDS[name]
    for prefix, kind in _PATH_KINDS.items():
        if path.startswith(prefix):
            return kind
    return None


def steered(op, mode: GenerationMode, ids: dict[str, list[Any]]) -> st.SearchStrategy:
    """The operation's cases; positive ones steered half of the time onto real data."""
    cases = op.as_strategy(generation_mode=mode)
    if not mode.is_positive:
        return cases
    return st.builds(lambda case, data: _steer(case, data.draw, op, ids), cases, st.data())


def _steer(case, draw, op, ids: dict[str, list[Any]]):
    for name in list(case.path_parameters or {}):
        kind = _path_kind(op.path, name)
        if kind is not None and draw(st.booleans()):
            case.path_parameters[name] = draw(st.sampled_from(ids[kind]))
    if isinstance(case.body, dict):
        body = dict(case.body)
        for key, value in body.items():
            kind = _FIELD_KINDS.get(key)
            if kind and isinstance(value, int) and draw(st.booleans()):
                body[key] = draw(st.sampled_from(ids[kind]))
            elif key in PLAUSIBLE and draw(st.booleans()):
                body[key] = draw(PLAUSIBLE[key])
        case.body = body
    return case


def draw_cases(strategy: st.SearchStrategy, examples: int) -> list:
    """Up to ``examples`` cases from ``strategy``, deterministically (fixed seed, no shrink)."""
    drawn: list = []

    @hypothesis.settings(
        max_examples=examples,
        derandomize=True,
        database=None,
        deadline=None,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
        verbosity=hypothesis.Verbosity.quiet,
    )
    @hypothesis.given(case=strategy)
    def collect(case) -> None:
        drawn.append(case)

    try:
        collect()
    except hypothesis.errors.Unsatisfiable:  # nothing to negate: an operation without input
        pass
    return drawn


_CASES: dict[tuple, list] = {}


def cases_for(op, mode: GenerationMode, ids: dict[str, list[Any]]) -> list:
    """The cases of ``op`` in ``mode``: drawn once per session, replayed for every pass."""
    key = (op.label, mode, tuple((k, tuple(v)) for k, v in sorted(ids.items())))
    if key not in _CASES:
        _CASES[key] = draw_cases(steered(op, mode, ids), EXAMPLES[mode])
    return _CASES[key]


# --- sending a case and judging the answer -------------------------------------------------


def no_stack_trace(ctx, response, case) -> bool | None:
    """API.md: never a stack trace in a response."""
    text = response.content.decode("utf-8", "replace")
    for marker in TRACE_MARKERS:
        if marker in text:
            raise AssertionError(f"the response body carries a stack trace ({marker!r})")
    return None


def refused_with_4xx(ctx, response, case) -> bool | None:
    """A malformed request must be refused as the client's fault."""
    if not 400 <= response.status_code < 500:
        raise AssertionError(f"a malformed request must get a 4xx, got {response.status_code}")
    return None


def _headers_negated(case) -> bool:
    """A negative case whose headers are the invalid part (no token, or a malformed one)."""
    meta = case.meta
    if meta is None:
        return False
    return any(
        getattr(location, "name", location) == "HEADER" and component.mode.is_negative
        for location, component in meta.components.items()
    )


def prepare(case, token: str | None, language: str | None = None):
    """The request schemathesis would send for ``case`` (its own serialisation), as bytes.

    The generated bearer token is replaced by the identity's real one (none for ``None``),
    except in a negative case that negates the headers: that goes out as generated.
    """
    kwargs = case.as_transport_kwargs(base_url=BASE_URL)
    headers = dict(kwargs.get("headers") or {})
    if not _headers_negated(case):
        headers = {k: v for k, v in headers.items() if k.lower() != "authorization"}
        if token is not None:
            headers["Authorization"] = f"Bearer {token}"
    if language is not None:
        headers["Accept-Language"] = language
    return requests.Request(
        method=kwargs["method"],
        url=kwargs["url"],
        headers=headers,
        params=kwargs.get("params"),
        cookies=kwargs.get("cookies"),
        json=kwargs.get("json"),
        data=kwargs.get("data"),
        files=kwargs.get("files"),
    ).prepare()


async def send(client: Client, request) -> tuple[httpx.Response, BaseException | None]:
    headers = {k: v for k, v in request.headers.items() if k.lower() != "content-length"}
    response = await client.http.request(
        request.method, request.url, headers=headers, content=request.body or b""
    )
    return response, client.recorder.take()


def _shown(request) -> str:
    body = request.body or b""
    if isinstance(body, str):
        body = body.encode()
    if len(body) > 200:
        body = body[:200] + b"...(%d bytes)" % len(body)
    auth_header = request.headers.get("Authorization", "")
    who = " [no token]" if not auth_header else ""
    target = request.path_url if len(request.path_url) < 200 else request.path_url[:200] + "..."
    return f"{request.method} {target}{who}" + (f"\n      body: {body!r}" if body else "")


def _origin(error: BaseException) -> str:
    """The innermost product line that raised ``error``."""
    frames = [f for f in traceback.extract_tb(error.__traceback__) if PRODUCT_DIR in f.filename]
    if not frames:
        return "outside volunteer_hub"
    f = frames[-1]
    return f"volunteer_hub{f.filename.split(PRODUCT_DIR, 1)[1]}:{f.lineno} ({f.name})"


@dataclass
class Finding:
    title: str
    operations: set[str] = field(default_factory=set)
    raised_at: set[str] = field(default_factory=set)
    example: str = ""


class Findings:
    """Distinct failures grouped by cause, with the shortest request that shows each."""

    def __init__(self) -> None:
        self.found: dict[tuple[str, str], Finding] = {}

    def judge(self, case, request, response, error, checks: Iterable[Check], label="") -> None:
        try:
            case.validate_response(response, checks=list(checks))
        except FailureGroup as group:
            failures = list(group.exceptions)
        else:
            return
        if response.status_code >= 500:  # one report: the server error and what raised it
            failures = [f for f in failures if f.title == "Server error"] or failures[:1]
        label_text = f" ({label})" if label else ""
        for failure in failures:
            if failure.title == "Server error" and error is not None:
                message = re.sub(r"\d{4,}", "N", str(error))[:160]  # group ids alike
                title, cause = f"5xx: {type(error).__name__}: {message}", ""
            else:
                detail = [line for line in str(failure).splitlines() if line.strip()]
                title = f"{failure.title}: {' / '.join(detail[1:4])[:300]}"
                cause = case.operation.label
            example = (
                f"{_shown(request)}{label_text}\n"
                f"      -> {response.status_code} {response.text[:240]}"
            )
            finding = self.found.setdefault((title, cause), Finding(title))
            finding.operations.add(case.operation.label)
            if response.status_code >= 500 and error is not None:
                finding.raised_at.add(_origin(error))
            if not finding.example or len(example) < len(finding.example):
                finding.example = example

    def assert_none(self, what: str) -> None:
        if not self.found:
            return
        lines = [f"{len(self.found)} distinct problem(s) {what}:"]
        for finding in sorted(self.found.values(), key=lambda f: f.title):
            lines.append(f"\n* {finding.title}")
            lines.append(f"    operations: {', '.join(sorted(finding.operations))}")
            if finding.raised_at:
                lines.append(f"    raised at: {', '.join(sorted(finding.raised_at))}")
            lines.append(f"    e.g. {finding.example}")
        pytest.fail("\n".join(lines), pytrace=False)


# --- the document itself ------------------------------------------------------------------------


def _template(path: str) -> str:
    """A Starlette path (``/wishes/{id:int}``) as an OpenAPI template (``/wishes/{id}``)."""
    return re.sub(r"{(\w+)(?::\w+)?}", r"{\1}", path)


async def test_openapi_document_is_valid(client):
    r = await client.http.get("/openapi.json")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("application/json")
    doc = r.json()
    assert doc["openapi"].startswith("3.1")
    schema = schemathesis.openapi.from_dict(doc)
    schema.validate()  # against the OpenAPI 3.1 meta-schema
    ops = operations(schema)  # every operation loads, its references resolve

    for name, component in doc["components"]["schemas"].items():
        jsonschema_rs.meta.validate(component)  # each is a valid JSON Schema (2020-12)
        assert component.get("type") or component.get("anyOf") or component.get("enum"), name

    declared = {(e.method.lower(), API_PREFIX + _template(e.path)) for e in ENDPOINTS}
    documented = {(op.method.lower(), op.path) for op in ops}
    assert declared <= documented, f"declared but not documented: {declared - documented}"
    api_paths = {p for p in doc["paths"] if p.startswith(API_PREFIX)}
    assert api_paths == {p for _, p in declared}, "a documented /api/v1 path is not served"

    for path, methods in doc["paths"].items():
        for method, operation in methods.items():
            where = f"{method.upper()} {path}"
            responses = operation["responses"]
            assert any(
                "schema" in r.get("content", {}).get("application/json", {})
                for r in responses.values()
            ), f"{where}: no response has a schema"
            for status, response in responses.items():
                if int(status) >= 400:
                    ref = response["content"]["application/json"]["schema"]["$ref"]
                    assert ref == "#/components/schemas/ErrorResponse", f"{where} {status}"
            for p in operation.get("parameters", []):
                assert "schema" in p, f"{where}: parameter {p['name']} has no schema"
            if "requestBody" in operation:
                assert {"413", "422"} <= set(responses), f"{where}: body errors not documented"
            if {"bearer": []} in operation.get("security", []):
                assert "401" in responses, f"{where}: takes a token but documents no 401"


# --- the fuzz -----------------------------------------------------------------------------------


@pytest.mark.parametrize(("identity", "language"), [("admin", None), ("resident", "en")])
async def test_fuzz_every_operation(hub, client, fixture: Fixture, identity: str, language):
    """Every operation, positive and negative cases, as an admin and as a plain resident
    (whose pass also asks for English messages)."""
    schema = await load_schema(client)
    findings = Findings()
    phone = fixture.phones[identity]
    token = await mint_token(hub, phone)
    for op in operations(schema):
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            checks = [*BASE_CHECKS, no_stack_trace]
            if mode.is_negative:
                checks.append(negative_data_rejection)
            for case in cases_for(op, mode, fixture.ids):
                request = prepare(case, token, language)
                response, error = await send(client, request)
                findings.judge(case, request, response, error, checks, label=mode.value)
                if op.path.endswith("/auth/logout"):
                    token = await mint_token(hub, phone)  # the old one is revoked now
    findings.assert_none(f"fuzzing as {identity}")


async def test_no_token_or_a_bad_token_gets_documented_answers(client, fixture: Fixture):
    """Without a token, or with a garbage one: the documented 401, or the public answer."""
    schema = await load_schema(client)
    findings = Findings()
    for op in operations(schema):
        for case in cases_for(op, GenerationMode.POSITIVE, fixture.ids)[:4]:
            for token in (None, "garbage-token", "x" * 4000):
                request = prepare(case, token)
                response, error = await send(client, request)
                checks = [*BASE_CHECKS, no_stack_trace]
                label = f"token={str(token)[:16]}"
                findings.judge(case, request, response, error, checks, label=label)
    findings.assert_none("without a valid token")


# --- hostile inputs the generators rarely produce ---------------------------------------------

HUGE = "长" * 20000  # 60 000 bytes of UTF-8: under the 64 KiB body limit
MALFORMED_BODIES: dict[str, bytes] = {
    "not JSON": b"{not json",
    "truncated JSON": b'{"title": "x',
    "JSON array": b"[]",
    "JSON null": b"null",
    "JSON string": b'"x"',
    "JSON number out of range": b"1e999",
    "invalid UTF-8": b'{"name": "\xff\xfe"}',
    "deeply nested arrays": b"[" * 30000 + b"]" * 30000,
    "deeply nested objects": b'{"a":' * 10000 + b"1" + b"}" * 10000,
    "trailing NUL": b'{"name": "a"}\x00',
    "too large": b'{"name": "' + b"x" * 70000 + b'"}',
    "unknown field with NUL": b'{"unknown\\u0000": 1}',
}
ODD_VALUES: dict[str, Any] = {
    "object": {"$gt": ""},
    "array": [1, "2"],
    "bool": True,
    "float": 1.5,
    "negative": -1,
    "int32 overflow": 2**31,
    "int64 overflow": 2**63,
    "huge int": 10**30,
    "empty": "",
    "NUL": "a\x00b",
    "control chars": "a\x1bb\x7f",
    "lone surrogate": "\ud800",
    "newline": "a\nb",
    "huge string": HUGE,
    "non-ASCII": "张三 🙂 ﷽ e\u0301 \u202e",
    "date far future": "9999-12-31",
    "date year 1": "0001-01-01",
    "datetime far future": "9999-12-31T23:59:59-12:00",
    "datetime year 1": "0001-01-01T00:00:00+14:00",
    "date year 0": "0000-01-01",
    "offset out of range": "2026-12-08T19:00:00+24:00",
    "digits as text": "2",
    "naive datetime": "2026-12-08T19:00:00",
    "null": None,
}
HUGE_DIGITS = "9" * 5000  # past Python's 4300-digit limit of int(str)
BAD_IDS = {
    "int32 overflow": 2**31,
    "int64 overflow": 2**63,
    "huge": 10**30,
    "past 4300 digits": HUGE_DIGITS,
}
# JSON literals no encoder writes, put raw into a field of a valid body: all refused.
RAW_VALUES: dict[str, str] = {
    "integer past 4300 digits": HUGE_DIGITS,
    "negative integer past 4300 digits": "-" + HUGE_DIGITS,
    "NaN": "NaN",
    "Infinity": "Infinity",
    "-Infinity": "-Infinity",
    "number out of range": "1e999",
}
# Odd values that a field must refuse, by what the field's valid value is.
REFUSED_FOR_INTEGERS = {"bool", "float", "int64 overflow", "huge int", "digits as text"}
REFUSED_FOR_DATES = {
    "date far future",
    "date year 1",
    "datetime far future",
    "datetime year 1",
    "date year 0",
    "offset out of range",
}
_DATE_TEXT = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
BAD_PATH_TEXT = {"NUL": "a\x00b", "huge": "x" * 5000, "non-ASCII": "张三 🙂"}
BAD_QUERIES: dict[str, dict[str, str]] = {
    "huge limit": {"limit": str(10**30)},
    "negative limit": {"limit": "-1"},
    "int64 cursor": {"cursor": base64.urlsafe_b64encode(str(2**63).encode()).decode()},
    "huge cursor": {"cursor": base64.urlsafe_b64encode(str(10**30).encode()).decode()},
    "limit past 4300 digits": {"limit": HUGE_DIGITS},
    "boolean limit": {"limit": "true"},
    "garbage cursor": {"cursor": "%%%\x00"},
    "NUL in status": {"status": "open\x00"},
}
ODD_QUERIES: dict[str, dict[str, str]] = {  # no 5xx, but a 200 is fine
    "huge community_id": {"community_id": str(10**30)},
    "unknown parameter": {"$where": "1"},
}


def valid_bodies(fx: Fixture) -> dict[str, dict[str, Any]]:
    """An accepted body for each operation (by label), to put one odd value into at a time."""
    cid, tid = fx.first("community"), fx.first("team")
    evening = "2026-12-08T19:00:00+08:00"
    return {
        "POST /api/v1/auth/login": {"phone": "13912345678", "password": "wrong-pass-1"},
        "POST /api/v1/auth/reset-code": {"phone": "13912345678"},
        "POST /api/v1/auth/reset": {
            "phone": "13912345678",
            "code": "123456",
            "password": "Qiuyue-Lanhua-7",
        },
        "POST /api/v1/people": {
            "name": "新居民",
            "phone": "13912340000",
            "password": PASSWORD,
            "community_id": cid,
            "birth_date": "1990-01-31",
            "grid_id": fx.first("grid"),
            "address": "幸福里1号",
            "skills": ["维修"],
        },
        "POST /api/v1/communities": {"name": "新社区", "timezone": "Asia/Shanghai"},
        "POST /api/v1/communities/{cid}/grids": {"name": "第三网格"},
        "POST /api/v1/communities/{cid}/staff": {
            "person_id": fx.ids["person"][4],
            "role": "grid_worker",
            "grid_id": fx.first("grid"),
        },
        "POST /api/v1/communities/{cid}/teams": {"name": "新队", "kind": "repair"},
        "POST /api/v1/teams/{tid}/members": {
            "qualifications": [{"kind": "first_aid", "expires_on": "2027-06-30"}]
        },
        "POST /api/v1/party-reports": {
            "community_id": cid,
            "work_unit": "区卫健委",
            "party_branch": "第一支部",
        },
        "POST /api/v1/communities/{cid}/wishes": {
            "title": "帮忙取药",
            "description": "去社区医院取药",
            "category": "errand",
            "needed_by": "2026-12-10",
            "on_behalf_of": fx.ids["person"][4],
        },
        "POST /api/v1/wishes/{id}/review": {"decision": "approve", "reason": "同意"},
        "POST /api/v1/wishes/{id}/fulfil": {"note": "已完成", "hours": "1.5"},
        "POST /api/v1/wishes/{id}/confirm": {"rating": 5, "thanks": "谢谢"},
        "POST /api/v1/wishes/{id}/cancel": {"reason": "不需要了"},
        "POST /api/v1/wishes/{id}/hand-back": {"reason": "临时有事"},
        "POST /api/v1/wishes/{id}/escalate": {"level": "blue", "referral": "街道办"},
        "POST /api/v1/communities/{cid}/tasks": {
            "title": "楼道清扫",
            "description": "每周清扫",
            "team_id": tid,
            "starts_at": evening,
            "ends_at": "2026-12-08T21:00:00+08:00",
            "capacity": 2,
            "rrule": "FREQ=WEEKLY;BYDAY=TU",
            "location": "3号楼",
        },
        "POST /api/v1/tasks/{id}/signups": {"occurrence_start": evening},
        "POST /api/v1/wishes/{id}/invitations": {"person_id": fx.ids["person"][3]},
        "POST /api/v1/tasks/{id}/invitations": {
            "person_id": fx.ids["person"][3],
            "occurrence_start": evening,
        },
        "POST /api/v1/tasks/{id}/occurrences/cancel": {"start": evening},
        "PUT /api/v1/me/channels/{code}": {"address": "openid-123", "enabled": True},
        "POST /api/v1/communities/{cid}/callouts": {
            "title": "暴雨预警：请到岗",
            "message": "今晚8点前到社区服务站集合。",
            "target": {"kind": "team", "value": tid},
        },
        "POST /api/v1/communities/{cid}/emergency": {
            "reason": "暴雨红色预警",
            "message": "今晚8点前到社区服务站集合。",
            "target": {"kind": "team", "value": tid},
            "categories": ["errand"],
        },
        "DELETE /api/v1/communities/{cid}/emergency": {"note": "雨停了"},
    }


def _flat_fields(body: Any, prefix: tuple = ()) -> Iterator[tuple]:
    """Paths to every leaf of a JSON body (into the first item of lists)."""
    if isinstance(body, dict):
        for key, value in body.items():
            yield (*prefix, key)
            yield from _flat_fields(value, (*prefix, key))
    elif isinstance(body, list) and body:
        yield from _flat_fields(body[0], (*prefix, 0))


def _replaced(body: Any, path: tuple, value: Any) -> Any:
    if not path:
        return value
    head, rest = path[0], path[1:]
    if isinstance(body, dict):
        return {**body, head: _replaced(body[head], rest, value)}
    return [_replaced(body[0], rest, value), *body[1:]]


def hostile_cases(schema, fx: Fixture) -> Iterator[tuple[Any, str, bool]]:
    """(case, what is odd about it, whether it must be refused) for every operation."""
    bodies = valid_bodies(fx)
    media = "application/json"
    for op in operations(schema):
        path, bad_path = {}, {}
        for p in op.path_parameters:
            kind = _path_kind(op.path, p.name)
            path[p.name] = fx.first(kind) if kind else "1"
            numeric = p.definition.get("schema", {}).get("type") == "integer"
            bad_path[p.name] = BAD_IDS if numeric else BAD_PATH_TEXT
        # An operation missing from valid_bodies() still gets the malformed bodies.
        body = bodies.get(op.label, {}) if op.body else None
        extra = {"body": body, "media_type": media} if body is not None else {}
        for name, bad_values in bad_path.items():
            for what, bad in bad_values.items():
                case = op.Case(path_parameters={**path, name: bad}, **extra)
                yield case, f"{name} {what}", True
        names = {p.name for p in op.query}
        for queries, must in ((BAD_QUERIES, True), (ODD_QUERIES, False)):
            for what, query in queries.items():
                if set(query) <= names or "$where" in query:
                    yield op.Case(path_parameters=path, query=query, **extra), what, must
        if body is None:
            continue
        for what, raw in MALFORMED_BODIES.items():
            yield op.Case(path_parameters=path, body=raw, media_type=media), what, True
        for where in _flat_fields(body):
            name = ".".join(map(str, where))
            valid = _value_at(body, where)
            for what, value in ODD_VALUES.items():
                odd = _replaced(body, where, value)
                case = op.Case(path_parameters=path, body=odd, media_type=media)
                yield case, f"{name}: {what}", _must_refuse(valid, what)
            for what, literal in RAW_VALUES.items():
                raw = json.dumps(_replaced(body, where, _PLACEHOLDER), ensure_ascii=False)
                raw = raw.replace(json.dumps(_PLACEHOLDER), literal).encode()
                case = op.Case(path_parameters=path, body=raw, media_type=media)
                yield case, f"{name}: {what}", True
            if where[-1] == "rrule":
                for rule in NEVER_MATCHING:
                    case = op.Case(
                        path_parameters=path, body=_replaced(body, where, rule), media_type=media
                    )
                    yield case, f"{name}: {rule}", True


_PLACEHOLDER = "\u0000raw\u0000"


def _value_at(body: Any, path: tuple) -> Any:
    for step in path:
        body = body[step]
    return body


def _must_refuse(valid: Any, what: str) -> bool:
    """Booleans, fractions, text and out-of-range numbers are no integer; far years and
    offsets no date: a field whose valid value is one must refuse them (a 4xx)."""
    if isinstance(valid, int) and not isinstance(valid, bool):
        return what in REFUSED_FOR_INTEGERS
    if isinstance(valid, str) and _DATE_TEXT.match(valid):
        return what in REFUSED_FOR_DATES
    return False


async def test_hostile_inputs(hub, client, fixture: Fixture):
    """Odd and malformed input, one oddity at a time in an otherwise valid request (as admin)."""
    schema = await load_schema(client)
    findings = Findings()
    phone = fixture.phones["admin"]
    token = await mint_token(hub, phone)
    for case, what, must_be_refused in hostile_cases(schema, fixture):
        request = prepare(case, token)
        response, error = await send(client, request)
        checks = [*BASE_CHECKS, no_stack_trace]
        if must_be_refused:
            checks.append(refused_with_4xx)
        findings.judge(case, request, response, error, checks, label=what)
        if case.operation.path.endswith("/auth/logout"):
            token = await mint_token(hub, phone)
    findings.assert_none("on hostile inputs")
