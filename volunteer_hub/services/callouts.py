"""Emergency call-outs (战时): one urgent message to many volunteers, each acknowledging it.

Staff call out a team (its active members), a grid (the volunteers living in it), a
skill (the volunteers who list it) or every volunteer of their community. Whatever the
number of recipients, it is written in one transaction with a handful of statements: the
call-out, its recipients and ONE audit entry here; their notifications and outbox rows by
the notifications' subscriber to ``emergency.callout``, in the same transaction
(``notifications.bulk``). The messages are urgent, so quiet hours do not hold them back.

Each recipient's message carries a secret link ``{public_url}/ack/{token}``; only the
token's SHA-256 is stored. The tokens reach the subscriber as the event's secret
(``ACK_TOKENS``), never plugins. Opening the link records the acknowledgement, once.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from pydantic import Field, TypeAdapter, ValidationError, ValidationInfo, field_validator
from pydantic.json_schema import WithJsonSchema
from pydantic_core import PydanticCustomError

from volunteer_hub import db
from volunteer_hub.errors import InvalidInput, NotFound, PermissionDenied
from volunteer_hub.hub import Hub
from volunteer_hub.models import (
    CallOut,
    CallOutRecipient,
    Community,
    DeliveryStatus,
    Grid,
    MembershipStatus,
    Role,
    Team,
)
from volunteer_hub.security import secret_digest
from volunteer_hub.services.access import Actor
from volunteer_hub.services.people import get_community
from volunteer_hub.services.uow import UnitOfWork, unit_of_work
from volunteer_hub.validation import MAX_ID, Id, Input, Line, Text, custom_error, parse

EVENT = "emergency.callout"
ENTITY_TYPE = db.table_name(CallOut)
TOKEN_BYTES = 16  # 22 characters in the link: short enough for a text message
MAX_TOKEN_LENGTH = 100
# The key of {person id: ack token} in the secret of the ``emergency.callout`` event.
ACK_TOKENS = "ack_tokens"

_SKILL = TypeAdapter(Annotated[Line, Field(min_length=1, max_length=30)])
_ID = TypeAdapter(Id)
_VALUE_SCHEMA = {
    "anyOf": [
        {"type": "integer", "minimum": 1, "maximum": MAX_ID},
        {"type": "string", "minLength": 1, "maxLength": 30},
        {"type": "null"},
    ],
    "description": "The team's or grid's id, or the skill; left out for everyone.",
}


class TargetIn(Input):
    kind: Literal["team", "grid", "skill", "everyone"]
    value: Annotated[Any, WithJsonSchema(_VALUE_SCHEMA)] = Field(
        default=None, validate_default=True
    )

    @field_validator("value")
    @classmethod
    def _fits_kind(cls, value: Any, info: ValidationInfo) -> int | str | None:
        kind = info.data.get("kind")
        if kind is None:  # the kind's own error is reported
            return value
        if kind == "everyone":
            if value is not None:
                raise custom_error("target", "Must be left out when calling everyone.")
            return None
        if value is None:
            raise custom_error("required", "This field is required.")
        # A JSON body is validated strictly (validation.parse_json): ``true`` is no team id.
        return _revalidate(_SKILL if kind == "skill" else _ID, value, strict=info.mode == "json")


def _revalidate(adapter: TypeAdapter, value: Any, *, strict: bool) -> Any:
    """Validate with a field type, reporting its error as this field's own."""
    try:
        return adapter.validate_python(value, strict=strict)
    except ValidationError as exc:
        error = exc.errors(include_url=False)[0]
        raise PydanticCustomError(error["type"], error["msg"], error.get("ctx") or {}) from None


class CallOutIn(Input):
    title: Annotated[Line, Field(min_length=1, max_length=100)]
    message: Annotated[Text, Field(min_length=1, max_length=1000)]
    target: TargetIn


@dataclass(frozen=True)
class Headcount:
    id: int
    community_id: int
    title: str
    target_kind: str
    target_value: str | None
    created_at: datetime
    timezone: str  # the community's
    recipients: int
    acknowledged: int
    delivered: int  # recipients reached through at least one channel


@dataclass(frozen=True)
class Acknowledgement:
    title: str
    community_name: str
    timezone: str  # the community's
    acknowledged_at: datetime
    first_time: bool  # False when the link had been opened before


def ack_url(hub: Hub, token: str) -> str:
    return f"{hub.settings.public_url}/ack/{token}"


# --- calling out ---------------------------------------------------------------------------


async def call_out(hub: Hub, actor: Actor, community_id: int, data: CallOutIn | dict) -> CallOut:
    """Staff call volunteers out; each gets an urgent message with their own ack link."""
    community, data = await check_call_out(actor, community_id, data)
    async with unit_of_work(hub, actor.id) as uow:
        return await write_call_out(uow, actor, community, data)


async def check_call_out(
    actor: Actor, community_id: int, data: CallOutIn | dict
) -> tuple[Community, CallOutIn]:
    """The community and the parsed call-out, once the actor may call out there and the
    target names a team or grid of that community."""
    community = await get_community(community_id)
    if not actor.is_staff(community.id):
        raise PermissionDenied("Only staff of this community can do this.")
    data = parse(CallOutIn, data)
    target = data.target
    if target.kind == "team" and not await Team.exists(id=target.value, community_id=community.id):
        raise InvalidInput.for_field("target.value", "No such team in this community.")
    if target.kind == "grid" and not await Grid.exists(id=target.value, community_id=community.id):
        raise InvalidInput.for_field("target.value", "No such grid in this community.")
    return community, data


async def write_call_out(
    uow: UnitOfWork, actor: Actor, community: Community, data: CallOutIn
) -> CallOut:
    """Write a checked call-out (``check_call_out``) in the caller's unit of work: the
    call-out, its recipients and its event. Emergency mode sends its call-out this way, in
    the transaction that switches it on."""
    target = data.target
    person_ids = await _recipients(community.id, target.kind, target.value)
    if not person_ids:
        raise InvalidInput.for_field("target", "No volunteer matches this target.")
    callout = await CallOut.create(
        community_id=community.id,
        created_by_id=actor.id,
        title=data.title,
        message=data.message,
        target_kind=target.kind,
        target_value=None if target.value is None else str(target.value),
        recipients=len(person_ids),
        created_at=uow.now,
    )
    tokens = {person_id: secrets.token_urlsafe(TOKEN_BYTES) for person_id in person_ids}
    await db.insert_rows(
        db.table_name(CallOutRecipient),
        ("callout_id", "person_id", "ack_hash", "acked_at"),
        [(callout.id, pid, secret_digest(token), None) for pid, token in tokens.items()],
    )
    await uow.record(
        EVENT,
        callout,
        community_id=community.id,
        after={
            "title": callout.title,
            "target_kind": callout.target_kind,
            "target_value": callout.target_value,
            "recipients": callout.recipients,
        },
        secret={ACK_TOKENS: tokens},
    )
    return callout


async def _recipients(community_id: int, kind: str, value: int | str | None) -> list[int]:
    """The ids of the distinct people a target names, in id order (one statement)."""
    volunteers = (
        "EXISTS (SELECT 1 FROM role_assignment r WHERE r.person_id = p.id"
        " AND r.community_id = ? AND r.role = ?)"
    )
    params: list[Any] = [community_id, Role.VOLUNTEER.value]
    if kind == "team":
        where = (
            "EXISTS (SELECT 1 FROM team_membership m WHERE m.person_id = p.id"
            " AND m.team_id = ? AND m.status = ?)"
        )
        params = [value, MembershipStatus.ACTIVE.value]
    elif kind == "grid":
        where = f"p.grid_id = ? AND {volunteers}"
        params = [value, *params]
    elif kind == "skill":
        contains = (
            "jsonb_exists(p.skills, ?)"
            if db.is_postgres()
            else "EXISTS (SELECT 1 FROM json_each(p.skills) s WHERE s.value = ?)"
        )
        where = f"{contains} AND {volunteers}"
        params = [value, *params]
    else:
        where = volunteers
    rows = await db.fetch(f"SELECT p.id FROM person p WHERE {where} ORDER BY p.id", *params)
    return [r["id"] for r in rows]


# --- acknowledging -----------------------------------------------------------------------------


async def acknowledge(hub: Hub, token: str) -> Acknowledgement:
    """Record that the link's owner got the call-out; opening it again changes nothing."""
    if not token or len(token) > MAX_TOKEN_LENGTH:
        raise NotFound("No such acknowledgement link.", code="ack_not_found")
    digest = secret_digest(token)
    row = await CallOutRecipient.get_or_none(ack_hash=digest).select_related(
        "callout", "callout__community"
    )
    if row is None:
        raise NotFound("No such acknowledgement link.", code="ack_not_found")
    callout = row.callout
    first_time = False
    if row.acked_at is None:
        async with unit_of_work(hub, row.person_id) as uow:
            first_time = bool(
                await CallOutRecipient.filter(id=row.id, acked_at__isnull=True).update(
                    acked_at=uow.now
                )
            )
            if first_time:
                row.acked_at = uow.now
                await uow.record(
                    "emergency.acknowledged",
                    row,
                    community_id=callout.community_id,
                    after={"callout_id": callout.id, "person_id": row.person_id},
                )
        if not first_time:  # opened twice at once: the other request recorded it
            await row.refresh_from_db(fields=["acked_at"])
    return Acknowledgement(
        title=callout.title,
        community_name=callout.community.name,
        timezone=callout.community.timezone,
        acknowledged_at=row.acked_at,
        first_time=first_time,
    )


# --- the headcount ------------------------------------------------------------------------------


async def get_callout(actor: Actor, callout_id: int) -> CallOut:
    """The call-out, for staff of its community; NotFound for anyone else."""
    callout = await CallOut.get_or_none(id=callout_id).select_related("community")
    if callout is None or not actor.is_staff(callout.community_id):
        raise NotFound("No such call-out.", code="callout_not_found")
    return callout


async def headcount(hub: Hub, actor: Actor, callout_id: int) -> Headcount:
    """How many were called, have acknowledged, and were reached (for staff, live)."""
    callout = await get_callout(actor, callout_id)
    [counts] = await db.fetch(
        "SELECT count(*) AS recipients, count(acked_at) AS acknowledged"
        " FROM callout_recipient WHERE callout_id = ?",
        callout.id,
    )
    # Every delivery of the call-out became due at its creation (urgent), and a retry only
    # moves not_before later: the (status, not_before) index finds them among recent ones.
    [reached] = await db.fetch(
        "SELECT count(DISTINCT n.person_id) AS delivered"
        " FROM delivery d JOIN notification n ON n.id = d.notification_id"
        " WHERE d.status = ? AND d.not_before >= ?"
        " AND n.entity_type = ? AND n.entity_id = ? AND n.event = ?",
        DeliveryStatus.SENT.value,
        callout.created_at,
        ENTITY_TYPE,
        callout.id,
        EVENT,
    )
    return Headcount(
        id=callout.id,
        community_id=callout.community_id,
        title=callout.title,
        target_kind=callout.target_kind,
        target_value=callout.target_value,
        created_at=callout.created_at,
        timezone=callout.community.timezone,
        recipients=counts["recipients"],
        acknowledged=counts["acknowledged"],
        delivered=reached["delivered"],
    )


@dataclass(frozen=True)
class CallOutSummary:
    """One call-out in the list staff see: what was sent, to whom, how many answered."""

    id: int
    title: str
    message: str
    target_kind: str
    target_value: str | None
    created_at: datetime
    recipients: int
    acknowledged: int


MAX_LISTED = 200


async def list_callouts(
    actor: Actor, community_id: int, *, limit: int = 50
) -> list[CallOutSummary]:
    """The community's call-outs, newest first, each with its acknowledgements (staff)."""
    community = await get_community(community_id)
    if not actor.is_staff(community.id):
        raise PermissionDenied("Only staff of this community can do this.")
    rows = await db.fetch(
        "SELECT c.id, c.title, c.message, c.target_kind, c.target_value, c.created_at,"
        " c.recipients, (SELECT count(r.acked_at) FROM callout_recipient r"
        " WHERE r.callout_id = c.id) AS acknowledged"
        " FROM callout c WHERE c.community_id = ? ORDER BY c.id DESC LIMIT ?",
        community.id,
        max(1, min(limit, MAX_LISTED)),
    )
    return [
        CallOutSummary(
            id=r["id"],
            title=r["title"],
            message=r["message"],
            target_kind=r["target_kind"],
            target_value=r["target_value"],
            created_at=_aware(r["created_at"]),
            recipients=r["recipients"],
            acknowledged=r["acknowledged"],
        )
        for r in rows
    ]


def _aware(value: Any) -> datetime:
    """A timestamp from a hand-written read: SQLite answers text, PostgreSQL a datetime."""
    moment = datetime.fromisoformat(value) if isinstance(value, str) else value
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
