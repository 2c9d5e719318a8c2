"""Integrators' Open311 keys: staff of a community (and admins) make, list and revoke them.

The key itself is in the answer to its creation only; lists never carry it.
"""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel

from volunteer_hub.services import open311_keys
from volunteer_hub.services.views import Open311KeyView
from volunteer_hub.web.api import Call, Endpoint, ListPage, ListQuery, page


class Open311KeyOut(BaseModel):
    id: int
    community_id: int
    name: str
    scopes: list[str]
    created_by: int
    created_at: datetime
    revoked_at: datetime | None


class Open311KeyCreated(Open311KeyOut):
    key: str  # shown this once


def _out(key: Open311KeyView) -> dict:
    return {
        "id": key.id,
        "community_id": key.community_id,
        "name": key.name,
        "scopes": list(key.scopes),
        "created_by": key.created_by_id,
        "created_at": key.created_at,
        "revoked_at": key.revoked_at,
    }


async def create_key(call: Call) -> Open311KeyCreated:
    key, secret = await open311_keys.create_key(
        call.hub, call.user, call.path_int("cid"), call.body
    )
    return Open311KeyCreated(**_out(key), key=secret)


async def list_keys(call: Call) -> dict:
    q: ListQuery = call.query
    rows = await open311_keys.list_keys(
        call.hub, call.user, call.path_int("cid"), after_id=q.after_id(), limit=q.limit + 1
    )
    result = page(rows, q.limit, lambda k: k.id)
    result["items"] = [Open311KeyOut(**_out(k)) for k in result["items"]]
    return result


async def revoke_key(call: Call) -> Open311KeyOut:
    key = await open311_keys.revoke_key(
        call.hub, call.user, call.path_int("cid"), call.path_int("kid")
    )
    return Open311KeyOut(**_out(key))


ENDPOINTS = [
    Endpoint(
        "POST",
        "/communities/{cid:int}/open311-keys",
        create_key,
        "Make an integrator's Open311 key; the answer shows the key once (staff)",
        body=open311_keys.KeyIn,
        response=Open311KeyCreated,
        status=201,
        errors=(401, 403, 404, 422),
        tag="open311",
    ),
    Endpoint(
        "GET",
        "/communities/{cid:int}/open311-keys",
        list_keys,
        "List a community's Open311 keys, without the keys themselves (staff)",
        query=ListQuery,
        response=ListPage[Open311KeyOut],
        errors=(401, 403, 404, 422),
        tag="open311",
    ),
    Endpoint(
        "POST",
        "/communities/{cid:int}/open311-keys/{kid:int}/revoke",
        revoke_key,
        "Revoke an Open311 key: Open311 refuses it from now on (staff)",
        response=Open311KeyOut,
        errors=(401, 403, 404),
        tag="open311",
    ),
]
