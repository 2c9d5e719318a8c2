"""Micro-wishes (微心愿): post, review, claim, fulfil, confirm, cancel, expire, escalate.

State changes are conditional UPDATEs (``WHERE status = <expected>``): whatever the
concurrency, one change wins and the others see that the state moved (409).

Callers that show a wish get it as the actor may see it (``view``, ``list_wishes``,
``as_seen_by``: a ``services.views.WishView``, with the resident's contact only where
``can_see_contact`` allows and the actions the actor may take now). The actions return the
stored wish, for the other services. Inviting volunteers is ``services.invitations``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from dataclasses import replace
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Annotated, Literal

from pydantic import Field
from tortoise.expressions import Q

from volunteer_hub.clock import as_utc
from volunteer_hub.errors import (
    Conflict,
    InvalidInput,
    NotFound,
    PermissionDenied,
    RuleViolation,
    Violation,
)
from volunteer_hub.hooktypes import AdmissionDecision, PersonFacts, WishCategory, WishFacts
from volunteer_hub.hub import Hub
from volunteer_hub.i18n import localize
from volunteer_hub.models import (
    AuditEntry,
    Community,
    Escalation,
    Invitation,
    InvitationStatus,
    MembershipStatus,
    Person,
    ResponsibleContact,
    Role,
    ServiceRecord,
    TeamMembership,
    Wish,
    WishStatus,
)
from volunteer_hub.services import emergency, referrals
from volunteer_hub.services.access import Actor, awaiting_approval
from volunteer_hub.services.facts import person_facts
from volunteer_hub.services.people import get_community
from volunteer_hub.services.uow import UnitOfWork, snapshot, unit_of_work
from volunteer_hub.services.views import Contact, PersonName, WishView
from volunteer_hub.validation import Day, Id, Input, Line, Moment, Text, enum_value, parse

_AUDIT_FIELDS = ("status", "escalation", "claimer_id", "category", "title")
# Lowest first: the levels in the order the enum defines them, the one place for it.
ESCALATION_ORDER = tuple(Escalation)
ACTIVE_STATUSES = (WishStatus.SUBMITTED, WishStatus.OPEN, WishStatus.CLAIMED)
# What runs inside the transaction that opened a wish (automatic dispatch).
OnOpen = Callable[[UnitOfWork, "Wish"], Awaitable[None]]


# The longest a wish's time window may be (API.md ``window``): help "some time this
# month" is not a window, and ranking keeps volunteers free for all of it.
MAX_WINDOW = timedelta(days=30)


class WindowIn(Input):
    """When help is needed: from ``start`` to ``end`` (ISO 8601 with an offset)."""

    start: Moment
    end: Moment


class WishIn(Input):
    title: Annotated[Line, Field(min_length=2, max_length=100)]
    description: Annotated[Text, Field(min_length=1, max_length=2000)]
    category: Annotated[str, Field(min_length=1, max_length=40)]
    needed_by: Day | None = None
    on_behalf_of: Id | None = None
    window: WindowIn | None = None
    # Marked by the resident, or by the grid worker or staff posting for them: the
    # escalation plan starts sooner, the board shows it first, dispatch ignores quiet hours.
    urgent: bool = False


class ReviewIn(Input):
    decision: Literal["approve", "reject"]
    reason: Annotated[Line, Field(max_length=500)] | None = None


class FulfilIn(Input):
    note: Annotated[Line, Field(max_length=500)] | None = None
    hours: Annotated[Decimal, Field(gt=0, le=24, decimal_places=2)] = Decimal(1)


class HandBackIn(Input):
    reason: Annotated[Line, Field(max_length=500)] | None = None


class ConfirmIn(Input):
    rating: Annotated[int, Field(ge=1, le=5)]
    thanks: Annotated[Line, Field(max_length=500)] | None = None


class CancelIn(Input):
    reason: Annotated[Line, Field(min_length=1, max_length=500)]


class EscalateIn(Input):
    level: Escalation
    referral: Annotated[Line, Field(max_length=200)] | None = None


# --- reading and visibility ---------------------------------------------------------


async def get_wish(hub: Hub, actor: Actor, wish_id: int) -> Wish:
    """The wish if the actor may see it; otherwise NotFound (no hint that it exists)."""
    wish = await Wish.get_or_none(id=wish_id)
    if wish is None or not await can_see(hub, actor, wish):
        raise NotFound("No such wish.", code="wish_not_found")
    return wish


async def can_see(hub: Hub, actor: Actor, wish: Wish) -> bool:
    if actor.is_staff(wish.community_id) or actor.id in (wish.resident_id, wish.posted_by_id):
        return True
    if wish.claimer_id == actor.id:
        return True
    if wish.status not in (WishStatus.OPEN, WishStatus.CLAIMED):
        return False
    if not actor.has_role(wish.community_id, Role.VOLUNTEER):
        return False
    category = category_of(hub, wish.community_id, wish.category)
    if category.restricted:
        standing = await _Standing.load(hub, actor, wish.community_id)
        return await standing.qualified_for(category)
    return True


# The claimer serves the resident while the wish is in these states, and sees their contact.
SERVING_STATUSES = frozenset({WishStatus.CLAIMED, WishStatus.FULFILLED})


def can_see_contact(actor: Actor, wish: Wish, resident: Person) -> bool:
    """Whether the actor may see the resident's phone and address on ``wish`` (API.md):
    the resident, staff of the community, grid workers of the resident's grid (who often
    post for them), and the claimer from the claim until the wish is confirmed, cancelled
    or expired. The one rule for every place that shows a contact."""
    if actor.id == resident.id or actor.is_staff(wish.community_id):
        return True
    if resident.grid_id is not None and resident.grid_id in actor.grids_worked(wish.community_id):
        return True
    return wish.claimer_id == actor.id and wish.status in SERVING_STATUSES


async def list_wishes(
    hub: Hub,
    actor: Actor,
    community_id: int,
    *,
    status: WishStatus | str | None = None,
    category: str | None = None,
    grid_id: int | None = None,
    after_id: int | None = None,
    limit: int = 50,
) -> list[WishView]:
    """The wishes of a community that the actor may see, as they may see them, oldest
    first, from ``after_id``."""
    await get_community(community_id)
    query = Wish.filter(community_id=community_id)
    if category is not None:
        query = query.filter(category=category)
    if grid_id is not None:
        query = query.filter(grid_id=grid_id)
    if status is not None:
        query = query.filter(status=enum_value("status", WishStatus, status))
    if not actor.is_staff(community_id):
        visible = Q(resident_id=actor.id) | Q(posted_by_id=actor.id) | Q(claimer_id=actor.id)
        if actor.has_role(community_id, Role.VOLUNTEER):
            categories = hub.wish_categories(community_id)
            hidden = []
            if any(c.restricted for c in categories.values()):
                standing = await _Standing.load(hub, actor, community_id)
                hidden = [
                    code
                    for code, c in categories.items()
                    if c.restricted and not await standing.qualified_for(c)
                ]
            in_progress = Q(status__in=[WishStatus.OPEN, WishStatus.CLAIMED])
            visible |= in_progress & ~Q(category__in=hidden) if hidden else in_progress
        query = query.filter(visible)
    if after_id is not None:
        query = query.filter(id__gt=after_id)
    return await views_of(hub, actor, await query.order_by("id").limit(limit))


PUBLIC_STATUSES = frozenset(
    {WishStatus.OPEN, WishStatus.CLAIMED, WishStatus.FULFILLED, WishStatus.CONFIRMED}
)


async def public_wishes(
    hub: Hub,
    community_id: int,
    *,
    ids: Iterable[int] | None = None,
    categories: Iterable[str] | None = None,
    statuses: Iterable[WishStatus] | None = None,
    created_from: datetime | None = None,
    created_until: datetime | None = None,
    limit: int = 1000,
) -> list[Wish]:
    """Wishes anyone may know exist, newest first: past review, not in a restricted category.

    Callers show only their category, status and dates (Open311 without a key): titles and
    descriptions can say who a resident is.
    """
    codes = {c for c, cat in hub.wish_categories(community_id).items() if not cat.restricted}
    allowed = set(PUBLIC_STATUSES)
    if categories is not None:
        codes &= set(categories)
    if statuses is not None:
        allowed &= set(statuses)
    if not codes or not allowed:
        return []
    query = Wish.filter(community_id=community_id, category__in=sorted(codes))
    query = query.filter(status__in=sorted(allowed))
    if ids is not None:
        query = query.filter(id__in=sorted(ids))
    if created_from is not None:
        query = query.filter(created_at__gte=as_utc(created_from))
    if created_until is not None:
        query = query.filter(created_at__lte=as_utc(created_until))
    return await query.order_by("-id").limit(limit)


# --- posting and review ----------------------------------------------------------------


async def post(
    hub: Hub,
    actor: Actor,
    community_id: int,
    data: WishIn | dict,
    *,
    open311_key_id: int | None = None,
    on_open: OnOpen | None = None,
) -> Wish:
    """Post a wish, for yourself or (staff, grid workers) on behalf of a resident.

    ``open311_key_id``: the integrator's key it came through (services.open311_keys).
    ``on_open(uow, wish)`` runs in the same transaction when emergency mode opens the wish
    at once (``invitations.post`` dispatches it there).
    """
    community = await get_community(community_id)
    data = parse(WishIn, data)
    categories = hub.wish_categories(community.id)
    if data.category not in categories:
        raise InvalidInput.for_field(
            "category",
            "Unknown wish category. Known categories: {expected}.",
            expected=", ".join(categories),
        )
    if data.needed_by is not None and data.needed_by < hub.today(community.timezone):
        raise InvalidInput.for_field("needed_by", "This date is in the past.")
    if data.window is not None:
        check_window(hub, data.window)
    resident = await actor.load_person()
    if data.on_behalf_of is not None and data.on_behalf_of != actor.id:
        resident = await _resident_for(actor, community, data.on_behalf_of)
    elif not actor.is_staff(community.id) and resident.community_id != community.id:
        raise PermissionDenied("You can only post wishes in your own community.")

    facts = WishFacts(
        id=None,
        community_id=community.id,
        grid_id=resident.grid_id,
        category=data.category,
        title=data.title,
        description=data.description,
        needed_by=data.needed_by,
        status=WishStatus.SUBMITTED.value,
    )
    decision = admission(hub, facts)
    if not decision.accepted:
        raise RuleViolation(
            "The admission list refuses this wish.",
            code="not_admitted",
            details=[Violation(decision.rule, _refusal_text(decision))],
        )
    plan = (
        urgent_plan(decision.escalate_after_hours)
        if data.urgent
        else dict(decision.escalate_after_hours)
    )
    # A wish taken in to be passed on keeps whom the admission list refers it to.
    referral = localize(decision.referral)[:200] if decision.referral else None
    async with unit_of_work(hub, actor.id) as uow:
        wish = await Wish.create(
            community_id=community.id,
            grid_id=resident.grid_id,
            resident_id=resident.id,
            posted_by_id=actor.id,
            title=data.title,
            description=data.description,
            category=data.category,
            needed_by=data.needed_by,
            window_start=as_utc(data.window.start) if data.window else None,
            window_end=as_utc(data.window.end) if data.window else None,
            urgent=data.urgent,
            status=WishStatus.SUBMITTED,
            escalation_plan=plan or None,
            referral=referral,
            open311_key_id=open311_key_id,
            created_at=uow.now,
        )
        after = snapshot(wish, *_AUDIT_FIELDS, "resident_id", "posted_by_id")
        if wish.urgent:
            after["urgent"] = True
        if wish.window_start is not None:
            after["window"] = {"start": wish.window_start, "end": wish.window_end}
        if open311_key_id is not None:
            after["open311_key_id"] = open311_key_id
        await uow.record("wish.posted", wish, community_id=community.id, after=after)
        if emergency.approves_automatically(community, wish.category):
            await _approve_for_emergency(uow, wish)
            if on_open is not None:
                await on_open(uow, wish)
    return wish


def check_window(hub: Hub, window: WindowIn) -> None:
    """A window ends after it starts, does not start in the past, and lasts at most
    ``MAX_WINDOW``; each refusal names ``window.start`` or ``window.end``."""
    if window.start < hub.now():
        raise InvalidInput.for_field("window.start", "This time is in the past.")
    if window.end <= window.start:
        raise InvalidInput.for_field("window.end", "Must be after the start.")
    if window.end - window.start > MAX_WINDOW:
        raise InvalidInput.for_field(
            "window.end", "A time window may last {days} days at most.", days=MAX_WINDOW.days
        )


def urgent_plan(after_hours: dict[str, float] | None) -> dict[str, float]:
    """An urgent wish's escalation plan: the admission list's hours halved, and blue at
    once (the worker's next round). No plan stays no plan: urgency does not refer a wish
    that the community handles itself."""
    if not after_hours:
        return {}
    plan = {level: hours / 2 for level, hours in after_hours.items()}
    plan[Escalation.BLUE.value] = 0
    return plan


async def _approve_for_emergency(uow: UnitOfWork, wish: Wish) -> None:
    """Emergency mode chose this category: the wish is open at once, approved by the system
    (no actor in the audit trail), and ``wish.approved`` tells whoever reacts to it."""
    before = snapshot(wish, *_AUDIT_FIELDS)
    await Wish.filter(id=wish.id).update(status=WishStatus.OPEN, updated_at=uow.now)
    wish.status, wish.updated_at = WishStatus.OPEN, uow.now
    poster, uow.actor_id = uow.actor_id, None
    try:
        await uow.record(
            "wish.approved",
            wish,
            community_id=wish.community_id,
            before=before,
            after={**snapshot(wish, *_AUDIT_FIELDS), "approved_by": "emergency_mode"},
        )
    finally:
        uow.actor_id = poster


def admission(hub: Hub, facts: WishFacts) -> AdmissionDecision:
    """The admission list's decision: the first plugin that answers; accept if none does.

    A plugin that raises refuses (the admission list fails closed).
    """
    result = hub.plugins.call_first("vh_admit_wish", wish=facts)
    if result is None:
        return AdmissionDecision(accepted=True)
    if result.error is not None:
        return AdmissionDecision(
            accepted=False,
            rule="plugin_error",
            reason={
                "zh-CN": f"准入清单插件 {result.plugin} 出错，暂时无法受理",
                "en": f"The admission plugin {result.plugin} failed; try again later",
            },
        )
    return result.value


def _refusal_text(decision: AdmissionDecision) -> dict[str, str]:
    """The reason, followed by the referral when there is one, in each language."""
    reason = decision.reason or {"zh-CN": "本社区不受理此类事项", "en": "Not accepted here"}
    texts = {}
    for locale in ("zh-CN", "en"):
        text = localize(reason, locale)
        if decision.referral:
            referral = localize(decision.referral, locale)
            text += f"（{referral}）" if locale == "zh-CN" else f" ({referral})"
        texts[locale] = text
    return texts


async def _resident_for(actor: Actor, community: Community, person_id: int) -> Person:
    if not (actor.is_staff(community.id) or actor.is_grid_worker(community.id)):
        raise PermissionDenied("Only staff and grid workers can post on behalf of a resident.")
    resident = await Person.get_or_none(id=person_id)
    if resident is None or resident.community_id != community.id:
        raise InvalidInput.for_field("on_behalf_of", "No such resident in this community.")
    if not actor.is_staff(community.id) and resident.grid_id not in actor.grids_worked(
        community.id
    ):
        raise PermissionDenied("This resident does not live in a grid you work.")
    return resident


async def review(
    hub: Hub,
    actor: Actor,
    wish_id: int,
    data: ReviewIn | dict,
    *,
    on_open: OnOpen | None = None,
) -> Wish:
    """Staff approve (the wish is open) or reject it. ``on_open(uow, wish)`` runs in the
    approval's transaction (``invitations.review`` dispatches the wish there)."""
    wish = await get_wish(hub, actor, wish_id)
    if not actor.is_staff(wish.community_id):
        raise PermissionDenied("Only staff of this community can do this.")
    data = parse(ReviewIn, data)
    if data.decision == "reject" and not data.reason:
        raise InvalidInput.for_field("reason", "A reason is required to reject a wish.")
    new_status = WishStatus.OPEN if data.decision == "approve" else WishStatus.REJECTED
    return await _transition(
        hub,
        actor,
        wish,
        WishStatus.SUBMITTED,
        new_status,
        f"wish.{'approved' if data.decision == 'approve' else 'rejected'}",
        then=on_open if data.decision == "approve" else None,
        review_reason=data.reason,
    )


# --- claiming and serving -----------------------------------------------------------------


async def claim(hub: Hub, actor: Actor, wish_id: int) -> Wish:
    """Claim an open wish. Exactly one claimer wins, whatever the concurrency.

    Who may claim is ``serving_violations``; a person who joined a team of the community
    and is not approved yet is told so (403 ``volunteer_not_approved``), not 404.
    """
    wish = await Wish.get_or_none(id=wish_id)
    if wish is None or not await can_see(hub, actor, wish):
        if wish is not None and await awaiting_approval(actor, wish.community_id):
            raise _CLAIM_REFUSALS["volunteer_not_approved"](None)
        raise NotFound("No such wish.", code="wish_not_found")
    violations = await serving_violations(hub, actor, wish)
    if violations:
        kind = category_of(hub, wish.community_id, wish.category).team_kind
        raise _CLAIM_REFUSALS[violations[0].rule](kind)
    return await _transition(
        hub,
        actor,
        wish,
        WishStatus.OPEN,
        WishStatus.CLAIMED,
        "wish.claimed",
        claimer_id=actor.id,
        claimed_at=hub.now(),
    )


def claim_refusal(hub: Hub, wish: Wish, violations: list[Violation]) -> PermissionDenied:
    """What a would-be claimer is told for the first rule of ``serving_violations``."""
    kind = category_of(hub, wish.community_id, wish.category).team_kind
    return _CLAIM_REFUSALS[violations[0].rule](kind)


async def claim_within(uow: UnitOfWork, wish: Wish, claimer_id: int) -> Wish:
    """Inside ``uow``: ``claimer_id`` claims the open ``wish`` (the rules checked by the
    caller), by the same conditional UPDATE as ``claim``: 409 ``already_claimed`` when it
    is no longer open. Its pending invitations close (``close_invitations``)."""
    before = snapshot(wish, *_AUDIT_FIELDS)
    moved = await Wish.filter(id=wish.id, status=WishStatus.OPEN).update(
        status=WishStatus.CLAIMED, claimer_id=claimer_id, claimed_at=uow.now, updated_at=uow.now
    )
    if not moved:
        current = await Wish.get(id=wish.id)
        if current.status is WishStatus.CLAIMED:
            raise Conflict("Someone has claimed this wish already.", code="already_claimed")
        raise Conflict(
            "This wish is {status} and cannot change that way.",
            code="invalid_state",
            status=current.status.value,
        )
    await wish.refresh_from_db()
    await uow.record(
        "wish.claimed",
        wish,
        community_id=wish.community_id,
        before=before,
        after=snapshot(wish, *_AUDIT_FIELDS),
    )
    await close_invitations(uow, wish)
    return wish


async def may_claim(hub: Hub, actor: Actor, wish: Wish) -> bool:
    """Whether the actor may claim the wish now (the claim button of the pages)."""
    return wish.status is WishStatus.OPEN and not await serving_violations(hub, actor, wish)


# What the claimer is told for each rule of ``serving_violations`` (in their own words).
_CLAIM_REFUSALS = {
    "own_wish": lambda kind: PermissionDenied("You cannot claim your own wish.", code="own_wish"),
    "category_not_served": lambda kind: PermissionDenied(
        "Volunteers do not serve this category: it is referred.", code="category_not_served"
    ),
    "volunteer_not_approved": lambda kind: PermissionDenied(
        "The community has not approved you as a volunteer yet.", code="volunteer_not_approved"
    ),
    "not_a_volunteer": lambda kind: PermissionDenied(
        "Only volunteers of this community can claim wishes.", code="not_a_volunteer"
    ),
    "not_in_serving_team": lambda kind: PermissionDenied(
        "Only members of a {kind} team can claim this wish.", code="not_in_serving_team", kind=kind
    ),
    "not_qualified": lambda kind: PermissionDenied(
        "You lack the qualification this wish needs.", code="not_qualified"
    ),
}


async def fulfil(hub: Hub, actor: Actor, wish_id: int, data: FulfilIn | dict | None = None) -> Wish:
    wish = await get_wish(hub, actor, wish_id)
    if not _is_claimer(actor, wish):
        raise PermissionDenied("Only the claimer can mark this wish fulfilled.")
    data = parse(FulfilIn, data or {})
    return await _transition(
        hub,
        actor,
        wish,
        WishStatus.CLAIMED,
        WishStatus.FULFILLED,
        "wish.fulfilled",
        claimed_by=actor.id,  # not a wish handed back and claimed by someone else meanwhile
        fulfil_note=data.note,
        hours=data.hours,
        fulfilled_at=hub.now(),
    )


async def hand_back(
    hub: Hub,
    actor: Actor,
    wish_id: int,
    data: HandBackIn | dict | None = None,
    *,
    then: Callable[[UnitOfWork, Wish, int], Awaitable[None]] | None = None,
) -> Wish:
    """The claimer gives a claimed wish back (ill, away, it is more than they can do): it is
    open again, with no claimer, and ``wish.handed_back`` tells the resident and staff.

    One conditional UPDATE (``WHERE status = 'claimed' AND claimer_id = <actor>``), so of a
    hand-back and a fulfil, a second hand-back or (after it) a new claim at the same moment
    exactly one wins; the others get 409. ``then(uow, wish, volunteer_id)`` runs in the same
    transaction (``invitations.hand_back`` offers the wish to the next volunteer there).
    """
    wish = await get_wish(hub, actor, wish_id)
    if not _is_claimer(actor, wish):
        raise PermissionDenied("Only the claimer can hand this wish back.")
    data = parse(HandBackIn, data or {})
    async with unit_of_work(hub, actor.id) as uow:
        if not await _reopen(uow, wish, actor.id, data.reason):
            current = await Wish.get(id=wish.id)
            raise Conflict(
                "This wish is {status} and cannot change that way.",
                code="invalid_state",
                status=current.status.value,
            )
        if then is not None:
            await then(uow, wish, actor.id)
    return wish


async def release_claims(uow: UnitOfWork, volunteer_id: int) -> list[Wish]:
    """Inside ``uow``: every wish ``volunteer_id`` holds as claimer opens again, as if they
    had handed it back (a deactivated volunteer serves nobody). Returns those wishes."""
    released = []
    for wish in await Wish.filter(claimer_id=volunteer_id, status=WishStatus.CLAIMED):
        if await _reopen(uow, wish, volunteer_id, None):
            released.append(wish)
    return released


async def reopen_after_no_show(uow: UnitOfWork, wish: Wish, volunteer_id: int) -> bool:
    """Inside ``uow``: a claimed wish past due and not fulfilled opens again, its claimer
    cleared, as at a hand-back but recorded as ``wish.no_show`` (``services.no_shows``).
    False when it is no longer ``volunteer_id``'s and claimed."""
    return await _reopen(uow, wish, volunteer_id, None, action="wish.no_show")


async def _reopen(
    uow: UnitOfWork,
    wish: Wish,
    volunteer_id: int,
    reason: str | None,
    *,
    action: str = "wish.handed_back",
) -> bool:
    """Open a wish its claimer gives back (``wish.handed_back``: the resident and staff
    are told): one conditional UPDATE, False when it is no longer theirs and claimed."""
    before = snapshot(wish, *_AUDIT_FIELDS)
    moved = await Wish.filter(
        id=wish.id, status=WishStatus.CLAIMED, claimer_id=volunteer_id
    ).update(status=WishStatus.OPEN, claimer_id=None, claimed_at=None, updated_at=uow.now)
    if not moved:
        return False
    await wish.refresh_from_db()
    await uow.record(
        action,
        wish,
        community_id=wish.community_id,
        before=before,
        after=snapshot(wish, *_AUDIT_FIELDS) | {"reason": reason},
        data={"volunteer_id": volunteer_id, "reason": reason},
    )
    return True


async def confirm(hub: Hub, actor: Actor, wish_id: int, data: ConfirmIn | dict) -> Wish:
    """The resident (or staff, or the grid worker who posted it) confirms and thanks.

    The claimer's hours are recorded in the same transaction.
    """
    wish = await get_wish(hub, actor, wish_id)
    if not _speaks_for_resident(actor, wish):
        raise PermissionDenied("Only the resident or staff can confirm this wish.")
    data = parse(ConfirmIn, data)
    if wish.status is WishStatus.CONFIRMED:
        raise Conflict("This wish is confirmed already.", code="already_confirmed")
    return await _transition(
        hub,
        actor,
        wish,
        WishStatus.FULFILLED,
        WishStatus.CONFIRMED,
        "wish.confirmed",
        rating=data.rating,
        thanks=data.thanks,
        confirmed_at=hub.now(),
        then=_record_hours,
    )


async def _record_hours(uow: UnitOfWork, wish: Wish) -> None:
    if wish.claimer_id is None or wish.resolved_by_id is not None:
        return  # resolved by a responsible contact (吹哨): no volunteer's hours
    hours = wish.hours or Decimal(1)
    started = wish.claimed_at or uow.now
    await ServiceRecord.create(
        created_at=uow.now,
        person_id=wish.claimer_id,
        community_id=wish.community_id,
        wish_id=wish.id,
        description=wish.title,
        started_at=started,
        ended_at=wish.fulfilled_at or uow.now,
        hours=hours,
    )


async def cancel(hub: Hub, actor: Actor, wish_id: int, data: CancelIn | dict) -> Wish:
    wish = await get_wish(hub, actor, wish_id)
    if not _speaks_for_resident(actor, wish):
        raise PermissionDenied("Only the resident or staff can cancel this wish.")
    data = parse(CancelIn, data)
    if wish.status not in ACTIVE_STATUSES:
        raise Conflict(
            "This wish is {status} and cannot change that way.",
            code="invalid_state",
            status=wish.status.value,
        )
    return await _transition(
        hub,
        actor,
        wish,
        wish.status,
        WishStatus.CANCELLED,
        "wish.cancelled",
        cancel_reason=data.reason,
    )


async def expire_overdue(hub: Hub, community_id: int | None = None) -> int:
    """Expire submitted and open wishes whose needed-by date has passed (community time).

    All communities, or only ``community_id``.
    """
    expired = 0
    communities = Community.all() if community_id is None else Community.filter(id=community_id)
    for community in await communities:
        today = hub.today(community.timezone)
        overdue = await Wish.filter(
            community_id=community.id,
            status__in=[WishStatus.SUBMITTED, WishStatus.OPEN],
            needed_by__lt=today,
        )
        for wish in overdue:
            try:
                await _transition(hub, None, wish, wish.status, WishStatus.EXPIRED, "wish.expired")
            except Conflict:
                continue  # claimed or changed meanwhile
            expired += 1
    return expired


# --- escalation (吹哨) ----------------------------------------------------------------------


async def escalate(hub: Hub, actor: Actor, wish_id: int, data: EscalateIn | dict) -> Wish:
    """Staff raise a wish to a higher level (blue → yellow → red), naming the referral."""
    wish = await get_wish(hub, actor, wish_id)
    if not actor.is_staff(wish.community_id):
        raise PermissionDenied("Only staff of this community can do this.")
    data = parse(EscalateIn, data)
    return await _raise_level(hub, actor, wish, data.level, data.referral)


async def advance_escalations(hub: Hub) -> int:
    """Raise unhandled wishes to the level their escalation plan reaches by now."""
    raised = 0
    now = hub.now()
    for wish in await Wish.filter(status__in=list(ACTIVE_STATUSES), escalation_plan__isnull=False):
        due = None
        for level in ESCALATION_ORDER:
            hours = (wish.escalation_plan or {}).get(level.value)
            if hours is not None and wish.created_at + timedelta(hours=hours) <= now:
                due = level
        if due is not None and _level_index(due) > _level_index(wish.escalation):
            try:
                await _raise_level(hub, None, wish, due, None)
            except Conflict:
                continue
            raised += 1
    return raised


def _level_index(level: Escalation | None) -> int:
    return -1 if level is None else ESCALATION_ORDER.index(level)


async def _raise_level(
    hub: Hub, actor: Actor | None, wish: Wish, level: Escalation, referral: str | None
) -> Wish:
    if wish.status not in ACTIVE_STATUSES:
        raise Conflict(
            "This wish is {status} and cannot change that way.",
            code="invalid_state",
            status=wish.status.value,
        )
    if _level_index(level) <= _level_index(wish.escalation):
        raise Conflict("The wish is at this level or higher already.", code="already_escalated")
    async with unit_of_work(hub, actor.id if actor else None) as uow:
        if not await escalate_within(uow, wish, level, referral):
            raise Conflict("The wish is at this level or higher already.", code="already_escalated")
    return wish


def next_level(level: Escalation | None) -> Escalation | None:
    """The level above ``level`` (None: blue); None above red."""
    index = _level_index(level) + 1
    return ESCALATION_ORDER[index] if index < len(ESCALATION_ORDER) else None


async def escalate_within(
    uow: UnitOfWork, wish: Wish, level: Escalation, referral: str | None = None
) -> bool:
    """Inside ``uow``: raise ``wish`` to ``level`` (``wish.escalated``) if it is below it,
    in one conditional UPDATE, and refer it to the level's responsible contacts; False when
    it is at that level or higher already."""
    lower = [e for e in ESCALATION_ORDER if _level_index(e) < _level_index(level)]
    before = snapshot(wish, *_AUDIT_FIELDS)
    changes = {"escalation": level, "escalated_at": uow.now, "updated_at": uow.now}
    if referral:
        changes["referral"] = referral
    updated = await Wish.filter(
        Q(escalation__isnull=True) | Q(escalation__in=lower), id=wish.id
    ).update(**changes)
    if not updated:
        return False
    await wish.refresh_from_db()
    await uow.record(
        "wish.escalated",
        wish,
        community_id=wish.community_id,
        before=before,
        after=snapshot(wish, *_AUDIT_FIELDS, "referral"),
    )
    # The responsible contacts at this level hear of it, each with their own link.
    await referrals.refer(uow, wish)
    return True


# --- internals --------------------------------------------------------------------------


async def _transition(
    hub: Hub,
    actor: Actor | None,
    wish: Wish,
    expected: WishStatus,
    new: WishStatus,
    action: str,
    *,
    then=None,
    claimed_by: int | None = None,
    **changes,
) -> Wish:
    """Move a wish from ``expected`` to ``new`` atomically, with its audit entry and event;
    with ``claimed_by``, only while that person is its claimer (in the same UPDATE)."""
    before = snapshot(wish, *_AUDIT_FIELDS)

    async def refused() -> Conflict:
        current = await Wish.get(id=wish.id)
        if action == "wish.claimed" and current.status is not WishStatus.OPEN:
            return Conflict("Someone has claimed this wish already.", code="already_claimed")
        if action == "wish.confirmed" and current.status is WishStatus.CONFIRMED:
            return Conflict("This wish is confirmed already.", code="already_confirmed")
        return Conflict(
            "This wish is {status} and cannot change that way.",
            code="invalid_state",
            status=current.status.value,
        )

    async with unit_of_work(hub, actor.id if actor else None) as uow:
        if claimed_by is None:
            await uow.move(wish, expected, new, refused, updated_at=uow.now, **changes)
        elif not await Wish.filter(id=wish.id, status=expected, claimer_id=claimed_by).update(
            status=new, updated_at=uow.now, **changes
        ):
            raise await refused()
        await wish.refresh_from_db()
        await uow.record(
            action,
            wish,
            community_id=wish.community_id,
            before=before,
            after=snapshot(wish, *_AUDIT_FIELDS),
        )
        if expected is WishStatus.OPEN and new is not WishStatus.OPEN:
            await close_invitations(uow, wish)
        if then is not None:
            await then(uow, wish)
    return wish


async def close_invitations(uow: UnitOfWork, wish: Wish) -> None:
    """Inside the change that took ``wish`` out of ``open``: its pending invitations end.

    The claimer's own (if they were invited) is ``accepted``; everyone else's is
    ``withdrawn`` (``invitation.withdrawn``: they are told someone else took it, or that it
    closed). One conditional UPDATE per invitation, so an answer racing this loses."""
    pending = await Invitation.filter(wish_id=wish.id, status=InvitationStatus.PENDING)
    for invitation in sorted(pending, key=lambda i: i.id):
        accepted = wish.status is WishStatus.CLAIMED and invitation.person_id == wish.claimer_id
        status = InvitationStatus.ACCEPTED if accepted else InvitationStatus.WITHDRAWN
        moved = await Invitation.filter(id=invitation.id, status=InvitationStatus.PENDING).update(
            status=status, answered_at=uow.now
        )
        if moved:
            await uow.record(
                f"invitation.{status.value}",
                invitation,
                community_id=wish.community_id,
                after={
                    "status": status.value,
                    "wish_id": wish.id,
                    "person_id": invitation.person_id,
                    "wish_status": wish.status.value,
                },
            )


def category_of(hub: Hub, community_id: int, code: str) -> WishCategory:
    categories = hub.wish_categories(community_id)
    # A category a plugin stopped offering still exists on old wishes: staff only.
    return categories.get(code) or WishCategory(code, code, served=False, restricted=True)


class _Standing:
    """What the serving rules need to know of a person in one community: read once (a
    query or two, and their facts if a restricted category asks for qualifications), so
    that a whole list of wishes is judged without a query per wish."""

    def __init__(
        self, hub: Hub, person: Actor, community_id: int, team_kinds: frozenset[str]
    ) -> None:
        self.hub = hub
        self.person = person
        self.community_id = community_id
        self.team_kinds = team_kinds
        self._awaiting: bool | None = None
        self._facts: PersonFacts | None = None
        self._today: date | None = None

    @classmethod
    async def load(cls, hub: Hub, person: Actor, community_id: int) -> _Standing:
        kinds = await TeamMembership.filter(
            person_id=person.id, status=MembershipStatus.ACTIVE, team__community_id=community_id
        ).values_list("team__kind", flat=True)
        return cls(hub, person, community_id, frozenset(kinds))

    async def awaiting_approval(self) -> bool:
        if self._awaiting is None:
            self._awaiting = await awaiting_approval(self.person, self.community_id)
        return self._awaiting

    async def qualified_for(self, category: WishCategory) -> bool:
        """Restricted categories: a member of a serving team with a valid qualification."""
        if self.person.is_staff(self.community_id):
            return True
        if category.team_kind and category.team_kind not in self.team_kinds:
            return False
        if not category.qualifications:
            return True
        if self._facts is None:
            community = await get_community(self.community_id)
            self._facts = await person_facts(await self.person.load_person())
            self._today = self.hub.today(community.timezone)
        return any(
            self._facts.valid_qualification(kind, self._today, verified_only=True)
            for kind in category.qualifications
        )


async def serving_violations(hub: Hub, person: Actor, wish: Wish) -> list[Violation]:
    """Why ``person`` may not claim ``wish`` (the rules of ``claim``); empty if they may."""
    return await _serving_violations(await _Standing.load(hub, person, wish.community_id), wish)


async def _serving_violations(standing: _Standing, wish: Wish) -> list[Violation]:
    """``serving_violations`` for a person whose standing in the wish's community is read."""
    person = standing.person
    if person.id == wish.resident_id:
        return [
            Violation("own_wish", {"zh-CN": "这是此人自己的心愿", "en": "It is their own wish"})
        ]
    category = category_of(standing.hub, wish.community_id, wish.category)
    if not category.served:
        return [
            Violation(
                "category_not_served",
                {"zh-CN": "此类心愿不由志愿者认领", "en": "Volunteers do not serve this category"},
            )
        ]
    violations = []
    if not person.has_role(wish.community_id, Role.VOLUNTEER):
        if await standing.awaiting_approval():
            violations.append(
                Violation(
                    "volunteer_not_approved",
                    {
                        "zh-CN": "社区尚未审核通过此人为志愿者",
                        "en": "Not approved as a volunteer by the community yet",
                    },
                )
            )
        else:
            violations.append(
                Violation(
                    "not_a_volunteer",
                    {"zh-CN": "此人不是本社区的志愿者", "en": "Not a volunteer of this community"},
                )
            )
    if category.team_kind and category.team_kind not in standing.team_kinds:
        violations.append(
            Violation(
                "not_in_serving_team",
                {
                    "zh-CN": "此人不在负责此类心愿的志愿服务队中",
                    "en": f"Not a member of a {category.team_kind} team",
                },
            )
        )
    elif category.restricted and not await standing.qualified_for(category):
        violations.append(
            Violation(
                "not_qualified",
                {
                    "zh-CN": "此人没有此类心愿所需的有效资质",
                    "en": "Lacks the qualification this wish needs",
                },
            )
        )
    return violations


# --- what a caller may see: views ----------------------------------------------------------


def _speaks_for_resident(actor: Actor, wish: Wish) -> bool:
    """The resident, whoever posted for them, and staff: they confirm and cancel."""
    return actor.id in (wish.resident_id, wish.posted_by_id) or actor.is_staff(wish.community_id)


def _is_claimer(actor: Actor, wish: Wish) -> bool:
    """The claimer: they mark the wish fulfilled."""
    return wish.claimer_id is not None and wish.claimer_id == actor.id


def _may_escalate_to(wish: Wish, level: Escalation) -> bool:
    """Whether the wish is still active and below ``level``."""
    return wish.status in ACTIVE_STATUSES and _level_index(level) > _level_index(wish.escalation)


async def as_seen_by(hub: Hub, actor: Actor, wish: Wish) -> WishView:
    """The wish (one ``actor`` may see) as they see it."""
    return (await views_of(hub, actor, [wish]))[0]


async def view(hub: Hub, actor: Actor, wish_id: int) -> WishView:
    """``get_wish`` as the actor sees it."""
    return await as_seen_by(hub, actor, await get_wish(hub, actor, wish_id))


async def views_of(hub: Hub, actor: Actor, rows: list[Wish]) -> list[WishView]:
    """Wishes the actor may see, as they see them, in a fixed number of queries however
    many there are: their people in one, their communities' time zones in one, and the
    actor's standing once per community with an open wish (for the claim button)."""
    if not rows:
        return []
    people_ids = {w.resident_id for w in rows} | {w.claimer_id for w in rows if w.claimer_id}
    people = {p.id: p for p in await Person.filter(id__in=sorted(people_ids))}
    zones = dict(
        await Community.filter(id__in=sorted({w.community_id for w in rows})).values_list(
            "id", "timezone"
        )
    )
    resolver_ids = sorted({w.resolved_by_id for w in rows if w.resolved_by_id is not None})
    resolvers = (
        dict(await ResponsibleContact.filter(id__in=resolver_ids).values_list("id", "name"))
        if resolver_ids
        else {}
    )
    standings: dict[int, _Standing] = {}
    views = []
    for wish in rows:
        may_claim = False
        if wish.status is WishStatus.OPEN:
            if wish.community_id not in standings:
                standings[wish.community_id] = await _Standing.load(hub, actor, wish.community_id)
            may_claim = not await _serving_violations(standings[wish.community_id], wish)
        view = _view(actor, wish, people, zones[wish.community_id], may_claim)
        if wish.resolved_by_id is not None:
            view = replace(view, resolved_by=resolvers.get(wish.resolved_by_id))
        views.append(view)
    return views


def _view(
    actor: Actor, wish: Wish, people: dict[int, Person], timezone: str, may_claim: bool
) -> WishView:
    resident = people[wish.resident_id]
    contact = None
    if can_see_contact(actor, wish, resident):
        contact = Contact(name=resident.name, phone=resident.phone, address=resident.address)
    claimer_name = None
    if wish.claimer_id is not None and (contact is not None or _is_claimer(actor, wish)):
        claimer_name = people[wish.claimer_id].name
    staff = actor.is_staff(wish.community_id)
    speaks = _speaks_for_resident(actor, wish)
    return WishView(
        id=wish.id,
        community_id=wish.community_id,
        grid_id=wish.grid_id,
        title=wish.title,
        description=wish.description,
        category=wish.category,
        status=wish.status,
        escalation=wish.escalation,
        referral=wish.referral,
        needed_by=wish.needed_by,
        resident=PersonName(id=resident.id, name=resident.name),
        posted_by_id=wish.posted_by_id,
        claimer_id=wish.claimer_id,
        review_reason=wish.review_reason,
        rating=wish.rating,
        thanks=wish.thanks,
        created_at=wish.created_at,
        timezone=timezone,
        contact=contact,
        claimer_name=claimer_name,
        may_claim=may_claim,
        may_fulfil=wish.status is WishStatus.CLAIMED and _is_claimer(actor, wish),
        may_confirm=wish.status is WishStatus.FULFILLED and speaks,
        may_cancel=wish.status in ACTIVE_STATUSES and speaks,
        may_review=staff and wish.status is WishStatus.SUBMITTED,
        may_escalate=staff and _may_escalate_to(wish, ESCALATION_ORDER[-1]),
        may_manage=staff,
        fulfil_note=wish.fulfil_note if contact is not None or _is_claimer(actor, wish) else None,
        may_hand_back=wish.status is WishStatus.CLAIMED and _is_claimer(actor, wish),
        window_start=wish.window_start,
        window_end=wish.window_end,
        urgent=wish.urgent,
    )


# --- what a resident (or the grid worker posting for them) follows -----------------------


async def my_wishes(hub: Hub, actor: Actor, *, limit: int = 100) -> list[WishView]:
    """The wishes the actor posted or that were posted for them, newest first."""
    query = Wish.filter(Q(resident_id=actor.id) | Q(posted_by_id=actor.id))
    return await views_of(hub, actor, await query.order_by("-id").limit(limit))


async def timeline(hub: Hub, actor: Actor, wish_id: int) -> list[AuditEntry]:
    """What happened to a wish, oldest first, for whoever may see the wish (its trace);
    staff see the dispatch's steps too (who was chosen and why, the invitations' answers,
    expiry and withdrawal)."""
    wish = await get_wish(hub, actor, wish_id)
    trail = Q(entity_type="wish", entity_id=wish.id)
    if actor.is_staff(wish.community_id):
        ids = await Invitation.filter(wish_id=wish.id).values_list("id", flat=True)
        if ids:
            trail |= Q(entity_type="invitation", entity_id__in=list(ids))
    else:
        trail &= ~Q(action__in=["wish.dispatched", "wish.dispatch_exhausted"])
    return await AuditEntry.filter(trail).order_by("id")


async def my_claims(hub: Hub, actor: Actor, *, limit: int = 100) -> list[WishView]:
    """The wishes the actor claimed and has still to fulfil, the soonest needed first."""
    claimed = await Wish.filter(claimer_id=actor.id, status=WishStatus.CLAIMED).limit(limit)
    claimed.sort(key=lambda w: (w.needed_by is None, w.needed_by, w.id))
    return await views_of(hub, actor, claimed)
