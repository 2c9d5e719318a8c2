"""The roster in a real browser (Debian's Chromium through Playwright, a live server): staff
check volunteers in by typing a check-in code, with a roster button, and by scanning the
volunteer's QR code with a (fake) camera; the QR code on the schedule page decodes with
the vendored decoder; screenshots of the task list and the roster for the docs.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest
import segno
from playwright.sync_api import Page, expect, sync_playwright

from tests.browser_support import (
    CHROMIUM_FLAGS,
    PHONE,
    assert_accessible,
    build,
    chromium_path,
    live_server,
    screenshot,
    vhub_database_url,  # noqa: F401 (the fixture: browser tests run on SQLite only)
)
from tests.factories import PASSWORD, World
from volunteer_hub.clock import utcnow
from volunteer_hub.hub import Hub
from volunteer_hub.services import roster, tasks, teams

DESKTOP = {"width": 1280, "height": 800}


@dataclass
class Crew:
    task_id: int
    community_id: int
    staff: str
    volunteer: str
    names: list[str]
    codes: list[str]


async def crew(hub: Hub) -> Crew:
    """A patrol starting in half an hour (check-in is open): three places, four volunteers."""
    world = await World(hub).build()
    leader = await world.person("王队长")
    team = await teams.create_team(
        hub,
        world.admin,
        world.id,
        {"name": "银发巡逻队", "kind": "silver_patrol", "leader_id": leader.id},
    )
    names = ["赵大爷", "钱大妈", "孙阿姨", "李叔叔"]
    people = [await world.volunteer(n, team=team) for n in names]
    start = hub.now().replace(second=0, microsecond=0) + timedelta(minutes=30)
    task = await tasks.create_task(
        hub,
        world.staff,
        world.id,
        {
            "title": "银发巡逻",
            "team_id": team.id,
            "starts_at": start,
            "ends_at": start + timedelta(hours=2),
            "capacity": 3,
            "location": "小区东门",
        },
    )
    signups = [await tasks.sign_up(hub, p, task.id, {}) for p in people]
    codes = [roster.check_in_code(hub.settings.secret_key, s.id) for s in signups]
    return Crew(
        task.id,
        world.id,
        world.staff.person.phone,
        people[0].person.phone,
        names,
        codes,
    )


def fake_camera(code: str, path: Path) -> Path:
    """A Y4M video (what Chromium's fake camera plays) of the QR code of ``code``."""
    matrix = [list(row) for row in segno.make_qr(code, error="m").matrix]
    border, scale, width, height = 4, 6, 320, 240
    size = (len(matrix) + 2 * border) * scale
    left, top = (width - size) // 2, (height - size) // 2
    luma = bytearray([235]) * (width * height)
    for y, row in enumerate(matrix):
        for x, dark in enumerate(row):
            if dark:
                for dy in range(scale):
                    at = (top + (y + border) * scale + dy) * width + left + (x + border) * scale
                    luma[at : at + scale] = bytes([16]) * scale
    chroma = bytes([128]) * (width * height // 4)
    frame = b"FRAME\n" + bytes(luma) + chroma + chroma
    path.write_bytes(f"YUV4MPEG2 W{width} H{height} F10:1 Ip A1:1 C420jpeg\n".encode() + frame * 5)
    return path


@pytest.fixture
def playwright_instance():
    with sync_playwright() as p:
        yield p


def open_page(browser, base: str, viewport=PHONE, locale: str = "zh-CN") -> Page:
    context = browser.new_context(
        base_url=base, viewport=viewport, locale=locale, permissions=["camera"]
    )
    context.set_default_timeout(10_000)
    return context.new_page()


def log_in(page: Page, phone: str) -> None:
    page.goto("/login")
    page.locator("input[name=phone]").fill(phone)
    page.locator("input[name=password]").fill(PASSWORD)
    page.locator("main form button[type=submit]").click()
    expect(page.locator("form[action='/logout']")).to_be_visible()


def shoot(page: Page, name: str) -> None:
    """Check the page with axe-core (no serious or critical problem), then photograph it."""
    assert_accessible(page, name)
    screenshot(page, name, docs=True)


def test_staff_check_volunteers_in_from_the_roster(settings, playwright_instance, tmp_path):
    c = build(settings, utcnow, crew)
    camera = fake_camera(c.codes[2], tmp_path / "qr.y4m")
    flags = [
        *CHROMIUM_FLAGS,
        "--use-fake-ui-for-media-stream",
        "--use-fake-device-for-media-stream",
        f"--use-file-for-fake-video-capture={camera}",
    ]
    browser = playwright_instance.chromium.launch(executable_path=chromium_path(), args=flags)
    try:
        with live_server(settings) as base:
            # The volunteer's schedule shows the code and its QR image, which decodes.
            volunteer = open_page(browser, base, locale="en")
            log_in(volunteer, c.volunteer)
            volunteer.goto("/schedule")
            expect(volunteer.get_by_text(c.codes[0])).to_be_visible()
            image = volunteer.get_by_alt_text("QR code of your check-in code")
            decoded = volunteer.evaluate(
                """async (src) => {
                    await new Promise((ok, fail) => {
                        const s = document.createElement("script");
                        s.src = "/static/vendor/jsQR.js"; s.onload = ok; s.onerror = fail;
                        document.head.appendChild(s);
                    });
                    const img = new Image(); img.src = src; await img.decode();
                    const canvas = document.createElement("canvas");
                    canvas.width = img.width * 2; canvas.height = img.height * 2;
                    const ctx = canvas.getContext("2d");
                    ctx.fillStyle = "#fff"; ctx.fillRect(0, 0, canvas.width, canvas.height);
                    ctx.drawImage(img, 0, 0, canvas.width, canvas.height);
                    const data = ctx.getImageData(0, 0, canvas.width, canvas.height);
                    const found = window.jsQR(data.data, canvas.width, canvas.height);
                    return found ? found.data : null;
                }""",
                image.get_attribute("src"),
            )
            assert decoded == c.codes[0]
            shoot(volunteer, "phone-en-schedule-check-in-code")

            staff = open_page(browser, base, viewport=DESKTOP, locale="en")
            staff.on("dialog", lambda dialog: dialog.accept())
            log_in(staff, c.staff)
            staff.goto("/staff")
            staff.get_by_role("link", name="Tasks and rosters").click()
            staff.get_by_role("link", name=re.compile("^Roster · ")).first.click()
            expect(staff.get_by_role("heading", name="Roster: 银发巡逻")).to_be_visible()

            # A typed code (the fallback without a camera).
            staff.get_by_label("Check-in code").fill(c.codes[0].lower())
            staff.locator("#code-form").get_by_role("button", name="Check in").click()
            expect(staff.get_by_role("status").first).to_have_text(f"Checked in: {c.names[0]}")
            # A wrong code is refused beside the field.
            staff.get_by_label("Check-in code").fill("1-WRONGCOD")
            staff.locator("#code-form").get_by_role("button", name="Check in").click()
            expect(staff.get_by_text("This is not a valid check-in code.")).to_be_visible()
            # A roster button.
            staff.get_by_role("button", name=f"Check in · {c.names[1]}").click()
            expect(staff.locator(".roster .card").nth(1).locator(".badge")).to_have_text(
                "Checked in"
            )
            # The camera: the fake device shows the third volunteer's QR code.
            staff.get_by_role("button", name="Scan with the camera").click()
            expect(staff.get_by_role("status").first).to_have_text(
                f"Checked in: {c.names[2]}", timeout=20_000
            )
            expect(staff.locator(".roster .card").nth(2).locator(".badge")).to_have_text(
                "Checked in"
            )
            expect(staff.locator(".waiting li")).to_have_count(1)

            # Screenshots for the docs: the task list and the roster, zh-CN and English.
            for locale, lang in (("zh-CN", "zh"), ("en", "en")):
                for viewport, width in ((PHONE, "phone"), (DESKTOP, "desktop")):
                    page = open_page(browser, base, viewport=viewport, locale=locale)
                    log_in(page, c.staff)
                    page.goto(f"/staff/tasks?community={c.community_id}")
                    shoot(page, f"{width}-{lang}-staff-tasks")
                    page.goto(f"/staff/tasks/{c.task_id}/roster")
                    shoot(page, f"{width}-{lang}-staff-roster")
                    page.goto(f"/staff/tasks/{c.task_id}/edit")
                    shoot(page, f"{width}-{lang}-staff-task-edit")
                    page.context.close()
    finally:
        browser.close()
