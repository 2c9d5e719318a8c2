"""Notifications end to end: planned in the change's transaction, delivered to real sinks."""

from __future__ import annotations

import asyncio
import http.client
import socket
import threading
import time
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs

import apprise
import pytest
from apprise import NotifyBase
from urllib3.exceptions import ProtocolError

from tests.factories import World
from tests.sinks import SmtpSink, WebhookSink, self_signed
from volunteer_hub import apprise_services, hookimpl
from volunteer_hub.default_plugins.channels import WebhookSettings, webhook_url
from volunteer_hub.default_plugins.webhook import (
    WEBHOOK_SCHEME,
    WEBHOOK_SECURE_SCHEME,
    ConnectionPool,
    NotifyKeepAliveJSON,
    PrivateAddress,
)
from volunteer_hub.errors import InvalidInput, PermissionDenied
from volunteer_hub.hooktypes import NotificationChannel
from volunteer_hub.hub import Hub
from volunteer_hub.models import (
    ChannelConfig,
    Community,
    Delivery,
    DeliveryStatus,
    Notification,
    NotificationPriority,
)
from volunteer_hub.notifications import outbox
from volunteer_hub.notifications.senders import AppriseNotifier, Outgoing, SendError
from volunteer_hub.notifications.worker import Worker
from volunteer_hub.services import callouts, channels, tasks, wishes
from volunteer_hub.testing import confirmed_address

ERRAND = {"title": "帮忙取快递", "description": "腿脚不便", "category": "errand"}


async def setup_channels(
    w: World, *, webhook: WebhookSink | None = None, smtp: SmtpSink | None = None
):
    if webhook is not None:
        await channels.configure(
            w.hub,
            w.staff,
            w.community.id,
            {"code": "webhook", "name": "短信网关", "settings": {"url": webhook.url}},
        )
    if smtp is not None:
        await channels.configure(
            w.hub,
            w.staff,
            w.community.id,
            {
                "code": "email",
                "name": "社区邮箱",
                "settings": {"host": "127.0.0.1", "port": smtp.port, "sender": "noreply@vhub.test"},
            },
        )


async def resident_with_channels(w: World, name: str = "王奶奶"):
    """A resident with a confirmed address for each channel the community has."""
    resident = await w.person(name)
    configured = await ChannelConfig.filter(community_id=w.community.id).values_list(
        "code", flat=True
    )
    for code, address in (("webhook", "+86 138 0013 8000"), ("email", "wang@example.com")):
        if code in configured:
            await confirmed_address(w.hub, resident, code, address)
    return resident


async def claimed_wish(w: World, resident):
    team = await w.team("repair")
    volunteer = await w.volunteer("李志愿", team=team)
    wish = await wishes.post(w.hub, resident, w.community.id, ERRAND)
    await wishes.review(w.hub, w.staff, wish.id, {"decision": "approve"})
    return await wishes.claim(w.hub, volunteer, wish.id), volunteer


async def test_claim_reaches_the_inbox_sms_gateway_and_email(hub):
    w = await World(hub).build()
    with WebhookSink() as webhook, SmtpSink() as smtp:
        await setup_channels(w, webhook=webhook, smtp=smtp)
        resident = await resident_with_channels(w)
        wish, volunteer = await claimed_wish(w, resident)

        inbox = await Notification.filter(person_id=resident.id).order_by("id")
        assert [n.event for n in inbox] == ["wish.approved", "wish.claimed"]
        assert "李志愿" in inbox[1].body and wish.title in inbox[1].subject
        assert await Delivery.filter(notification__person_id=resident.id).count() == 4

        report = await Worker(hub, AppriseNotifier()).run_once()
        assert (report.sent, report.failed) == (4, 0)
        texts = sorted(r.subject for r in webhook.accepted.values())
        assert texts == sorted(n.subject for n in inbox)
        assert {r.to for r in webhook.accepted.values()} == {"13800138000"}
        assert {r.to for r in smtp.accepted.values()} == {"wang@example.com"}
        assert any("会来帮您" in r.subject for r in smtp.accepted.values())
        assert not webhook.duplicates and not smtp.duplicates
        assert await Delivery.filter(status=DeliveryStatus.SENT).count() == 4
        assert (await Worker(hub, AppriseNotifier()).run_once()).sent == 0


async def test_notifications_roll_back_with_their_change(hub):
    """A change that fails writes no notification: they share its transaction."""
    w = await World(hub).build()
    resident = await w.person("王奶奶")
    wish = await wishes.post(hub, resident, w.community.id, ERRAND)
    await wishes.review(hub, w.staff, wish.id, {"decision": "approve"})
    team = await w.team("repair")
    a, b = await w.volunteer("甲", team=team), await w.volunteer("乙", team=team)
    before = await Notification.all().count()
    await wishes.claim(hub, a, wish.id)
    with pytest.raises(Exception):  # noqa: B017 (the Conflict itself is tested elsewhere)
        await wishes.claim(hub, b, wish.id)
    assert await Notification.all().count() == before + 1


async def test_english_speakers_get_english(hub):
    w = await World(hub).build()
    resident = await w.person("Anna")
    resident.person.locale = "en"
    await resident.person.save()
    wish = await wishes.post(hub, resident, w.community.id, ERRAND)
    await wishes.review(hub, w.staff, wish.id, {"decision": "approve"})
    [note] = await Notification.filter(person_id=resident.id)
    assert note.subject == "Your wish was approved: 帮忙取快递"
    assert note.body.startswith("Hello Anna")


async def test_quiet_hours_hold_messages_until_morning(hub, clock):
    w = await World(hub).build()
    with WebhookSink() as webhook:
        await setup_channels(w, webhook=webhook)
        resident = await resident_with_channels(w)
        clock.now = datetime(2026, 12, 1, 15, 30, tzinfo=UTC)  # 23:30 in Shanghai
        await claimed_wish(w, resident)
        worker = Worker(hub, AppriseNotifier())
        assert (await worker.run_once()).sent == 0
        pending = await Delivery.filter(status=DeliveryStatus.PENDING)
        assert {d.not_before for d in pending} == {datetime(2026, 12, 1, 23, 0, tzinfo=UTC)}
        clock.now = datetime(2026, 12, 1, 23, 0, tzinfo=UTC)  # 07:00 next morning
        assert (await worker.run_once()).sent == 2
        assert len(webhook.accepted) == 2


async def test_red_escalation_is_not_held_by_quiet_hours(hub, clock):
    w = await World(hub).build()
    with WebhookSink() as webhook:
        await setup_channels(w, webhook=webhook)
        await confirmed_address(hub, w.staff, "webhook", "13900000001")
        resident = await w.person("王奶奶")
        wish = await wishes.post(
            hub,
            resident,
            w.community.id,
            {"title": "路灯不亮", "description": "3号楼前", "category": "public_facility"},
        )
        clock.now = datetime(2026, 12, 1, 16, 0, tzinfo=UTC)  # midnight in Shanghai
        await wishes.escalate(hub, w.staff, wish.id, {"level": "yellow"})
        await wishes.escalate(hub, w.staff, wish.id, {"level": "red"})
        notes = await Notification.filter(person_id=w.staff.id, event="wish.escalated").order_by(
            "id"
        )
        assert [n.priority for n in notes] == [
            NotificationPriority.NORMAL,
            NotificationPriority.URGENT,
        ]
        assert "红牌" in notes[1].subject
        assert (await Worker(hub, AppriseNotifier()).run_once()).sent == 1
        [received] = webhook.accepted.values()
        assert "红牌" in received.subject


async def test_custom_quiet_hours_and_none(hub, clock):
    w = await World(hub).build()
    community = await Community.get(id=w.community.id)
    community.quiet_start = community.quiet_end = "00:00"
    await community.save()
    with WebhookSink() as webhook:
        await setup_channels(w, webhook=webhook)
        resident = await resident_with_channels(w)
        clock.now = datetime(2026, 12, 1, 18, 0, tzinfo=UTC)  # 02:00 in Shanghai
        await claimed_wish(w, resident)
        assert (await Worker(hub, AppriseNotifier()).run_once()).sent == 2


async def test_failing_sink_is_retried_with_backoff_and_delivers_once(hub, clock):
    w = await World(hub).build()
    with WebhookSink(fail_first=3) as webhook:
        await setup_channels(w, webhook=webhook)
        resident = await resident_with_channels(w)
        await claimed_wish(w, resident)  # two messages
        worker = Worker(hub, AppriseNotifier())
        first = await worker.run_once()
        assert first.failed == 2 and first.sent == 0
        waits = sorted(d.not_before - clock.now for d in await Delivery.all())
        assert waits == [outbox.backoff(1)] * 2
        clock.advance(seconds=outbox.backoff(1).total_seconds())
        second = await worker.run_once()  # one fails (the sink's third 500), one arrives
        assert (second.sent, second.failed) == (1, 1)
        clock.advance(seconds=outbox.backoff(2).total_seconds())
        assert (await worker.run_once()).sent == 1
        assert len(webhook.accepted) == 2 and not webhook.duplicates
        assert webhook.attempts == 5


async def test_a_sink_that_never_recovers_ends_in_the_dead_letters(hub, clock):
    w = await World(hub).build()
    with WebhookSink(always_fail=True) as webhook:
        await setup_channels(w, webhook=webhook)
        resident = await w.person("王奶奶")
        await confirmed_address(hub, resident, "webhook", "13800138000")
        wish = await wishes.post(hub, resident, w.community.id, ERRAND)
        await wishes.review(hub, w.staff, wish.id, {"decision": "approve"})
        worker = Worker(hub, AppriseNotifier())
        for attempt in range(1, outbox.MAX_ATTEMPTS + 1):
            assert (await worker.run_once()).failed == 1
            clock.advance(seconds=outbox.backoff(attempt).total_seconds())
        assert (await worker.run_once()).failed == 0
        [dead] = await outbox.dead_letters(w.staff, w.community.id)
        assert dead.attempts == outbox.MAX_ATTEMPTS and "FAILURE" in dead.last_error
        with pytest.raises(PermissionDenied):
            await outbox.dead_letters(resident, w.community.id)
        webhook.always_fail = False
        retried = await outbox.retry(hub, w.staff, dead.id)
        assert retried.status is DeliveryStatus.PENDING
        assert (await worker.run_once()).sent == 1
        assert len(webhook.accepted) == 1


async def test_lost_lease_is_claimed_again_and_the_sink_drops_the_repeat(hub, clock):
    """A worker that sent, then died before recording it: the next one resends, once."""
    w = await World(hub).build()
    with WebhookSink() as webhook:
        await setup_channels(w, webhook=webhook)
        resident = await w.person("王奶奶")
        await confirmed_address(hub, resident, "webhook", "13800138000")
        wish = await wishes.post(hub, resident, w.community.id, ERRAND)
        await wishes.review(hub, w.staff, wish.id, {"decision": "approve"})
        worker = Worker(hub, AppriseNotifier())
        dying = await outbox.claim(hub)
        [delivery] = dying.deliveries
        await AppriseNotifier().send(worker._message(delivery))  # sent, then the crash
        assert (await worker.run_once()).sent == 0  # the lease still holds
        clock.advance(seconds=outbox.LEASE.total_seconds() + 1)
        assert (await worker.run_once()).sent == 1
        assert await outbox.sent(hub, dying, delivery) is False  # the dead worker's late word
        assert len(webhook.accepted) == 1 and webhook.duplicates == [delivery.idempotency_key]


async def test_shift_reminder_two_hours_before_once(hub, clock):
    w = await World(hub).build()
    with WebhookSink() as webhook:
        await setup_channels(w, webhook=webhook)
        volunteer = await resident_with_channels(w, "巡逻队员")
        task = await tasks.create_task(
            hub,
            w.staff,
            w.community.id,
            {
                "title": "银发巡逻",
                "starts_at": "2026-12-01T19:00:00+08:00",
                "ends_at": "2026-12-01T21:00:00+08:00",
                "capacity": 6,
                "location": "北门",
            },
        )
        await tasks.sign_up(hub, volunteer, task.id)
        worker = Worker(hub, AppriseNotifier())
        clock.now = datetime(2026, 12, 1, 8, 59, tzinfo=UTC)  # 16:59: too early
        assert (await worker.run_once()).reminders == 0
        clock.now = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)  # 17:00: two hours before
        assert (await worker.run_once()).reminders == 1
        clock.advance(minutes=30)
        assert (await worker.run_once()).reminders == 0
        reminders = [r for r in webhook.accepted.values() if "提醒" in r.subject]
        assert len(reminders) == 1 and "19:00" in reminders[0].subject


async def test_channel_settings_are_encrypted_masked_and_validated(hub):
    w = await World(hub).build()
    view = await channels.configure(
        hub,
        w.staff,
        w.community.id,
        {
            "code": "email",
            "name": "邮箱",
            "settings": {
                "host": "smtp.example.com",
                "port": 465,
                "username": "vhub",
                "password": "s3cret-Pass",
                "sender": "noreply@example.com",
                "tls": True,
            },
        },
    )
    assert view.settings["password"] == channels.MASK
    stored = await ChannelConfig.get(id=view.id)
    assert "s3cret-Pass" not in stored.secret and "smtp.example.com" not in stored.secret
    with pytest.raises(InvalidInput) as err:
        await channels.configure(
            hub,
            w.staff,
            w.community.id,
            {"code": "email", "name": "x", "settings": {"host": "a b"}},
        )
    assert "settings.host" in err.value.fields and "settings.sender" in err.value.fields
    with pytest.raises(InvalidInput) as err:
        await channels.configure(
            hub,
            w.staff,
            w.community.id,
            {"code": "webhook", "name": "x", "settings": {"url": "file:///etc/passwd"}},
        )
    assert err.value.fields == ["settings.url"]
    # Strictly, as a JSON body is: a boolean is no port, digits in a string are no number,
    # a number is no boolean; nothing is stored.
    good = {"host": "smtp.example.com", "sender": "noreply@example.com"}
    for bad in ({"port": True}, {"port": "465"}, {"tls": 1}):
        with pytest.raises(InvalidInput) as err:
            await channels.configure(
                hub,
                w.staff,
                w.community.id,
                {"code": "email", "name": "邮箱2", "settings": good | bad},
            )
        assert err.value.fields == [f"settings.{next(iter(bad))}"]
    assert await ChannelConfig.filter(name="邮箱2").count() == 0
    with pytest.raises(PermissionDenied):
        volunteer = await w.person("志愿者")
        await channels.configure(
            hub,
            volunteer,
            w.community.id,
            {"code": "webhook", "name": "x", "settings": {"url": "http://a.example"}},
        )


async def test_private_network_refused_unless_allowed(hub):
    from dataclasses import replace

    strict = Hub(
        settings=replace(hub.settings, allow_private_network=False),
        plugins=hub.plugins,
        clock=hub.clock,
    )
    w = await World(hub).build()
    for url in (
        "http://127.0.0.1:8080/x",
        "http://10.1.2.3/hook",
        "http://localhost/x",
        "http://[::1]/x",
        "http://169.254.169.254/latest",
    ):
        with pytest.raises(InvalidInput) as err:
            await channels.configure(
                strict,
                w.staff,
                w.community.id,
                {"code": "webhook", "name": "x", "settings": {"url": url}},
            )
        assert err.value.fields == ["settings"], url


async def test_people_give_addresses_never_urls(hub):
    w = await World(hub).build()
    await setup_channels(w, webhook=WebhookSink())  # never started: nothing is sent here
    person = await w.person("张三")
    for code, bad in (
        ("webhook", "http://10.0.0.1/x"),
        ("email", "json://evil"),
        ("email", "not-an-email"),
    ):
        with pytest.raises(InvalidInput) as err:
            await channels.set_address(hub, person, code, {"address": bad})
        assert err.value.fields == ["address"]
    row = await channels.set_address(hub, person, "webhook", {"address": "+86 139 0000 0001"})
    assert row.address == "13900000001" and row.confirmed_at is None
    with pytest.raises(InvalidInput):
        await channels.set_address(hub, person, "carrier_pigeon", {"address": "x"})


async def test_claims_from_two_workers_never_overlap(hub):
    """Workers sharing the queue (SKIP LOCKED on PostgreSQL) never send one message twice."""
    w = await World(hub).build()
    with WebhookSink() as webhook:
        await setup_channels(w, webhook=webhook)
        people = [await w.person(f"居民{i}") for i in range(12)]
        for p in people:
            await confirmed_address(hub, p, "webhook", "13800138000")
            wish = await wishes.post(hub, p, w.community.id, ERRAND)
            await wishes.review(hub, w.staff, wish.id, {"decision": "approve"})
        claims = [await outbox.claim(hub, limit=5) for _ in range(3)]
        ids = [d.id for c in claims for d in c.deliveries]
        assert len(ids) == len(set(ids)) == 12
        assert (await outbox.claim(hub)).deliveries == []
        assert datetime.now(UTC) - timedelta(minutes=1) < datetime.now(UTC)


async def test_volunteers_hear_when_staff_cancel_their_shift(hub):
    w = await World(hub).build()
    volunteer = await w.person("巡逻队员")
    task = await tasks.create_task(
        hub,
        w.staff,
        w.community.id,
        {
            "title": "银发巡逻",
            "starts_at": "2026-12-03T19:00:00+08:00",
            "ends_at": "2026-12-03T21:00:00+08:00",
            "capacity": 6,
            "rrule": "FREQ=WEEKLY;BYDAY=TU,TH",
        },
    )
    await tasks.sign_up(hub, volunteer, task.id)
    await tasks.cancel_occurrence(
        hub, w.staff, task.id, datetime.fromisoformat("2026-12-03T19:00:00+08:00")
    )
    notes = await Notification.filter(person_id=volunteer.id).order_by("id")
    assert [n.event for n in notes] == ["signup.confirmed", "occurrence.cancelled"]
    assert "取消" in notes[1].subject and "银发巡逻" in notes[1].subject


async def test_concurrent_claims_never_overlap(hub):
    """Claims at the same moment (workers sharing the queue) each get their own deliveries.

    On PostgreSQL the claims run on separate connections at once: the rows each one picks
    are locked (FOR UPDATE SKIP LOCKED) until it has leased them.
    """
    w = await World(hub).build()
    await setup_channels(w, webhook=WebhookSink())  # never started: nothing is sent here
    for i in range(12):
        resident = await w.person(f"居民{i}")
        await confirmed_address(hub, resident, "webhook", "13800138000")
        wish = await wishes.post(hub, resident, w.community.id, ERRAND)
        await wishes.review(hub, w.staff, wish.id, {"decision": "approve"})
    claims = await asyncio.gather(*(outbox.claim(hub, limit=3) for _ in range(6)))
    ids = [d.id for c in claims for d in c.deliveries]
    assert len(ids) == len(set(ids)) == 12


# --- the webhook channel's connections ---------------------------------------------------


async def called_volunteers(w: World, n: int):
    """``n`` volunteers of ``w``'s community, each with a phone for the webhook channel."""
    team = await w.team("elderly_care")
    for i in range(n):
        volunteer = await w.volunteer(f"志愿者{i}", team=team)
        await confirmed_address(w.hub, volunteer, "webhook", f"1390000100{i}")


async def call_everyone(w: World) -> int:
    callout = await callouts.call_out(
        w.hub,
        w.staff,
        w.community.id,
        {"title": "暴雨预警", "message": "请到岗", "target": {"kind": "everyone"}},
    )
    return callout.recipients


async def test_webhook_keeps_connections_and_reconnects_when_the_gateway_closes_them(hub):
    w = await World(hub).build()
    with WebhookSink(idle_timeout=1.0) as webhook:
        await setup_channels(w, webhook=webhook)
        await called_volunteers(w, 6)
        notifier = AppriseNotifier(threads=2)
        worker = Worker(hub, notifier)
        assert await call_everyone(w) == 6
        assert (await worker.run_once()).sent == 6
        assert webhook.connections <= 2  # one per sending thread, not one per message

        await asyncio.sleep(1.5)  # the gateway closes the idle connections
        await call_everyone(w)
        report = await worker.run_once()
        assert (report.sent, report.failed) == (6, 0)
        assert 2 < webhook.connections <= 4 and notifier.pool.connects == webhook.connections
        assert len(webhook.accepted) == 12 and not webhook.duplicates
        notifier.close()


async def test_webhook_works_with_a_gateway_that_closes_every_connection(hub):
    w = await World(hub).build()
    with WebhookSink(keep_alive=False) as webhook:  # HTTP/1.0: one request per connection
        await setup_channels(w, webhook=webhook)
        await called_volunteers(w, 4)
        await call_everyone(w)
        report = await Worker(hub, AppriseNotifier()).run_once()
        assert (report.sent, report.failed) == (4, 0)
        assert webhook.connections == 4 and len(webhook.accepted) == 4


class AbruptServer:
    """A raw HTTP server on 127.0.0.1 that answers the first request of each connection
    (or none, with ``answer=False``) and closes the connection on reading the next."""

    def __init__(self, answer: bool = True) -> None:
        self.answer = answer
        self.requests = 0
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.thread = threading.Thread(target=self._serve, daemon=True)

    def __enter__(self) -> AbruptServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.listener.close()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            with conn, conn.makefile("rb") as stream:
                answered = False
                while stream.readline():  # the request line
                    length = 0
                    while (line := stream.readline()) not in (b"\r\n", b""):
                        if line.lower().startswith(b"content-length:"):
                            length = int(line.split(b":")[1])
                    stream.read(length)
                    self.requests += 1
                    if answered or not self.answer:
                        break  # close without an answer
                    conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
                    answered = True


def post_to(pool: ConnectionPool, port: int, *, host: str = "127.0.0.1", key: str = "", **options):
    return pool.request(
        "POST",
        secure=False,
        host=host,
        port=port,
        target="/hook",
        body=b"{}",
        headers={"Content-Type": "application/json", "Idempotency-Key": key},
        timeout=(2.0, 2.0),
        **options,
    )


def test_a_request_on_a_connection_the_server_just_closed_is_made_again():
    """The server closes a kept connection as the next request goes out: it is sent again
    on a new connection. A failure on a new connection is not retried."""
    pool = ConnectionPool()
    try:
        with AbruptServer() as server:
            for _ in range(3):
                response = post_to(pool, server.port)
                assert (response.status, response.body) == (200, b"ok")
            assert pool.connects == 3 and server.requests == 5  # 2nd and 3rd: twice
        with AbruptServer(answer=False) as server:
            with pytest.raises(ProtocolError) as caught:
                post_to(pool, server.port)
            assert isinstance(caught.value.args[-1], http.client.RemoteDisconnected)
            assert pool.connects == 4 and server.requests == 1
    finally:
        pool.close()


def test_connections_idle_too_long_are_closed_not_reused(monkeypatch):
    monkeypatch.setattr("volunteer_hub.default_plugins.webhook.IDLE_REUSE", 0.3)
    pool = ConnectionPool()
    try:
        with WebhookSink() as first, WebhookSink() as second:
            assert post_to(pool, first.port).status == 200
            assert post_to(pool, first.port).status == 200
            assert (len(pool), pool.connects, first.connections) == (1, 1, 1)
            time.sleep(0.4)
            assert post_to(pool, second.port).status == 200  # and the first one is closed
            assert (len(pool), pool.connects) == (1, 2)
            time.sleep(0.4)
            assert post_to(pool, second.port).status == 200  # a new one: the old may be dead
            assert (len(pool), pool.connects, second.connections) == (1, 3, 2)
    finally:
        pool.close()
    assert len(pool) == 0


def test_many_messages_to_one_gateway_share_one_connection():
    pool = ConnectionPool()
    try:
        with WebhookSink() as sink:
            for number in range(20):
                response = post_to(pool, sink.port, key=f"k-{number}")
                assert response.status == 200
            assert len(sink.accepted) == 20 and not sink.duplicates
            assert (sink.connections, pool.connects, len(pool)) == (1, 1, 1)
    finally:
        pool.close()
    assert len(pool) == 0


def test_a_name_is_checked_on_the_address_it_resolves_to():
    """``localhost`` is a name, not an address: it is resolved, the address checked, and
    the connection made to that address, with the name in the Host header."""
    pool = ConnectionPool()
    try:
        with WebhookSink() as sink:
            with pytest.raises(PrivateAddress, match="private address"):
                post_to(pool, sink.port, host="localhost", public_only=True)
            assert (sink.attempts, sink.connections, pool.connects) == (0, 0, 0)
            assert post_to(pool, sink.port, host="localhost").status == 200
            [received] = sink.accepted.values()
            assert received.host == f"localhost:{sink.port}"
    finally:
        pool.close()


async def test_the_gateway_url_keeps_its_own_query(hub):
    """An SMS gateway's URL often carries its API key: it reaches the gateway unchanged."""
    w = await World(hub).build()
    with WebhookSink() as webhook:
        await channels.configure(
            hub,
            w.staff,
            w.community.id,
            {
                "code": "webhook",
                "name": "短信网关",
                "settings": {"url": f"{webhook.url}?apikey=s3cret&sign=a%20b%2Bc&empty="},
            },
        )
        await called_volunteers(w, 1)
        await call_everyone(w)
        assert (await Worker(hub, AppriseNotifier()).run_once()).sent == 1
    [received] = webhook.accepted.values()
    path, _, query = received.path.partition("?")
    assert path == "/hook"
    assert parse_qs(query, keep_blank_values=True) == {
        "apikey": ["s3cret"],
        "sign": ["a b+c"],
        "empty": [""],
    }
    assert received.to == "13900001000" and received.key
    assert received.raw["type"] == "info" and received.raw["attachments"] == []


async def test_https_gateway_certificate_is_verified_and_connections_kept(
    hub, tmp_path, monkeypatch
):
    pem = self_signed(tmp_path)
    w = await World(hub).build()
    with WebhookSink(tls=pem) as webhook:
        assert webhook.url.startswith("https://")
        await setup_channels(w, webhook=webhook)
        await called_volunteers(w, 5)
        await call_everyone(w)
        untrusting = await Worker(hub, AppriseNotifier(threads=2)).run_once()
        assert (untrusting.sent, untrusting.failed) == (0, 5)
        assert all("CERTIFICATE_VERIFY_FAILED" in e for e in untrusting.errors)

        hub.clock.advance(seconds=outbox.backoff(1).total_seconds())
        monkeypatch.setenv("SSL_CERT_FILE", str(pem))  # trust the sink's certificate
        connections = webhook.connections
        notifier = AppriseNotifier(threads=2)
        report = await Worker(hub, notifier).run_once()
        assert (report.sent, report.failed) == (5, 0)
        assert notifier.pool.connects <= 2 and webhook.connections - connections <= 2
        assert len(webhook.accepted) == 5 and not webhook.duplicates
        notifier.close()


async def test_private_addresses_are_refused_where_only_public_ones_are_allowed(hub):
    """Checked on the channel's settings before sending, and on the very address that a
    connection reaches (a name can come to resolve elsewhere after the check)."""
    from dataclasses import replace

    strict = Hub(
        settings=replace(hub.settings, allow_private_network=False),
        plugins=hub.plugins,
        clock=hub.clock,
    )
    w = await World(hub).build()
    with WebhookSink() as webhook:
        await setup_channels(w, webhook=webhook)  # allowed then, on 127.0.0.1
        await called_volunteers(w, 1)
        await call_everyone(w)
        report = await Worker(strict, AppriseNotifier()).run_once()
        assert (report.sent, report.failed) == (0, 1)
        [dead] = await Delivery.filter(status=DeliveryStatus.DEAD)
        assert "private network" in dead.last_error

        notifier = AppriseNotifier()
        settings = WebhookSettings(url=webhook.url)
        message = Outgoing(
            delivery_id=1,
            url=webhook_url(settings, "13900001000", "key-1"),
            subject="暴雨预警",
            body="请到岗",
            public_only=True,
        )
        with pytest.raises(SendError, match="private address"):
            await notifier.send(message)
        await notifier.send(replace(message, public_only=False))
        with pytest.raises(SendError, match="private address"):  # not on the kept one either
            await notifier.send(replace(message, public_only=True))
        assert webhook.attempts == 1 and list(webhook.accepted) == ["key-1"]
        notifier.close()


# --- channel services registered with apprise ----------------------------------------------


class NotifyTestSink(NotifyBase):
    """An apprise service that a test channel declares; it sends nothing."""

    service_name = "test sink"
    protocol = "vhtestsink"

    def send(self, body, title="", **kwargs):
        return True


class NotifyImpostor(NotifyBase):
    """Another service under the webhook's own schemes."""

    protocol, secure_protocol = WEBHOOK_SCHEME, WEBHOOK_SECURE_SCHEME

    def send(self, body, title="", **kwargs):
        return False


def channel_with(*services: type) -> NotificationChannel:
    return NotificationChannel(
        code="test_sink",
        name={"en": "Test sink"},
        address_kind="chat_id",
        build_url=lambda settings, address, key: f"vhtestsink://{address}",
        settings=WebhookSettings,
        apprise_services=services,
    )


def test_the_hook_only_describes_channels_and_the_hub_registers_their_services(settings):
    """Building the Hub makes apprise know a channel's services; the hook registers none."""

    class TestSinkPlugin:
        @hookimpl
        def vh_notification_channels(self):
            return [channel_with(NotifyTestSink)]

    manager = apprise.NotificationManager()
    if "vhtestsink" in manager:  # left by an earlier test of this process
        manager.remove("vhtestsink")
    plugin = TestSinkPlugin()
    assert plugin.vh_notification_channels()[0].apprise_services == (NotifyTestSink,)
    assert "vhtestsink" not in manager
    hub = Hub.create(settings, plugins=[("test-sink", plugin)])
    assert manager["vhtestsink"] is NotifyTestSink
    assert manager[WEBHOOK_SCHEME] is manager[WEBHOOK_SECURE_SCHEME] is NotifyKeepAliveJSON
    assert hub.notification_channels()["webhook"].apprise_services == (NotifyKeepAliveJSON,)


def test_registering_again_changes_nothing_and_a_taken_scheme_is_left_alone(caplog):
    manager = apprise.NotificationManager()
    webhook = channel_with(NotifyKeepAliveJSON)
    for _ in range(3):  # as many Hubs in one process
        apprise_services.register([webhook, webhook])
    assert manager[WEBHOOK_SCHEME] is manager[WEBHOOK_SECURE_SCHEME] is NotifyKeepAliveJSON
    assert not [r for r in caplog.records if r.name == apprise_services.__name__]
    apprise_services.register([channel_with(NotifyImpostor)])
    assert manager[WEBHOOK_SCHEME] is manager[WEBHOOK_SECURE_SCHEME] is NotifyKeepAliveJSON
    assert "NotifyImpostor is not registered" in caplog.text
