"""Automatic dispatch (派单): an open wish invites its best volunteers with no staff action.

When a wish becomes ``open`` (approved, opened by emergency mode, handed back, released by
a deactivation or a no-show) ``fill`` invites the best ``Community.dispatch_k`` candidates
of ``matching.rank`` who were never invited to it and may claim it now
(``wishes.serving_violations``), in the transaction that opened it: an ``Invitation`` row
each, the events ``wish.invited`` (the message) and ``wish.dispatched`` (who, at which
rank, and why, for the wish's timeline). A decline or an expired deadline invites the next
one; when nobody is left and nothing is pending, ``wish.dispatch_exhausted`` is recorded
and the wish rises one escalation level (``wish.escalated``: staff hear of it).

Each person has ``Community.invitation_minutes`` to answer; the clock stops during the
community's quiet hours (their messages wait for the morning too) unless the wish is
urgent (``deadline``). The worker expires what is due (``expire_due``).

Concurrency: every change to a wish's invitations writes the wish's row first (``lock``),
so two dispatch rounds, an accept and an expiry of one wish queue one behind the other
(the row lock on PostgreSQL, the write lock on SQLite); each answer is one conditional
UPDATE (``WHERE status = 'pending'``), so of an accept and an expiry only one wins.
Categories in ``Community.manual_dispatch_categories`` are never dispatched.

Shifts: staff, a team's leader or a roster plan invite to an occurrence of a task
(``invite_to_occurrence``; a plan's many at once: ``invite_many_to_occurrences``, the same
rows and events in a few statements). A declined or expired invitation to a shift that has not
started, is not cancelled and still has the place free invites the next of
``matching.rank_shift``, one per freed place (``refill_shift``); nobody left records
``occurrence.dispatch_exhausted`` once per occurrence, and its staff hear. Each change to
a shift's invitations writes the task's row, then the occurrence's (``lock_shift``: the
order signups lock in), so answers, expiries and signups of one shift queue.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from enum import Enum
from typing import Any
from zoneinfo import ZoneInfo

from tortoise.expressions import F

from volunteer_hub import db
from volunteer_hub.clock import as_utc
from volunteer_hub.errors import Conflict
from volunteer_hub.hub import Hub
from volunteer_hub.i18n import LocalizedText
from volunteer_hub.models import (
    AuditEntry,
    Community,
    Invitation,
    InvitationStatus,
    Occurrence,
    Team,
    Wish,
    WishStatus,
)
from volunteer_hub.services import matching, tasks, wishes
from volunteer_hub.services.access import load_actor
from volunteer_hub.services.quiet_hours import after_quiet_hours
from volunteer_hub.services.uow import Recorded, UnitOfWork, unit_of_work

# How many more candidates than needed ``matching.rank`` is asked for at first (some may
# have been invited before, or may not claim the wish); the ask grows until exhausted.
_MARGIN = 10


# --- deadlines -------------------------------------------------------------------------------


def deadline(start: datetime, minutes: int, community: Community, *, urgent: bool) -> datetime:
    """``minutes`` of the community's waking time after ``start``: the clock stops during
    its quiet hours (``quiet_start`` to ``quiet_end``, its own zone), unless ``urgent``.

    120 minutes from 21:00 with quiet hours 22:00-07:00 end at 08:00 the next morning;
    from 23:00 they end at 09:00."""
    begin, end = time.fromisoformat(community.quiet_start), time.fromisoformat(community.quiet_end)
    remaining = timedelta(minutes=minutes)
    if urgent or begin == end:
        return start + remaining
    zone = ZoneInfo(community.timezone)
    moment = start.astimezone(zone)
    for _ in range(10_000):  # at most a day of quiet per day: ends long before this
        woken = after_quiet_hours(moment, community)
        if woken != moment:  # inside the quiet hours: the clock resumes at their end
            moment = woken.astimezone(zone)
            continue
        next_quiet = datetime.combine(moment.date(), begin, tzinfo=zone)
        if next_quiet <= moment:
            next_quiet = datetime.combine(moment.date() + timedelta(days=1), begin, tzinfo=zone)
        awake = as_utc(next_quiet) - as_utc(moment)
        if remaining <= awake:
            return as_utc(moment) + remaining
        remaining -= awake
        moment = next_quiet
    raise AssertionError("unreachable: quiet hours never end")


async def deadline_for(
    community: Community, start: datetime, *, urgent: bool, before: datetime | None = None
) -> datetime:
    """The answer deadline of an invitation written at ``start``; never after ``before``
    (a shift's start)."""
    due = deadline(start, community.invitation_minutes, community, urgent=urgent)
    return min(due, before) if before is not None else due


# --- writing invitations ---------------------------------------------------------------------


async def lock(wish_id: int) -> Wish | None:
    """Inside a transaction: write the wish's row (changing nothing), then read it. Every
    change to a wish's invitations starts here, so they queue one behind the other."""
    if not await Wish.filter(id=wish_id).update(title=F("title")):
        return None
    return await Wish.get(id=wish_id)


async def asked(wish_id: int) -> set[int]:
    """Everyone ever invited to claim the wish: its invitations, and the invitations that
    databases from before issue 13 kept only as audit entries."""
    return await _ever_invited("wish", wish_id, "wish.invited")


async def _ever_invited(entity_type: str, entity_id: int, action: str) -> set[int]:
    """Who has an invitation to the wish or occurrence, or an audit entry ``action`` of
    one (databases from before issue 13 kept invitations only there)."""
    rows = await Invitation.filter(**{f"{entity_type}_id": entity_id}).values_list(
        "person_id", flat=True
    )
    legacy = await AuditEntry.filter(
        entity_type=entity_type, entity_id=entity_id, action=action
    ).values_list("after", flat=True)
    return set(rows) | {a["person_id"] for a in legacy if isinstance(a, dict) and "person_id" in a}


async def invite(
    uow: UnitOfWork,
    wish: Wish,
    community: Community,
    person_id: int,
    *,
    rank: int | None = None,
    reasons: Iterable[LocalizedText] = (),
) -> Invitation:
    """Inside ``uow`` (the wish locked): one invitation to claim ``wish``, from
    ``uow.actor_id`` (staff) or, when None, the community (dispatch). Records
    ``wish.invited`` (``{person_id, invitation_id, expires_at}``: the message) and, for
    dispatch, ``wish.dispatched`` (``{person_id, invitation_id, rank, reasons}``)."""
    expires_at = await deadline_for(community, uow.now, urgent=wish.urgent)
    reasons = [r if isinstance(r, str) else dict(r) for r in reasons]
    invitation = await Invitation.create(
        community_id=wish.community_id,
        person_id=person_id,
        wish_id=wish.id,
        invited_by_id=uow.actor_id,
        status=InvitationStatus.PENDING,
        rank=rank,
        reasons=reasons if uow.actor_id is None else None,
        expires_at=expires_at,
        created_at=uow.now,
    )
    after = {"person_id": person_id, "invitation_id": invitation.id, "expires_at": expires_at}
    await uow.record("wish.invited", wish, community_id=wish.community_id, after=after)
    if uow.actor_id is None:
        await uow.record(
            "wish.dispatched",
            wish,
            community_id=wish.community_id,
            after={
                "person_id": person_id,
                "invitation_id": invitation.id,
                "rank": rank,
                "reasons": reasons,
            },
        )
    return invitation


@asynccontextmanager
async def as_community(uow: UnitOfWork) -> AsyncIterator[UnitOfWork]:
    """What is recorded inside is the community's doing (no actor in the trail)."""
    actor_id, uow.actor_id = uow.actor_id, None
    try:
        yield uow
    finally:
        uow.actor_id = actor_id


# --- dispatch ----------------------------------------------------------------------------------


async def fill(uow: UnitOfWork, wish: Wish, *, skip: Iterable[int] = ()) -> int:
    """Inside the transaction that opened ``wish`` or ended one of its invitations (the
    wish's row written first): invite the best candidates until ``dispatch_k`` invitations
    are pending; none if its category is dispatched by hand or not served by volunteers.
    Nobody left to ask and nothing pending: ``wish.dispatch_exhausted``, and the wish rises
    one escalation level. ``skip``: people not to invite (the one who handed it back).
    Answers how many were invited."""
    community = await Community.get(id=wish.community_id)
    if wish.status is not WishStatus.OPEN:
        return 0
    if wish.category in (community.manual_dispatch_categories or []):
        return 0
    if not wishes.category_of(uow.hub, wish.community_id, wish.category).served:
        return 0  # referred (吹哨), not dispatched
    pending = await Invitation.filter(wish_id=wish.id, status=InvitationStatus.PENDING).count()
    wanted = community.dispatch_k - pending
    if wanted <= 0:
        return 0
    excluded = await asked(wish.id) | set(skip)
    invited = 0
    async with as_community(uow):
        for position, candidate in await _next_candidates(uow.hub, wish, excluded, wanted):
            await invite(
                uow, wish, community, candidate.person_id, rank=position, reasons=candidate.reasons
            )
            invited += 1
        if invited == 0 and pending == 0:
            await exhausted(uow, wish, len(excluded))
    return invited


async def _next_candidates(
    hub: Hub, wish: Wish, excluded: set[int], wanted: int
) -> list[tuple[int, matching.Candidate]]:
    """Up to ``wanted`` of the best candidates not in ``excluded`` who may claim the wish
    now, with their rank (1 is the best) among all candidates."""
    limit = len(excluded) + wanted + _MARGIN
    while True:
        ranked = await matching.rank(hub, wish, limit=limit)
        chosen = []
        for position, candidate in enumerate(ranked, start=1):
            if candidate.person_id in excluded:
                continue
            person = await load_actor(candidate.person_id)
            if await wishes.serving_violations(hub, person, wish):
                continue
            chosen.append((position, candidate))
            if len(chosen) == wanted:
                return chosen
        if len(ranked) < limit:  # everyone was looked at
            return chosen
        limit *= 4


async def exhausted(uow: UnitOfWork, wish: Wish, asked_count: int) -> None:
    """Nobody is left to invite: recorded, and the wish rises one level so staff act."""
    level = wishes.next_level(wish.escalation)
    await uow.record(
        "wish.dispatch_exhausted",
        wish,
        community_id=wish.community_id,
        after={"asked": asked_count, "escalation": level.value if level else None},
    )
    if level is not None:
        await wishes.escalate_within(uow, wish, level)


# --- the worker's step -------------------------------------------------------------------------


async def expire_due(hub: Hub) -> int:
    """Expire every pending invitation whose deadline has passed (``invitation.expired``)
    and invite the next: for a wish still open, its next candidates (or escalate); for a
    shift, one for each place so freed (``refill_shift``). Safe to run in several workers
    at once: each wish, and each occurrence, is handled under its row lock, and each
    invitation moves by a conditional UPDATE. Answers how many expired."""
    now = hub.now()
    due = await Invitation.filter(status=InvitationStatus.PENDING, expires_at__lte=now).values_list(
        "wish_id", "occurrence_id"
    )
    expired = 0
    for wish_id in sorted({w for w, _ in due if w is not None}):
        async with unit_of_work(hub, None) as uow:
            wish = await lock(wish_id)
            if wish is None:
                continue
            moved = await _expire_all(uow, wish_id=wish_id)
            if moved:
                await fill(uow, wish)
            expired += moved
    for occurrence_id in sorted({o for w, o in due if w is None and o is not None}):
        async with unit_of_work(hub, None) as uow:
            shift = await lock_shift(occurrence_id)  # None: its task is cancelled
            moved = await _expire_all(uow, occurrence_id=occurrence_id)
            if shift is not None and moved:
                await refill_shift(uow, shift, moved)
            expired += moved
    return expired


async def _expire_all(uow: UnitOfWork, **of: int) -> int:
    """Expire the due pending invitations of one wish or occurrence (``of``), in id order."""
    moved = 0
    for invitation in await Invitation.filter(
        **of, status=InvitationStatus.PENDING, expires_at__lte=uow.now
    ).order_by("id"):
        moved += await _expire(uow, invitation)
    return moved


async def _expire(uow: UnitOfWork, invitation: Invitation) -> int:
    moved = await Invitation.filter(
        id=invitation.id, status=InvitationStatus.PENDING, expires_at__lte=uow.now
    ).update(status=InvitationStatus.EXPIRED, answered_at=uow.now)
    if moved:
        await uow.record(
            "invitation.expired",
            invitation,
            community_id=invitation.community_id,
            after=about(invitation) | {"status": InvitationStatus.EXPIRED.value},
        )
    return moved


def about(invitation: Invitation) -> dict:
    """What an invitation's events say of it (no personal data but the person's id)."""
    about: dict = {"person_id": invitation.person_id}
    if invitation.wish_id is not None:
        about["wish_id"] = invitation.wish_id
    if invitation.occurrence_id is not None:
        about["occurrence_id"] = invitation.occurrence_id
    return about


# --- shifts ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ShiftInvite:
    """One invitation to an occurrence, as ``invite_to_occurrence`` takes it."""

    occurrence: Occurrence
    person_id: int
    invited_by: int | None
    roster_plan_id: int | None = None
    rank: int | None = None
    reasons: Iterable[LocalizedText] | None = None


async def invite_to_occurrence(
    uow: UnitOfWork,
    community: Community,
    occurrence: Occurrence,
    person_id: int,
    *,
    invited_by: int | None,
    roster_plan_id: int | None = None,
    rank: int | None = None,
    reasons: Iterable[LocalizedText] | None = None,
) -> Invitation:
    """Inside ``uow`` (the task's and the occurrence's rows locked, the checks done): the
    pending invitation to the occurrence, to answer before the shift starts, and the event
    ``task.invited`` that tells the person, with the link to answer. One place for staff's
    invitations and a shift's dispatch (``refill_shift``: ``invited_by`` None, with the
    ``rank`` and ``reasons`` of ``matching.rank_shift``); an accepted roster plan writes
    many at once (``invite_many_to_occurrences``), the same rows."""
    invite = ShiftInvite(occurrence, person_id, invited_by, roster_plan_id, rank, reasons)
    row = await _shift_invitation(uow, community, invite)
    invitation = await Invitation.create(**row)
    await uow.record(
        "task.invited",
        occurrence,
        community_id=community.id,
        after=_shift_invited(invite, row, invitation.id),
    )
    return invitation


async def invite_many_to_occurrences(
    uow: UnitOfWork, community: Community, invites: Sequence[ShiftInvite]
) -> list[int]:
    """``invite_to_occurrence`` for many invitations at once (an accepted roster plan): the
    invitations in multi-row INSERTs, their audit entries in one, one ``task.invited``
    event each, in order; a few statements whatever their number. Answers their ids."""
    rows = [await _shift_invitation(uow, community, invite) for invite in invites]
    inserted = await db.insert_rows(
        db.table_name(Invitation),
        _INVITATION_COLUMNS,
        [[_db_value(row[c]) for c in _INVITATION_COLUMNS] for row in rows],
        returning=("id", "occurrence_id", "person_id"),
    )
    id_of = {(r["occurrence_id"], r["person_id"]): r["id"] for r in inserted}
    ids = [id_of[invite.occurrence.id, invite.person_id] for invite in invites]
    await uow.record_many(
        "task.invited",
        Occurrence,
        [
            Recorded(
                invite.occurrence.id, community.id, after=_shift_invited(invite, row, invitation)
            )
            for invite, row, invitation in zip(invites, rows, ids, strict=True)
        ],
    )
    return ids


async def _shift_invitation(
    uow: UnitOfWork, community: Community, invite: ShiftInvite
) -> dict[str, Any]:
    """The invitation row's fields (every column but the id)."""
    reasons = invite.reasons
    if reasons is not None:
        reasons = [r if isinstance(r, str) else dict(r) for r in reasons]
    return {
        "community_id": community.id,
        "person_id": invite.person_id,
        "wish_id": None,
        "occurrence_id": invite.occurrence.id,
        "roster_plan_id": invite.roster_plan_id,
        "invited_by_id": invite.invited_by,
        "status": InvitationStatus.PENDING,
        "rank": invite.rank,
        "reasons": reasons,
        "expires_at": await deadline_for(
            community, uow.now, urgent=False, before=invite.occurrence.start
        ),
        "answered_at": None,
        "decline_reason": None,
        "created_at": uow.now,
    }


_INVITATION_COLUMNS = (
    "community_id", "person_id", "wish_id", "occurrence_id", "roster_plan_id", "invited_by_id",
    "status", "rank", "reasons", "expires_at", "answered_at", "decline_reason", "created_at",
)  # fmt: skip


def _db_value(value: Any) -> Any:
    """A field's value as a hand-written INSERT takes it (as Tortoise stores it)."""
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, list):  # the JSON of ``reasons``
        return db.json_value(value)
    return value


def _shift_invited(invite: ShiftInvite, row: dict[str, Any], invitation_id: int) -> dict:
    """What ``task.invited`` says of an invitation (its audit entry and event)."""
    after = {
        "task_id": invite.occurrence.task_id,
        "person_id": invite.person_id,
        "occurrence_start": invite.occurrence.start,
        "invitation_id": invitation_id,
        "expires_at": row["expires_at"],
    }
    if invite.rank is not None:  # dispatched: why this person, for the staff
        after |= {"rank": invite.rank, "reasons": row["reasons"]}
    return after


async def asked_to_occurrence(occurrence_id: int) -> set[int]:
    """Everyone ever invited to the occurrence: its invitations, and the invitations that
    databases from before issue 13 kept only as audit entries."""
    return await _ever_invited("occurrence", occurrence_id, "task.invited")


async def lock_shift(occurrence_id: int) -> Occurrence | None:
    """Inside a transaction, before an invitation to the occurrence is answered or expires:
    write its task's row, then its own (the order a signup locks in), then read it with its
    task and community. None once the task is cancelled (nothing to invite to)."""
    occurrence = await Occurrence.get(id=occurrence_id)
    try:
        await tasks.lock_task(occurrence.task_id)
    except Conflict:  # cancelled: no place to fill
        return None
    await tasks.lock(occurrence)
    return await Occurrence.get(id=occurrence_id).select_related("task", "task__community")


async def refill_shift(uow: UnitOfWork, occurrence: Occurrence, freed: int) -> int:
    """Inside the transaction that ended ``freed`` pending invitations to ``occurrence``
    (locked first by ``lock_shift``): invite the next best candidates of
    ``matching.rank_shift``, one for each freed place that is still free (confirmed places
    and pending invitations below the capacity), if the shift is neither cancelled nor
    started. Nobody left for a freed place: ``occurrence.dispatch_exhausted``, once per
    occurrence, so its staff hear. Answers how many were invited."""
    if freed <= 0 or occurrence.cancelled or occurrence.start <= uow.now:
        return 0
    pending = await Invitation.filter(
        occurrence_id=occurrence.id, status=InvitationStatus.PENDING
    ).count()
    wanted = min(freed, occurrence.capacity - occurrence.taken - pending)
    if wanted <= 0:
        return 0
    task = occurrence.task
    team = await Team.get(id=task.team_id) if task.team_id is not None else None
    asked = await asked_to_occurrence(occurrence.id)
    ranked = await matching.rank_shift(uow.hub, occurrence, task, team, limit=wanted, exclude=asked)
    async with as_community(uow):
        for position, candidate in enumerate(ranked, start=1):
            await invite_to_occurrence(
                uow,
                task.community,
                occurrence,
                candidate.person_id,
                invited_by=None,
                rank=position,
                reasons=candidate.reasons,
            )
        if len(ranked) < wanted:
            await _shift_exhausted(uow, occurrence, wanted - len(ranked), len(asked))
    return len(ranked)


async def _shift_exhausted(uow: UnitOfWork, occurrence: Occurrence, left: int, asked: int) -> None:
    """Nobody is left to invite for ``left`` free places: recorded once per occurrence (its
    staff are told then; later rounds would only repeat it)."""
    if await AuditEntry.exists(
        entity_type="occurrence", entity_id=occurrence.id, action="occurrence.dispatch_exhausted"
    ):
        return
    await uow.record(
        "occurrence.dispatch_exhausted",
        occurrence,
        community_id=occurrence.task.community_id,
        after={
            "task_id": occurrence.task_id,
            "occurrence_start": occurrence.start,
            "free": left,
            "asked": asked,
        },
    )
