"""No-shows in a real browser (Debian's Chromium through Playwright, a live server): a
volunteer reads their record on their schedule, staff open the console's no-show list and
excuse one with a note, and the volunteer's page then says it no longer counts. Every page
is checked with axe-core and photographed for the docs in zh-CN and English, at phone and
desktop width.

The world is made two days back (a shift two days ago, 19:00-21:00, and a wish due a day
ago), then the worker's pass runs at the real time of the live server.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from playwright.sync_api import Page, expect

from tests.browser_support import (
    PHONE,
    assert_accessible,
    build,
    chromium_browser,
    live_server,
    log_in,
    new_page,
    vhub_database_url,  # noqa: F401 (the fixture: browser tests run on SQLite only)
)
from tests.browser_support import screenshot as take
from tests.factories import World
from volunteer_hub.clock import as_utc, utcnow
from volunteer_hub.hub import Hub
from volunteer_hub.models import Wish
from volunteer_hub.services import no_shows, tasks, teams, wishes

DESKTOP = {"width": 1280, "height": 800}
SIZES = (("phone", PHONE), ("desktop", DESKTOP))
LANGS = (("zh", "zh-CN"), ("en", "en"))


@dataclass
class Missed:
    staff: str
    volunteer: str


def two_days_ago():
    return utcnow() - timedelta(days=2)


async def world(hub: Hub) -> Missed:
    """Made with the clock two days back: a patrol that evening both volunteers signed up
    for, and a wish the first claimed, due the next morning."""
    w = await World(hub).build()
    team = await teams.create_team(
        hub, w.admin, w.id, {"name": "银发巡逻队", "kind": "silver_patrol"}
    )
    first = await w.volunteer("赵大爷", team=team)
    second = await w.volunteer("钱大妈", team=team)
    start = hub.now().replace(second=0, microsecond=0) + timedelta(hours=1)
    task = await tasks.create_task(
        hub,
        w.staff,
        w.id,
        {"title": "银发巡逻", "team_id": team.id, "starts_at": start}
        | {"ends_at": start + timedelta(hours=2), "capacity": 4, "location": "小区东门"},
    )
    for volunteer in (first, second):
        await tasks.sign_up(hub, volunteer, task.id, {})
    resident = await w.person("王奶奶")
    data = {"title": "帮王奶奶取药", "description": "社区医院取降压药", "category": "errand"}
    wish = await wishes.post(hub, resident, w.id, data)
    await wishes.review(hub, w.staff, wish.id, {"decision": "approve"})
    await wishes.claim(hub, first, wish.id)
    due = start + timedelta(hours=14)
    await Wish.filter(id=wish.id).update(
        window_start=as_utc(due - timedelta(hours=2)), window_end=as_utc(due)
    )
    return Missed(w.staff.person.phone, first.person.phone)


async def worker_pass(hub: Hub) -> int:
    return (await no_shows.record_overdue(hub)).total


def shoot(page: Page, name: str) -> None:
    """Check the page with axe-core (no serious or critical problem), then photograph it."""
    assert_accessible(page, name)
    take(page, name, docs=True)


def test_staff_excuse_a_no_show_and_the_volunteer_sees_it(settings):
    m = build(settings, two_days_ago, world)
    assert build(settings, utcnow, worker_pass) == 3  # two shifts, one wish

    with live_server(settings) as base, chromium_browser() as browser:
        # The volunteer's record, in Chinese first: one shift and one wish, both counting.
        volunteer = new_page(browser, base, PHONE, "zh-CN")
        log_in(volunteer, m.volunteer)
        volunteer.goto("/schedule")
        record = volunteer.locator("section.no-shows")
        expect(record.get_by_role("heading", name="我的缺席记录")).to_be_visible()
        expect(record).to_contain_text("守约情况：有所下降")
        expect(record).to_contain_text("银发巡逻")
        expect(record).to_contain_text("帮王奶奶取药")
        expect(record).to_contain_text("未按时完成")

        # Staff find the list in the console's navigation and excuse the shift.
        staff = new_page(browser, base, DESKTOP, "zh-CN")
        log_in(staff, m.staff)
        staff.goto("/staff")
        staff.get_by_role("link", name="缺席记录").click()
        expect(staff.get_by_role("heading", name="缺席记录", exact=True)).to_be_visible()
        card = staff.locator("li.card").filter(has_text="赵大爷").filter(has_text="银发巡逻")
        card.get_by_text("准假").first.click()
        card.get_by_label("原因（简短说明）").fill("社区临时调派去防疫卡点")
        card.get_by_role("button", name="准假").click()
        expect(staff.get_by_role("status")).to_have_text(
            "已准假：这次缺席不再计入，并已通知志愿者。"
        )
        expect(card).to_contain_text("社区临时调派去防疫卡点")

        volunteer.reload()
        expect(record).to_contain_text("已准假")
        expect(record).to_contain_text("社区临时调派去防疫卡点")
        expect(record).to_contain_text("守约情况：略有下降")  # the wish still counts

        # The pages for the docs, checked with axe, in both languages and sizes.
        for size, viewport in SIZES:
            for short, locale in LANGS:
                page = new_page(browser, base, viewport, locale)
                log_in(page, m.staff)
                page.goto("/staff/no-shows")
                shoot(page, f"{size}-{short}-staff-no-shows")
                page.context.close()
                page = new_page(browser, base, viewport, locale)
                log_in(page, m.volunteer)
                page.goto("/schedule")
                expect(page.locator("section.no-shows")).to_be_visible()
                shoot(page, f"{size}-{short}-schedule-no-shows")
                page.context.close()
