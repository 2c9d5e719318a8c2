"""Ranking volunteers for a wish (精准对接): facts from the database, scores from plugins."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from tortoise.functions import Count, Sum

from volunteer_hub.clock import ONE_DAY, local_day_start, local_month_start
from volunteer_hub.errors import PermissionDenied
from volunteer_hub.hooktypes import CandidateFacts, MatchScore
from volunteer_hub.hub import Hub
from volunteer_hub.i18n import LocalizedText
from volunteer_hub.models import (
    MembershipStatus,
    Person,
    Role,
    RoleAssignment,
    ServiceRecord,
    Signup,
    SignupStatus,
    TeamMembership,
    Wish,
    WishStatus,
)
from volunteer_hub.services.access import Actor
from volunteer_hub.services.facts import person_facts, wish_facts
from volunteer_hub.services.people import get_community
from volunteer_hub.services.wishes import category_of, get_wish


@dataclass(frozen=True)
class Candidate:
    person_id: int
    name: str
    score: float
    reasons: tuple[LocalizedText, ...]


async def candidates(hub: Hub, actor: Actor, wish_id: int, *, limit: int = 10) -> list[Candidate]:
    """Volunteers who may serve the wish, best first (staff only)."""
    wish = await get_wish(hub, actor, wish_id)
    if not actor.is_staff(wish.community_id):
        raise PermissionDenied("Only staff of this community can do this.")
    return await rank(hub, wish, limit=limit)


async def rank(hub: Hub, wish: Wish, *, limit: int = 10) -> list[Candidate]:
    """Volunteers who may serve ``wish``, best first, for whoever dispatches it (staff, or
    the service offering a handed-back wish to the next volunteer)."""
    community = await get_community(wish.community_id)
    category = category_of(hub, wish.community_id, wish.category)
    if not category.served:
        return []
    people = await _eligible(wish, category.team_kind)
    month_start = local_month_start(hub.now(), community.timezone)
    hours = dict(
        await ServiceRecord.filter(
            person_id__in=[p.id for p in people], started_at__gte=month_start
        )
        .group_by("person_id")
        .annotate(total=Sum("hours"))
        .values_list("person_id", "total")
    )
    claims = dict(
        await Wish.filter(claimer_id__in=[p.id for p in people], status=WishStatus.CLAIMED)
        .group_by("claimer_id")
        .annotate(n=Count("id"))
        .values_list("claimer_id", "n")
    )
    busy = await _busy_on(wish, [p.id for p in people], community.timezone)
    facts = wish_facts(wish)
    ranked = []
    today = hub.today(community.timezone)
    for person in people:
        pf = await person_facts(person)
        if (
            category.restricted
            and category.qualifications
            and not any(
                pf.valid_qualification(k, today, verified_only=True)
                for k in category.qualifications
            )
        ):
            continue
        candidate = CandidateFacts(
            person=pf,
            hours_this_month=Decimal(hours.get(person.id) or 0),
            open_claims=claims.get(person.id, 0),
            busy_on_needed_day=person.id in busy,
        )
        score, reasons = 0.0, []
        for result in hub.plugins.call("vh_match_score", wish=facts, candidate=candidate):
            if isinstance(result.value, MatchScore):
                score += result.value.score
                reasons.extend(result.value.reasons)
        ranked.append(Candidate(person.id, person.name, round(score, 2), tuple(reasons)))
    ranked.sort(key=lambda c: (-c.score, c.person_id))
    return ranked[:limit]


async def _eligible(wish: Wish, team_kind: str | None) -> list[Person]:
    if team_kind:
        ids = await TeamMembership.filter(
            status=MembershipStatus.ACTIVE,
            team__community_id=wish.community_id,
            team__kind=team_kind,
        ).values_list("person_id", flat=True)
    else:
        ids = await RoleAssignment.filter(
            community_id=wish.community_id, role=Role.VOLUNTEER
        ).values_list("person_id", flat=True)
    excluded = {wish.resident_id, wish.posted_by_id}
    wanted = [i for i in set(ids) if i not in excluded]
    return await Person.filter(id__in=wanted, active=True).order_by("id")  # not the deactivated


async def _busy_on(wish: Wish, person_ids: list[int], timezone: str) -> set[int]:
    if wish.needed_by is None or not person_ids:
        return set()
    day_start = local_day_start(wish.needed_by, timezone)
    rows = await Signup.filter(
        person_id__in=person_ids,
        status__in=[SignupStatus.CONFIRMED, SignupStatus.CHECKED_IN],
        occurrence__start__gte=day_start,
        occurrence__start__lt=day_start + ONE_DAY,
    ).values_list("person_id", flat=True)
    return set(rows)
