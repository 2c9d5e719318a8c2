"""Emergency mode in a real browser (Debian's Chromium, Playwright, a live server): staff
switch it on, a resident sees the banner and her errand is open at once, an
acknowledgement appears on the call-out page without a reload, staff switch it off and
the banner is gone. Screenshots of the emergency page, the call-out page and a page with
the banner, in zh-CN and English at phone and desktop width (test-artifacts/screenshots;
renewed in docs/screenshots with VHUB_DOC_SCREENSHOTS=1)."""

from __future__ import annotations

import re
from dataclasses import dataclass

from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import Page, expect

from tests.browser_support import (
    DESKTOP,
    PHONE,
    build,
    live_server,
    screenshot,
    vhub_database_url,  # noqa: F401 (the fixture: browser tests run on SQLite only)
)
from tests.factories import World
from tests.test_browser import browser, log_in, new_page  # noqa: F401 - the browser fixture
from volunteer_hub.clock import utcnow
from volunteer_hub.hub import Hub
from volunteer_hub.models import Notification

ACK_LINK = re.compile(r"https?://[^\s\"<]+?(/ack/[A-Za-z0-9_\-]+)")


@dataclass
class Flood:
    community_id: int
    staff: str
    resident: str
    volunteer_id: int


async def flood(hub: Hub) -> Flood:
    world = await World(hub).build()
    team = await world.team("elderly_care", "助老服务队")
    volunteer = await world.volunteer("李晓明", team=team)
    await world.volunteer("赵志愿", team=team)
    resident = await world.person("陈阿姨")
    return Flood(
        community_id=world.community.id,
        staff=world.staff.person.phone,
        resident=resident.person.phone,
        volunteer_id=volunteer.id,
    )


def ack_link(settings, person_id: int) -> str:
    """The path of the link in the call-out the volunteer received (their inbox's copy;
    the link names the site's public address, the live server listens elsewhere)."""

    async def read(hub: Hub) -> str:
        note = await Notification.get(person_id=person_id, event="emergency.callout")
        return ACK_LINK.search(note.body).group(1)

    return build(settings, utcnow, read)


def photograph(browser, base: str, phone: str, path: str, name: str) -> None:  # noqa: F811
    """The page at ``path`` as ``phone`` sees it, in both languages at both widths; axe-core
    finds no serious or critical violation."""
    problems = []
    for viewport, width in ((PHONE, "phone"), (DESKTOP, "desktop")):
        for locale, lang in (("zh-CN", "zh"), ("en", "en")):
            page = new_page(browser, base, viewport=viewport, locale=locale)
            log_in(page, phone)
            page.goto(path)
            expect(page.locator("h1")).to_be_visible()
            # Nothing is wider than the screen.
            assert page.evaluate("document.documentElement.scrollWidth") <= viewport["width"]
            assert page.locator("main h1").count() == 1
            for v in Axe().run(page).response["violations"]:
                if v["impact"] in ("serious", "critical"):
                    problems.append(f"{width} {locale} {path} {v['id']}: {v['help']}")
            screenshot(page, f"{width}-{lang}-{name}", docs=True)
            page.context.close()
    assert not problems, "\n".join(problems)


def test_emergency_mode_on_and_off(settings, browser):  # noqa: F811
    people = build(settings, utcnow, flood)
    cid = people.community_id
    with live_server(settings) as base:
        staff: Page = new_page(browser, base, viewport=DESKTOP, locale="en")
        staff.on("dialog", lambda dialog: dialog.accept())  # "Switch emergency mode on…?"
        log_in(staff, people.staff)
        staff.goto("/staff")
        staff.get_by_role("link", name="Emergency mode").click()
        expect(staff.get_by_text("Emergency mode is off.")).to_be_visible()
        staff.get_by_label("Reason").fill("暴雨红色预警：地下车库进水")
        staff.get_by_label("Call-out message").fill("请今晚8点前到社区服务站集合，带好雨具。")
        staff.get_by_label("Every volunteer").check()
        staff.get_by_label("Errand").check()
        staff.get_by_role("button", name="Switch on and call out").click()
        expect(
            staff.get_by_text("Emergency mode is on. The call-out is on its way.")
        ).to_be_visible()
        expect(staff.locator(".emergency-banner")).to_contain_text("暴雨红色预警")

        # The resident sees the banner, in Chinese, and her errand is open at once.
        resident = new_page(browser, base, viewport=PHONE)
        log_in(resident, people.resident)
        banner = resident.locator(".emergency-banner")
        expect(banner).to_contain_text("紧急状态")
        expect(banner).to_contain_text("暴雨红色预警：地下车库进水")
        expect(banner.get_by_role("link")).to_have_count(0)  # the link is for staff
        resident.goto("/wishes/new")
        resident.get_by_label("您需要什么帮助？").fill("帮忙买一周的菜")
        resident.get_by_label("帮助类别").select_option("errand")
        resident.get_by_label("详细说明").fill("家里被水围住了，出不了门")
        resident.get_by_role("button", name="发布心愿").click()
        expect(resident.get_by_role("heading", name="帮忙买一周的菜")).to_be_visible()
        expect(resident.locator(".meta strong")).to_have_text("已通过，等待志愿者认领")
        expect(resident.locator(".notice")).to_have_text("心愿已发布，志愿者现在就可以认领。")

        # The call-out page counts acknowledgements as they come, without a reload.
        on_emergency_page = staff.locator("[data-headcount] strong [data-field=acknowledged]")
        expect(on_emergency_page).to_have_text("0")
        staff.get_by_role("link", name="The call-out's acknowledgements").click()
        counted = staff.locator(".count [data-field=acknowledged]")
        expect(counted).to_have_text("0")
        volunteer = new_page(browser, base, viewport=PHONE)
        volunteer.goto(ack_link(settings, people.volunteer_id))
        expect(volunteer.get_by_text("谢谢！已收到您的确认。")).to_be_visible()
        expect(counted).to_have_text("1")  # the page's script polled the new count
        expect(staff.locator("progress")).to_have_attribute("value", "1")
        callout_path = staff.url.removeprefix(base)

        photograph(browser, base, people.staff, f"/staff/emergency?community={cid}", "emergency")
        photograph(browser, base, people.staff, callout_path, "callout")
        photograph(browser, base, people.staff, f"/staff/callouts?community={cid}", "callouts")
        photograph(browser, base, people.resident, "/", "banner")

        # Staff switch it off; the banner is gone.
        staff.goto(f"/staff/emergency?community={cid}")
        staff.get_by_label("Note (optional)").fill("雨停了，积水已排")
        staff.get_by_role("button", name="Switch off").click()
        expect(
            staff.get_by_text("Emergency mode is off. New wishes go to review again.")
        ).to_be_visible()
        expect(staff.locator(".emergency-banner")).to_have_count(0)
        resident.goto("/")
        expect(resident.get_by_role("button", name="退出登录")).to_be_visible()
        expect(resident.locator(".emergency-banner")).to_have_count(0)
