"""Weak passwords are refused wherever a password is set: the API, the pages, the CLI.

The rules themselves (zxcvbn with the person's details and the shipped Chinese list) are
tested in test_validation.py; here the same refusals reach people over HTTP, in Chinese
and English, and an account made before the rules can still log in.
"""

from __future__ import annotations

import pytest

from tests.factories import PASSWORD, World, next_phone
from tests.pages_support import csrf, log_in
from volunteer_hub.errors import InvalidInput
from volunteer_hub.models import Person, Role, RoleAssignment
from volunteer_hub.services import people

# A few of test_validation.WEAK, over HTTP (each refusal may count towards a per-address
# registration limit, so not all of them).
WEAK_OVER_HTTP = ["Aa123456", "woaini520", "1qaz2wsx", "qq123456", "Zhangwei1990!"]


def registration(world: World, password: str, **extra) -> dict:
    return {
        "name": "王阿姨",
        "phone": next_phone(),
        "password": password,
        "community_id": world.community.id,
        **extra,
    }


async def test_weak_passwords_are_refused_over_http_and_strong_ones_accepted(hub, api):
    world = await World(hub).build()
    for password in WEAK_OVER_HTTP:
        r = await api.post("/api/v1/people", json=registration(world, password))
        assert r.status_code == 422, password
        [detail] = r.json()["error"]["details"]
        assert detail["field"] == "password"
        assert detail["message"].startswith("密码太常见"), detail
    r = await api.post("/api/v1/people", json=registration(world, "Tiantian-xiangshang-42"))
    assert r.status_code == 201, r.text
    assert await Person.filter(name="王阿姨").count() == 1  # the refused wrote nothing


async def test_the_reason_is_given_in_english_and_chinese(hub, api):
    world = await World(hub).build()
    phone = next_phone()
    cases = [
        ("a1b2c3", "at least 8 characters", "不能少于8位"),
        ("woaini1314", "too common", "太常见"),
        (f"Zoo-{phone}", "too like your phone number", "手机号"),
        ("abcdefghij", "too easy to guess", "太容易被猜到"),
    ]
    for password, english, chinese in cases:
        body = registration(world, password, phone=phone)
        for language, expected in (("en", english), ("zh-CN", chinese)):
            r = await api.post("/api/v1/people", json=body, headers={"Accept-Language": language})
            assert r.status_code == 422
            [detail] = r.json()["error"]["details"]
            assert detail["field"] == "password"
            assert expected in detail["message"], (password, language, detail)


async def test_the_register_page_says_why_a_password_is_refused(hub, browser):
    world = await World(hub).build()
    page = await browser.get("/register")
    data = {
        "name": "王阿姨",
        "phone": "13912340001",
        "password": "woaini520",
        "community_id": str(world.community.id),
        "csrf_token": csrf(page.text),
    }
    answer = await browser.post("/register", data=data)
    assert answer.status_code == 422
    assert 'aria-describedby="e-password"' in answer.text
    assert "密码太常见" in answer.text
    data |= {"password": "Tiantian-xiangshang-42", "csrf_token": csrf(answer.text)}
    assert (await browser.post("/register", data=data)).status_code == 303


async def test_admin_create_refuses_a_weak_or_personal_password(hub):
    phone = next_phone()
    for password in ("Aa123456", f"admin{phone}"):
        with pytest.raises(InvalidInput) as err:
            await people.create_admin(hub, name="管理员", phone=phone, password=password)
        assert err.value.fields == ["password"]
    assert not await Person.exists(phone=phone)


async def test_an_account_made_before_the_rules_still_logs_in(hub, api, browser):
    """Only setting a password is checked: old weak passwords still open their account."""
    world = await World(hub).build()
    phone = next_phone()
    person = await Person.create(
        name="老账号",
        phone=phone,
        password_hash=hub.passwords.hash("woaini520"),
        community_id=world.community.id,
        created_at=hub.now(),
    )
    await RoleAssignment.create(
        person_id=person.id,
        community_id=world.community.id,
        role=Role.RESIDENT,
        created_at=hub.now(),
    )
    r = await api.post("/api/v1/auth/login", json={"phone": phone, "password": "woaini520"})
    assert r.status_code == 200, r.text
    assert (await log_in(browser, phone, "woaini520")).status_code == 303


async def test_changing_a_password_refuses_weak_ones_and_needs_the_current_one(hub, api):
    world = await World(hub).build()
    resident = await world.person("王阿姨")
    phone = resident.person.phone
    r = await api.post("/api/v1/auth/login", json={"phone": phone, "password": PASSWORD})
    headers = {"Authorization": f"Bearer {r.json()['token']}", "Accept-Language": "en"}
    cases = [
        ("not-my-password-1", "Tiantian-xiangshang-42", "current_password", "is wrong"),
        (PASSWORD, "woaini520", "new_password", "too common"),
        (PASSWORD, "1qaz2wsx", "new_password", "too common"),
        (PASSWORD, f"Zoo-{phone}", "new_password", "too like your phone number"),
        (PASSWORD, "short1", "new_password", "at least 8 characters"),
    ]
    for current, new, field, message in cases:
        body = {"current_password": current, "new_password": new}
        r = await api.post("/api/v1/me/password", json=body, headers=headers)
        assert r.status_code == 422, (new, r.text)
        [detail] = r.json()["error"]["details"]
        assert detail["field"] == field and message in detail["message"], detail
    body = {"current_password": PASSWORD, "new_password": "Tiantian-xiangshang-42"}
    assert (await api.post("/api/v1/me/password", json=body, headers=headers)).status_code == 204
    old = await api.post("/api/v1/auth/login", json={"phone": phone, "password": PASSWORD})
    assert old.status_code == 401
    new = {"phone": phone, "password": "Tiantian-xiangshang-42"}
    assert (await api.post("/api/v1/auth/login", json=new)).status_code == 200


async def test_the_password_page_says_why_and_changes_it(hub, browser):
    world = await World(hub).build()
    resident = await world.person("王阿姨")
    await log_in(browser, resident.person.phone)
    page = await browser.get("/password")
    assert page.status_code == 200 and 'autocomplete="new-password"' in page.text
    data = {
        "current_password": PASSWORD,
        "new_password": "Aa123456",
        "csrf_token": csrf(page.text),
    }
    answer = await browser.post("/password", data=data)
    assert answer.status_code == 422
    assert 'aria-describedby="e-new_password"' in answer.text and "密码太常见" in answer.text
    data |= {"new_password": "Tiantian-xiangshang-42", "csrf_token": csrf(answer.text)}
    done = await browser.post("/password", data=data)
    assert done.status_code == 303 and done.headers["location"] == "/password?done=password"
    assert "密码已修改" in (await browser.get(done.headers["location"])).text
    person = await Person.get(id=resident.id)
    assert hub.passwords.verify(person.password_hash, "Tiantian-xiangshang-42")
