"""A task's roster for staff and the team's leader: attendance, check-in codes, a message to
a shift, editing and cancelling a task; the API, the pages and the calendars that follow.

The ``clock`` fixture starts at 2026-12-01T01:00Z, 09:00 on a Tuesday in Shanghai; the
task is on Thursday, December 3, 19:00-21:00.
"""

from __future__ import annotations

import asyncio
import re
from datetime import date, datetime
from zoneinfo import ZoneInfo

import pytest
from icalendar import Calendar

from tests.factories import PASSWORD, World
from tests.pages_support import csrf, log_in
from volunteer_hub.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from volunteer_hub.models import (
    AuditEntry,
    Notification,
    Occurrence,
    Signup,
    SignupStatus,
    Task,
)
from volunteer_hub.services import calendars, roster, tasks, teams

SH = ZoneInfo("Asia/Shanghai")
SENIOR = date(1958, 3, 1)


def at(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 12, day, hour, minute, tzinfo=SH)


class Shift:
    """A community with a team, its leader, four volunteers and a one-off task of two places."""

    async def build(self, hub, *, capacity: int = 2, rrule: str | None = None) -> Shift:
        w = self.w = await World(hub).build()
        self.hub = hub
        self.leader = await w.person("王队长", birth_date=SENIOR)
        self.team = await teams.create_team(
            hub,
            w.admin,
            w.id,
            {"name": "银发巡逻队", "kind": "silver_patrol", "leader_id": self.leader.id},
        )
        self.people = [
            await w.volunteer(name, team=self.team, birth_date=SENIOR)
            for name in ("张大爷", "李阿姨", "赵叔叔", "钱奶奶")
        ]
        data = {
            "title": "银发巡逻",
            "team_id": self.team.id,
            "starts_at": at(3, 19),
            "ends_at": at(3, 21),
            "capacity": capacity,
            "location": "小区东门",
        }
        if rrule:
            data["rrule"] = rrule
        self.task = await tasks.create_task(hub, w.staff, w.id, data)
        return self

    async def sign_up(self, *who: int, start: datetime | None = None) -> list[Signup]:
        body = {"occurrence_start": start} if start else {}
        return [await tasks.sign_up(self.hub, self.people[i], self.task.id, body) for i in who]


@pytest.fixture
async def s(hub) -> Shift:
    return await Shift().build(hub)


async def counts() -> dict[str, int]:
    return {
        m.__name__: await m.all().count()
        for m in (Task, Occurrence, Signup, AuditEntry, Notification)
    }


async def status(signup: Signup) -> SignupStatus:
    return (await Signup.get(id=signup.id)).status


# --- the roster ------------------------------------------------------------------------------


async def test_roster_lists_places_and_the_waiting_list_in_order(s):
    zhang, li, zhao, qian = await s.sign_up(0, 1, 2, 3)
    found = await roster.roster(s.hub, s.w.staff, s.task.id)
    assert found.shift.start == at(3, 19) and found.shift.taken == 2
    assert [e.name for e in found.placed] == ["张大爷", "李阿姨"]
    assert [(e.name, e.position) for e in found.waiting] == [("赵叔叔", 1), ("钱奶奶", 2)]
    assert found.placed[0].phone == s.people[0].person.phone  # staff see the full number
    # Before the check-in window (an hour before the start): no check-in button yet.
    assert not found.placed[0].may_check_in and not found.placed[0].may_mark_no_show
    assert found.may_message and found.may_cancel_shift

    led = await roster.roster(s.hub, s.leader, s.task.id)  # the team's leader, masked phones
    assert [e.name for e in led.placed] == ["张大爷", "李阿姨"]
    assert "****" in led.placed[0].phone

    with pytest.raises(PermissionDenied):  # a volunteer of the team
        await roster.roster(s.hub, s.people[0], s.task.id)
    other = await World(s.hub).build_other(s.w)
    with pytest.raises(NotFound):  # staff of another community
        await roster.roster(s.hub, other.staff, s.task.id)


async def test_the_task_list_shows_the_next_shift_for_staff_and_the_leader(s):
    await s.sign_up(0, 1, 2)
    lines = await roster.task_list(s.hub, s.w.staff, s.w.id)
    [line] = [x for x in lines if x.task.id == s.task.id]
    assert (line.next_shift.taken, line.next_shift.free, line.next_shift.waitlisted) == (2, 0, 1)
    assert [x.task.id for x in await roster.task_list(s.hub, s.leader, s.w.id)] == [s.task.id]
    with pytest.raises(PermissionDenied):
        await roster.task_list(s.hub, s.people[0], s.w.id)


# --- check-in codes, check-in and check-out by the leader ------------------------------------


async def test_check_in_by_the_code_on_the_volunteers_schedule(s):
    zhang, li = await s.sign_up(0, 1)
    codes = await roster.my_check_in_codes(s.hub, s.people[0], [zhang.id, li.id])
    assert list(codes) == [zhang.id]  # only their own
    code = codes[zhang.id]
    assert re.fullmatch(r"\d+-[A-Z2-7]{8}", code)
    s.hub.clock.advance(days=2, hours=9, minutes=30)  # Dec 3, 18:30: the window is open
    before = await counts()
    forged = code[:-1] + ("A" if code[-1] != "A" else "B")
    for bad in (forged, "12", f"{li.id}-AAAAAAAA", "x" * 40):
        with pytest.raises(InvalidInput) as refused:
            await roster.check_in_by_code(s.hub, s.leader, s.task.id, {"code": bad})
        assert refused.value.details[0].field == "code"
    assert await counts() == before

    done = await roster.check_in_by_code(
        s.hub, s.leader, s.task.id, {"code": " " + code.lower() + " "}
    )
    assert done.name == "张大爷" and await status(zhang) is SignupStatus.CHECKED_IN
    with pytest.raises(Conflict):  # twice
        await roster.check_in_by_code(s.hub, s.leader, s.task.id, {"code": code})
    with pytest.raises(PermissionDenied):  # a volunteer cannot use the roster
        await roster.check_in_by_code(s.hub, s.people[1], s.task.id, {"code": code})

    other = await tasks.create_task(
        s.hub,
        s.w.staff,
        s.w.id,
        {"title": "另一件事", "starts_at": at(3, 19), "ends_at": at(3, 20), "capacity": 1},
    )
    li_code = roster.check_in_code(s.hub.settings.secret_key, li.id)
    with pytest.raises(InvalidInput) as elsewhere:
        await roster.check_in_by_code(s.hub, s.w.staff, other.id, {"code": li_code})
    assert elsewhere.value.details[0].msgid == "This code is for another task."
    s.hub.clock.advance(hours=2)
    record = await tasks.check_out(s.hub, s.leader, zhang.id)  # the leader checks out too
    assert record.person_id == s.people[0].id


# --- no-shows and excuses --------------------------------------------------------------------


async def test_no_show_only_after_the_start_and_excuse_with_a_note(s):
    zhang, li, zhao = await s.sign_up(0, 1, 2)
    with pytest.raises(Conflict) as early:
        await roster.mark_no_show(s.hub, s.w.staff, zhang.id)
    assert early.value.code == "shift_not_started"

    before = await counts()
    with pytest.raises(InvalidInput) as no_note:
        await roster.excuse(s.hub, s.w.staff, li.id, {"note": " "})
    assert no_note.value.details[0].field == "note"
    assert await counts() == before

    # Excused before the start: the place goes to the first on the waiting list.
    await roster.excuse(s.hub, s.leader, li.id, {"note": "住院了"})
    assert await status(li) is SignupStatus.EXCUSED
    assert await status(zhao) is SignupStatus.CONFIRMED
    assert (await Occurrence.get(task_id=s.task.id)).taken == 2
    assert (await Signup.get(id=li.id)).attendance_note == "住院了"

    s.hub.clock.advance(days=2, hours=10, minutes=30)  # 19:30, under way
    await roster.mark_no_show(s.hub, s.w.staff, zhang.id)
    assert await status(zhang) is SignupStatus.NO_SHOW
    with pytest.raises(Conflict):
        await roster.mark_no_show(s.hub, s.w.staff, zhang.id)
    # A no-show can still be excused; the place count stays (the shift is under way).
    await roster.excuse(s.hub, s.w.staff, zhang.id, {"note": "家里有急事，事后说明"})
    assert await status(zhang) is SignupStatus.EXCUSED
    assert (await Occurrence.get(task_id=s.task.id)).taken == 2
    with pytest.raises(PermissionDenied):  # the volunteer sees their record, cannot change it
        await roster.mark_no_show(s.hub, s.people[2], zhao.id)
    [missed] = await roster.my_attendance(s.hub, s.people[0])
    assert (missed.status, missed.note) == (SignupStatus.EXCUSED, "家里有急事，事后说明")
    actions = await AuditEntry.filter(entity_type="signup", entity_id=zhang.id).values_list(
        "action", flat=True
    )
    assert "signup.no_show" in actions and "signup.excused" in actions


# --- a message to a shift --------------------------------------------------------------------


async def test_message_goes_to_the_volunteers_with_a_place_only(s):
    await s.sign_up(0, 1, 2)
    s.people[1].person.locale = "en"
    await s.people[1].person.save()
    sent = await roster.message_shift(
        s.hub,
        s.leader,
        s.task.id,
        {"occurrence_start": at(3, 19), "message": "请带上手电筒，东门集合。"},
    )
    assert sent == 2
    told = await Notification.filter(event="occurrence.messaged").order_by("person_id")
    assert sorted(n.person_id for n in told) == sorted(p.id for p in s.people[:2])
    zh = next(n for n in told if n.person_id == s.people[0].id)
    en = next(n for n in told if n.person_id == s.people[1].id)
    assert "请带上手电筒" in zh.body and "王队长" in zh.body and "排班通知" in zh.subject
    assert "About your shift" in en.subject and "请带上手电筒" in en.body
    with pytest.raises(InvalidInput) as nobody:
        await roster.message_shift(
            s.hub, s.w.staff, s.task.id, {"occurrence_start": at(4, 19), "message": "你好"}
        )
    assert nobody.value.details[0].field == "occurrence_start"
    with pytest.raises(PermissionDenied):
        await roster.message_shift(
            s.hub, s.people[0], s.task.id, {"occurrence_start": at(3, 19), "message": "你好"}
        )


# --- editing a task --------------------------------------------------------------------------


async def test_capacity_never_below_the_places_taken_and_more_places_promote(s):
    zhang, li, zhao, qian = await s.sign_up(0, 1, 2, 3)
    before = await counts()
    with pytest.raises(Conflict) as below:
        await roster.update_task(s.hub, s.w.staff, s.task.id, {"capacity": 1, "title": "新名字"})
    assert below.value.code == "capacity_below_taken"
    assert await counts() == before
    assert (await Task.get(id=s.task.id)).title == "银发巡逻"  # nothing half-written

    await roster.update_task(s.hub, s.leader, s.task.id, {"capacity": 3})
    assert await status(zhao) is SignupStatus.CONFIRMED
    assert await status(qian) is SignupStatus.WAITLISTED
    occurrence = await Occurrence.get(task_id=s.task.id)
    assert (occurrence.capacity, occurrence.taken) == (3, 3)
    with pytest.raises(PermissionDenied):
        await roster.update_task(s.hub, s.people[0], s.task.id, {"capacity": 9})


async def test_a_new_time_moves_the_shift_and_tells_its_volunteers(s):
    (zhang,) = await s.sign_up(0)
    await roster.update_task(
        s.hub, s.w.staff, s.task.id, {"starts_at": at(4, 18), "ends_at": at(4, 20)}
    )
    occurrence = await Occurrence.get(task_id=s.task.id)
    assert (occurrence.start, occurrence.end) == (at(4, 18), at(4, 20))
    [told] = await Notification.filter(event="task.updated")
    assert told.person_id == s.people[0].id and "2026-12-04 18:00" in told.body
    # Only the title: nobody is bothered.
    await roster.update_task(s.hub, s.w.staff, s.task.id, {"title": "银发巡逻（东门）"})
    assert await Notification.filter(event="task.updated").count() == 1
    for bad, field in (
        ({"starts_at": at(1, 8)}, "starts_at"),
        ({"ends_at": at(4, 17)}, "ends_at"),
        ({"capacity": 0}, "capacity"),
        ({"title": None}, "title"),
        ({"unknown": 1}, "unknown"),
    ):
        with pytest.raises(InvalidInput) as refused:
            await roster.update_task(s.hub, s.w.staff, s.task.id, bad)
        assert refused.value.details[0].field == field, bad


async def test_the_times_of_a_repeating_task_stay(hub):
    s = await Shift().build(hub, rrule="FREQ=WEEKLY;BYDAY=TU,TH")
    with pytest.raises(InvalidInput) as refused:
        await roster.update_task(hub, s.w.staff, s.task.id, {"starts_at": at(3, 18)})
    assert refused.value.details[0].field == "starts_at"


# --- cancelling a task -----------------------------------------------------------------------


async def test_cancelling_a_task_tells_everyone_and_stops_signups(hub, api):
    s = await Shift().build(hub, rrule="FREQ=WEEKLY;BYDAY=TU,TH")
    zhang, li, zhao = await s.sign_up(0, 1, 2)  # Dec 3: two places, one waiting
    (later,) = await s.sign_up(3, start=at(8, 19))
    with pytest.raises(InvalidInput):
        await roster.cancel_task(hub, s.w.staff, s.task.id, {"reason": ""})
    await roster.cancel_task(hub, s.leader, s.task.id, {"reason": "寒潮预警，暂停巡逻"})
    for signup in (zhang, li, zhao, later):
        assert await status(signup) is SignupStatus.CANCELLED
    told = await Notification.filter(event="task.cancelled")
    assert len(told) == 4 and all("寒潮预警" in n.body for n in told)
    with pytest.raises(Conflict) as closed:
        await tasks.sign_up(hub, s.people[0], s.task.id, {"occurrence_start": at(10, 19)})
    assert closed.value.code == "task_cancelled"
    with pytest.raises(Conflict):
        await roster.cancel_task(hub, s.w.staff, s.task.id, {"reason": "再取消一次"})
    assert not [
        t for t in await tasks.task_board(hub, s.people[0], s.w.id) if t.task.id == s.task.id
    ]

    fresh = await tasks.get_task(s.people[0], s.task.id)
    assert await tasks.open_occurrences(hub, fresh) == []  # nothing to sign up for
    shown = await roster.roster(hub, s.w.staff, s.task.id)
    assert shown.shifts and all(x.cancelled for x in shown.shifts)
    page = await api.get(
        f"/api/v1/tasks/{s.task.id}", headers=await login(api, s.people[0].person.phone)
    )
    assert page.status_code == 200

    # The personal feed shows the shift cancelled; the team feed cancels the series.
    token = await calendars.my_feed_token(hub, s.people[0])
    personal = Calendar.from_ical(await calendars.personal_feed(hub, token))
    [event] = personal.walk("VEVENT")
    assert str(event["STATUS"]) == "CANCELLED"
    team = Calendar.from_ical((await api.get(f"/calendar/teams/{s.team.id}.ics")).content)
    [series] = team.walk("VEVENT")
    assert str(series["STATUS"]) == "CANCELLED"


# --- concurrency -----------------------------------------------------------------------------


async def test_capacity_edits_and_signups_at_once_never_overbook(hub):
    s = await Shift().build(hub, capacity=3)
    crowd = [await s.w.volunteer(f"志愿者{i}", team=s.team) for i in range(12)]

    async def edit(capacity: int):
        try:
            await roster.update_task(hub, s.w.staff, s.task.id, {"capacity": capacity})
        except Conflict:
            return "refused"
        return capacity

    results = await asyncio.gather(
        *(tasks.sign_up(hub, v, s.task.id) for v in crowd[:6]),
        edit(5),
        *(tasks.sign_up(hub, v, s.task.id) for v in crowd[6:]),
        edit(4),
        return_exceptions=True,
    )
    assert not [r for r in results if isinstance(r, BaseException)], results
    occurrence = await Occurrence.get(task_id=s.task.id)
    placed = await Signup.filter(occurrence_id=occurrence.id, status=SignupStatus.CONFIRMED).count()
    waiting = await Signup.filter(
        occurrence_id=occurrence.id, status=SignupStatus.WAITLISTED
    ).count()
    assert placed == occurrence.taken <= occurrence.capacity
    assert placed == occurrence.capacity  # 12 wanted a place: every place is filled
    assert placed + waiting == 12


async def test_cancelling_while_people_sign_up_leaves_nobody_signed_up(hub):
    s = await Shift().build(hub, capacity=3, rrule="FREQ=WEEKLY;BYDAY=TU,TH")
    crowd = [await s.w.volunteer(f"志愿者{i}", team=s.team) for i in range(8)]

    async def join(v, day):
        try:
            await tasks.sign_up(hub, v, s.task.id, {"occurrence_start": at(day, 19)})
        except Conflict as exc:
            return exc.code
        return "in"

    results = await asyncio.gather(
        *(join(v, 3) for v in crowd[:4]),
        roster.cancel_task(hub, s.w.staff, s.task.id, {"reason": "暂停"}),
        *(join(v, 10) for v in crowd[4:]),  # an occurrence nobody had signed up for yet
    )
    assert set(results) - {"in", "task_cancelled"} == {results[4]}
    active = await Signup.filter(
        occurrence__task_id=s.task.id,
        status__in=[SignupStatus.CONFIRMED, SignupStatus.WAITLISTED],
    ).count()
    assert active == 0


# --- the API ---------------------------------------------------------------------------------


async def login(api, phone: str) -> dict:
    r = await api.post("/api/v1/auth/login", json={"phone": phone, "password": PASSWORD})
    assert r.status_code == 200, r.text
    return {"Authorization": f"Bearer {r.json()['token']}"}


async def test_the_api_roster_attendance_edit_and_cancel(s, api):
    zhang, li, zhao = await s.sign_up(0, 1, 2)
    staff = await login(api, s.w.staff.person.phone)
    leader = await login(api, s.leader.person.phone)
    volunteer = await login(api, s.people[0].person.phone)

    r = await api.get(
        f"/api/v1/tasks/{s.task.id}/roster",
        params={"occurrence_start": "2026-12-03T19:00:00+08:00"},
        headers=leader,
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert [e["name"] for e in body["confirmed"]] == ["张大爷", "李阿姨"]
    assert [e["position"] for e in body["waitlist"]] == [1]
    assert body["occurrence"]["start"] == "2026-12-03T19:00:00+08:00"
    assert (
        await api.get(f"/api/v1/tasks/{s.task.id}/roster", headers=volunteer)
    ).status_code == 403

    r = await api.post(f"/api/v1/signups/{li.id}/excuse", json={"note": "出差"}, headers=staff)
    assert r.status_code == 200 and r.json()["status"] == "excused"
    r = await api.post(f"/api/v1/signups/{zhang.id}/no-show", headers=staff)
    assert r.status_code == 409 and r.json()["error"]["code"] == "shift_not_started"
    r = await api.post(f"/api/v1/signups/{zhang.id}/no-show", headers=volunteer)
    assert r.status_code == 403

    r = await api.patch(f"/api/v1/tasks/{s.task.id}", json={"capacity": 1}, headers=staff)
    assert r.status_code == 409 and r.json()["error"]["code"] == "capacity_below_taken"
    r = await api.patch(
        f"/api/v1/tasks/{s.task.id}", json={"capacity": 4, "location": "西门"}, headers=leader
    )
    assert r.status_code == 200 and r.json()["capacity"] == 4 and r.json()["location"] == "西门"
    r = await api.post(
        f"/api/v1/tasks/{s.task.id}/messages",
        json={"occurrence_start": "2026-12-03T19:00:00+08:00", "message": "改到西门集合"},
        headers=leader,
    )
    assert r.status_code == 200 and r.json() == {"recipients": 2}
    r = await api.post(f"/api/v1/tasks/{s.task.id}/cancel", json={}, headers=staff)
    assert r.status_code == 422 and r.json()["error"]["details"][0]["field"] == "reason"
    r = await api.post(f"/api/v1/tasks/{s.task.id}/cancel", json={"reason": "取消"}, headers=staff)
    assert r.status_code == 200
    assert r.json()["cancelled_at"] == "2026-12-01T09:00:00+08:00" and r.json()["occurrences"] == []
    r = await api.post(f"/api/v1/tasks/{s.task.id}/signups", json={}, headers=volunteer)
    assert r.status_code == 409 and r.json()["error"]["code"] == "task_cancelled"


# --- the pages -------------------------------------------------------------------------------


async def page_post(browser, page: str, action: str, data: dict):
    opened = await browser.get(page)
    assert opened.status_code == 200, opened.text
    return await browser.post(action, data={**data, "csrf_token": csrf(opened.text)})


async def test_roster_pages_in_both_languages_and_a_typed_code(s, browser):
    zhang, li, zhao = await s.sign_up(0, 1, 2)
    await log_in(browser, s.people[0].person.phone)
    schedule = await browser.get("/schedule")
    code = roster.check_in_code(s.hub.settings.secret_key, zhang.id)
    assert code in schedule.text and 'src="data:image/svg+xml' in schedule.text

    assert f"/staff/tasks/{s.task.id}/roster" not in (await browser.get(f"/tasks/{s.task.id}")).text
    browser.cookies.clear()
    await log_in(browser, s.leader.person.phone)  # the leader finds the roster on the task
    assert f"/staff/tasks/{s.task.id}/roster" in (await browser.get(f"/tasks/{s.task.id}")).text
    browser.cookies.clear()
    await log_in(browser, s.w.staff.person.phone)
    listing = await browser.get(f"/staff/tasks?community={s.w.id}")
    assert listing.status_code == 200 and "银发巡逻" in listing.text and "名额" in listing.text
    browser.headers["Accept-Language"] = "en"
    listing = await browser.get(f"/staff/tasks?community={s.w.id}")
    assert "2 of 2 places taken, 0 free" in listing.text and "1 on the waiting list" in listing.text

    key = "20261203T110000Z"
    roster_url = f"/staff/tasks/{s.task.id}/roster?start={key}"
    page = await browser.get(roster_url)
    assert page.status_code == 200
    assert "张大爷" in page.text and "赵叔叔" in page.text and "Waiting list" in page.text
    assert " style=" not in page.text and "<script>" not in page.text

    s.hub.clock.advance(days=2, hours=9, minutes=30)  # 18:30: check-in is open
    r = await page_post(
        browser,
        roster_url,
        f"/staff/tasks/{s.task.id}/roster/code",
        {"code": "1-ABC", "start": key},
    )
    assert r.status_code == 422 and "not a valid check-in code" in r.text, r.text[
        r.text.find("<main") :
    ][:3000]
    r = await page_post(
        browser, roster_url, f"/staff/tasks/{s.task.id}/roster/code", {"code": code, "start": key}
    )
    assert r.status_code == 303
    shown = await browser.get(r.headers["location"])
    assert "Checked in: 张大爷" in shown.text
    assert await status(zhang) is SignupStatus.CHECKED_IN

    r = await page_post(
        browser,
        roster_url,
        f"/staff/tasks/{s.task.id}/roster/check-in",
        {"signup_id": str(li.id), "start": key},
    )
    assert r.status_code == 303 and await status(li) is SignupStatus.CHECKED_IN
    r = await page_post(
        browser,
        roster_url,
        f"/staff/tasks/{s.task.id}/roster/excuse",
        {"signup_id": str(zhao.id), "note": ""},
    )
    assert r.status_code == 409 or r.status_code == 422

    r = await page_post(
        browser,
        roster_url,
        f"/staff/tasks/{s.task.id}/roster/message",
        {"start": key, "message": "东门集合"},
    )
    assert r.status_code == 303
    assert await Notification.filter(event="occurrence.messaged").count() == 2
    r = await page_post(
        browser,
        roster_url,
        f"/staff/tasks/{s.task.id}/roster/message",
        {"start": key, "message": ""},
    )
    assert r.status_code == 422 and 'id="e-message"' in r.text
    s.hub.clock.advance(hours=1)  # 19:30
    r = await page_post(
        browser, roster_url, f"/staff/tasks/{s.task.id}/roster/cancel-shift", {"start": key}
    )
    assert r.status_code == 422  # under way: too late to cancel it
    assert not (await Occurrence.get(task_id=s.task.id)).cancelled

    edit = f"/staff/tasks/{s.task.id}/edit"
    r = await page_post(
        browser,
        edit,
        edit,
        {
            "title": "银发巡逻",
            "capacity": "1",
            "date": "2026-12-03",
            "start_time": "19:00",
            "end_time": "21:00",
        },
    )
    assert r.status_code == 409 and "places are taken" in r.text
    r = await page_post(browser, edit, f"/staff/tasks/{s.task.id}/cancel", {"reason": "暂停"})
    assert r.status_code == 303 and (await Task.get(id=s.task.id)).cancelled_at is not None


@pytest.mark.parametrize(
    "path",
    ["/staff/tasks/{id}/roster", "/staff/tasks/{id}/edit"],
)
async def test_task_pages_are_for_staff_and_the_leader(s, browser, path):
    url = path.format(id=s.task.id)
    r = await browser.get(url)
    assert r.status_code == 303 and r.headers["location"].startswith("/login")
    await log_in(browser, s.people[0].person.phone)
    assert (await browser.get(url)).status_code == 403
    browser.cookies.clear()
    await log_in(browser, s.leader.person.phone)
    led = await browser.get(url)
    assert led.status_code == 200 and 'class="subnav"' not in led.text  # no console links
    other = await World(s.hub).build_other(s.w)
    browser.cookies.clear()
    await log_in(browser, other.staff.person.phone)
    assert (await browser.get(url)).status_code == 404
