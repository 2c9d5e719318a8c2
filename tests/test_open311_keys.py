"""Integrators' Open311 keys: made, listed and revoked over HTTP and with `vhub open311-key`,
stored hashed, on SQLite and PostgreSQL (the matrix in test_api_authz holds who may)."""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.factories import PASSWORD, World, next_phone
from volunteer_hub import db
from volunteer_hub.config import Settings, sqlite_url
from volunteer_hub.errors import NotAuthenticated, PermissionDenied
from volunteer_hub.hub import Hub
from volunteer_hub.models import AuditEntry, Open311Key
from volunteer_hub.services import open311_keys
from volunteer_hub.services.access import Actor

API = "/api/v1"
VHUB = Path(sys.executable).parent / "vhub"


async def bearer(api, actor: Actor) -> dict[str, str]:
    r = await api.post(
        f"{API}/auth/login", json={"phone": actor.person.phone, "password": PASSWORD}
    )
    assert r.status_code == 200, r.text
    return {"Authorization": f"Bearer {r.json()['token']}"}


@pytest.fixture
async def w(hub) -> World:
    return await World(hub).build()


async def test_a_key_is_shown_once_stored_hashed_listed_and_revoked(api, w):
    staff = await bearer(api, w.staff)
    url = f"{API}/communities/{w.community.id}/open311-keys"
    r = await api.post(
        url,
        json={"name": "12345热线", "scopes": ["requests:post", "requests:read", "requests:post"]},
        headers=staff,
    )
    assert r.status_code == 201, r.text
    made = r.json()
    key = made["key"]
    assert key.startswith("o311_") and len(key) > 40
    assert made["scopes"] == ["requests:post", "requests:read"]
    assert made["created_by"] == w.staff.id and made["revoked_at"] is None
    # Only the hash is kept: the key is in no column of its row.
    row = await Open311Key.get(id=made["id"])
    assert row.key_hash == hashlib.sha256(key.encode()).hexdigest()
    assert key not in json.dumps(await Open311Key.filter(id=row.id).values(), default=str)
    r = await api.get(url, headers=staff)
    assert r.status_code == 200 and key not in r.text
    [listed] = r.json()["items"]
    assert listed == {k: v for k, v in made.items() if k != "key"}
    # It works, until it is revoked; revoking again changes nothing.
    found = await open311_keys.integrator_for_key(w.hub, key)
    assert found.key_id == row.id and found.community_id == w.community.id
    r = await api.post(f"{url}/{row.id}/revoke", headers=staff)
    assert r.status_code == 200 and r.json()["revoked_at"], r.text
    first = r.json()["revoked_at"]
    w.hub.clock.advance(hours=1)
    r = await api.post(f"{url}/{row.id}/revoke", headers=staff)
    assert r.status_code == 200 and r.json()["revoked_at"] == first
    with pytest.raises(NotAuthenticated, match="api_key"):
        await open311_keys.integrator_for_key(w.hub, key)
    actions = await AuditEntry.filter(entity_type="open311_key", entity_id=row.id).values_list(
        "action", "actor_id"
    )
    assert sorted(actions) == [
        ("open311_key.created", w.staff.id),
        ("open311_key.revoked", w.staff.id),
    ]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"name": "x", "scopes": []}, "scopes"),
        ({"name": "x", "scopes": ["admin"]}, "scopes.0"),
        ({"name": "x", "scopes": "requests:read"}, "scopes"),
        ({"name": "", "scopes": ["requests:read"]}, "name"),
        ({"name": "x" * 101, "scopes": ["requests:read"]}, "name"),
        ({"scopes": ["requests:read"]}, "name"),
        ({"name": "x", "scopes": ["requests:read"], "key": "o311_mine"}, "key"),
    ],
)
async def test_bad_key_input_is_422_and_writes_nothing(api, w, body, field):
    r = await api.post(
        f"{API}/communities/{w.community.id}/open311-keys",
        json=body,
        headers=await bearer(api, w.staff),
    )
    assert r.status_code == 422, r.text
    assert field in {d["field"] for d in r.json()["error"]["details"]}, r.text
    assert await Open311Key.all().count() == 0


async def test_keys_are_listed_in_pages(api, w):
    for i in range(3):
        await open311_keys.create_key(
            w.hub, w.staff, w.community.id, {"name": f"系统{i}", "scopes": ["requests:read"]}
        )
    staff = await bearer(api, w.staff)
    url = f"{API}/communities/{w.community.id}/open311-keys"
    r = await api.get(url, params={"limit": 2}, headers=staff)
    first = r.json()
    assert [k["name"] for k in first["items"]] == ["系统0", "系统1"] and first["next_cursor"]
    r = await api.get(url, params={"limit": 2, "cursor": first["next_cursor"]}, headers=staff)
    assert [k["name"] for k in r.json()["items"]] == ["系统2"] and r.json()["next_cursor"] is None


# --- the command line ----------------------------------------------------------------------------


def vhub(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("VHUB_")}
    env |= {
        "VHUB_DATA_DIR": str(tmp_path),
        "VHUB_DISABLE_PLUGIN_AUTOLOAD": "1",
        "VHUB_SECRET_KEY": "test",
        "COLUMNS": "200",
    }
    return subprocess.run(
        [str(VHUB), *args], env=env, capture_output=True, text=True, timeout=120, cwd=tmp_path
    )


async def _community_with_staff(tmp_path: Path) -> tuple[int, str, str]:
    url = sqlite_url(tmp_path / "vhub.sqlite3")
    await db.upgrade(url)
    settings = Settings(url, "test", tmp_path, True, "CHEAPEST")
    async with db.database(url):
        w = await World(Hub.create(settings)).build()
        resident = await w.person("居民")
        return w.community.id, w.staff.person.phone, resident.person.phone


def test_cli_makes_lists_and_revokes_keys(tmp_path: Path):
    cid, staff_phone, resident_phone = asyncio.run(_community_with_staff(tmp_path))
    made = vhub(
        tmp_path,
        *("open311-key", "create", "--community", str(cid), "--name", "12345热线"),
        *("--scope", "requests:post", "--scope", "requests:read", "--by", staff_phone),
    )
    assert made.returncode == 0, made.stderr + made.stdout
    key = made.stdout.strip().splitlines()[-1]
    assert key.startswith("o311_"), made.stdout
    listed = vhub(tmp_path, "open311-key", "list", "--community", str(cid), "--json")
    assert listed.returncode == 0 and key not in listed.stdout, listed.stderr
    [row] = json.loads(listed.stdout)
    assert row["name"] == "12345热线" and row["revoked_at"] is None
    assert row["scopes"] == ["requests:post", "requests:read"]
    # Only staff or an admin make keys; an unknown phone is a usage error.
    refused = vhub(
        tmp_path,
        *("open311-key", "create", "--community", str(cid), "--name", "x"),
        *("--scope", "requests:read", "--by", resident_phone),
    )
    assert refused.returncode == 2 and "Error" in refused.stdout, refused.stdout
    unknown = vhub(
        tmp_path,
        *("open311-key", "create", "--community", str(cid), "--name", "x"),
        *("--scope", "requests:read", "--by", next_phone()),
    )
    assert unknown.returncode == 2 and "--by" in unknown.stderr, unknown.stderr
    revoked = vhub(tmp_path, "open311-key", "revoke", "--community", str(cid), str(row["id"]))
    assert revoked.returncode == 0, revoked.stderr + revoked.stdout
    listed = vhub(tmp_path, "open311-key", "list", "--community", str(cid), "--json")
    assert json.loads(listed.stdout)[0]["revoked_at"] is not None
    missing = vhub(tmp_path, "open311-key", "revoke", "--community", str(cid), "999")
    assert missing.returncode == 2, missing.stdout


async def test_a_grid_worker_or_another_communitys_staff_makes_no_key(hub, w):
    other = await World(hub).build_other(w)
    for actor in (w.grid_worker, other.staff, await w.person("居民")):
        with pytest.raises(PermissionDenied, match="staff"):
            await open311_keys.create_key(
                hub, actor, w.community.id, {"name": "x", "scopes": ["requests:read"]}
            )
    assert await Open311Key.all().count() == 0


async def test_concurrent_revocations_record_one(hub, w):
    key, secret = await open311_keys.create_key(
        hub, w.staff, w.community.id, {"name": "12345热线", "scopes": ["requests:read"]}
    )
    revoked = await asyncio.gather(
        *(open311_keys.revoke_key(hub, w.staff, w.community.id, key.id) for _ in range(10))
    )
    assert len({k.revoked_at for k in revoked}) == 1 and revoked[0].revoked_at is not None
    entries = await AuditEntry.filter(action="open311_key.revoked", entity_id=key.id).count()
    assert entries == 1
    with pytest.raises(NotAuthenticated, match="api_key"):
        await open311_keys.integrator_for_key(hub, secret)
