"""Invitations (issue 5, and issue 4's invite button): staff ask a volunteer to claim a wish,
or a person to come to a shift; the e-mail carries a calendar file.

Story 1: staff see three proposed volunteers for Ms. Wang's wish and invite one; the volunteer
gets the invitation in the inbox, by SMS (webhook) and by e-mail with an ``invitation.ics``
that the calendar feeds agree with. Everything runs for real: the HTTP API over ASGI, the
database (SQLite, and PostgreSQL with VHUB_TEST_POSTGRES_URL), the worker with apprise, an
SMTP server and a webhook receiver. Each calendar file is parsed twice: with icalendar and
with ``ical``, an independent parser. The clock starts on Tuesday 2026-12-01 at 09:00 in
Shanghai.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from ical.calendar_stream import IcsCalendarStream
from icalendar import Calendar

from tests.factories import PASSWORD, World
from tests.sinks import Received, SmtpSink, WebhookSink
from volunteer_hub import hookimpl
from volunteer_hub.errors import Conflict, RuleViolation, Violation
from volunteer_hub.models import AuditEntry, Delivery, Notification, Occurrence
from volunteer_hub.notifications.senders import AppriseNotifier
from volunteer_hub.notifications.worker import Worker
from volunteer_hub.services import (
    calendars,
    channels,
    invitations,
    matching,
    tasks,
    teams,
    wishes,
)
from volunteer_hub.testing import confirmed_address

SH = ZoneInfo("Asia/Shanghai")
THURSDAY = date(2026, 12, 3)
SENIOR = date(1958, 3, 1)
SENDER = "noreply@vhub.test"


# --- the world -------------------------------------------------------------------------------


async def login(api, actor) -> dict[str, str]:
    r = await api.post(
        "/api/v1/auth/login", json={"phone": actor.person.phone, "password": PASSWORD}
    )
    assert r.status_code == 200, r.text
    return {"Authorization": f"Bearer {r.json()['token']}"}


async def with_channels(w: World, smtp: SmtpSink, webhook: WebhookSink) -> None:
    await channels.configure(
        w.hub,
        w.staff,
        w.community.id,
        {"code": "webhook", "name": "短信网关", "settings": {"url": webhook.url}},
    )
    await channels.configure(
        w.hub,
        w.staff,
        w.community.id,
        {
            "code": "email",
            "name": "社区邮箱",
            "settings": {"host": "127.0.0.1", "port": smtp.port, "sender": SENDER},
        },
    )


async def reachable(w: World, actor, n: int):
    """Give ``actor`` an e-mail address and a phone for the SMS gateway."""
    await confirmed_address(w.hub, actor, "email", f"v{n}@example.com")
    await confirmed_address(w.hub, actor, "webhook", f"1390000000{n}")
    return actor


class Story:
    """Ms. Wang, 82, needs someone to walk her to hospital on Thursday; her grid worker
    posts the wish, staff approve it; three elderly-care volunteers could go."""

    async def build(self, hub) -> Story:
        w = self.w = await World(hub).build()
        self.care = await w.team("elderly_care", "助老服务队")
        self.volunteers = [
            await w.volunteer(name, team=self.care) for name in ("李志愿", "张志愿", "赵志愿")
        ]
        self.wang = await w.person("王奶奶", birth_date=date(1944, 5, 1))
        self.wish = await wishes.post(
            hub,
            w.grid_worker,
            w.community.id,
            {
                "title": "陪同去医院复查",
                "description": "周四上午去市一医院复查，需要有人陪同",
                "category": "elderly_care",
                "needed_by": THURSDAY.isoformat(),
                "on_behalf_of": self.wang.id,
            },
        )
        self.wish = await wishes.review(hub, w.staff, self.wish.id, {"decision": "approve"})
        return self


@pytest.fixture
async def story(hub) -> Story:
    return await Story().build(hub)


def calendar_file(received: Received) -> str:
    """The one attachment of an e-mail: an invitation.ics of type text/calendar."""
    [(content_type, name, content)] = received.attachments
    assert (content_type, name) == ("text/calendar", "invitation.ics")
    return content.decode("utf-8")


def parse_both(text: str):
    return Calendar.from_ical(text), IcsCalendarStream.calendar_from_ics(text)


def the_event(cal: Calendar):
    [event] = cal.walk("VEVENT")
    return event


def events_by_uid(feed: bytes) -> dict:
    return {str(e["UID"]): e for e in Calendar.from_ical(feed).walk("VEVENT")}


async def counts() -> tuple[int, int, int, int]:
    return (
        await Notification.all().count(),
        await AuditEntry.all().count(),
        await Delivery.all().count(),
        await Occurrence.all().count(),
    )


# --- story 1: invite a candidate to claim Ms. Wang's wish ------------------------------------


async def test_invited_candidate_hears_by_inbox_sms_and_email_with_a_calendar_file(
    hub, api, story: Story
):
    w, wish = story.w, story.wish
    with SmtpSink() as smtp, WebhookSink() as webhook:
        await with_channels(w, smtp, webhook)
        for n, volunteer in enumerate(story.volunteers):
            await reachable(w, volunteer, n)
        staff = await login(api, w.staff)

        r = await api.get(f"/api/v1/wishes/{wish.id}/candidates?limit=3", headers=staff)
        assert r.status_code == 200, r.text
        proposed = r.json()["items"]
        assert {c["person_id"] for c in proposed} == {v.id for v in story.volunteers}
        chosen = next(v for v in story.volunteers if v.id == proposed[0]["person_id"])

        r = await api.post(
            f"/api/v1/wishes/{wish.id}/invitations",
            json={"person_id": chosen.id},
            headers=staff,
        )
        assert r.status_code == 201, r.text
        assert r.json() == {"wish_id": wish.id, "person_id": chosen.id}

        # The inbox, at once (written in the invitation's transaction).
        r = await api.get("/api/v1/me/notifications", headers=await login(api, chosen))
        [note] = [n for n in r.json()["items"] if n["event"] == "wish.invited"]
        assert "陪同去医院复查" in note["subject"]
        text = note["subject"] + note["body"]
        assert "社区干部" in text and "2026-12-03" in text and "第一网格" in text
        stored = await Notification.get(person_id=chosen.id, event="wish.invited")
        for private in (story.wang.person.phone, story.wang.person.address, "王奶奶"):
            assert private not in stored.body + (stored.html or "") + stored.subject
        others = [v.id for v in story.volunteers if v.id != chosen.id]
        assert not await Notification.filter(person_id__in=others, event="wish.invited").exists()

        report = await Worker(hub, AppriseNotifier()).run_once()
        assert (report.sent, report.failed) == (2, 0), report.errors

        # The SMS gateway gets the text and no file.
        [sms] = webhook.accepted.values()
        assert sms.to == f"1390000000{story.volunteers.index(chosen)}"
        assert "陪同去医院复查" in sms.subject and sms.raw["attachments"] == []

        # The e-mail carries an iTIP REQUEST for the wish's day.
        [mail] = smtp.accepted.values()
        assert mail.to == f"v{story.volunteers.index(chosen)}@example.com"
        text = calendar_file(mail)
        assert story.wang.person.phone not in text and story.wang.person.address not in text
        cal, independent = parse_both(text)
        assert str(cal["METHOD"]) == "REQUEST" and independent.method == "REQUEST"
        event = the_event(cal)
        uid = f"wish-{wish.id}@volunteer-hub"
        assert str(event["UID"]) == uid
        assert event.decoded("DTSTART") == THURSDAY
        assert event.decoded("DTEND") == THURSDAY + timedelta(days=1)
        assert str(event["STATUS"]) == "TENTATIVE"  # until someone claims it
        assert str(event["ORGANIZER"]) == f"mailto:{SENDER}"
        assert event["ORGANIZER"].params["CN"] == w.community.name
        attendee = event["ATTENDEE"]
        assert str(attendee) == f"mailto:{mail.to}" and attendee.params["CN"] == chosen.person.name
        assert attendee.params["RSVP"] == "FALSE"
        [alarm] = event.walk("VALARM")
        assert str(alarm["ACTION"]) == "DISPLAY"
        assert alarm.decoded("TRIGGER") == calendars.DAY_REMINDER
        [other] = independent.events
        assert other.uid == uid and other.dtstart == THURSDAY and len(other.alarm) == 1
        audit = await AuditEntry.filter(entity_type="wish", entity_id=wish.id).count()
        assert event.decoded("SEQUENCE") == audit  # as the feed counts: posted, approved, invited

        # The volunteer claims: their feed shows the same event, a newer version of it.
        await wishes.claim(hub, chosen, wish.id)
        feed = await calendars.personal_feed(hub, await calendars.my_feed_token(hub, chosen))
        shown = events_by_uid(feed)[uid]
        assert shown.decoded("DTSTART") == THURSDAY
        assert shown.decoded("SEQUENCE") > event.decoded("SEQUENCE")
        assert str(shown["STATUS"]) == "CONFIRMED"


async def test_inviting_twice_is_a_conflict_even_at_the_same_moment(hub, story: Story):
    w, wish = story.w, story.wish
    volunteer = story.volunteers[0]
    results = await asyncio.gather(
        *(
            invitations.invite_to_wish(hub, w.staff, wish.id, {"person_id": volunteer.id})
            for _ in range(4)
        ),
        return_exceptions=True,
    )
    conflicts = [r for r in results if isinstance(r, Conflict)]
    assert len(conflicts) == 3 and {c.code for c in conflicts} == {"already_invited"}
    assert await Notification.filter(person_id=volunteer.id, event="wish.invited").count() == 1
    assert await invitations.invited_people(wish.id) == {volunteer.id}
    # Another volunteer may still be invited.
    await invitations.invite_to_wish(hub, w.staff, wish.id, {"person_id": story.volunteers[1].id})
    assert await invitations.invited_people(wish.id) == {v.id for v in story.volunteers[:2]}


async def test_wish_invitation_refusals_write_nothing(hub, api, story: Story):
    w, wish = story.w, story.wish
    other = await World(hub).build_other(w)
    outsider = await other.volunteer("和平里志愿者", team=await other.team("elderly_care"))
    repairer = await w.volunteer("修理工", team=await w.team("repair"))
    submitted = await wishes.post(
        hub,
        story.wang,
        w.community.id,
        {"title": "想学用手机", "description": "x", "category": "errand"},
    )
    claimed = await wishes.post(
        hub,
        story.wang,
        w.community.id,
        {"title": "帮忙买药", "description": "x", "category": "errand"},
    )
    await wishes.review(hub, w.staff, claimed.id, {"decision": "approve"})
    await wishes.claim(hub, story.volunteers[1], claimed.id)
    await invitations.invite_to_wish(hub, w.staff, wish.id, {"person_id": story.volunteers[0].id})

    staff = await login(api, w.staff)
    volunteer = await login(api, story.volunteers[2])
    before = await counts()
    cases = [
        # who asks, which wish, whom: status, code, the rule or field named
        ({}, wish.id, story.volunteers[1].id, 401, "not_authenticated", None),
        (volunteer, wish.id, story.volunteers[1].id, 403, "forbidden", None),
        (await login(api, other.staff), wish.id, story.volunteers[1].id, 404, None, None),
        (staff, 999999, story.volunteers[1].id, 404, "wish_not_found", None),
        (staff, wish.id, 999999, 422, "validation_error", "person_id"),
        (staff, wish.id, outsider.id, 422, "validation_error", "person_id"),
        (staff, wish.id, story.wang.id, 422, "not_eligible", "own_wish"),
        (staff, wish.id, w.grid_worker.id, 422, "not_eligible", "not_a_volunteer"),
        (staff, wish.id, repairer.id, 422, "not_eligible", "not_in_serving_team"),
        (staff, submitted.id, story.volunteers[1].id, 409, "invalid_state", None),
        (staff, claimed.id, story.volunteers[2].id, 409, "invalid_state", None),
        (staff, wish.id, story.volunteers[0].id, 409, "already_invited", None),
    ]
    for headers, wish_id, person_id, status, code, named in cases:
        r = await api.post(
            f"/api/v1/wishes/{wish_id}/invitations", json={"person_id": person_id}, headers=headers
        )
        where = f"{wish_id}/{person_id}: {r.text}"
        assert r.status_code == status, where
        error = r.json()["error"]
        if code is not None:
            assert error["code"] == code, where
        if named is not None:
            assert named in {d.get("field") or d.get("rule") for d in error["details"]}, where
    r = await api.post(f"/api/v1/wishes/{wish.id}/invitations", json={}, headers=staff)
    assert r.status_code == 422 and r.json()["error"]["details"][0]["field"] == "person_id"
    r = await api.post(
        f"/api/v1/wishes/{wish.id}/invitations",
        json={"person_id": story.volunteers[1].id},
        headers={**staff, "Accept-Language": "zh-CN"},
    )
    assert r.status_code == 201  # after all the refusals, the right request still works
    after = await counts()
    assert (after[0] - before[0], after[1] - before[1]) == (1, 1)


async def test_restricted_wishes_invite_only_qualified_members(hub, story: Story):
    w = story.w
    team = await w.team("psychology")
    counsellor = await w.person("心理咨询师")
    membership = await teams.join_team(
        hub, counsellor, team.id, {"qualifications": [{"kind": "counsellor"}]}
    )
    await teams.approve_membership(hub, w.staff, membership.id)
    unqualified = await w.volunteer("热心人", team=team)
    parent = await w.person("家长")
    wish = await wishes.post(
        hub,
        parent,
        w.community.id,
        {"title": "孩子学习压力大", "description": "需要心理疏导", "category": "psychology"},
    )
    await wishes.review(hub, w.staff, wish.id, {"decision": "approve"})
    ranked = await matching.candidates(hub, w.staff, wish.id)
    assert [c.person_id for c in ranked] == [counsellor.id]
    with pytest.raises(RuleViolation) as refused:
        await invitations.invite_to_wish(hub, w.staff, wish.id, {"person_id": unqualified.id})
    assert refused.value.code == "not_eligible" and refused.value.rules == ["not_qualified"]
    await invitations.invite_to_wish(hub, w.staff, wish.id, {"person_id": counsellor.id})
    [note] = await Notification.filter(person_id=counsellor.id, event="wish.invited")
    assert "孩子学习压力大" in note.subject and "需要心理疏导" not in note.body


async def test_an_invitation_that_no_longer_stands_goes_without_a_calendar_file(
    hub, clock, story: Story
):
    """Sent after quiet hours, when someone else has claimed the wish meanwhile."""
    w, wish = story.w, story.wish
    with SmtpSink() as smtp, WebhookSink() as webhook:
        await with_channels(w, smtp, webhook)
        invited = await reachable(w, story.volunteers[0], 0)
        clock.now = datetime(2026, 12, 1, 15, 30, tzinfo=UTC)  # 23:30 in Shanghai
        await invitations.invite_to_wish(hub, w.staff, wish.id, {"person_id": invited.id})
        worker = Worker(hub, AppriseNotifier())
        assert (await worker.run_once()).sent == 0  # held until 07:00
        await wishes.claim(hub, story.volunteers[1], wish.id)
        clock.now = datetime(2026, 12, 1, 23, 0, tzinfo=UTC)
        # The invitation, and the word that it is withdrawn (someone else took it): each by
        # SMS and by e-mail.
        assert (await worker.run_once()).sent == 4
        [mail] = [m for m in smtp.accepted.values() if m.subject.startswith("邀请您")]
        assert mail.attachments == [] and "陪同去医院复查" in mail.subject
        [withdrawn] = [m for m in smtp.accepted.values() if m is not mail]
        assert "已经有其他志愿者接下了" in withdrawn.body and withdrawn.attachments == []


async def test_english_invitation_and_a_file_without_a_sender_is_published(hub, story: Story):
    w, wish = story.w, story.wish
    volunteer = story.volunteers[0]
    volunteer.person.locale = "en"
    await volunteer.person.save()
    await invitations.invite_to_wish(hub, w.staff, wish.id, {"person_id": volunteer.id})
    [note] = await Notification.filter(person_id=volunteer.id, event="wish.invited")
    assert note.subject == "Could you help with a wish? 陪同去医院复查"
    assert note.body.startswith("Hello 李志愿") and "When: 2026-12-03" in note.body
    content = await calendars.wish_invitation(wish, locale="en")
    cal, independent = parse_both(content.decode())
    assert str(cal["METHOD"]) == "PUBLISH" and "ORGANIZER" not in the_event(cal)
    assert "invited to claim" in str(the_event(cal)["DESCRIPTION"])
    no_date = await wishes.post(
        hub,
        story.wang,
        w.community.id,
        {"title": "聊聊天", "description": "x", "category": "errand"},
    )
    assert await calendars.wish_invitation(no_date, locale="zh-CN") is None


# --- shifts: invite a person to an occurrence of a task ------------------------------------------


class Patrol:
    """Story 3: the silver patrol walks Tuesdays and Thursdays 19:00-21:00 from December 3."""

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
                "starts_at": datetime(2026, 12, 3, 19, tzinfo=SH),
                "ends_at": datetime(2026, 12, 3, 21, tzinfo=SH),
                "capacity": 6,
                "rrule": "FREQ=WEEKLY;BYDAY=TU,TH",
                "location": "幸福里东门",
            },
        )
        return self


@pytest.fixture
async def patrol(hub) -> Patrol:
    return await Patrol().build(hub)


async def test_team_leader_invites_to_the_next_patrol_with_a_calendar_request(
    hub, api, patrol: Patrol
):
    w, task = patrol.w, patrol.task
    with SmtpSink() as smtp, WebhookSink() as webhook:
        await with_channels(w, smtp, webhook)
        await reachable(w, patrol.zhang, 1)
        leader = await login(api, patrol.leader)
        r = await api.post(
            f"/api/v1/tasks/{task.id}/invitations",
            json={"person_id": patrol.zhang.id},
            headers=leader,
        )
        assert r.status_code == 201, r.text
        assert r.json() == {
            "task_id": task.id,
            "person_id": patrol.zhang.id,
            "occurrence_start": "2026-12-03T19:00:00+08:00",
        }
        [note] = await Notification.filter(person_id=patrol.zhang.id, event="task.invited")
        assert "银发巡逻" in note.subject and "王队长" in note.body
        assert "2026-12-03 19:00–21:00" in note.body and "幸福里东门" in note.body

        report = await Worker(hub, AppriseNotifier()).run_once()
        assert (report.sent, report.failed) == (2, 0), report.errors
        [sms] = webhook.accepted.values()
        assert sms.raw["attachments"] == []
        [mail] = smtp.accepted.values()
        text = calendar_file(mail)
        cal, independent = parse_both(text)
        assert str(cal["METHOD"]) == "REQUEST" and independent.method == "REQUEST"
        [zone] = cal.walk("VTIMEZONE")
        assert str(zone["TZID"]) == "Asia/Shanghai"
        event = the_event(cal)
        uid = f"task-{task.id}@volunteer-hub"
        assert str(event["UID"]) == uid
        thursday = datetime(2026, 12, 3, 19, tzinfo=SH)
        for name, moment in (
            ("DTSTART", thursday),
            ("DTEND", thursday + timedelta(hours=2)),
            ("RECURRENCE-ID", thursday),
        ):
            assert event[name].params["TZID"] == "Asia/Shanghai", name
            assert event.decoded(name) == moment and str(event.decoded(name).tzinfo) == str(SH)
        assert "RRULE" not in event and "EXDATE" not in event
        assert str(event["LOCATION"]) == "幸福里东门"
        [alarm] = event.walk("VALARM")
        assert alarm.decoded("TRIGGER") == timedelta(hours=-2)
        [other] = independent.events
        assert other.uid == uid and other.dtstart == thursday and other.recurrence_id
        assert other.dtstart.utcoffset() == timedelta(hours=8) and len(other.alarm) == 1

        # The team feed calls the patrol by the same UID, at the same version.
        shown = events_by_uid(await calendars.team_feed(hub, patrol.team.id))[uid]
        assert shown.decoded("SEQUENCE") == event.decoded("SEQUENCE")
        assert shown.decoded("DTSTART") == thursday and "RRULE" in shown

        # He signs up: his feed shows the shift at the invitation's time (as his signup).
        await tasks.sign_up(hub, patrol.zhang, task.id, {})
        feed = await calendars.personal_feed(hub, await calendars.my_feed_token(hub, patrol.zhang))
        [shift] = events_by_uid(feed).values()
        assert shift.decoded("DTSTART") == thursday and str(shift["UID"]).startswith("signup-")


async def test_staff_invite_a_resident_to_a_one_off_task_at_a_given_time(hub, api):
    w = await World(hub).build()
    with SmtpSink() as smtp, WebhookSink() as webhook:
        await with_channels(w, smtp, webhook)
        resident = await reachable(w, await w.person("孙阿姨"), 2)
        task = await tasks.create_task(
            hub,
            w.staff,
            w.community.id,
            {
                "title": "入户反诈宣传",
                "starts_at": "2026-12-05T09:00:00+08:00",
                "ends_at": "2026-12-05T11:00:00+08:00",
                "capacity": 4,
            },
        )
        r = await api.post(
            f"/api/v1/tasks/{task.id}/invitations",
            json={"person_id": resident.id, "occurrence_start": "2026-12-05T01:00:00Z"},
            headers=await login(api, w.staff),
        )
        assert r.status_code == 201, r.text
        assert r.json()["occurrence_start"] == "2026-12-05T09:00:00+08:00"
        assert (await Worker(hub, AppriseNotifier()).run_once()).sent == 2
        [mail] = smtp.accepted.values()
        event = the_event(parse_both(calendar_file(mail))[0])
        assert str(event["UID"]) == f"task-{task.id}@volunteer-hub"
        assert "RECURRENCE-ID" not in event
        assert event.decoded("DTSTART") == datetime(2026, 12, 5, 9, tzinfo=SH)
        assert event["DTSTART"].params["TZID"] == "Asia/Shanghai"
        # where: the community, as the task names no place
        [note] = await Notification.filter(person_id=resident.id)
        assert f"地点：{w.community.name}" in note.body


async def test_task_invitation_refusals_write_nothing(hub, api, patrol: Patrol):
    w, task = patrol.w, patrol.task
    other = await World(hub).build_other(w)
    stranger = await other.person("和平里居民")
    neighbour = await w.person("邻居", birth_date=SENIOR)  # of the community, not of the team
    await tasks.sign_up(hub, patrol.li, task.id, {})
    await tasks.cancel_occurrence(hub, w.staff, task.id, datetime(2026, 12, 8, 19, tzinfo=SH))
    await invitations.invite_to_task(hub, w.staff, task.id, {"person_id": patrol.zhang.id})

    staff = await login(api, w.staff)
    member = await login(api, patrol.li)
    before = await counts()
    thursday = "2026-12-03T19:00:00+08:00"
    cases = [
        ({}, task.id, {"person_id": patrol.zhang.id}, 401, "not_authenticated", None),
        (member, task.id, {"person_id": patrol.zhang.id}, 403, "forbidden", None),
        (await login(api, other.staff), task.id, {"person_id": patrol.zhang.id}, 404, None, None),
        (staff, 999999, {"person_id": patrol.zhang.id}, 404, "task_not_found", None),
        (staff, task.id, {"person_id": 999999}, 422, "validation_error", "person_id"),
        (staff, task.id, {"person_id": stranger.id}, 422, "validation_error", "person_id"),
        (staff, task.id, {"person_id": neighbour.id}, 422, "not_eligible", "not_team_member"),
        (
            staff,
            task.id,
            {"person_id": patrol.zhang.id, "occurrence_start": "2026-12-04T19:00:00+08:00"},
            422,
            "validation_error",
            "occurrence_start",
        ),
        (
            staff,
            task.id,
            {"person_id": patrol.zhang.id, "occurrence_start": "2026-12-08T19:00:00+08:00"},
            409,
            "occurrence_cancelled",
            None,
        ),
        (
            staff,
            task.id,
            {"person_id": patrol.li.id, "occurrence_start": thursday},
            409,
            "already_signed_up",
            None,
        ),
        (staff, task.id, {"person_id": patrol.zhang.id}, 409, "already_invited", None),
    ]
    for headers, task_id, body, status, code, named in cases:
        r = await api.post(f"/api/v1/tasks/{task_id}/invitations", json=body, headers=headers)
        where = f"{task_id} {body}: {r.text}"
        assert r.status_code == status, where
        error = r.json()["error"]
        if code is not None:
            assert error["code"] == code, where
        if named is not None:
            assert named in {d.get("field") or d.get("rule") for d in error["details"]}, where
    assert await counts() == before
    # The next Thursday is another occurrence: he may be invited to it.
    r = await api.post(
        f"/api/v1/tasks/{task.id}/invitations",
        json={"person_id": patrol.zhang.id, "occurrence_start": "2026-12-10T19:00:00+08:00"},
        headers=staff,
    )
    assert r.status_code == 201, r.text


async def test_registration_rules_refuse_an_invitation_as_they_would_a_signup(hub, patrol):
    class SeniorsOnly:
        @hookimpl
        def vh_check_signup(self, person, signup):
            if signup.team_kind == "silver_patrol" and person.name == "张大爷":
                return [Violation("no_night_walks", {"zh-CN": "医嘱不宜夜间巡逻", "en": "No"})]
            return None

    plugin = SeniorsOnly()
    hub.plugins.register(plugin, "seniors-only")
    try:
        before = await counts()
        with pytest.raises(RuleViolation) as refused:
            await invitations.invite_to_task(
                hub, patrol.w.staff, patrol.task.id, {"person_id": patrol.zhang.id}
            )
        assert refused.value.code == "registration_refused"
        assert refused.value.rules == ["no_night_walks"]
        assert await counts() == before
    finally:
        hub.plugins.unregister("seniors-only")
