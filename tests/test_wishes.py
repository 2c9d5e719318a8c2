"""Micro-wishes: lifecycle, who may do and see what, admission, escalation, matching."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pytest

from tests.factories import World
from volunteer_hub import hookimpl
from volunteer_hub.errors import Conflict, InvalidInput, NotFound, PermissionDenied, RuleViolation
from volunteer_hub.hooktypes import AdmissionDecision, WishCategory
from volunteer_hub.models import (
    AuditEntry,
    Escalation,
    Role,
    ServiceRecord,
    Wish,
    WishStatus,
)
from volunteer_hub.services import matching, tasks, teams, wishes
from volunteer_hub.services.access import load_actor

ERRAND = {"title": "帮忙取快递", "description": "腿脚不便，请帮忙取件", "category": "errand"}


async def counts() -> tuple[int, int]:
    return await Wish.all().count(), await AuditEntry.all().count()


@pytest.fixture
async def w(hub):
    return await World(hub).build()


async def open_wish(w: World, resident=None, **fields) -> Wish:
    resident = resident or await w.person("王奶奶")
    wish = await wishes.post(w.hub, resident, w.community.id, {**ERRAND, **fields})
    return await wishes.review(w.hub, w.staff, wish.id, {"decision": "approve"})


# --- posting ------------------------------------------------------------------------------


async def test_resident_posts_and_staff_approve(w):
    resident = await w.person("王奶奶")
    wish = await wishes.post(w.hub, resident, w.community.id, ERRAND)
    assert wish.status is WishStatus.SUBMITTED
    assert wish.resident_id == wish.posted_by_id == resident.id
    assert wish.grid_id == w.grid.id
    wish = await wishes.review(w.hub, w.staff, wish.id, {"decision": "approve"})
    assert wish.status is WishStatus.OPEN
    trail = await AuditEntry.filter(entity_type="wish", entity_id=wish.id).order_by("id")
    assert [(a.action, a.actor_id) for a in trail] == [
        ("wish.posted", resident.id),
        ("wish.approved", w.staff.id),
    ]
    assert trail[1].before["status"] == "submitted" and trail[1].after["status"] == "open"


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"title": ""}, "title"),
        ({"title": "x" * 101}, "title"),
        ({"description": ""}, "description"),
        ({"category": "unicorns"}, "category"),
        ({"needed_by": "2026-13-01"}, "needed_by"),
        ({"needed_by": "2026-11-30"}, "needed_by"),  # the day before the clock's today
        ({"colour": "red"}, "colour"),
    ],
)
async def test_bad_wish_input_names_the_field_and_writes_nothing(w, fields, field):
    resident = await w.person("王奶奶")
    before = await counts()
    with pytest.raises(InvalidInput) as err:
        await wishes.post(w.hub, resident, w.community.id, {**ERRAND, **fields})
    assert field in err.value.fields
    assert await counts() == before


async def test_on_behalf_of_only_for_staff_and_grid_workers_of_the_grid(w):
    resident = await w.person("王奶奶")
    neighbour = await w.person("张三")
    far_resident = await w.person("赵六", grid=w.other_grid)
    before = await counts()
    with pytest.raises(PermissionDenied):
        await wishes.post(w.hub, neighbour, w.community.id, {**ERRAND, "on_behalf_of": resident.id})
    with pytest.raises(PermissionDenied):
        await wishes.post(
            w.hub, w.grid_worker, w.community.id, {**ERRAND, "on_behalf_of": far_resident.id}
        )
    assert await counts() == before
    wish = await wishes.post(
        w.hub, w.grid_worker, w.community.id, {**ERRAND, "on_behalf_of": resident.id}
    )
    assert (wish.resident_id, wish.posted_by_id) == (resident.id, w.grid_worker.id)
    by_staff = await wishes.post(
        w.hub, w.staff, w.community.id, {**ERRAND, "on_behalf_of": far_resident.id}
    )
    assert by_staff.resident_id == far_resident.id


async def test_reject_needs_a_reason(w):
    resident = await w.person("王奶奶")
    wish = await wishes.post(w.hub, resident, w.community.id, ERRAND)
    with pytest.raises(InvalidInput) as err:
        await wishes.review(w.hub, w.staff, wish.id, {"decision": "reject"})
    assert err.value.fields == ["reason"]
    with pytest.raises(InvalidInput) as err:
        await wishes.review(w.hub, w.staff, wish.id, {"decision": "maybe"})
    assert err.value.fields == ["decision"]
    rejected = await wishes.review(
        w.hub, w.staff, wish.id, {"decision": "reject", "reason": "不属于社区服务范围"}
    )
    assert rejected.status is WishStatus.REJECTED
    assert rejected.review_reason == "不属于社区服务范围"
    with pytest.raises(Conflict) as err:
        await wishes.review(w.hub, w.staff, wish.id, {"decision": "approve"})
    assert err.value.code == "invalid_state"


async def test_only_staff_of_the_community_review(w):
    resident = await w.person("王奶奶")
    wish = await wishes.post(w.hub, resident, w.community.id, ERRAND)
    with pytest.raises(NotFound):  # API.md: a submitted wish is seen by its poster and staff
        await wishes.review(w.hub, w.grid_worker, wish.id, {"decision": "approve"})
    posted = await wishes.post(
        w.hub, w.grid_worker, w.community.id, {**ERRAND, "on_behalf_of": resident.id}
    )
    with pytest.raises(PermissionDenied):  # the poster sees it, but only staff review
        await wishes.review(w.hub, w.grid_worker, posted.id, {"decision": "approve"})
    other = await World(w.hub).build_other(w)
    with pytest.raises(NotFound):  # another community's staff cannot even see it
        await wishes.review(w.hub, other.staff, wish.id, {"decision": "approve"})


# --- claim, fulfil, confirm ---------------------------------------------------------------


async def test_full_lifecycle_records_hours(w):
    team = await w.team("elderly_care")
    volunteer = await w.volunteer("李志愿", team=team)
    resident = await w.person("王奶奶")
    wish = await open_wish(w, resident, category="elderly_care", title="周四上午陪同去医院")
    wish = await wishes.claim(w.hub, volunteer, wish.id)
    assert wish.status is WishStatus.CLAIMED and wish.claimer_id == volunteer.id
    with pytest.raises(PermissionDenied):
        await wishes.fulfil(w.hub, resident, wish.id, {})
    wish = await wishes.fulfil(w.hub, volunteer, wish.id, {"note": "已陪同就诊", "hours": "2.5"})
    assert wish.status is WishStatus.FULFILLED
    with pytest.raises(InvalidInput) as err:
        await wishes.confirm(w.hub, resident, wish.id, {"rating": 6})
    assert err.value.fields == ["rating"]
    wish = await wishes.confirm(w.hub, resident, wish.id, {"rating": 5, "thanks": "太感谢了"})
    assert (wish.status, wish.rating, wish.thanks) == (WishStatus.CONFIRMED, 5, "太感谢了")
    record = await ServiceRecord.get(wish_id=wish.id)
    assert (record.person_id, record.hours) == (volunteer.id, Decimal("2.50"))
    with pytest.raises(Conflict) as err:
        await wishes.confirm(w.hub, resident, wish.id, {"rating": 4})
    assert err.value.code == "already_confirmed"
    assert await ServiceRecord.filter(wish_id=wish.id).count() == 1


async def test_claim_needs_a_volunteer_in_a_serving_team(w):
    resident = await w.person("王奶奶")
    repair_team = await w.team("repair")
    elderly_team = await w.team("elderly_care")
    plain = await w.person("普通居民")
    repairer = await w.volunteer("修理工", team=repair_team)
    wish = await open_wish(w, resident, category="elderly_care")
    with pytest.raises(NotFound):
        await wishes.claim(w.hub, plain, wish.id)  # not a volunteer: cannot even see it
    with pytest.raises(PermissionDenied) as err:
        await wishes.claim(w.hub, repairer, wish.id)
    assert err.value.code == "not_in_serving_team"
    assert (await Wish.get(id=wish.id)).status is WishStatus.OPEN
    carer = await w.volunteer("助老员", team=elderly_team)
    assert (await wishes.claim(w.hub, carer, wish.id)).claimer_id == carer.id


async def test_second_claim_is_409_and_claimer_cannot_be_the_resident(w):
    team = await w.team("repair")
    a = await w.volunteer("甲", team=team)
    b = await w.volunteer("乙", team=team)
    wish = await open_wish(w, a, category="errand")
    with pytest.raises(PermissionDenied):
        await wishes.claim(w.hub, a, wish.id)
    await wishes.claim(w.hub, b, wish.id)
    c = await w.volunteer("丙", team=team)
    with pytest.raises(Conflict) as err:
        await wishes.claim(w.hub, c, wish.id)
    assert err.value.code == "already_claimed"


async def test_public_facility_wishes_are_not_claimable(w):
    team = await w.team("repair")
    volunteer = await w.volunteer("修理工", team=team)
    wish = await open_wish(w, category="public_facility", title="路灯太暗")
    with pytest.raises(PermissionDenied) as err:
        await wishes.claim(w.hub, volunteer, wish.id)
    assert err.value.code == "category_not_served"


async def test_cancel_and_expire(w, clock):
    resident = await w.person("王奶奶")
    wish = await wishes.post(w.hub, resident, w.community.id, ERRAND)
    with pytest.raises(InvalidInput):
        await wishes.cancel(w.hub, resident, wish.id, {})
    stranger = await w.person("路人")
    with pytest.raises(NotFound):
        await wishes.cancel(w.hub, stranger, wish.id, {"reason": "不需要了"})
    cancelled = await wishes.cancel(w.hub, resident, wish.id, {"reason": "不需要了"})
    assert cancelled.status is WishStatus.CANCELLED
    with pytest.raises(Conflict):
        await wishes.cancel(w.hub, resident, wish.id, {"reason": "again"})

    due = await open_wish(w, resident, needed_by="2026-12-03")
    later = await open_wish(w, resident, needed_by="2026-12-10")
    claimed = await open_wish(w, resident, needed_by="2026-12-03")
    team = await w.team("repair")
    volunteer = await w.volunteer("志愿者", team=team)
    await wishes.claim(w.hub, volunteer, claimed.id)
    clock.advance(days=3)  # 2026-12-04 in Shanghai
    assert await wishes.expire_overdue(w.hub) == 1
    assert (await Wish.get(id=due.id)).status is WishStatus.EXPIRED
    assert (await Wish.get(id=later.id)).status is WishStatus.OPEN
    assert (await Wish.get(id=claimed.id)).status is WishStatus.CLAIMED
    entry = await AuditEntry.get(entity_type="wish", entity_id=due.id, action="wish.expired")
    assert entry.actor_id is None


# --- visibility and personal data ---------------------------------------------------------


async def test_visibility_by_status_and_role(w):
    team = await w.team("repair")
    volunteer = await w.volunteer("志愿者", team=team)
    resident = await w.person("王奶奶")
    neighbour = await w.person("邻居")
    submitted = await wishes.post(w.hub, resident, w.community.id, ERRAND)
    opened = await open_wish(w, resident)

    for actor, visible in [
        (resident, {submitted.id, opened.id}),
        (w.staff, {submitted.id, opened.id}),
        (w.admin, {submitted.id, opened.id}),
        (volunteer, {opened.id}),
        (neighbour, set()),
    ]:
        listed = await wishes.list_wishes(w.hub, actor, w.community.id)
        assert {x.id for x in listed} == visible, actor.person.name
        for wish in (submitted, opened):
            if wish.id in visible:
                assert (await wishes.get_wish(w.hub, actor, wish.id)).id == wish.id
            else:
                with pytest.raises(NotFound):
                    await wishes.get_wish(w.hub, actor, wish.id)

    other = await World(w.hub).build_other(w)
    assert await wishes.list_wishes(w.hub, other.staff, w.community.id) == []


async def test_contact_for_resident_staff_grid_workers_and_the_claimer_while_serving(w):
    team = await w.team("repair")
    claimer = await w.volunteer("认领人", team=team)
    onlooker = await w.volunteer("旁观者", team=team)
    far_worker = await w.person("二网格员", roles=[Role.GRID_WORKER], grid=w.other_grid)
    resident = await w.person("王奶奶")  # lives in the grid of w.grid_worker
    person = resident.person
    wish = await open_wish(w, resident)
    assert not wishes.can_see_contact(claimer, wish, person)
    wish = await wishes.claim(w.hub, claimer, wish.id)
    for viewer, sees in [
        (claimer, True),
        (onlooker, False),
        (resident, True),
        (w.staff, True),
        (w.admin, True),
        (w.grid_worker, True),  # the resident's grid
        (far_worker, False),  # another grid
    ]:
        assert wishes.can_see_contact(viewer, wish, person) is sees, viewer
    wish = await wishes.fulfil(w.hub, claimer, wish.id)
    assert wishes.can_see_contact(claimer, wish, person)
    wish = await wishes.confirm(w.hub, resident, wish.id, {"rating": 5})
    assert not wishes.can_see_contact(claimer, wish, person)  # served: no longer
    assert wishes.can_see_contact(w.grid_worker, wish, person)


async def test_psychology_wishes_only_for_qualified_team_members(w, clock):
    team = await w.team("psychology")
    counsellor = await w.person("心理咨询师")
    membership = await teams.join_team(
        w.hub,
        counsellor,
        team.id,
        {"qualifications": [{"kind": "counsellor", "expires_on": "2028-01-01"}]},
    )
    unverified = await w.person("待审核")
    await teams.join_team(w.hub, unverified, team.id, {"qualifications": [{"kind": "counsellor"}]})
    other_team = await w.team("repair")
    other_volunteer = await w.volunteer("修理工", team=other_team)
    parent = await w.person("家长")
    wish = await open_wish(
        w, parent, category="psychology", title="孩子学习压力大", description="需要心理疏导"
    )
    await teams.approve_membership(w.hub, w.staff, membership.id)
    counsellor = await load_actor(counsellor.id)
    unverified = await load_actor(unverified.id)

    assert [x.id for x in await wishes.list_wishes(w.hub, counsellor, w.community.id)] == [wish.id]
    for outsider in (other_volunteer, unverified):
        assert await wishes.list_wishes(w.hub, outsider, w.community.id) == []
        with pytest.raises(NotFound):
            await wishes.get_wish(w.hub, outsider, wish.id)
    claimed = await wishes.claim(w.hub, counsellor, wish.id)
    assert claimed.claimer_id == counsellor.id


# --- admission list and escalation --------------------------------------------------------


class AdmissionList:
    """A plugin that refers legal disputes and escalates street lights (as 准入清单 does)."""

    @hookimpl
    def vh_admit_wish(self, wish):
        if wish.category == "legal":
            return AdmissionDecision(
                accepted=False,
                rule="admission.legal",
                reason={
                    "zh-CN": "法律纠纷不在社区受理范围",
                    "en": "Legal disputes are not handled here",
                },
                referral={"zh-CN": "请联系法律援助队", "en": "Contact the legal-aid team"},
            )
        if wish.category == "public_facility":
            return AdmissionDecision(
                accepted=True, escalate_after_hours={"blue": 0, "yellow": 72, "red": 144}
            )
        return None


async def test_admission_list_refuses_with_rule_and_referral(w):
    w.hub.plugins.register(AdmissionList(), "test-admission")
    try:
        resident = await w.person("王奶奶")
        before = await counts()
        with pytest.raises(RuleViolation) as err:
            await wishes.post(w.hub, resident, w.community.id, {**ERRAND, "category": "legal"})
        assert err.value.rules == ["admission.legal"]
        rendered = err.value.as_dict("en")["details"][0]
        assert rendered == {
            "rule": "admission.legal",
            "message": "Legal disputes are not handled here (Contact the legal-aid team)",
        }
        assert "法律援助队" in err.value.as_dict()["details"][0]["message"]
        assert await counts() == before
    finally:
        w.hub.plugins.unregister("test-admission")


async def test_street_light_escalates_blue_yellow_red(w, clock):
    w.hub.plugins.register(AdmissionList(), "test-admission")
    try:
        resident = await w.person("王奶奶")
        wish = await wishes.post(
            w.hub,
            resident,
            w.community.id,
            {"title": "路灯太暗", "description": "3号楼前路灯太暗", "category": "public_facility"},
        )
        assert await wishes.advance_escalations(w.hub) == 1
        assert (await Wish.get(id=wish.id)).escalation is Escalation.BLUE
        clock.advance(hours=71)
        assert await wishes.advance_escalations(w.hub) == 0
        clock.advance(hours=1)
        assert await wishes.advance_escalations(w.hub) == 1
        assert (await Wish.get(id=wish.id)).escalation is Escalation.YELLOW
        clock.advance(hours=72)
        await wishes.advance_escalations(w.hub)
        assert (await Wish.get(id=wish.id)).escalation is Escalation.RED
        levels = [
            a.after["escalation"]
            for a in await AuditEntry.filter(entity_id=wish.id, action="wish.escalated").order_by(
                "id"
            )
        ]
        assert levels == ["blue", "yellow", "red"]
    finally:
        w.hub.plugins.unregister("test-admission")


async def test_staff_escalate_upwards_only(w):
    resident = await w.person("王奶奶")
    wish = await open_wish(w, resident, category="public_facility")
    with pytest.raises(PermissionDenied):
        await wishes.escalate(w.hub, resident, wish.id, {"level": "blue"})
    with pytest.raises(InvalidInput) as err:
        await wishes.escalate(w.hub, w.staff, wish.id, {"level": "purple"})
    assert err.value.fields == ["level"]
    raised = await wishes.escalate(
        w.hub, w.staff, wish.id, {"level": "yellow", "referral": "街道办设施科"}
    )
    assert (raised.escalation, raised.referral) == (Escalation.YELLOW, "街道办设施科")
    with pytest.raises(Conflict) as err:
        await wishes.escalate(w.hub, w.staff, wish.id, {"level": "blue"})
    assert err.value.code == "already_escalated"


async def test_a_plugin_routes_a_category_to_another_team_kind(w):
    class Routing:
        @hookimpl
        def vh_wish_categories(self):
            return [
                WishCategory("tutoring", {"zh-CN": "学业辅导", "en": "Tutoring"}, "party_vanguard")
            ]

    w.hub.plugins.register(Routing(), "test-routing")
    try:
        repair = await w.team("repair")
        vanguard = await w.team("party_vanguard")
        repairer = await w.volunteer("修理工", team=repair)
        member = await w.volunteer("党员", team=vanguard)
        wish = await open_wish(w, category="tutoring")
        with pytest.raises(PermissionDenied):
            await wishes.claim(w.hub, repairer, wish.id)
        assert (await wishes.claim(w.hub, member, wish.id)).claimer_id == member.id
    finally:
        w.hub.plugins.unregister("test-routing")


# --- matching (story 1) -------------------------------------------------------------------


async def test_candidates_prefer_same_grid_free_and_least_served(w, clock):
    team = await w.team("elderly_care")
    near_idle = await w.volunteer("同网格空闲", team=team)
    near_busy = await w.volunteer("同网格有班", team=team)
    far_idle = await w.volunteer("远处空闲", team=team, grid=w.other_grid)
    near_worked = await w.volunteer("同网格已服务", team=team)
    outsider = await w.volunteer("维修队员", team=await w.team("repair"))

    thursday = date(2026, 12, 3)
    shift = await tasks.create_task(
        w.hub,
        w.staff,
        w.community.id,
        {
            "title": "周四值班",
            "starts_at": "2026-12-03T09:00:00+08:00",
            "ends_at": "2026-12-03T11:00:00+08:00",
            "capacity": 2,
        },
    )
    await tasks.sign_up(w.hub, near_busy, shift.id)
    worked = await tasks.sign_up(w.hub, near_worked, shift.id)
    clock.now = clock.now.replace(day=3)  # Thursday 09:00 Shanghai
    await tasks.check_in(w.hub, near_worked, worked.id)
    clock.advance(hours=2)
    await tasks.check_out(w.hub, near_worked, worked.id)
    # the busy one is still signed up for a shift on the needed day
    later = await tasks.create_task(
        w.hub,
        w.staff,
        w.community.id,
        {
            "title": "周五值班",
            "starts_at": "2026-12-04T09:00:00+08:00",
            "ends_at": "2026-12-04T11:00:00+08:00",
            "capacity": 2,
        },
    )
    await tasks.sign_up(w.hub, near_busy, later.id)

    wish = await open_wish(
        w,
        category="elderly_care",
        title="周五上午陪同去医院",
        needed_by=thursday + timedelta(days=1),
    )
    ranked = await matching.candidates(w.hub, w.staff, wish.id, limit=10)
    ids = [c.person_id for c in ranked]
    assert outsider.id not in ids
    assert ids[0] == near_idle.id
    assert set(ids) == {near_idle.id, near_busy.id, far_idle.id, near_worked.id}
    assert ids.index(near_worked.id) < ids.index(near_busy.id)
    assert ids.index(near_idle.id) < ids.index(near_worked.id)
    assert all(c.reasons for c in ranked)
    with pytest.raises(PermissionDenied):
        await matching.candidates(w.hub, near_idle, wish.id)


async def test_roles_are_granted_by_joining_a_team_once_approved(w):
    person = await w.person("新志愿者")
    assert not person.has_role(w.community.id, Role.VOLUNTEER)
    team = await w.team("repair")
    membership = await teams.join_team(w.hub, person, team.id)
    assert not (await load_actor(person.id)).has_role(w.community.id, Role.VOLUNTEER)
    await teams.approve_membership(w.hub, w.staff, membership.id)
    assert (await load_actor(person.id)).has_role(w.community.id, Role.VOLUNTEER)
