"""Notifications: the inbox, people's channel addresses, staff's channels and dead letters."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, Field

from volunteer_hub.notifications import inbox, outbox
from volunteer_hub.services import channels, deliveries
from volunteer_hub.services.views import DeliveryView
from volunteer_hub.validation import Input
from volunteer_hub.web.api import Call, Endpoint, ListPage, ListQuery, page


class NotificationOut(BaseModel):
    id: int
    event: str
    priority: str
    subject: str
    body: str
    created_at: datetime
    read_at: datetime | None


class InboxQuery(ListQuery):
    unread: bool = False


class AddressOut(BaseModel):
    code: str
    address: str
    enabled: bool
    # Nothing but its code is sent to an address until the person has typed the code in.
    confirmed: bool
    code_expires_at: datetime | None


class ChannelOut(BaseModel):
    id: int
    community_id: int
    code: str
    name: str
    enabled: bool
    settings: dict


class DeliveryOut(BaseModel):
    id: int
    notification_id: int
    channel: str
    status: str
    attempts: int
    last_error: str | None
    created_at: datetime


class DeadQuery(Input):
    limit: Annotated[int, Field(ge=1, le=200)] = 100


def _delivery(d: DeliveryView) -> DeliveryOut:
    return DeliveryOut(
        id=d.id,
        notification_id=d.notification_id,
        channel=d.channel,
        status=d.status.value,
        attempts=d.attempts,
        last_error=d.last_error,
        created_at=d.created_at,
    )


async def my_notifications(call: Call) -> dict:
    q: InboxQuery = call.query
    rows = await inbox.list_inbox(
        call.user, before_id=q.after_id(), limit=q.limit + 1, unread=q.unread
    )
    result = page(rows, q.limit, lambda n: n.id)
    result["items"] = [
        NotificationOut(
            id=n.id,
            event=n.event,
            priority=n.priority.value,
            subject=n.subject,
            body=n.body,
            created_at=n.created_at,
            read_at=n.read_at,
        )
        for n in result["items"]
    ]
    return result


async def read_notification(call: Call) -> None:
    await inbox.mark_read(call.hub, call.user, call.path_int("id"))


def _address(row) -> AddressOut:
    """An address the channels service hands back (its rows are read, never queried)."""
    return AddressOut(
        code=row.code,
        address=row.address,
        enabled=row.enabled,
        confirmed=row.confirmed_at is not None,
        code_expires_at=row.code_expires_at if row.confirmed_at is None else None,
    )


async def my_channels(call: Call) -> dict:
    return {"items": [_address(r) for r in await channels.my_addresses(call.user)]}


async def set_my_channel(call: Call) -> AddressOut:
    code = call.request.path_params["code"]
    return _address(await channels.set_address(call.hub, call.user, code, call.body))


async def send_my_code(call: Call) -> AddressOut:
    code = call.request.path_params["code"]
    return _address(await channels.send_code(call.hub, call.user, code))


async def confirm_my_channel(call: Call) -> AddressOut:
    code = call.request.path_params["code"]
    return _address(await channels.confirm_address(call.hub, call.user, code, call.body))


class ResidentAddressOut(AddressOut):
    # Staff or a grid worker set it for the person (assisted mode); None: the person did.
    set_by: int | None


def _resident_address(row) -> ResidentAddressOut:
    return ResidentAddressOut(**_address(row).model_dump(), set_by=row.set_by_id)


async def resident_channels(call: Call) -> dict:
    _, rows = await channels.addresses_of(call.user, call.path_int("id"))
    return {"items": [_resident_address(r) for r in rows]}


async def set_resident_channel(call: Call) -> ResidentAddressOut:
    code = call.request.path_params["code"]
    row = await channels.set_address_for(call.hub, call.user, call.path_int("id"), code, call.body)
    return _resident_address(row)


def _channel(v: channels.ChannelView) -> ChannelOut:
    return ChannelOut(
        id=v.id,
        community_id=v.community_id,
        code=v.code,
        name=v.name,
        enabled=v.enabled,
        settings=v.settings,
    )


async def configure_channel(call: Call) -> ChannelOut:
    return _channel(await channels.configure(call.hub, call.user, call.path_int("cid"), call.body))


async def list_channels(call: Call) -> dict:
    views = await channels.list_channels(call.hub, call.user, call.path_int("cid"))
    return {"items": [_channel(v) for v in views]}


async def dead_letters(call: Call) -> dict:
    rows = await outbox.dead_letters(call.user, call.path_int("cid"), limit=call.query.limit)
    return {"items": [_delivery(d) for d in await deliveries.delivery_views(rows)]}


async def retry_delivery(call: Call) -> DeliveryOut:
    delivery = await outbox.retry(call.hub, call.user, call.path_int("id"))
    (view,) = await deliveries.delivery_views([delivery])
    return _delivery(view)


ENDPOINTS = [
    Endpoint(
        "GET",
        "/me/notifications",
        my_notifications,
        "Your in-app inbox, newest first",
        query=InboxQuery,
        response=ListPage[NotificationOut],
        errors=(401, 422),
        tag="notifications",
    ),
    Endpoint(
        "POST",
        "/me/notifications/{id:int}/read",
        read_notification,
        "Mark a notification read",
        status=204,
        errors=(401, 404),
        tag="notifications",
    ),
    Endpoint(
        "GET",
        "/me/channels",
        my_channels,
        "Your addresses for the notification channels",
        response=ListPage[AddressOut],
        errors=(401,),
        tag="notifications",
    ),
    Endpoint(
        "PUT",
        "/me/channels/{code:str}",
        set_my_channel,
        "Give your address for a channel (a phone, an e-mail; never a URL); a new address "
        "gets a code and receives nothing else until it is confirmed",
        body=channels.AddressIn,
        response=AddressOut,
        errors=(401, 404, 409, 422, 429),
        tag="notifications",
    ),
    Endpoint(
        "POST",
        "/me/channels/{code:str}/code",
        send_my_code,
        "Send a new confirmation code to your unconfirmed address (one a minute)",
        response=AddressOut,
        errors=(401, 404, 409, 422, 429),
        tag="notifications",
    ),
    Endpoint(
        "POST",
        "/me/channels/{code:str}/confirm",
        confirm_my_channel,
        "Confirm your address with the code sent to it (5 tries per code)",
        body=channels.CodeIn,
        response=AddressOut,
        errors=(401, 404, 409, 422, 429),
        tag="notifications",
    ),
    Endpoint(
        "GET",
        "/people/{id:int}/channels",
        resident_channels,
        "A resident's addresses (staff of their community, grid workers of their grid)",
        response=ListPage[ResidentAddressOut],
        errors=(401, 404),
        tag="notifications",
    ),
    Endpoint(
        "PUT",
        "/people/{id:int}/channels/{code:str}",
        set_resident_channel,
        "Set a resident's address for a channel, with them in person (staff of their "
        "community, grid workers of their grid): confirmed at once, audited with who set it",
        body=channels.AddressIn,
        response=ResidentAddressOut,
        errors=(401, 404, 409, 422),
        tag="notifications",
    ),
    Endpoint(
        "POST",
        "/communities/{cid:int}/channels",
        configure_channel,
        "Configure a notification channel (staff); settings are stored encrypted",
        body=channels.ChannelIn,
        response=ChannelOut,
        status=201,
        errors=(401, 403, 404, 409, 422),
        tag="notifications",
    ),
    Endpoint(
        "GET",
        "/communities/{cid:int}/channels",
        list_channels,
        "The community's channels, secrets masked (staff)",
        response=ListPage[ChannelOut],
        errors=(401, 403, 404),
        tag="notifications",
    ),
    Endpoint(
        "GET",
        "/communities/{cid:int}/deliveries",
        dead_letters,
        "Messages that could not be delivered (staff)",
        query=DeadQuery,
        response=ListPage[DeliveryOut],
        errors=(401, 403, 404, 422),
        tag="notifications",
    ),
    Endpoint(
        "POST",
        "/deliveries/{id:int}/retry",
        retry_delivery,
        "Send a dead letter again (staff)",
        response=DeliveryOut,
        errors=(401, 404, 409),
        tag="notifications",
    ),
]
