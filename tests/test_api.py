"""The HTTP API over real ASGI: the flows of API.md end to end, errors, OpenAPI."""

from __future__ import annotations

import pytest

from tests.factories import PASSWORD, World, next_phone


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
