"""Home (with the public overview for visitors), the public shift grid, login, logout,
registration, password change and reset, and the language and text-size preferences."""

from __future__ import annotations

from datetime import date, timedelta
from importlib.resources import files

from babel.dates import format_skeleton
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from volunteer_hub.errors import InvalidInput, NotFound, Throttled, VolunteerHubError
from volunteer_hub.i18n import SUPPORTED_LOCALES, localize
from volunteer_hub.services import auth, channels, people, public
from volunteer_hub.validation import MAX_ID
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
        communities = await public.overview(page.hub, days=public.DAYS)
        return page.render(
            "home_public.html",
            communities=communities,
            categories=category_names(page, communities),
            day_label=_day_label(page),
            today=page.hub.today(people.DEFAULT_TIMEZONE),
        )
    console_home = console.console_home(page)
    if console_home is not None:  # administrators and staff start in the console
        return page.redirect(console_home)
    return page.render("home.html")


MAX_WEEKS_AWAY = 52  # the public grid goes a year back and a year ahead


def _day_label(page: Page):
    """A day as a week grid heads it: weekday and date (周一 12月7日, Mon, Dec 7)."""
    return lambda day: format_skeleton("MMMEd", day, locale=page.babel_locale)


def category_names(
    page: Page, communities: list[public.PublicCommunity]
) -> dict[int, dict[str, str]]:
    """Each community's category names in the page's language (plugins name them)."""
    return {
        c.id: {
            code: localize(cat.name, page.locale)
            for code, cat in page.hub.wish_categories(c.id).items()
        }
        for c in communities
    }


async def shifts(page: Page) -> Response:
    """The public week grid of one community's shifts: ``?community=<id>&week=<a day>``
    (the week starting that day; default today), with the weeks before and after."""
    params = page.request.query_params
    try:
        community_id = int(params.get("community", ""))
    except ValueError:
        community_id = -1
    if not 0 < community_id <= MAX_ID:
        raise NotFound("No such community.", code="community_not_found")
    week = params.get("week")
    try:
        first_day = date.fromisoformat(week) if week else None
    except ValueError:
        raise InvalidInput.for_field("week", "Must be a date like 2026-12-07.") from None
    today = page.hub.today(people.DEFAULT_TIMEZONE)
    if first_day is not None and abs((first_day - today).days) > MAX_WEEKS_AWAY * 7:
        raise InvalidInput.for_field("week", "Must be within a year of today.")
    found = await public.overview(page.hub, community_id=community_id, first_day=first_day)
    if not found:
        raise NotFound("No such community.", code="community_not_found")
    community = found[0]
    start = community.days[0].day
    return page.render(
        "shifts_public.html",
        community=community,
        categories=category_names(page, found),
        day_label=_day_label(page),
        previous=(start - timedelta(days=7)).isoformat(),
        following=(start + timedelta(days=7)).isoformat(),
        today=page.hub.today(community.timezone),
    )


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
    data: dict = given(form)
    consent = page.form.get("sms_consent") == "yes" if page.form else False
    form["sms_consent"] = "yes" if consent else None
    data.pop("sms_consent", None)
    data["sms_consent"] = consent
    address = client_address(page.request)
    try:
        person_id = (await channels.register(page.hub, data, address=address)).id
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
    if consent and await channels.awaiting_code(person_id):  # the channels page takes it
        return page.redirect("/channels", done="registered")
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


async def forgot_form(page: Page) -> Response:
    return page.render("password_forgot.html", errors={}, phone=None)


async def forgot(page: Page) -> Response:
    """Ask for a code at one's confirmed addresses; the same answer whether or not the
    phone is registered (the reset page, saying where a code goes if there is one)."""
    form = values(await page.read_form(), "phone")
    try:
        await auth.request_reset_code(page.hub, given(form), client_address(page.request))
    except VolunteerHubError as exc:
        return _retry_after(
            exc,
            page.render(
                "password_forgot.html",
                status=status_of(exc),
                errors=form_errors(exc, page.locale),
                phone=form["phone"],
            ),
        )
    return page.render("password_reset.html", errors={}, phone=form["phone"], sent=True)


async def reset_form(page: Page) -> Response:
    return page.render("password_reset.html", errors={}, phone=None, sent=False)


async def reset(page: Page) -> Response:
    form = values(await page.read_form(), "phone", "code", "password")
    try:
        await auth.reset_password(page.hub, given(form), client_address(page.request))
    except VolunteerHubError as exc:
        return _retry_after(
            exc,
            page.render(
                "password_reset.html",
                status=status_of(exc),
                errors=form_errors(exc, page.locale),
                phone=form["phone"],
                sent=False,
            ),
        )
    if page.session_token:  # its token was revoked with every other one
        page.set_session(None)
    return page.redirect("/login", done="reset")


async def issue_reset_code(page: Page) -> Response:
    """Staff (or a resident's grid worker) make a one-time code for a person who forgot
    their password: shown on this page once, never stored readable."""
    issued = await auth.issue_reset_code(page.hub, page.user, page.path_id())
    return page.render("password_code.html", issued=issued)


async def favicon(request: Request) -> Response:
    """The site's mark at the address browsers ask for by themselves."""
    return Response(
        _FAVICON,
        media_type="image/svg+xml",
        headers={"Cache-Control": "public, max-age=86400"},
    )


_FAVICON = files("volunteer_hub.web").joinpath("static/favicon.svg").read_bytes()


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
    page_route("/password/forgot", forgot_form, login=False),
    page_route("/password/forgot", forgot, methods=["POST"], login=False),
    page_route("/password/reset", reset_form, login=False),
    page_route("/password/reset", reset, methods=["POST"], login=False),
    page_route("/staff/people/{id:int}/reset-code", issue_reset_code, methods=["POST"]),
    page_route("/shifts", shifts, login=False),
    Route("/favicon.ico", favicon, methods=["GET"]),
    page_route("/preferences", preferences, methods=["POST"], login=False),
]
