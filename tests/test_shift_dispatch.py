"""A shift's place freed by a declined or expired invitation invites the next volunteer with
no staff action (``matching.rank_shift``, ``dispatch.refill_shift``); nobody left tells the
community's staff once (``occurrence.dispatch_exhausted``).

On SQLite and PostgreSQL: the services, the worker's expiry on the fake clock (Tuesday
2026-12-01, 09:00 in Shanghai), the HTTP API over ASGI and the invitation page. Races are
simultaneous declines and expiries on one database.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

import volunteer_hub
from tests.factories import PASSWORD, World
from tests.pages_support import csrf, log_in
from volunteer_hub.errors import Conflict
from volunteer_hub.hooktypes import PersonFacts, SignupFacts
from volunteer_hub.models import (
    AuditEntry,
    Community,
    Invitation,
    InvitationStatus,
    Notification,
    Occurrence,
    Person,
    ServiceRecord,
    Signup,
    SignupStatus,
)
from volunteer_hub.notifications.senders import AppriseNotifier
from volunteer_hub.notifications.worker import Worker
from volunteer_hub.plugin_api import Violation
from volunteer_hub.services import availability, dispatch, invitations, matching, roster, tasks
from volunteer_hub.testing import login

SH = ZoneInfo("Asia/Shanghai")
THURSDAY = date(2026, 12, 3)
REFUSED_NAME = "不符合"  # the test rule refuses people whose name starts with this


class RefuseByName:
    """A registration rule: refuses signups of people named ``REFUSED_NAME``…"""

    @volunteer_hub.hookimpl
    def vh_check_signup(self, person: PersonFacts, signup: SignupFacts) -> list[Violation] | None:
        if person.name.startswith(REFUSED_NAME):
            return [Violation("test_refused", {"zh-CN": "不符合报名条件", "en": "Refused"})]
        return None


@pytest.fixture
def vhub_plugins():
    return [("refuse-by-name", RefuseByName())]


@pytest.fixture
async def w(hub):
    return await World(hub).build()


def at(day: date, hour: int, minute: int = 0) -> datetime:
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=SH)


async def shift(w: World, capacity: int, *, team=None, start=None, hours: int = 2):
    start = start or at(THURSDAY, 10)
    data = {
        "title": "社区图书室值班",
        "starts_at": start,
        "ends_at": start + timedelta(hours=hours),
        "capacity": capacity,
        "location": "社区活动中心",
    }
    if team is not None:
        data["team_id"] = team.id
    return await tasks.create_task(w.hub, w.staff, w.id, data)


async def volunteers(w: World, n: int, team=None, prefix: str = "志愿者"):
    team = team or await w.team("elderly_care", "助老服务队")
    return [await w.volunteer(f"{prefix}{i}", team=team) for i in range(n)]


async def invite(w: World, task, person) -> Invitation:
    occurrence = await invitations.invite_to_task(w.hub, w.staff, task.id, {"person_id": person.id})
    return await Invitation.get(occurrence_id=occurrence.id, person_id=person.id)


async def pending(task) -> list[Invitation]:
    return await Invitation.filter(
        occurrence__task_id=task.id, status=InvitationStatus.PENDING
    ).order_by("id")


async def everyone_invited(task) -> list[int]:
    return (
        await Invitation.filter(occurrence__task_id=task.id)
        .order_by("id")
        .values_list("person_id", flat=True)
    )


def words(reasons) -> list[str]:
    return [r["zh-CN"] for r in reasons]


# --- the ranking -----------------------------------------------------------------------------


async def test_the_shift_ranking_keeps_the_wish_filters_and_explains_itself(hub, w):
    team = await w.team("elderly_care", "助老服务队")
    free, undeclared, away, busy, capped, waiting, refused, partly = [
        await w.volunteer(name, team=team)
        for name in ("有空", "未登记", "不在", "有班", "满额", "候补", f"{REFUSED_NAME}者", "半场")
    ]
    # Free Thursday 8:00-12:00; away only on Mondays; free for only half the 10-12 shift.
    await availability.set_availability(
        hub, free, {"slots": [{"weekday": 4, "start": "08:00", "end": "12:00"}]}
    )
    await availability.set_availability(
        hub, partly, {"slots": [{"weekday": 4, "start": "11:00", "end": "15:00"}]}
    )
    await availability.set_availability(
        hub, away, {"slots": [{"weekday": 1, "start": "08:00", "end": "20:00"}]}
    )
    task = await shift(w, 1)
    # A confirmed place on another shift at the same time.
    other = await shift(w, 5, start=at(THURSDAY, 11))
    await tasks.sign_up(hub, busy, other.id)
    # Waiting for this very shift (its one place is taken by someone else's signup).
    taken_by = await w.volunteer("已报名", team=team)
    await tasks.sign_up(hub, taken_by, task.id)
    assert (await tasks.sign_up(hub, waiting, task.id)).status is SignupStatus.WAITLISTED
    # The weekly cap: 4 hours a week, and 3 already served this week.
    await Community.filter(id=w.id).update(weekly_hours_cap=4)
    await ServiceRecord.create(
        person_id=capped.id,
        community_id=w.id,
        description="上周服务",
        started_at=datetime(2026, 11, 30, 1, tzinfo=UTC),
        ended_at=datetime(2026, 11, 30, 4, tzinfo=UTC),
        hours=3,
    )
    occurrence = await Occurrence.get(task_id=task.id).select_related("task__community")
    ranked = await matching.rank_shift(hub, occurrence, occurrence.task, None, limit=10)
    assert [c.person_id for c in ranked] == [free.id, undeclared.id]
    best, second = ranked
    assert best.score > second.score
    assert words(best.reasons) == ["周四 8:00–12:00 有空", "近30天服务 0 小时", "可靠：无缺勤记录"]
    assert words(second.reasons)[0] == "未登记空闲时间，视为有空"
    assert all(r["en"] for r in best.reasons)
    # exclude leaves people out; limit cuts.
    assert await matching.rank_shift(
        hub, occurrence, occurrence.task, None, limit=10, exclude={free.id}
    ) == [second]
    assert [c.person_id for c in await matching.rank_shift(hub, occurrence, occurrence.task,
                                                           None, limit=1)] == [free.id]  # fmt: skip


# --- a decline, an expiry ----------------------------------------------------------------------


async def test_a_decline_invites_the_next_best_with_reasons(hub, w):
    people = await volunteers(w, 4)
    await availability.set_availability(
        hub, people[2], {"slots": [{"weekday": 4, "start": "09:00", "end": "13:00"}]}
    )
    task = await shift(w, 1)
    first = await invite(w, task, people[0])
    view = await invitations.decline(hub, people[0], first.id, {"reason": "那天要上班"})
    assert view.status == "declined"
    [nxt] = await pending(task)
    assert nxt.person_id == people[2].id  # declared free then: ranked above the others
    assert nxt.invited_by_id is None and nxt.rank == 1
    assert words(nxt.reasons)[0] == "周四 9:00–13:00 有空"
    assert nxt.expires_at == datetime(2026, 12, 1, 3, tzinfo=UTC)  # 120 minutes
    entries = await AuditEntry.filter(action="task.invited").order_by("id")
    assert [e.actor_id for e in entries] == [w.staff.id, None]
    assert entries[1].after["rank"] == 1 and entries[1].after["reasons"] == nxt.reasons
    note = await Notification.get(person_id=people[2].id, event="task.invited")
    assert f"/invitations/{nxt.id}" in note.body and "社区邀请您" in note.body
    # Declining again is refused and invites nobody more.
    with pytest.raises(Conflict):
        await invitations.decline(hub, people[0], first.id)
    assert len(await everyone_invited(task)) == 2


async def test_an_expired_shift_invitation_invites_the_next(hub, clock, w):
    people = await volunteers(w, 3)
    task = await shift(w, 1)
    await invite(w, task, people[0])
    worker = Worker(hub, AppriseNotifier())
    clock.now = datetime(2026, 12, 1, 2, 59, tzinfo=UTC)
    assert (await worker.run_once()).invitations_expired == 0
    clock.now = datetime(2026, 12, 1, 3, 0, tzinfo=UTC)  # 11:00: due
    assert (await worker.run_once()).invitations_expired == 1
    [nxt] = await pending(task)
    assert nxt.person_id == people[1].id and nxt.invited_by_id is None
    assert nxt.expires_at == datetime(2026, 12, 1, 5, 0, tzinfo=UTC)
    clock.now = datetime(2026, 12, 1, 5, 0, tzinfo=UTC)
    assert (await worker.run_once()).invitations_expired == 1
    assert [i.person_id for i in await pending(task)] == [people[2].id]


async def test_a_full_shift_invites_nobody(hub, w):
    people = await volunteers(w, 5)
    task = await shift(w, 1)
    a, b = await invite(w, task, people[0]), await invite(w, task, people[1])  # two for one
    await invitations.accept(hub, people[0], a.id)
    await invitations.decline(hub, people[1], b.id)
    assert await pending(task) == []
    assert await everyone_invited(task) == [people[0].id, people[1].id]
    # Two places, one confirmed, two invited (staff asked one too many): a decline leaves
    # the shift full (confirmed + pending = capacity), so nobody is invited.
    two = await shift(w, 2, start=at(THURSDAY, 15))
    await tasks.sign_up(hub, people[0], two.id)
    c = await invite(w, two, people[1])
    await invite(w, two, people[2])
    await invitations.decline(hub, people[1], c.id)
    assert [i.person_id for i in await pending(two)] == [people[2].id]
    # Three places: the same decline frees one, for one invitation.
    three = await shift(w, 3, start=at(THURSDAY, 18))
    await tasks.sign_up(hub, people[0], three.id)
    c = await invite(w, three, people[1])
    await invite(w, three, people[2])
    await invitations.decline(hub, people[1], c.id)
    assert [i.person_id for i in await pending(three)] == [people[2].id, people[3].id]
    assert not await AuditEntry.exists(action="occurrence.dispatch_exhausted")


async def test_one_invitation_per_freed_place_not_per_empty_one(hub, w):
    """Staff invited one person to a five-place shift (the others may sign up themselves):
    their decline invites one, not five."""
    people = await volunteers(w, 8)
    task = await shift(w, 5)
    first = await invite(w, task, people[0])
    await invitations.decline(hub, people[0], first.id)
    assert [i.person_id for i in await pending(task)] == [people[1].id]


async def test_a_started_or_cancelled_shift_invites_nobody(hub, clock, w):
    people = await volunteers(w, 4)
    # Started: the invitation's deadline is the shift's start (09:30), when it expires.
    soon = await shift(w, 1, start=at(date(2026, 12, 1), 9, 30))
    early = await invite(w, soon, people[0])
    assert early.expires_at == datetime(2026, 12, 1, 1, 30, tzinfo=UTC)
    clock.now = datetime(2026, 12, 1, 1, 30, tzinfo=UTC)
    assert await dispatch.expire_due(hub) == 1
    assert await everyone_invited(soon) == [people[0].id]
    # One occurrence cancelled: its invitation is withdrawn, a decline refused, nobody invited.
    clock.now = datetime(2026, 12, 1, 1, 31, tzinfo=UTC)
    later = await shift(w, 1)
    row = await invite(w, later, people[0])
    await tasks.cancel_occurrence(hub, w.staff, later.id, at(THURSDAY, 10))
    with pytest.raises(Conflict):
        await invitations.decline(hub, people[0], row.id)
    assert await everyone_invited(later) == [people[0].id]
    # The whole task cancelled: nothing left to decline or expire, nobody invited.
    third = await shift(w, 2, start=at(THURSDAY, 15))
    r1, _ = await invite(w, third, people[0]), await invite(w, third, people[1])
    await roster.cancel_task(hub, w.staff, third.id, {"reason": "场地维修"})
    with pytest.raises(Conflict):
        await invitations.decline(hub, people[0], r1.id)
    clock.now = datetime(2026, 12, 1, 4, 0, tzinfo=UTC)
    assert await dispatch.expire_due(hub) == 0
    assert await everyone_invited(third) == [people[0].id, people[1].id]
    assert not await AuditEntry.exists(action="occurrence.dispatch_exhausted")


# --- the team, the rules, nobody left ----------------------------------------------------------


async def test_a_team_task_invites_only_members_and_staff_hear_once_when_none_is_left(hub, w):
    patrol = await w.team("silver_patrol", "银发巡逻队")
    members = await volunteers(w, 3, team=patrol, prefix="队员")
    refused = await w.volunteer(f"{REFUSED_NAME}队员", team=patrol)
    outsiders = await volunteers(w, 3, prefix="队外")
    for person in outsiders:  # they would rank first if they could come
        await availability.set_availability(
            hub, person, {"slots": [{"weekday": 4, "start": "08:00", "end": "22:00"}]}
        )
    task = await shift(w, 2, team=patrol)
    a, b = await invite(w, task, members[0]), await invite(w, task, members[1])
    await invitations.decline(hub, members[0], a.id)
    [c] = [i for i in await pending(task) if i.id != b.id]
    assert c.person_id == members[2].id  # the rule refuses the other member
    assert not (await roster.roster(hub, w.staff, task.id)).nobody_left
    await invitations.decline(hub, members[2], c.id)  # nobody left: staff are told
    assert (await roster.roster(hub, w.staff, task.id)).nobody_left  # and see it there
    await invitations.decline(hub, members[1], b.id)  # still nobody: not told again
    invited = set(await everyone_invited(task))
    assert invited == {m.id for m in members}
    assert not invited & {p.id for p in outsiders} and refused.id not in invited
    [entry] = await AuditEntry.filter(action="occurrence.dispatch_exhausted")
    assert entry.actor_id is None and entry.after["free"] == 1 and entry.after["asked"] == 3
    [note] = await Notification.filter(event="occurrence.dispatch_exhausted")
    assert note.person_id == w.staff.id
    start_key = roster.shift_key(at(THURSDAY, 10))
    assert f"/staff/tasks/{task.id}/roster?start={start_key}" in note.body
    assert "社区图书室值班" in note.subject and "2026-12-03 10:00" in note.body


async def test_a_team_task_with_nobody_else_tells_staff_at_the_first_decline(hub, w):
    patrol = await w.team("silver_patrol", "银发巡逻队")
    [only] = await volunteers(w, 1, team=patrol)
    await volunteers(w, 2)  # volunteers of another team
    task = await shift(w, 1, team=patrol)
    row = await invite(w, task, only)
    await invitations.decline(hub, only, row.id)
    assert await everyone_invited(task) == [only.id]
    assert await Notification.filter(event="occurrence.dispatch_exhausted").count() == 1


# --- races -------------------------------------------------------------------------------------


async def test_simultaneous_declines_never_invite_beyond_the_free_places(hub, w):
    people = await volunteers(w, 12)
    for round_ in range(2):
        task = await shift(w, 3, start=at(THURSDAY, 8 + 5 * round_))
        rows = [await invite(w, task, p) for p in people[6 * round_ : 6 * round_ + 3]]
        actor = {p.id: p for p in people}
        results = await asyncio.gather(
            *(invitations.decline(hub, actor[r.person_id], r.id) for r in rows),
            return_exceptions=True,
        )
        assert all(getattr(r, "status", None) == "declined" for r in results), results
        now_pending = await pending(task)
        assert len(now_pending) == 3  # one for each freed place, never more
        invited = await everyone_invited(task)
        assert len(invited) == len(set(invited)) == 6


async def test_declines_racing_expiries_and_two_workers(hub, clock, w):
    """Two of a two-place shift's invitations are due and two workers expire them while
    the third person, invited later, declines: each invitation ends once, and the shift
    has at most its two places' worth of pending invitations, each person asked once."""
    people = await volunteers(w, 10)
    actor = {p.id: p for p in people}
    for round_ in range(3):
        clock.now = datetime(2026, 12, 1, 1, tzinfo=UTC) + timedelta(days=round_)
        task = await shift(w, 3, start=at(THURSDAY + timedelta(days=7), 8 + 4 * round_))
        early = [await invite(w, task, p) for p in people[3 * round_ : 3 * round_ + 2]]
        clock.advance(minutes=60)
        late = await invite(w, task, people[3 * round_ + 2])
        clock.advance(minutes=60)  # the first two are due (and any left by earlier rounds)
        due = await Invitation.filter(status=InvitationStatus.PENDING, expires_at__lte=clock.now)
        results = await asyncio.gather(
            dispatch.expire_due(hub),
            dispatch.expire_due(hub),
            invitations.decline(hub, actor[late.person_id], late.id),
            return_exceptions=True,
        )
        unexpected = [r for r in results if isinstance(r, Exception)]
        assert not unexpected, unexpected
        assert results[0] + results[1] == len(due)  # each expired once, by one worker
        assert results[2].status == "declined"
        for row in early:
            assert (await Invitation.get(id=row.id)).status is InvitationStatus.EXPIRED
            assert (
                await AuditEntry.filter(action="invitation.expired", entity_id=row.id).count() == 1
            )
        assert len(await pending(task)) == 3
        invited = await everyone_invited(task)
        assert len(invited) == len(set(invited)) == 6


# --- the story over HTTP -------------------------------------------------------------------------


async def test_story_a_declined_place_is_filled_with_one_staff_action(hub, api, w):
    """Staff invite one volunteer to a one-place shift (the one staff action); she declines
    from the API; the next best is invited by the community at once, accepts from the API
    and has a confirmed place."""
    people = await volunteers(w, 3)
    task = await shift(w, 1)
    staff = await login(api, w.staff)
    r = await api.post(
        f"/api/v1/tasks/{task.id}/invitations", json={"person_id": people[0].id}, headers=staff
    )
    assert r.status_code == 201, r.text

    first = await login(api, people[0])
    [item] = (await api.get("/api/v1/me/invitations", headers=first)).json()["items"]
    r = await api.post(
        f"/api/v1/invitations/{item['id']}/decline", json={"reason": "出差"}, headers=first
    )
    assert r.status_code == 200 and r.json()["status"] == "declined", r.text

    second = await login(api, people[1])
    [item] = (await api.get("/api/v1/me/invitations", headers=second)).json()["items"]
    assert item["task_id"] == task.id and item["status"] == "pending"
    assert item["occurrence_start"] == "2026-12-03T10:00:00+08:00"
    r = await api.post(f"/api/v1/invitations/{item['id']}/accept", headers=second)
    assert r.status_code == 200 and r.json()["status"] == "accepted", r.text
    signup = await Signup.get(person_id=people[1].id)
    assert signup.status is SignupStatus.CONFIRMED
    assert (await Occurrence.get(task_id=task.id)).taken == 1
    assert not await Invitation.exists(person_id=people[2].id)


async def test_a_decline_on_the_invitation_page_invites_the_next(hub, w, browser):
    people = await volunteers(w, 2)
    task = await shift(w, 1)
    row = await invite(w, task, people[0])
    await log_in(browser, people[0].person.phone, PASSWORD)
    page = await browser.get(f"/invitations/{row.id}")
    assert f'action="/invitations/{row.id}/decline' in page.text
    r = await browser.post(
        f"/invitations/{row.id}/decline", data={"csrf_token": csrf(page.text), "reason": "出差"}
    )
    assert r.status_code == 303
    assert (await Invitation.get(id=row.id)).status is InvitationStatus.DECLINED
    [nxt] = await pending(task)
    assert nxt.person_id == people[1].id and nxt.invited_by_id is None


# --- a cancelled shift ends its invitations ---------------------------------------------------


@pytest.mark.parametrize("how", ["occurrence", "task"])
async def test_cancelling_a_shift_withdraws_its_invitations_and_tells_each_invitee(w, how):
    task = await shift(w, 3)
    chinese, english, other = await volunteers(w, 3)
    await Person.filter(id=english.id).update(locale="en")
    for person in (chinese, english):
        await invite(w, task, person)
    later = await shift(w, 3, start=at(THURSDAY + timedelta(days=7), 10))
    untouched = await invite(w, later, other)
    if how == "occurrence":
        await tasks.cancel_occurrence(w.hub, w.staff, task.id, task.starts_at)
    else:
        await roster.cancel_task(w.hub, w.staff, task.id, {"reason": "场地维修"})
    rows = await Invitation.filter(occurrence__task_id=task.id).order_by("id")
    assert [r.status for r in rows] == [InvitationStatus.WITHDRAWN] * 2
    assert all(r.answered_at == w.hub.now() for r in rows)
    assert (await Invitation.get(id=untouched.id)).status is InvitationStatus.PENDING
    trail = await AuditEntry.filter(action="invitation.withdrawn").order_by("id")
    reason = "occurrence_cancelled" if how == "occurrence" else "task_cancelled"
    assert [(a.after["person_id"], a.after["reason"]) for a in trail] == [
        (chinese.id, reason),
        (english.id, reason),
    ]
    told = await Notification.filter(event="invitation.withdrawn").order_by("id")
    assert [n.person_id for n in told] == [chinese.id, english.id]
    assert "社区图书室值班" in told[0].subject and "已取消" in told[0].body
    assert "2026-12-03 10:00" in told[0].body
    assert told[1].subject.startswith("Cancelled: 社区图书室值班") and "cancelled" in told[1].body
    # Nobody is invited in their place, and answering now is refused with nothing written.
    assert await everyone_invited(task) == [chinese.id, english.id]
    with pytest.raises(Conflict) as refused:
        await invitations.accept(w.hub, chinese, rows[0].id)
    assert (
        refused.value.code == {"occurrence": "occurrence_cancelled", "task": "task_cancelled"}[how]
    )
    assert not await Signup.filter(person_id=chinese.id).exists()
