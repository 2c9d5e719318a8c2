"""Emergency mode (story 8, issue 12 point 5): staff switch it on with a reason, which
sends the call-out and puts chosen wish categories on automatic approval in one
transaction; every page of the community's people shows a banner; staff switch it off.

Real services, a real database (SQLite, and PostgreSQL with VHUB_TEST_POSTGRES_URL), the
real app over ASGI, and a cookie-keeping client for the pages.
"""

from __future__ import annotations

import asyncio

import pytest

from tests.factories import World
from tests.pages_support import csrf, log_in
from volunteer_hub.errors import Conflict, InvalidInput, PermissionDenied
from volunteer_hub.models import (
    AuditEntry,
    CallOut,
    CallOutRecipient,
    Community,
    Notification,
    WishStatus,
)
from volunteer_hub.services import callouts, emergency, people, wishes
from volunteer_hub.testing import login, web_client

STORM = {
    "reason": "暴雨红色预警：地下车库进水",
    "message": "请今晚8点前到社区服务站集合，带好雨具。",
    "categories": ["errand", "elderly_care"],
}
WISH = {"title": "帮忙买菜", "description": "隔离在家，需要一周的蔬菜", "category": "errand"}


@pytest.fixture
async def w(hub):
    world = await World(hub).build()
    world.care = await world.team("elderly_care", "助老服务队")
    world.v1 = await world.volunteer("志愿者甲", team=world.care)
    world.v2 = await world.volunteer("志愿者乙", team=world.care)
    world.resident = await world.person("王奶奶")
    return world


async def audit(community_id: int, action: str) -> list[AuditEntry]:
    return await AuditEntry.filter(community_id=community_id, action=action).order_by("id")


# --- switching on and off -------------------------------------------------------------------


async def test_switching_on_sends_the_callout_and_chooses_categories_in_one_go(hub, w):
    state = await emergency.start(hub, w.staff, w.community.id, STORM)
    assert state.active and state.reason == STORM["reason"]
    assert state.categories == ("errand", "elderly_care")
    assert state.started_at == hub.now()

    callout = await CallOut.get(id=state.callout_id)
    assert callout.title == STORM["reason"] and callout.message == STORM["message"]
    assert callout.target_kind == "everyone"  # every volunteer when no target is given
    called = await CallOutRecipient.filter(callout_id=callout.id).values_list(
        "person_id", flat=True
    )
    assert sorted(called) == sorted([w.v1.id, w.v2.id])
    notes = await Notification.filter(entity_type="callout", entity_id=callout.id)
    assert sorted(n.person_id for n in notes) == sorted(called)

    [started] = await audit(w.community.id, "community.emergency_started")
    assert started.actor_id == w.staff.id
    assert started.after["reason"] == STORM["reason"]
    assert started.after["callout_id"] == callout.id
    assert started.after["categories"] == ["errand", "elderly_care"]
    assert len(await audit(w.community.id, "emergency.callout")) == 1

    # Everyone logged in may read the notice; only staff learn which call-out it sent.
    seen = await emergency.state(w.resident, w.community.id)
    assert seen.active and seen.reason == STORM["reason"] and seen.callout_id is None
    assert (await emergency.state(w.staff, w.community.id)).callout_id == callout.id


async def test_a_target_names_who_is_called(hub, w):
    other_team = await w.team("repair", "维修队")
    fixer = await w.volunteer("维修工", team=other_team)
    target = {"kind": "team", "value": other_team.id}
    state = await emergency.start(hub, w.staff, w.community.id, {**STORM, "target": target})
    called = await CallOutRecipient.filter(callout_id=state.callout_id).values_list(
        "person_id", flat=True
    )
    assert list(called) == [fixer.id]


async def test_switching_on_twice_is_a_conflict_and_sends_nothing_more(hub, w):
    await emergency.start(hub, w.staff, w.community.id, STORM)
    with pytest.raises(Conflict) as refused:
        await emergency.start(hub, w.admin, w.community.id, {**STORM, "reason": "又一次"})
    assert refused.value.code == "emergency_on"
    assert await CallOut.filter(community_id=w.community.id).count() == 1
    assert (await Community.get(id=w.community.id)).emergency_reason == STORM["reason"]


async def test_of_many_simultaneous_switches_exactly_one_wins(hub, w):
    async def attempt(n: int):
        try:
            return await emergency.start(
                hub, w.staff, w.community.id, {**STORM, "reason": f"预警{n}"}
            )
        except Conflict as exc:
            return exc

    results = await asyncio.gather(*(attempt(n) for n in range(12)))
    won = [r for r in results if isinstance(r, emergency.EmergencyState)]
    assert len(won) == 1
    assert all(
        isinstance(r, Conflict) and r.code == "emergency_on" for r in results if r not in won
    )
    assert await CallOut.filter(community_id=w.community.id).count() == 1
    community = await Community.get(id=w.community.id)
    assert community.emergency_reason == won[0].reason
    assert community.emergency_callout_id == won[0].callout_id
    assert len(await audit(w.community.id, "community.emergency_started")) == 1


async def test_switching_off_ends_it_with_a_note(hub, w):
    started = await emergency.start(hub, w.staff, w.community.id, STORM)
    state = await emergency.end(hub, w.staff, w.community.id, {"note": "雨停了，积水已排"})
    assert not state.active and state.reason is None and state.categories == ()
    community = await Community.get(id=w.community.id)
    assert community.emergency_started_at is None and community.emergency_categories == []
    assert community.emergency_callout_id is None
    [ended] = await audit(w.community.id, "community.emergency_ended")
    assert ended.after == {"note": "雨停了，积水已排"}
    assert ended.before["reason"] == STORM["reason"]
    assert ended.before["callout_id"] == started.callout_id
    assert await CallOut.exists(id=started.callout_id)  # the call-out stays on record

    with pytest.raises(Conflict) as refused:
        await emergency.end(hub, w.staff, w.community.id)
    assert refused.value.code == "emergency_off"
    again = await emergency.start(hub, w.staff, w.community.id, STORM)  # and on again
    assert again.active and again.callout_id != started.callout_id


async def test_those_called_are_told_to_stand_down_when_it_ends(hub, w):
    await emergency.start(hub, w.staff, w.community.id, STORM)
    await emergency.end(hub, w.staff, w.community.id, {"note": "积水已排，辛苦了"})
    told = await Notification.filter(event="community.emergency_ended").order_by("person_id")
    assert [n.person_id for n in told] == sorted([w.v1.id, w.v2.id])
    assert {n.priority.value for n in told} == {"urgent"}  # some may be on their way
    [first] = told[:1]
    assert "解除紧急状态" in first.subject and STORM["reason"] in first.subject
    assert "积水已排，辛苦了" in first.body and w.community.name in first.body


async def test_only_staff_of_the_community_and_admins_switch_it(hub, w):
    other = await World(hub).build_other(w)
    for outsider in (w.v1, w.resident, w.grid_worker, other.staff):
        with pytest.raises(PermissionDenied):
            await emergency.start(hub, outsider, w.community.id, STORM)
    assert not await CallOut.exists(community_id=w.community.id)
    await emergency.start(hub, w.admin, w.community.id, STORM)
    for outsider in (w.v1, w.resident, other.staff):
        with pytest.raises(PermissionDenied):
            await emergency.end(hub, outsider, w.community.id)
    assert (await emergency.end(hub, w.admin, w.community.id)).active is False


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"reason": ""}, "reason"),
        ({"reason": None}, "reason"),
        ({"reason": "长" * 201}, "reason"),
        ({"message": ""}, "message"),
        ({"message": None}, "message"),
        ({"categories": ["no_such_category"]}, "categories"),
        ({"categories": "errand"}, "categories"),
        ({"target": {"kind": "nobody"}}, "target.kind"),
        ({"target": {"kind": "team"}}, "target.value"),
        ({"target": {"kind": "team", "value": 999999}}, "target.value"),
        ({"target": {"kind": "skill", "value": "没有人会的技能"}}, "target"),
    ],
)
async def test_bad_input_names_the_field_and_writes_nothing(hub, w, change, field):
    data = {k: v for k, v in {**STORM, **change}.items() if v is not None}
    with pytest.raises(InvalidInput) as refused:
        await emergency.start(hub, w.staff, w.community.id, data)
    assert field in refused.value.fields
    community = await Community.get(id=w.community.id)
    assert community.emergency_started_at is None and community.emergency_reason is None
    assert not await CallOut.exists(community_id=w.community.id)
    assert not await audit(w.community.id, "community.emergency_started")


async def test_a_failing_callout_leaves_emergency_mode_off(hub, w):
    """The call-out's subscriber fails midway: nothing of the switch stays."""

    async def broken(hub, pending):
        raise RuntimeError("the notifications broke")

    hub.events.subscribe(callouts.EVENT, broken)  # this test's hub only
    with pytest.raises(RuntimeError):
        await emergency.start(hub, w.staff, w.community.id, STORM)
    community = await Community.get(id=w.community.id)
    assert community.emergency_started_at is None and community.emergency_callout_id is None
    assert not await CallOut.exists(community_id=w.community.id)
    assert not await audit(w.community.id, "community.emergency_started")


# --- wishes in the chosen categories --------------------------------------------------------


async def test_a_wish_in_a_chosen_category_is_open_at_once(hub, w):
    await emergency.start(hub, w.staff, w.community.id, STORM)
    wish = await wishes.post(hub, w.resident, w.community.id, WISH)
    assert wish.status is WishStatus.OPEN
    trail = await AuditEntry.filter(entity_type="wish", entity_id=wish.id).order_by("id")
    assert [e.action for e in trail] == ["wish.posted", "wish.approved"]
    approved = trail[1]
    assert approved.actor_id is None  # the system approved it, not the poster
    assert approved.before["status"] == "submitted" and approved.after["status"] == "open"
    assert approved.after["approved_by"] == "emergency_mode"
    # The resident hears it was approved, as after a review; volunteers can claim it.
    told = await Notification.filter(event="wish.approved", entity_id=wish.id)
    assert [n.person_id for n in told] == [w.resident.id]
    claimed = await wishes.claim(hub, w.v1, wish.id)
    assert claimed.status is WishStatus.CLAIMED

    other = await wishes.post(hub, w.resident, w.community.id, {**WISH, "category": "repair"})
    assert other.status is WishStatus.SUBMITTED  # not chosen: reviewed as ever

    await emergency.end(hub, w.staff, w.community.id)
    after = await wishes.post(hub, w.resident, w.community.id, WISH)
    assert after.status is WishStatus.SUBMITTED  # back to review


async def test_a_wish_posted_for_a_resident_is_open_at_once_too(hub, w):
    await emergency.start(hub, w.staff, w.community.id, STORM)
    wish = await wishes.post(
        hub, w.grid_worker, w.community.id, {**WISH, "on_behalf_of": w.resident.id}
    )
    assert wish.status is WishStatus.OPEN and wish.resident_id == w.resident.id


# --- the HTTP API ---------------------------------------------------------------------------


async def test_the_api_switches_on_reads_and_switches_off(hub, api, w):
    staff = await login(api, w.staff)
    resident = await login(api, w.resident)
    path = f"/api/v1/communities/{w.community.id}/emergency"

    r = await api.get(path, headers=resident)
    assert r.status_code == 200 and r.json()["active"] is False

    r = await api.post(path, json=STORM, headers=staff)
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["active"] and body["categories"] == STORM["categories"] and body["callout_id"]
    assert body["started_at"].endswith("+08:00")  # in the community's zone

    r = await api.get(path, headers=resident)
    assert r.json()["reason"] == STORM["reason"] and r.json()["callout_id"] is None
    r = await api.get(f"/api/v1/callouts/{body['callout_id']}", headers=staff)
    assert r.status_code == 200 and r.json()["recipients"] == 2

    r = await api.post(path, json=STORM, headers=staff)
    assert r.status_code == 409 and r.json()["error"]["code"] == "emergency_on"

    r = await api.post(path, json={**STORM, "reason": ""}, headers=staff)
    assert r.status_code in (409, 422)

    r = await api.delete(path, headers=staff)  # no body: no note
    assert r.status_code == 200 and r.json()["active"] is False
    r = await api.delete(path, headers=staff)
    assert r.status_code == 409 and r.json()["error"]["code"] == "emergency_off"

    r = await api.post(path, json={**STORM, "categories": ["nope"]}, headers=staff)
    assert r.status_code == 422
    assert r.json()["error"]["details"][0]["field"] == "categories"
    r = await api.request(
        "DELETE", path, json={"note": 5}, headers={**staff, "Accept-Language": "en"}
    )
    assert r.status_code == 422 and r.json()["error"]["details"][0]["field"] == "note"


# --- the pages --------------------------------------------------------------------------------

PAGES = ("/staff/emergency", "/staff/callouts")


@pytest.mark.parametrize("path", PAGES)
async def test_the_pages_are_for_staff_only(w, browser, path):
    other = await World(w.hub).build_other(w)
    assert (await browser.get(path)).status_code == 303  # logged out: to the login page

    await log_in(browser, w.v1.person.phone)
    assert (await browser.get(path)).status_code == 403

    browser.cookies.clear()
    await log_in(browser, other.staff.person.phone)
    assert (await browser.get(path)).status_code == 200  # their own community
    assert (await browser.get(f"{path}?community={w.community.id}")).status_code == 403

    browser.cookies.clear()
    await log_in(browser, w.staff.person.phone)
    assert (await browser.get(path)).status_code == 200
    assert (await browser.get(f"{path}?community=abc")).status_code == 404
    assert (await browser.get(f"{path}?community=99999")).status_code == 404


async def test_a_callout_page_is_for_its_communitys_staff(hub, w, browser):
    other = await World(hub).build_other(w)
    callout = await callouts.call_out(
        hub,
        w.staff,
        w.community.id,
        {"title": "集合", "message": "请到岗", "target": {"kind": "everyone"}},
    )
    for path in (f"/staff/callouts/{callout.id}", f"/staff/callouts/{callout.id}/headcount"):
        browser.cookies.clear()
        assert (await browser.get(path)).status_code == 303
        await log_in(browser, w.v1.person.phone)
        assert (await browser.get(path)).status_code == 404
        browser.cookies.clear()
        await log_in(browser, other.staff.person.phone)
        assert (await browser.get(path)).status_code == 404
        browser.cookies.clear()
        await log_in(browser, w.staff.person.phone)
        assert (await browser.get(path)).status_code == 200
    assert (await browser.get("/staff/callouts/999999")).status_code == 404


async def open_form(browser, path: str) -> str:
    page = await browser.get(path)
    assert page.status_code == 200, page.text
    return csrf(page.text)


async def test_staff_switch_it_on_and_off_on_the_page_and_everyone_sees_the_banner(hub, w, browser):
    await log_in(browser, w.staff.person.phone)
    browser.headers["Accept-Language"] = "en"
    cid = w.community.id
    page = await browser.get(f"/staff/emergency?community={cid}")
    assert "Emergency mode is off." in page.text and "emergency-banner" not in page.text

    token = csrf(page.text)
    sent = await browser.post(
        f"/staff/emergency/start?community={cid}",
        data={
            "csrf_token": token,
            "reason": STORM["reason"],
            "message": STORM["message"],
            "target_kind": "team",
            "team_id": str(w.care.id),
            "categories": ["errand", "elderly_care"],
        },
    )
    assert sent.status_code == 303, sent.text
    shown = await browser.get(sent.headers["location"])
    assert "Emergency mode is on" in shown.text and STORM["reason"] in shown.text
    assert 'data-field="acknowledged">0</span> / <span data-field="recipients">2<' in shown.text
    assert '<script src="/static/emergency.js" defer></script>' in shown.text
    state = await emergency.state(w.staff, cid)
    assert state.active and state.categories == ("errand", "elderly_care")
    callout = await CallOut.get(id=state.callout_id)
    assert callout.target_kind == "team" and callout.target_value == str(w.care.id)
    # Staff's banner links to the emergency page.
    assert 'class="emergency-banner"' in shown.text
    assert f'href="/staff/emergency?community={cid}"' in shown.text

    # A resident sees the banner on every page, in Chinese by default, without the link.
    async with web_client(hub, client=("203.0.113.10", 50002)) as resident:
        await log_in(resident, w.resident.person.phone)
        for path in ("/", "/wishes/mine", "/tasks"):
            seen = await resident.get(path)
            assert seen.status_code == 200, path
            assert 'class="emergency-banner"' in seen.text, path
            assert "紧急状态" in seen.text and STORM["reason"] in seen.text
            assert "/staff/emergency" not in seen.text

        # Staff switch it off: the banner is gone.
        token = csrf(shown.text)
        ended = await browser.post(
            f"/staff/emergency/end?community={cid}", data={"csrf_token": token, "note": "雨停了"}
        )
        assert ended.status_code == 303
        assert "emergency-banner" not in (await resident.get("/")).text
    off = await browser.get(ended.headers["location"])
    assert "Emergency mode is off. New wishes go to review again." in off.text
    [record] = await audit(cid, "community.emergency_ended")
    assert record.after == {"note": "雨停了"}


async def test_the_start_form_shows_each_mistake_beside_its_field(hub, w, browser):
    await log_in(browser, w.staff.person.phone)
    browser.headers["Accept-Language"] = "en"
    cid = w.community.id
    token = await open_form(browser, f"/staff/emergency?community={cid}")
    refused = await browser.post(
        f"/staff/emergency/start?community={cid}",
        data={"csrf_token": token, "reason": "", "message": "集合", "target_kind": "everyone"},
    )
    assert refused.status_code == 422
    assert 'id="e-reason"' in refused.text and 'id="e-team_id"' not in refused.text
    assert "集合" in refused.text  # what was typed stays
    refused = await browser.post(
        f"/staff/emergency/start?community={cid}",
        data={"csrf_token": token, "reason": "暴雨", "message": "集合", "target_kind": "team"},
    )
    assert refused.status_code == 422 and 'id="e-team_id"' in refused.text
    assert not (await emergency.state(w.staff, cid)).active
    assert not await CallOut.exists(community_id=cid)
    no_csrf = await browser.post(
        f"/staff/emergency/start?community={cid}", data={"reason": "暴雨", "message": "集合"}
    )
    assert no_csrf.status_code == 403


async def test_the_callout_page_lists_sends_and_counts(hub, w, browser):
    await log_in(browser, w.staff.person.phone)
    cid = w.community.id
    page = await browser.get(f"/staff/callouts?community={cid}")
    assert "还没有召集" in page.text  # zh-CN by default
    sent = await browser.post(
        f"/staff/callouts?community={cid}",
        data={
            "csrf_token": csrf(page.text),
            "title": "防汛集合",
            "message": "请带好雨具",
            "target_kind": "grid",
            "grid_id": str(w.grid.id),
        },
    )
    assert sent.status_code == 303
    location = sent.headers["location"]
    callout = await CallOut.get(community_id=cid)
    assert location.startswith(f"/staff/callouts/{callout.id}")
    assert callout.target_kind == "grid" and callout.recipients == 2

    shown = await browser.get(location)
    assert "防汛集合" in shown.text and 'data-headcount="' in shown.text
    assert '<script src="/static/emergency.js" defer></script>' in shown.text
    assert " style=" not in shown.text and "<script>" not in shown.text  # CSP: files only

    count = await browser.get(f"/staff/callouts/{callout.id}/headcount")
    assert count.status_code == 200
    assert count.json()["acknowledged"] == 0 and count.json()["recipients"] == 2
    # One volunteer acknowledges through their link: the count moves.
    [row] = await CallOutRecipient.filter(callout_id=callout.id, person_id=w.v1.id)
    await CallOutRecipient.filter(id=row.id).update(acked_at=hub.now())
    assert (await browser.get(f"/staff/callouts/{callout.id}/headcount")).json()[
        "acknowledged"
    ] == 1
    listed = await browser.get(f"/staff/callouts?community={cid}")
    assert "防汛集合" in listed.text and "1 / 2" in listed.text

    bad = await browser.post(
        f"/staff/callouts?community={cid}",
        data={"csrf_token": csrf(listed.text), "title": "", "message": "x", "target_kind": "skill"},
    )
    assert bad.status_code == 422 and 'id="e-title"' in bad.text
    assert await CallOut.filter(community_id=cid).count() == 1


async def test_the_banner_costs_no_extra_read(hub, w):
    """The account every page reads carries the emergency state (one statement)."""
    before = await people.account(w.resident)
    assert before.emergency_reason is None and before.emergency_since is None
    await emergency.start(hub, w.staff, w.community.id, STORM)
    during = await people.account(w.resident)
    assert during.emergency_reason == STORM["reason"]
    assert during.emergency_since == hub.now()
    assert during.community_id == w.community.id
    admin = await people.account(w.admin)  # no community: no banner
    assert admin.emergency_reason is None
