"""The invited person's pages: my invitations (those to answer first) and one invitation
with its accept and decline buttons, where the message's link leads (after logging in).
The wish page carries the same buttons for an invited volunteer (``web.pages.wishes``)."""

from __future__ import annotations

from starlette.responses import Response

from volunteer_hub.errors import VolunteerHubError
from volunteer_hub.i18n import localize
from volunteer_hub.services import invitations, wishes
from volunteer_hub.services.invitations import InvitationView
from volunteer_hub.web.pages.base import Page, form_errors, page_route, status_of
from volunteer_hub.web.pages.forms import given, values


def category_names(page: Page, views: list[InvitationView]) -> dict[str, str]:
    names: dict[str, str] = {}
    community_id = page.community_id or 0
    for view in views:
        if view.category and view.category not in names:
            category = wishes.category_of(page.hub, community_id, view.category)
            names[view.category] = localize(category.name, page.locale)
    return names


async def my_invitations(page: Page) -> Response:
    items = await invitations.pending_first(page.hub, page.user)
    return page.render(
        "invitations/list.html",
        items=items,
        to_answer=[i for i in items if i.may_answer],
        answered=[i for i in items if not i.may_answer],
        categories=category_names(page, items),
    )


async def invitation_page(page: Page, *, errors=None, status: int = 200) -> Response:
    item = await invitations.invitation(page.hub, page.user, page.path_id())
    return page.render(
        "invitations/detail.html",
        status=status,
        item=item,
        categories=category_names(page, [item]),
        errors=errors or {},
    )


def _answer(name: str, service, *fields: str):
    """Accept or decline; a refusal (taken meanwhile, expired, full) is shown on the page."""

    async def act(page: Page) -> Response:
        invitation_id = page.path_id()
        data = given(values(await page.read_form(), *fields))
        try:
            if fields:
                view = await service(page.hub, page.user, invitation_id, data)
            else:
                view = await service(page.hub, page.user, invitation_id)
        except VolunteerHubError as exc:
            if exc.kind == "not_found":
                raise
            return await invitation_page(
                page, errors=form_errors(exc, page.locale), status=status_of(exc)
            )
        back = page.request.query_params.get("from")
        if back == "wish" and view.wish_id is not None:
            return page.redirect(f"/wishes/{view.wish_id}", done=f"invitation-{name}")
        if back == "list":
            return page.redirect("/invitations", done=name)
        return page.redirect(invitations.answer_path(invitation_id), done=name)

    act.__name__ = f"invitation_{name}"
    return page_route(f"/invitations/{{id:int}}/{name}", act, methods=["POST"])


ROUTES = [
    page_route("/invitations", my_invitations),
    page_route("/invitations/{id:int}", invitation_page),
    _answer("accept", invitations.accept),
    _answer("decline", invitations.decline, "reason"),
]
