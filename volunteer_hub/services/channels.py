"""Notification channels: staff configure them per community, people give their addresses.

Settings are validated by the channel's own model and stored encrypted; they are shown
masked. People never give a URL: only an address of the channel's kind.

A new address gets a code that confirms it. The code is stored hashed and handed, as the
secret of the event recorded with it (``CODE_SECRET``), to the in-transaction
subscribers: the notifications send it to that address. Plugins never see it.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import socket
from dataclasses import dataclass
from datetime import timedelta
from functools import partial
from typing import Annotated, Any
from urllib.parse import urlsplit

from pydantic import (
    AfterValidator,
    BaseModel,
    Field,
    StrictBool,
    StringConstraints,
    ValidationError,
)
from pydantic_core import to_json
from tortoise.exceptions import IntegrityError
from tortoise.expressions import F, Q

from volunteer_hub.errors import Conflict, InvalidInput, NotFound, PermissionDenied, TooManyTries
from volunteer_hub.hooktypes import NotificationChannel
from volunteer_hub.hub import Hub
from volunteer_hub.models import ChannelConfig, Person, PersonChannel
from volunteer_hub.services import people, throttle
from volunteer_hub.services.access import Actor
from volunteer_hub.services.people import get_community
from volunteer_hub.services.uow import UnitOfWork, snapshot, unit_of_work
from volunteer_hub.validation import (
    Input,
    Line,
    custom_error,
    invalid_input,
    is_private_host,
    normalize_email,
    normalize_phone,
    parse,
)

MASK = "••••••"
CODE_TTL = timedelta(minutes=10)  # a confirmation code's life
CODE_TRIES = 5  # tries at one code, right or wrong; then a new code is needed
RESEND_AFTER = timedelta(seconds=60)  # between two codes to one address
# The key of a new code in the secret of ``person.channel_set``/``person.channel_code_sent``.
CODE_SECRET = "confirmation_code"


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
        # As strictly as a JSON body (validation.parse_json): ``true`` is no port number.
        settings = kind.settings.model_validate_json(to_json(data.settings), strict=True)
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
    """A person gives their address for a channel kind (never a URL) and turns it on or off.

    A new or changed address is unconfirmed, and gets a code (``confirm_address``); the
    same address again only turns it on or off.
    """
    kind = channel_kind(hub, code)
    data = parse(AddressIn, data)
    address = _normalize_address(kind, data.address)
    await _community_channel(actor, code)
    row = await PersonChannel.get_or_none(person_id=actor.id, code=code)
    needs_code = row is None or row.address != address or row.code_sent_at is None
    if row is not None and row.address != address:
        await _claim_sending(hub, row)  # changing back and forth sends no more codes
    async with unit_of_work(hub, actor.id) as uow:
        if row is None:
            try:
                row = await PersonChannel.create(
                    person_id=actor.id, code=code, address=address, enabled=data.enabled
                )
            except IntegrityError:  # the same person's request at the same moment
                raise Conflict("This address was just given: try again.") from None
        else:
            if row.address != address:  # their own now, to be confirmed with its code
                row.address, row.confirmed_at, row.set_by_id = address, None, None
            row.enabled = data.enabled
            await row.save(update_fields=["address", "enabled", "confirmed_at", "set_by_id"])
        secret = None
        if needs_code and row.confirmed_at is None:
            secret = {CODE_SECRET: await _new_code(hub, uow, row)}
        await uow.record(
            "person.channel_set",
            row,
            community_id=actor.community_id,
            after={
                "code": code,
                "enabled": data.enabled,
                "confirmed": row.confirmed_at is not None,
            },
            secret=secret,
        )
    return row


def _six_digits(value: str) -> str:
    if not (len(value) == 6 and value.isascii() and value.isdigit()):
        raise custom_error("code", "Must be the 6 digits of the code.")
    return value


class CodeIn(Input):
    code: Annotated[str, StringConstraints(strip_whitespace=True), AfterValidator(_six_digits)]


async def send_code(hub: Hub, actor: Actor, code: str) -> PersonChannel:
    """Send a new code to the person's unconfirmed address (the last one stops working).

    One a minute at most: each costs an SMS, and lands on a phone that may not be theirs.
    """
    row = await _my_address(hub, actor, code)
    if row.confirmed_at is not None:
        raise Conflict("This address is confirmed already.", code="already_confirmed")
    await _community_channel(actor, code)
    await _claim_sending(hub, row)
    async with unit_of_work(hub, actor.id) as uow:
        new_code = await _new_code(hub, uow, row)
        await uow.record(
            "person.channel_code_sent",
            row,
            community_id=actor.community_id,
            after={"code": code},
            secret={CODE_SECRET: new_code},
        )
    return row


async def confirm_address(hub: Hub, actor: Actor, code: str, data: CodeIn | dict) -> PersonChannel:
    """The person types in the code sent to their address: from now on it gets messages.

    Each try counts, right or wrong, in one conditional UPDATE (so tries at once cannot
    pass the limit); after ``CODE_TRIES`` the code is void and a new one is needed.
    """
    row = await _my_address(hub, actor, code)
    given = parse(CodeIn, data).code
    if row.confirmed_at is not None:
        return row
    if row.code_hash is None:
        raise Conflict("Ask for a code first.", code="no_code")
    tried = await PersonChannel.filter(
        id=row.id, code_hash=row.code_hash, code_attempts__lt=CODE_TRIES
    ).update(code_attempts=F("code_attempts") + 1)
    if not tried:
        raise TooManyTries("Too many wrong codes. Ask for a new code.", code="code_locked")
    now = hub.now()
    if row.code_expires_at is None or row.code_expires_at <= now:
        raise InvalidInput.for_field("code", "The code has expired. Ask for a new one.")
    if not hmac.compare_digest(_code_hash(hub, row, given), row.code_hash):
        raise InvalidInput.for_field(
            "code",
            "The code is wrong. Tries left: {left}.",
            left=CODE_TRIES - row.code_attempts - 1,
        )
    async with unit_of_work(hub, actor.id) as uow:
        if not await PersonChannel.filter(id=row.id, code_hash=row.code_hash).update(
            confirmed_at=now, code_hash=None, code_expires_at=None
        ):
            raise Conflict("A new code was sent meanwhile: enter that one.", code="code_replaced")
        await uow.record(
            "person.channel_confirmed", row, community_id=actor.community_id, after={"code": code}
        )
    await row.refresh_from_db()
    return row


async def _claim_sending(hub: Hub, row: PersonChannel) -> None:
    """Note a code being sent to ``row`` now, or refuse if one went less than a minute ago:
    one conditional UPDATE, so that of two requests at once only one sends."""
    now = hub.now()
    due = Q(code_sent_at__isnull=True) | Q(code_sent_at__lte=now - RESEND_AFTER)
    if not await PersonChannel.filter(due, id=row.id).update(code_sent_at=now):
        raise TooManyTries("Wait a minute before asking for another code.", code="code_sent")


async def _new_code(hub: Hub, uow: UnitOfWork, row: PersonChannel) -> str:
    """A fresh code for ``row``'s address, stored hashed (in ``uow``); the earlier one
    stops working. The caller records it as its event's secret, to be sent."""
    code = f"{secrets.randbelow(10**6):06d}"
    row.code_hash = _code_hash(hub, row, code)
    row.code_expires_at = uow.now + CODE_TTL
    row.code_attempts = 0
    row.code_sent_at = uow.now
    await row.save(update_fields=["code_hash", "code_expires_at", "code_attempts", "code_sent_at"])
    return code


def _code_hash(hub: Hub, row: PersonChannel, code: str) -> str:
    """Keyed with the installation secret (a 6-digit code is found at once unkeyed), and
    bound to the row and its address (a code for one address confirms no other)."""
    message = f"channel code:{row.id}:{row.address}:{code}".encode()
    return hmac.new(hub.settings.secret_key.encode(), message, hashlib.sha256).hexdigest()


async def _community_channel(actor: Actor, code: str) -> ChannelConfig:
    """The person's community's channel of this kind, which sends their code."""
    config = None
    if actor.community_id is not None:
        config = await ChannelConfig.get_or_none(
            community_id=actor.community_id, code=code, enabled=True
        )
    if config is None:
        raise InvalidInput.for_field("code", "Your community does not send messages this way.")
    return config


async def _my_address(hub: Hub, actor: Actor, code: str) -> PersonChannel:
    channel_kind(hub, code)  # an unknown channel is a 422, as for PUT
    row = await PersonChannel.get_or_none(person_id=actor.id, code=code)
    if row is None:
        raise NotFound("You have no address for this channel.", code="address_not_found")
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
        try:
            return normalize_email(raw)
        except ValueError:
            raise InvalidInput.for_field(
                "address", "Must be one e-mail address, like name@example.com."
            ) from None
    if not _ACCOUNT.fullmatch(raw):
        raise InvalidInput.for_field("address", "Must be an account name, not an address.")
    return raw


# An account name on a chat service (a WeCom user id): no markup, spaces or URL parts.
_ACCOUNT = re.compile(r"[A-Za-z0-9_.@\-]{1,64}")


async def contact_address(
    hub: Hub, community_id: int, code: str, raw: str, *, code_field: str = "code"
) -> str:
    """The address of a responsible contact (吹哨: staff type it, the contact has no
    account) on one of the community's enabled channels, checked and normalised as a
    person's own address is: a mobile number, an e-mail address or an account name, as
    the channel's ``address_kind`` requires; none for a group channel (its robot posts to
    the group). Errors name ``code_field`` or ``address``."""
    kind = channel_kind(hub, code, code_field)
    if not await ChannelConfig.exists(community_id=community_id, code=code, enabled=True):
        raise InvalidInput.for_field(code_field, "The community does not send messages this way.")
    if kind.address_kind == "group":
        return ""
    if not raw:
        raise InvalidInput.for_field("address", "This channel needs an address.")
    return _normalize_address(kind, raw)


async def my_addresses(actor: Actor) -> list[PersonChannel]:
    return await PersonChannel.filter(person_id=actor.id).order_by("code")


async def get_config(community_id: int, config_id: int) -> ChannelConfig:
    config = await ChannelConfig.get_or_none(id=config_id, community_id=community_id)
    if config is None:
        raise NotFound("No such channel.", code="channel_not_found")
    return config


# --- text messages at registration (issue 12: reach) -----------------------------------


# What residents call a text-message channel, whichever gateway sends it.
TEXT_MESSAGE_NAME = {"zh-CN": "短信", "en": "Text message"}


def is_text_message(kind: NotificationChannel) -> bool:
    """A channel that sends text messages to a phone, as it says itself
    (``NotificationChannel.text_messages``: the core's SMS gateway, Tencent Cloud SMS); not
    a chat robot that mentions a phone number in a group."""
    return kind.address_kind == "phone" and kind.text_messages


async def text_message_config(hub: Hub, community_id: int) -> ChannelConfig | None:
    """The community's enabled text-message channel (SMS before the generic gateway)."""
    kinds = hub.notification_channels()
    configs = [
        c
        for c in await ChannelConfig.filter(community_id=community_id, enabled=True)
        if c.code in kinds and is_text_message(kinds[c.code])
    ]
    configs.sort(key=lambda c: (c.code == "webhook", c.code))
    return configs[0] if configs else None


async def register(
    hub: Hub, data: dict | bytes, *, actor: Actor | None = None, address: str | None = None
) -> Person:
    """Register a person (``people.register``); with ``sms_consent`` their phone becomes
    their text-message address in the same transaction.

    By themselves: the address waits for the code sent to it, as any new address does.
    Registered in person by staff or a grid worker (assisted): their assertion confirms
    it, and the address names them (``set_by``). A community without a text-message
    channel enrols nothing: the person chooses their channels later.
    """
    return await people.register(
        hub, data, actor=actor, address=address, on_registered=partial(_enrol_phone, hub, actor)
    )


async def _enrol_phone(
    hub: Hub, actor: Actor | None, uow: UnitOfWork, person: Person, data: people.PersonIn
) -> None:
    if not data.sms_consent or person.community_id is None:
        return
    config = await text_message_config(hub, person.community_id)
    if config is None:
        return
    assisted = actor is not None and actor.id != person.id and serves(actor, person)
    row = await PersonChannel.create(
        person_id=person.id,
        code=config.code,
        address=person.phone,
        enabled=True,
        confirmed_at=uow.now if assisted else None,
        set_by_id=actor.id if assisted and actor else None,
    )
    secret = None if assisted else {CODE_SECRET: await _new_code(hub, uow, row)}
    await uow.record(
        "person.channel_set",
        row,
        community_id=person.community_id,
        after={
            "code": config.code,
            "enabled": True,
            "confirmed": assisted,
            "set_by": row.set_by_id,
            "at_registration": True,
        },
        secret=secret,
    )


# --- assisted mode: staff and grid workers for the residents they serve ----------------


def serves(actor: Actor, person: Person) -> bool:
    """Staff of the person's community (admins too) and grid workers of their grid."""
    if person.community_id is None:
        return False
    if actor.is_staff(person.community_id):
        return True
    return person.grid_id is not None and person.grid_id in actor.grids_worked(person.community_id)


async def served_person(actor: Actor, person_id: int) -> Person:
    """A resident the actor serves; NotFound for anyone else (they may not see them)."""
    person = await Person.get_or_none(id=person_id)
    if person is None or person.id == actor.id or not serves(actor, person):
        raise NotFound("No such person.", code="person_not_found")
    return person


async def addresses_of(actor: Actor, person_id: int) -> tuple[Person, list[PersonChannel]]:
    """A served resident and their addresses (staff, their grid worker)."""
    person = await served_person(actor, person_id)
    return person, await PersonChannel.filter(person_id=person.id).order_by("code")


async def set_address_for(
    hub: Hub, actor: Actor, person_id: int, code: str, data: AddressIn | dict
) -> PersonChannel:
    """Staff or a grid worker give a resident's address for a channel, with the resident
    beside them: their assertion confirms it (no code is sent), and the address names
    them (``set_by``), as does the audit entry."""
    person = await served_person(actor, person_id)
    kind = channel_kind(hub, code)
    data = parse(AddressIn, data)
    address = _normalize_address(kind, data.address)
    await _community_channel_of(person.community_id, code)
    async with unit_of_work(hub, actor.id) as uow:
        row = await PersonChannel.get_or_none(person_id=person.id, code=code)
        before = None
        if row is None:
            try:
                row = await PersonChannel.create(
                    person_id=person.id,
                    code=code,
                    address=address,
                    enabled=data.enabled,
                    confirmed_at=uow.now,
                    set_by_id=actor.id,
                )
            except IntegrityError:
                raise Conflict("This address was just given: try again.") from None
        else:
            before = {"enabled": row.enabled, "confirmed": row.confirmed_at is not None}
            if row.address != address or row.confirmed_at is None:
                row.address, row.confirmed_at = address, uow.now
                row.code_hash, row.code_expires_at = None, None
            row.enabled, row.set_by_id = data.enabled, actor.id
            await row.save(
                update_fields=[
                    "address",
                    "enabled",
                    "confirmed_at",
                    "code_hash",
                    "code_expires_at",
                    "set_by_id",
                ]
            )
        await uow.record(
            "person.channel_set",
            row,
            community_id=person.community_id,
            before=before,
            after={
                "code": code,
                "enabled": data.enabled,
                "confirmed": True,
                "set_by": actor.id,
                "person_id": person.id,
            },
        )
    return row


async def switch_off_for(hub: Hub, actor: Actor, person_id: int, code: str) -> PersonChannel:
    """Staff or a grid worker switch a resident's address off (it stays, unused)."""
    person = await served_person(actor, person_id)
    return await _switch_off(hub, actor, person, code)


async def switch_off(hub: Hub, actor: Actor, code: str) -> PersonChannel:
    """A person switches their own address off: nothing goes there until they switch it on."""
    return await _switch_off(hub, actor, await actor.load_person(), code)


async def _switch_off(hub: Hub, actor: Actor, person: Person, code: str) -> PersonChannel:
    channel_kind(hub, code)
    row = await PersonChannel.get_or_none(person_id=person.id, code=code)
    if row is None:
        raise NotFound("There is no address for this channel.", code="address_not_found")
    if not row.enabled:
        return row
    async with unit_of_work(hub, actor.id) as uow:
        await PersonChannel.filter(id=row.id).update(enabled=False)
        row.enabled = False
        await uow.record(
            "person.channel_set",
            row,
            community_id=person.community_id,
            before={"enabled": True},
            after={"code": code, "enabled": False, "person_id": person.id},
        )
    return row


class ReachedThroughIn(Input):
    reached_through_grid_worker: StrictBool


async def set_reached_through_grid_worker(
    hub: Hub, actor: Actor, person_id: int, data: ReachedThroughIn | dict
) -> Person:
    """Staff or the resident's grid worker mark a resident without a phone of their own:
    their messages go to their grid worker(s) too, saying whom they are for."""
    person = await served_person(actor, person_id)
    value = parse(ReachedThroughIn, data).reached_through_grid_worker
    if person.reached_through_grid_worker == value:
        return person
    before = snapshot(person, "reached_through_grid_worker")
    async with unit_of_work(hub, actor.id) as uow:
        await Person.filter(id=person.id).update(reached_through_grid_worker=value)
        person.reached_through_grid_worker = value
        await uow.record(
            "person.updated",
            person,
            community_id=person.community_id,
            before=before,
            after={"reached_through_grid_worker": value},
        )
    return person


# --- a test message -----------------------------------------------------------------------


async def send_test(
    hub: Hub, actor: Actor, code: str, person_id: int | None = None
) -> PersonChannel:
    """A test message to a confirmed address (the person's own, or, with ``person_id``, a
    served resident's): one a minute at most, each costs a message."""
    person = (
        await actor.load_person() if person_id is None else await served_person(actor, person_id)
    )
    channel_kind(hub, code)
    row = await PersonChannel.get_or_none(person_id=person.id, code=code)
    if row is None:
        raise NotFound("There is no address for this channel.", code="address_not_found")
    if row.confirmed_at is None:
        raise Conflict("Confirm this address with its code first.", code="not_confirmed")
    if not row.enabled:
        raise Conflict("This address is switched off.", code="switched_off")
    await _community_channel_of(person.community_id, code)
    try:  # counted apart from codes: right after confirming, a test is what one wants
        await throttle.take(
            hub.now(), [(throttle.key("channel-test", str(row.id)), 1)], RESEND_AFTER
        )
    except throttle.Refused:
        raise TooManyTries(
            "Wait a minute before asking for another test message.", code="test_sent"
        ) from None
    async with unit_of_work(hub, actor.id) as uow:
        await uow.record(
            "person.channel_tested",
            row,
            community_id=person.community_id,
            after={"code": code, "person_id": person.id},
        )
    return row


async def _community_channel_of(community_id: int | None, code: str) -> ChannelConfig:
    config = None
    if community_id is not None:
        config = await ChannelConfig.get_or_none(community_id=community_id, code=code, enabled=True)
    if config is None:
        raise InvalidInput.for_field("code", "The community does not send messages this way.")
    return config


async def community_channels(hub: Hub, community_id: int | None) -> list[tuple[str, str, str]]:
    """The channel kinds a person of the community can give an address for, as
    ``(code, name, address_kind)`` (names localized by the caller), group channels left out."""
    if community_id is None:
        return []
    kinds = hub.notification_channels()
    result = []
    for config in await ChannelConfig.filter(community_id=community_id, enabled=True).order_by(
        "id"
    ):
        kind = kinds.get(config.code)
        if kind is not None and kind.address_kind != "group":
            result.append((config.code, config.name, kind.address_kind))
    return result


# --- what the channels pages show -------------------------------------------------------


@dataclass(frozen=True)
class ChannelChoice:
    """One channel kind the person's community sends through, with the person's address
    for it (if any): what the channels page shows and lets them do."""

    code: str
    name: dict[str, str] | str  # the kind's name, per language
    address_kind: str  # phone, email, chat_id
    address: str | None
    enabled: bool
    confirmed: bool
    code_pending: bool  # a code was sent and can still be typed in
    set_by_other: bool  # staff or a grid worker set it (assisted)


@dataclass(frozen=True)
class ResidentView:
    """A resident as the one who serves them sees them on the assisted channels page."""

    id: int
    name: str
    phone: str  # in full: staff of the community and grid workers of the grid may see it
    grid_id: int | None
    reached_through_grid_worker: bool


def _resident_view(person: Person) -> ResidentView:
    return ResidentView(
        id=person.id,
        name=person.name,
        phone=person.phone,
        grid_id=person.grid_id,
        reached_through_grid_worker=person.reached_through_grid_worker,
    )


async def _choices(hub: Hub, person: Person) -> list[ChannelChoice]:
    if person.community_id is None:
        return []
    kinds = hub.notification_channels()
    mine = {r.code: r for r in await PersonChannel.filter(person_id=person.id)}
    now = hub.now()
    result = []
    configs = await ChannelConfig.filter(community_id=person.community_id, enabled=True)
    texts_first = sorted(
        configs, key=lambda c: (not (c.code in kinds and is_text_message(kinds[c.code])), c.id)
    )
    for config in texts_first:
        kind = kinds.get(config.code)
        if kind is None or kind.address_kind == "group":
            continue
        row = mine.get(config.code)
        result.append(
            ChannelChoice(
                code=config.code,
                name=TEXT_MESSAGE_NAME if is_text_message(kind) else kind.name,
                address_kind=kind.address_kind,
                address=row.address if row else None,
                enabled=bool(row and row.enabled),
                confirmed=bool(row and row.confirmed_at is not None),
                code_pending=bool(
                    row
                    and row.confirmed_at is None
                    and row.code_hash is not None
                    and row.code_expires_at is not None
                    and row.code_expires_at > now
                ),
                set_by_other=bool(row and row.set_by_id and row.set_by_id != person.id),
            )
        )
    return result


async def my_choices(hub: Hub, actor: Actor) -> list[ChannelChoice]:
    """The person's own channels page."""
    return await _choices(hub, await actor.load_person())


async def resident_choices(
    hub: Hub, actor: Actor, person_id: int
) -> tuple[ResidentView, list[ChannelChoice]]:
    """A served resident's channels page (staff, their grid worker); 404 for others."""
    person = await served_person(actor, person_id)
    return _resident_view(person), await _choices(hub, person)


async def residents_served(actor: Actor, community_id: int) -> list[ResidentView]:
    """The residents a grid worker serves (staff: the whole community), by name."""
    return [
        _resident_view(p)
        for p in await people.residents_in_my_grids(actor, community_id)
        if p.id != actor.id
    ]


async def awaiting_code(person_id: int) -> bool:
    """Whether the person has an address waiting for its code (just registered, say)."""
    return await PersonChannel.exists(
        person_id=person_id, confirmed_at__isnull=True, code_hash__isnull=False
    )
