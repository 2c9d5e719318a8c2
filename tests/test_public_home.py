"""The anonymous home page and the public shift grid: each community's open needs and its
open shifts, no personal data, a fixed number of queries; the favicon."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest

from tests.factories import World
from tests.pages_support import queries_for
from volunteer_hub.models import Occurrence, Task
from volunteer_hub.services import tasks, wishes

ERRAND = {"title": "帮忙取快递", "description": "腿脚不便，住3号楼501", "category": "errand"}
PSYCHOLOGY = {"title": "孩子考试压力大", "description": "想找人聊聊", "category": "psychology"}


@pytest.fixture
async def w(hub):
    return await World(hub).build()


async def open_wish(w: World, resident, data: dict):
    wish = await wishes.post(w.hub, resident, w.community.id, data)
    return await wishes.review(w.hub, w.staff, wish.id, {"decision": "approve"})


async def shift(w: World, title: str, *, days: float, capacity: int = 5, rrule=None) -> Task:
    start = w.hub.now() + timedelta(days=days)
    return await tasks.create_task(
        w.hub,
        w.staff,
        w.community.id,
        {
            "title": title,
            "starts_at": start,
            "ends_at": start + timedelta(hours=2),
            "capacity": capacity,
            "rrule": rrule,
            "location": "王奶奶家楼下",
        },
    )


async def test_the_home_page_shows_open_needs_and_a_week_of_shifts_without_personal_data(
    w, browser
):
    resident = await w.person("王秀英")
    await open_wish(w, resident, ERRAND)
    await open_wish(w, resident, PSYCHOLOGY)
    await wishes.post(w.hub, resident, w.community.id, {**ERRAND, "title": "还没审核的心愿"})
    patrol = await shift(w, "平安巡逻", days=1, capacity=3)
    volunteer = await w.volunteer("小李", team=await w.team("elderly_care"))
    await tasks.sign_up(w.hub, volunteer, patrol.id)
    await shift(w, "读书会", days=2, rrule="FREQ=DAILY;COUNT=20")
    await shift(w, "下个月的活动", days=30)
    cancelled = await shift(w, "取消的活动", days=1)
    await Task.filter(id=cancelled.id).update(cancelled_at=w.hub.now())

    page = await browser.get("/")
    assert page.status_code == 200
    text = re.sub(r'name="csrf_token" value="[0-9a-f]+"', "", page.text)  # random hex
    assert w.community.name in text
    assert "帮忙取快递" in text and "跑腿代办" in text or "帮忙取快递" in text
    assert "第一网格" in text
    assert "平安巡逻" in text and "空余名额：2" in text  # 3 places, one taken
    assert text.count("读书会") == 5  # days 2..6 of the week (today is day 0)
    for hidden in (
        "孩子考试压力大",  # a restricted category
        "还没审核的心愿",  # not reviewed yet
        "下个月的活动",  # beyond the week
        "取消的活动",
        "王秀英",  # no person: not the resident, not the volunteer
        "小李",
        resident.person.phone,
        resident.person.phone[-4:],
        "3号楼501",  # neither the description nor the location
        "王奶奶家楼下",
    ):
        assert hidden not in text, hidden
    assert 'href="/login?next=/wishes"' in text and 'href="/register"' in text
    assert f'href="/shifts?community={w.community.id}"' in text

    english = await browser.get("/", headers={"Accept-Language": "en"})
    assert "Open needs" in english.text and "Places free: 2" in english.text
    assert '<html lang="en"' in english.text


async def test_the_home_page_costs_as_many_queries_for_one_community_as_for_many(w, browser):
    resident = await w.person("王秀英")
    await open_wish(w, resident, ERRAND)
    await shift(w, "平安巡逻", days=1)
    one = await queries_for(browser, "/")
    assert one <= 5

    for n in range(3):
        other = await World(w.hub).build(f"第{n}社区", admin=w.admin)
        someone = await other.person("居民")
        for i in range(4):
            await open_wish(other, someone, {**ERRAND, "title": f"心愿{i}"})
            await shift(other, f"活动{i}", days=i + 1, rrule="FREQ=DAILY;COUNT=5")
    for i in range(5):
        await open_wish(w, resident, {**ERRAND, "title": f"心愿{i}"})
    many = await queries_for(browser, "/")
    assert many == one
    assert await queries_for(browser, f"/shifts?community={w.community.id}") <= one


async def test_the_shift_grid_goes_week_by_week(w, browser):
    task = await shift(w, "平安巡逻", days=8, capacity=4)
    this_week = await browser.get(f"/shifts?community={w.community.id}")
    assert this_week.status_code == 200 and "平安巡逻" not in this_week.text
    match = re.search(r'href="(/shifts\?community=\d+&amp;week=[\d-]+)" rel="next"', this_week.text)
    next_week = await browser.get(match.group(1).replace("&amp;", "&"))
    assert "平安巡逻" in next_week.text and "空余名额：4" in next_week.text
    # A cancelled occurrence is not offered.
    if not await Occurrence.filter(task_id=task.id).update(cancelled=True):
        await Occurrence.create(
            task_id=task.id, start=task.starts_at, end=task.ends_at, capacity=4, cancelled=True
        )
    again = await browser.get(match.group(1).replace("&amp;", "&"))
    assert "平安巡逻" not in again.text

    week = (w.hub.today(w.community.timezone) + timedelta(days=8)).isoformat()
    direct = await browser.get(
        f"/shifts?community={w.community.id}&week={week}", headers={"Accept-Language": "en"}
    )
    assert direct.status_code == 200 and "Shifts of" in direct.text


@pytest.mark.parametrize(
    "query, status",
    [
        ("", 404),
        ("?community=abc", 404),
        ("?community=999999", 404),
        ("?community={cid}&week=next", 422),
        ("?community={cid}&week=2026-02-30", 422),
        ("?community={cid}&week=9999-12-31", 422),
        ("?community={cid}&week=0001-01-01", 422),
        ("?community=99999999999999999999999", 404),
        ("?community=-1", 404),
    ],
)
async def test_the_shift_grid_refuses_what_it_cannot_show(w, browser, query, status):
    r = await browser.get("/shifts" + query.format(cid=w.community.id))
    assert r.status_code == status
    if status == 422:  # the error says what a week looks like
        assert "2026-12-07" in r.text or "一年之内" in r.text


async def test_the_favicon(w, browser):
    icon = await browser.get("/favicon.ico")
    assert icon.status_code == 200 and icon.headers["content-type"].startswith("image/svg+xml")
    assert icon.content.startswith(b"<svg") and b"#b3261e" in icon.content
    static = await browser.get("/static/favicon.svg")
    assert static.content == icon.content
    page = await browser.get("/login")
    assert '<link rel="icon" href="/static/favicon.svg" type="image/svg+xml">' in page.text
