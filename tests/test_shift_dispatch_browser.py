"""A shift whose freed place found nobody left to invite, on its roster page in a real
browser (Debian's Chromium through Playwright, a live server): staff see why the place is
still empty; screenshots in zh-CN and English at phone and desktop width for the docs."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from playwright.sync_api import expect

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
from volunteer_hub.models import Invitation
from volunteer_hub.services import invitations, roster, tasks

DESKTOP = {"width": 1280, "height": 800}
NOTE = {
    "zh-CN": "这个班次的空位已没有合适的志愿者可以邀请，请您安排人手。",
    "en": "Nobody is left to invite for the free places of this shift: please find someone.",
}


@dataclass
class Shift:
    path: str
    staff: str


async def declined_patrol(hub: Hub) -> Shift:
    """Tomorrow evening's patrol, two places, one member: staff invite her, she declines,
    and nobody else may come."""
    world = await World(hub).build()
    team = await world.team("silver_patrol", "银发巡逻队")
    member = await world.volunteer("赵阿姨", team=team)
    await world.volunteer("钱师傅", team=await world.team("repair", "便民维修队"))
    start = (hub.now() + timedelta(days=1)).replace(minute=0, second=0, microsecond=0)
    task = await tasks.create_task(
        hub,
        world.staff,
        world.id,
        {
            "title": "银发巡逻",
            "team_id": team.id,
            "starts_at": start,
            "ends_at": start + timedelta(hours=2),
            "capacity": 2,
            "location": "小区东门",
        },
    )
    occurrence = await invitations.invite_to_task(
        hub, world.staff, task.id, {"person_id": member.id}
    )
    row = await Invitation.get(occurrence_id=occurrence.id)
    await invitations.decline(hub, member, row.id, {"reason": "那天要带孙子"})
    return Shift(roster.shift_path(task.id, occurrence.start), world.staff.person.phone)


def test_staff_see_that_nobody_is_left_for_a_shift(settings):
    shift = build(settings, utcnow, declined_patrol)
    with live_server(settings) as base, chromium_browser() as browser:
        for locale, short in (("zh-CN", "zh"), ("en", "en")):
            for viewport, device in ((PHONE, "phone"), (DESKTOP, "desktop")):
                page = new_page(browser, base, viewport=viewport, locale=locale)
                log_in(page, shift.staff)
                page.goto(shift.path)
                expect(page.locator("#nobody-left")).to_have_text(NOTE[locale])
                assert_accessible(page, f"{device}-{short}")
                screenshot(page, f"{device}-{short}-staff-roster-nobody-left", docs=True)
                page.context.close()
