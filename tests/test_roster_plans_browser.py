"""The roster plan in a real browser (Debian's Chromium through Playwright, a live server):
staff open 排班方案 from the console, generate next week's plan, preview it, and accept it;
axe-core checks each page; screenshots in zh-CN and English at 390 and 1280 px for the docs.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from playwright.sync_api import expect

from tests.browser_support import (
    PHONE,
    build,
    chromium_browser,
    live_server,
    log_in,
    new_page,
    vhub_database_url,  # noqa: F401 (the fixture: browser tests run on SQLite only)
)
from tests.factories import World
from tests.test_roster_browser import DESKTOP, shoot
from volunteer_hub.clock import utcnow
from volunteer_hub.hub import Hub
from volunteer_hub.models import Invitation
from volunteer_hub.services import rostering, tasks

SH = ZoneInfo("Asia/Shanghai")


@dataclass
class Scene:
    community_id: int
    staff: str


async def scene(hub: Hub) -> Scene:
    """Next week: the silver patrol walks Tuesday and Thursday evenings (two places each),
    the library needs three people on Wednesday morning; six volunteers."""
    w = await World(hub).build()
    monday, _ = rostering.default_period(hub, "Asia/Shanghai")
    patrol = await w.team("silver_patrol", "银发巡逻队")
    for name in ("老张", "老王", "老李"):
        await w.volunteer(name, team=patrol)
    care = await w.team("elderly_care", "助老服务队")
    for name in ("小赵", "小钱", "小孙"):
        await w.volunteer(name, team=care)
    tuesday = datetime(monday.year, monday.month, monday.day, 19, tzinfo=SH) + timedelta(days=1)
    await tasks.create_task(
        hub,
        w.staff,
        w.id,
        {
            "title": "夜间巡逻",
            "team_id": patrol.id,
            "starts_at": tuesday,
            "ends_at": tuesday + timedelta(hours=2),
            "capacity": 2,
            "rrule": "FREQ=WEEKLY;BYDAY=TU,TH",
            "location": "小区东门",
        },
    )
    wednesday = tuesday + timedelta(days=1) - timedelta(hours=10)
    await tasks.create_task(
        hub,
        w.staff,
        w.id,
        {
            "title": "图书室值班",
            "starts_at": wednesday,
            "ends_at": wednesday + timedelta(hours=3),
            "capacity": 3,
            "location": "社区图书室",
        },
    )
    return Scene(w.id, w.staff.person.phone)


WORDS = {
    "zh-CN": ("排班方案", "生成排班方案", "谁去哪里，为什么", "采纳方案并发出邀请", "方案已采纳"),
    "en": (
        "Roster plans",
        "Generate a roster plan",
        "Who goes where, and why",
        "Accept and invite everyone",
        "The plan is accepted",
    ),
}


def test_staff_generate_preview_and_accept_a_roster_plan(settings):
    s = build(settings, utcnow, scene)
    with live_server(settings) as base, chromium_browser() as browser:
        for locale, tag in (("zh-CN", "zh"), ("en", "en")):
            nav, generate, heading, accept, accepted = WORDS[locale]
            for viewport, size in ((PHONE, "phone"), (DESKTOP, "desktop")):
                page = new_page(browser, base, viewport=viewport, locale=locale)
                log_in(page, s.staff)
                page.goto("/staff")
                page.get_by_role("link", name=nav).click()
                expect(page.get_by_role("heading", name=nav, exact=True)).to_be_visible()
                shoot(page, f"{size}-{tag}-staff-roster-plans")
                page.get_by_role("button", name=generate).click()
                expect(page.get_by_role("heading", name=heading)).to_be_visible()
                expect(page.get_by_text("夜间巡逻").first).to_be_visible()
                shoot(page, f"{size}-{tag}-staff-roster-plan")
                page.context.close()
        # Accept the last plan: everyone in it is invited.
        page = new_page(browser, base, viewport=DESKTOP, locale="en")
        log_in(page, s.staff)
        page.goto(f"/staff/roster?community={s.community_id}")
        page.get_by_role("button", name=WORDS["en"][1]).click()
        page.get_by_role("button", name=WORDS["en"][3]).click()
        expect(page.get_by_role("status").first).to_contain_text(WORDS["en"][4])
        plan_id = int(page.url.split("/staff/roster/")[1].split("?")[0])
        page.context.close()

    async def invited(hub: Hub) -> int:
        return await Invitation.filter(roster_plan_id=plan_id).count()

    assert build(settings, utcnow, invited) == 7  # every place of the plan
