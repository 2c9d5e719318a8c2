"""The roster plan pages (/staff/roster): generate, preview, swap, remove, accept, discard;
who may see them. Through a cookie-keeping client (a browser without script)."""

from __future__ import annotations

import re

import pytest

from tests.factories import World
from tests.pages_support import csrf, log_in
from tests.test_rostering import NightPairsAndAge, patrol_world
from volunteer_hub.models import Invitation, RosterPlan, RosterPlanStatus


@pytest.fixture
def vhub_plugins():
    return [("night-pairs", NightPairsAndAge())]


async def generate(browser, w: World) -> str:
    home = await browser.get(f"/staff/roster?community={w.id}")
    assert home.status_code == 200, home.text
    made = await browser.post(
        f"/staff/roster?community={w.id}",
        data={"start": "2026-12-07", "end": "2026-12-13", "csrf_token": csrf(home.text)},
    )
    assert made.status_code == 303, made.text
    return made.headers["location"]


async def test_staff_generate_preview_adjust_and_accept_in_chinese(hub, browser):
    w, patrol, seniors, helpers, walk, library = await patrol_world(hub)
    await log_in(browser, w.staff.person.phone)
    home = await browser.get(f"/staff/roster?community={w.id}")
    assert '<html lang="zh-CN"' in home.text and "生成排班方案" in home.text
    assert 'aria-current="page"' in home.text
    path = await generate(browser, w)
    assert re.fullmatch(r"/staff/roster/\d+", path)
    plan = await browser.get(path)
    assert plan.status_code == 200
    assert "谁去哪里，为什么" in plan.text and "夜间巡逻" in plan.text
    assert "近30天服务较少" in plan.text
    assert "排班后：每人最多 2 个班次" in plan.text
    for s in seniors:
        assert s.person.name in plan.text
    # Swap the first place to someone else, then remove another.
    swap_link = re.search(r'href="(/staff/roster/\d+/swap/\d+)"', plan.text).group(1)
    swap = await browser.get(swap_link)
    assert swap.status_code == 200 and "改由以下人员担任" in swap.text
    choice = re.search(r'name="person_id" value="(\d+)"', swap.text).group(1)
    done = await browser.post(swap_link, data={"person_id": choice, "csrf_token": csrf(swap.text)})
    assert done.status_code == 303 and done.headers["location"].endswith("done=swapped")
    bad = await browser.post(swap_link, data={"person_id": "x", "csrf_token": csrf(swap.text)})
    assert bad.status_code == 422 and "请选择一个人" in bad.text
    plan = await browser.get(path)
    aid = re.search(r'name="assignment_id" value="(\d+)"', plan.text).group(1)
    removed = await browser.post(
        f"{path}/remove", data={"assignment_id": aid, "csrf_token": csrf(plan.text)}
    )
    assert removed.status_code == 303
    plan = await browser.get(removed.headers["location"])
    assert "已从方案中移除此人" in plan.text
    accepted = await browser.post(f"{path}/accept", data={"csrf_token": csrf(plan.text)})
    assert accepted.status_code == 303
    plan_id = int(path.rsplit("/", 1)[1])
    assert await Invitation.filter(roster_plan_id=plan_id).count() == 6
    after = await browser.get(accepted.headers["location"])
    assert "已采纳" in after.text and "采纳方案并发出邀请" not in after.text
    again = await browser.post(f"{path}/accept", data={"csrf_token": csrf(after.text)})
    assert again.status_code == 409 and "此方案已不是草稿" in again.text


async def test_english_pages_and_a_discarded_plan(hub, browser):
    w, *_ = await patrol_world(hub)
    await log_in(browser, w.staff.person.phone)
    browser.headers["Accept-Language"] = "en"
    path = await generate(browser, w)
    plan = await browser.get(path)
    assert '<html lang="en"' in plan.text and "Who goes where, and why" in plan.text
    gone = await browser.post(f"{path}/discard", data={"csrf_token": csrf(plan.text)})
    assert gone.status_code == 303
    assert (
        await RosterPlan.get(id=int(path.rsplit("/", 1)[1]))
    ).status is RosterPlanStatus.DISCARDED


async def test_a_bad_period_is_named_beside_its_field(hub, browser):
    w, *_ = await patrol_world(hub)
    await log_in(browser, w.staff.person.phone)
    home = await browser.get(f"/staff/roster?community={w.id}")
    answer = await browser.post(
        f"/staff/roster?community={w.id}",
        data={"start": "2026-12-10", "end": "2026-12-08", "csrf_token": csrf(home.text)},
    )
    assert answer.status_code == 422
    assert 'id="e-end"' in answer.text and "不能早于开始日期" in answer.text
    assert await RosterPlan.all().count() == 0


async def test_the_pages_are_for_staff_of_the_community_only(hub, browser):
    w, patrol, seniors, *_ = await patrol_world(hub)
    other = await World(hub).build_other(w)
    await log_in(browser, w.staff.person.phone)
    path = await generate(browser, w)
    page = await browser.get(path)
    # Without the form's token: refused.
    assert (await browser.post(f"{path}/accept", data={})).status_code == 403
    browser.cookies.clear()
    assert (await browser.get(path)).status_code == 303  # logged out: to the login page
    await log_in(browser, seniors[0].person.phone)
    assert (await browser.get(f"/staff/roster?community={w.id}")).status_code == 403
    assert (await browser.get(path)).status_code == 404
    browser.cookies.clear()
    await log_in(browser, other.staff.person.phone)
    assert (await browser.get(path)).status_code == 404
    assert (await browser.get(f"/staff/roster?community={w.id}")).status_code == 403
    refused = await browser.post(f"{path}/accept", data={"csrf_token": csrf(page.text)})
    assert refused.status_code in (403, 404)
    assert await Invitation.all().count() == 0
