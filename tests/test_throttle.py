"""Login and registration throttling that holds: one counter per normalised phone, per
person and per address, taken atomically (simultaneous requests, two worker processes,
SQLite and PostgreSQL), and a client address that no client can choose.
"""

from __future__ import annotations

import asyncio
import subprocess
from collections import Counter
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from datetime import date, timedelta
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner

from tests.factories import PASSWORD, World, id_number, next_phone
from tests.pages_support import csrf
from tests.test_http_workers import (
    VHUB,
    free_port,
    server_env,
    stop,
    wait_until_healthy,
    worker_count,
)
from volunteer_hub import db
from volunteer_hub.cli import main
from volunteer_hub.config import Settings, SettingsError
from volunteer_hub.errors import NotAuthenticated, Throttled
from volunteer_hub.hub import Hub
from volunteer_hub.models import AttemptCounter, Person
from volunteer_hub.services import auth, people, throttle
from volunteer_hub.web import create_app

LOGIN = "/api/v1/auth/login"


def spellings(phone: str) -> list[str]:
    """One mainland mobile number, written as people write it."""
    a, b, c = phone[:3], phone[3:7], phone[7:]
    return [
        phone,
        f"+86 {a}-{b}-{c}",
        f"{a} {b} {c}",
        f"86{phone}",
        f"+86{phone}",
        f"{a}-{b}-{c}",
        f" (+86) {a} {b} {c} ",
    ]


@pytest.fixture
async def w(hub):
    return await World(hub).build()


def codes(answers: Iterable[httpx.Response]) -> Counter:
    return Counter(r.status_code for r in answers)


def client_at(settings: Settings, hub: Hub, address: str) -> httpx.AsyncClient:
    app = create_app(settings, hub=hub, manage_database=False)
    transport = httpx.ASGITransport(app=app, client=(address, 40000))
    return httpx.AsyncClient(transport=transport, base_url="http://testserver")


# --- login: what is counted ---------------------------------------------------------------


async def test_every_spelling_of_a_number_shares_one_counter(api, w):
    phone = w.staff.person.phone
    written = spellings(phone)
    for spelling in written[:5]:
        r = await api.post(LOGIN, json={"phone": spelling, "password": "wrong-pass-1"})
        assert r.status_code == 401, r.text
    for spelling in written:  # the right password, under any spelling: locked
        r = await api.post(LOGIN, json={"phone": spelling, "password": PASSWORD})
        assert r.status_code == 429, (spelling, r.text)
        assert r.json()["error"]["code"] == "too_many_attempts"
        assert 0 < int(r.headers["retry-after"]) <= 15 * 60
    w.hub.clock.advance(minutes=15, seconds=1)
    r = await api.post(LOGIN, json={"phone": written[1], "password": PASSWORD})
    assert r.status_code == 200, r.text


async def test_failures_count_on_the_person_too(api, w):
    person = w.staff.person
    for _ in range(5):
        r = await api.post(LOGIN, json={"phone": person.phone, "password": "wrong-pass-1"})
        assert r.status_code == 401
    # A new number for the same person (staff corrected it): still that person's lock.
    new_phone = next_phone()
    await Person.filter(id=person.id).update(phone=new_phone)
    r = await api.post(LOGIN, json={"phone": new_phone, "password": PASSWORD})
    assert r.status_code == 429, r.text
    w.hub.clock.advance(minutes=16)
    assert (
        await api.post(LOGIN, json={"phone": new_phone, "password": PASSWORD})
    ).status_code == 200


async def test_successes_never_count(api, w):
    phone = w.staff.person.phone
    wrong = {"phone": phone, "password": "wrong-pass-1"}
    right = {"phone": phone, "password": PASSWORD}
    for _ in range(4):
        assert (await api.post(LOGIN, json=wrong)).status_code == 401
    for _ in range(20):  # many successes: each gives its attempt back
        assert (await api.post(LOGIN, json=right)).status_code == 200
    assert (await api.post(LOGIN, json=wrong)).status_code == 401  # the fifth failure
    assert (await api.post(LOGIN, json=right)).status_code == 429
    counters = {c.key: c.count for c in await AttemptCounter.all()}
    assert counters == {
        f"login:phone:{phone}": 5,
        f"login:person:{w.staff.id}": 5,
        "login:address:203.0.113.7": 5,
    }


async def test_numbers_that_are_no_phone_still_count_on_the_address(api, w, hub, settings):
    for i in range(50):  # never a phone: no person, but each a failure from this address
        r = await api.post(LOGIN, json={"phone": f"not-a-phone-{i}", "password": "x"})
        assert r.status_code == 401, r.text
    right = {"phone": w.staff.person.phone, "password": PASSWORD}
    r = await api.post(LOGIN, json=right)
    assert r.status_code == 429, r.text
    async with client_at(settings, hub, "198.51.100.20") as elsewhere:
        assert (await elsewhere.post(LOGIN, json=right)).status_code == 200
    # The same text again is one counter of its own, and it locks like a phone.
    async with client_at(settings, hub, "198.51.100.21") as other:
        answers = [
            await other.post(LOGIN, json={"phone": "12345", "password": "x"}) for _ in range(6)
        ]
    assert [r.status_code for r in answers] == [401] * 5 + [429]


async def test_keys_are_bounded_whatever_is_typed(hub, w):
    typed = ["x" * 5000, "1390000\x000010", "a\u2028b" * 40, ""]
    for text in typed:
        with pytest.raises(NotAuthenticated):
            await auth.login(hub, text, "wrong-pass-1", "192.0.2.1")
    keys = [c.key for c in await AttemptCounter.all()]
    assert len(keys) == len(typed) + 1  # one per text, and the address
    assert all(len(k) <= throttle.MAX_KEY_LENGTH and k.isprintable() for k in keys)
    with pytest.raises(NotAuthenticated):  # the long text again: the same counter
        await auth.login(hub, "x" * 5000, "wrong-pass-1", "192.0.2.1")
    assert await AttemptCounter.all().count() == len(typed) + 1


async def test_expired_counters_are_removed(hub, w):
    for i in range(3):
        with pytest.raises(NotAuthenticated):
            await auth.login(hub, f"nobody-{i}", "wrong-pass-1", "192.0.2.1")
    assert await AttemptCounter.all().count() == 4
    hub.clock.advance(minutes=16)
    with pytest.raises(NotAuthenticated):
        await auth.login(hub, "somebody", "wrong-pass-1", "192.0.2.2")
    assert sorted(await AttemptCounter.all().values_list("key", flat=True)) == [
        "login:address:192.0.2.2",
        "login:phone:somebody",
    ]


async def test_forwarded_headers_do_not_move_the_address_in_the_app(api, w):
    """The app reads no forwarded header itself: only a trusted proxy, in uvicorn, may."""
    for i in range(50):
        r = await api.post(
            LOGIN,
            json={"phone": f"nobody-{i}", "password": "x"},
            headers={
                "X-Forwarded-For": f"192.0.2.{i}",
                "Forwarded": f"for=192.0.2.{i}",
                "X-Real-IP": f"192.0.2.{i}",
            },
        )
        assert r.status_code == 401
    r = await api.post(
        LOGIN,
        json={"phone": w.staff.person.phone, "password": PASSWORD},
        headers={"X-Forwarded-For": "198.51.100.99", "X-Real-IP": "198.51.100.99"},
    )
    assert r.status_code == 429


# --- login: simultaneous failures --------------------------------------------------------------


async def test_simultaneous_wrong_passwords_get_exactly_five_checks(api, w):
    phone = w.staff.person.phone
    written = spellings(phone)
    answers = await asyncio.gather(
        *(
            api.post(LOGIN, json={"phone": written[i % len(written)], "password": "wrong-pass-1"})
            for i in range(300)
        )
    )
    assert codes(answers) == {401: 5, 429: 295}
    assert all(int(r.headers["retry-after"]) > 0 for r in answers if r.status_code == 429)
    for spelling in written:
        r = await api.post(LOGIN, json={"phone": spelling, "password": PASSWORD})
        assert r.status_code == 429
    assert (await AttemptCounter.get(key=f"login:phone:{phone}")).count == 5


async def test_simultaneous_failures_hold_the_address_limit(api, w):
    answers = await asyncio.gather(
        *(api.post(LOGIN, json={"phone": next_phone(), "password": "wrong-1"}) for _ in range(120))
    )
    assert codes(answers) == {401: 50, 429: 70}
    counter = await AttemptCounter.get(key="login:address:203.0.113.7")
    assert counter.count == 50


async def test_fifty_simultaneous_logins_from_one_address_all_succeed(api, w):
    """A login in progress holds one of its address's 50 attempts until its password is
    checked; 50 at once from one address (a shared connection) all get in, and give back."""
    crowd = [await w.person(f"居民{i}") for i in range(50)]
    answers = await asyncio.gather(
        *(api.post(LOGIN, json={"phone": a.person.phone, "password": PASSWORD}) for a in crowd)
    )
    assert codes(answers) == {200: 50}
    assert set(await AttemptCounter.all().values_list("count", flat=True)) == {0}


async def test_simultaneous_successes_and_failures(api, w, hub):
    """Right passwords in the crowd give their attempt back: the counter ends with the
    failures that were checked, never more than five (a success in flight holds an
    attempt for a moment, so a failure beside it may be refused sooner)."""
    phone = w.staff.person.phone
    bodies = [
        {"phone": phone, "password": PASSWORD if i % 3 == 0 else "wrong-pass-1"} for i in range(90)
    ]
    answers = await asyncio.gather(*(api.post(LOGIN, json=b) for b in bodies))
    failures = codes(r for r, b in zip(answers, bodies, strict=True) if b["password"] != PASSWORD)
    successes = codes(r for r, b in zip(answers, bodies, strict=True) if b["password"] == PASSWORD)
    assert set(failures) <= {401, 429} and failures[401] <= 5
    assert set(successes) <= {200, 429}
    for key in (f"login:phone:{phone}", f"login:person:{w.staff.id}"):
        assert (await AttemptCounter.get(key=key)).count == failures[401]


# --- registration ----------------------------------------------------------------------------


def resident(w: World, **more) -> dict:
    return {
        "name": "新居民",
        "phone": next_phone(),
        "password": PASSWORD,
        "community_id": w.community.id,
        **more,
    }


async def test_registration_is_throttled_per_address_refusals_included(api, w, hub, settings):
    assert settings.registrations_per_hour == 10  # the default, tested as it ships
    taken = resident(w, id_number=id_number(date(1960, 3, 4)))
    bodies = [
        resident(w),
        taken,
        resident(w),
        {**resident(w), "phone": taken["phone"]},  # 409 phone_taken
        {**resident(w), "id_number": taken["id_number"]},  # 409 id_number_taken
        {**resident(w), "phone": "12345"},  # 422
        {**resident(w), "password": "x"},  # 422
        {"name": ""},  # 422
        {**resident(w), "community_id": 999999},  # 422
        resident(w),
    ]
    expected = [201, 201, 201, 409, 409, 422, 422, 422, 422, 201]
    got = [(await api.post("/api/v1/people", json=b)).status_code for b in bodies]
    assert got == expected
    people_before = await Person.all().count()
    refused = await api.post("/api/v1/people", json=resident(w))
    assert refused.status_code == 429, refused.text
    assert refused.json()["error"]["code"] == "too_many_attempts"
    assert 0 < int(refused.headers["retry-after"]) <= 3600
    english = await api.post("/api/v1/people", json=resident(w), headers={"Accept-Language": "en"})
    assert "Too many registrations from this address" in english.json()["error"]["message"]
    assert await Person.all().count() == people_before
    async with client_at(settings, hub, "198.51.100.30") as elsewhere:  # another address
        assert (await elsewhere.post("/api/v1/people", json=resident(w))).status_code == 201
    hub.clock.advance(hours=1, seconds=1)
    assert (await api.post("/api/v1/people", json=resident(w))).status_code == 201


async def test_simultaneous_registrations_stop_at_the_limit(api, w):
    answers = await asyncio.gather(
        *(api.post("/api/v1/people", json=resident(w)) for _ in range(300))
    )
    assert codes(answers) == {201: 10, 429: 290}
    assert await Person.filter(name="新居民").count() == 10


async def test_assisted_registration_is_not_throttled(api, w, hub):
    for _ in range(10):
        assert (await api.post("/api/v1/people", json=resident(w))).status_code == 201
    assert (await api.post("/api/v1/people", json=resident(w))).status_code == 429
    for helper in (w.staff, w.grid_worker):
        login = await api.post(LOGIN, json={"phone": helper.person.phone, "password": PASSWORD})
        headers = {"Authorization": f"Bearer {login.json()['token']}"}
        for _ in range(12):
            r = await api.post("/api/v1/people", json=resident(w), headers=headers)
            assert r.status_code == 201, r.text
    # A resident's own token is no assistance: counted like anyone's.
    someone = await w.person("普通居民")
    login = await api.post(LOGIN, json={"phone": someone.person.phone, "password": PASSWORD})
    headers = {"Authorization": f"Bearer {login.json()['token']}"}
    r = await api.post("/api/v1/people", json=resident(w), headers=headers)
    assert r.status_code == 429


async def test_services_count_only_registrations_from_an_address(hub, w):
    """The CLI, the demo and staff tools call the service with no client address."""
    for _ in range(15):
        await people.register(hub, resident(w))
    for _ in range(10):
        await people.register(hub, resident(w), address="192.0.2.5")
    with pytest.raises(Throttled) as refused:
        await people.register(hub, resident(w), address="192.0.2.5")
    assert refused.value.retry_after == 3600


async def test_registration_page_is_throttled_too(browser, api, w):
    page = await browser.get("/register")
    token = csrf(page.text)
    statuses = []
    for i in range(11):
        form = resident(w, community_id=str(w.community.id))
        if i % 2:
            form["phone"] = "12345"  # refused, and counted
        answer = await browser.post("/register", data={**form, "csrf_token": token})
        statuses.append(answer.status_code)
        await browser.post("/logout", data={"csrf_token": token})
        token = csrf((await browser.get("/register")).text)
    assert statuses == [303, 422] * 5 + [429]
    assert "注册次数过多" in answer.text
    assert 0 < int(answer.headers["retry-after"]) <= 3600
    # Counted per address: the API client (another address) still registers.
    assert (await api.post("/api/v1/people", json=resident(w))).status_code == 201


async def test_login_page_counts_on_the_same_phone(browser, api, w):
    phone = w.staff.person.phone
    page = await browser.get("/login")
    for spelling in spellings(phone)[:5]:
        form = {"phone": spelling, "password": "wrong-pass-1", "csrf_token": csrf(page.text)}
        page = await browser.post("/login", data=form)
        assert page.status_code == 401
    form = {"phone": f"+86 {phone}", "password": PASSWORD, "csrf_token": csrf(page.text)}
    page = await browser.post("/login", data=form)
    assert page.status_code == 429
    assert 0 < int(page.headers["retry-after"]) <= 15 * 60
    assert "失败次数过多" in page.text
    # One counter for the pages and the API, whichever address asks.
    r = await api.post(LOGIN, json={"phone": phone, "password": PASSWORD})
    assert r.status_code == 429


# --- settings ------------------------------------------------------------------------------


def test_settings_from_the_environment(tmp_path: Path):
    base = {"VHUB_SECRET_KEY": "k", "VHUB_DATA_DIR": str(tmp_path)}
    default = Settings.from_env(base)
    assert default.trusted_proxies == "" and default.registrations_per_hour == 10
    given = Settings.from_env(
        base
        | {
            "VHUB_TRUSTED_PROXIES": " 10.0.0.5, 192.168.0.0/16 ,",
            "VHUB_REGISTRATIONS_PER_HOUR": "30",
        }
    )
    assert given.trusted_proxies == "10.0.0.5,192.168.0.0/16"
    assert given.registrations_per_hour == 30
    for bad in ("0", "-1", "ten", "1.5", "²"):
        with pytest.raises(SettingsError, match="VHUB_REGISTRATIONS_PER_HOUR"):
            Settings.from_env(base | {"VHUB_REGISTRATIONS_PER_HOUR": bad})


def test_cli_refuses_a_bad_setting_clearly(tmp_path: Path):
    env = {
        "VHUB_SECRET_KEY": "k",
        "VHUB_DATA_DIR": str(tmp_path),
        "VHUB_REGISTRATIONS_PER_HOUR": "many",
    }
    result = CliRunner().invoke(main, ["serve"], env=env)
    assert result.exit_code == 2
    assert "VHUB_REGISTRATIONS_PER_HOUR" in result.output
    assert "Traceback" not in result.output


# --- over real HTTP: two worker processes, and proxies ---------------------------------------


@contextmanager
def serve(database_url: str, tmp_path: Path, *, workers: int = 1, **env: str) -> Iterator[str]:
    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    log = tmp_path / f"serve-{port}.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [str(VHUB), "serve", "--port", str(port), "--workers", str(workers)],
            env=server_env(database_url, tmp_path) | env,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    try:
        wait_until_healthy(proc, base_url, log)
        if workers > 1:
            assert worker_count(proc.pid) == workers, log.read_text()
        yield base_url
    finally:
        stop(proc)


def server_settings(database_url: str, tmp_path: Path) -> Settings:
    return Settings(
        database_url=database_url,
        secret_key="test",  # the server's (server_env), so ID numbers hash alike
        data_dir=tmp_path,
        disable_plugin_autoload=True,
        password_profile="CHEAPEST",
    )


@pytest.fixture
def two_workers(database_url: str, tmp_path: Path) -> Iterator[str]:
    """`vhub serve --workers 2` on the test's database (SQLite file or PostgreSQL)."""
    with serve(database_url, tmp_path, workers=2) as base_url:
        yield base_url


async def test_two_workers_hold_the_limits(two_workers: str, database_url: str, tmp_path: Path):
    async with db.database(database_url):
        hub = Hub.create(server_settings(database_url, tmp_path))
        w = await World(hub).build()
        phone = w.staff.person.phone
        written = spellings(phone)
        limits = httpx.Limits(max_connections=100, keepalive_expiry=2.0)
        async with httpx.AsyncClient(base_url=two_workers, limits=limits, timeout=60) as client:
            wrong = await asyncio.gather(
                *(
                    client.post(LOGIN, json={"phone": written[i % 7], "password": "wrong-1x"})
                    for i in range(40)
                )
            )
            assert codes(wrong) == {401: 5, 429: 35}
            for spelling in written:
                right = await client.post(LOGIN, json={"phone": spelling, "password": PASSWORD})
                assert right.status_code == 429, right.text
            registrations = await asyncio.gather(
                *(client.post("/api/v1/people", json=resident(w)) for _ in range(300))
            )
        assert codes(registrations) == {201: 10, 429: 290}
        assert await Person.filter(name="新居民").count() == 10


@pytest.mark.parametrize("trusted", [False, True], ids=["no-proxy-trusted", "loopback-trusted"])
async def test_a_loopback_client_cannot_choose_its_address(
    trusted: bool, database_url: str, tmp_path: Path
):
    """uvicorn trusts X-Forwarded-For from loopback by default; `vhub serve` only from
    VHUB_TRUSTED_PROXIES."""
    env = {"VHUB_REGISTRATIONS_PER_HOUR": "3"}
    if trusted:
        env["VHUB_TRUSTED_PROXIES"] = "127.0.0.1"
    with serve(database_url, tmp_path, **env) as base_url:
        async with db.database(database_url):
            hub = Hub.create(server_settings(database_url, tmp_path))
            w = await World(hub).build()
            async with httpx.AsyncClient(base_url=base_url, timeout=60) as client:
                answers = []
                for i in range(6):  # each says it is someone else
                    answers.append(
                        await client.post(
                            "/api/v1/people",
                            json=resident(w),
                            headers={
                                "X-Forwarded-For": f"192.0.2.{i}",
                                "Forwarded": f"for=192.0.2.{i}",
                                "X-Real-IP": f"192.0.2.{i}",
                            },
                        )
                    )
                same = []
                for _ in range(4):  # all from one forwarded address
                    same.append(
                        await client.post(
                            "/api/v1/people",
                            json=resident(w),
                            headers={"X-Forwarded-For": "198.51.100.50"},
                        )
                    )
            keys = set(await AttemptCounter.all().values_list("key", flat=True))
    if trusted:
        assert [r.status_code for r in answers] == [201] * 6
        assert [r.status_code for r in same] == [201] * 3 + [429]
        assert "register:address:198.51.100.50" in keys
    else:
        assert [r.status_code for r in answers] == [201] * 3 + [429] * 3
        assert [r.status_code for r in same] == [429] * 4
        assert keys == {"register:address:127.0.0.1"}


async def test_serve_defaults_trust_no_proxy_for_logins(database_url: str, tmp_path: Path):
    with serve(database_url, tmp_path) as base_url:
        async with db.database(database_url):
            hub = Hub.create(server_settings(database_url, tmp_path))
            w = await World(hub).build()
            async with httpx.AsyncClient(base_url=base_url, timeout=60) as client:
                for i in range(50):
                    r = await client.post(
                        LOGIN,
                        json={"phone": f"nobody-{i}", "password": "x"},
                        headers={"X-Forwarded-For": f"192.0.2.{i}"},
                    )
                    assert r.status_code == 401
                r = await client.post(
                    LOGIN,
                    json={"phone": w.staff.person.phone, "password": PASSWORD},
                    headers={"X-Forwarded-For": "198.51.100.1"},
                )
                assert r.status_code == 429, r.text


def test_keys_and_login_phones():
    assert throttle.key("login:phone", "13900000010") == "login:phone:13900000010"
    hashed = throttle.key("login:phone", "9" * 200)
    assert hashed.startswith("login:phone:#") and len(hashed) <= throttle.MAX_KEY_LENGTH
    assert throttle.key("k", "a\nb") != throttle.key("k", "a b")
    assert people.login_phone("+86 139-0000-0010") == "13900000010"
    assert people.login_phone("not a phone") is None
    assert timedelta(hours=1) == people.REGISTRATION_WINDOW
