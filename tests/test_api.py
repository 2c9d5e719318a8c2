"""The HTTP API over real ASGI: the flows of API.md end to end, errors, OpenAPI."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from zoneinfo import ZoneInfo

import pytest
from pydantic import TypeAdapter
from tortoise.transactions import in_transaction

from tests.factories import PASSWORD, World, next_phone
from volunteer_hub import db
from volunteer_hub.models import Task
from volunteer_hub.services import auth, tasks
from volunteer_hub.web.api import _first_headers
from volunteer_hub.web.schemas import OccurrenceOut, TaskOut, task_out


async def login(api, phone: str, password: str = PASSWORD) -> dict:
    r = await api.post("/api/v1/auth/login", json={"phone": phone, "password": password})
    assert r.status_code == 200, r.text
    return {"Authorization": f"Bearer {r.json()['token']}"}


@pytest.fixture
async def w(hub):
    return await World(hub).build()


async def test_health_and_openapi(api):
    assert (await api.get("/healthz")).json() == {"status": "ok"}
    doc = (await api.get("/openapi.json")).json()
    assert doc["openapi"] == "3.1.0"
    assert "/api/v1/wishes/{id}/claim" in doc["paths"]
    assert "post" in doc["paths"]["/api/v1/tasks/{id}/signups"]
    # List pages keep their v1 schema names (the class is ListPage in the code).
    schemas = doc["components"]["schemas"]
    assert schemas["Page_WishOut_"]["title"] == "Page[WishOut]"
    assert set(schemas["Page_WishOut_"]["properties"]) == {"items", "next_cursor"}
    assert not [name for name in schemas if "ListPage" in name]


async def test_register_login_me_logout(api, w):
    phone = next_phone()
    r = await api.post(
        "/api/v1/people",
        json={
            "name": "王奶奶",
            "phone": phone,
            "password": PASSWORD,
            "community_id": w.community.id,
            "birth_date": "1944-05-01",
        },
    )
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["phone_masked"] == f"{phone[:3]}****{phone[-4:]}"
    headers = await login(api, phone)
    me = (await api.get("/api/v1/me", headers=headers)).json()
    assert me["roles"] == ["resident"] and me["age"] == 82 and me["phone"] == phone
    assert (await api.post("/api/v1/auth/logout", headers=headers)).status_code == 204
    r = await api.get("/api/v1/me", headers=headers)
    assert r.status_code == 401
    assert r.json()["error"]["code"] == "invalid_token"


async def test_errors_have_the_contract_shape(api, w):
    r = await api.post(
        "/api/v1/people",
        json={"name": "", "phone": "123", "password": "x"},
        headers={"Accept-Language": "en"},
    )
    assert r.status_code == 422
    err = r.json()["error"]
    assert err["code"] == "validation_error"
    fields = {d["field"] for d in err["details"]}
    assert {"name", "phone", "password", "community_id"} <= fields
    r = await api.post(
        "/api/v1/people", content=b"{not json", headers={"content-type": "application/json"}
    )
    assert r.status_code == 422 and r.json()["error"]["code"] == "invalid_json"
    r = await api.post("/api/v1/people", content=b"x" * 70000)
    assert r.status_code == 413
    r = await api.get("/api/v1/nothing-here")
    assert r.status_code == 404 and r.json()["error"]["code"] == "not_found"
    r = await api.get("/api/v1/me")
    assert r.status_code == 401 and r.headers["www-authenticate"] == "Bearer"
    assert "message" in r.json()["error"]


async def test_login_same_answer_and_throttle(api, w):
    person = await w.person("张三")
    r1 = await api.post(
        "/api/v1/auth/login", json={"phone": person.person.phone, "password": "wrong-pass1"}
    )
    r2 = await api.post(
        "/api/v1/auth/login", json={"phone": "13999999999", "password": "wrong-pass1"}
    )
    assert r1.status_code == r2.status_code == 401
    assert r1.json() == r2.json()
    for _ in range(4):
        await api.post(
            "/api/v1/auth/login", json={"phone": person.person.phone, "password": "nope-123x"}
        )
    r = await api.post(
        "/api/v1/auth/login", json={"phone": person.person.phone, "password": PASSWORD}
    )
    assert r.status_code == 429
    assert int(r.headers["retry-after"]) > 0
    w.hub.clock.advance(minutes=16)
    assert (
        await api.post(
            "/api/v1/auth/login", json={"phone": person.person.phone, "password": PASSWORD}
        )
    ).status_code == 200


async def test_story_wish_over_http(api, w):
    team = await w.team("elderly_care")
    volunteer = await w.volunteer("李志愿", team=team)
    resident = await w.person("王奶奶")
    gw = await login(api, w.grid_worker.person.phone)
    staff = await login(api, w.staff.person.phone)
    vol = await login(api, volunteer.person.phone)
    r = await api.post(
        f"/api/v1/communities/{w.community.id}/wishes",
        headers=gw,
        json={
            "title": "周四上午陪同去医院",
            "description": "需要人陪同",
            "category": "elderly_care",
            "needed_by": "2026-12-03",
            "on_behalf_of": resident.id,
        },
    )
    assert r.status_code == 201 and r.json()["status"] == "submitted"
    wid = r.json()["id"]
    assert (await api.get(f"/api/v1/wishes/{wid}", headers=vol)).status_code == 404
    r = await api.post(f"/api/v1/wishes/{wid}/review", headers=staff, json={"decision": "approve"})
    assert r.json()["status"] == "open"
    r = await api.get(f"/api/v1/wishes/{wid}/candidates", headers=staff)
    assert [c["person_id"] for c in r.json()["items"]] == [volunteer.id]
    seen = (await api.get(f"/api/v1/wishes/{wid}", headers=vol)).json()
    assert seen["contact"] is None
    r = await api.post(f"/api/v1/wishes/{wid}/claim", headers=vol)
    assert r.status_code == 200 and r.json()["contact"]["phone"] == resident.person.phone
    r = await api.post(f"/api/v1/wishes/{wid}/claim", headers=vol)
    assert r.status_code == 409 and r.json()["error"]["code"] == "already_claimed"
    r = await api.post(f"/api/v1/wishes/{wid}/fulfil", headers=vol, json={"note": "已陪同"})
    assert r.json()["status"] == "fulfilled"
    r = await api.post(
        f"/api/v1/wishes/{wid}/confirm", headers=gw, json={"rating": 5, "thanks": "谢谢"}
    )
    assert r.json()["status"] == "confirmed"
    r = await api.post(f"/api/v1/wishes/{wid}/confirm", headers=gw, json={"rating": 5})
    assert r.status_code == 409
    records = (await api.get("/api/v1/me/service-records", headers=vol)).json()
    assert records["total_hours"] == "1.00" and len(records["items"]) == 1


async def test_tasks_over_http(api, w):
    staff = await login(api, w.staff.person.phone)
    r = await api.post(
        f"/api/v1/communities/{w.community.id}/tasks",
        headers=staff,
        json={
            "title": "银发巡逻",
            "starts_at": "2026-12-03T19:00:00+08:00",
            "ends_at": "2026-12-03T21:00:00+08:00",
            "capacity": 1,
            "rrule": "FREQ=WEEKLY;BYDAY=TU,TH",
        },
    )
    assert r.status_code == 201, r.text
    task = r.json()
    assert task["occurrences"][0]["start"] == "2026-12-03T19:00:00+08:00"
    a, b = await w.person("甲"), await w.person("乙")
    ha, hb = await login(api, a.person.phone), await login(api, b.person.phone)
    s1 = (await api.post(f"/api/v1/tasks/{task['id']}/signups", headers=ha, json={})).json()
    s2 = (await api.post(f"/api/v1/tasks/{task['id']}/signups", headers=hb, json={})).json()
    assert (s1["status"], s2["status"]) == ("confirmed", "waitlisted")
    r = await api.post(f"/api/v1/tasks/{task['id']}/signups", headers=ha, json={})
    assert r.status_code == 409 and r.json()["error"]["code"] == "already_signed_up"
    assert (await api.delete(f"/api/v1/signups/{s1['id']}", headers=ha)).status_code == 204
    got = (await api.get(f"/api/v1/tasks/{task['id']}", headers=hb)).json()
    assert got["occurrences"][0]["taken"] == 1


def shift(clock, **fields) -> dict:
    """A task two days ahead, two hours long."""
    start = clock.now + timedelta(days=2)
    return {"title": "巡逻", "starts_at": start, "ends_at": start + timedelta(hours=2), **fields}


async def test_task_read_answers_as_the_models_do(api, hub, w, clock):
    """GET /tasks/{id} is answered from plain rows (tasks.task_view); it must say exactly
    what the task's model objects say (the ORM's Task + tasks.occurrences)."""
    fields = shift(clock, description="晚间巡逻", location="幸福里3号楼", capacity=2)
    one_off = await tasks.create_task(hub, w.staff, w.community.id, fields)
    weekly = await tasks.create_task(
        hub, w.staff, w.community.id, {**fields, "rrule": "FREQ=WEEKLY", "capacity": 1}
    )
    volunteer = await w.person("甲")
    await tasks.sign_up(hub, volunteer, one_off.id)
    await tasks.sign_up(hub, volunteer, weekly.id)  # the first occurrence: stored, taken 1
    await tasks.cancel_occurrence(hub, w.staff, weekly.id, fields["starts_at"] + timedelta(weeks=1))
    reader = await login(api, volunteer.person.phone)
    for task_id in (one_off.id, weekly.id):
        task = await Task.get(id=task_id).prefetch_related("community")  # the ORM's model
        expected = task_out(task, await tasks.occurrences(hub, task)).model_dump(mode="json")
        got = await api.get(f"/api/v1/tasks/{task_id}", headers=reader)
        assert got.status_code == 200 and got.json() == expected
        assert got.content == await answer_built_model_by_model(hub, task)
    got = (await api.get(f"/api/v1/tasks/{weekly.id}", headers=reader)).json()["occurrences"]
    assert got[0]["taken"] == 1 and len(got) == 7  # 8 weeks, one cancelled
    second = fields["starts_at"] + timedelta(weeks=2)
    assert got[1]["start"] == second.astimezone(ZoneInfo("Asia/Shanghai")).isoformat()
    other = await World(hub).build_other(w)
    outsider = await login(api, (await other.person("乙")).person.phone)
    r = await api.get(f"/api/v1/tasks/{one_off.id}", headers=outsider)
    assert r.status_code == 404 and r.json()["error"]["code"] == "task_not_found"
    r = await api.get("/api/v1/tasks/999999", headers=reader)
    assert r.status_code == 404 and r.json()["error"]["code"] == "task_not_found"


async def answer_built_model_by_model(hub, task) -> bytes:
    """The JSON of a task as ``TaskOut`` and its ``OccurrenceOut`` models say it, built
    one by one: what ``task_out`` must give, byte for byte, however it builds it."""
    zone = ZoneInfo(task.community.timezone)
    occurrences = await tasks.occurrences(hub, task)
    model = TaskOut(
        id=task.id,
        community_id=task.community_id,
        team_id=task.team_id,
        title=task.title,
        description=task.description,
        location=task.location,
        starts_at=task.starts_at.astimezone(zone),
        ends_at=task.ends_at.astimezone(zone),
        capacity=task.capacity,
        rrule=task.rrule,
        occurrences=[
            OccurrenceOut(
                start=o["start"].astimezone(zone),
                end=o["end"].astimezone(zone),
                capacity=o["capacity"],
                taken=o["taken"],
            )
            for o in occurrences
            if not o["cancelled"]
        ],
    )
    return TypeAdapter(TaskOut).dump_json(model)


async def test_task_reads_see_each_commit_at_once(api, hub, w, clock):
    """No read is served from anything but the database as committed: a place taken
    shows at once, and a token stops working the moment its holder logs out."""
    task = await tasks.create_task(hub, w.staff, w.community.id, shift(clock, capacity=3))
    a, b = await w.person("甲"), await w.person("乙")
    ha, hb = await login(api, a.person.phone), await login(api, b.person.phone)
    path = f"/api/v1/tasks/{task.id}"
    assert (await api.get(path, headers=ha)).json()["occurrences"][0]["taken"] == 0
    assert (await api.post(f"{path}/signups", headers=hb, json={})).status_code == 201
    assert (await api.get(path, headers=ha)).json()["occurrences"][0]["taken"] == 1
    assert (await api.post("/api/v1/auth/logout", headers=ha)).status_code == 204
    r = await api.get(path, headers=ha)
    assert r.status_code == 401 and r.json()["error"]["code"] == "invalid_token"


async def test_reads_inside_and_beside_a_transaction(hub, w, clock):
    """``db.read`` inside a transaction sees its writes; beside it (another request), the
    committed state, without waiting for the transaction to end."""
    task = await tasks.create_task(hub, w.staff, w.community.id, shift(clock, capacity=3))
    sql = "SELECT taken FROM occurrence WHERE task_id = ?"
    go = asyncio.Event()

    async def beside() -> int:
        await go.wait()
        return (await db.read(sql, task.id))[0][0]

    other_request = asyncio.create_task(beside())  # its context has no transaction
    async with in_transaction():
        await db.execute("UPDATE occurrence SET taken = 2 WHERE task_id = ?", task.id)
        assert (await db.read(sql, task.id))[0][0] == 2
        go.set()
        assert await asyncio.wait_for(other_request, timeout=5) == 0
    assert (await db.read(sql, task.id))[0][0] == 2


def test_endpoints_read_their_two_headers_as_request_headers_does():
    """An endpoint reads Authorization and Accept-Language in one pass over the raw
    headers: the first of each, exactly what ``request.headers`` gives."""
    from starlette.datastructures import Headers

    cases = [
        [],
        [(b"authorization", b"Bearer a"), (b"authorization", b"Bearer b")],
        [(b"accept-language", b"en"), (b"x-other", b"1"), (b"accept-language", b"zh-CN")],
        [(b"authorization", b""), (b"accept-language", b"")],
        [(b"accept-language", b"zh-CN,zh;q=0.9"), (b"authorization", b"Bearer \xe9t\xe9")],
    ]
    for raw in cases:
        headers = Headers(raw=raw)
        expected = (headers.get("authorization", ""), headers.get("accept-language"))
        assert _first_headers(raw) == expected, raw


async def test_api_actor_reads_the_person_only_when_asked(hub, w):
    """A bearer token gives an actor with the person's ids and roles; their model is read
    by the services that need it (``load_person``), or at once for the pages."""
    volunteer = await w.person("甲")
    login_ = await auth.login(hub, volunteer.person.phone, PASSWORD, "203.0.113.7")
    actor = await auth.actor_for_token(hub, login_.token)
    assert (actor.id, actor.community_id, actor.grid_id, actor.grants) == (
        volunteer.id,
        volunteer.community_id,
        volunteer.grid_id,
        volunteer.grants,
    )
    with pytest.raises(RuntimeError, match="load_person"):
        actor.person  # noqa: B018
    person = await actor.load_person()
    assert person.name == "甲" and actor.person is person
    assert await actor.load_person() is person  # read once
    paged = await auth.actor_for_token(hub, login_.token)
    assert (await paged.load_person()).phone == volunteer.person.phone
