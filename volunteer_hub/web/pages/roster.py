"""Staff task pages: the task list, a task's roster (check-in and check-out, by button or
by the volunteer's check-in code, no-shows and excuses, a message to everyone on a shift,
cancelling one shift) and editing or cancelling a task.

For staff of the community and the leader of the task's team; the services decide.
"""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from starlette.responses import Response

from volunteer_hub.errors import NotFound, VolunteerHubError
from volunteer_hub.services import roster, tasks
from volunteer_hub.web.pages.base import Page, form_errors, page_route, status_of
from volunteer_hub.web.pages.forms import given, values
from volunteer_hub.web.pages.staff import build_schedule, require_community
from volunteer_hub.web.pages.volunteer import _when_span

EDIT_FIELDS = ("title", "description", "location", "capacity", "date", "start_time", "end_time")


def _parse_key(raw: str | None) -> datetime | None:
    if not raw:
        return None
    try:
        return datetime.strptime(raw, "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
    except ValueError:
        raise NotFound("The task has no occurrence at this time.", code="no_occurrence") from None


def _notices(page: Page) -> dict[str, str]:
    return {
        "checked_in": page.gettext("Checked in."),
        "checked_out": page.gettext("Checked out: the hours are recorded."),
        "no_show": page.gettext("Marked as not come."),
        "excused": page.gettext("Excused."),
        "messaged": page.gettext("Your message is on its way to everyone on this shift."),
        "shift_cancelled": page.gettext("This shift is cancelled; its volunteers are told."),
        "updated": page.gettext("The task is saved."),
        "cancelled": page.gettext("The task is cancelled; its volunteers are told."),
    }


# --- the task list ------------------------------------------------------------------------


async def task_list(page: Page) -> Response:
    community = await require_community(page)
    lines = await roster.task_list(page.hub, page.user, community.id)
    return page.render(
        "staff/tasks.html",
        community=community,
        lines=lines,
        console=page.user.is_staff(community.id),  # the console's links; a leader has none
        span=_when_span(page),
        key=roster.shift_key,
        section="tasks",
    )


# --- the roster ------------------------------------------------------------------------------


async def roster_page(
    page: Page,
    *,
    errors: dict | None = None,
    typed: dict | None = None,
    status: int = 200,
) -> Response:
    task_id = page.path_id()
    start = _parse_key(page.request.query_params.get("start"))
    found = await roster.roster(page.hub, page.user, task_id, start)
    community_id = found.task.community_id
    notices = _notices(page)
    who = page.request.query_params.get("who")
    if who:
        notices["checked_in"] = page.gettext("Checked in: %(name)s", name=who)
    return page.render(
        "staff/roster.html",
        status=status,
        roster=found,
        task=found.task,
        community={"id": community_id},
        console=found.is_staff,
        span=_when_span(page),
        key=roster.shift_key,
        notices=notices,
        errors=errors or {},
        typed=typed or {},
        section="tasks",
    )


def _back(page: Page, task_id: int, start: str | None, done: str, **more: str) -> Response:
    query = {"start": start} if start else {}
    return page.redirect(f"/staff/tasks/{task_id}/roster", **query, done=done, **more)


def _signup_action(name: str, service, done: str):
    """A button beside a volunteer on the roster (``signup_id``, ``start``)."""

    async def act(page: Page) -> Response:
        task_id = page.path_id()
        form = values(await page.read_form(), "signup_id", "start", "note")
        raw = form["signup_id"]
        if raw is None or not raw.isdigit() or len(raw) > 9:
            raise NotFound("No such signup.", code="signup_not_found")
        signup_id = await roster.signup_of_task(page.user, task_id, int(raw))
        try:
            if name == "excuse":
                await service(page.hub, page.user, signup_id, given({"note": form["note"]}))
            else:
                await service(page.hub, page.user, signup_id)
        except VolunteerHubError as exc:
            if exc.kind in ("not_found", "forbidden"):
                raise
            errors = {signup_id: form_errors(exc, page.locale)}
            return await roster_page(
                page, errors=errors, typed={signup_id: form}, status=status_of(exc)
            )
        return _back(page, task_id, form["start"], done)

    act.__name__ = f"roster_{name.replace('-', '_')}"
    return page_route(f"/staff/tasks/{{id:int}}/roster/{name}", act, methods=["POST"])


async def check_in_by_code(page: Page) -> Response:
    task_id = page.path_id()
    form = values(await page.read_form(), "code", "start")
    try:
        done = await roster.check_in_by_code(
            page.hub, page.user, task_id, {"code": form["code"] or ""}
        )
    except VolunteerHubError as exc:
        if exc.kind in ("not_found", "forbidden") and exc.code != "signup_not_found":
            raise
        errors = {"code": form_errors(exc, page.locale)}
        return await roster_page(page, errors=errors, typed={"code": form}, status=status_of(exc))
    return _back(page, task_id, form["start"], "checked_in", who=done.name)


async def message_shift(page: Page) -> Response:
    task_id = page.path_id()
    form = values(await page.read_form(), "start", "message")
    when = _parse_key(form["start"])
    try:
        await roster.message_shift(
            page.hub,
            page.user,
            task_id,
            given({"occurrence_start": when, "message": form["message"]}),
        )
    except VolunteerHubError as exc:
        if exc.kind in ("not_found", "forbidden"):
            raise
        errors = {"message": form_errors(exc, page.locale)}
        return await roster_page(
            page, errors=errors, typed={"message": form}, status=status_of(exc)
        )
    return _back(page, task_id, form["start"], "messaged")


async def cancel_shift(page: Page) -> Response:
    task_id = page.path_id()
    form = values(await page.read_form(), "start")
    when = _parse_key(form["start"])
    if when is None:
        raise NotFound("The task has no occurrence at this time.", code="no_occurrence")
    try:
        await roster.cancel_shift(page.hub, page.user, task_id, when)
    except VolunteerHubError as exc:
        if exc.kind in ("not_found", "forbidden"):
            raise
        errors = {"cancel": form_errors(exc, page.locale)}
        return await roster_page(page, errors=errors, status=status_of(exc))
    return _back(page, task_id, form["start"], "shift_cancelled")


# --- editing and cancelling a task -----------------------------------------------------------


def _edit_values(task: roster.TaskSummary) -> dict[str, str]:
    zone = ZoneInfo(task.timezone)
    start, end = task.starts_at.astimezone(zone), task.ends_at.astimezone(zone)
    return {
        "title": task.title,
        "description": task.description,
        "location": task.location or "",
        "capacity": str(task.capacity),
        "date": start.date().isoformat(),
        "start_time": start.strftime("%H:%M"),
        "end_time": end.strftime("%H:%M"),
    }


async def edit_form(
    page: Page,
    *,
    errors: dict | None = None,
    form: dict | None = None,
    status: int = 200,
) -> Response:
    task = await roster.managed_task(page.user, page.path_id())
    return page.render(
        "staff/task_edit.html",
        status=status,
        task=task,
        community={"id": task.community_id},
        console=page.user.is_staff(task.community_id),
        form=form or _edit_values(task),
        errors=errors or {},
        timezone=task.timezone,
        section="tasks",
    )


_EDIT_ERROR_FIELDS = {"starts_at": "start_time", "ends_at": "end_time"}


async def save_task(page: Page) -> Response:
    task_id = page.path_id()
    task = await roster.managed_task(page.user, task_id)
    form = values(await page.read_form(), *EDIT_FIELDS)
    data: dict = {
        "title": form["title"],
        "description": form["description"] or "",
        "location": form["location"],
        "capacity": form["capacity"],
    }
    if data["title"] is None:
        del data["title"]
    if data["capacity"] is None:
        del data["capacity"]
    if not task.recurring and task.cancelled_at is None:
        schedule, problems = build_schedule({**form, "repeat": "once"}, [], task.timezone)
        if schedule is None:
            errors = {p.field: p.render(page.locale)["message"] for p in problems}
            return await edit_form(page, errors=errors, form=form, status=422)
        if (schedule.starts_at, schedule.ends_at) != (task.starts_at, task.ends_at):
            data.update(starts_at=schedule.starts_at, ends_at=schedule.ends_at)
    try:
        await roster.update_task(page.hub, page.user, task_id, data)
    except VolunteerHubError as exc:
        if exc.kind in ("not_found", "forbidden"):
            raise
        errors = {_EDIT_ERROR_FIELDS.get(k, k): v for k, v in form_errors(exc, page.locale).items()}
        return await edit_form(page, errors=errors, form=form, status=status_of(exc))
    return page.redirect(f"/staff/tasks/{task_id}/edit", done="updated")


async def cancel_task(page: Page) -> Response:
    task_id = page.path_id()
    form = values(await page.read_form(), "reason")
    try:
        await roster.cancel_task(page.hub, page.user, task_id, given(form))
    except VolunteerHubError as exc:
        if exc.kind in ("not_found", "forbidden"):
            raise
        task = await roster.managed_task(page.user, task_id)
        errors = {f"cancel_{k}": v for k, v in form_errors(exc, page.locale).items()}
        return await edit_form(
            page,
            errors=errors,
            form={**_edit_values(task), "reason": form["reason"] or ""},
            status=status_of(exc),
        )
    return page.redirect(f"/staff/tasks/{task_id}/edit", done="cancelled")


ROUTES = [
    page_route("/staff/tasks", task_list),
    page_route("/staff/tasks/{id:int}/roster", roster_page),
    _signup_action("check-in", tasks.check_in, "checked_in"),
    _signup_action("check-out", tasks.check_out, "checked_out"),
    _signup_action("no-show", roster.mark_no_show, "no_show"),
    _signup_action("excuse", roster.excuse, "excused"),
    page_route("/staff/tasks/{id:int}/roster/code", check_in_by_code, methods=["POST"]),
    page_route("/staff/tasks/{id:int}/roster/message", message_shift, methods=["POST"]),
    page_route("/staff/tasks/{id:int}/roster/cancel-shift", cancel_shift, methods=["POST"]),
    page_route("/staff/tasks/{id:int}/edit", edit_form),
    page_route("/staff/tasks/{id:int}/edit", save_task, methods=["POST"]),
    page_route("/staff/tasks/{id:int}/cancel", cancel_task, methods=["POST"]),
]
