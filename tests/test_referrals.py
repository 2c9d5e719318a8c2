"""The closed 吹哨 loop (issue 13, point 5): responsible contacts, referrals at each level with
a message through the contact's channel to a real sink, acknowledgement and resolution
through the link, the resident told; a wish's window and urgency when posting; the board.

Real services and database (SQLite, and PostgreSQL with VHUB_TEST_POSTGRES_URL), the real
worker, a real webhook sink and a real SMTP sink.
"""

from __future__ import annotations

import asyncio
import re
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.factories import PASSWORD, World
from tests.sinks import SmtpSink, WebhookSink
from volunteer_hub import hookimpl
from volunteer_hub.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from volunteer_hub.hooktypes import AdmissionDecision
from volunteer_hub.models import (
    AuditEntry,
    Escalation,
    Notification,
    Referral,
    ResponsibleContact,
    ServiceRecord,
    Wish,
    WishStatus,
)
from volunteer_hub.notifications.senders import AppriseNotifier
from volunteer_hub.notifications.worker import Worker
from volunteer_hub.security import secret_digest
from volunteer_hub.services import channels, referrals, reports, wishes
from volunteer_hub.testing import confirmed_address

LINK = re.compile(r"https?://[^\s\"<]+/referrals/([A-Za-z0-9_\-]+)")
LIGHT = {
    "title": "路灯太暗",
    "description": "3号楼前路灯太暗，晚上看不清",
    "category": "public_facility",
}
ERRAND = {"title": "帮忙取快递", "description": "腿脚不便，请帮忙取件", "category": "errand"}
SECTION = {
    "level": "blue",
    "name": "街道办设施科",
    "channel_code": "webhook",
    "address": "13900139000",
}


class AdmissionList:
    """Street lights are taken in to be passed on: blue at once, yellow after 72 h, red 144 h."""

    @hookimpl
    def vh_admit_wish(self, wish):
        if wish.category == "public_facility":
            return AdmissionDecision(
                accepted=True, escalate_after_hours={"blue": 0, "yellow": 72, "red": 144}
            )
        return None


@pytest.fixture
async def w(hub):
    world = await World(hub).build()
    hub.plugins.register(AdmissionList(), "test-admission")
    try:
        yield world
    finally:
        hub.plugins.unregister("test-admission")


async def webhook_channel(w: World, sink: WebhookSink) -> None:
    await channels.configure(
        w.hub,
        w.staff,
        w.community.id,
        {"code": "webhook", "name": "短信网关", "settings": {"url": sink.url}},
    )


async def email_channel(w: World, sink: SmtpSink) -> None:
    await channels.configure(
        w.hub,
        w.staff,
        w.community.id,
        {
            "code": "email",
            "name": "社区邮箱",
            "settings": {"host": "127.0.0.1", "port": sink.port, "sender": "noreply@vhub.test"},
        },
    )


async def login(api, phone: str) -> dict[str, str]:
    r = await api.post("/api/v1/auth/login", json={"phone": phone, "password": PASSWORD})
    assert r.status_code == 200, r.text
    return {"Authorization": f"Bearer {r.json()['token']}"}


async def counts() -> tuple[int, int, int]:
    return (
        await ResponsibleContact.all().count(),
        await Referral.all().count(),
        await AuditEntry.all().count(),
    )


# --- window and urgency when posting ---------------------------------------------------------

# The clock's now: 2026-12-01 09:00 in Shanghai.
THURSDAY = {"start": "2026-12-03T08:00:00+08:00", "end": "2026-12-03T11:00:00+08:00"}


async def test_window_and_urgent_are_stored_and_shown(w, api):
    resident = await w.person("王奶奶")
    headers = await login(api, w.grid_worker.person.phone)
    r = await api.post(
        f"/api/v1/communities/{w.community.id}/wishes",
        json={**ERRAND, "on_behalf_of": resident.id, "window": THURSDAY, "urgent": True},
        headers=headers,
    )
    assert r.status_code == 201, r.text
    wish = await Wish.get(id=r.json()["id"])
    assert wish.urgent is True
    assert wish.window_start == datetime(2026, 12, 3, 0, 0, tzinfo=UTC)
    assert wish.window_end == datetime(2026, 12, 3, 3, 0, tzinfo=UTC)
    shown = (await api.get(f"/api/v1/wishes/{wish.id}", headers=headers)).json()
    assert shown["urgent"] is True
    assert shown["window"] == {
        "start": "2026-12-03T08:00:00+08:00",
        "end": "2026-12-03T11:00:00+08:00",
    }
    plain = await wishes.post(w.hub, resident, w.community.id, ERRAND)
    staff = await login(api, w.staff.person.phone)
    shown = (await api.get(f"/api/v1/wishes/{plain.id}", headers=staff)).json()
    assert (shown["urgent"], shown["window"]) == (False, None)


@pytest.mark.parametrize(
    ("window", "field"),
    [
        ({"start": "2026-12-03T08:00:00+08:00"}, "window.end"),
        ({"start": "2026-12-03 08:00", "end": "2026-12-03T11:00:00+08:00"}, "window.start"),
        ({"start": "2026-12-03T08:00:00", "end": "2026-12-03T11:00:00+08:00"}, "window.start"),
        ({"start": "2026-12-03T11:00:00+08:00", "end": "2026-12-03T08:00:00+08:00"}, "window.end"),
        ({"start": "2026-12-03T11:00:00+08:00", "end": "2026-12-03T11:00:00+08:00"}, "window.end"),
        (
            {"start": "2026-12-01T08:00:00+08:00", "end": "2026-12-01T11:00:00+08:00"},
            "window.start",
        ),
        ({"start": "2026-12-03T08:00:00+08:00", "end": "2027-01-03T08:00:01+08:00"}, "window.end"),
        ("Thursday morning", "window"),
    ],
)
async def test_bad_window_names_its_field_and_writes_nothing(w, window, field):
    resident = await w.person("王奶奶")
    before = await Wish.all().count(), await AuditEntry.all().count()
    with pytest.raises(InvalidInput) as err:
        await wishes.post(w.hub, resident, w.community.id, {**ERRAND, "window": window})
    assert field in err.value.fields
    assert (await Wish.all().count(), await AuditEntry.all().count()) == before


async def test_bad_window_over_http_is_422_naming_the_field(w, api):
    resident = await w.person("王奶奶")
    headers = await login(api, resident.person.phone)
    r = await api.post(
        f"/api/v1/communities/{w.community.id}/wishes",
        json={**ERRAND, "window": {**THURSDAY, "end": THURSDAY["start"]}, "urgent": "yes please"},
        headers=headers,
    )
    assert r.status_code == 422
    fields = {d["field"] for d in r.json()["error"]["details"]}
    assert "urgent" in fields or "window.end" in fields


async def test_urgent_escalation_plan_starts_sooner(w):
    resident = await w.person("王奶奶")
    plain = await wishes.post(w.hub, resident, w.community.id, LIGHT)
    urgent = await wishes.post(w.hub, resident, w.community.id, {**LIGHT, "urgent": True})
    assert plain.escalation_plan == {"blue": 0, "yellow": 72, "red": 144}
    assert urgent.escalation_plan == {"blue": 0, "yellow": 36, "red": 72}
    # No plan stays no plan: urgency alone does not refer an errand.
    errand = await wishes.post(w.hub, resident, w.community.id, {**ERRAND, "urgent": True})
    assert errand.escalation_plan is None
    assert wishes.urgent_plan({"yellow": 10}) == {"blue": 0, "yellow": 5}


# --- responsible contacts ---------------------------------------------------------------------


async def test_staff_add_list_and_deactivate_contacts(w):
    with WebhookSink() as sink:
        await webhook_channel(w, sink)
        added = await referrals.add_contact(
            w.hub, w.staff, w.community.id, {**SECTION, "address": "+86 139 0013 9000"}
        )
        assert (added.level, added.category, added.address) == (
            Escalation.BLUE,
            None,
            "13900139000",
        )
        lights = await referrals.add_contact(
            w.hub,
            w.staff,
            w.community.id,
            {**SECTION, "category": "public_facility", "level": "yellow", "name": "物业公司"},
        )
        listed = await referrals.list_contacts(w.hub, w.staff, w.community.id)
        assert [c.id for c in listed] == [added.id, lights.id]
        gone = await referrals.deactivate_contact(w.hub, w.staff, added.id)
        assert gone.active is False
        again = await referrals.deactivate_contact(w.hub, w.staff, added.id)  # changes nothing
        assert again.active is False
        assert [c.id for c in await referrals.list_contacts(w.hub, w.staff, w.community.id)] == [
            lights.id
        ]
        trail = await AuditEntry.filter(action="responsible_contact.set").order_by("id")
        assert [(a.entity_id, a.after["active"]) for a in trail] == [
            (added.id, True),
            (lights.id, True),
            (added.id, False),
        ]


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"address": "12345"}, "address"),
        ({"address": ""}, "address"),
        ({"channel_code": "pigeon"}, "channel_code"),
        ({"channel_code": "email", "address": "a@example.com"}, "channel_code"),  # not configured
        ({"level": "purple"}, "level"),
        ({"name": ""}, "name"),
        ({"category": "unicorns"}, "category"),
        ({"colour": "red"}, "colour"),
        ({"locale": "fr"}, "locale"),
        ({"locale": "EN"}, "locale"),
        ({"locale": ""}, "locale"),
    ],
)
async def test_bad_contact_names_the_field_and_writes_nothing(w, fields, field):
    with WebhookSink() as sink:
        await webhook_channel(w, sink)
        before = await counts()
        with pytest.raises(InvalidInput) as err:
            await referrals.add_contact(w.hub, w.staff, w.community.id, {**SECTION, **fields})
        assert field in err.value.fields
        assert await counts() == before


async def test_the_api_takes_and_shows_a_contacts_language(w, api):
    with WebhookSink() as sink:
        await webhook_channel(w, sink)
        headers = await login(api, w.staff.person.phone)
        path = f"/api/v1/communities/{w.community.id}/responsible-contacts"
        r = await api.post(path, json={**SECTION, "locale": "de"}, headers=headers)
        assert r.status_code == 422
        (detail,) = r.json()["error"]["details"]
        assert detail["field"] == "locale" and "zh-CN" in detail["message"]
        r = await api.post(path, json={**SECTION, "locale": "en"}, headers=headers)
        assert r.status_code == 201, r.text
        assert r.json()["locale"] == "en"
        r = await api.post(path, json=SECTION, headers=headers)
        assert r.json()["locale"] == "zh-CN"
        listed = (await api.get(path, headers=headers)).json()["items"]
        assert [c["locale"] for c in listed] == ["en", "zh-CN"]
        trail = await AuditEntry.filter(action="responsible_contact.set").order_by("id")
        assert [a.after["locale"] for a in trail] == ["en", "zh-CN"]


async def test_email_contact_address_is_checked_as_an_email(w):
    with SmtpSink() as sink:
        await email_channel(w, sink)
        with pytest.raises(InvalidInput) as err:
            await referrals.add_contact(
                w.hub, w.staff, w.community.id, {**SECTION, "channel_code": "email"}
            )
        assert err.value.fields == ["address"]
        added = await referrals.add_contact(
            w.hub,
            w.staff,
            w.community.id,
            {**SECTION, "channel_code": "email", "address": "Facilities@Street.example.com"},
        )
        assert added.address.endswith("@street.example.com")


async def test_only_staff_of_the_community_manage_contacts(w):
    other = await World(w.hub).build_other(w)
    volunteer = await w.volunteer()
    with WebhookSink() as sink:
        await webhook_channel(w, sink)
        for actor in (volunteer, other.staff, w.grid_worker):
            with pytest.raises(PermissionDenied):
                await referrals.add_contact(w.hub, actor, w.community.id, SECTION)
            with pytest.raises(PermissionDenied):
                await referrals.list_contacts(w.hub, actor, w.community.id)
        added = await referrals.add_contact(w.hub, w.staff, w.community.id, SECTION)
        with pytest.raises(NotFound):
            await referrals.deactivate_contact(w.hub, other.staff, added.id)
        assert (await ResponsibleContact.get(id=added.id)).active is True


# --- referred at each level, told through their channel ---------------------------------------


async def test_escalation_refers_to_each_level_and_the_message_arrives(w, clock):
    resident = await w.person("王奶奶")
    with WebhookSink() as sink:
        await webhook_channel(w, sink)
        blue_all = await referrals.add_contact(w.hub, w.staff, w.community.id, SECTION)
        blue_lights = await referrals.add_contact(
            w.hub,
            w.staff,
            w.community.id,
            {
                **SECTION,
                "category": "public_facility",
                "name": "物业公司",
                "address": "13900139001",
            },
        )
        # Not referred: another category, another level, a deactivated contact.
        await referrals.add_contact(
            w.hub,
            w.staff,
            w.community.id,
            {**SECTION, "category": "repair", "name": "维修站", "address": "13900139002"},
        )
        yellow = await referrals.add_contact(
            w.hub,
            w.staff,
            w.community.id,
            {**SECTION, "level": "yellow", "name": "街道副主任", "address": "13900139003"},
        )
        off = await referrals.add_contact(
            w.hub, w.staff, w.community.id, {**SECTION, "name": "旧科室", "address": "13900139004"}
        )
        await referrals.deactivate_contact(w.hub, w.staff, off.id)

        wish = await wishes.post(w.hub, resident, w.community.id, LIGHT)
        clock.advance(hours=1)
        assert await wishes.advance_escalations(w.hub) == 1
        blue = await Referral.filter(wish_id=wish.id).order_by("id")
        assert [(r.contact_id, r.level) for r in blue] == [
            (blue_all.id, Escalation.BLUE),
            (blue_lights.id, Escalation.BLUE),
        ]
        report = await Worker(w.hub, AppriseNotifier()).run_once()
        assert (report.sent, report.failed) == (2, 0), report.errors
        messages = {m.to: m for m in sink.accepted.values() if m.to.startswith("139")}
        assert set(messages) == {"13900139000", "13900139001"}
        for message in messages.values():
            assert "路灯太暗" in message.body and "公共设施" in message.body
            assert "蓝牌" in message.body and w.grid.name in message.body
            assert "1小时" in message.body  # its age, in words
            # None of the resident's personal data.
            assert resident.person.name not in message.body
            assert resident.person.phone not in message.body
        tokens = {to: LINK.search(m.body).group(1) for to, m in messages.items()}
        stored = {r.token_hash for r in blue}
        assert {secret_digest(t) for t in tokens.values()} == stored
        assert not any(t in stored for t in tokens.values())  # only the digest is kept
        contact_messages = await Notification.filter(event="wish.referred")
        assert {n.person_id for n in contact_messages} == {None}

        clock.advance(hours=72)
        assert await wishes.advance_escalations(w.hub) == 1
        later = await Referral.filter(wish_id=wish.id, level=Escalation.YELLOW)
        assert [r.contact_id for r in later] == [yellow.id]
        await Worker(w.hub, AppriseNotifier()).run_once()
        assert "13900139003" in {m.to for m in sink.accepted.values()}
        trail = await AuditEntry.filter(entity_id=wish.id, action="wish.referred").order_by("id")
        assert [(a.after["contact"], a.after["level"]) for a in trail] == [
            ("街道办设施科", "blue"),
            ("物业公司", "blue"),
            ("街道副主任", "yellow"),
        ]


async def test_staff_escalating_by_hand_refers_too_and_a_red_card_ignores_quiet_hours(w, clock):
    resident = await w.person("王奶奶")
    with WebhookSink() as sink:
        await webhook_channel(w, sink)
        await referrals.add_contact(
            w.hub, w.staff, w.community.id, {**SECTION, "level": "red", "name": "街道主任"}
        )
        wish = await wishes.post(w.hub, resident, w.community.id, ERRAND)
        wish = await wishes.review(w.hub, w.staff, wish.id, {"decision": "approve"})
        clock.now = datetime(2026, 12, 1, 15, 30, tzinfo=UTC)  # 23:30 in Shanghai
        await wishes.escalate(w.hub, w.staff, wish.id, {"level": "red"})
        (referral,) = await Referral.filter(wish_id=wish.id)
        assert referral.level is Escalation.RED
        report = await Worker(w.hub, AppriseNotifier()).run_once()
        assert report.failed == 0
        assert any("红牌" in m.body for m in sink.accepted.values())


async def test_an_email_contact_gets_the_message_with_its_link(w, clock):
    resident = await w.person("王奶奶")
    with SmtpSink() as sink:
        await email_channel(w, sink)
        await referrals.add_contact(
            w.hub,
            w.staff,
            w.community.id,
            {**SECTION, "channel_code": "email", "address": "facilities@street.example.com"},
        )
        await wishes.post(w.hub, resident, w.community.id, LIGHT)
        await wishes.advance_escalations(w.hub)
        report = await Worker(w.hub, AppriseNotifier()).run_once()
        assert (report.sent, report.failed) == (1, 0), report.errors
        (message,) = sink.accepted.values()
        assert message.to == "facilities@street.example.com"
        assert "路灯太暗" in message.subject and LINK.search(message.body)


# --- the link: acknowledge and resolve ---------------------------------------------------------


async def referred(w: World, resident, **fields) -> tuple[Wish, str]:
    """A street-light wish referred (blue) to the facilities section; its link's token."""
    tokens: list[str] = []

    async def catch(hub, pending):
        tokens.append(pending.secret[referrals.TOKEN_SECRET])

    w.hub.events.subscribe("wish.referred", catch)
    await referrals.add_contact(w.hub, w.staff, w.community.id, SECTION)
    wish = await wishes.post(w.hub, resident, w.community.id, {**LIGHT, **fields})
    await wishes.advance_escalations(w.hub)
    assert len(tokens) == 1
    return await Wish.get(id=wish.id), tokens[0]


async def test_acknowledge_and_resolve_through_the_link(w, api, clock):
    resident = await w.person("王奶奶")
    with WebhookSink() as sink:
        await webhook_channel(w, sink)
        await confirmed_address(w.hub, resident, "webhook", resident.person.phone)
        wish, token = await referred(w, resident)
        r = await api.get(f"/api/v1/referrals/{token}")
        assert r.status_code == 200, r.text
        shown = r.json()
        assert (shown["title"], shown["level"], shown["acknowledged_at"]) == (
            "路灯太暗",
            "blue",
            None,
        )
        text = r.text
        assert resident.person.name not in text and resident.person.phone not in text

        clock.advance(hours=2)
        r = await api.post(f"/api/v1/referrals/{token}/acknowledge")
        assert r.status_code == 200 and r.json()["acknowledged_at"]
        r = await api.post(f"/api/v1/referrals/{token}/acknowledge")
        assert r.status_code == 409 and r.json()["error"]["code"] == "already_acknowledged"
        rows = await referrals.referrals_of(w.staff, wish)
        assert rows[0].acknowledged_at == clock.now

        r = await api.post(f"/api/v1/referrals/{token}/resolve", json={"note": ""})
        assert r.status_code == 422
        assert r.json()["error"]["details"][0]["field"] == "note"
        r = await api.post(f"/api/v1/referrals/{token}/resolve", json={"note": "已更换灯泡"})
        assert r.status_code == 200, r.text
        assert (r.json()["status"], r.json()["resolved_by"], r.json()["outcome_note"]) == (
            "fulfilled",
            "街道办设施科",
            "已更换灯泡",
        )
        done = await Wish.get(id=wish.id)
        assert (done.status, done.fulfil_note) == (WishStatus.FULFILLED, "已更换灯泡")
        assert done.resolved_by_id == (await ResponsibleContact.get(name="街道办设施科")).id
        r = await api.post(f"/api/v1/referrals/{token}/resolve", json={"note": "再次"})
        assert r.status_code == 409 and r.json()["error"]["code"] == "already_resolved"
        r = await api.post(f"/api/v1/referrals/{token}/acknowledge")
        assert r.status_code == 409
        # The resolved wish's link no longer answers with the wish (its page shows why).
        r = await api.get(f"/api/v1/referrals/{token}")
        assert r.status_code == 409 and r.json()["error"]["code"] == "already_resolved"
        assert "路灯太暗" not in r.text

        # The resident is told (zh-CN), and confirms as usual; no volunteer's hours.
        await Worker(w.hub, AppriseNotifier()).run_once()
        told = [m for m in sink.accepted.values() if m.to == resident.person.phone]
        assert any("街道办设施科" in m.body and "已更换灯泡" in m.body for m in told)
        inbox = await Notification.filter(person_id=resident.id, event="wish.resolved")
        assert len(inbox) == 1 and "请确认" in inbox[0].body
        seen = await wishes.view(w.hub, resident, wish.id)
        assert (seen.resolved_by, seen.fulfil_note) == ("街道办设施科", "已更换灯泡")
        confirmed = await wishes.confirm(w.hub, resident, wish.id, {"rating": 5})
        assert confirmed.status is WishStatus.CONFIRMED
        assert await ServiceRecord.filter(wish_id=wish.id).count() == 0
        actions = [
            a.action
            for a in await AuditEntry.filter(entity_type="wish", entity_id=wish.id).order_by("id")
        ]
        assert actions == [
            "wish.posted",
            "wish.escalated",
            "wish.referred",
            "wish.referral_acknowledged",
            "wish.resolved",
            "wish.confirmed",
        ]


async def test_wrong_token_is_404_and_writes_nothing(w, api):
    resident = await w.person("王奶奶")
    with WebhookSink() as sink:
        await webhook_channel(w, sink)
        _, token = await referred(w, resident)
        before = await counts()
        for bad in (token[:-1] + ("A" if token[-1] != "A" else "B"), "x" * 101, "nothing"):
            assert (await api.get(f"/api/v1/referrals/{bad}")).status_code == 404
            r = await api.post(f"/api/v1/referrals/{bad}/resolve", json={"note": "x"})
            assert r.status_code == 404
            assert r.json()["error"]["code"] == "referral_not_found"
        assert await counts() == before


async def test_a_closed_wish_cannot_be_resolved(w, api):
    resident = await w.person("王奶奶")
    with WebhookSink() as sink:
        await webhook_channel(w, sink)
        wish, token = await referred(w, resident)
        await wishes.cancel(w.hub, resident, wish.id, {"reason": "已自行解决"})
        before = await counts()
        r = await api.post(f"/api/v1/referrals/{token}/resolve", json={"note": "已处理"})
        assert r.status_code == 409 and r.json()["error"]["code"] == "referral_closed"
        with pytest.raises(referrals.LinkClosed):
            await referrals.acknowledge(w.hub, token)
        r = await api.get(f"/api/v1/referrals/{token}")
        assert r.status_code == 409 and r.json()["error"]["code"] == "referral_closed"
        assert "路灯太暗" not in r.text
        with pytest.raises(referrals.LinkClosed) as closed:
            await referrals.open_link(w.hub, token)
        # Its page names the matter, so the contact knows which one needs nothing more.
        assert (closed.value.notice.reason, closed.value.notice.title) == ("closed", "路灯太暗")
        assert await counts() == before
        assert (await Wish.get(id=wish.id)).status is WishStatus.CANCELLED
        referral = await Referral.get(wish_id=wish.id)
        assert (referral.acknowledged_at, referral.resolved_at) == (None, None)


async def test_a_link_answers_for_its_lifetime_and_then_refuses_and_writes_nothing(w, api, clock):
    resident = await w.person("王奶奶")
    with WebhookSink() as sink:
        await webhook_channel(w, sink)
        wish, token = await referred(w, resident)
        sent = (await Referral.get(wish_id=wish.id)).notified_at
        clock.advance(seconds=referrals.LINK_LIFETIME.total_seconds() - 1)
        r = await api.get(f"/api/v1/referrals/{token}")
        assert r.status_code == 200, r.text
        assert r.json()["link_expires_at"] == "2026-12-15T09:00:00+08:00"
        assert sent + referrals.LINK_LIFETIME == datetime(2026, 12, 15, 1, 0, tzinfo=UTC)
        clock.advance(seconds=1)  # exactly its lifetime after it was sent
        before = await counts()
        notes = await Notification.all().count()
        r = await api.get(f"/api/v1/referrals/{token}")
        assert r.status_code == 409 and r.json()["error"]["code"] == "referral_expired"
        assert "路灯太暗" not in r.text and "14" in r.json()["error"]["message"]
        r = await api.post(f"/api/v1/referrals/{token}/resolve", json={"note": "已更换灯泡"})
        assert r.status_code == 409 and r.json()["error"]["code"] == "referral_expired"
        r = await api.post(f"/api/v1/referrals/{token}/acknowledge")
        assert r.status_code == 409 and r.json()["error"]["code"] == "referral_expired"
        with pytest.raises(referrals.LinkClosed):  # refused before its note is read
            await referrals.resolve(w.hub, token, {"note": ""})
        assert (await counts(), await Notification.all().count()) == (before, notes)
        final = await Wish.get(id=wish.id)
        assert (final.status, final.fulfil_note, final.resolved_by_id) == (wish.status, None, None)
        assert final.status in referrals.ACTIVE  # still waiting: expiry is the link's, not its
        referral = await Referral.get(wish_id=wish.id)
        assert (referral.acknowledged_at, referral.resolved_at, referral.note) == (None,) * 3
        with pytest.raises(referrals.LinkClosed) as expired:
            await referrals.open_link(w.hub, token)
        notice = expired.value.notice
        assert (notice.reason, notice.title, notice.resolved_by) == ("expired", None, None)
        assert (notice.contact_name, notice.locale, notice.notified_at) == (
            "街道办设施科",
            "zh-CN",
            sent,
        )


async def test_an_expired_link_says_nothing_of_the_wish_even_once_it_closed(w, api, clock):
    resident = await w.person("王奶奶")
    with WebhookSink() as sink:
        await webhook_channel(w, sink)
        wish, token = await referred(w, resident)
        await referrals.resolve(w.hub, token, {"note": "已更换灯泡"})
        clock.advance(days=referrals.LINK_LIFETIME.days)
        r = await api.get(f"/api/v1/referrals/{token}")
        assert r.status_code == 409 and r.json()["error"]["code"] == "referral_expired"
        with pytest.raises(referrals.LinkClosed) as expired:
            await referrals.open_link(w.hub, token)
        assert expired.value.notice.outcome_note is None


async def test_a_link_superseded_by_a_higher_level_still_answers(w, api, clock):
    """Escalation adds someone higher up; the blue section still holds the matter."""
    resident = await w.person("王奶奶")
    with WebhookSink() as sink:
        await webhook_channel(w, sink)
        await referrals.add_contact(
            w.hub, w.staff, w.community.id, {**SECTION, "level": "yellow", "name": "街道副主任"}
        )
        wish, blue_token = await referred(w, resident)
        clock.advance(hours=73)
        assert await wishes.advance_escalations(w.hub) == 1
        assert (await Wish.get(id=wish.id)).escalation is Escalation.YELLOW
        r = await api.post(f"/api/v1/referrals/{blue_token}/acknowledge")
        assert r.status_code == 200, r.text
        assert (r.json()["level"], r.json()["escalation"]) == ("blue", "yellow")


async def test_an_expired_link_of_a_waiting_matter_is_renewed_and_sent_again(w, api, clock):
    """The worker replaces the expired link of the wish's current level, sends it as a
    reminder in the contact's language, once; a lower level's link and a closed wish's are
    left to expire."""
    resident = await w.person("王奶奶")
    with WebhookSink() as sink:
        await webhook_channel(w, sink)
        await referrals.add_contact(w.hub, w.staff, w.community.id, SECTION)
        red = await referrals.add_contact(
            w.hub,
            w.staff,
            w.community.id,
            {**SECTION, "level": "red", "name": "Deputy head", "address": "13900139005"}
            | {"locale": "en"},
        )
        wish = await wishes.post(w.hub, resident, w.community.id, LIGHT)
        clock.advance(hours=1)
        worker = Worker(w.hub, AppriseNotifier())
        await worker.run_once()  # blue: referred, told
        blue_token = LINK.search(only(sink, "13900139000").body).group(1)

        clock.advance(days=referrals.LINK_LIFETIME.days)
        report = await worker.run_once()  # red by now: referred; the blue link is not renewed
        assert report.referrals_renewed == 0
        assert (await Wish.get(id=wish.id)).escalation is Escalation.RED
        r = await api.get(f"/api/v1/referrals/{blue_token}")
        assert r.status_code == 409 and r.json()["error"]["code"] == "referral_expired"
        first = only(sink, "13900139005")
        red_token = LINK.search(first.body).group(1)
        assert (await api.post(f"/api/v1/referrals/{red_token}/acknowledge")).status_code == 200
        acknowledged = (await Referral.get(contact_id=red.id)).acknowledged_at

        clock.advance(days=referrals.LINK_LIFETIME.days)
        before = set(sink.accepted)
        report = await worker.run_once()
        assert report.referrals_renewed == 1
        reminder = only(sink, "13900139005", exclude=before)
        new_token = LINK.search(reminder.body).group(1)
        assert new_token != red_token
        assert "still not resolved" in reminder.body and "you acknowledged it" in reminder.body
        assert "earlier link has expired" in reminder.body
        assert resident.person.phone not in reminder.body
        assert (await api.get(f"/api/v1/referrals/{red_token}")).status_code == 404
        r = await api.get(f"/api/v1/referrals/{new_token}")
        assert r.status_code == 200, r.text
        renewed = await Referral.get(contact_id=red.id)
        assert renewed.token_hash == secret_digest(new_token)
        assert (renewed.notified_at, renewed.acknowledged_at) == (w.hub.now(), acknowledged)
        trail = await AuditEntry.filter(entity_id=wish.id, action="wish.referral_renewed")
        assert [a.after["contact"] for a in trail] == ["Deputy head"]
        assert (await worker.run_once()).referrals_renewed == 0  # once per lifetime

        r = await api.post(f"/api/v1/referrals/{new_token}/resolve", json={"note": "已更换灯泡"})
        assert r.status_code == 200, r.text
        clock.advance(days=referrals.LINK_LIFETIME.days)
        assert (await worker.run_once()).referrals_renewed == 0  # closed: nothing to renew


async def test_two_workers_renew_a_link_once(w, clock):
    resident = await w.person("王奶奶")
    with WebhookSink() as sink:
        await webhook_channel(w, sink)
        wish, _ = await referred(w, resident)
        clock.advance(days=referrals.LINK_LIFETIME.days)
        done = await asyncio.gather(*(referrals.renew_expired_links(w.hub) for _ in range(4)))
        assert sum(done) == 1
        trail = AuditEntry.filter(entity_id=wish.id, action="wish.referral_renewed")
        assert await trail.count() == 1
        assert await Notification.filter(event="wish.referral_renewed").count() == 1


def only(sink: WebhookSink, to: str, *, exclude: set = frozenset()):
    """The one message the sink accepted for ``to`` (but those in ``exclude``)."""
    found = [m for key, m in sink.accepted.items() if m.to == to and key not in exclude]
    assert len(found) == 1, [m.body for m in found]
    return found[0]


async def test_an_english_contact_is_told_in_english_and_a_chinese_one_in_chinese(w, clock):
    resident = await w.person("王奶奶")
    with SmtpSink() as mail, WebhookSink() as hook:
        await email_channel(w, mail)
        await webhook_channel(w, hook)
        english = await referrals.add_contact(
            w.hub,
            w.staff,
            w.community.id,
            {
                **SECTION,
                "name": "Riverside Property Services",
                "channel_code": "email",
                "address": "desk@riverside.example.com",
                "locale": "en",
            },
        )
        assert english.locale == "en"
        chinese = await referrals.add_contact(w.hub, w.staff, w.community.id, SECTION)
        assert chinese.locale == "zh-CN"
        await wishes.post(w.hub, resident, w.community.id, LIGHT)
        clock.advance(hours=1)
        assert await wishes.advance_escalations(w.hub) == 1
        report = await Worker(w.hub, AppriseNotifier()).run_once()
        assert (report.sent, report.failed) == (2, 0), report.errors
        (letter,) = mail.accepted.values()
        assert letter.to == "desk@riverside.example.com"
        assert letter.subject.startswith("[blue] Referred by ")
        assert "Hello Riverside Property Services" in letter.body
        assert "Category: Public facilities" in letter.body and "1 hour" in letter.body
        assert "路灯太暗" in letter.body  # the wish's own words, as the resident wrote them
        assert not re.search(r"[蓝牌您好类别已等待]", letter.body.replace("路灯太暗", ""))
        assert LINK.search(letter.body)
        (text,) = [m for m in hook.accepted.values() if m.to == "13900139000"]
        assert "您好" in text.body and "蓝牌" in text.body and "Hello" not in text.body
        stored = await Notification.filter(event="wish.referred").order_by("id")
        assert sorted(n.locale for n in stored) == ["en", "zh-CN"]
        assert resident.person.name not in letter.body


async def test_two_resolves_at_once_one_wins(w):
    resident = await w.person("王奶奶")
    with WebhookSink() as sink:
        await webhook_channel(w, sink)
        wish, token = await referred(w, resident)
        results = await asyncio.gather(
            *(referrals.resolve(w.hub, token, {"note": f"处理{i}"}) for i in range(12)),
            return_exceptions=True,
        )
        wins = [r for r in results if not isinstance(r, BaseException)]
        assert len(wins) == 1
        assert all(isinstance(r, Conflict) for r in results if isinstance(r, BaseException))
        assert await AuditEntry.filter(entity_id=wish.id, action="wish.resolved").count() == 1
        assert await Notification.filter(event="wish.resolved", entity_id=wish.id).count() == 1


# --- the board ------------------------------------------------------------------------------


async def test_board_shows_colour_age_holders_and_urgent_first(w, api, clock):
    resident = await w.person("王奶奶")
    with WebhookSink() as sink:
        await webhook_channel(w, sink)
        await referrals.add_contact(w.hub, w.staff, w.community.id, SECTION)
        calm = await wishes.post(w.hub, resident, w.community.id, LIGHT)
        clock.advance(hours=1)
        urgent = await wishes.post(
            w.hub, resident, w.community.id, {**LIGHT, "title": "井盖丢失", "urgent": True}
        )
        await wishes.advance_escalations(w.hub)
        (calm_ref,) = await Referral.filter(wish_id=calm.id)
        (urgent_ref,) = await Referral.filter(wish_id=urgent.id)
        await Referral.filter(id=urgent_ref.id).update(acknowledged_at=clock.now)
        clock.advance(hours=3)
        board = await reports.escalation_board(w.hub, w.staff, w.community.id)
        blue = board.columns["blue"]
        assert [b.id for b in blue] == [urgent.id, calm.id]  # urgent first
        first, second = blue
        assert first.urgent and not second.urgent
        assert [(h.contact_name, h.acknowledged_at is not None) for h in first.holders] == [
            ("街道办设施科", True)
        ]
        assert [(h.contact_name, h.acknowledged_at is not None) for h in second.holders] == [
            ("街道办设施科", False)
        ]
        assert board.age(second, "zh-CN") == "4小时" and board.age(first, "en") == "3 hours"
        assert calm_ref.level is Escalation.BLUE
        with pytest.raises(PermissionDenied):
            await reports.escalation_board(w.hub, resident, w.community.id)


async def test_resolve_and_cancel_at_once_one_wins(w):
    resident = await w.person("王奶奶")
    tokens: list[str] = []

    async def catch(hub, pending):
        tokens.append(pending.secret[referrals.TOKEN_SECRET])

    w.hub.events.subscribe("wish.referred", catch)
    with WebhookSink() as sink:
        await webhook_channel(w, sink)
        await referrals.add_contact(w.hub, w.staff, w.community.id, SECTION)
        for round_ in range(4):
            wish = await wishes.post(w.hub, resident, w.community.id, LIGHT)
            await wishes.advance_escalations(w.hub)
            token = tokens[-1]
            results = await asyncio.gather(
                referrals.resolve(w.hub, token, {"note": "已处理"}),
                wishes.cancel(w.hub, resident, wish.id, {"reason": "不需要了"}),
                referrals.resolve(w.hub, token, {"note": "已处理2"}),
                return_exceptions=True,
            )
            wins = [r for r in results if not isinstance(r, BaseException)]
            assert len(wins) == 1, (round_, results)
            assert all(isinstance(r, Conflict) for r in results if isinstance(r, BaseException))
            final = await Wish.get(id=wish.id)
            assert final.status in (WishStatus.FULFILLED, WishStatus.CANCELLED)
            assert (final.resolved_by_id is not None) == (final.status is WishStatus.FULFILLED)


@settings(max_examples=300, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    start=st.integers(min_value=-3 * 24 * 60, max_value=40 * 24 * 60),
    length=st.integers(min_value=-2 * 24 * 60, max_value=35 * 24 * 60),
)
def test_window_rule_agrees_with_its_statement(hub, start, length):
    """Accepted exactly when the start is not in the past, the end is after the start and
    the window lasts 30 days at most; a refusal names the field that breaks the rule."""
    begins = hub.now() + timedelta(minutes=start)
    window = wishes.WindowIn(start=begins, end=begins + timedelta(minutes=length))
    if start < 0:
        expected = "window.start"
    elif length <= 0 or length > 30 * 24 * 60:
        expected = "window.end"
    else:
        expected = None
    try:
        wishes.check_window(hub, window)
    except InvalidInput as err:
        assert err.fields == [expected]
    else:
        assert expected is None


async def test_many_answers_over_http_at_once(w, api):
    """Twenty requests through one link at the same moment, half acknowledging, half
    resolving: one acknowledgement and one resolution stand, every other answer is 409."""
    resident = await w.person("王奶奶")
    with WebhookSink() as sink:
        await webhook_channel(w, sink)
        wish, token = await referred(w, resident)
        calls = []
        for i in range(10):
            calls.append(api.post(f"/api/v1/referrals/{token}/acknowledge"))
            calls.append(api.post(f"/api/v1/referrals/{token}/resolve", json={"note": f"第{i}次"}))
        answers = await asyncio.gather(*calls)
        statuses = sorted(r.status_code for r in answers)
        assert set(statuses) <= {200, 409}, [r.text for r in answers if r.status_code >= 500]
        resolved = [
            r for r in answers if r.status_code == 200 and r.json()["status"] == "fulfilled"
        ]
        assert await AuditEntry.filter(entity_id=wish.id, action="wish.resolved").count() == 1
        assert (
            await AuditEntry.filter(entity_id=wish.id, action="wish.referral_acknowledged").count()
            <= 1
        )
        final = await Wish.get(id=wish.id)
        assert final.status is WishStatus.FULFILLED
        assert any(final.fulfil_note == r.json()["outcome_note"] for r in resolved)
        assert await Notification.filter(event="wish.resolved", entity_id=wish.id).count() == 1
