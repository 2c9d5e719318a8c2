"""Volunteer teams, memberships, qualifications and in-service party members."""

from __future__ import annotations

import logging
from decimal import ROUND_HALF_UP, Decimal
from typing import Annotated

from pydantic import Field
from tortoise.exceptions import IntegrityError
from tortoise.functions import Sum

from volunteer_hub.clock import local_year_start
from volunteer_hub.errors import (
    Conflict,
    InvalidInput,
    NotFound,
    PermissionDenied,
    RuleViolation,
    Violation,
)
from volunteer_hub.hooktypes import PartyReportFacts
from volunteer_hub.hub import Hub
from volunteer_hub.models import (
    MembershipStatus,
    PartyReport,
    PartyReportStatus,
    Person,
    Qualification,
    Role,
    RoleAssignment,
    ServiceRecord,
    Team,
    TeamMembership,
)
from volunteer_hub.services.access import Actor
from volunteer_hub.services.facts import person_facts
from volunteer_hub.services.people import get_community
from volunteer_hub.services.uow import UnitOfWork, snapshot, unit_of_work
from volunteer_hub.validation import Day, Id, Input, Line, parse

log = logging.getLogger(__name__)

Code = Annotated[str, Field(min_length=1, max_length=40, pattern=r"^[a-z][a-z0-9_]*$")]


class TeamIn(Input):
    name: Annotated[Line, Field(min_length=1, max_length=100)]
    kind: Code
    leader_id: Id | None = None


class QualificationIn(Input):
    kind: Code
    expires_on: Day | None = None


class JoinIn(Input):
    qualifications: Annotated[list[QualificationIn], Field(max_length=10)] = []


class PartyReportIn(Input):
    community_id: Id
    work_unit: Annotated[Line, Field(min_length=1, max_length=100)]
    party_branch: Annotated[Line, Field(min_length=1, max_length=100)]


async def create_team(hub: Hub, actor: Actor, community_id: int, data: TeamIn | dict) -> Team:
    community = await get_community(community_id)
    if not actor.is_staff(community.id):
        raise PermissionDenied("Only staff of this community can do this.")
    data = parse(TeamIn, data)
    kinds = hub.team_kinds()
    if data.kind not in kinds:
        raise InvalidInput.for_field(
            "kind", "Unknown team kind. Known kinds: {expected}.", expected=", ".join(kinds)
        )
    if data.leader_id is not None and not await Person.exists(
        id=data.leader_id, community_id=community.id
    ):
        raise InvalidInput.for_field("leader_id", "No such person in this community.")
    try:
        async with unit_of_work(hub, actor.id) as uow:
            team = await Team.create(
                created_at=uow.now,
                community_id=community.id,
                name=data.name,
                kind=data.kind,
                leader_id=data.leader_id,
            )
            await uow.record(
                "team.created",
                team,
                community_id=community.id,
                after=snapshot(team, "name", "kind", "leader_id"),
            )
    except IntegrityError:  # the unique (community, name), whatever the concurrency
        raise Conflict("A team with this name exists already.", code="team_exists") from None
    return team


async def list_teams(
    community_id: int, *, after_id: int | None = None, limit: int = 50
) -> list[Team]:
    await get_community(community_id)
    query = Team.filter(community_id=community_id)
    if after_id is not None:
        query = query.filter(id__gt=after_id)
    return await query.order_by("id").limit(limit)


async def get_team(team_id: int) -> Team:
    team = await Team.get_or_none(id=team_id)
    if team is None:
        raise NotFound("No such team.", code="team_not_found")
    return team


async def join_team(
    hub: Hub, actor: Actor, team_id: int, data: JoinIn | dict | None = None
) -> TeamMembership:
    """Join a team yourself, checked by the registration rules of every plugin.

    Declared qualifications are saved unverified and make the membership ``pending``
    until staff check them; without any, the membership is ``active`` at once.
    """
    data = parse(JoinIn, data or {})
    team = await get_team(team_id)
    if not actor.belongs_to(team.community_id):
        raise PermissionDenied("You can only join teams of your own community.")
    community = await get_community(team.community_id)
    today = hub.today(community.timezone)
    known = hub.qualification_kinds()
    for index, q in enumerate(data.qualifications):
        if q.kind not in known:
            raise InvalidInput.for_field(
                f"qualifications.{index}.kind",
                "Unknown qualification kind. Known kinds: {expected}.",
                expected=", ".join(known),
            )
        if q.expires_on is not None and q.expires_on < today:
            raise InvalidInput.for_field(
                f"qualifications.{index}.expires_on", "This qualification has expired."
            )
    if await TeamMembership.exists(team_id=team.id, person_id=actor.id):
        raise Conflict("You are a member of this team already.", code="already_member")

    declared = tuple((q.kind, q.expires_on, False) for q in data.qualifications)
    facts = await person_facts(await actor.load_person(), declared=declared)
    violations = check_rules(
        hub,
        "vh_check_team_join",
        person=facts,
        team_kind=team.kind,
        team_id=team.id,
        community_id=community.id,
        today=today,
    )
    if violations:
        raise RuleViolation(
            "A registration rule refuses this.", code="registration_refused", details=violations
        )
    status = MembershipStatus.PENDING if declared else MembershipStatus.ACTIVE
    try:
        async with unit_of_work(hub, actor.id) as uow:
            membership = await TeamMembership.create(
                joined_at=uow.now, team_id=team.id, person_id=actor.id, status=status
            )
            for q in data.qualifications:
                await Qualification.create(
                    created_at=uow.now,
                    person_id=actor.id,
                    kind=q.kind,
                    expires_on=q.expires_on,
                    verified=False,
                    membership_id=membership.id,
                )
            if status is MembershipStatus.ACTIVE:  # pending members are not volunteers yet
                await _grant(uow, actor.id, community.id, Role.VOLUNTEER)
            await uow.record(
                "team.joined",
                membership,
                community_id=community.id,
                after={
                    "team_id": team.id,
                    "person_id": actor.id,
                    "status": status.value,
                    "qualifications": [q.kind for q in data.qualifications],
                },
            )
    except IntegrityError:
        raise Conflict("You are a member of this team already.", code="already_member") from None
    return membership


async def approve_membership(hub: Hub, actor: Actor, membership_id: int) -> TeamMembership:
    """Staff have checked the declared qualifications: verify them, activate the membership."""
    membership = await TeamMembership.get_or_none(id=membership_id).select_related("team")
    if membership is None:
        raise NotFound("No such membership.", code="membership_not_found")
    if not actor.is_staff(membership.team.community_id):
        raise PermissionDenied("Only staff of this community can do this.")
    if membership.status is not MembershipStatus.PENDING:
        raise Conflict("This membership is not waiting for approval.", code="not_pending")
    async with unit_of_work(hub, actor.id) as uow:
        updated = await TeamMembership.filter(
            id=membership.id, status=MembershipStatus.PENDING
        ).update(status=MembershipStatus.ACTIVE)
        if not updated:
            raise Conflict("This membership is not waiting for approval.", code="not_pending")
        await Qualification.filter(membership_id=membership.id, verified=False).update(
            verified=True
        )
        await _grant(uow, membership.person_id, membership.team.community_id, Role.VOLUNTEER)
        membership.status = MembershipStatus.ACTIVE
        await uow.record(
            "team.membership_approved",
            membership,
            community_id=membership.team.community_id,
            before={"status": "pending"},
            after={"status": "active"},
        )
    return membership


def check_rules(hub: Hub, hook_name: str, **kwargs: object) -> list[Violation]:
    """Ask every plugin's rules; a plugin that raises or answers nonsense refuses (fail closed)."""
    violations: list[Violation] = []
    for result in hub.plugins.call_lists(hook_name, Violation, **kwargs):
        if result.error is not None:
            violations.append(
                Violation(
                    "plugin_error",
                    {
                        "zh-CN": f"规则插件 {result.plugin} 出错，暂时无法办理",
                        "en": f"The rule plugin {result.plugin} failed; try again later",
                    },
                )
            )
        else:
            violations.extend(result.value or ())
    return violations


async def _grant(uow: UnitOfWork, person_id: int, community_id: int, role: Role) -> None:
    if not await RoleAssignment.exists(person_id=person_id, community_id=community_id, role=role):
        assignment = await RoleAssignment.create(
            created_at=uow.now, person_id=person_id, community_id=community_id, role=role
        )
        await uow.record(
            "role.assigned",
            assignment,
            community_id=community_id,
            after={"person_id": person_id, "role": role.value},
        )


# --- in-service party members (在职党员到社区报到) ---------------------------------------


async def file_party_report(hub: Hub, actor: Actor, data: PartyReportIn | dict) -> PartyReport:
    data = parse(PartyReportIn, data)
    try:
        community = await get_community(data.community_id)
    except NotFound:
        raise InvalidInput.for_field("community_id", "No such community.") from None
    if await PartyReport.exists(person_id=actor.id, community_id=community.id):
        raise Conflict("You have reported to this community already.", code="already_reported")
    facts = PartyReportFacts(
        person=await person_facts(await actor.load_person()),
        community_id=community.id,
        work_unit=data.work_unit,
        party_branch=data.party_branch,
    )
    violations = check_rules(
        hub,
        "vh_check_party_report",
        report=facts,
        community_id=community.id,
        today=hub.today(community.timezone),
    )
    if violations:
        raise RuleViolation(
            "A registration rule refuses this.", code="registration_refused", details=violations
        )
    # The community's target when a plugin sets one; otherwise the column's default.
    target = party_hours_target(hub, community.id)
    preset = {} if target is None else {"yearly_hours_target": target}
    try:
        async with unit_of_work(hub, actor.id) as uow:
            report = await PartyReport.create(
                created_at=uow.now,
                person_id=actor.id,
                community_id=community.id,
                work_unit=data.work_unit,
                party_branch=data.party_branch,
                status=PartyReportStatus.ACCEPTED,
                **preset,
            )
            await _grant(uow, actor.id, community.id, Role.PARTY_MEMBER)
            await uow.record(
                "party_report.filed",
                report,
                community_id=community.id,
                after=snapshot(report, "work_unit", "party_branch", "status"),
            )
    except IntegrityError:
        raise Conflict(
            "You have reported to this community already.", code="already_reported"
        ) from None
    return report


async def party_progress(hub: Hub, actor: Actor, year: int | None = None) -> dict:
    """A party member's hours this year against the yearly target, per community reported to."""
    reports = await PartyReport.filter(person_id=actor.id).select_related("community")
    progress = []
    for report in reports:
        report_year = year or hub.today(report.community.timezone).year
        rows = await (
            ServiceRecord.filter(
                person_id=actor.id,
                community_id=report.community_id,
                started_at__gte=local_year_start(report_year, report.community.timezone),
                started_at__lt=local_year_start(report_year + 1, report.community.timezone),
            )
            .annotate(total=Sum("hours"))
            .values("total")
        )
        hours = Decimal(rows[0]["total"] or 0) if rows else Decimal(0)
        target = party_hours_target(hub, report.community_id)
        progress.append(
            {
                "community_id": report.community_id,
                "year": report_year,
                "hours": hours,
                "target": report.yearly_hours_target if target is None else target,
                "work_unit": report.work_unit,
                "party_branch": report.party_branch,
            }
        )
    return {"items": progress}


def party_hours_target(hub: Hub, community_id: int) -> Decimal | None:
    """The community's yearly hours target from the first plugin that sets one, else None.

    A plugin that raises or answers something other than 0 to 9999 hours is passed over
    (the stored target holds): a target is not a rule, so nothing is refused for it.
    """
    result = hub.plugins.call_first("vh_party_hours_target", community_id=community_id)
    if result is None or result.error is not None:  # a raise is in the plugin's status
        return None
    value = result.value
    number = isinstance(value, int | Decimal) and not isinstance(value, bool)
    hours = Decimal(value) if number else None
    if hours is not None and hours.is_finite() and 0 <= hours <= 9999:
        return hours.quantize(Decimal("0.1"), rounding=ROUND_HALF_UP)
    log.error(
        "plugin %s: vh_party_hours_target answered %r, not 0 to 9999 hours", result.plugin, value
    )
    return None


# --- what a volunteer sees of teams ---------------------------------------------------------


async def my_memberships(actor: Actor) -> dict[int, MembershipStatus]:
    """Team id → the actor's membership status, for each team they have joined."""
    rows = await TeamMembership.filter(person_id=actor.id).values_list("team_id", "status")
    return {team_id: MembershipStatus(status) for team_id, status in rows}


def qualifications_by_team_kind(hub: Hub, community_id: int) -> dict[str, tuple[str, ...]]:
    """Team kind → the qualification kinds its members need to serve its restricted wishes
    (e.g. a counsellor certificate for the psychology team), from the community's categories."""
    needed: dict[str, tuple[str, ...]] = {}
    for category in hub.wish_categories(community_id).values():
        if category.team_kind and category.restricted:
            known = needed.get(category.team_kind, ())
            extra = tuple(q for q in category.qualifications if q not in known)
            needed[category.team_kind] = known + extra
    return needed
