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
    # wishes and tasks
    "Contact",
    "PersonName",
    "ServiceRecordView",
    "ServiceRecordsView",
    "SignupView",
    "WishView",
]


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
