"""Page machinery: the session cookie, CSRF, language and text size, rendering, errors.

The pages call the same services as the JSON API. A logged-in browser holds the same kind
of token as an API client (hashed at rest, expiring, revocable), in an HttpOnly cookie.
Every state-changing form carries a CSRF token: an HMAC of a random per-browser cookie
("signed double submit"), so a page from another site can neither read nor forge it.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from babel.dates import format_date, format_datetime, format_time
from jinja2 import Environment, PackageLoader, pass_context, select_autoescape
from markupsafe import Markup
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Route
from starlette.templating import Jinja2Templates

from volunteer_hub.errors import NotAuthenticated, NotFound, VolunteerHubError
from volunteer_hub.hub import Hub
from volunteer_hub.i18n import SUPPORTED_LOCALES, negotiate, translations
from volunteer_hub.notifications import inbox
from volunteer_hub.services import auth, people
from volunteer_hub.services.access import Actor
from volunteer_hub.services.views import AccountView, Role
from volunteer_hub.validation import MAX_ID
from volunteer_hub.web.errors import STATUS_BY_KIND

SESSION_COOKIE = "vh_session"
CSRF_COOKIE = "vh_csrf"
LANG_COOKIE = "vh_lang"
TEXT_COOKIE = "vh_text"
CSRF_FIELD = "csrf_token"
YEAR = 365 * 24 * 3600
# Form limits: no page takes files, and no form has many fields.
FORM_LIMITS = {"max_files": 0, "max_fields": 60, "max_part_size": 64 * 1024}


class CsrfRefused(VolunteerHubError):
    kind = "forbidden"
    default_code = "csrf_failed"


def build_templates() -> Jinja2Templates:
    """The pages' templates and their Jinja environment, built once per application
    (``create_app`` keeps them on ``app.state.templates``): two apps share nothing."""
    env = Environment(
        loader=PackageLoader("volunteer_hub.web", "templates"),
        autoescape=select_autoescape(default=True),
        extensions=["jinja2.ext.i18n"],
        trim_blocks=True,
        lstrip_blocks=True,
    )
    # The real gettext functions come with each page's context (its language).
    env.install_null_translations(newstyle=True)
    env.filters.update(when=_when, day=_day, clock=_clock)
    return Jinja2Templates(env=env)


def _moment(context: Any, value: datetime | None, zone: str | None, style: str) -> str:
    """A moment in the community's zone (or ``zone``), in the page's language."""
    if value is None:
        return ""
    page: Page = context["page"]
    local = value.astimezone(ZoneInfo(zone or page.timezone))
    if style == "time":
        return format_time(local, "short", locale=page.babel_locale)
    return format_datetime(local, "medium", locale=page.babel_locale)


@pass_context
def _when(context: Any, value: datetime | None, zone: str | None = None) -> str:
    return _moment(context, value, zone, "datetime")


@pass_context
def _clock(context: Any, value: datetime | None, zone: str | None = None) -> str:
    return _moment(context, value, zone, "time")


@pass_context
def _day(context: Any, value: date | None) -> str:
    if value is None:
        return ""
    page: Page = context["page"]
    return format_date(value, "medium", locale=page.babel_locale)


@dataclass
class Page:
    """One page request: who asks, in which language, and how to answer."""

    request: Request
    hub: Hub
    templates: Jinja2Templates
    locale: str
    actor: Actor | None
    account: AccountView | None  # what the page shows of the person logged in
    session_token: str | None
    csrf_seed: str
    large_text: bool
    new_cookies: dict[str, str] = field(default_factory=dict)
    form: FormData | None = None
    unread: int = 0  # the header's number of unread notifications

    @property
    def user(self) -> Actor:
        if self.actor is None:
            raise NotAuthenticated("You need to log in.")
        return self.actor

    def path_id(self, name: str = "id") -> int:
        """An id from the path; one no row can have (beyond 32 bits) is simply not found."""
        value = int(self.request.path_params[name])
        if value > MAX_ID:
            raise NotFound("Not found.", code="not_found")
        return value

    @property
    def babel_locale(self) -> str:
        return self.locale.replace("-", "_")

    @property
    def community_id(self) -> int | None:
        """The community the person acts in: where they live, else where they work."""
        if self.actor is None:
            return None
        if self.actor.community_id is not None:
            return self.actor.community_id
        ids = sorted(g.community_id for g in self.actor.grants if g.community_id is not None)
        return ids[0] if ids else None

    @property
    def timezone(self) -> str:
        return self.account.timezone if self.account else people.DEFAULT_TIMEZONE

    # --- roles, for navigation (the services decide what is allowed) ---

    def has(self, role: str) -> bool:
        if self.actor is None:
            return False
        cid = self.community_id
        if role == "staff":
            return cid is not None and self.actor.is_staff(cid)
        return cid is not None and self.actor.has_role(cid, Role(role))

    # --- text ---

    def gettext(self, msgid: str, **params: Any) -> str:
        text = translations(self.locale).gettext(msgid)
        return text % params if params else text

    def ngettext(self, singular: str, plural: str, n: int, **params: Any) -> str:
        text = translations(self.locale).ngettext(singular, plural, n)
        return text % {"num": n, **params}

    # --- CSRF ---

    def csrf_token(self) -> str:
        key = self.hub.settings.secret_key.encode()
        return hmac.new(key, b"csrf:" + self.csrf_seed.encode(), hashlib.sha256).hexdigest()

    def csrf_input(self) -> Markup:
        return Markup('<input type="hidden" name="{}" value="{}">').format(
            CSRF_FIELD, self.csrf_token()
        )

    async def read_form(self) -> FormData:
        """The posted form, refused (403) unless it carries this browser's CSRF token."""
        if self.form is None:
            self.form = await self.request.form(**FORM_LIMITS)
            sent = self.form.get(CSRF_FIELD)
            if not isinstance(sent, str) or not hmac.compare_digest(sent, self.csrf_token()):
                raise CsrfRefused("This form has expired or did not come from this site.")
        return self.form

    # --- answers ---

    def render(self, name: str, status: int = 200, **context: Any) -> Response:
        context.update(
            page=self,
            gettext=self.gettext,
            _=self.gettext,
            ngettext=self.ngettext,
            done=self.request.query_params.get("done"),
        )
        return self.templates.TemplateResponse(self.request, name, context, status_code=status)

    def redirect(self, path: str, **query: str | int) -> Response:
        """303 after a form POST, so a reload does not post again."""
        target = path + ("?" + urlencode(query) if query else "")
        return RedirectResponse(target, status_code=303)

    def error(self, exc: VolunteerHubError) -> Response:
        return self.render("error.html", status=status_of(exc), error=exc.as_dict(self.locale))

    def finish(self, response: Response) -> Response:
        secure = self.request.url.scheme == "https"
        for name, value in self.new_cookies.items():
            response.set_cookie(
                name, value, max_age=YEAR, httponly=True, samesite="lax", secure=secure
            )
        # Pages show personal data: no shared cache may keep them.
        response.headers.setdefault("Cache-Control", "no-store")
        return response

    def set_session(self, token: str | None) -> None:
        """Log in (a token) or out (None); a new CSRF seed either way, so a token read
        before login is worthless after it."""
        self.session_token = token
        self.new_cookies[SESSION_COOKIE] = token or ""
        self.csrf_seed = secrets.token_urlsafe(24)
        self.new_cookies[CSRF_COOKIE] = self.csrf_seed


def chosen_locale(request: Request) -> str | None:
    """The language the visitor chose with the pages' switch (a cookie), if they did."""
    chosen = request.cookies.get(LANG_COOKIE)
    return chosen if chosen in SUPPORTED_LOCALES else None


def choose_locale(request: Request) -> str:
    """The user's choice (cookie), then Accept-Language, then zh-CN."""
    return chosen_locale(request) or negotiate(request.headers.get("accept-language"))


async def load_page(request: Request) -> Page:
    hub: Hub = request.app.state.hub
    token = request.cookies.get(SESSION_COOKIE) or None
    actor = account = None
    unread = 0
    if token:
        try:
            actor = await auth.actor_for_token(hub, token)
            account = await people.account(actor)
            unread = await inbox.unread_count(actor.id)
        except NotAuthenticated:
            actor = token = None  # expired or revoked: the browser is simply logged out
    seed = request.cookies.get(CSRF_COOKIE) or ""
    page = Page(
        request=request,
        hub=hub,
        templates=request.app.state.templates,
        locale=choose_locale(request),
        actor=actor,
        account=account,
        session_token=token,
        csrf_seed=seed,
        large_text=request.cookies.get(TEXT_COOKIE) == "large",
        unread=unread,
    )
    if len(seed) < 16:
        page.csrf_seed = secrets.token_urlsafe(24)
        page.new_cookies[CSRF_COOKIE] = page.csrf_seed
    return page


PageHandler = Callable[[Page], Awaitable[Response]]


def page_route(
    path: str,
    handler: PageHandler,
    *,
    methods: Iterable[str] = ("GET",),
    login: bool = True,
) -> Route:
    """A page: logged-out visitors of a login page go to /login and come back after."""

    async def endpoint(request: Request) -> Response:
        page = await load_page(request)
        if login and page.actor is None:
            target = request.url.path
            if request.method == "GET" and request.url.query:
                target += "?" + request.url.query
            return page.finish(page.redirect("/login", next=target))
        try:
            if request.method == "POST":
                await page.read_form()
            response = await handler(page)
        except VolunteerHubError as exc:
            response = page.error(exc)
        return page.finish(response)

    return Route(path, endpoint, methods=list(methods), name=handler.__name__)


# Paths whose clients are programs: they always get the API's JSON error body.
NOT_PAGES = ("/api/", "/open311/", "/calendar/", "/static/", "/openapi.json", "/healthz")
ERROR_MESSAGES = {
    404: "Not found.",
    405: "Method not allowed.",
    500: "Something went wrong on our side.",
}


def wants_page(request: Request) -> bool:
    path = request.url.path
    accept = request.headers.get("accept", "")
    return "text/html" in accept and not path.startswith(NOT_PAGES)


async def error_page(request: Request, status: int) -> Response:
    """The error page for a path outside the pages' routes (or an unexpected failure)."""
    msgid = ERROR_MESSAGES.get(status, "The request failed.")
    try:
        page = await load_page(request)
    except Exception:  # the database may be what failed: answer without it
        locale = choose_locale(request)
        return HTMLResponse(translations(locale).gettext(msgid), status_code=status)
    error = {"message": page.gettext(msgid), "details": []}
    return page.finish(page.render("error.html", status=status, error=error))


def status_of(exc: VolunteerHubError) -> int:
    """The status a page answers with for a refusal: the API's for the same error."""
    return STATUS_BY_KIND.get(exc.kind, 400)


def safe_next(value: str | None) -> str:
    """Only a path on this site (never //host or a scheme) may follow a login."""
    if value and value.startswith("/") and not value.startswith("//") and "\\" not in value:
        return value
    return "/"


def form_errors(exc: VolunteerHubError, locale: str) -> dict[str, str]:
    """Field → message for a form to show beside each input; rules under '__all__'."""
    errors: dict[str, str] = {}
    body = exc.as_dict(locale)
    for detail in body.get("details", []):
        key = detail.get("field") or "__all__"
        errors.setdefault(key, detail["message"])
    if not errors:
        errors["__all__"] = body["message"]
    elif "__all__" not in errors and any("rule" in d for d in body.get("details", [])):
        errors["__all__"] = body["message"]
    return errors
