"""Reaching people outside the app (issue 12, point 4): text messages agreed to at
registration, channels set by the person or for them (assisted), a test message, residents
reached through their grid worker, the inbox page and the header's unread count, and what
a resident is told at claim, expiry and escalation.

Messages go through the real outbox and worker to a real SMS gateway sink on 127.0.0.1.
"""

from __future__ import annotations

import re
from datetime import timedelta

import pytest

from tests.factories import PASSWORD, World, next_phone
from tests.pages_support import csrf, log_in
from tests.sinks import WebhookSink
from volunteer_hub.errors import NotFound
from volunteer_hub.models import (
    AuditEntry,
    Delivery,
    Notification,
    Person,
    PersonChannel,
    Role,
)
from volunteer_hub.notifications.planner import CODE_EVENT
from volunteer_hub.notifications.senders import AppriseNotifier
from volunteer_hub.notifications.worker import Worker
from volunteer_hub.services import channels, wishes
from volunteer_hub.testing import confirmed_address, login, sent_code

ERRAND = {"title": "帮忙取快递", "description": "腿脚不便", "category": "errand"}


async def with_sms(w: World, sink: WebhookSink) -> None:
    await channels.configure(
        w.hub,
        w.staff,
        w.community.id,
        {"code": "webhook", "name": "短信网关", "settings": {"url": sink.url}},
    )


def registration(w: World, **extra) -> dict:
    return {
        "name": "王奶奶",
        "phone": next_phone(),
        "password": PASSWORD,
        "community_id": w.community.id,
        "grid_id": w.grid.id,
        **extra,
    }


async def send_all(hub) -> None:
    await Worker(hub, AppriseNotifier()).run_once()


# --- registration ---------------------------------------------------------------------------


async def test_consent_at_registration_enrols_the_phone_and_sends_only_the_code(hub, api):
    w = await World(hub).build()
    with WebhookSink() as sink:
        await with_sms(w, sink)
        data = registration(w, sms_consent=True)
        r = await api.post("/api/v1/people", json=data)
        assert r.status_code == 201, r.text
        person_id = r.json()["id"]
        row = await PersonChannel.get(person_id=person_id)
        assert (row.code, row.address, row.confirmed_at, row.set_by_id) == (
            "webhook",
            data["phone"],
            None,
            None,
        )
        await send_all(hub)
        [text] = sink.accepted.values()
        assert text.to == data["phone"] and "验证码" in text.subject
        # Nothing else reaches the unconfirmed phone until the code is typed in.
        resident = await _actor(person_id)
        wish = await wishes.post(hub, resident, w.community.id, ERRAND)
        await wishes.review(hub, w.staff, wish.id, {"decision": "approve"})
        await send_all(hub)
        assert len(sink.accepted) == 1
        await channels.confirm_address(hub, resident, "webhook", {"code": await sent_code(row)})
        await wishes.review(
            hub,
            w.staff,
            (await wishes.post(hub, resident, w.community.id, ERRAND)).id,
            {"decision": "approve"},
        )
        await send_all(hub)
        assert len(sink.accepted) == 2


async def _actor(person_id: int):
    from volunteer_hub.services.access import load_actor

    return await load_actor(person_id)


async def test_without_consent_or_without_an_sms_channel_nothing_is_enrolled(hub, api):
    w = await World(hub).build()
    r = await api.post("/api/v1/people", json=registration(w, sms_consent=True))
    assert r.status_code == 201  # no text-message channel in this community: nothing to enrol
    assert not await PersonChannel.exists(person_id=r.json()["id"])
    with WebhookSink() as sink:
        await with_sms(w, sink)
        r = await api.post("/api/v1/people", json=registration(w))
        assert r.status_code == 201
        assert not await PersonChannel.exists(person_id=r.json()["id"])


@pytest.mark.parametrize("consent", ["yes", 1, None, {}])
async def test_a_consent_that_is_not_true_or_false_is_refused_and_nothing_written(
    hub, api, consent
):
    w = await World(hub).build()
    before = await Person.all().count()
    r = await api.post("/api/v1/people", json=registration(w, sms_consent=consent))
    assert r.status_code == 422
    assert [d["field"] for d in r.json()["error"]["details"]] == ["sms_consent"]
    assert await Person.all().count() == before


async def test_assisted_registration_confirms_the_phone_and_names_who_did(hub, api):
    w = await World(hub).build()
    with WebhookSink() as sink:
        await with_sms(w, sink)
        headers = await login(api, w.grid_worker)
        r = await api.post(
            "/api/v1/people", json=registration(w, sms_consent=True), headers=headers
        )
        assert r.status_code == 201, r.text
        row = await PersonChannel.get(person_id=r.json()["id"])
        assert row.confirmed_at is not None and row.set_by_id == w.grid_worker.id
        entry = await AuditEntry.get(action="person.channel_set", entity_id=row.id)
        assert entry.actor_id == w.grid_worker.id and entry.after["set_by"] == w.grid_worker.id
        assert not await Notification.exists(event=CODE_EVENT)  # no code: it is confirmed


async def test_the_register_page_has_the_box_unticked_and_asks_for_the_code(hub, browser):
    w = await World(hub).build()
    with WebhookSink() as sink:
        await with_sms(w, sink)
        for lang, label in (("zh-CN", "给这个号码发短信"), ("en", "Send me text messages")):
            form = await browser.get("/register", headers={"Accept-Language": lang})
            assert label in form.text
            box = re.search(r'<input id="f-sms_consent"[^>]*>', form.text).group(0)
            assert "checked" not in box
        data = registration(w, sms_consent="yes", csrf_token=csrf(form.text))
        del data["grid_id"]
        answer = await browser.post("/register", data=data)
        assert answer.status_code == 303 and answer.headers["location"].startswith("/channels")
        page = await browser.get(answer.headers["location"])
        assert "我们已向您的手机发送验证码" in page.text
        row = await PersonChannel.get(address=data["phone"])
        confirm = await browser.post(
            "/channels/webhook/confirm",
            data={"code": await sent_code(row), "csrf_token": csrf(page.text)},
        )
        assert confirm.status_code == 303
        await row.refresh_from_db()
        assert row.confirmed_at is not None


# --- the channels page ----------------------------------------------------------------------


async def test_a_person_sets_confirms_tests_and_switches_off_an_address(hub, browser):
    w = await World(hub).build()
    resident = await w.person("陈阿姨")
    with WebhookSink() as sink:
        await with_sms(w, sink)
        await log_in(browser, resident.person.phone)
        page = await browser.get("/channels")
        assert '<h2 id="ch-webhook-h">短信</h2>' in page.text and "未设置" in page.text
        token = csrf(page.text)
        bad = await browser.post("/channels/webhook", data={"address": "12", "csrf_token": token})
        assert bad.status_code == 422 and "中国大陆手机号" in bad.text
        r = await browser.post(
            "/channels/webhook", data={"address": "13800138000", "csrf_token": token}
        )
        assert r.headers["location"] == "/channels?done=code_sent"
        page = await browser.get("/channels")
        assert "等待输入验证码" in page.text
        wrong = await browser.post(
            "/channels/webhook/confirm", data={"code": "000000", "csrf_token": token}
        )
        row = await PersonChannel.get(person_id=resident.id)
        if await sent_code(row) != "000000":
            assert wrong.status_code == 422 and "验证码不正确" in wrong.text
        await browser.post(
            "/channels/webhook/confirm", data={"code": await sent_code(row), "csrf_token": token}
        )
        test = await browser.post("/channels/webhook/test", data={"csrf_token": token})
        assert test.headers["location"] == "/channels?done=test_sent"
        again = await browser.post("/channels/webhook/test", data={"csrf_token": token})
        assert again.status_code == 429  # one a minute: each costs a message
        await send_all(hub)
        assert [m.subject for m in sink.accepted.values()][-1] == "测试消息：短信网关"
        off = await browser.post("/channels/webhook/off", data={"csrf_token": token})
        assert off.headers["location"] == "/channels?done=off"
        await row.refresh_from_db()
        assert not row.enabled
        assert "已关闭" in (await browser.get("/channels")).text


# --- assisted mode ------------------------------------------------------------------------


async def test_staff_and_the_grid_worker_set_a_residents_channel_others_get_404(hub, api):
    w = await World(hub).build()
    wang = await w.person("王奶奶")
    other_worker = await w.person("二网格员", roles=[Role.GRID_WORKER], grid=w.other_grid)
    with WebhookSink() as sink:
        await with_sms(w, sink)
        url = f"/api/v1/people/{wang.id}/channels/webhook"
        for refused in (other_worker, await w.person("邻居"), wang):
            r = await api.put(
                url, json={"address": "13800138001"}, headers=await login(api, refused)
            )
            assert r.status_code == 404, refused
        r = await api.put(
            url, json={"address": "13800138001"}, headers=await login(api, w.grid_worker)
        )
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["confirmed"] and body["set_by"] == w.grid_worker.id
        entry = await AuditEntry.filter(action="person.channel_set").order_by("-id").first()
        assert entry.actor_id == w.grid_worker.id and entry.after["person_id"] == wang.id
        listed = await api.get(
            f"/api/v1/people/{wang.id}/channels", headers=await login(api, w.staff)
        )
        assert [a["address"] for a in listed.json()["items"]] == ["13800138001"]
        # It is in use at once: the next message reaches it.
        wish = await wishes.post(hub, wang, w.community.id, ERRAND)
        await wishes.review(hub, w.staff, wish.id, {"decision": "approve"})
        await send_all(hub)
        assert [m.to for m in sink.accepted.values()] == ["13800138001"]


async def test_the_assisted_page_and_the_residents_list(hub, browser):
    w = await World(hub).build()
    wang = await w.person("王奶奶")
    with WebhookSink() as sink:
        await with_sms(w, sink)
        await log_in(browser, w.grid_worker.person.phone)
        listing = await browser.get("/residents")
        assert f'href="/people/{wang.id}/channels"' in listing.text
        assert wang.person.phone in listing.text  # the grid worker of her grid may see it
        found = await browser.get("/residents", params={"q": wang.person.phone[-4:]})
        assert "王奶奶" in found.text
        page = await browser.get(f"/people/{wang.id}/channels")
        assert page.status_code == 200 and "王奶奶的通知方式" in page.text
        token = csrf(page.text)
        r = await browser.post(
            f"/people/{wang.id}/channels/webhook",
            data={"address": "13800138002", "csrf_token": token},
        )
        assert r.headers["location"] == f"/people/{wang.id}/channels?done=saved"
        row = await PersonChannel.get(person_id=wang.id)
        assert row.confirmed_at is not None and row.set_by_id == w.grid_worker.id
        r = await browser.post(
            f"/people/{wang.id}/reached-through-grid-worker",
            data={"reached": "yes", "csrf_token": token},
        )
        assert r.status_code == 303
        await wang.person.refresh_from_db()
        assert wang.person.reached_through_grid_worker
        entry = await AuditEntry.filter(action="person.updated", entity_id=wang.id).first()
        assert entry.actor_id == w.grid_worker.id
        assert entry.after == {"reached_through_grid_worker": True}


@pytest.mark.parametrize("path", ["/channels", "/inbox", "/residents", "/people/{id}/channels"])
async def test_reach_pages_need_a_login(hub, browser, path):
    w = await World(hub).build()
    answer = await browser.get(path.format(id=w.staff.id))
    assert answer.status_code == 303 and answer.headers["location"].startswith("/login")


async def test_only_those_who_serve_a_resident_see_their_channels_page(hub, browser):
    w = await World(hub).build()
    wang = await w.person("王奶奶")
    other_worker = await w.person("二网格员", roles=[Role.GRID_WORKER], grid=w.other_grid)
    for actor, status in (
        (await w.person("邻居"), 404),
        (other_worker, 404),
        (wang, 404),  # her own page is /channels
        (w.staff, 200),
    ):
        browser.cookies.clear()
        await log_in(browser, actor.person.phone)
        assert (await browser.get(f"/people/{wang.id}/channels")).status_code == status
        forged = await browser.post(
            f"/people/{wang.id}/reached-through-grid-worker",
            data={
                "reached": "yes",
                "csrf_token": csrf((await browser.get("/", follow_redirects=True)).text),
            },
        )
        assert forged.status_code == (303 if status == 200 else 404)
    browser.cookies.clear()
    await log_in(browser, (await w.person("居民")).person.phone)
    assert (await browser.get("/residents")).status_code == 403


# --- reached through the grid worker ------------------------------------------------------


async def test_a_resident_reached_through_the_grid_worker_has_her_messages_relayed(hub):
    w = await World(hub).build()
    wang = await w.person("王奶奶")
    with WebhookSink() as sink:
        await with_sms(w, sink)
        await confirmed_address(hub, w.grid_worker, "webhook", "13800138003")
        await channels.set_reached_through_grid_worker(
            hub, w.staff, wang.id, {"reached_through_grid_worker": True}
        )
        team = await w.team("repair")
        volunteer = await w.volunteer("李志愿", team=team)
        wish = await wishes.post(hub, wang, w.community.id, ERRAND)
        await wishes.review(hub, w.staff, wish.id, {"decision": "approve"})
        await wishes.claim(hub, volunteer, wish.id)
        relayed = await Notification.filter(person_id=w.grid_worker.id).order_by("id")
        assert [n.event for n in relayed] == ["wish.approved", "wish.claimed"]
        assert relayed[1].subject.startswith("转告王奶奶：")
        assert "李志愿" in relayed[1].body and "王奶奶" in relayed[1].body
        assert wang.person.phone not in relayed[1].body  # masked: the grid worker knows her
        await send_all(hub)
        assert {m.to for m in sink.accepted.values()} == {"13800138003"}
        # Her own inbox has them too.
        assert await Notification.filter(person_id=wang.id).count() == 2


async def test_the_grid_worker_who_posted_for_her_is_not_told_twice(hub):
    w = await World(hub).build()
    wang = await w.person("王奶奶")
    await channels.set_reached_through_grid_worker(
        hub, w.grid_worker, wang.id, {"reached_through_grid_worker": True}
    )
    wish = await wishes.post(hub, w.grid_worker, w.community.id, ERRAND | {"on_behalf_of": wang.id})
    await wishes.review(hub, w.staff, wish.id, {"decision": "approve"})
    assert await Notification.filter(person_id=w.grid_worker.id).count() == 1


# --- what the resident is told -------------------------------------------------------------


async def test_at_claim_the_resident_hears_who_is_coming_and_when_not_their_number(hub):
    w = await World(hub).build()
    wang = await w.person("王奶奶")
    team = await w.team("repair")
    volunteer = await w.volunteer("李志愿", team=team)
    needed_by = hub.today("Asia/Shanghai") + timedelta(days=3)
    wish = await wishes.post(
        hub, wang, w.community.id, ERRAND | {"needed_by": needed_by.isoformat()}
    )
    await wishes.review(hub, w.staff, wish.id, {"decision": "approve"})
    await wishes.claim(hub, volunteer, wish.id)
    note = await Notification.filter(person_id=wang.id, event="wish.claimed").get()
    assert note.subject == "李志愿会来帮您：帮忙取快递"
    assert f"{needed_by.month}月{needed_by.day}日" in note.body
    assert f"尾号是 {volunteer.person.phone[-4:]}" in note.body
    assert volunteer.person.phone not in note.body + (note.html or "")


async def test_english_residents_hear_it_in_english(hub):
    w = await World(hub).build()
    anna = await w.person("Anna")
    await Person.filter(id=anna.id).update(locale="en")
    team = await w.team("repair")
    volunteer = await w.volunteer("Li", team=team)
    wish = await wishes.post(hub, anna, w.community.id, ERRAND | {"needed_by": "2031-03-06"})
    await wishes.review(hub, w.staff, wish.id, {"decision": "approve"})
    await wishes.claim(hub, volunteer, wish.id)
    note = await Notification.filter(person_id=anna.id, event="wish.claimed").get()
    assert note.subject == "Li is coming to help: 帮忙取快递"
    assert "by Thursday, March 6, 2031" in note.body
    assert f"ends in {volunteer.person.phone[-4:]}" in note.body


async def test_the_resident_is_told_when_her_wish_expires(hub, clock):
    w = await World(hub).build()
    wang = await w.person("王奶奶")
    tomorrow = hub.today("Asia/Shanghai") + timedelta(days=1)
    wish = await wishes.post(
        hub, wang, w.community.id, ERRAND | {"needed_by": tomorrow.isoformat()}
    )
    await wishes.review(hub, w.staff, wish.id, {"decision": "approve"})
    clock.advance(days=3)
    assert await wishes.expire_overdue(hub) == 1
    note = await Notification.filter(person_id=wang.id, event="wish.expired").get()
    assert note.subject == "您的心愿已到期关闭：帮忙取快递"
    assert "重新发布" in note.body


async def test_the_resident_is_told_of_an_escalation_in_plain_words(hub):
    w = await World(hub).build()
    wang = await w.person("王奶奶")
    wish = await wishes.post(
        hub,
        wang,
        w.community.id,
        {"title": "路灯太暗", "description": "3号楼前", "category": "public_facility"},
    )
    await wishes.review(hub, w.staff, wish.id, {"decision": "approve"})
    await wishes.escalate(hub, w.staff, wish.id, {"level": "blue", "referral": "街道城管科"})
    mine = await Notification.filter(person_id=wang.id, event="wish.escalated").order_by("id")
    assert mine and mine[-1].subject == "您的心愿已转交上级部门：路灯太暗"
    assert "街道城管科" in mine[-1].body and "蓝牌" not in mine[-1].body
    staff_note = await Notification.filter(person_id=w.staff.id, event="wish.escalated").first()
    assert staff_note is not None and "蓝牌" in staff_note.subject
    await wishes.escalate(hub, w.staff, wish.id, {"level": "yellow"})
    later = await Notification.filter(person_id=wang.id, event="wish.escalated").order_by("-id")
    assert "更高一级的负责人" in later[0].body


# --- the inbox ------------------------------------------------------------------------------


async def test_inbox_page_marks_read_and_the_header_counts_unread(hub, browser):
    w = await World(hub).build()
    wang = await w.person("王奶奶")
    for _ in range(2):
        wish = await wishes.post(hub, wang, w.community.id, ERRAND)
        await wishes.review(hub, w.staff, wish.id, {"decision": "approve"})
    await log_in(browser, wang.person.phone)
    home = await browser.get("/")
    assert re.search(r'href="/inbox">收件箱 <span class="badge count">2<', home.text)
    english = await browser.get("/inbox", headers={"Accept-Language": "en"})
    assert "Inbox" in english.text and "Mark all read" in english.text
    page = await browser.get("/inbox")
    assert page.text.count('<article aria-labelledby="n') == 2
    first = await Notification.filter(person_id=wang.id).order_by("id").first()
    r = await browser.post(f"/inbox/{first.id}/read", data={"csrf_token": csrf(page.text)})
    assert r.status_code == 303
    assert 'class="badge count">1<' in (await browser.get("/")).text
    unread = await browser.get("/inbox", params={"unread": "1"})
    assert unread.text.count('<article aria-labelledby="n') == 1
    await browser.post("/inbox/read-all", data={"csrf_token": csrf(page.text)})
    assert 'class="badge count"' not in (await browser.get("/")).text
    # Someone else's notification is not found.
    other = await w.person("邻居")
    wish = await wishes.post(hub, other, w.community.id, ERRAND)
    await wishes.review(hub, w.staff, wish.id, {"decision": "approve"})
    theirs = await Notification.filter(person_id=other.id).first()
    r = await browser.post(f"/inbox/{theirs.id}/read", data={"csrf_token": csrf(page.text)})
    assert r.status_code == 404
    await theirs.refresh_from_db()
    assert theirs.read_at is None


async def test_codes_are_neither_listed_nor_counted(hub, browser):
    w = await World(hub).build()
    wang = await w.person("王奶奶")
    with WebhookSink() as sink:
        await with_sms(w, sink)
        await channels.set_address(hub, wang, "webhook", {"address": "13800138004"})
        assert await Notification.filter(person_id=wang.id, event=CODE_EVENT).exists()
        await log_in(browser, wang.person.phone)
        page = await browser.get("/inbox")
        assert "验证码" not in page.text and 'class="badge count"' not in page.text


async def test_the_unread_count_is_one_indexed_statement(hub):
    from volunteer_hub import db
    from volunteer_hub.notifications import inbox

    w = await World(hub).build()
    wang = await w.person("王奶奶")
    assert await inbox.unread_count(wang.id) == 0
    wish = await wishes.post(hub, wang, w.community.id, ERRAND)
    await wishes.review(hub, w.staff, wish.id, {"decision": "approve"})
    assert await inbox.unread_count(wang.id) == 1
    assert await Delivery.all().count() == 0  # no channel configured: inbox only
    with pytest.raises(NotFound):  # someone else's notification
        await inbox.mark_read(hub, w.staff, (await Notification.first()).id)
    if not db.is_postgres():  # the person's rows are found through the index, not a scan
        plan = await db.fetch("EXPLAIN QUERY PLAN " + inbox.UNREAD_SQL, wang.id, CODE_EVENT)
        details = " ".join(str(row["detail"]) for row in plan)
        assert "USING INDEX" in details and "SCAN notification" not in details, details
