"""The availability page in a real browser (Debian's Chromium through Playwright, a live
server): a volunteer says when they are free, a wrong time is marked beside its field; a
resident asks not to be sent a volunteer again. axe-core finds no serious problem;
screenshots in zh-CN and English at phone and desktop width for the docs."""

from __future__ import annotations

from dataclasses import dataclass

from playwright.sync_api import Page, expect

from tests.browser_support import (
    DESKTOP,
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
from volunteer_hub.services import wishes


@dataclass
class Cast:
    volunteers: list[str]
    resident: str
    wish_id: int


async def cast(hub: Hub) -> Cast:
    world = await World(hub).build()
    team = await world.team("repair")
    volunteers = [
        await world.volunteer(n, team=team) for n in ("小李", "小张", "Li Na", "Zhang Wei")
    ]
    resident = await world.person("王奶奶")
    wish = await wishes.post(
        hub,
        resident,
        world.id,
        {"title": "帮忙取快递", "description": "腿脚不便", "category": "errand"},
    )
    await wishes.review(hub, world.staff, wish.id, {"decision": "approve"})
    await wishes.claim(hub, volunteers[0], wish.id)
    await wishes.fulfil(hub, volunteers[0], wish.id, {"note": "放在门口了"})
    return Cast([v.person.phone for v in volunteers], resident.person.phone, wish.id)


def check(page: Page, name: str) -> None:
    assert_accessible(page, name)
    screenshot(page, name, docs=True)


WORDS = {
    "zh-CN": ("周二", "开始", "至", "保存", "已保存。", "须早于结束时间。"),
    "en": ("Tuesday", "From", "to", "Save", "Saved.", "Must be before the end."),
}


def test_a_volunteer_sets_free_times_and_a_resident_stops_a_volunteer(settings):
    c = build(settings, utcnow, cast)
    with live_server(settings) as base, chromium_browser() as browser:
        shots = [("zh-CN", PHONE, "phone-zh"), ("zh-CN", DESKTOP, "desktop-zh")]
        shots += [("en", PHONE, "phone-en"), ("en", DESKTOP, "desktop-en")]
        for i, (locale, viewport, prefix) in enumerate(shots):
            tuesday, start_label, _, save, saved, too_late = WORDS[locale]
            page = new_page(browser, base, viewport=viewport, locale=locale)
            log_in(page, c.volunteers[i])
            page.goto("/availability")
            day = page.get_by_role("group", name=tuesday)
            day.get_by_label(start_label, exact=True).first.fill("09:00")
            day.locator("input[name='d2-0-end']").fill("12:00")
            page.get_by_role("button", name=save).click()
            expect(page.get_by_role("status")).to_have_text(saved)
            expect(page.locator("#d2-0-start")).to_have_value("09:00")
            check(page, f"{prefix}-availability")
            # A wrong range is marked beside its field, and what was typed stays.
            page.locator("#d3-0-start").fill("13:00")
            page.locator("#d3-0-end").fill("12:00")
            page.get_by_role("button", name=save).click()
            expect(page.locator("#d3-0-start")).to_have_attribute("aria-invalid", "true")
            expect(page.locator("#d3-0-start-error")).to_have_text(too_late)
            page.context.close()

        resident = new_page(browser, base, viewport=PHONE, locale="zh-CN")
        resident.on("dialog", lambda dialog: dialog.accept())
        log_in(resident, c.resident)
        resident.goto(f"/wishes/{c.wish_id}")
        resident.get_by_text("不再安排这位志愿者").first.click()
        resident.get_by_role("button", name="不再安排这位志愿者").click()
        expect(resident.get_by_role("status")).to_contain_text("不会再安排这位志愿者")
        check(resident, "phone-zh-wish-do-not-send")
