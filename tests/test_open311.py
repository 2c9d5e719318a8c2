"""Open311 GeoReport v2 over real ASGI: services, requests, privacy, errors in JSON and XML."""

from __future__ import annotations

import ast
import dataclasses
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

import pytest

import volunteer_hub
from tests.factories import PASSWORD, World
from volunteer_hub.models import AuditEntry, Open311Key, Role, Wish, WishStatus
from volunteer_hub.services import open311, open311_keys, wishes
from volunteer_hub.services.access import Actor

BASE = "/open311/v2"
BOTH = ("requests:read", "requests:post")


async def login(api, actor: Actor) -> str:
    r = await api.post(
        "/api/v1/auth/login", json={"phone": actor.person.phone, "password": PASSWORD}
    )
    assert r.status_code == 200, r.text
    return r.json()["token"]


async def make_key(api, staff: Actor, scopes=BOTH, name: str = "12345热线") -> str:
    """An integrator's key, made over HTTP by staff of the community (or an admin)."""
    token = await login(api, staff)
    cid = staff.person.community_id
    r = await api.post(
        f"/api/v1/communities/{cid}/open311-keys",
        json={"name": name, "scopes": list(scopes)},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert r.status_code == 201, r.text
    return r.json()["key"]


async def api_key(api, s: Seeded, scopes=BOTH) -> str:
    return await make_key(api, s.w.staff, scopes)


def xml(r) -> ET.Element:
    assert r.headers["content-type"].startswith("application/xml"), r.headers
    return ET.fromstring(r.content)


def xml_errors(r) -> list[tuple[str, str]]:
    root = xml(r)
    assert root.tag == "errors"
    return [(e.findtext("code"), e.findtext("description")) for e in root.findall("error")]


def json_errors(r) -> list[dict]:
    body = r.json()
    assert isinstance(body, list) and body, body
    assert all(set(e) == {"code", "description"} for e in body), body
    assert all(e["code"] == r.status_code and e["description"] for e in body), body
    return body


@dataclass
class Seeded:
    w: World
    other: World
    resident: Actor
    volunteer: Actor
    submitted: Wish
    open: Wish
    claimed: Wish
    confirmed: Wish
    restricted: Wish
    rejected: Wish
    foreign: Wish
    secrets: list[str]

    @property
    def cid(self) -> int:
        return self.w.community.id


async def post(w: World, actor: Actor, title: str, description: str, category: str) -> Wish:
    return await wishes.post(
        w.hub,
        actor,
        actor.person.community_id,
        {"title": title, "description": description, "category": category},
    )


@pytest.fixture
async def s(hub) -> Seeded:
    w = await World(hub).build()
    other = await World(hub).build_other(w)
    team = await w.team("elderly_care")
    volunteer = await w.volunteer("李志愿", team=team)
    resident = await w.person("王秀英")
    staff = w.staff

    async def approved(wish: Wish) -> Wish:
        return await wishes.review(hub, staff, wish.id, {"decision": "approve"})

    # A day earlier than the rest: for the date filters.
    opened = await approved(
        await post(w, resident, "帮忙取快递秘密甲", "快递在菜鸟驿站秘密描述甲", "errand")
    )
    hub.clock.advance(days=2)  # 2026-12-03 09:00 in Shanghai
    claimed = await approved(
        await post(
            w, resident, "陪同去医院秘密乙", "周四上午去市第一医院秘密描述乙", "elderly_care"
        )
    )
    claimed = await wishes.claim(hub, volunteer, claimed.id)
    confirmed = await approved(
        await post(w, resident, "修理水龙头秘密丙", "厨房水龙头漏水秘密描述丙", "errand")
    )
    await wishes.claim(hub, volunteer, confirmed.id)
    await wishes.fulfil(hub, volunteer, confirmed.id, {"note": "已完成"})
    confirmed = await wishes.confirm(hub, resident, confirmed.id, {"rating": 5})
    restricted = await approved(
        await post(w, resident, "孩子学习压力大秘密丁", "孩子最近失眠秘密描述丁", "psychology")
    )
    submitted = await post(
        w, resident, "辅导数学秘密戊", "想请人辅导孩子数学秘密描述戊", "tutoring"
    )
    rejected = await post(w, resident, "换灯泡秘密己", "楼道灯泡坏了秘密描述己", "repair")
    rejected = await wishes.review(
        hub, staff, rejected.id, {"decision": "reject", "reason": "物业负责维修"}
    )
    neighbour = await other.person("赵邻居")
    foreign = await wishes.review(
        hub,
        other.staff,
        (await post(other, neighbour, "别社区的心愿", "别社区的描述秘密庚", "errand")).id,
        {"decision": "approve"},
    )
    secrets = [
        resident.person.name,
        resident.person.phone,
        resident.person.address,
        "秘密",  # every seeded title and description carries it
        "物业负责维修",
    ]
    return Seeded(
        w,
        other,
        resident,
        volunteer,
        submitted,
        opened,
        claimed,
        confirmed,
        restricted,
        rejected,
        foreign,
        secrets,
    )


async def get_requests(api, s: Seeded, fmt: str = "json", **params) -> list[dict]:
    r = await api.get(f"{BASE}/requests.{fmt}", params={"jurisdiction_id": s.cid, **params})
    assert r.status_code == 200, r.text
    if fmt == "xml":
        root = xml(r)
        assert root.tag == "service_requests"
        return [{c.tag: c.text for c in e} for e in root.findall("request")]
    return r.json()


def ids(items: list[dict]) -> set[int]:
    return {int(i["service_request_id"]) for i in items}


# --- services --------------------------------------------------------------------------------


async def test_services_json(api, s):
    r = await api.get(f"{BASE}/services.json", params={"jurisdiction_id": s.cid})
    assert r.status_code == 200 and r.headers["content-type"].startswith("application/json")
    services = {x["service_code"]: x for x in r.json()}
    assert services.keys() == s.w.hub.wish_categories(s.cid).keys()
    for x in services.values():
        assert set(x) == {
            "service_code",
            "service_name",
            "description",
            "metadata",
            "type",
            "keywords",
            "group",
        }
        assert x["metadata"] is False and x["type"] == "realtime"
    assert services["elderly_care"]["service_name"] == "助老"
    assert services["elderly_care"]["group"] == "助老服务队"
    assert "资质" in services["psychology"]["description"]
    r = await api.get(
        f"{BASE}/services.json",
        params={"jurisdiction_id": s.cid},
        headers={"Accept-Language": "en-US,en;q=0.9"},
    )
    english = {x["service_code"]: x for x in r.json()}
    assert english["elderly_care"]["service_name"] == "Elderly care"
    assert english["public_facility"]["description"].startswith("Referred")


async def test_services_xml(api, s):
    r = await api.get(f"{BASE}/services.xml", params={"jurisdiction_id": s.cid})
    assert r.status_code == 200
    root = xml(r)
    assert root.tag == "services"
    services = root.findall("service")
    assert {e.findtext("service_code") for e in services} == set(s.w.hub.wish_categories(s.cid))
    first = services[0]
    assert [c.tag for c in first] == [
        "service_code",
        "service_name",
        "description",
        "metadata",
        "type",
        "keywords",
        "group",
    ]
    assert first.findtext("metadata") == "false" and first.findtext("type") == "realtime"
    names = {e.findtext("service_code"): e.findtext("service_name") for e in services}
    assert names["errand"] == "跑腿代办"


async def test_service_definition(api, s):
    r = await api.get(f"{BASE}/services/errand.json", params={"jurisdiction_id": s.cid})
    assert r.status_code == 200
    assert r.json() == {"service_code": "errand", "attributes": []}
    r = await api.get(f"{BASE}/services/errand.xml", params={"jurisdiction_id": s.cid})
    root = xml(r)
    assert root.tag == "service_definition"
    assert root.findtext("service_code") == "errand"
    assert root.find("attributes") is not None and len(root.find("attributes")) == 0
    r = await api.get(f"{BASE}/services/unicorns.json", params={"jurisdiction_id": s.cid})
    assert r.status_code == 404 and json_errors(r)
    r = await api.get(f"{BASE}/services/unicorns.xml", params={"jurisdiction_id": s.cid})
    assert r.status_code == 404 and xml_errors(r)[0][0] == "404"


@pytest.mark.parametrize(
    ("params", "status"),
    [
        ({}, 400),
        ({"jurisdiction_id": ""}, 400),
        ({"jurisdiction_id": "abc"}, 400),
        ({"jurisdiction_id": "-1"}, 400),
        ({"jurisdiction_id": "1.5"}, 400),
        ({"jurisdiction_id": "9" * 5000}, 400),
        ({"jurisdiction_id": "0"}, 404),
        ({"jurisdiction_id": "99999"}, 404),
        ({"jurisdiction_id": "99999999999999999"}, 404),
    ],
)
@pytest.mark.parametrize("path", ["services", "services/errand", "requests", "requests/1"])
async def test_jurisdiction_is_required_and_must_exist(api, s, params, status, path):
    r = await api.get(f"{BASE}/{path}.json", params=params)
    assert r.status_code == status, r.text
    json_errors(r)
    r = await api.get(f"{BASE}/{path}.xml", params=params)
    assert r.status_code == status
    assert xml_errors(r)[0][0] == str(status)


# --- posting ---------------------------------------------------------------------------------


async def test_post_request_json(api, s):
    key = await api_key(api, s, ["requests:post"])
    before = await Wish.all().count()
    r = await api.post(
        f"{BASE}/requests.json",
        data={
            "jurisdiction_id": s.cid,
            "service_code": "errand",
            "api_key": key,
            "description": "请帮忙去药店买降压药\n药方在门口的信箱里",
            "address_string": "幸福里5号楼1单元",
            "first_name": "忽略",
            "email": "ignored@example.com",
            "attribute[x]": "ignored",
        },
    )
    assert r.status_code == 201, r.text
    [answer] = r.json()
    assert set(answer) == {"service_request_id", "service_notice", "account_id"}
    assert answer["account_id"] == s.w.staff.id and "审核" in answer["service_notice"]
    wish = await Wish.get(id=answer["service_request_id"])
    assert await Wish.all().count() == before + 1
    assert wish.status is WishStatus.SUBMITTED
    assert wish.category == "errand" and wish.community_id == s.cid
    # Posted by the staff member who made the key, for the integrator; the key is on record.
    row = await Open311Key.get(community_id=s.cid)
    assert wish.resident_id == wish.posted_by_id == s.w.staff.id
    assert wish.open311_key_id == row.id
    entry = await AuditEntry.get(action="wish.posted", entity_id=wish.id)
    assert entry.actor_id == s.w.staff.id and entry.after["open311_key_id"] == row.id
    assert wish.title == "请帮忙去药店买降压药"
    assert wish.description == "请帮忙去药店买降压药\n药方在门口的信箱里\n\n地点：幸福里5号楼1单元"
    # The key reads it back at once, in full but for the staff member's address.
    [mine] = await get_requests(api, s, service_request_id=wish.id, api_key=key)
    assert mine["status"] == "open" and mine["description"] == wish.description
    assert mine["address"] is None


async def test_post_request_xml_with_coordinates_and_bearer(api, s):
    key = await api_key(api, s)
    r = await api.post(
        f"{BASE}/requests.xml",
        params={"jurisdiction_id": s.cid},
        data={"service_code": "errand", "lat": "39.9042", "long": "116.4074"},
        headers={"Authorization": f"Bearer {key}"},
    )
    assert r.status_code == 201, r.text
    root = xml(r)
    assert root.tag == "service_requests"
    [request] = root.findall("request")
    assert [c.tag for c in request] == ["service_request_id", "service_notice", "account_id"]
    wish = await Wish.get(id=int(request.findtext("service_request_id")))
    assert wish.title == "跑腿代办"  # no description: the service's name
    assert wish.description == "地点：39.9042, 116.4074"
    assert wish.status is WishStatus.SUBMITTED and wish.posted_by_id == s.w.staff.id
    assert wish.open311_key_id is not None


async def test_post_request_as_json_body(api, s):
    key = await api_key(api, s)
    r = await api.post(
        f"{BASE}/requests.json",
        json={
            "jurisdiction_id": s.cid,
            "service_code": "repair",
            "api_key": key,
            "description": "窗户关不上",
            "lat": 39.9,
            "long": 116.4,
            "address_string": "幸福里2号楼",
        },
    )
    assert r.status_code == 201, r.text
    wish = await Wish.get(id=r.json()[0]["service_request_id"])
    assert wish.description == "窗户关不上\n\n地点：幸福里2号楼（39.9, 116.4）"


@pytest.mark.parametrize("fmt", ["json", "xml"])
@pytest.mark.parametrize("key", [None, "", "not-a-token", "x" * 5000, "o311_" + "x" * 43, "login"])
async def test_post_without_a_valid_api_key_is_403(api, s, fmt, key):
    if key == "login":  # a login token is no api_key: integrators never hold one
        key = await login(api, s.w.staff)
    before = await Wish.all().count()
    data = {"jurisdiction_id": s.cid, "service_code": "errand", "address_string": "幸福里"}
    if key is not None:
        data["api_key"] = key
    r = await api.post(f"{BASE}/requests.{fmt}", data=data)
    assert r.status_code == 403, r.text
    if fmt == "json":
        assert "api_key" in json_errors(r)[0]["description"]
    else:
        assert xml_errors(r)[0][0] == "403"
    assert await Wish.all().count() == before


@pytest.mark.parametrize("fmt", ["json", "xml"])
async def test_revoked_api_key_is_403(api, s, fmt):
    key = await api_key(api, s)
    params = {"jurisdiction_id": s.cid, "api_key": key}
    r = await api.get(f"{BASE}/requests.{fmt}", params=params)
    assert r.status_code == 200
    row = await Open311Key.get(community_id=s.cid)
    token = await login(api, s.w.staff)
    r = await api.post(
        f"/api/v1/communities/{s.cid}/open311-keys/{row.id}/revoke",
        headers={"Authorization": f"Bearer {token}"},
    )
    assert r.status_code == 200 and r.json()["revoked_at"], r.text
    before = await Wish.all().count()
    for request in (
        api.get(f"{BASE}/requests.{fmt}", params=params),
        api.get(f"{BASE}/requests/{s.open.id}.{fmt}", params=params),
        api.get(
            f"{BASE}/requests.{fmt}",
            params={"jurisdiction_id": s.cid},
            headers={"Authorization": f"Bearer {key}"},
        ),
        api.post(
            f"{BASE}/requests.{fmt}",
            data={**params, "service_code": "errand", "address_string": "幸福里"},
        ),
    ):
        r = await request
        assert r.status_code == 403, r.text
        if fmt == "json":
            assert "api_key" in json_errors(r)[0]["description"]
        else:
            assert xml_errors(r)[0][0] == "403"
    assert await Wish.all().count() == before


@pytest.mark.parametrize("fmt", ["json", "xml"])
async def test_a_login_token_is_not_an_api_key(api, s, fmt):
    """Nobody's login token reads more than public information, as a query or a header."""
    token = await login(api, s.w.staff)
    for params, headers in (
        ({"api_key": token}, {}),
        ({}, {"Authorization": f"Bearer {token}"}),
    ):
        r = await api.get(
            f"{BASE}/requests.{fmt}", params={"jurisdiction_id": s.cid, **params}, headers=headers
        )
        assert r.status_code == 403, r.text
        r = await api.get(
            f"{BASE}/requests/{s.submitted.id}.{fmt}",
            params={"jurisdiction_id": s.cid, **params},
            headers=headers,
        )
        assert r.status_code == 403, r.text


@pytest.mark.parametrize(
    ("fields", "needle"),
    [
        ({"service_code": "unicorns"}, "service_code"),
        ({"service_code": ""}, "service_code"),
        ({"service_code": "x" * 500}, "service_code"),
        ({"address_string": ""}, "address_string"),
        ({"address_string": None}, "address_string"),
        ({"address_string": None, "address_id": "A-17"}, "address_string"),
        ({"address_string": None, "lat": "39.9"}, "long"),
        ({"address_string": None, "long": "116.4"}, "lat"),
        ({"address_string": None, "lat": "abc", "long": "116.4"}, "lat"),
        ({"address_string": None, "lat": "91", "long": "116.4"}, "lat"),
        ({"address_string": None, "lat": "nan", "long": "116.4"}, "lat"),
        ({"address_string": None, "lat": "39.9", "long": "inf"}, "long"),
        ({"address_string": "幸福里" * 100}, "address_string"),
        ({"description": "长" * 2001}, "description"),
        ({"description": "长" * 1995}, "description"),  # too long once the place is added
        ({"description": "坏\x00字符"}, "description"),
    ],
)
async def test_post_bad_input_is_400_and_writes_nothing(api, s, fields, needle):
    key = await api_key(api, s)
    data = {
        "jurisdiction_id": s.cid,
        "service_code": "errand",
        "api_key": key,
        "address_string": "幸福里5号楼",
        "description": "帮忙取快递",
    }
    data.update(fields)
    data = {k: v for k, v in data.items() if v is not None}
    before = await Wish.all().count()
    r = await api.post(f"{BASE}/requests.json", data=data)
    assert r.status_code == 400, r.text
    assert any(needle in e["description"] for e in json_errors(r)), r.json()
    r = await api.post(f"{BASE}/requests.xml", data=data)
    assert r.status_code == 400 and xml_errors(r)[0][0] == "400"
    assert await Wish.all().count() == before


async def test_post_needs_the_scope_the_jurisdiction_and_a_maker_still_staff(api, s):
    before = await Wish.all().count()
    data = {"jurisdiction_id": s.cid, "service_code": "errand", "address_string": "幸福里"}
    # Another community's key is no key here, for reading or posting.
    foreign = await make_key(api, s.other.staff)
    r = await api.post(f"{BASE}/requests.json", data={**data, "api_key": foreign})
    assert r.status_code == 403 and "api_key" in json_errors(r)[0]["description"]
    r = await api.get(f"{BASE}/requests.xml", params={"jurisdiction_id": s.cid, "api_key": foreign})
    assert r.status_code == 403 and xml_errors(r)[0][0] == "403"
    # A read-only key may not post.
    reader = await api_key(api, s, ["requests:read"])
    r = await api.post(f"{BASE}/requests.json", data={**data, "api_key": reader})
    assert r.status_code == 403 and json_errors(r)
    r = await api.post(f"{BASE}/requests.xml", data={**data, "api_key": reader})
    assert r.status_code == 403 and xml_errors(r)[0][0] == "403"
    # A key whose maker is no longer staff posts nothing.
    maker = await s.w.person("临时干部", roles=[Role.STAFF])
    key = await make_key(api, maker)
    await maker.person.roles.all().delete()
    r = await api.post(f"{BASE}/requests.json", data={**data, "api_key": key})
    assert r.status_code == 403 and json_errors(r)
    r = await api.post(f"{BASE}/requests.json", data={**data, "jurisdiction_id": 99999})
    assert r.status_code == 404 and json_errors(r)
    assert await Wish.all().count() == before


async def test_post_malformed_bodies(api, s):
    key = await api_key(api, s)
    url = f"{BASE}/requests.json?jurisdiction_id={s.cid}&api_key={key}"
    r = await api.post(url, content=b"{not json", headers={"content-type": "application/json"})
    assert r.status_code == 400 and json_errors(r)
    r = await api.post(url, content=b"[1, 2]", headers={"content-type": "application/json"})
    assert r.status_code == 400 and json_errors(r)
    r = await api.post(url, json={"service_code": ["errand"], "address_string": "幸福里"})
    assert r.status_code == 400 and json_errors(r)
    r = await api.post(url, files={"service_code": (None, "errand")})
    assert r.status_code == 400 and json_errors(r)
    r = await api.post(
        url,
        content=b"service_code=\xff\xfe",
        headers={"content-type": "application/x-www-form-urlencoded"},
    )
    assert r.status_code == 400 and json_errors(r)
    r = await api.post(
        url, content=b"a=1&" * 30000, headers={"content-type": "application/x-www-form-urlencoded"}
    )
    assert r.status_code == 413 and json_errors(r)
    r = await api.post(url.replace(".json", ".xml"), content=b"x" * 70000)
    assert r.status_code == 413 and xml_errors(r)[0][0] == "413"


# --- reading requests: what leaves without entitlement ----------------------------------------


@pytest.mark.parametrize("fmt", ["json", "xml"])
async def test_anonymous_sees_only_public_information(api, s, fmt):
    r = await api.get(f"{BASE}/requests.{fmt}", params={"jurisdiction_id": s.cid})
    assert r.status_code == 200
    for secret in s.secrets:
        assert secret not in r.text, secret
    items = await get_requests(api, s, fmt)
    # open, claimed and confirmed; not submitted, rejected, restricted or another community's.
    assert ids(items) == {s.open.id, s.claimed.id, s.confirmed.id}
    assert [int(i["service_request_id"]) for i in items] == sorted(ids(items), reverse=True)
    by_id = {int(i["service_request_id"]): i for i in items}
    assert by_id[s.confirmed.id]["status"] == "closed"
    assert by_id[s.claimed.id]["status"] == "open"
    for item in items:
        assert item["description"] is None and item["address"] is None
        assert item["status_notes"] is None
        assert item["agency_responsible"] == s.w.community.name
    expected_fields = [
        "service_request_id",
        "status",
        "status_notes",
        "service_name",
        "service_code",
        "description",
        "agency_responsible",
        "service_notice",
        "requested_datetime",
        "updated_datetime",
        "expected_datetime",
        "address",
        "address_id",
        "zipcode",
        "lat",
        "long",
        "media_url",
    ]
    assert list(items[0]) == expected_fields
    opened = by_id[s.open.id]
    assert opened["service_code"] == "errand" and opened["service_name"] == "跑腿代办"
    assert opened["requested_datetime"] == "2026-12-01T09:00:00+08:00"
    assert by_id[s.confirmed.id]["updated_datetime"] == "2026-12-03T09:00:00+08:00"


@pytest.mark.parametrize("fmt", ["json", "xml"])
async def test_read_scope_sees_what_every_volunteer_sees(api, s, fmt):
    key = await api_key(api, s, ["requests:read"])
    r = await api.get(f"{BASE}/requests.{fmt}", params={"jurisdiction_id": s.cid, "api_key": key})
    assert r.status_code == 200
    for secret in (s.resident.person.name, s.resident.person.phone, s.resident.person.address):
        assert secret not in r.text, secret
    items = {int(i["service_request_id"]): i for i in await get_requests(api, s, fmt, api_key=key)}
    # The public list, no more: not submitted, rejected, restricted or another community's.
    assert set(items) == {s.open.id, s.claimed.id, s.confirmed.id}
    empty = "" if fmt == "xml" else None  # an empty element in XML
    for wish in (s.open, s.claimed):  # open and claimed: in detail, as volunteers see them
        assert items[wish.id]["description"] == wish.description
    assert items[s.confirmed.id]["description"] in (None, empty)
    assert all(i["address"] in (None, empty) for i in items.values())
    for wish in (s.submitted, s.rejected, s.restricted, s.foreign):
        r = await api.get(
            f"{BASE}/requests/{wish.id}.{fmt}", params={"jurisdiction_id": s.cid, "api_key": key}
        )
        assert r.status_code == 404, r.text


async def test_post_scope_reads_back_its_own_requests_only(api, s):
    key = await api_key(api, s, ["requests:post"])
    other = await api_key(api, s, ["requests:post"])
    data = {"jurisdiction_id": s.cid, "service_code": "repair", "address_string": "幸福里"}
    r = await api.post(
        f"{BASE}/requests.json", data={**data, "api_key": key, "description": "门锁坏了"}
    )
    assert r.status_code == 201, r.text
    posted = r.json()[0]["service_request_id"]
    items = {i["service_request_id"]: i for i in await get_requests(api, s, api_key=key)}
    # Its own, though only submitted, in detail; the rest as anyone sees it.
    assert set(items) == {posted, s.open.id, s.claimed.id, s.confirmed.id}
    assert items[posted]["description"] == "门锁坏了\n\n地点：幸福里"
    assert items[s.open.id]["description"] is None
    await wishes.review(
        s.w.hub, s.w.staff, posted, {"decision": "reject", "reason": "物业负责维修"}
    )
    [mine] = await get_requests(api, s, api_key=key, service_request_id=posted)
    assert mine["status"] == "closed" and mine["status_notes"] == "审核意见：物业负责维修"
    # Another key of the same integrator kind sees nothing of it.
    assert posted not in ids(await get_requests(api, s, api_key=other))
    r = await api.get(
        f"{BASE}/requests/{posted}.json", params={"jurisdiction_id": s.cid, "api_key": other}
    )
    assert r.status_code == 404


async def test_escalation_and_referral_in_status_notes(api, s):
    await wishes.escalate(
        s.w.hub, s.w.staff, s.open.id, {"level": "blue", "referral": "街道办设施科"}
    )
    key = await api_key(api, s, ["requests:read"])
    [item] = await get_requests(api, s, api_key=key, service_request_id=s.open.id)
    assert item["status_notes"] == "已转办：街道办设施科 已吹哨：蓝牌。"
    [public] = await get_requests(api, s, service_request_id=s.open.id)
    assert public["status_notes"] is None


# --- filters ---------------------------------------------------------------------------------


async def test_filters(api, s):
    assert ids(await get_requests(api, s, status="closed")) == {s.confirmed.id}
    assert ids(await get_requests(api, s, status="open")) == {s.open.id, s.claimed.id}
    assert ids(await get_requests(api, s, status="open,closed")) == {
        s.open.id,
        s.claimed.id,
        s.confirmed.id,
    }
    assert ids(await get_requests(api, s, service_code="errand")) == {s.open.id, s.confirmed.id}
    assert ids(await get_requests(api, s, service_code="errand,elderly_care", status="open")) == {
        s.open.id,
        s.claimed.id,
    }
    assert ids(await get_requests(api, s, service_code="psychology")) == set()
    assert ids(await get_requests(api, s, service_code="unicorns")) == set()
    # service_request_id overrides the other filters; hidden and foreign ids are left out.
    wanted = f"{s.open.id},{s.confirmed.id},{s.submitted.id},{s.foreign.id},999999"
    got = await get_requests(api, s, service_request_id=wanted, status="open")
    assert ids(got) == {s.open.id, s.confirmed.id}
    # Dates: the open wish was posted on 12-01, the rest on 12-03 (Shanghai).
    assert ids(await get_requests(api, s, start_date="2026-12-02")) == {
        s.claimed.id,
        s.confirmed.id,
    }
    assert ids(await get_requests(api, s, end_date="2026-12-01")) == {s.open.id}
    assert ids(
        await get_requests(
            api, s, start_date="2026-12-01T09:00:00+08:00", end_date="2026-12-01T01:00:00Z"
        )
    ) == {s.open.id}
    assert (
        ids(
            await get_requests(
                api, s, start_date="2026-12-01T09:00:01+08:00", end_date="2026-12-02T23:59:59+08:00"
            )
        )
        == set()
    )
    # An unescaped "+" arrives as a space.
    assert ids(await get_requests(api, s, start_date="2026-12-02T00:00:00 08:00")) == {
        s.claimed.id,
        s.confirmed.id,
    }
    assert ids(await get_requests(api, s, start_date="2026-12", end_date="2026")) == {
        s.open.id,
        s.claimed.id,
        s.confirmed.id,
    }
    assert ids(await get_requests(api, s, start_date="2027-01-01")) == set()
    key = await api_key(api, s)
    posted = await api.post(
        f"{BASE}/requests.json",
        data={"jurisdiction_id": s.cid, "api_key": key, "service_code": "tutoring"}
        | {"address_string": "幸福里"},
    )
    mine = posted.json()[0]["service_request_id"]
    assert ids(await get_requests(api, s, api_key=key, status="closed")) == {s.confirmed.id}
    assert ids(await get_requests(api, s, api_key=key, status="open")) == {
        s.open.id,
        s.claimed.id,
        mine,
    }
    assert ids(await get_requests(api, s, api_key=key, end_date="2026-12-01")) == {s.open.id}
    assert ids(
        await get_requests(
            api, s, api_key=key, start_date="2026-12-02", service_code="tutoring,elderly_care"
        )
    ) == {s.claimed.id, mine}
    assert ids(await get_requests(api, s, "xml", api_key=key, status="closed")) == {s.confirmed.id}


@pytest.mark.parametrize(
    "params",
    [
        {"status": "pending"},
        {"status": "open," + "x" * 200},
        {"service_code": "<script>"},
        {"service_code": "x" * 5000},
        {"service_request_id": "abc"},
        {"service_request_id": "1,two"},
        {"service_request_id": ",".join(["1"] * 101)},
        {"service_request_id": "9" * 5000},
        {"start_date": "yesterday"},
        {"start_date": "2026-13-01"},
        {"start_date": "2026-02-30"},
        {"start_date": "2026-12-01T10:00"},  # no zone
        {"start_date": "2026-12-01T25:00:00+08:00"},
        {"start_date": "2026-12-01T10:00:00+08:99"},
        {"end_date": "0000-01-01"},
        {"end_date": "9999"},
        {"end_date": "2026-12-01" * 100},
        {"start_date": "2026-12-03", "end_date": "2026-12-01"},
        {"api_key": "not-a-token"},
    ],
)
async def test_bad_filters_are_4xx_in_the_right_format(api, s, params):
    r = await api.get(f"{BASE}/requests.json", params={"jurisdiction_id": s.cid, **params})
    assert 400 <= r.status_code < 500, r.text
    json_errors(r)
    r = await api.get(f"{BASE}/requests.xml", params={"jurisdiction_id": s.cid, **params})
    assert 400 <= r.status_code < 500
    assert xml_errors(r)[0][0] == str(r.status_code)


# --- one request -------------------------------------------------------------------------------


async def test_one_request(api, s):
    url = f"{BASE}/requests/{s.open.id}"
    r = await api.get(f"{url}.json", params={"jurisdiction_id": s.cid})
    assert r.status_code == 200
    [item] = r.json()
    assert item["service_request_id"] == s.open.id and item["description"] is None
    assert not any(secret in r.text for secret in s.secrets)
    r = await api.get(f"{url}.xml", params={"jurisdiction_id": s.cid})
    [request] = xml(r).findall("request")
    assert request.findtext("service_request_id") == str(s.open.id)
    assert request.findtext("description") == ""  # an empty element
    # Not public: 404 anonymously, 200 in full for the resident.
    url = f"{BASE}/requests/{s.submitted.id}.json"
    r = await api.get(url, params={"jurisdiction_id": s.cid})
    assert r.status_code == 404 and json_errors(r)
    key = await api_key(api, s)
    r = await api.get(url, params={"jurisdiction_id": s.cid, "api_key": key})
    assert r.status_code == 404 and json_errors(r)  # not for an integrator either
    r = await api.get(
        f"{BASE}/requests/{s.open.id}.json", params={"jurisdiction_id": s.cid, "api_key": key}
    )
    assert r.status_code == 200 and r.json()[0]["description"] == "快递在菜鸟驿站秘密描述甲"
    r = await api.get(f"{BASE}/requests/{s.restricted.id}.json", params={"jurisdiction_id": s.cid})
    assert r.status_code == 404


@pytest.mark.parametrize("who", [None, "key"])
async def test_another_communitys_request_is_404(api, s, who):
    params = {"jurisdiction_id": s.cid}
    if who == "key":
        params["api_key"] = await api_key(api, s)
    r = await api.get(f"{BASE}/requests/{s.foreign.id}.json", params=params)
    assert r.status_code == 404 and json_errors(r)
    r = await api.get(f"{BASE}/requests/{s.foreign.id}.xml", params=params)
    assert r.status_code == 404 and xml_errors(r)[0][0] == "404"
    # In its own jurisdiction it is public (with that jurisdiction's key, in detail).
    params = {"jurisdiction_id": s.other.community.id}
    r = await api.get(f"{BASE}/requests/{s.foreign.id}.json", params=params)
    assert r.status_code == 200 and r.json()[0]["description"] is None
    params["api_key"] = await make_key(api, s.other.staff, ["requests:read"])
    r = await api.get(f"{BASE}/requests/{s.foreign.id}.json", params=params)
    assert r.status_code == 200 and r.json()[0]["description"] == "别社区的描述秘密庚"


@pytest.mark.parametrize(
    "rid", ["999999", "0", "-1", "abc", "1e3", "9" * 40, "%00", "1.2", "%E5%BF%83"]
)
async def test_unknown_or_malformed_request_ids_are_404(api, s, rid):
    r = await api.get(f"{BASE}/requests/{rid}.json", params={"jurisdiction_id": s.cid})
    assert r.status_code == 404, r.text
    json_errors(r)
    r = await api.get(f"{BASE}/requests/{rid}.xml", params={"jurisdiction_id": s.cid})
    assert r.status_code == 404 and xml_errors(r)[0][0] == "404"


# --- routing errors ----------------------------------------------------------------------------


async def test_formats_paths_and_methods(api, s):
    r = await api.get(f"{BASE}/services.html", params={"jurisdiction_id": s.cid})
    assert r.status_code == 404 and json_errors(r)
    r = await api.get(f"{BASE}/services", params={"jurisdiction_id": s.cid})
    assert r.status_code == 404 and json_errors(r)
    r = await api.get(f"{BASE}/nothing/here.xml")
    assert r.status_code == 404 and xml_errors(r)[0][0] == "404"
    r = await api.get(f"{BASE}/SERVICES.JSON", params={"jurisdiction_id": s.cid})
    assert r.status_code == 404
    r = await api.get(f"{BASE}/services.XML", params={"jurisdiction_id": s.cid})
    assert r.status_code == 200 and xml(r).tag == "services"
    r = await api.delete(f"{BASE}/requests.json", params={"jurisdiction_id": s.cid})
    assert r.status_code == 405 and json_errors(r)
    assert r.headers["allow"] == "GET, HEAD, POST"
    r = await api.post(f"{BASE}/services.xml", params={"jurisdiction_id": s.cid})
    assert r.status_code == 405 and xml_errors(r)[0][0] == "405"
    r = await api.head(f"{BASE}/services.json", params={"jurisdiction_id": s.cid})
    assert r.status_code == 200
    r = await api.get(
        f"{BASE}/services.json",
        params={"jurisdiction_id": "x"},
        headers={"Accept-Language": "en"},
    )
    assert r.json()[0]["description"] == (
        "The input is not valid. jurisdiction_id: Must be a whole number."
    )
    r = await api.get(f"{BASE}/services.json", params={"jurisdiction_id": "x"})
    assert "jurisdiction_id" in r.json()[0]["description"] and "整数" in r.text


# --- the layers ----------------------------------------------------------------------------


def test_open311_web_layer_does_not_import_models():
    """The protocol, its parameters and its views take everything from the Open311 service."""
    package = Path(volunteer_hub.__file__).parent / "web" / "open311"
    modules = sorted(package.glob("*.py"))
    assert {p.name for p in modules} >= {"protocol.py", "params.py", "views.py"}
    for path in modules:
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module, *(f"{node.module}.{a.name}" for a in node.names)]
            else:
                continue
            for name in names:
                assert not name.startswith("volunteer_hub.models"), f"{path.name}: {name}"


async def test_service_views_hold_what_the_caller_may_see(hub, s):
    """The service's views: public facts for everyone, details only where a key reaches."""
    where = await open311.jurisdiction(s.cid)
    assert (where.name, where.timezone) == (s.w.community.name, s.w.community.timezone)
    _, key = await open311_keys.create_key(hub, s.w.staff, s.cid, {"name": "热线", "scopes": BOTH})
    holder = await open311.integrator(hub, where, key, required=True)
    everything = open311.RequestFilters()
    public = {v.id: v for v in await open311.list_requests(hub, where, None, everything)}
    keyed = {v.id: v for v in await open311.list_requests(hub, where, holder, everything)}
    assert set(public) == {s.open.id, s.claimed.id, s.confirmed.id}
    assert set(keyed) == set(public)
    assert all(v.description is None and v.review_reason is None for v in public.values())
    assert "秘密描述甲" in (keyed[s.open.id].description or "")
    assert keyed[s.confirmed.id].description is None  # closed: beyond requests:read
    assert (public[s.open.id].status, public[s.confirmed.id].status) == ("open", "closed")
    with pytest.raises(dataclasses.FrozenInstanceError):
        public[s.open.id].description = "x"  # type: ignore[misc]
    fields = {f.name for v in (*public.values(), where) for f in dataclasses.fields(v)}
    assert not fields & {"resident", "resident_id", "phone", "address", "contact", "title"}
