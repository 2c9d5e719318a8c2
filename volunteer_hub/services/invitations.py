"""Invitations: staff ask a volunteer to claim an open wish, or a person to come to one
occurrence of a task (the staff console's invite buttons, ``/wishes/{id}/invitations`` and
``/tasks/{id}/invitations``).

An invitation is an audit entry (of the wish, or of the occurrence) and a domain event
(``wish.invited``, ``task.invited``); the invited person hears of it through their channels.
Whom one may invite is whom the wish's or the task's own rules let take part:
``wishes.serving_violations`` and the registration rules of a signup.
"""

from __future__ import annotations

from volunteer_hub.errors import Conflict, InvalidInput, PermissionDenied, RuleViolation, Violation
from volunteer_hub.hub import Hub
from volunteer_hub.models import (
    AuditEntry,
    Community,
    MembershipStatus,
    Occurrence,
    Person,
    RoleAssignment,
    Signup,
    Team,
    TeamMembership,
    Wish,
    WishStatus,
)
from volunteer_hub.services import matching, tasks, wishes
from volunteer_hub.services.access import Actor, load_actor
from volunteer_hub.services.facts import person_facts
from volunteer_hub.services.teams import check_rules
from volunteer_hub.services.uow import UnitOfWork, unit_of_work
from volunteer_hub.validation import Id, Input, Moment, parse

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
        if not await Wish.filter(id=wish.id, status=WishStatus.OPEN).update(status=WishStatus.OPEN):
            raise _not_open((await Wish.get(id=wish.id)).status)
        if invitee.id in await invited_people(wish.id):
            raise Conflict("This person has been invited already.", code="already_invited")
        await uow.record(
            "wish.invited", wish, community_id=wish.community_id, after={"person_id": invitee.id}
        )
    return wish


async def invited_people(wish_id: int) -> set[int]:
    """The people invited to claim the wish (from its audit trail)."""
    rows = await AuditEntry.filter(
        entity_type="wish", entity_id=wish_id, action="wish.invited"
    ).values_list("after", flat=True)
    return {row["person_id"] for row in rows if isinstance(row, dict) and "person_id" in row}


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


async def offer_to_next(uow: UnitOfWork, wish: Wish, volunteer_id: int) -> None:
    """Inside the transaction that made ``wish`` open again: invite the next volunteer(s).
    The one place every reopening goes through (hand-back, deactivation, no-show)."""
    community = await Community.get(id=wish.community_id)
    if wish.category in (community.manual_dispatch_categories or []):
        return
    skip = await invited_people(wish.id) | {volunteer_id}
    for candidate in await matching.rank(uow.hub, wish, limit=50):
        if candidate.person_id in skip:
            continue
        invitee = await load_actor(candidate.person_id)
        if await wishes.serving_violations(uow.hub, invitee, wish):
            continue
        handed_back_by, uow.actor_id = uow.actor_id, None  # the community invites
        try:
            await uow.record(
                "wish.invited",
                wish,
                community_id=wish.community_id,
                after={"person_id": invitee.id},
            )
        finally:
            uow.actor_id = handed_back_by
        return


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
        invited = await AuditEntry.filter(
            entity_type="occurrence", entity_id=occurrence.id, action="task.invited"
        ).values_list("after", flat=True)
        if any(isinstance(a, dict) and a.get("person_id") == person.id for a in invited):
            raise Conflict("This person has been invited already.", code="already_invited")
        await uow.record(
            "task.invited",
            occurrence,
            community_id=task.community_id,
            after={"task_id": task.id, "person_id": person.id, "occurrence_start": start},
        )
    return occurrence
