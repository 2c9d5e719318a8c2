"""The pages in a real browser: Debian's Chromium, driven by Playwright, against a live server.

Covers DOMAIN.md's story 1 across four logins, a silver-patrol signup that waits and is
promoted, the language switch, a phone-sized screen, an accessibility check (axe-core) of
the main pages, and screenshots at phone and desktop width (test-artifacts/screenshots).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

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
from tests.factories import World
from volunteer_hub.clock import utcnow
from volunteer_hub.demo import MIN_PEOPLE, build_demo
from volunteer_hub.hub import Hub
from volunteer_hub.models import Wish
from volunteer_hub.services import tasks


@dataclass
class People:
    community_id: int
    staff: str
    grid_worker: str
    wang_id: int
    wang: str
    volunteer: str
    volunteer_name: str
    resident: str


async def neighbourhood(hub: Hub) -> People:
    world = await World(hub).build()
    wang = await world.person("王奶奶", birth_date=date(1944, 3, 8))
    team = await world.team("elderly_care", "助老服务队")
    volunteer = await world.volunteer("李晓明", team=team)
    resident = await world.person("陈阿姨")
    return People(
        community_id=world.community.id,
        staff=world.staff.person.phone,
        grid_worker=world.grid_worker.person.phone,
        wang_id=wang.id,
        wang=wang.person.phone,
        volunteer=volunteer.person.phone,
        volunteer_name=volunteer.person.name,
        resident=resident.person.phone,
    )


@pytest.fixture
def site(settings):
    people = build(settings, utcnow, neighbourhood)
    with live_server(settings) as base:
        yield base, people


@pytest.fixture
def browser():
    with chromium_browser() as instance:
        yield instance


def test_language_switch_is_remembered(site, browser):
    base, _ = site
    page = new_page(browser, base)
    page.goto("/")
    expect(page.locator("html")).to_have_attribute("lang", "zh-CN")
    page.get_by_role("button", name="English").click()
    expect(page.locator("html")).to_have_attribute("lang", "en")
    expect(page.get_by_role("link", name="Log in", exact=True)).to_be_visible()
    page.goto("/login")  # remembered on the next page
    expect(page.get_by_role("heading", name="Log in")).to_be_visible()
    page.get_by_role("button", name="中文").click()
    expect(page.locator("html")).to_have_attribute("lang", "zh-CN")


def test_a_resident_posts_a_wish_on_a_phone_with_large_text(site, browser):
    base, people = site
    page = new_page(browser, base, viewport=PHONE)
    log_in(page, people.resident)
    page.get_by_role("button", name="大字模式").click()
    expect(page.locator("html")).to_have_class(re.compile("large-text"))
    page.goto("/wishes/new")
    # Keyboard only: every field is reachable by its label.
    page.get_by_label("您需要什么帮助？").fill("帮忙换灯泡")
    page.get_by_label("帮助类别").select_option("repair")
    page.get_by_label("详细说明").fill("卫生间的灯泡坏了，我够不着")
    page.get_by_label("详细说明").press("Tab")
    page.keyboard.press("Enter")
    expect(page.get_by_text("心愿已发布，社区会尽快审核。")).to_be_visible()
    expect(page.get_by_role("heading", name="帮忙换灯泡")).to_be_visible()
    # Nothing is wider than the phone's screen.
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= PHONE["width"]
    screenshot(page, "wish-phone-large-text")


def test_form_errors_are_announced_beside_the_fields(site, browser, settings):
    base, people = site
    page = new_page(browser, base)
    log_in(page, people.resident)
    page.goto("/wishes/new")
    page.get_by_role("button", name="发布心愿").click()
    title = page.get_by_label("您需要什么帮助？")
    expect(title).to_have_attribute("aria-invalid", "true")
    described = title.get_attribute("aria-describedby")
    expect(page.locator(f"#{described}")).to_be_visible()
    assert build(settings, utcnow, lambda hub: Wish.all().count()) == 0


PAGES_TO_CHECK = ["/", "/login", "/register"]


@pytest.mark.parametrize("width", ["phone", "desktop"])
def test_public_pages_pass_the_accessibility_check_and_are_photographed(site, browser, width):
    base, _ = site
    page = new_page(browser, base, viewport=PHONE if width == "phone" else DESKTOP)
    axe = Axe()
    for path in PAGES_TO_CHECK:
        page.goto(path)
        results = axe.run(page)
        serious = [
            v for v in results.response["violations"] if v["impact"] in ("serious", "critical")
        ]
        assert not serious, f"{path}: " + "; ".join(
            f"{v['id']}: {v['help']} ({len(v['nodes'])})" for v in serious
        )
        screenshot(page, f"{width}{path.replace('/', '-') or '-home'}")


@dataclass
class Patrol:
    task_id: int
    first: str
    second: str


async def silver_patrol(hub: Hub) -> Patrol:
    """Story 3, small: the silver patrol walks Tuesdays and Thursdays 19:00–21:00, one place."""
    world = await World(hub).build()
    team = await world.team("silver_patrol", "银发巡逻队")
    first = await world.volunteer("赵大爷", team=team, birth_date=date(1958, 5, 1))
    second = await world.volunteer("钱大妈", team=team, birth_date=date(1960, 9, 9))
    zone = ZoneInfo(world.community.timezone)
    today = hub.now().astimezone(zone).date()
    tuesday = today + timedelta(days=(1 - today.weekday()) % 7 or 7)
    start = datetime.combine(tuesday, time(19, 0), tzinfo=zone)
    task = await tasks.create_task(
        hub,
        world.staff,
        world.community.id,
        {
            "title": "银发巡逻",
            "team_id": team.id,
            "starts_at": start.isoformat(),
            "ends_at": (start + timedelta(hours=2)).isoformat(),
            "capacity": 1,
            "rrule": "FREQ=WEEKLY;BYDAY=TU,TH",
        },
    )
    return Patrol(task.id, first.person.phone, second.person.phone)


def test_silver_patrol_waiting_list_and_promotion(settings, browser):
    patrol = build(settings, utcnow, silver_patrol)
    with live_server(settings) as base:
        zhao = new_page(browser, base, locale="en")
        qian = new_page(browser, base, locale="en")
        for page in (zhao, qian):
            page.on("dialog", lambda dialog: dialog.accept())  # "Cancel this signup?"
        log_in(zhao, patrol.first)
        log_in(qian, patrol.second)

        zhao.goto(f"/tasks/{patrol.task_id}")
        first_date = zhao.locator(".card").first
        first_date.get_by_role("button", name=re.compile("^Sign up")).click()
        expect(zhao.locator(".card").first.get_by_text("You are signed up.")).to_be_visible()

        qian.goto(f"/tasks/{patrol.task_id}")
        full = qian.locator(".card").first
        full.get_by_role("button", name=re.compile("^Join the waiting list")).click()
        expect(
            qian.locator(".card").first.get_by_text("You are on the waiting list (number 1).")
        ).to_be_visible()
        screenshot(qian, "task-waiting-list-phone")

        zhao.locator(".card").first.get_by_role(
            "button", name=re.compile("^Cancel my signup")
        ).click()
        qian.goto(f"/tasks/{patrol.task_id}")
        expect(qian.locator(".card").first.get_by_text("You are signed up.")).to_be_visible()
        qian.goto("/schedule")
        expect(qian.get_by_text("银发巡逻").first).to_be_visible()
        screenshot(qian, "schedule-phone")


def test_story_one_across_four_logins(site, browser):
    """DOMAIN.md story 1: the grid worker posts for Ms. Wang, staff approve (the volunteer
    is invited automatically), the volunteer accepts and fulfils, the grid worker confirms,
    and the hours appear."""
    base, people = site
    grid_worker = new_page(browser, base, locale="en")
    log_in(grid_worker, people.grid_worker)
    grid_worker.goto("/wishes/new")
    grid_worker.get_by_label("For whom").select_option(str(people.wang_id))
    grid_worker.get_by_label("What do you need?").fill("Walk me to the hospital on Thursday")
    grid_worker.get_by_label("Kind of help").select_option("elderly_care")
    grid_worker.get_by_label("Details").fill("Check-up at the community hospital, 9:00")
    grid_worker.get_by_role("button", name="Post the wish").click()
    expect(grid_worker.get_by_text("Your wish has been posted.")).to_be_visible()
    wish_path = re.sub(r"\?.*$", "", grid_worker.url.removeprefix(base))

    staff = new_page(browser, base, viewport=DESKTOP, locale="en")
    log_in(staff, people.staff)
    staff.goto("/staff/review")
    screenshot(staff, "staff-review-desktop")
    card = staff.locator("li.card", has_text="Walk me to the hospital on Thursday")
    card.get_by_role("button", name="Approve").click()
    expect(staff.get_by_text("Approved: volunteers can now see it")).to_be_visible()
    staff.goto("/staff" + wish_path)
    expect(staff.locator("#invitations-h + ol")).to_contain_text(people.volunteer_name)
    expect(staff.get_by_role("button", name=f"Invite {people.volunteer_name}")).to_have_count(0)
    screenshot(staff, "staff-candidates-desktop")

    volunteer = new_page(browser, base, locale="en")
    log_in(volunteer, people.volunteer)
    volunteer.goto("/wishes")
    volunteer.get_by_role("link", name="Walk me to the hospital on Thursday").click()
    expect(volunteer.get_by_text(people.wang)).to_have_count(0)  # no contact before the claim
    volunteer.get_by_role("button", name=re.compile("^Accept")).click()
    expect(volunteer.get_by_role("link", name=people.wang)).to_be_visible()  # tel: link
    screenshot(volunteer, "wish-claimed-phone")
    volunteer.get_by_label("Hours spent").fill("2")
    volunteer.get_by_role("button", name="It's done").click()
    expect(
        volunteer.get_by_text("Thank you! The resident will be asked to confirm.")
    ).to_be_visible()

    grid_worker.goto(wish_path)
    grid_worker.get_by_label("A word of thanks (optional)").fill("Thank you, Xiaoming!")
    grid_worker.get_by_role("button", name="Confirm", exact=True).click()
    expect(
        grid_worker.get_by_text("Confirmed. The volunteer's hours are recorded.")
    ).to_be_visible()
    expect(grid_worker.locator(".timeline li")).to_have_count(6)  # posted … invited … confirmed
    screenshot(grid_worker, "wish-confirmed-phone")

    volunteer.goto("/hours")
    expect(volunteer.get_by_text(re.compile(r"In total: 2(\.0+)? hours"))).to_be_visible()
    screenshot(volunteer, "hours-phone")


MAIN_PAGES = {
    "resident 居民（王奶奶": [
        "/",
        "/wishes/mine",
        "/wishes/new",
        "first:/wishes/mine",
        "/password",
    ],
    "volunteer/elderly_care": [
        "/wishes",
        "/tasks",
        "first:/tasks",
        "/schedule",
        "/calendar",
        "/hours",
        "/teams",
    ],
    "party_member": ["/party"],
    "staff": [
        "/staff",
        "/staff/review",
        "first:/staff/review",
        "/staff/escalations",
        "/staff/tasks/new",
        "/staff/dashboards",
        "/staff/approvals",
    ],
}


def _login_for(logins, prefix: str):
    return next(login for login in logins if login.role.startswith(prefix))


def test_main_pages_pass_the_accessibility_check_at_both_widths(settings, browser):
    """The demo community (every wish state, tasks with waiting lists, service records),
    each role's main pages at phone and desktop width: axe-core finds no serious or
    critical violation, and a screenshot of each is saved to be looked at."""
    summary = build(settings, utcnow, lambda hub: build_demo(hub, seed=1, people=MIN_PEOPLE))
    axe = Axe()
    problems = []
    with live_server(settings) as base:
        for width, viewport in (("phone", PHONE), ("desktop", DESKTOP)):
            for prefix, paths in MAIN_PAGES.items():
                login = _login_for(summary.logins, prefix)
                page = new_page(browser, base, viewport=viewport)
                log_in(page, login.phone, summary.password)
                for path in paths:
                    if path.startswith("first:"):
                        # The first item listed on that page (a wish, a task).
                        page.goto(path.removeprefix("first:"))
                        page.locator("main .card :is(h2, h3) a").first.click()
                    else:
                        page.goto(path)
                    assert page.locator("main h1").count() == 1, f"{page.url}: one h1"
                    results = axe.run(page)
                    for v in results.response["violations"]:
                        if v["impact"] in ("serious", "critical"):
                            problems.append(f"{page.url} {v['id']}: {v['help']}")
                    role = prefix.split()[0].replace("/", "-")
                    slug = page.url.removeprefix(base).strip("/").replace("/", "-") or "home"
                    screenshot(page, f"{width}-{role}-{slug}")
                page.context.close()
    assert not problems, "\n".join(problems)
