"""Fixtures for testing volunteer_hub plugins: a pytest plugin.

Installed with volunteer_hub and loaded by pytest through the ``pytest11`` entry point,
so a plugin's tests use these fixtures without a conftest. They need pytest-asyncio
and httpx: ``pip install "volunteer-hub[testing]"``.

- ``vhub_plugins``: override it to list the plugins under test, as objects or
  ``(name, plugin)`` pairs (default: none).
- ``vhub_plugin_config``: override it to give the plugin settings file's TOML text
  (default: none: every plugin gets its defaults).
- ``vhub_clock``: the time the hub sees, a ``Clock`` that a test can set and move
  (default: 2026-12-01 09:00 in Asia/Shanghai).
- ``vhub_database_url``: a database of the test's own with every migration applied: a
  SQLite file, and (the same test again) PostgreSQL when ``VHUB_TEST_POSTGRES_URL`` names a
  server (e.g. ``postgres://postgres@127.0.0.1:5432/test``). Without it the PostgreSQL half
  is skipped with that reason; under ``CI=true`` it fails instead.
- ``vhub_settings``: settings on that database; installed plugins are not loaded (only
  ``vhub_plugins``).
- ``vhub_hub``: a ``Hub`` with those plugins and settings, its database open.
- ``vhub_api``: an ``httpx.AsyncClient`` talking to the real web application over ASGI.
- ``vhub_community``: a ``TestCommunity``: a community with an administrator, two grids,
  a staff member and a grid worker, to add people and teams to through the real services.

``configure_plugins(hub, text)`` validates new settings (say, for a community made in
the test), ``load_plugins(...)`` builds the plugin host as volunteer_hub starts it
(``PluginConfigError`` for settings that would stop the start-up), ``login(api, actor)``
gives the headers of a logged-in request, ``web_client(hub)`` another client on the web
application, ``advance_escalations(hub)`` and ``party_progress(hub, actor)`` do and show what
the worker and a volunteer's page do, and ``confirmed_address(hub, actor, code, address)``
gives a person's address for a channel and confirms it with the code sent there
(``sent_code``).

volunteer_hub's own test suite uses these same fixtures and ``TestCommunity`` (under the
names of its conftest and ``tests/factories.py``): there is one fixture set.

Module-level imports stay light: pytest loads this module in every session of an
environment where volunteer_hub is installed.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import shutil
import uuid
from collections.abc import AsyncIterator, Callable, Iterable, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

try:
    import pytest_asyncio
except ImportError:  # the fixtures below then say what is missing
    pytest_asyncio = None

if TYPE_CHECKING:
    import httpx

    from volunteer_hub.config import Settings
    from volunteer_hub.hub import Hub
    from volunteer_hub.models import (
        Community,
        Grid,
        PartyReport,
        PersonChannel,
        Role,
        Team,
        TeamMembership,
    )
    from volunteer_hub.plugins import PluginHost
    from volunteer_hub.services.access import Actor

#: The password of everyone a ``TestCommunity`` registers.
PASSWORD = "Hongqi-Lu-88-test"
POSTGRES_ENV = "VHUB_TEST_POSTGRES_URL"
#: Tables kept when a PostgreSQL test database is emptied between tests.
KEPT_TABLES = frozenset({"tortoise_migrations"})
INSTALL = 'pip install "volunteer-hub[testing]"'
_phones = itertools.count(13800000000)


def _async_fixture(function: Callable[..., Any]) -> Any:
    if pytest_asyncio is not None:
        return pytest_asyncio.fixture(function)

    @pytest.fixture(name=function.__name__)
    def missing() -> None:
        pytest.fail(f"{function.__name__} needs pytest-asyncio: {INSTALL}")

    return missing


class Clock:
    """A clock that tests can set and move; the Hub reads the time only from it."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **kwargs: float) -> None:
        self.now += timedelta(**kwargs)


def next_phone() -> str:
    """A mainland mobile number no other person of the session has."""
    return str(next(_phones))


def id_number(birth: date, region: str = "110105", seq: str = "001") -> str:
    """A valid resident identity card number (居民身份证号) for someone born on ``birth``."""
    from stdnum.cn import ric

    body = f"{region}{birth:%Y%m%d}{seq}"
    return body + ric.calc_check_digit(body + "0")


# --- PostgreSQL -------------------------------------------------------------------------


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() in {"1", "true", "yes"}


def postgres_server_url() -> str:
    """The server named by VHUB_TEST_POSTGRES_URL; skip without it (fail under CI=true)."""
    url = os.environ.get(POSTGRES_ENV)
    if not url:
        if in_ci():
            pytest.fail(f"CI=true but {POSTGRES_ENV} is not set: PostgreSQL tests must run in CI")
        pytest.skip(
            f"PostgreSQL tests need {POSTGRES_ENV} (e.g. postgres://postgres@127.0.0.1:5432/test)"
        )
    return url


def _asyncpg_dsn(url: str) -> str:
    return url.replace("postgres://", "postgresql://", 1)


async def _execute(url: str, sql: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(_asyncpg_dsn(url))
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


@contextmanager
def fresh_postgres_database(prefix: str = "vhub_test") -> Iterator[str]:
    """A new database on the test server with every migration applied, dropped after."""
    import asyncpg

    from volunteer_hub import db

    server = postgres_server_url()
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    try:
        asyncio.run(_execute(server, f'CREATE DATABASE "{name}"'))
    except (OSError, asyncpg.PostgresError) as exc:
        if in_ci():
            pytest.fail(f"PostgreSQL at {server} is not usable: {exc}")
        pytest.skip(f"PostgreSQL at {server} is not usable: {exc}")
    url = f"{server.rpartition('/')[0]}/{name}"
    try:
        asyncio.run(db.upgrade(url))
        yield url
    finally:
        asyncio.run(_execute(server, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


async def empty_postgres_database(url: str) -> None:
    """Remove every row (ids start from 1 again), keeping the schema and its migrations."""
    import asyncpg

    conn = await asyncpg.connect(_asyncpg_dsn(url))
    try:
        rows = await conn.fetch("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
        tables = [f'"{r["tablename"]}"' for r in rows if r["tablename"] not in KEPT_TABLES]
        if tables:
            await conn.execute(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY CASCADE")
    finally:
        await conn.close()


# --- fixtures ---------------------------------------------------------------------------


@pytest.fixture
def vhub_plugins() -> list[object | tuple[str, object]]:
    """The plugins under test: override this fixture in your tests."""
    return []


@pytest.fixture
def vhub_plugin_config() -> str | None:
    """The plugin settings file's TOML text: override this fixture to configure plugins."""
    return None


@pytest.fixture
def vhub_clock() -> Clock:
    return Clock(datetime(2026, 12, 1, 1, 0, tzinfo=UTC))  # 09:00 in Asia/Shanghai


@pytest.fixture(scope="session")
def vhub_database_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SQLite file with every migration applied, copied for each test."""
    from volunteer_hub import db
    from volunteer_hub.config import sqlite_url

    path = tmp_path_factory.mktemp("vhub-template") / "template.sqlite3"
    asyncio.run(db.upgrade(sqlite_url(path)))
    return path


@pytest.fixture(scope="session")
def vhub_postgres_database() -> Iterator[str]:
    """This session's own PostgreSQL database (see ``vhub_database_url``)."""
    with fresh_postgres_database("vhub_plugin_test") as url:
        yield url


@pytest.fixture(params=["sqlite", "postgres"])
def vhub_database_url(
    request: pytest.FixtureRequest, tmp_path: Path, vhub_database_template: Path
) -> str:
    from volunteer_hub.config import sqlite_url

    if request.param == "sqlite":
        database = tmp_path / "vhub.sqlite3"
        shutil.copy(vhub_database_template, database)
        return sqlite_url(database)
    url = request.getfixturevalue("vhub_postgres_database")
    asyncio.run(empty_postgres_database(url))
    return url


@pytest.fixture
def vhub_settings(
    tmp_path: Path, vhub_database_url: str, vhub_plugin_config: str | None
) -> Settings:
    from volunteer_hub.config import Settings

    config = None
    if vhub_plugin_config is not None:
        config = tmp_path / "plugins.toml"
        config.write_text(vhub_plugin_config, encoding="utf-8")
    return Settings(
        database_url=vhub_database_url,
        secret_key="volunteer-hub-testing",
        data_dir=tmp_path,
        disable_plugin_autoload=True,  # only the plugins under test, whatever is installed
        password_profile="CHEAPEST",
        allow_private_network=True,  # test sinks listen on 127.0.0.1
        plugin_config=config,
    )


@_async_fixture
async def vhub_hub(
    vhub_settings: Settings, vhub_plugins: list[object], vhub_clock: Clock
) -> AsyncIterator[Hub]:
    from volunteer_hub import db
    from volunteer_hub.bootstrap import build_hub

    async with db.database(vhub_settings.database_url):
        yield build_hub(vhub_settings, plugins=vhub_plugins, clock=vhub_clock)


@_async_fixture
async def vhub_api(vhub_hub: Hub) -> AsyncIterator[httpx.AsyncClient]:
    async with web_client(vhub_hub) as client:
        yield client


@_async_fixture
async def vhub_community(vhub_hub: Hub) -> TestCommunity:
    return await TestCommunity.create(vhub_hub)


# --- helpers ----------------------------------------------------------------------------


@asynccontextmanager
async def web_client(
    hub: Hub, client: tuple[str, int] = ("203.0.113.7", 50000)
) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client on the real web application of ``hub`` over ASGI (no server, no
    port), its requests coming from the address ``client``."""
    import httpx

    from volunteer_hub.web import create_app

    app = create_app(hub.settings, hub=hub, manage_database=False)
    transport = httpx.ASGITransport(app=app, client=client)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        yield http


class TestCommunity:
    """A community made through the real services (no shortcut past the rules): an
    administrator, two grids, a staff member and a grid worker, and helpers to add people
    and teams to it as the community's staff would.

    ``await TestCommunity.create(hub, name)`` (or ``await TestCommunity(hub).build(name)``)
    makes one; ``build_other(base)`` a second beside it, with the same administrator.
    """

    __test__ = False  # not a test class, whatever pytest thinks of its name

    def __init__(self, hub: Hub) -> None:
        self.hub = hub

    @classmethod
    async def create(cls, hub: Hub, name: str = "幸福里社区") -> TestCommunity:
        return await cls(hub).build(name)

    async def build(self, name: str = "幸福里社区", admin: Actor | None = None) -> TestCommunity:
        from volunteer_hub.models import Role
        from volunteer_hub.services import people
        from volunteer_hub.services.access import load_actor

        if admin is None:
            person = await people.create_admin(
                self.hub, name="管理员", phone=next_phone(), password=PASSWORD
            )
            admin = await load_actor(person.id)
        self.admin = admin
        self.community: Community = await people.create_community(
            self.hub, self.admin, {"name": name}
        )
        self.grid: Grid = await people.create_grid(
            self.hub, self.admin, self.community.id, {"name": "第一网格"}
        )
        self.other_grid: Grid = await people.create_grid(
            self.hub, self.admin, self.community.id, {"name": "第二网格"}
        )
        self.staff = await self.person("社区干部", roles=[Role.STAFF])
        self.grid_worker = await self.person("网格员", roles=[Role.GRID_WORKER])
        return self

    async def build_other(self, base: TestCommunity) -> TestCommunity:
        """A second community beside ``base``, with the same administrator."""
        return await self.build("和平里社区", admin=base.admin)

    @property
    def id(self) -> int:
        return self.community.id

    async def person(
        self,
        name: str = "居民",
        *,
        roles: Iterable[Role] = (),
        birth_date: date | None = None,
        grid: Grid | None = None,
        community: Community | None = None,
        address: str = "幸福里3号楼2单元501",
    ) -> Actor:
        """Register a resident (password ``PASSWORD``) of this community (or ``community``),
        in its first grid unless ``grid`` names another, at ``address``, and give them
        ``roles``."""
        from volunteer_hub.models import Role
        from volunteer_hub.services import people
        from volunteer_hub.services.access import load_actor

        community = community or self.community
        grid = grid if grid is not None else (self.grid if community is self.community else None)
        person = await people.register(
            self.hub,
            {
                "name": name,
                "phone": next_phone(),
                "password": PASSWORD,
                "community_id": community.id,
                "grid_id": grid.id if grid else None,
                "birth_date": birth_date,
                "address": address,
            },
        )
        for role in roles:
            await people.assign_role(
                self.hub,
                None,
                community.id,
                person.id,
                role,
                grid_id=grid.id if role is Role.GRID_WORKER and grid else None,
            )
        return await load_actor(person.id)

    async def team(self, kind: str, name: str | None = None) -> Team:
        from volunteer_hub.services import teams

        return await teams.create_team(
            self.hub, self.admin, self.id, {"name": name or f"{kind}队", "kind": kind}
        )

    async def volunteer(self, name: str = "志愿者", *, team: Team | None = None, **kw) -> Actor:
        """A resident who (with ``team``) has joined it and been approved."""
        from volunteer_hub.services.access import load_actor

        actor = await self.person(name, **kw)
        if team is not None:
            await self.join(actor, team)
        return await load_actor(actor.id)

    async def join(self, actor: Actor, team: Team, data: dict | None = None) -> TeamMembership:
        """Join a team, and (as a community that vets new volunteers does) have staff
        approve the person through the service; declared qualifications still wait."""
        from volunteer_hub.models import MembershipStatus
        from volunteer_hub.services import teams

        membership = await teams.join_team(self.hub, actor, team.id, data)
        waits_for_approval = not (data or {}).get("qualifications")
        if membership.status is MembershipStatus.PENDING and waits_for_approval:
            membership = await self.approve(membership.id)
        return membership

    async def approve(self, membership_id: int) -> TeamMembership:
        """Approve a pending membership as the community's staff would (a community approves
        each new volunteer once, and checks declared qualifications)."""
        from volunteer_hub.services import teams

        return await teams.approve_membership(self.hub, self.admin, membership_id)

    async def vet_volunteers(self, on: bool) -> None:
        """Switch the community's setting "approve new volunteers" (on by default)."""
        from volunteer_hub.services import people

        self.community = await people.update_community(
            self.hub, self.admin, self.id, {"approve_volunteers": on}
        )

    async def report(self, actor: Actor, data: dict) -> PartyReport:
        """File a party report, which staff of its community then accept (through the service)."""
        from volunteer_hub.services import teams

        filed = await teams.file_party_report(self.hub, actor, data)
        return await self.accept_report(filed.id)

    async def accept_report(self, report_id: int) -> PartyReport:
        """Accept a party member's report to this community, as its staff would."""
        from volunteer_hub.services import teams

        return await teams.accept_party_report(self.hub, self.admin, report_id)


async def party_progress(hub: Hub, actor: Actor) -> list[dict[str, Any]]:
    """A party member's hours this year against each target, one item per community that
    accepted their report (what their volunteer page shows)."""
    from volunteer_hub.services import teams

    return (await teams.party_progress(hub, actor))["items"]


async def advance_escalations(hub: Hub) -> int:
    """Raise unhandled wishes to the escalation level their plan reaches by the hub's
    clock, as the worker does every round; returns how many were raised."""
    from volunteer_hub.services import wishes

    return await wishes.advance_escalations(hub)


async def login(api: httpx.AsyncClient, actor: Actor) -> dict[str, str]:
    """Log ``actor`` in over the API; returns the ``Authorization`` header to send."""
    response = await api.post(
        "/api/v1/auth/login", json={"phone": actor.person.phone, "password": PASSWORD}
    )
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['token']}"}


async def sent_code(address: PersonChannel) -> str:
    """The code last sent to confirm ``address``, read from its message in the outbox (as
    the person reads it on their phone)."""
    from volunteer_hub.models import Notification
    from volunteer_hub.notifications.planner import CODE_EVENT

    message = (
        await Notification.filter(
            event=CODE_EVENT, entity_type="person_channel", entity_id=address.id
        )
        .order_by("-id")
        .first()
    )
    assert message is not None, "no code was sent to this address"
    return message.subject.rsplit(maxsplit=1)[-1].split("：")[-1]


async def confirmed_address(hub: Hub, actor: Actor, code: str, address: str) -> PersonChannel:
    """Give ``actor``'s address for the channel ``code`` and confirm it with the code sent
    there, through the real services. The community must have the channel configured."""
    from volunteer_hub.services import channels

    row = await channels.set_address(hub, actor, code, {"address": address})
    if row.confirmed_at is None:
        row = await channels.confirm_address(hub, actor, code, {"code": await sent_code(row)})
    return row


def configure_plugins(hub: Hub, text: str) -> None:
    """Validate and apply new plugin settings (TOML text) to a running hub's plugins;
    ``PluginConfigError`` (from ``volunteer_hub.plugin_api``) if they are refused."""
    from volunteer_hub.plugin_settings import PluginConfig

    hub.plugins.configure(PluginConfig.parse(text))


def load_plugins(
    plugins: Iterable[object | tuple[str, object]] = (),
    *,
    config: str | None = None,
    config_file: Path | None = None,
    autoload: bool = False,
) -> PluginHost:
    """The plugin host as a Hub starts it, without a database: the built-in plugins, the
    installed ones (with ``autoload``) and ``plugins`` (objects or ``(name, plugin)``
    pairs), with the plugin settings file given as TOML text (``config``) or a path
    (``config_file``) validated as at start-up: ``PluginConfigError`` if refused.

    Ask it for ``statuses()`` (each plugin's ``name``, ``status``, ``error``, ``version``,
    ``hooks``) and ``settings(name, community_id)`` (a plugin's settings there).
    """
    from volunteer_hub.plugin_settings import PluginConfig
    from volunteer_hub.plugins import create_plugin_manager

    if config is not None and config_file is not None:
        raise TypeError("give the settings as text (config) or as a file (config_file)")
    parsed = PluginConfig.load(config_file) if config is None else PluginConfig.parse(config)
    return create_plugin_manager(autoload=autoload, plugins=plugins, config=parsed)


# --- notifications in plugin tests ----------------------------------------------------------
# A channel plugin's tests send through the real notifier, deliver with the real worker and
# read what happened as plain values: nothing of the outbox's models or modules.

if TYPE_CHECKING:
    from pydantic import BaseModel

    from volunteer_hub.hooktypes import NotificationChannel


@dataclass(frozen=True)
class SendOutcome:
    """What became of one message sent through a channel."""

    sent: bool
    error: str | None = None  # the service's or provider's answer, when not sent
    permanent: bool = False  # a failure that retrying cannot mend (the outbox gives up)


@dataclass(frozen=True)
class DeliveryRun:
    """What one run of the worker did with the deliveries that were due."""

    sent: int
    failed: int
    errors: tuple[str, ...] = ()


@dataclass(frozen=True)
class DeliveryRecord:
    """One message in the outbox, for one person through one channel."""

    id: int
    person_id: int
    channel: str  # the channel's code
    address: str
    subject: str
    status: str  # "pending", "sent" or "dead"
    attempts: int
    last_error: str | None
    idempotency_key: str
    not_before: datetime  # when it is (or was) due: a failed one is retried from then


async def send_through_channel(
    channel: NotificationChannel,
    settings: BaseModel,
    address: str,
    *,
    key: str = "k-1",
    subject: str = "活动提醒：巡逻",
    body: str = "请按时签到。",
) -> SendOutcome:
    """Send one message through ``channel`` (a ``NotificationChannel``) with staff
    ``settings`` to a person's ``address``, as the outbox does: the channel's URL with
    idempotency ``key``, its apprise services registered as the Hub registers them."""
    from volunteer_hub import apprise_services
    from volunteer_hub.notifications.senders import AppriseNotifier, Outgoing, SendError

    apprise_services.register([channel])
    url = channel.build_url(settings, address, key)
    notifier = AppriseNotifier(threads=1)
    try:
        await notifier.send(Outgoing(delivery_id=1, url=url, subject=subject, body=body))
    except SendError as exc:
        return SendOutcome(sent=False, error=str(exc), permanent=exc.permanent)
    finally:
        notifier.close()
    return SendOutcome(sent=True)


async def deliver_due(hub: Hub) -> DeliveryRun:
    """Deliver what is due at the hub's time: the real worker, run once, sending through
    the real notifier (as ``vhub worker --once`` does)."""
    from volunteer_hub.notifications.senders import AppriseNotifier
    from volunteer_hub.notifications.worker import Worker

    notifier = AppriseNotifier()
    try:
        report = await Worker(hub, notifier).run_once()
    finally:
        notifier.close()
    return DeliveryRun(sent=report.sent, failed=report.failed, errors=tuple(report.errors))


async def deliveries(
    *, channel: str | None = None, person: Actor | None = None
) -> list[DeliveryRecord]:
    """The outbox's messages, oldest first: all, or those through ``channel`` (a code),
    or those to ``person``."""
    from volunteer_hub.models import Delivery

    query = Delivery.all()
    if channel is not None:
        query = query.filter(channel__code=channel)
    if person is not None:
        query = query.filter(notification__person_id=person.id)
    rows = await query.order_by("id").values(
        "id",
        "address",
        "status",
        "attempts",
        "last_error",
        "idempotency_key",
        "not_before",
        person_id="notification__person_id",
        channel_code="channel__code",
        subject="notification__subject",
    )
    return [
        DeliveryRecord(
            id=row["id"],
            person_id=row["person_id"],
            channel=row["channel_code"],
            address=row["address"],
            subject=row["subject"],
            status=str(getattr(row["status"], "value", row["status"])),
            attempts=row["attempts"],
            last_error=row["last_error"],
            idempotency_key=row["idempotency_key"],
            not_before=row["not_before"],
        )
        for row in rows
    ]


def max_delivery_attempts() -> int:
    """How many times the outbox tries a message before it gives up on it ("dead")."""
    from volunteer_hub.notifications import outbox

    return outbox.MAX_ATTEMPTS


async def prefer_language(hub: Hub, actor: Actor, locale: str) -> None:
    """Have ``actor``'s messages written in ``locale`` (``zh-CN`` or ``en``), as their
    language choice on the preferences page does."""
    from volunteer_hub.services import people

    await people.set_locale(hub, actor, locale)


@asynccontextmanager
async def api_client(hub: Hub, **settings: Any) -> AsyncIterator[httpx.AsyncClient]:
    """An API client of the web application on ``hub``'s database, plugins and event
    subscribers, with some settings changed: e.g. ``allow_private_network=False``, as in
    production."""
    from volunteer_hub.hub import Hub

    changed = Hub(
        settings=replace(hub.settings, **settings),
        plugins=hub.plugins,
        clock=hub.clock,
        events=hub.events,
    )
    async with web_client(changed) as client:
        yield client
