"""When I am free: a volunteer's weekly availability, one row of time ranges per weekday.

Ranking reads it (``services.availability``): someone who says nothing counts as free at
any time. The page works without JavaScript: each day offers the ranges already set and
two empty ones."""

from __future__ import annotations

import re

from starlette.responses import Response

from volunteer_hub.errors import VolunteerHubError
from volunteer_hub.services import availability
from volunteer_hub.web.pages.base import Page, form_errors, page_route, status_of

SPARE_ROWS = 2
_START = re.compile(r"^d([1-7])-(\d{1,2})-start$")


def _field_order(key: str) -> tuple[int, int]:
    match = _START.match(key)
    return (int(match[1]), int(match[2])) if match else (99, 0)


def _rows(slots: list[tuple[int, str, str]]) -> dict[int, list[tuple[str, str]]]:
    """Per weekday (1..7): the ranges set, then SPARE_ROWS empty ones."""
    rows: dict[int, list[tuple[str, str]]] = {d: [] for d in range(1, 8)}
    for weekday, start, end in slots:
        rows.setdefault(weekday, []).append((start, end))
    for ranges in rows.values():
        ranges.extend([("", "")] * SPARE_ROWS)
    return rows


async def show(
    page: Page,
    *,
    rows: dict[int, list[tuple[str, str]]] | None = None,
    errors: dict[str, str] | None = None,
    status: int = 200,
) -> Response:
    if rows is None:
        saved = await availability.get_availability(page.user)
        rows = _rows([(s.weekday, s.start, s.end) for s in saved])
    return page.render(
        "volunteer/availability.html",
        status=status,
        rows=rows,
        weekdays=[
            page.gettext("Monday"),
            page.gettext("Tuesday"),
            page.gettext("Wednesday"),
            page.gettext("Thursday"),
            page.gettext("Friday"),
            page.gettext("Saturday"),
            page.gettext("Sunday"),
        ],
        errors=errors or {},
        notices={"saved": page.gettext("Saved.")},
    )


async def save(page: Page) -> Response:
    form = await page.read_form()
    slots: list[dict] = []
    names: list[str] = []  # the input of each slot, for its error
    entered: list[tuple[int, str, str]] = []
    for key in sorted(form.keys(), key=_field_order):
        match = _START.match(key)
        if match is None:
            continue
        weekday, k = int(match[1]), int(match[2])
        start = str(form.get(key) or "").strip()
        end = str(form.get(f"d{weekday}-{k}-end") or "").strip()
        if start or end:
            slots.append({"weekday": weekday, "start": start, "end": end})
            names.append(f"d{weekday}-{k}")
            entered.append((weekday, start, end))
    try:
        await availability.set_availability(page.hub, page.user, {"slots": slots})
    except VolunteerHubError as exc:
        if exc.kind != "invalid":
            raise
        errors: dict[str, str] = {}
        for field, message in form_errors(exc, page.locale).items():
            parts = field.split(".")
            if len(parts) == 3 and parts[0] == "slots" and parts[1].isdigit():
                index = int(parts[1])
                if index < len(names):
                    errors.setdefault(f"{names[index]}-{parts[2]}", message)
                    continue
            errors.setdefault("__all__", message)
        rows = _rows(entered)
        return await show(page, rows=rows, errors=errors, status=status_of(exc))
    return page.redirect("/availability", done="saved")


ROUTES = [
    page_route("/availability", show),
    page_route("/availability", save, methods=["POST"]),
]
