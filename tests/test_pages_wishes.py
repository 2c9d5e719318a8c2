"""Wish pages: a grid worker posts for a resident, a volunteer claims and finishes, the
grid worker confirms; who sees the contact; refusals shown on the page."""

from __future__ import annotations

import re

import httpx
import pytest

from tests.factories import World
from tests.pages_support import csrf, log_in
from volunteer_hub.models import ServiceRecord, Wish, WishStatus
from volunteer_hub.services import wishes
from volunteer_hub.web import create_app


@pytest.fixture
async def second(hub, settings):
    """A second browser, for a second person at the same time."""
    app = create_app(settings, hub=hub, manage_database=False)
    transport = httpx.ASGITransport(app=app, client=("203.0.113.10", 50002))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        yield client


async def post_form(client: httpx.AsyncClient, page_path: str, action: str, **data: str):
    page = await client.get(page_path)
    assert page.status_code == 200, page.text
    return await client.post(action, data={**data, "csrf_token": csrf(page.text)})


async def test_story_one_through_the_pages(hub, browser, second):
    world = await World(hub).build()
    wang = await world.person("王奶奶")
    team = await world.team("elderly_care")
    volunteer = await world.volunteer("李志愿", team=team)

    # The grid worker posts for Ms. Wang.
    await log_in(browser, world.grid_worker.person.phone)
    form = await browser.get("/wishes/new")
    assert "王奶奶" in form.text and wang.person.phone not in form.text  # masked in the list
    posted = await browser.post(
        "/wishes/new",
        data={
            "on_behalf_of": str(wang.id),
            "title": "周四上午陪同去医院",
            "category": "elderly_care",
            "description": "需要有人陪同去社区医院复查",
            "csrf_token": csrf(form.text),
        },
    )
    assert posted.status_code == 303
    wish_path = posted.headers["location"].split("?")[0]
    wish_id = int(wish_path.rsplit("/", 1)[1])
    page = await browser.get(posted.headers["location"])
    assert "等待审核" in page.text and "社区会尽快审核" in page.text

    # Staff approve (the staff console has its own tests); the volunteer claims on the page.
    await wishes.review(hub, world.staff, wish_id, {"decision": "approve"})
    await log_in(second, volunteer.person.phone)
    before = await second.get(wish_path)
    assert wang.person.phone not in before.text and "幸福里3号楼" not in before.text
    claimed = await post_form(second, wish_path, f"{wish_path}/claim")
    assert claimed.status_code == 303
    after = await second.get(claimed.headers["location"])
    assert wang.person.phone in after.text and "幸福里3号楼" in after.text  # contact after claim

    # A second claim is refused on the page, in words.
    other = await world.volunteer("赵志愿", team=team)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=create_app(hub.settings, hub=hub, manage_database=False)),
        base_url="http://testserver",
    ) as third:
        await log_in(third, other.person.phone)
        late = await post_form(third, wish_path, f"{wish_path}/claim")
        assert late.status_code == 409
        assert "该心愿已被他人认领" in late.text

    done = await post_form(second, wish_path, f"{wish_path}/fulfil", hours="2", note="已送到")
    assert done.status_code == 303

    # The grid worker confirms for Ms. Wang and thanks; the hours are recorded.
    confirmed = await post_form(
        browser, wish_path, f"{wish_path}/confirm", rating="5", thanks="谢谢小李"
    )
    assert confirmed.status_code == 303
    final = await browser.get(confirmed.headers["location"])
    assert "已确认" in final.text
    history = re.findall(r"<li><time[^>]*>[^<]*</time> · ([^<]+)</li>", final.text)
    assert history == [
        "已发布",
        "社区已通过",
        "志愿者已认领",
        "志愿者已标记完成",
        "已确认并致谢",
    ]
    record = await ServiceRecord.get(wish_id=wish_id)
    assert record.person_id == volunteer.id and str(record.hours) == "2.00"


async def test_post_form_errors_are_shown_beside_fields(hub, browser):
    world = await World(hub).build()
    resident = await world.person("张阿姨")
    await log_in(browser, resident.person.phone)
    answer = await post_form(
        browser, "/wishes/new", "/wishes/new", title="x", category="elderly_care", description=""
    )
    assert answer.status_code == 422
    assert 'aria-describedby="e-title"' in answer.text
    assert 'aria-describedby="e-description"' in answer.text
    assert not await Wish.exists()
    # A resident has no "for whom" choice: only staff and grid workers post for others.
    assert 'name="on_behalf_of"' not in answer.text


async def test_a_grid_worker_cannot_post_for_someone_outside_their_grid(hub, browser):
    world = await World(hub).build()
    outsider = await world.person("外网格居民", grid=world.other_grid)
    await log_in(browser, world.grid_worker.person.phone)
    form = await browser.get("/wishes/new")
    assert "外网格居民" not in form.text
    answer = await post_form(
        browser,
        "/wishes/new",
        "/wishes/new",
        on_behalf_of=str(outsider.id),
        title="代发心愿",
        category="errand",
        description="帮忙买菜",
    )
    assert answer.status_code == 403
    assert not await Wish.exists()


async def test_my_wishes_and_cancelling(hub, browser):
    world = await World(hub).build()
    resident = await world.person("陈先生")
    wish = await wishes.post(
        hub,
        resident,
        world.community.id,
        {"title": "修水龙头", "category": "repair", "description": "厨房水龙头漏水"},
    )
    await log_in(browser, resident.person.phone)
    mine = await browser.get("/wishes/mine")
    assert "修水龙头" in mine.text and f'href="/wishes/{wish.id}"' in mine.text
    refused = await post_form(browser, f"/wishes/{wish.id}", f"/wishes/{wish.id}/cancel")
    assert refused.status_code == 422  # a reason is needed
    ok = await post_form(
        browser, f"/wishes/{wish.id}", f"/wishes/{wish.id}/cancel", reason="已自己修好"
    )
    assert ok.status_code == 303
    assert (await Wish.get(id=wish.id)).status is WishStatus.CANCELLED


async def test_someone_elses_wish_is_not_found(hub, browser):
    world = await World(hub).build()
    owner = await world.person("甲")
    stranger = await world.person("乙")
    wish = await wishes.post(
        hub, owner, world.community.id, {"title": "买药", "category": "errand", "description": "x"}
    )
    await log_in(browser, stranger.person.phone)
    assert (await browser.get(f"/wishes/{wish.id}")).status_code == 404
    assert (await browser.get("/wishes/99999999999")).status_code == 404
