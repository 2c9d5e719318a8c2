"""Open311 GeoReport v2 as a service: jurisdictions, services and service requests.

A jurisdiction is a community, a service a wish category, a service request a micro-wish.
The web layer (``volunteer_hub.web.open311``) parses the protocol's parameters, calls
these functions and formats what they return: view objects that hold only what an
integrator may see. Keys and their scopes are ``services.open311_keys``'s.

Who sees what:

* **Without an api_key** only public information leaves (``wishes.public_wishes``): the
  service, the status, the community as agency and the dates. Never the description (nor
  the title, which is its first line), the status notes, a name, a phone number or an
  address: personal data never leaves without entitlement.
* **With an api_key** the integrator also gets the description and status notes of what
  its scopes allow (``open311_keys.visible_wishes``). Never an address, a name or a phone
  number: an integrator is not among those who may see a resident's contact.

Status: submitted, open, claimed and fulfilled are ``open``; confirmed, rejected, cancelled
and expired are ``closed``. A list holds at most the ``MAX_REQUESTS`` newest matches,
newest first.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from datetime import date, datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from volunteer_hub.errors import InvalidInput, NotAuthenticated, NotFound
from volunteer_hub.hooktypes import LocalizedText
from volunteer_hub.hub import Hub
from volunteer_hub.i18n import DEFAULT_LOCALE, localize
from volunteer_hub.models import AuditEntry, Wish, WishStatus
from volunteer_hub.services import open311_keys, people, wishes
from volunteer_hub.services.open311_keys import Integrator
from volunteer_hub.validation import parse

MAX_REQUESTS = 1000  # the newest matches; GeoReport v2 has no pagination beyond dates
SCAN_PAGE = 500  # rows per call of open311_keys.visible_wishes while scanning what a key may read

GeoReportStatus = Literal["open", "closed"]
STATUSES_BY_NAME: dict[GeoReportStatus, frozenset[WishStatus]] = {
    "open": frozenset(
        {WishStatus.SUBMITTED, WishStatus.OPEN, WishStatus.CLAIMED, WishStatus.FULFILLED}
    ),
    "closed": frozenset(
        {WishStatus.CONFIRMED, WishStatus.REJECTED, WishStatus.CANCELLED, WishStatus.EXPIRED}
    ),
}


# --- what callers see ----------------------------------------------------------------------


@dataclass(frozen=True)
class Jurisdiction:
    """A community, as Open311 names it."""

    id: int
    name: str
    timezone: str


@dataclass(frozen=True)
class ServiceView:
    """A wish category of the jurisdiction. ``team_name`` is the name of the team kind that
    serves it, if one does."""

    code: str
    name: LocalizedText
    team_name: LocalizedText | None
    served: bool
    restricted: bool


@dataclass(frozen=True)
class RequestFilters:
    """GET requests' filters; ``ids`` overrides the others (GeoReport v2). Dates in UTC,
    both bounds inclusive, on when the request was made."""

    ids: frozenset[int] | None = None
    codes: frozenset[str] | None = None
    statuses: frozenset[GeoReportStatus] | None = None
    start: datetime | None = None
    end: datetime | None = None

    def wish_statuses(self) -> frozenset[WishStatus] | None:
        if self.statuses is None:
            return None
        return frozenset().union(*(STATUSES_BY_NAME[s] for s in self.statuses))

    def match(self, wish: Wish) -> bool:
        if self.ids is not None:
            return wish.id in self.ids
        if self.codes is not None and wish.category not in self.codes:
            return False
        statuses = self.wish_statuses()
        if statuses is not None and wish.status not in statuses:
            return False
        if self.start is not None and wish.created_at < self.start:
            return False
        return self.end is None or wish.created_at <= self.end


@dataclass(frozen=True)
class ServiceRequestView:
    """A service request as the caller may see it: the description and the facts of the
    status notes only where its key's scopes reach (else None). Never a name, a phone
    number or an address."""

    id: int
    status: GeoReportStatus
    service_code: str
    service_name: LocalizedText
    agency: str
    timezone: str  # the jurisdiction's, for the dates
    requested_at: datetime
    updated_at: datetime
    needed_by: date | None
    description: str | None = None
    review_reason: str | None = None
    referral: str | None = None
    escalation: str | None = None  # the card's level: blue, yellow or red


@dataclass(frozen=True)
class PostedRequest:
    id: int
    account_id: int  # who posted it: the staff member who made the key


# --- jurisdictions and services ------------------------------------------------------------


async def jurisdiction(community_id: int) -> Jurisdiction:
    community = await people.get_community(community_id)
    return Jurisdiction(community.id, community.name, community.timezone)


def services(hub: Hub, where: Jurisdiction) -> list[ServiceView]:
    team_kinds = hub.team_kinds()
    found = []
    for category in hub.wish_categories(where.id).values():
        team = team_kinds.get(category.team_kind) if category.team_kind else None
        found.append(
            ServiceView(
                code=category.code,
                name=category.name,
                team_name=team.name if team else None,
                served=category.served,
                restricted=category.restricted,
            )
        )
    return found


def service(hub: Hub, where: Jurisdiction, code: str) -> ServiceView:
    for found in services(hub, where):
        if found.code == code:
            return found
    raise NotFound("No such service in this community.", code="service_not_found")


async def integrator(
    hub: Hub, where: Jurisdiction, key: str | None, *, required: bool
) -> Integrator | None:
    """The api_key's holder; a missing key is anonymous unless required, a bad key (or a
    key of another jurisdiction) is refused."""
    if not key or not key.strip():
        if required:
            raise NotAuthenticated("A valid api_key is required.", code="invalid_api_key")
        return None
    holder = await open311_keys.integrator_for_key(hub, key.strip())
    if holder.community_id != where.id:
        raise NotAuthenticated("A valid api_key is required.", code="invalid_api_key")
    return holder


# --- reading requests ----------------------------------------------------------------------


async def list_requests(
    hub: Hub, where: Jurisdiction, holder: Integrator | None, filters: RequestFilters
) -> list[ServiceRequestView]:
    """The newest matches, newest first: in detail what the key may read, the rest public."""
    entries: dict[int, tuple[Wish, bool]] = {
        w.id: (w, False) for w in await _public_wishes(hub, where, filters)
    }
    if holder is not None:
        for wish in await _visible_wishes(hub, holder, where, filters):
            entries[wish.id] = (wish, True)
    newest = sorted(entries.values(), key=lambda e: e[0].id, reverse=True)[:MAX_REQUESTS]
    return await _views(hub, where, newest)


async def get_request(
    hub: Hub, where: Jurisdiction, holder: Integrator | None, request_id: int | None
) -> ServiceRequestView:
    """One request (``None`` is an id no row has); NotFound unless the caller may know it."""
    entry = None
    if request_id is not None:
        filters = RequestFilters(ids=frozenset({request_id}))
        if holder is not None:
            visible = await _visible_wishes(hub, holder, where, filters)
            entry = (visible[0], True) if visible else None
        if entry is None:
            public = await _public_wishes(hub, where, filters)
            entry = (public[0], False) if public else None
    if entry is None:
        raise NotFound("No such wish.", code="wish_not_found")
    return (await _views(hub, where, [entry]))[0]


async def _public_wishes(hub: Hub, where: Jurisdiction, filters: RequestFilters) -> list[Wish]:
    """What anyone may know exists (the rule is the wish service's), filtered."""
    if filters.ids is not None:
        return await wishes.public_wishes(hub, where.id, ids=filters.ids, limit=MAX_REQUESTS)
    return await wishes.public_wishes(
        hub,
        where.id,
        categories=filters.codes,
        statuses=filters.wish_statuses(),
        created_from=filters.start,
        created_until=filters.end,
        limit=MAX_REQUESTS,
    )


async def _visible_wishes(
    hub: Hub, holder: Integrator, where: Jurisdiction, filters: RequestFilters
) -> list[Wish]:
    """The newest matches among what the key may read in detail, newest first."""
    if filters.ids is not None:
        found = []
        for wish_id in sorted(filters.ids, reverse=True):
            try:
                found.append(await open311_keys.visible_wish(hub, holder, wish_id))
            except NotFound:
                continue
        return found
    # Bounds on ids from the dates (a superset of what matches) spare scanning everything.
    after_id = upper_id = None
    if filters.start is not None:
        first = await _bound_id(where, "id", created_at__gte=filters.start)
        if first is None:
            return []
        after_id = first - 1
    if filters.end is not None:
        upper_id = await _bound_id(where, "-id", created_at__lte=filters.end)
        if upper_id is None:
            return []
    newest: deque[Wish] = deque(maxlen=MAX_REQUESTS)
    while True:
        rows = await open311_keys.visible_wishes(hub, holder, after_id=after_id, limit=SCAN_PAGE)
        for wish in rows:
            if upper_id is not None and wish.id > upper_id:
                return list(reversed(newest))
            if filters.match(wish):
                newest.append(wish)
        if len(rows) < SCAN_PAGE:
            return list(reversed(newest))
        after_id = rows[-1].id


async def _bound_id(where: Jurisdiction, order: str, **condition: Any) -> int | None:
    ids = (
        await Wish.filter(community_id=where.id, **condition)
        .order_by(order)
        .limit(1)
        .values_list("id", flat=True)
    )
    return ids[0] if ids else None


async def _views(
    hub: Hub, where: Jurisdiction, entries: list[tuple[Wish, bool]]
) -> list[ServiceRequestView]:
    """The views of ``(wish, detailed)`` entries, in their order, in one more query."""
    categories = hub.wish_categories(where.id)
    changed = await _last_changes([w.id for w, _ in entries])
    views = []
    for wish, detailed in entries:
        category = categories.get(wish.category)
        views.append(
            ServiceRequestView(
                id=wish.id,
                status="closed" if wish.status in STATUSES_BY_NAME["closed"] else "open",
                service_code=wish.category,
                service_name=category.name if category else wish.category,
                agency=where.name,
                timezone=where.timezone,
                requested_at=wish.created_at,
                updated_at=max(wish.created_at, changed.get(wish.id, wish.created_at)),
                needed_by=wish.needed_by,
                description=wish.description if detailed else None,
                review_reason=(wish.review_reason or None) if detailed else None,
                referral=(wish.referral or None) if detailed else None,
                escalation=wish.escalation.value if detailed and wish.escalation else None,
            )
        )
    return views


async def _last_changes(wish_ids: list[int]) -> dict[int, datetime]:
    """When each wish last changed, from its trace (the services' conditional UPDATEs leave
    ``Wish.updated_at`` untouched, and it follows the wall clock, not the hub's)."""
    last: dict[int, datetime] = {}
    if wish_ids:
        rows = await AuditEntry.filter(entity_type="wish", entity_id__in=wish_ids).values_list(
            "entity_id", "created_at"
        )
        for wish_id, moment in rows:
            if wish_id not in last or moment > last[wish_id]:
                last[wish_id] = moment
    return last


# --- posting a request ---------------------------------------------------------------------


class ServiceRequestIn(BaseModel):
    """The POST fields volunteer_hub uses; the rest of GeoReport's are accepted and ignored."""

    model_config = ConfigDict(extra="ignore", str_strip_whitespace=True)

    service_code: Annotated[str, Field(min_length=1, max_length=40)]
    description: Annotated[str, Field(max_length=2000)] = ""
    address_string: Annotated[str, Field(max_length=200)] | None = None
    address_id: Annotated[str, Field(max_length=200)] | None = None
    lat: Annotated[float, Field(ge=-90, le=90, allow_inf_nan=False)] | None = None
    long: Annotated[float, Field(ge=-180, le=180, allow_inf_nan=False)] | None = None


async def post_request(
    hub: Hub, holder: Integrator, data: ServiceRequestIn | dict[str, Any]
) -> PostedRequest:
    """Post a wish through the key (``open311_keys.post_wish``). The location is appended
    to the description (volunteer_hub has no location field); the title is the
    description's first line, or the service's name."""
    data = parse(ServiceRequestIn, data)
    suffix = f"地点：{_location(data)}"
    room = 2000 - len(suffix) - 2
    if len(data.description) > room:
        raise InvalidInput.for_field(
            "description", "Must be at most {max_length} characters long.", max_length=room
        )
    description = f"{data.description}\n\n{suffix}" if data.description else suffix
    category = hub.wish_categories(holder.community_id).get(data.service_code)
    service_name = localize(category.name, DEFAULT_LOCALE) if category else data.service_code
    wish_in = {
        "title": _title(data.description, service_name),
        "description": description,
        "category": data.service_code,
    }
    wish = await open311_keys.post_wish(hub, holder, wish_in)
    return PostedRequest(id=wish.id, account_id=wish.posted_by_id)


def _location(data: ServiceRequestIn) -> str:
    """The location text: address_string, lat and long, or both."""
    if (data.lat is None) != (data.long is None):
        missing = "long" if data.long is None else "lat"
        raise InvalidInput.for_field(missing, "This field is required.")
    coordinates = None
    if data.lat is not None and data.long is not None:
        coordinates = f"{_coordinate(data.lat)}, {_coordinate(data.long)}"
    if data.address_string and coordinates:
        return f"{data.address_string}（{coordinates}）"
    if data.address_string or coordinates:
        return data.address_string or coordinates or ""
    raise InvalidInput.for_field(
        "address_string", "A location is required: address_string, or lat and long."
    )


def _coordinate(value: float) -> str:
    return f"{value:.6f}".rstrip("0").rstrip(".")


def _title(description: str, service_name: str) -> str:
    """The first line of the description, cut to 30 characters; else the service's name."""
    first = description.split("\n", 1)[0].replace("\t", " ").strip()[:30].strip()
    return first if len(first) >= 2 else service_name
