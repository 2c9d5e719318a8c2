"""Automatic dispatch (issue 13, point 2): an open wish invites its best volunteers with no
staff action; they accept or decline from the API; a decline or an unanswered deadline
invites the next; nobody left escalates the wish. Deadlines stop in quiet hours.

Everything runs for real on SQLite and PostgreSQL: the HTTP API over ASGI, the services,
the worker's expiry step on the fake clock (``clock``: Tuesday 2026-12-01, 09:00 in
Shanghai). Races (two accepts, an accept against the expiry, two workers) are many
simultaneous calls on one database.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.factories import World
from volunteer_hub.errors import Conflict, NotFound
from volunteer_hub.models import (
    AuditEntry,
    Community,
    Escalation,
    Invitation,
    InvitationStatus,
    Notification,
    NotificationPriority,
    Signup,
    SignupStatus,
    Wish,
    WishStatus,
)
from volunteer_hub.notifications.senders import AppriseNotifier
from volunteer_hub.notifications.worker import Worker
from volunteer_hub.services import dispatch, emergency, invitations, tasks, wishes
from volunteer_hub.testing import login

SH = ZoneInfo("Asia/Shanghai")
THURSDAY = date(2026, 12, 3)
ERRAND = {"title": "帮忙取快递", "description": "腿脚不便，快递在驿站", "category": "errand"}


@pytest.fixture
async def w(hub):
    return await World(hub).build()


async def care_volunteers(w: World, n: int, team=None):
    team = team or await w.team("elderly_care", "助老服务队")
    return [await w.volunteer(f"志愿者{i}", team=team) for i in range(n)]


async def open_wish(w: World, data: dict | None = None, resident=None) -> Wish:
    """Posted by a resident, approved by staff through ``invitations.review`` (dispatch)."""
    resident = resident or await w.person("王奶奶")
    wish = await wishes.post(w.hub, resident, w.community.id, data or ERRAND)
    return await invitations.review(w.hub, w.staff, wish.id, {"decision": "approve"})


async def statuses(wish_id: int) -> dict[int, str]:
    rows = await Invitation.filter(wish_id=wish_id).order_by("id")
    return {r.person_id: r.status.value for r in rows}


async def pending(wish_id: int) -> list[Invitation]:
    return await Invitation.filter(wish_id=wish_id, status=InvitationStatus.PENDING).order_by("id")


async def actions(w: World, wish_id: int) -> list[str]:
    """The wish's trail as its staff see it (the wish's entries and its invitations')."""
    return [e.action for e in await wishes.timeline(w.hub, w.staff, wish_id)]


# --- story 1 over HTTP: one staff action -----------------------------------------------------


async def test_story_1_from_post_to_claimed_with_one_staff_action(hub, api, w):
    """Ms. Wang, 82, needs someone to walk her to hospital on Thursday morning. Her grid
    worker posts the wish; staff approve it (the one staff action); the best three
    elderly-care volunteers are invited automatically; one accepts from the API; the wish
    is claimed, the others are told it is taken, and Ms. Wang is told who is coming."""
    team = await w.team("elderly_care", "助老服务队")
    helpers = [await w.volunteer(n, team=team) for n in ("李志愿", "张志愿", "赵志愿", "钱志愿")]
    wang = await w.person("王奶奶", birth_date=date(1944, 5, 1))
    staff_requests = 0

    async def as_staff(method: str, url: str, **kw):
        nonlocal staff_requests
        staff_requests += 1
        return await api.request(method, url, headers=await login(api, w.staff), **kw)

    grid_worker = await login(api, w.grid_worker)
    r = await api.post(
        f"/api/v1/communities/{w.id}/wishes",
        json={
            "title": "陪同去医院复查",
            "description": "周四上午去市一医院复查，需要有人陪同",
            "category": "elderly_care",
            "needed_by": THURSDAY.isoformat(),
            "on_behalf_of": wang.id,
        },
        headers=grid_worker,
    )
    assert r.status_code == 201, r.text
    wish_id = r.json()["id"]

    r = await as_staff("POST", f"/api/v1/wishes/{wish_id}/review", json={"decision": "approve"})
    assert r.status_code == 200 and r.json()["status"] == "open", r.text

    # Three are invited at once, by the community, each told with a link to answer.
    invited = {}
    for helper in helpers:
        r = await api.get("/api/v1/me/invitations", headers=await login(api, helper))
        assert r.status_code == 200, r.text
        items = r.json()["items"]
        if items:
            [item] = items
            assert item["wish_id"] == wish_id and item["status"] == "pending"
            assert item["expires_at"] == "2026-12-01T11:00:00+08:00"  # 120 minutes
            assert "task_id" not in item or item["task_id"] is None
            invited[helper.id] = item["id"]
    assert len(invited) == 3
    for person_id, invitation_id in invited.items():
        note = await Notification.get(person_id=person_id, event="wish.invited")
        assert f"/invitations/{invitation_id}" in note.body and "2026-12-01 11:00" in note.body
        assert wang.person.phone not in note.body and "王奶奶" not in note.body
    dispatched = await AuditEntry.filter(entity_id=wish_id, action="wish.dispatched").order_by("id")
    assert [e.after["rank"] for e in dispatched] == [1, 2, 3]
    assert all(e.actor_id is None and e.after["reasons"] for e in dispatched)

    chosen = next(iter(invited))
    helper = next(h for h in helpers if h.id == chosen)
    volunteer = await login(api, helper)
    r = await api.post(f"/api/v1/invitations/{invited[chosen]}/accept", headers=volunteer)
    assert r.status_code == 200, r.text
    assert r.json() == {"id": invited[chosen], "status": "accepted"}

    r = await api.get(f"/api/v1/wishes/{wish_id}", headers=volunteer)
    body = r.json()
    assert body["status"] == "claimed" and body["claimer_id"] == chosen
    assert body["contact"]["phone"] == wang.person.phone  # the claimer sees it now
    others = set(invited) - {chosen}
    assert await statuses(wish_id) == {chosen: "accepted"} | dict.fromkeys(others, "withdrawn")
    for person_id in others:
        assert await Notification.exists(person_id=person_id, event="invitation.withdrawn")
    told = await Notification.get(person_id=wang.id, event="wish.claimed")
    assert helper.person.name in told.body
    assert staff_requests == 1

    # Staff see every step on the wish's invitations and its timeline.
    r = await as_staff("GET", f"/api/v1/wishes/{wish_id}/invitations")
    assert r.status_code == 200
    listed = {i["person_id"]: i for i in r.json()["items"]}
    assert {p: i["status"] for p, i in listed.items()} == await statuses(wish_id)
    assert all(i["rank"] and i["reasons"] and i["invited_by"] is None for i in listed.values())
    trail = await actions(w, wish_id)
    assert trail[:2] == ["wish.posted", "wish.approved"]
    assert trail.count("wish.invited") == trail.count("wish.dispatched") == 3
    assert trail.index("invitation.accepted") < trail.index("wish.claimed")
    assert trail.count("invitation.withdrawn") == 2


async def test_answers_are_the_invited_persons_alone(hub, api, w):
    first, second = await care_volunteers(w, 2)
    wish = await open_wish(w, {**ERRAND, "category": "elderly_care"})
    mine = (await Invitation.get(wish_id=wish.id, person_id=first.id)).id
    others = await login(api, second)
    for verb in ("accept", "decline"):
        r = await api.post(f"/api/v1/invitations/{mine}/{verb}", headers=others)
        assert r.status_code == 404 and r.json()["error"]["code"] == "invitation_not_found"
        r = await api.post(f"/api/v1/invitations/{mine}/{verb}", headers=await login(api, w.staff))
        assert r.status_code == 404
        r = await api.post(f"/api/v1/invitations/{mine}/{verb}")
        assert r.status_code == 401
    own = await login(api, first)
    r = await api.post(
        f"/api/v1/invitations/{mine}/decline", json={"reason": 5}, headers=own
    )  # not text
    assert r.status_code == 422 and r.json()["error"]["details"][0]["field"] == "reason"
    r = await api.get("/api/v1/me/invitations?status=maybe", headers=own)
    assert r.status_code == 422 and r.json()["error"]["details"][0]["field"] == "status"
    assert (await Invitation.get(id=mine)).status is InvitationStatus.PENDING  # nothing written
    r = await api.post(f"/api/v1/invitations/{mine}/decline", json={}, headers=own)
    assert r.status_code == 200 and r.json()["status"] == "declined"
    r = await api.post(f"/api/v1/invitations/{mine}/accept", headers=own)
    assert r.status_code == 409 and r.json()["error"]["code"] == "invitation_answered"
    r = await api.get("/api/v1/me/invitations?status=declined", headers=own)
    assert [i["id"] for i in r.json()["items"]] == [mine]


# --- decline, expiry, exhaustion ----------------------------------------------------------------


async def test_a_decline_invites_the_next_and_keeps_its_reason(hub, w):
    people = await care_volunteers(w, 5)
    wish = await open_wish(w, {**ERRAND, "category": "elderly_care"})
    first_three = [i.person_id for i in await pending(wish.id)]
    assert first_three == [p.id for p in people[:3]]  # ties: the ranking's order
    declining = next(p for p in people if p.id == first_three[0])
    row = await Invitation.get(wish_id=wish.id, person_id=declining.id)
    view = await invitations.decline(hub, declining, row.id, {"reason": "这周在外地"})
    assert view.status == "declined"
    assert [i.person_id for i in await pending(wish.id)] == [*first_three[1:], people[3].id]
    entry = await AuditEntry.get(action="invitation.declined", entity_id=row.id)
    assert entry.after["decline_reason"] == "这周在外地" and entry.actor_id == declining.id
    assert (await Invitation.get(id=row.id)).decline_reason == "这周在外地"
    with pytest.raises(Conflict) as again:
        await invitations.decline(hub, declining, row.id)
    assert again.value.code == "invitation_answered"


async def test_unanswered_invitations_expire_after_120_minutes_and_the_next_are_invited(
    hub, clock, w
):
    people = await care_volunteers(w, 5)
    wish = await open_wish(w, {**ERRAND, "category": "elderly_care"})  # 09:00
    assert {i.expires_at for i in await pending(wish.id)} == {datetime(2026, 12, 1, 3, tzinfo=UTC)}
    worker = Worker(hub, AppriseNotifier())

    clock.now = datetime(2026, 12, 1, 2, 59, tzinfo=UTC)  # 10:59: not yet
    assert (await worker.run_once()).invitations_expired == 0
    clock.now = datetime(2026, 12, 1, 3, 0, tzinfo=UTC)  # 11:00
    report = await worker.run_once()
    assert report.invitations_expired == 3
    assert await statuses(wish.id) == dict.fromkeys([p.id for p in people[:3]], "expired") | {
        people[3].id: "pending",
        people[4].id: "pending",
    }
    # An expired invitation cannot be accepted any more.
    late = await Invitation.get(wish_id=wish.id, person_id=people[0].id)
    with pytest.raises(Conflict) as refused:
        await invitations.accept(hub, people[0], late.id)
    assert refused.value.code == "invitation_expired"

    # The last two expire at 13:00: nobody is left, so the wish rises to blue for staff.
    clock.now = datetime(2026, 12, 1, 5, 0, tzinfo=UTC)
    assert (await worker.run_once()).invitations_expired == 2
    stored = await Wish.get(id=wish.id)
    assert stored.status is WishStatus.OPEN and stored.escalation is Escalation.BLUE
    exhausted = await AuditEntry.get(action="wish.dispatch_exhausted", entity_id=wish.id)
    assert exhausted.after == {"asked": 5, "escalation": "blue"} and exhausted.actor_id is None
    assert await Notification.exists(person_id=w.staff.id, event="wish.escalated")
    assert (await worker.run_once()).invitations_expired == 0  # nothing more to do


async def test_the_deadline_stops_in_quiet_hours_unless_the_wish_is_urgent(hub, clock, w):
    await care_volunteers(w, 2)
    clock.now = datetime(2026, 12, 1, 13, 0, tzinfo=UTC)  # 21:00 in Shanghai
    wish = await open_wish(w, {**ERRAND, "category": "elderly_care"})
    # 60 minutes before 22:00, the other 60 after 07:00.
    assert {i.expires_at for i in await pending(wish.id)} == {datetime(2026, 12, 2, 0, tzinfo=UTC)}
    clock.now = datetime(2026, 12, 1, 23, 30, tzinfo=UTC)  # 07:30: still time to answer
    assert await dispatch.expire_due(hub) == 0

    urgent = await wishes.post(hub, await w.person("李大爷"), w.id, ERRAND)
    await Wish.filter(id=urgent.id).update(urgent=True)
    clock.now = datetime(2026, 12, 1, 15, 0, tzinfo=UTC)  # 23:00
    await invitations.review(hub, w.staff, urgent.id, {"decision": "approve"})
    assert {i.expires_at for i in await pending(urgent.id)} == {
        datetime(2026, 12, 1, 17, 0, tzinfo=UTC)  # 01:00: the clock does not stop
    }
    # ...and so its invitations are not held until the morning; the calm wish's are.
    priorities = dict(
        await Notification.filter(event="wish.invited").values_list("entity_id", "priority")
    )
    assert priorities[urgent.id] == NotificationPriority.URGENT
    assert priorities[wish.id] == NotificationPriority.NORMAL


@given(
    start_minute=st.integers(0, 7 * 24 * 60),
    minutes=st.integers(15, 1440),
    quiet=st.tuples(st.integers(0, 23), st.integers(0, 23)),
)
def test_deadlines_count_only_waking_minutes(start_minute, minutes, quiet):
    """Property: between the start and the deadline there are exactly ``minutes`` minutes
    outside quiet hours, and the deadline itself is not in quiet hours (nobody's answer
    runs out while they sleep)."""
    community = Community(
        timezone="Asia/Shanghai",
        quiet_start=f"{quiet[0]:02d}:00",
        quiet_end=f"{quiet[1]:02d}:00",
        invitation_minutes=minutes,
    )
    start = datetime(2026, 12, 1, tzinfo=UTC) + timedelta(minutes=start_minute)
    due = dispatch.deadline(start, minutes, community, urgent=False)

    def asleep(moment: datetime) -> bool:
        hour = moment.astimezone(SH).hour
        a, b = quiet
        return a != b and ((a <= hour or hour < b) if a > b else a <= hour < b)

    total = int((due - start).total_seconds() // 60)
    awake = sum(not asleep(start + timedelta(minutes=m)) for m in range(total))
    assert awake == minutes
    assert not asleep(due - timedelta(minutes=1))
    assert dispatch.deadline(start, minutes, community, urgent=True) == start + timedelta(
        minutes=minutes
    )


async def test_nobody_to_invite_escalates_at_once_and_manual_categories_wait_for_staff(hub, w):
    lonely = await open_wish(w, {**ERRAND, "category": "elderly_care"})  # no such team
    stored = await Wish.get(id=lonely.id)
    assert stored.escalation is Escalation.BLUE
    assert await AuditEntry.exists(action="wish.dispatch_exhausted", entity_id=lonely.id)
    assert not await Invitation.exists(wish_id=lonely.id)

    await care_volunteers(w, 2)
    await Community.filter(id=w.id).update(manual_dispatch_categories=["elderly_care"])
    manual = await open_wish(w, {**ERRAND, "category": "elderly_care"})
    assert not await Invitation.exists(wish_id=manual.id)
    assert not await AuditEntry.exists(action="wish.dispatch_exhausted", entity_id=manual.id)
    assert (await Wish.get(id=manual.id)).escalation is None

    referred = await open_wish(w, {**ERRAND, "category": "public_facility"})  # not served
    assert not await Invitation.exists(wish_id=referred.id)
    assert not await AuditEntry.exists(action="wish.dispatch_exhausted", entity_id=referred.id)


async def test_a_direct_claim_or_a_cancellation_withdraws_what_is_pending(hub, w):
    people = await care_volunteers(w, 4)
    wish = await open_wish(w, {**ERRAND, "category": "elderly_care"})
    invited = [i.person_id for i in await pending(wish.id)]
    claimer = next(p for p in people if p.id == invited[1])  # claims from the wish page
    await wishes.claim(hub, claimer, wish.id)
    assert await statuses(wish.id) == {
        invited[0]: "withdrawn",
        invited[1]: "accepted",
        invited[2]: "withdrawn",
    }
    withdrawn = await Notification.filter(event="invitation.withdrawn").values_list(
        "person_id", "body"
    )
    assert {p for p, _ in withdrawn} == {invited[0], invited[2]}
    assert all("已经有其他志愿者接下了" in body for _, body in withdrawn)

    other = await open_wish(w, {**ERRAND, "category": "elderly_care"})
    await wishes.cancel(hub, w.staff, other.id, {"reason": "家人已陪同"})
    assert set((await statuses(other.id)).values()) == {"withdrawn"}
    closed = await Notification.filter(event="invitation.withdrawn", entity_type="invitation")
    assert sum("已经结束" in n.body for n in closed) == 3


async def test_a_hand_back_is_dispatched_again_but_not_to_the_one_who_gave_it_back(hub, w):
    people = await care_volunteers(w, 5)
    wish = await open_wish(w, {**ERRAND, "category": "elderly_care"})
    first = (await pending(wish.id))[0]
    claimer = next(p for p in people if p.id == first.person_id)
    await invitations.accept(hub, claimer, first.id)
    await invitations.hand_back(hub, claimer, wish.id, {"reason": "临时出差"})
    now_pending = [i.person_id for i in await pending(wish.id)]
    # Those withdrawn when it was claimed were asked already: the two never asked are.
    assert now_pending == [people[3].id, people[4].id]
    assert claimer.id not in now_pending


# --- races --------------------------------------------------------------------------------------


async def test_simultaneous_accepts_make_exactly_one_claimer(hub, api, w):
    await Community.filter(id=w.id).update(dispatch_k=10)
    people = await care_volunteers(w, 10)
    heads = {p.id: await login(api, p) for p in people}
    for _round in range(2):
        wish = await open_wish(w, {**ERRAND, "category": "elderly_care"})
        rows = await pending(wish.id)
        assert len(rows) == 10
        results = await asyncio.gather(
            *(
                api.post(f"/api/v1/invitations/{row.id}/accept", headers=heads[row.person_id])
                for row in rows
            )
        )
        codes = sorted(r.status_code for r in results)
        assert codes == [200] + [409] * 9, [r.text for r in results if r.status_code != 409]
        winner = next(row for row, r in zip(rows, results, strict=True) if r.status_code == 200)
        stored = await Wish.get(id=wish.id)
        assert stored.status is WishStatus.CLAIMED and stored.claimer_id == winner.person_id
        final = await statuses(wish.id)
        assert list(final.values()).count("accepted") == 1
        assert set(final.values()) == {"accepted", "withdrawn"}
        assert await AuditEntry.filter(entity_id=wish.id, action="wish.claimed").count() == 1


async def test_an_accept_racing_the_expiry_and_two_workers(hub, clock, w):
    """V2's deadline has passed and two workers expire it while V2 and V3 accept: V2's
    accept loses (it expired, or V3 claimed first and withdrew it), V3's wins; whatever
    the order, exactly one claimer, no invitation left pending, none expired twice,
    nobody invited twice."""
    await Community.filter(id=w.id).update(dispatch_k=2)
    people = await care_volunteers(w, 6)
    for _round in range(3):
        clock.now = datetime(2026, 12, 1, 1, 0, tzinfo=UTC) + timedelta(days=_round)
        wish = await open_wish(w, {**ERRAND, "category": "elderly_care"})
        v1, v2 = await pending(wish.id)
        clock.advance(minutes=60)
        await invitations.decline(hub, next(p for p in people if p.id == v1.person_id), v1.id)
        [v3] = [i for i in await pending(wish.id) if i.id != v2.id]
        clock.advance(minutes=60)  # v2 is due now; v3 has an hour left
        actor = {p.id: p for p in people}
        results = await asyncio.gather(
            dispatch.expire_due(hub),
            dispatch.expire_due(hub),
            invitations.accept(hub, actor[v2.person_id], v2.id),
            invitations.accept(hub, actor[v3.person_id], v3.id),
            return_exceptions=True,
        )
        unexpected = [
            r for r in results if isinstance(r, Exception) and not isinstance(r, Conflict)
        ]
        assert not unexpected, unexpected
        assert sorted(results[:2]) in ([0, 0], [0, 1])  # at most once, by one worker
        assert isinstance(results[2], Conflict)
        assert results[2].code in ("invitation_expired", "already_claimed")
        assert results[3].status == "accepted"
        stored = await Wish.get(id=wish.id)
        assert stored.status is WishStatus.CLAIMED and stored.claimer_id == v3.person_id
        final = await statuses(wish.id)
        assert final[v2.person_id] in ("expired", "withdrawn")
        assert final[v3.person_id] == "accepted"
        assert "pending" not in final.values()
        assert await AuditEntry.filter(action="invitation.expired", entity_id=v2.id).count() == 1
        invited = await AuditEntry.filter(entity_id=wish.id, action="wish.invited").values_list(
            "after", flat=True
        )
        assert len({a["person_id"] for a in invited}) == len(invited)


async def test_two_workers_expire_each_invitation_once_and_keep_k_pending(hub, clock, w):
    await care_volunteers(w, 9)
    wishes_open = [await open_wish(w, {**ERRAND, "category": "elderly_care"}) for _ in range(2)]
    clock.advance(minutes=120)
    counts = await asyncio.gather(*(dispatch.expire_due(hub) for _ in range(4)))
    assert sum(counts) == 6
    for wish in wishes_open:
        final = await statuses(wish.id)
        assert list(final.values()).count("expired") == 3
        assert list(final.values()).count("pending") == 3  # k again, never more


# --- shifts -------------------------------------------------------------------------------------


async def test_accepting_a_shift_invitation_signs_up_while_places_remain(hub, api, w):
    team = await w.team("silver_patrol", "银发巡逻队")
    a, b = [await w.volunteer(n, team=team, birth_date=date(1958, 3, 1)) for n in ("张", "李")]
    start = datetime(2026, 12, 3, 19, tzinfo=SH)
    task = await tasks.create_task(
        hub,
        w.staff,
        w.id,
        {
            "title": "银发巡逻",
            "team_id": team.id,
            "starts_at": start,
            "ends_at": start + timedelta(hours=2),
            "capacity": 1,
        },
    )
    for person in (a, b):
        await invitations.invite_to_task(hub, w.staff, task.id, {"person_id": person.id})
    rows = {r.person_id: r for r in await Invitation.filter(occurrence__task_id=task.id)}
    assert rows[a.id].expires_at == datetime(2026, 12, 1, 3, tzinfo=UTC)
    note = await Notification.get(person_id=a.id, event="task.invited")
    assert f"/invitations/{rows[a.id].id}" in note.body and "2026-12-01 11:00" in note.body

    r = await api.get("/api/v1/me/invitations", headers=await login(api, a))
    [item] = r.json()["items"]
    assert item["task_id"] == task.id and item["occurrence_start"] == "2026-12-03T19:00:00+08:00"
    r = await api.post(f"/api/v1/invitations/{rows[a.id].id}/accept", headers=await login(api, a))
    assert r.status_code == 200 and r.json()["status"] == "accepted"
    signup = await Signup.get(person_id=a.id)
    assert signup.status is SignupStatus.CONFIRMED

    r = await api.post(f"/api/v1/invitations/{rows[b.id].id}/accept", headers=await login(api, b))
    assert r.status_code == 409 and r.json()["error"]["code"] == "occurrence_full"
    assert not await Signup.exists(person_id=b.id)
    assert (await Invitation.get(id=rows[b.id].id)).status is InvitationStatus.PENDING


async def test_legacy_invitations_count_as_asked(hub, w):
    """Databases from before issue 13 kept invitations as audit entries: those people are
    not invited again (and there is nothing of theirs to answer)."""
    people = await care_volunteers(w, 4)
    resident = await w.person("王奶奶")
    wish = await wishes.post(hub, resident, w.id, {**ERRAND, "category": "elderly_care"})
    await AuditEntry.create(
        community_id=w.id,
        action="wish.invited",
        entity_type="wish",
        entity_id=wish.id,
        after={"person_id": people[0].id},
        created_at=hub.now(),
    )
    await invitations.review(hub, w.staff, wish.id, {"decision": "approve"})
    assert [i.person_id for i in await pending(wish.id)] == [p.id for p in people[1:]]
    assert await invitations.invited_people(wish.id) == {p.id for p in people}
    with pytest.raises(NotFound):
        await invitations.invitation(hub, people[0], 999999)


# --- settings -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"dispatch_k": 0}, "dispatch_k"),
        ({"dispatch_k": 11}, "dispatch_k"),
        ({"dispatch_k": "3"}, "dispatch_k"),
        ({"invitation_minutes": 14}, "invitation_minutes"),
        ({"invitation_minutes": 1441}, "invitation_minutes"),
        ({"dispatch_k": 2, "invitation_minutes": 1.5}, "invitation_minutes"),
    ],
)
async def test_dispatch_settings_are_validated_and_write_nothing_when_bad(hub, api, w, body, field):
    staff = await login(api, w.staff)
    r = await api.patch(f"/api/v1/communities/{w.id}", json=body, headers=staff)
    assert r.status_code == 422, r.text
    assert field in {d["field"] for d in r.json()["error"]["details"]}
    stored = await Community.get(id=w.id)
    assert (stored.dispatch_k, stored.invitation_minutes) == (3, 120)


async def test_dispatch_settings_take_effect(hub, api, w):
    await care_volunteers(w, 4)
    staff = await login(api, w.staff)
    r = await api.patch(
        f"/api/v1/communities/{w.id}",
        json={"dispatch_k": 1, "invitation_minutes": 30},
        headers=staff,
    )
    assert r.status_code == 200, r.text
    assert (r.json()["dispatch_k"], r.json()["invitation_minutes"]) == (1, 30)
    entry = await AuditEntry.filter(action="community.updated").order_by("-id").first()
    assert entry.after == {"dispatch_k": 1, "invitation_minutes": 30}
    wish = await open_wish(w, {**ERRAND, "category": "elderly_care"})
    [only] = await pending(wish.id)
    assert only.expires_at == datetime(2026, 12, 1, 1, 30, tzinfo=UTC)
    r = await api.patch(f"/api/v1/communities/{w.id}", json={"dispatch_k": 1}, headers=staff)
    assert r.status_code == 200
    r = await api.patch(
        f"/api/v1/communities/{w.id}",
        json={"dispatch_k": 2},
        headers=await login(api, w.grid_worker),
    )
    assert r.status_code == 403


async def test_a_wish_opened_by_emergency_mode_is_dispatched_as_it_is_posted(hub, api, w):
    """Story 8: in emergency mode a shopping wish is open at once, and its volunteers are
    invited in the same request, over HTTP, with no staff action at all."""
    people = await care_volunteers(w, 2)
    await emergency.start(
        hub,
        w.staff,
        w.id,
        {"reason": "疫情封控", "message": "请志愿者待命", "categories": ["errand"]},
    )
    resident = await w.person("隔离户")
    r = await api.post(
        f"/api/v1/communities/{w.id}/wishes",
        json={"title": "帮忙买菜", "description": "隔离在家，需要一周的蔬菜", "category": "errand"},
        headers=await login(api, resident),
    )
    assert r.status_code == 201 and r.json()["status"] == "open", r.text
    invited = {i.person_id for i in await pending(r.json()["id"])}
    assert invited == {p.id for p in people}
    trail = await actions(w, r.json()["id"])
    assert trail.index("wish.approved") < trail.index("wish.invited")


async def test_random_answers_keep_the_dispatch_invariants(hub, clock, w):
    """Random sequences of declines, accepts, hand-backs, staff invitations and the clock
    moving past deadlines (fixed seeds, so a failure repeats): after every step at most
    ``dispatch_k`` invitations are pending, nobody is invited twice to one wish, a claimed
    wish has none pending, an open wish with none pending has nobody left to ask (and was
    escalated), and the claimer's own invitation (if any) is the accepted one."""
    import random

    await Community.filter(id=w.id).update(dispatch_k=2)
    people = await care_volunteers(w, 7)
    actor = {p.id: p for p in people}
    for seed in range(3):
        rng = random.Random(seed)
        wish = await open_wish(w, {**ERRAND, "category": "elderly_care"})
        for _step in range(12):
            rows = await pending(wish.id)
            stored = await Wish.get(id=wish.id)
            move = rng.choice(["decline", "accept", "expire", "hand_back", "invite"])
            try:
                if move == "decline" and rows:
                    row = rng.choice(rows)
                    await invitations.decline(hub, actor[row.person_id], row.id)
                elif move == "accept" and rows:
                    row = rng.choice(rows)
                    await invitations.accept(hub, actor[row.person_id], row.id)
                elif move == "expire":
                    clock.advance(minutes=rng.choice([30, 120, 600]))
                    await dispatch.expire_due(hub)
                elif move == "hand_back" and stored.status is WishStatus.CLAIMED:
                    await invitations.hand_back(hub, actor[stored.claimer_id], wish.id)
                elif move == "invite" and stored.status is WishStatus.OPEN:
                    await invitations.invite_to_wish(
                        hub, w.staff, wish.id, {"person_id": rng.choice(people).id}
                    )
            except Conflict:
                pass  # already invited, expired meanwhile: refused, nothing written
            stored = await Wish.get(id=wish.id)
            rows = await Invitation.filter(wish_id=wish.id)
            now_pending = [r for r in rows if r.status is InvitationStatus.PENDING]
            assert len({r.person_id for r in rows}) == len(rows), (seed, _step)
            if stored.status is WishStatus.CLAIMED:
                assert not now_pending, (seed, _step)
                mine = [r for r in rows if r.person_id == stored.claimer_id]
                assert all(r.status is InvitationStatus.ACCEPTED for r in mine[-1:])
            elif stored.status is WishStatus.OPEN:
                automatic = [r for r in now_pending if r.invited_by_id is None]
                assert len(automatic) <= 2, (seed, _step)
                if not now_pending:
                    asked = {r.person_id for r in rows}
                    assert asked >= {p.id for p in people} - {stored.resident_id}
                    assert stored.escalation is not None
