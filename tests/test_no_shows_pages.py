"""No-shows on the pages: the volunteer's record on their schedule (zh-CN first, English
on request) and staff's list with a form to excuse each, through a cookie-keeping client
without script. The shift is on Thursday, December 3, 19:00-21:00 in Shanghai.
"""

from __future__ import annotations

import re
from html import unescape

import httpx
import pytest

from tests.factories import World
from tests.pages_support import csrf, log_in
from tests.test_no_shows import Patrol, at, claimed_wish, move_to, overdue_shift, with_window
from volunteer_hub.models import NoShow, Notification, Person
from volunteer_hub.services import no_shows


@pytest.fixture
async def p(hub) -> Patrol:
    return await Patrol().build(hub)


def text_of(html: str) -> str:
    return re.sub(r"\s+", " ", unescape(re.sub(r"<[^>]+>", " ", html)))


def section(html: str, start: str) -> str:
    at_ = html.index(start)
    return html[at_ : html.index("</section>", at_)]


async def switch_to(browser: httpx.AsyncClient, phone: str) -> None:
    browser.cookies.clear()
    assert (await log_in(browser, phone)).status_code == 303


async def test_the_volunteer_sees_their_record_and_what_it_does_in_chinese(p, browser):
    await switch_to(browser, p.people[0].person.phone)
    clean = await browser.get("/schedule")
    assert clean.status_code == 200
    record = text_of(section(clean.text, 'aria-labelledby="no-shows-h"'))
    assert "我的缺席记录" in record and "守约情况：良好" in record
    assert "没有缺席记录" in record

    await overdue_shift(p)
    missed = await browser.get("/schedule")
    record = text_of(section(missed.text, 'aria-labelledby="no-shows-h"'))
    assert "守约情况：略有下降" in record and "自动匹配" in record
    assert "银发巡逻" in record and "未到" in record and "计入" in record
    assert "工作人员准假的缺席不计入" in record

    row = await NoShow.get(person_id=p.people[0].id)
    await no_shows.excuse(p.hub, p.w.staff, row.id, {"note": "家中老人住院"})
    excused = await browser.get("/schedule")
    record = text_of(section(excused.text, 'aria-labelledby="no-shows-h"'))
    assert "守约情况：良好" in record and "已准假" in record and "家中老人住院" in record


async def test_the_volunteers_record_in_english_names_a_wish_not_done(p, browser):
    wish = await with_window(await claimed_wish(p), at(2, 9), at(2, 11))
    move_to(p.hub, at(2, 12))
    await no_shows.record_overdue(p.hub)
    await switch_to(browser, p.people[0].person.phone)
    browser.headers["Accept-Language"] = "en"
    page = await browser.get("/schedule")
    record = text_of(section(page.text, 'aria-labelledby="no-shows-h"'))
    assert "My no-shows" in record and "somewhat lowered" in record
    assert "Not done in time" in record and "Counts" in record
    assert f'href="/wishes/{wish.id}"' in page.text


async def test_staff_excuse_from_their_list(p, browser):
    row = await overdue_shift(p)
    await switch_to(browser, p.w.staff.person.phone)
    listed = await browser.get("/staff/no-shows")
    assert listed.status_code == 200
    assert '<html lang="zh-CN"' in listed.text
    text = text_of(listed.text)
    assert "缺席记录" in text and "队员0" in text and "银发巡逻" in text and "准假" in text
    action = f"/staff/no-shows/{row.id}/excuse?community={p.w.id}"
    assert f'action="{action}"' in unescape(listed.text)

    bad = await browser.post(action, data={"note": "", "csrf_token": csrf(listed.text)})
    assert bad.status_code == 422
    assert 'aria-invalid="true"' in bad.text
    assert (await NoShow.get(id=row.id)).excused_at is None

    done = await browser.post(
        action, data={"note": "社区临时调派", "csrf_token": csrf(listed.text)}
    )
    assert done.status_code == 303
    assert done.headers["location"] == f"/staff/no-shows?community={p.w.id}&done=excused"
    after = await browser.get(done.headers["location"])
    assert "已准假：这次缺席不再计入，并已通知志愿者。" in after.text
    assert "社区临时调派" in text_of(after.text)
    assert (await NoShow.get(id=row.id)).note == "社区临时调派"
    assert await Notification.exists(event="no_show.excused", person_id=p.people[0].id)

    again = await browser.post(action, data={"note": "再次准假", "csrf_token": csrf(after.text)})
    assert again.status_code == 409
    assert "这次缺席已经准假" in again.text
    forged = await browser.post(action, data={"note": "没有令牌"})
    assert forged.status_code == 403


async def test_the_no_shows_page_is_for_staff_only(p, browser):
    row = await overdue_shift(p)
    path = "/staff/no-shows"
    assert (await browser.get(path)).status_code == 303  # logged out: to the login page

    async def excuse() -> int:
        home = await browser.get("/")
        answer = await browser.post(
            f"/staff/no-shows/{row.id}/excuse",
            data={"note": "我有理由", "csrf_token": csrf(home.text)},
        )
        return answer.status_code

    await switch_to(browser, p.people[0].person.phone)  # the volunteer themselves
    assert (await browser.get(path)).status_code == 403
    assert await excuse() == 403
    # The team's leader excuses a shift of the team (the roster's rule), sees no list.
    await switch_to(browser, p.leader.person.phone)
    assert (await browser.get(path)).status_code == 403
    assert await excuse() == 303
    assert (await NoShow.get(id=row.id)).excused_by_id == p.leader.id

    other = await World(p.hub).build_other(p.w)
    await switch_to(browser, other.staff.person.phone)
    assert (await browser.get(path)).status_code == 200  # their own community: none
    assert (await browser.get(f"{path}?community={p.w.id}")).status_code == 403


async def test_the_wishs_timeline_says_the_volunteer_did_not_do_it_in_time(p, browser):
    wish = await with_window(await claimed_wish(p), at(2, 9), at(2, 11))
    move_to(p.hub, at(2, 12))
    await no_shows.record_overdue(p.hub)
    resident = await Person.get(id=wish.resident_id)
    await switch_to(browser, resident.phone)  # the resident follows it on its timeline
    page = await browser.get(f"/wishes/{wish.id}")
    assert page.status_code == 200
    text = text_of(page.text)
    assert "志愿者未按时完成：已重新开放" in text and "wish.no_show" not in text
