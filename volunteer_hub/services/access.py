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


@dataclass(frozen=True)
class Actor:
    person: Person
    grants: frozenset[RoleGrant]

    @property
    def id(self) -> int:
        return self.person.id

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
            or self.person.community_id == community_id
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
