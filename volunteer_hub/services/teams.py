"""Volunteer teams, memberships, qualifications and in-service party members."""

from __future__ import annotations

import logging
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Annotated

from pydantic import AfterValidator, Field
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
    AuditEntry,
    Community,
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
from volunteer_hub.services.views import (
    DeclaredQualification,
    MembershipView,
    PartyReportView,
    QualificationView,
)
from volunteer_hub.validation import Day, Id, Input, Line, custom_error, parse

log = logging.getLogger(__name__)

Code = Annotated[str, Field(min_length=1, max_length=40, pattern=r"^[a-z][a-z0-9_]*$")]


class TeamIn(Input):
    name: Annotated[Line, Field(min_length=1, max_length=100)]
    kind: Code
    leader_id: Id | None = None


def _printable(value: str) -> str:
    if not value.isprintable():
        raise custom_error("text", "Must contain printable characters only.")
    return value


# A certificate's or licence's number as printed on it: 1 to 50 printable characters.
CertificateNumber = Annotated[Line, Field(min_length=1, max_length=50), AfterValidator(_printable)]


class QualificationIn(Input):
    kind: Code
    expires_on: Day | None = None
    certificate_number: CertificateNumber | None = None


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


class TeamChangeIn(Input):
    name: Annotated[Line, Field(min_length=1, max_length=100)] | None = None
    leader_id: Id | None = None
    # True: the team has no leader any more (leader_id must then be absent).
    no_leader: bool = False


async def update_team(hub: Hub, actor: Actor, team_id: int, data: TeamChangeIn | dict) -> Team:
    """Staff of the team's community rename it or set, change or remove its leader
    (``team.updated``). The leader lives in the community."""
    team = await Team.get_or_none(id=team_id)
    if team is None or not actor.is_staff(team.community_id):
        raise NotFound("No such team.", code="team_not_found")
    data = parse(TeamChangeIn, data)
    if data.no_leader and data.leader_id is not None:
        raise InvalidInput.for_field("leader_id", "Give a leader or no leader, not both.")
    if data.leader_id is not None and not await Person.exists(
        id=data.leader_id, community_id=team.community_id, active=True
    ):
        raise InvalidInput.for_field("leader_id", "No such person in this community.")
    changes: dict = {}
    if data.name is not None and data.name != team.name:
        changes["name"] = data.name
    leader = None if data.no_leader else (data.leader_id or team.leader_id)
    if leader != team.leader_id:
        changes["leader_id"] = leader
    if not changes:
        return team
    before = snapshot(team, *changes)
    try:
        async with unit_of_work(hub, actor.id) as uow:
            await Team.filter(id=team.id).update(**changes)
            for name, value in changes.items():
                setattr(team, name, value)
            await uow.record(
                "team.updated",
                team,
                community_id=team.community_id,
                before=before,
                after=snapshot(team, *changes),
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

    The membership is ``pending`` while staff must still check a declared qualification
    (saved unverified), or approve the person as a new volunteer of a community that
    vets them (once per person: ``approve_membership``); otherwise ``active`` at once.
    """
    data = parse(JoinIn, data or {})
    team = await get_team(team_id)
    if not actor.belongs_to(team.community_id):
        raise PermissionDenied("You can only join teams of your own community.")
    community = await get_community(team.community_id)
    today = hub.today(community.timezone)
    for index, q in enumerate(data.qualifications):
        _check_qualification(hub, q, today, f"qualifications.{index}.")
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
    try:
        async with unit_of_work(hub, actor.id) as uow:
            # Queue with decisions on this person's requests (see approve_membership): a
            # join never misses an approval that commits meanwhile.
            await _lock_person(actor.id)
            waits = declared or await needs_approval(actor, community)
            status = MembershipStatus.PENDING if waits else MembershipStatus.ACTIVE
            membership = await TeamMembership.create(
                joined_at=uow.now, team_id=team.id, person_id=actor.id, status=status
            )
            for q in data.qualifications:
                await Qualification.create(
                    created_at=uow.now,
                    person_id=actor.id,
                    kind=q.kind,
                    expires_on=q.expires_on,
                    certificate_number=q.certificate_number,
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


def _check_qualification(hub: Hub, q: QualificationIn, today: date, prefix: str = "") -> None:
    """A known kind, and an expiry not in the past (in the community's zone)."""
    known = hub.qualification_kinds()
    if q.kind not in known:
        raise InvalidInput.for_field(
            f"{prefix}kind",
            "Unknown qualification kind. Known kinds: {expected}.",
            expected=", ".join(known),
        )
    if q.expires_on is not None and q.expires_on < today:
        raise InvalidInput.for_field(f"{prefix}expires_on", "This qualification has expired.")


async def needs_approval(actor: Actor, community: Community) -> bool:
    """Whether the actor must still be approved before serving in the community.

    Approval is once per person and community (the volunteer role says it was given, or
    that they joined while the community did not vet); staff and grid workers were
    appointed by staff and serve at once.
    """
    if not community.approve_volunteers:
        return False
    if actor.is_staff(community.id) or actor.is_grid_worker(community.id):
        return False
    return not await RoleAssignment.exists(
        person_id=actor.id, community_id=community.id, role=Role.VOLUNTEER
    )


class RefuseIn(Input):
    reason: Annotated[Line, Field(min_length=1, max_length=500)]


async def list_memberships(
    actor: Actor,
    community_id: int,
    *,
    status: MembershipStatus | None = None,
    after_id: int | None = None,
    limit: int = 50,
) -> list[MembershipView]:
    """The memberships of a community's teams: all for its staff, their own teams' for leaders."""
    community = await get_community(community_id)
    query = TeamMembership.filter(team__community_id=community.id)
    if not actor.is_staff(community.id):
        led = await Team.filter(community_id=community.id, leader_id=actor.id).values_list(
            "id", flat=True
        )
        if not led:
            raise PermissionDenied("Only staff of this community or a team's leaders can do this.")
        query = query.filter(team_id__in=list(led))
    if status is not None:
        query = query.filter(status=status)
    if after_id is not None:
        query = query.filter(id__gt=after_id)
    rows = await query.order_by("id").limit(limit).select_related("person", "team")
    declared: dict[int, list[DeclaredQualification]] = {}
    for q in await Qualification.filter(membership_id__in=[m.id for m in rows]).order_by("id"):
        declared.setdefault(q.membership_id, []).append(
            DeclaredQualification(
                q.kind, q.expires_on, q.verified, q.id, q.certificate_number, q.verified_at
            )
        )
    return [
        MembershipView(
            m.id,
            m.team_id,
            m.team.name,
            m.person_id,
            m.person.name,
            m.status,
            tuple(declared.get(m.id, ())),
        )
        for m in rows
    ]


async def _decidable_membership(actor: Actor, membership_id: int) -> TeamMembership:
    """A membership the actor may decide on: staff of its community, its team's leader."""
    membership = await TeamMembership.get_or_none(id=membership_id).select_related("team")
    if membership is None:
        raise NotFound("No such membership.", code="membership_not_found")
    team = membership.team
    if actor.is_staff(team.community_id):
        return membership
    if team.leader_id == actor.id and membership.person_id != actor.id:  # nobody approves self
        return membership
    if actor.belongs_to(team.community_id) or membership.person_id == actor.id:
        raise PermissionDenied("Only staff of this community or the team's leader can do this.")
    raise NotFound("No such membership.", code="membership_not_found")


async def approve_membership(hub: Hub, actor: Actor, membership_id: int) -> TeamMembership:
    """Staff (or the team's leader) approve a pending membership: its declared
    qualifications become verified and the person becomes a volunteer of the community.

    The approval of the person counts once for the community: their other memberships
    there that waited only for it (no unverified qualification) start too.
    """
    membership = await _decidable_membership(actor, membership_id)
    community_id = membership.team.community_id
    not_pending = Conflict("This membership is not waiting for approval.", code="not_pending")
    async with unit_of_work(hub, actor.id) as uow:
        await _lock_person(membership.person_id)
        await uow.move(membership, MembershipStatus.PENDING, MembershipStatus.ACTIVE, not_pending)
        for q in await Qualification.filter(membership_id=membership.id, verified=False):
            await _verify(uow, q, community_id, with_membership=True)
        first = await _grant(uow, membership.person_id, community_id, Role.VOLUNTEER)
        membership.status = MembershipStatus.ACTIVE
        also = await _start_waiting(uow, membership, community_id) if first else []
        await uow.record(
            "team.membership_approved",
            membership,
            community_id=community_id,
            before={"status": "pending"},
            after={"status": "active", "also_active": also},
        )
    return membership


async def _lock_person(person_id: int) -> None:
    """Joins and decisions on one person's memberships queue on the person's row
    (PostgreSQL; SQLite has one writer): the volunteer role is granted once, a request
    made during an approval is not left waiting, and nothing deadlocks."""
    await Person.filter(id=person_id).select_for_update().first()


async def _start_waiting(uow: UnitOfWork, approved: TeamMembership, community_id: int) -> list[int]:
    """Activate the person's other pending memberships of the community without an
    unverified qualification (they waited only for the person's approval)."""
    pending = await TeamMembership.filter(
        person_id=approved.person_id,
        status=MembershipStatus.PENDING,
        team__community_id=community_id,
    ).values_list("id", flat=True)
    checking = await Qualification.filter(
        membership_id__in=list(pending), verified=False
    ).values_list("membership_id", flat=True)
    waiting = sorted(set(pending) - set(checking))
    for membership_id in waiting:
        if await TeamMembership.filter(id=membership_id, status=MembershipStatus.PENDING).update(
            status=MembershipStatus.ACTIVE
        ):
            await uow.record(
                "team.membership_started",
                TeamMembership(id=membership_id),
                community_id=community_id,
                before={"status": "pending"},
                after={"status": "active", "approved_with": approved.id},
            )
    return waiting


async def refuse_membership(
    hub: Hub, actor: Actor, membership_id: int, data: RefuseIn | dict
) -> TeamMembership:
    """Staff (or the team's leader) refuse a pending membership, saying why."""
    membership = await _decidable_membership(actor, membership_id)
    data = parse(RefuseIn, data)
    not_pending = Conflict("This membership is not waiting for approval.", code="not_pending")
    async with unit_of_work(hub, actor.id) as uow:
        await uow.move(membership, MembershipStatus.PENDING, MembershipStatus.REFUSED, not_pending)
        membership.status = MembershipStatus.REFUSED
        await uow.record(
            "team.membership_refused",
            membership,
            community_id=membership.team.community_id,
            before={"status": "pending"},
            after={"status": "refused", "reason": data.reason},
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


async def _grant(uow: UnitOfWork, person_id: int, community_id: int, role: Role) -> bool:
    """Give the role unless the person holds it; whether it was new."""
    if await RoleAssignment.exists(person_id=person_id, community_id=community_id, role=role):
        return False
    assignment = await RoleAssignment.create(
        created_at=uow.now, person_id=person_id, community_id=community_id, role=role
    )
    await uow.record(
        "role.assigned",
        assignment,
        community_id=community_id,
        after={"person_id": person_id, "role": role.value},
    )
    return True


# --- in-service party members (在职党员到社区报到) ---------------------------------------


def _report_view(report: PartyReport, name: str) -> PartyReportView:
    return PartyReportView(
        id=report.id,
        community_id=report.community_id,
        person_id=report.person_id,
        name=name,
        status=report.status,
        work_unit=report.work_unit,
        party_branch=report.party_branch,
        created_at=report.created_at,
        yearly_hours_target=report.yearly_hours_target,
    )


async def file_party_report(hub: Hub, actor: Actor, data: PartyReportIn | dict) -> PartyReportView:
    data = parse(PartyReportIn, data)
    try:
        community = await get_community(data.community_id)
    except NotFound:
        raise InvalidInput.for_field("community_id", "No such community.") from None
    if await PartyReport.exists(person_id=actor.id, community_id=community.id):
        raise Conflict("You have reported to this community already.", code="already_reported")
    person = await actor.load_person()
    facts = PartyReportFacts(
        person=await person_facts(person),
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
                status=PartyReportStatus.PENDING,  # until staff of the community accept it
                **preset,
            )
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
    return _report_view(report, person.name)


async def list_party_reports(
    actor: Actor,
    community_id: int,
    *,
    status: PartyReportStatus | None = None,
    after_id: int | None = None,
    limit: int = 50,
) -> list[PartyReportView]:
    """The party reports filed to a community (its staff), oldest first, with the person's name."""
    community = await get_community(community_id)
    if not actor.is_staff(community.id):
        raise PermissionDenied("Only staff of this community can do this.")
    query = PartyReport.filter(community_id=community.id)
    if status is not None:
        query = query.filter(status=status)
    if after_id is not None:
        query = query.filter(id__gt=after_id)
    rows = await query.order_by("id").limit(limit).select_related("person")
    return [_report_view(r, r.person.name) for r in rows]


async def _decidable_report(actor: Actor, report_id: int) -> PartyReport:
    report = await PartyReport.get_or_none(id=report_id).select_related("person")
    if report is None:
        raise NotFound("No such party report.", code="party_report_not_found")
    if actor.is_staff(report.community_id):
        return report
    if actor.belongs_to(report.community_id) or report.person_id == actor.id:
        raise PermissionDenied("Only staff of this community can do this.")
    raise NotFound("No such party report.", code="party_report_not_found")


def _report_not_pending() -> Conflict:
    return Conflict("This party report is not waiting for a decision.", code="not_pending")


async def accept_party_report(hub: Hub, actor: Actor, report_id: int) -> PartyReportView:
    """Staff of the community accept a party member's report: they count as its party member."""
    report = await _decidable_report(actor, report_id)
    async with unit_of_work(hub, actor.id) as uow:
        await uow.move(
            report, PartyReportStatus.PENDING, PartyReportStatus.ACCEPTED, _report_not_pending()
        )
        report.status = PartyReportStatus.ACCEPTED
        await _grant(uow, report.person_id, report.community_id, Role.PARTY_MEMBER)
        await uow.record(
            "party_report.accepted",
            report,
            community_id=report.community_id,
            before={"status": "pending"},
            after={"status": "accepted"},
        )
    return _report_view(report, report.person.name)


async def refuse_party_report(
    hub: Hub, actor: Actor, report_id: int, data: RefuseIn | dict
) -> PartyReportView:
    """Staff of the community refuse a party report, saying why (the reporter is told)."""
    report = await _decidable_report(actor, report_id)
    data = parse(RefuseIn, data)
    async with unit_of_work(hub, actor.id) as uow:
        await uow.move(
            report, PartyReportStatus.PENDING, PartyReportStatus.REFUSED, _report_not_pending()
        )
        report.status = PartyReportStatus.REFUSED
        await uow.record(
            "party_report.refused",
            report,
            community_id=report.community_id,
            before={"status": "pending"},
            after={"status": "refused", "reason": data.reason},
        )
    return _report_view(report, report.person.name)


async def party_progress(hub: Hub, actor: Actor, year: int | None = None) -> dict:
    """A party member's hours this year against the yearly target, per community that
    accepted their report (a pending or refused report counts for nothing)."""
    reports = await PartyReport.filter(
        person_id=actor.id, status=PartyReportStatus.ACCEPTED
    ).select_related("community")
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


# --- qualifications: declared, verified, renewed, reminded ----------------------------------

# Holders and the community's staff are reminded this many days before a qualification ends.
EXPIRY_REMINDER_DAYS = 30


async def _verify(
    uow: UnitOfWork, q: Qualification, community_id: int, *, with_membership: bool
) -> bool:
    """Verify one declared qualification (if still unverified: one conditional UPDATE);
    whether this call did. ``with_membership``: as part of approving its membership (whose
    message already tells the volunteer)."""
    done = await Qualification.filter(id=q.id, verified=False).update(
        verified=True, verified_at=uow.now, verified_by_id=uow.actor_id
    )
    if not done:
        return False
    q.verified, q.verified_at, q.verified_by_id = True, uow.now, uow.actor_id
    await uow.record(
        "qualification.verified",
        q,
        community_id=community_id,
        before={"verified": False},
        after={
            "verified": True,
            "person_id": q.person_id,
            "kind": q.kind,
            "expires_on": q.expires_on,
            "membership_id": q.membership_id,
            "with_membership": with_membership,
        },
    )
    return True


async def _led_team_ids(actor: Actor, community_id: int) -> list[int]:
    return list(
        await Team.filter(community_id=community_id, leader_id=actor.id).values_list(
            "id", flat=True
        )
    )


async def declare_qualification(
    hub: Hub, actor: Actor, team_id: int, data: QualificationIn | dict
) -> QualificationView:
    """A member of a team declares a qualification for it later: a new certificate, or the
    renewal of one that expires. It waits for staff (or the team's leader) to verify it;
    until then the qualification held before still counts."""
    data = parse(QualificationIn, data)
    team = await get_team(team_id)
    membership = await TeamMembership.get_or_none(team_id=team.id, person_id=actor.id)
    if membership is None or membership.status not in (
        MembershipStatus.ACTIVE,
        MembershipStatus.PENDING,
    ):
        if not actor.belongs_to(team.community_id):
            raise NotFound("No such team.", code="team_not_found")
        raise PermissionDenied("Only members of this team can declare a qualification for it.")
    community = await get_community(team.community_id)
    _check_qualification(hub, data, hub.today(community.timezone))
    async with unit_of_work(hub, actor.id) as uow:
        await _lock_person(actor.id)  # one declaration of a kind at a time, whatever the races
        if await Qualification.exists(membership_id=membership.id, kind=data.kind, verified=False):
            raise Conflict(
                "A qualification of this kind is waiting to be checked already.",
                code="qualification_pending",
            )
        q = await Qualification.create(
            created_at=uow.now,
            person_id=actor.id,
            kind=data.kind,
            expires_on=data.expires_on,
            certificate_number=data.certificate_number,
            verified=False,
            membership_id=membership.id,
        )
        await uow.record(
            "qualification.declared",
            q,
            community_id=community.id,
            after={"team_id": team.id, "kind": q.kind, "expires_on": q.expires_on},
        )
    person = await actor.load_person()
    return _qualification_view(q, person.name, team)


def _qualification_view(
    q: Qualification, name: str, team: Team | None, previous: date | None = None
) -> QualificationView:
    return QualificationView(
        id=q.id,
        person_id=q.person_id,
        name=name,
        team_id=team.id if team else None,
        team_name=team.name if team else None,
        kind=q.kind,
        expires_on=q.expires_on,
        certificate_number=q.certificate_number,
        verified=q.verified,
        verified_at=q.verified_at,
        previous_expires_on=previous,
    )


async def pending_qualifications(
    actor: Actor, community_id: int, *, after_id: int | None = None, limit: int = 50
) -> list[QualificationView]:
    """Qualifications that members of active memberships declared later (renewals), still
    to be checked: all of the community's for its staff, their own teams' for leaders.
    (Those declared with a request to join are decided with the request.)"""
    community = await get_community(community_id)
    query = Qualification.filter(
        verified=False,
        membership__status=MembershipStatus.ACTIVE,
        membership__team__community_id=community.id,
    )
    if not actor.is_staff(community.id):
        led = await _led_team_ids(actor, community.id)
        if not led:
            raise PermissionDenied("Only staff of this community or a team's leaders can do this.")
        query = query.filter(membership__team_id__in=led)
    if after_id is not None:
        query = query.filter(id__gt=after_id)
    rows = await query.order_by("id").limit(limit).select_related("person", "membership__team")
    previous = await _verified_until({q.person_id for q in rows}, {q.kind for q in rows})
    return [
        _qualification_view(
            q, q.person.name, q.membership.team, previous.get((q.person_id, q.kind))
        )
        for q in rows
    ]


async def _verified_until(
    person_ids: set[int], kinds: set[str]
) -> dict[tuple[int, str], date | None]:
    """(person, kind) → the latest expiry of their verified qualifications of that kind
    (None: one that never expires), for those who hold one."""
    found: dict[tuple[int, str], date | None] = {}
    rows = await Qualification.filter(
        person_id__in=list(person_ids), kind__in=list(kinds), verified=True
    ).values_list("person_id", "kind", "expires_on")
    for person_id, kind, expires_on in rows:
        key = (person_id, kind)
        if key in found and (found[key] is None or (expires_on and expires_on <= found[key])):
            continue
        found[key] = expires_on
    return found


async def my_qualifications(actor: Actor) -> list[QualificationView]:
    """The actor's own qualifications (with their numbers), newest first."""
    person = await actor.load_person()
    rows = await Qualification.filter(person_id=actor.id).select_related("membership__team")
    rows.sort(key=lambda q: q.id, reverse=True)
    return [
        _qualification_view(q, person.name, q.membership.team if q.membership else None)
        for q in rows
    ]


async def _decidable_qualification(
    actor: Actor, qualification_id: int
) -> tuple[Qualification, int]:
    """A qualification the actor may verify or refuse, and its community: staff of the
    community; the leader of the team it was declared for (not their own)."""
    q = await Qualification.get_or_none(id=qualification_id).select_related(
        "person", "membership__team"
    )
    if q is None:
        raise NotFound("No such qualification.", code="qualification_not_found")
    team = q.membership.team if q.membership else None
    community_id = team.community_id if team else q.person.community_id
    if actor.is_staff(community_id):
        return q, community_id
    if team is not None and team.leader_id == actor.id and q.person_id != actor.id:
        return q, community_id
    if actor.belongs_to(community_id) or q.person_id == actor.id:
        raise PermissionDenied("Only staff of this community or the team's leader can do this.")
    raise NotFound("No such qualification.", code="qualification_not_found")


def _not_waiting() -> Conflict:
    return Conflict("This qualification is not waiting to be checked.", code="not_pending")


async def verify_qualification(hub: Hub, actor: Actor, qualification_id: int) -> QualificationView:
    """Staff (or the team's leader) verify a qualification declared later: it counts from
    now on; the holder is told."""
    q, community_id = await _decidable_qualification(actor, qualification_id)
    async with unit_of_work(hub, actor.id) as uow:
        if not await _verify(uow, q, community_id, with_membership=False):
            raise _not_waiting()
    return _qualification_view(q, q.person.name, q.membership.team if q.membership else None)


async def refuse_qualification(
    hub: Hub, actor: Actor, qualification_id: int, data: RefuseIn | dict
) -> None:
    """Staff (or the team's leader) refuse a declared qualification, saying why: it is
    removed (the audit trail keeps what it said) and the holder is told why."""
    q, community_id = await _decidable_qualification(actor, qualification_id)
    data = parse(RefuseIn, data)
    async with unit_of_work(hub, actor.id) as uow:
        if not await Qualification.filter(id=q.id, verified=False).delete():
            raise _not_waiting()
        await uow.record(
            "qualification.refused",
            q,
            community_id=community_id,
            before=snapshot(q, "kind", "expires_on", "membership_id"),
            after={"person_id": q.person_id, "kind": q.kind, "reason": data.reason},
        )


async def flag_expiring_qualifications(hub: Hub) -> int:
    """``qualification.expiring`` for each verified qualification that ends within
    ``EXPIRY_REMINDER_DAYS`` (in its community's zone), once per qualification and expiry
    date; the planner tells the holder and the community's staff. A holder who has declared
    a renewal (a qualification of the same kind that ends later) is not reminded. The
    worker runs this every round; how many were flagged."""
    today_utc = hub.now().date()
    rows = await Qualification.filter(
        verified=True,
        expires_on__gte=today_utc - timedelta(days=1),
        expires_on__lte=today_utc + timedelta(days=EXPIRY_REMINDER_DAYS + 1),
    ).select_related("person__community", "membership__team")
    if not rows:
        return 0
    entries = await AuditEntry.filter(
        action="qualification.expiring",
        entity_type="qualification",
        entity_id__in=[q.id for q in rows],
    ).values_list("entity_id", "after")
    flagged = {(entity_id, (after or {}).get("expires_on")) for entity_id, after in entries}
    later = await Qualification.filter(
        person_id__in=list({q.person_id for q in rows}), kind__in=list({q.kind for q in rows})
    ).values_list("id", "person_id", "kind", "expires_on")
    made = 0
    for q in rows:
        community = q.person.community
        team = q.membership.team if q.membership else None
        community_id = team.community_id if team else community.id
        today = hub.today(community.timezone)
        days_left = (q.expires_on - today).days
        if not 0 <= days_left <= EXPIRY_REMINDER_DAYS:
            continue
        if (q.id, q.expires_on.isoformat()) in flagged:
            continue
        renewed = any(
            other_id != q.id
            and person_id == q.person_id
            and kind == q.kind
            and (expires_on is None or expires_on > q.expires_on)
            for other_id, person_id, kind, expires_on in later
        )
        if renewed:
            continue
        try:
            async with unit_of_work(hub, None) as uow:
                await uow.record(
                    "qualification.expiring",
                    q,
                    community_id=community_id,
                    after={
                        "person_id": q.person_id,
                        "kind": q.kind,
                        "expires_on": q.expires_on,
                        "days_left": days_left,
                    },
                )
        except IntegrityError:  # flagged meanwhile by another worker (the messages' dedupe keys)
            continue
        made += 1
    return made
