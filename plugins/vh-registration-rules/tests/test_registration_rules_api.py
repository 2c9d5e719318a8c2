"""The rules in a real Hub, through the real web application (HTTP API over ASGI) on a real
database, configured per community through the plugin settings file."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from importlib.metadata import entry_points

import pytest
from volunteer_hub.plugin_api import PluginConfigError
from volunteer_hub.testing import (
    TestCommunity,
    configure_plugins,
    load_plugins,
    login,
    party_progress,
)

import vh_registration_rules.plugin as rules_plugin

NAME = "vh-registration-rules"  # the entry-point name, which names its settings table
EN = {"Accept-Language": "en"}


@pytest.fixture
def vhub_plugins():
    return [(NAME, rules_plugin)]


class Client:
    """Requests as one person, checking the status of each answer."""

    def __init__(self, api, headers: dict[str, str]) -> None:
        self.api, self.headers = api, headers

    async def post(self, path: str, body: dict, status: int, **headers: str) -> dict:
        response = await self.api.post(
            f"/api/v1{path}", json=body, headers={**self.headers, **headers}
        )
        assert response.status_code == status, response.text
        return response.json()

    async def refused(self, path: str, body: dict, locale: str = "en") -> dict[str, str]:
        """Post something a rule refuses: the rule ids with their messages."""
        error = (await self.post(path, body, 422, **{"Accept-Language": locale}))["error"]
        assert error["code"] == "registration_refused"
        return {d["rule"]: d["message"] for d in error["details"]}


async def client(api, actor) -> Client:
    return Client(api, await login(api, actor))


async def person(api, community: TestCommunity, name: str, birth_date: date | None) -> Client:
    return await client(api, await community.person(name, birth_date=birth_date))


async def task(staff: Client, community: TestCommunity, team, start: str, end: str, capacity):
    body = {
        "title": "巡逻值班",
        "team_id": team.id,
        "starts_at": f"2026-12-{start}:00+08:00",
        "ends_at": f"2026-12-{end}:00+08:00",
        "capacity": capacity,
    }
    return (await staff.post(f"/communities/{community.id}/tasks", body, 201))["id"]


# --- silver patrol ------------------------------------------------------------------------------


async def test_silver_patrol_ages_are_set_per_community(vhub_hub, vhub_api, vhub_community):
    a = vhub_community
    b = await TestCommunity.create(vhub_hub, "和平里社区")
    configure_plugins(
        vhub_hub,
        f"""
        [vh-registration-rules]
        silver_patrol_max_age = 80
        [vh-registration-rules.communities.{b.id}]
        silver_patrol_min_age = 65
        """,
    )
    patrol_a, patrol_b = await a.team("silver_patrol"), await b.team("silver_patrol")
    join_a, join_b = f"/teams/{patrol_a.id}/members", f"/teams/{patrol_b.id}/members"

    turns_60_tomorrow = await person(vhub_api, a, "赵阿姨", date(1966, 12, 2))
    assert await turns_60_tomorrow.refused(join_a, {}) == {
        "silver_patrol_min_age": "Silver patrol members must be 60 or older"
    }
    assert await turns_60_tomorrow.refused(join_a, {}, "zh-CN") == {
        "silver_patrol_min_age": "银发巡逻队队员须年满60周岁"
    }
    no_birth_date = await person(vhub_api, a, "钱大爷", None)
    assert "not on record" in (await no_birth_date.refused(join_a, {}))["silver_patrol_min_age"]
    over_80 = await person(vhub_api, a, "孙大爷", date(1945, 1, 1))
    assert list(await over_80.refused(join_a, {})) == ["silver_patrol_max_age"]
    sixty_two_a = await person(vhub_api, a, "李大爷", date(1964, 6, 1))
    # The rules pass; the community approves the new volunteer once.
    assert (await sixty_two_a.post(join_a, {}, 201))["status"] == "pending"

    # Community B's patrol takes members from 65; its override keeps the default maximum.
    sixty_two_b = await person(vhub_api, b, "周大爷", date(1964, 6, 1))
    assert await sixty_two_b.refused(join_b, {}, "zh-CN") == {
        "silver_patrol_min_age": "银发巡逻队队员须年满65周岁"
    }
    assert list(await (await person(vhub_api, b, "吴大爷", date(1945, 1, 1))).refused(join_b, {}))
    sixty_six_b = await person(vhub_api, b, "郑大爷", date(1960, 1, 1))
    assert (await sixty_six_b.post(join_b, {}, 201))["status"] == "pending"


async def test_silver_patrol_night_shifts_only_in_pairs(vhub_hub, vhub_api, vhub_community):
    c = vhub_community
    staff = await client(vhub_api, c.admin)
    patrol = await c.team("silver_patrol")
    member = await person(vhub_api, c, "王大爷", date(1950, 3, 1))
    await c.approve((await member.post(f"/teams/{patrol.id}/members", {}, 201))["id"])

    alone_at_night = await task(staff, c, patrol, "03T19:00", "03T21:00", 1)
    assert await member.refused(f"/tasks/{alone_at_night}/signups", {}, "zh-CN") == {
        "silver_patrol_night_pair": "银发巡逻队夜间巡逻须至少2人结伴，本班次只设1个名额"
    }
    alone_by_day = await task(staff, c, patrol, "03T09:00", "03T11:00", 1)
    assert (await member.post(f"/tasks/{alone_by_day}/signups", {}, 201))["status"] == "confirmed"
    in_pairs = await task(staff, c, patrol, "04T19:00", "04T21:00", 2)
    assert (await member.post(f"/tasks/{in_pairs}/signups", {}, 201))["status"] == "confirmed"

    # A community whose night starts at 22:00: the evening patrol is not a night shift there.
    configure_plugins(
        vhub_hub, f"[vh-registration-rules.communities.{c.id}]\nnight_starts = 22:00:00\n"
    )
    assert (await member.post(f"/tasks/{alone_at_night}/signups", {}, 201))["status"] == (
        "confirmed"
    )


# --- qualifications -----------------------------------------------------------------------------


async def test_qualifications_with_expiry_from_joining_to_the_shift(
    vhub_hub, vhub_api, vhub_community
):
    c = vhub_community
    staff = await client(vhub_api, c.admin)
    psychology = await c.team("psychology")
    join = f"/teams/{psychology.id}/members"
    counsellor = await person(vhub_api, c, "陈老师", date(1980, 1, 1))

    assert await counsellor.refused(join, {}) == {
        "qualification_missing": (
            "This team needs a valid counsellor certificate: declare it when you join"
        )
    }
    assert await counsellor.refused(
        join, {"qualifications": [{"kind": "counsellor"}]}, "zh-CN"
    ) == {"qualification_expiry_unknown": "请填写心理咨询师证书的有效期，过期与否需要核对"}
    a_licence = {"qualifications": [{"kind": "lawyer", "expires_on": "2027-01-01"}]}
    assert list(await counsellor.refused(join, a_licence)) == ["qualification_missing"]
    membership = await counsellor.post(
        join, {"qualifications": [{"kind": "counsellor", "expires_on": "2026-12-05"}]}, 201
    )
    assert membership["status"] == "pending"  # staff check the certificate first
    await c.approve(membership["id"])

    before_expiry = await task(staff, c, psychology, "04T14:00", "04T16:00", 3)
    assert (await counsellor.post(f"/tasks/{before_expiry}/signups", {}, 201))["status"] == (
        "confirmed"
    )
    after_expiry = await task(staff, c, psychology, "08T14:00", "08T16:00", 3)
    assert await counsellor.refused(f"/tasks/{after_expiry}/signups", {}) == {
        "qualification_expired": (
            "Your counsellor certificate expires on 2026-12-05, before the shift on 2026-12-08"
        )
    }

    legal_aid, anti_fraud = await c.team("legal_aid"), await c.team("anti_fraud")
    lawyer = await person(vhub_api, c, "刘律师", date(1975, 1, 1))
    assert list(await lawyer.refused(f"/teams/{legal_aid.id}/members", {})) == [
        "qualification_missing"
    ]
    licence = {"qualifications": [{"kind": "lawyer", "expires_on": "2027-03-31"}]}
    await lawyer.post(f"/teams/{legal_aid.id}/members", licence, 201)
    trained = {"qualifications": [{"kind": "anti_fraud_training", "expires_on": "2027-06-30"}]}
    await lawyer.post(f"/teams/{anti_fraud.id}/members", trained, 201)


# --- minors -------------------------------------------------------------------------------------


async def test_minors_need_consent_and_finish_by_nine(vhub_hub, vhub_api, vhub_community):
    c = vhub_community
    assert "guardian_consent" in vhub_hub.qualification_kinds()  # the plugin adds the kind
    staff = await client(vhub_api, c.admin)
    elderly_care = await c.team("elderly_care")
    join = f"/teams/{elderly_care.id}/members"
    student = await person(vhub_api, c, "小林", date(2009, 6, 1))

    assert await student.refused(join, {}) == {
        "minor_guardian_consent": "Volunteers under 18 need a guardian's consent: declare it "
        "when you join a team, and the community's staff will check it"
    }
    membership = await student.post(join, {"qualifications": [{"kind": "guardian_consent"}]}, 201)
    assert membership["status"] == "pending"
    await c.approve(membership["id"])

    late = await task(staff, c, elderly_care, "03T19:30", "03T21:30", 4)
    assert await student.refused(f"/tasks/{late}/signups", {}, "zh-CN") == {
        "minor_late_shift": "未满18周岁的志愿者不能参加21:00以后结束的活动"
    }
    until_nine = await task(staff, c, elderly_care, "04T19:00", "04T21:00", 4)
    assert (await student.post(f"/tasks/{until_nine}/signups", {}, 201))["status"] == "confirmed"
    adult = await person(vhub_api, c, "老林", date(1980, 6, 1))
    await c.approve((await adult.post(join, {}, 201))["id"])
    assert (await adult.post(f"/tasks/{late}/signups", {}, 201))["status"] == "confirmed"


# --- party reports ------------------------------------------------------------------------------


async def test_party_reports_and_the_yearly_target(vhub_hub, vhub_api, vhub_community):
    a = vhub_community
    b = await TestCommunity.create(vhub_hub, "和平里社区")
    configure_plugins(
        vhub_hub,
        f"""
        [vh-registration-rules]
        party_yearly_hours_target = 20
        [vh-registration-rules.communities.{b.id}]
        party_report_enabled = false
        """,
    )
    member = await a.person("李党员", birth_date=date(1985, 3, 2))
    li = await client(vhub_api, member)
    report = {"community_id": a.id, "work_unit": "退休", "party_branch": "市税务局第二党支部"}
    assert await li.refused("/party-reports", report, "zh-CN") == {
        "party_work_unit": "在职党员须填写所在工作单位；退休或没有工作单位的党员"
        "请直接向社区党组织报到"
    }
    report["work_unit"] = "市税务局"
    assert list(await li.refused("/party-reports", {**report, "party_branch": "税务局"})) == [
        "party_branch"
    ]
    filed = await li.post("/party-reports", report, 201)
    assert filed["status"] == "pending"  # until staff of the community accept it
    await a.accept_report(filed["id"])

    # Community B switched the party rules off: no check, and the platform's default target.
    to_b = {**report, "community_id": b.id, "work_unit": "无"}
    filed = await li.post("/party-reports", to_b, 201)
    await b.accept_report(filed["id"])
    targets = {
        item["community_id"]: item["target"] for item in await party_progress(vhub_hub, member)
    }
    assert targets == {a.id: Decimal(20), b.id: Decimal(12)}


# --- switching rules off, start-up and installation ---------------------------------------------


async def test_each_rule_can_be_switched_off_per_community(vhub_hub, vhub_api, vhub_community):
    a = vhub_community
    b = await TestCommunity.create(vhub_hub, "和平里社区")
    configure_plugins(
        vhub_hub,
        f"""
        [vh-registration-rules.communities.{b.id}]
        silver_patrol_enabled = false
        qualifications_enabled = false
        minors_enabled = false
        """,
    )
    for kind, birth_date in [
        ("silver_patrol", date(1990, 1, 1)),
        ("psychology", date(1990, 1, 1)),
        ("repair", date(2012, 1, 1)),
    ]:
        team_a, team_b = await a.team(kind), await b.team(kind)
        in_a = await person(vhub_api, a, "甲", birth_date)
        assert await in_a.refused(f"/teams/{team_a.id}/members", {})
        in_b = await person(vhub_api, b, "乙", birth_date)
        # The rules let them in (B's staff still approve a new volunteer once).
        assert (await in_b.post(f"/teams/{team_b.id}/members", {}, 201))["status"] == "pending"


def test_wrong_settings_stop_the_start_up_naming_the_setting(tmp_path):
    config = tmp_path / "plugins.toml"
    config.write_text(
        "[vh-registration-rules]\nnight_ends = 19:00:00\n"
        "[vh-registration-rules.communities.3]\nsilver_patrol_min_age = 'sixty'\n",
        encoding="utf-8",
    )
    with pytest.raises(PluginConfigError) as caught:
        load_plugins([(NAME, rules_plugin)], config_file=config)
    assert caught.value.problems == [
        f"{config}: [vh-registration-rules]: Value error, night_starts and night_ends must differ",
        f"{config}: [vh-registration-rules.communities.3] silver_patrol_min_age: "
        "Input should be a valid integer, unable to parse string as an integer",
    ]


def test_installed_it_loads_through_its_entry_point():
    (entry_point,) = [ep for ep in entry_points(group="volunteer_hub") if ep.name == NAME]
    assert entry_point.value == "vh_registration_rules.plugin"
    assert entry_point.dist.name == "volunteer-hub-registration-rules"
    host = load_plugins(autoload=True)
    (status,) = [s for s in host.statuses() if s.name == NAME]
    assert (status.status, status.error, status.version) == ("enabled", None, "0.1.0")
    assert status.hooks == [
        "vh_check_party_report",
        "vh_check_signup",
        "vh_check_team_join",
        "vh_party_hours_target",
        "vh_plugin_settings",
        "vh_qualification_kinds",
    ]
