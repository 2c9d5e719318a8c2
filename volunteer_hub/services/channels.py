"""Notification channels: staff configure them per community, people give their addresses.

Settings are validated by the channel's own model and stored encrypted; they are shown
masked. People never give a URL: only an address of the channel's kind.
"""

from __future__ import annotations

import re
import socket
from dataclasses import dataclass
from typing import Annotated, Any
from urllib.parse import urlsplit

from pydantic import BaseModel, Field, ValidationError
from tortoise.exceptions import IntegrityError

from volunteer_hub.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from volunteer_hub.hooktypes import NotificationChannel
from volunteer_hub.hub import Hub
from volunteer_hub.models import ChannelConfig, PersonChannel
from volunteer_hub.services.access import Actor
from volunteer_hub.services.people import get_community
from volunteer_hub.services.uow import unit_of_work
from volunteer_hub.validation import (
    Input,
    Line,
    invalid_input,
    is_private_host,
    normalize_phone,
    parse,
)

MASK = "••••••"
_EMAIL = re.compile(r"[^@\s:/]+@[A-Za-z0-9.\-]+\.[A-Za-z]{2,}")


class ChannelIn(Input):
    code: Annotated[str, Field(min_length=1, max_length=40)]
    name: Annotated[Line, Field(min_length=1, max_length=100)]
    settings: dict[str, Any]
    enabled: bool = True


class AddressIn(Input):
    address: Annotated[Line, Field(min_length=1, max_length=200)]
    enabled: bool = True


@dataclass(frozen=True)
class ChannelView:
    id: int
    community_id: int
    code: str
    name: str
    enabled: bool
    settings: dict[str, Any]  # masked


def channel_kind(hub: Hub, code: str, field_name: str = "code") -> NotificationChannel:
    kinds = hub.notification_channels()
    if code not in kinds:
        raise InvalidInput.for_field(
            field_name, "Unknown channel. Known channels: {expected}.", expected=", ".join(kinds)
        )
    return kinds[code]


def check_destination(hub: Hub, settings: BaseModel) -> None:
    """Refuse settings that point at loopback or private addresses, unless allowed."""
    if hub.settings.allow_private_network:
        return
    for host in destination_hosts(settings):
        if resolves_privately(host):
            raise InvalidInput.for_field(
                "settings", "This address is on a private network, which is not allowed."
            )


def destination_hosts(settings: BaseModel) -> list[str]:
    """The hosts a channel's settings send to: URL hosts, and a field named ``host``."""
    hosts = []
    for name, value in settings.model_dump().items():
        if isinstance(value, str) and "://" in value:
            hosts.append(urlsplit(value).hostname or "")
        elif name == "host" and isinstance(value, str):
            hosts.append(value)
    return [h for h in hosts if h]


def resolves_privately(host: str) -> bool:
    if is_private_host(host):
        return True
    try:
        infos = socket.getaddrinfo(host, None)
    except OSError:
        return False  # unresolvable now: the send will fail and be retried
    return any(is_private_host(str(info[4][0])) for info in infos)


def masked(kind: NotificationChannel, settings: dict[str, Any]) -> dict[str, Any]:
    return {k: (MASK if k in kind.secret_settings and v else v) for k, v in settings.items()}


async def configure(
    hub: Hub, actor: Actor, community_id: int, data: ChannelIn | dict
) -> ChannelView:
    """Staff add or replace a channel of their community."""
    community = await get_community(community_id)
    if not actor.is_staff(community.id):
        raise PermissionDenied("Only staff of this community can do this.")
    data = parse(ChannelIn, data)
    kind = channel_kind(hub, data.code)
    try:
        settings = kind.settings.model_validate(data.settings)
    except ValidationError as exc:
        problems = invalid_input(exc)
        raise InvalidInput(
            "The input is not valid.",
            details=[type(d)(f"settings.{d.field}", d.msgid, d.params) for d in problems.details],
        ) from None
    check_destination(hub, settings)
    sealed = hub.box.seal(settings.model_dump(mode="json"))
    async with unit_of_work(hub, actor.id) as uow:
        config = await ChannelConfig.get_or_none(community_id=community.id, code=data.code)
        if config is None:
            try:
                config = await ChannelConfig.create(
                    created_at=uow.now,
                    community_id=community.id,
                    code=data.code,
                    name=data.name,
                    secret=sealed,
                    enabled=data.enabled,
                )
            except IntegrityError:
                raise Conflict("This channel was just configured by someone else.") from None
        else:
            config.name, config.secret, config.enabled = data.name, sealed, data.enabled
            await config.save()
        await uow.record(
            "channel.configured",
            config,
            community_id=community.id,
            after={
                "code": data.code,
                "name": data.name,
                "enabled": data.enabled,
                "settings": masked(kind, settings.model_dump(mode="json")),
            },
        )
    return view(hub, config)


def view(hub: Hub, config: ChannelConfig) -> ChannelView:
    kind = hub.notification_channels().get(config.code)
    settings = hub.box.open(config.secret)
    return ChannelView(
        id=config.id,
        community_id=config.community_id,
        code=config.code,
        name=config.name,
        enabled=config.enabled,
        settings=masked(kind, settings) if kind else {k: MASK for k in settings},
    )


async def list_channels(hub: Hub, actor: Actor, community_id: int) -> list[ChannelView]:
    community = await get_community(community_id)
    if not actor.is_staff(community.id):
        raise PermissionDenied("Only staff of this community can do this.")
    return [view(hub, c) for c in await ChannelConfig.filter(community_id=community.id)]


async def set_address(hub: Hub, actor: Actor, code: str, data: AddressIn | dict) -> PersonChannel:
    """A person gives their address for a channel kind (never a URL) and turns it on or off."""
    kind = channel_kind(hub, code)
    data = parse(AddressIn, data)
    address = _normalize_address(kind, data.address)
    async with unit_of_work(hub, actor.id) as uow:
        row = await PersonChannel.get_or_none(person_id=actor.id, code=code)
        if row is None:
            row = await PersonChannel.create(
                person_id=actor.id, code=code, address=address, enabled=data.enabled
            )
        else:
            row.address, row.enabled = address, data.enabled
            await row.save()
        await uow.record(
            "person.channel_set",
            row,
            community_id=actor.community_id,
            after={"code": code, "enabled": data.enabled},
        )
    return row


def _normalize_address(kind: NotificationChannel, raw: str) -> str:
    if kind.address_kind == "phone":
        try:
            return normalize_phone(raw)
        except ValueError:
            raise InvalidInput.for_field(
                "address", "Must be a mainland China mobile number."
            ) from None
    if kind.address_kind == "email":
        if not _EMAIL.fullmatch(raw):
            raise InvalidInput.for_field("address", "Must be an e-mail address.")
        return raw
    if "://" in raw or "/" in raw:
        raise InvalidInput.for_field("address", "Must be an account name, not an address.")
    return raw


async def my_addresses(actor: Actor) -> list[PersonChannel]:
    return await PersonChannel.filter(person_id=actor.id).order_by("code")


async def get_config(community_id: int, config_id: int) -> ChannelConfig:
    config = await ChannelConfig.get_or_none(id=config_id, community_id=community_id)
    if config is None:
        raise NotFound("No such channel.", code="channel_not_found")
    return config
