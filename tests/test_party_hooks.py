"""The party-report hooks: vh_check_party_report refuses a report, vh_party_hours_target sets
the yearly target. Through the real services and the HTTP API."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from pydantic import BaseModel

import volunteer_hub
from tests.factories import PASSWORD, World
from volunteer_hub.errors import RuleViolation
from volunteer_hub.hooktypes import PartyReportFacts, Violation
from volunteer_hub.models import AuditEntry, PartyReport, RoleAssignment
from volunteer_hub.plugins import PluginConfig
from volunteer_hub.services import people, teams
from volunteer_hub.services.access import load_actor

REPORT = {"work_unit": "市税务局", "party_branch": "市税务局机关第二党支部"}


@pytest.fixture
async def w(hub):
    return await World(hub).build()


async def counts() -> tuple[int, int, int]:
    return (
        await PartyReport.all().count(),
        await RoleAssignment.all().count(),
        await AuditEntry.all().count(),
    )


class BranchRule:
    """Refuses a branch that names no party organisation; remembers what it was shown."""

    def __init__(self) -> None:
        self.seen: list[tuple[PartyReportFacts, int, date]] = []

    @volunteer_hub.hookimpl
    def vh_check_party_report(self, report, community_id, today):
        self.seen.append((report, community_id, today))
        if "支部" in report.party_branch:
            return None
        return [Violation("party_branch", {"zh-CN": "请写明党支部", "en": "Name the branch"})]


class Target:
    def __init__(self, value) -> None:
        self.value = value

    @volunteer_hub.hookimpl
    def vh_party_hours_target(self, community_id):
        return self.value


class Plugins:
    """Register plugins on the test's hub and always unregister them."""

    def __init__(self, hub) -> None:
        self.hub, self.names = hub, []

    def add(self, name: str, plugin: object) -> None:
        assert self.hub.plugins.register(plugin, name).status == "enabled"
        self.names.append(name)

    def clear(self) -> None:
        for name in reversed(self.names):
            self.hub.plugins.unregister(name)
        self.names.clear()


@pytest.fixture
def plugins(hub):
    registered = Plugins(hub)
    try:
        yield registered
    finally:
        registered.clear()


async def test_a_party_report_rule_refuses_before_anything_is_written(w, plugins):
    rule = BranchRule()
    plugins.add("branch-rule", rule)
    member = await w.person("李党员", birth_date=date(1985, 3, 2))
    before = await counts()
    with pytest.raises(RuleViolation) as caught:
        await w.report(member, {"community_id": w.community.id, **REPORT, "party_branch": "税务局"})
    assert (caught.value.code, caught.value.rules) == ("registration_refused", ["party_branch"])
    assert caught.value.as_dict("en")["details"] == [
        {"rule": "party_branch", "message": "Name the branch"}
    ]
    assert await counts() == before
    assert "party_member" not in (await load_actor(member.id)).roles_in(w.community.id)

    # The rule saw the report, the member's facts, the community and its date.
    facts, community_id, today = rule.seen[-1]
    assert (facts.work_unit, facts.party_branch, facts.community_id) == (
        "市税务局",
        "税务局",
        w.community.id,
    )
    assert (facts.person.id, facts.person.birth_date) == (member.id, date(1985, 3, 2))
    assert (community_id, today) == (w.community.id, date(2026, 12, 1))

    report = await w.report(member, {"community_id": w.community.id, **REPORT})
    assert report.party_branch == "市税务局机关第二党支部"


async def test_a_broken_party_report_rule_refuses(w, plugins):
    class Raises:
        @volunteer_hub.hookimpl
        def vh_check_party_report(self, report):
            raise RuntimeError("branch register unreachable")

    class Malformed:
        @volunteer_hub.hookimpl
        def vh_check_party_report(self):
            return "no"  # not a list of Violation

    member = await w.person("李党员")
    for name, plugin in (("raises", Raises()), ("malformed", Malformed())):
        plugins.add(name, plugin)
        with pytest.raises(RuleViolation) as caught:
            await w.report(member, {"community_id": w.community.id, **REPORT})
        assert caught.value.rules == ["plugin_error"]
        (status,) = [s for s in w.hub.plugins.statuses() if s.name == name]
        assert status.status == "call_error" and "vh_check_party_report" in status.error
        plugins.clear()
    assert await PartyReport.all().count() == 0


async def test_party_report_refusal_over_http(api, w, plugins):
    plugins.add("branch-rule", BranchRule())
    member = await w.person("李党员")
    r = await api.post(
        "/api/v1/auth/login", json={"phone": member.person.phone, "password": PASSWORD}
    )
    headers = {"Authorization": f"Bearer {r.json()['token']}", "Accept-Language": "en"}
    body = {"community_id": w.community.id, "work_unit": "市税务局", "party_branch": "税务局"}
    r = await api.post("/api/v1/party-reports", json=body, headers=headers)
    assert r.status_code == 422, r.text
    assert r.json()["error"]["code"] == "registration_refused"
    assert r.json()["error"]["details"] == [{"rule": "party_branch", "message": "Name the branch"}]
    r = await api.post(
        "/api/v1/party-reports", json=body, headers={**headers, "Accept-Language": "zh-CN"}
    )
    assert r.json()["error"]["details"][0]["message"] == "请写明党支部"
    r = await api.post(
        "/api/v1/party-reports", json={**body, "party_branch": "第二党支部"}, headers=headers
    )
    assert r.status_code == 201, r.text


async def test_the_hours_target_is_stored_and_progress_follows_the_community(w, plugins):
    member = await w.person("李党员")
    target = Target(Decimal("20"))
    plugins.add("target", target)
    report = await w.report(member, {"community_id": w.community.id, **REPORT})
    assert (await PartyReport.get(id=report.id)).yearly_hours_target == Decimal(20)
    member = await load_actor(member.id)
    (item,) = (await teams.party_progress(w.hub, member))["items"]
    assert (item["target"], item["hours"]) == (Decimal(20), Decimal(0))

    # The community raises its target: progress shows the new one; the report keeps its own.
    target.value = 24
    (item,) = (await teams.party_progress(w.hub, member))["items"]
    assert item["target"] == Decimal(24)
    assert (await PartyReport.get(id=report.id)).yearly_hours_target == Decimal(20)

    # The first answer wins: a plugin registered later is asked first.
    plugins.add("later-target", Target(Decimal("30.25")))
    (item,) = (await teams.party_progress(w.hub, member))["items"]
    assert item["target"] == Decimal("30.3")

    # Without any plugin the stored target holds.
    plugins.clear()
    (item,) = (await teams.party_progress(w.hub, member))["items"]
    assert item["target"] == Decimal(20)


async def test_the_target_hook_is_asked_for_each_community(w, plugins):
    other = await people.create_community(w.hub, w.admin, {"name": "和平里社区"})

    class PerCommunity:
        @volunteer_hub.hookimpl
        def vh_party_hours_target(self, community_id):
            return 16 if community_id == other.id else None

    plugins.add("per-community", PerCommunity())
    member = await w.person("李党员")
    await w.report(member, {"community_id": w.community.id, **REPORT})
    await w.report(member, {"community_id": other.id, **REPORT})
    items = {
        i["community_id"]: i["target"]
        for i in (await teams.party_progress(w.hub, await load_actor(member.id)))["items"]
    }
    assert items == {w.community.id: Decimal(12), other.id: Decimal(16)}


@pytest.mark.parametrize("answer", ["20", -1, Decimal("NaN"), Decimal("10000"), True, 12.5])
async def test_a_target_that_is_not_a_number_of_hours_is_passed_over(w, plugins, answer):
    plugins.add("odd-target", Target(answer))
    member = await w.person("李党员")
    report = await w.report(member, {"community_id": w.community.id, **REPORT})
    assert (await PartyReport.get(id=report.id)).yearly_hours_target == Decimal(12)
    (item,) = (await teams.party_progress(w.hub, await load_actor(member.id)))["items"]
    assert item["target"] == Decimal(12)


async def test_a_raising_target_plugin_is_recorded_and_passed_over(w, plugins):
    class Raises:
        @volunteer_hub.hookimpl
        def vh_party_hours_target(self):
            raise LookupError("no target for this year")

    plugins.add("raising-target", Raises())
    member = await w.person("李党员")
    report = await w.report(member, {"community_id": w.community.id, **REPORT})
    assert (await PartyReport.get(id=report.id)).yearly_hours_target == Decimal(12)
    (status,) = [s for s in w.hub.plugins.statuses() if s.name == "raising-target"]
    assert status.status == "call_error" and "vh_party_hours_target" in status.error


async def test_the_party_hooks_get_the_settings_of_the_community_reported_to(w, plugins):
    other = await people.create_community(w.hub, w.admin, {"name": "和平里社区"})

    class Local(BaseModel):
        target: int = 12
        branch_word: str = "支部"

    class Configured:
        @volunteer_hub.hookimpl
        def vh_plugin_settings(self):
            return Local

        @volunteer_hub.hookimpl
        def vh_party_hours_target(self, settings):
            return settings.target

        @volunteer_hub.hookimpl
        def vh_check_party_report(self, report, settings):
            if settings.branch_word in report.party_branch:
                return None
            return [Violation("party_branch", f"须含“{settings.branch_word}”")]

    plugins.add("configured", Configured())
    w.hub.plugins.configure(
        PluginConfig.parse(
            f"[configured]\ntarget = 20\n"
            f"[configured.communities.{other.id}]\ntarget = 30\nbranch_word = '党委'\n"
        )
    )
    # The member lives in the first community; the report to the other follows its settings.
    member = await w.person("李党员")
    with pytest.raises(RuleViolation):
        await w.report(member, {"community_id": other.id, **REPORT})
    await w.report(member, {"community_id": w.community.id, **REPORT})
    await w.report(member, {"community_id": other.id, **REPORT, "party_branch": "市税务局机关党委"})
    items = {
        i["community_id"]: i["target"]
        for i in (await teams.party_progress(w.hub, await load_actor(member.id)))["items"]
    }
    assert items == {w.community.id: Decimal(20), other.id: Decimal(30)}
