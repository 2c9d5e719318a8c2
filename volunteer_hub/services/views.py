"""What services hand to callers: view objects, and the states a caller may name.

The web layer, the CLI and Open311 read these; they never import ``volunteer_hub.models``
(an import contract checks it). The enums are the models' own, named here so that
callers have one place to take them from.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal

from volunteer_hub.models import (
    DeliveryStatus,
    Escalation,
    MembershipStatus,
    NotificationPriority,
    Open311Scope,
    PartyReportStatus,
    Role,
    SignupStatus,
    WishStatus,
)

__all__ = [
    "DeliveryStatus",
    "Escalation",
    "MembershipStatus",
    "NotificationPriority",
    "Open311Scope",
    "PartyReportStatus",
    "Role",
    "SignupStatus",
    "WishStatus",
    # staff, accounts and communities
    "AccountView",
    "CommunityView",
    "DeclaredQualification",
    "DeliveryView",
    "MembershipView",
    "Open311KeyView",
    "PartyReportView",
    "QualificationView",
    "StaffWish",
    # the console: grids, people, roles, teams
    "GridView",
    "PersonDetail",
    "PersonSummary",
    "RoleHeld",
    "TeamHeld",
    "TeamView",
    # wishes and tasks
    "Contact",
    "PersonName",
    "ServiceRecordView",
    "ServiceRecordsView",
    "SignupView",
    "WishView",
]


# --- staff, accounts and communities ---------------------------------------------------------


@dataclass(frozen=True)
class CommunityView:
    id: int
    name: str
    timezone: str
    approve_volunteers: bool
    # Quiet hours ("HH:MM", the community's zone; equal: none) and the wish categories
    # whose candidates staff pick by hand.
    quiet_start: str = "22:00"
    quiet_end: str = "07:00"
    manual_dispatch_categories: tuple[str, ...] = ()
    # Automatic dispatch: invited at once, and the minutes each has to answer.
    dispatch_k: int = 3
    invitation_minutes: int = 120


# --- the console: grids, people, roles, teams (issue 12) -------------------------------------


@dataclass(frozen=True)
class GridView:
    id: int
    community_id: int
    name: str
    workers: tuple[tuple[int, str], ...] = ()  # its grid workers: person id, name


@dataclass(frozen=True)
class PersonSummary:
    """A person as the console lists them. ``phone`` is the full number only for those
    API.md lets see it (``phone_full``); otherwise masked."""

    id: int
    name: str
    phone: str
    phone_full: bool
    community_id: int | None
    grid_id: int | None
    grid_name: str | None
    roles: tuple[str, ...]  # in the community asked about, sorted
    active: bool


@dataclass(frozen=True)
class RoleHeld:
    role: Role
    community_id: int | None
    grid_id: int | None
    grid_name: str | None


@dataclass(frozen=True)
class TeamHeld:
    team_id: int
    team_name: str
    kind: str
    status: MembershipStatus
    leads: bool


@dataclass(frozen=True)
class PersonDetail:
    """A person's page in the console: who they are, their roles and teams."""

    person: PersonSummary
    address: str | None  # only for those who may see it
    created_at: datetime
    roles: tuple[RoleHeld, ...]
    teams: tuple[TeamHeld, ...]


@dataclass(frozen=True)
class TeamView:
    id: int
    community_id: int
    name: str
    kind: str
    leader_id: int | None
    leader_name: str | None
    members: int  # active members


@dataclass(frozen=True)
class AccountView:
    """What the pages show of the person logged in."""

    person_id: int
    name: str
    timezone: str  # their community's, else the default zone
    # Their community's emergency mode, for the banner every page shows while it is on.
    community_id: int | None = None
    emergency_reason: str | None = None
    emergency_since: datetime | None = None


@dataclass(frozen=True)
class ReferralRow:
    """A wish put before a responsible contact (吹哨), as staff see it: on the wish's page
    and, at its current level, on the board."""

    id: int
    wish_id: int
    contact_id: int
    contact_name: str
    level: Escalation
    notified_at: datetime
    acknowledged_at: datetime | None
    resolved_at: datetime | None
    note: str | None


@dataclass(frozen=True)
class StaffWish:
    """A wish as the staff console shows it: in the review queue, on the escalation board,
    on its own staff page. ``levels``: the escalation levels it may still be raised to."""

    id: int
    community_id: int
    title: str
    description: str
    category: str
    status: WishStatus
    escalation: Escalation | None
    escalated_at: datetime | None
    referral: str | None
    needed_by: date | None
    created_at: datetime
    resident_name: str
    typed_in_by: str | None  # who posted it for the resident (None: the resident did)
    levels: tuple[str, ...]
    urgent: bool = False
    # Who holds it: its claimer, and the responsible contacts referred at its current
    # level (``services.referrals.ReferralRow``: name, acknowledged or not). The board's.
    claimer_name: str | None = None
    holders: tuple[ReferralRow, ...] = ()
    window_start: datetime | None = None  # when help is needed (both or neither)
    window_end: datetime | None = None


@dataclass(frozen=True)
class DeclaredQualification:
    """A qualification declared with a membership, as staff and the team's leaders see it
    (the certificate's number is for them and the holder only)."""

    kind: str
    expires_on: date | None
    verified: bool
    id: int
    certificate_number: str | None
    verified_at: datetime | None


@dataclass(frozen=True)
class QualificationView:
    """A qualification with its holder and team: for the holder, staff of the community
    and the team's leaders (who alone see the certificate's number). ``previous_expires_on``:
    when the holder's verified qualification of the same kind ends (a renewal replaces it)."""

    id: int
    person_id: int
    name: str  # the holder's
    team_id: int | None
    team_name: str | None
    kind: str
    expires_on: date | None
    certificate_number: str | None
    verified: bool
    verified_at: datetime | None
    previous_expires_on: date | None = None


@dataclass(frozen=True)
class MembershipView:
    id: int
    team_id: int
    team_name: str
    person_id: int
    name: str
    status: MembershipStatus
    qualifications: tuple[DeclaredQualification, ...]


@dataclass(frozen=True)
class PartyReportView:
    id: int
    community_id: int
    person_id: int
    name: str  # the reporting party member's
    status: PartyReportStatus
    work_unit: str
    party_branch: str
    created_at: datetime
    yearly_hours_target: Decimal


@dataclass(frozen=True)
class Open311KeyView:
    """An integrator's key as staff see it: never the key itself."""

    id: int
    community_id: int
    name: str
    scopes: tuple[str, ...]
    created_by_id: int
    created_at: datetime
    revoked_at: datetime | None


@dataclass(frozen=True)
class DeliveryView:
    id: int
    notification_id: int
    channel: str  # the channel's code
    status: DeliveryStatus
    attempts: int
    last_error: str | None
    created_at: datetime


# --- wishes and tasks (services.wishes, services.tasks) -------------------------------------


@dataclass(frozen=True)
class PersonName:
    """Whom a wish is for, as everyone who may see the wish may know them."""

    id: int
    name: str


@dataclass(frozen=True)
class Contact:
    """A resident's contact: only in a view for someone who may see it (API.md)."""

    name: str
    phone: str
    address: str | None


@dataclass(frozen=True)
class WishView:
    """A wish as one actor may see it: its fields, the resident's ``contact`` only if this
    actor may see it (else None), and what this actor may do with it now. Times are UTC;
    ``timezone`` is the community's, to show them in. The ``may_*`` flags say which buttons
    to offer; the services check again when one is pressed."""

    id: int
    community_id: int
    grid_id: int | None
    title: str
    description: str
    category: str
    status: WishStatus
    escalation: Escalation | None
    referral: str | None
    needed_by: date | None
    resident: PersonName
    posted_by_id: int
    claimer_id: int | None
    review_reason: str | None
    rating: int | None
    thanks: str | None
    created_at: datetime
    timezone: str
    contact: Contact | None
    # The claimer's name, for those who see the contact and for the claimer themself.
    claimer_name: str | None
    may_claim: bool
    may_fulfil: bool
    may_confirm: bool
    may_cancel: bool
    may_review: bool
    may_escalate: bool
    # Staff of the wish's community: review, candidates and invitations.
    may_manage: bool
    # The note the volunteer left when fulfilling it, for the resident (and whoever sees
    # the contact) and the volunteer.
    fulfil_note: str | None = None
    # The claimer may give a claimed wish back (it reopens).
    may_hand_back: bool = False
    # When help is needed (both or neither), and whether it was marked urgent.
    window_start: datetime | None = None
    window_end: datetime | None = None
    urgent: bool = False
    # The responsible contact who resolved it (吹哨), by name: their note is ``fulfil_note``.
    resolved_by: str | None = None


@dataclass(frozen=True)
class SignupView:
    """A signup as its person (or staff) sees it; ``timezone`` is the task's community's."""

    id: int
    status: SignupStatus
    occurrence_start: datetime
    task_id: int
    person_id: int
    timezone: str


@dataclass(frozen=True)
class ServiceRecordView:
    """Hours served, as their person sees them; ``timezone`` is the community's."""

    id: int
    description: str
    started_at: datetime
    ended_at: datetime
    hours: Decimal
    team_id: int | None
    wish_id: int | None
    signup_id: int | None
    timezone: str


@dataclass(frozen=True)
class ServiceRecordsView:
    total_hours: Decimal
    items: list[ServiceRecordView]
