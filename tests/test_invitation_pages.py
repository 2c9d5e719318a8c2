"""The invited person's pages (a browser without script, on SQLite and PostgreSQL): my
invitations (those to answer first), one invitation with accept and decline, the same
buttons on the wish page, the inbox's link; the wish's timeline tells staff every
dispatch step in words. Only the invited person sees or answers an invitation.
"""

from __future__ import annotations

import re

import pytest

from tests.factories import PASSWORD, World
from tests.pages_support import csrf, log_in
from volunteer_hub.models import Invitation, InvitationStatus, Wish, WishStatus
from volunteer_hub.services import invitations, wishes

ERRAND = {"title": "陪同去医院复查", "description": "周四上午复查", "category": "elderly_care"}


@pytest.fixture
async def w(hub):
    return await World(hub).build()


async def dispatched(w: World, n: int = 4):
    """Four elderly-care volunteers; a wish approved (three invited automatically)."""
    team = await w.team("elderly_care", "助老服务队")
    people = [
        await w.volunteer(name, team=team) for name in ("李志愿", "张志愿", "赵志愿", "钱志愿")
    ]
    resident = await w.person("王奶奶")
    wish = await wishes.post(w.hub, resident, w.id, ERRAND)
    await invitations.review(w.hub, w.staff, wish.id, {"decision": "approve"})
    rows = {r.person_id: r for r in await Invitation.filter(wish_id=wish.id)}
    return people[:n], resident, wish, rows


async def test_the_invitations_pages_are_for_the_invited_person_alone(w, browser):
    people, resident, wish, rows = await dispatched(w)
    first = rows[people[0].id]
    r = await browser.get("/invitations", follow_redirects=False)
    assert r.status_code in (302, 303) and "/login" in r.headers["location"]
    await log_in(browser, people[1].person.phone, PASSWORD)
    r = await browser.get(f"/invitations/{first.id}")
    assert r.status_code == 404
    page = await browser.get("/invitations")
    r = await browser.post(f"/invitations/{first.id}/accept", data={"csrf_token": csrf(page.text)})
    assert r.status_code == 404
    r = await browser.post(f"/invitations/{rows[people[1].id].id}/accept", data={})
    assert r.status_code == 403  # no CSRF token
    assert {r.status for r in await Invitation.filter(wish_id=wish.id)} == {
        InvitationStatus.PENDING
    }


async def test_accept_from_my_invitations_in_chinese_and_english(w, browser):
    people, resident, wish, rows = await dispatched(w)
    mine = rows[people[0].id]
    await log_in(browser, people[0].person.phone, PASSWORD)
    page = await browser.get("/invitations")
    assert page.status_code == 200 and '<html lang="zh-CN"' in page.text
    assert "我的邀请" in page.text and "陪同去医院复查" in page.text and "待答复" in page.text
    assert "社区自动邀请" in page.text and "请在" in page.text
    assert resident.person.phone not in page.text and "王奶奶" not in page.text
    english = await browser.get("/invitations", headers={"Accept-Language": "en"})
    assert "My invitations" in english.text and "To answer" in english.text

    inbox = await browser.get("/inbox")
    assert 'href="/invitations"' in inbox.text and "去“我的邀请”答复" in inbox.text

    r = await browser.post(
        f"/invitations/{mine.id}/accept?from=list", data={"csrf_token": csrf(page.text)}
    )
    assert r.status_code == 303 and r.headers["location"] == "/invitations?done=accept"
    after = await browser.get(r.headers["location"])
    assert "谢谢您！您已接受邀请。" in after.text and "已接受" in after.text
    stored = await Wish.get(id=wish.id)
    assert stored.status is WishStatus.CLAIMED and stored.claimer_id == people[0].id
    detail = await browser.get(f"/invitations/{mine.id}")
    assert f'href="/wishes/{wish.id}"' in detail.text
    assert f'action="/invitations/{mine.id}/accept' not in detail.text  # answered


async def test_the_wish_page_answers_and_a_refusal_is_shown_there(w, browser):
    people, resident, wish, rows = await dispatched(w)
    await log_in(browser, people[1].person.phone, PASSWORD)
    page = await browser.get(f"/wishes/{wish.id}")
    invitation = rows[people[1].id]
    assert "社区邀请您认领这个心愿" in page.text
    assert f'action="/invitations/{invitation.id}/decline?from=wish"' in page.text
    assert f'action="/wishes/{wish.id}/claim"' not in page.text  # accepting is the claim
    r = await browser.post(
        f"/invitations/{invitation.id}/decline?from=wish",
        data={"csrf_token": csrf(page.text), "reason": "周四要上班"},
    )
    assert r.status_code == 303
    assert r.headers["location"] == f"/wishes/{wish.id}?done=invitation-decline"
    declined = await Invitation.get(id=invitation.id)
    assert declined.status is InvitationStatus.DECLINED and declined.decline_reason == "周四要上班"
    assert await Invitation.exists(wish_id=wish.id, person_id=people[3].id)  # the next one

    # Someone else claims it meanwhile: accepting then is refused on the page, in words.
    await invitations.accept(w.hub, people[0], rows[people[0].id].id)
    other = rows[people[2].id]
    r = await browser.post("/logout", data={"csrf_token": csrf(page.text)})
    await log_in(browser, people[2].person.phone, PASSWORD)
    page = await browser.get(f"/invitations/{other.id}")
    assert "已不需要" in page.text
    r = await browser.post(f"/invitations/{other.id}/accept", data={"csrf_token": csrf(page.text)})
    assert r.status_code == 409 and 'role="alert"' in r.text and "该心愿已被他人认领" in r.text


async def test_staff_read_every_dispatch_step_in_words_residents_do_not(w, browser):
    people, resident, wish, rows = await dispatched(w)
    await invitations.decline(w.hub, people[0], rows[people[0].id].id, {"reason": "在外地"})
    await invitations.accept(w.hub, people[1], rows[people[1].id].id)
    await log_in(browser, w.staff.person.phone, PASSWORD)
    for lang, words in (
        (
            "zh-CN",
            ("系统自动邀请", "排名第 1", "李志愿 婉拒：在外地", "志愿者接受了邀请", "邀请已撤回"),
        ),
        ("en", ("Invited automatically", "ranked 1", "李志愿 declined: 在外地", "was accepted")),
    ):
        page = await browser.get(f"/wishes/{wish.id}", headers={"Accept-Language": lang})
        history = page.text[page.text.index('id="history-h"') :]
        for word in words:
            assert word in history, (lang, word)
        assert re.search(r"score|\d\.\d\d", history) is None  # words, never raw scores
    console = await browser.get(f"/staff/wishes/{wish.id}")
    listed = console.text[console.text.index('id="invitations-h"') :]
    for word in (
        "李志愿",
        "已婉拒",
        "在外地",
        "张志愿",
        "已接受",
        "赵志愿",
        "已不需要",
        "排名第 3",
    ):
        assert word in listed, word
    await browser.post("/logout", data={"csrf_token": csrf(page.text)})
    await log_in(browser, resident.person.phone, PASSWORD)
    page = await browser.get(f"/wishes/{wish.id}")
    history = page.text[page.text.index('id="history-h"') :]
    assert "婉拒" not in history and "李志愿" not in history and "排名" not in history
