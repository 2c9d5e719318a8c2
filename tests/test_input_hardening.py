"""Issue 10, findings 3, 4 and the strict-input half of 10, over real HTTP (ASGI) on SQLite
and PostgreSQL: rules that never match, stored rules older than the checks, bad input of
every kind answered with a 4xx and the contract's error body, booleans that are not
numbers, birth dates nobody alive has.

The ``clock`` fixture says 2026-12-01T01:00Z (09:00 in Shanghai).
"""

from __future__ import annotations

import asyncio
import http.client
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, date, datetime, timedelta

import pytest

from tests.factories import PASSWORD, World, next_phone
from tests.pages_support import csrf, log_in
from tests.test_http_workers import served  # noqa: F401 (the fixture)
from tests.test_open311 import make_key
from tests.test_recurrence import DateutilWalk
from volunteer_hub import recurrence
from volunteer_hub.models import Occurrence, Signup, SignupStatus, Task
from volunteer_hub.services import calendars

HUGE_INT = "9" * 5000  # past Python's 4300-digit limit for int(str)
LONG_INT = "9" * 4000  # under it, still far past any id or capacity
EVENING = "2026-12-08T19:00:00+08:00"
NEVER = "FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=30"


async def token_for(api, actor) -> str:
    r = await api.post(
        "/api/v1/auth/login", json={"phone": actor.person.phone, "password": PASSWORD}
    )
    assert r.status_code == 200, r.text
    return r.json()["token"]


def bearer(token: str, language: str | None = None) -> dict[str, str]:
    headers = {"Authorization": f"Bearer {token}"}
    if language:
        headers["Accept-Language"] = language
    return headers


def error(r, status: int, code: str | None = None) -> dict:
    """The contract's error body, with the status (and code) expected."""
    assert r.status_code == status, (r.status_code, r.text[:300])
    body = r.json()["error"]
    assert set(body) == {"code", "message", "details"} and body["message"], body
    if code is not None:
        assert body["code"] == code, body
    return body


def fields(body: dict) -> set[str]:
    return {d.get("field") for d in body["details"]}


def task_body(**overrides) -> dict:
    body = {
        "title": "楼道清扫",
        "starts_at": EVENING,
        "ends_at": "2026-12-08T21:00:00+08:00",
        "capacity": 2,
    }
    return {**body, **overrides}


@pytest.fixture
async def w(hub) -> World:
    return await World(hub).build()


# --- finding 3: rules are checked at creation --------------------------------------------------


@pytest.mark.parametrize(
    ("rule", "english"),
    [
        (NEVER, "The rule has no occurrence within two years of the first start."),
        ("FREQ=DAILY;BYMONTH=4;BYMONTHDAY=31", "no occurrence within two years"),
        ("FREQ=WEEKLY;COUNT=0", "COUNT must be a whole number from 1 to 1000."),
        ("FREQ=WEEKLY;COUNT=5000", "COUNT must be a whole number from 1 to 1000."),
        ("FREQ=WEEKLY;COUNT=3;UNTIL=20270101", "COUNT or with UNTIL, not both"),
        ("FREQ=WEEKLY;UNTIL=20261201", "UNTIL must not be before the first start."),
        ("FREQ=WEEKLY;UNTIL=00010101", "UNTIL must be a date between 2000 and 2200."),
        ("FREQ=WEEKLY;UNTIL=00010101T000000Z", "between 2000 and 2200"),
        ("FREQ=WEEKLY;UNTIL=99991231T235959", "between 2000 and 2200"),
        ("FREQ=HOURLY", "The rule may repeat at most daily."),
        ("FREQ=DAILY;INTERVAL=0", "INTERVAL must be a whole number from 1 to 100."),
        ("FREQ=DAILY;INTERVAL=" + "9" * 400, "Must be a valid RRULE"),
    ],
)
async def test_a_rule_without_a_use_is_refused_at_creation(api, w, rule, english):
    token = await token_for(api, w.staff)
    url = f"/api/v1/communities/{w.community.id}/tasks"
    r = await api.post(url, json=task_body(rrule=rule), headers=bearer(token, "en"))
    body = error(r, 422, "validation_error")
    assert body["details"][0]["field"] == "rrule"
    assert english in body["details"][0]["message"]
    zh = error(await api.post(url, json=task_body(rrule=rule), headers=bearer(token)), 422)
    assert zh["details"][0]["field"] == "rrule"
    assert any("\u4e00" <= c <= "\u9fff" for c in zh["details"][0]["message"])  # Chinese
    assert not await Task.exists(community_id=w.community.id)


async def test_a_team_leader_is_held_to_the_same_checks(api, hub, w):
    team = await w.team("repair")
    leader = await w.volunteer("队长", team=team)
    await type(team).filter(id=team.id).update(leader_id=leader.id)
    token = await token_for(api, leader)
    r = await api.post(
        f"/api/v1/communities/{w.community.id}/tasks",
        json=task_body(team_id=team.id, rrule=NEVER),
        headers=bearer(token, "en"),
    )
    assert fields(error(r, 422)) == {"rrule"}
    r = await api.post(
        f"/api/v1/communities/{w.community.id}/tasks",
        json=task_body(team_id=team.id, rrule="FREQ=WEEKLY;BYDAY=TU"),
        headers=bearer(token, "en"),
    )
    assert r.status_code == 201, r.text


async def test_the_staff_page_refuses_a_rule_with_the_field_named(browser, w):
    await log_in(browser, w.staff.person.phone)
    page = await browser.get("/staff/tasks/new", headers={"Accept-Language": "en"})
    form = {
        "csrf_token": csrf(page.text),
        "title": "巡逻",
        "capacity": "2",
        "date": "2026-12-08",
        "start_time": "19:00",
        "end_time": "21:00",
        "repeat": "weekly",
        "days": "TU",
        "until": "9000-12-31",  # beyond what a rule may run to
    }
    r = await browser.post("/staff/tasks/new", data=form, headers={"Accept-Language": "en"})
    assert r.status_code == 422, r.text[:300]
    assert "UNTIL must be a date between 2000 and 2200." in r.text
    assert not await Task.exists(community_id=w.community.id)
    r = await browser.post(
        "/staff/tasks/new", data={**form, "until": "2027-01-31"}, headers={"Accept-Language": "en"}
    )
    assert r.status_code == 303, r.text[:300]


# --- finding 3: rules stored before the checks never freeze a read -----------------------------


async def test_stored_rules_that_never_match_are_read_with_bounded_work(api, browser, hub, w):
    """Rows as a version before the checks could have stored them: every read of them
    answers, and dateutil builds at most a few decades of periods for all of them together
    (a single read walked about 8000 years, one at a time, before)."""
    team = await w.team("silver_patrol")
    volunteer = await w.volunteer("李志愿", team=team)
    first = datetime(2026, 12, 3, 11, 0, tzinfo=UTC)
    rules = [NEVER, "FREQ=DAILY;BYMONTH=2;BYMONTHDAY=30", "FREQ=WEEKLY;COUNT=0"]
    dead = [
        await Task.create(
            created_at=hub.now(),
            community_id=w.community.id,
            team_id=team.id,
            title=f"旧任务{i}",
            description="",
            starts_at=first,
            ends_at=first + timedelta(hours=2),
            capacity=3,
            rrule=rule,
            created_by_id=w.staff.id,
        )
        for i, rule in enumerate(rules)
    ]
    # A volunteer signed up (in that version) to an occurrence of one of them.
    occurrence = await Occurrence.create(
        task_id=dead[0].id,
        start=first + timedelta(days=7),
        end=first + timedelta(days=7, hours=2),
        capacity=3,
        taken=1,
    )
    await Signup.create(
        occurrence_id=occurrence.id,
        person_id=volunteer.id,
        status=SignupStatus.CONFIRMED,
        created_at=hub.now(),
    )
    token = await token_for(api, volunteer)
    feed = await calendars.my_feed_token(hub, volunteer)
    await log_in(browser, volunteer.person.phone)

    recurrence._usable.cache_clear()  # the verdicts of an earlier test (other database)
    with DateutilWalk() as walk:
        # Rules are walked in worker threads: new ones, started with the walk counted.
        asyncio.get_running_loop().set_default_executor(ThreadPoolExecutor())
        for task in dead:
            r = await api.get(f"/api/v1/tasks/{task.id}", headers=bearer(token))
            assert r.status_code == 200, r.text
            assert r.json()["occurrences"] == []
            r = await api.post(f"/api/v1/tasks/{task.id}/signups", json={}, headers=bearer(token))
            assert error(r, 409, "no_upcoming_occurrence")
            r = await api.post(
                f"/api/v1/tasks/{task.id}/signups",
                json={"occurrence_start": EVENING},
                headers=bearer(token),
            )
            assert fields(error(r, 422)) == {"occurrence_start"}
            assert (await browser.get(f"/tasks/{task.id}")).status_code == 200
        for _ in range(3):
            assert (await browser.get("/tasks")).status_code == 200  # the task board
            assert (await browser.get("/tasks?all=1")).status_code == 200
            assert (await browser.get("/schedule")).status_code == 200  # my signups
            r = await api.get(f"/calendar/teams/{team.id}.ics")
            assert r.status_code == 200 and b"BEGIN:VCALENDAR" in r.content
            assert "旧任务" not in r.text  # a rule with no occurrence is left out
            r = await api.get(f"/calendar/{feed}.ics")
            assert r.status_code == 200 and "旧任务0" in r.text  # the stored shift is kept
    # Each rule is walked once for the verdict (remembered for every later read), each walk
    # within 30 years of periods (months for the daily one).
    assert 0 < walk.periods <= len(rules) * 31 * 12


async def test_healthz_answers_while_a_rule_is_walked(api, hub, w, monkeypatch):
    """Rule walks run in worker threads, so the event loop serves /healthz meanwhile.

    The team feed's walk is held (a spy around the real ``next_start``) until /healthz has
    answered, and /healthz is sent only once the walk has begun. Were the walk on the event
    loop, nothing could answer while it is held: it would wait out its 30 s and say so.
    """
    team = await w.team("repair")
    await Task.create(
        created_at=hub.now(),
        community_id=w.community.id,
        team_id=team.id,
        title="每日",
        description="",
        starts_at=datetime(2026, 12, 3, 11, 0, tzinfo=UTC),
        ends_at=datetime(2026, 12, 3, 12, 0, tzinfo=UTC),
        capacity=3,
        rrule="FREQ=DAILY",
        created_by_id=w.staff.id,
    )
    walking, answered = threading.Event(), threading.Event()
    released: list[bool] = []
    real_next_start = calendars.next_start

    def held_next_start(*args):
        walking.set()
        released.append(answered.wait(timeout=30))  # False: nothing answered meanwhile
        return real_next_start(*args)

    monkeypatch.setattr(calendars, "next_start", held_next_start)
    feed = asyncio.create_task(api.get(f"/calendar/teams/{team.id}.ics"))
    assert await asyncio.to_thread(walking.wait, 30)  # the walk has begun
    r = await api.get("/healthz")
    assert r.status_code == 200 and r.json() == {"status": "ok"}
    answered.set()
    r = await feed
    assert r.status_code == 200 and "每日" in r.text
    assert released and all(released)


# --- finding 4: decoding and parsing errors are 4xx with the error body -----------------------


JSON_BREAKERS = {
    "huge integer": b'{"phone": ' + HUGE_INT.encode() + b', "password": "x"}',
    "huge negative integer": b'{"phone": -' + HUGE_INT.encode() + b"}",
    "huge exponent": b'{"phone": 1e999999999}',
    "NaN": b'{"phone": NaN, "password": "x"}',
    "Infinity": b'{"phone": -Infinity, "password": "x"}',
    "deep nesting": b'{"phone": ' + b"[" * 5000 + b"]" * 5000 + b"}",
    "invalid UTF-8": b'{"phone": "\xff\xfe", "password": "x"}',
    "lone surrogate": b'{"phone": "\\ud800", "password": "x"}',
    "truncated": b'{"phone": "1390',
    "array": b"[1, 2]",
    "BOM": b'\xef\xbb\xbf{"phone": "1"}',
}


@pytest.mark.parametrize("what", JSON_BREAKERS)
@pytest.mark.parametrize(
    "path", ["/api/v1/auth/login", "/api/v1/people", "/api/v1/communities/1/tasks"]
)
async def test_a_body_that_cannot_be_decoded_is_a_4xx(api, w, path, what):
    token = await token_for(api, w.admin)
    r = await api.post(
        path,
        content=JSON_BREAKERS[what],
        headers={**bearer(token), "Content-Type": "application/json"},
    )
    body = error(r, 422)
    assert body["code"] in ("invalid_json", "validation_error"), body


@pytest.mark.parametrize(
    ("number", "field"),
    [(HUGE_INT, None), (LONG_INT, "capacity"), ("1e400", "capacity"), ("NaN", None)],
)
async def test_huge_numbers_in_a_valid_body_are_refused(api, w, number, field):
    token = await token_for(api, w.staff)
    raw = (
        b'{"title": "x1", "starts_at": "2026-12-08T19:00:00+08:00",'
        b' "ends_at": "2026-12-08T21:00:00+08:00", "capacity": ' + number.encode() + b"}"
    )
    r = await api.post(
        f"/api/v1/communities/{w.community.id}/tasks",
        content=raw,
        headers={**bearer(token), "Content-Type": "application/json"},
    )
    body = error(r, 422)
    if field:
        assert fields(body) == {field}


@pytest.mark.parametrize(
    "path",
    [
        f"/api/v1/tasks/{HUGE_INT}",
        f"/api/v1/wishes/{HUGE_INT}",
        f"/api/v1/people/{HUGE_INT}",
        f"/api/v1/communities/{HUGE_INT}/teams",
        f"/calendar/teams/{HUGE_INT}.ics",
        f"/open311/v2/requests/{HUGE_INT}.json?jurisdiction_id=1",
    ],
)
async def test_a_huge_number_in_a_path_is_not_found(api, w, path):
    token = await token_for(api, w.admin)
    # Open311 takes integrators' keys, never a login token: ask it anonymously.
    headers = {} if path.startswith("/open311/") else bearer(token)
    r = await api.get(path, headers=headers)
    assert r.status_code == 404, r.text[:200]


@pytest.mark.parametrize(
    "path", [f"/tasks/{HUGE_INT}", f"/wishes/{HUGE_INT}", f"/staff/wishes/{HUGE_INT}"]
)
async def test_a_huge_number_in_a_page_path_is_not_found(browser, w, path):
    await log_in(browser, w.staff.person.phone)
    assert (await browser.get(path)).status_code == 404


@pytest.mark.parametrize(
    "query",
    [
        {"limit": HUGE_INT},
        {"limit": LONG_INT},
        {"limit": "1e3"},
        {"limit": "true"},
        {"status": "open", "limit": "-" + HUGE_INT},
    ],
)
async def test_a_huge_number_in_a_query_is_a_422(api, w, query):
    token = await token_for(api, w.admin)
    r = await api.get(
        f"/api/v1/communities/{w.community.id}/wishes", params=query, headers=bearer(token)
    )
    assert fields(error(r, 422)) == {"limit"}


@pytest.mark.parametrize(
    "body",
    [
        b'{"jurisdiction_id": 1, "service_code": "other", "lat": ' + HUGE_INT.encode() + b"}",
        b'{"jurisdiction_id": ' + HUGE_INT.encode() + b"}",
        b'{"service_code": NaN}',
        b'{"service_code": "other", "lat": 1e999, "long": 1}',
        b'{"service_code": true}',
        b"[" * 5000 + b"]" * 5000,
        b'{"service_code": "\xff"}',
    ],
)
async def test_open311_json_that_cannot_be_used_is_a_400(api, w, body):
    token = await make_key(api, w.staff)
    r = await api.post(
        f"/open311/v2/requests.json?jurisdiction_id={w.community.id}&api_key={token}",
        content=body,
        headers={"Content-Type": "application/json"},
    )
    assert r.status_code == 400, r.text[:300]
    assert r.json()[0]["code"] == 400


@pytest.mark.parametrize(
    "form",
    [
        {"service_code": "other", "lat": HUGE_INT, "long": "1"},
        {"service_code": "other", "lat": "nan", "long": "1"},
        {"service_code": "other", "lat": "1e999", "long": "1"},
        {"service_code": "other", "jurisdiction_id": HUGE_INT},
    ],
)
async def test_open311_form_fields_that_cannot_be_used_are_a_400(api, w, form):
    token = await make_key(api, w.staff)
    r = await api.post(
        f"/open311/v2/requests.json?jurisdiction_id={w.community.id}&api_key={token}", data=form
    )
    assert r.status_code in (400, 404), r.text[:300]
    assert r.json()[0]["code"] == r.status_code
    r = await api.post(
        f"/open311/v2/requests.json?jurisdiction_id={w.community.id}&api_key={token}",
        content=b"service_code=other&description=\xff\xfe",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert r.status_code == 400


@pytest.mark.parametrize(
    "form",
    [
        {"capacity": HUGE_INT},
        {"capacity": LONG_INT},
        {"team_id": HUGE_INT},
        {"date": "0001-01-01"},
        {"date": "9999-12-31"},
        {"until": "0001-01-01"},
    ],
)
async def test_huge_numbers_and_far_dates_in_a_form_are_a_422(browser, w, form):
    await log_in(browser, w.staff.person.phone)
    page = await browser.get("/staff/tasks/new")
    base = {
        "csrf_token": csrf(page.text),
        "title": "巡逻",
        "capacity": "2",
        "date": "2026-12-08",
        "start_time": "19:00",
        "end_time": "21:00",
        "repeat": "weekly",
        "days": "TU",
        "until": "2027-01-31",
    }
    r = await browser.post("/staff/tasks/new", data={**base, **form})
    assert r.status_code == 422, r.text[:300]
    assert not await Task.exists(community_id=w.community.id)


@pytest.mark.parametrize(
    "moment",
    [
        "0001-01-01T00:00:00+14:00",
        "9999-12-31T23:59:59-12:00",
        "0000-01-01T00:00:00Z",
        "2026-12-08T19:00:00+24:00",
        "2026-12-08T19:00:00+08:60",
        "2026-12-08T19:00:00",
        "+12026-12-08T19:00:00Z",
    ],
)
async def test_far_or_malformed_times_are_a_422(api, w, moment):
    token = await token_for(api, w.staff)
    r = await api.post(
        f"/api/v1/communities/{w.community.id}/tasks",
        json=task_body(starts_at=moment),
        headers=bearer(token),
    )
    assert "starts_at" in fields(error(r, 422))


# --- finding 10: strict types -------------------------------------------------------------------


async def test_booleans_are_not_numbers_anywhere(api, hub, w):
    token = await token_for(api, w.admin)
    cid = w.community.id
    cases = [
        (f"/api/v1/communities/{cid}/tasks", task_body(capacity=True), "capacity"),
        (f"/api/v1/communities/{cid}/tasks", task_body(team_id=True), "team_id"),
        (
            "/api/v1/party-reports",
            {"community_id": True, "work_unit": "a", "party_branch": "b"},
            "community_id",
        ),
        (f"/api/v1/communities/{cid}/staff", {"person_id": True, "role": "staff"}, "person_id"),
        (
            f"/api/v1/communities/{cid}/callouts",
            {"title": "t", "message": "m", "target": {"kind": "team", "value": True}},
            "target.value",
        ),
        (
            "/api/v1/people",
            {"name": "新", "phone": next_phone(), "password": PASSWORD, "community_id": True},
            "community_id",
        ),
        (f"/api/v1/communities/{cid}/teams", {"name": True, "kind": "repair"}, "name"),
        (f"/api/v1/communities/{cid}/tasks", task_body(capacity="2"), "capacity"),
        (f"/api/v1/communities/{cid}/tasks", task_body(capacity=2.0), "capacity"),
    ]
    for path, body, field in cases:
        r = await api.post(path, json=body, headers=bearer(token, "en"))
        details = error(r, 422)["details"]
        assert [d["field"] for d in details] == [field], (path, body, r.text)
        wanted = "Must be text." if field == "name" else "Must be a whole number."
        assert details[0]["message"] == wanted, (path, body, r.text)
    assert not await Task.exists(community_id=cid)


@pytest.mark.parametrize(
    ("birth_date", "message"),
    [
        ("0001-01-01", "more than 130 years ago"),
        ("1890-06-01", "more than 130 years ago"),
        ("9999-12-31", "cannot be in the future"),
        ("2026-12-02", "cannot be in the future"),  # tomorrow in Shanghai
    ],
)
async def test_implausible_birth_dates_are_refused(api, w, birth_date, message):
    body = {
        "name": "新居民",
        "phone": next_phone(),
        "password": PASSWORD,
        "community_id": w.community.id,
        "birth_date": birth_date,
    }
    r = await api.post("/api/v1/people", json=body, headers={"Accept-Language": "en"})
    error_body = error(r, 422)
    assert fields(error_body) == {"birth_date"}
    assert message in error_body["details"][0]["message"]
    r = await api.post("/api/v1/people", json={**body, "birth_date": "1896-12-01"})
    assert r.status_code == 201, r.text  # 130 today


async def test_the_register_page_refuses_an_implausible_birth_date(browser, w):
    page = await browser.get("/register", headers={"Accept-Language": "en"})
    form = {
        "csrf_token": csrf(page.text),
        "name": "新居民",
        "phone": next_phone(),
        "password": PASSWORD,
        "community_id": str(w.community.id),
        "birth_date": "0001-01-01",
    }
    r = await browser.post("/register", data=form, headers={"Accept-Language": "en"})
    assert r.status_code == 422, r.text[:300]
    assert "more than 130 years ago" in r.text


@pytest.mark.parametrize("day", ["0001-01-01", "9999-12-31"])
async def test_far_days_are_refused_on_wishes_and_qualifications(api, w, day):
    token = await token_for(api, w.staff)
    r = await api.post(
        f"/api/v1/communities/{w.community.id}/wishes",
        json={"title": "取药", "description": "去医院", "category": "errand", "needed_by": day},
        headers=bearer(token),
    )
    assert fields(error(r, 422)) == {"needed_by"}
    team = await w.team("repair")
    r = await api.post(
        f"/api/v1/teams/{team.id}/members",
        json={"qualifications": [{"kind": "first_aid", "expires_on": day}]},
        headers=bearer(token),
    )
    assert fields(error(r, 422)) == {"qualifications.0.expires_on"}


async def test_unit_the_service_checks_birth_dates_too(hub, w):
    from volunteer_hub.errors import InvalidInput
    from volunteer_hub.services import people

    with pytest.raises(InvalidInput) as info:
        await people.register(
            hub,
            {
                "name": "新",
                "phone": next_phone(),
                "password": PASSWORD,
                "community_id": w.community.id,
                "birth_date": date(1, 1, 1),
            },
        )
    assert info.value.fields == ["birth_date"]


# --- over a real server: the connection stays open ---------------------------------------------


def test_a_real_server_answers_undecodable_bodies_and_keeps_the_connection(served):  # noqa: F811
    """`vhub serve` (uvicorn, two workers, PostgreSQL): each bad request gets its 4xx with a
    body on one kept-alive connection, which then still serves /healthz (the probe saw a
    500 and a dropped connection for the first of these)."""
    host, port = served.removeprefix("http://").split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=30)
    json_type = {"Content-Type": "application/json"}
    form_type = {"Content-Type": "application/x-www-form-urlencoded"}
    huge = HUGE_INT.encode()
    requests = [
        ("POST", "/api/v1/auth/login", b'{"phone": ' + huge + b', "password": "x"}', json_type),
        ("POST", "/api/v1/people", b'{"name": "a", "community_id": ' + huge + b"}", json_type),
        ("POST", "/api/v1/auth/login", b'{"phone": NaN, "password": "x"}', json_type),
        ("POST", "/open311/v2/requests.json", b'{"lat": ' + huge + b"}", json_type),
        ("POST", "/open311/v2/requests.json", b"lat=" + huge + b"&long=1", form_type),
        ("GET", f"/api/v1/tasks/{HUGE_INT}", None, {}),
        ("GET", f"/api/v1/communities/1/wishes?limit={HUGE_INT}", None, {}),
    ]
    conn.connect()
    sock = conn.sock
    for method, path, body, headers in requests:
        conn.request(method, path, body=body, headers=headers)
        answer = conn.getresponse()
        content = answer.read()
        assert 400 <= answer.status < 500, (path, answer.status, content[:200])
        assert content, path
        assert answer.getheader("connection", "").lower() != "close", path
        assert conn.sock is sock, f"the connection was closed after {path}"
    conn.request("GET", "/healthz")
    answer = conn.getresponse()
    assert answer.status == 200 and answer.read() == b'{"status":"ok"}'
    assert conn.sock is sock
    conn.close()
