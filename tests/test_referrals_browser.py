"""The 吹哨 loop in a real browser (Debian's Chromium through Playwright, a live server): a
responsible contact opens the link from their message without an account, acknowledges it
and resolves it with a note; staff see the board (urgent first, age, who holds it) and the
contacts page with each contact's language; a link past its lifetime says so. Each page is
checked with axe-core and photographed for the docs in zh-CN and English at phone (390 px)
and desktop (1280 px) width.
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
    screenshot,
    vhub_database_url,  # noqa: F401 (the fixture: browser tests run on SQLite only)
)
from tests.factories import World
from volunteer_hub.clock import utcnow
from volunteer_hub.hub import Hub
from volunteer_hub.models import Referral
from volunteer_hub.security import secret_digest
from volunteer_hub.services import channels, referrals, wishes

DESKTOP = {"width": 1280, "height": 800}
SIZES = (("phone", PHONE), ("desktop", DESKTOP))


@dataclass
class Street:
    community_id: int
    staff: str
    tokens: list[str]  # the links of the two wishes referred to the facilities section


async def street(hub: Hub) -> Street:
    """A street light and a missing manhole cover (urgent), both escalated to blue and
    referred to the street office's facilities section; a yellow-level contact too, and a
    red-level one told in English."""
    world = await World(hub).build()
    await channels.configure(
        hub,
        world.staff,
        world.id,
        {"code": "webhook", "name": "短信网关", "settings": {"url": "http://127.0.0.1:9/hook"}},
    )
    section = {
        "level": "blue",
        "name": "街道办设施科",
        "channel_code": "webhook",
        "address": "13900139000",
    }
    await referrals.add_contact(hub, world.staff, world.id, section)
    await referrals.add_contact(
        hub,
        world.staff,
        world.id,
        {**section, "level": "yellow", "name": "街道办副主任", "address": "13900139001"},
    )
    await referrals.add_contact(
        hub,
        world.staff,
        world.id,
        {**section, "category": "repair", "name": "物业维修部", "address": "13900139002"},
    )
    await referrals.add_contact(
        hub,
        world.staff,
        world.id,
        {
            **section,
            "level": "red",
            "name": "Riverside Property Services",
            "address": "13900139003",
            "locale": "en",
        },
    )
    tokens: list[str] = []

    async def catch(_hub, pending):
        tokens.append(pending.secret[referrals.TOKEN_SECRET])

    hub.events.subscribe("wish.referred", catch)
    resident = await world.person("王奶奶")
    for title, urgent in (("3号楼前路灯太暗", False), ("小区东门井盖丢失", True)):
        wish = await wishes.post(
            hub,
            resident,
            world.id,
            {
                "title": title,
                "description": "晚上看不清，老人容易摔倒",
                "category": "errand",
                "urgent": urgent,
            },
        )
        await wishes.review(hub, world.staff, wish.id, {"decision": "approve"})
        await wishes.escalate(hub, world.staff, wish.id, {"level": "blue"})
    return Street(world.id, world.staff.person.phone, tokens)


def expire(token: str):
    """A scenario that makes ``token``'s link older than its lifetime."""

    async def scenario(hub: Hub) -> None:
        sent = hub.now() - referrals.LINK_LIFETIME - timedelta(hours=2)
        await Referral.filter(token_hash=secret_digest(token)).update(notified_at=sent)

    return scenario


def open_link(browser, base: str, viewport: dict, lang: str, path: str) -> Page:
    """The link's page as its contact (zh-CN) sees it; in English after pressing the
    pages' language switch (the page speaks the contact's language otherwise)."""
    page = new_page(browser, base, viewport, "en" if lang == "en" else "zh-CN")
    page.goto(path)
    if lang == "en":
        page.get_by_role("button", name="English").click()
    return page


def shoot(page: Page, name: str) -> None:
    """Check the page with axe-core (no serious or critical problem), then photograph it."""
    assert_accessible(page, name)
    screenshot(page, name, docs=True)


def test_contact_answers_through_the_link_and_staff_see_the_board(settings):
    s = build(settings, utcnow, street)
    light, cover = s.tokens
    with live_server(settings) as base, chromium_browser() as browser:
        # The contact: no account, the link from the message.
        for size, viewport in SIZES:
            for lang in ("zh", "en"):
                page = open_link(browser, base, viewport, lang, f"/referrals/{cover}")
                expect(page.get_by_role("heading", name="小区东门井盖丢失")).to_be_visible()
                expect(page.locator("html")).to_have_attribute(
                    "lang", "en" if lang == "en" else "zh-CN"
                )
                shoot(page, f"{size}-{lang}-referral")
                page.context.close()

        contact = new_page(browser, base, PHONE, "zh-CN")
        contact.goto(f"/referrals/{cover}")
        contact.get_by_role("button", name="已收到").click()
        expect(contact.get_by_text("谢谢！社区已看到您确认收到。")).to_be_visible()
        expect(contact.get_by_role("button", name="已收到")).to_have_count(0)

        # Staff: the board, the urgent wish first, acknowledged; the other not yet.
        for size, viewport in SIZES:
            for locale, lang in (("zh-CN", "zh"), ("en", "en")):
                staff = new_page(browser, base, viewport, locale)
                log_in(staff, s.staff)
                staff.goto(f"/staff/escalations?community={s.community_id}")
                cards = staff.locator(".column-blue li.card")
                expect(cards).to_have_count(2)
                expect(cards.first).to_contain_text("小区东门井盖丢失")
                expect(cards.first).to_contain_text("街道办设施科")
                expect(cards.nth(1)).to_contain_text("3号楼前路灯太暗")
                shoot(staff, f"{size}-{lang}-escalation-board")
                staff.goto(f"/staff/contacts?community={s.community_id}")
                expect(staff.get_by_text("物业维修部", exact=True)).to_be_visible()
                told = "Told in English" if lang == "en" else "通知语言：English"
                expect(staff.get_by_text(told)).to_be_visible()
                language = "Language of their messages" if lang == "en" else "通知和链接页面"
                expect(staff.get_by_label(language)).to_have_value("zh-CN")
                shoot(staff, f"{size}-{lang}-responsible-contacts")
                staff.context.close()

        # The contact resolves it with a note; the link then shows the outcome.
        contact.get_by_label("处理情况").fill("已加装井盖并设置警示")
        contact.get_by_role("button", name="已解决").click()
        expect(contact.get_by_text("谢谢！该心愿已标记为解决，居民会收到通知。")).to_be_visible()
        expect(contact.get_by_text("由街道办设施科解决: 已加装井盖并设置警示")).to_be_visible()
        shoot(contact, "phone-zh-referral-resolved")
        expect(contact.get_by_role("button", name="已解决")).to_have_count(0)

        # The street light's link, past its lifetime: a clear page, nothing of the wish.
        build(settings, utcnow, expire(light))
        for size, viewport in SIZES:
            for lang in ("zh", "en"):
                page = open_link(browser, base, viewport, lang, f"/referrals/{light}")
                heading = "This link has expired" if lang == "en" else "此链接已过期"
                expect(page.get_by_role("heading", name=heading)).to_be_visible()
                expect(page.get_by_text("3号楼前路灯太暗")).to_have_count(0)
                expect(page.get_by_role("button", name="已解决")).to_have_count(0)
                shoot(page, f"{size}-{lang}-referral-expired")
                page.context.close()

        # A wrong link is a clear 404 page.
        response = contact.goto(f"/referrals/{light[:-3]}xyz")
        assert response is not None and response.status == 404
        contact.context.close()
