"""Reaching people outside the app: the channels page (a person's own, and the assisted one
staff and grid workers fill in for a resident), the residents a grid worker serves, and the
inbox."""

from __future__ import annotations

from starlette.responses import Response

from volunteer_hub.errors import VolunteerHubError
from volunteer_hub.i18n import localize
from volunteer_hub.notifications import inbox
from volunteer_hub.services import channels
from volunteer_hub.web.pages.base import Page, form_errors, page_route, status_of
from volunteer_hub.web.pages.forms import values

INBOX_PAGE = 30  # notifications per inbox page


def _named(page: Page, choices: list[channels.ChannelChoice]) -> list[dict]:
    return [{"c": c, "name": localize(c.name, page.locale)} for c in choices]


# --- a person's own channels -----------------------------------------------------------


async def my_channels(page: Page, *, errors=None, status: int = 200) -> Response:
    choices = await channels.my_choices(page.hub, page.user)
    return page.render(
        "reach/channels.html",
        status=status,
        choices=_named(page, choices),
        errors=errors or {},
        base="/channels",
        resident=None,
    )


def _own_action(name: str, act):
    """A button on the person's channels page; a refusal is shown beside its channel."""

    async def endpoint(page: Page) -> Response:
        code = page.request.path_params["code"]
        form = values(await page.read_form(), "address", "code")
        try:
            done = await act(page, code, form)
        except VolunteerHubError as exc:
            if exc.kind == "not_found":
                raise
            errors = {code: form_errors(exc, page.locale)}
            return await my_channels(page, errors=errors, status=status_of(exc))
        return page.redirect("/channels", done=done)

    endpoint.__name__ = f"channel_{name}"
    path = "/channels/{code:str}" + ("" if name == "set" else f"/{name}")
    return page_route(path, endpoint, methods=["POST"])


async def _set(page: Page, code: str, form: dict) -> str:
    row = await channels.set_address(page.hub, page.user, code, {"address": form["address"] or ""})
    return "saved" if row.confirmed_at is not None else "code_sent"


async def _confirm(page: Page, code: str, form: dict) -> str:
    await channels.confirm_address(page.hub, page.user, code, {"code": form["code"] or ""})
    return "confirmed"


async def _resend(page: Page, code: str, form: dict) -> str:
    await channels.send_code(page.hub, page.user, code)
    return "code_sent"


async def _test(page: Page, code: str, form: dict) -> str:
    await channels.send_test(page.hub, page.user, code)
    return "test_sent"


async def _off(page: Page, code: str, form: dict) -> str:
    await channels.switch_off(page.hub, page.user, code)
    return "off"


# --- assisted: a resident's channels, set by staff or their grid worker -------------------


async def resident_channels(page: Page, *, errors=None, status: int = 200) -> Response:
    resident, choices = await channels.resident_choices(page.hub, page.user, page.path_id())
    return page.render(
        "reach/channels.html",
        status=status,
        choices=_named(page, choices),
        errors=errors or {},
        base=f"/people/{resident.id}/channels",
        resident=resident,
    )


def _assisted_action(name: str, act):
    async def endpoint(page: Page) -> Response:
        person_id = page.path_id()
        code = page.request.path_params.get("code", "")
        form = values(await page.read_form(), "address", "reached")
        try:
            done = await act(page, person_id, code, form)
        except VolunteerHubError as exc:
            if exc.kind == "not_found":
                raise
            errors = {code or "__resident__": form_errors(exc, page.locale)}
            return await resident_channels(page, errors=errors, status=status_of(exc))
        return page.redirect(f"/people/{person_id}/channels", done=done)

    endpoint.__name__ = f"resident_channel_{name}"
    if name == "reached":
        path = "/people/{id:int}/reached-through-grid-worker"
    else:
        path = "/people/{id:int}/channels/{code:str}" + ("" if name == "set" else f"/{name}")
    return page_route(path, endpoint, methods=["POST"])


async def _set_for(page: Page, person_id: int, code: str, form: dict) -> str:
    address = {"address": form["address"] or ""}
    await channels.set_address_for(page.hub, page.user, person_id, code, address)
    return "saved"


async def _test_for(page: Page, person_id: int, code: str, form: dict) -> str:
    await channels.send_test(page.hub, page.user, code, person_id)
    return "test_sent"


async def _off_for(page: Page, person_id: int, code: str, form: dict) -> str:
    await channels.switch_off_for(page.hub, page.user, person_id, code)
    return "off"


async def _reached(page: Page, person_id: int, code: str, form: dict) -> str:
    value = form["reached"] == "yes"
    data = {"reached_through_grid_worker": value}
    await channels.set_reached_through_grid_worker(page.hub, page.user, person_id, data)
    return "reached_on" if value else "reached_off"


async def residents(page: Page) -> Response:
    """The residents a grid worker serves (staff: the community's), with their channels."""
    community_id = page.community_id
    if community_id is None:
        return page.redirect("/")
    items = await channels.residents_served(page.user, community_id)
    query = (page.request.query_params.get("q") or "").strip()
    if query:
        items = [r for r in items if query in r.name or r.phone.endswith(query)]
    return page.render("reach/residents.html", residents=items, query=query)


# --- the inbox ------------------------------------------------------------------------------


async def inbox_page(page: Page) -> Response:
    raw = page.request.query_params.get("before", "")
    before = int(raw) if raw.isdigit() and len(raw) < 19 else None
    unread_only = page.request.query_params.get("unread") == "1"
    rows = await inbox.list_inbox(
        page.user, before_id=before, limit=INBOX_PAGE + 1, unread=unread_only
    )
    more = len(rows) > INBOX_PAGE
    rows = rows[:INBOX_PAGE]
    return page.render(
        "reach/inbox.html",
        items=rows,
        next_before=rows[-1].id if more and rows else None,
        unread_only=unread_only,
    )


async def read_one(page: Page) -> Response:
    await inbox.mark_read(page.hub, page.user, page.path_id())
    return page.redirect("/inbox")


async def read_all(page: Page) -> Response:
    await inbox.mark_all_read(page.hub, page.user)
    return page.redirect("/inbox", done="all_read")


ROUTES = [
    page_route("/channels", my_channels),
    _own_action("set", _set),
    _own_action("confirm", _confirm),
    _own_action("code", _resend),
    _own_action("test", _test),
    _own_action("off", _off),
    page_route("/residents", residents),
    page_route("/people/{id:int}/channels", resident_channels),
    _assisted_action("set", _set_for),
    _assisted_action("test", _test_for),
    _assisted_action("off", _off_for),
    _assisted_action("reached", _reached),
    page_route("/inbox", inbox_page),
    page_route("/inbox/read-all", read_all, methods=["POST"]),
    page_route("/inbox/{id:int}/read", read_one, methods=["POST"]),
]
