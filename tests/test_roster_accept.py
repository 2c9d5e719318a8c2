"""Accepting a roster plan writes in bulk (issue 14): its invitations, their audit entries and
events, and their messages and deliveries in a few statements per batch, in one transaction,
with exactly the rows one invitation at a time writes. On SQLite and PostgreSQL. The clock
starts on Tuesday 2026-12-01 at 09:00 in Shanghai; plans are for the next week."""

from __future__ import annotations

import asyncio
import re
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from asyncpg.exceptions import RaiseError
from tortoise.exceptions import IntegrityError, OperationalError

from tests.factories import PASSWORD, World
from tests.pages_support import statements_for
from volunteer_hub import db
from volunteer_hub.models import (
    AuditEntry,
    Delivery,
    Invitation,
    InvitationStatus,
    Notification,
    Occurrence,
    Person,
    RosterAssignment,
    RosterPlan,
    RosterPlanStatus,
    Signup,
    SignupStatus,
    Task,
)
from volunteer_hub.services import channels, dispatch, people, rostering, tasks
from volunteer_hub.services.people import get_community
from volunteer_hub.services.uow import unit_of_work
from volunteer_hub.testing import confirmed_address

SH = ZoneInfo("Asia/Shanghai")
MONDAY = date(2026, 12, 7)


def at(day: date, hour: int, minute: int = 0) -> datetime:
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=SH)


async def care_world(w: World, *, capacity: int = 2, helpers: int = 5) -> World:
    """A care team of ``helpers`` volunteers and two of its tasks next week (morning rounds on
    Tuesday and Thursday, an afternoon visit on Wednesday), ``capacity`` places each. The
    first helper reads English, the second has a confirmed SMS address, the third is told
    through the grid worker (who has one too)."""
    await channels.configure(
        w.hub,
        w.staff,
        w.id,
        {"code": "webhook", "name": "短信网关", "settings": {"url": "http://127.0.0.1:9/sms"}},
    )
    team = w.care = await w.team("elderly_care", "助老队")
    w.helpers = [await w.volunteer(f"助老{n}", team=team) for n in range(helpers)]
    if helpers >= 3:
        await people.set_locale(w.hub, w.helpers[0], "en")
        await confirmed_address(w.hub, w.helpers[1], "webhook", w.helpers[1].person.phone)
        await confirmed_address(w.hub, w.grid_worker, "webhook", w.grid_worker.person.phone)
        await channels.set_reached_through_grid_worker(
            w.hub, w.staff, w.helpers[2].id, {"reached_through_grid_worker": True}
        )
    for title, start, hours, rule in (
        ("晨间探访", at(MONDAY + timedelta(days=1), 8), 2, "FREQ=WEEKLY;BYDAY=TU,TH"),
        ("午后陪护", at(MONDAY + timedelta(days=2), 14), 3, None),
    ):
        await tasks.create_task(
            w.hub,
            w.staff,
            w.id,
            {
                "title": title,
                "team_id": team.id,
                "starts_at": start,
                "ends_at": start + timedelta(hours=hours),
                "capacity": capacity,
                "location": "幸福里活动室",
                **({"rrule": rule} if rule else {}),
            },
        )
    return w


async def one_by_one(hub, w: World, plan_id: int) -> int:
    """The per-row way: each assignment of the plan invited in its own change, as staff's
    invitation to a shift writes it (``dispatch.invite_to_occurrence``)."""
    community = await get_community(w.id)
    rows = await RosterAssignment.filter(plan_id=plan_id).order_by(
        "occurrence_start", "task_id", "-score", "id"
    )
    for row in rows:
        task = await Task.get(id=row.task_id).select_related("community")
        async with unit_of_work(hub, w.staff.id) as uow:
            capacity = await tasks.lock_task(task.id)
            occurrence = await tasks.lock_occurrence(task, row.occurrence_start, capacity)
            await dispatch.invite_to_occurrence(
                uow,
                community,
                occurrence,
                row.person_id,
                invited_by=w.staff.id,
                roster_plan_id=plan_id,
                reasons=row.reasons,
            )
    return len(rows)


async def written(w: World, plan_id: int) -> dict[str, list]:
    """What accepting wrote for community ``w``, with its ids replaced by what they stand
    for (names, titles, times), so that two communities' rows compare."""
    names = dict(await Person.all().values_list("id", "name"))
    phones = {p: n for p, n in await Person.all().values_list("phone", "name")}
    shift = {
        o.id: (o.task.title, o.start)
        for o in await Occurrence.filter(task__community_id=w.id).select_related("task")
    }
    invitations = await Invitation.filter(community_id=w.id).order_by("id")
    key = {i.id: (names[i.person_id], *shift[i.occurrence_id]) for i in invitations}
    community = (await get_community(w.id)).name

    def text(value: str | None) -> str | None:
        if value is None:
            return None
        value = re.sub(r"/invitations/(\d+)", lambda m: f"/invitations/{key[int(m[1])]}", value)
        value = re.sub(r"\d{3}\*{4}\d{4}", "<masked phone>", value)  # in a relayed message
        return value.replace(community, "<community>")

    audit = await AuditEntry.filter(community_id=w.id, action="task.invited").order_by("id")
    notes = await Notification.filter(community_id=w.id, event="task.invited").order_by("id")
    deliveries = await Delivery.filter(notification_id__in=[n.id for n in notes])
    return {
        "invitations": sorted(
            (
                key[i.id],
                i.status,
                i.rank,
                i.reasons,
                i.expires_at,
                i.answered_at,
                i.decline_reason,
                i.created_at,
                names[i.invited_by_id],
                i.roster_plan_id == plan_id,
                i.wish_id,
            )
            for i in invitations
        ),
        "audit": sorted(
            (
                names[a.actor_id],
                a.entity_type,
                shift[a.entity_id],
                a.before,
                sorted(
                    {
                        **a.after,
                        "task_id": shift[a.entity_id][0],
                        "person_id": names[a.after["person_id"]],
                        "invitation_id": key[a.after["invitation_id"]],
                    }.items()
                ),
                a.created_at,
            )
            for a in audit
        ),
        "notifications": sorted(
            (
                names[n.person_id],
                n.entity_type,
                shift[n.entity_id],
                n.priority,
                n.locale,
                text(n.subject),
                text(n.body),
                text(n.html),
                n.dedupe_key,
                n.created_at,
                n.read_at,
            )
            for n in notes
        ),
        "deliveries": sorted(
            (
                names[next(n.person_id for n in notes if n.id == d.notification_id)],
                shift[next(n.entity_id for n in notes if n.id == d.notification_id)],
                phones[d.address],
                d.status,
                d.attempts,
                d.not_before,
                d.lease_token,
                d.lease_until,
                d.last_error,
                d.sent_at,
                d.created_at,
            )
            for d in deliveries
        ),
    }


@pytest.mark.parametrize(
    "now",
    [
        pytest.param(datetime(2026, 12, 1, 1, 0, tzinfo=UTC), id="awake"),  # 09:00 in Shanghai
        pytest.param(datetime(2026, 12, 1, 15, 30, tzinfo=UTC), id="quiet"),  # 23:30
    ],
)
async def test_an_accepted_plan_writes_exactly_what_one_invitation_at_a_time_writes(
    hub, clock, now
):
    """Two communities alike: one accepts its plan (in bulk), the other invites the same
    people to the same shifts one at a time. Row for row, field for field, the same:
    invitations, audit entries, messages in each person's language (a message relayed to
    the grid worker too), deliveries held back by the quiet hours."""
    clock.now = now
    bulk = await care_world(await World(hub).build())
    rows = await care_world(await World(hub).build_other(bulk))
    plans = [await rostering.generate_plan(hub, w.staff, w.id, {}) for w in (bulk, rows)]
    result = await rostering.accept_plan(hub, bulk.staff, plans[0].id)
    assert result.invited == 6 and result.skipped == ()
    assert await one_by_one(hub, rows, plans[1].id) == 6

    mine, theirs = await written(bulk, plans[0].id), await written(rows, plans[1].id)
    for part in ("invitations", "audit", "notifications", "deliveries"):
        assert mine[part] == theirs[part], part
    # What this compares is there: six invitations, both languages, a relay, deliveries.
    assert len(mine["invitations"]) == 6
    recipients = [n[0] for n in mine["notifications"]]
    assert {"助老0", "助老1", "助老2", "网格员"} <= set(recipients)
    assert {n[4] for n in mine["notifications"]} == {"zh-CN", "en"}
    assert {d[2] for d in mine["deliveries"]} == {"助老1", "网格员"}
    waits = {d[5] for d in mine["deliveries"]}
    assert waits == (
        {now} if now.hour == 1 else {datetime(2026, 12, 1, 23, 0, tzinfo=UTC)}
    )  # 07:00


async def test_a_failure_midway_leaves_the_plan_a_draft_and_writes_nothing(hub):
    """The database refuses one delivery (a trigger, as a full disk or a broken constraint
    would): the invitations, audit entries and messages written before it in the same
    transaction go with it, and the plan stays a draft that can be accepted later."""
    w = await care_world(await World(hub).build())
    plan = await rostering.generate_plan(hub, w.staff, w.id, {})
    refused = w.helpers[1].person.phone
    if db.is_postgres():
        create = [
            "CREATE FUNCTION refuse_delivery() RETURNS trigger AS $$ BEGIN"
            f" IF NEW.address = '{refused}' THEN RAISE EXCEPTION 'refused'; END IF;"
            " RETURN NEW; END $$ LANGUAGE plpgsql",
            "CREATE TRIGGER refuse_delivery BEFORE INSERT ON delivery"
            " FOR EACH ROW EXECUTE FUNCTION refuse_delivery()",
        ]
        drop = ["DROP TRIGGER refuse_delivery ON delivery", "DROP FUNCTION refuse_delivery()"]
    else:
        create = [
            "CREATE TRIGGER refuse_delivery BEFORE INSERT ON delivery"
            f" WHEN NEW.address = '{refused}' BEGIN SELECT RAISE(ABORT, 'refused'); END"
        ]
        drop = ["DROP TRIGGER refuse_delivery"]
    before = {
        "audit": await AuditEntry.all().count(),
        "notifications": await Notification.all().count(),
        "deliveries": await Delivery.all().count(),
    }
    for sql in create:
        await db.execute(sql)
    try:
        # SQLite's RAISE comes through Tortoise; PL/pgSQL's as asyncpg raised it.
        with pytest.raises((OperationalError, IntegrityError, RaiseError), match="refused"):
            await rostering.accept_plan(hub, w.staff, plan.id)
    finally:
        for sql in drop:
            await db.execute(sql)
    assert (await RosterPlan.get(id=plan.id)).status is RosterPlanStatus.DRAFT
    assert await Invitation.all().count() == 0
    assert {
        "audit": await AuditEntry.all().count(),
        "notifications": await Notification.all().count(),
        "deliveries": await Delivery.all().count(),
    } == before
    assert not await AuditEntry.exists(action__in=["task.invited", "roster.accepted"])

    result = await rostering.accept_plan(hub, w.staff, plan.id)
    assert result.invited == 6
    places = await Invitation.filter(person_id=w.helpers[1].id).count()
    assert places >= 1
    assert await Delivery.filter(address=refused).count() == places


async def test_more_places_cost_no_more_statements(hub):
    """The same tasks with 2 places each or 12: accepting costs the same statements (per
    batch, not per place), the messages included."""
    few = await care_world(await World(hub).build(), capacity=2, helpers=8)
    many = await care_world(await World(hub).build_other(few), capacity=12, helpers=40)
    counts = []
    for w in (few, many):
        plan = await rostering.generate_plan(hub, w.staff, w.id, {})
        result, statements = await statements_for(rostering.accept_plan(hub, w.staff, plan.id))
        counts.append((result.invited, statements))
    (few_invited, few_statements), (many_invited, many_statements) = counts
    assert (few_invited, many_invited) == (6, 36)
    relays = [few.grid_worker.id, many.grid_worker.id]
    told = Notification.filter(event="task.invited").exclude(person_id__in=relays)
    assert await told.count() == 42
    assert many_statements == few_statements, counts


async def test_a_plan_accepted_while_volunteers_sign_up_never_overfills_a_shift(hub, api):
    """Staff accept a plan while others sign up for the same shifts. They queue on the
    task's row: signups that came first hold their places and the plan skips those
    (``place_taken``); a signup that came after takes a free place (or waits). The plan
    never invites more people than were free when it was accepted (pending invitations
    hold a place), and no shift has more confirmed places than places."""
    w = await care_world(await World(hub).build(), capacity=2, helpers=6)
    plan = await rostering.generate_plan(hub, w.staff, w.id, {})
    late = [await w.volunteer(f"后来者{n}", team=w.care) for n in range(4)]
    staff = await _login(api, w.staff)
    volunteers = [await _login(api, p) for p in late]
    morning = await Task.get(title="晨间探访")
    afternoon = await Task.get(title="午后陪护")
    shifts = [
        (morning, at(MONDAY + timedelta(days=1), 8)),
        (morning, at(MONDAY + timedelta(days=1), 8)),
        (afternoon, at(MONDAY + timedelta(days=2), 14)),
        (afternoon, at(MONDAY + timedelta(days=2), 14)),
    ]
    answers = await asyncio.gather(
        api.post(f"/api/v1/roster-plans/{plan.id}/accept", headers=staff),
        *[
            api.post(
                f"/api/v1/tasks/{task.id}/signups",
                json={"occurrence_start": start.isoformat()},
                headers=headers,
            )
            for headers, (task, start) in zip(volunteers, shifts, strict=True)
        ],
    )
    assert [a.status_code for a in answers] == [200, 201, 201, 201, 201], [a.text for a in answers]
    accepted = answers[0].json()
    assert {s["reason"] for s in accepted["skipped"]} <= {"place_taken"}
    assert accepted["invited"] + len(accepted["skipped"]) == 6
    # Which signups committed before the plan: their audit entries come first (each change
    # wrote its task's row before its audit entries, so they queued).
    accepted_entry = await AuditEntry.get(action="roster.accepted", entity_id=plan.id)
    for occurrence in await Occurrence.filter(task__community_id=w.id):
        signups = await Signup.filter(occurrence_id=occurrence.id)
        confirmed = [s for s in signups if s.status is SignupStatus.CONFIRMED]
        assert len(confirmed) == occurrence.taken <= occurrence.capacity
        before = await AuditEntry.filter(
            action="signup.confirmed",
            entity_id__in=[s.id for s in confirmed],
            id__lt=accepted_entry.id,
        ).count()
        invited = await Invitation.filter(
            occurrence_id=occurrence.id, status=InvitationStatus.PENDING
        ).count()
        assert invited <= occurrence.capacity - before, occurrence.start


async def _login(api, actor) -> dict[str, str]:
    r = await api.post(
        "/api/v1/auth/login", json={"phone": actor.person.phone, "password": PASSWORD}
    )
    assert r.status_code == 200, r.text
    return {"Authorization": f"Bearer {r.json()['token']}"}
