"""Emergency call-outs (story 8): who is called, urgent delivery, acknowledgement, headcount.

Real services, a real database (SQLite, and PostgreSQL with VHUB_TEST_POSTGRES_URL), a real
webhook sink and the real worker. Timing belongs to benchmarks/callout_bench.py; here only
correctness, also for a call-out of 2,000 people.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest

import volunteer_hub
from tests.factories import PASSWORD, World, next_phone
from tests.sinks import WebhookSink
from volunteer_hub.models import (
    AuditEntry,
    CallOut,
    CallOutRecipient,
    Delivery,
    DeliveryStatus,
    Notification,
    NotificationPriority,
    Person,
    PersonChannel,
    Role,
    RoleAssignment,
)
from volunteer_hub.notifications.senders import AppriseNotifier
from volunteer_hub.notifications.worker import Worker
from volunteer_hub.services import callouts, channels, people, teams
from volunteer_hub.services.access import load_actor
from volunteer_hub.testing import confirmed_address

ACK_LINK = re.compile(r"(https?://[^\s\"<]+)/ack/([A-Za-z0-9_\-]+)")
ALARM = {"title": "暴雨预警：请到岗", "message": "今晚8点前到社区服务站集合，带好雨具。"}


async def login(api, phone: str) -> dict[str, str]:
    r = await api.post("/api/v1/auth/login", json={"phone": phone, "password": PASSWORD})
    assert r.status_code == 200, r.text
    return {"Authorization": f"Bearer {r.json()['token']}"}


class Town:
    """A community with volunteers in two teams and two grids, some with skills, and
    people who must never be called: a pending member, a resident, staff, another
    community's volunteer."""

    def __init__(self, hub) -> None:
        self.hub = hub

    async def build(self) -> Town:
        hub = self.hub
        self.w = w = await World(hub).build()
        self.care = await w.team("elderly_care", "助老服务队")
        self.repair = await w.team("repair", "维修队")
        self.v1 = await self.member("志愿者甲", w.grid, ["急救"], self.care)
        self.v2 = await self.member(
            "志愿者乙", w.other_grid, ["维修", "急救"], self.care, self.repair
        )
        self.v3 = await self.member("志愿者丙", w.grid, [], self.repair)
        self.pending = await self.register("待审核丁", w.grid, ["急救"])
        await teams.join_team(
            hub,
            self.pending,
            self.care.id,
            {"qualifications": [{"kind": "first_aid", "expires_on": "2027-06-30"}]},
        )
        self.resident = await self.register("居民戊", w.grid, ["急救"])
        self.other = await World(hub).build_other(w)
        other_team = await self.other.team("elderly_care", "和平里助老队")
        self.outsider = await self.member(
            "外社区己", None, ["急救"], other_team, community=self.other.community
        )
        return self

    async def register(self, name, grid, skills, community=None):
        community = community or self.w.community
        person = await people.register(
            self.hub,
            {
                "name": name,
                "phone": next_phone(),
                "password": PASSWORD,
                "community_id": community.id,
                "grid_id": grid.id if grid else None,
                "skills": skills,
            },
        )
        return await load_actor(person.id)

    async def member(self, name, grid, skills, *team_list, community=None):
        actor = await self.register(name, grid, skills, community)
        for team in team_list:  # staff approve the new volunteer (once)
            await self.w.join(await load_actor(actor.id), team)
        return await load_actor(actor.id)

    @property
    def volunteers(self) -> set[int]:
        return {self.v1.id, self.v2.id, self.v3.id}


@pytest.fixture
async def town(hub) -> Town:
    return await Town(hub).build()


async def called(callout: CallOut) -> set[int]:
    return set(
        await CallOutRecipient.filter(callout_id=callout.id).values_list("person_id", flat=True)
    )


async def test_each_kind_of_target_calls_exactly_the_right_people(hub, town: Town):
    t, w = town, town.w
    cases = [
        ({"kind": "team", "value": t.care.id}, {t.v1.id, t.v2.id}),
        ({"kind": "team", "value": t.repair.id}, {t.v2.id, t.v3.id}),
        ({"kind": "grid", "value": w.grid.id}, {t.v1.id, t.v3.id}),
        ({"kind": "grid", "value": w.other_grid.id}, {t.v2.id}),
        ({"kind": "skill", "value": "急救"}, {t.v1.id, t.v2.id}),
        ({"kind": "skill", "value": " 维修 "}, {t.v2.id}),
        ({"kind": "everyone"}, t.volunteers),
    ]
    for target, expected in cases:
        callout = await callouts.call_out(hub, w.staff, w.community.id, {**ALARM, "target": target})
        assert await called(callout) == expected, target
        assert callout.recipients == len(expected)
        notes = await Notification.filter(entity_type="callout", entity_id=callout.id)
        assert sorted(n.person_id for n in notes) == sorted(expected), target
        assert {n.priority for n in notes} == {NotificationPriority.URGENT}
        assert {n.event for n in notes} == {"emergency.callout"}
    assert callout.target_kind == "everyone" and callout.target_value is None


async def test_one_transaction_one_audit_entry_and_the_event_after_commit(hub, town: Town):
    w = town.w
    seen: list[tuple[str, int, int]] = []
    published: list[str] = []

    class Listener:
        @volunteer_hub.hookimpl
        async def vh_domain_event(self, event):
            if event.name == "emergency.callout":  # published after commit: all rows exist
                rows = await CallOutRecipient.filter(callout_id=event.entity_id).count()
                seen.append((event.name, event.data["recipients"], rows))
                published.append(repr(event))

    hub.plugins.register(Listener(), "callout-listener")
    try:
        before = await AuditEntry.all().count()
        callout = await callouts.call_out(
            hub, w.staff, w.community.id, {**ALARM, "target": {"kind": "everyone"}}
        )
    finally:
        hub.plugins.unregister("callout-listener")
    entries = await AuditEntry.filter(id__gt=0).order_by("id").offset(before)
    assert [(e.action, e.entity_type, e.entity_id) for e in entries] == [
        ("emergency.callout", "callout", callout.id)
    ]
    assert entries[0].after["recipients"] == 3 and entries[0].actor_id == w.staff.id
    assert seen == [("emergency.callout", 3, 3)]
    # The acknowledgement links went to the messages only: not to plugins, not to the audit.
    notes = await Notification.filter(entity_type="callout", entity_id=callout.id)
    tokens = [ACK_LINK.search(n.body).group(2) for n in notes]
    assert len(set(tokens)) == 3
    assert [t for t in tokens if t in published[0] or t in str(entries[0].after)] == []


async def test_a_failure_midway_writes_nothing(hub, town: Town):
    """The bulk statements run in the call-out's transaction: a failure after them (here
    a subscriber after the notifications' one) rolls them back with the call-out."""
    w = town.w
    wrote = []

    async def broken(hub, pending):
        wrote.append(await Notification.filter(event=callouts.EVENT).count())
        raise RuntimeError("the disk is full")

    hub.events.subscribe(callouts.EVENT, broken)
    with pytest.raises(RuntimeError):
        await callouts.call_out(
            hub, w.staff, w.community.id, {**ALARM, "target": {"kind": "everyone"}}
        )
    assert wrote == [3]  # the messages were written, in the transaction that failed
    assert await CallOut.all().count() == 0
    assert await CallOutRecipient.all().count() == 0
    assert await Notification.filter(event=callouts.EVENT).count() == 0
    assert await Delivery.all().count() == 0
    assert await AuditEntry.filter(action="emergency.callout").count() == 0


async def test_quiet_hours_do_not_hold_a_callout(hub, clock, town: Town):
    w = town.w
    with WebhookSink() as sink:
        await channels.configure(
            hub,
            w.staff,
            w.community.id,
            {"code": "webhook", "name": "短信网关", "settings": {"url": sink.url}},
        )
        for v in (town.v1, town.v2, town.v3):
            await confirmed_address(hub, v, "webhook", v.person.phone)
        clock.now = datetime(2026, 12, 1, 15, 30, tzinfo=UTC)  # 23:30 in Shanghai
        callout = await callouts.call_out(
            hub, w.staff, w.community.id, {**ALARM, "target": {"kind": "everyone"}}
        )
        deliveries = await Delivery.filter(notification__entity_id=callout.id)
        assert {d.not_before for d in deliveries} == {clock.now}
        report = await Worker(hub, AppriseNotifier()).run_once()
        assert (report.sent, report.failed) == (3, 0)
        assert {r.to for r in sink.accepted.values()} == {
            v.person.phone for v in (town.v1, town.v2, town.v3)
        }


async def test_every_message_arrives_with_a_working_ack_link(hub, api, town: Town):
    w = town.w
    with WebhookSink() as sink:
        await channels.configure(
            hub,
            w.staff,
            w.community.id,
            {"code": "webhook", "name": "短信网关", "settings": {"url": sink.url}},
        )
        for v in (town.v1, town.v2, town.v3):
            await confirmed_address(hub, v, "webhook", v.person.phone)
        staff = await login(api, w.staff.person.phone)
        r = await api.post(
            f"/api/v1/communities/{w.community.id}/callouts",
            json={**ALARM, "target": {"kind": "everyone"}},
            headers=staff,
        )
        assert r.status_code == 201, r.text
        created = r.json()
        assert created["recipients"] == 3
        assert (await Worker(hub, AppriseNotifier()).run_once()).sent == 3

    assert len(sink.accepted) == 3 and not sink.duplicates
    tokens = {}
    for received in sink.accepted.values():
        assert received.subject == f"【紧急】{ALARM['title']}"
        assert ALARM["message"] in received.body
        [(base, token)] = ACK_LINK.findall(received.body)
        assert base == hub.settings.public_url
        tokens[received.to] = token
    assert len(set(tokens.values())) == 3

    headcount = f"/api/v1/callouts/{created['id']}"
    r = await api.get(headcount, headers=staff)
    assert r.status_code == 200, r.text
    body = r.json()
    assert (body["recipients"], body["acknowledged"], body["delivered"]) == (3, 0, 3)
    assert body["created_at"].endswith("+08:00") and body["title"] == ALARM["title"]

    token = tokens[town.v1.person.phone]
    first = await api.get(f"/ack/{token}")  # a phone's browser: a small page, in Chinese
    assert first.status_code == 200 and first.headers["content-type"].startswith("text/html")
    assert "谢谢" in first.text and ALARM["title"] in first.text
    assert first.headers["cache-control"] == "no-store"
    again = await api.get(f"/ack/{token}", headers={"Accept": "application/json"})
    assert again.status_code == 200 and again.json()["recorded"] is True
    assert again.json()["acknowledged_at"].endswith("+08:00")
    assert (await api.get(headcount, headers=staff)).json()["acknowledged"] == 1
    await api.get(f"/ack/{tokens[town.v2.person.phone]}", headers={"Accept-Language": "en"})
    assert (await api.get(headcount, headers=staff)).json()["acknowledged"] == 2

    row = await CallOutRecipient.get(callout_id=created["id"], person_id=town.v1.id)
    assert row.acked_at is not None and token not in row.ack_hash
    acks = await AuditEntry.filter(action="emergency.acknowledged").count()
    assert acks == 2  # once per person, however often the link is opened

    missing = await api.get("/ack/not-a-real-token", headers={"Accept": "application/json"})
    assert missing.status_code == 404
    assert missing.json()["error"]["code"] == "ack_not_found"
    assert (await api.get("/ack/not-a-real-token")).status_code == 404


async def test_acknowledging_twice_counts_once(hub, town: Town):
    w = town.w
    callout = await callouts.call_out(
        hub, w.staff, w.community.id, {**ALARM, "target": {"kind": "team", "value": town.care.id}}
    )
    note = await Notification.get(
        entity_id=callout.id, person_id=town.v1.id, event="emergency.callout"
    )
    [(_, token)] = ACK_LINK.findall(note.body)
    first = await callouts.acknowledge(hub, token)
    second = await callouts.acknowledge(hub, token)
    assert first.first_time and not second.first_time
    assert first.acknowledged_at == second.acknowledged_at
    count = await callouts.headcount(hub, w.staff, callout.id)
    assert (count.recipients, count.acknowledged, count.delivered) == (2, 1, 0)
    with pytest.raises(volunteer_hub.errors.NotFound):
        await callouts.acknowledge(hub, token[:-1])
    with pytest.raises(volunteer_hub.errors.NotFound):
        await callouts.acknowledge(hub, "x" * 5000)


async def test_only_staff_call_out_and_see_the_headcount(hub, api, town: Town):
    w = town.w
    callout = await callouts.call_out(
        hub, w.staff, w.community.id, {**ALARM, "target": {"kind": "everyone"}}
    )
    url = f"/api/v1/communities/{w.community.id}/callouts"
    body = {**ALARM, "target": {"kind": "everyone"}}
    assert (await api.post(url, json=body)).status_code == 401
    assert (await api.get(f"/api/v1/callouts/{callout.id}")).status_code == 401
    for actor, post_status, get_status in [
        (town.v1, 403, 404),
        (town.resident, 403, 404),
        (w.grid_worker, 403, 404),
        (town.other.staff, 403, 404),
        (w.staff, 201, 200),
    ]:
        headers = await login(api, actor.person.phone)
        assert (await api.post(url, json=body, headers=headers)).status_code == post_status
        r = await api.get(f"/api/v1/callouts/{callout.id}", headers=headers)
        assert r.status_code == get_status, r.text
    admin = await login(api, w.admin.person.phone)
    assert (await api.get(f"/api/v1/callouts/{callout.id}", headers=admin)).status_code == 200
    nowhere = f"/api/v1/communities/{2**31 - 1}/callouts"
    assert (await api.post(nowhere, json=body, headers=admin)).status_code == 404
    assert (await api.get("/api/v1/callouts/999999", headers=admin)).status_code == 404


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"target": {"kind": "team", "value": 999999}}, "target.value"),
        ({"target": {"kind": "grid", "value": 999999}}, "target.value"),
        ({"target": {"kind": "grid", "value": "OTHER"}}, "target.value"),
        ({"target": {"kind": "team"}}, "target.value"),
        ({"target": {"kind": "team", "value": "助老服务队"}}, "target.value"),
        ({"target": {"kind": "skill", "value": ""}}, "target.value"),
        ({"target": {"kind": "skill", "value": 5}}, "target.value"),
        ({"target": {"kind": "everyone", "value": 5}}, "target.value"),
        ({"target": {"kind": "household"}}, "target.kind"),
        ({"target": {"kind": "skill", "value": "无人会的本事"}}, "target"),
        ({"message": ""}, "message"),
        ({"message": "   "}, "message"),
        ({"title": ""}, "title"),
        ({"title": "a\nb"}, "title"),
    ],
)
async def test_bad_input_names_the_field_and_writes_nothing(hub, api, town: Town, change, field):
    w = town.w
    if change.get("target", {}).get("value") == "OTHER":  # another community's grid
        change = {"target": {"kind": "grid", "value": town.other.grid.id}}
    staff = await login(api, w.staff.person.phone)
    audit = await AuditEntry.all().count()
    body = {**ALARM, "target": {"kind": "everyone"}, **change}
    r = await api.post(
        f"/api/v1/communities/{w.community.id}/callouts",
        json=body,
        headers={**staff, "Accept-Language": "en"},
    )
    assert r.status_code == 422, r.text
    assert [d["field"] for d in r.json()["error"]["details"]] == [field], r.text
    assert await CallOut.all().count() == 0
    assert await CallOutRecipient.all().count() == 0
    assert await Notification.filter(event="emergency.callout").count() == 0
    assert await AuditEntry.all().count() == audit


async def test_a_callout_to_2000_volunteers_is_delivered_once_each(hub, api, clock):
    """Correctness at scale, on both databases: every message arrives once, every link works."""
    w = await World(hub).build()
    n = 2000
    with WebhookSink() as sink:
        await channels.configure(
            hub,
            w.staff,
            w.community.id,
            {"code": "webhook", "name": "短信网关", "settings": {"url": sink.url}},
        )
        first_phone = 15000000000
        # Seeded in bulk (registering 2,000 people one by one would take minutes): a
        # volunteer is a person with the volunteer role in the community.
        await Person.bulk_create(
            [
                Person(
                    name=f"志愿者{i}",
                    phone=str(first_phone + i),
                    community_id=w.community.id,
                    grid_id=w.grid.id,
                    skills=[],
                    locale="zh-CN" if i % 10 else "en",
                )
                for i in range(n)
            ]
        )
        ids = dict(await Person.filter(phone__gte=str(first_phone)).values_list("phone", "id"))
        assert len(ids) == n
        await RoleAssignment.bulk_create(
            [
                RoleAssignment(person_id=pid, community_id=w.community.id, role=Role.VOLUNTEER)
                for pid in ids.values()
            ]
        )
        await PersonChannel.bulk_create(
            [
                PersonChannel(person_id=pid, code="webhook", address=phone, confirmed_at=clock.now)
                for phone, pid in ids.items()
            ]
        )
        clock.now = datetime(2026, 12, 1, 16, 0, tzinfo=UTC)  # midnight: urgent all the same
        callout = await callouts.call_out(
            hub, w.staff, w.community.id, {**ALARM, "target": {"kind": "everyone"}}
        )
        assert callout.recipients == n
        assert await Delivery.filter(notification__entity_id=callout.id).count() == n
        worker = Worker(hub, AppriseNotifier())
        sent = 0
        for _ in range(10):  # bounded: a few rounds at most
            sent += (await worker.run_once()).sent
            if sent >= n:
                break
        assert sent == n
    assert len(sink.accepted) == n and not sink.duplicates
    assert sink.connections <= 16  # kept alive: one per sending thread
    assert {r.to for r in sink.accepted.values()} == set(ids)
    assert await Delivery.filter(status=DeliveryStatus.SENT).count() == n
    links = [ACK_LINK.findall(r.body) for r in sink.accepted.values()]
    assert all(len(found) == 1 for found in links)
    tokens = [found[0][1] for found in links]
    assert len(set(tokens)) == n
    english = [r for r in sink.accepted.values() if r.subject.startswith("[Emergency]")]
    assert len(english) == n // 10

    for token in tokens[:25]:
        assert (await api.get(f"/ack/{token}")).status_code == 200
    await api.get(f"/ack/{tokens[0]}")
    count = await callouts.headcount(hub, w.staff, callout.id)
    assert (count.recipients, count.acknowledged, count.delivered) == (n, 25, n)
