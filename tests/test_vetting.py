"""Vetted volunteers (issue 10, finding 6): a community approves each new volunteer once
before they claim wishes or see any contact; party reports wait for staff; a claimer sees
the resident's contact only while serving the wish.

Through the services and over HTTP, on SQLite and PostgreSQL (the ``hub`` fixture).
"""

from __future__ import annotations

import asyncio

import httpx
import pytest

from tests.factories import PASSWORD, World, next_phone
from tests.pages_support import csrf, log_in
from volunteer_hub.errors import (
    Conflict,
    InvalidInput,
    NotFound,
    PermissionDenied,
    RuleViolation,
)
from volunteer_hub.models import (
    AuditEntry,
    MembershipStatus,
    Notification,
    PartyReport,
    PartyReportStatus,
    Qualification,
    Role,
    RoleAssignment,
    TeamMembership,
    Wish,
    WishStatus,
)
from volunteer_hub.services import (
    calendars,
    invitations,
    matching,
    people,
    tasks,
    teams,
    wishes,
)
from volunteer_hub.services.access import load_actor
from volunteer_hub.services.views import PartyReportView

API = "/api/v1"
ERRAND = {"title": "帮忙取快递", "description": "腿脚不便，请帮忙取件", "category": "errand"}


@pytest.fixture
async def w(hub):
    return await World(hub).build()


async def open_wish(w: World, resident=None, **fields) -> Wish:
    resident = resident or await w.person("王奶奶")
    wish = await wishes.post(w.hub, resident, w.community.id, {**ERRAND, **fields})
    return await wishes.review(w.hub, w.staff, wish.id, {"decision": "approve"})


# --- approval once per person ------------------------------------------------------------------


async def test_the_first_membership_waits_and_approval_counts_once_per_person(w):
    care, repair, patrol = [await w.team(k) for k in ("elderly_care", "repair", "silver_patrol")]
    person = await w.person("新志愿者")
    first = await teams.join_team(w.hub, person, care.id)
    second = await teams.join_team(w.hub, person, repair.id)
    assert (first.status, second.status) == (MembershipStatus.PENDING,) * 2
    assert not (await load_actor(person.id)).has_role(w.community.id, Role.VOLUNTEER)

    approved = await teams.approve_membership(w.hub, w.staff, first.id)
    assert approved.status is MembershipStatus.ACTIVE
    # The person is approved: the other request that waited only for that starts too ...
    assert (await TeamMembership.get(id=second.id)).status is MembershipStatus.ACTIVE
    entry = await AuditEntry.get(action="team.membership_approved", entity_id=first.id)
    assert entry.after == {"status": "active", "also_active": [second.id]}
    assert (
        await AuditEntry.filter(action="team.membership_started", entity_id=second.id).count() == 1
    )
    # ... and a further team is joined at once; the role is given once.
    person = await load_actor(person.id)
    assert (await teams.join_team(w.hub, person, patrol.id)).status is MembershipStatus.ACTIVE
    assert await RoleAssignment.filter(person_id=person.id, role=Role.VOLUNTEER).count() == 1
    # The volunteer is told, once, in their language (zh-CN by default).
    (told,) = await Notification.filter(person_id=person.id)
    assert told.event == "team.membership_approved"
    assert "审核通过" in told.body and care.name in told.body


async def test_a_declared_qualification_still_waits_after_the_person_is_approved(w):
    repair, psychology = await w.team("repair"), await w.team("psychology")
    person = await w.volunteer("陈老师", team=repair)
    membership = await teams.join_team(
        w.hub, person, psychology.id, {"qualifications": [{"kind": "counsellor"}]}
    )
    assert membership.status is MembershipStatus.PENDING
    await teams.approve_membership(w.hub, w.staff, membership.id)
    assert await Qualification.filter(person_id=person.id).values_list("verified", flat=True) == [
        True
    ]


async def test_staff_and_grid_workers_serve_without_approval(w):
    team = await w.team("repair")
    for appointed in (w.staff, w.grid_worker):
        assert (await teams.join_team(w.hub, appointed, team.id)).status is MembershipStatus.ACTIVE


async def test_a_community_that_does_not_vet_lets_volunteers_serve_at_once(w):
    await w.vet_volunteers(False)
    team = await w.team("repair")
    person = await w.person("新志愿者")
    assert (await teams.join_team(w.hub, person, team.id)).status is MembershipStatus.ACTIVE
    wish = await open_wish(w)
    claimed = await wishes.claim(w.hub, await load_actor(person.id), wish.id)
    assert claimed.status is WishStatus.CLAIMED


async def test_only_staff_change_the_setting_and_only_to_a_boolean(w):
    volunteer = await w.volunteer(team=await w.team("repair"))
    other = await World(w.hub).build_other(w)
    for outsider in (volunteer, w.grid_worker, other.staff):
        with pytest.raises(PermissionDenied):
            await people.update_community(
                w.hub, outsider, w.community.id, {"approve_volunteers": False}
            )
    for bad in ("no", 0, None, [False]):
        with pytest.raises(InvalidInput) as caught:
            await people.update_community(
                w.hub, w.staff, w.community.id, {"approve_volunteers": bad} if bad else {"x": 1}
            )
        assert caught.value.fields in (["approve_volunteers"], ["x"])
    with pytest.raises(NotFound):
        await people.update_community(w.hub, w.admin, w.community.id + 99, {})
    changed = await people.update_community(
        w.hub, w.staff, w.community.id, {"approve_volunteers": False}
    )
    assert changed.approve_volunteers is False
    entry = await AuditEntry.get(action="community.updated", entity_id=w.community.id)
    assert (entry.actor_id, entry.before, entry.after) == (
        w.staff.id,
        {"approve_volunteers": True},
        {"approve_volunteers": False},
    )


# --- who decides ---------------------------------------------------------------------------------


async def test_a_team_leader_decides_for_their_own_team_only(w):
    leader = await w.person("队长")
    led = await teams.create_team(
        w.hub, w.admin, w.community.id, {"name": "维修队", "kind": "repair", "leader_id": leader.id}
    )
    other_team = await w.team("elderly_care")
    a, b = await w.person("甲"), await w.person("乙")
    in_led = await teams.join_team(w.hub, a, led.id)
    in_other = await teams.join_team(w.hub, b, other_team.id)

    listed = await teams.list_memberships(leader, w.community.id, status=MembershipStatus.PENDING)
    assert [m.id for m in listed] == [in_led.id]
    assert [m.id for m in await teams.list_memberships(w.staff, w.community.id)] == [
        in_led.id,
        in_other.id,
    ]
    with pytest.raises(PermissionDenied):
        await teams.approve_membership(w.hub, leader, in_other.id)
    with pytest.raises(PermissionDenied):
        await teams.list_memberships(b, w.community.id)
    assert (await teams.approve_membership(w.hub, leader, in_led.id)).status.value == "active"
    own = await teams.join_team(w.hub, leader, led.id)  # the leader's own request: not theirs
    with pytest.raises(PermissionDenied):
        await teams.approve_membership(w.hub, leader, own.id)


async def test_refusal_says_why_and_the_person_stays_unapproved(w):
    team = await w.team("repair")
    person = await w.person("可疑账号")
    membership = await teams.join_team(w.hub, person, team.id)
    before = await AuditEntry.all().count()
    for bad in ({}, {"reason": ""}, {"reason": "   "}, {"reason": "x" * 501}):
        with pytest.raises(InvalidInput):
            await teams.refuse_membership(w.hub, w.staff, membership.id, bad)
    assert await AuditEntry.all().count() == before
    refused = await teams.refuse_membership(
        w.hub, w.staff, membership.id, {"reason": "未能核实身份"}
    )
    assert refused.status is MembershipStatus.REFUSED
    (told,) = await Notification.filter(person_id=person.id)
    assert told.event == "team.membership_refused" and "未能核实身份" in told.body
    with pytest.raises(Conflict) as caught:
        await teams.approve_membership(w.hub, w.staff, membership.id)
    assert caught.value.code == "not_pending"
    assert not (await load_actor(person.id)).has_role(w.community.id, Role.VOLUNTEER)


# --- what an unapproved person cannot do ---------------------------------------------------------


async def test_an_unapproved_person_cannot_claim_see_be_invited_or_sign_up(w):
    care = await w.team("elderly_care")
    approved = await w.volunteer("老志愿者", team=care)
    newcomer = await w.person("新账号")
    membership = await teams.join_team(w.hub, newcomer, care.id)
    newcomer = await load_actor(newcomer.id)
    errand = await open_wish(w)
    care_wish = await open_wish(w, category="elderly_care", title="陪老人聊天")

    for wish in (errand, care_wish):
        with pytest.raises(PermissionDenied) as caught:
            await wishes.claim(w.hub, newcomer, wish.id)
        assert caught.value.code == "volunteer_not_approved"
        assert caught.value.message("zh-CN") == "社区尚未审核通过您的志愿者身份。"
        assert caught.value.message("en") == (
            "The community has not approved you as a volunteer yet."
        )
        with pytest.raises(NotFound):
            await wishes.get_wish(w.hub, newcomer, wish.id)
        assert not await wishes.may_claim(w.hub, newcomer, wish)
        assert await wishes.may_claim(w.hub, approved, wish)
    assert await wishes.list_wishes(w.hub, newcomer, w.community.id) == []

    ranked = await matching.candidates(w.hub, w.staff, care_wish.id)
    assert [c.person_id for c in ranked] == [approved.id]
    with pytest.raises(RuleViolation) as caught:
        await invitations.invite_to_wish(w.hub, w.staff, care_wish.id, {"person_id": newcomer.id})
    assert caught.value.rules[0] == "volunteer_not_approved"

    task = await tasks.create_task(
        w.hub,
        w.staff,
        w.community.id,
        {
            "title": "助老值班",
            "team_id": care.id,
            "starts_at": "2026-12-05T09:00:00+08:00",
            "ends_at": "2026-12-05T11:00:00+08:00",
            "capacity": 5,
        },
    )
    with pytest.raises(PermissionDenied) as caught:
        await tasks.sign_up(w.hub, newcomer, task.id)
    assert caught.value.code == "not_team_member"

    # Once approved, all of it works.
    await teams.approve_membership(w.hub, w.staff, membership.id)
    newcomer = await load_actor(newcomer.id)
    assert (await wishes.claim(w.hub, newcomer, care_wish.id)).claimer_id == newcomer.id
    assert (await tasks.sign_up(w.hub, newcomer, task.id)).status.value == "confirmed"


async def test_a_resident_who_joined_no_team_is_not_told_about_approval(w):
    resident = await w.person("居民")
    wish = await open_wish(w)
    with pytest.raises(NotFound):
        await wishes.claim(w.hub, resident, wish.id)


# --- party reports ------------------------------------------------------------------------------


async def test_a_party_report_counts_only_once_staff_accept_it(w, clock):
    other = await World(w.hub).build_other(w)
    outsider = await other.person("外社区账号")
    report = await teams.file_party_report(
        w.hub,
        outsider,
        {"community_id": w.community.id, "work_unit": "某单位", "party_branch": "某支部"},
    )
    assert report.status is PartyReportStatus.PENDING
    outsider = await load_actor(outsider.id)
    assert not outsider.belongs_to(w.community.id)  # no role in community A yet
    with pytest.raises(PermissionDenied):  # so no joining its teams
        await teams.join_team(w.hub, outsider, (await w.team("repair")).id)
    assert (await teams.party_progress(w.hub, outsider))["items"] == []
    for not_staff in (outsider, w.grid_worker):
        with pytest.raises(PermissionDenied):
            await teams.accept_party_report(w.hub, not_staff, report.id)
    with pytest.raises(NotFound):
        await teams.accept_party_report(w.hub, other.staff, report.id)
    with pytest.raises(PermissionDenied):
        await teams.list_party_reports(outsider, w.community.id)

    listed = await teams.list_party_reports(
        w.staff, w.community.id, status=PartyReportStatus.PENDING
    )
    assert [r.id for r in listed] == [report.id]
    accepted = await teams.accept_party_report(w.hub, w.staff, report.id)
    assert accepted.status is PartyReportStatus.ACCEPTED
    outsider = await load_actor(outsider.id)
    assert outsider.has_role(w.community.id, Role.PARTY_MEMBER)
    assert [i["community_id"] for i in (await teams.party_progress(w.hub, outsider))["items"]] == [
        w.community.id
    ]
    (told,) = await Notification.filter(person_id=outsider.id)
    assert told.event == "party_report.accepted"
    with pytest.raises(Conflict):
        await teams.refuse_party_report(w.hub, w.staff, report.id, {"reason": "晚了"})


async def test_a_refused_party_report_tells_why_and_grants_nothing(w):
    person = await w.person("李党员")
    report = await teams.file_party_report(
        w.hub, person, {"community_id": w.community.id, "work_unit": "单位", "party_branch": "支部"}
    )
    refused = await teams.refuse_party_report(
        w.hub, w.staff, report.id, {"reason": "请到户籍所在社区报到"}
    )
    assert refused.status is PartyReportStatus.REFUSED
    assert not (await load_actor(person.id)).has_role(w.community.id, Role.PARTY_MEMBER)
    assert (await teams.party_progress(w.hub, person))["items"] == []
    (told,) = await Notification.filter(person_id=person.id)
    assert told.event == "party_report.refused" and "请到户籍所在社区报到" in told.body


# --- the contact while serving, and nowhere else -----------------------------------------------


@pytest.mark.parametrize("end", ["confirmed", "cancelled"])
async def test_the_claimer_loses_the_contact_when_the_wish_ends(w, end):
    team = await w.team("repair")
    claimer = await w.volunteer("认领人", team=team)
    resident = await w.person("王奶奶")
    wish = await wishes.claim(w.hub, claimer, (await open_wish(w, resident)).id)
    assert wishes.can_see_contact(claimer, wish, resident.person)
    if end == "confirmed":
        await wishes.fulfil(w.hub, claimer, wish.id)
        wish = await wishes.confirm(w.hub, resident, wish.id, {"rating": 5})
    else:
        wish = await wishes.cancel(w.hub, resident, wish.id, {"reason": "已解决"})
    assert wish.status.value == end
    assert not wishes.can_see_contact(claimer, wish, resident.person)
    # Nothing the claimer was sent or subscribes to carries the contact either.
    phone, address = resident.person.phone, resident.person.address
    for n in await Notification.filter(person_id=claimer.id):
        assert phone not in n.body + (n.html or "") and address not in n.body + (n.html or "")
    token = await calendars.my_feed_token(w.hub, claimer)
    feed = (await calendars.personal_feed(w.hub, token)).decode()
    assert wish.title in feed and phone not in feed and address not in feed


async def test_an_expired_wish_shows_no_contact_to_its_last_claimer(w):
    resident = await w.person("王奶奶")
    claimer = await w.volunteer("认领人", team=await w.team("repair"))
    # Expiry moves only unclaimed wishes; the rule holds for any wish that ended so.
    wish = Wish(id=1, community_id=w.community.id, resident_id=resident.id, claimer_id=claimer.id)
    for status, sees in [
        (WishStatus.CLAIMED, True),
        (WishStatus.FULFILLED, True),
        (WishStatus.EXPIRED, False),
        (WishStatus.CANCELLED, False),
        (WishStatus.CONFIRMED, False),
    ]:
        wish.status = status
        assert wishes.can_see_contact(claimer, wish, resident.person) is sees, status


# --- concurrency -------------------------------------------------------------------------------


async def test_two_staff_approving_at_once_make_one_decision(w):
    team = await w.team("repair")
    second_staff = await w.person("另一位干部", roles=[Role.STAFF])
    person = await w.person("新志愿者")
    membership = await teams.join_team(w.hub, person, team.id)
    results = await asyncio.gather(
        *[
            teams.approve_membership(w.hub, staff, membership.id)
            for staff in (w.staff, second_staff, w.admin, w.staff)
        ],
        return_exceptions=True,
    )
    won = [r for r in results if isinstance(r, TeamMembership)]
    lost = [r for r in results if not isinstance(r, TeamMembership)]
    assert len(won) == 1
    assert [getattr(r, "code", repr(r)) for r in lost] == ["not_pending"] * 3
    assert await AuditEntry.filter(action="team.membership_approved").count() == 1
    assert await Notification.filter(person_id=person.id).count() == 1
    assert await RoleAssignment.filter(person_id=person.id, role=Role.VOLUNTEER).count() == 1


async def test_approving_and_refusing_at_once_leave_one_consistent_state(w):
    team = await w.team("repair")
    person = await w.person("新志愿者")
    membership = await teams.join_team(w.hub, person, team.id)
    results = await asyncio.gather(
        teams.approve_membership(w.hub, w.staff, membership.id),
        teams.refuse_membership(w.hub, w.admin, membership.id, {"reason": "重复申请"}),
        return_exceptions=True,
    )
    assert sum(isinstance(r, TeamMembership) for r in results) == 1
    status = (await TeamMembership.get(id=membership.id)).status
    volunteer = await RoleAssignment.exists(person_id=person.id, role=Role.VOLUNTEER)
    assert volunteer is (status is MembershipStatus.ACTIVE)
    assert await Notification.filter(person_id=person.id).count() == 1


async def test_approving_two_requests_of_one_person_at_once_approves_the_person_once(w):
    care, repair = await w.team("elderly_care"), await w.team("repair")
    person = await w.person("新志愿者")
    first = await teams.join_team(w.hub, person, care.id)
    second = await teams.join_team(w.hub, person, repair.id)
    await asyncio.gather(
        teams.approve_membership(w.hub, w.staff, first.id),
        teams.approve_membership(w.hub, w.admin, second.id),
        return_exceptions=True,
    )
    statuses = await TeamMembership.filter(person_id=person.id).values_list("status", flat=True)
    assert set(statuses) == {MembershipStatus.ACTIVE}
    assert await RoleAssignment.filter(person_id=person.id, role=Role.VOLUNTEER).count() == 1
    assert await Notification.filter(person_id=person.id).count() == 1


async def test_joins_during_the_approval_are_not_left_waiting(w):
    kinds = ["repair", "silver_patrol", "anti_fraud", "party_vanguard", "legal_aid"]
    care, others = await w.team("elderly_care"), [await w.team(k) for k in kinds]
    person = await w.person("新志愿者")
    first = await teams.join_team(w.hub, person, care.id)
    await asyncio.gather(
        teams.approve_membership(w.hub, w.staff, first.id),
        *[teams.join_team(w.hub, person, team.id) for team in others],
    )
    statuses = await TeamMembership.filter(person_id=person.id).values_list("status", flat=True)
    assert statuses == [MembershipStatus.ACTIVE] * (1 + len(others))


async def test_two_staff_accepting_a_report_at_once_grant_one_role(w):
    person = await w.person("李党员")
    report = await teams.file_party_report(
        w.hub, person, {"community_id": w.community.id, "work_unit": "单位", "party_branch": "支部"}
    )
    results = await asyncio.gather(
        teams.accept_party_report(w.hub, w.staff, report.id),
        teams.accept_party_report(w.hub, w.admin, report.id),
        return_exceptions=True,
    )
    assert sum(isinstance(r, PartyReportView) for r in results) == 1
    assert await RoleAssignment.filter(person_id=person.id, role=Role.PARTY_MEMBER).count() == 1
    assert await Notification.filter(person_id=person.id).count() == 1


# --- over HTTP: the probe's path --------------------------------------------------------------


async def bearer(api: httpx.AsyncClient, phone: str) -> dict[str, str]:
    r = await api.post(f"{API}/auth/login", json={"phone": phone, "password": PASSWORD})
    assert r.status_code == 200, r.text
    return {"Authorization": f"Bearer {r.json()['token']}"}


async def test_the_probes_path_is_refused_at_each_step_until_staff_approve(w, api):
    """Register → party report → join a team → claim → read the contact: refused, then
    approved by staff over HTTP, served, and the contact gone once the wish is confirmed."""
    care = await w.team("elderly_care")
    other = await World(w.hub).build_other(w)
    other_team = await teams.create_team(
        w.hub, other.admin, other.community.id, {"name": "维修队", "kind": "repair"}
    )
    resident = await w.person("王奶奶")
    wish = await open_wish(w, resident)
    phone = next_phone()
    r = await api.post(
        f"{API}/people",
        json={
            "name": "探测账号",
            "phone": phone,
            "password": PASSWORD,
            "community_id": w.community.id,
        },
    )
    assert r.status_code == 201, r.text
    probe = await bearer(api, phone)

    # A party report to another community is pending, and opens none of its teams.
    r = await api.post(
        f"{API}/party-reports",
        json={"community_id": other.community.id, "work_unit": "某公司", "party_branch": "某支部"},
        headers=probe,
    )
    assert (r.status_code, r.json()["status"]) == (201, "pending")
    r = await api.post(f"{API}/teams/{other_team.id}/members", json={}, headers=probe)
    assert r.status_code == 403, r.text

    # Joining a team of the home community waits for staff.
    r = await api.post(f"{API}/teams/{care.id}/members", json={}, headers=probe)
    assert (r.status_code, r.json()["status"]) == (201, "pending")
    membership_id = r.json()["id"]

    for language, text in [
        ("zh-CN", "社区尚未审核通过您的志愿者身份。"),
        ("en", "The community has not approved you as a volunteer yet."),
    ]:
        r = await api.post(
            f"{API}/wishes/{wish.id}/claim", headers={**probe, "Accept-Language": language}
        )
        assert r.status_code == 403
        assert r.json()["error"]["code"] == "volunteer_not_approved"
        assert r.json()["error"]["message"] == text
    assert (await api.get(f"{API}/wishes/{wish.id}", headers=probe)).status_code == 404
    listed = await api.get(f"{API}/communities/{w.community.id}/wishes", headers=probe)
    assert listed.json()["items"] == []
    assert resident.person.phone not in listed.text

    # Staff see the request and approve it; the volunteer is told.
    staff = await bearer(api, w.staff.person.phone)
    r = await api.get(
        f"{API}/communities/{w.community.id}/memberships",
        params={"status": "pending"},
        headers=staff,
    )
    assert r.status_code == 200
    assert [(i["id"], i["name"], i["qualifications"]) for i in r.json()["items"]] == [
        (membership_id, "探测账号", [])
    ]
    r = await api.post(f"{API}/memberships/{membership_id}/approve", headers=staff)
    assert r.json() == {"id": membership_id, "status": "active"}
    r = await api.post(f"{API}/memberships/{membership_id}/approve", headers=staff)
    assert (r.status_code, r.json()["error"]["code"]) == (409, "not_pending")
    inbox = (await api.get(f"{API}/me/notifications", headers=probe)).json()["items"]
    assert [n["event"] for n in inbox] == ["team.membership_approved"]

    # Now the claim works and the contact is there while serving ...
    r = await api.post(f"{API}/wishes/{wish.id}/claim", headers=probe)
    assert r.status_code == 200, r.text
    assert r.json()["contact"]["phone"] == resident.person.phone
    assert (await api.post(f"{API}/wishes/{wish.id}/fulfil", json={}, headers=probe)).is_success
    # ... and gone once the resident confirms.
    mine = await bearer(api, resident.person.phone)
    r = await api.post(f"{API}/wishes/{wish.id}/confirm", json={"rating": 5}, headers=mine)
    assert r.status_code == 200 and r.json()["contact"] is not None  # the resident's own
    r = await api.get(f"{API}/wishes/{wish.id}", headers=probe)
    assert r.status_code == 200 and r.json()["contact"] is None
    assert resident.person.phone not in r.text and resident.person.address not in r.text


async def test_the_setting_and_party_reports_over_http(w, api):
    staff = await bearer(api, w.staff.person.phone)
    path = f"{API}/communities/{w.community.id}"
    for body in ({"approve_volunteers": "false"}, {"approve_volunteers": 1}, {"name": "x"}):
        r = await api.patch(path, json=body, headers=staff)
        assert r.status_code == 422, r.text
    r = await api.patch(path, json={"approve_volunteers": False}, headers=staff)
    assert (r.status_code, r.json()["approve_volunteers"]) == (200, False)
    resident = await bearer(api, (await w.person()).person.phone)
    assert (await api.patch(path, json={}, headers=resident)).status_code == 403

    member = await w.person("李党员")
    r = await api.post(
        f"{API}/party-reports",
        json={"community_id": w.community.id, "work_unit": "区税务局", "party_branch": "二支部"},
        headers=await bearer(api, member.person.phone),
    )
    report_id = r.json()["id"]
    listed = await api.get(
        f"{API}/communities/{w.community.id}/party-reports",
        params={"status": "pending"},
        headers=staff,
    )
    assert [(i["id"], i["name"], i["status"]) for i in listed.json()["items"]] == [
        (report_id, "李党员", "pending")
    ]
    bad = await api.get(
        f"{API}/communities/{w.community.id}/party-reports",
        params={"status": "maybe"},
        headers=staff,
    )
    assert bad.status_code == 422
    r = await api.post(f"{API}/party-reports/{report_id}/refuse", json={}, headers=staff)
    assert r.status_code == 422
    r = await api.post(
        f"{API}/party-reports/{report_id}/refuse", json={"reason": "信息不全"}, headers=staff
    )
    assert r.json()["status"] == "refused"
    r = await api.post(f"{API}/party-reports/{report_id}/accept", headers=staff)
    assert r.status_code == 409


async def test_the_openapi_document_describes_the_new_routes(api):
    paths = (await api.get("/openapi.json")).json()["paths"]
    for path, method in [
        ("/api/v1/communities/{cid}", "patch"),
        ("/api/v1/communities/{cid}/memberships", "get"),
        ("/api/v1/memberships/{id}/approve", "post"),
        ("/api/v1/memberships/{id}/refuse", "post"),
        ("/api/v1/communities/{cid}/party-reports", "get"),
        ("/api/v1/party-reports/{id}/accept", "post"),
        ("/api/v1/party-reports/{id}/refuse", "post"),
    ]:
        assert method in paths[path], path


# --- the staff page -------------------------------------------------------------------------------


async def test_staff_approve_and_refuse_on_the_console_page(w, browser):
    team = await w.team("repair")
    applicant, other = await w.person("申请人"), await w.person("另一人")
    membership = await teams.join_team(w.hub, applicant, team.id)
    refused = await teams.join_team(w.hub, other, team.id)
    report = await teams.file_party_report(
        w.hub, other, {"community_id": w.community.id, "work_unit": "单位", "party_branch": "支部"}
    )
    await log_in(browser, w.staff.person.phone)
    page = await browser.get("/staff/approvals")
    assert page.status_code == 200
    assert '<html lang="zh-CN"' in page.text and "新志愿者审核" in page.text
    assert "申请人" in page.text and "在职党员报到" in page.text

    # Without the CSRF token: refused, nothing changes.
    r = await browser.post("/staff/approvals/approve", data={"membership_id": membership.id})
    assert r.status_code == 403
    assert (await TeamMembership.get(id=membership.id)).status is MembershipStatus.PENDING

    token = csrf(page.text)
    r = await browser.post(
        f"/staff/approvals/approve?community={w.community.id}",
        data={"membership_id": membership.id, "csrf_token": token},
    )
    assert r.status_code == 303
    assert (await TeamMembership.get(id=membership.id)).status is MembershipStatus.ACTIVE
    # A refusal without a reason is shown on the page; with one it goes through.
    r = await browser.post(
        "/staff/approvals/refuse",
        data={"membership_id": refused.id, "reason": "", "csrf_token": token},
    )
    assert r.status_code == 422 and "申请人" not in r.text and "另一人" in r.text
    r = await browser.post(
        "/staff/approvals/refuse",
        data={"membership_id": refused.id, "reason": "未能核实身份", "csrf_token": token},
    )
    assert r.status_code == 303
    assert (await TeamMembership.get(id=refused.id)).status is MembershipStatus.REFUSED
    r = await browser.post(
        "/staff/approvals/accept-report", data={"report_id": report.id, "csrf_token": token}
    )
    assert r.status_code == 303
    assert (await PartyReport.get(id=report.id)).status is PartyReportStatus.ACCEPTED
    after = await browser.get(r.headers["location"])
    assert "已接受报到" in after.text


async def test_the_approvals_page_is_not_for_volunteers(w, browser):
    volunteer = await w.volunteer(team=await w.team("repair"))
    await log_in(browser, volunteer.person.phone)
    assert (await browser.get("/staff/approvals")).status_code == 403


async def test_the_wish_page_offers_no_claim_button_before_approval(w, browser):
    care = await w.team("elderly_care")
    newcomer = await w.person("新账号")
    membership = await teams.join_team(w.hub, newcomer, care.id)
    wish = await open_wish(w)
    await log_in(browser, newcomer.person.phone)
    r = await browser.post(
        f"/wishes/{wish.id}/claim", data={"csrf_token": csrf((await browser.get("/")).text)}
    )
    assert r.status_code == 403 and "社区尚未审核通过您的志愿者身份" in r.text
    assert "社区尚未审核通过您的志愿者身份" in (await browser.get("/wishes")).text
    await teams.approve_membership(w.hub, w.staff, membership.id)
    page = await browser.get(f"/wishes/{wish.id}")
    assert f'action="/wishes/{wish.id}/claim"' in page.text
