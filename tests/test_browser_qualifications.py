"""Story 2 made possible (issue 12, point 1), in Debian's Chromium against a live server
with the installed plugins (the registration rules among them): a counsellor asks to join
the psychology team with her certificate's number and expiry, staff check and approve her
on the approvals page, and she then claims a parent's psychology wish.

Screenshots of the approvals page in zh-CN and English at phone and desktop width
(``{phone|desktop}-{zh|en}-approvals.png``), and of the volunteer's teams page with the
certificate (renewed in ``docs/screenshots/`` with VHUB_DOC_SCREENSHOTS=1).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import pytest
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import Page, expect

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
from tests.factories import World
from volunteer_hub.clock import utcnow
from volunteer_hub.hub import Hub
from volunteer_hub.services import teams, wishes

WISH_TITLE = "孩子学习压力很大"
NUMBER = "XL-2024-0815"


@pytest.fixture
def chromium():
    with chromium_browser() as instance:
        yield instance


@dataclass
class Cast:
    staff: str
    counsellor: str
    others: list[str]


async def psychology(hub: Hub) -> Cast:
    """A community with a psychology team, a parent's open psychology wish, a counsellor
    to be, and two more requests waiting (so that the page shows what it holds)."""
    world = await World(hub).build()
    team = await world.team("psychology", "心理服务队")
    parent = await world.person("周女士")
    wish = await wishes.post(
        hub,
        parent,
        world.id,
        {
            "title": WISH_TITLE,
            "description": "初三，最近睡不好，想找心理老师聊聊",
            "category": "psychology",
        },
    )
    await wishes.review(hub, world.staff, wish.id, {"decision": "approve"})
    counsellor = await world.person("林晓雯", birth_date=date(1990, 4, 2))
    repair = await world.team("repair", "维修服务队")
    newcomer = await world.person("赵师傅")
    await teams.join_team(hub, newcomer, repair.id)
    member = await world.person("钱老师")
    await teams.join_team(
        hub,
        member,
        team.id,
        {"qualifications": [{"kind": "counsellor", "expires_on": "2026-12-20"}]},
    )
    approved = await teams.list_memberships(world.staff, world.id)
    await teams.approve_membership(hub, world.staff, approved[-1].id)
    await teams.declare_qualification(
        hub,
        member,
        team.id,
        {"kind": "counsellor", "expires_on": "2029-12-31", "certificate_number": "XL-2026-0103"},
    )
    reporter = await world.person("孙党员")
    await teams.file_party_report(
        hub,
        reporter,
        {"community_id": world.id, "work_unit": "区税务局", "party_branch": "第三党支部"},
    )
    return Cast(world.staff.person.phone, counsellor.person.phone, [newcomer.person.phone])


def serious_violations(page: Page) -> list[str]:
    """What axe-core finds serious or critical on the page."""
    found = Axe().run(page).response["violations"]
    return [
        f"{page.url} {v['id']}: {v['help']}"
        for v in found
        if v["impact"] in ("serious", "critical")
    ]


def shoot(page: Page, name: str) -> None:
    screenshot(page, name, docs=True)


def test_staff_approve_a_counsellor_who_then_claims_a_psychology_wish(settings, chromium):
    cast = build(settings, utcnow, psychology)
    with live_server(settings, autoload=True) as base:
        counsellor = new_page(chromium, base, timeout=15_000)
        log_in(counsellor, cast.counsellor)
        counsellor.goto("/wishes")
        expect(counsellor.get_by_text(WISH_TITLE)).to_have_count(0)  # not for her yet

        # Joining without an expiry: the registration rules want one.
        counsellor.goto("/teams")
        card = counsellor.locator("li.card", has_text="心理服务队")
        card.get_by_label("资质", exact=True).select_option("counsellor")
        card.get_by_label("证书编号").fill(NUMBER)
        card.get_by_role("button", name="加入心理服务队").click()
        card = counsellor.locator("li.card", has_text="心理服务队")
        expect(card.get_by_role("alert")).to_contain_text("有效期")
        card.get_by_label("有效期至").fill("2027-06-30")
        card.get_by_role("button", name="加入心理服务队").click()
        expect(counsellor.get_by_text("申请已提交")).to_be_visible()

        for locale, lang in (("zh-CN", "zh"), ("en", "en")):
            for width, viewport in (("phone", PHONE), ("desktop", DESKTOP)):
                staff = new_page(chromium, base, viewport=viewport, locale=locale, timeout=15_000)
                log_in(staff, cast.staff)
                staff.goto("/staff/approvals")
                request = staff.locator("li.card", has_text="林晓雯")
                expect(request).to_contain_text(NUMBER)
                expect(request).to_contain_text("2027")
                assert not serious_violations(staff)
                shoot(staff, f"{width}-{lang}-approvals")
                staff.context.close()

        staff = new_page(chromium, base, viewport=DESKTOP, timeout=15_000)
        log_in(staff, cast.staff)
        staff.goto("/staff/approvals")
        staff.locator("li.card", has_text="林晓雯").get_by_role(
            "button", name="通过", exact=True
        ).click()
        expect(staff.get_by_text("已审核通过")).to_be_visible()
        expect(staff.locator("li.card", has_text="林晓雯")).to_have_count(0)

        counsellor.goto("/teams")
        mine = counsellor.locator("li.card", has_text="心理服务队")
        expect(mine.get_by_text("您是该队队员。")).to_be_visible()
        expect(mine).to_contain_text(NUMBER)
        expect(mine).to_contain_text("已核验")
        assert not serious_violations(counsellor)
        shoot(counsellor, "phone-zh-teams")
        counsellor.goto("/wishes")
        counsellor.get_by_role("link", name=WISH_TITLE).click()
        counsellor.get_by_role("button", name="我来认领").click()
        expect(counsellor.get_by_text("您已认领这个心愿")).to_be_visible()
