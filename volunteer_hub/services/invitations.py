"""Invitations: a volunteer is asked to claim an open wish, or a person to come to one
occurrence of a task; they accept or decline (``/me/invitations``, ``/invitations/{id}``).

Each invitation is an ``Invitation`` row (pending, with a deadline) and a domain event
(``wish.invited``, ``task.invited``): the invited person hears of it through their channels,
with a link to answer. Staff invite from the console (``/wishes/{id}/invitations``,
``/tasks/{id}/invitations``); dispatch (``services.dispatch``) invites the best candidates
of every wish that opens, with no staff action: ``review`` and ``post`` here are
``wishes.review`` and ``wishes.post`` with that dispatch; a declined or expired invitation
to a shift invites the next volunteer for its place (``dispatch.refill_shift``). Whom one
may invite is whom the wish's or the task's own rules let take part:
``wishes.serving_violations`` and the registration rules of a signup.

Databases from before issue 13 kept invitations as audit entries only: those stay as
history (nobody is invited twice because of them) and cannot be answered.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Annotated

from pydantic import Field
from tortoise.expressions import F, Q

from volunteer_hub.errors import (
    Conflict,
    InvalidInput,
    NotFound,
    PermissionDenied,
    RuleViolation,
    Violation,
)
from volunteer_hub.hub import Hub
from volunteer_hub.i18n import LocalizedText
from volunteer_hub.models import (
    Community,
    Invitation,
    InvitationStatus,
    MembershipStatus,
    Occurrence,
    Person,
    RoleAssignment,
    Signup,
    SignupStatus,
    Team,
    TeamMembership,
    Wish,
    WishStatus,
)
from volunteer_hub.services import dispatch, tasks, wishes
from volunteer_hub.services.access import Actor, load_actor
from volunteer_hub.services.facts import person_facts
from volunteer_hub.services.teams import check_rules
from volunteer_hub.services.uow import UnitOfWork, unit_of_work
from volunteer_hub.validation import Id, Input, Line, Moment, enum_value, parse

# --- to claim a wish -----------------------------------------------------------------------


class InviteIn(Input):
    person_id: Id


async def invite_to_wish(hub: Hub, actor: Actor, wish_id: int, data: InviteIn | dict) -> Wish:
    """Staff of the wish's community invite a volunteer to claim an open wish.

    The person must be one who may claim it, by the rules of ``wishes.claim``: a volunteer of the
    community, not the wish's resident, in a team of the serving kind, qualified for a
    restricted category. A person of the community who may not is refused with the rules
    named (422 ``not_eligible``); a person who is not of the community is not found in
    ``person_id`` (422). Each person is invited to a wish once: asking again is 409
    ``already_invited``, so nobody is pestered. The invitation is an audit entry of the
    wish and the event ``wish.invited`` with data ``{person_id}``.
    """
    wish = await wishes.get_wish(hub, actor, wish_id)
    if not actor.is_staff(wish.community_id):
        raise PermissionDenied("Only staff of this community can do this.")
    data = parse(InviteIn, data)
    invitee = await _person_of_community(wish.community_id, data.person_id)
    if wish.status is not WishStatus.OPEN:
        raise _not_open(wish.status)
    violations = await wishes.serving_violations(hub, invitee, wish)
    if violations:
        raise RuleViolation(
            "This person may not claim this wish.", code="not_eligible", details=violations
        )
    async with unit_of_work(hub, actor.id) as uow:
        # Write the wish's row first (changing nothing): invitations to one wish queue on
        # its row lock (PostgreSQL) or the write lock (SQLite), and it must still be open.
        locked = await dispatch.lock(wish.id)
        if locked is None or locked.status is not WishStatus.OPEN:
            raise _not_open((await Wish.get(id=wish.id)).status)
        if invitee.id in await dispatch.asked(wish.id):
            raise Conflict("This person has been invited already.", code="already_invited")
        community = await Community.get(id=wish.community_id)
        await dispatch.invite(uow, locked, community, invitee.id)
    return wish


async def invited_people(wish_id: int) -> set[int]:
    """The people ever invited to claim the wish, whatever became of their invitation."""
    return await dispatch.asked(wish_id)


async def _person_of_community(community_id: int, person_id: int) -> Actor:
    """The person (with their roles) if they live in or hold a role in the community."""
    person = await Person.get_or_none(id=person_id)
    if person is not None:
        found = await load_actor(person.id)
        if person.community_id == community_id or any(
            g.community_id == community_id for g in found.grants
        ):
            return found
    raise InvalidInput.for_field("person_id", "No such person in this community.")


def _not_open(status: WishStatus) -> Conflict:
    return Conflict(
        "This wish is {status} and cannot change that way.",
        code="invalid_state",
        status=status.value,
    )


# --- a wish handed back -----------------------------------------------------------------------


async def hand_back(
    hub: Hub, actor: Actor, wish_id: int, data: wishes.HandBackIn | dict | None = None
) -> Wish:
    """The claimer hands a wish back (``wishes.hand_back``) and, in the same transaction,
    it is offered to the next volunteer: the best-ranked candidate (``matching.rank``) who
    is not the one handing it back, was not invited to it before and may claim it now, is
    invited (``wish.invited``, from the community: no inviter), unless staff dispatch the
    wish's category by hand (``Community.manual_dispatch_categories``)."""
    return await wishes.hand_back(hub, actor, wish_id, data, then=offer_to_next)


async def offer_to_next(uow: UnitOfWork, wish: Wish, volunteer_id: int | None) -> None:
    """Inside the transaction that made ``wish`` open again: dispatch it
    (``dispatch.fill``), never to ``volunteer_id`` (the one who gave it back). The one
    place every reopening goes through (hand-back, deactivation, no-show)."""
    await dispatch.fill(uow, wish, skip=() if volunteer_id is None else (volunteer_id,))


async def dispatch_opened(uow: UnitOfWork, wish: Wish) -> None:
    """Inside the transaction that opened ``wish`` (approval, emergency mode): dispatch it."""
    await dispatch.fill(uow, wish)


async def review(hub: Hub, actor: Actor, wish_id: int, data: wishes.ReviewIn | dict) -> Wish:
    """``wishes.review``; an approved wish is dispatched in the same transaction."""
    return await wishes.review(hub, actor, wish_id, data, on_open=dispatch_opened)


async def post(
    hub: Hub,
    actor: Actor,
    community_id: int,
    data: wishes.WishIn | dict,
    *,
    open311_key_id: int | None = None,
) -> Wish:
    """``wishes.post``; a wish that emergency mode opens at once is dispatched with it."""
    return await wishes.post(
        hub, actor, community_id, data, open311_key_id=open311_key_id, on_open=dispatch_opened
    )


async def release_held_work(uow: UnitOfWork, person: Person) -> None:
    """Inside the deactivation's transaction: what a deactivated person held goes to
    others. Each wish they had claimed opens again (the resident and staff are told) and is
    offered to the next volunteer, as at a hand-back; each place they hold on a shift ahead
    is cancelled, a confirmed one going to the first on the waiting list."""
    for wish in await wishes.release_claims(uow, person.id):
        await offer_to_next(uow, wish, person.id)
    await tasks.release_places(uow, person.id)


# --- to come to a shift ---------------------------------------------------------------------


class TaskInviteIn(Input):
    person_id: Id
    occurrence_start: Moment | None = None


async def invite_to_task(
    hub: Hub, actor: Actor, task_id: int, data: TaskInviteIn | dict
) -> Occurrence:
    """Staff, or the leader of the task's team, invite a person to one occurrence of a task.

    The occurrence is the given one, or the next upcoming (as for a signup). The person must
    be of the task's community (422 in ``person_id`` otherwise), an active member of the
    task's team for a team task, and pass the registration rules a signup would (422 with
    the rules named). Someone signed up already is not invited (409 ``already_signed_up``),
    nor anyone twice to one occurrence (409 ``already_invited``). The invitation is an audit
    entry of the occurrence and the event ``task.invited`` with data
    ``{task_id, person_id, occurrence_start}``. Nothing is written when it is refused.
    """
    task = await tasks.get_task(actor, task_id)
    team = await Team.get_or_none(id=task.team_id) if task.team_id is not None else None
    is_leader = team is not None and team.leader_id == actor.id
    if not (actor.is_staff(task.community_id) or is_leader):
        raise PermissionDenied("Only staff and team leaders can invite volunteers.")
    data = parse(TaskInviteIn, data)
    person = await Person.get_or_none(id=data.person_id)
    if person is None or not (
        person.community_id == task.community_id
        or await RoleAssignment.exists(person_id=person.id, community_id=task.community_id)
    ):
        raise InvalidInput.for_field("person_id", "No such person in this community.")
    if team is not None and not await TeamMembership.exists(
        team_id=team.id, person_id=person.id, status=MembershipStatus.ACTIVE
    ):
        raise RuleViolation(
            "This person may not sign up for this task.",
            code="not_eligible",
            details=[
                Violation(
                    "not_team_member",
                    {
                        "zh-CN": "此人不是该志愿服务队的队员",
                        "en": "Not a member of the task's team",
                    },
                )
            ],
        )
    start = await tasks.resolve_start(hub, task, data.occurrence_start)
    existing = await Occurrence.get_or_none(task_id=task.id, start=start)
    if existing is not None and existing.cancelled:
        raise Conflict("This occurrence is cancelled.", code="occurrence_cancelled")
    violations = check_rules(
        hub,
        "vh_check_signup",
        person=await person_facts(person),
        signup=await tasks.signup_facts(task, team, start, existing),
    )
    if violations:
        raise RuleViolation(
            "A registration rule refuses this.", code="registration_refused", details=violations
        )
    async with unit_of_work(hub, actor.id) as uow:
        capacity = await tasks.lock_task(task.id)  # 409 once the task is cancelled
        occurrence = await tasks.lock_occurrence(task, start, capacity)  # rolled back if refused
        if occurrence.cancelled:
            raise Conflict("This occurrence is cancelled.", code="occurrence_cancelled")
        if await Signup.exists(
            occurrence_id=occurrence.id, person_id=person.id, status__in=tasks.ACTIVE_SIGNUP
        ):
            raise Conflict("This person has signed up for this already.", code="already_signed_up")
        if person.id in await dispatch.asked_to_occurrence(occurrence.id):
            raise Conflict("This person has been invited already.", code="already_invited")
        community = await Community.get(id=task.community_id)
        await dispatch.invite_to_occurrence(
            uow, community, occurrence, person.id, invited_by=actor.id
        )
    return occurrence


# --- answering -------------------------------------------------------------------------------


class DeclineIn(Input):
    reason: Annotated[Line, Field(max_length=200)] | None = None


@dataclass(frozen=True)
class InvitationView:
    """An invitation as its person sees it (their list, the answer page): what they are
    asked to do, never the resident's name or contact."""

    id: int
    status: str
    expires_at: datetime
    created_at: datetime
    timezone: str
    wish_id: int | None = None
    task_id: int | None = None
    occurrence_start: datetime | None = None
    occurrence_end: datetime | None = None
    title: str = ""
    category: str | None = None
    needed_by: date | None = None
    location: str | None = None
    invited_by: str | None = None  # the staff member's name; None: the community
    may_answer: bool = False


@dataclass(frozen=True)
class StaffInvitationView:
    """An invitation of a wish as its community's staff see it."""

    id: int
    person_id: int
    name: str
    status: str
    expires_at: datetime
    created_at: datetime
    answered_at: datetime | None
    rank: int | None
    reasons: tuple[LocalizedText, ...]
    decline_reason: str | None
    invited_by: str | None  # None: dispatch, the community
    timezone: str  # the community's


async def my_invitations(
    hub: Hub,
    actor: Actor,
    *,
    status: InvitationStatus | str | None = None,
    after_id: int | None = None,
    limit: int = 50,
) -> list[InvitationView]:
    """The actor's invitations, oldest first from ``after_id`` (the API's pages)."""
    query = Invitation.filter(person_id=actor.id)
    if status is not None:
        query = query.filter(status=enum_value("status", InvitationStatus, status))
    if after_id is not None:
        query = query.filter(id__gt=after_id)
    rows = await query.order_by("id").limit(limit)
    return await _views(hub, rows)


async def pending_first(hub: Hub, actor: Actor, *, limit: int = 100) -> list[InvitationView]:
    """The actor's invitations for their page: those to answer first (soonest due), then
    the others, newest first."""
    pending = await Invitation.filter(person_id=actor.id, status=InvitationStatus.PENDING).order_by(
        "expires_at", "id"
    )
    others = (
        await Invitation.filter(person_id=actor.id)
        .exclude(status=InvitationStatus.PENDING)
        .order_by("-id")
        .limit(limit)
    )
    return await _views(hub, [*pending, *others])


async def invitation(hub: Hub, actor: Actor, invitation_id: int) -> InvitationView:
    """One of the actor's invitations; anyone else's is not found."""
    return (await _views(hub, [await _own(actor, invitation_id)]))[0]


async def pending_for_wish(actor: Actor, wish_id: int) -> int | None:
    """The id of the actor's pending invitation to claim ``wish_id``, if any (the wish
    page's accept and decline buttons)."""
    row = await Invitation.get_or_none(
        wish_id=wish_id, person_id=actor.id, status=InvitationStatus.PENDING
    )
    return row.id if row is not None else None


async def _own(actor: Actor, invitation_id: int) -> Invitation:
    row = await Invitation.get_or_none(id=invitation_id, person_id=actor.id)
    if row is None:
        raise NotFound("No such invitation.", code="invitation_not_found")
    return row


async def _views(hub: Hub, rows: list[Invitation]) -> list[InvitationView]:
    """Views of invitations in a fixed number of queries."""
    if not rows:
        return []
    wish_rows = {
        w.id: w for w in await Wish.filter(id__in=sorted({r.wish_id for r in rows if r.wish_id}))
    }
    occurrences = {
        o.id: o
        for o in await Occurrence.filter(
            id__in=sorted({r.occurrence_id for r in rows if r.occurrence_id})
        ).select_related("task")
    }
    zones = dict(
        await Community.filter(id__in=sorted({r.community_id for r in rows})).values_list(
            "id", "timezone"
        )
    )
    inviter_ids = sorted({r.invited_by_id for r in rows if r.invited_by_id})
    inviters = dict(await Person.filter(id__in=inviter_ids).values_list("id", "name"))
    now = hub.now()
    views = []
    for row in rows:
        common = {
            "id": row.id,
            "status": row.status.value,
            "expires_at": row.expires_at,
            "created_at": row.created_at,
            "timezone": zones[row.community_id],
            "invited_by": inviters.get(row.invited_by_id),
            "may_answer": row.status is InvitationStatus.PENDING and row.expires_at > now,
        }
        if row.wish_id is not None:
            wish = wish_rows[row.wish_id]
            category = wishes.category_of(hub, wish.community_id, wish.category)
            views.append(
                InvitationView(
                    **common,
                    wish_id=wish.id,
                    title=wish.title,
                    category=category.code,
                    needed_by=wish.needed_by,
                )
            )
        else:
            occurrence = occurrences[row.occurrence_id]
            views.append(
                InvitationView(
                    **common,
                    task_id=occurrence.task_id,
                    occurrence_start=occurrence.start,
                    occurrence_end=occurrence.end,
                    title=occurrence.task.title,
                    location=occurrence.task.location,
                )
            )
    return views


def _answered(row: Invitation, now: datetime) -> Conflict:
    """Why an invitation can no longer be answered (409)."""
    if row.status is InvitationStatus.PENDING and row.expires_at <= now:
        return Conflict("This invitation has expired.", code="invitation_expired")
    if row.status is InvitationStatus.EXPIRED:
        return Conflict("This invitation has expired.", code="invitation_expired")
    if row.status is InvitationStatus.WITHDRAWN:
        return Conflict(
            "Someone else has taken this on, or it was closed.", code="invitation_withdrawn"
        )
    return Conflict(
        "This invitation is {status} already.", code="invitation_answered", status=row.status.value
    )


async def accept(hub: Hub, actor: Actor, invitation_id: int) -> InvitationView:
    """The invited person accepts (``invitation.accepted``).

    To claim a wish: by the rules and the conditional UPDATE of ``wishes.claim`` (first
    acceptance wins; ``wish.claimed`` tells the resident who is coming); the wish's other
    pending invitations are withdrawn and their people told. To come to a shift: a
    confirmed signup as ``tasks.sign_up`` makes one (409 ``occurrence_full`` when no place
    is left). 409 when the wish is no longer open, the invitation no longer pending, or
    its deadline passed. Nothing is written when it is refused.
    """
    row = await _own(actor, invitation_id)
    if row.wish_id is not None:
        await _accept_wish(hub, actor, row)
    else:
        await _accept_shift(hub, actor, row)
    return await invitation(hub, actor, row.id)


async def _answer(uow: UnitOfWork, row: Invitation, status: InvitationStatus, **changes) -> None:
    """Move the invitation from pending (before its deadline) to ``status``, or 409."""
    query = Invitation.filter(id=row.id, status=InvitationStatus.PENDING)
    if status is InvitationStatus.ACCEPTED:
        query = query.filter(expires_at__gt=uow.now)
    if not await query.update(status=status, answered_at=uow.now, **changes):
        raise _answered(await Invitation.get(id=row.id), uow.now)
    await row.refresh_from_db()
    await uow.record(
        f"invitation.{status.value}",
        row,
        community_id=row.community_id,
        after=dispatch.about(row) | {"status": status.value, **changes},
    )


async def _accept_wish(hub: Hub, actor: Actor, row: Invitation) -> None:
    wish = await Wish.get(id=row.wish_id)
    if wish.status is WishStatus.OPEN:
        violations = await wishes.serving_violations(hub, actor, wish)
        if violations:
            raise wishes.claim_refusal(hub, wish, violations)
    async with unit_of_work(hub, actor.id) as uow:
        locked = await dispatch.lock(wish.id)  # first: accepts and expiries of it queue here
        if locked is None or locked.status is not WishStatus.OPEN:
            if locked is not None and locked.status is WishStatus.CLAIMED:
                raise Conflict("Someone has claimed this wish already.", code="already_claimed")
            raise _not_open(locked.status if locked else WishStatus.CANCELLED)
        await _answer(uow, row, InvitationStatus.ACCEPTED)
        await wishes.claim_within(uow, locked, actor.id)


async def _accept_shift(hub: Hub, actor: Actor, row: Invitation) -> None:
    occurrence = await Occurrence.get(id=row.occurrence_id).select_related("task")
    task = occurrence.task
    async with unit_of_work(hub, actor.id) as uow:
        capacity = await tasks.lock_task(task.id)  # 409 once the task is cancelled
        locked = await tasks.lock_occurrence(task, occurrence.start, capacity)
        if locked.cancelled:
            raise Conflict("This occurrence is cancelled.", code="occurrence_cancelled")
        await _answer(uow, row, InvitationStatus.ACCEPTED)
        if await Signup.exists(
            occurrence_id=locked.id, person_id=actor.id, status__in=tasks.ACTIVE_SIGNUP
        ):
            raise Conflict("You have signed up for this already.", code="already_signed_up")
        if not await Occurrence.filter(id=locked.id, taken__lt=F("capacity")).update(
            taken=F("taken") + 1
        ):
            raise Conflict("Every place of this shift is taken.", code="occurrence_full")
        signup = await Signup.create(
            occurrence_id=locked.id,
            person_id=actor.id,
            status=SignupStatus.CONFIRMED,
            created_at=uow.now,
        )
        await uow.record(
            "signup.confirmed",
            signup,
            community_id=task.community_id,
            after={
                "status": SignupStatus.CONFIRMED.value,
                "task_id": task.id,
                "person_id": actor.id,
                "occurrence_start": locked.start,
                "invitation_id": row.id,
            },
        )


async def decline(
    hub: Hub, actor: Actor, invitation_id: int, data: DeclineIn | dict | None = None
) -> InvitationView:
    """The invited person declines, with a reason if they like (``invitation.declined``);
    the next candidate is invited at once: for a wish still open (``dispatch.fill``), and
    for a shift ahead with the place still free (``dispatch.refill_shift``)."""
    row = await _own(actor, invitation_id)
    data = parse(DeclineIn, data or {})
    async with unit_of_work(hub, actor.id) as uow:
        # The wish's row, or the task's and the occurrence's, first: answers queue there.
        wish = await dispatch.lock(row.wish_id) if row.wish_id is not None else None
        shift = await dispatch.lock_shift(row.occurrence_id) if row.occurrence_id else None
        await _answer(uow, row, InvitationStatus.DECLINED, decline_reason=data.reason)
        if wish is not None and wish.status is WishStatus.OPEN:
            await dispatch.fill(uow, wish)
        if shift is not None:
            await dispatch.refill_shift(uow, shift, 1)
    return await invitation(hub, actor, row.id)


async def wish_invitations(hub: Hub, actor: Actor, wish_id: int) -> list[StaffInvitationView]:
    """A wish's invitations, oldest first (staff of its community)."""
    wish = await wishes.get_wish(hub, actor, wish_id)
    if not actor.is_staff(wish.community_id):
        raise PermissionDenied("Only staff of this community can do this.")
    rows = await Invitation.filter(wish_id=wish.id).order_by("id")
    zone = (await Community.get(id=wish.community_id)).timezone
    names = dict(
        await Person.filter(
            Q(id__in=sorted({r.person_id for r in rows}))
            | Q(id__in=sorted({r.invited_by_id for r in rows if r.invited_by_id}))
        ).values_list("id", "name")
    )
    return [
        StaffInvitationView(
            id=r.id,
            person_id=r.person_id,
            name=names.get(r.person_id, ""),
            status=r.status.value,
            expires_at=r.expires_at,
            created_at=r.created_at,
            answered_at=r.answered_at,
            rank=r.rank,
            reasons=tuple(r.reasons or ()),
            decline_reason=r.decline_reason,
            invited_by=names.get(r.invited_by_id) if r.invited_by_id else None,
            timezone=zone,
        )
        for r in rows
    ]


def answer_path(invitation_id: int) -> str:
    """The page where the invited person answers (after logging in)."""
    return f"/invitations/{invitation_id}"


def answer_url(hub: Hub, invitation_id: int) -> str:
    """The absolute address of ``answer_path``, for messages."""
    return f"{hub.settings.public_url}{answer_path(invitation_id)}"
