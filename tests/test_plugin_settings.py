"""Per-community plugin settings (volunteer_hub/plugin_settings.py): the file, its validation
at start-up, and what hooks receive."""

from __future__ import annotations

import dataclasses
import textwrap
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from pydantic import BaseModel, Field, SecretStr, model_validator

import volunteer_hub
from tests.factories import World
from volunteer_hub.config import Settings
from volunteer_hub.errors import RuleViolation
from volunteer_hub.hooktypes import (
    CandidateFacts,
    DomainEvent,
    PersonFacts,
    SignupFacts,
    TeamKind,
    Violation,
    WishFacts,
)
from volunteer_hub.hub import Hub
from volunteer_hub.plugin_settings import MASK, PluginConfigError, community_of
from volunteer_hub.plugins import create_plugin_manager
from volunteer_hub.services import teams
from volunteer_hub.services.access import load_actor

TODAY = date(2026, 12, 1)

# --- plugins with settings -----------------------------------------------------------------


class AgeRuleSettings(BaseModel):
    team_kind: str = "silver_patrol"
    min_age: int = Field(60, ge=0, le=150)
    max_age: int | None = None
    label: str = "default"

    @model_validator(mode="after")
    def _ordered(self) -> AgeRuleSettings:
        if self.max_age is not None and self.max_age < self.min_age:
            raise ValueError("max_age must not be below min_age")
        return self


class AgeRule:
    """A registration rule tuned per community, which also listens to events."""

    def __init__(self) -> None:
        self.events: list[tuple[str, int | None, str]] = []

    @volunteer_hub.hookimpl
    def vh_plugin_settings(self):
        return AgeRuleSettings

    @volunteer_hub.hookimpl
    def vh_check_team_join(self, person, team_kind, today, settings):
        age = person.age_on(today)
        if team_kind != settings.team_kind or (age is not None and age >= settings.min_age):
            return []
        return [Violation("min_age", f"Members must be {settings.min_age} or older")]

    @volunteer_hub.hookimpl
    def vh_domain_event(self, event, settings):
        self.events.append((event.name, event.community_id, settings.label))


class SmsSettings(BaseModel):
    sender: str = "社区服务站"
    app_secret: SecretStr
    signing_key: str = "k-123"
    daily_limit: int = 100


class Sms:
    """A plugin with a required secret setting."""

    @volunteer_hub.hookimpl
    def vh_plugin_settings(self):
        return SmsSettings


class NoSettings:
    @volunteer_hub.hookimpl
    def vh_team_kinds(self):
        return [TeamKind("flood_watch", "Flood watch")]


class RecorderSettings(BaseModel):
    label: str = "default"


class Recorder:
    """Implements every hook with a community context and records the settings it gets."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, str]] = []

    def _saw(self, hook: str, settings: RecorderSettings) -> None:
        assert isinstance(settings, RecorderSettings), settings
        self.seen.append((hook, settings.label))

    @volunteer_hub.hookimpl
    def vh_plugin_settings(self):
        return RecorderSettings

    @volunteer_hub.hookimpl
    def vh_wish_categories(self, settings):
        self._saw("vh_wish_categories", settings)

    @volunteer_hub.hookimpl
    def vh_check_team_join(self, settings):
        self._saw("vh_check_team_join", settings)

    @volunteer_hub.hookimpl
    def vh_check_signup(self, settings):
        self._saw("vh_check_signup", settings)

    @volunteer_hub.hookimpl
    def vh_admit_wish(self, settings):
        self._saw("vh_admit_wish", settings)

    @volunteer_hub.hookimpl
    def vh_match_score(self, settings):
        self._saw("vh_match_score", settings)

    @volunteer_hub.hookimpl
    def vh_domain_event(self, settings):
        self._saw("vh_domain_event", settings)


class OtherSettings(BaseModel):
    threshold: float = 0.5


class Other:
    """A second plugin on the same hook, with a model of its own."""

    def __init__(self) -> None:
        self.seen: list[object] = []

    @volunteer_hub.hookimpl
    def vh_plugin_settings(self):
        return OtherSettings

    @volunteer_hub.hookimpl
    def vh_check_team_join(self, settings):
        self.seen.append(settings)


class SettingsHookRaises:
    @volunteer_hub.hookimpl
    def vh_plugin_settings(self):
        raise RuntimeError("settings module missing")


class SettingsHookReturnsInstance:
    @volunteer_hub.hookimpl
    def vh_plugin_settings(self):
        return OtherSettings()  # an instance, not the class


class SettingsReservedName:
    class Model(BaseModel):
        communities: list[int] = []

    @volunteer_hub.hookimpl
    def vh_plugin_settings(self):
        return self.Model


# --- helpers -----------------------------------------------------------------------------------


def write_config(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "plugins.toml"
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def offline_settings(plugin_config: Path | None) -> Settings:
    return Settings(
        database_url="sqlite://:memory:",
        secret_key="k",
        password_profile="CHEAPEST",
        disable_plugin_autoload=True,
        plugin_config=plugin_config,
    )


def problems_of(tmp_path: Path, text: str, plugins) -> list[str]:
    path = write_config(tmp_path, text)
    with pytest.raises(PluginConfigError) as caught:
        Hub.create(offline_settings(path), plugins=plugins)
    assert str(caught.value) == "\n".join(caught.value.problems)
    return caught.value.problems


def person(community_id: int = 3, birth_date: date | None = date(1964, 1, 1)) -> PersonFacts:
    return PersonFacts(
        id=1,
        name="张阿姨",
        community_id=community_id,
        grid_id=None,
        birth_date=birth_date,
        skills=(),
        qualifications=(),
        team_kinds=(),
    )


def wish(community_id: int) -> WishFacts:
    return WishFacts(
        id=None,
        community_id=community_id,
        grid_id=None,
        category="errand",
        title="买菜",
        description="帮忙买菜",
        needed_by=None,
        status="submitted",
    )


def signup(community_id: int) -> SignupFacts:
    start = datetime(2026, 12, 3, 19, 0)
    return SignupFacts(
        task_id=1,
        task_title="巡逻",
        team_id=None,
        team_kind=None,
        community_id=community_id,
        local_start=start,
        local_end=start.replace(hour=21),
        capacity=6,
        confirmed_people=(),
    )


def event(community_id: int | None) -> DomainEvent:
    return DomainEvent(
        name="wish.posted",
        community_id=community_id,
        entity_type="wish",
        entity_id=1,
        actor_id=None,
        occurred_at=datetime(2026, 12, 1, tzinfo=UTC),
    )


# --- a valid file --------------------------------------------------------------------------------


def test_a_valid_file_gives_each_community_its_merged_settings(tmp_path):
    path = write_config(
        tmp_path,
        """
        [age-rule]                      # defaults for every community
        min_age = 60
        label = "all"

        [age-rule.communities.3]        # community 3 overrides one setting
        min_age = 65

        [age-rule.communities.4]
        label = "four"
        max_age = 80

        [sms]
        app_secret = "s3cr3t-value"
        """,
    )
    hub = Hub.create(offline_settings(path), plugins=[("age-rule", AgeRule()), ("sms", Sms())])
    assert hub.plugin_settings("age-rule") == AgeRuleSettings(min_age=60, label="all")
    # Overrides are merged over the defaults, setting by setting.
    assert hub.plugin_settings("age-rule", 3) == AgeRuleSettings(min_age=65, label="all")
    assert hub.plugin_settings("age-rule", 4) == AgeRuleSettings(
        min_age=60, label="four", max_age=80
    )
    # A community without a table of its own gets the defaults.
    assert hub.plugin_settings("age-rule", 5) is hub.plugin_settings("age-rule")
    assert hub.plugin_settings("sms", 3).app_secret.get_secret_value() == "s3cr3t-value"
    # Plugins without settings get None; an unknown plugin is a KeyError.
    assert hub.plugin_settings("volunteer_hub.default_plugins.catalog", 3) is None
    with pytest.raises(KeyError, match="no plugin named 'nope' is loaded"):
        hub.plugin_settings("nope")


def test_without_a_file_plugins_get_their_defaults(tmp_path):
    hub = Hub.create(offline_settings(None), plugins=[("age-rule", AgeRule())])
    assert hub.plugin_settings("age-rule", 3) == AgeRuleSettings()


def test_an_unconfigured_host_gives_the_models_defaults():
    # create_plugin_manager without a config (unit tests, the docs' examples).
    host = create_plugin_manager(autoload=False, plugins=[("age-rule", AgeRule())])
    assert host.settings("age-rule", 3) == AgeRuleSettings()
    results = host.call(
        "vh_check_team_join",
        person=person(birth_date=date(1970, 1, 1)),
        team_kind="silver_patrol",
        team_id=1,
        community_id=3,
        today=TODAY,
    )
    (mine,) = [r for r in results if r.plugin == "age-rule"]
    assert [v.rule for v in mine.value] == ["min_age"]


def test_settings_file_from_the_environment(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    env = {"VHUB_DATA_DIR": str(data), "VHUB_SECRET_KEY": "k"}
    assert Settings.from_env(env).plugin_config is None
    default = write_config(data, "[age-rule]\nmin_age = 61\n")
    assert Settings.from_env(env).plugin_config == default
    elsewhere = tmp_path / "elsewhere.toml"
    elsewhere.write_text("[age-rule]\nmin_age = 62\n")
    settings = Settings.from_env(env | {"VHUB_PLUGIN_CONFIG": str(elsewhere)})
    assert settings.plugin_config == elsewhere
    settings = dataclasses.replace(settings, disable_plugin_autoload=True)
    hub = Hub.create(settings, plugins=[("age-rule", AgeRule())])
    assert hub.plugin_settings("age-rule", 1).min_age == 62


# --- each kind of error ------------------------------------------------------------------------


def test_a_wrong_value_names_file_plugin_community_and_setting(tmp_path):
    (problem,) = problems_of(
        tmp_path,
        """
        [age-rule.communities.3]
        min_age = "sixty-five"
        """,
        [("age-rule", AgeRule())],
    )
    assert problem.startswith(
        f"{tmp_path / 'plugins.toml'}: [age-rule.communities.3] min_age: "
        "Input should be a valid integer"
    )


def test_a_wrong_default_is_reported_once_not_for_every_community(tmp_path):
    problems = problems_of(
        tmp_path,
        """
        [age-rule]
        min_age = 200
        [age-rule.communities.3]
        label = "three"
        [age-rule.communities.4]
        min_age = -1
        """,
        [("age-rule", AgeRule())],
    )
    path = tmp_path / "plugins.toml"
    assert problems == [
        f"{path}: [age-rule] min_age: Input should be less than or equal to 150",
        f"{path}: [age-rule.communities.4] min_age: Input should be greater than or equal to 0",
    ]


def test_a_rule_of_the_whole_model_names_the_table(tmp_path):
    (problem,) = problems_of(
        tmp_path,
        """
        [age-rule.communities.7]
        max_age = 50
        """,
        [("age-rule", AgeRule())],
    )
    assert problem == (
        f"{tmp_path / 'plugins.toml'}: [age-rule.communities.7]: "
        "Value error, max_age must not be below min_age"
    )


def test_a_missing_required_setting(tmp_path):
    (problem,) = problems_of(tmp_path, "[sms]\nsender = '幸福里'\n", [("sms", Sms())])
    assert problem == f"{tmp_path / 'plugins.toml'}: [sms] app_secret: Field required"
    # Given for one community only, it is still missing from the defaults: said once.
    (problem,) = problems_of(tmp_path, "[sms.communities.3]\napp_secret = 'x'\n", [("sms", Sms())])
    assert problem == f"{tmp_path / 'plugins.toml'}: [sms] app_secret: Field required"
    # Without any file, the message says where settings come from.
    with pytest.raises(PluginConfigError) as caught:
        Hub.create(offline_settings(None), plugins=[("sms", Sms())])
    assert str(caught.value) == (
        "plugin settings (no file: set VHUB_PLUGIN_CONFIG): [sms] app_secret: Field required"
    )


def test_a_misspelt_setting_is_an_error_not_ignored(tmp_path):
    (problem,) = problems_of(
        tmp_path,
        """
        [age-rule.communities.3]
        min_ag = 65
        """,
        [("age-rule", AgeRule())],
    )
    assert problem == (
        f"{tmp_path / 'plugins.toml'}: [age-rule.communities.3] min_ag: not a setting of "
        "age-rule (its settings: label, max_age, min_age, team_kind)"
    )


def test_a_table_for_a_plugin_that_is_not_loaded(tmp_path):
    (problem,) = problems_of(tmp_path, "[age-rules]\nmin_age = 65\n", [("age-rule", AgeRule())])
    assert problem.startswith(
        f"{tmp_path / 'plugins.toml'}: [age-rules]: no plugin named age-rules is loaded "
        "(loaded: volunteer_hub.default_plugins.catalog, "
    )
    assert problem.endswith(", age-rule; plugin auto-loading is off)")


def test_a_table_for_a_plugin_without_settings(tmp_path):
    (problem,) = problems_of(tmp_path, "[quiet]\nlevel = 1\n", [("quiet", NoSettings())])
    assert problem == f"{tmp_path / 'plugins.toml'}: [quiet]: the plugin quiet takes no settings"


def test_a_community_is_named_by_its_id(tmp_path):
    (problem,) = problems_of(
        tmp_path,
        """
        [age-rule.communities.xingfuli]
        min_age = 65
        """,
        [("age-rule", AgeRule())],
    )
    assert problem == (
        f"{tmp_path / 'plugins.toml'}: [age-rule.communities.xingfuli]: "
        "a community is named by its id, a whole number"
    )


def test_values_where_tables_belong(tmp_path):
    problems = problems_of(
        tmp_path,
        """
        age-rule = 3
        [other]
        communities = 4
        """,
        [("age-rule", AgeRule()), ("other", Other())],
    )
    path = tmp_path / "plugins.toml"
    assert problems == [
        f"{path}: age-rule: must be a table ([age-rule]), not a value",
        f"{path}: [other] communities: must hold a table per community, "
        "[other.communities.<community id>]",
    ]


def test_every_problem_is_reported_at_once(tmp_path):
    problems = problems_of(
        tmp_path,
        """
        [age-rule]
        min_age = "old"
        [age-rule.communities.2]
        colour = "red"
        [sms]
        daily_limit = "many"
        [ghost]
        x = 1
        """,
        [("age-rule", AgeRule()), ("sms", Sms())],
    )
    assert [p.split(": ", 2)[1] for p in problems] == [
        "[age-rule] min_age",
        "[age-rule.communities.2] colour",
        "[sms] app_secret",
        "[sms] daily_limit",
        "[ghost]",
    ]


def test_a_file_that_is_not_toml_names_the_line(tmp_path):
    (problem,) = problems_of(tmp_path, "[age-rule]\nmin_age = = 3\n", [("age-rule", AgeRule())])
    assert problem.startswith(f"{tmp_path / 'plugins.toml'}: not valid TOML: ")
    assert "line 2" in problem


def test_a_named_file_must_exist(tmp_path):
    missing = tmp_path / "nowhere.toml"
    with pytest.raises(PluginConfigError) as caught:
        Hub.create(offline_settings(missing))
    assert str(caught.value) == f"{missing}: the plugin settings file does not exist"


def test_a_table_for_a_plugin_that_failed_to_load(tmp_path):
    (problem,) = problems_of(tmp_path, "[broken]\nlevel = 1\n", [("broken", SettingsHookRaises())])
    assert problem == (
        f"{tmp_path / 'plugins.toml'}: [broken]: the plugin broken failed to load "
        "(vh_plugin_settings: RuntimeError: settings module missing)"
    )


def test_registering_after_start_up_validates_at_once(tmp_path):
    hub = Hub.create(offline_settings(write_config(tmp_path, "# nothing configured\n")))
    # A test registers a plugin on a running hub: a problem is raised there and then,
    # and the plugin is not left half-registered.
    with pytest.raises(PluginConfigError, match=r"\[sms\] app_secret: Field required"):
        hub.plugins.register(Sms(), "sms")
    assert "sms" not in [s.name for s in hub.plugins.statuses()]
    assert hub.plugins.pm.get_plugin("sms") is None
    status = hub.plugins.register(AgeRule(), "age-rule")
    assert status.status == "enabled"
    assert hub.plugin_settings("age-rule", 3) == AgeRuleSettings()


# --- settings hooks that misbehave are load errors, isolated -----------------------------------


@pytest.mark.parametrize(
    ("plugin", "error"),
    [
        (SettingsHookRaises(), "vh_plugin_settings: RuntimeError: settings module missing"),
        (
            SettingsHookReturnsInstance(),
            "vh_plugin_settings: TypeError: it must return a pydantic model class "
            "(a subclass of BaseModel) or None, not OtherSettings(threshold=0.5)",
        ),
        (
            SettingsReservedName(),
            "vh_plugin_settings: ValueError: the settings model may not have a field named "
            "'communities': that table holds the per-community overrides",
        ),
    ],
)
def test_a_broken_settings_hook_is_a_load_error(plugin, error):
    hub = Hub.create(offline_settings(None), plugins=[("broken", plugin), ("age-rule", AgeRule())])
    (status,) = [s for s in hub.plugins.statuses() if s.name == "broken"]
    assert (status.status, status.error, status.hooks) == ("load_error", error, [])
    assert hub.plugins.pm.get_plugin("broken") is None
    assert hub.plugin_settings("age-rule", 1) == AgeRuleSettings()


# --- what hooks receive ------------------------------------------------------------------------


def test_each_hook_gets_its_plugins_settings_for_the_community_of_the_call(tmp_path):
    path = write_config(
        tmp_path,
        """
        [recorder]
        label = "defaults"
        [recorder.communities.3]
        label = "three"
        [recorder.communities.4]
        label = "four"
        """,
    )
    recorder = Recorder()
    hub = Hub.create(offline_settings(path), plugins=[("recorder", recorder)])
    host = hub.plugins

    def saw(hook: str, **kwargs) -> str:
        recorder.seen.clear()
        results = [r for r in host.call(hook, **kwargs) if r.plugin == "recorder"]
        assert [r.error for r in results] == [None]
        ((seen_hook, label),) = recorder.seen
        assert seen_hook == hook
        return label

    assert saw("vh_wish_categories", community_id=3) == "three"
    recorder.seen.clear()
    assert hub.wish_categories(4) and recorder.seen == [("vh_wish_categories", "four")]
    assert (
        saw(
            "vh_check_team_join",
            person=person(community_id=4),
            team_kind="repair",
            team_id=1,
            community_id=3,
            today=TODAY,
        )
        == "three"
    )
    # The task's community rules a signup, not the volunteer's own.
    assert saw("vh_check_signup", person=person(community_id=3), signup=signup(4)) == "four"
    assert saw("vh_admit_wish", wish=wish(3)) == "three"
    candidate = CandidateFacts(person=person(community_id=4), hours_last_30_days=0, open_claims=0)
    assert saw("vh_match_score", wish=wish(3), candidates=(candidate,)) == "three"
    assert saw("vh_domain_event", event=event(4)) == "four"
    assert saw("vh_domain_event", event=event(9)) == "defaults"
    assert saw("vh_domain_event", event=event(None)) == "defaults"


def test_two_plugins_each_receive_their_own_settings(tmp_path):
    path = write_config(
        tmp_path,
        """
        [age-rule.communities.3]
        min_age = 70
        [other]
        threshold = 0.9
        [other.communities.3]
        threshold = 0.1
        """,
    )
    other = Other()
    hub = Hub.create(offline_settings(path), plugins=[("age-rule", AgeRule()), ("other", other)])

    def rules(community_id: int) -> list[str]:
        results = hub.plugins.call(
            "vh_check_team_join",
            person=person(community_id, birth_date=date(1960, 1, 1)),  # 66
            team_kind="silver_patrol",
            team_id=1,
            community_id=community_id,
            today=TODAY,
        )
        assert all(r.error is None for r in results), results
        return [v.rule for r in results for v in r.value or ()]

    assert rules(3) == ["min_age"]
    assert rules(5) == []
    assert other.seen == [OtherSettings(threshold=0.1), OtherSettings(threshold=0.9)]


def test_community_of_a_call():
    assert community_of({"community_id": 3, "wish": wish(4)}) == 3
    assert community_of({"person": person(4), "signup": signup(5)}) == 5
    assert community_of({"person": person(4)}) == 4
    assert community_of({"event": event(None)}) is None
    assert community_of({}) is None


async def test_a_rule_reads_its_communitys_settings_through_the_services(hub, clock, tmp_path):
    w = await World(hub).build()
    other = await World(hub).build_other(w)
    path = write_config(
        tmp_path,
        f"""
        [age-rule]
        label = "all"
        [age-rule.communities.{other.community.id}]
        min_age = 65
        label = "peace"
        """,
    )
    rule = AgeRule()
    configured = Hub.create(
        dataclasses.replace(hub.settings, plugin_config=path),
        plugins=[("age-rule", rule)],
        clock=clock,
    )
    born = date(1964, 6, 1)  # 62 on the test's day
    here = await w.person("张阿姨", birth_date=born)
    there = await other.person("李阿姨", birth_date=born, community=other.community)
    team_here = await w.team("silver_patrol")
    team_there = await other.team("silver_patrol")

    membership = await teams.join_team(configured, here, team_here.id)
    assert membership.status.value == "pending"  # the rule let her in; staff approve her once
    with pytest.raises(RuleViolation) as refused:
        await teams.join_team(configured, await load_actor(there.id), team_there.id)
    assert [d.rule for d in refused.value.details] == ["min_age"]
    assert refused.value.details[0].message == "Members must be 65 or older"
    # Events reach the plugin with the settings of the event's community.
    await teams.create_team(
        configured, other.admin, other.community.id, {"name": "防诈队", "kind": "anti_fraud"}
    )
    assert [e for e in rule.events if e[0] in {"team.joined", "team.created"}] == [
        ("team.joined", w.community.id, "all"),
        ("team.created", other.community.id, "peace"),
    ]


# --- what is shown -----------------------------------------------------------------------------


def test_the_report_shows_schema_and_values_with_secrets_masked(tmp_path):
    path = write_config(
        tmp_path,
        """
        [sms]
        app_secret = "s3cr3t-value"
        signing_key = "plain-but-secret"
        [sms.communities.3]
        sender = "和平里"
        app_secret = "another-s3cr3t"
        """,
    )
    hub = Hub.create(offline_settings(path), plugins=[("sms", Sms()), ("quiet", NoSettings())])
    report = {entry["name"]: entry for entry in hub.plugins.report()}
    assert report["quiet"]["settings"] is None
    assert report["volunteer_hub.default_plugins.catalog"]["settings"] is None
    sms = report["sms"]
    assert {k: sms[k] for k in ("status", "error", "builtin", "hooks")} == {
        "status": "enabled",
        "error": None,
        "builtin": False,
        "hooks": ["vh_plugin_settings"],
    }
    settings = sms["settings"]
    assert settings["defaults"] == {
        "sender": "社区服务站",
        "app_secret": MASK,
        "signing_key": MASK,
        "daily_limit": 100,
    }
    assert settings["communities"] == {
        "3": {"sender": "和平里", "app_secret": MASK, "signing_key": MASK, "daily_limit": 100}
    }
    schema = settings["json_schema"]
    assert schema["required"] == ["app_secret"]
    assert schema["properties"]["app_secret"]["format"] == "password"
    assert schema["properties"]["signing_key"]["default"] == MASK
    assert schema["properties"]["daily_limit"]["default"] == 100
    text = str(report)
    for secret in ("s3cr3t-value", "another-s3cr3t", "plain-but-secret", "k-123"):
        assert secret not in text
