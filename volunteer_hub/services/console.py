"""The staff console's pages, each assembled here in a fixed number of queries: which
community to work in, one wish with its candidates, the approvals waiting, what a new
task needs, and the dashboards.

Who may see each is decided here (staff of the community, or an admin); the pages only
format what comes back. The lists and numbers themselves are ``services.reports``'s.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from tortoise.functions import Count

from volunteer_hub.clock import local_day_start
from volunteer_hub.errors import NotFound, PermissionDenied
from volunteer_hub.hub import Hub
from volunteer_hub.i18n import LocalizedText
from volunteer_hub.models import ChannelConfig, MembershipStatus, Person, Team, TeamMembership, Wish
from volunteer_hub.services import channels, invitations, matching, people, reports, teams
from volunteer_hub.services.access import Actor
from volunteer_hub.services.views import (
    CommunityView,
    MembershipView,
    PartyReportStatus,
    PartyReportView,
    PersonDetail,
    QualificationView,
    StaffWish,
    TeamView,
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
    invitations: list[invitations.StaffInvitationView]  # oldest first, with their answers


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
        invitations=await invitations.wish_invitations(hub, actor, wish_id),
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


# --- the administration console (issue 12) ------------------------------------------------------


async def admin_communities(actor: Actor) -> list[CommunityView]:
    """Every community, for the administrators' list (admins only)."""
    if not actor.is_admin:
        raise PermissionDenied("Only an administrator can do this.")
    return await people.list_communities(limit=PAGE_LIMIT)


@dataclass(frozen=True)
class CategoryDispatch:
    code: str
    name: LocalizedText
    team_kind: str | None
    served: bool  # some team or any volunteer serves it (dispatch means something)
    manual: bool  # staff pick the candidates by hand


@dataclass(frozen=True)
class CommunitySettings:
    community: CommunityView
    categories: list[CategoryDispatch]


async def deactivate_person(hub: Hub, actor: Actor, person_id: int) -> PersonDetail:
    """Deactivate a person (``people.deactivate_person``) and, in the same transaction,
    give what they held to others: their claimed wishes open again and are offered to the
    next volunteer, their places on shifts ahead go to those waiting
    (``invitations.release_held_work``). Nobody waits on someone who can no longer log in."""
    return await people.deactivate_person(hub, actor, person_id, then=invitations.release_held_work)


async def community_settings(hub: Hub, actor: Actor, community_id: int) -> CommunitySettings:
    """What the settings page shows: the community and, per wish category, its dispatch
    mode (staff only)."""
    _refuse_unless_staff(actor, community_id)
    community = await people.find_community(community_id)
    manual = set(community.manual_dispatch_categories)
    categories = [
        CategoryDispatch(code, c.name, c.team_kind, c.served, code in manual)
        for code, c in hub.wish_categories(community_id).items()
    ]
    return CommunitySettings(community=community, categories=categories)


async def team_views(actor: Actor, community_id: int) -> list[TeamView]:
    """The community's teams with their kind, leader and number of active members, by
    name in natural order (staff only)."""
    _refuse_unless_staff(actor, community_id)
    rows = await Team.filter(community_id=community_id).values_list(
        "id", "name", "kind", "leader_id", "leader__name"
    )
    counts = dict(
        await TeamMembership.filter(team__community_id=community_id, status=MembershipStatus.ACTIVE)
        .group_by("team_id")
        .annotate(n=Count("id"))
        .values_list("team_id", "n")
    )
    views = [
        TeamView(tid, community_id, name, kind, leader, leader_name, counts.get(tid, 0))
        for tid, name, kind, leader, leader_name in rows
    ]
    return sorted(views, key=lambda t: (people.natural_key(t.name), t.id))


async def leader_choices(actor: Actor, community_id: int) -> list[tuple[int, str]]:
    """Who may lead a team: active people of the community, by name (staff only)."""
    _refuse_unless_staff(actor, community_id)
    return [
        (pid, name)
        for pid, name in await Person.filter(community_id=community_id, active=True)
        .order_by("name", "id")
        .limit(1000)
        .values_list("id", "name")
    ]


@dataclass(frozen=True)
class PluginLine:
    """One plugin as the console shows it. ``error``: None unless an admin asks;
    ``settings``: in force for the community asked about (secrets masked)."""

    name: str
    version: str | None
    builtin: bool
    hooks: tuple[str, ...]
    status: str
    error: str | None
    failures: int
    settings: dict[str, Any] | None


def plugin_lines(hub: Hub, actor: Actor, community_id: int | None) -> list[PluginLine]:
    """The plugins of this server (``vhub plugins``): an admin sees every plugin's error
    and, with ``community_id``, that community's settings (without: the defaults); staff
    see the status and their own community's settings only, read-only."""
    if community_id is None:
        if not actor.is_admin:
            raise PermissionDenied("Only an administrator can do this.")
    else:
        _refuse_unless_staff(actor, community_id)
    lines = []
    for entry in hub.plugins.report():
        described = entry.get("settings")
        settings = None
        if described is not None:
            settings = dict(described.get("defaults") or {})
            if community_id is not None:
                settings.update(described.get("communities", {}).get(str(community_id), {}))
        lines.append(
            PluginLine(
                name=entry["name"],
                version=entry["version"],
                builtin=entry["builtin"],
                hooks=tuple(entry["hooks"]),
                status=entry["status"],
                error=entry["error"] if actor.is_admin else None,
                failures=entry["failures"],
                settings=settings,
            )
        )
    return lines


@dataclass(frozen=True)
class ChannelKindForm:
    """A channel type staff may configure: its settings' fields (from the settings model's
    JSON schema) and, when configured, the stored channel (secrets masked)."""

    code: str
    name: LocalizedText
    fields: list[tuple[str, str, bool, bool]]  # name, input type, required, secret
    configured: channels.ChannelView | None


async def channel_forms(hub: Hub, actor: Actor, community_id: int) -> list[ChannelKindForm]:
    configured = {c.code: c for c in await channels.list_channels(hub, actor, community_id)}
    forms = []
    for code, kind in hub.notification_channels().items():
        schema = kind.settings.model_json_schema()
        required = set(schema.get("required", ()))
        fields = []
        for name, prop in schema.get("properties", {}).items():
            types = {prop.get("type")} | {a.get("type") for a in prop.get("anyOf", ())}
            kind_of = "text"
            if "boolean" in types:
                kind_of = "checkbox"
            elif "integer" in types:
                kind_of = "number"
            secret = name in kind.secret_settings
            fields.append((name, "password" if secret else kind_of, name in required, secret))
        forms.append(ChannelKindForm(code, kind.name, fields, configured.get(code)))
    return forms


async def configure_channel(
    hub: Hub,
    actor: Actor,
    community_id: int,
    code: str,
    name: str,
    raw: dict[str, str | None],
    enabled: bool,
) -> channels.ChannelView:
    """Configure a channel from a form's text fields: numbers and booleans as the settings
    model wants them, empty fields left out; a secret left empty keeps the stored one (the
    form never shows it back)."""
    _refuse_unless_staff(actor, community_id)
    kind = channels.channel_kind(hub, code)
    schema = kind.settings.model_json_schema()
    settings: dict[str, Any] = {}
    for field_name, prop in schema.get("properties", {}).items():
        types = {prop.get("type")} | {a.get("type") for a in prop.get("anyOf", ())}
        value = raw.get(field_name)
        if "boolean" in types:
            settings[field_name] = value in ("on", "true", "1")
        elif value is None or value == "":
            continue
        elif "integer" in types and value.isdigit() and len(value) < 10:
            settings[field_name] = int(value)
        else:
            settings[field_name] = value
    missing_secrets = [
        s for s in kind.secret_settings if s not in settings and s in schema.get("properties", {})
    ]
    if missing_secrets:
        config = await ChannelConfig.get_or_none(community_id=community_id, code=code)
        stored = hub.box.open(config.secret) if config is not None else {}
        for secret in missing_secrets:
            if stored and stored.get(secret):
                settings[secret] = stored[secret]
    return await channels.configure(
        hub,
        actor,
        community_id,
        {"code": code, "name": name, "settings": settings, "enabled": enabled},
    )
