"""Handing back a claimed wish: it reopens, the resident and staff are told, and the next
volunteer is invited (unless staff dispatch the category by hand); racing a claim or a
fulfil, exactly one change wins. The note left at fulfilment reaches the resident.
"""

from __future__ import annotations

import asyncio

import pytest

from tests.factories import PASSWORD, World
from tests.pages_support import csrf, log_in
from volunteer_hub.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from volunteer_hub.models import (
    AuditEntry,
    Community,
    Notification,
    Person,
    Role,
    RoleAssignment,
    Wish,
    WishStatus,
)
from volunteer_hub.services import invitations, wishes
from volunteer_hub.services.access import Actor, RoleGrant
from volunteer_hub.testing import login

ERRAND = {"title": "帮忙取快递", "description": "腿脚不便，快递在驿站", "category": "errand"}


@pytest.fixture
async def w(hub):
    return await World(hub).build()


async def open_wish(w: World, resident: Actor | None = None, data: dict | None = None) -> Wish:
    resident = resident or await w.person("王奶奶")
    wish = await wishes.post(w.hub, resident, w.community.id, data or ERRAND)
    return await wishes.review(w.hub, w.staff, wish.id, {"decision": "approve"})


async def volunteers(w: World, *names: str) -> list[Actor]:
    team = await w.team("elderly_care", name="敬老队")
    return [await w.volunteer(name, team=team) for name in names]


async def invited(wish_id: int) -> list[int]:
    rows = await AuditEntry.filter(
        entity_type="wish", entity_id=wish_id, action="wish.invited"
    ).order_by("id")
    return [r.after["person_id"] for r in rows]


async def test_the_claimer_hands_back_and_the_wish_reopens_for_the_next_volunteer(w):
    resident = await w.person("王奶奶")
    first, second = await volunteers(w, "小李", "小张")
    wish = await open_wish(w, resident)
    await wishes.claim(w.hub, first, wish.id)

    back = await invitations.hand_back(w.hub, first, wish.id, {"reason": "临时出差"})

    assert back.status is WishStatus.OPEN and back.claimer_id is None
    stored = await Wish.get(id=wish.id)
    assert stored.status is WishStatus.OPEN and stored.claimer_id is None
    assert stored.claimed_at is None
    # The next volunteer (not the one who gave it back) is invited, by the community.
    assert await invited(wish.id) == [second.id]
    invitation = await AuditEntry.get(entity_id=wish.id, action="wish.invited")
    assert invitation.actor_id is None
    entry = await AuditEntry.get(entity_id=wish.id, action="wish.handed_back")
    assert entry.actor_id == first.id
    assert entry.before["claimer_id"] == first.id and entry.after["claimer_id"] is None
    assert entry.after["reason"] == "临时出差"
    # The resident and staff hear that it is open again, and why; the invitee is invited.
    told = await Notification.filter(event="wish.handed_back").values_list("person_id", "body")
    told_ids = {person_id for person_id, _ in told}
    assert resident.id in told_ids and w.staff.id in told_ids
    assert first.id not in told_ids
    assert all("小李" in body and "临时出差" in body for _, body in told)
    assert all("已邀请其他志愿者" in body for _, body in told)
    assert await Notification.exists(event="wish.invited", person_id=second.id)
    # Anyone may take it again, the one who handed it back included.
    again = await wishes.claim(w.hub, second, wish.id)
    assert again.claimer_id == second.id


async def test_nobody_is_invited_twice_and_manual_dispatch_invites_nobody(w):
    first, second, third = await volunteers(w, "小李", "小张", "小王")
    wish = await open_wish(w)
    await invitations.invite_to_wish(w.hub, w.staff, wish.id, {"person_id": second.id})
    await wishes.claim(w.hub, first, wish.id)
    await invitations.hand_back(w.hub, first, wish.id)
    assert await invited(wish.id) == [second.id, third.id]  # second was asked already

    await Community.filter(id=w.community.id).update(manual_dispatch_categories=["errand"])
    await wishes.claim(w.hub, third, wish.id)
    await invitations.hand_back(w.hub, third, wish.id)
    assert await invited(wish.id) == [second.id, third.id]  # staff choose by hand now
    body = await Notification.filter(event="wish.handed_back").order_by("-id").first()
    assert "已邀请其他志愿者" not in body.body


async def test_only_the_claimer_hands_back_and_only_a_claimed_wish(w):
    resident = await w.person("王奶奶")
    first, second = await volunteers(w, "小李", "小张")
    wish = await open_wish(w, resident)

    with pytest.raises(PermissionDenied):  # open: nobody claimed it
        await invitations.hand_back(w.hub, first, wish.id)
    await wishes.claim(w.hub, first, wish.id)
    for someone in (second, resident, w.staff):
        with pytest.raises(PermissionDenied):
            await invitations.hand_back(w.hub, someone, wish.id)
    with pytest.raises(InvalidInput) as bad:
        await invitations.hand_back(w.hub, first, wish.id, {"reason": "x" * 501})
    assert bad.value.fields == ["reason"]
    outsider = await World(w.hub).build_other(w)
    stranger = await outsider.volunteer("外人", team=await outsider.team("elderly_care"))
    with pytest.raises(NotFound):
        await invitations.hand_back(w.hub, stranger, wish.id)

    await wishes.fulfil(w.hub, first, wish.id, {"note": "已送到家门口"})
    with pytest.raises(Conflict):
        await invitations.hand_back(w.hub, first, wish.id)
    assert (await Wish.get(id=wish.id)).status is WishStatus.FULFILLED
    assert not await AuditEntry.exists(entity_id=wish.id, action="wish.handed_back")


async def crowd(community_id: int, n: int) -> list[Actor]:
    """Volunteers inserted in bulk (this is about the race, not registration)."""
    phones = [f"1370000{i:04d}" for i in range(n)]
    await Person.bulk_create(
        [
            Person(name=f"志愿者{i}", phone=p, community_id=community_id)
            for i, p in enumerate(phones)
        ]
    )
    people = await Person.filter(phone__in=phones).order_by("id")
    await RoleAssignment.bulk_create(
        [
            RoleAssignment(person_id=p.id, community_id=community_id, role="volunteer")
            for p in people
        ]
    )
    grant = frozenset({RoleGrant(community_id, Role.VOLUNTEER)})
    return [Actor(p, grant) for p in people]


async def test_a_hand_back_racing_claims_and_a_fulfil_lets_exactly_one_change_win(w):
    """The claimer hands back (five times at once) while they also mark it done and 30
    others try to claim it: either the fulfil won (nothing reopened, nobody else claimed),
    or one hand-back won and then at most one claim."""
    (claimer,) = await volunteers(w, "小李")
    others = await crowd(w.community.id, 30)
    for _round in range(3):
        wish = await open_wish(w)
        await wishes.claim(w.hub, claimer, wish.id)
        calls = [invitations.hand_back(w.hub, claimer, wish.id) for _ in range(5)]
        calls.append(wishes.fulfil(w.hub, claimer, wish.id, {"note": "好了"}))
        calls += [wishes.claim(w.hub, p, wish.id) for p in others]
        results = await asyncio.gather(*calls, return_exceptions=True)

        refusals = (Conflict, PermissionDenied, NotFound)
        unexpected = [
            r for r in results if isinstance(r, Exception) and not isinstance(r, refusals)
        ]
        assert not unexpected, unexpected
        # A fulfilled wish is no longer shown to other volunteers: a claim that reads it
        # after the fulfil committed is not found (404); only then.
        hidden = any(isinstance(r, NotFound) for r in results)
        handed = await AuditEntry.filter(entity_id=wish.id, action="wish.handed_back").count()
        fulfilled = await AuditEntry.filter(entity_id=wish.id, action="wish.fulfilled").count()
        claims = await AuditEntry.filter(entity_id=wish.id, action="wish.claimed").count()
        stored = await Wish.get(id=wish.id)
        assert handed + fulfilled == 1
        if fulfilled:
            assert stored.status is WishStatus.FULFILLED and stored.claimer_id == claimer.id
            assert claims == 1
        else:
            assert not hidden
            assert claims in (1, 2)
            if claims == 2:
                assert stored.status is WishStatus.CLAIMED and stored.claimer_id != claimer.id
            else:
                assert stored.status is WishStatus.OPEN and stored.claimer_id is None


async def test_hand_back_over_http(w, api):
    first, second = await volunteers(w, "小李", "小张")
    wish = await open_wish(w)
    headers = await login(api, first)
    assert (await api.post(f"/api/v1/wishes/{wish.id}/claim", headers=headers)).status_code == 200

    r = await api.post(
        f"/api/v1/wishes/{wish.id}/hand-back", json={"reason": "生病了"}, headers=headers
    )
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "open" and r.json()["claimer_id"] is None
    again = await api.post(f"/api/v1/wishes/{wish.id}/hand-back", json={}, headers=headers)
    assert again.status_code == 403
    bad = await api.post(f"/api/v1/wishes/{wish.id}/hand-back", json={"reason": 5}, headers=headers)
    assert bad.status_code == 422 and bad.json()["error"]["details"][0]["field"] == "reason"


async def test_the_wish_page_hands_back_and_shows_the_note_to_the_resident(w, browser):
    resident = await w.person("王奶奶")
    (helper,) = await volunteers(w, "小李")
    wish = await open_wish(w, resident)
    await wishes.claim(w.hub, helper, wish.id)
    await log_in(browser, helper.person.phone, PASSWORD)
    page = await browser.get(f"/wishes/{wish.id}")
    assert f'action="/wishes/{wish.id}/hand-back"' in page.text
    r = await browser.post(
        f"/wishes/{wish.id}/hand-back", data={"reason": "临时出差", "csrf_token": csrf(page.text)}
    )
    assert r.status_code == 303 and r.headers["location"].endswith("done=hand-back")
    page = await browser.get(r.headers["location"])
    assert "已重新开放" in page.text or "重新开放" in page.text
    assert f'action="/wishes/{wish.id}/hand-back"' not in page.text

    # Claimed again and done, with a note: the resident reads it on the page and in the message.
    await wishes.claim(w.hub, helper, wish.id)
    await wishes.fulfil(w.hub, helper, wish.id, {"note": "快递放在门口鞋柜上了"})
    message = await Notification.get(event="wish.fulfilled", person_id=resident.id)
    assert "快递放在门口鞋柜上了" in message.body
    await browser.post("/logout", data={"csrf_token": csrf(page.text)})
    await log_in(browser, resident.person.phone, PASSWORD)
    for lang in ("zh-CN", "en"):
        page = await browser.get(f"/wishes/{wish.id}", headers={"Accept-Language": lang})
        assert "快递放在门口鞋柜上了" in page.text
    assert "The volunteer&#39;s note" in page.text or "The volunteer's note" in page.text


async def test_the_note_is_not_shown_to_other_volunteers(w, api):
    resident = await w.person("王奶奶")
    helper, other = await volunteers(w, "小李", "小张")
    wish = await open_wish(w, resident)
    await wishes.claim(w.hub, helper, wish.id)
    await wishes.fulfil(w.hub, helper, wish.id, {"note": "门牌 3-501"})
    seen = {}
    for who in (resident, helper, w.staff):
        seen[who.id] = (await wishes.view(w.hub, who, wish.id)).fulfil_note
    assert set(seen.values()) == {"门牌 3-501"}
    r = await api.get(f"/api/v1/wishes/{wish.id}", headers=await login(api, resident))
    assert r.json()["fulfil_note"] == "门牌 3-501"
    with pytest.raises(NotFound):  # fulfilled wishes are not shown to other volunteers at all
        await wishes.view(w.hub, other, wish.id)
