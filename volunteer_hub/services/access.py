"""Who is acting, and what their roles allow."""

from __future__ import annotations

from dataclasses import dataclass

from volunteer_hub.errors import NotAuthenticated
from volunteer_hub.models import MembershipStatus, Person, Role, RoleAssignment, TeamMembership


@dataclass(frozen=True)
class RoleGrant:
    community_id: int | None
    role: Role
    grid_id: int | None = None


class Actor:
    """A person acting, as most rules need them: their id, where they live, their role
    grants. Their ``Person`` model is loaded only where a service needs more
    (``load_person``): every API request builds an actor, few read the person.
    """

    __slots__ = ("id", "community_id", "grid_id", "grants", "_person")

    def __init__(self, person: Person, grants: frozenset[RoleGrant]) -> None:
        self.id: int = person.id
        self.community_id: int | None = person.community_id
        self.grid_id: int | None = person.grid_id
        self.grants = grants
        self._person: Person | None = person

    @classmethod
    def unloaded(
        cls, person_id: int, community_id: int | None, grid_id: int | None, grants: frozenset
    ) -> Actor:
        """An actor whose ``Person`` is read on first ``load_person()``."""
        actor = cls.__new__(cls)
        actor.id, actor.community_id, actor.grid_id = person_id, community_id, grid_id
        actor.grants, actor._person = grants, None
        return actor

    @property
    def person(self) -> Person:
        """The person's model, once loaded (``load_actor`` and the pages load it at once)."""
        if self._person is None:
            raise RuntimeError("The actor's Person is not loaded: await actor.load_person().")
        return self._person

    async def load_person(self) -> Person:
        """The person's model, read once per actor (an ORM query: only the services that
        need more than the actor's ids come here)."""
        if self._person is None:
            person = await Person.get_or_none(id=self.id)
            if person is None:  # deleted since the token was checked
                raise NotAuthenticated("You need to log in.")
            self._person = person
        return self._person

    def __repr__(self) -> str:
        return f"Actor(id={self.id}, grants={set(self.grants)})"

    @property
    def is_admin(self) -> bool:
        return any(g.role is Role.ADMIN for g in self.grants)

    def has_role(self, community_id: int, role: Role) -> bool:
        return any(g.community_id == community_id and g.role is role for g in self.grants)

    def is_staff(self, community_id: int) -> bool:
        """Staff of the community; an admin acts as staff of every community."""
        return self.is_admin or self.has_role(community_id, Role.STAFF)

    def grids_worked(self, community_id: int) -> set[int]:
        return {
            g.grid_id
            for g in self.grants
            if g.community_id == community_id and g.role is Role.GRID_WORKER and g.grid_id
        }

    def is_grid_worker(self, community_id: int) -> bool:
        return self.has_role(community_id, Role.GRID_WORKER)

    def belongs_to(self, community_id: int) -> bool:
        """Lives in the community, holds a role there, or is an administrator."""
        return (
            self.is_admin
            or self.community_id == community_id
            or any(g.community_id == community_id for g in self.grants)
        )

    def roles_in(self, community_id: int | None) -> list[str]:
        roles = {g.role.value for g in self.grants if g.community_id == community_id}
        if self.is_admin:
            roles.add(Role.ADMIN.value)
        return sorted(roles)


async def load_actor(person_id: int) -> Actor:
    person = await Person.get_or_none(id=person_id)
    if person is None:
        raise NotAuthenticated("You need to log in.")
    grants = await RoleAssignment.filter(person_id=person_id).values_list(
        "community_id", "role", "grid_id"
    )
    return Actor(person, frozenset(RoleGrant(c, Role(r), g) for c, r, g in grants))


async def active_team_ids(person_id: int) -> set[int]:
    return set(
        await TeamMembership.filter(
            person_id=person_id, status=MembershipStatus.ACTIVE
        ).values_list("team_id", flat=True)
    )


async def awaiting_approval(actor: Actor, community_id: int) -> bool:
    """Joined a team of the community, but nobody there has approved them as a volunteer yet."""
    return not actor.has_role(community_id, Role.VOLUNTEER) and await TeamMembership.exists(
        person_id=actor.id, status=MembershipStatus.PENDING, team__community_id=community_id
    )
