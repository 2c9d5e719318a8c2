"""The volunteer's pages: wishes to claim, tasks and signups, my schedule, calendar, hours,
teams and the party member's report, through a cookie-keeping client without script.

The ``clock`` fixture says 2026-12-01T01:00Z, 09:00 on a Tuesday in Shanghai. Most tests
read the pages in English (``Accept-Language: en``); one reads them in Chinese.
"""

from __future__ import annotations

import re
from datetime import date, datetime
from html import unescape
from zoneinfo import ZoneInfo

import httpx
import pytest

from tests.factories import PASSWORD, World
from tests.pages_support import csrf, log_in
from volunteer_hub import hookimpl
from volunteer_hub.hooktypes import PartyReportFacts, PersonFacts, SignupFacts, Violation
from volunteer_hub.models import (
    MembershipStatus,
    PartyReport,
    Signup,
    SignupStatus,
    TeamMembership,
)
from volunteer_hub.services import tasks, teams, wishes
from volunteer_hub.services.access import Actor
from volunteer_hub.validation import mask_phone
from volunteer_hub.web import create_app

SH = ZoneInfo("Asia/Shanghai")


def at(day: int, hour: int, minute: int = 0) -> datetime:
    """A time in Shanghai in December 2026."""
    return datetime(2026, 12, day, hour, minute, tzinfo=SH)


@pytest.fixture
def en(browser):
    browser.headers["Accept-Language"] = "en"
    return browser


async def as_person(client: httpx.AsyncClient, actor: Actor) -> None:
    """Log out whoever is logged in, then log in as ``actor``."""
    home = await client.get("/")
    if "/logout" in home.text:
        await client.post("/logout", data={"csrf_token": csrf(home.text)})
    answer = await log_in(client, actor.person.phone)
    assert answer.status_code == 303, answer.text


async def submit(client: httpx.AsyncClient, path: str, **data: str) -> httpx.Response:
    """Post a form with this browser's CSRF token, as a page of the site would."""
    home = await client.get("/")
    return await client.post(path, data={**data, "csrf_token": csrf(home.text)})


async def follow(client: httpx.AsyncClient, answer: httpx.Response) -> httpx.Response:
    assert answer.status_code == 303, answer.text
    return await client.get(answer.headers["location"])


def text_of(html: str) -> str:
    """The page's visible words, tags dropped and spaces squeezed."""
    return re.sub(r"\s+", " ", unescape(re.sub(r"<[^>]+>", " ", html)))


async def new_task(hub, w: World, **fields) -> int:
    data = {
        "title": "社区清扫",
        "starts_at": at(5, 9).isoformat(),
        "ends_at": at(5, 11).isoformat(),
        "capacity": 1,
        "location": "3号楼前",
        **fields,
    }
    return (await tasks.create_task(hub, w.staff, w.community.id, data)).id


async def open_wish(hub, w: World, resident: Actor, **fields) -> int:
    data = {"title": "陪我去医院", "description": "周四上午", "category": "errand", **fields}
    wish = await wishes.post(hub, resident, w.community.id, data)
    await wishes.review(hub, w.staff, wish.id, {"decision": "approve"})
    return wish.id


# --- tasks and signups -------------------------------------------------------------------------


async def test_sign_up_confirmed_then_waitlisted_each_told_clearly(hub, en):
    w = await World(hub).build()
    task_id = await new_task(hub, w, capacity=1)
    first, second = await w.person("甲"), await w.person("乙")

    await as_person(en, first)
    board = await en.get("/tasks")
    assert f'href="/tasks/{task_id}"' in board.text
    assert "1 of 1 places left" in text_of(board.text)
    page = await en.get(f"/tasks/{task_id}")
    assert "Sign up" in page.text
    done = await follow(
        en,
        await submit(en, f"/tasks/{task_id}/signup", occurrence_start=at(5, 9).isoformat()),
    )
    assert done.url.params["done"] == "confirmed"
    assert "You are signed up. Thank you!" in done.text
    assert "Cancel my signup" in done.text

    await as_person(en, second)
    # A full task leaves the default board (places left) but not the full one.
    assert f'href="/tasks/{task_id}"' not in (await en.get("/tasks")).text
    everything = text_of((await en.get("/tasks?show=all")).text)
    assert "Full" in everything and "1 of 1 places left" not in everything
    page = await en.get(f"/tasks/{task_id}")
    assert "Join the waiting list" in page.text
    done = await follow(en, await submit(en, f"/tasks/{task_id}/signup"))  # the next occurrence
    assert done.url.params["done"] == "waitlisted"
    words = text_of(done.text)
    assert "you are on the waiting list" in words
    assert "You are on the waiting list (number 1)." in words
    assert "Full · 1 on the waiting list" in words
    statuses = await Signup.filter(occurrence__task_id=task_id).order_by("id")
    assert [s.status for s in statuses] == [SignupStatus.CONFIRMED, SignupStatus.WAITLISTED]


async def test_signing_up_twice_is_explained(hub, en):
    w = await World(hub).build()
    task_id = await new_task(hub, w, capacity=3)
    volunteer = await w.person()
    await as_person(en, volunteer)
    await submit(en, f"/tasks/{task_id}/signup")
    again = await submit(en, f"/tasks/{task_id}/signup")
    assert again.status_code == 409
    assert 'role="alert"' in again.text
    assert "You have signed up for this already." in again.text
    assert await Signup.filter(person_id=volunteer.id).count() == 1


async def test_a_registration_rule_refusal_is_shown_in_plain_words(hub, en):
    w = await World(hub).build()
    task_id = await new_task(hub, w, capacity=3)
    volunteer = await w.person(birth_date=date(2012, 5, 1))

    class AdultsOnly:
        @hookimpl
        def vh_check_signup(self, person: PersonFacts, signup: SignupFacts) -> list[Violation]:
            return [
                Violation(
                    "adults_only",
                    {
                        "zh-CN": "此活动仅限18岁以上",
                        "en": "This task is for people aged 18 or over",
                    },
                )
            ]

    hub.plugins.register(AdultsOnly(), "test-adults-only")
    try:
        await as_person(en, volunteer)
        refused = await submit(en, f"/tasks/{task_id}/signup")
    finally:
        hub.plugins.unregister("test-adults-only")
    assert refused.status_code == 422
    words = text_of(refused.text)
    assert "We could not sign you up." in words
    assert "This task is for people aged 18 or over" in words
    assert await Signup.filter(occurrence__task_id=task_id).count() == 0


async def test_a_team_task_is_for_its_members(hub, en):
    w = await World(hub).build()
    patrol = await w.team("silver_patrol")
    task_id = await new_task(hub, w, team_id=patrol.id)
    outsider = await w.person()
    await as_person(en, outsider)
    page = await en.get(f"/tasks/{task_id}")
    assert "Only members of this team can sign up." in page.text
    assert f'action="/tasks/{task_id}/signup"' not in page.text
    refused = await submit(en, f"/tasks/{task_id}/signup")
    assert refused.status_code == 403
    assert "This task is for members of its team." in refused.text
    assert await Signup.all().count() == 0


async def test_another_communitys_task_is_not_shown(hub, en):
    w = await World(hub).build()
    other = await World(hub).build_other(w)
    theirs = await new_task(hub, other, title="别的社区的活动")
    ours = await new_task(hub, w, title="我们的活动")
    await as_person(en, await w.person())
    board = await en.get("/tasks")
    assert "我们的活动" in board.text and "别的社区的活动" not in board.text
    assert (await en.get(f"/tasks/{theirs}")).status_code == 404
    assert (await submit(en, f"/tasks/{theirs}/signup")).status_code == 404
    assert (await en.get(f"/tasks/{ours}")).status_code == 200
    assert (await en.get("/tasks/99999999999")).status_code == 404
    assert await Signup.all().count() == 0


async def test_cancel_promotes_the_first_waiting_as_their_schedule_shows(hub, en):
    w = await World(hub).build()
    task_id = await new_task(hub, w, capacity=1)
    first, second = await w.person("甲"), await w.person("乙")
    await tasks.sign_up(hub, first, task_id)
    await tasks.sign_up(hub, second, task_id)

    await as_person(en, second)
    before = text_of((await en.get("/schedule")).text)
    assert "社区清扫" in before and "On the waiting list (number 1)" in before

    await as_person(en, first)
    schedule = await en.get("/schedule")
    [signup_id] = re.findall(r'action="/signups/(\d+)/cancel"', schedule.text)
    done = await follow(
        en, await submit(en, f"/signups/{signup_id}/cancel", next=f"/tasks/{task_id}")
    )
    assert done.url.path == f"/tasks/{task_id}" and done.url.params["done"] == "cancelled"
    assert "Your signup is cancelled." in done.text
    assert "No shift ahead." in (await en.get("/schedule")).text
    # Cancelling again is refused on my schedule, in words.
    again = await submit(en, f"/signups/{signup_id}/cancel")
    assert again.status_code == 409
    assert "This signup is cancelled and cannot be cancelled." in again.text

    await as_person(en, second)
    after = text_of((await en.get("/schedule")).text)
    assert "社区清扫" in after and "Confirmed" in after and "waiting list" not in after

    # Nobody cancels someone else's signup: not found.
    await as_person(en, first)
    [second_signup] = await Signup.filter(person_id=second.id)
    assert (await submit(en, f"/signups/{second_signup.id}/cancel")).status_code == 404
    assert (await Signup.get(id=second_signup.id)).status is SignupStatus.CONFIRMED


async def test_check_in_and_out_records_hours(hub, clock, en):
    w = await World(hub).build()
    soon = await new_task(
        hub, w, title="早班", starts_at=at(1, 9, 30).isoformat(), ends_at=at(1, 11).isoformat()
    )
    later = await new_task(
        hub, w, title="晚班", starts_at=at(1, 19).isoformat(), ends_at=at(1, 21).isoformat()
    )
    volunteer = await w.person()
    early = await tasks.sign_up(hub, volunteer, soon)
    late = await tasks.sign_up(hub, volunteer, later)
    await as_person(en, volunteer)

    schedule = await en.get("/schedule")
    assert f'action="/signups/{early.id}/check-in"' in schedule.text
    assert f'action="/signups/{late.id}/check-in"' not in schedule.text  # not open yet
    too_early = await submit(en, f"/signups/{late.id}/check-in")
    assert too_early.status_code == 409
    assert "Check-in is open from an hour before the start until the end." in too_early.text

    done = await follow(en, await submit(en, f"/signups/{early.id}/check-in"))
    assert done.url.path == "/schedule" and "You are checked in." in done.text
    assert f'action="/signups/{early.id}/check-out"' in done.text
    assert f'action="/signups/{early.id}/cancel"' not in done.text

    clock.advance(hours=1, minutes=30)  # 10:30: an hour served since the 09:30 start
    done = await follow(en, await submit(en, f"/signups/{early.id}/check-out"))
    assert "your hours are recorded" in done.text
    assert f"/signups/{early.id}/" not in done.text
    hours = text_of((await en.get("/hours")).text)
    assert "In total: 1 hours of service" in hours
    assert "早班" in hours


async def test_hours_page_without_records(hub, en):
    w = await World(hub).build()
    await as_person(en, await w.person())
    page = await en.get("/hours")
    assert "In total: 0 hours of service" in text_of(page.text)
    assert "No hours recorded yet." in page.text


# --- wishes to claim ----------------------------------------------------------------------------


async def test_wishes_to_claim_follow_the_visibility_rules_and_filters(hub, en):
    w = await World(hub).build()
    care = await w.team("elderly_care")
    resident = await w.person("王阿姨")
    neighbour = await w.person("李大爷", grid=w.other_grid)
    errand = await open_wish(hub, w, resident, title="帮忙取快递")
    repair = await open_wish(hub, w, neighbour, title="修水龙头", category="repair")
    shopping = await open_wish(hub, w, neighbour, title="帮忙买菜")
    secret = await open_wish(hub, w, resident, title="孩子学习压力大", category="psychology")
    pending = await wishes.post(
        hub,
        resident,
        w.community.id,
        {"title": "待审核心愿", "description": "x", "category": "other"},
    )
    claimer = await w.volunteer("张", team=care)
    await wishes.claim(hub, claimer, shopping)
    volunteer = await w.volunteer("赵", team=care)

    await as_person(en, volunteer)
    page = await en.get("/wishes")
    assert page.status_code == 200
    for wish_id in (errand, repair, shopping):
        assert f'href="/wishes/{wish_id}"' in page.text
    assert f'href="/wishes/{secret}"' not in page.text and "孩子学习压力大" not in page.text
    assert f'href="/wishes/{pending.id}"' not in page.text
    open_part, claimed_part = page.text.split('id="claimed-h"')
    assert "帮忙取快递" in open_part and "修水龙头" in open_part and "帮忙买菜" in claimed_part
    for private in (resident.person.phone, neighbour.person.phone, "幸福里3号楼2单元501"):
        assert private not in page.text

    by_category = await en.get("/wishes", params={"category": "repair"})
    assert "修水龙头" in by_category.text and "帮忙取快递" not in by_category.text
    assert '<option value="repair" selected>' in by_category.text
    by_grid = await en.get("/wishes", params={"grid": str(w.grid.id)})
    assert "帮忙取快递" in by_grid.text
    assert "修水龙头" not in by_grid.text and "帮忙买菜" not in by_grid.text
    # Values that mean nothing are ignored, not an error.
    loose = await en.get("/wishes", params={"category": "nonsense", "grid": "x"})
    assert loose.status_code == 200 and "帮忙取快递" in loose.text

    # The claimer sees their own claim as theirs.
    await as_person(en, claimer)
    assert "You took this on" in (await en.get("/wishes")).text


async def test_a_qualified_member_sees_restricted_wishes(hub, en):
    w = await World(hub).build()
    psychology = await w.team("psychology")
    resident = await w.person("家长")
    secret = await open_wish(hub, w, resident, title="孩子学习压力大", category="psychology")
    counsellor = await w.person("心理咨询师")
    membership = await teams.join_team(
        hub, counsellor, psychology.id, {"qualifications": [{"kind": "counsellor"}]}
    )
    await teams.approve_membership(hub, w.staff, membership.id)
    await as_person(en, counsellor)
    assert f'href="/wishes/{secret}"' in (await en.get("/wishes")).text


async def test_a_resident_who_is_no_volunteer_is_pointed_to_the_teams(hub, en):
    w = await World(hub).build()
    resident = await w.person()
    await open_wish(hub, w, await w.person("邻居"), title="帮忙取快递")
    await as_person(en, resident)
    page = await en.get("/wishes")
    assert "Only volunteers can take on a wish." in page.text
    assert "帮忙取快递" not in page.text


# --- my schedule and calendar -------------------------------------------------------------------


async def test_schedule_lists_shifts_and_claimed_wishes_in_the_community_zone(hub, en):
    w = await World(hub).build()
    care = await w.team("elderly_care")
    volunteer = await w.volunteer(team=care)
    task_id = await new_task(hub, w, starts_at=at(5, 19).isoformat(), ends_at=at(5, 21).isoformat())
    await tasks.sign_up(hub, volunteer, task_id)
    wish_id = await open_wish(hub, w, await w.person(), needed_by="2026-12-10")
    await wishes.claim(hub, volunteer, wish_id)
    await as_person(en, volunteer)
    page = await en.get("/schedule")
    words = text_of(page.text)
    assert "社区清扫" in words and "Confirmed" in words
    assert "Sat, Dec 5, 2026 7:00 PM–9:00 PM" in words  # in Shanghai, not 11:00 UTC
    assert f'href="/wishes/{wish_id}"' in page.text and "Needed by Dec 10, 2026" in words


async def test_a_night_shift_shows_both_days(hub, en):
    w = await World(hub).build()
    await new_task(
        hub, w, title="夜间值守", starts_at=at(5, 22).isoformat(), ends_at=at(6, 2).isoformat()
    )
    await as_person(en, await w.person())
    words = text_of((await en.get("/tasks")).text)
    assert "Sat, Dec 5, 2026 10:00 PM–Sun, Dec 6 2:00 AM" in words


async def test_calendar_page_gives_the_api_address_a_qr_code_and_revokes(hub, en, settings):
    w = await World(hub).build()
    patrol = await w.team("silver_patrol")
    volunteer = await w.person()
    login = await en.post(
        "/api/v1/auth/login", json={"phone": volunteer.person.phone, "password": PASSWORD}
    )
    bearer = {"Authorization": f"Bearer {login.json()['token']}"}
    api_url = (await en.get("/api/v1/me/calendar", headers=bearer)).json()["url"]

    await as_person(en, volunteer)
    page = await en.get("/calendar")
    assert api_url.startswith("http://testserver/calendar/") and api_url.endswith(".ics")
    assert f'href="{api_url}"' in page.text
    assert 'href="webcal://testserver/calendar/' in page.text
    assert f'href="http://testserver/calendar/teams/{patrol.id}.ics"' in page.text
    assert '<img class="qr" src="/calendar/qr.svg" alt="' in page.text

    qr = await en.get("/calendar/qr.svg")
    assert qr.status_code == 200
    assert qr.headers["content-type"] == "image/svg+xml"
    assert qr.headers["cache-control"] == "no-store"
    assert qr.text.startswith("<svg") and "<path" in qr.text and "<script" not in qr.text
    assert (await en.get(api_url)).status_code == 200

    done = await follow(en, await submit(en, "/calendar/revoke"))
    assert "The old address no longer works." in done.text
    new_url = re.search(r'href="(http://testserver/calendar/[^"]+\.ics)"', done.text)[1]
    assert new_url != api_url
    assert (await en.get(api_url)).status_code == 404
    assert (await en.get(new_url)).status_code == 200
    assert (await en.get("/calendar/qr.svg")).text != qr.text


async def test_the_qr_code_refuses_anonymous_callers(hub, settings):
    await World(hub).build()
    app = create_app(settings, hub=hub, manage_database=False)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as anonymous:
        answer = await anonymous.get("/calendar/qr.svg")
        assert answer.status_code == 303
        assert answer.headers["location"].startswith("/login")
        assert "svg" not in answer.headers.get("content-type", "") and "<svg" not in answer.text
        revoke = await anonymous.post("/calendar/revoke")
        assert revoke.status_code == 303 and revoke.headers["location"].startswith("/login")


# --- teams ---------------------------------------------------------------------------------------


async def test_join_a_team_active_or_pending(hub, en):
    """In a community that does not vet new volunteers (test_vetting has one that does)."""
    w = await World(hub).build()
    await w.vet_volunteers(False)
    repair = await w.team("repair")
    psychology = await w.team("psychology")
    volunteer = await w.person()
    await as_person(en, volunteer)
    page = await en.get("/teams")
    assert f'action="/teams/{repair.id}/join#team-{repair.id}"' in page.text
    assert "members need: Counsellor certificate." in page.text  # the psychology team

    done = await follow(en, await submit(en, f"/teams/{repair.id}/join"))
    assert "Welcome to the team!" in done.text and "You are a member." in done.text
    assert f'action="/teams/{repair.id}/join#team-{repair.id}"' not in done.text

    done = await follow(
        en,
        await submit(
            en, f"/teams/{psychology.id}/join", qualification="counsellor", expires_on="2028-06-30"
        ),
    )
    assert "once staff have approved it (and checked any qualification" in done.text
    assert "Waiting for staff to approve your request." in done.text
    statuses = dict(
        await TeamMembership.filter(person_id=volunteer.id).values_list("team_id", "status")
    )
    assert statuses == {repair.id: MembershipStatus.ACTIVE, psychology.id: MembershipStatus.PENDING}


async def test_join_refusals_are_shown_beside_the_team(hub, en):
    w = await World(hub).build()
    patrol = await w.team("silver_patrol")
    psychology = await w.team("psychology")
    young = await w.person(birth_date=date(1995, 1, 1))
    await as_person(en, young)

    expired = await submit(
        en, f"/teams/{psychology.id}/join", qualification="counsellor", expires_on="2026-01-31"
    )
    assert expired.status_code == 422
    assert f'aria-invalid="true" aria-describedby="xe-{psychology.id}"' in expired.text
    assert "This qualification has expired." in expired.text
    assert 'value="2026-01-31"' in expired.text  # what was typed stays
    no_kind = await submit(en, f"/teams/{psychology.id}/join", expires_on="2028-01-31")
    assert no_kind.status_code == 422
    assert f'aria-describedby="qe-{psychology.id}"' in no_kind.text

    class SilverPatrolAge:
        @hookimpl
        def vh_check_team_join(self, person: PersonFacts, team_kind: str, today: date):
            if team_kind == "silver_patrol" and (person.age_on(today) or 0) < 60:
                return [
                    Violation(
                        "silver_patrol_age",
                        {"zh-CN": "银发巡逻队仅限60岁以上", "en": "Silver patrol: 60 or older"},
                    )
                ]
            return None

    hub.plugins.register(SilverPatrolAge(), "test-silver-age")
    try:
        refused = await submit(en, f"/teams/{patrol.id}/join")
        chinese = await en.post(
            f"/teams/{patrol.id}/join",
            data={"csrf_token": csrf(refused.text)},
            headers={"Accept-Language": "zh-CN"},
        )
    finally:
        hub.plugins.unregister("test-silver-age")
    assert refused.status_code == chinese.status_code == 422
    card = refused.text.split(f'id="team-{patrol.id}"')[1].split("</li>")[0]
    assert "You cannot join this team:" in card and "Silver patrol: 60 or older" in card
    assert "银发巡逻队仅限60岁以上" in chinese.text
    assert await TeamMembership.filter(person_id=young.id).count() == 0


async def test_joining_twice_is_a_conflict_explained(hub, en):
    w = await World(hub).build()
    await w.vet_volunteers(False)
    repair = await w.team("repair")
    volunteer = await w.person()
    await as_person(en, volunteer)
    await submit(en, f"/teams/{repair.id}/join")
    again = await submit(en, f"/teams/{repair.id}/join")
    assert again.status_code == 409
    card = again.text.split(f'id="team-{repair.id}"')[1].split("</li>")[0]
    assert "You are a member of this team already." in card and "You are a member." in card


async def test_joining_another_communitys_team_is_refused(hub, en):
    w = await World(hub).build()
    other = await World(hub).build_other(w)
    theirs = await other.team("repair")
    await as_person(en, await w.person())
    assert f"/teams/{theirs.id}/join" not in (await en.get("/teams")).text
    assert (await submit(en, f"/teams/{theirs.id}/join")).status_code == 403
    assert (await submit(en, "/teams/99999/join")).status_code == 404
    assert await TeamMembership.all().count() == 0


# --- in-service party members ---------------------------------------------------------------------


async def test_party_report_and_progress(hub, en):
    w = await World(hub).build()
    member = await w.person("李先生")
    await as_person(en, member)
    form = await en.get("/party")
    assert f'<option value="{w.community.id}" selected>' in form.text
    assert "<progress" not in form.text

    missing = await submit(en, "/party", community_id=str(w.community.id), party_branch="第三支部")
    assert missing.status_code == 422
    assert 'aria-describedby="e-work_unit"' in missing.text and 'value="第三支部"' in missing.text

    done = await follow(
        en,
        await submit(
            en,
            "/party",
            community_id=str(w.community.id),
            work_unit="市规划局",
            party_branch="第三支部",
        ),
    )
    assert "Its staff will confirm your report." in done.text
    assert "<progress" not in done.text  # a pending report counts for nothing yet
    (report,) = await PartyReport.filter(person_id=member.id)
    await teams.accept_party_report(hub, w.staff, report.id)
    done = await en.get("/party")
    words = text_of(done.text)
    assert "0 of 12 hours" in words and "市规划局" in words
    assert re.search(r'<progress id="p-\d+" max="12" value="0">0%</progress>', done.text)
    assert await PartyReport.filter(person_id=member.id).count() == 1

    again = await submit(
        en,
        "/party",
        community_id=str(w.community.id),
        work_unit="市规划局",
        party_branch="第三支部",
    )
    assert again.status_code == 409
    assert "You have reported to this community already." in again.text


async def test_party_report_rule_refusal_lists_every_reason(hub, en):
    w = await World(hub).build()
    member = await w.person()

    class StrictReports:
        @hookimpl
        def vh_check_party_report(self, report: PartyReportFacts) -> list[Violation]:
            return [
                Violation(
                    "unit_name", {"zh-CN": "请填写单位全称", "en": "Give the unit's full name"}
                ),
                Violation(
                    "branch_name", {"zh-CN": "请填写支部全称", "en": "Give the branch's full name"}
                ),
            ]

    hub.plugins.register(StrictReports(), "test-strict-reports")
    try:
        await as_person(en, member)
        refused = await submit(
            en, "/party", community_id=str(w.community.id), work_unit="规划局", party_branch="三支"
        )
    finally:
        hub.plugins.unregister("test-strict-reports")
    assert refused.status_code == 422
    words = text_of(refused.text)
    assert "We could not take your report." in words
    assert "Give the unit's full name" in words and "Give the branch's full name" in words
    assert 'value="规划局"' in refused.text
    assert await PartyReport.all().count() == 0


# --- what every volunteer page keeps to itself --------------------------------------------------


VOLUNTEER_PAGES = ["/wishes", "/tasks", "/schedule", "/calendar", "/hours", "/teams", "/party"]


async def test_pages_show_nobody_elses_phone_or_address_and_no_inline_code(hub, en):
    w = await World(hub).build()
    care = await w.team("elderly_care")
    resident = await w.person("王阿姨")
    others = [resident, await w.volunteer("别人", team=care), w.staff, w.grid_worker]
    task_id = await new_task(hub, w, capacity=1)
    await tasks.sign_up(hub, others[1], task_id)
    await open_wish(hub, w, resident)
    me = await w.volunteer("我", team=care)
    await tasks.sign_up(hub, me, task_id)
    await as_person(en, me)
    for path in [*VOLUNTEER_PAGES, f"/tasks/{task_id}"]:
        page = await en.get(path)
        assert page.status_code == 200, path
        for person in others:
            assert person.person.phone not in page.text, path
            assert mask_phone(person.person.phone) not in page.text, path
        assert "幸福里3号楼2单元501" not in page.text, path
        assert "<script>" not in page.text and " style=" not in page.text, path
        assert "<style" not in page.text, path


async def test_pages_need_a_login_and_forms_a_csrf_token(hub, en):
    w = await World(hub).build()
    task_id = await new_task(hub, w)
    for path in VOLUNTEER_PAGES:
        answer = await en.get(path)
        assert answer.status_code == 303 and answer.headers["location"].startswith("/login"), path
    await as_person(en, await w.person())
    forged = await en.post(f"/tasks/{task_id}/signup", data={"csrf_token": "forged"})
    assert forged.status_code == 403
    assert await Signup.all().count() == 0


async def test_pages_speak_chinese_by_default(hub, browser):
    w = await World(hub).build()
    task_id = await new_task(hub, w, capacity=1)
    await tasks.sign_up(hub, await w.person(), task_id)
    await as_person(browser, await w.person())
    page = await browser.get(f"/tasks/{task_id}")
    assert '<html lang="zh-CN"' in page.text
    done = await follow(browser, await submit(browser, f"/tasks/{task_id}/signup"))
    assert "名额已满" in done.text
    for path in VOLUNTEER_PAGES:
        assert re.search(r"[\u4e00-\u9fff]", text_of((await browser.get(path)).text)), path
