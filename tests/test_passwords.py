"""Weak passwords are refused wherever a password is set: the API, the pages, the CLI.

The rules themselves (zxcvbn with the person's details and the shipped Chinese list) are
tested in test_validation.py; here the same refusals reach people over HTTP, in Chinese
and English, and an account made before the rules can still log in.
"""

from __future__ import annotations

import asyncio
import json
import re

import pytest

from tests.factories import PASSWORD, World, next_phone
from tests.pages_support import csrf, log_in
from tests.sinks import WebhookSink
from volunteer_hub.errors import InvalidInput, Throttled
from volunteer_hub.models import AuditEntry, Delivery, Notification, Person, Role, RoleAssignment
from volunteer_hub.notifications.planner import RESET_CODE_EVENT
from volunteer_hub.notifications.senders import AppriseNotifier
from volunteer_hub.notifications.worker import Worker
from volunteer_hub.services import auth, channels, people
from volunteer_hub.testing import confirmed_address, login

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


# --- password reset (issue 12) ------------------------------------------------------------

NEW_PASSWORD = "Qiuyue-Lanhua-2026"


async def code_from_staff(api, staff, person_id: int) -> str:
    r = await api.post(f"/api/v1/people/{person_id}/reset-code", headers=await login(api, staff))
    assert r.status_code == 201, r.text
    return r.json()["code"]


async def test_staff_issue_a_code_once_and_it_sets_a_new_password_once(hub, api, caplog):
    w = await World(hub).build()
    resident = await w.person("王奶奶")
    old_headers = await login(api, resident)

    r = await api.post(
        f"/api/v1/people/{resident.id}/reset-code", headers=await login(api, w.staff)
    )
    assert r.status_code == 201, r.text
    body = r.json()
    code = body["code"]
    assert re.fullmatch(r"\d{6}", code) and body["person_id"] == resident.id
    stored = await Person.get(id=resident.id)
    assert stored.reset_code_hash and code not in stored.reset_code_hash
    assert len(stored.reset_code_hash) == 64
    issued = await AuditEntry.get(action="person.reset_code_issued", entity_id=resident.id)
    assert issued.actor_id == w.staff.id and issued.after == {"via": "staff"}

    reset = {"phone": resident.person.phone, "code": code, "password": NEW_PASSWORD}
    r = await api.post("/api/v1/auth/reset", json=reset)
    assert r.status_code == 204, r.text
    # Every token of the person stopped working; the new password logs in, the old does not.
    assert (await api.get("/api/v1/me", headers=old_headers)).status_code == 401
    old = {"phone": resident.person.phone, "password": PASSWORD}
    assert (await api.post("/api/v1/auth/login", json=old)).status_code == 401
    new = {"phone": resident.person.phone, "password": NEW_PASSWORD}
    assert (await api.post("/api/v1/auth/login", json=new)).status_code == 200
    assert await AuditEntry.exists(action="person.password_reset", entity_id=resident.id)
    # Once only.
    r = await api.post("/api/v1/auth/reset", json={**reset, "password": "Another-Long-2027"})
    assert r.status_code == 422 and r.json()["error"]["details"][0]["field"] == "code"
    # The code is in no audit entry, notification or log line.
    for entry in await AuditEntry.all():
        assert code not in json.dumps([entry.before, entry.after], ensure_ascii=False)
    for n in await Notification.all():
        assert code not in n.subject + n.body
    assert code not in caplog.text
    # The person is told (in case it was not them).
    assert await Notification.exists(event="person.password_reset", person_id=resident.id)


async def test_who_may_issue_a_code(hub, api):
    w = await World(hub).build()
    other = await World(hub).build_other(w)
    resident = await w.person("王奶奶")  # in the first grid, the grid worker's
    elsewhere = await w.person("李大爷", grid=w.other_grid)
    neighbour = await w.person("邻居")
    for caller, target, status in [
        (w.staff, resident, 201),
        (w.admin, w.staff, 201),
        (w.grid_worker, resident, 201),
        (w.grid_worker, elsewhere, 404),  # not of their grid
        (neighbour, resident, 404),
        (other.staff, resident, 404),
        (w.grid_worker, w.staff, 403),  # a grid worker resets no staff member
        (w.staff, w.admin, 404),  # the admin lives in no community
    ]:
        r = await api.post(
            f"/api/v1/people/{target.id}/reset-code", headers=await login(api, caller)
        )
        assert r.status_code == status, (caller.id, target.id, r.text)
    r = await api.post("/api/v1/people/999999/reset-code", headers=await login(api, w.staff))
    assert r.status_code == 404
    assert (await api.post(f"/api/v1/people/{resident.id}/reset-code")).status_code == 401


async def test_five_wrong_tries_void_the_code_and_it_expires(hub, api, clock):
    w = await World(hub).build()
    resident = await w.person("王奶奶")
    code = await code_from_staff(api, w.staff, resident.id)
    wrong = f"{(int(code) + 1) % 10**6:06d}"
    reset = {"phone": resident.person.phone, "password": NEW_PASSWORD}
    for _ in range(4):
        r = await api.post("/api/v1/auth/reset", json={**reset, "code": wrong})
        assert r.status_code == 422
    # Four failures so far; login throttling counts them (5 per phone), so a fifth ends it.
    r = await api.post("/api/v1/auth/reset", json={**reset, "code": wrong})
    assert r.status_code == 422
    assert (await Person.get(id=resident.id)).reset_code_hash is None  # void
    clock.advance(minutes=16)  # the throttle's window ends
    r = await api.post("/api/v1/auth/reset", json={**reset, "code": code})
    assert r.status_code == 422

    code = await code_from_staff(api, w.staff, resident.id)
    clock.advance(minutes=15, seconds=1)
    r = await api.post("/api/v1/auth/reset", json={**reset, "code": code})
    assert r.status_code == 422
    assert (await Person.get(id=resident.id)).password_hash == resident.person.password_hash


async def test_a_weak_new_password_is_refused_and_the_code_still_works(hub, api):
    w = await World(hub).build()
    resident = await w.person("王奶奶")
    code = await code_from_staff(api, w.staff, resident.id)
    reset = {"phone": resident.person.phone, "code": code}
    for weak in ("Aa123456", resident.person.phone + "a"):
        r = await api.post("/api/v1/auth/reset", json={**reset, "password": weak})
        assert r.status_code == 422, r.text
        assert r.json()["error"]["details"][0]["field"] == "password"
    r = await api.post("/api/v1/auth/reset", json={**reset, "password": NEW_PASSWORD})
    assert r.status_code == 204, r.text


@pytest.mark.parametrize(
    "body, field",
    [
        ({"phone": "13900000000", "code": "12345", "password": NEW_PASSWORD}, "code"),
        ({"phone": "13900000000", "code": "abcdef", "password": NEW_PASSWORD}, "code"),
        ({"phone": "13900000000", "code": "123456", "password": "short"}, "password"),
        ({"code": "123456", "password": NEW_PASSWORD}, "phone"),
    ],
)
async def test_bad_reset_input_names_the_field(hub, api, body, field):
    r = await api.post("/api/v1/auth/reset", json=body)
    assert r.status_code == 422, r.text
    assert field in [d["field"] for d in r.json()["error"]["details"]]


async def test_unknown_phones_and_wrong_codes_read_the_same(hub, api):
    w = await World(hub).build()
    resident = await w.person("王奶奶")
    await code_from_staff(api, w.staff, resident.id)
    answers = []
    for phone in (resident.person.phone, "13811112222"):
        r = await api.post(
            "/api/v1/auth/reset", json={"phone": phone, "code": "000000", "password": NEW_PASSWORD}
        )
        answers.append((r.status_code, r.json()))
    assert answers[0] == answers[1]


async def test_simultaneous_resets_with_the_right_code_set_one_password(hub, api):
    w = await World(hub).build()
    resident = await w.person("王奶奶")
    code = await code_from_staff(api, w.staff, resident.id)
    passwords = [f"Qiuyue-Lanhua-{n:04d}" for n in range(8)]
    results = await asyncio.gather(
        *(
            auth.reset_password(
                hub,
                {"phone": resident.person.phone, "code": code, "password": p},
                f"198.51.100.{n}",
            )
            for n, p in enumerate(passwords)
        ),
        return_exceptions=True,
    )
    assert sum(r is None for r in results) == 1
    # The others: the code was used (422), or the phone's attempts ran out meanwhile (429).
    assert all(isinstance(r, InvalidInput | Throttled) for r in results if r is not None)
    assert await AuditEntry.filter(action="person.password_reset").count() == 1


async def with_sms(w: World, url: str) -> None:
    await channels.configure(
        w.hub,
        w.staff,
        w.community.id,
        {"code": "webhook", "name": "短信", "settings": {"url": url}},
    )


async def test_a_code_is_sent_to_a_confirmed_address_and_the_answer_never_tells(hub, api):
    w = await World(hub).build()
    await with_sms(w, "http://127.0.0.1:9/sms")  # nothing is sent here: the outbox is read
    reachable = await w.person("王奶奶")
    await confirmed_address(hub, reachable, "webhook", reachable.person.phone)
    unreachable = await w.person("李大爷")
    before = await Notification.filter(event=RESET_CODE_EVENT).count()

    for phone in (unreachable.person.phone, "13811112222", "not a phone"):
        r = await api.post("/api/v1/auth/reset-code", json={"phone": phone})
        assert (r.status_code, r.content) == (202, b"")
    assert await Notification.filter(event=RESET_CODE_EVENT).count() == before
    r = await api.post("/api/v1/auth/reset-code", json={"phone": reachable.person.phone})
    assert (r.status_code, r.content) == (202, b"")

    message = await Notification.get(event=RESET_CODE_EVENT, person_id=reachable.id)
    assert await Delivery.filter(notification_id=message.id).count() == 1
    code = re.search(r"\d{6}", message.subject).group()
    entry = await AuditEntry.get(action="person.reset_code_issued", entity_id=reachable.id)
    assert entry.after == {"via": "channel"} and entry.actor_id == reachable.id
    # Not in the inbox: a session is no proof of owning the phone.
    headers = await login(api, reachable)
    inbox = (await api.get("/api/v1/me/notifications", headers=headers)).json()
    assert code not in json.dumps(inbox, ensure_ascii=False)
    # A second request within the minute sends nothing more; the code works, and its
    # message is gone once used.
    await api.post("/api/v1/auth/reset-code", json={"phone": reachable.person.phone})
    assert await Notification.filter(event=RESET_CODE_EVENT, person_id=reachable.id).count() == 1
    r = await api.post(
        "/api/v1/auth/reset",
        json={"phone": reachable.person.phone, "code": code, "password": NEW_PASSWORD},
    )
    assert r.status_code == 204, r.text
    assert not await Notification.exists(event=RESET_CODE_EVENT, person_id=reachable.id)


async def test_asking_for_codes_is_throttled_per_phone_whether_or_not_it_exists(hub, api):
    w = await World(hub).build()
    resident = await w.person("王奶奶")
    for phone in (resident.person.phone, "13811112222"):
        statuses = [
            (await api.post("/api/v1/auth/reset-code", json={"phone": phone})).status_code
            for _ in range(6)
        ]
        assert statuses == [202] * 5 + [429]


async def test_the_forgot_and_reset_pages_set_a_new_password(hub, browser, settings):
    """From the login page's link, a code sent by text message (to a real SMS gateway on
    127.0.0.1, through the worker), then the reset page; in Chinese and English."""
    w = await World(hub).build()
    with WebhookSink() as gateway:
        await with_sms(w, gateway.url)
        resident = await w.person("王奶奶")
        await confirmed_address(hub, resident, "webhook", resident.person.phone)
        await Worker(hub, AppriseNotifier()).run_once()
        login_page = await browser.get("/login")
        assert 'href="/password/forgot"' in login_page.text and "忘记密码？" in login_page.text
        page = await browser.get("/password/forgot", headers={"Accept-Language": "en"})
        assert "Forgot your password?" in page.text
        r = await browser.post(
            "/password/forgot",
            data={"phone": resident.person.phone, "csrf_token": csrf(page.text)},
        )
        assert r.status_code == 200 and "验证码正在发送中" in r.text
        await Worker(hub, AppriseNotifier()).run_once()
        sms = [m for m in gateway.accepted.values() if "重设密码" in m.subject]
        assert len(sms) == 1
        code = re.search(r"\d{6}", sms[0].subject).group()

        form = {"phone": resident.person.phone, "csrf_token": csrf(r.text)}
        wrong = await browser.post(
            "/password/reset", data={**form, "code": "000000", "password": NEW_PASSWORD}
        )
        assert wrong.status_code == 422 and "验证码错误" in wrong.text
        weak = await browser.post(
            "/password/reset", data={**form, "code": code, "password": "Aa123456"}
        )
        assert weak.status_code == 422 and 'id="e-password"' in weak.text
        done = await browser.post(
            "/password/reset", data={**form, "code": code, "password": NEW_PASSWORD}
        )
        assert done.status_code == 303 and done.headers["location"] == "/login?done=reset"
        page = await browser.get(done.headers["location"])
        assert "新密码已设置" in page.text
        assert (await log_in(browser, resident.person.phone, NEW_PASSWORD)).status_code == 303


async def test_staff_get_the_code_on_a_page_shown_once(hub, browser):
    w = await World(hub).build()
    resident = await w.person("王奶奶")
    await log_in(browser, w.staff.person.phone)
    home = await browser.get("/", follow_redirects=True)
    r = await browser.post(
        f"/staff/people/{resident.id}/reset-code", data={"csrf_token": csrf(home.text)}
    )
    assert r.status_code == 200 and r.headers["cache-control"] == "no-store"
    code = re.search(r'<p class="code"[^>]*>(\d{6})</p>', r.text).group(1)
    assert "王奶奶" in r.text
    assert (
        await auth.reset_password(
            hub, {"phone": resident.person.phone, "code": code, "password": NEW_PASSWORD}, "x"
        )
        is None
    )
    # Without the form's token: refused; for someone not theirs: not found.
    assert (await browser.post(f"/staff/people/{resident.id}/reset-code")).status_code == 403
    r = await browser.post(
        f"/staff/people/{w.admin.id}/reset-code", data={"csrf_token": csrf(home.text)}
    )
    assert r.status_code == 404


async def test_a_reset_code_is_never_relayed_to_the_grid_worker(hub, api):
    """A resident reached through her grid worker gets her other messages relayed, but a
    code that sets her password stays hers alone."""
    w = await World(hub).build()
    await with_sms(w, "http://127.0.0.1:9/sms")  # nothing is sent here: the outbox is read
    wang = await w.person("王奶奶")
    await confirmed_address(hub, wang, "webhook", wang.person.phone)
    await channels.set_reached_through_grid_worker(
        hub, w.staff, wang.id, {"reached_through_grid_worker": True}
    )
    r = await api.post("/api/v1/auth/reset-code", json={"phone": wang.person.phone})
    assert r.status_code == 202
    assert await Notification.filter(event=RESET_CODE_EVENT, person_id=wang.id).count() == 1
    assert not await Notification.filter(person_id=w.grid_worker.id).exists()
