"""The authorization matrix of the HTTP API: every route under /api/v1 × every kind of caller.

Each route has rows; each row names the status every caller must get (API.md: 401 when
not logged in, 403 when logged in but not allowed, 404 when not found or not visible).
Where API.md is silent, its principle holds: nobody acts on or sees another community's
data unless they are its staff or an admin, and an admin acts as staff of every community.

Every response of the matrix is also searched for personal data: a full phone number or
an address only reaches the person, staff of the person's community, an admin, and (as a
wish's ``contact``) grid workers of the resident's grid and the wish's claimer from the
claim until the wish is confirmed, cancelled or expired; an ID number reaches nobody, ever.

A new route without a row fails ``test_matrix_covers_every_endpoint``.
"""

from __future__ import annotations

import copy
import itertools
import json
import re
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

import httpx
import pytest

from tests.factories import PASSWORD, World, id_number, next_phone
from volunteer_hub.models import (
    Delivery,
    DeliveryStatus,
    Invitation,
    Notification,
    Person,
    PersonChannel,
    Referral,
    Role,
)
from volunteer_hub.security import secret_digest
from volunteer_hub.services import (
    auth,
    callouts,
    channels,
    emergency,
    invitations,
    no_shows,
    open311_keys,
    people,
    referrals,
    roster,
    tasks,
    teams,
    wishes,
)
from volunteer_hub.services.access import Actor, active_team_ids, load_actor
from volunteer_hub.testing import confirmed_address, sent_code
from volunteer_hub.validation import mask_phone
from volunteer_hub.web.routes import ENDPOINTS

API = "/api/v1"
CALLERS = (
    "anonymous",
    "resident",
    "volunteer",
    "party_member",
    "grid_worker",
    "staff",
    "other_staff",
    "admin",
)
# Callers used by a few rows only (the leader of a team may create the team's tasks).
EXTRA_CALLERS = ("team_leader",)
SERVING = {"claimed", "fulfilled"}  # the claimer sees the contact in these states only

# The routes each group test covers; together, exactly the declared endpoints.
GROUPS: dict[str, set[tuple[str, str]]] = {
    "accounts": {
        ("POST", "/auth/login"),
        ("POST", "/auth/logout"),
        ("POST", "/people"),
        ("GET", "/me"),
        ("POST", "/me/password"),
        ("GET", "/people/{id:int}"),
        ("POST", "/auth/reset-code"),
        ("POST", "/auth/reset"),
        ("POST", "/people/{id:int}/reset-code"),
    },
    "communities": {
        ("POST", "/communities"),
        ("GET", "/communities"),
        ("PATCH", "/communities/{cid:int}"),
        ("POST", "/communities/{cid:int}/grids"),
        ("POST", "/communities/{cid:int}/staff"),
        ("DELETE", "/communities/{cid:int}/staff/{person_id:int}"),
        ("PATCH", "/grids/{id:int}"),
        ("GET", "/communities/{cid:int}/people"),
        ("POST", "/people/{id:int}/deactivate"),
        ("POST", "/people/{id:int}/reactivate"),
        ("PATCH", "/teams/{id:int}"),
    },
    "teams": {
        ("POST", "/communities/{cid:int}/teams"),
        ("GET", "/communities/{cid:int}/teams"),
        ("POST", "/teams/{tid:int}/members"),
        ("POST", "/party-reports"),
        ("GET", "/communities/{cid:int}/memberships"),
        ("POST", "/memberships/{id:int}/approve"),
        ("POST", "/memberships/{id:int}/refuse"),
        ("POST", "/teams/{tid:int}/qualifications"),
        ("GET", "/communities/{cid:int}/qualifications"),
        ("POST", "/qualifications/{id:int}/verify"),
        ("POST", "/qualifications/{id:int}/refuse"),
        ("GET", "/communities/{cid:int}/party-reports"),
        ("POST", "/party-reports/{id:int}/accept"),
        ("POST", "/party-reports/{id:int}/refuse"),
    },
    "wishes_read": {
        ("POST", "/communities/{cid:int}/wishes"),
        ("GET", "/communities/{cid:int}/wishes"),
        ("GET", "/wishes/{id:int}"),
        ("GET", "/wishes/{id:int}/candidates"),
        ("GET", "/wish-categories"),
    },
    "wishes_flow": {
        ("POST", "/wishes/{id:int}/review"),
        ("POST", "/wishes/{id:int}/claim"),
        ("POST", "/wishes/{id:int}/fulfil"),
        ("POST", "/wishes/{id:int}/confirm"),
        ("POST", "/wishes/{id:int}/cancel"),
        ("POST", "/wishes/{id:int}/escalate"),
        ("POST", "/wishes/{id:int}/hand-back"),
    },
    "tasks": {
        ("POST", "/communities/{cid:int}/tasks"),
        ("GET", "/tasks/{id:int}"),
        ("POST", "/tasks/{id:int}/signups"),
        ("DELETE", "/signups/{id:int}"),
        ("POST", "/signups/{id:int}/check-in"),
        ("POST", "/signups/{id:int}/check-out"),
        ("GET", "/me/service-records"),
    },
    "roster": {
        ("GET", "/tasks/{id:int}/roster"),
        ("POST", "/signups/{id:int}/no-show"),
        ("POST", "/signups/{id:int}/excuse"),
        ("PATCH", "/tasks/{id:int}"),
        ("POST", "/tasks/{id:int}/cancel"),
        ("POST", "/tasks/{id:int}/messages"),
    },
    "calendars": {
        ("GET", "/me/calendar"),
        ("DELETE", "/me/calendar"),
        ("POST", "/tasks/{id:int}/occurrences/cancel"),
    },
    "notifications": {
        ("GET", "/me/notifications"),
        ("POST", "/me/notifications/{id:int}/read"),
        ("GET", "/me/channels"),
        ("PUT", "/me/channels/{code:str}"),
        ("POST", "/me/channels/{code:str}/code"),
        ("POST", "/me/channels/{code:str}/confirm"),
        ("GET", "/people/{id:int}/channels"),
        ("PUT", "/people/{id:int}/channels/{code:str}"),
        ("POST", "/communities/{cid:int}/channels"),
        ("GET", "/communities/{cid:int}/channels"),
        ("GET", "/communities/{cid:int}/deliveries"),
        ("POST", "/deliveries/{id:int}/retry"),
    },
    "invitations": {
        ("POST", "/wishes/{id:int}/invitations"),
        ("POST", "/tasks/{id:int}/invitations"),
        ("GET", "/me/invitations"),
        ("POST", "/invitations/{id:int}/accept"),
        ("POST", "/invitations/{id:int}/decline"),
        ("GET", "/wishes/{id:int}/invitations"),
    },
    "callouts": {
        ("POST", "/communities/{cid:int}/callouts"),
        ("GET", "/callouts/{id:int}"),
    },
    "emergency": {
        ("GET", "/communities/{cid:int}/emergency"),
        ("POST", "/communities/{cid:int}/emergency"),
        ("DELETE", "/communities/{cid:int}/emergency"),
    },
    "plugins": {("GET", "/plugins")},
    "referrals": {
        ("GET", "/communities/{cid:int}/responsible-contacts"),
        ("POST", "/communities/{cid:int}/responsible-contacts"),
        ("DELETE", "/responsible-contacts/{id:int}"),
        ("GET", "/referrals/{token}"),
        ("POST", "/referrals/{token}/acknowledge"),
        ("POST", "/referrals/{token}/resolve"),
    },
    "no_shows": {
        ("GET", "/me/no-shows"),
        ("GET", "/communities/{cid:int}/no-shows"),
        ("POST", "/no-shows/{id:int}/excuse"),
    },
    "roster_plans": {
        ("POST", "/communities/{cid:int}/roster-plans"),
        ("GET", "/roster-plans/{id:int}"),
        ("POST", "/roster-plans/{id:int}/accept"),
        ("POST", "/roster-plans/{id:int}/discard"),
        ("DELETE", "/roster-plans/{id:int}/assignments/{aid:int}"),
        ("PUT", "/roster-plans/{id:int}/assignments/{aid:int}"),
    },
    "availability": {
        ("GET", "/me/availability"),
        ("PUT", "/me/availability"),
        ("POST", "/wishes/{id:int}/do-not-send"),
    },
    "open311_keys": {
        ("POST", "/communities/{cid:int}/open311-keys"),
        ("GET", "/communities/{cid:int}/open311-keys"),
        ("POST", "/communities/{cid:int}/open311-keys/{kid:int}/revoke"),
    },
}


def who(default: int, *, anonymous: int = 401, **special: int) -> dict[str, int]:
    """The status each caller must get: ``default`` unless named (anonymous: 401 unless named)."""
    unknown = set(special) - set(CALLERS) - set(EXTRA_CALLERS)
    assert not unknown, f"unknown callers {unknown}"
    table = dict.fromkeys(CALLERS, default)
    table["anonymous"] = anonymous
    table.update(special)
    return table


ANYONE = who(200, anonymous=200)
LOGGED_IN = who(200)


def test_matrix_covers_every_endpoint():
    declared = {(e.method, e.path) for e in ENDPOINTS}
    covered = set().union(*GROUPS.values())
    assert covered == declared, (
        f"routes without a matrix row: {sorted(declared - covered)}; "
        f"matrix rows for routes that are not declared: {sorted(covered - declared)}"
    )


# --- who may see personal data --------------------------------------------------------------


@dataclass(frozen=True)
class Viewer:
    person_id: int
    is_admin: bool = False
    staff_of: frozenset[int] = frozenset()
    grids_worked: frozenset[int] = frozenset()

    def entitled(self, person_id: int | None, community_id: int | None) -> bool:
        """The person themselves, staff of the person's community, an admin."""
        return person_id == self.person_id or self.is_admin or community_id in self.staff_of

    def sees_contact(self, wish: dict) -> bool:
        """A wish's contact: its resident, staff of its community, admin, grid workers of the
        resident's grid (no resident of the matrix moves: the wish's grid), the claimer
        while serving."""
        return (
            self.entitled(wish["resident"]["id"], wish["community_id"])
            or wish["grid_id"] in self.grids_worked
            or (wish["claimer_id"] == self.person_id and wish["status"] in SERVING)
        )


def viewer_of(actor: Actor) -> Viewer:
    return Viewer(
        actor.id,
        actor.is_admin,
        frozenset(g.community_id for g in actor.grants if g.role is Role.STAFF),
        frozenset(g.grid_id for g in actor.grants if g.role is Role.GRID_WORKER and g.grid_id),
    )


@dataclass(frozen=True)
class Subject:
    """A seeded person whose full phone and address must not reach the unentitled."""

    key: str
    person_id: int
    phone: str
    address: str | None
    community_id: int | None


def _nodes(node: Any) -> Iterator[dict]:
    if isinstance(node, dict):
        yield node
        for value in node.values():
            yield from _nodes(value)
    elif isinstance(node, list):
        for value in node:
            yield from _nodes(value)


def _is_wish(node: dict) -> bool:
    return {"claimer_id", "resident", "community_id", "status"} <= node.keys()


def _is_person(node: dict) -> bool:
    return {"phone_masked", "id", "community_id"} <= node.keys()


def _without_contacts_seen(body: Any, viewer: Viewer | None) -> Any:
    """The body minus the wishes' contacts the viewer may see (as claimer, grid worker...)."""
    body = copy.deepcopy(body)
    if viewer is None:
        return body
    for node in _nodes(body):
        if _is_wish(node) and viewer.sees_contact(node):
            node.pop("contact", None)
    return body


# --- the requests of a row ------------------------------------------------------------------


@dataclass
class Req:
    params: dict[str, Any] = field(default_factory=dict)
    body: Any = None
    headers: dict[str, str] | None = None  # instead of the caller's own login
    query: dict[str, Any] = field(default_factory=dict)


Check = Callable[[str, httpx.Response], Awaitable[list[str]]]


@dataclass
class Row:
    method: str
    path: str  # exactly as declared in ENDPOINTS
    expect: dict[str, int]
    req: Req | Callable[[str], Awaitable[Req]] = field(default_factory=Req)
    label: str = ""
    check: Check | None = None  # more assertions when the expected 2xx came
    viewer: Callable[[str, httpx.Response], Viewer | None] | None = None


# --- the world --------------------------------------------------------------------------------


class Matrix:
    """Two communities, the callers logged in once, and wishes and tasks to act on."""

    def __init__(self, hub, api: httpx.AsyncClient) -> None:
        self.hub = hub
        self.api = api
        self.people: dict[str, Person] = {}
        self.subjects: list[Subject] = []
        self.id_numbers: list[str] = []
        self.headers: dict[str, dict[str, str]] = {"anonymous": {}}
        self.viewers: dict[str, Viewer | None] = {"anonymous": None}
        self._serial = itertools.count(1)

    def serial(self) -> int:
        return next(self._serial)

    async def build(self) -> Matrix:
        hub = self.hub
        self.w = w = await World(hub).build()
        self.other = other = await World(hub).build_other(w)
        self.a, self.b = w.community.id, other.community.id
        self.admin = w.admin.person
        self.people["admin"] = self.admin
        self.subjects.append(Subject("admin", self.admin.id, self.admin.phone, None, None))
        for extra in (w.staff, w.grid_worker, other.staff, other.grid_worker):
            p = extra.person  # World's people share one address: only their phones are checked
            self.subjects.append(Subject(f"{p.name}#{p.id}", p.id, p.phone, None, p.community_id))

        await self._member("staff", "社区干部甲", "幸福里1号楼1单元104", roles=[Role.STAFF])
        await self._member("grid_worker", "网格员乙", "幸福里1号楼1单元103", [Role.GRID_WORKER])
        await self._register_resident()
        await self._member("neighbour", "邻居赵", "幸福里7号楼1单元102")
        await self._member("far_resident", "二网格钱", "幸福里9号楼3单元302", grid=w.other_grid)
        await self._member("volunteer", "李志愿", "幸福里2号楼2单元201")
        await self._member("volunteer2", "周志愿", "幸福里2号楼2单元202")
        await self._member("party_member", "在职党员孙", "幸福里5号楼1单元601")
        await self._member("team_leader", "队长吴", "幸福里4号楼2单元404")
        await self._member(
            "other_staff",
            "和平里干部郑",
            "和平里8号楼1单元801",
            roles=[Role.STAFF],
            community=other.community,
        )

        self.care_team = await w.team("elderly_care")
        for key in ("volunteer", "volunteer2"):  # staff approve them (community A vets)
            await w.join(await self.actor(key), self.care_team)
        self.led_team = await teams.create_team(
            hub,
            w.admin,
            self.a,
            {"name": "便民维修队", "kind": "repair", "leader_id": self.people["team_leader"].id},
        )
        report = await teams.file_party_report(
            hub,
            await self.actor("party_member"),
            {"community_id": self.a, "work_unit": "区税务局", "party_branch": "第三党支部"},
        )
        await teams.accept_party_report(hub, await self.actor("staff"), report.id)

        self.wishes = {
            "open": await self.fresh_wish("open"),
            "submitted": await self.fresh_wish("submitted"),
            "rejected": await self.fresh_wish("rejected"),
            "psychology": await self.fresh_wish("open", category="psychology"),
            "claimed": await self.fresh_wish("claimed"),
            "on_behalf": await self.fresh_wish(
                "submitted", poster="grid_worker", on_behalf_of="resident"
            ),
        }
        soon = datetime.fromisoformat("2026-12-03T19:00:00+08:00")
        self.task = await self.fresh_task(starts=soon)
        self.team_task = await self.fresh_task(starts=soon, team_id=self.care_team.id)
        self.other_task = await self.fresh_task(starts=soon, community=self.b)

        for key in (*CALLERS[1:], *EXTRA_CALLERS):
            person = self.people[key]
            r = await self.api.post(
                f"{API}/auth/login", json={"phone": person.phone, "password": PASSWORD}
            )
            assert r.status_code == 200, f"login as {key}: {r.text}"
            self.headers[key] = {"Authorization": f"Bearer {r.json()['token']}"}
            self.viewers[key] = viewer_of(await self.actor(key))
        return self

    async def _member(
        self,
        key: str,
        name: str,
        address: str,
        roles: list[Role] = (),
        *,
        community=None,
        grid=None,
    ) -> Person:
        """Register a person with an address of their own, then give them roles."""
        actor = await self.w.person(
            name, roles=roles, grid=grid, community=community, address=address
        )
        person = await actor.load_person()
        self.people[key] = person
        self.subjects.append(Subject(key, person.id, person.phone, address, person.community_id))
        return person

    async def _register_resident(self) -> None:
        """The resident registers over HTTP, with an ID number (Ms. Wang, born 1944)."""
        number = id_number(date(1944, 5, 1))  # "110105" "19440501" "001" + check digit
        self.id_numbers.append(number)
        phone, address = next_phone(), "幸福里7号楼1单元101"
        r = await self.api.post(
            f"{API}/people",
            json={
                "name": "王奶奶",
                "phone": phone,
                "password": PASSWORD,
                "community_id": self.a,
                "grid_id": self.w.grid.id,
                "birth_date": "1944-05-01",
                "id_number": number,
                "address": address,
            },
        )
        assert r.status_code == 201, r.text
        assert number not in r.text and number[:14] not in r.text, r.text
        person = await Person.get(id=r.json()["id"])
        self.people["resident"] = person
        self.subjects.append(Subject("resident", person.id, phone, address, self.a))

    async def actor(self, key: str) -> Actor:
        return await load_actor(self.people[key].id)

    async def fresh_wish(
        self,
        state: str,
        *,
        category: str = "errand",
        poster: str = "resident",
        on_behalf_of: str | None = None,
        claimer: str = "volunteer",
    ):
        """A new wish of the resident, taken through the real services to ``state``."""
        data = {
            "title": f"帮忙取快递{self.serial()}",
            "description": "腿脚不便，请帮忙取件",
            "category": category,
        }
        if on_behalf_of is not None:
            data["on_behalf_of"] = self.people[on_behalf_of].id
        wish = await wishes.post(self.hub, await self.actor(poster), self.a, data)
        if state == "submitted":
            return wish
        staff = await self.actor("staff")
        if state == "rejected":
            return await wishes.review(
                self.hub, staff, wish.id, {"decision": "reject", "reason": "不属于受理范围"}
            )
        wish = await wishes.review(self.hub, staff, wish.id, {"decision": "approve"})
        if state == "open":
            return wish
        wish = await wishes.claim(self.hub, await self.actor(claimer), wish.id)
        if state == "claimed":
            return wish
        assert state == "fulfilled", state
        return await wishes.fulfil(self.hub, await self.actor(claimer), wish.id, {"note": "已办"})

    async def fresh_task(self, *, starts: datetime, community: int | None = None, **extra):
        community = community or self.a
        return await tasks.create_task(
            self.hub,
            await self.actor("admin"),
            community,
            {
                "title": f"巡逻{self.serial()}",
                "starts_at": starts,
                "ends_at": starts + timedelta(hours=2),
                "capacity": 100,
                **extra,
            },
        )

    async def fresh_signup(self, state: str):
        """The volunteer's signup for a new shift starting in half an hour (check-in is open)."""
        task = await self.fresh_task(starts=self.hub.now() + timedelta(minutes=30))
        volunteer = await self.actor("volunteer")
        signup = await tasks.sign_up(self.hub, volunteer, task.id, {})
        if state == "checked_in":
            await tasks.check_in(self.hub, volunteer, signup.id)
        else:
            assert state == "confirmed", state
        return signup

    # --- running a matrix ---------------------------------------------------------------

    async def run(self, group: str, rows: list[Row]) -> None:
        failures: list[str] = []
        for row in rows:
            for caller, expected in row.expect.items():
                req = await row.req(caller) if callable(row.req) else row.req
                url = API + re.sub(r":(int|str)}", "}", row.path).format(**req.params)
                headers = req.headers if req.headers is not None else self.headers[caller]
                r = await self.api.request(
                    row.method, url, json=req.body, headers=headers, params=req.query
                )
                where = f"{row.method} {row.path}{f' [{row.label}]' if row.label else ''}"
                where += f" as {caller}"
                if r.status_code != expected:
                    failures.append(
                        f"{where}: expected {expected}, got {r.status_code}: {r.text[:300]}"
                    )
                elif 200 <= expected < 300 and row.check is not None:
                    failures += [f"{where}: {p}" for p in await row.check(caller, r)]
                if r.status_code >= 400:
                    failures += [f"{where}: {p}" for p in _error_shape(r)]
                viewer = row.viewer(caller, r) if row.viewer else self.viewers[caller]
                failures += [f"{where}: {p}" for p in self.personal_data(viewer, r)]
        covered = {(row.method, row.path) for row in rows}
        assert covered == GROUPS[group], (
            f"{group}: rows missing for {sorted(GROUPS[group] - covered)}, "
            f"rows outside the group: {sorted(covered - GROUPS[group])}"
        )
        assert not failures, f"{len(failures)} problem(s):\n" + "\n".join(failures)

    def personal_data(self, viewer: Viewer | None, r: httpx.Response) -> list[str]:
        """What this response shows that the viewer is not entitled to."""
        problems = []
        for number in self.id_numbers:
            if number in r.text:
                problems.append(f"the response shows the ID number {number}")
            elif number[:14] in r.text:
                problems.append(f"the response shows the ID number's first 14 characters {number}")
        if not r.content:
            return problems
        try:
            body = r.json()
        except ValueError:
            return [*problems, f"the body is not JSON: {r.text[:100]}"]
        for node in _nodes(body):
            if _is_wish(node):
                shown = node.get("contact") is not None
                allowed = viewer is not None and viewer.sees_contact(node)
                if shown != allowed:
                    problems.append(
                        f"wish {node.get('id')} ({node['status']}, posted by "
                        f"{node.get('posted_by_id')}, claimer {node['claimer_id']}) "
                        f"{'shows' if shown else 'hides'} the resident's contact"
                    )
            if _is_person(node) and not (
                viewer is not None and viewer.entitled(node["id"], node["community_id"])
            ):
                for key in ("phone", "address"):
                    if node.get(key):
                        problems.append(f"person {node['id']} shows {key} {node[key]!r}")
        text = json.dumps(_without_contacts_seen(body, viewer), ensure_ascii=False)
        for s in self.subjects:
            if viewer is not None and viewer.entitled(s.person_id, s.community_id):
                continue
            if s.phone in text:
                problems.append(f"the response shows {s.key}'s full phone {s.phone}")
            if s.address and s.address in text:
                problems.append(f"the response shows {s.key}'s address {s.address}")
        return problems


def _error_shape(r: httpx.Response) -> list[str]:
    try:
        error = r.json().get("error")
    except (ValueError, AttributeError):
        error = None
    if not (
        isinstance(error, dict)
        and isinstance(error.get("code"), str)
        and isinstance(error.get("message"), str)
        and isinstance(error.get("details"), list)
    ):
        return [f"the error body does not have the contract's shape: {r.text[:200]}"]
    return []


@pytest.fixture
async def m(hub, api) -> Matrix:
    return await Matrix(hub, api).build()


def fixed(params: dict | None = None, body: Any = None, query: dict | None = None) -> Req:
    return Req(params=params or {}, body=body, query=query or {})


# --- accounts -------------------------------------------------------------------------------

ROLE_SHOWN = {
    "resident": "resident",
    "volunteer": "volunteer",
    "party_member": "party_member",
    "grid_worker": "grid_worker",
    "staff": "staff",
    "other_staff": "staff",
    "admin": "admin",
}


async def test_accounts_matrix(m: Matrix):
    def person_key(caller: str) -> str:
        return "resident" if caller == "anonymous" else caller

    async def login_req(caller: str) -> Req:
        person = m.people[person_key(caller)]
        return fixed(body={"phone": person.phone, "password": PASSWORD})

    async def login_check(caller: str, r: httpx.Response) -> list[str]:
        body = r.json()
        ok = body["person"]["id"] == m.people[person_key(caller)].id and body["token"]
        return [] if ok else [f"logged in as someone else: {r.text[:200]}"]

    throwaway: dict[str, dict[str, str]] = {}

    async def logout_req(caller: str) -> Req:
        if caller == "anonymous":
            return Req(headers={})
        person = m.people[caller]
        r = await m.api.post(
            f"{API}/auth/login", json={"phone": person.phone, "password": PASSWORD}
        )
        throwaway[caller] = {"Authorization": f"Bearer {r.json()['token']}"}
        return Req(headers=throwaway[caller])

    async def logout_check(caller: str, r: httpx.Response) -> list[str]:
        problems = []
        if (await m.api.get(f"{API}/me", headers=throwaway[caller])).status_code != 401:
            problems.append("the token still works after logout")
        if (await m.api.get(f"{API}/me", headers=m.headers[caller])).status_code != 200:
            problems.append("logging out one token ended the caller's other login")
        return problems

    registered: dict[str, tuple[str, str]] = {}

    async def register_req(caller: str) -> Req:
        n = m.serial()
        number = id_number(date(1980, 1, n % 28 + 1), seq=f"{100 + n:03d}")
        m.id_numbers.append(number)
        phone, address = next_phone(), f"幸福里6号楼{n}单元{600 + n}"
        registered[caller] = (phone, address)
        body = {
            "name": f"新居民{n}",
            "phone": phone,
            "password": PASSWORD,
            "community_id": m.a,
            "grid_id": m.w.grid.id,
            "id_number": number,
            "address": address,
        }
        return fixed(body=body)

    async def register_check(caller: str, r: httpx.Response) -> list[str]:
        phone, address = registered[caller]
        body = r.json()
        problems = []
        if body["phone_masked"] != mask_phone(phone) or body["community_id"] != m.a:
            problems.append(f"not the registered person: {r.text[:200]}")
        if caller not in ("anonymous", "staff", "admin"):  # the person, their staff, admin
            if phone in r.text or address in r.text:
                problems.append("the new person's phone or address reached another resident")
        return problems

    def register_viewer(caller: str, r: httpx.Response) -> Viewer | None:
        if caller == "anonymous" and r.status_code == 201:
            return Viewer(r.json()["id"])  # registering yourself: you are the person
        return m.viewers[caller]

    async def me_check(caller: str, r: httpx.Response) -> list[str]:
        body = r.json()
        if body["id"] != m.people[caller].id or ROLE_SHOWN[caller] not in body["roles"]:
            return [f"not the caller, or without the role {ROLE_SHOWN[caller]}: {r.text[:200]}"]
        return []

    def person_check(key: str) -> Check:
        async def check(caller: str, r: httpx.Response) -> list[str]:
            return [] if r.json()["id"] == m.people[key].id else [f"another person: {r.text}"]

        return check

    async def password_check(caller: str, r: httpx.Response) -> list[str]:
        login = {"phone": m.people[caller].phone, "password": "Tiantian-42-xiang"}
        r = await m.api.post(f"{API}/auth/login", json=login)
        return [] if r.status_code == 200 else [f"the new password does not log in: {r.text}"]

    async def reset_code_req(caller: str) -> Req:
        return fixed(body={"phone": m.people[person_key(caller)].phone})

    async def reset_req(caller: str) -> Req:
        """A person of community A who was given a code by staff; anyone may use it."""
        someone = await m.w.person(f"忘记密码{m.serial()}")
        issued = await auth.issue_reset_code(m.hub, await m.actor("staff"), someone.id)
        body = {"phone": someone.person.phone, "code": issued.code, "password": "Qiuyue-Lanhua-7"}
        return fixed(body=body)

    async def wrong_code_req(caller: str) -> Req:
        body = {"phone": m.people[person_key(caller)].phone, "code": "000000"}
        return fixed(body={**body, "password": "Qiuyue-Lanhua-7"})

    def code_check(key: str) -> Check:
        async def check(caller: str, r: httpx.Response) -> list[str]:
            body = r.json()
            ok = body["person_id"] == m.people[key].id and re.fullmatch(r"\d{6}", body["code"])
            return [] if ok else [f"not a code for {key}: {r.text[:200]}"]

        return check

    resident, other_staff = m.people["resident"].id, m.people["other_staff"].id
    await m.run(
        "accounts",
        [
            Row(
                "POST",
                "/auth/login",
                who(200, anonymous=200),
                login_req,
                check=login_check,
                viewer=lambda caller, r: m.viewers[person_key(caller)],
            ),
            Row("POST", "/auth/logout", who(204), logout_req, check=logout_check),
            Row(
                "POST",
                "/people",
                who(201, anonymous=201),
                register_req,
                check=register_check,
                viewer=register_viewer,
            ),
            Row("GET", "/me", LOGGED_IN, check=me_check),
            Row(
                "GET",
                "/people/{id:int}",
                who(404, resident=200, staff=200, admin=200),
                fixed({"id": resident}),
                "a resident of community A",
                check=person_check("resident"),
            ),
            Row(
                "GET",
                "/people/{id:int}",
                who(404, other_staff=200, admin=200),
                fixed({"id": other_staff}),
                "a staff member of community B",
                check=person_check("other_staff"),
            ),
            Row("GET", "/people/{id:int}", who(404), fixed({"id": 999999}), "no such person"),
            Row("POST", "/auth/reset-code", who(202, anonymous=202), reset_code_req),
            Row("POST", "/auth/reset", who(204, anonymous=204), reset_req, "a right code"),
            Row("POST", "/auth/reset", who(422, anonymous=422), wrong_code_req, "a wrong code"),
            Row(
                "POST",
                "/people/{id:int}/reset-code",
                who(404, grid_worker=201, staff=201, admin=201),
                fixed({"id": resident}),
                "a resident of community A, in the grid worker's grid",
                check=code_check("resident"),
            ),
            Row(
                "POST",
                "/people/{id:int}/reset-code",
                who(404, other_staff=201, admin=201),
                fixed({"id": other_staff}),
                "a staff member of community B",
                check=code_check("other_staff"),
            ),
            Row(
                "POST",
                "/people/{id:int}/reset-code",
                who(404),
                fixed({"id": 999999}),
                "no such person",
            ),
            Row(  # last: it changes each caller's password
                "POST",
                "/me/password",
                who(204),
                fixed(body={"current_password": PASSWORD, "new_password": "Tiantian-42-xiang"}),
                check=password_check,
            ),
        ],
    )


# --- communities, grids, staff ----------------------------------------------------------------


async def test_communities_matrix(m: Matrix):
    async def community_req(caller: str) -> Req:
        return fixed(body={"name": f"新建社区{m.serial()}"})

    def grid_req(cid: int):
        async def req(caller: str) -> Req:
            return fixed({"cid": cid}, {"name": f"新网格{m.serial()}"})

        return req

    def staff_req(cid: int):
        async def req(caller: str) -> Req:
            person = await people.register(
                m.hub,
                {
                    "name": f"新干部{m.serial()}",
                    "phone": next_phone(),
                    "password": PASSWORD,
                    "community_id": cid,
                },
            )
            return fixed({"cid": cid}, {"person_id": person.id, "role": "staff"})

        return req

    async def list_check(caller: str, r: httpx.Response) -> list[str]:
        ids = {c["id"] for c in r.json()["items"]}
        return [] if {m.a, m.b} <= ids else [f"communities missing: {r.text[:200]}"]

    async def newcomer(cid: int) -> Person:
        return await people.register(
            m.hub,
            {
                "name": f"新人{m.serial()}",
                "phone": next_phone(),
                "password": PASSWORD,
                "community_id": cid,
            },
        )

    def revoke_req(cid: int):
        async def req(caller: str) -> Req:
            person = await newcomer(cid)
            await people.assign_role(m.hub, None, cid, person.id, "staff")
            return Req(params={"cid": cid, "person_id": person.id}, query={"role": "staff"})

        return req

    def rename_req(cid: int):
        async def req(caller: str) -> Req:
            grid = await people.create_grid(
                m.hub, await m.actor("admin"), cid, {"name": f"网格{m.serial()}"}
            )
            return fixed({"id": grid.id}, {"name": f"第{m.serial()}网格"})

        return req

    def person_req(cid: int, *, active: bool):
        async def req(caller: str) -> Req:
            person = await newcomer(cid)
            if not active:
                await people.deactivate_person(m.hub, await m.actor("admin"), person.id)
            return fixed({"id": person.id})

        return req

    def active_check(expected: bool):
        async def check(caller: str, r: httpx.Response) -> list[str]:
            body = r.json()
            stored = (await Person.get(id=body["id"])).active
            ok = body["active"] is expected and stored is expected
            return [] if ok else [f"active should be {expected}: {r.text[:200]}"]

        return check

    def team_change_req(cid: int):
        async def req(caller: str) -> Req:
            team = await teams.create_team(
                m.hub, await m.actor("admin"), cid, {"name": f"队{m.serial()}", "kind": "repair"}
            )
            leader = m.people["volunteer"].id
            return fixed({"id": team.id}, {"name": f"新队{m.serial()}", "leader_id": leader})

        return req

    async def people_check(caller: str, r: httpx.Response) -> list[str]:
        names = {p["name"] for p in r.json()["items"]}
        expected = {"李志愿", "周志愿"}
        return [] if expected <= names else [f"people missing: {r.text[:300]}"]

    async def vetting_check(caller: str, r: httpx.Response) -> list[str]:
        return [] if r.json()["approve_volunteers"] is True else [f"not set: {r.text[:200]}"]

    staff_a = who(403, staff=201, admin=201)
    staff_b = who(403, other_staff=201, admin=201)
    await m.run(
        "communities",
        [
            Row("POST", "/communities", who(403, admin=201), community_req),
            Row("GET", "/communities", ANYONE, check=list_check),
            Row(
                "PATCH",
                "/communities/{cid:int}",
                who(403, staff=200, admin=200),
                fixed({"cid": m.a}, {"approve_volunteers": True}),
                "community A",
                check=vetting_check,
            ),
            Row(
                "PATCH",
                "/communities/{cid:int}",
                who(403, other_staff=200, admin=200),
                fixed({"cid": m.b}, {"approve_volunteers": True}),
                "community B",
                check=vetting_check,
            ),
            Row("POST", "/communities/{cid:int}/grids", staff_a, grid_req(m.a), "community A"),
            Row("POST", "/communities/{cid:int}/grids", staff_b, grid_req(m.b), "community B"),
            Row("POST", "/communities/{cid:int}/staff", staff_a, staff_req(m.a), "community A"),
            Row("POST", "/communities/{cid:int}/staff", staff_b, staff_req(m.b), "community B"),
            # issue 12: the console's administration of grids, people, roles and teams.
            Row(
                "DELETE",
                "/communities/{cid:int}/staff/{person_id:int}",
                who(403, staff=204, admin=204),
                revoke_req(m.a),
                "community A",
            ),
            Row(
                "DELETE",
                "/communities/{cid:int}/staff/{person_id:int}",
                who(403, other_staff=204, admin=204),
                revoke_req(m.b),
                "community B",
            ),
            Row("PATCH", "/grids/{id:int}", who(404, staff=200, admin=200), rename_req(m.a)),
            Row(
                "GET",
                "/communities/{cid:int}/people",
                who(403, staff=200, admin=200),
                fixed({"cid": m.a}, query={"q": "志愿"}),
                "community A",
                check=people_check,
            ),
            Row(
                "GET",
                "/communities/{cid:int}/people",
                who(403, other_staff=200, admin=200),
                fixed({"cid": m.b}, query={"role": "staff"}),
                "community B",
            ),
            Row(
                "POST",
                "/people/{id:int}/deactivate",
                who(404, staff=200, admin=200),
                person_req(m.a, active=True),
                check=active_check(False),
            ),
            Row(
                "POST",
                "/people/{id:int}/reactivate",
                who(404, staff=200, admin=200),
                person_req(m.a, active=False),
                check=active_check(True),
            ),
            Row("PATCH", "/teams/{id:int}", who(404, staff=200, admin=200), team_change_req(m.a)),
        ],
    )


# --- teams and party members --------------------------------------------------------------------


async def test_teams_matrix(m: Matrix):
    async def team_req(caller: str) -> Req:
        return fixed({"cid": m.a}, {"name": f"反诈队{m.serial()}", "kind": "anti_fraud"})

    def join_req(cid: int):
        async def req(caller: str) -> Req:
            team = await teams.create_team(
                m.hub,
                await m.actor("admin"),
                cid,
                {"name": f"维修队{m.serial()}", "kind": "repair"},
            )
            return fixed({"tid": team.id}, {})

        return req

    async def list_check(caller: str, r: httpx.Response) -> list[str]:
        ids = {t["id"] for t in r.json()["items"]}
        expected = {m.care_team.id, m.led_team.id}
        return [] if expected <= ids else [f"teams missing: {r.text[:200]}"]

    async def newcomer(cid: int) -> Actor:
        person = await people.register(
            m.hub,
            {
                "name": f"新人{m.serial()}",
                "phone": next_phone(),
                "password": PASSWORD,
                "community_id": cid,
            },
        )
        return await load_actor(person.id)

    def pending_membership(body: dict | None = None):
        """A newcomer's request to join the team that ``team_leader`` leads (pending)."""

        async def req(caller: str) -> Req:
            membership = await teams.join_team(m.hub, await newcomer(m.a), m.led_team.id)
            assert membership.status.value == "pending"
            return fixed({"id": membership.id}, body)

        return req

    def pending_renewal(body: dict | None = None):
        """A certificate that an approved member of the leader's team declared later."""

        async def req(caller: str) -> Req:
            member = await newcomer(m.a)
            membership = await teams.join_team(m.hub, member, m.led_team.id)
            await teams.approve_membership(m.hub, await m.actor("staff"), membership.id)
            renewal = await teams.declare_qualification(
                m.hub, member, m.led_team.id, {"kind": "first_aid", "certificate_number": "JJ-1"}
            )
            return fixed({"id": renewal.id}, body)

        return req

    async def renewals_listed(caller: str, r: httpx.Response) -> list[str]:
        items = r.json()["items"]
        wrong = [i for i in items if i["verified"]]
        if caller == "team_leader":  # a leader sees their own team's only
            wrong += [i for i in items if i["team_id"] != m.led_team.id]
        return [f"unexpected items: {wrong}"] if wrong else []

    def pending_report(body: dict | None = None):
        async def req(caller: str) -> Req:
            filed = await teams.file_party_report(
                m.hub,
                await newcomer(m.a),
                {"community_id": m.a, "work_unit": "区教育局", "party_branch": "机关党支部"},
            )
            return fixed({"id": filed.id}, body)

        return req

    def listed(status: str, key: str = "status"):
        async def check(caller: str, r: httpx.Response) -> list[str]:
            items = r.json()["items"]
            wrong = [i for i in items if i[key] != status]
            if caller == "team_leader":  # a leader sees their own team's only
                wrong += [i for i in items if i["team_id"] != m.led_team.id]
            return [f"unexpected items: {wrong}"] if wrong else []

        return check

    deciders = who(403, staff=200, admin=200, team_leader=200, other_staff=404)
    staff_only = who(403, staff=200, admin=200, other_staff=404)
    reason = {"reason": "未能核实身份"}
    report = {"community_id": m.a, "work_unit": "市自来水公司", "party_branch": "第一党支部"}
    await m.run(
        "teams",
        [
            Row(
                "GET",
                "/communities/{cid:int}/memberships",
                who(403, staff=200, admin=200, team_leader=200),
                fixed({"cid": m.a}, query={"status": "pending"}),
                "community A",
                check=listed("pending"),
            ),
            Row(
                "GET",
                "/communities/{cid:int}/memberships",
                who(403, other_staff=200, admin=200, team_leader=403),
                fixed({"cid": m.b}),
                "community B",
            ),
            Row("POST", "/memberships/{id:int}/approve", deciders, pending_membership()),
            Row("POST", "/memberships/{id:int}/refuse", deciders, pending_membership(reason)),
            Row(
                "POST",
                "/teams/{tid:int}/qualifications",
                who(403, volunteer=201, other_staff=404),
                fixed({"tid": m.care_team.id}, {"kind": "first_aid", "expires_on": "2030-01-01"}),
            ),
            Row(
                "GET",
                "/communities/{cid:int}/qualifications",
                who(403, staff=200, admin=200, team_leader=200),
                fixed({"cid": m.a}),
                "community A",
                check=renewals_listed,
            ),
            Row(
                "GET",
                "/communities/{cid:int}/qualifications",
                who(403, other_staff=200, admin=200, team_leader=403),
                fixed({"cid": m.b}),
                "community B",
            ),
            Row("POST", "/qualifications/{id:int}/verify", deciders, pending_renewal()),
            Row("POST", "/qualifications/{id:int}/refuse", deciders, pending_renewal(reason)),
            Row(
                "GET",
                "/communities/{cid:int}/party-reports",
                who(403, staff=200, admin=200),
                fixed({"cid": m.a}, query={"status": "accepted"}),
                "community A",
                check=listed("accepted"),
            ),
            Row(
                "GET",
                "/communities/{cid:int}/party-reports",
                who(403, other_staff=200, admin=200),
                fixed({"cid": m.b}),
                "community B",
            ),
            Row("POST", "/party-reports/{id:int}/accept", staff_only, pending_report()),
            Row("POST", "/party-reports/{id:int}/refuse", staff_only, pending_report(reason)),
            Row(
                "POST",
                "/communities/{cid:int}/teams",
                who(403, staff=201, admin=201),
                team_req,
            ),
            Row(
                "GET",
                "/communities/{cid:int}/teams",
                ANYONE,
                fixed({"cid": m.a}),
                check=list_check,
            ),
            # Joining makes one a volunteer of the team's community: people of community A
            # (and the admin) may; another community's staff may not act there.
            Row(
                "POST",
                "/teams/{tid:int}/members",
                who(201, other_staff=403),
                join_req(m.a),
                "a new team of community A",
            ),
            Row(
                "POST",
                "/teams/{tid:int}/members",
                who(403, other_staff=201, admin=201),
                join_req(m.b),
                "a new team of community B",
            ),
            # API.md: any logged-in person; the party member has reported to A already.
            Row(
                "POST",
                "/party-reports",
                who(201, party_member=409),
                fixed(body=report),
                "to community A",
            ),
        ],
    )


# --- micro-wishes: posting and seeing -----------------------------------------------------------


async def test_wishes_read_matrix(m: Matrix):
    wish = {key: w.id for key, w in m.wishes.items()}
    everything = set(wish.values())
    visible = {
        "resident": everything,  # all are hers (one posted for her by the grid worker)
        "volunteer": {wish["open"], wish["claimed"]},  # not psychology: not qualified
        "party_member": set(),  # not a volunteer: in no team
        "grid_worker": {wish["on_behalf"]},  # the one they posted
        "staff": everything,
        "other_staff": set(),
        "admin": everything,
    }

    async def list_check(caller: str, r: httpx.Response) -> list[str]:
        seen = {item["id"] for item in r.json()["items"]} & everything
        if seen != visible[caller]:
            names = {v: k for k, v in wish.items()}
            return [
                f"sees {sorted(names[i] for i in seen)}, "
                f"expected {sorted(names[i] for i in visible[caller])}"
            ]
        return []

    def post_req(cid: int, on_behalf_of: str | None = None):
        async def req(caller: str) -> Req:
            body = {
                "title": f"想请人帮忙换灯泡{m.serial()}",
                "description": "客厅灯泡坏了",
                "category": "errand",
            }
            if on_behalf_of is not None:
                body["on_behalf_of"] = m.people[on_behalf_of].id
            return fixed({"cid": cid}, body)

        return req

    async def created_check(caller: str, r: httpx.Response) -> list[str]:
        return [] if r.json()["status"] == "submitted" else [f"not submitted: {r.text}"]

    def get_wish(key: str, expect: dict[str, int]) -> Row:
        return Row("GET", "/wishes/{id:int}", expect, fixed({"id": wish[key]}), f"{key} wish")

    poster_and_staff = who(404, resident=200, staff=200, admin=200)
    await m.run(
        "wishes_read",
        [
            Row(
                "GET",
                "/communities/{cid:int}/wishes",
                LOGGED_IN,
                fixed({"cid": m.a}),
                "community A",
                check=list_check,
            ),
            get_wish("open", who(404, resident=200, volunteer=200, staff=200, admin=200)),
            get_wish("claimed", who(404, resident=200, volunteer=200, staff=200, admin=200)),
            get_wish("submitted", poster_and_staff),
            get_wish("rejected", poster_and_staff),
            get_wish("psychology", poster_and_staff),
            get_wish("on_behalf", who(404, resident=200, grid_worker=200, staff=200, admin=200)),
            Row("GET", "/wishes/{id:int}", who(404), fixed({"id": 999999}), "no such wish"),
            Row(
                "GET",
                "/wishes/{id:int}/candidates",
                who(404, resident=403, volunteer=403, staff=200, admin=200),
                fixed({"id": wish["open"]}),
                "open wish",
            ),
            Row("GET", "/wish-categories", ANYONE),
            Row(
                "POST",
                "/communities/{cid:int}/wishes",
                who(201, other_staff=403),
                post_req(m.a),
                "for oneself, in community A",
                check=created_check,
            ),
            Row(
                "POST",
                "/communities/{cid:int}/wishes",
                who(403, other_staff=201, admin=201),
                post_req(m.b),
                "for oneself, in community B",
                check=created_check,
            ),
            Row(
                "POST",
                "/communities/{cid:int}/wishes",
                who(403, grid_worker=201, staff=201, admin=201),
                post_req(m.a, on_behalf_of="neighbour"),
                "on behalf of a resident of the grid worker's grid",
                check=created_check,
            ),
            Row(
                "POST",
                "/communities/{cid:int}/wishes",
                who(403, staff=201, admin=201),
                post_req(m.a, on_behalf_of="far_resident"),
                "on behalf of a resident of another grid",
                check=created_check,
            ),
        ],
    )


# --- micro-wishes: review, claim, fulfil, confirm, cancel, escalate ----------------------------


async def test_wishes_flow_matrix(m: Matrix):
    def fresh(state: str, body: Any = None, **kw):
        async def req(caller: str) -> Req:
            return fixed({"id": (await m.fresh_wish(state, **kw)).id}, body)

        return req

    def status_is(status: str, claimer: bool = False) -> Check:
        async def check(caller: str, r: httpx.Response) -> list[str]:
            body = r.json()
            problems = [] if body["status"] == status else [f"status is {body['status']}"]
            if claimer and body["claimer_id"] != m.people[caller].id:
                problems.append(f"the claimer is {body['claimer_id']}")
            return problems

        return check

    only_staff = who(404, resident=403, volunteer=403, staff=200, admin=200)
    resident_or_staff = who(404, resident=200, volunteer=403, staff=200, admin=200)
    claimers = who(404, volunteer=200, resident=403, staff=403, admin=403)
    await m.run(
        "wishes_flow",
        [
            Row(
                "POST",
                "/wishes/{id:int}/review",
                who(404, resident=403, staff=200, admin=200),
                fresh("submitted", {"decision": "approve"}),
                "a resident's submitted wish",
                check=status_is("open"),
            ),
            Row(
                "POST",
                "/wishes/{id:int}/review",
                who(404, resident=403, grid_worker=403, staff=200, admin=200),
                fresh(
                    "submitted",
                    {"decision": "reject", "reason": "重复提交"},
                    poster="grid_worker",
                    on_behalf_of="resident",
                ),
                "a wish the grid worker posted for the resident",
                check=status_is("rejected"),
            ),
            Row(
                "POST",
                "/wishes/{id:int}/claim",
                claimers,
                fresh("open"),
                "an open errand",
                check=status_is("claimed", claimer=True),
            ),
            Row(
                "POST",
                "/wishes/{id:int}/claim",
                who(404, volunteer=409, resident=403, staff=403, admin=403),
                fresh("claimed", claimer="volunteer2"),
                "claimed by another volunteer",
            ),
            Row(
                "POST",
                "/wishes/{id:int}/claim",
                who(404, resident=403, staff=403, admin=403),
                fixed({"id": m.wishes["psychology"].id}),
                "restricted category: psychology",
            ),
            Row(
                "POST",
                "/wishes/{id:int}/fulfil",
                claimers,
                fresh("claimed", {"note": "已送到"}),
                "claimed by the volunteer",
                check=status_is("fulfilled"),
            ),
            Row(
                "POST",
                "/wishes/{id:int}/confirm",
                resident_or_staff,
                fresh("fulfilled", {"rating": 5, "thanks": "谢谢"}),
                "fulfilled by the volunteer",
                check=status_is("confirmed"),
            ),
            Row(
                "POST",
                "/wishes/{id:int}/cancel",
                resident_or_staff,
                fresh("open", {"reason": "已自行解决"}),
                "an open errand",
                check=status_is("cancelled"),
            ),
            Row(
                "POST",
                "/wishes/{id:int}/hand-back",
                claimers,
                fresh("claimed", {"reason": "临时出差"}),
                "claimed by the volunteer",
                check=status_is("open"),
            ),
            Row(
                "POST",
                "/wishes/{id:int}/hand-back",
                who(404, volunteer=403, resident=403, staff=403, admin=403),
                fresh("claimed", claimer="volunteer2"),
                "claimed by another volunteer",
            ),
            Row(
                "POST",
                "/wishes/{id:int}/escalate",
                only_staff,
                fresh("open", {"level": "blue", "referral": "街道城管科"}),
                "an open errand",
                check=status_is("open"),
            ),
        ],
    )


# --- micro-tasks and shifts ---------------------------------------------------------------------


async def test_tasks_matrix(m: Matrix):
    def task_req(team_id: int | None = None):
        async def req(caller: str) -> Req:
            body = {
                "title": f"入户反诈宣传{m.serial()}",
                "starts_at": "2026-12-05T09:00:00+08:00",
                "ends_at": "2026-12-05T11:00:00+08:00",
                "capacity": 6,
            }
            if team_id is not None:
                body["team_id"] = team_id
            return fixed({"cid": m.a}, body)

        return req

    def fresh_signup(state: str):
        async def req(caller: str) -> Req:
            return fixed({"id": (await m.fresh_signup(state)).id})

        return req

    async def signed_up(caller: str, r: httpx.Response) -> list[str]:
        body = r.json()
        if body["person_id"] != m.people[caller].id or body["status"] != "confirmed":
            return [f"not the caller's confirmed signup: {r.text[:200]}"]
        return []

    async def record_check(caller: str, r: httpx.Response) -> list[str]:
        return [] if "hours" in r.json() else [f"no service record: {r.text[:200]}"]

    volunteer_or_staff = who(404, volunteer=200, staff=200, admin=200)
    await m.run(
        "tasks",
        [
            Row(
                "POST",
                "/communities/{cid:int}/tasks",
                who(403, staff=201, admin=201),
                task_req(),
                "no team",
            ),
            Row(
                "POST",
                "/communities/{cid:int}/tasks",
                who(403, staff=201, admin=201, team_leader=201),
                task_req(m.led_team.id),
                "for a team led by the team leader",
            ),
            Row(
                "GET",
                "/tasks/{id:int}",
                who(200, other_staff=404),
                fixed({"id": m.task.id}),
                "community A",
            ),
            Row(
                "GET",
                "/tasks/{id:int}",
                who(404, other_staff=200, admin=200),
                fixed({"id": m.other_task.id}),
                "community B",
            ),
            Row("GET", "/tasks/{id:int}", who(404), fixed({"id": 999999}), "no such task"),
            Row(
                "POST",
                "/tasks/{id:int}/signups",
                who(201, other_staff=404),
                fixed({"id": m.task.id}, {}),
                "community A, no team",
                check=signed_up,
            ),
            Row(
                "POST",
                "/tasks/{id:int}/signups",
                who(403, volunteer=201, other_staff=404),
                fixed({"id": m.team_task.id}, {}),
                "for the volunteer's team",
                check=signed_up,
            ),
            Row(
                "POST",
                "/tasks/{id:int}/signups",
                who(404, other_staff=201, admin=201),
                fixed({"id": m.other_task.id}, {}),
                "community B",
                check=signed_up,
            ),
            Row(
                "DELETE",
                "/signups/{id:int}",
                who(404, volunteer=204, staff=204, admin=204),
                fresh_signup("confirmed"),
                "the volunteer's",
            ),
            Row(
                "POST",
                "/signups/{id:int}/check-in",
                volunteer_or_staff,
                fresh_signup("confirmed"),
                "the volunteer's",
            ),
            Row(
                "POST",
                "/signups/{id:int}/check-out",
                volunteer_or_staff,
                fresh_signup("checked_in"),
                "the volunteer's",
                check=record_check,
            ),
            Row("GET", "/me/service-records", LOGGED_IN),
        ],
    )


async def test_roster_matrix(m: Matrix):
    """A task's roster, attendance, editing and cancelling: staff of the community (an admin)
    and the leader of the task's team; other members of the community 403, others 404."""
    soon = datetime.fromisoformat("2026-12-03T19:00:00+08:00")

    def fresh_task(team: bool = False, community: int | None = None, body: Any = None):
        async def req(caller: str) -> Req:
            extra = {"team_id": m.led_team.id} if team else {}
            task = await m.fresh_task(starts=soon, community=community, **extra)
            return fixed({"id": task.id}, body)

        return req

    def fresh_signup(body: Any = None):
        async def req(caller: str) -> Req:
            return fixed({"id": (await m.fresh_signup("confirmed")).id}, body)

        return req

    async def shift_with_people(caller: str) -> Req:
        task = await m.fresh_task(starts=soon)
        await tasks.sign_up(m.hub, await m.actor("volunteer"), task.id, {})
        body = {"occurrence_start": "2026-12-03T19:00:00+08:00", "message": "东门集合"}
        return fixed({"id": task.id}, body)

    async def roster_check(caller: str, r: httpx.Response) -> list[str]:
        return [] if "waitlist" in r.json() else [f"no roster: {r.text[:200]}"]

    managers = who(403, staff=200, admin=200, other_staff=404, team_leader=200)
    await m.run(
        "roster",
        [
            Row(
                "GET",
                "/tasks/{id:int}/roster",
                who(403, staff=200, admin=200, other_staff=404),
                fixed({"id": m.task.id}),
                "community A, no team",
                check=roster_check,
            ),
            Row(
                "GET",
                "/tasks/{id:int}/roster",
                managers,
                fresh_task(team=True),
                "the leader's team",
                check=roster_check,
            ),
            Row(
                "GET",
                "/tasks/{id:int}/roster",
                who(404, other_staff=200, admin=200),
                fixed({"id": m.other_task.id}),
                "community B",
            ),
            Row("GET", "/tasks/{id:int}/roster", who(404), fixed({"id": 999999}), "no such task"),
            Row(
                "POST",
                "/signups/{id:int}/no-show",
                who(404, volunteer=403, staff=409, admin=409),
                fresh_signup(),
                "before the shift starts",
            ),
            Row(
                "POST",
                "/signups/{id:int}/excuse",
                who(404, volunteer=403, staff=200, admin=200),
                fresh_signup({"note": "临时出差"}),
                "the volunteer's",
            ),
            Row(
                "PATCH",
                "/tasks/{id:int}",
                who(403, staff=200, admin=200, other_staff=404),
                fresh_task(body={"capacity": 50}),
                "community A, no team",
            ),
            Row(
                "PATCH",
                "/tasks/{id:int}",
                managers,
                fresh_task(team=True, body={"location": "东门"}),
                "the leader's team",
            ),
            Row(
                "POST",
                "/tasks/{id:int}/cancel",
                managers,
                fresh_task(team=True, body={"reason": "寒潮"}),
                "the leader's team",
            ),
            Row(
                "POST",
                "/tasks/{id:int}/cancel",
                who(404, other_staff=200, admin=200),
                fresh_task(community=m.b, body={"reason": "寒潮"}),
                "community B",
            ),
            Row(
                "POST",
                "/tasks/{id:int}/messages",
                who(403, staff=200, admin=200, other_staff=404),
                shift_with_people,
                "a shift with a volunteer",
            ),
        ],
    )


async def test_notifications_matrix(m: Matrix):
    """The inbox and addresses are one's own; channels and dead letters are staff's.

    Addresses need a channel of the person's community (the administrator has none), and
    an address of one's own to send a code to or confirm (404 otherwise)."""
    resident = await m.actor("resident")
    for staff, cid in ((m.w.staff, m.a), (m.other.staff, m.b)):
        for config in (
            {
                "code": "webhook",
                "name": "短信网关",
                "settings": {"url": "http://sms.example.com/x"},
            },
            {
                "code": "email",
                "name": "邮箱",
                "settings": {"host": "mail.example.com", "sender": "a@example.com"},
            },
        ):
            await channels.configure(m.hub, staff, cid, config)

    async def unconfirmed_email(caller: str) -> PersonChannel | None:
        if caller in ("anonymous", "admin"):
            return None
        actor = await m.actor(caller)
        return await channels.set_address(
            m.hub, actor, "email", {"address": f"{caller}@example.com"}
        )

    async def code_req(caller: str) -> Req:
        row = await unconfirmed_email(caller)
        if row is not None:  # as if the last code was sent a minute ago
            await PersonChannel.filter(id=row.id).update(code_sent_at=None)
        return fixed({"code": "email"})

    async def confirm_req(caller: str) -> Req:
        row = await unconfirmed_email(caller)
        return fixed({"code": "email"}, {"code": await sent_code(row) if row else "123456"})

    async def own_notification(caller: str) -> Req:
        wish = await wishes.post(
            m.hub, resident, m.a, {"title": "帮忙买菜", "description": "x", "category": "errand"}
        )
        await wishes.review(m.hub, await m.actor("staff"), wish.id, {"decision": "approve"})
        note = await Notification.filter(person_id=resident.id).order_by("-id").first()
        return fixed({"id": note.id})

    async def dead_delivery(caller: str) -> Req:
        staff = await m.actor("staff")
        view = await channels.configure(
            m.hub,
            staff,
            m.a,
            {
                "code": "webhook",
                "name": "短信网关",
                "settings": {"url": "http://sms.example.com/x"},
            },
        )
        await confirmed_address(m.hub, resident, "webhook", "13900139000")  # as in the row
        note = (await own_notification(caller)).params["id"]
        delivery = await Delivery.filter(notification_id=note, channel_id=view.id).first()
        delivery.status = DeliveryStatus.DEAD
        await delivery.save()
        return fixed({"id": delivery.id})

    async def channel_req(caller: str) -> Req:
        return fixed(
            {"cid": m.a},
            {
                "code": "webhook",
                "name": f"网关{m.serial()}",
                "settings": {"url": "http://sms.example.com/hook"},
            },
        )

    staff_only = who(403, staff=200, admin=200)
    neighbour = m.people["neighbour"]  # in grid 1 of community A, as the grid worker's grid
    serving = who(404, staff=200, admin=200, grid_worker=200)

    def serving_viewer(caller: str, r: httpx.Response) -> Viewer | None:
        """The neighbour's grid worker may see their full phone (API.md), as staff may."""
        if caller == "grid_worker":
            return Viewer(person_id=neighbour.id)
        return m.viewers[caller]

    await m.run(
        "notifications",
        [
            Row("GET", "/me/notifications", LOGGED_IN),
            Row(
                "POST",
                "/me/notifications/{id:int}/read",
                who(404, resident=204),
                own_notification,
                "the resident's",
            ),
            Row("GET", "/me/channels", LOGGED_IN),
            Row(
                "PUT",
                "/me/channels/{code:str}",
                who(200, admin=422),
                fixed({"code": "webhook"}, {"address": "13900139000"}),
            ),
            Row("POST", "/me/channels/{code:str}/code", who(200, admin=404), code_req),
            Row("POST", "/me/channels/{code:str}/confirm", who(200, admin=404), confirm_req),
            Row(
                "GET",
                "/people/{id:int}/channels",
                serving,
                fixed({"id": neighbour.id}),
                "a resident of grid 1",
                viewer=serving_viewer,
            ),
            Row(
                "PUT",
                "/people/{id:int}/channels/{code:str}",
                serving,
                fixed({"id": neighbour.id, "code": "webhook"}, {"address": neighbour.phone}),
                "a resident of grid 1",
                viewer=serving_viewer,
            ),
            Row(
                "POST",
                "/communities/{cid:int}/channels",
                who(403, staff=201, admin=201),
                channel_req,
                "community A",
            ),
            Row("GET", "/communities/{cid:int}/channels", staff_only, fixed({"cid": m.a})),
            Row(
                "GET",
                "/communities/{cid:int}/deliveries",
                staff_only,
                fixed({"cid": m.a}),
            ),
            Row(
                "POST",
                "/deliveries/{id:int}/retry",
                who(404, staff=200, admin=200),
                dead_delivery,
                "community A's dead letter",
            ),
        ],
    )


async def test_calendars_matrix(m: Matrix):
    """A feed address is one's own; cancelling an occurrence is staff's or the team leader's."""
    starts = datetime.fromisoformat("2026-12-05T09:00:00+08:00")

    def cancel(community: int | None = None, **extra):
        async def req(caller: str) -> Req:
            task = await m.fresh_task(starts=starts, community=community, **extra)
            return fixed({"id": task.id}, {"start": starts.isoformat()})

        return req

    async def url_check(caller: str, r: httpx.Response) -> list[str]:
        url = r.json()["url"]
        ok = url.startswith("http") and url.endswith(".ics") and "/calendar/" in url
        return [] if ok else [f"not an absolute feed address: {url}"]

    await m.run(
        "calendars",
        [
            Row("GET", "/me/calendar", LOGGED_IN, check=url_check),
            Row("DELETE", "/me/calendar", who(204)),
            Row(
                "POST",
                "/tasks/{id:int}/occurrences/cancel",
                who(403, staff=200, admin=200, other_staff=404),
                cancel(),
                "community A",
            ),
            Row(
                "POST",
                "/tasks/{id:int}/occurrences/cancel",
                who(403, staff=200, admin=200, other_staff=404, team_leader=200),
                cancel(team_id=m.led_team.id),
                "a task of the leader's team",
            ),
            Row(
                "POST",
                "/tasks/{id:int}/occurrences/cancel",
                who(404, other_staff=200, admin=200),
                cancel(community=m.b),
                "community B",
            ),
        ],
    )


async def test_callouts_matrix(m: Matrix):
    """Staff call their community's volunteers out and see the headcount; nobody else does."""
    alarm = {"title": "暴雨预警", "message": "请今晚8点前到社区服务站集合。"}

    async def created_check(caller: str, r: httpx.Response) -> list[str]:
        body = r.json()
        return [] if body["recipients"] == 2 else [f"not the two volunteers: {r.text[:200]}"]

    async def headcount_check(caller: str, r: httpx.Response) -> list[str]:
        body = r.json()
        counts = (body["recipients"], body["acknowledged"], body["community_id"])
        return [] if counts == (2, 0, m.a) else [f"not the call-out's headcount: {r.text[:200]}"]

    async def fresh_callout(caller: str) -> Req:
        callout = await callouts.call_out(
            m.hub, await m.actor("staff"), m.a, {**alarm, "target": {"kind": "everyone"}}
        )
        return fixed({"id": callout.id})

    team = {**alarm, "target": {"kind": "team", "value": m.care_team.id}}
    await m.run(
        "callouts",
        [
            Row(
                "POST",
                "/communities/{cid:int}/callouts",
                who(403, staff=201, admin=201),
                fixed({"cid": m.a}, team),
                "community A's care team",
                check=created_check,
            ),
            Row(
                "POST",
                "/communities/{cid:int}/callouts",
                who(404),
                fixed({"cid": 999999}, team),
                "no such community",
            ),
            Row(
                "GET",
                "/callouts/{id:int}",
                who(404, staff=200, admin=200),
                fresh_callout,
                "community A's call-out",
                check=headcount_check,
            ),
            Row("GET", "/callouts/{id:int}", who(404), fixed({"id": 999999}), "no such call-out"),
        ],
    )


async def test_emergency_matrix(m: Matrix):
    """Anyone logged in sees whether a community is in emergency mode (its banner is a public
    notice), only its staff see the call-out it sent; staff and admins switch it on and off."""
    staff = await m.actor("staff")
    body = {"reason": "暴雨红色预警", "message": "请到社区服务站集合。", "categories": ["errand"]}

    async def off(caller: str) -> Req:
        if (await emergency.state(staff, m.a)).active:
            await emergency.end(m.hub, staff, m.a)
        return fixed({"cid": m.a}, body)

    async def on(caller: str) -> Req:
        if not (await emergency.state(staff, m.a)).active:
            await emergency.start(m.hub, staff, m.a, body)
        return fixed({"cid": m.a}, {"note": "雨停了"})

    async def state_check(caller: str, r: httpx.Response) -> list[str]:
        state = r.json()
        sees_callout = caller in ("staff", "admin")
        if state["active"] and (state["callout_id"] is not None) != sees_callout:
            return [f"the call-out shown to the wrong people: {r.text[:200]}"]
        return [] if state["reason"] == body["reason"] else [f"not the state: {r.text[:200]}"]

    async def started_check(caller: str, r: httpx.Response) -> list[str]:
        state = r.json()
        ok = state["active"] and state["categories"] == ["errand"] and state["callout_id"]
        return [] if ok else [f"not switched on: {r.text[:200]}"]

    async def ended_check(caller: str, r: httpx.Response) -> list[str]:
        return [] if not r.json()["active"] else [f"still on: {r.text[:200]}"]

    await m.run(
        "emergency",
        [
            Row(
                "POST",
                "/communities/{cid:int}/emergency",
                who(403, staff=201, admin=201),
                off,
                "community A, off",
                check=started_check,
            ),
            Row(
                "POST",
                "/communities/{cid:int}/emergency",
                who(404),
                fixed({"cid": 999999}, body),
                "no such community",
            ),
            Row(
                "GET",
                "/communities/{cid:int}/emergency",
                LOGGED_IN,
                on,
                "community A, on",
                check=state_check,
            ),
            Row(
                "GET",
                "/communities/{cid:int}/emergency",
                who(404),
                fixed({"cid": 999999}),
                "no such community",
            ),
            Row(
                "DELETE",
                "/communities/{cid:int}/emergency",
                who(403, staff=200, admin=200),
                on,
                "community A, on",
                check=ended_check,
            ),
            Row(
                "DELETE",
                "/communities/{cid:int}/emergency",
                who(404),
                fixed({"cid": 999999}),
                "no such community",
            ),
        ],
    )


async def test_open311_keys_matrix(m: Matrix):
    """Staff of a community (and admins) make, list and revoke its integrators' keys; the
    key is in the answer to its making only; revoking is refused for another community's."""
    made: list[str] = []
    scopes = ["requests:read", "requests:post"]

    async def created_check(caller: str, r: httpx.Response) -> list[str]:
        body = r.json()
        made.append(body["key"])
        if not body["key"].startswith("o311_") or body["scopes"] != sorted(scopes):
            return [f"not a new key with its scopes: {r.text[:200]}"]
        return []

    async def listed_check(caller: str, r: httpx.Response) -> list[str]:
        problems = [f"a key is listed: {r.text[:200]}" for key in made if key in r.text]
        items = r.json()["items"]
        if not items or any("key" in item for item in items):
            problems.append(f"not the keys without their secrets: {r.text[:200]}")
        return problems

    async def fresh_key(community: int):
        async def req(caller: str) -> Req:
            staff = m.w.staff if community == m.a else m.other.staff
            key, _ = await open311_keys.create_key(
                m.hub, staff, community, {"name": f"12345热线{m.serial()}", "scopes": scopes}
            )
            return fixed({"cid": m.a, "kid": key.id})

        return req

    async def revoked_check(caller: str, r: httpx.Response) -> list[str]:
        return [] if r.json()["revoked_at"] else [f"not revoked: {r.text[:200]}"]

    body = {"name": "12345热线", "scopes": scopes}
    revoke = "/communities/{cid:int}/open311-keys/{kid:int}/revoke"
    await m.run(
        "open311_keys",
        [
            Row(
                "POST",
                "/communities/{cid:int}/open311-keys",
                who(403, staff=201, admin=201),
                fixed({"cid": m.a}, body),
                "community A",
                check=created_check,
            ),
            Row(
                "POST",
                "/communities/{cid:int}/open311-keys",
                who(404),
                fixed({"cid": 999999}, body),
                "no such community",
            ),
            Row(
                "GET",
                "/communities/{cid:int}/open311-keys",
                who(403, staff=200, admin=200),
                fixed({"cid": m.a}),
                "community A",
                check=listed_check,
            ),
            Row(
                "POST",
                revoke,
                who(403, staff=200, admin=200),
                await fresh_key(m.a),
                "community A's key",
                check=revoked_check,
            ),
            Row(
                "POST",
                revoke,
                who(403, staff=404, admin=404),
                await fresh_key(m.b),
                "community B's key under A",
            ),
            Row("POST", revoke, who(404), fixed({"cid": 999999, "kid": 1}), "no such community"),
        ],
    )


async def test_plugins_matrix(m: Matrix):
    """Plugins and every community's plugin settings: administrators only."""

    async def listed(caller: str, r: httpx.Response) -> list[str]:
        names = {p["name"] for p in r.json()["items"]}
        return [] if "volunteer_hub.default_plugins.catalog" in names else [r.text[:200]]

    await m.run("plugins", [Row("GET", "/plugins", who(403, admin=200), check=listed)])


async def test_invitations_matrix(m: Matrix):
    """Staff invite to their community's wishes and tasks; a team leader to the team's tasks.

    Who may not see the wish gets 404; who sees it but is not staff, 403. The invitee must
    be someone who may claim the wish (422 otherwise); a wish that is not open is 409.
    """

    def to_wish(state: str, person: str = "volunteer2", **kw):
        async def req(caller: str) -> Req:
            wish = await m.fresh_wish(state, **kw)
            return fixed({"id": wish.id}, {"person_id": m.people[person].id})

        return req

    def to_task(person_id: Callable[[], Awaitable[int]], community: int | None = None, **extra):
        async def req(caller: str) -> Req:
            starts = datetime.fromisoformat("2026-12-05T09:00:00+08:00")
            task = await m.fresh_task(starts=starts, community=community, **extra)
            return fixed({"id": task.id}, {"person_id": await person_id()})

        return req

    async def resident() -> int:
        return m.people["resident"].id

    async def team_member() -> int:
        volunteer = await m.actor("volunteer2")
        if m.led_team.id not in await active_team_ids(volunteer.id):
            await teams.join_team(m.hub, volunteer, m.led_team.id)
        return volunteer.id

    async def of_community_b() -> int:
        return m.other.grid_worker.id

    async def invitation_of_volunteer(caller: str) -> Req:
        """A fresh open errand to which staff invited the volunteer: only they answer it."""
        wish = await m.fresh_wish("open")
        volunteer = m.people["volunteer"].id
        await invitations.invite_to_wish(
            m.hub, await m.actor("staff"), wish.id, {"person_id": volunteer}
        )
        row = await Invitation.get(wish_id=wish.id, person_id=volunteer)
        return fixed({"id": row.id}, {"reason": "这周不在家"})

    def answered(status: str) -> Check:
        async def check(caller: str, r: httpx.Response) -> list[str]:
            return [] if r.json()["status"] == status else [f"not {status}: {r.text[:200]}"]

        return check

    async def mine(caller: str, r: httpx.Response) -> list[str]:
        ids = {i["id"] for i in r.json()["items"]}
        own = set(
            await Invitation.filter(person_id=m.people[caller].id).values_list("id", flat=True)
        )
        return [] if ids == own else [f"not the caller's invitations: {r.text[:200]}"]

    async def resident_invited(caller: str, r: httpx.Response) -> list[str]:
        body = r.json()
        if body["person_id"] != m.people["resident"].id or "occurrence_start" not in body:
            return [f"not the resident's invitation: {r.text[:200]}"]
        return []

    await m.run(
        "invitations",
        [
            Row(
                "POST",
                "/wishes/{id:int}/invitations",
                who(404, resident=403, volunteer=403, staff=201, admin=201),
                to_wish("open"),
                "an open errand, a volunteer",
            ),
            Row(
                "POST",
                "/wishes/{id:int}/invitations",
                who(404, resident=403, staff=422, admin=422),
                to_wish("open", category="psychology"),
                "psychology, an unqualified volunteer",
            ),
            Row(
                "POST",
                "/wishes/{id:int}/invitations",
                who(404, resident=403, volunteer=403, staff=409, admin=409),
                to_wish("claimed"),
                "claimed already",
            ),
            Row(
                "POST",
                "/tasks/{id:int}/invitations",
                who(403, staff=201, admin=201, other_staff=404),
                to_task(resident),
                "community A, no team",
                check=resident_invited,
            ),
            Row(
                "POST",
                "/tasks/{id:int}/invitations",
                who(403, staff=201, admin=201, other_staff=404, team_leader=201),
                to_task(team_member, team_id=m.led_team.id),
                "a task of the leader's team, one of its members",
            ),
            Row(
                "POST",
                "/tasks/{id:int}/invitations",
                who(404, other_staff=201, admin=201),
                to_task(of_community_b, community=m.b),
                "community B",
            ),
            Row("GET", "/me/invitations", LOGGED_IN, check=mine),
            Row(
                "POST",
                "/invitations/{id:int}/accept",
                who(404, volunteer=200),
                invitation_of_volunteer,
                "the volunteer's invitation",
                check=answered("accepted"),
            ),
            Row(
                "POST",
                "/invitations/{id:int}/decline",
                who(404, volunteer=200),
                invitation_of_volunteer,
                "the volunteer's invitation",
                check=answered("declined"),
            ),
            Row(
                "GET",
                "/wishes/{id:int}/invitations",
                who(404, resident=403, volunteer=403, staff=200, admin=200),
                to_wish("open"),
                "an open errand",
            ),
        ],
    )


async def test_referrals_matrix(m: Matrix):
    """Staff manage their community's responsible contacts; nobody else does. A referral's
    link is its own credential: anyone holding it (logged in or not) sees the wish without
    personal data and answers; a wrong token is 404 for everyone, an expired link 409."""
    staff = await m.actor("staff")
    await channels.configure(
        m.hub,
        staff,
        m.a,
        {"code": "webhook", "name": "短信网关", "settings": {"url": "http://127.0.0.1:9/hook"}},
    )
    section = {
        "level": "blue",
        "name": "街道办设施科",
        "channel_code": "webhook",
        "address": "13900139000",
    }
    await referrals.add_contact(m.hub, staff, m.a, section)
    tokens: list[str] = []

    async def catch(hub, pending):
        tokens.append(pending.secret[referrals.TOKEN_SECRET])

    m.hub.events.subscribe("wish.referred", catch)

    async def fresh_token(caller: str) -> Req:
        wish = await m.fresh_wish("open")
        await wishes.escalate(m.hub, staff, wish.id, {"level": "blue"})
        return fixed({"token": tokens[-1]}, {"note": "已处理"})

    async def expired_token(caller: str) -> Req:
        """A link sent its lifetime ago: it no longer answers, whoever holds it."""
        req = await fresh_token(caller)
        await Referral.filter(token_hash=secret_digest(req.params["token"])).update(
            notified_at=m.hub.now() - referrals.LINK_LIFETIME
        )
        return req

    async def fresh_contact(caller: str) -> Req:
        contact = await referrals.add_contact(m.hub, staff, m.a, {**section, "name": "物业公司"})
        return fixed({"id": contact.id})

    async def shows_the_wish(caller: str, r: httpx.Response) -> list[str]:
        body = r.json()
        return [] if body["level"] == "blue" and body["title"] else [r.text[:200]]

    bad = fixed({"token": "no-such-token"}, {"note": "已处理"})
    anyone = who(200, anonymous=200)
    expired = who(409, anonymous=409)
    await m.run(
        "referrals",
        [
            Row(
                "GET",
                "/communities/{cid:int}/responsible-contacts",
                who(403, staff=200, admin=200),
                fixed({"cid": m.a}),
                "community A",
            ),
            Row(
                "GET",
                "/communities/{cid:int}/responsible-contacts",
                who(404),
                fixed({"cid": 999999}),
                "no such community",
            ),
            Row(
                "POST",
                "/communities/{cid:int}/responsible-contacts",
                who(403, staff=201, admin=201),
                fixed({"cid": m.a}, section),
                "community A",
            ),
            Row(
                "POST",
                "/communities/{cid:int}/responsible-contacts",
                who(404),
                fixed({"cid": 999999}, section),
                "no such community",
            ),
            Row(
                "DELETE",
                "/responsible-contacts/{id:int}",
                who(404, staff=204, admin=204),
                fresh_contact,
                "community A's contact",
            ),
            Row("GET", "/referrals/{token}", anyone, fresh_token, "its link", shows_the_wish),
            Row("GET", "/referrals/{token}", who(404, anonymous=404), bad, "a wrong token"),
            Row(
                "POST",
                "/referrals/{token}/acknowledge",
                anyone,
                fresh_token,
                "its link",
                shows_the_wish,
            ),
            Row(
                "POST",
                "/referrals/{token}/acknowledge",
                who(404, anonymous=404),
                bad,
                "a wrong token",
            ),
            Row(
                "POST",
                "/referrals/{token}/resolve",
                anyone,
                fresh_token,
                "its link",
                shows_the_wish,
            ),
            Row(
                "POST", "/referrals/{token}/resolve", who(404, anonymous=404), bad, "a wrong token"
            ),
            Row("GET", "/referrals/{token}", expired, expired_token, "an expired link"),
            Row(
                "POST", "/referrals/{token}/acknowledge", expired, expired_token, "an expired link"
            ),
            Row("POST", "/referrals/{token}/resolve", expired, expired_token, "an expired link"),
        ],
    )


async def test_no_shows_matrix(m: Matrix):
    """One's own no-shows for everyone logged in; a community's for its staff (an admin);
    excusing one for its staff and, for a shift, the leader of the task's team: other
    members of the community 403, others 404; excused already 409."""

    async def no_show_id(team: bool = False, community: int | None = None) -> int:
        """A no-show of a volunteer, on a shift that started a minute ago (marked by admin)."""
        extra = {}
        key = "volunteer"
        if team:
            extra, key = {"team_id": m.led_team.id}, "volunteer2"
            volunteer = await m.actor(key)
            if m.led_team.id not in await active_team_ids(volunteer.id):
                await teams.join_team(m.hub, volunteer, m.led_team.id)
        starts = m.hub.now() + timedelta(minutes=1)
        task = await m.fresh_task(starts=starts, community=community, **extra)
        if community == m.b:
            person = m.other.grid_worker
        else:
            person = await m.actor(key)
        signup = await tasks.sign_up(m.hub, person, task.id, {})
        m.hub.clock.advance(minutes=2)
        await roster.mark_no_show(m.hub, await m.actor("admin"), signup.id)
        (mine,) = [v for v in await no_shows.my_no_shows(m.hub, person, limit=1)]
        return mine.id

    def fresh(excused: bool = False, **kw):
        async def req(caller: str) -> Req:
            found = await no_show_id(**kw)
            if excused:
                await no_shows.excuse(m.hub, await m.actor("admin"), found, {"note": "已说明"})
            return fixed({"id": found}, {"note": "家里临时有事"})

        return req

    await no_show_id()  # the volunteer has one to see

    async def own_only(caller: str, r: httpx.Response) -> list[str]:
        items = r.json()["items"]
        mine = m.people[caller].id if caller in m.people else None
        wrong = [i for i in items if i["person_id"] != mine]
        if caller == "volunteer" and not items:
            wrong.append("the volunteer's own no-show is missing")
        return [f"not the caller's: {wrong}"] if wrong else []

    async def of_community(caller: str, r: httpx.Response) -> list[str]:
        items = r.json()["items"]
        return [] if items and all(i["may_excuse"] for i in items) else [r.text[:200]]

    await m.run(
        "no_shows",
        [
            Row("GET", "/me/no-shows", LOGGED_IN, check=own_only),
            Row(
                "GET",
                "/communities/{cid:int}/no-shows",
                who(403, staff=200, admin=200),
                fixed({"cid": m.a}),
                "community A",
                check=of_community,
            ),
            Row(
                "GET",
                "/communities/{cid:int}/no-shows",
                who(403, other_staff=200, admin=200),
                fixed({"cid": m.b}),
                "community B",
            ),
            Row(
                "POST",
                "/no-shows/{id:int}/excuse",
                who(403, staff=200, admin=200, other_staff=404),
                fresh(),
                "a shift of community A",
            ),
            Row(
                "POST",
                "/no-shows/{id:int}/excuse",
                who(403, staff=200, admin=200, other_staff=404, team_leader=200),
                fresh(team=True),
                "a shift of the leader's team",
            ),
            Row(
                "POST",
                "/no-shows/{id:int}/excuse",
                who(404, other_staff=200, admin=200),
                fresh(community=m.b),
                "community B",
            ),
            Row(
                "POST",
                "/no-shows/{id:int}/excuse",
                who(403, staff=409, admin=409, other_staff=404),
                fresh(excused=True),
                "excused already",
            ),
            Row(
                "POST",
                "/no-shows/{id:int}/excuse",
                who(404),
                fixed({"id": 999999}, {"note": "没来"}),
            ),
        ],
    )


# --- the optimal fair roster (issue 13) --------------------------------------------------------


async def test_roster_plans_matrix(m: Matrix):
    """Only staff of the plan's community (and admins) make, see, adjust, accept or discard a
    roster plan; anyone else logged in gets 403 for making one and 404 for a plan."""
    from volunteer_hub.models import RosterAssignment, RosterPlan, RosterPlanStatus

    spread = {"histogram": [0, 1], "max": 1, "mean": 1.0, "none": 0}
    summary = {
        "occurrences": 1,
        "places": 1,
        "assigned": 1,
        "left_open": 0,
        "candidates": 1,
        "before": spread,
        "after": spread,
    }

    def plan_req(body: Any = None, swap_to: str | None = None):
        async def req(caller: str) -> Req:
            starts = datetime.fromisoformat("2026-12-08T09:00:00+08:00")
            task = await m.fresh_task(starts=starts)
            plan = await RosterPlan.create(
                community_id=m.a,
                period_start=datetime.fromisoformat("2026-12-07T00:00:00+08:00"),
                period_end=datetime.fromisoformat("2026-12-14T00:00:00+08:00"),
                status=RosterPlanStatus.DRAFT,
                summary=summary,
                created_at=m.hub.now(),
            )
            a = await RosterAssignment.create(
                plan_id=plan.id,
                task_id=task.id,
                occurrence_start=task.starts_at,
                person_id=m.people["volunteer"].id,
                score=0.5,
                reasons=[{"zh-CN": "工作人员调整", "en": "Chosen by staff"}],
            )
            if swap_to is not None:
                body_ = {"person_id": m.other.grid_worker.id}
            else:
                body_ = body
            return fixed({"id": plan.id, "aid": a.id}, body_)

        return req

    owners = {"staff": 200, "admin": 200}
    await m.run(
        "roster_plans",
        [
            Row(
                "POST",
                "/communities/{cid:int}/roster-plans",
                who(403, staff=201, admin=201),
                fixed({"cid": m.a}, {"start": "2026-12-07"}),
                "community A, next week",
            ),
            Row("GET", "/roster-plans/{id:int}", who(404, **owners), plan_req(), "a draft"),
            Row(
                "POST",
                "/roster-plans/{id:int}/accept",
                who(404, **owners),
                plan_req(),
                "a draft",
            ),
            Row(
                "POST",
                "/roster-plans/{id:int}/discard",
                who(404, **owners),
                plan_req(),
                "a draft",
            ),
            Row(
                "DELETE",
                "/roster-plans/{id:int}/assignments/{aid:int}",
                who(404, staff=204, admin=204),
                plan_req(),
                "a draft's place",
            ),
            Row(
                "PUT",
                "/roster-plans/{id:int}/assignments/{aid:int}",
                who(404, staff=422, admin=422),
                plan_req(swap_to="other"),
                "a draft's place, to someone of another community",
            ),
        ],
    )


async def test_availability_matrix(m: Matrix):
    """Anyone logged in sets their own weekly free times; the resident of a served wish, and
    staff of its community, ask not to be sent its claimer again (409 while nobody served it)."""

    def wish(state: str):
        async def req(caller: str) -> Req:
            return fixed({"id": (await m.fresh_wish(state)).id})

        return req

    async def same_slots(caller: str, r: httpx.Response) -> list[str]:
        wanted = [{"weekday": 2, "start": "09:00", "end": "12:00"}]
        return [] if r.json()["slots"] == wanted else [f"slots are {r.text[:200]}"]

    speaks_for_resident = who(404, resident=200, volunteer=403, staff=200, admin=200)
    await m.run(
        "availability",
        [
            Row("GET", "/me/availability", LOGGED_IN),
            Row(
                "PUT",
                "/me/availability",
                LOGGED_IN,
                fixed(body={"slots": [{"weekday": 2, "start": "09:00", "end": "12:00"}]}),
                "one slot",
                check=same_slots,
            ),
            Row(
                "POST",
                "/wishes/{id:int}/do-not-send",
                speaks_for_resident,
                wish("fulfilled"),
                "fulfilled by the volunteer",
            ),
            Row(
                "POST",
                "/wishes/{id:int}/do-not-send",
                who(404, resident=409, volunteer=403, staff=409, admin=409),
                wish("open"),
                "an open errand: nobody served it",
            ),
        ],
    )
