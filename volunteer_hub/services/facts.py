"""Build the plain facts that hooks see, from the database."""

from __future__ import annotations

from volunteer_hub.hooktypes import PersonFacts, WishFacts
from volunteer_hub.models import MembershipStatus, Person, Qualification, TeamMembership, Wish


async def person_facts(
    person: Person, *, declared: tuple[tuple[str, object, bool], ...] = ()
) -> PersonFacts:
    """A person's facts for rules and scorers; ``declared`` adds qualifications not yet saved."""
    held = await Qualification.filter(person_id=person.id).values_list(
        "kind", "expires_on", "verified"
    )
    team_kinds = await TeamMembership.filter(
        person_id=person.id, status=MembershipStatus.ACTIVE
    ).values_list("team__kind", flat=True)
    return PersonFacts(
        id=person.id,
        name=person.name,
        community_id=person.community_id,
        grid_id=person.grid_id,
        birth_date=person.birth_date,
        skills=tuple(person.skills or ()),
        qualifications=tuple(tuple(q) for q in held) + tuple(declared),
        team_kinds=tuple(sorted(set(team_kinds))),
    )


def wish_facts(wish: Wish) -> WishFacts:
    return WishFacts(
        id=wish.id,
        community_id=wish.community_id,
        grid_id=wish.grid_id,
        category=wish.category,
        title=wish.title,
        description=wish.description,
        needed_by=wish.needed_by,
        status=wish.status.value if wish.status else "submitted",
    )
