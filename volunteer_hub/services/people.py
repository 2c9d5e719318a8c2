"""People, communities, grids and roles: registration, staff, administrators, login."""

from __future__ import annotations

import re
import warnings
from collections.abc import Awaitable, Callable
from datetime import date, timedelta
from typing import Annotated
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import cn2an
from pydantic import Field, StrictBool, field_validator, model_validator
from tortoise.exceptions import IntegrityError
from tortoise.expressions import Q

from volunteer_hub.errors import (
    Conflict,
    InvalidInput,
    NotAuthenticated,
    NotFound,
    PermissionDenied,
    Throttled,
)
from volunteer_hub.hooktypes import age_on
from volunteer_hub.hub import Hub
from volunteer_hub.i18n import SUPPORTED_LOCALES
from volunteer_hub.models import (
    ApiToken,
    Community,
    Grid,
    Person,
    Role,
    RoleAssignment,
    Team,
    TeamMembership,
)
from volunteer_hub.services import reads, throttle
from volunteer_hub.services.access import Actor
from volunteer_hub.services.uow import UnitOfWork, snapshot, unit_of_work
from volunteer_hub.services.views import (
    AccountView,
    CommunityView,
    GridView,
    PersonDetail,
    PersonSummary,
    RoleHeld,
    TeamHeld,
)
from volunteer_hub.validation import (
    Id,
    IdNumber,
    Input,
    Line,
    Password,
    Phone,
    check_personal_password,
    custom_error,
    id_number_birth_date,
    mask_phone,
    parse,
    personal_words,
    refuse_weak_password,
)

Name = Annotated[Line, Field(min_length=1, max_length=50)]
MAX_AGE = 130  # years: older than anyone alive, so a birth date before it is a mistake

# Registrations from one client address (the setting's number per hour) count here.
REGISTRATION_WINDOW = timedelta(hours=1)

# A person without a home community sees times in this zone (the communities' default).
DEFAULT_TIMEZONE = "Asia/Shanghai"

# Fields of a person that may appear in the audit trail: no phone, ID number or address.
_PERSON_AUDIT = ("name", "community_id", "grid_id", "birth_date", "skills")


class CommunityIn(Input):
    name: Annotated[Line, Field(min_length=1, max_length=100)]
    timezone: str = "Asia/Shanghai"

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise custom_error("timezone", "Unknown time zone.") from None
        return value


class GridIn(Input):
    name: Annotated[Line, Field(min_length=1, max_length=100)]


class PersonIn(Input):
    name: Name
    phone: Phone
    password: Password
    community_id: Id
    birth_date: date | None = None
    id_number: IdNumber | None = None
    grid_id: Id | None = None
    address: Annotated[Line, Field(max_length=200)] | None = None
    skills: Annotated[
        list[Annotated[Line, Field(min_length=1, max_length=30)]], Field(max_length=20)
    ] = []
    # The phone becomes the person's text-message address (services.channels.register).
    sms_consent: StrictBool = False

    @model_validator(mode="after")
    def _birth_date_matches_id(self) -> PersonIn:
        if self.id_number and self.birth_date:
            if id_number_birth_date(self.id_number) != self.birth_date:
                raise custom_error(
                    "birth_date", "The birth date does not match the ID number.", field="birth_date"
                )
        words = personal_words(
            name=self.name,
            phone=self.phone,
            birth_date=self.known_birth_date,
            id_number=self.id_number,
        )
        check_personal_password(self.password, words)
        return self

    @property
    def known_birth_date(self) -> date | None:
        """The birth date given, or the one the ID number states."""
        return self.birth_date or (id_number_birth_date(self.id_number) if self.id_number else None)


class AdminIn(Input):
    name: Name
    phone: Phone
    password: Password

    @model_validator(mode="after")
    def _not_personal(self) -> AdminIn:
        check_personal_password(self.password, personal_words(name=self.name, phone=self.phone))
        return self


# --- communities and grids --------------------------------------------------------


async def create_community(hub: Hub, actor: Actor | None, data: CommunityIn | dict) -> Community:
    """Admins (or the CLI, with no actor) create communities."""
    if actor is not None and not actor.is_admin:
        raise PermissionDenied("Only an administrator can do this.")
    data = parse(CommunityIn, data)
    try:
        async with unit_of_work(hub, actor.id if actor else None) as uow:
            community = await Community.create(
                created_at=uow.now, name=data.name, timezone=data.timezone
            )
            await uow.record(
                "community.created",
                community,
                community_id=community.id,
                after=snapshot(community, "name", "timezone"),
            )
    except IntegrityError:  # the unique name, whatever the concurrency
        raise Conflict(
            "A community with this name exists already.", code="community_exists"
        ) from None
    return community


# A wall-clock time of day, "HH:MM" (quiet hours are stored so).
ClockTime = Annotated[str, Field(pattern=r"^([01][0-9]|2[0-3]):[0-5][0-9]$")]
CategoryCode = Annotated[str, Field(min_length=1, max_length=40, pattern=r"^[a-z][a-z0-9_]*$")]


class CommunitySettingsIn(Input):
    # Staff approve each new volunteer once before they claim wishes or see any contact.
    approve_volunteers: StrictBool | None = None
    # The wish categories whose candidates staff pick by hand (the rest: automatic).
    manual_dispatch_categories: Annotated[list[CategoryCode], Field(max_length=100)] | None = None
    # Quiet hours in the community's zone; equal start and end: none.
    quiet_start: ClockTime | None = None
    quiet_end: ClockTime | None = None
    timezone: str | None = None
    # Automatic dispatch: how many of the best candidates are invited at once, and the
    # minutes each has to answer (the clock stops in quiet hours).
    dispatch_k: Annotated[int, Field(ge=1, le=10)] | None = None
    invitation_minutes: Annotated[int, Field(ge=15, le=1440)] | None = None

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str | None) -> str | None:
        if value is None:
            return value
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise custom_error("timezone", "Unknown time zone.") from None
        return value


async def update_community(
    hub: Hub, actor: Actor, community_id: int, data: CommunitySettingsIn | dict
) -> Community:
    """Staff of the community (or an admin) change its settings: who needs approval,
    dispatch per wish category (automatic or manual), how many are invited at once and how
    long each has to answer, quiet hours, time zone."""
    community = await get_community(community_id)
    if not actor.is_staff(community.id):
        raise PermissionDenied("Only staff of this community can do this.")
    changes = parse(CommunitySettingsIn, data).model_dump(exclude_none=True)
    if "manual_dispatch_categories" in changes:
        known = hub.wish_categories(community.id)
        chosen = changes["manual_dispatch_categories"]
        for code in chosen:
            if code not in known:
                raise InvalidInput.for_field(
                    "manual_dispatch_categories",
                    "Unknown category. Known categories: {expected}.",
                    expected=", ".join(known),
                )
        changes["manual_dispatch_categories"] = sorted(set(chosen))
    changes = {k: v for k, v in changes.items() if getattr(community, k) != v}
    if not changes:
        return community
    before = snapshot(community, *changes)
    async with unit_of_work(hub, actor.id) as uow:
        await Community.filter(id=community.id).update(**changes)
        await community.refresh_from_db()
        await uow.record(
            "community.updated",
            community,
            community_id=community.id,
            before=before,
            after=snapshot(community, *changes),
        )
    return community


def community_view(community: Community) -> CommunityView:
    return CommunityView(
        id=community.id,
        name=community.name,
        timezone=community.timezone,
        approve_volunteers=community.approve_volunteers,
        quiet_start=community.quiet_start,
        quiet_end=community.quiet_end,
        manual_dispatch_categories=tuple(community.manual_dispatch_categories or ()),
        dispatch_k=community.dispatch_k,
        invitation_minutes=community.invitation_minutes,
    )


async def list_communities(*, after_id: int | None = None, limit: int = 50) -> list[CommunityView]:
    """Every community, by id (their names and settings are public)."""
    query = Community.all()
    if after_id is not None:
        query = query.filter(id__gt=after_id)
    return [community_view(c) for c in await query.order_by("id").limit(limit)]


async def find_community(community_id: int) -> CommunityView:
    """A community as callers see it; NotFound when there is none."""
    return community_view(await get_community(community_id))


async def get_community(community_id: int) -> Community:
    community = await Community.get_or_none(id=community_id)
    if community is None:
        raise NotFound("No such community.", code="community_not_found")
    return community


async def create_grid(hub: Hub, actor: Actor, community_id: int, data: GridIn | dict) -> Grid:
    community = await get_community(community_id)
    if not actor.is_staff(community.id):
        raise PermissionDenied("Only staff of this community can do this.")
    data = parse(GridIn, data)
    try:
        async with unit_of_work(hub, actor.id) as uow:
            grid = await Grid.create(created_at=uow.now, community_id=community.id, name=data.name)
            await uow.record(
                "grid.created", grid, community_id=community.id, after=snapshot(grid, "name")
            )
    except IntegrityError:  # the unique (community, name), whatever the concurrency
        raise Conflict("A grid with this name exists already.", code="grid_exists") from None
    return grid


# --- people -----------------------------------------------------------------------


async def register(
    hub: Hub,
    data: PersonIn | dict | bytes,
    *,
    actor: Actor | None = None,
    address: str | None = None,
    on_registered: Callable[[UnitOfWork, Person, PersonIn], Awaitable[None]] | None = None,
) -> Person:
    """Register a resident (by themselves, or by staff for them). Nothing is written on error.

    ``on_registered`` runs in the registration's transaction, after it is recorded (the
    channels service enrols the phone there when the person agreed to text messages).

    Registration from a client ``address`` is throttled per address, every attempt counted
    (refused ones too: 409 and 422), so probing which phones and ID numbers are registered
    costs; staff and grid workers registering residents with their own token are not.
    """
    if address is not None and not _assists_residents(actor):
        try:
            await throttle.take(
                hub.now(),
                [(throttle.key("register:address", address), hub.settings.registrations_per_hour)],
                REGISTRATION_WINDOW,
            )
        except throttle.Refused as refused:
            raise Throttled(
                "Too many registrations from this address. Try again in {minutes} minutes.",
                refused.retry_after,
            ) from None
    data = parse(PersonIn, data)
    community = await Community.get_or_none(id=data.community_id)
    if community is None:
        raise InvalidInput.for_field("community_id", "No such community.")
    if data.grid_id is not None and not await Grid.exists(
        id=data.grid_id, community_id=community.id
    ):
        raise InvalidInput.for_field("grid_id", "No such grid in this community.")
    if await Person.exists(phone=data.phone):
        raise Conflict("This phone number is registered already.", code="phone_taken")
    id_hash = hub.id_key.digest(data.id_number) if data.id_number else None
    if id_hash and await Person.exists(id_number_hash=id_hash):
        raise Conflict("This ID number is registered already.", code="id_number_taken")
    birth_date = data.known_birth_date
    if birth_date is not None:
        _check_birth_date(birth_date, hub.today(community.timezone), data.birth_date is None)
    password_hash = await hub.passwords.hash_async(data.password)
    try:
        async with unit_of_work(hub, actor.id if actor else None) as uow:
            person = await Person.create(
                created_at=uow.now,
                name=data.name,
                phone=data.phone,
                password_hash=password_hash,
                community_id=community.id,
                grid_id=data.grid_id,
                birth_date=birth_date,
                id_number_hash=id_hash,
                id_number_last4=data.id_number[-4:] if data.id_number else None,
                address=data.address,
                skills=list(data.skills),
            )
            await RoleAssignment.create(
                created_at=uow.now,
                person_id=person.id,
                community_id=community.id,
                role=Role.RESIDENT,
            )
            uow.actor_id = uow.actor_id or person.id
            await uow.record(
                "person.registered",
                person,
                community_id=community.id,
                after=snapshot(person, *_PERSON_AUDIT) | {"phone": mask_phone(person.phone)},
            )
            if on_registered is not None:
                await on_registered(uow, person, data)
    except IntegrityError:
        # A concurrent registration took the phone or the ID number between check and insert.
        if id_hash and not await Person.exists(phone=data.phone):
            raise Conflict(
                "This ID number is registered already.", code="id_number_taken"
            ) from None
        raise Conflict("This phone number is registered already.", code="phone_taken") from None
    return person


def _assists_residents(actor: Actor | None) -> bool:
    """Staff, grid workers and administrators: assisted registration is their daily work,
    and the audit trail names them."""
    assisting = (Role.ADMIN, Role.STAFF, Role.GRID_WORKER)
    return actor is not None and any(g.role in assisting for g in actor.grants)


def _check_birth_date(birth_date: date, today: date, from_id_number: bool) -> None:
    """A birth date someone alive can have: not after today, at most MAX_AGE years ago."""
    field = "id_number" if from_id_number else "birth_date"
    if birth_date > today:
        raise InvalidInput.for_field(field, "The birth date cannot be in the future.")
    age = age_on(birth_date, today)
    if age is not None and age > MAX_AGE:
        raise InvalidInput.for_field(
            field, "The birth date cannot be more than {years} years ago.", years=MAX_AGE
        )


async def create_admin(hub: Hub, *, name: str, phone: str, password: str) -> Person:
    """Make an administrator (the CLI's `vhub admin create`)."""
    data = parse(AdminIn, {"name": name, "phone": phone, "password": password})
    if await Person.exists(phone=data.phone):
        raise Conflict("This phone number is registered already.", code="phone_taken")
    async with unit_of_work(hub, None) as uow:
        person = await Person.create(
            created_at=uow.now,
            name=data.name,
            phone=data.phone,
            password_hash=await hub.passwords.hash_async(data.password),
        )
        await RoleAssignment.create(
            created_at=uow.now, person_id=person.id, community_id=None, role=Role.ADMIN
        )
        await uow.record(
            "person.admin_created",
            person,
            community_id=None,
            after={"name": person.name, "phone": mask_phone(person.phone)},
        )
    return person


def _community_role(role: Role | str) -> Role:
    """A role staff give and take back in a community: staff or grid worker (422 else)."""
    try:
        parsed = Role(role)
    except ValueError:
        parsed = None
    if parsed not in (Role.STAFF, Role.GRID_WORKER):
        raise InvalidInput.for_field(
            "role", "Must be one of: {expected}.", expected="staff, grid_worker"
        )
    return parsed


async def assign_role(
    hub: Hub,
    actor: Actor | None,
    community_id: int,
    person_id: int,
    role: Role | str,
    *,
    grid_id: int | None = None,
) -> RoleAssignment:
    """Make a person staff or a grid worker (of a grid) of a community."""
    role = _community_role(role)
    community = await get_community(community_id)
    if actor is not None and not actor.is_staff(community.id):
        raise PermissionDenied("Only staff of this community can do this.")
    person = await Person.get_or_none(id=person_id)
    if person is None:
        raise InvalidInput.for_field("person_id", "No such person.")
    if grid_id is not None and not await Grid.exists(id=grid_id, community_id=community.id):
        raise InvalidInput.for_field("grid_id", "No such grid in this community.")
    if role is Role.GRID_WORKER and grid_id is None:
        raise InvalidInput.for_field("grid_id", "This field is required.")
    existing = await RoleAssignment.get_or_none(
        person_id=person.id, community_id=community.id, role=role, grid_id=grid_id
    )
    if existing is not None:
        return existing
    async with unit_of_work(hub, actor.id if actor else None) as uow:
        assignment = await RoleAssignment.create(
            created_at=uow.now,
            person_id=person.id,
            community_id=community.id,
            role=role,
            grid_id=grid_id,
        )
        await uow.record(
            "role.assigned",
            assignment,
            community_id=community.id,
            after={"person_id": person.id, "role": role.value, "grid_id": grid_id},
        )
    return assignment


async def authenticate(hub: Hub, phone: str, password: str) -> Person:
    """The person with this phone and password; the same error for either being wrong."""
    return await check_password(hub, await person_for_login(login_phone(phone)), password)


def login_phone(phone: str) -> str | None:
    """The phone as login looks it up (``+86 139-0000-0010`` → ``13900000010``), or None
    when it is no mainland mobile number."""
    try:
        return parse(_LoginIn, {"phone": phone}).phone
    except InvalidInput:
        return None


async def person_for_login(normalized: str | None) -> Person | None:
    """The person whose (normalised) phone this is, if any."""
    return await Person.get_or_none(phone=normalized) if normalized else None


async def check_password(hub: Hub, person: Person | None, password: str) -> Person:
    """``person`` if the password is theirs; the same error (and time) without a person."""
    if person is None or not await hub.passwords.verify_async(person.password_hash, password):
        if person is None:  # spend the same time, so unknown phones are not revealed
            await hub.passwords.verify_async(None, password)
        raise NotAuthenticated("Wrong phone number or password.", code="invalid_credentials")
    if not person.active:
        # Deactivated: the same answer as a wrong password (and it counts as a failure),
        # so a login form tells nobody which phones belong to deactivated accounts.
        raise NotAuthenticated("Wrong phone number or password.", code="invalid_credentials")
    if hub.passwords.needs_rehash(person.password_hash):  # e.g. a demo account's cheap hash
        person.password_hash = await hub.passwords.hash_async(password)
        await person.save(update_fields=["password_hash"])
    return person


class _LoginIn(Input):
    phone: Phone


class PasswordChangeIn(Input):
    current_password: Annotated[str, Field(min_length=1, max_length=128)]
    new_password: Password


async def change_password(hub: Hub, actor: Actor, data: PasswordChangeIn | dict) -> None:
    """A person sets a new password, giving the current one; weak ones are refused as at
    registration (with the person's own details as context)."""
    data = parse(PasswordChangeIn, data)
    person = await actor.load_person()
    if not await hub.passwords.verify_async(person.password_hash, data.current_password):
        raise InvalidInput.for_field("current_password", "The current password is wrong.")
    words = personal_words(name=person.name, phone=person.phone, birth_date=person.birth_date)
    refuse_weak_password("new_password", data.new_password, words)
    person.password_hash = await hub.passwords.hash_async(data.new_password)
    async with unit_of_work(hub, actor.id) as uow:
        await Person.filter(id=person.id).update(password_hash=person.password_hash)
        await uow.record("person.password_changed", person, community_id=person.community_id)


async def set_locale(hub: Hub, actor: Actor, locale: str) -> None:
    """A person's language, which their notifications follow too; audited like any
    change to the person. Only a supported language is taken."""
    if locale not in SUPPORTED_LOCALES:
        raise InvalidInput.for_field(
            "locale", "Must be one of: {expected}.", expected=", ".join(SUPPORTED_LOCALES)
        )
    person = await actor.load_person()
    if person.locale == locale:
        return
    before = snapshot(person, "locale")
    async with unit_of_work(hub, actor.id) as uow:
        await Person.filter(id=person.id).update(locale=locale)
        person.locale = locale
        await uow.record(
            "person.locale_changed",
            person,
            community_id=person.community_id,
            before=before,
            after={"locale": locale},
        )


async def account(actor: Actor) -> AccountView:
    """What the pages show of the person logged in: their name, their time zone and their
    community's emergency mode (one hot read, on every page)."""
    found = await reads.account_row(actor.id)
    if found is None:  # deleted since the token was checked
        raise NotAuthenticated("You need to log in.")
    return AccountView(
        person_id=actor.id,
        name=found.name,
        timezone=found.timezone or DEFAULT_TIMEZONE,
        community_id=found.community_id,
        emergency_reason=found.emergency_reason if found.emergency_started_at else None,
        emergency_since=found.emergency_started_at,
    )


async def person_id_for_phone(phone: str) -> int | None:
    """The id of the person with this phone (any spelling of a mainland mobile), if any."""
    person = await person_for_login(login_phone(phone))
    return person.id if person else None


def can_see_person(actor: Actor, person: Person) -> bool:
    """The person themselves and staff of their community (API.md: others get 404)."""
    if actor.id == person.id or actor.is_admin:
        return True
    return person.community_id is not None and actor.is_staff(person.community_id)


async def get_person(actor: Actor, person_id: int) -> Person:
    person = await Person.get_or_none(id=person_id)
    if person is None or not can_see_person(actor, person):
        raise NotFound("No such person.", code="person_not_found")
    return person


async def residents_in_my_grids(actor: Actor, community_id: int) -> list[Person]:
    """The residents a grid worker may act for (staff: the whole community), by name."""
    query = Person.filter(community_id=community_id, active=True)
    if not actor.is_staff(community_id):
        grids = actor.grids_worked(community_id)
        if not grids:
            raise PermissionDenied("Only staff and grid workers can post on behalf of a resident.")
        query = query.filter(grid_id__in=sorted(grids))
    return await query.order_by("name", "id").limit(1000)


async def list_grids(community_id: int) -> list[Grid]:
    """The grids of a community in natural order (第一网格, 第二网格, …, 第十一网格;
    grid names are not personal data)."""
    await get_community(community_id)
    rows = await Grid.filter(community_id=community_id)
    return sorted(rows, key=lambda g: (natural_key(g.name), g.id))


# --- the console: grids in natural order, people, roles, deactivation (issue 12) ------------

_DIGITS = re.compile(r"(\d+)")


def natural_key(name: str) -> tuple:
    """A sort key that orders names as people count: 第一网格, 第二网格, …, 第十网格,
    第十一网格 (and 2号楼 before 10号楼). Chinese numerals become digits (``cn2an``), then
    runs of digits compare as numbers and the text between them as text."""
    with warnings.catch_warnings():  # cn2an warns about numeral-like text it leaves alone
        warnings.simplefilter("ignore")
        try:
            text = cn2an.transform(name, "cn2an")
        except (ValueError, KeyError, IndexError, TypeError):
            text = name
    parts = _DIGITS.split(text)
    # Even places hold text, odd places numbers: tuples of one shape compare cleanly.
    return tuple(int(p) if i % 2 else p for i, p in enumerate(parts))


async def grid_views(actor: Actor, community_id: int) -> list[GridView]:
    """The grids of a community in natural order, each with its grid workers (staff)."""
    if not actor.is_staff(community_id):
        raise PermissionDenied("Only staff of this community can do this.")
    grids = await list_grids(community_id)
    workers: dict[int, list[tuple[int, str]]] = {}
    rows = await RoleAssignment.filter(
        community_id=community_id, role=Role.GRID_WORKER, grid_id__isnull=False
    ).values_list("grid_id", "person_id", "person__name")
    for grid_id, person_id, name in sorted(rows, key=lambda r: (r[2], r[1])):
        workers.setdefault(grid_id, []).append((person_id, name))
    return [GridView(g.id, g.community_id, g.name, tuple(workers.get(g.id, ()))) for g in grids]


async def rename_grid(hub: Hub, actor: Actor, grid_id: int, data: GridIn | dict) -> GridView:
    """Staff of the grid's community rename it (``grid.updated``)."""
    grid = await Grid.get_or_none(id=grid_id)
    if grid is None or not actor.is_staff(grid.community_id):
        raise NotFound("No such grid.", code="grid_not_found")
    data = parse(GridIn, data)
    if data.name != grid.name:
        before = snapshot(grid, "name")
        try:
            async with unit_of_work(hub, actor.id) as uow:
                await Grid.filter(id=grid.id).update(name=data.name)
                grid.name = data.name
                await uow.record(
                    "grid.updated",
                    grid,
                    community_id=grid.community_id,
                    before=before,
                    after=snapshot(grid, "name"),
                )
        except IntegrityError:  # the unique (community, name), whatever the concurrency
            raise Conflict("A grid with this name exists already.", code="grid_exists") from None
    return GridView(grid.id, grid.community_id, grid.name)


class PeopleQuery(Input):
    """A search of the console: by name, or by the phone's last digits (4 or more)."""

    q: Annotated[Line, Field(max_length=50)] | None = None
    role: Role | None = None

    @field_validator("q")
    @classmethod
    def _enough_digits(cls, value: str | None) -> str | None:
        if value and value.isdigit() and len(value) < 4:
            raise custom_error("q", "Give at least 4 digits of the phone number.")
        return value or None


def _sees_full_phone(actor: Actor, person: Person) -> bool:
    """The person, staff of their community, grid workers of their grid (API.md)."""
    if can_see_person(actor, person):
        return True
    return (
        person.community_id is not None
        and person.grid_id is not None
        and person.grid_id in actor.grids_worked(person.community_id)
    )


def _summary(
    actor: Actor, person: Person, roles: tuple[str, ...], grid_name: str | None
) -> PersonSummary:
    full = _sees_full_phone(actor, person)
    return PersonSummary(
        id=person.id,
        name=person.name,
        phone=person.phone if full else mask_phone(person.phone),
        phone_full=full,
        community_id=person.community_id,
        grid_id=person.grid_id,
        grid_name=grid_name,
        roles=roles,
        active=person.active,
    )


async def search_people(
    actor: Actor,
    community_id: int,
    data: PeopleQuery | dict | None = None,
    *,
    after_id: int | None = None,
    limit: int = 50,
    by_name: bool = False,
) -> list[PersonSummary]:
    """The people of a community (who live there or hold a role there), for its staff:
    by name (any part of it) or by the phone's last digits (4 or more), and by role.

    Phones are shown in full only to those who may see them (``PersonSummary.phone_full``).
    ``by_name``: the pages' order; the API pages through by id (``after_id``).
    """
    community = await get_community(community_id)
    if not actor.is_staff(community.id):
        raise PermissionDenied("Only staff of this community can do this.")
    query_in = parse(PeopleQuery, data or {})
    role_holders = RoleAssignment.filter(community_id=community.id)
    if query_in.role is not None:
        role_holders = role_holders.filter(role=query_in.role)
    holder_ids = set(await role_holders.values_list("person_id", flat=True))
    if query_in.role is not None:
        query = Person.filter(id__in=sorted(holder_ids))
    else:
        query = Person.filter(Q(community_id=community.id) | Q(id__in=sorted(holder_ids)))
    if query_in.q:
        if query_in.q.isdigit():
            query = query.filter(phone__endswith=query_in.q)
        else:
            query = query.filter(name__icontains=query_in.q)
    if after_id is not None:
        query = query.filter(id__gt=after_id)
    found = await query.order_by("name" if by_name else "id", "id").limit(limit)
    return await _summaries(actor, community.id, found)


async def _summaries(actor: Actor, community_id: int, found: list[Person]) -> list[PersonSummary]:
    ids = [p.id for p in found]
    roles: dict[int, set[str]] = {}
    for person_id, community, role in await RoleAssignment.filter(person_id__in=ids).values_list(
        "person_id", "community_id", "role"
    ):
        if community == community_id or Role(role) is Role.ADMIN:
            roles.setdefault(person_id, set()).add(Role(role).value)
    for p in found:
        if p.community_id == community_id:
            roles.setdefault(p.id, set()).add(Role.RESIDENT.value)
    grid_ids = sorted({p.grid_id for p in found if p.grid_id is not None})
    grid_names = dict(await Grid.filter(id__in=grid_ids).values_list("id", "name"))
    return [
        _summary(actor, p, tuple(sorted(roles.get(p.id, ()))), grid_names.get(p.grid_id))
        for p in found
    ]


async def _managed_person(actor: Actor, person_id: int) -> Person:
    """A person whom the actor administers: staff of the person's community or of a
    community where they hold a role, or an admin. Anyone else: 404."""
    person = await Person.get_or_none(id=person_id)
    if person is None:
        raise NotFound("No such person.", code="person_not_found")
    if actor.is_admin or (person.community_id is not None and actor.is_staff(person.community_id)):
        return person
    communities = await RoleAssignment.filter(
        person_id=person.id, community_id__isnull=False
    ).values_list("community_id", flat=True)
    if any(actor.is_staff(c) for c in communities):
        return person
    raise NotFound("No such person.", code="person_not_found")


async def person_detail(actor: Actor, person_id: int) -> PersonDetail:
    """A person's page in the console: their roles and teams in the communities the actor
    is staff of (an admin: everywhere)."""
    person = await _managed_person(actor, person_id)
    rows = await RoleAssignment.filter(person_id=person.id).values_list(
        "role", "community_id", "grid_id", "grid__name"
    )
    held = sorted(
        (
            RoleHeld(Role(role), community, grid, grid_name)
            for role, community, grid, grid_name in rows
            if community is None or actor.is_staff(community)
        ),
        key=lambda r: (r.community_id or 0, r.role.value, natural_key(r.grid_name or "")),
    )
    memberships = await TeamMembership.filter(person_id=person.id).values_list(
        "team_id", "team__name", "team__kind", "status", "team__community_id"
    )
    led = set(await Team.filter(leader_id=person.id).values_list("id", flat=True))
    teams = tuple(
        TeamHeld(team_id, name, kind, status, team_id in led)
        for team_id, name, kind, status, community in sorted(memberships, key=lambda m: m[0])
        if actor.is_staff(community)
    )
    community_id = person.community_id or (held[0].community_id if held else None)
    summaries = await _summaries(actor, community_id or 0, [person])
    return PersonDetail(
        person=summaries[0],
        address=person.address if _sees_full_phone(actor, person) else None,
        created_at=person.created_at,
        roles=tuple(held),
        teams=teams,
    )


async def revoke_role(
    hub: Hub,
    actor: Actor,
    community_id: int,
    person_id: int,
    role: Role | str,
    *,
    grid_id: int | None = None,
) -> None:
    """Take a staff or grid-worker role back (``role.revoked``); for a grid worker, of one
    grid (``grid_id``) or of all their grids here. Nobody revokes their own staff role
    (an admin steps in), so a community is not left without staff by a slip."""
    role = _community_role(role)
    community = await get_community(community_id)
    if not actor.is_staff(community.id):
        raise PermissionDenied("Only staff of this community can do this.")
    if role is Role.STAFF and person_id == actor.id and not actor.is_admin:
        raise Conflict("You cannot revoke your own staff role.", code="own_role")
    query = RoleAssignment.filter(person_id=person_id, community_id=community.id, role=role)
    if grid_id is not None:
        query = query.filter(grid_id=grid_id)
    rows = await query.order_by("id")
    if not rows:
        raise NotFound("This person does not hold this role here.", code="role_not_found")
    async with unit_of_work(hub, actor.id) as uow:
        for assignment in rows:
            await RoleAssignment.filter(id=assignment.id).delete()
            await uow.record(
                "role.revoked",
                assignment,
                community_id=community.id,
                before={"person_id": person_id, "role": role.value, "grid_id": assignment.grid_id},
            )


async def _deactivatable(actor: Actor, person_id: int) -> Person:
    person = await _managed_person(actor, person_id)
    if person.community_id is None or await RoleAssignment.exists(
        person_id=person.id, role=Role.ADMIN
    ):
        if not actor.is_admin:  # an administrator is deactivated by another one only
            raise PermissionDenied("Only an administrator can do this.")
    if person.id == actor.id:
        raise Conflict("You cannot deactivate yourself.", code="self_deactivation")
    return person


async def deactivate_person(
    hub: Hub,
    actor: Actor,
    person_id: int,
    *,
    then: Callable[[UnitOfWork, Person], Awaitable[None]] | None = None,
) -> PersonDetail:
    """Deactivate a person (``person.deactivated``): they cannot log in (the same answer
    as a wrong password), every token of theirs stops working at once, they are offered
    to nobody as a candidate; their history stays. Deactivating twice changes nothing.
    ``then(uow, person)`` runs in the same transaction (``console.deactivate_person``
    gives what they held to others there)."""
    person = await _deactivatable(actor, person_id)
    if person.active:
        async with unit_of_work(hub, actor.id) as uow:
            # One conditional UPDATE: of two concurrent deactivations one records it.
            if await Person.filter(id=person.id, active=True).update(active=False):
                revoked = await ApiToken.filter(
                    person_id=person.id, revoked_at__isnull=True
                ).update(revoked_at=uow.now)
                person.active = False
                await uow.record(
                    "person.deactivated",
                    person,
                    community_id=person.community_id,
                    before={"active": True},
                    after={"active": False, "tokens_revoked": revoked},
                )
                if then is not None:
                    await then(uow, person)
    return await person_detail(actor, person.id)


async def reactivate_person(hub: Hub, actor: Actor, person_id: int) -> PersonDetail:
    """Let a deactivated person log in again (``person.reactivated``); their old tokens
    stay revoked."""
    person = await _deactivatable(actor, person_id)
    if not person.active:
        async with unit_of_work(hub, actor.id) as uow:
            if await Person.filter(id=person.id, active=False).update(active=True):
                person.active = True
                await uow.record(
                    "person.reactivated",
                    person,
                    community_id=person.community_id,
                    before={"active": False},
                    after={"active": True},
                )
    return await person_detail(actor, person.id)
