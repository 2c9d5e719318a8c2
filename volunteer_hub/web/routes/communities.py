"""Communities, grids, staff, teams and party-member reports."""

from __future__ import annotations

from typing import Literal

from volunteer_hub.services import console, people, teams
from volunteer_hub.services.views import (
    MembershipStatus,
    PartyReportStatus,
    PartyReportView,
    PersonDetail,
    PersonSummary,
    QualificationView,
)
from volunteer_hub.validation import Id, Input, mask_phone
from volunteer_hub.web.api import Call, Endpoint, ListPage, ListQuery, page
from volunteer_hub.web.schemas import (
    CommunityBrief,
    CommunityOut,
    GridOut,
    MembershipDecision,
    MembershipDetail,
    MembershipOut,
    PartyReportDetail,
    PartyReportOut,
    PersonAdminOut,
    QualificationDecision,
    QualificationDetail,
    QualificationOut,
    StaffOut,
    TeamOut,
    local,
)


class StaffIn(Input):
    person_id: Id
    role: Literal["staff", "grid_worker"]
    grid_id: Id | None = None


class PeopleListQuery(ListQuery, people.PeopleQuery):
    pass


class RevokeQuery(Input):
    role: Literal["staff", "grid_worker"]
    grid_id: Id | None = None


class MembershipQuery(ListQuery):
    status: MembershipStatus | None = None


class PartyReportQuery(ListQuery):
    status: PartyReportStatus | None = None


def _community(c) -> CommunityOut:
    view = people.community_view(c)
    return CommunityOut(
        id=view.id,
        name=view.name,
        timezone=view.timezone,
        approve_volunteers=view.approve_volunteers,
        quiet_start=view.quiet_start,
        quiet_end=view.quiet_end,
        manual_dispatch_categories=list(view.manual_dispatch_categories),
        dispatch_k=view.dispatch_k,
        invitation_minutes=view.invitation_minutes,
    )


def _team(t) -> TeamOut:
    return TeamOut(
        id=t.id, name=t.name, kind=t.kind, community_id=t.community_id, leader_id=t.leader_id
    )


async def create_community(call: Call) -> CommunityOut:
    return _community(await people.create_community(call.hub, call.user, call.body))


async def list_communities(call: Call) -> dict:
    q: ListQuery = call.query
    rows = await people.list_communities(after_id=q.after_id(), limit=q.limit + 1)
    result = page(rows, q.limit, lambda c: c.id)
    result["items"] = [CommunityBrief(id=c.id, name=c.name) for c in result["items"]]
    return result


async def update_community(call: Call) -> CommunityOut:
    return _community(
        await people.update_community(call.hub, call.user, call.path_int("cid"), call.body)
    )


async def create_grid(call: Call) -> GridOut:
    grid = await people.create_grid(call.hub, call.user, call.path_int("cid"), call.body)
    return GridOut(id=grid.id, name=grid.name, community_id=grid.community_id)


async def add_staff(call: Call) -> StaffOut:
    body: StaffIn = call.body
    assignment = await people.assign_role(
        call.hub, call.user, call.path_int("cid"), body.person_id, body.role, grid_id=body.grid_id
    )
    return StaffOut(
        person_id=assignment.person_id,
        community_id=assignment.community_id,
        role=assignment.role.value,
        grid_id=assignment.grid_id,
    )


def _person(p: PersonSummary) -> PersonAdminOut:
    return PersonAdminOut(
        id=p.id,
        name=p.name,
        phone_masked=p.phone if not p.phone_full else mask_phone(p.phone),
        phone=p.phone if p.phone_full else None,
        community_id=p.community_id,
        grid_id=p.grid_id,
        roles=list(p.roles),
        active=p.active,
    )


async def list_people(call: Call) -> dict:
    q: PeopleListQuery = call.query
    rows = await people.search_people(
        call.user,
        call.path_int("cid"),
        {"q": q.q, "role": q.role},
        after_id=q.after_id(),
        limit=q.limit + 1,
    )
    result = page(rows, q.limit, lambda p: p.id)
    result["items"] = [_person(p) for p in result["items"]]
    return result


def _detail(d: PersonDetail) -> PersonAdminOut:
    return _person(d.person)


async def deactivate_person(call: Call) -> PersonAdminOut:
    return _detail(await console.deactivate_person(call.hub, call.user, call.path_int("id")))


async def reactivate_person(call: Call) -> PersonAdminOut:
    return _detail(await people.reactivate_person(call.hub, call.user, call.path_int("id")))


async def revoke_staff(call: Call) -> None:
    q: RevokeQuery = call.query
    await people.revoke_role(
        call.hub,
        call.user,
        call.path_int("cid"),
        call.path_int("person_id"),
        q.role,
        grid_id=q.grid_id,
    )


async def rename_grid(call: Call) -> GridOut:
    grid = await people.rename_grid(call.hub, call.user, call.path_int("id"), call.body)
    return GridOut(id=grid.id, name=grid.name, community_id=grid.community_id)


async def update_team(call: Call) -> TeamOut:
    return _team(await teams.update_team(call.hub, call.user, call.path_int("id"), call.body))


async def create_team(call: Call) -> TeamOut:
    return _team(await teams.create_team(call.hub, call.user, call.path_int("cid"), call.body))


async def list_teams(call: Call) -> dict:
    q: ListQuery = call.query
    rows = await teams.list_teams(call.path_int("cid"), after_id=q.after_id(), limit=q.limit + 1)
    result = page(rows, q.limit, lambda t: t.id)
    result["items"] = [_team(t) for t in result["items"]]
    return result


async def join_team(call: Call) -> MembershipOut:
    m = await teams.join_team(call.hub, call.user, call.path_int("tid"), call.body)
    return MembershipOut(id=m.id, team_id=m.team_id, person_id=m.person_id, status=m.status.value)


async def file_party_report(call: Call) -> PartyReportOut:
    return _report(await teams.file_party_report(call.hub, call.user, call.body))


async def list_memberships(call: Call) -> dict:
    q: MembershipQuery = call.query
    cid = call.path_int("cid")
    rows = await teams.list_memberships(
        call.user, cid, status=q.status, after_id=q.after_id(), limit=q.limit + 1
    )
    community = await people.find_community(cid)
    result = page(rows, q.limit, lambda m: m.id)
    result["items"] = [
        MembershipDetail(
            id=m.id,
            team_id=m.team_id,
            person_id=m.person_id,
            name=m.name,
            status=m.status.value,
            qualifications=[
                QualificationOut(
                    id=x.id,
                    kind=x.kind,
                    expires_on=x.expires_on,
                    verified=x.verified,
                    certificate_number=x.certificate_number,
                    verified_at=local(x.verified_at, community.timezone),
                )
                for x in m.qualifications
            ],
        )
        for m in result["items"]
    ]
    return result


async def approve_membership(call: Call) -> MembershipDecision:
    m = await teams.approve_membership(call.hub, call.user, call.path_int("id"))
    return MembershipDecision(id=m.id, status=m.status.value)


async def refuse_membership(call: Call) -> MembershipDecision:
    m = await teams.refuse_membership(call.hub, call.user, call.path_int("id"), call.body)
    return MembershipDecision(id=m.id, status=m.status.value)


def _qualification(q: QualificationView, timezone: str) -> QualificationDetail:
    return QualificationDetail(
        id=q.id,
        person_id=q.person_id,
        name=q.name,
        team_id=q.team_id,
        kind=q.kind,
        expires_on=q.expires_on,
        certificate_number=q.certificate_number,
        verified=q.verified,
        verified_at=local(q.verified_at, timezone),
        previous_expires_on=q.previous_expires_on,
    )


async def _zone_of_team(team_id: int | None) -> str:
    if team_id is None:  # declared with no team (none is, through the services)
        return people.DEFAULT_TIMEZONE
    team = await teams.get_team(team_id)
    return (await people.find_community(team.community_id)).timezone


async def declare_qualification(call: Call) -> QualificationDetail:
    q = await teams.declare_qualification(call.hub, call.user, call.path_int("tid"), call.body)
    return _qualification(q, await _zone_of_team(q.team_id))


async def list_qualifications(call: Call) -> dict:
    q: ListQuery = call.query
    cid = call.path_int("cid")
    rows = await teams.pending_qualifications(
        call.user, cid, after_id=q.after_id(), limit=q.limit + 1
    )
    community = await people.find_community(cid)
    result = page(rows, q.limit, lambda x: x.id)
    result["items"] = [_qualification(x, community.timezone) for x in result["items"]]
    return result


async def verify_qualification(call: Call) -> QualificationDetail:
    q = await teams.verify_qualification(call.hub, call.user, call.path_int("id"))
    return _qualification(q, await _zone_of_team(q.team_id))


async def refuse_qualification(call: Call) -> QualificationDecision:
    qid = call.path_int("id")
    await teams.refuse_qualification(call.hub, call.user, qid, call.body)
    return QualificationDecision(id=qid, status="refused")


def _report(r: PartyReportView) -> PartyReportOut:
    """A report as the API shows it (from the list's view, or the model a decision returns)."""
    return PartyReportOut(
        id=r.id,
        community_id=r.community_id,
        status=r.status.value,
        work_unit=r.work_unit,
        party_branch=r.party_branch,
    )


async def list_party_reports(call: Call) -> dict:
    q: PartyReportQuery = call.query
    cid = call.path_int("cid")
    community = await people.find_community(cid)
    rows = await teams.list_party_reports(
        call.user, cid, status=q.status, after_id=q.after_id(), limit=q.limit + 1
    )
    result = page(rows, q.limit, lambda r: r.id)
    result["items"] = [
        PartyReportDetail(
            **_report(r).model_dump(),
            person_id=r.person_id,
            name=r.name,
            created_at=local(r.created_at, community.timezone),
        )
        for r in result["items"]
    ]
    return result


async def accept_party_report(call: Call) -> PartyReportOut:
    return _report(await teams.accept_party_report(call.hub, call.user, call.path_int("id")))


async def refuse_party_report(call: Call) -> PartyReportOut:
    return _report(
        await teams.refuse_party_report(call.hub, call.user, call.path_int("id"), call.body)
    )


ENDPOINTS = [
    Endpoint(
        "POST",
        "/communities",
        create_community,
        "Create a community (admin)",
        body=people.CommunityIn,
        response=CommunityOut,
        status=201,
        errors=(401, 403, 409, 422),
        tag="communities",
    ),
    Endpoint(
        "GET",
        "/communities",
        list_communities,
        "List communities",
        query=ListQuery,
        response=ListPage[CommunityBrief],
        auth="none",
        errors=(422,),
        tag="communities",
    ),
    Endpoint(
        "PATCH",
        "/communities/{cid:int}",
        update_community,
        "Change a community's settings (staff, admin)",
        body=people.CommunitySettingsIn,
        response=CommunityOut,
        errors=(401, 403, 404, 422),
        tag="communities",
    ),
    Endpoint(
        "POST",
        "/communities/{cid:int}/grids",
        create_grid,
        "Create a grid (staff)",
        body=people.GridIn,
        response=GridOut,
        status=201,
        errors=(401, 403, 404, 409, 422),
        tag="communities",
    ),
    Endpoint(
        "POST",
        "/communities/{cid:int}/staff",
        add_staff,
        "Make a person staff or a grid worker (admin, staff)",
        body=StaffIn,
        response=StaffOut,
        status=201,
        errors=(401, 403, 404, 422),
        tag="communities",
    ),
    Endpoint(
        "DELETE",
        "/communities/{cid:int}/staff/{person_id:int}",
        revoke_staff,
        "Take back a staff or grid-worker role (admin, staff); grid_id: of one grid only",
        query=RevokeQuery,
        status=204,
        errors=(401, 403, 404, 409, 422),
        tag="communities",
    ),
    Endpoint(
        "PATCH",
        "/grids/{id:int}",
        rename_grid,
        "Rename a grid (staff of its community)",
        body=people.GridIn,
        response=GridOut,
        errors=(401, 404, 409, 422),
        tag="communities",
    ),
    Endpoint(
        "GET",
        "/communities/{cid:int}/people",
        list_people,
        "Search a community's people by name or the phone's last 4+ digits, and by role (staff)",
        query=PeopleListQuery,
        response=ListPage[PersonAdminOut],
        errors=(401, 403, 404, 422),
        tag="communities",
    ),
    Endpoint(
        "POST",
        "/people/{id:int}/deactivate",
        deactivate_person,
        "Deactivate a person: no login, every token revoked, history kept (staff)",
        response=PersonAdminOut,
        errors=(401, 403, 404, 409),
        tag="communities",
    ),
    Endpoint(
        "POST",
        "/people/{id:int}/reactivate",
        reactivate_person,
        "Let a deactivated person log in again (staff)",
        response=PersonAdminOut,
        errors=(401, 403, 404, 409),
        tag="communities",
    ),
    Endpoint(
        "PATCH",
        "/teams/{id:int}",
        update_team,
        "Rename a team, or set, change or remove its leader (staff of its community)",
        body=teams.TeamChangeIn,
        response=TeamOut,
        errors=(401, 404, 409, 422),
        tag="teams",
    ),
    Endpoint(
        "POST",
        "/communities/{cid:int}/teams",
        create_team,
        "Create a team (staff)",
        body=teams.TeamIn,
        response=TeamOut,
        status=201,
        errors=(401, 403, 404, 409, 422),
        tag="teams",
    ),
    Endpoint(
        "GET",
        "/communities/{cid:int}/teams",
        list_teams,
        "List a community's teams",
        query=ListQuery,
        response=ListPage[TeamOut],
        auth="none",
        errors=(404, 422),
        tag="teams",
    ),
    Endpoint(
        "POST",
        "/teams/{tid:int}/members",
        join_team,
        "Join a team yourself",
        body=teams.JoinIn,
        response=MembershipOut,
        status=201,
        errors=(401, 403, 404, 409, 422),
        tag="teams",
    ),
    Endpoint(
        "POST",
        "/party-reports",
        file_party_report,
        "Report as an in-service party member",
        body=teams.PartyReportIn,
        response=PartyReportOut,
        status=201,
        errors=(401, 409, 422),
        tag="teams",
    ),
    Endpoint(
        "GET",
        "/communities/{cid:int}/memberships",
        list_memberships,
        "Memberships of the community's teams (staff; a team's leaders for their teams)",
        query=MembershipQuery,
        response=ListPage[MembershipDetail],
        errors=(401, 403, 404, 422),
        tag="teams",
    ),
    Endpoint(
        "POST",
        "/memberships/{id:int}/approve",
        approve_membership,
        "Approve a pending membership (staff, the team's leader)",
        response=MembershipDecision,
        errors=(401, 403, 404, 409),
        tag="teams",
    ),
    Endpoint(
        "POST",
        "/memberships/{id:int}/refuse",
        refuse_membership,
        "Refuse a pending membership, saying why (staff, the team's leader)",
        body=teams.RefuseIn,
        response=MembershipDecision,
        errors=(401, 403, 404, 409, 422),
        tag="teams",
    ),
    Endpoint(
        "POST",
        "/teams/{tid:int}/qualifications",
        declare_qualification,
        "Declare a new or renewed qualification for a team you are a member of",
        body=teams.QualificationIn,
        response=QualificationDetail,
        status=201,
        errors=(401, 403, 404, 409, 422),
        tag="teams",
    ),
    Endpoint(
        "GET",
        "/communities/{cid:int}/qualifications",
        list_qualifications,
        "Qualifications members declared later, waiting to be checked (staff; a team's "
        "leaders for their teams)",
        query=ListQuery,
        response=ListPage[QualificationDetail],
        errors=(401, 403, 404, 422),
        tag="teams",
    ),
    Endpoint(
        "POST",
        "/qualifications/{id:int}/verify",
        verify_qualification,
        "Verify a declared qualification (staff, the team's leader)",
        response=QualificationDetail,
        errors=(401, 403, 404, 409),
        tag="teams",
    ),
    Endpoint(
        "POST",
        "/qualifications/{id:int}/refuse",
        refuse_qualification,
        "Refuse a declared qualification, saying why (staff, the team's leader)",
        body=teams.RefuseIn,
        response=QualificationDecision,
        errors=(401, 403, 404, 409, 422),
        tag="teams",
    ),
    Endpoint(
        "GET",
        "/communities/{cid:int}/party-reports",
        list_party_reports,
        "Party reports filed to the community (staff)",
        query=PartyReportQuery,
        response=ListPage[PartyReportDetail],
        errors=(401, 403, 404, 422),
        tag="teams",
    ),
    Endpoint(
        "POST",
        "/party-reports/{id:int}/accept",
        accept_party_report,
        "Accept a party report (staff of its community)",
        response=PartyReportOut,
        errors=(401, 403, 404, 409),
        tag="teams",
    ),
    Endpoint(
        "POST",
        "/party-reports/{id:int}/refuse",
        refuse_party_report,
        "Refuse a party report, saying why (staff of its community)",
        body=teams.RefuseIn,
        response=PartyReportOut,
        errors=(401, 403, 404, 409, 422),
        tag="teams",
    ),
]
