"""Integrators' Open311 keys: made by a community's staff, scoped, revocable, stored hashed.

A key belongs to one community and holds one or more scopes (``Open311Scope``):

* ``requests:read``: the details (description, status notes) of the requests that every
  volunteer of the community sees: open and claimed wishes outside restricted categories.
* ``requests:post``: post requests; the key then also reads back, in detail and in every
  status, the requests posted through it (as their poster would).

Neither scope ever shows a name, a phone number or an address: an integrator is not among
those API.md lets see a resident's contact. Public information needs no key at all.

A request posted with a key is posted by the staff member who made the key, for the
integrator: that person is the wish's poster (and resident of record), the wish remembers
the key (``Wish.open311_key``) and so does its ``wish.posted`` audit entry. Posting needs
that person to be staff of the community (or an admin) still: when they leave, posting is
refused until staff make a new key (and revoke the old one).

Only the key's SHA-256 is stored, as for login tokens; the key is shown once, when made.
The ``o311_`` prefix tells it apart from a login token, which Open311 no longer accepts.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Annotated, Any

from pydantic import Field
from tortoise.expressions import Q

from volunteer_hub.errors import NotAuthenticated, NotFound, PermissionDenied
from volunteer_hub.hub import Hub
from volunteer_hub.models import Open311Key, Open311Scope, Wish, WishStatus
from volunteer_hub.security import secret_digest
from volunteer_hub.services import invitations
from volunteer_hub.services.access import Actor, load_actor
from volunteer_hub.services.people import get_community
from volunteer_hub.services.uow import snapshot, unit_of_work
from volunteer_hub.services.views import Open311KeyView
from volunteer_hub.validation import Input, Line, parse

PREFIX = "o311_"
MAX_KEY_LENGTH = 200  # longer is no key of ours: refused before hashing
# What a volunteer of the community sees of wishes they have no part in (wishes.can_see).
VOLUNTEER_STATUSES = (WishStatus.OPEN, WishStatus.CLAIMED)


class KeyIn(Input):
    name: Annotated[Line, Field(min_length=1, max_length=100)]
    scopes: Annotated[list[Open311Scope], Field(min_length=1, max_length=10)]  # repeats are one


@dataclass(frozen=True)
class Integrator:
    """The holder of a valid key: what Open311 requests act as."""

    key_id: int
    community_id: int
    name: str
    scopes: frozenset[Open311Scope]
    created_by_id: int

    def may(self, scope: Open311Scope) -> bool:
        return scope in self.scopes


def _require_staff(actor: Actor | None, community_id: int) -> None:
    """Staff of the community or an admin; ``None`` is the operator at the command line."""
    if actor is not None and not actor.is_staff(community_id):
        raise PermissionDenied("Only staff of this community can do this.")


# --- staff: make, list, revoke ---------------------------------------------------------------


def _view(key: Open311Key) -> Open311KeyView:
    return Open311KeyView(
        id=key.id,
        community_id=key.community_id,
        name=key.name,
        scopes=tuple(key.scopes),
        created_by_id=key.created_by_id,
        created_at=key.created_at,
        revoked_at=key.revoked_at,
    )


async def create_key(
    hub: Hub, actor: Actor, community_id: int, data: KeyIn | dict
) -> tuple[Open311KeyView, str]:
    """A new key for an integrator, and the key itself (shown this once, never stored)."""
    community = await get_community(community_id)
    _require_staff(actor, community.id)
    data = parse(KeyIn, data)
    secret = PREFIX + secrets.token_urlsafe(32)
    scopes = sorted({s.value for s in data.scopes})
    async with unit_of_work(hub, actor.id) as uow:
        key = await Open311Key.create(
            community_id=community.id,
            name=data.name,
            scopes=scopes,
            key_hash=secret_digest(secret),
            created_by_id=actor.id,
            created_at=uow.now,
        )
        await uow.record(
            "open311_key.created",
            key,
            community_id=community.id,
            after=snapshot(key, "name", "scopes", "created_by_id"),
        )
    return _view(key), secret


async def list_keys(
    hub: Hub,
    actor: Actor | None,
    community_id: int,
    *,
    after_id: int | None = None,
    limit: int = 50,
) -> list[Open311KeyView]:
    """The community's keys (revoked ones too), oldest first; never a key itself."""
    community = await get_community(community_id)
    _require_staff(actor, community.id)
    query = Open311Key.filter(community_id=community.id)
    if after_id is not None:
        query = query.filter(id__gt=after_id)
    return [_view(k) for k in await query.order_by("id").limit(limit)]


async def revoke_key(
    hub: Hub, actor: Actor | None, community_id: int, key_id: int
) -> Open311KeyView:
    """Revoke a key of the community: it is refused from now on. Revoking again changes nothing."""
    community = await get_community(community_id)
    _require_staff(actor, community.id)
    key = await Open311Key.get_or_none(id=key_id, community_id=community.id)
    if key is None:
        raise NotFound("No such Open311 key.", code="open311_key_not_found")
    async with unit_of_work(hub, actor.id if actor else None) as uow:
        if await Open311Key.filter(id=key.id, revoked_at__isnull=True).update(revoked_at=uow.now):
            key.revoked_at = uow.now
            await uow.record(
                "open311_key.revoked",
                key,
                community_id=community.id,
                after=snapshot(key, "name", "revoked_at"),
            )
    await key.refresh_from_db(fields=["revoked_at"])
    return _view(key)


# --- integrators: use a key ------------------------------------------------------------------


async def integrator_for_key(hub: Hub, key: str) -> Integrator:
    """The holder of ``key``; an unknown or revoked key (or a login token) is refused."""
    refused = NotAuthenticated("A valid api_key is required.", code="invalid_api_key")
    if not key.startswith(PREFIX) or len(key) > MAX_KEY_LENGTH:
        raise refused
    row = await Open311Key.get_or_none(key_hash=secret_digest(key), revoked_at__isnull=True)
    if row is None:
        raise refused
    return Integrator(
        key_id=row.id,
        community_id=row.community_id,
        name=row.name,
        scopes=frozenset(Open311Scope(s) for s in row.scopes),
        created_by_id=row.created_by_id,
    )


def _visible(hub: Hub, integrator: Integrator) -> Q:
    """The wishes of the key's community whose details the key may read."""
    visible = Q(open311_key_id=integrator.key_id)
    if integrator.may(Open311Scope.READ):
        codes = [
            code
            for code, category in hub.wish_categories(integrator.community_id).items()
            if not category.restricted
        ]
        visible |= Q(status__in=list(VOLUNTEER_STATUSES), category__in=codes)
    return Q(community_id=integrator.community_id) & visible


async def visible_wishes(
    hub: Hub, integrator: Integrator, *, after_id: int | None = None, limit: int = 50
) -> list[Wish]:
    """The wishes whose details the key may read, oldest first, from ``after_id``."""
    query = Wish.filter(_visible(hub, integrator))
    if after_id is not None:
        query = query.filter(id__gt=after_id)
    return await query.order_by("id").limit(limit)


async def visible_wish(hub: Hub, integrator: Integrator, wish_id: int) -> Wish:
    """One wish whose details the key may read; otherwise NotFound."""
    wish = await Wish.filter(_visible(hub, integrator), id=wish_id).first()
    if wish is None:
        raise NotFound("No such wish.", code="wish_not_found")
    return wish


async def post_wish(hub: Hub, integrator: Integrator, data: dict[str, Any]) -> Wish:
    """Post a wish through the key: its maker posts it, and the wish remembers the key."""
    if not integrator.may(Open311Scope.POST):
        raise PermissionDenied("This api_key may not post requests.", code="scope_missing")
    maker = await load_actor(integrator.created_by_id)
    if not maker.is_staff(integrator.community_id):
        raise PermissionDenied(
            "Whoever made this api_key is no longer staff here: a new key is needed.",
            code="key_maker_left",
        )
    return await invitations.post(
        hub, maker, integrator.community_id, data, open311_key_id=integrator.key_id
    )
