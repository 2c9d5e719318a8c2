"""People's addresses: one mailbox per e-mail address, and nothing but a code until confirmed.

Over HTTP, with the worker sending to the real sinks (an SMTP server and an SMS gateway
on 127.0.0.1): the code arrives at the address typed, typing it in confirms the address,
five wrong tries void the code, and no other message reaches an unconfirmed address.
"""

from __future__ import annotations

import asyncio
import logging
import re
from datetime import timedelta

import pytest

import volunteer_hub
from tests.factories import PASSWORD, World
from tests.sinks import SmtpSink, WebhookSink
from volunteer_hub.errors import InvalidInput, NotFound
from volunteer_hub.models import (
    AuditEntry,
    Delivery,
    DeliveryStatus,
    Notification,
    PersonChannel,
)
from volunteer_hub.notifications.planner import CODE_EVENT
from volunteer_hub.notifications.senders import AppriseNotifier
from volunteer_hub.notifications.worker import Worker
from volunteer_hub.services import channels, wishes
from volunteer_hub.testing import confirmed_address, sent_code
from volunteer_hub.validation import normalize_email

ERRAND = {"title": "帮忙取快递", "description": "腿脚不便", "category": "errand"}
CHANNELS = "/api/v1/me/channels"

# E-mail "addresses" that are more than one mailbox, or one with a trick around it.
NOT_ONE_MAILBOX = [
    "a,b@evil.com",
    "wang@example.com,spy@evil.com",
    "wang@example.com;spy@evil.com",
    "wang@example.com spy@evil.com",
    "Wang <wang@example.com>",
    "<wang@example.com>",
    '"a,b"@evil.com',
    "mailto:wang@example.com",
    "wang@example.com?cc=spy@evil.com",
    "wang@example.com\nBcc: spy@evil.com",
    "wang@example.com\r\nBcc: spy@evil.com",
    "wang%spy@evil.com",
    "spy!wang@evil.com",
    "wang@[127.0.0.1]",
    "wang@localhost",
    "wang@@example.com",
    "wang",
]


async def with_channels(w: World, *, webhook: WebhookSink | None, smtp: SmtpSink | None) -> None:
    if webhook is not None:
        await channels.configure(
            w.hub,
            w.staff,
            w.community.id,
            {"code": "webhook", "name": "短信网关", "settings": {"url": webhook.url}},
        )
    if smtp is not None:
        settings = {"host": "127.0.0.1", "port": smtp.port, "sender": "noreply@vhub.example.com"}
        await channels.configure(
            w.hub, w.staff, w.community.id, {"code": "email", "name": "邮箱", "settings": settings}
        )


async def login(api, actor) -> dict[str, str]:
    r = await api.post(
        "/api/v1/auth/login", json={"phone": actor.person.phone, "password": PASSWORD}
    )
    assert r.status_code == 200, r.text
    return {"Authorization": f"Bearer {r.json()['token']}"}


def code_in(text: str) -> str:
    [code] = re.findall(r"\b\d{6}\b", text)
    return code


async def approve_a_wish(w: World, resident) -> None:
    wish = await wishes.post(w.hub, resident, w.community.id, ERRAND)
    await wishes.review(w.hub, w.staff, wish.id, {"decision": "approve"})


# --- e-mail: one mailbox ---------------------------------------------------------------


@pytest.mark.parametrize("raw", NOT_ONE_MAILBOX)
def test_an_email_address_is_exactly_one_mailbox(raw):
    with pytest.raises(ValueError):
        normalize_email(raw)


def test_email_addresses_are_normalised():
    assert normalize_email(" Wang.Fang@Example.COM ".strip()) == "Wang.Fang@example.com"
    assert normalize_email("wang@例子.中国") == "wang@xn--fsqu00a.xn--fiqs8s"
    assert normalize_email("o'brien+vhub@mail.163.com") == "o'brien+vhub@mail.163.com"


async def test_lists_and_tricks_are_refused_over_http_and_nothing_is_stored(hub, api):
    w = await World(hub).build()
    await with_channels(w, webhook=None, smtp=SmtpSink())  # never started: nothing is sent
    resident = await w.person("王奶奶")
    headers = await login(api, resident)
    for raw in NOT_ONE_MAILBOX:
        r = await api.put(f"{CHANNELS}/email", json={"address": raw}, headers=headers)
        assert r.status_code == 422, (raw, r.text)
        assert [d["field"] for d in r.json()["error"]["details"]] == ["address"], raw
    assert not await PersonChannel.exists(person_id=resident.id)
    assert not await Delivery.exists()


async def test_one_address_never_reaches_two_mailboxes(hub, api):
    """Through the API only one mailbox can be given; and an address stored before that
    check (a list, confirmed even) is refused by the channel, not split by apprise."""
    w = await World(hub).build()
    with SmtpSink() as smtp:
        await with_channels(w, webhook=None, smtp=smtp)
        resident = await w.person("王奶奶")
        headers = await login(api, resident)
        r = await api.put(
            f"{CHANNELS}/email", json={"address": "Wang@Example.com"}, headers=headers
        )
        assert r.status_code == 200 and r.json()["address"] == "Wang@example.com"
        await Worker(hub, AppriseNotifier()).run_once()
        [message] = smtp.accepted.values()
        assert message.to == "Wang@example.com"  # the envelope's recipients: one

        # A row from before the check, as the probe left it, and confirmed.
        await PersonChannel.filter(person_id=resident.id).update(
            address="a@example.com,b@evil.com", confirmed_at=hub.now()
        )
        await approve_a_wish(w, resident)
        report = await Worker(hub, AppriseNotifier()).run_once()
        assert report.sent == 0 and report.failed == 1
        assert len(smtp.accepted) == 1 and smtp.attempts == 1  # nothing more reached the sink
        dead = await Delivery.get(status=DeliveryStatus.DEAD)
        assert "refused the address" in dead.last_error


# --- confirmation, end to end ----------------------------------------------------------


async def test_a_new_phone_gets_its_code_and_nothing_else_until_confirmed(hub, api):
    w = await World(hub).build()
    with WebhookSink() as gateway:
        await with_channels(w, webhook=gateway, smtp=None)
        resident = await w.person("王奶奶")
        headers = await login(api, resident)
        worker = Worker(hub, AppriseNotifier())

        r = await api.put(
            f"{CHANNELS}/webhook", json={"address": "+86 139 0013 9000"}, headers=headers
        )
        assert r.status_code == 200, r.text
        assert r.json()["confirmed"] is False and r.json()["code_expires_at"]
        await approve_a_wish(w, resident)  # a message for her while the phone is unconfirmed
        assert (await worker.run_once()).sent == 1
        [sms] = gateway.accepted.values()
        assert sms.to == "13900139000" and "验证码" in sms.subject
        code = code_in(sms.subject)
        # The code is not in the inbox (whoever typed the number would read it there) ...
        inbox = (await api.get("/api/v1/me/notifications", headers=headers)).json()["items"]
        assert [n["event"] for n in inbox] == ["wish.approved"]
        assert code not in str(inbox)
        # ... and not stored in the clear with the address.
        row = await PersonChannel.get(person_id=resident.id)
        assert row.code_hash and code not in row.code_hash

        r = await api.post(f"{CHANNELS}/webhook/confirm", json={"code": code}, headers=headers)
        assert r.status_code == 200, r.text
        assert r.json()["confirmed"] is True
        # The code's message is gone from the database once it has done its work.
        assert not await Notification.exists(event=CODE_EVENT)

        await approve_a_wish(w, resident)
        assert (await worker.run_once()).sent == 1
        assert len(gateway.accepted) == 2
        assert [r.to for r in gateway.accepted.values()] == ["13900139000"] * 2
        listed = (await api.get(CHANNELS, headers=headers)).json()["items"]
        assert listed == [
            {
                "code": "webhook",
                "address": "13900139000",
                "enabled": True,
                "confirmed": True,
                "code_expires_at": None,
            }
        ]


async def test_an_email_address_is_confirmed_with_the_code_mailed_to_it(hub, api):
    w = await World(hub).build()
    with SmtpSink() as smtp:
        await with_channels(w, webhook=None, smtp=smtp)
        resident = await w.person("Anna")
        resident.person.locale = "en"
        await resident.person.save()
        headers = await login(api, resident)
        await api.put(f"{CHANNELS}/email", json={"address": "anna@example.com"}, headers=headers)
        await Worker(hub, AppriseNotifier()).run_once()
        [mail] = smtp.accepted.values()
        assert mail.to == "anna@example.com" and mail.subject.startswith("Code: ")
        r = await api.post(
            f"{CHANNELS}/email/confirm", json={"code": code_in(mail.body)}, headers=headers
        )
        assert r.status_code == 200 and r.json()["confirmed"] is True


async def test_five_wrong_codes_void_the_code_until_a_new_one_is_sent(hub, api, clock):
    w = await World(hub).build()
    with WebhookSink() as gateway:
        await with_channels(w, webhook=gateway, smtp=None)
        resident = await w.person("王奶奶")
        headers = await login(api, resident)
        worker = Worker(hub, AppriseNotifier())
        await api.put(f"{CHANNELS}/webhook", json={"address": "13900139000"}, headers=headers)
        await worker.run_once()
        [first] = gateway.accepted.values()
        right = code_in(first.subject)
        wrong = f"{(int(right) + 1) % 10**6:06d}"
        confirm = f"{CHANNELS}/webhook/confirm"

        for left in (4, 3, 2, 1, 0):
            r = await api.post(confirm, json={"code": wrong}, headers=headers)
            assert r.status_code == 422
            assert r.json()["error"]["details"][0]["field"] == "code"
            assert f"还可以再试 {left} 次" in r.json()["error"]["details"][0]["message"]
        r = await api.post(confirm, json={"code": right}, headers=headers)
        assert r.status_code == 429 and r.json()["error"]["code"] == "code_locked"
        assert (await PersonChannel.get(person_id=resident.id)).confirmed_at is None

        # A new code, once a minute has passed; the old one stays void.
        r = await api.post(f"{CHANNELS}/webhook/code", headers=headers)
        assert r.status_code == 429 and r.json()["error"]["code"] == "code_sent"
        clock.now += timedelta(seconds=61)
        assert (await api.post(f"{CHANNELS}/webhook/code", headers=headers)).status_code == 200
        await worker.run_once()
        assert len(gateway.accepted) == 2
        new = code_in(list(gateway.accepted.values())[-1].subject)
        if new != right:
            r = await api.post(confirm, json={"code": right}, headers=headers)
            assert r.status_code == 422
        r = await api.post(confirm, json={"code": new}, headers=headers)
        assert r.status_code == 200 and r.json()["confirmed"] is True
        # Only the two codes ever reached the phone.
        assert all("验证码" in m.subject for m in gateway.accepted.values())


async def test_a_code_expires(hub, api, clock):
    w = await World(hub).build()
    await with_channels(w, webhook=WebhookSink(), smtp=None)  # never started
    resident = await w.person("王奶奶")
    headers = await login(api, resident)
    await api.put(f"{CHANNELS}/webhook", json={"address": "13900139000"}, headers=headers)
    code = await sent_code(await PersonChannel.get(person_id=resident.id))
    clock.now += channels.CODE_TTL
    r = await api.post(f"{CHANNELS}/webhook/confirm", json={"code": code}, headers=headers)
    assert r.status_code == 422
    assert "过期" in r.json()["error"]["details"][0]["message"]


async def test_tries_at_once_cannot_pass_the_limit(hub, api):
    """Twenty wrong codes at the same moment: five are checked, the rest refused (429)."""
    w = await World(hub).build()
    await with_channels(w, webhook=WebhookSink(), smtp=None)  # never started
    resident = await w.person("王奶奶")
    headers = await login(api, resident)
    await api.put(f"{CHANNELS}/webhook", json={"address": "13900139000"}, headers=headers)
    code = await sent_code(await PersonChannel.get(person_id=resident.id))
    wrong = f"{(int(code) + 1) % 10**6:06d}"
    answers = await asyncio.gather(
        *(
            api.post(f"{CHANNELS}/webhook/confirm", json={"code": wrong}, headers=headers)
            for _ in range(20)
        )
    )
    statuses = sorted(r.status_code for r in answers)
    assert statuses == [422] * channels.CODE_TRIES + [429] * (20 - channels.CODE_TRIES)
    assert (await PersonChannel.get(person_id=resident.id)).code_attempts == channels.CODE_TRIES


async def test_a_changed_address_is_unconfirmed_and_pending_messages_do_not_follow(hub, clock):
    """Messages planned for the old, confirmed number are not sent once it has changed; the
    new number gets its code only."""
    w = await World(hub).build()
    with WebhookSink() as gateway:
        await with_channels(w, webhook=gateway, smtp=None)
        resident = await w.person("王奶奶")
        await confirmed_address(hub, resident, "webhook", "13900139000")
        await approve_a_wish(w, resident)  # planned for 13900139000
        clock.now += timedelta(seconds=61)
        row = await channels.set_address(hub, resident, "webhook", {"address": "13900139001"})
        assert row.confirmed_at is None
        report = await Worker(hub, AppriseNotifier()).run_once()
        assert (report.sent, report.failed) == (1, 1)
        [sms] = gateway.accepted.values()
        assert sms.to == "13900139001" and "验证码" in sms.subject
        dead = await Delivery.get(status=DeliveryStatus.DEAD)
        assert "not confirmed" in dead.last_error


async def test_an_address_needs_the_channel_in_the_persons_community(hub):
    w = await World(hub).build()
    resident = await w.person("王奶奶")
    with pytest.raises(InvalidInput) as err:
        await channels.set_address(hub, resident, "webhook", {"address": "13900139000"})
    assert err.value.fields == ["code"]
    with pytest.raises(NotFound):
        await channels.confirm_address(hub, resident, "webhook", {"code": "123456"})
    assert not await PersonChannel.exists(person_id=resident.id)


async def test_the_same_address_again_sends_no_new_code(hub):
    w = await World(hub).build()
    await with_channels(w, webhook=WebhookSink(), smtp=None)  # never started
    resident = await w.person("王奶奶")
    await channels.set_address(hub, resident, "webhook", {"address": "13900139000"})
    await channels.set_address(hub, resident, "webhook", {"address": "+86 139 0013 9000"})
    row = await channels.set_address(
        hub, resident, "webhook", {"address": "13900139000", "enabled": False}
    )
    assert row.enabled is False and row.confirmed_at is None
    assert await Notification.filter(event=CODE_EVENT).count() == 1


@pytest.mark.parametrize("typed", ["12345", "1234567", "abcdef", "１２３４５６", "12 34 56", ""])
async def test_a_code_is_six_digits(hub, typed):
    w = await World(hub).build()
    await with_channels(w, webhook=WebhookSink(), smtp=None)  # never started
    resident = await w.person("王奶奶")
    await channels.set_address(hub, resident, "webhook", {"address": "13900139000"})
    with pytest.raises(InvalidInput) as err:
        await channels.confirm_address(hub, resident, "webhook", {"code": typed})
    assert err.value.fields == ["code"]
    assert err.value.details[0].render("en")["message"] == "Must be the 6 digits of the code."
    # A malformed code is not a try.
    assert (await PersonChannel.get(person_id=resident.id)).code_attempts == 0


async def test_the_code_is_in_no_audit_entry(hub):
    w = await World(hub).build()
    await with_channels(w, webhook=WebhookSink(), smtp=None)  # never started
    resident = await w.person("王奶奶")
    row = await channels.set_address(hub, resident, "webhook", {"address": "13900139000"})
    code = await sent_code(row)
    await channels.confirm_address(hub, resident, "webhook", {"code": code})
    entries = await AuditEntry.filter(entity_type="person_channel").values_list("before", "after")
    assert [e for e in entries if code in str(e)] == []
    assert len(entries) == 2  # set, confirmed


async def test_the_code_reaches_no_plugin_and_no_log_and_goes_once_confirmed(hub, clock, caplog):
    """The code travels to the notifications as the event's secret, inside the transaction:
    plugins learn that a code was sent, never which; once the address is confirmed, no code
    message is left to read."""
    published: list[str] = []

    class Listener:
        @volunteer_hub.hookimpl
        def vh_domain_event(self, event):
            published.append(repr(event))

    w = await World(hub).build()
    await with_channels(w, webhook=WebhookSink(), smtp=None)  # never started
    resident = await w.person("王奶奶")
    hub.plugins.register(Listener(), "code-listener")
    caplog.set_level(logging.INFO)  # (at DEBUG the database driver logs every row it writes)
    caplog.set_level(logging.DEBUG, logger="volunteer_hub")
    try:
        row = await channels.set_address(hub, resident, "webhook", {"address": "13900139000"})
        first = await sent_code(row)
        clock.now += timedelta(seconds=61)
        await channels.send_code(hub, resident, "webhook")
        second = await sent_code(row)
        # One code works at a time: the first one's message is gone with it.
        assert await Notification.filter(event=CODE_EVENT).count() == 1
        await channels.confirm_address(hub, resident, "webhook", {"code": second})
    finally:
        hub.plugins.unregister("code-listener")
    assert first != second
    names = [p.split("name='")[1].split("'")[0] for p in published]
    assert names == ["person.channel_set", "person.channel_code_sent", "person.channel_confirmed"]
    assert [p for p in published if first in p or second in p] == []
    assert first not in caplog.text and second not in caplog.text
    assert not await Notification.exists(event=CODE_EVENT)
