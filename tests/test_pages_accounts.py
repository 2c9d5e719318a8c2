"""The HTML pages' foundations: login by cookie, CSRF on every form, language, text size."""

from __future__ import annotations

import re

import httpx
import pytest

from tests.factories import PASSWORD, World
from tests.pages_support import csrf, log_in
from volunteer_hub.models import AuditEntry, Person
from volunteer_hub.web import create_app


async def test_home_is_chinese_by_default_and_english_on_request(hub, browser):
    page = await browser.get("/")
    assert page.status_code == 200
    assert '<html lang="zh-CN"' in page.text
    assert "登录" in page.text
    english = await browser.get("/", headers={"Accept-Language": "en-GB,en;q=0.9"})
    assert '<html lang="en"' in english.text
    assert "Log in" in english.text


async def test_language_switch_is_remembered_over_accept_language(hub, browser):
    page = await browser.get("/")
    answer = await browser.post(
        "/preferences", data={"lang": "en", "next": "/login", "csrf_token": csrf(page.text)}
    )
    assert answer.status_code == 303
    assert answer.headers["location"] == "/login"
    again = await browser.get("/login", headers={"Accept-Language": "zh-CN"})
    assert '<html lang="en"' in again.text


async def test_large_text_mode(hub, browser):
    page = await browser.get("/")
    await browser.post("/preferences", data={"text": "large", "csrf_token": csrf(page.text)})
    assert 'class="large-text"' in (await browser.get("/")).text


async def test_a_form_post_without_a_valid_csrf_token_is_refused(hub, browser):
    world = await World(hub).build()
    await browser.get("/login")
    for token in (None, "forged"):
        data = {"phone": world.staff.person.phone, "password": PASSWORD}
        if token:
            data["csrf_token"] = token
        answer = await browser.post("/login", data=data)
        assert answer.status_code == 403
        assert "vh_session" not in answer.cookies


async def test_login_sets_a_hardened_session_cookie_and_logout_ends_it(hub, browser):
    world = await World(hub).build()
    answer = await log_in(browser, world.staff.person.phone)
    assert answer.status_code == 303
    cookie = next(h for h in answer.headers.get_list("set-cookie") if h.startswith("vh_session="))
    assert "HttpOnly" in cookie and "SameSite=lax" in cookie and "Secure" not in cookie
    home = await browser.get("/", follow_redirects=True)  # staff start in the console
    assert world.staff.person.name in home.text
    token = browser.cookies["vh_session"]
    await browser.post("/logout", data={"csrf_token": csrf(home.text)})
    assert (await browser.get("/wishes/mine")).status_code == 303
    # The token itself is revoked, not only the cookie dropped.
    browser.cookies.set("vh_session", token)
    assert (await browser.get("/wishes/mine")).status_code == 303


async def test_session_cookie_is_secure_behind_https(hub, settings):
    world = await World(hub).build()
    app = create_app(settings, hub=hub, manage_database=False)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="https://testserver") as client:
        answer = await log_in(client, world.staff.person.phone)
    cookie = next(h for h in answer.headers.get_list("set-cookie") if h.startswith("vh_session="))
    assert "Secure" in cookie


async def test_wrong_password_and_unknown_phone_read_the_same(hub, browser):
    world = await World(hub).build()
    wrong = await log_in(browser, world.staff.person.phone, "not-the-password")
    unknown = await log_in(browser, "13912345678", "not-the-password")
    assert wrong.status_code == unknown.status_code == 401
    assert re.sub(r'value="[^"]*"', "", wrong.text) == re.sub(r'value="[^"]*"', "", unknown.text)


async def test_login_goes_back_where_it_was_asked_only_on_this_site(hub, browser):
    world = await World(hub).build()
    first = await browser.get("/wishes/mine")
    assert first.status_code == 303
    assert first.headers["location"] == "/login?next=%2Fwishes%2Fmine"
    page = await browser.get("/login")
    answer = await browser.post(
        "/login",
        data={
            "phone": world.staff.person.phone,
            "password": PASSWORD,
            "next": "//evil.example/",
            "csrf_token": csrf(page.text),
        },
    )
    assert answer.headers["location"] == "/"


async def test_register_shows_errors_beside_fields_and_keeps_what_was_typed(hub, browser):
    world = await World(hub).build()
    page = await browser.get("/register")
    answer = await browser.post(
        "/register",
        data={
            "name": "王阿姨",
            "phone": "12345",
            "password": "passw0rd-strong",
            "community_id": str(world.community.id),
            "csrf_token": csrf(page.text),
        },
    )
    assert answer.status_code == 422
    assert 'aria-invalid="true" aria-describedby="e-phone"' in answer.text
    assert 'value="王阿姨"' in answer.text
    ok = await browser.post(
        "/register",
        data={
            "name": "王阿姨",
            "phone": "13912340001",
            "password": "passw0rd-strong",
            "community_id": str(world.community.id),
            "csrf_token": csrf(answer.text),
        },
    )
    assert ok.status_code == 303
    assert "王阿姨" in (await browser.get("/")).text


async def test_pages_send_security_headers(hub, browser):
    answer = await browser.get("/login")
    csp = answer.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp
    assert answer.headers["x-frame-options"] == "DENY"
    assert answer.headers["cache-control"] == "no-store"
    assert "<script>" not in answer.text and " style=" not in answer.text


async def test_unknown_paths_get_a_page_in_a_browser_and_json_elsewhere(hub, browser):
    html = {"Accept": "text/html,application/xhtml+xml"}
    page = await browser.get("/no-such-page", headers=html)
    assert page.status_code == 404
    assert page.headers["content-type"].startswith("text/html")
    assert "未找到" in page.text or "找不到" in page.text
    api = await browser.get("/api/v1/no-such-thing", headers=html)
    assert api.status_code == 404
    assert api.json()["error"]["code"] == "not_found"
    plain = await browser.get("/no-such-page")
    assert plain.json()["error"]["code"] == "not_found"


async def test_the_language_a_person_chooses_is_saved_with_an_audit_entry(hub, browser):
    world = await World(hub).build()
    person = world.staff.person
    await log_in(browser, person.phone)
    home = await browser.get("/", follow_redirects=True)
    answer = await browser.post(
        "/preferences", data={"lang": "en", "next": "/", "csrf_token": csrf(home.text)}
    )
    assert answer.status_code == 303
    assert (await Person.get(id=person.id)).locale == "en"  # notifications follow it
    (entry,) = await AuditEntry.filter(action="person.locale_changed", entity_id=person.id)
    assert (entry.actor_id, entry.entity_type) == (person.id, "person")
    assert (entry.before, entry.after) == ({"locale": "zh-CN"}, {"locale": "en"})
    # The same choice again changes nothing, so it is not audited again.
    await browser.post(
        "/preferences", data={"lang": "en", "next": "/", "csrf_token": csrf(home.text)}
    )
    assert await AuditEntry.filter(action="person.locale_changed").count() == 1


async def test_a_language_no_page_offers_is_neither_saved_nor_audited(hub, browser):
    world = await World(hub).build()
    person = world.staff.person
    await log_in(browser, person.phone)
    home = await browser.get("/", follow_redirects=True)
    await browser.post("/preferences", data={"lang": "fr", "csrf_token": csrf(home.text)})
    assert (await Person.get(id=person.id)).locale == "zh-CN"
    assert not await AuditEntry.filter(action="person.locale_changed").exists()


async def test_each_app_builds_its_own_template_environment_once(hub, settings):
    first = create_app(settings, hub=hub, manage_database=False)
    second = create_app(settings, hub=hub, manage_database=False)
    assert first.state.templates.env is not second.state.templates.env
    built = first.state.templates.env
    transport = httpx.ASGITransport(app=first)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        for _ in range(2):
            assert (await client.get("/login")).status_code == 200
    assert first.state.templates.env is built


# --- issue 12: the pages of the basics, by caller ------------------------------------------

PUBLIC_PAGES = ["/password/forgot", "/password/reset", "/shifts?community={cid}", "/"]


@pytest.mark.parametrize("path", PUBLIC_PAGES)
@pytest.mark.parametrize("lang", ["zh-CN", "en"])
async def test_the_public_pages_are_open_to_everyone_in_both_languages(hub, browser, path, lang):
    w = await World(hub).build()
    for who in (None, w.staff):
        if who is not None:
            await log_in(browser, who.person.phone)
        r = await browser.get(
            path.format(cid=w.community.id),
            headers={"Accept-Language": lang},
            follow_redirects=True,  # staff who open / land in their console
        )
        assert r.status_code == 200, (path, who)
        assert f'<html lang="{lang}"' in r.text


@pytest.mark.parametrize(
    "caller, status",
    [
        ("anonymous", 303),
        ("resident", 404),
        ("volunteer", 404),
        ("grid_worker", 200),  # the resident lives in their grid
        ("staff", 200),
        ("other_staff", 404),
        ("admin", 200),
    ],
)
async def test_issuing_a_reset_code_on_a_page_is_for_staff_and_grid_workers(
    hub, browser, caller, status
):
    w = await World(hub).build()
    other = await World(hub).build_other(w)
    resident = await w.person("王奶奶")
    callers = {
        "resident": await w.person("邻居"),
        "volunteer": await w.volunteer("小李", team=await w.team("repair")),
        "grid_worker": w.grid_worker,
        "staff": w.staff,
        "other_staff": other.staff,
        "admin": w.admin,
    }
    if caller != "anonymous":
        await log_in(browser, callers[caller].person.phone)
    form = await browser.get("/password/forgot")
    r = await browser.post(
        f"/staff/people/{resident.id}/reset-code", data={"csrf_token": csrf(form.text)}
    )
    assert r.status_code == status, r.text[:300]
    if status == 303:
        assert r.headers["location"].startswith("/login?next=")
    if status == 200:
        assert re.search(r'<p class="code"[^>]*>\d{6}</p>', r.text)
    else:
        assert (await Person.get(id=resident.id)).reset_code_hash is None
