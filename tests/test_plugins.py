"""The plugin host (volunteer_hub/plugins.py), entry-point loading and domain events."""

from __future__ import annotations

import dataclasses
import sqlite3
import tomllib
from datetime import UTC, datetime
from importlib.metadata import entry_points
from pathlib import Path

import asyncpg
import pytest

import volunteer_hub
from tests.factories import PASSWORD, World, next_phone
from tests.plugin_distributions import install, install_broken, on_path
from volunteer_hub.config import Settings
from volunteer_hub.errors import Conflict, RuleViolation
from volunteer_hub.hooktypes import (
    AdmissionDecision,
    DomainEvent,
    TeamKind,
    Violation,
    WishCategory,
    WishFacts,
)
from volunteer_hub.hub import Hub
from volunteer_hub.models import AuditEntry, Community, Person, Wish
from volunteer_hub.plugins import DEFAULT_PLUGINS, PluginHost, create_plugin_manager
from volunteer_hub.services import people, teams, wishes
from volunteer_hub.services.access import load_actor
from volunteer_hub.services.uow import unit_of_work

CATALOG, CHANNELS = DEFAULT_PLUGINS
BUILT_IN = sorted(DEFAULT_PLUGINS)  # statuses list built-ins first, by name
CORE_TEAM_KINDS = {
    "anti_fraud",
    "psychology",
    "silver_patrol",
    "party_vanguard",
    "elderly_care",
    "legal_aid",
    "repair",
}
WISH = WishFacts(
    id=None,
    community_id=1,
    grid_id=None,
    category="errand",
    title="买菜",
    description="帮忙买菜",
    needed_by=None,
    status="submitted",
)


def offline_hub(host: PluginHost) -> Hub:
    """A Hub around a plugin host; the catalogue needs no database."""
    settings = Settings(
        database_url="sqlite://:memory:", secret_key="k", password_profile="CHEAPEST"
    )
    return Hub(settings=settings, plugins=host)


def status_of(host: PluginHost, name: str):
    matches = [s for s in host.statuses() if s.name == name]
    assert len(matches) == 1, [s.name for s in host.statuses()]
    return matches[0]


# --- plugins used by the tests ------------------------------------------------------------


class MisspelledHook:
    @volunteer_hub.hookimpl
    def vh_team_kind(self):  # the spec is vh_team_kinds
        return [TeamKind("typo", "Typo")]


class ExtraParameter:
    @volunteer_hub.hookimpl
    def vh_team_kinds(self, community_id):  # vh_team_kinds takes no arguments
        return [TeamKind("extra", "Extra")]


class OldStyleWrapper:
    @volunteer_hub.hookimpl(hookwrapper=True)
    def vh_team_kinds(self):
        yield


class NewStyleWrapper:
    @volunteer_hub.hookimpl(wrapper=True)
    def vh_team_kinds(self):
        return (yield)


class RaisingCatalog:
    @volunteer_hub.hookimpl
    def vh_team_kinds(self):
        raise RuntimeError("catalogue service down")


class LocalCatalog:
    """A community's plugin: repairs go to the elderly-care team; a new team kind."""

    @volunteer_hub.hookimpl
    def vh_team_kinds(self):
        return [
            TeamKind("square_dance", {"zh-CN": "广场舞队", "en": "Square dance"}),
            TeamKind("repair", {"zh-CN": "维修服务队", "en": "Repairs"}),
        ]

    @volunteer_hub.hookimpl
    def vh_wish_categories(self, community_id):
        return [WishCategory("repair", {"zh-CN": "维修", "en": "Repair"}, "elderly_care")]


class EvenLaterCatalog:
    @volunteer_hub.hookimpl
    def vh_wish_categories(self):
        return [WishCategory("repair", "Repair", "legal_aid")]


class Refuses:
    @volunteer_hub.hookimpl
    def vh_admit_wish(self, wish):
        return AdmissionDecision(accepted=False, rule="local_list", reason="no")


class Abstains:
    @volunteer_hub.hookimpl
    def vh_admit_wish(self, wish):
        return None


class RaisingAdmission:
    @volunteer_hub.hookimpl
    def vh_admit_wish(self, wish):
        raise ValueError("admission list unreadable")


class AsyncListener:
    def __init__(self) -> None:
        self.seen: list[str] = []

    @volunteer_hub.hookimpl
    async def vh_domain_event(self, event):
        self.seen.append(event.name)
        return None


class FailingAsyncListener:
    @volunteer_hub.hookimpl
    async def vh_domain_event(self, event):
        raise ConnectionError("webhook unreachable")


class FailingSyncListener:
    @volunteer_hub.hookimpl
    def vh_domain_event(self, event):
        raise KeyError("sync listener bug")


class RefuseEveryJoin:
    @volunteer_hub.hookimpl
    def vh_check_team_join(self):
        return [Violation("closed", "Closed for now")]


def an_event(name: str = "wish.posted") -> DomainEvent:
    return DomainEvent(
        name=name,
        community_id=1,
        entity_type="wish",
        entity_id=7,
        actor_id=3,
        occurred_at=datetime(2026, 12, 1, tzinfo=UTC),
        data={"status": "submitted"},
    )


# --- the default plugins ---------------------------------------------------------------------


def test_default_plugins_are_registered_and_enabled():
    host = create_plugin_manager(autoload=False)
    statuses = host.statuses()
    assert [s.name for s in statuses] == BUILT_IN
    catalog, channels = statuses
    assert catalog.as_dict() == {
        "name": "volunteer_hub.default_plugins.catalog",
        "version": None,
        "builtin": True,
        "hooks": ["vh_qualification_kinds", "vh_team_kinds", "vh_wish_categories"],
        "status": "enabled",
        "error": None,
        "failures": 0,
    }
    assert (channels.status, channels.hooks) == ("enabled", ["vh_notification_channels"])
    host.check_pending()

    hub = offline_hub(host)
    assert CORE_TEAM_KINDS <= set(hub.team_kinds())
    assert {"counsellor", "lawyer", "anti_fraud_training", "first_aid"} <= set(
        hub.qualification_kinds()
    )
    categories = hub.wish_categories(1)
    assert {
        code: (c.team_kind, c.served)
        for code, c in categories.items()
        if code
        in {
            "elderly_care",
            "companionship",
            "psychology",
            "legal",
            "repair",
            "errand",
            "tutoring",
            "other",
            "public_facility",
        }
    } == {
        "elderly_care": ("elderly_care", True),
        "companionship": ("elderly_care", True),
        "psychology": ("psychology", True),
        "legal": ("legal_aid", True),
        "repair": ("repair", True),
        "errand": (None, True),
        "tutoring": (None, True),
        "other": (None, True),
        "public_facility": (None, False),
    }
    assert categories["psychology"].restricted


def test_two_hosts_share_no_state():
    one = create_plugin_manager(autoload=False)
    two = create_plugin_manager(autoload=False)
    assert one.pm is not two.pm
    one.register(LocalCatalog(), "local")
    assert [s.name for s in one.statuses()] == [*BUILT_IN, "local"]
    assert [s.name for s in two.statuses()] == BUILT_IN
    assert two.pm.get_plugin("local") is None
    assert "square_dance" in offline_hub(one).team_kinds()
    assert "square_dance" not in offline_hub(two).team_kinds()
    # A failure in one host is not seen by the other.
    one.register(RaisingCatalog(), "raising")
    offline_hub(one).team_kinds()
    assert status_of(one, "raising").status == "call_error"
    assert all(s.status == "enabled" for s in two.statuses())


def test_plugins_passed_to_the_factory_are_registered_with_their_names():
    listener = AsyncListener()
    host = create_plugin_manager(autoload=False, plugins=[LocalCatalog(), ("ears", listener)])
    assert [s.name for s in host.statuses()] == [*BUILT_IN, "LocalCatalog", "ears"]
    assert host.pm.get_plugin("ears") is listener


# --- plugins that do not fit the specs ---------------------------------------------------------


def test_misspelled_hook_is_a_load_error_and_not_registered():
    host = create_plugin_manager(autoload=False)
    plugin = MisspelledHook()
    status = host.register(plugin, "typo")
    assert status.status == "load_error"
    assert "vh_team_kind" in status.error
    assert status.hooks == []
    assert status_of(host, "typo").status == "load_error"
    assert not host.pm.is_registered(plugin)
    assert host.pm.get_plugin("typo") is None
    host.check_pending()  # nothing unknown is left behind
    assert "typo" not in offline_hub(host).team_kinds()


def test_a_misspelled_hook_fails_check_pending_when_registered_behind_the_hosts_back():
    # The loud failure that check_pending exists for (pytest's behaviour).
    host = create_plugin_manager(autoload=False)
    host.pm.register(MisspelledHook(), name="sneaky")
    with pytest.raises(Exception, match="vh_team_kind"):
        host.check_pending()


def test_a_parameter_the_spec_lacks_is_a_load_error():
    host = create_plugin_manager(autoload=False)
    plugin = ExtraParameter()
    status = host.register(plugin, "extra")
    assert status.status == "load_error"
    assert "community_id" in status.error
    assert not host.pm.is_registered(plugin)
    host.check_pending()
    assert "extra" not in offline_hub(host).team_kinds()


@pytest.mark.parametrize("wrapper", [OldStyleWrapper, NewStyleWrapper])
def test_hook_wrappers_are_a_load_error(wrapper):
    host = create_plugin_manager(autoload=False)
    plugin = wrapper()
    status = host.register(plugin, "wrapper")
    assert status.status == "load_error"
    assert "wrapper" in status.error
    assert not host.pm.is_registered(plugin)
    host.check_pending()
    assert CORE_TEAM_KINDS <= set(offline_hub(host).team_kinds())


def test_a_builtin_plugin_that_does_not_fit_fails_loudly():
    host = PluginHost()
    with pytest.raises(Exception, match="vh_team_kind"):
        host.register(MisspelledHook(), "core-typo", builtin=True)


# --- calling ------------------------------------------------------------------------------------


def test_a_raising_plugin_is_recorded_and_the_others_still_answer():
    host = create_plugin_manager(autoload=False)
    host.register(RaisingCatalog(), "raising")
    host.register(LocalCatalog(), "local")
    hub = offline_hub(host)
    kinds = hub.team_kinds()
    assert CORE_TEAM_KINDS | {"square_dance"} <= set(kinds)
    status = status_of(host, "raising")
    assert status.status == "call_error"
    assert status.error.startswith("vh_team_kinds: ")
    assert "catalogue service down" in status.error
    assert status.failures == 1
    hub.team_kinds()
    assert status_of(host, "raising").failures == 2
    assert status_of(host, "local").status == "enabled"
    results = host.call("vh_team_kinds")
    assert [r.plugin for r in results] == ["local", "raising", CATALOG]
    assert isinstance(results[1].error, RuntimeError) and results[1].value is None


class MalformedCatalog:
    """Returns one TeamKind instead of a list of them."""

    @volunteer_hub.hookimpl
    def vh_team_kinds(self):
        return TeamKind("lonely", "Lonely")


def test_a_plugin_returning_a_malformed_value_does_not_break_the_catalogue():
    host = create_plugin_manager(autoload=False)
    host.register(MalformedCatalog(), "malformed")
    host.register(LocalCatalog(), "local")
    kinds = offline_hub(host).team_kinds()
    assert CORE_TEAM_KINDS | {"square_dance"} <= set(kinds)
    status = status_of(host, "malformed")
    assert status.status == "call_error"
    assert "vh_team_kinds" in status.error


def test_a_later_plugin_overrides_by_code_and_adds_kinds():
    host = create_plugin_manager(autoload=False)
    host.register(LocalCatalog(), "local")
    hub = offline_hub(host)
    categories = hub.wish_categories(42)
    assert categories["repair"].team_kind == "elderly_care"
    assert categories["legal"].team_kind == "legal_aid"  # untouched
    kinds = hub.team_kinds()
    assert CORE_TEAM_KINDS | {"square_dance"} <= set(kinds)
    assert kinds["repair"].name == {"zh-CN": "维修服务队", "en": "Repairs"}
    # The last registered wins.
    host.register(EvenLaterCatalog(), "later")
    assert hub.wish_categories(42)["repair"].team_kind == "legal_aid"
    host.unregister("later")
    assert hub.wish_categories(42)["repair"].team_kind == "elderly_care"
    assert [s.name for s in host.statuses()] == [*BUILT_IN, "local"]


def test_call_first_skips_abstaining_plugins_and_stops_at_a_raising_one():
    # call_first answers with the first plugin (last registered first) that returns
    # something or raises. A raising plugin is an answer (an error), so that the
    # admission list fails closed; plugins that return None are skipped.
    host = create_plugin_manager(autoload=False)
    assert host.call_first("vh_admit_wish", wish=WISH) is None
    host.register(Refuses(), "refuses")
    host.register(Abstains(), "abstains")
    result = host.call_first("vh_admit_wish", wish=WISH)
    assert result.plugin == "refuses" and result.error is None
    assert result.value == AdmissionDecision(accepted=False, rule="local_list", reason="no")

    host.register(RaisingAdmission(), "raising")
    result = host.call_first("vh_admit_wish", wish=WISH)
    assert result.plugin == "raising" and result.value is None
    assert isinstance(result.error, ValueError)
    status = status_of(host, "raising")
    assert status.status == "call_error"
    assert "admission list unreadable" in status.error
    assert status_of(host, "refuses").status == "enabled"


def test_a_second_plugin_with_a_taken_name_is_refused_beside_the_first():
    host = create_plugin_manager(autoload=False)
    first, second = LocalCatalog(), EvenLaterCatalog()
    assert host.register(first, "dup").status == "enabled"
    status = host.register(second, "dup")
    assert status.status == "load_error"
    assert "dup" in status.error
    assert host.pm.get_plugin("dup") is first
    assert not host.pm.is_registered(second)
    assert status_of(host, "dup").status == "enabled"
    assert offline_hub(host).wish_categories(1)["repair"].team_kind == "elderly_care"


async def test_acall_awaits_awaitables_and_records_async_failures():
    host = create_plugin_manager(autoload=False)
    listener = AsyncListener()
    host.register(listener, "listener")
    host.register(FailingAsyncListener(), "failing-async")
    host.register(FailingSyncListener(), "failing-sync")
    results = await host.acall("vh_domain_event", event=an_event())
    assert listener.seen == ["wish.posted"]
    by_plugin = {r.plugin: r for r in results}
    assert set(by_plugin) == {"listener", "failing-async", "failing-sync"}
    assert by_plugin["listener"].error is None and by_plugin["listener"].value is None
    assert isinstance(by_plugin["failing-async"].error, ConnectionError)
    assert isinstance(by_plugin["failing-sync"].error, KeyError)
    for name, text in [("failing-async", "webhook unreachable"), ("failing-sync", "sync")]:
        status = status_of(host, name)
        assert status.status == "call_error"
        assert status.error.startswith("vh_domain_event: ")
        assert text in status.error
    assert status_of(host, "listener").status == "enabled"
    # The next event still reaches everyone.
    await host.acall("vh_domain_event", event=an_event("wish.claimed"))
    assert listener.seen == ["wish.posted", "wish.claimed"]
    assert status_of(host, "failing-async").failures == 2


# --- entry points -------------------------------------------------------------------------------


@pytest.fixture
def tiny_distribution(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """A real installed distribution with two entry points: one broken, one good."""
    site = install(
        tmp_path / "site",
        "vh-tiny-plugin",
        "1.2.3",
        # The broken entry point comes first: its failure must not stop the good one.
        {"broken": "vh_tiny_broken", "tiny": "vh_tiny_plugin"},
        {
            "vh_tiny_plugin": """
                import volunteer_hub
                from volunteer_hub.hooktypes import TeamKind


                @volunteer_hub.hookimpl
                def vh_team_kinds():
                    return [TeamKind("tiny_kind", "Tiny")]
            """,
            "vh_tiny_broken": """
                raise ImportError("vh_tiny_broken needs a library that is not installed")
            """,
        },
    )
    with on_path(site, monkeypatch):
        yield site


def test_entry_points_are_loaded_with_their_versions(tiny_distribution):
    host = create_plugin_manager(autoload=True)
    tiny = status_of(host, "tiny")
    assert (tiny.status, tiny.version, tiny.builtin, tiny.hooks) == (
        "enabled",
        "1.2.3",
        False,
        ["vh_team_kinds"],
    )
    broken = status_of(host, "broken")
    assert (broken.status, broken.version, broken.builtin) == ("load_error", "1.2.3", False)
    assert "ImportError" in broken.error and "not installed" in broken.error
    assert host.pm.get_plugin("broken") is None
    assert "tiny_kind" in offline_hub(host).team_kinds()
    host.check_pending()


def test_autoload_false_skips_entry_points(tiny_distribution):
    host = create_plugin_manager(autoload=False)
    assert [s.name for s in host.statuses()] == BUILT_IN
    assert "tiny_kind" not in offline_hub(host).team_kinds()


def test_the_environment_variable_turns_autoload_off(tiny_distribution, tmp_path):
    env = {
        "VHUB_DATA_DIR": str(tmp_path / "data"),
        "VHUB_SECRET_KEY": "k",
        "VHUB_PASSWORD_PROFILE": "CHEAPEST",
    }
    on = Hub.create(Settings.from_env(env))
    off = Hub.create(Settings.from_env(env | {"VHUB_DISABLE_PLUGIN_AUTOLOAD": "1"}))
    assert "tiny" in [s.name for s in on.plugins.statuses()]
    assert [s.name for s in off.plugins.statuses()] == BUILT_IN


# --- isolation: broken plugins, installed for real -------------------------------------------


@pytest.fixture
def broken_plugins(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    with on_path(install_broken(tmp_path / "site"), monkeypatch) as site:
        yield site


async def test_the_app_starts_answers_and_reports_broken_plugins(broken_plugins, hub, settings):
    """Plugins that fail to load, raise or answer garbage are isolated and reported."""
    import httpx

    from volunteer_hub.web import create_app

    w = await World(hub).build()
    team = await w.team("elderly_care")
    volunteer = await w.volunteer("周志愿", team=team)
    settings = dataclasses.replace(settings, disable_plugin_autoload=False)
    app = create_app(settings, manage_database=False)  # the app's own Hub, as in production
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as api:
        assert (await api.get("/healthz")).json() == {"status": "ok"}
        categories = (await api.get("/api/v1/wish-categories")).json()["items"]
        assert {"elderly_care", "errand", "public_facility"} <= {c["code"] for c in categories}
        assert "bogus" not in str(categories)
        login = {"phone": w.admin.person.phone, "password": PASSWORD}
        token = (await api.post("/api/v1/auth/login", json=login)).json()["token"]
        admin = {"Authorization": f"Bearer {token}"}
        # Ranking candidates calls the scorer that raises: the others still rank.
        wish = await wishes.post(
            app.state.hub,
            w.admin,
            w.community.id,
            {"title": "陪同就医", "description": "周四上午", "category": "elderly_care"},
        )
        await wishes.review(app.state.hub, w.admin, wish.id, {"decision": "approve"})
        ranked = await api.get(f"/api/v1/wishes/{wish.id}/candidates", headers=admin)
        assert ranked.status_code == 200, ranked.text
        assert [c["person_id"] for c in ranked.json()["items"]] == [volunteer.id]
        r = await api.get("/api/v1/plugins", headers=admin)
    assert r.status_code == 200, r.text
    report = {p["name"]: p for p in r.json()["items"]}
    shown = {
        name: (report[name]["status"], report[name]["version"], report[name]["error"])
        for name in ("broken-import", "broken-raises", "broken-garbage", "broken-settings-hook")
    }
    assert shown == {
        "broken-import": (
            "load_error",
            "0.0.1",
            "ImportError: vh_broken_import needs a library that is not installed",
        ),
        "broken-raises": (
            "call_error",
            "0.0.1",
            "vh_match_score: RuntimeError: scorer crashed",
        ),
        "broken-garbage": (
            "call_error",
            "0.0.1",
            "vh_wish_categories: TypeError: vh_wish_categories must return a list of "
            "WishCategory, not list",
        ),
        "broken-settings-hook": (
            "load_error",
            "0.0.1",
            "vh_plugin_settings: TypeError: it must return a pydantic model class "
            "(a subclass of BaseModel) or None, not {'level': <class 'int'>}",
        ),
    }
    # Each call failed on its own (categories for every request, then the scorer).
    assert report["broken-raises"]["failures"] >= 2
    tunable = report["tunable"]
    assert (tunable["status"], tunable["hooks"]) == (
        "enabled",
        ["vh_plugin_settings", "vh_team_kinds"],
    )
    assert tunable["settings"]["defaults"] == {"level": 1}
    assert tunable["settings"]["json_schema"]["properties"]["level"]["type"] == "integer"


def test_bad_settings_of_an_installed_plugin_stop_start_up(broken_plugins, tmp_path):
    from volunteer_hub.plugins import PluginConfigError
    from volunteer_hub.web import create_app

    config = tmp_path / "plugins.toml"
    config.write_text("[tunable.communities.2]\nlevel = 'high'\n", encoding="utf-8")
    settings = Settings(
        database_url=f"sqlite://{tmp_path / 'vhub.sqlite3'}",
        secret_key="k",
        plugin_config=config,
    )
    with pytest.raises(PluginConfigError) as caught:
        create_app(settings)
    assert str(caught.value) == (
        f"{config}: [tunable.communities.2] level: "
        "Input should be a valid integer, unable to parse string as an integer"
    )
    # A table for a plugin that failed to load stops it too, saying why.
    config.write_text("[broken-import]\nlevel = 1\n", encoding="utf-8")
    with pytest.raises(
        PluginConfigError,
        match=r"\[broken-import\]: the plugin broken-import "
        r"failed to load \(ImportError: vh_broken_import needs",
    ):
        create_app(settings)


# --- the first-party plugins under plugins/ ------------------------------------------------------

ROOT = Path(__file__).resolve().parent.parent
FIRST_PARTY = sorted(p.parent for p in (ROOT / "plugins").glob("*/pyproject.toml"))


def test_first_party_plugin_tests_can_be_collected_together():
    """pytest collects plugins/*/tests with the core's tests in its default import mode, in
    which a test module outside a package is imported by its bare name: so no __init__.py
    (a package named tests would clash with the core's), and module names unique across
    plugins."""
    problems, seen = [], {}
    for plugin in FIRST_PARTY:
        for path in sorted((plugin / "tests").rglob("*.py")):
            where = path.relative_to(ROOT)
            if path.name == "__init__.py":
                problems.append(f"{where}: a plugin's tests folder must not be a package")
            elif path.name != "conftest.py" and path.stem in seen:
                problems.append(f"{where}: the module name of {seen[path.stem]}; rename one")
            seen.setdefault(path.stem, where)
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("plugin", FIRST_PARTY, ids=[p.name for p in FIRST_PARTY])
def test_a_first_party_plugin_is_installed_loads_and_starts_unconfigured(plugin: Path):
    project = tomllib.loads((plugin / "pyproject.toml").read_text("utf-8"))["project"]
    declared = project.get("entry-points", {}).get("volunteer_hub", {})
    assert declared, f"{plugin.name}: pyproject.toml declares no volunteer_hub entry point"
    for name, target in declared.items():
        found = [ep.value for ep in entry_points(group="volunteer_hub", name=name)]
        assert found == [target], f"{name} is not installed: pip install -e plugins/{plugin.name}"
    # Installing a first-party plugin must never stop start-up: every setting has a default.
    hub = Hub.create(Settings(database_url="sqlite://:memory:", secret_key="k"))
    statuses = {s.name: s for s in hub.plugins.statuses()}
    for name in declared:
        assert (statuses[name].status, statuses[name].error) == ("enabled", None)
        assert statuses[name].version == project["version"]


# --- domain events -------------------------------------------------------------------------------


async def committed(database_url: str, table: str, row_id: int) -> bool:
    """Whether a row is visible to a separate connection, i.e. committed."""
    if database_url.startswith("sqlite"):
        path = database_url.removeprefix("sqlite://").partition("?")[0]
        conn = sqlite3.connect(path, timeout=5)
        try:
            return conn.execute(f"SELECT 1 FROM {table} WHERE id = ?", (row_id,)).fetchone()
        finally:
            conn.close()
    conn = await asyncpg.connect(database_url.replace("postgres://", "postgresql://", 1))
    try:
        return await conn.fetchval(f"SELECT 1 FROM {table} WHERE id = $1", row_id) == 1
    finally:
        await conn.close()


class EventRecorder:
    """Records each event and whether its row was already committed when it arrived."""

    def __init__(self, database_url: str) -> None:
        self.database_url = database_url
        self.events: list[DomainEvent] = []
        self.committed: list[bool] = []

    @volunteer_hub.hookimpl
    async def vh_domain_event(self, event: DomainEvent) -> None:
        self.events.append(event)
        self.committed.append(
            bool(await committed(self.database_url, event.entity_type, event.entity_id))
        )


async def test_domain_events_are_published_after_commit(hub):
    w = await World(hub).build()
    recorder = EventRecorder(hub.settings.database_url)
    hub.plugins.register(recorder, "test-recorder")
    try:
        person = await people.register(
            hub,
            {
                "name": "王奶奶",
                "phone": next_phone(),
                "password": PASSWORD,
                "community_id": w.community.id,
            },
        )
        resident = await load_actor(person.id)
        wish = await wishes.post(
            hub,
            resident,
            w.community.id,
            {"title": "帮忙买菜", "description": "腿脚不便", "category": "errand"},
        )
    finally:
        hub.plugins.unregister("test-recorder")
    assert [e.name for e in recorder.events] == ["person.registered", "wish.posted"]
    # Each row was visible to another connection when its event arrived.
    assert recorder.committed == [True, True]
    registered, posted = recorder.events
    assert (registered.entity_type, registered.entity_id) == ("person", person.id)
    assert (posted.entity_type, posted.entity_id, posted.community_id, posted.actor_id) == (
        "wish",
        wish.id,
        w.community.id,
        person.id,
    )
    assert posted.data["status"] == "submitted"
    assert posted.occurred_at == hub.now()
    assert await Wish.exists(id=wish.id)


async def test_person_registered_event_after_commit_without_personal_data(hub):
    w = await World(hub).build()
    recorder = EventRecorder(hub.settings.database_url)
    hub.plugins.register(recorder, "test-recorder")
    try:
        phone = next_phone()
        person = await people.register(
            hub,
            {
                "name": "王奶奶",
                "phone": phone,
                "password": PASSWORD,
                "community_id": w.community.id,
                "id_number": "11010519600517019X",
                "address": "幸福里3号楼",
            },
        )
    finally:
        hub.plugins.unregister("test-recorder")
    assert [e.name for e in recorder.events] == ["person.registered"]
    assert recorder.committed == [True]
    (event,) = recorder.events
    assert (event.entity_type, event.entity_id, event.actor_id) == ("person", person.id, person.id)
    text = str(event.data)
    for secret in (phone, "11010519600517019X", "幸福里3号楼", PASSWORD):
        assert secret not in text


async def test_failed_operations_publish_nothing(hub):
    w = await World(hub).build()
    team = await w.team("repair")
    taken = await w.person("已注册")
    recorder = EventRecorder(hub.settings.database_url)
    hub.plugins.register(recorder, "test-recorder")
    refusing = RefuseEveryJoin()
    hub.plugins.register(refusing, "test-refuse-all")
    try:
        audit_before = await AuditEntry.all().count()
        with pytest.raises(Conflict):
            await people.register(
                hub,
                {
                    "name": "重复",
                    "phone": taken.person.phone,
                    "password": PASSWORD,
                    "community_id": w.community.id,
                },
            )
        with pytest.raises(RuleViolation):
            await teams.join_team(hub, taken, team.id)

        # A change that fails inside its transaction, after its audit entry was written.
        class Boom(Exception):
            pass

        with pytest.raises(Boom):
            async with unit_of_work(hub, w.admin.id) as uow:
                community = await Community.create(name="短命社区")
                await uow.record("community.created", community, community_id=community.id)
                assert len(uow.events) == 1  # queued, not published
                raise Boom
        assert recorder.events == []
        assert await AuditEntry.all().count() == audit_before
        assert not await Community.exists(name="短命社区")
    finally:
        hub.plugins.unregister("test-recorder")
        hub.plugins.unregister("test-refuse-all")


async def test_a_failing_listener_never_undoes_the_change(hub):
    w = await World(hub).build()
    hub.plugins.register(FailingAsyncListener(), "test-failing")
    try:
        person = await people.register(
            hub,
            {
                "name": "王奶奶",
                "phone": next_phone(),
                "password": PASSWORD,
                "community_id": w.community.id,
            },
        )
        assert await Person.exists(id=person.id)
        assert await AuditEntry.exists(action="person.registered", entity_id=person.id)
        status = status_of(hub.plugins, "test-failing")
        assert status.status == "call_error"
        assert "webhook unreachable" in status.error
    finally:
        hub.plugins.unregister("test-failing")


# --- the public surface for plugins ------------------------------------------------------------

REFERENCE_PAGE = ROOT / "docs" / "plugins" / "reference.md"


def test_every_public_name_is_importable_and_explained():
    """Each name of plugin_api.__all__ exists, and the module's docstring (the top of the
    reference page) has a list item saying what it is for."""
    from volunteer_hub import plugin_api

    assert len(plugin_api.__all__) == len(set(plugin_api.__all__))
    assert [n for n in plugin_api.__all__ if not hasattr(plugin_api, n)] == []
    # "- `Name`, `Other`: what they are for": the names before the colon.
    items = [line for line in plugin_api.__doc__.splitlines() if line.startswith("- `")]
    explained = " ".join(item.split(":")[0] for item in items)
    assert [n for n in plugin_api.__all__ if f"`{n}`" not in explained] == []


def test_the_reference_page_is_generated_from_the_public_surface():
    page = REFERENCE_PAGE.read_text("utf-8")
    assert "::: volunteer_hub.plugin_api" in page
    assert "`volunteer_hub.plugin_api`" in page and "`volunteer_hub.testing`" in page
    nav = (ROOT / "mkdocs.yml").read_text("utf-8")
    assert "plugins/reference.md" in nav
    for linking in ("index.md", "hooks.md"):
        assert "(reference.md)" in (ROOT / "docs" / "plugins" / linking).read_text("utf-8")
