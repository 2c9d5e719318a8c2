"""Micro-wish pages for residents and grid workers: post, follow, confirm, cancel; the
wish page also carries the volunteer's claim, done and hand-back buttons, the note the
volunteer left for the resident, and links for staff."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from starlette.responses import Response

from volunteer_hub.errors import NotFound, VolunteerHubError
from volunteer_hub.i18n import localize
from volunteer_hub.services import availability, invitations, people, wishes
from volunteer_hub.services.views import WishView
from volunteer_hub.validation import mask_phone
from volunteer_hub.web.pages.base import Page, form_errors, page_route, status_of
from volunteer_hub.web.pages.forms import given, values


def _category_options(page: Page, community_id: int) -> list[tuple[str, str]]:
    categories = page.hub.wish_categories(community_id)
    return [(code, localize(c.name, page.locale)) for code, c in categories.items()]


async def _resident_options(page: Page, community_id: int) -> list[tuple[str, str]]:
    """For staff and grid workers: themselves, then the residents they may post for."""
    actor = page.user
    if not (actor.is_staff(community_id) or actor.is_grid_worker(community_id)):
        return []
    residents = await people.residents_in_my_grids(actor, community_id)
    return [("", page.gettext("Myself"))] + [
        (str(p.id), f"{p.name} ({mask_phone(p.phone)})") for p in residents if p.id != actor.id
    ]


async def new_wish_form(page: Page, *, errors=None, form=None, status: int = 200) -> Response:
    community_id = page.community_id
    if community_id is None:
        return page.redirect("/")
    return page.render(
        "wishes/new.html",
        status=status,
        errors=errors or {},
        form=form or {"on_behalf_of": page.request.query_params.get("for", "")},
        categories=_category_options(page, community_id),
        residents=await _resident_options(page, community_id),
        today=page.hub.today(page.timezone).isoformat(),
    )


# The form's date-and-time inputs for the wish's window, and the API's field names.
_WINDOW_FIELDS = {"window_start": "window.start", "window_end": "window.end"}


def _window(page: Page, form: dict[str, str | None]) -> dict[str, str] | None:
    """The window typed as two local date-times (``datetime-local``, in the community's
    time zone), as the service takes it; what does not parse goes as typed, so that the
    service names the field."""
    if form.get("window_start") is None and form.get("window_end") is None:
        return None
    zone = ZoneInfo(page.timezone)
    window = {}
    for name, key in (("window_start", "start"), ("window_end", "end")):
        raw = form.get(name)
        if raw is None:
            continue
        try:
            moment = datetime.fromisoformat(raw)
        except ValueError:
            window[key] = raw
            continue
        window[key] = (moment if moment.tzinfo else moment.replace(tzinfo=zone)).isoformat()
    return window


async def post_wish(page: Page) -> Response:
    fields = ("title", "description", "category", "needed_by", "on_behalf_of", *_WINDOW_FIELDS)
    raw = await page.read_form()
    form = values(raw, *fields)
    form["urgent"] = "1" if raw.get("urgent") else None
    data: dict = given({k: v for k, v in form.items() if k not in _WINDOW_FIELDS})
    window = _window(page, form)
    if window is not None:
        data["window"] = window
    data["urgent"] = form["urgent"] is not None
    try:
        wish = await invitations.post(page.hub, page.user, page.community_id or 0, data)
    except VolunteerHubError as exc:
        if exc.kind in ("forbidden", "not_found"):
            raise
        errors = form_errors(exc, page.locale)
        for name, api_name in _WINDOW_FIELDS.items():
            if api_name in errors:
                errors[name] = errors.pop(api_name)
        if "window" in errors:
            errors["window_start"] = errors.pop("window")
        return await new_wish_form(page, errors=errors, form=form, status=status_of(exc))
    return page.redirect(f"/wishes/{wish.id}", done="posted")


async def my_wishes(page: Page) -> Response:
    items = await wishes.my_wishes(page.hub, page.user)
    return page.render("wishes/mine.html", wishes=items, categories=_names(page, items))


def _names(page: Page, items: list[WishView]) -> dict[str, str]:
    names: dict[str, str] = {}
    for wish in items:
        if wish.category not in names:
            category = wishes.category_of(page.hub, wish.community_id, wish.category)
            names[wish.category] = localize(category.name, page.locale)
    return names


def _actions(wish: WishView) -> set[str]:
    """The buttons the wish's view allows this person now; the services check again."""
    allowed = {
        "claim": wish.may_claim,
        "fulfil": wish.may_fulfil,
        "confirm": wish.may_confirm,
        "cancel": wish.may_cancel,
        "hand_back": wish.may_hand_back,
    }
    return {name for name, may in allowed.items() if may}


async def wish_page(page: Page, *, errors=None, status: int = 200) -> Response:
    actor = page.user
    wish = await wishes.view(page.hub, actor, page.path_id())
    history = await wishes.timeline(page.hub, actor, wish.id)
    details = {}
    if wish.may_manage:  # staff: who was invited, at which rank and why, and their answers
        invited = await invitations.wish_invitations(page.hub, actor, wish.id)
        names = {i.person_id: i.name for i in invited}
        details = {entry.id: _dispatch_words(page, entry, names) for entry in history}
    invitation = None
    if wish.status.value == "open":
        invitation_id = await invitations.pending_for_wish(actor, wish.id)
        if invitation_id is not None:
            invitation = await invitations.invitation(page.hub, actor, invitation_id)
    return page.render(
        "wishes/detail.html",
        status=status,
        wish=wish,
        invitation=invitation,
        category=_names(page, [wish])[wish.category],
        actions=_actions(wish),
        history=history,
        details=details,
        errors=errors or {},
        zone=wish.timezone,
        not_sent=await availability.do_not_send_state(page.hub, actor, wish.id),
    )


def _dispatch_words(page: Page, entry, names: dict[int, str]) -> str | None:
    """A dispatch step of the wish's trail in words, for staff: who, at which rank and why
    (never a raw score), the reason of a decline, the level an exhausted dispatch reached."""
    after = entry.after if isinstance(entry.after, dict) else {}
    name = names.get(after.get("person_id"), "")
    if entry.action == "wish.dispatched":
        reasons = "；".join(localize(r, page.locale) for r in after.get("reasons") or ())
        text = page.gettext("%(name)s, ranked %(rank)s", name=name, rank=after.get("rank"))
        return f"{text}: {reasons}" if reasons else text
    if entry.action in ("wish.invited", "invitation.accepted", "invitation.expired"):
        return name or None
    if entry.action == "invitation.withdrawn":
        return name or None
    if entry.action == "invitation.declined":
        reason = after.get("decline_reason")
        return (
            page.gettext("%(name)s declined: %(reason)s", name=name, reason=reason)
            if reason
            else name
        )
    if entry.action == "wish.dispatch_exhausted":
        return page.gettext("Volunteers asked: %(num)s", num=after.get("asked") or 0)
    return None


def _wish_action(name: str, service, *fields: str):
    """A button on the wish page; a refusal is shown there, beside the buttons."""

    async def act(page: Page) -> Response:
        wish_id = page.path_id()
        form = values(await page.read_form(), *fields)
        data = given(form)
        try:
            if fields:
                await service(page.hub, page.user, wish_id, data)
            else:
                await service(page.hub, page.user, wish_id)
        except VolunteerHubError as exc:
            if exc.kind == "not_found":
                raise
            try:
                return await wish_page(
                    page, errors=form_errors(exc, page.locale), status=status_of(exc)
                )
            except NotFound:  # refused someone who may not see the wish (not approved yet)
                raise exc from None
        return page.redirect(f"/wishes/{wish_id}", done=name)

    act.__name__ = f"wish_{name}"
    return page_route(f"/wishes/{{id:int}}/{name}", act, methods=["POST"])


ROUTES = [
    page_route("/wishes/new", new_wish_form),
    page_route("/wishes/new", post_wish, methods=["POST"]),
    page_route("/wishes/mine", my_wishes),
    page_route("/wishes/{id:int}", wish_page),
    _wish_action("claim", wishes.claim),
    _wish_action("do-not-send", availability.do_not_send),
    _wish_action("fulfil", wishes.fulfil, "note", "hours"),
    _wish_action("hand-back", invitations.hand_back, "reason"),
    _wish_action("confirm", wishes.confirm, "rating", "thanks"),
    _wish_action("cancel", wishes.cancel, "reason"),
]
