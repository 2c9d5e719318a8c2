"""A measuring prototype, not product code: GET /api/v1/tasks/{id} without the ORM's query building.

``app_factory()`` builds the real application (``create_app``: same middleware, same
lifespan, same Hub) and puts in front of its ``/api/v1`` mount one route that answers
``GET /api/v1/tasks/{id}`` with the same rules and the same ``TaskOut`` body, but:

* the token, its person and the person's roles come from ONE parameterised SQL
  statement (the product runs three ORM queries: api_token, person, role_assignment);
* the task and its community's time zone from one statement, the stored occurrences
  from another (the product: two ORM queries building model objects);
* the body is serialised once with ``TypeAdapter.dump_json`` (the product builds a
  dict with ``dump_python(mode="json")`` and then ``JSONResponse`` runs ``json.dumps``).

Statements go through the Tortoise connection (``execute_query``), so they share the
app's SQLite connection and its lock. SQLite only (``?`` placeholders). The benchmark
serves it with ``--prototype`` to show how much of the gap to the bare endpoint the
ORM accounts for; the lead engineer decides what, if anything, moves into the product.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime

from pydantic import TypeAdapter
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from tortoise.connection import get_connection

from volunteer_hub import db
from volunteer_hub.config import Settings
from volunteer_hub.errors import NotAuthenticated, NotFound
from volunteer_hub.i18n import negotiate
from volunteer_hub.models import Role
from volunteer_hub.recurrence import expand
from volunteer_hub.services.tasks import DEFAULT_WINDOW
from volunteer_hub.web.api import bearer_token, error_response
from volunteer_hub.web.app import create_app
from volunteer_hub.web.schemas import OccurrenceOut, TaskOut, local

ACTOR_SQL = """
SELECT p.id, p.community_id, t.expires_at, t.revoked_at,
       (SELECT group_concat(coalesce(r.community_id, '') || ':' || r.role, ',')
          FROM role_assignment r WHERE r.person_id = p.id) AS grants
  FROM api_token t JOIN person p ON p.id = t.person_id
 WHERE t.token_hash = ?
"""
TASK_SQL = """
SELECT t.id, t.community_id, t.team_id, t.title, t.description, t.location, t.starts_at,
       t.ends_at, t.capacity, t.rrule, c.timezone
  FROM task t JOIN community c ON c.id = t.community_id
 WHERE t.id = ?
"""
OCCURRENCES_SQL = "SELECT start, capacity, taken, cancelled FROM occurrence WHERE task_id = ?"
TASK_OUT = TypeAdapter(TaskOut)


def _when(text: str | None) -> datetime | None:
    return None if text is None else datetime.fromisoformat(text).astimezone(UTC)


def app_factory() -> Starlette:
    settings = Settings.from_env()
    app = create_app(settings)
    connection_name = db.connection_name(settings.database_url)

    async def get_task(request: Request) -> Response:
        locale = negotiate(request.headers.get("accept-language"))
        conn = get_connection(connection_name)
        now = app.state.hub.now()
        token = bearer_token(request)
        rows = []
        if token is not None:
            digest = hashlib.sha256(token.encode()).hexdigest()
            _, rows = await conn.execute_query(ACTOR_SQL, [digest])
        if not rows or rows[0]["revoked_at"] is not None or _when(rows[0]["expires_at"]) <= now:
            exc = NotAuthenticated("You need to log in.", code="invalid_token")
            return error_response(exc, locale)
        actor = rows[0]
        grants = [g.split(":", 1) for g in (actor["grants"] or "").split(",") if g]
        _, tasks = await conn.execute_query(TASK_SQL, [int(request.path_params["id"])])
        task = tasks[0] if tasks else None
        if task is None or not (
            any(role == Role.ADMIN.value for _, role in grants)
            or actor["community_id"] == task["community_id"]
            or any(c == str(task["community_id"]) for c, _ in grants)
        ):
            return error_response(NotFound("No such task.", code="task_not_found"), locale)
        starts_at, ends_at = _when(task["starts_at"]), _when(task["ends_at"])
        _, stored_rows = await conn.execute_query(OCCURRENCES_SQL, [task["id"]])
        stored = {_when(o["start"]): o for o in stored_rows}
        zone = task["timezone"]
        occurrences = []
        for start, end in expand(
            starts_at, ends_at - starts_at, task["rrule"], zone, now, now + DEFAULT_WINDOW
        ):
            row = stored.get(start)
            if row is not None and row["cancelled"]:
                continue
            occurrences.append(
                OccurrenceOut(
                    start=local(start, zone),
                    end=local(end, zone),
                    capacity=row["capacity"] if row else task["capacity"],
                    taken=row["taken"] if row else 0,
                )
            )
        body = TaskOut(
            id=task["id"],
            community_id=task["community_id"],
            team_id=task["team_id"],
            title=task["title"],
            description=task["description"],
            location=task["location"],
            starts_at=local(starts_at, zone),
            ends_at=local(ends_at, zone),
            capacity=task["capacity"],
            rrule=task["rrule"],
            occurrences=occurrences,
        )
        return Response(TASK_OUT.dump_json(body), media_type="application/json")

    app.router.routes.insert(0, Route("/api/v1/tasks/{id:int}", get_task, methods=["GET"]))
    return app
