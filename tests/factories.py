"""Build people and places through the real services (no shortcuts past the rules)."""

from __future__ import annotations

import itertools
from datetime import date

from stdnum.cn import ric

from volunteer_hub.hub import Hub
from volunteer_hub.models import (
    Community,
    Grid,
    MembershipStatus,
    PartyReport,
    Person,
    Role,
    Team,
    TeamMembership,
)
from volunteer_hub.services import people, teams
from volunteer_hub.services.access import Actor, load_actor

PASSWORD = "Hongqi-Lu-88-test"
_phones = itertools.count(13800000000)


def next_phone() -> str:
    return str(next(_phones))


def id_number(birth: date, region: str = "110105", seq: str = "001") -> str:
    body = f"{region}{birth:%Y%m%d}{seq}"
    return body + ric.calc_check_digit(body + "0")


class World:
    """A community with a grid, an admin, staff, a grid worker and helpers to add people."""

    def __init__(self, hub: Hub) -> None:
        self.hub = hub

    async def build(self, name: str = "幸福里社区", admin: Actor | None = None) -> World:
        if admin is None:
            person = await people.create_admin(
                self.hub, name="管理员", phone=next_phone(), password=PASSWORD
            )
            admin = await load_actor(person.id)
        self.admin = admin
        self.community: Community = await people.create_community(
            self.hub, self.admin, {"name": name}
        )
        self.grid: Grid = await people.create_grid(
            self.hub, self.admin, self.community.id, {"name": "第一网格"}
        )
        self.other_grid: Grid = await people.create_grid(
            self.hub, self.admin, self.community.id, {"name": "第二网格"}
        )
        self.staff = await self.person("社区干部", roles=[Role.STAFF])
        self.grid_worker = await self.person("网格员", roles=[Role.GRID_WORKER])
        return self

    async def build_other(self, base: World) -> World:
        """A second community beside ``base``, with the same administrator."""
        return await self.build("和平里社区", admin=base.admin)

    async def person(
        self,
        name: str = "居民",
        *,
        roles: list[Role] = (),
        birth_date: date | None = None,
        grid: Grid | None = None,
        community: Community | None = None,
    ) -> Actor:
        community = community or self.community
        grid = grid if grid is not None else (self.grid if community is self.community else None)
        person: Person = await people.register(
            self.hub,
            {
                "name": name,
                "phone": next_phone(),
                "password": PASSWORD,
                "community_id": community.id,
                "grid_id": grid.id if grid else None,
                "birth_date": birth_date,
                "address": "幸福里3号楼2单元501",
            },
        )
        for role in roles:
            await people.assign_role(
                self.hub,
                None,
                community.id,
                person.id,
                role,
                grid_id=grid.id if role is Role.GRID_WORKER and grid else None,
            )
        return await load_actor(person.id)

    async def team(self, kind: str, name: str | None = None) -> Team:
        return await teams.create_team(
            self.hub, self.admin, self.community.id, {"name": name or f"{kind}队", "kind": kind}
        )

    async def volunteer(self, name: str = "志愿者", *, team: Team | None = None, **kw) -> Actor:
        actor = await self.person(name, **kw)
        if team is not None:
            await self.join(actor, team)
        return await load_actor(actor.id)

    async def vet_volunteers(self, on: bool) -> None:
        """Switch the community's setting "approve new volunteers" (on by default)."""
        self.community = await people.update_community(
            self.hub, self.admin, self.community.id, {"approve_volunteers": on}
        )

    async def report(self, actor: Actor, data: dict) -> PartyReport:
        """File a party report, which staff of its community then accept (through the service)."""
        filed = await teams.file_party_report(self.hub, actor, data)
        return await teams.accept_party_report(self.hub, self.admin, filed.id)

    async def join(self, actor: Actor, team: Team, data: dict | None = None) -> TeamMembership:
        """Join a team, and (as a community that vets new volunteers does) have staff
        approve the person through the service; declared qualifications still wait."""
        membership = await teams.join_team(self.hub, actor, team.id, data)
        waits_for_approval = not (data or {}).get("qualifications")
        if membership.status is MembershipStatus.PENDING and waits_for_approval:
            membership = await teams.approve_membership(self.hub, self.admin, membership.id)
        return membership
