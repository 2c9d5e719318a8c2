"""The staff console's numbers (services/reports.py), checked against data built through
the real services: wishes through their whole lifecycle, shifts checked in and out."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from tests.factories import World
from volunteer_hub.errors import NotFound, PermissionDenied
from volunteer_hub.models import Escalation, Team, Wish
from volunteer_hub.services import reports, tasks, wishes
from volunteer_hub.services.access import Actor

SHANGHAI = ZoneInfo("Asia/Shanghai")
ERRAND = {"title": "帮忙取快递", "description": "腿脚不便，请帮忙取件", "category": "errand"}


@pytest.fixture
async def w(hub):
    return await World(hub).build()


async def post(w: World, resident: Actor | None = None, **fields):
    resident = resident or await w.person("王奶奶")
    return await wishes.post(w.hub, resident, w.community.id, {**ERRAND, **fields})


async def approved(w: World, **fields):
    wish = await post(w, **fields)
    return await wishes.review(w.hub, w.staff, wish.id, {"decision": "approve"})


async def serve_shift(
    w: World, volunteer: Actor, team: Team | None, start: datetime, hours: float
) -> Decimal:
    """Staff post a one-off shift; the volunteer signs up, checks in at the start and out
    at the end. The clock moves to the shift's end (it must be before the start)."""
    assert w.hub.now() < start
    end = start + timedelta(hours=hours)
    task = await tasks.create_task(
        w.hub,
        w.staff,
        w.community.id,
        {
            "title": "巡逻",
            "team_id": team.id if team else None,
            "starts_at": start,
            "ends_at": end,
            "capacity": 5,
        },
    )
    signup = await tasks.sign_up(w.hub, volunteer, task.id)
    w.hub.clock.now = start
    await tasks.check_in(w.hub, volunteer, signup.id)
    w.hub.clock.now = end
    record = await tasks.check_out(w.hub, volunteer, signup.id)
    return record.hours


# --- who may read them --------------------------------------------------------------------


@pytest.mark.parametrize(
    "read",
    [
        reports.overview,
        reports.review_queue,
        reports.escalation_board,
        reports.hours_by_team,
        reports.workload,
        lambda hub, actor, cid: reports.wish_funnel(hub, actor, cid, since=hub.now()),
    ],
)
async def test_only_staff_of_the_community_and_admins_read_reports(w, read):
    other = await World(w.hub).build_other(w)
    volunteer = await w.volunteer("志愿者", team=await w.team("repair"))
    for outsider in (volunteer, w.grid_worker, other.staff):
        with pytest.raises(PermissionDenied):
            await read(w.hub, outsider, w.community.id)
    await read(w.hub, w.staff, w.community.id)
    await read(w.hub, w.admin, w.community.id)
    with pytest.raises(NotFound):
        await read(w.hub, w.admin, 999_999)


# --- the index, the queue and the board ---------------------------------------------------


async def test_overview_counts_what_needs_attention(w):
    volunteer = await w.volunteer("小李", team=await w.team("repair"))
    await post(w)
    await post(w)
    await approved(w)
    claimed = await approved(w, needed_by=date(2026, 12, 2))
    await wishes.claim(w.hub, volunteer, claimed.id)
    blue = await approved(w)
    await wishes.escalate(w.hub, w.staff, blue.id, {"level": "blue", "referral": "街道"})
    red = await post(w)
    await wishes.escalate(w.hub, w.staff, red.id, {"level": "red"})
    done = await approved(w)
    await wishes.escalate(w.hub, w.staff, done.id, {"level": "yellow"})
    await wishes.cancel(w.hub, w.staff, done.id, {"reason": "已解决"})  # no longer counts
    await post(await World(w.hub).build_other(w))  # another community's
    w.hub.clock.advance(days=2)  # the claimed wish was needed by yesterday

    seen = await reports.overview(w.hub, w.staff, w.community.id)

    assert seen == reports.Overview(
        to_review=3, open=2, claimed=1, overdue=1, escalated={"blue": 1, "yellow": 0, "red": 1}
    )


async def test_review_queue_is_the_submitted_wishes_oldest_first(w):
    first = await post(w)
    await approved(w)
    second = await post(w, await w.person("李大爷"))
    queue = await reports.review_queue(w.hub, w.staff, w.community.id)
    assert [q.id for q in queue] == [first.id, second.id]
    assert queue[1].resident_name == "李大爷"
    assert queue[1].typed_in_by is None  # the resident posted it


async def test_review_queue_names_who_typed_a_wish_in_for_a_resident(w):
    resident = await w.person("李大爷")
    typed = await wishes.post(
        w.hub, w.staff, w.community.id, {**ERRAND, "on_behalf_of": resident.id}
    )
    (queued,) = await reports.review_queue(w.hub, w.staff, w.community.id)
    assert (queued.id, queued.resident_name) == (typed.id, "李大爷")
    assert queued.typed_in_by == w.staff.person.name
    assert queued.levels == ("blue", "yellow", "red")  # not escalated yet


async def test_a_wish_may_be_raised_only_above_its_level_and_only_while_active(w):
    wish = await approved(w)
    await wishes.escalate(w.hub, w.staff, wish.id, {"level": "yellow"})
    board = await reports.escalation_board(w.hub, w.staff, w.community.id)
    assert [(x.id, x.levels) for x in board.wishes] == [(wish.id, ("red",))]
    await wishes.cancel(w.hub, w.staff, wish.id, {"reason": "重复"})
    row = await Wish.get(id=wish.id)
    assert reports.higher_levels(row) == ()


async def test_escalation_board_sorts_active_wishes_into_levels_and_overdue(w):
    blue = await approved(w)
    await wishes.escalate(w.hub, w.staff, blue.id, {"level": "blue"})
    yellow = await approved(w, needed_by=date(2026, 12, 1))
    await wishes.escalate(w.hub, w.staff, yellow.id, {"level": "yellow"})
    overdue = await approved(w, needed_by=date(2026, 12, 1))
    await approved(w, needed_by=date(2026, 12, 9))  # not yet due: not on the board
    closed = await approved(w)
    await wishes.escalate(w.hub, w.staff, closed.id, {"level": "red"})
    await wishes.cancel(w.hub, w.staff, closed.id, {"reason": "重复"})
    w.hub.clock.advance(days=1)

    board = await reports.escalation_board(w.hub, w.staff, w.community.id)

    assert {k: [x.id for x in v] for k, v in board.columns.items()} == {
        "blue": [blue.id],
        "yellow": [yellow.id],
        "red": [],
    }
    assert [x.id for x in board.overdue] == [overdue.id]
    assert board.is_overdue(board.columns["yellow"][0])
    assert not board.is_overdue(board.columns["blue"][0])
    assert board.columns["blue"][0].escalation is Escalation.BLUE


# --- dashboards ---------------------------------------------------------------------------


async def test_wish_funnel_counts_each_stage_reached_and_each_way_out(w, clock):
    volunteer = await w.volunteer("小李", team=await w.team("repair"))
    await approved(w)  # before the period: not counted
    since = clock.now + timedelta(minutes=1)
    clock.advance(minutes=5)

    confirmed = await approved(w)
    await wishes.claim(w.hub, volunteer, confirmed.id)
    await wishes.fulfil(w.hub, volunteer, confirmed.id, {"hours": "1.5"})
    await wishes.confirm(w.hub, w.staff, confirmed.id, {"rating": 5})
    fulfilled = await approved(w)
    await wishes.claim(w.hub, volunteer, fulfilled.id)
    await wishes.fulfil(w.hub, volunteer, fulfilled.id)
    dropped = await approved(w)
    await wishes.claim(w.hub, volunteer, dropped.id)
    await wishes.cancel(w.hub, w.staff, dropped.id, {"reason": "居民不需要了"})
    rejected = await post(w)
    await wishes.review(w.hub, w.staff, rejected.id, {"decision": "reject", "reason": "不受理"})
    await approved(w, needed_by=date(2026, 12, 1))
    await post(w)  # waiting for review
    await post(await World(w.hub).build_other(w))  # another community's
    clock.advance(days=1)
    assert await wishes.expire_overdue(w.hub, w.community.id) == 1

    funnel = await reports.wish_funnel(w.hub, w.staff, w.community.id, since=since)

    assert funnel.stages == [
        ("submitted", 6),
        ("open", 4),
        ("claimed", 3),
        ("fulfilled", 2),
        ("confirmed", 1),
    ]
    assert funnel.exits == [("rejected", 1), ("cancelled", 1), ("expired", 1)]
    assert funnel.posted == 6


def test_month_starts_cross_the_year():
    assert reports.month_starts(date(2027, 2, 14), 6) == (
        date(2026, 9, 1),
        date(2026, 10, 1),
        date(2026, 11, 1),
        date(2026, 12, 1),
        date(2027, 1, 1),
        date(2027, 2, 1),
    )


async def test_hours_per_team_per_month_in_the_community_zone(w, clock):
    patrol = await w.team("silver_patrol", "银发巡逻队")
    repair = await w.team("repair", "维修队")
    idle_team = await w.team("legal_aid", "法律援助队")
    a = await w.volunteer("老张", team=patrol)
    b = await w.volunteer("小王", team=repair)
    await w.volunteer("小赵", team=repair)  # a member who serves nothing

    # December (Shanghai): 2 h patrol, 1.5 h repair, 3 h outside a team (a wish).
    await serve_shift(w, a, patrol, datetime(2026, 12, 2, 19, tzinfo=SHANGHAI), 2)
    await serve_shift(w, b, repair, datetime(2026, 12, 3, 9, tzinfo=SHANGHAI), 1.5)
    wish = await approved(w)
    await wishes.claim(w.hub, b, wish.id)
    await wishes.fulfil(w.hub, b, wish.id, {"hours": "3"})
    await wishes.confirm(w.hub, w.staff, wish.id, {"rating": 4})
    # 1 January 07:00 in Shanghai is still 31 December in UTC: it is January's.
    new_year = datetime(2027, 1, 1, 7, tzinfo=SHANGHAI)
    assert new_year.astimezone(UTC).month == 12
    await serve_shift(w, a, patrol, new_year, 2.25)
    clock.now = datetime(2027, 1, 10, tzinfo=UTC)

    report = await reports.hours_by_team(w.hub, w.staff, w.community.id)

    assert report.months == reports.month_starts(date(2027, 1, 10), 6)
    assert report.since == date(2026, 8, 1)
    zero = Decimal("0.00")
    rows = {t.name: t.by_month for t in report.teams}
    assert list(rows) == ["银发巡逻队", "维修队", "法律援助队", None]
    assert rows["银发巡逻队"] == (zero,) * 4 + (Decimal("2.00"), Decimal("2.25"))
    assert rows["维修队"] == (zero,) * 4 + (Decimal("1.50"), zero)
    assert rows["法律援助队"] == (zero,) * 6
    assert rows[None] == (zero,) * 4 + (Decimal("3.00"), zero)
    assert report.teams[0].team_id == patrol.id and report.teams[2].team_id == idle_team.id
    assert report.teams[0].total == Decimal("4.25")
    assert report.top == Decimal("3.00")

    # Six months later December has left the window.
    clock.now = datetime(2027, 6, 1, tzinfo=UTC)
    later = await reports.hours_by_team(w.hub, w.staff, w.community.id)
    assert {t.name: t.total for t in later.teams} == {
        "银发巡逻队": Decimal("2.25"),
        "维修队": zero,
        "法律援助队": zero,
    }


async def test_workload_shows_who_is_swamped_and_who_is_idle(w, clock):
    repair = await w.team("repair", "维修队")
    busy = await w.volunteer("忙碌的老张", team=repair)
    booked = await w.volunteer("排了班的小王", team=repair)
    idle = await w.volunteer("闲着的小赵", team=repair)
    also_idle = await w.volunteer("阿静", team=repair)
    await w.person("只是居民")  # not a volunteer: not listed

    await serve_shift(w, busy, repair, datetime(2026, 12, 2, 9, tzinfo=SHANGHAI), 3)
    await serve_shift(w, booked, repair, datetime(2026, 12, 3, 9, tzinfo=SHANGHAI), 1)
    for _ in range(2):
        wish = await approved(w)
        await wishes.claim(w.hub, busy, wish.id)
    # An upcoming shift for the second; a past and a cancelled one do not count.
    ahead = await tasks.create_task(
        w.hub,
        w.staff,
        w.community.id,
        {
            "title": "义诊",
            "starts_at": datetime(2026, 12, 20, 9, tzinfo=SHANGHAI),
            "ends_at": datetime(2026, 12, 20, 11, tzinfo=SHANGHAI),
            "capacity": 3,
        },
    )
    await tasks.sign_up(w.hub, booked, ahead.id)
    dropped = await tasks.sign_up(w.hub, idle, ahead.id)
    await tasks.cancel_signup(w.hub, idle, dropped.id)

    load = await reports.workload(w.hub, w.staff, w.community.id)

    assert load.month == date(2026, 12, 1)
    assert [(v.name, v.hours, v.open_claims, v.upcoming_shifts) for v in load.volunteers] == [
        ("忙碌的老张", Decimal("3.00"), 2, 0),
        ("排了班的小王", Decimal("1.00"), 0, 1),
        ("闲着的小赵", Decimal("0.00"), 0, 0),  # the idle by name
        ("阿静", Decimal("0.00"), 0, 0),
    ]
    assert [v.person_id for v in load.busy] == [busy.id, booked.id]
    assert {v.person_id for v in load.idle} == {idle.id, also_idle.id}

    # Next month the hours start again from zero; the claims are still open.
    clock.now = datetime(2026, 12, 31, 16, 30, tzinfo=UTC)  # 1 January 00:30 in Shanghai
    january = await reports.workload(w.hub, w.staff, w.community.id)
    assert january.month == date(2027, 1, 1)
    first = january.volunteers[0]
    assert (first.name, first.hours, first.open_claims) == ("忙碌的老张", Decimal("0.00"), 2)
    assert {v.person_id for v in january.idle} == {booked.id, idle.id, also_idle.id}
