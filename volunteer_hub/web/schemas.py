"""Response shapes of the JSON API, and the functions that fill them.

The personal-data rules of API.md: a phone number is masked unless the caller is the
person or staff of their community; the full phone and the address of a wish's resident
appear (as ``contact``) only when the wish service put them in the caller's view of the
wish; an ID number never appears. Wishes, signups and service records come as the
services' views (``volunteer_hub.services.views``) and are only mapped here.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from pydantic import BaseModel, Field, TypeAdapter

from volunteer_hub.hooktypes import age_on
from volunteer_hub.hub import Hub
from volunteer_hub.services import people as people_service
from volunteer_hub.services.access import Actor, load_actor
from volunteer_hub.services.reads import TaskRow
from volunteer_hub.services.views import (
    ServiceRecordsView,
    ServiceRecordView,
    SignupView,
    WishView,
)
from volunteer_hub.validation import mask_phone


class PersonOut(BaseModel):
    id: int
    name: str
    phone_masked: str
    community_id: int | None
    grid_id: int | None
    roles: list[str]
    age: int | None
    skills: list[str]
    phone: str | None = None
    address: str | None = None


class LoginOut(BaseModel):
    token: str
    expires_at: datetime
    person: PersonOut


class CommunityOut(BaseModel):
    id: int
    name: str
    timezone: str
    approve_volunteers: bool
    quiet_start: str = Field(description='Quiet hours start, "HH:MM" in the community\'s zone')
    quiet_end: str = Field(description="Quiet hours end; equal to the start: no quiet hours")
    manual_dispatch_categories: list[str] = Field(
        description="Wish categories whose candidates staff pick by hand (the rest: automatic)"
    )
    dispatch_k: int = Field(3, description="How many of the best candidates are invited at once")
    invitation_minutes: int = Field(
        120, description="Minutes each invited person has to answer (not counting quiet hours)"
    )


class CommunityBrief(BaseModel):
    id: int
    name: str


class PersonAdminOut(BaseModel):
    """A person as the console's API lists them: the full phone only for those API.md
    lets see it (else null; ``phone_masked`` always)."""

    id: int
    name: str
    phone_masked: str
    phone: str | None = None
    community_id: int | None
    grid_id: int | None
    roles: list[str] = Field(description="Their roles in the community asked about")
    active: bool = Field(description="False: deactivated (cannot log in; history kept)")


class GridOut(BaseModel):
    id: int
    name: str
    community_id: int


class StaffOut(BaseModel):
    person_id: int
    community_id: int
    role: str
    grid_id: int | None


class TeamOut(BaseModel):
    id: int
    name: str
    kind: str
    community_id: int
    leader_id: int | None


class MembershipOut(BaseModel):
    id: int
    team_id: int
    person_id: int
    status: str


class QualificationOut(BaseModel):
    id: int
    kind: str
    expires_on: date | None
    verified: bool
    # Only staff of the community and the team's leaders list memberships: they may see it.
    certificate_number: str | None
    verified_at: datetime | None


class MembershipDetail(BaseModel):
    id: int
    team_id: int
    person_id: int
    name: str
    status: str
    qualifications: list[QualificationOut]


class MembershipDecision(BaseModel):
    id: int
    status: str


class QualificationDetail(BaseModel):
    """A qualification with its holder: for the holder, staff of the community and the
    team's leaders (the only callers that get one)."""

    id: int
    person_id: int
    name: str
    team_id: int | None
    kind: str
    expires_on: date | None
    certificate_number: str | None
    verified: bool
    verified_at: datetime | None
    previous_expires_on: date | None  # when the verified one of the same kind ends


class QualificationDecision(BaseModel):
    id: int
    status: str  # "refused"


class PartyReportOut(BaseModel):
    id: int
    community_id: int
    status: str
    work_unit: str
    party_branch: str


class PartyReportDetail(PartyReportOut):
    person_id: int
    name: str
    created_at: datetime


class PersonBrief(BaseModel):
    id: int
    name: str


class Contact(BaseModel):
    name: str
    phone: str
    address: str | None


class WindowOut(BaseModel):
    start: datetime
    end: datetime


class WishOut(BaseModel):
    id: int
    community_id: int
    grid_id: int | None
    title: str
    description: str
    category: str
    status: str
    escalation: str | None
    referral: str | None
    needed_by: date | None
    resident: PersonBrief
    posted_by_id: int
    claimer_id: int | None
    review_reason: str | None
    rating: int | None
    thanks: str | None
    created_at: datetime
    contact: Contact | None = None
    # The volunteer's note at fulfilment, for the resident and whoever sees the contact.
    fulfil_note: str | None = None
    window: WindowOut | None = None  # when help is needed
    urgent: bool = False
    resolved_by: str | None = None  # the responsible contact who resolved it (吹哨)


class WishCreated(BaseModel):
    id: int
    status: str


class CategoryOut(BaseModel):
    code: str
    name: str
    team_kind: str | None


class CandidateOut(BaseModel):
    person_id: int
    name: str
    score: float
    reasons: list[str]


class OccurrenceOut(BaseModel):
    start: datetime
    end: datetime
    capacity: int
    taken: int


class TaskOut(BaseModel):
    id: int
    community_id: int
    team_id: int | None
    title: str
    description: str
    location: str | None
    starts_at: datetime
    ends_at: datetime
    capacity: int
    rrule: str | None
    cancelled_at: datetime | None = None  # a cancelled task has no occurrences ahead
    occurrences: list[OccurrenceOut]


class SignupOut(BaseModel):
    id: int
    status: str
    occurrence_start: datetime
    task_id: int
    person_id: int


class ServiceRecordOut(BaseModel):
    id: int
    description: str
    started_at: datetime
    ended_at: datetime
    hours: Decimal
    team_id: int | None
    wish_id: int | None
    signup_id: int | None


class ServiceRecordsOut(BaseModel):
    total_hours: Decimal
    items: list[ServiceRecordOut]


class Health(BaseModel):
    status: str


# --- filling them ------------------------------------------------------------------------


def local(moment: datetime | None, timezone: str) -> datetime | None:
    """Times go out with the community's offset (API.md: 2026-12-03T19:00:00+08:00)."""
    return None if moment is None else moment.astimezone(ZoneInfo(timezone))


async def person_out(hub: Hub, viewer: Actor, person: Any) -> PersonOut:
    """``person``: a stored person, as ``services.people`` and ``services.auth`` give it."""
    subject = await load_actor(person.id)
    community = await person.community if person.community_id else None
    timezone = community.timezone if community else "Asia/Shanghai"
    entitled = people_service.can_see_person(viewer, person)
    return PersonOut(
        id=person.id,
        name=person.name,
        phone_masked=mask_phone(person.phone),
        community_id=person.community_id,
        grid_id=person.grid_id,
        roles=subject.roles_in(person.community_id),
        age=age_on(person.birth_date, hub.today(timezone)),
        skills=list(person.skills or []),
        phone=person.phone if entitled else None,
        address=person.address if entitled else None,
    )


def wish_out(wish: WishView) -> WishOut:
    contact = wish.contact
    return WishOut(
        id=wish.id,
        community_id=wish.community_id,
        grid_id=wish.grid_id,
        title=wish.title,
        description=wish.description,
        category=wish.category,
        status=wish.status.value,
        escalation=wish.escalation.value if wish.escalation else None,
        referral=wish.referral,
        needed_by=wish.needed_by,
        resident=PersonBrief(id=wish.resident.id, name=wish.resident.name),
        posted_by_id=wish.posted_by_id,
        claimer_id=wish.claimer_id,
        review_reason=wish.review_reason,
        rating=wish.rating,
        thanks=wish.thanks,
        created_at=local(wish.created_at, wish.timezone),
        contact=None
        if contact is None
        else Contact(name=contact.name, phone=contact.phone, address=contact.address),
        fulfil_note=wish.fulfil_note,
        window=None
        if wish.window_start is None or wish.window_end is None
        else WindowOut(
            start=local(wish.window_start, wish.timezone),
            end=local(wish.window_end, wish.timezone),
        ),
        urgent=wish.urgent,
        resolved_by=wish.resolved_by,
    )


_TASK_OUT = TypeAdapter(TaskOut)


def task_out(task: TaskRow, occurrences: list[dict]) -> TaskOut:
    """``task``: a ``TaskRow``, or a stored task (the same attributes)."""
    # Plain values checked in one pass: a fifth (one occurrence) to a third (eight)
    # cheaper than building the models one by one, and every task read answers here.
    zone = ZoneInfo(task.community.timezone)
    return _TASK_OUT.validate_python(
        {
            "id": task.id,
            "community_id": task.community_id,
            "team_id": task.team_id,
            "title": task.title,
            "description": task.description,
            "location": task.location,
            "starts_at": task.starts_at.astimezone(zone),
            "ends_at": task.ends_at.astimezone(zone),
            "capacity": task.capacity,
            "rrule": task.rrule,
            "cancelled_at": task.cancelled_at.astimezone(zone) if task.cancelled_at else None,
            "occurrences": [
                {
                    "start": o["start"].astimezone(zone),
                    "end": o["end"].astimezone(zone),
                    "capacity": o["capacity"],
                    "taken": o["taken"],
                }
                for o in occurrences
                if not o["cancelled"]
            ],
        }
    )


def signup_out(signup: SignupView) -> SignupOut:
    return SignupOut(
        id=signup.id,
        status=signup.status.value,
        occurrence_start=local(signup.occurrence_start, signup.timezone),
        task_id=signup.task_id,
        person_id=signup.person_id,
    )


def record_out(record: ServiceRecordView) -> ServiceRecordOut:
    return ServiceRecordOut(
        id=record.id,
        description=record.description,
        started_at=local(record.started_at, record.timezone),
        ended_at=local(record.ended_at, record.timezone),
        hours=record.hours,
        team_id=record.team_id,
        wish_id=record.wish_id,
        signup_id=record.signup_id,
    )


def records_out(records: ServiceRecordsView) -> ServiceRecordsOut:
    return ServiceRecordsOut(
        total_hours=records.total_hours, items=[record_out(r) for r in records.items]
    )
