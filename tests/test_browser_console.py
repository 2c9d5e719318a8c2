"""The administration console in a real browser (Debian's Chromium through Playwright):
an administrator finds a resident by the phone's last digits and deactivates her, the
grids read in natural order, and every console page passes axe-core's critical checks
at phone and desktop width in Chinese and English, with nothing wider than the screen.

Screenshots go to test-artifacts/screenshots; with VHUB_DOC_SCREENSHOTS=1 they are
written to docs/screenshots as ``{phone|desktop}-{zh|en}-<page>.png`` (docs/pages.md).
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import expect

from tests.browser_support import (
    DESKTOP,
    PHONE,
    build,
    chromium_browser,
    live_server,
    log_in,
    new_page,
    screenshot,
    vhub_database_url,  # noqa: F401 (the fixture: browser tests run on SQLite only)
)
from tests.factories import PASSWORD, World
from volunteer_hub.clock import utcnow
from volunteer_hub.hub import Hub
from volunteer_hub.models import Role
from volunteer_hub.services import people, teams

PAGES = {  # the screenshot's name → the path (community added where it takes one)
    "admin-communities": "/admin/communities",
    "staff-settings": "/staff/community",
    "staff-grids": "/staff/grids",
    "staff-people": "/staff/people?q=王",
    "staff-person": "/staff/people/{wang}",
    "staff-teams": "/staff/teams",
    "staff-channels": "/staff/channels",
    "admin-plugins": "/admin/plugins",
}


@dataclass
class Console:
    community_id: int
    admin: str
    wang_id: int
    wang_phone: str


async def community(hub: Hub) -> Console:
    w = await World(hub).build()
    for name in ("第十一网格", "第三网格", "第十网格"):
        await people.create_grid(hub, w.admin, w.id, {"name": name})
    wang = await w.person("王奶奶", address="幸福里7号楼1单元101")
    await w.person("王建国", grid=w.other_grid)
    leader = await w.volunteer("李晓明")
    team = await w.team("elderly_care", "助老服务队")
    await w.join(leader, team)
    await teams.update_team(hub, w.admin, team.id, {"leader_id": leader.id})
    await w.team("anti_fraud", "反诈宣传队")
    await people.assign_role(hub, None, w.id, leader.id, Role.GRID_WORKER, grid_id=w.other_grid.id)
    await people.update_community(
        hub, w.admin, w.id, {"manual_dispatch_categories": ["legal", "psychology"]}
    )
    return Console(w.id, w.admin.person.phone, wang.id, wang.person.phone)


@pytest.fixture
def site(settings):
    found = build(settings, utcnow, community)
    with live_server(settings) as base:
        yield base, found


@pytest.fixture(scope="module")
def browser():
    with chromium_browser() as instance:
        yield instance


def test_an_admin_finds_a_resident_by_phone_and_deactivates_her(site, browser):
    base, c = site
    page = new_page(browser, base, PHONE, "en")
    log_in(page, c.admin)
    expect(page.get_by_role("heading", name="Communities", exact=True)).to_be_visible()
    page.get_by_role("link", name="Open the console").first.click()
    page.get_by_role("link", name="Grids", exact=True).click()
    names = page.locator(".rows h3").all_inner_texts()
    assert names == ["第一网格", "第二网格", "第三网格", "第十网格", "第十一网格"]

    page.get_by_role("link", name="People", exact=True).click()
    page.get_by_label("Name, or the phone's last digits").fill(c.wang_phone[-4:])
    page.get_by_role("button", name="Search").click()
    page.get_by_role("link", name="王奶奶").click()
    expect(page.get_by_role("heading", name="王奶奶")).to_be_visible()
    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="Deactivate").click()
    expect(page.get_by_text("Deactivated: they are logged out everywhere")).to_be_visible()

    resident = new_page(browser, base, PHONE, "en")
    resident.goto("/login")
    resident.get_by_label("Mobile phone number").fill(c.wang_phone)
    resident.get_by_label("Password").fill(PASSWORD)
    resident.get_by_role("button", name="Log in").click()
    expect(resident.get_by_text("Wrong phone number or password.")).to_be_visible()


@pytest.mark.parametrize("locale", ["zh-CN", "en"])
def test_console_pages_are_accessible_and_fit_a_phone(site, browser, locale):
    base, c = site
    for width, viewport in (("phone", PHONE), ("desktop", DESKTOP)):
        page = new_page(browser, base, viewport, locale)
        log_in(page, c.admin)
        for name, path in PAGES.items():
            target = path.format(wang=c.wang_id)
            if name.startswith("staff") or name == "admin-plugins":
                joiner = "&" if "?" in target else "?"
                target += f"{joiner}community={c.community_id}"
            response = page.goto(target)
            assert response is not None and response.status == 200, f"{target}: {response}"
            scroll = page.evaluate("document.documentElement.scrollWidth")
            assert scroll <= viewport["width"], f"{target} is {scroll}px wide at {width} width"
            violations = Axe().run(page).response["violations"]
            critical = [v["id"] for v in violations if v["impact"] in ("critical", "serious")]
            assert not critical, f"{target} ({locale}, {width}): {critical}"
            lang = "zh" if locale == "zh-CN" else "en"
            screenshot(page, f"{width}-{lang}-{name}", docs=True)
        page.context.close()
