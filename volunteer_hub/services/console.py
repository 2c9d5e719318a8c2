"""The staff console's pages, each assembled here in a fixed number of queries: which
community to work in, one wish with its candidates, the approvals waiting, what a new
task needs, and the dashboards.

Who may see each is decided here (staff of the community, or an admin); the pages only
format what comes back. The lists and numbers themselves are ``services.reports``'s.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from volunteer_hub.clock import local_day_start
from volunteer_hub.errors import NotFound, PermissionDenied
from volunteer_hub.hub import Hub
from volunteer_hub.models import Wish
from volunteer_hub.services import invitations, matching, people, reports, teams
from volunteer_hub.services.access import Actor
from volunteer_hub.services.views import (
    CommunityView,
    MembershipStatus,
    MembershipView,
    PartyReportStatus,
    PartyReportView,
    QualificationView,
    StaffWish,
)

# Enough for any community's page; longer lists are the API's to page through.
PAGE_LIMIT = 200


def _refuse_unless_staff(actor: Actor, community_id: int) -> None:
    if not actor.is_staff(community_id):
        raise PermissionDenied("Only staff of this community can do this.")


async def communities_to_choose(actor: Actor) -> list[CommunityView]:
    """The communities an administrator (who has no home community) may work in."""
    if not actor.is_admin:
        raise PermissionDenied("Only staff of this community can do this.")
    return await people.list_communities(limit=PAGE_LIMIT)


# --- one wish ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class WishForStaff:
    wish: StaffWish
    community: CommunityView
    candidates: list[matching.Candidate]  # best first
    invited: frozenset[int]  # the people invited to claim it


async def wish_for_staff(hub: Hub, actor: Actor, wish_id: int, *, limit: int = 10) -> WishForStaff:
    """A wish with the volunteers who may serve it and those invited (staff only)."""
    # The candidates come first: they refuse whoever is not staff before anything is read.
    candidates = await matching.candidates(hub, actor, wish_id, limit=limit)
    row = await Wish.get_or_none(id=wish_id).select_related("resident", "posted_by", "community")
    if row is None:  # deleted meanwhile
        raise NotFound("No such wish.", code="wish_not_found")
    return WishForStaff(
        wish=reports.staff_wish(row),
        community=people.community_view(row.community),
        candidates=candidates,
        invited=frozenset(await invitations.invited_people(wish_id)),
    )


# --- approvals ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Approvals:
    memberships: list[MembershipView]  # pending, oldest first, with their declared qualifications
    qualifications: list[QualificationView]  # declared later by members (renewals), to check
    reports: list[PartyReportView] | None  # pending; None: not for this actor (staff only)
    staff: bool  # the actor is staff here (else a team's leader, who sees their teams only)


async def approvals(actor: Actor, community_id: int) -> Approvals:
    """Pending memberships and qualifications to check (staff: all; a team's leaders: their
    teams') and, for staff, pending party reports."""
    memberships = await teams.list_memberships(
        actor, community_id, status=MembershipStatus.PENDING, limit=PAGE_LIMIT
    )
    renewals = await teams.pending_qualifications(actor, community_id, limit=PAGE_LIMIT)
    staff = actor.is_staff(community_id)
    reports_waiting = None
    if staff:
        reports_waiting = await teams.list_party_reports(
            actor, community_id, status=PartyReportStatus.PENDING, limit=PAGE_LIMIT
        )
    return Approvals(
        memberships=memberships, qualifications=renewals, reports=reports_waiting, staff=staff
    )


# --- a new task --------------------------------------------------------------------------------


@dataclass(frozen=True)
class TaskPlanning:
    teams: list[tuple[int, str]]  # id, name
    today: date  # in the community's zone


async def task_planning(hub: Hub, actor: Actor, community: CommunityView) -> TaskPlanning:
    """What the new-task form offers. Only staff plan from the console (a team's leader
    uses the API)."""
    _refuse_unless_staff(actor, community.id)
    team_list = await teams.list_teams(community.id, limit=PAGE_LIMIT)
    return TaskPlanning(
        teams=[(t.id, t.name) for t in team_list], today=hub.today(community.timezone)
    )


# --- dashboards --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Dashboards:
    hours: reports.HoursByMonth  # the last six months, per team
    funnel: reports.Funnel  # the wishes posted in those months
    load: reports.Workload  # this month


async def dashboards(hub: Hub, actor: Actor, community: CommunityView) -> Dashboards:
    hours = await reports.hours_by_team(hub, actor, community.id, months=6)
    since = local_day_start(hours.since, community.timezone)
    funnel = await reports.wish_funnel(hub, actor, community.id, since=since)
    load = await reports.workload(hub, actor, community.id)
    return Dashboards(hours=hours, funnel=funnel, load=load)
