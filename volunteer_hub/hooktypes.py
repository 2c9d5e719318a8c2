"""The values that hooks take and return. Plain frozen dataclasses, no ORM, no HTTP."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from pydantic import BaseModel

from volunteer_hub.errors import Violation
from volunteer_hub.i18n import LocalizedText

__all__ = [
    "AdmissionDecision",
    "CandidateFacts",
    "DomainEvent",
    "MatchScore",
    "NotificationChannel",
    "PartyReportFacts",
    "PersonFacts",
    "QualificationKind",
    "SignupFacts",
    "TeamKind",
    "Violation",
    "WishCategory",
    "WishFacts",
    "age_on",
]


def age_on(birth_date: date | None, day: date) -> int | None:
    """Age in whole years on ``day``; None when the birth date is unknown."""
    if birth_date is None:
        return None
    before_birthday = (day.month, day.day) < (birth_date.month, birth_date.day)
    return day.year - birth_date.year - before_birthday


@dataclass(frozen=True)
class TeamKind:
    """A kind of volunteer team, e.g. ``anti_fraud`` (反诈)."""

    code: str
    name: LocalizedText


@dataclass(frozen=True)
class QualificationKind:
    """A kind of qualification a volunteer may declare, e.g. ``counsellor``."""

    code: str
    name: LocalizedText


@dataclass(frozen=True)
class WishCategory:
    """A micro-wish category.

    ``team_kind`` names the team kind that serves it: ``None`` means any volunteer of
    the community, unless ``served`` is False, in which case no volunteer serves it
    (it must be referred or escalated). ``restricted`` wishes are seen only by staff and
    qualified members of a team of ``team_kind`` holding one of ``qualifications``.
    """

    code: str
    name: LocalizedText
    team_kind: str | None = None
    served: bool = True
    restricted: bool = False
    qualifications: tuple[str, ...] = ()


@dataclass(frozen=True)
class PersonFacts:
    """What rules may know of a person: no phone, no ID number, no address."""

    id: int
    name: str
    community_id: int
    grid_id: int | None
    birth_date: date | None
    skills: tuple[str, ...]
    # (kind, expires_on, verified) for each qualification the person holds or declared.
    qualifications: tuple[tuple[str, date | None, bool], ...]
    team_kinds: tuple[str, ...]

    def age_on(self, day: date) -> int | None:
        return age_on(self.birth_date, day)

    def valid_qualification(self, kind: str, day: date, *, verified_only: bool = False) -> bool:
        return any(
            k == kind and (expires is None or expires >= day) and (verified or not verified_only)
            for k, expires, verified in self.qualifications
        )


@dataclass(frozen=True)
class SignupFacts:
    """A signup being attempted: the task, the occurrence in the community's local time."""

    task_id: int
    task_title: str
    team_id: int | None
    team_kind: str | None
    community_id: int
    local_start: datetime
    local_end: datetime
    capacity: int
    confirmed_people: tuple[int, ...]


@dataclass(frozen=True)
class WishFacts:
    """A micro-wish as plugins see it: no contact data."""

    id: int | None
    community_id: int
    grid_id: int | None
    category: str
    title: str
    description: str
    needed_by: date | None
    status: str


@dataclass(frozen=True)
class AdmissionDecision:
    """The admission list's (准入清单) answer: accept, or refuse with a reason and a referral.

    ``escalate_after_hours`` maps an escalation level (``blue``/``yellow``/``red``) to the
    hours after posting at which an unhandled wish reaches it.
    """

    accepted: bool
    rule: str = "admission_list"
    reason: LocalizedText | None = None
    referral: LocalizedText | None = None
    escalate_after_hours: Mapping[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class CandidateFacts:
    """A volunteer who passed every hard filter for a wish, with what the ranking computed.

    ``vh_match_score`` receives all of them at once (one call per ranking). Plain values:
    ``hours_last_30_days`` of verified service, ``open_claims`` (wishes they claimed and
    have not fulfilled), ``busy_on_needed_day`` (a confirmed shift on the wish's day),
    ``no_shows`` (unexcused, the last 365 days) and ``core_score``, the core's score
    before plugins (same grid, free time, fairness, reliability, party hours).
    """

    person: PersonFacts
    hours_last_30_days: float = 0.0
    open_claims: int = 0
    busy_on_needed_day: bool = False
    no_shows: int = 0
    core_score: float = 0.0


@dataclass(frozen=True)
class MatchScore:
    """A scorer's contribution: scores of all scorers are added, reasons are listed."""

    score: float
    reasons: tuple[LocalizedText, ...] = ()


@dataclass(frozen=True)
class NotificationChannel:
    """A kind of channel staff can configure for a community.

    Staff give the channel's ``settings`` (validated by that pydantic model, stored
    encrypted; the fields named in ``secret_settings`` are shown masked). People give
    only an address of ``address_kind`` (``phone``, ``email``, ``chat_id``), or none
    for a group channel (``address_kind="group"``). ``build_url(settings, address,
    idempotency_key)`` turns them into an apprise URL that should carry the key to the
    sink so that a repeat after a crash can be dropped there: in the provider's own
    idempotency parameter where it has one, else in a header (delivery is at least once:
    a crashed worker's last few messages go again). No URL typed by a resident or
    volunteer ever reaches it.

    ``apprise_services`` are the apprise services (``apprise.NotifyBase`` subclasses)
    that the channel's URLs need beyond apprise's own: the Hub registers them with
    apprise once, when it is built (``volunteer_hub.apprise_services``). The hook that
    returns channels only describes them; it registers nothing.

    ``text_messages`` says the channel sends text messages (SMS) to a phone: the phone a
    person gives at registration becomes their address for it when they agree, and pages
    call it 短信 / text message whatever gateway sends it.
    """

    code: str
    name: LocalizedText
    address_kind: str
    build_url: Callable[[Any, str, str], str]
    settings: type[BaseModel]
    secret_settings: tuple[str, ...] = ()
    html: bool = False
    apprise_services: tuple[type, ...] = ()
    text_messages: bool = False


@dataclass(frozen=True)
class DomainEvent:
    """Something that happened, published to plugins after its transaction committed."""

    name: str  # e.g. "wish.claimed", "signup.promoted"
    community_id: int | None
    entity_type: str
    entity_id: int
    actor_id: int | None
    occurred_at: datetime
    data: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class PartyReportFacts:
    """An in-service party member's report (在职党员到社区报到) being filed, not saved yet."""

    person: PersonFacts
    community_id: int
    work_unit: str
    party_branch: str
