"""Answering an invitation in a real browser (Debian's Chromium through Playwright, a live
server): a volunteer dispatched to Ms. Wang's wish opens "my invitations" on a phone,
accepts, and reaches the wish with her contact; another declines in English on a desktop.
Each page passes axe-core (no serious or critical problem) and is photographed for the
docs in zh-CN and English at 390 and 1280 px.
"""

from __future__ import annotations

from dataclasses import dataclass

from playwright.sync_api import Page, expect

from tests.browser_support import (
    PHONE,
    assert_accessible,
    build,
    chromium_browser,
    live_server,
    log_in,
    new_page,
    screenshot,
    vhub_database_url,  # noqa: F401 (the fixture: browser tests run on SQLite only)
)
from tests.factories import World
from volunteer_hub.clock import utcnow
from volunteer_hub.hub import Hub
from volunteer_hub.services import invitations, wishes

DESKTOP = {"width": 1280, "height": 800}


@dataclass
class Scene:
    wish_id: int
    volunteers: list[str]  # phones, in the ranking's order
    resident_phone: str


async def scene(hub: Hub) -> Scene:
    w = await World(hub).build()
    team = await w.team("elderly_care", "助老服务队")
    people = [await w.volunteer(n, team=team) for n in ("李志愿", "张志愿", "赵志愿")]
    wang = await w.person("王奶奶")
    wish = await wishes.post(
        hub,
        wang,
        w.id,
        {
            "title": "陪同去医院复查",
            "description": "周四上午去市一医院复查，需要有人陪同",
            "category": "elderly_care",
        },
    )
    await invitations.review(hub, w.staff, wish.id, {"decision": "approve"})
    return Scene(wish.id, [p.person.phone for p in people], wang.person.phone)


def shoot(page: Page, name: str) -> None:
    assert_accessible(page, name)
    screenshot(page, name, docs=True)


def test_volunteers_answer_their_invitations(settings):
    s = build(settings, utcnow, scene)
    with live_server(settings) as base, chromium_browser() as browser:
        phone = new_page(browser, base, PHONE, "zh-CN")
        log_in(phone, s.volunteers[0])
        phone.get_by_role("link", name="我的邀请").first.click()
        expect(phone.get_by_role("heading", name="我的邀请")).to_be_visible()
        expect(phone.get_by_role("link", name="陪同去医院复查")).to_be_visible()
        shoot(phone, "phone-zh-CN-invitations")
        phone.get_by_role("link", name="陪同去医院复查").click()
        expect(phone.get_by_text("社区自动邀请：您是最合适的志愿者之一")).to_be_visible()
        shoot(phone, "phone-zh-CN-invitation")
        phone.get_by_role("button", name="接受").click()
        expect(phone.get_by_text("谢谢您！您已接受邀请。")).to_be_visible()
        phone.get_by_role("link", name="查看心愿和居民联系方式").click()
        expect(phone.get_by_text(s.resident_phone)).to_be_visible()

        desktop = new_page(browser, base, DESKTOP, "en")
        log_in(desktop, s.volunteers[1])
        desktop.goto("/invitations")
        expect(desktop.get_by_role("heading", name="My invitations")).to_be_visible()
        expect(desktop.get_by_text("No longer needed")).to_be_visible()  # taken meanwhile
        shoot(desktop, "desktop-en-invitations")

        for viewport, locale, name in (
            (DESKTOP, "zh-CN", "desktop-zh-CN-invitation"),
            (PHONE, "en", "phone-en-invitation"),
            (DESKTOP, "en", "desktop-en-invitation"),
        ):
            page = new_page(browser, base, viewport, locale)
            log_in(page, s.volunteers[2])
            page.goto("/invitations")
            page.locator("h3 a").first.click()
            shoot(page, name)
        english = new_page(browser, base, PHONE, "en")
        log_in(english, s.volunteers[2])
        english.goto("/invitations")
        shoot(english, "phone-en-invitations")
        chinese = new_page(browser, base, DESKTOP, "zh-CN")
        log_in(chinese, s.volunteers[2])
        chinese.goto("/invitations")
        shoot(chinese, "desktop-zh-CN-invitations")
