"""Home, login, logout, registration, password change, and the language and text-size
preferences."""

from __future__ import annotations

from starlette.responses import Response

from volunteer_hub.errors import Throttled, VolunteerHubError
from volunteer_hub.i18n import SUPPORTED_LOCALES
from volunteer_hub.services import auth, people
from volunteer_hub.web.api import client_address
from volunteer_hub.web.pages import console
from volunteer_hub.web.pages.base import (
    LANG_COOKIE,
    TEXT_COOKIE,
    Page,
    form_errors,
    page_route,
    safe_next,
    status_of,
)
from volunteer_hub.web.pages.forms import given, values


async def home(page: Page) -> Response:
    if page.actor is None:
        communities = await people.list_communities(limit=200)
        return page.render("home_public.html", communities=communities)
    console_home = console.console_home(page)
    if console_home is not None:  # administrators and staff start in the console
        return page.redirect(console_home)
    return page.render("home.html")


async def login_form(page: Page) -> Response:
    if page.actor is not None:
        return page.redirect(safe_next(page.request.query_params.get("next")))
    return page.render("login.html", errors={}, next=page.request.query_params.get("next", "/"))


async def login(page: Page) -> Response:
    form = values(await page.read_form(), "phone", "password", "next")
    address = client_address(page.request)
    try:
        result = await auth.login(page.hub, form["phone"] or "", form["password"] or "", address)
    except VolunteerHubError as exc:
        status = 429 if exc.kind == "throttled" else 401
        errors = {"__all__": exc.message(page.locale)}
        return _retry_after(
            exc,
            page.render(
                "login.html", status=status, errors=errors, next=form["next"], phone=form["phone"]
            ),
        )
    page.set_session(result.token)
    return page.redirect(safe_next(form["next"]))


async def logout(page: Page) -> Response:
    if page.session_token:
        await auth.logout(page.hub, page.session_token)
    page.set_session(None)
    return page.redirect("/")


async def _community_options() -> list[tuple[int, str]]:
    return [(c.id, c.name) for c in await people.list_communities(limit=200)]


async def register_form(page: Page) -> Response:
    return page.render("register.html", errors={}, form={}, communities=await _community_options())


async def register(page: Page) -> Response:
    form = values(
        await page.read_form(),
        "name",
        "phone",
        "password",
        "community_id",
        "birth_date",
        "id_number",
        "address",
    )
    data = given(form)
    address = client_address(page.request)
    try:
        await people.register(page.hub, data, address=address)
        result = await auth.login(page.hub, data["phone"], data["password"], address)
    except VolunteerHubError as exc:
        return _retry_after(
            exc,
            page.render(
                "register.html",
                status=status_of(exc),
                errors=form_errors(exc, page.locale),
                form=form,
                communities=await _community_options(),
            ),
        )
    page.set_session(result.token)
    return page.redirect("/", done="registered")


def _retry_after(exc: VolunteerHubError, response: Response) -> Response:
    """A throttled form says when to try again, as the API does."""
    if isinstance(exc, Throttled):
        response.headers["Retry-After"] = str(exc.retry_after)
    return response


async def password_form(page: Page) -> Response:
    return page.render("password.html", errors={})


async def change_password(page: Page) -> Response:
    form = values(await page.read_form(), "current_password", "new_password")
    try:
        await people.change_password(page.hub, page.actor, given(form))
    except VolunteerHubError as exc:
        errors = form_errors(exc, page.locale)
        return page.render("password.html", status=status_of(exc), errors=errors)
    return page.redirect("/password", done="password")


async def preferences(page: Page) -> Response:
    """The language switch and the large-text mode, remembered in cookies (and, for
    the language, on the person, so notifications follow it too)."""
    form = values(await page.read_form(), "lang", "text", "next")
    if form["lang"] in SUPPORTED_LOCALES:
        page.new_cookies[LANG_COOKIE] = form["lang"]
        if page.actor is not None:
            await people.set_locale(page.hub, page.actor, form["lang"])
    if form["text"] in ("large", "normal"):
        page.new_cookies[TEXT_COOKIE] = form["text"]
    return page.redirect(safe_next(form["next"]))


ROUTES = [
    page_route("/", home, login=False),
    page_route("/login", login_form, login=False),
    page_route("/login", login, methods=["POST"], login=False),
    page_route("/logout", logout, methods=["POST"], login=False),
    page_route("/register", register_form, login=False),
    page_route("/register", register, methods=["POST"], login=False),
    page_route("/password", password_form),
    page_route("/password", change_password, methods=["POST"]),
    page_route("/preferences", preferences, methods=["POST"], login=False),
]
