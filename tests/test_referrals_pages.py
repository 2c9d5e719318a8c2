"""The 吹哨 loop's pages through a cookie-keeping client without script: responsible contacts
(staff), the contact's link page (no login), the post form's window and urgency, the board
and the staff wish page. Who may open them, and each form's error path.

The ``clock`` fixture says 2026-12-01T01:00Z: 09:00 on a Tuesday in Shanghai.
"""

from __future__ import annotations

import httpx
import pytest

from tests.factories import World
from tests.pages_support import csrf, log_in
from tests.test_referrals import LIGHT, SECTION, AdmissionList
from volunteer_hub.models import Referral, ResponsibleContact, Wish, WishStatus
from volunteer_hub.services import channels, referrals, wishes


@pytest.fixture
async def w(hub):
    world = await World(hub).build()
    hub.plugins.register(AdmissionList(), "test-admission")
    await channels.configure(
        hub,
        world.staff,
        world.community.id,
        {"code": "webhook", "name": "短信网关", "settings": {"url": "http://127.0.0.1:9/hook"}},
    )
    try:
        yield world
    finally:
        hub.plugins.unregister("test-admission")


async def submit(browser: httpx.AsyncClient, page: str, action: str, data: dict) -> httpx.Response:
    opened = await browser.get(page)
    assert opened.status_code == 200, opened.text
    return await browser.post(action, data={**data, "csrf_token": csrf(opened.text)})


async def referred(w: World, **contact) -> tuple[Wish, str, object]:
    """A street light referred (blue) to the facilities section (``contact``: other fields
    of it): the wish, the token, and the resident."""
    tokens: list[str] = []

    async def catch(hub, pending):
        tokens.append(pending.secret[referrals.TOKEN_SECRET])

    w.hub.events.subscribe("wish.referred", catch)
    await referrals.add_contact(w.hub, w.staff, w.community.id, {**SECTION, **contact})
    resident = await w.person("王奶奶", address="幸福里7号楼1单元101")
    wish = await wishes.post(w.hub, resident, w.community.id, LIGHT)
    await wishes.advance_escalations(w.hub)
    return wish, tokens[-1], resident


# --- responsible contacts ---------------------------------------------------------------------


async def test_staff_add_and_deactivate_contacts_on_the_page(w, browser):
    await log_in(browser, w.staff.person.phone)
    path = f"/staff/contacts?community={w.community.id}"
    r = await submit(
        browser,
        path,
        path,
        {"name": "街道办设施科", "category": "", "level": "blue", "channel_code": "webhook",
         "address": "12345"},
    )  # fmt: skip
    assert r.status_code == 422
    assert 'aria-invalid="true" aria-describedby="e-address"' in r.text
    assert await ResponsibleContact.all().count() == 0
    r = await submit(
        browser,
        path,
        path,
        {"name": "街道办设施科", "category": "public_facility", "level": "yellow",
         "channel_code": "webhook", "address": "139 0013 9000"},
    )  # fmt: skip
    assert r.status_code == 303
    contact = await ResponsibleContact.get(name="街道办设施科")
    assert (contact.category, contact.level.value, contact.address) == (
        "public_facility",
        "yellow",
        "13900139000",
    )
    page = await browser.get(path)
    assert "街道办设施科" in page.text and "13900139000" in page.text
    assert "通知语言：中文" in page.text  # zh-CN unless chosen
    r = await browser.post(
        f"/staff/contacts/deactivate?community={w.community.id}",
        data={"contact_id": str(contact.id), "csrf_token": csrf(page.text)},
    )
    assert r.status_code == 303
    assert (await ResponsibleContact.get(id=contact.id)).active is False
    assert "街道办设施科" not in (await browser.get(path)).text


async def test_the_contacts_form_takes_the_contacts_language(w, browser):
    await log_in(browser, w.staff.person.phone)
    path = f"/staff/contacts?community={w.community.id}"
    form = await browser.get(path)
    assert '<select id="f-locale" name="locale"' in form.text and ">English</option>" in form.text
    contact = {"name": "Riverside Property Services", "category": "", "level": "blue",
               "channel_code": "webhook", "address": "13900139000"}  # fmt: skip
    r = await submit(browser, path, path, {**contact, "locale": "fr"})
    assert r.status_code == 422
    assert 'aria-invalid="true" aria-describedby="e-locale"' in r.text
    assert await ResponsibleContact.all().count() == 0
    r = await submit(browser, path, path, {**contact, "locale": "en"})
    assert r.status_code == 303
    assert (await ResponsibleContact.get(name="Riverside Property Services")).locale == "en"
    assert "通知语言：English" in (await browser.get(path)).text
    browser.headers["Accept-Language"] = "en"
    assert "Told in English" in (await browser.get(path)).text


async def test_only_staff_open_the_contacts_page(w, browser):
    path = f"/staff/contacts?community={w.community.id}"
    r = await browser.get(path)
    assert r.status_code == 303 and r.headers["location"].startswith("/login")
    volunteer = await w.volunteer()
    await log_in(browser, volunteer.person.phone)
    assert (await browser.get(path)).status_code == 403
    other = await World(w.hub).build_other(w)
    browser.cookies.clear()
    await log_in(browser, other.staff.person.phone)
    assert (await browser.get(path)).status_code == 403


# --- the link page -------------------------------------------------------------------------------


async def test_the_link_page_acknowledges_and_resolves_without_login(w, browser):
    wish, token, resident = await referred(w)
    path = f"/referrals/{token}"
    page = await browser.get(path)
    assert page.status_code == 200
    assert "路灯太暗" in page.text and "街道办设施科" in page.text
    person = await resident.load_person()
    for secret in (person.name, person.phone, "幸福里7号楼1单元101"):
        assert secret not in page.text
    assert page.headers["referrer-policy"] == "no-referrer"
    # A form without the CSRF token is refused.
    r = await browser.post(f"{path}/acknowledge", data={})
    assert r.status_code == 403
    assert (await Referral.get(wish_id=wish.id)).acknowledged_at is None
    r = await browser.post(f"{path}/acknowledge", data={"csrf_token": csrf(page.text)})
    assert r.status_code == 303 and r.headers["location"] == f"{path}?done=acknowledged"
    assert (await Referral.get(wish_id=wish.id)).acknowledged_at is not None
    page = await browser.get(f"{path}?done=acknowledged")
    assert "/acknowledge" not in page.text  # acknowledged once
    r = await browser.post(f"{path}/resolve", data={"note": "", "csrf_token": csrf(page.text)})
    assert r.status_code == 422 and 'aria-describedby="e-note"' in r.text
    r = await browser.post(
        f"{path}/resolve", data={"note": "已更换灯泡", "csrf_token": csrf(page.text)}
    )
    assert r.status_code == 303
    done = await Wish.get(id=wish.id)
    assert (done.status, done.fulfil_note) == (WishStatus.FULFILLED, "已更换灯泡")
    page = await browser.get(path)
    assert "已更换灯泡" in page.text and "/resolve" not in page.text
    r = await browser.post(f"{path}/resolve", data={"note": "再次", "csrf_token": csrf(page.text)})
    assert r.status_code == 409
    assert "已更换灯泡" in r.text  # the page still shows the outcome, with why it refused
    assert (await Wish.get(id=wish.id)).fulfil_note == "已更换灯泡"


async def test_the_link_page_speaks_the_contacts_language(w, browser):
    _, token, _ = await referred(w, name="Riverside Property Services", locale="en")
    path = f"/referrals/{token}"
    browser.headers["Accept-Language"] = "zh-CN"  # the browser's guess; the contact's is known
    page = await browser.get(path)
    assert page.status_code == 200
    assert '<html lang="en"' in page.text and "Passed to you" in page.text
    r = await browser.post(f"{path}/resolve", data={"note": "", "csrf_token": csrf(page.text)})
    assert r.status_code == 422 and "This field is required." in r.text
    # The pages' switch is a choice, and a choice wins.
    switched = await browser.post(
        "/preferences", data={"lang": "zh-CN", "next": path, "csrf_token": csrf(page.text)}
    )
    assert switched.status_code == 303
    page = await browser.get(path)
    assert '<html lang="zh-CN"' in page.text and "转交给您" in page.text


async def test_an_expired_link_page_says_so_and_refuses_answers(w, browser, clock):
    wish, token, resident = await referred(w)
    path = f"/referrals/{token}"
    live = await browser.get(path)
    assert "链接有效期至" in live.text and "12月15日" in live.text
    clock.advance(days=referrals.LINK_LIFETIME.days)
    page = await browser.get(path)
    assert page.status_code == 200
    assert "此链接已过期" in page.text and "链接自发出起14天内有效" in page.text
    assert "街道办设施科" in page.text and w.community.name in page.text
    # Nothing of the wish, nor of the resident.
    person = await resident.load_person()
    for secret in ("路灯太暗", LIGHT["description"], person.name, person.phone):
        assert secret not in page.text
    assert "/resolve" not in page.text and "/acknowledge" not in page.text
    assert page.headers["referrer-policy"] == "no-referrer"
    for action, data in (("resolve", {"note": "已更换灯泡"}), ("acknowledge", {})):
        r = await browser.post(f"{path}/{action}", data={**data, "csrf_token": csrf(page.text)})
        assert r.status_code == 409
        assert "您的回复未保存" in r.text and "此链接已过期" in r.text
    referral = await Referral.get(wish_id=wish.id)
    assert (referral.acknowledged_at, referral.resolved_at) == (None, None)
    assert (await Wish.get(id=wish.id)).status is wish.status


async def test_an_english_contacts_expired_link_says_so_in_english(w, browser, clock):
    _, token, _ = await referred(w, name="Riverside Property Services", locale="en")
    clock.advance(days=30)
    page = await browser.get(f"/referrals/{token}")
    assert page.status_code == 200
    assert "This link has expired" in page.text and "路灯太暗" not in page.text


async def test_a_closed_wishs_link_page_says_nothing_more_is_needed(w, browser):
    wish, token, resident = await referred(w)
    await wishes.cancel(w.hub, resident, wish.id, {"reason": "已自行解决"})
    page = await browser.get(f"/referrals/{token}")
    assert page.status_code == 200
    assert "此事项已关闭" in page.text and "路灯太暗" in page.text
    assert LIGHT["description"] not in page.text and "/resolve" not in page.text
    r = await browser.post(f"/referrals/{token}/acknowledge", data={"csrf_token": csrf(page.text)})
    assert r.status_code == 409 and "您的回复未保存" in r.text
    assert (await Referral.get(wish_id=wish.id)).acknowledged_at is None


async def test_a_wrong_link_is_404(w, browser):
    _, token, _ = await referred(w)
    assert (await browser.get(f"/referrals/{token[:-2]}")).status_code == 404
    assert (await browser.get("/referrals/" + "x" * 150)).status_code == 404


# --- posting with a window and urgency --------------------------------------------------------


async def test_the_post_form_takes_a_window_and_urgency(w, browser):
    resident = await w.person("王奶奶")
    await log_in(browser, resident.person.phone)
    base = {"title": "陪同去医院", "category": "errand", "description": "周四上午去医院复查"}
    r = await submit(
        browser,
        "/wishes/new",
        "/wishes/new",
        {**base, "window_start": "2026-12-03T10:00", "window_end": "2026-12-03T08:00"},
    )
    assert r.status_code == 422 and 'aria-describedby="e-window_end"' in r.text
    assert await Wish.all().count() == 0
    r = await submit(
        browser,
        "/wishes/new",
        "/wishes/new",
        {**base, "window_start": "2026-12-03T08:00", "window_end": "2026-12-03T11:00",
         "urgent": "1"},
    )  # fmt: skip
    assert r.status_code == 303, r.text
    wish = await Wish.get(title="陪同去医院")
    assert wish.urgent is True
    assert wish.window_start.isoformat() == "2026-12-03T00:00:00+00:00"
    page = await browser.get(r.headers["location"])
    assert "紧急" in page.text and "12月3日" in page.text
    browser.cookies.clear()
    await log_in(browser, w.staff.person.phone)
    staff_page = await browser.get(f"/staff/wishes/{wish.id}")
    assert "紧急" in staff_page.text and "需要帮助的时间" in staff_page.text


# --- the board and the staff wish page ---------------------------------------------------------


async def test_board_shows_urgent_first_age_and_who_holds_it(w, browser, clock):
    wish, token, resident = await referred(w)
    urgent = await wishes.post(
        w.hub, resident, w.community.id, {**LIGHT, "title": "井盖丢失", "urgent": True}
    )
    await wishes.advance_escalations(w.hub)
    await referrals.acknowledge(w.hub, token)
    clock.advance(hours=5)
    browser.headers["Accept-Language"] = "en"
    await log_in(browser, w.staff.person.phone)
    page = await browser.get(f"/staff/escalations?community={w.community.id}")
    assert page.status_code == 200
    text = page.text
    assert text.index("井盖丢失") < text.index("路灯太暗")
    assert "Urgent" in text and "Posted 5 hours ago" in text
    assert "acknowledged" in text and "not acknowledged yet" in text
    staff_page = await browser.get(f"/staff/wishes/{wish.id}")
    assert "Passed to" in staff_page.text and "街道办设施科" in staff_page.text
    assert urgent.id != wish.id
