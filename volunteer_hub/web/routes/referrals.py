"""The closed 吹哨 loop: responsible contacts (staff), and the answers a contact gives
through the link in their message (no login: the token is the credential)."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from pydantic import BaseModel

from volunteer_hub.services import referrals
from volunteer_hub.web.api import Call, Endpoint, ListPage, ListQuery, page


class ContactOut(BaseModel):
    id: int
    community_id: int
    category: str | None
    level: str
    name: str
    channel_code: str
    address: str
    locale: str  # the language of their messages and link page: zh-CN or en
    active: bool


class ReferralOut(BaseModel):
    """What a referral's link shows: the wish without the resident's personal data."""

    wish_id: int
    title: str
    description: str
    category: str
    grid: str | None
    status: str
    escalation: str | None
    level: str  # the level the contact was referred at
    urgent: bool
    posted_at: datetime
    acknowledged_at: datetime | None
    resolved_at: datetime | None
    resolved_by: str | None
    outcome_note: str | None
    link_expires_at: datetime  # after it, or once the wish is closed, the link answers 409


def contact_out(contact: referrals.ContactView) -> ContactOut:
    return ContactOut(
        id=contact.id,
        community_id=contact.community_id,
        category=contact.category,
        level=contact.level.value,
        name=contact.name,
        channel_code=contact.channel_code,
        address=contact.address,
        locale=contact.locale,
        active=contact.active,
    )


def referral_out(view: referrals.ReferralPage) -> ReferralOut:
    zone = ZoneInfo(view.timezone)

    def local(value: datetime | None) -> datetime | None:
        return value.astimezone(zone) if value else None

    return ReferralOut(
        wish_id=view.wish_id,
        title=view.title,
        description=view.description,
        category=view.category,
        grid=view.grid_name,
        status=view.status.value,
        escalation=view.escalation.value if view.escalation else None,
        level=view.level.value,
        urgent=view.urgent,
        posted_at=view.posted_at.astimezone(zone),
        acknowledged_at=local(view.acknowledged_at),
        resolved_at=local(view.resolved_at),
        resolved_by=view.resolved_by,
        outcome_note=view.outcome_note,
        link_expires_at=view.expires_at.astimezone(zone),
    )


async def list_contacts(call: Call) -> dict:
    q: ListQuery = call.query
    rows = await referrals.list_contacts(
        call.hub, call.user, call.path_int("cid"), after_id=q.after_id(), limit=q.limit + 1
    )
    result = page(rows, q.limit, lambda c: c.id)
    result["items"] = [contact_out(c) for c in result["items"]]
    return result


async def add_contact(call: Call) -> ContactOut:
    return contact_out(
        await referrals.add_contact(call.hub, call.user, call.path_int("cid"), call.body)
    )


async def deactivate_contact(call: Call) -> None:
    await referrals.deactivate_contact(call.hub, call.user, call.path_int("id"))


def _token(call: Call) -> str:
    return call.request.path_params["token"]


async def get_referral(call: Call) -> ReferralOut:
    return referral_out(await referrals.open_link(call.hub, _token(call)))


async def acknowledge_referral(call: Call) -> ReferralOut:
    return referral_out(await referrals.acknowledge(call.hub, _token(call)))


async def resolve_referral(call: Call) -> ReferralOut:
    return referral_out(await referrals.resolve(call.hub, _token(call), call.body))


ENDPOINTS = [
    Endpoint(
        "GET",
        "/communities/{cid:int}/responsible-contacts",
        list_contacts,
        "The community's active responsible contacts: who answers for a category at each "
        "escalation level (staff)",
        query=ListQuery,
        response=ListPage[ContactOut],
        errors=(401, 403, 404, 422),
        tag="referrals",
    ),
    Endpoint(
        "POST",
        "/communities/{cid:int}/responsible-contacts",
        add_contact,
        "Name who answers for a category (or all) at a level, and the channel and address "
        "they are told on (staff)",
        body=referrals.ContactIn,
        response=ContactOut,
        status=201,
        errors=(401, 403, 404, 422),
        tag="referrals",
    ),
    Endpoint(
        "DELETE",
        "/responsible-contacts/{id:int}",
        deactivate_contact,
        "Deactivate a responsible contact: later escalations no longer refer to them (staff)",
        status=204,
        errors=(401, 404),
        tag="referrals",
    ),
    Endpoint(
        "GET",
        "/referrals/{token}",
        get_referral,
        "What a referral's link shows its contact: the wish without personal data; 409 once "
        f"the link no longer answers (its wish closed, or {referrals.LINK_LIFETIME.days} days "
        "after it was sent)",
        response=ReferralOut,
        auth="none",
        errors=(404, 409),
        tag="referrals",
    ),
    Endpoint(
        "POST",
        "/referrals/{token}/acknowledge",
        acknowledge_referral,
        "The contact acknowledges the referral (已收到); 409 when done already, the wish "
        "is closed or the link expired",
        response=ReferralOut,
        auth="none",
        errors=(404, 409),
        tag="referrals",
    ),
    Endpoint(
        "POST",
        "/referrals/{token}/resolve",
        resolve_referral,
        "The contact closes the wish as resolved by them, with a note (已解决); the resident "
        "is told; 409 when it is closed already or the link expired",
        body=referrals.ResolveIn,
        response=ReferralOut,
        auth="none",
        errors=(404, 409, 422),
        tag="referrals",
    ),
]
