"""A measuring prototype, not product code: GET /api/v1/tasks/{id} with no model objects
and no endpoint machinery.

``app_factory()`` builds the real application (``create_app``: same middleware, same
lifespan, same Hub) and puts in front of its routes one plain Starlette route that
answers ``GET /api/v1/tasks/{id}`` with the same rules and the same ``TaskOut`` body as
the product, reading through the same ``db.read`` (SQLite's read connection), but:

* the token, its person's id and community and the person's roles come from one
  statement, parsed in place (the product builds an ``Actor`` with its ``RoleGrant`` set;
  like the prototype it no longer reads the ``Person`` model for it);
* the task and its occurrences come from the product's own statement
  (``reads.task_with_occurrences``), turned straight into ``TaskOut`` (the product goes
  through ``tasks.task_view``, occurrence dicts and ``task_out``);
* no ``Endpoint``: no ``Call``, no handler; its route is the first of the application's
  (the product's ``ApiRoutes`` is too, since the actor and routing change of 2026-11-22).

SQLite only (``group_concat``). ``http_bench.py`` checks that it answers exactly as the
product does and serves it as the last row, to show what the product's remaining
layers cost; the lead engineer decides what, if anything, moves into the product.
"""

from __future__ import annotations

import hashlib
from datetime import datetime

from pydantic import TypeAdapter
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from volunteer_hub import db
from volunteer_hub.config import Settings
from volunteer_hub.errors import NotAuthenticated, NotFound
from volunteer_hub.i18n import negotiate
from volunteer_hub.models import Role
from volunteer_hub.recurrence import expand
from volunteer_hub.services import reads
from volunteer_hub.services.tasks import DEFAULT_WINDOW
from volunteer_hub.web.api import bearer_token, error_response
from volunteer_hub.web.app import create_app
from volunteer_hub.web.schemas import OccurrenceOut, TaskOut, local

ACTOR_SQL = """
SELECT p.community_id, t.expires_at, t.revoked_at,
       (SELECT group_concat(coalesce(r.community_id, '') || ':' || r.role, ',')
          FROM role_assignment r WHERE r.person_id = p.id) AS grants
  FROM api_token t JOIN person p ON p.id = t.person_id
 WHERE t.token_hash = ?
"""
TASK_OUT = TypeAdapter(TaskOut)


def _when(text: str) -> datetime:
    return datetime.fromisoformat(text)


def app_factory() -> Starlette:
    return install(create_app(Settings.from_env()))


def install(app: Starlette) -> Starlette:
    """Put the prototype's route in front of ``app``'s own (get_task_steps.py times it)."""

    async def get_task(request: Request) -> Response:
        locale = negotiate(request.headers.get("accept-language"))
        now = app.state.hub.now()
        token = bearer_token(request)
        rows = []
        if token is not None:
            rows = await db.read(ACTOR_SQL, hashlib.sha256(token.encode()).hexdigest())
        if not rows or rows[0][2] is not None or _when(rows[0][1]) <= now:
            exc = NotAuthenticated("You need to log in.", code="invalid_token")
            return error_response(exc, locale)
        community_id, _, _, grants_text = rows[0]
        grants = [g.split(":", 1) for g in (grants_text or "").split(",") if g]
        end = now + DEFAULT_WINDOW
        task, stored = await reads.task_with_occurrences(int(request.path_params["id"]), now, end)
        if task is None or not (
            any(role == Role.ADMIN.value for _, role in grants)
            or community_id == task.community_id
            or any(c == str(task.community_id) for c, _ in grants)
        ):
            return error_response(NotFound("No such task.", code="task_not_found"), locale)
        zone = task.community.timezone
        if task.rrule:
            by_start = {o.start: o for o in stored}
            upcoming = [
                (start, end, by_start.get(start))
                for start, end in expand(
                    task.starts_at, task.ends_at - task.starts_at, task.rrule, zone, now, end
                )
            ]
        else:
            upcoming = [(o.start, o.end, o) for o in stored]
        body = TaskOut(
            id=task.id,
            community_id=task.community_id,
            team_id=task.team_id,
            title=task.title,
            description=task.description,
            location=task.location,
            starts_at=local(task.starts_at, zone),
            ends_at=local(task.ends_at, zone),
            capacity=task.capacity,
            rrule=task.rrule,
            occurrences=[
                OccurrenceOut(
                    start=local(start, zone),
                    end=local(end, zone),
                    capacity=row.capacity if row else task.capacity,
                    taken=row.taken if row else 0,
                )
                for start, end, row in upcoming
                if not (row and row.cancelled)
            ],
        )
        return Response(TASK_OUT.dump_json(body), media_type="application/json")

    app.router.routes.insert(0, Route("/api/v1/tasks/{id:int}", get_task, methods=["GET"]))
    return app
