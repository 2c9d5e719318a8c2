"""Calendar feeds over real HTTP: the secret personal feed, the public team feed, cancelling.

Every feed is parsed twice: with icalendar (which writes it) and with ``ical``, an
independent parser with its own recurrence expansion, so a feed that only icalendar
understands fails. The ``clock`` fixture starts at 2026-12-01 09:00 in Shanghai (a
Tuesday); the silver patrol walks Tuesdays and Thursdays 19:00-21:00 from December 3.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from dateutil.rrule import rrulestr
from ical.calendar import Calendar as IndependentCalendar
from ical.calendar_stream import IcsCalendarStream
from icalendar import Calendar

from tests.factories import PASSWORD, World
from volunteer_hub.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from volunteer_hub.models import AuditEntry, Occurrence, Person, Role, Signup, SignupStatus
from volunteer_hub.services import calendars, people, tasks, teams, wishes

SH = ZoneInfo("Asia/Shanghai")
PATROL_RULE = "FREQ=WEEKLY;BYDAY=TU,TH"
SENIOR = date(1958, 3, 1)
DECEMBER = (datetime(2026, 12, 1, tzinfo=SH), datetime(2027, 1, 1, tzinfo=SH))
PATROL_DAYS = [3, 8, 10, 15, 17, 22, 24, 29, 31]


def at(day: int, hour: int, month: int = 12, year: int = 2026, zone: ZoneInfo = SH) -> datetime:
    return datetime(year, month, day, hour, 0, tzinfo=zone)


async def login(api, phone: str) -> dict:
    r = await api.post("/api/v1/auth/login", json={"phone": phone, "password": PASSWORD})
    assert r.status_code == 200, r.text
    return {"Authorization": f"Bearer {r.json()['token']}"}


def unfolded(text: str) -> str:
    """The feed with RFC 5545 line folding undone, to search it as written."""
    return text.replace("\r\n ", "").replace("\r\n\t", "")


def parse_both(text: str) -> tuple[Calendar, IndependentCalendar]:
    return Calendar.from_ical(text), IcsCalendarStream.calendar_from_ics(text)


def events_by_uid(cal: Calendar) -> dict:
    return {str(e["UID"]): e for e in cal.walk("VEVENT")}


def expanded(cal: IndependentCalendar, uid: str, start=DECEMBER[0], end=DECEMBER[1]) -> list:
    """(start, end) of the instances of one event, expanded by the independent parser."""
    return [
        (item.dtstart, item.dtend)
        for item in cal.timeline_tz(start.tzinfo).overlapping(start, end)
        if item.uid == uid
    ]


class Patrol:
    """Story 3: the silver patrol, its leader, two members and a weekly task."""

    async def build(self, hub) -> Patrol:
        w = self.w = await World(hub).build()
        self.leader = await w.person("王队长", birth_date=SENIOR)
        self.team = await teams.create_team(
            hub,
            w.admin,
            w.community.id,
            {"name": "银发巡逻队", "kind": "silver_patrol", "leader_id": self.leader.id},
        )
        self.zhang = await w.volunteer("张大爷", team=self.team, birth_date=SENIOR)
        self.li = await w.volunteer("李阿姨", team=self.team, birth_date=SENIOR)
        self.task = await tasks.create_task(
            hub,
            w.staff,
            w.community.id,
            {
                "title": "银发巡逻",
                "description": "沿幸福里小区巡逻，注意防火防盗",
                "team_id": self.team.id,
                "starts_at": at(3, 19),
                "ends_at": at(3, 21),
                "capacity": 6,
                "rrule": "RRULE:" + PATROL_RULE,
                "location": "幸福里东门",
            },
        )
        return self


@pytest.fixture
async def patrol(hub) -> Patrol:
    return await Patrol().build(hub)


async def feed_url(api, headers: dict) -> str:
    r = await api.get("/api/v1/me/calendar", headers=headers)
    assert r.status_code == 200, r.text
    return r.json()["url"]


async def fetch(api, url: str, **kw):
    r = await api.get(url.removeprefix("http://testserver"), **kw)
    return r


async def claimed_wish(hub, w: World, volunteer, title: str, needed_by: date | None):
    resident = await w.person("赵奶奶")
    wish = await wishes.post(
        hub,
        w.grid_worker,
        w.community.id,
        {
            "title": title,
            "description": "赵奶奶住3号楼，电话在登记表上",
            "category": "errand",
            "needed_by": needed_by,
            "on_behalf_of": resident.id,
        },
    )
    await wishes.review(hub, w.staff, wish.id, {"decision": "approve"})
    return await wishes.claim(hub, volunteer, wish.id), resident


# --- the secret address -----------------------------------------------------------------


async def test_me_calendar_gives_an_absolute_stable_secret_address(api, patrol):
    headers = await login(api, patrol.zhang.person.phone)
    url = await feed_url(api, headers)
    assert url.startswith("http://testserver/calendar/") and url.endswith(".ics")
    assert url == await feed_url(api, headers)  # stable until revoked
    token = url.rsplit("/", 1)[1].removesuffix(".ics")
    assert patrol.zhang.person.phone not in token
    person_id, version, mac = token.split("-")
    assert (int(person_id), int(version), len(mac)) == (patrol.zhang.id, 0, 32)
    other = await feed_url(api, await login(api, patrol.li.person.phone))
    assert other != url
    assert (await api.get("/api/v1/me/calendar")).status_code == 401
    assert (await api.delete("/api/v1/me/calendar")).status_code == 401


async def test_revoking_makes_the_old_address_not_found(api, hub, patrol):
    headers = await login(api, patrol.zhang.person.phone)
    old = await feed_url(api, headers)
    assert (await fetch(api, old)).status_code == 200
    r = await api.delete("/api/v1/me/calendar", headers=headers)
    assert r.status_code == 204 and r.content == b""
    r = await fetch(api, old)
    assert r.status_code == 404
    assert r.json()["error"]["code"] == "calendar_not_found"
    new = await feed_url(api, headers)
    assert new != old and (await fetch(api, new)).status_code == 200
    assert (await Person.get(id=patrol.zhang.id)).calendar_version == 1
    entry = await AuditEntry.get(action="calendar.revoked", entity_id=patrol.zhang.id)
    assert (entry.entity_type, entry.actor_id) == ("person", patrol.zhang.id)
    assert (entry.before, entry.after) == ({"calendar_version": 0}, {"calendar_version": 1})
    # Revoking again revokes the second address too; the first stays dead.
    assert (await api.delete("/api/v1/me/calendar", headers=headers)).status_code == 204
    assert (await fetch(api, new)).status_code == 404
    assert (await fetch(api, old)).status_code == 404


def _tampered(token: str, other_id: int) -> dict[str, str]:
    person_id, version, mac = token.split("-")
    flipped = ("0" if mac[0] != "0" else "1") + mac[1:]
    return {
        "wrong HMAC": f"{person_id}-{version}-{flipped}",
        "another person's id": f"{other_id}-{version}-{mac}",
        "a future version": f"{person_id}-{int(version) + 1}-{mac}",
        "a leading zero": f"0{person_id}-{version}-{mac}",
        "upper-case HMAC": f"{person_id}-{version}-{mac.upper()}",
        "short HMAC": f"{person_id}-{version}-{mac[:31]}",
        "long HMAC": f"{person_id}-{version}-{mac}0",
        "non-numeric id": f"abc-{version}-{mac}",
        "negative id": f"-{person_id}-{version}-{mac}",
        "int32 overflow": f"{2**31}-{version}-{mac}",
        "huge id": f"{10**30}-{version}-{mac}",
        "too long": "1-0-" + "a" * 5000,
        "no parts": "calendar",
        "empty parts": "--",
        "unicode digits": f"{'١٢'}-{version}-{mac}",
        "percent-encoded NUL": f"{person_id}-{version}-{mac}%00",
        "spaces": f"%20{person_id}-{version}-{mac}",
    }


async def test_malformed_and_forged_tokens_are_not_found(api, hub, patrol):
    headers = await login(api, patrol.zhang.person.phone)
    token = (await feed_url(api, headers)).rsplit("/", 1)[1].removesuffix(".ics")
    for name, bad in _tampered(token, patrol.li.id).items():
        r = await api.get(f"/calendar/{bad}.ics")
        assert r.status_code == 404, (name, r.status_code, r.text[:200])
        assert r.json()["error"]["code"] in {"calendar_not_found", "not_found"}, name
    # The genuine token still works, and the service refuses the same way.
    assert (await api.get(f"/calendar/{token}.ics")).status_code == 200
    for bad in _tampered(token, patrol.li.id).values():
        with pytest.raises(NotFound):
            await calendars.person_for_token(hub, bad)


# --- the personal feed --------------------------------------------------------------------


async def test_personal_feed_has_shifts_and_claimed_wishes_in_local_time(api, hub, patrol):
    w = patrol.w
    zhang = patrol.zhang
    confirmed = await tasks.sign_up(hub, zhang, patrol.task.id)
    later = await tasks.sign_up(hub, zhang, patrol.task.id, {"occurrence_start": at(8, 19)})
    wish, resident = await claimed_wish(hub, w, zhang, "周六帮赵奶奶买菜", date(2026, 12, 5))
    undated, _ = await claimed_wish(hub, w, zhang, "陪同散步", None)
    # A waitlisted signup is not a confirmed shift: it stays out.
    small = await tasks.create_task(
        hub,
        w.staff,
        w.community.id,
        {"title": "社区义诊", "starts_at": at(4, 9), "ends_at": at(4, 11), "capacity": 1},
    )
    await tasks.sign_up(hub, patrol.li, small.id)
    waitlisted = await tasks.sign_up(hub, zhang, small.id)
    assert waitlisted.status is SignupStatus.WAITLISTED

    r = await fetch(api, await feed_url(api, await login(api, zhang.person.phone)))
    assert r.status_code == 200
    assert r.headers["content-type"] == "text/calendar; charset=utf-8"
    assert r.headers["cache-control"] == "private, max-age=300"
    assert r.headers["etag"].startswith('"')
    text = r.text
    cal, other = parse_both(text)

    assert [str(tz["TZID"]) for tz in cal.walk("VTIMEZONE")] == ["Asia/Shanghai"]
    assert [tz.tz_id for tz in other.timezones] == ["Asia/Shanghai"]
    events = events_by_uid(cal)
    assert set(events) == {
        f"signup-{confirmed.id}@volunteer-hub",
        f"signup-{later.id}@volunteer-hub",
        f"wish-{wish.id}@volunteer-hub",
        f"wish-{undated.id}@volunteer-hub",
    }
    shift = events[f"signup-{confirmed.id}@volunteer-hub"]
    assert shift.decoded("DTSTART") == at(3, 19)
    assert shift.decoded("DTSTART").tzinfo.key == "Asia/Shanghai"
    assert shift["DTSTART"].params["TZID"] == "Asia/Shanghai"
    assert shift.decoded("DTEND") == at(3, 21)
    assert str(shift["SUMMARY"]) == "银发巡逻"
    assert str(shift["LOCATION"]) == "幸福里东门"
    assert str(shift["STATUS"]) == "CONFIRMED"
    assert "DTSTAMP" in shift and int(shift["SEQUENCE"]) >= 1
    [alarm] = shift.walk("VALARM")
    assert str(alarm["ACTION"]) == "DISPLAY"
    assert alarm.decoded("TRIGGER") == timedelta(hours=-2)
    assert "银发巡逻" in str(alarm["DESCRIPTION"])
    assert "TRIGGER:-PT2H" in text

    day = events[f"wish-{wish.id}@volunteer-hub"]
    assert day.decoded("DTSTART") == date(2026, 12, 5)
    assert day.decoded("DTEND") == date(2026, 12, 6)
    assert str(day["SUMMARY"]) == "周六帮赵奶奶买菜"
    [reminder] = day.walk("VALARM")
    assert str(reminder["ACTION"]) == "DISPLAY" and "DESCRIPTION" in reminder
    timed = events[f"wish-{undated.id}@volunteer-hub"]
    assert timed.decoded("DTSTART") == datetime(2026, 12, 1, 9, 0, tzinfo=SH)
    assert timed.decoded("DTEND") - timed.decoded("DTSTART") == timedelta(hours=1)

    # The independent parser reads the same events, times and reminders.
    parsed = {e.uid: e for e in other.events}
    assert set(parsed) == set(events)
    other_shift = parsed[f"signup-{confirmed.id}@volunteer-hub"]
    assert other_shift.dtstart == at(3, 19) and other_shift.dtend == at(3, 21)
    assert other_shift.summary == "银发巡逻" and other_shift.location == "幸福里东门"
    assert [(a.action, a.trigger) for a in other_shift.alarm] == [("DISPLAY", timedelta(hours=-2))]
    assert parsed[f"wish-{wish.id}@volunteer-hub"].dtstart == date(2026, 12, 5)

    # Nothing about the resident: not their phone, address or the wish's description.
    flat = unfolded(text)
    for secret in (resident.person.phone, "幸福里3号楼2单元501", "电话在登记表上"):
        assert secret not in flat


async def test_feed_is_stable_and_answers_304_when_unchanged(api, hub, patrol):
    await tasks.sign_up(hub, patrol.zhang, patrol.task.id)
    url = await feed_url(api, await login(api, patrol.zhang.person.phone))
    first, second = await fetch(api, url), await fetch(api, url)
    assert first.content == second.content  # same data, same bytes: UIDs, DTSTAMPs, SEQUENCEs
    etag = first.headers["etag"]
    assert second.headers["etag"] == etag
    r = await fetch(api, url, headers={"If-None-Match": etag})
    assert r.status_code == 304 and r.content == b"" and r.headers["etag"] == etag
    r = await fetch(api, url, headers={"If-None-Match": '"something-else"'})
    assert r.status_code == 200
    team = await api.get(f"/calendar/teams/{patrol.team.id}.ics")
    assert team.headers["cache-control"] == "public, max-age=300"
    again = await api.get(
        f"/calendar/teams/{patrol.team.id}.ics", headers={"If-None-Match": team.headers["etag"]}
    )
    assert again.status_code == 304


async def test_personal_feed_follows_a_cancelled_occurrence(api, hub, patrol):
    zhang = patrol.zhang
    signup = await tasks.sign_up(hub, zhang, patrol.task.id, {"occurrence_start": at(8, 19)})
    url = await feed_url(api, await login(api, zhang.person.phone))
    before = events_by_uid(Calendar.from_ical((await fetch(api, url)).text))
    uid = f"signup-{signup.id}@volunteer-hub"
    assert str(before[uid]["STATUS"]) == "CONFIRMED"

    staff = await login(api, patrol.w.staff.person.phone)
    r = await api.post(
        f"/api/v1/tasks/{patrol.task.id}/occurrences/cancel",
        headers=staff,
        json={"start": "2026-12-08T19:00:00+08:00"},
    )
    assert r.status_code == 200, r.text
    assert "2026-12-08T19:00:00+08:00" not in [o["start"] for o in r.json()["occurrences"]]

    text = (await fetch(api, url)).text
    cal, other = parse_both(text)
    after = events_by_uid(cal)
    assert set(after) == set(before)  # kept, so the phone learns that it is cancelled
    assert str(after[uid]["STATUS"]) == "CANCELLED"
    assert int(after[uid]["SEQUENCE"]) > int(before[uid]["SEQUENCE"])
    assert after[uid].decoded("DTSTAMP") >= before[uid].decoded("DTSTAMP")
    assert not after[uid].walk("VALARM")  # no reminder for a cancelled shift
    assert {e.uid: e.status.value for e in other.events} == {uid: "CANCELLED"}
    assert await status_of(signup) is SignupStatus.CANCELLED

    # A month after the cancellation it leaves the feed.
    hub.clock.advance(days=31)
    assert not events_by_uid(Calendar.from_ical((await fetch(api, url)).text))


async def test_personal_feed_shows_a_wish_cancelled_after_the_claim(api, hub, patrol):
    wish, _ = await claimed_wish(hub, patrol.w, patrol.zhang, "修理门锁", date(2026, 12, 6))
    url = await feed_url(api, await login(api, patrol.zhang.person.phone))
    uid = f"wish-{wish.id}@volunteer-hub"
    before = events_by_uid(Calendar.from_ical((await fetch(api, url)).text))[uid]
    await wishes.cancel(hub, patrol.w.staff, wish.id, {"reason": "居民已自行解决"})
    after = events_by_uid(Calendar.from_ical((await fetch(api, url)).text))[uid]
    assert str(after["STATUS"]) == "CANCELLED"
    assert int(after["SEQUENCE"]) > int(before["SEQUENCE"])
    hub.clock.advance(days=31)  # a month after the cancellation it leaves the feed
    assert uid not in events_by_uid(Calendar.from_ical((await fetch(api, url)).text))


async def status_of(signup: Signup) -> SignupStatus:
    return (await Signup.get(id=signup.id)).status


# --- the team feed ------------------------------------------------------------------------


async def test_team_feed_has_the_patrol_as_one_recurring_event(api, hub, patrol):
    r = await api.get(f"/calendar/teams/{patrol.team.id}.ics")
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "text/calendar; charset=utf-8"
    cal, other = parse_both(r.text)
    assert [str(tz["TZID"]) for tz in cal.walk("VTIMEZONE")] == ["Asia/Shanghai"]
    assert [tz.tz_id for tz in other.timezones] == ["Asia/Shanghai"]
    uid = f"task-{patrol.task.id}@volunteer-hub"
    [event] = cal.walk("VEVENT")
    assert str(event["UID"]) == uid
    assert event["DTSTART"].params["TZID"] == "Asia/Shanghai"
    assert event.decoded("DTSTART") == at(3, 19) and event.decoded("DTEND") == at(3, 21)
    assert event["RRULE"].to_ical().decode() == PATROL_RULE
    assert "EXDATE" not in event and not event.walk("VALARM")
    assert str(cal["X-WR-TIMEZONE"]) == "Asia/Shanghai"
    assert "REFRESH-INTERVAL;VALUE=DURATION:PT1H" in r.text or "REFRESH-INTERVAL:PT1H" in r.text
    assert "X-PUBLISHED-TTL:PT1H" in r.text
    assert str(event["LOCATION"]) == "幸福里东门"

    want = [(at(d, 19), at(d, 21)) for d in PATROL_DAYS]
    assert expanded(other, uid) == want
    # And a third reading: dateutil on the RRULE as icalendar parsed it.
    rule = rrulestr(event["RRULE"].to_ical().decode(), dtstart=event.decoded("DTSTART"))
    assert list(rule.between(*DECEMBER, inc=True)) == [s for s, _ in want]
    # The app's own schedule agrees.
    occurrences = await tasks.occurrences(
        hub, await tasks.get_task(patrol.w.staff, patrol.task.id), end=DECEMBER[1]
    )
    assert [o["start"] for o in occurrences] == [s for s, _ in want]


async def test_a_first_start_outside_the_rule_is_not_an_extra_instance(api, hub, patrol):
    """RFC 5545 leaves a DTSTART outside its RRULE undefined (most phones show it anyway);
    the app never holds that start, so the feed starts at the rule's first occurrence."""
    task = await tasks.create_task(
        hub,
        patrol.w.staff,
        patrol.w.community.id,
        {
            "title": "周一早锻炼",
            "team_id": patrol.team.id,
            "starts_at": at(3, 7),  # a Thursday
            "ends_at": at(3, 8),
            "capacity": 10,
            "rrule": "FREQ=WEEKLY;BYDAY=MO;COUNT=3",
        },
    )
    uid = f"task-{task.id}@volunteer-hub"
    cal, other = parse_both((await api.get(f"/calendar/teams/{patrol.team.id}.ics")).text)
    assert events_by_uid(cal)[uid].decoded("DTSTART") == at(7, 7)
    want = [at(d, 7) for d in (7, 14, 21)]
    assert [s for s, _ in expanded(other, uid)] == want
    occurrences = await tasks.occurrences(
        hub, await tasks.get_task(patrol.w.staff, task.id), end=DECEMBER[1]
    )
    assert [o["start"] for o in occurrences] == want


async def test_cancelled_occurrence_is_an_exdate_and_bumps_the_sequence(api, hub, patrol):
    url = f"/calendar/teams/{patrol.team.id}.ics"
    uid = f"task-{patrol.task.id}@volunteer-hub"
    first = await api.get(url)
    before = events_by_uid(Calendar.from_ical(first.text))[uid]
    await tasks.sign_up(hub, patrol.zhang, patrol.task.id, {"occurrence_start": at(10, 19)})

    leader = await login(api, patrol.leader.person.phone)
    r = await api.post(
        f"/api/v1/tasks/{patrol.task.id}/occurrences/cancel",
        headers=leader,
        json={"start": "2026-12-10T11:00:00Z"},  # any offset names the same occurrence
    )
    assert r.status_code == 200, r.text
    second = await api.get(url)
    assert second.headers["etag"] != first.headers["etag"]
    cal, other = parse_both(second.text)
    after = events_by_uid(cal)[uid]
    assert [d.dt for d in after["EXDATE"].dts] == [at(10, 19)]
    assert after["EXDATE"].params["TZID"] == "Asia/Shanghai"
    assert int(after["SEQUENCE"]) > int(before["SEQUENCE"])
    assert str(after["UID"]) == str(before["UID"])
    days = [s.day for s, _ in expanded(other, uid)]
    assert days == [d for d in PATROL_DAYS if d != 10]
    # Signups change nothing the team feed shows: the same bytes.
    await tasks.sign_up(hub, patrol.li, patrol.task.id, {"occurrence_start": at(15, 19)})
    assert (await api.get(url)).content == second.content


async def test_team_feed_names_nobody(api, hub, patrol):
    await tasks.sign_up(hub, patrol.zhang, patrol.task.id)
    await tasks.sign_up(hub, patrol.li, patrol.task.id)
    await tasks.create_task(
        hub,
        patrol.leader,
        patrol.w.community.id,
        {
            "title": "防诈骗宣传",
            "team_id": patrol.team.id,
            "starts_at": at(5, 10),
            "ends_at": at(5, 12),
            "capacity": 2,
        },
    )
    r = await api.get(f"/calendar/teams/{patrol.team.id}.ics")
    text = unfolded(r.text)
    people_seen = [patrol.zhang, patrol.li, patrol.leader, patrol.w.staff, patrol.w.admin]
    for actor in people_seen:
        person = await Person.get(id=actor.id)
        assert person.name not in text
        assert person.phone not in text
        assert person.address is None or person.address not in text
    assert "银发巡逻" in text and "防诈骗宣传" in text
    assert len(Calendar.from_ical(r.text).walk("VEVENT")) == 2


async def test_one_off_task_is_a_single_event_and_cancelled_in_place(api, hub, patrol):
    one_off = await tasks.create_task(
        hub,
        patrol.w.staff,
        patrol.w.community.id,
        {
            "title": "冬季消防检查",
            "team_id": patrol.team.id,
            "starts_at": at(12, 14),
            "ends_at": at(12, 16),
            "capacity": 4,
        },
    )
    uid = f"task-{one_off.id}@volunteer-hub"
    url = f"/calendar/teams/{patrol.team.id}.ics"
    event = events_by_uid(Calendar.from_ical((await api.get(url)).text))[uid]
    assert "RRULE" not in event and str(event["STATUS"]) == "CONFIRMED"
    assert event.decoded("DTSTART") == at(12, 14)
    await tasks.cancel_occurrence(hub, patrol.w.staff, one_off.id, at(12, 14))
    cal, other = parse_both((await api.get(url)).text)
    after = events_by_uid(cal)[uid]
    assert str(after["STATUS"]) == "CANCELLED"
    assert int(after["SEQUENCE"]) > int(event["SEQUENCE"])
    assert {e.uid: e.status.value for e in other.events}[uid] == "CANCELLED"


async def test_team_feed_keeps_wall_clock_time_across_dst(api, hub):
    w = await World(hub).build()
    berlin = await people.create_community(
        hub, w.admin, {"name": "Kiez am See", "timezone": "Europe/Berlin"}
    )
    team = await teams.create_team(hub, w.admin, berlin.id, {"name": "Reparatur", "kind": "repair"})
    zone = ZoneInfo("Europe/Berlin")
    task = await tasks.create_task(
        hub,
        w.admin,
        berlin.id,
        {
            "title": "Reparaturcafé",
            "team_id": team.id,
            "starts_at": at(16, 19, month=3, year=2027, zone=zone),  # a Tuesday, before DST
            "ends_at": at(16, 21, month=3, year=2027, zone=zone),
            "capacity": 5,
            "rrule": "FREQ=WEEKLY;BYDAY=TU;COUNT=3",
        },
    )
    r = await api.get(f"/calendar/teams/{team.id}.ics")
    cal, other = parse_both(r.text)
    assert [str(tz["TZID"]) for tz in cal.walk("VTIMEZONE")] == ["Europe/Berlin"]
    window = (at(1, 0, month=3, year=2027, zone=zone), at(1, 0, month=5, year=2027, zone=zone))
    got = expanded(other, f"task-{task.id}@volunteer-hub", *window)
    assert [(s.day, s.hour, s.utcoffset()) for s, _ in got] == [
        (16, 19, timedelta(hours=1)),
        (23, 19, timedelta(hours=1)),
        (30, 19, timedelta(hours=2)),  # summer time from March 28
    ]


async def test_unknown_team_is_not_found_with_a_json_error(api):
    for tid in (999999, 2**31, 2**63, 10**30):
        r = await api.get(f"/calendar/teams/{tid}.ics")
        assert r.status_code == 404, (tid, r.text)
        assert r.json()["error"]["code"] in {"team_not_found", "not_found"}
    assert (await api.get("/calendar/teams/abc.ics")).status_code == 404


async def test_chinese_and_special_characters_round_trip(api, hub, patrol):
    title = "夜间巡逻；注意：逗号,分号;反斜杠\\结束"
    description = "第一行\n第二行，含“引号”和 emoji 🙂"
    task = await tasks.create_task(
        hub,
        patrol.w.staff,
        patrol.w.community.id,
        {
            "title": title,
            "description": description,
            "team_id": patrol.team.id,
            "starts_at": at(4, 20),
            "ends_at": at(4, 22),
            "capacity": 3,
            "location": "社区活动中心（二楼）",
        },
    )
    signup = await tasks.sign_up(hub, patrol.zhang, task.id)
    feeds = [
        (await api.get(f"/calendar/teams/{patrol.team.id}.ics")).text,
        (await fetch(api, await feed_url(api, await login(api, patrol.zhang.person.phone)))).text,
    ]
    uids = [f"task-{task.id}@volunteer-hub", f"signup-{signup.id}@volunteer-hub"]
    for text, uid in zip(feeds, uids, strict=True):
        cal, other = parse_both(text)
        event = events_by_uid(cal)[uid]
        assert str(event["SUMMARY"]) == title
        assert str(event["DESCRIPTION"]) == description
        assert str(event["LOCATION"]) == "社区活动中心（二楼）"
        independent = {e.uid: e for e in other.events}[uid]
        assert (independent.summary, independent.description) == (title, description)
        assert independent.location == "社区活动中心（二楼）"
    calendar_names = [str(Calendar.from_ical(t)["X-WR-CALNAME"]) for t in feeds]
    assert calendar_names == ["幸福里社区 · 银发巡逻队", "我的志愿服务"]


# --- cancelling an occurrence ---------------------------------------------------------------


async def test_cancel_occurrence_cancels_signups_and_frees_nothing_for_later(hub, patrol):
    w = patrol.w
    small = await tasks.create_task(
        hub,
        w.staff,
        w.community.id,
        {"title": "助老探访", "starts_at": at(9, 9), "ends_at": at(9, 11), "capacity": 1},
    )
    first = await tasks.sign_up(hub, patrol.zhang, small.id)
    second = await tasks.sign_up(hub, patrol.li, small.id)
    assert second.status is SignupStatus.WAITLISTED
    occurrence = await tasks.cancel_occurrence(hub, w.staff, small.id, at(9, 9))
    assert occurrence.cancelled and occurrence.taken == 0
    assert [await status_of(s) for s in (first, second)] == [SignupStatus.CANCELLED] * 2
    actions = await AuditEntry.filter(entity_type__in=["signup", "occurrence"]).values_list(
        "action", "entity_type", "entity_id"
    )
    assert ("occurrence.cancelled", "occurrence", occurrence.id) in actions
    assert [a for a, t, i in actions if a == "signup.cancelled"] == ["signup.cancelled"] * 2
    with pytest.raises(Conflict) as caught:
        await tasks.sign_up(hub, w.staff, small.id)
    assert caught.value.code in {"occurrence_cancelled", "no_upcoming_occurrence"}
    with pytest.raises(Conflict) as caught:
        await tasks.cancel_occurrence(hub, w.staff, small.id, at(9, 9))
    assert caught.value.code == "occurrence_cancelled"


async def test_cancelling_a_recurring_occurrence_nobody_signed_up_for_makes_its_row(hub, patrol):
    assert not await Occurrence.exists(task_id=patrol.task.id)
    await tasks.cancel_occurrence(hub, patrol.w.staff, patrol.task.id, at(15, 19))
    row = await Occurrence.get(task_id=patrol.task.id)
    assert row.cancelled and row.end - row.start == timedelta(hours=2)
    # The next signup without a date skips nothing it should not, and never lands on it.
    signup = await tasks.sign_up(
        hub, patrol.zhang, patrol.task.id, {"occurrence_start": at(17, 19)}
    )
    assert signup.status is SignupStatus.CONFIRMED
    with pytest.raises(Conflict):
        await tasks.sign_up(hub, patrol.li, patrol.task.id, {"occurrence_start": at(15, 19)})


async def test_cancel_occurrence_refusals(api, hub, clock, patrol):
    w = patrol.w
    grid_worker = await w.person("网格员二", roles=[Role.GRID_WORKER])
    count = await AuditEntry.all().count()
    with pytest.raises(PermissionDenied):
        await tasks.cancel_occurrence(hub, patrol.zhang, patrol.task.id, at(8, 19))
    with pytest.raises(PermissionDenied):
        await tasks.cancel_occurrence(hub, grid_worker, patrol.task.id, at(8, 19))
    with pytest.raises(InvalidInput) as caught:
        await tasks.cancel_occurrence(hub, w.staff, patrol.task.id, at(9, 19))  # a Wednesday
    assert caught.value.fields == ["start"]
    with pytest.raises(InvalidInput):
        await tasks.cancel_occurrence(hub, w.staff, patrol.task.id, datetime(2026, 12, 8, 19))
    clock.advance(days=7, hours=11)  # December 8, 20:00: that walk has started
    with pytest.raises(InvalidInput) as caught:
        await tasks.cancel_occurrence(hub, w.staff, patrol.task.id, at(8, 19))
    assert caught.value.details[0].msgid == "This occurrence has already started."
    assert await AuditEntry.all().count() == count
    assert not await Occurrence.exists(task_id=patrol.task.id)

    # Over HTTP: documented answers, never a server error.
    path = f"/api/v1/tasks/{patrol.task.id}/occurrences/cancel"
    zhang = await login(api, patrol.zhang.person.phone)
    staff = await login(api, w.staff.person.phone)
    body = {"start": "2026-12-10T19:00:00+08:00"}
    assert (await api.post(path, json=body)).status_code == 401
    assert (await api.post(path, headers=zhang, json=body)).status_code == 403
    r = await api.post(path, headers=staff, json={"start": "2026-12-10T19:00:00"})
    assert r.status_code == 422
    assert (await api.post(path, headers=staff, json={})).status_code == 422
    for edge in ("0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-12:00"):
        r = await api.post(path, headers=staff, json={"start": edge})
        assert r.status_code == 422, (edge, r.text)
        assert r.json()["error"]["details"][0]["field"] == "start"
    for bad in (999999, 2**31, 2**63):
        r = await api.post(f"/api/v1/tasks/{bad}/occurrences/cancel", headers=staff, json=body)
        assert r.status_code == 404, (bad, r.text)
    assert (await api.post(path, headers=staff, json=body)).status_code == 200
    r = await api.post(path, headers=staff, json=body)
    assert r.status_code == 409 and r.json()["error"]["code"] == "occurrence_cancelled"


# --- the contract -------------------------------------------------------------------------


async def test_openapi_documents_the_calendar_routes(api):
    doc = (await api.get("/openapi.json")).json()
    paths = doc["paths"]
    assert {"get", "delete"} <= set(paths["/api/v1/me/calendar"])
    assert "post" in paths["/api/v1/tasks/{id}/occurrences/cancel"]
    for path in ("/calendar/{token}.ics", "/calendar/teams/{tid}.ics"):
        responses = paths[path]["get"]["responses"]
        assert "text/calendar" in responses["200"]["content"]
        assert responses["404"]["content"]["application/json"]["schema"]["$ref"].endswith(
            "/ErrorResponse"
        )
