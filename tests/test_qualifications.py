"""Qualifications (issue 12, point 1): certificate numbers and expiry dates declared with a
membership or later (a renewal), verified by staff or the team's leader, reminded 30 days
before they end, and the approvals page where all of it (and party reports) is decided.

Through the services, over HTTP and on the pages, on SQLite and PostgreSQL (the ``hub``
fixture); the reminders run on the worker with the fake ``clock``.
"""

from __future__ import annotations

import asyncio
from datetime import date, timedelta

import pytest

from tests.factories import PASSWORD, World
from tests.pages_support import csrf, log_in
from volunteer_hub.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from volunteer_hub.models import (
    AuditEntry,
    MembershipStatus,
    Notification,
    PartyReportStatus,
    Qualification,
    Role,
    TeamMembership,
)
from volunteer_hub.notifications.senders import AppriseNotifier
from volunteer_hub.notifications.worker import Worker
from volunteer_hub.services import teams

API = "/api/v1"
TODAY = date(2026, 12, 1)  # the clock fixture's day in Asia/Shanghai
COUNSELLOR = {
    "kind": "counsellor",
    "expires_on": "2027-06-30",
    "certificate_number": "XL-2024-0815",
}


@pytest.fixture
async def w(hub):
    return await World(hub).build()


async def login(api, actor) -> dict[str, str]:
    r = await api.post(
        "/api/v1/auth/login", json={"phone": actor.person.phone, "password": PASSWORD}
    )
    assert r.status_code == 200, r.text
    return {"Authorization": f"Bearer {r.json()['token']}"}


async def counsellor(w: World, name: str = "林老师", team=None, data: dict | None = None):
    """A person who asked to join the psychology team with a counsellor certificate."""
    team = team or await w.team("psychology")
    person = await w.person(name)
    membership = await teams.join_team(
        w.hub, person, team.id, {"qualifications": [data or COUNSELLOR]}
    )
    return person, membership, team


# --- declaring ------------------------------------------------------------------------------


async def test_a_declared_certificate_keeps_its_number_and_expiry(w):
    person, membership, _ = await counsellor(w)
    assert membership.status is MembershipStatus.PENDING
    q = await Qualification.get(membership_id=membership.id)
    assert (q.kind, q.expires_on, q.certificate_number, q.verified) == (
        "counsellor",
        date(2027, 6, 30),
        "XL-2024-0815",
        False,
    )


@pytest.mark.parametrize(
    ("qualification", "field"),
    [
        ({"kind": "astronaut"}, "qualifications.0.kind"),
        ({"kind": "counsellor", "expires_on": "2026-11-30"}, "qualifications.0.expires_on"),
        ({"kind": "counsellor", "certificate_number": ""}, "qualifications.0.certificate_number"),
        (
            {"kind": "counsellor", "certificate_number": "X" * 51},
            "qualifications.0.certificate_number",
        ),
        (
            {"kind": "counsellor", "certificate_number": "AB\u200b12"},
            "qualifications.0.certificate_number",
        ),
        (
            {"kind": "counsellor", "certificate_number": "AB\n12"},
            "qualifications.0.certificate_number",
        ),
        ({"kind": "counsellor", "expires_on": "soon"}, "qualifications.0.expires_on"),
    ],
)
async def test_bad_qualifications_are_refused_naming_the_field_and_nothing_is_written(
    w, qualification, field
):
    team = await w.team("psychology")
    person = await w.person("申请人")
    with pytest.raises(InvalidInput) as refused:
        await teams.join_team(w.hub, person, team.id, {"qualifications": [qualification]})
    assert refused.value.fields == [field]
    assert not await TeamMembership.exists(person_id=person.id)
    assert not await Qualification.exists(person_id=person.id)


async def test_expiry_today_and_a_50_character_number_are_accepted(w):
    _, membership, _ = await counsellor(
        w,
        data={
            "kind": "counsellor",
            "expires_on": TODAY.isoformat(),
            "certificate_number": "证" * 50,
        },
    )
    assert (await Qualification.get(membership_id=membership.id)).certificate_number == "证" * 50


# --- the list, and who sees certificate numbers -------------------------------------------------


async def test_the_memberships_list_shows_numbers_to_staff_and_the_teams_leaders_only(w, api):
    leader = await w.volunteer("队长")
    team = await teams.create_team(
        w.hub, w.admin, w.id, {"name": "心理服务队", "kind": "psychology", "leader_id": leader.id}
    )
    other = await w.team("legal_aid")
    _, membership, _ = await counsellor(w, team=team)
    lawyer = await w.person("王律师")
    await teams.join_team(
        w.hub,
        lawyer,
        other.id,
        {"qualifications": [{"kind": "lawyer", "certificate_number": "L1"}]},
    )
    url = f"{API}/communities/{w.id}/memberships?status=pending"
    staff = (await api.get(url, headers=await login(api, w.staff))).json()["items"]
    assert {m["qualifications"][0]["certificate_number"] for m in staff} == {"XL-2024-0815", "L1"}
    listed = (await api.get(url, headers=await login(api, leader))).json()["items"]
    assert [m["id"] for m in listed] == [membership.id]  # their own team's only
    [q] = listed[0]["qualifications"]
    assert q == {
        "id": q["id"],
        "kind": "counsellor",
        "expires_on": "2027-06-30",
        "verified": False,
        "certificate_number": "XL-2024-0815",
        "verified_at": None,
    }
    volunteer = await w.volunteer("队员", team=await w.team("repair"))
    r = await api.get(url, headers=await login(api, volunteer))
    assert r.status_code == 403 and "XL-2024" not in r.text


# --- verifying with the membership ----------------------------------------------------------


async def test_approving_verifies_each_declared_qualification_with_who_and_when(w, clock):
    person, membership, _ = await counsellor(w)
    await teams.approve_membership(w.hub, w.staff, membership.id)
    q = await Qualification.get(membership_id=membership.id)
    assert q.verified and q.verified_by_id == w.staff.id and q.verified_at == clock.now
    entry = await AuditEntry.get(action="qualification.verified", entity_id=q.id)
    assert entry.actor_id == w.staff.id and entry.after["with_membership"] is True
    # The approval's own message tells the volunteer; no second one for the certificate.
    events = await Notification.filter(person_id=person.id).values_list("event", flat=True)
    assert events == ["team.membership_approved"]


async def test_the_teams_leader_decides_their_own_teams_requests_only(w):
    leader = await w.volunteer("队长")
    team = await teams.create_team(
        w.hub, w.admin, w.id, {"name": "心理服务队", "kind": "psychology", "leader_id": leader.id}
    )
    _, mine, _ = await counsellor(w, team=team)
    _, theirs, _ = await counsellor(w, "别队的人")
    with pytest.raises(PermissionDenied):
        await teams.approve_membership(w.hub, leader, theirs.id)
    await teams.approve_membership(w.hub, leader, mine.id)
    assert (await Qualification.get(membership_id=mine.id)).verified_by_id == leader.id


# --- renewals: declared later, verified or refused alone ------------------------------------


async def member_with_certificate(w: World, expires_on: date, name: str = "林老师", team=None):
    person, membership, team = await counsellor(
        w, name, team=team, data={**COUNSELLOR, "expires_on": expires_on.isoformat()}
    )
    await teams.approve_membership(w.hub, w.staff, membership.id)
    return person, team


async def test_a_renewal_waits_for_staff_while_the_old_certificate_counts(w):
    person, team = await member_with_certificate(w, TODAY + timedelta(days=20))
    renewal = await teams.declare_qualification(
        w.hub,
        person,
        team.id,
        {**COUNSELLOR, "expires_on": "2029-12-31", "certificate_number": "XL-2"},
    )
    assert not renewal.verified
    assert (await TeamMembership.get(person_id=person.id)).status is MembershipStatus.ACTIVE
    waiting = await teams.pending_qualifications(w.staff, w.id)
    assert [(q.id, q.certificate_number, q.previous_expires_on) for q in waiting] == [
        (renewal.id, "XL-2", TODAY + timedelta(days=20))
    ]
    # One renewal of a kind at a time.
    with pytest.raises(Conflict):
        await teams.declare_qualification(w.hub, person, team.id, COUNSELLOR)

    verified = await teams.verify_qualification(w.hub, w.staff, renewal.id)
    assert verified.verified and verified.verified_at is not None
    assert await teams.pending_qualifications(w.staff, w.id) == []
    with pytest.raises(Conflict):
        await teams.verify_qualification(w.hub, w.staff, renewal.id)
    told = await Notification.get(person_id=person.id, event="qualification.verified")
    assert "已核验" in told.subject
    assert "2029-12-31" in told.body


async def test_a_refused_renewal_is_removed_and_the_member_hears_why(w):
    person, team = await member_with_certificate(w, TODAY + timedelta(days=200))
    renewal = await teams.declare_qualification(w.hub, person, team.id, COUNSELLOR)
    with pytest.raises(InvalidInput) as no_reason:
        await teams.refuse_qualification(w.hub, w.staff, renewal.id, {"reason": ""})
    assert no_reason.value.fields == ["reason"]
    await teams.refuse_qualification(w.hub, w.staff, renewal.id, {"reason": "证书编号查无此证"})
    assert not await Qualification.exists(id=renewal.id)
    told = await Notification.get(person_id=person.id, event="qualification.refused")
    assert "证书编号查无此证" in told.body
    entry = await AuditEntry.get(action="qualification.refused", entity_id=renewal.id)
    assert entry.before["kind"] == "counsellor" and entry.after["reason"] == "证书编号查无此证"
    # Declared again: it waits again.
    await teams.declare_qualification(w.hub, person, team.id, COUNSELLOR)


async def test_who_may_declare_and_decide_a_renewal(w):
    person, team = await member_with_certificate(w, TODAY + timedelta(days=200))
    stranger = await w.person("路人")
    with pytest.raises(PermissionDenied):  # not a member of the team
        await teams.declare_qualification(w.hub, stranger, team.id, COUNSELLOR)
    other = await World(w.hub).build_other(w)
    outsider = await other.person("外社区")
    with pytest.raises(NotFound):
        await teams.declare_qualification(w.hub, outsider, team.id, COUNSELLOR)
    renewal = await teams.declare_qualification(w.hub, person, team.id, COUNSELLOR)
    with pytest.raises(PermissionDenied):  # nobody verifies their own
        await teams.verify_qualification(w.hub, person, renewal.id)
    with pytest.raises(NotFound):
        await teams.verify_qualification(w.hub, outsider, renewal.id)
    with pytest.raises(PermissionDenied):
        await teams.pending_qualifications(stranger, w.id)
    assert not (await Qualification.get(id=renewal.id)).verified


# --- reminders 30 days before the end ---------------------------------------------------------


async def run_worker(hub):
    return await Worker(hub, AppriseNotifier()).run_once()


async def test_holder_and_staff_are_reminded_once_30_days_before_the_end(w, clock):
    person, team = await member_with_certificate(w, TODAY + timedelta(days=45))
    assert (await run_worker(w.hub)).expiring == 0  # 45 days left: not yet
    clock.advance(days=14)  # 31 days left
    assert (await run_worker(w.hub)).expiring == 0
    clock.advance(days=1)  # 30 days left
    assert (await run_worker(w.hub)).expiring == 1
    assert (await run_worker(w.hub)).expiring == 0  # once
    clock.advance(days=10)
    assert (await run_worker(w.hub)).expiring == 0

    mine = await Notification.get(person_id=person.id, event="qualification.expiring")
    assert "2027-01-15" in mine.subject and "30" in mine.body
    staff = await Notification.get(person_id=w.staff.id, event="qualification.expiring")
    assert person.person.name in staff.subject
    assert (
        await Notification.filter(event="qualification.expiring").count()
        == 1
        + await Notification.filter(
            event="qualification.expiring", person_id__not=person.id
        ).count()
    )
    assert await AuditEntry.filter(action="qualification.expiring").count() == 1


async def test_a_renewed_expiry_is_reminded_again_and_a_declared_renewal_stops_reminders(w, clock):
    person, team = await member_with_certificate(w, TODAY + timedelta(days=10))
    assert (await run_worker(w.hub)).expiring == 1
    renewal = await teams.declare_qualification(
        w.hub,
        person,
        team.id,
        {**COUNSELLOR, "expires_on": (TODAY + timedelta(days=20)).isoformat()},
    )
    await teams.verify_qualification(w.hub, w.staff, renewal.id)
    # The new certificate ends within 30 days too: its own reminder, once.
    assert (await run_worker(w.hub)).expiring == 1
    assert (await run_worker(w.hub)).expiring == 0
    # A member who declared a renewal (waiting) is not reminded of the old one.
    holder, team2 = await member_with_certificate(w, TODAY + timedelta(days=60), "张老师", team)
    await teams.declare_qualification(
        w.hub, holder, team2.id, {**COUNSELLOR, "expires_on": "2030-01-01"}
    )
    clock.advance(days=40)
    assert (await run_worker(w.hub)).expiring == 0


async def test_expired_and_unverified_certificates_get_no_reminder(w, clock):
    _, _, team = await counsellor(w, data={**COUNSELLOR, "expires_on": "2026-12-10"})
    assert (await run_worker(w.hub)).expiring == 0  # not verified yet
    await member_with_certificate(w, TODAY + timedelta(days=2), "张老师", team)
    clock.advance(days=3)  # ended yesterday
    assert (await run_worker(w.hub)).expiring == 0


# --- the pages --------------------------------------------------------------------------------


async def test_the_approvals_page_shows_certificates_and_verifies_a_renewal(w, browser):
    person, team = await member_with_certificate(w, TODAY + timedelta(days=20))
    renewal = await teams.declare_qualification(
        w.hub,
        person,
        team.id,
        {**COUNSELLOR, "expires_on": "2029-12-31", "certificate_number": "XL-NEW-7"},
    )
    _, pending, _ = await counsellor(w, "新申请人", team=team, data=COUNSELLOR)
    report = await teams.file_party_report(
        w.hub, person, {"community_id": w.id, "work_unit": "市税务局", "party_branch": "第二党支部"}
    )
    await log_in(browser, w.staff.person.phone)
    page = await browser.get("/staff/approvals")
    assert page.status_code == 200
    for text in ("新申请人", "XL-2024-0815", "XL-NEW-7", "待核验", "市税务局", "第二党支部"):
        assert text in page.text, text
    token = csrf(page.text)
    r = await browser.post(
        "/staff/approvals/refuse-qualification",
        data={"qualification_id": renewal.id, "reason": "", "csrf_token": token},
    )
    assert r.status_code == 422 and "XL-NEW-7" in r.text
    r = await browser.post(
        f"/staff/approvals/verify-qualification?community={w.id}",
        data={"qualification_id": renewal.id, "csrf_token": token},
    )
    assert r.status_code == 303
    assert (await Qualification.get(id=renewal.id)).verified
    assert "已核验" in (await browser.get(r.headers["location"])).text
    r = await browser.post(
        "/staff/approvals/refuse-report",
        data={"report_id": report.id, "reason": "支部信息有误", "csrf_token": token},
    )
    assert r.status_code == 303
    told = await Notification.get(person_id=person.id, event="party_report.refused")
    assert "支部信息有误" in told.body
    assert (await teams.list_party_reports(w.staff, w.id))[0].status is PartyReportStatus.REFUSED
    member = await w.person("周党员")
    accepted = await teams.file_party_report(
        w.hub, member, {"community_id": w.id, "work_unit": "区教育局", "party_branch": "机关党支部"}
    )
    r = await browser.post(
        "/staff/approvals/accept-report", data={"report_id": accepted.id, "csrf_token": token}
    )
    assert r.status_code == 303
    assert await Notification.exists(person_id=member.id, event="party_report.accepted")
    english = await browser.get("/staff/approvals", headers={"Accept-Language": "en"})
    assert '<html lang="en"' in english.text
    assert "Certificates to check" in english.text and "Certificate number" in english.text


async def test_a_team_leader_sees_their_teams_requests_on_the_approvals_page(w, browser):
    leader = await w.volunteer("队长")
    team = await teams.create_team(
        w.hub, w.admin, w.id, {"name": "心理服务队", "kind": "psychology", "leader_id": leader.id}
    )
    _, mine, _ = await counsellor(w, "本队申请人", team=team)
    await counsellor(w, "别队申请人")
    await log_in(browser, leader.person.phone)
    teams_page = await browser.get("/teams")
    assert 'href="/staff/approvals"' in teams_page.text
    page = await browser.get("/staff/approvals")
    assert page.status_code == 200
    assert "本队申请人" in page.text and "别队申请人" not in page.text
    assert "在职党员报到" not in page.text  # party reports are for staff
    r = await browser.post(
        "/staff/approvals/approve", data={"membership_id": mine.id, "csrf_token": csrf(page.text)}
    )
    assert r.status_code == 303
    assert (await TeamMembership.get(id=mine.id)).status is MembershipStatus.ACTIVE


@pytest.mark.parametrize(
    "path", ["/staff/approvals/verify-qualification", "/staff/approvals/refuse-qualification"]
)
async def test_qualification_decisions_are_not_for_volunteers_or_anonymous(w, browser, path):
    person, team = await member_with_certificate(w, TODAY + timedelta(days=200))
    renewal = await teams.declare_qualification(w.hub, person, team.id, COUNSELLOR)
    anonymous = await browser.post(path, data={"qualification_id": renewal.id, "reason": "x"})
    assert anonymous.status_code in (303, 403)
    volunteer = await w.volunteer("队员", team=await w.team("repair"))
    await log_in(browser, volunteer.person.phone)
    token = csrf((await browser.get("/teams")).text)
    r = await browser.post(
        path, data={"qualification_id": renewal.id, "reason": "x", "csrf_token": token}
    )
    assert r.status_code == 403
    assert not (await Qualification.get(id=renewal.id)).verified


async def test_a_member_declares_a_renewal_on_the_teams_page(w, browser):
    person, team = await member_with_certificate(w, TODAY + timedelta(days=20))
    await log_in(browser, person.person.phone)
    page = await browser.get("/teams")
    assert "XL-2024-0815" in page.text and "即将到期" in page.text
    token = csrf(page.text)
    r = await browser.post(
        f"/teams/{team.id}/qualifications",
        data={"qualification": "counsellor", "expires_on": "2020-01-01", "csrf_token": token},
    )
    assert r.status_code == 422 and "已过期" in r.text
    assert await Qualification.filter(person_id=person.id).count() == 1
    r = await browser.post(
        f"/teams/{team.id}/qualifications",
        data={
            "qualification": "counsellor",
            "certificate_number": "XL-2030-1",
            "expires_on": "2030-01-01",
            "csrf_token": token,
        },
    )
    assert r.status_code == 303
    after = await browser.get(r.headers["location"])
    assert "XL-2030-1" in after.text and "待核验" in after.text
    english = await browser.get("/teams", headers={"Accept-Language": "en"})
    assert '<html lang="en"' in english.text
    assert "XL-2030-1" in english.text and "To check" in english.text


async def test_joining_on_the_teams_page_keeps_the_certificate_number(w, browser):
    team = await w.team("psychology")
    person = await w.person("申请人")
    await log_in(browser, person.person.phone)
    token = csrf((await browser.get("/teams")).text)
    r = await browser.post(
        f"/teams/{team.id}/join",
        data={"qualification": "counsellor", "certificate_number": "A\u200bB", "csrf_token": token},
    )
    assert r.status_code == 422 and "可打印" in r.text
    r = await browser.post(
        f"/teams/{team.id}/join",
        data={
            "qualification": "counsellor",
            "certificate_number": "XL-9",
            "expires_on": "2027-01-01",
            "csrf_token": token,
        },
    )
    assert r.status_code == 303
    assert (await Qualification.get(person_id=person.id)).certificate_number == "XL-9"


# --- one winner, whatever the concurrency -----------------------------------------------------


async def test_verifying_and_refusing_a_renewal_at_once_make_one_decision(w):
    person, team = await member_with_certificate(w, TODAY + timedelta(days=200))
    second_staff = await w.person("另一位干部", roles=[Role.STAFF])
    renewal = await teams.declare_qualification(w.hub, person, team.id, COUNSELLOR)
    results = await asyncio.gather(
        *[
            teams.verify_qualification(w.hub, s, renewal.id)
            for s in (w.staff, second_staff, w.admin)
        ],
        teams.refuse_qualification(w.hub, w.staff, renewal.id, {"reason": "查无此证"}),
        return_exceptions=True,
    )
    lost = [r for r in results if isinstance(r, BaseException)]
    assert len(lost) == 3 and all(isinstance(r, Conflict) for r in lost), lost
    decided = await AuditEntry.filter(
        action__in=["qualification.verified", "qualification.refused"], entity_id=renewal.id
    ).count()
    assert decided == 1
    told = await Notification.filter(
        person_id=person.id, event__in=["qualification.verified", "qualification.refused"]
    ).count()
    assert told == 1


async def test_declaring_the_same_renewal_at_once_keeps_one(w):
    person, team = await member_with_certificate(w, TODAY + timedelta(days=200))
    results = await asyncio.gather(
        *[teams.declare_qualification(w.hub, person, team.id, COUNSELLOR) for _ in range(5)],
        return_exceptions=True,
    )
    assert sum(not isinstance(r, BaseException) for r in results) == 1
    assert all(isinstance(r, Conflict) for r in results if isinstance(r, BaseException))
    assert await Qualification.filter(person_id=person.id, verified=False).count() == 1


async def test_two_workers_flag_an_expiring_certificate_once(w, clock):
    person, _ = await member_with_certificate(w, TODAY + timedelta(days=30))
    flagged = await asyncio.gather(
        teams.flag_expiring_qualifications(w.hub), teams.flag_expiring_qualifications(w.hub)
    )
    assert sum(flagged) >= 1
    assert (
        await Notification.filter(person_id=person.id, event="qualification.expiring").count() == 1
    )
    assert (
        await Notification.filter(person_id=w.staff.id, event="qualification.expiring").count() == 1
    )


# --- the API ------------------------------------------------------------------------------------


async def test_a_renewal_through_the_api(w, api):
    person, team = await member_with_certificate(w, TODAY + timedelta(days=20))
    mine = await login(api, person)
    bad = await api.post(
        f"{API}/teams/{team.id}/qualifications",
        json={"kind": "counsellor", "certificate_number": "X" * 51},
        headers=mine,
    )
    assert bad.status_code == 422
    assert [d["field"] for d in bad.json()["error"]["details"]] == ["certificate_number"]
    r = await api.post(
        f"{API}/teams/{team.id}/qualifications",
        json={"kind": "counsellor", "expires_on": "2029-12-31", "certificate_number": "XL-API"},
        headers=mine,
    )
    assert r.status_code == 201, r.text
    declared = r.json()
    assert declared["verified"] is False and declared["certificate_number"] == "XL-API"
    again = await api.post(
        f"{API}/teams/{team.id}/qualifications", json={"kind": "counsellor"}, headers=mine
    )
    assert again.status_code == 409

    staff = await login(api, w.staff)
    listed = (await api.get(f"{API}/communities/{w.id}/qualifications", headers=staff)).json()
    assert [(i["id"], i["previous_expires_on"]) for i in listed["items"]] == [
        (declared["id"], (TODAY + timedelta(days=20)).isoformat())
    ]
    r = await api.get(f"{API}/communities/{w.id}/qualifications", headers=mine)
    assert r.status_code == 403 and "XL-API" not in r.text
    r = await api.post(f"{API}/qualifications/{declared['id']}/verify", headers=staff)
    assert r.status_code == 200
    assert r.json()["verified"] is True and r.json()["verified_at"].endswith("+08:00")
    r = await api.post(
        f"{API}/qualifications/{declared['id']}/refuse", json={"reason": "晚了"}, headers=staff
    )
    assert r.status_code == 409
    listed = (await api.get(f"{API}/communities/{w.id}/qualifications", headers=staff)).json()
    assert listed["items"] == []
