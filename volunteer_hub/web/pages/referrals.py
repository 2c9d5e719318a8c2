"""The closed 吹哨 loop's pages: ``/staff/contacts`` (who answers for what, at which level,
in which language: list, add, deactivate) and ``/referrals/{token}``, the page a
responsible contact opens from their message, without an account, in their language: the
wish without personal data, "已收到" and "已解决" with a note; once the link no longer
answers (its wish closed, or its lifetime over), why. The link's token is the credential;
the forms carry a CSRF token as every form does."""

from __future__ import annotations

from starlette.responses import Response

from volunteer_hub.errors import NotFound, VolunteerHubError
from volunteer_hub.i18n import localize
from volunteer_hub.services import channels, referrals
from volunteer_hub.services.views import Escalation
from volunteer_hub.web.pages.base import (
    Page,
    chosen_locale,
    form_errors,
    page_route,
    status_of,
)
from volunteer_hub.web.pages.forms import given, values
from volunteer_hub.web.pages.staff import category_names, require_community

CONTACT_FIELDS = ("category", "level", "name", "channel_code", "address", "locale")
# Each language a contact may be spoken to in, named in itself (as the pages' switch does).
LANGUAGE_NAMES = {"zh-CN": "中文", "en": "English"}
# The referral page answers without the site's usual caches and referrers: the address
# itself is the secret.
_PRIVATE = {"Referrer-Policy": "no-referrer", "X-Robots-Tag": "noindex"}


# --- responsible contacts (staff) -----------------------------------------------------------


async def contacts_page(
    page: Page, *, errors: dict | None = None, typed: dict | None = None, status: int = 200
) -> Response:
    community = await require_community(page)
    contacts = await referrals.list_contacts(page.hub, page.user, community.id)
    categories = category_names(page, community.id)
    kinds = page.hub.notification_channels()
    channel_options = [
        (code, name) for code, name, _ in await channels.community_channels(page.hub, community.id)
    ]
    channel_names = {code: name for code, name in channel_options}
    for code, kind in kinds.items():
        channel_names.setdefault(code, localize(kind.name, page.locale))
    return page.render(
        "staff/contacts.html",
        status=status,
        community=community,
        contacts=referrals.by_level(contacts),
        categories=categories,
        category_options=[("", page.gettext("Every category")), *categories.items()],
        level_options=[(level.value, level.value) for level in Escalation],
        channel_options=channel_options,
        channel_names=channel_names,
        language_names=LANGUAGE_NAMES,
        errors=errors or {},
        typed=typed or {},
        section="contacts",
    )


async def add_contact(page: Page) -> Response:
    community = await require_community(page)
    form = values(await page.read_form(), *CONTACT_FIELDS)
    data: dict = given(form)
    data.setdefault("address", "")
    try:
        await referrals.add_contact(page.hub, page.user, community.id, data)
    except VolunteerHubError as exc:
        if exc.kind in ("forbidden", "not_found"):
            raise
        return await contacts_page(
            page, errors=form_errors(exc, page.locale), typed=form, status=status_of(exc)
        )
    return page.redirect("/staff/contacts", community=community.id, done="added")


async def deactivate_contact(page: Page) -> Response:
    community = await require_community(page)
    raw = values(await page.read_form(), "contact_id")["contact_id"] or ""
    if not raw.isdigit() or len(raw) > 9:
        raise NotFound("No such responsible contact.", code="contact_not_found")
    await referrals.deactivate_contact(page.hub, page.user, int(raw))
    return page.redirect("/staff/contacts", community=community.id, done="deactivated")


# --- the contact's link (no login) --------------------------------------------------------------


def _token(page: Page) -> str:
    return page.request.path_params["token"]


def _speak(page: Page, locale: str) -> None:
    """The link's page speaks its contact's language (staff set it, and their message spoke
    it), unless the visitor chose one with the pages' switch: that choice wins, as on every
    page; a browser's Accept-Language is only a guess, and the contact's language is known."""
    page.locale = chosen_locale(page.request) or locale


def _private(response: Response) -> Response:
    response.headers.update(_PRIVATE)
    return response


def closed_page(page: Page, notice: referrals.ClosedNotice, *, refused: bool = False) -> Response:
    """A link that no longer answers: why, in its contact's language; 409 when it refused an
    answer (nothing was saved)."""
    _speak(page, notice.locale)
    return _private(
        page.render(
            "referral_closed.html",
            status=409 if refused else 200,
            notice=notice,
            refused=refused,
            days=referrals.LINK_LIFETIME.days,
        )
    )


async def referral_page(
    page: Page, *, refused: VolunteerHubError | None = None, typed: dict | None = None
) -> Response:
    """The link's page; ``refused``: an answer it refused, shown beside its form."""
    try:
        view = await referrals.open_link(page.hub, _token(page))
    except referrals.LinkClosed as closed:
        return closed_page(page, closed.notice, refused=refused is not None)
    _speak(page, view.locale)
    errors: dict[str, str] = {}
    if refused is not None:
        errors = form_errors(refused, page.locale)
        if refused.kind == "conflict":
            errors = {"__all__": refused.message(page.locale)}
    return _private(
        page.render(
            "referral.html",
            status=status_of(refused) if refused is not None else 200,
            referral=view,
            token=_token(page),
            category=category_names(page, view.community_id).get(view.category, view.category),
            waiting=referrals.age_in_words(page.hub.now() - view.posted_at, page.locale),
            errors=errors,
            typed=typed or {},
        )
    )


async def acknowledge(page: Page) -> Response:
    token = _token(page)
    try:
        await referrals.acknowledge(page.hub, token)
    except referrals.LinkClosed as closed:
        return closed_page(page, closed.notice, refused=True)
    except VolunteerHubError as exc:
        if exc.kind == "not_found":
            raise
        return await referral_page(page, refused=exc)
    return page.redirect(f"/referrals/{token}", done="acknowledged")


async def resolve(page: Page) -> Response:
    token = _token(page)
    form = values(await page.read_form(), "note")
    try:
        await referrals.resolve(page.hub, token, given(form))
    except referrals.LinkClosed as closed:
        return closed_page(page, closed.notice, refused=True)
    except VolunteerHubError as exc:
        if exc.kind == "not_found":
            raise
        return await referral_page(page, refused=exc, typed=form)
    return page.redirect(f"/referrals/{token}", done="resolved")


ROUTES = [
    page_route("/staff/contacts", contacts_page),
    page_route("/staff/contacts", add_contact, methods=["POST"]),
    page_route("/staff/contacts/deactivate", deactivate_contact, methods=["POST"]),
    page_route("/referrals/{token}", referral_page, login=False),
    page_route("/referrals/{token}/acknowledge", acknowledge, methods=["POST"], login=False),
    page_route("/referrals/{token}/resolve", resolve, methods=["POST"], login=False),
]
