"""The availability page (/availability) and the resident's "do not send this volunteer
again" button on the wish page, through a cookie-keeping client without script."""

from __future__ import annotations

import re
from html import unescape

import httpx

from tests.factories import World
from tests.pages_support import csrf, log_in
from volunteer_hub.models import AvailabilitySlot, DoNotSend
from volunteer_hub.services import wishes
from volunteer_hub.services.access import Actor

ERRAND = {"title": "帮忙取快递", "description": "腿脚不便", "category": "errand"}


async def as_person(client: httpx.AsyncClient, actor: Actor) -> None:
    home = await client.get("/")
    if "/logout" in home.text:
        await client.post("/logout", data={"csrf_token": csrf(home.text)})
    answer = await log_in(client, actor.person.phone)
    assert answer.status_code == 303, answer.text


async def submit(client: httpx.AsyncClient, path: str, **data: str) -> httpx.Response:
    home = await client.get("/")
    return await client.post(path, data={**data, "csrf_token": csrf(home.text)})


def text_of(html: str) -> str:
    return re.sub(r"\s+", " ", unescape(re.sub(r"<[^>]+>", " ", html)))


async def test_the_page_needs_a_login_and_a_csrf_token(hub, browser):
    w = await World(hub).build()
    answer = await browser.get("/availability")
    assert answer.status_code == 303 and answer.headers["location"].startswith("/login")
    await as_person(browser, await w.volunteer("小李", team=await w.team("repair")))
    forged = await browser.post(
        "/availability", data={"d2-0-start": "09:00", "d2-0-end": "12:00", "csrf_token": "x"}
    )
    assert forged.status_code == 403
    assert await AvailabilitySlot.all().count() == 0


async def test_a_volunteer_sets_their_free_times_in_chinese(hub, browser):
    w = await World(hub).build()
    me = await w.volunteer("小李", team=await w.team("repair"))
    await as_person(browser, me)
    page = await browser.get("/availability")
    assert page.status_code == 200
    assert '<html lang="zh-CN"' in page.text and "我的空闲时间" in page.text
    assert 'href="/availability" aria-current="page"' in page.text
    saved = await submit(
        browser,
        "/availability",
        **{"d2-0-start": "09:00", "d2-0-end": "12:00", "d7-1-start": "18:00", "d7-1-end": "24:00"},
    )
    assert saved.status_code == 303 and saved.headers["location"].endswith("done=saved")
    page = await browser.get(saved.headers["location"])
    assert "已保存" in page.text
    assert 'value="09:00"' in page.text and 'value="24:00"' in page.text
    rows = await AvailabilitySlot.filter(person_id=me.id).order_by("weekday")
    assert [(r.weekday, r.start_minute, r.end_minute) for r in rows] == [
        (2, 540, 720),
        (7, 1080, 1440),
    ]


async def test_a_wrong_time_is_marked_and_nothing_changes(hub, browser):
    w = await World(hub).build()
    me = await w.volunteer("小李", team=await w.team("repair"))
    await as_person(browser, me)
    await submit(browser, "/availability", **{"d1-0-start": "08:00", "d1-0-end": "10:00"})
    browser.headers["Accept-Language"] = "en"
    wrong = await submit(
        browser,
        "/availability",
        **{"d1-0-start": "08:00", "d1-0-end": "10:00", "d3-0-start": "13:00", "d3-0-end": "12:00"},
    )
    assert wrong.status_code == 422
    assert 'id="d3-0-start"' in wrong.text
    assert re.search(r'id="d3-0-start"[^>]*aria-invalid="true"', wrong.text)
    assert "Must be before the end." in text_of(wrong.text)
    assert 'value="13:00"' in wrong.text  # what was typed stays
    rows = await AvailabilitySlot.filter(person_id=me.id)
    assert [(r.weekday, r.start_minute, r.end_minute) for r in rows] == [(1, 480, 600)]


async def test_the_resident_asks_not_to_be_sent_the_volunteer_again(hub, browser):
    w = await World(hub).build()
    resident = await w.person("王奶奶")
    helper = await w.volunteer("小李", team=await w.team("repair"))
    wish = await wishes.post(hub, resident, w.community.id, ERRAND)
    await wishes.review(hub, w.staff, wish.id, {"decision": "approve"})
    await as_person(browser, resident)
    page = await browser.get(f"/wishes/{wish.id}")
    assert "/do-not-send" not in page.text  # nobody served it yet
    await wishes.claim(hub, helper, wish.id)
    await wishes.fulfil(hub, helper, wish.id, {"note": "好了"})
    page = await browser.get(f"/wishes/{wish.id}")
    assert f'action="/wishes/{wish.id}/do-not-send"' in page.text
    done = await submit(browser, f"/wishes/{wish.id}/do-not-send")
    assert done.status_code == 303 and done.headers["location"].endswith("done=do-not-send")
    page = await browser.get(done.headers["location"])
    assert "不会再安排这位志愿者" in page.text
    assert f'action="/wishes/{wish.id}/do-not-send"' not in page.text
    assert await DoNotSend.filter(resident_id=resident.id, person_id=helper.id).exists()
    # The volunteer sees nothing of it, on the wish's page or its timeline.
    await as_person(browser, helper)
    seen = await browser.get(f"/wishes/{wish.id}")
    assert seen.status_code == 200
    assert "do-not-send" not in seen.text and "不再安排" not in seen.text
