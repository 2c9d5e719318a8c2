"""What the wish services hand callers: a wish as one actor may see it (``WishView``), the
resident's contact only where the rule allows it, the actions allowed now, and lists read
in a fixed number of queries however long they are."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from tests.factories import World
from volunteer_hub.services import wishes
from volunteer_hub.services.views import WishStatus, WishView

ERRAND = {"title": "帮忙取快递", "description": "腿脚不便，请帮忙取件", "category": "errand"}
SQL_VERBS = ("select", "insert", "update", "delete", "with")


@pytest.fixture
async def w(hub):
    return await World(hub).build()


class _Statements(logging.Handler):
    """Counts the SQL statements Tortoise logs (its public ``tortoise.db_client`` logger)."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.count = 0

    def emit(self, record: logging.LogRecord) -> None:
        if record.getMessage().lstrip().lower().startswith(SQL_VERBS):
            self.count += 1


@contextmanager
def statements() -> Iterator[_Statements]:
    logger = logging.getLogger("tortoise.db_client")
    handler, level = _Statements(), logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    try:
        yield handler
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)


async def open_wish(w: World, resident, by=None, **fields):
    """An approved wish of ``resident``, posted by them or ``by`` (a grid worker) for them."""
    if by is not None:
        fields["on_behalf_of"] = resident.id
    wish = await wishes.post(w.hub, by or resident, w.community.id, {**ERRAND, **fields})
    return await wishes.review(w.hub, w.staff, wish.id, {"decision": "approve"})


async def test_a_list_of_30_takes_as_many_queries_as_a_list_of_1(w):
    team = await w.team("repair")
    claimers = [await w.volunteer(f"志愿者{n}", team=team) for n in range(3)]
    onlooker = await w.volunteer("旁观者", team=team)
    residents = [await w.person(f"居民{n}") for n in range(10)]
    for n in range(30):  # open and claimed, by several residents and claimers
        wish = await open_wish(w, residents[n % 10], title=f"心愿{n:02}")
        if n % 2:
            await wishes.claim(w.hub, claimers[n % 3], wish.id)

    for actor in (onlooker, claimers[1], w.staff, residents[0]):
        counted = {}
        for limit in (1, 30):
            with statements() as sql:
                listed = await wishes.list_wishes(w.hub, actor, w.community.id, limit=limit)
            assert listed and len(listed) <= limit
            assert all(isinstance(v, WishView) for v in listed)
            counted[limit] = sql.count
        assert counted[1] == counted[30], (actor, counted)
        assert counted[1] > 0  # the handler does see Tortoise's statements
    # Staff see the 30, a resident their own 3.
    assert len(await wishes.list_wishes(w.hub, w.staff, w.community.id)) == 30
    assert len(await wishes.list_wishes(w.hub, residents[0], w.community.id)) == 3

    with statements() as one:
        await wishes.my_claims(w.hub, claimers[0], limit=1)
    with statements() as many:
        assert len(await wishes.my_claims(w.hub, claimers[0])) == 5
    assert one.count == many.count


async def test_the_view_carries_the_contact_only_for_whom_the_rule_allows(w):
    team = await w.team("repair")
    claimer = await w.volunteer("认领人", team=team)
    onlooker = await w.volunteer("旁观者", team=team)
    resident = await w.person("王奶奶")  # in the grid of w.grid_worker, who posts for her
    wish = await open_wish(w, resident, by=w.grid_worker)

    def sees(view: WishView) -> bool:
        return view.contact is not None

    viewers = (claimer, onlooker, resident, w.staff, w.grid_worker)
    views = {a.id: await wishes.view(w.hub, a, wish.id) for a in viewers}
    assert [sees(views[a.id]) for a in viewers] == [False, False, True, True, True]
    assert views[resident.id].contact.phone == resident.person.phone
    assert views[resident.id].contact.address == resident.person.address
    assert views[claimer.id].resident.name == "王奶奶"  # the name, not the phone

    await wishes.claim(w.hub, claimer, wish.id)
    listed = await wishes.list_wishes(w.hub, claimer, w.community.id)
    assert [sees(v) for v in listed] == [True]  # serving: the claimer sees it
    assert sees(await wishes.view(w.hub, claimer, wish.id))
    assert not sees(await wishes.view(w.hub, onlooker, wish.id))
    # The claimer's name for those who see the contact, and for the claimer.
    assert (await wishes.view(w.hub, resident, wish.id)).claimer_name == "认领人"
    assert (await wishes.view(w.hub, claimer, wish.id)).claimer_name == "认领人"
    assert (await wishes.view(w.hub, onlooker, wish.id)).claimer_name is None

    await wishes.fulfil(w.hub, claimer, wish.id)
    await wishes.confirm(w.hub, resident, wish.id, {"rating": 5})
    assert not sees(await wishes.view(w.hub, claimer, wish.id))  # served: no longer
    assert sees(await wishes.view(w.hub, w.grid_worker, wish.id))


async def test_the_view_says_which_actions_this_actor_may_take_now(w):
    team = await w.team("repair")
    volunteer = await w.volunteer("志愿者", team=team)
    resident = await w.person("王奶奶")
    neighbour = await w.person("邻居")  # no volunteer: may not claim
    submitted = await wishes.post(w.hub, resident, w.community.id, ERRAND)

    def allowed(view: WishView) -> set[str]:
        names = ("claim", "fulfil", "confirm", "cancel", "review", "escalate", "manage")
        return {n for n in names if getattr(view, f"may_{n}")}

    async def actions(actor, wish_id: int) -> set[str]:
        return allowed(await wishes.view(w.hub, actor, wish_id))

    assert await actions(resident, submitted.id) == {"cancel"}
    assert await actions(w.staff, submitted.id) == {"cancel", "review", "escalate", "manage"}
    await wishes.review(w.hub, w.staff, submitted.id, {"decision": "approve"})
    assert await actions(volunteer, submitted.id) == {"claim"}
    assert await actions(resident, submitted.id) == {"cancel"}  # not their own to claim
    neighbour_view = await wishes.list_wishes(w.hub, neighbour, w.community.id)
    assert neighbour_view == []

    await wishes.claim(w.hub, volunteer, submitted.id)
    assert await actions(volunteer, submitted.id) == {"fulfil"}
    await wishes.fulfil(w.hub, volunteer, submitted.id)
    assert await actions(volunteer, submitted.id) == set()
    assert await actions(resident, submitted.id) == {"confirm"}
    await wishes.confirm(w.hub, resident, submitted.id, {"rating": 4})
    assert await actions(resident, submitted.id) == set()
    assert await actions(w.staff, submitted.id) == {"manage"}
    view = await wishes.view(w.hub, w.staff, submitted.id)
    assert view.status is WishStatus.CONFIRMED and view.rating == 4


async def test_may_claim_in_the_view_follows_the_one_claim_rule(w):
    """The view's ``may_claim`` and ``claim`` agree: both are ``serving_violations``."""
    repair = await w.team("repair")
    other = await w.team("elderly_care")
    fixer = await w.volunteer("修理工", team=repair)
    runner = await w.volunteer("跑腿", team=other)
    resident = await w.person("王奶奶")
    wish = await open_wish(w, resident, category="repair", title="修水龙头")
    for actor in (fixer, runner):
        view = await wishes.view(w.hub, actor, wish.id)
        stored = await wishes.get_wish(w.hub, actor, wish.id)
        refused = await wishes.serving_violations(w.hub, actor, stored)
        assert view.may_claim is (not refused), actor
    assert (await wishes.view(w.hub, fixer, wish.id)).may_claim
    assert not (await wishes.view(w.hub, runner, wish.id)).may_claim
    await wishes.claim(w.hub, fixer, wish.id)
