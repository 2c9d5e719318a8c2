"""Volunteer teams, memberships, registration rules and in-service party members."""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest

import volunteer_hub
from tests.factories import World
from volunteer_hub.errors import (
    Conflict,
    InvalidInput,
    NotFound,
    PermissionDenied,
    RuleViolation,
)
from volunteer_hub.hooktypes import PersonFacts, Violation
from volunteer_hub.models import (
    AuditEntry,
    MembershipStatus,
    PartyReport,
    Qualification,
    Role,
    RoleAssignment,
    ServiceRecord,
    Team,
    TeamMembership,
)
from volunteer_hub.services import people, tasks, teams
from volunteer_hub.services.access import load_actor

COUNTED = (Team, TeamMembership, Qualification, RoleAssignment, PartyReport, AuditEntry)

# The clock fixture says 2026-12-01 09:00 in Asia/Shanghai.
TODAY = date(2026, 12, 1)


async def table_counts() -> dict[str, int]:
    return {model.__name__: await model.all().count() for model in COUNTED}


def years_ago(years: int, *, days: int = 0) -> date:
    return TODAY.replace(year=TODAY.year - years) + timedelta(days=days)


class SilverPatrolAgeRule:
    """A local registration rule: silver patrol members are 60 or older."""

    @volunteer_hub.hookimpl
    def vh_check_team_join(
        self, person: PersonFacts, team_kind: str, today: date
    ) -> list[Violation] | None:
        if team_kind != "silver_patrol":
            return None
        age = person.age_on(today)
        if age is None or age < 60:
            return [
                Violation(
                    "silver_patrol_age",
                    {"zh-CN": "银发巡逻队仅限60岁以上", "en": "Silver patrol: 60 or older"},
                )
            ]
        return None


class BrokenRule:
    @volunteer_hub.hookimpl
    def vh_check_team_join(self, team_kind: str) -> list[Violation] | None:
        raise RuntimeError("rule database unreachable")


# --- teams ------------------------------------------------------------------------------


async def test_create_team(hub):
    w = await World(hub).build()
    team = await teams.create_team(
        hub, w.staff, w.community.id, {"name": " 反诈宣传队 ", "kind": "anti_fraud"}
    )
    row = await Team.get(id=team.id)
    assert (row.community_id, row.name, row.kind, row.leader_id) == (
        w.community.id,
        "反诈宣传队",
        "anti_fraud",
        None,
    )
    entry = await AuditEntry.get(action="team.created", entity_id=team.id)
    assert entry.actor_id == w.staff.id
    assert entry.after == {"name": "反诈宣传队", "kind": "anti_fraud", "leader_id": None}
    assert [t.id for t in await teams.list_teams(w.community.id)] == [team.id]


@pytest.mark.parametrize(
    "kind",
    [
        "anti_fraud",
        "psychology",
        "silver_patrol",
        "party_vanguard",
        "elderly_care",
        "legal_aid",
        "repair",
    ],
)
async def test_every_core_team_kind_is_accepted(hub, kind):
    w = await World(hub).build()
    team = await teams.create_team(hub, w.staff, w.community.id, {"name": kind, "kind": kind})
    assert team.kind == kind


async def test_create_team_bad_input(hub):
    w = await World(hub).build()
    await w.team("anti_fraud", "反诈宣传队")
    before = await table_counts()
    for data, field in [
        ({"name": "跳舞队", "kind": "square_dance"}, "kind"),  # not a known kind
        ({"name": "跳舞队", "kind": "Anti-Fraud"}, "kind"),  # not even a code
        ({"name": "跳舞队"}, "kind"),
        ({"name": "", "kind": "repair"}, "name"),
        ({"name": "维修队", "kind": "repair", "leader_id": 999999}, "leader_id"),
        ({"name": "维修队", "kind": "repair", "colour": "red"}, "colour"),
    ]:
        with pytest.raises(InvalidInput) as caught:
            await teams.create_team(hub, w.staff, w.community.id, data)
        assert caught.value.fields == [field], data
    with pytest.raises(Conflict) as caught:
        await teams.create_team(
            hub, w.staff, w.community.id, {"name": "反诈宣传队", "kind": "repair"}
        )
    assert caught.value.code == "team_exists"
    assert await table_counts() == before


async def test_create_team_staff_only(hub):
    w = await World(hub).build()
    other = await people.create_community(hub, w.admin, {"name": "和平里社区"})
    other_staff = await w.person("外社区干部", community=other, roles=[Role.STAFF])
    resident = await w.person()
    before = await table_counts()
    for actor in (other_staff, w.grid_worker, resident):
        with pytest.raises(PermissionDenied):
            await teams.create_team(
                hub, actor, w.community.id, {"name": "维修队", "kind": "repair"}
            )
    assert await table_counts() == before


# --- joining ----------------------------------------------------------------------------


async def test_join_without_qualifications_is_active_and_makes_a_volunteer(hub):
    """In a community that does not vet new volunteers."""
    w = await World(hub).build()
    await w.vet_volunteers(False)
    team = await w.team("elderly_care")
    person = await w.person("李志愿")
    assert "volunteer" not in person.roles_in(w.community.id)
    membership = await teams.join_team(hub, person, team.id)
    assert membership.status is MembershipStatus.ACTIVE
    row = await TeamMembership.get(team_id=team.id, person_id=person.id)
    assert row.status is MembershipStatus.ACTIVE
    actor = await load_actor(person.id)
    assert actor.roles_in(w.community.id) == ["resident", "volunteer"]
    entry = await AuditEntry.get(action="team.joined", entity_id=membership.id)
    assert entry.actor_id == person.id
    assert entry.after == {
        "team_id": team.id,
        "person_id": person.id,
        "status": "active",
        "qualifications": [],
    }
    # Joining a second team does not grant the role twice.
    second = await w.team("repair")
    await teams.join_team(hub, actor, second.id)
    assert await RoleAssignment.filter(person_id=person.id, role=Role.VOLUNTEER).count() == 1


async def test_join_with_declared_qualifications_is_pending(hub):
    w = await World(hub).build()
    team = await w.team("psychology")
    person = await w.person("陈老师")
    membership = await teams.join_team(
        hub,
        person,
        team.id,
        {
            "qualifications": [
                {"kind": "counsellor", "expires_on": "2028-06-30"},
                {"kind": "first_aid", "expires_on": TODAY.isoformat()},  # valid until today
            ]
        },
    )
    assert membership.status is MembershipStatus.PENDING
    quals = (
        await Qualification.filter(person_id=person.id)
        .order_by("id")
        .values_list("kind", "expires_on", "verified")
    )
    assert [tuple(q) for q in quals] == [
        ("counsellor", date(2028, 6, 30), False),
        ("first_aid", TODAY, False),
    ]
    entry = await AuditEntry.get(action="team.joined", entity_id=membership.id)
    assert entry.after["status"] == "pending"
    assert entry.after["qualifications"] == ["counsellor", "first_aid"]


async def test_join_twice_is_a_conflict(hub):
    w = await World(hub).build()
    team = await w.team("repair")
    person = await w.volunteer(team=team)
    before = await table_counts()
    with pytest.raises(Conflict) as caught:
        await teams.join_team(hub, person, team.id)
    assert caught.value.code == "already_member"
    with pytest.raises(Conflict) as caught:
        await teams.join_team(hub, person, team.id, {"qualifications": [{"kind": "first_aid"}]})
    assert caught.value.code == "already_member"
    assert await table_counts() == before


async def test_join_bad_qualifications(hub):
    w = await World(hub).build()
    team = await w.team("psychology")
    person = await w.person("陈老师")
    yesterday = (TODAY - timedelta(days=1)).isoformat()
    before = await table_counts()
    for quals, field in [
        ([{"kind": "counsellor", "expires_on": yesterday}], "qualifications.0.expires_on"),
        ([{"kind": "wizard"}], "qualifications.0.kind"),
        ([{"kind": "first_aid"}, {"kind": "astrologer"}], "qualifications.1.kind"),
        ([{"kind": "first_aid", "expires_on": "someday"}], "qualifications.0.expires_on"),
        ([{"kind": "first_aid", "number": "123"}], "qualifications.0.number"),
        ([{"kind": "first_aid"}] * 11, "qualifications"),
    ]:
        with pytest.raises(InvalidInput) as caught:
            await teams.join_team(hub, person, team.id, {"qualifications": quals})
        assert caught.value.fields == [field], quals
    assert await table_counts() == before
    with pytest.raises(NotFound) as caught:
        await teams.join_team(hub, person, team.id + 999)
    assert caught.value.code == "team_not_found"
    assert await table_counts() == before


async def test_expiry_is_judged_in_the_communitys_time_zone(hub, clock):
    w = await World(hub).build()
    # 2026-12-01 09:00 in Shanghai is still 2026-11-30 in Los Angeles.
    west = await people.create_community(
        hub, w.admin, {"name": "洛杉矶华人社区", "timezone": "America/Los_Angeles"}
    )
    east_team = await w.team("elderly_care")
    west_team = await teams.create_team(
        hub, w.admin, west.id, {"name": "助老队", "kind": "elderly_care"}
    )
    east_person = await w.person()
    west_person = await w.person(community=west)
    quals = {"qualifications": [{"kind": "first_aid", "expires_on": "2026-11-30"}]}
    with pytest.raises(InvalidInput) as caught:
        await teams.join_team(hub, east_person, east_team.id, quals)
    assert caught.value.fields == ["qualifications.0.expires_on"]
    membership = await teams.join_team(hub, west_person, west_team.id, quals)
    assert membership.status is MembershipStatus.PENDING


async def test_join_a_team_of_another_community_is_refused(hub):
    w = await World(hub).build()
    other = await people.create_community(hub, w.admin, {"name": "和平里社区"})
    foreign_team = await teams.create_team(
        hub, w.admin, other.id, {"name": "维修队", "kind": "repair"}
    )
    person = await w.person()
    before = await table_counts()
    with pytest.raises(PermissionDenied):
        await teams.join_team(hub, person, foreign_team.id)
    assert await table_counts() == before


async def test_concurrent_team_creation_with_one_name_makes_one_team(hub):
    w = await World(hub).build()
    results = await asyncio.gather(
        *[
            teams.create_team(hub, w.staff, w.community.id, {"name": "维修队", "kind": "repair"})
            for _ in range(10)
        ],
        return_exceptions=True,
    )
    made = [r for r in results if isinstance(r, Team)]
    refused = [r for r in results if not isinstance(r, Team)]
    assert len(made) == 1
    assert await Team.filter(name="维修队").count() == 1
    assert [getattr(r, "code", repr(r)) for r in refused] == ["team_exists"] * 9


# --- approval ------------------------------------------------------------------------------


async def test_approve_membership_verifies_and_activates(hub):
    w = await World(hub).build()
    team = await w.team("psychology")
    person = await w.person("陈老师")
    membership = await teams.join_team(
        hub, person, team.id, {"qualifications": [{"kind": "counsellor"}]}
    )
    approved = await teams.approve_membership(hub, w.staff, membership.id)
    assert approved.status is MembershipStatus.ACTIVE
    assert (await TeamMembership.get(id=membership.id)).status is MembershipStatus.ACTIVE
    assert await Qualification.filter(person_id=person.id).values_list("verified", flat=True) == [
        True
    ]
    entry = await AuditEntry.get(action="team.membership_approved", entity_id=membership.id)
    assert entry.actor_id == w.staff.id
    assert (entry.before, entry.after) == (
        {"status": "pending"},
        {"status": "active", "also_active": []},
    )

    before = await table_counts()
    with pytest.raises(Conflict) as caught:
        await teams.approve_membership(hub, w.staff, membership.id)
    assert caught.value.code == "not_pending"
    assert await table_counts() == before


async def test_approve_an_active_membership_is_a_conflict(hub):
    w = await World(hub).build()
    team = await w.team("repair")
    await w.volunteer(team=team)
    membership = await TeamMembership.get(team_id=team.id)
    before = await table_counts()
    with pytest.raises(Conflict) as caught:
        await teams.approve_membership(hub, w.staff, membership.id)
    assert caught.value.code == "not_pending"
    assert await table_counts() == before


async def test_approve_membership_staff_of_the_community_only(hub):
    w = await World(hub).build()
    other = await people.create_community(hub, w.admin, {"name": "和平里社区"})
    other_staff = await w.person("外社区干部", community=other, roles=[Role.STAFF])
    team = await w.team("psychology")
    person = await w.person("陈老师")
    membership = await teams.join_team(
        hub, person, team.id, {"qualifications": [{"kind": "counsellor"}]}
    )
    before = await table_counts()
    for actor in (w.grid_worker, person):
        with pytest.raises(PermissionDenied):
            await teams.approve_membership(hub, actor, membership.id)
    with pytest.raises(NotFound):  # another community's membership is not visible
        await teams.approve_membership(hub, other_staff, membership.id)
    with pytest.raises(NotFound) as caught:
        await teams.approve_membership(hub, w.staff, membership.id + 999)
    assert caught.value.code == "membership_not_found"
    assert await table_counts() == before
    assert await Qualification.filter(person_id=person.id, verified=True).count() == 0
    # An admin acts as staff of every community.
    approved = await teams.approve_membership(hub, w.admin, membership.id)
    assert approved.status is MembershipStatus.ACTIVE


async def test_approving_one_membership_verifies_only_what_was_declared_for_it(hub):
    w = await World(hub).build()
    psychology = await w.team("psychology")
    anti_fraud = await w.team("anti_fraud")
    person = await w.person("陈老师")
    await teams.join_team(hub, person, psychology.id, {"qualifications": [{"kind": "counsellor"}]})
    anti_fraud_membership = await teams.join_team(
        hub, person, anti_fraud.id, {"qualifications": [{"kind": "anti_fraud_training"}]}
    )
    # Staff checked the anti-fraud training certificate only.
    await teams.approve_membership(hub, w.staff, anti_fraud_membership.id)
    verified = dict(await Qualification.filter(person_id=person.id).values_list("kind", "verified"))
    assert verified == {"anti_fraud_training": True, "counsellor": False}


# --- registration rules from plugins -----------------------------------------------------------


async def test_registration_rule_plugin_refuses_and_writes_nothing(hub):
    w = await World(hub).build()
    patrol = await w.team("silver_patrol")
    repair = await w.team("repair")
    young = await w.person("小王", birth_date=years_ago(60, days=1))  # 60 tomorrow
    unknown_age = await w.person("无名")
    status = hub.plugins.register(SilverPatrolAgeRule(), "test-rule")
    try:
        assert status.status == "enabled"
        assert status.hooks == ["vh_check_team_join"]
        before = await table_counts()
        for person in (young, unknown_age):
            with pytest.raises(RuleViolation) as caught:
                await teams.join_team(hub, person, patrol.id)
            err = caught.value
            assert err.kind == "rule"
            assert err.code == "registration_refused"
            assert err.rules == ["silver_patrol_age"]
            assert err.as_dict("en")["details"] == [
                {"rule": "silver_patrol_age", "message": "Silver patrol: 60 or older"}
            ]
        assert await table_counts() == before

        # Sixty today is old enough; other teams are not affected by the rule.
        sixty = await w.person("老张", birth_date=years_ago(60))
        assert (await w.join(sixty, patrol)).status is MembershipStatus.ACTIVE
        assert (await w.join(young, repair)).status is MembershipStatus.ACTIVE
    finally:
        hub.plugins.unregister("test-rule")
    # Without the plugin, the young person (approved once) may join.
    young = await load_actor(young.id)
    assert (await teams.join_team(hub, young, patrol.id)).status is MembershipStatus.ACTIVE


async def test_a_failing_rule_plugin_refuses_the_join(hub):
    w = await World(hub).build()
    team = await w.team("repair")
    person = await w.person()
    hub.plugins.register(BrokenRule(), "test-broken-rule")
    try:
        before = await table_counts()
        with pytest.raises(RuleViolation) as caught:
            await teams.join_team(hub, person, team.id)
        assert caught.value.rules == ["plugin_error"]
        assert await table_counts() == before
        (status,) = [s for s in hub.plugins.statuses() if s.name == "test-broken-rule"]
        assert status.status == "call_error"
        assert "vh_check_team_join" in status.error
        assert "rule database unreachable" in status.error
        assert status.failures == 1
    finally:
        hub.plugins.unregister("test-broken-rule")
    assert (await w.join(person, team)).status is MembershipStatus.ACTIVE


class MalformedRule:
    """Returns what a rule must not: a bare Violation, or texts instead of Violations."""

    def __init__(self, value: object) -> None:
        self.value = value

    @volunteer_hub.hookimpl
    def vh_check_team_join(self):
        return self.value


@pytest.mark.parametrize(
    "value",
    [Violation("closed", "Closed for now"), ["Closed for now"]],
    ids=["bare-violation", "list-of-text"],
)
async def test_a_rule_plugin_returning_a_malformed_value_refuses_cleanly(hub, value):
    w = await World(hub).build()
    team = await w.team("repair")
    person = await w.person()
    hub.plugins.register(MalformedRule(value), "test-malformed-rule")
    try:
        before = await table_counts()
        with pytest.raises(RuleViolation) as caught:
            await teams.join_team(hub, person, team.id)
        assert caught.value.rules == ["plugin_error"]
        assert [d["rule"] for d in caught.value.as_dict("en")["details"]] == ["plugin_error"]
        assert await table_counts() == before
        (status,) = [s for s in hub.plugins.statuses() if s.name == "test-malformed-rule"]
        assert status.status == "call_error"
    finally:
        hub.plugins.unregister("test-malformed-rule")


# --- in-service party members ---------------------------------------------------------------


async def test_file_party_report(hub):
    w = await World(hub).build()
    person = await w.person("李党员")
    report = await teams.file_party_report(
        hub,
        person,
        {"community_id": w.community.id, "work_unit": "市税务局", "party_branch": "第二党支部"},
    )
    row = await PartyReport.get(id=report.id)
    assert (row.person_id, row.community_id, row.work_unit, row.party_branch) == (
        person.id,
        w.community.id,
        "市税务局",
        "第二党支部",
    )
    assert row.status.value == "pending"  # until staff of the community accept it
    assert row.yearly_hours_target == Decimal(12)
    actor = await load_actor(person.id)
    assert "party_member" not in actor.roles_in(w.community.id)
    entry = await AuditEntry.get(action="party_report.filed", entity_id=report.id)
    assert entry.actor_id == person.id
    assert entry.after == {
        "work_unit": "市税务局",
        "party_branch": "第二党支部",
        "status": "pending",
    }

    before = await table_counts()
    with pytest.raises(Conflict) as caught:
        await teams.file_party_report(
            hub,
            actor,
            {"community_id": w.community.id, "work_unit": "别的单位", "party_branch": "支部"},
        )
    assert caught.value.code == "already_reported"
    assert await table_counts() == before


async def test_file_party_report_bad_input(hub):
    w = await World(hub).build()
    person = await w.person("李党员")
    good = {"community_id": w.community.id, "work_unit": "市税务局", "party_branch": "第二党支部"}
    before = await table_counts()
    for overrides, field in [
        ({"work_unit": ""}, "work_unit"),
        ({"work_unit": "   "}, "work_unit"),
        ({"party_branch": "x" * 101}, "party_branch"),
        ({"community_id": w.community.id + 999}, "community_id"),
        ({"community_id": "幸福里"}, "community_id"),
    ]:
        with pytest.raises(InvalidInput) as caught:
            await teams.file_party_report(hub, person, good | overrides)
        assert caught.value.fields == [field], overrides
    assert await table_counts() == before
    assert "party_member" not in (await load_actor(person.id)).roles_in(w.community.id)


async def serve_shift(hub, clock, staff, volunteer, community_id, start, hours) -> ServiceRecord:
    """A real shift: staff post a task, the volunteer signs up, checks in and out."""
    clock.now = start - timedelta(days=1)
    task = await tasks.create_task(
        hub,
        staff,
        community_id,
        {
            "title": "巡逻值班",
            "starts_at": start.isoformat(),
            "ends_at": (start + timedelta(hours=hours)).isoformat(),
            "capacity": 5,
        },
    )
    signup = await tasks.sign_up(hub, volunteer, task.id)
    clock.now = start
    await tasks.check_in(hub, volunteer, signup.id)
    clock.now = start + timedelta(hours=hours)
    return await tasks.check_out(hub, volunteer, signup.id)


async def test_party_progress_counts_this_years_service_records(hub, clock):
    # Service records are made through the real task check-in/check-out with the clock.
    w = await World(hub).build()
    other = await people.create_community(hub, w.admin, {"name": "和平里社区"})
    member = await w.person("李党员")
    report = await teams.file_party_report(
        hub,
        member,
        {"community_id": w.community.id, "work_unit": "市税务局", "party_branch": "二支部"},
    )
    await teams.accept_party_report(hub, w.staff, report.id)
    # The member also works in the other community, so can serve shifts there too.
    await people.assign_role(hub, w.admin, other.id, member.id, "staff")
    member = await load_actor(member.id)
    last_year = await serve_shift(
        hub, clock, w.staff, member, w.community.id, datetime(2025, 6, 2, 1, tzinfo=UTC), 3
    )
    this_year = await serve_shift(
        hub, clock, w.staff, member, w.community.id, datetime(2026, 3, 8, 2, tzinfo=UTC), 2
    )
    elsewhere = await serve_shift(
        hub, clock, w.admin, member, other.id, datetime(2026, 5, 1, 2, tzinfo=UTC), 4
    )
    assert [r.hours for r in (last_year, this_year, elsewhere)] == [
        Decimal(3),
        Decimal(2),
        Decimal(4),
    ]
    clock.now = datetime(2026, 12, 1, 1, tzinfo=UTC)

    progress = await teams.party_progress(hub, member)
    assert progress == {
        "items": [
            {
                "community_id": w.community.id,
                "year": 2026,
                "hours": Decimal(2),
                "target": Decimal(12),
                "work_unit": "市税务局",
                "party_branch": "二支部",
            }
        ]
    }
    (item,) = (await teams.party_progress(hub, member, year=2025))["items"]
    assert (item["year"], item["hours"]) == (2025, Decimal(3))
    # Someone who never reported has no progress to show.
    assert await teams.party_progress(hub, w.staff) == {"items": []}


async def test_party_progress_year_is_each_communitys_own(hub, clock):
    w = await World(hub).build()
    west = await people.create_community(
        hub, w.admin, {"name": "洛杉矶华人社区", "timezone": "America/Los_Angeles"}
    )
    member = await w.person("李党员")
    for community in (w.community, west):
        report = await teams.file_party_report(
            hub, member, {"community_id": community.id, "work_unit": "单位", "party_branch": "支部"}
        )
        await teams.accept_party_report(hub, w.admin, report.id)
    member = await load_actor(member.id)  # a party member of both communities now
    # 2026-12-31 10:00-12:00 in Los Angeles.
    await serve_shift(
        hub, clock, w.admin, member, west.id, datetime(2026, 12, 31, 18, tzinfo=UTC), 2
    )
    # 20:00 UTC: New Year's Day 04:00 in Shanghai, still New Year's Eve in Los Angeles.
    clock.now = datetime(2026, 12, 31, 20, tzinfo=UTC)
    items = {i["community_id"]: i for i in (await teams.party_progress(hub, member))["items"]}
    assert (items[w.community.id]["year"], items[w.community.id]["hours"]) == (2027, Decimal(0))
    assert (items[west.id]["year"], items[west.id]["hours"]) == (2026, Decimal(2))
