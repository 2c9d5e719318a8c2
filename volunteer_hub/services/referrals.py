"""Responsible contacts and referrals: the closed 吹哨 loop.

Staff of a community name, per wish category (or every category) and per escalation level,
who answers for it (``ResponsibleContact``): a street-office section, a property company,
a team lead, with an address on one of the community's channels. They have no account.

When a wish reaches a level (``wish.escalated``: staff by hand, the escalation plan in the
worker, dispatch running out of candidates, all through ``wishes``' one escalation step),
``refer`` puts it before every active contact for its category at that level, in the same
transaction: a ``Referral`` row and the event ``wish.referred``, whose secret is the token
of the contact's link ``{public_url}/referrals/{token}``. Only the token's SHA-256 is stored
(as for the call-outs' acknowledgement links); the notifications' planner writes the message
to the contact's address from the event's secret.

Through the link, without logging in, the contact sees the wish without the resident's
personal data, acknowledges it ("已收到", ``wish.referral_acknowledged``) and may close it as
resolved with a note ("已解决", ``wish.resolved``: status ``fulfilled``, ``fulfil_note`` the
note, ``resolved_by`` the contact); the resident is told and confirms as usual. Each change
is one conditional UPDATE: of two answers at once, one wins and the other gets 409.

A link answers only while it can still matter (``LinkClosed``, 409, otherwise): while the
wish is submitted, open or claimed, and for ``LINK_LIFETIME`` after it was sent. A closed
link shows its wish's title and outcome, so its contact knows nothing more is needed; an
expired one shows nothing of the wish. An unknown token is 404 and an expired one is told
apart on purpose: a token is 128 random bits, so nobody finds a live or an expired one by
guessing, and whoever holds an old link (its contact) deserves a clear answer. A link
superseded by a higher level keeps working: escalation adds someone higher up, it does not
take the matter off the lower level (a blue card's section must still report on it).

While the wish still waits at a link's level, the worker replaces the expired link with a
new one and sends it as a reminder (``renew_expired_links``).

The contact's messages and their link's page speak the contact's ``locale``.

This module does not import ``services.wishes`` (which calls ``refer``).
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Annotated, Literal

from babel.dates import format_timedelta
from pydantic import Field
from tortoise.expressions import Q

from volunteer_hub.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from volunteer_hub.hub import Hub
from volunteer_hub.i18n import DEFAULT_LOCALE, Locale, localize, normalize_locale
from volunteer_hub.models import (
    Escalation,
    Grid,
    Referral,
    ResponsibleContact,
    Wish,
    WishStatus,
)
from volunteer_hub.security import secret_digest
from volunteer_hub.services import channels
from volunteer_hub.services.access import Actor
from volunteer_hub.services.people import get_community
from volunteer_hub.services.uow import UnitOfWork, snapshot, unit_of_work
from volunteer_hub.services.views import ReferralRow
from volunteer_hub.validation import Input, Line, parse

LINK_PATH = "/referrals/"
TOKEN_BYTES = 16  # 22 characters in the link: short enough for a text message
MAX_TOKEN_LENGTH = 100
# The key of the link's token in the secret of a ``wish.referred`` event.
TOKEN_SECRET = "referral_token"
# The statuses in which a wish is still being handled (as ``wishes.ACTIVE_STATUSES``).
ACTIVE = (WishStatus.SUBMITTED, WishStatus.OPEN, WishStatus.CLAIMED)
# How long a link answers after it was sent. The default escalation plan passes a matter on
# to yellow after 72 hours and red after 144: a contact who has not answered in two weeks has
# been passed over twice, and a link left in a mailbox or a forwarded text for longer would
# be a standing key to a resident's matter. Staff still see the referral on the board.
LINK_LIFETIME = timedelta(days=14)
RENEW_BATCH = 200  # links renewed per worker round; the rest in the next


class ContactIn(Input):
    """A responsible contact: ``category`` left out (or null) for every category."""

    category: Annotated[str, Field(min_length=1, max_length=40)] | None = None
    level: Escalation
    name: Annotated[Line, Field(min_length=1, max_length=100)]
    channel_code: Annotated[str, Field(min_length=1, max_length=40)]
    # As the channel's address kind requires (a mobile number, an e-mail address, an
    # account name); empty for a group channel (a chat robot posts to its group).
    address: Annotated[Line, Field(max_length=200)] = ""
    # The language of their messages and of their link's page.
    locale: Locale = DEFAULT_LOCALE


class ResolveIn(Input):
    note: Annotated[Line, Field(min_length=1, max_length=500)]


@dataclass(frozen=True)
class ContactView:
    id: int
    community_id: int
    category: str | None
    level: Escalation
    name: str
    channel_code: str
    address: str
    locale: str
    active: bool
    created_at: datetime


@dataclass(frozen=True)
class ReferralPage:
    """What the link shows its contact: the wish without the resident's personal data (no
    name, phone, address or ID number; its grid, not its household), and what they may do."""

    contact_name: str
    locale: str  # the contact's: the page speaks it
    community_id: int
    community_name: str
    timezone: str
    level: Escalation
    wish_id: int
    title: str
    description: str
    category: str  # the category's name in the page's language is the caller's
    grid_name: str | None
    status: WishStatus
    escalation: Escalation | None
    urgent: bool
    posted_at: datetime
    escalated_at: datetime | None
    notified_at: datetime
    acknowledged_at: datetime | None
    resolved_at: datetime | None
    # The outcome of a closed wish: who resolved it (a contact) and their note.
    resolved_by: str | None
    outcome_note: str | None

    @property
    def active(self) -> bool:
        return self.status in ACTIVE

    @property
    def may_acknowledge(self) -> bool:
        return self.active and self.acknowledged_at is None

    @property
    def expires_at(self) -> datetime:
        return link_expires(self.notified_at)


@dataclass(frozen=True)
class ClosedNotice:
    """What a link that no longer answers shows: why, and who sent it when. ``reason``:
    ``expired`` (nothing of the wish), ``resolved`` (its title, and who resolved it with
    what note) or ``closed`` (its title: cancelled, expired, rejected or confirmed)."""

    reason: Literal["expired", "resolved", "closed"]
    contact_name: str
    locale: str
    community_name: str
    timezone: str
    notified_at: datetime
    title: str | None
    resolved_by: str | None
    outcome_note: str | None


class LinkClosed(Conflict):
    """409: the link no longer answers (``referral_expired``, ``already_resolved``,
    ``referral_closed``); ``notice`` is what its page shows instead."""

    def __init__(self, msgid: str, *, code: str, notice: ClosedNotice, **params) -> None:
        super().__init__(msgid, code=code, **params)
        self.notice = notice


def link_expires(notified_at: datetime) -> datetime:
    """When a link sent at ``notified_at`` stops answering (``LINK_LIFETIME``)."""
    return notified_at + LINK_LIFETIME


def link(hub: Hub, token: str) -> str:
    """The contact's link (absolute: it goes out in a text message or an e-mail)."""
    return f"{hub.settings.public_url}{LINK_PATH}{token}"


def age_in_words(delta: timedelta, locale: str) -> str:
    """How long, in words, in the reader's language ("3天", "5 hours")."""
    return format_timedelta(
        max(delta, timedelta(0)),
        locale=normalize_locale(locale).replace("-", "_"),
    )


# --- responsible contacts (staff) ---------------------------------------------------------

# What ``responsible_contact.set`` records of a contact.
AUDITED = ("category", "level", "name", "channel_code", "locale", "active")


def _contact_view(row: ResponsibleContact) -> ContactView:
    return ContactView(
        id=row.id,
        community_id=row.community_id,
        category=row.category,
        level=row.level,
        name=row.name,
        channel_code=row.channel_code,
        address=row.address,
        locale=row.locale,
        active=row.active,
        created_at=row.created_at,
    )


async def _staff_only(actor: Actor, community_id: int) -> None:
    await get_community(community_id)
    if not actor.is_staff(community_id):
        raise PermissionDenied("Only staff of this community can do this.")


async def list_contacts(
    hub: Hub,
    actor: Actor,
    community_id: int,
    *,
    include_inactive: bool = False,
    after_id: int | None = None,
    limit: int = 500,
) -> list[ContactView]:
    """The community's responsible contacts (active ones unless asked), by id (staff)."""
    await _staff_only(actor, community_id)
    query = ResponsibleContact.filter(community_id=community_id)
    if not include_inactive:
        query = query.filter(active=True)
    if after_id is not None:
        query = query.filter(id__gt=after_id)
    return [_contact_view(c) for c in await query.order_by("id").limit(limit)]


def by_level(contacts: list[ContactView]) -> list[ContactView]:
    """Contacts in the order a page lists them: by level, every category first, then name."""
    order = {level: i for i, level in enumerate(Escalation)}
    return sorted(
        contacts,
        key=lambda c: (order[c.level], c.category is not None, c.category or "", c.name, c.id),
    )


async def add_contact(
    hub: Hub, actor: Actor, community_id: int, data: ContactIn | dict
) -> ContactView:
    """Staff name who answers for a category (or all) at a level, and how they are told:
    one of the community's enabled channels, with an address of the kind it requires,
    checked as a person's own address is (``channels.contact_address``), in which language
    (``locale``, zh-CN unless given). Event ``responsible_contact.set``."""
    await _staff_only(actor, community_id)
    data = parse(ContactIn, data)
    if data.category is not None and data.category not in hub.wish_categories(community_id):
        raise InvalidInput.for_field(
            "category",
            "Unknown wish category. Known categories: {expected}.",
            expected=", ".join(hub.wish_categories(community_id)),
        )
    address = await channels.contact_address(
        hub, community_id, data.channel_code, data.address, code_field="channel_code"
    )
    async with unit_of_work(hub, actor.id) as uow:
        row = await ResponsibleContact.create(
            community_id=community_id,
            category=data.category,
            level=data.level,
            name=data.name,
            channel_code=data.channel_code,
            address=address,
            locale=data.locale,
            active=True,
            created_at=uow.now,
        )
        await uow.record(
            "responsible_contact.set",
            row,
            community_id=community_id,
            after=snapshot(row, *AUDITED),
        )
    return _contact_view(row)


async def deactivate_contact(hub: Hub, actor: Actor, contact_id: int) -> ContactView:
    """Staff take a contact off the list: later escalations no longer refer to them (their
    links already sent keep working for their lifetime). Doing it again changes nothing."""
    row = await ResponsibleContact.get_or_none(id=contact_id)
    if row is None or not actor.is_staff(row.community_id):
        raise NotFound("No such responsible contact.", code="contact_not_found")
    async with unit_of_work(hub, actor.id) as uow:
        if await ResponsibleContact.filter(id=row.id, active=True).update(active=False):
            row.active = False
            await uow.record(
                "responsible_contact.set",
                row,
                community_id=row.community_id,
                before={"active": True},
                after=snapshot(row, *AUDITED),
            )
    await row.refresh_from_db()
    return _contact_view(row)


# --- referring (inside the escalation's unit of work) ---------------------------------------


async def refer(uow: UnitOfWork, wish: Wish) -> list[Referral]:
    """Put ``wish`` (just raised to ``wish.escalation``) before every active contact for its
    category, or every category, at that level: a referral each, and ``wish.referred`` on
    the wish with the link's token as the event's secret."""
    level = wish.escalation
    if level is None:
        return []
    contacts = (
        await ResponsibleContact.filter(community_id=wish.community_id, level=level, active=True)
        .filter(Q(category=wish.category) | Q(category__isnull=True))
        .order_by("id")
    )
    made = []
    for contact in contacts:
        if await Referral.exists(wish_id=wish.id, contact_id=contact.id, level=level):
            continue  # (a level is reached once; kept safe all the same)
        token = secrets.token_urlsafe(TOKEN_BYTES)
        referral = await Referral.create(
            wish_id=wish.id,
            contact_id=contact.id,
            level=level,
            token_hash=secret_digest(token),
            notified_at=uow.now,
        )
        await uow.record(
            "wish.referred",
            wish,
            community_id=wish.community_id,
            after={
                "referral_id": referral.id,
                "contact_id": contact.id,
                "contact": contact.name,
                "level": level.value,
            },
            secret={TOKEN_SECRET: token},
        )
        made.append(referral)
    return made


async def renew_expired_links(hub: Hub) -> int:
    """The worker's step: a link that expired while its wish still waits at the link's
    level (the wish's current one, unresolved) is replaced by a new one, sent to the same
    contact as a reminder (``wish.referral_renewed``, the new token as its secret), so the
    matter stays before whoever holds it with no staff action. The old link then answers
    404. Not renewed: a lower level's link (the matter has moved up), a deactivated
    contact's, a closed wish's. One conditional UPDATE per link: of several workers at
    once, one renews it. Answers how many were renewed."""
    now = hub.now()
    at_its_level = Q()
    for level in Escalation:
        at_its_level |= Q(level=level, wish__escalation=level)
    due = (
        await Referral.filter(
            at_its_level,
            notified_at__lte=now - LINK_LIFETIME,
            resolved_at__isnull=True,
            wish__status__in=list(ACTIVE),
            contact__active=True,
        )
        .select_related("wish", "contact")
        .order_by("id")
        .limit(RENEW_BATCH)
    )
    renewed = 0
    for row in due:
        token = secrets.token_urlsafe(TOKEN_BYTES)
        async with unit_of_work(hub, None) as uow:
            if not await Referral.filter(id=row.id, token_hash=row.token_hash).update(
                token_hash=secret_digest(token), notified_at=uow.now
            ):
                continue  # another worker renewed it
            await uow.record(
                "wish.referral_renewed",
                row.wish,
                community_id=row.wish.community_id,
                after={
                    "referral_id": row.id,
                    "contact_id": row.contact_id,
                    "contact": row.contact.name,
                    "level": row.level.value,
                },
                secret={TOKEN_SECRET: token},
            )
            renewed += 1
    return renewed


# --- the link (no login) --------------------------------------------------------------------


async def _by_token(token: str) -> Referral:
    if not token or len(token) > MAX_TOKEN_LENGTH:
        raise NotFound("No such referral link.", code="referral_not_found")
    row = await Referral.get_or_none(token_hash=secret_digest(token)).select_related(
        "contact", "wish", "wish__community"
    )
    if row is None:
        raise NotFound("No such referral link.", code="referral_not_found")
    return row


async def _page(row: Referral) -> ReferralPage:
    wish: Wish = row.wish
    grid = await Grid.get_or_none(id=wish.grid_id) if wish.grid_id else None
    resolver = await _resolver(wish)
    closed = wish.status not in ACTIVE
    return ReferralPage(
        contact_name=row.contact.name,
        locale=row.contact.locale,
        community_id=wish.community_id,
        community_name=wish.community.name,
        timezone=wish.community.timezone,
        level=row.level,
        wish_id=wish.id,
        title=wish.title,
        description=wish.description,
        category=wish.category,
        grid_name=grid.name if grid else None,
        status=wish.status,
        escalation=wish.escalation,
        urgent=wish.urgent,
        posted_at=wish.created_at,
        escalated_at=wish.escalated_at,
        notified_at=row.notified_at,
        acknowledged_at=row.acknowledged_at,
        resolved_at=row.resolved_at,
        resolved_by=resolver.name if resolver else None,
        outcome_note=wish.fulfil_note if closed and resolver is not None else None,
    )


async def _resolver(wish: Wish) -> ResponsibleContact | None:
    if wish.resolved_by_id is None:
        return None
    return await ResponsibleContact.get_or_none(id=wish.resolved_by_id)


async def _refusal(row: Referral, wish: Wish, now: datetime) -> LinkClosed | None:
    """Why the link no longer answers (``wish`` as it stands now), or None while it does.
    Past its lifetime it says nothing of the wish, not even whether it closed."""
    community = row.wish.community
    notice = {
        "contact_name": row.contact.name,
        "locale": row.contact.locale,
        "community_name": community.name,
        "timezone": community.timezone,
        "notified_at": row.notified_at,
    }
    if now >= link_expires(row.notified_at):
        return LinkClosed(
            "This link has expired: it worked for {days} days after it was sent.",
            code="referral_expired",
            days=LINK_LIFETIME.days,
            notice=ClosedNotice(
                reason="expired", title=None, resolved_by=None, outcome_note=None, **notice
            ),
        )
    if wish.status in ACTIVE:
        return None
    resolver = await _resolver(wish)
    if resolver is not None:
        return LinkClosed(
            "This wish has been resolved already.",
            code="already_resolved",
            notice=ClosedNotice(
                reason="resolved",
                title=wish.title,
                resolved_by=resolver.name,
                outcome_note=wish.fulfil_note,
                **notice,
            ),
        )
    return LinkClosed(
        "This wish is closed: nothing more is needed from you.",
        code="referral_closed",
        notice=ClosedNotice(
            reason="closed", title=wish.title, resolved_by=None, outcome_note=None, **notice
        ),
    )


async def _live(hub: Hub, token: str) -> Referral:
    """The referral of a link that still answers: 404 for an unknown token, ``LinkClosed``
    past its lifetime or once its wish is closed."""
    row = await _by_token(token)
    refusal = await _refusal(row, row.wish, hub.now())
    if refusal is not None:
        raise refusal
    return row


async def open_link(hub: Hub, token: str) -> ReferralPage:
    """What the link shows while it answers (404 ``referral_not_found`` for a wrong token;
    409 ``LinkClosed`` with its notice once it no longer answers)."""
    return await _page(await _live(hub, token))


async def acknowledge(hub: Hub, token: str) -> ReferralPage:
    """The contact says they have it ("已收到"): once, while the link answers; again is
    409 ``already_acknowledged``. Event ``wish.referral_acknowledged`` on the wish."""
    row = await _live(hub, token)
    wish: Wish = row.wish
    async with unit_of_work(hub, None) as uow:
        if not await Referral.filter(id=row.id, acknowledged_at__isnull=True).update(
            acknowledged_at=uow.now
        ):
            raise Conflict("You have acknowledged this already.", code="already_acknowledged")
        await uow.record(
            "wish.referral_acknowledged",
            wish,
            community_id=wish.community_id,
            after={
                "referral_id": row.id,
                "contact_id": row.contact_id,
                "contact": row.contact.name,
                "level": row.level.value,
            },
        )
    return await _page(await _by_token(token))


async def resolve(hub: Hub, token: str, data: ResolveIn | dict) -> ReferralPage:
    """The contact closes the wish as resolved by them ("已解决"), with a note: status
    ``fulfilled``, ``fulfil_note`` the note, ``resolved_by`` the contact; the referral is
    acknowledged and resolved too. Only while the link answers: a second resolve, or one
    after the wish closed otherwise (even by a moment, in a race) or after the link's
    lifetime, is 409 ``LinkClosed`` and writes nothing. Event ``wish.resolved``: the
    resident is told. Answers what the link showed just after (its outcome)."""
    row = await _live(hub, token)
    data = parse(ResolveIn, data)
    wish: Wish = row.wish
    before = snapshot(wish, "status", "escalation", "claimer_id")
    async with unit_of_work(hub, None) as uow:
        moved = await Wish.filter(id=wish.id, status__in=list(ACTIVE)).update(
            status=WishStatus.FULFILLED,
            fulfil_note=data.note,
            resolved_by_id=row.contact_id,
            fulfilled_at=uow.now,
            updated_at=uow.now,
        )
        if not moved:  # closed meanwhile: refused as if it had been closed before
            current = await Wish.get(id=wish.id)
            raise await _refusal(row, current, uow.now) or Conflict(
                "This wish is {status} and cannot change that way.",
                code="invalid_state",
                status=current.status.value,
            )
        await Referral.filter(id=row.id, acknowledged_at__isnull=True).update(
            acknowledged_at=uow.now
        )
        await Referral.filter(id=row.id).update(resolved_at=uow.now, note=data.note)
        await wish.refresh_from_db()
        await uow.record(
            "wish.resolved",
            wish,
            community_id=wish.community_id,
            before=before,
            after={
                **snapshot(wish, "status", "escalation", "claimer_id"),
                "referral_id": row.id,
                "resolved_by": row.contact_id,
                "contact": row.contact.name,
            },
        )
    return await _page(await _by_token(token))


# --- what staff see ---------------------------------------------------------------------------


def _row(r: Referral) -> ReferralRow:
    return ReferralRow(
        id=r.id,
        wish_id=r.wish_id,
        contact_id=r.contact_id,
        contact_name=r.contact.name,
        level=r.level,
        notified_at=r.notified_at,
        acknowledged_at=r.acknowledged_at,
        resolved_at=r.resolved_at,
        note=r.note,
    )


async def referrals_of(actor: Actor, wish: Wish) -> list[ReferralRow]:
    """A wish's referrals, oldest first (staff of its community)."""
    if not actor.is_staff(wish.community_id):
        raise PermissionDenied("Only staff of this community can do this.")
    rows = await Referral.filter(wish_id=wish.id).select_related("contact").order_by("id")
    return [_row(r) for r in rows]


async def referrals_for(actor: Actor, wish_id: int) -> list[ReferralRow]:
    """``referrals_of`` by the wish's id: 404 unless the actor is staff of its community."""
    wish = await Wish.get_or_none(id=wish_id)
    if wish is None or not actor.is_staff(wish.community_id):
        raise NotFound("No such wish.", code="wish_not_found")
    return await referrals_of(actor, wish)


async def current_holders(wishes: list[Wish]) -> dict[int, list[ReferralRow]]:
    """For each wish, its referrals at its current level (one query for them all)."""
    levels = {w.id: w.escalation for w in wishes if w.escalation is not None}
    if not levels:
        return {}
    found: dict[int, list[ReferralRow]] = {wish_id: [] for wish_id in levels}
    rows = (
        await Referral.filter(wish_id__in=sorted(levels)).select_related("contact").order_by("id")
    )
    for r in rows:
        if r.level is levels[r.wish_id]:
            found[r.wish_id].append(_row(r))
    return found


def level_name(level: Escalation, locale: str) -> str:
    names = {
        Escalation.BLUE: {"zh-CN": "蓝牌", "en": "blue"},
        Escalation.YELLOW: {"zh-CN": "黄牌", "en": "yellow"},
        Escalation.RED: {"zh-CN": "红牌", "en": "red"},
    }
    return localize(names[level], locale)
