"""Micro-wishes and their categories."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from volunteer_hub.i18n import localize
from volunteer_hub.services import invitations, matching, wishes
from volunteer_hub.services.views import WishStatus
from volunteer_hub.validation import Id, Input
from volunteer_hub.web.api import Call, Endpoint, ListPage, ListQuery, page
from volunteer_hub.web.schemas import (
    CandidateOut,
    CategoryOut,
    WishCreated,
    WishOut,
    wish_out,
)


class WishListQuery(ListQuery):
    status: WishStatus | None = None


class CandidatesQuery(Input):
    limit: Annotated[int, Field(ge=1, le=50)] = 10


class CategoriesQuery(Input):
    community_id: Id | None = None


async def post_wish(call: Call) -> WishCreated:
    wish = await invitations.post(call.hub, call.user, call.path_int("cid"), call.body)
    return WishCreated(id=wish.id, status=wish.status.value)


async def list_wishes(call: Call) -> dict:
    q: WishListQuery = call.query
    rows = await wishes.list_wishes(
        call.hub,
        call.user,
        call.path_int("cid"),
        status=q.status,
        after_id=q.after_id(),
        limit=q.limit + 1,
    )
    result = page(rows, q.limit, lambda w: w.id)
    result["items"] = [wish_out(w) for w in result["items"]]
    return result


async def get_wish(call: Call) -> WishOut:
    return wish_out(await wishes.view(call.hub, call.user, call.path_int("id")))


def _action(service, with_body: bool = True):
    async def endpoint(call: Call) -> WishOut:
        args = (call.body,) if with_body else ()
        wish = await service(call.hub, call.user, call.path_int("id"), *args)
        return wish_out(await wishes.as_seen_by(call.hub, call.user, wish))

    endpoint.__name__ = f"wish_{service.__name__}"
    return endpoint


async def candidates(call: Call) -> dict:
    ranked = await matching.candidates(
        call.hub, call.user, call.path_int("id"), limit=call.query.limit
    )
    return {
        "items": [
            CandidateOut(
                person_id=c.person_id,
                name=c.name,
                score=c.score,
                reasons=[localize(r, call.locale) for r in c.reasons],
            )
            for c in ranked
        ]
    }


async def categories(call: Call) -> dict:
    community_id = call.query.community_id or 0
    return {
        "items": [
            CategoryOut(
                code=c.code,
                name=localize(c.name, call.locale),
                team_kind=c.team_kind if c.served else None,
            )
            for c in call.hub.wish_categories(community_id).values()
        ]
    }


WISH_ERRORS = (401, 403, 404, 409, 422)

ENDPOINTS = [
    Endpoint(
        "POST",
        "/communities/{cid:int}/wishes",
        post_wish,
        "Post a micro-wish",
        body=wishes.WishIn,
        response=WishCreated,
        status=201,
        errors=WISH_ERRORS,
        tag="wishes",
    ),
    Endpoint(
        "GET",
        "/communities/{cid:int}/wishes",
        list_wishes,
        "The community's wishes that the caller may see",
        query=WishListQuery,
        response=ListPage[WishOut],
        errors=(401, 404, 422),
        tag="wishes",
    ),
    Endpoint(
        "GET",
        "/wishes/{id:int}",
        get_wish,
        "A wish",
        response=WishOut,
        errors=(401, 404),
        tag="wishes",
    ),
    Endpoint(
        "POST",
        "/wishes/{id:int}/review",
        _action(invitations.review),
        "Approve or reject (staff)",
        body=wishes.ReviewIn,
        response=WishOut,
        errors=WISH_ERRORS,
        tag="wishes",
    ),
    Endpoint(
        "POST",
        "/wishes/{id:int}/claim",
        _action(wishes.claim, with_body=False),
        "Claim an open wish (volunteers)",
        response=WishOut,
        errors=WISH_ERRORS,
        tag="wishes",
    ),
    Endpoint(
        "POST",
        "/wishes/{id:int}/fulfil",
        _action(wishes.fulfil),
        "Mark a claimed wish fulfilled (the claimer)",
        body=wishes.FulfilIn,
        response=WishOut,
        errors=WISH_ERRORS,
        tag="wishes",
    ),
    Endpoint(
        "POST",
        "/wishes/{id:int}/hand-back",
        _action(invitations.hand_back),
        "Hand a claimed wish back (the claimer): it is open again and offered to the next "
        "volunteer",
        body=wishes.HandBackIn,
        response=WishOut,
        errors=WISH_ERRORS,
        tag="wishes",
    ),
    Endpoint(
        "POST",
        "/wishes/{id:int}/confirm",
        _action(wishes.confirm),
        "Confirm, rate and thank (the resident, or staff)",
        body=wishes.ConfirmIn,
        response=WishOut,
        errors=WISH_ERRORS,
        tag="wishes",
    ),
    Endpoint(
        "POST",
        "/wishes/{id:int}/cancel",
        _action(wishes.cancel),
        "Cancel a wish (the resident, or staff)",
        body=wishes.CancelIn,
        response=WishOut,
        errors=WISH_ERRORS,
        tag="wishes",
    ),
    Endpoint(
        "POST",
        "/wishes/{id:int}/escalate",
        _action(wishes.escalate),
        "Escalate a wish blue → yellow → red (staff)",
        body=wishes.EscalateIn,
        response=WishOut,
        errors=WISH_ERRORS,
        tag="wishes",
    ),
    Endpoint(
        "GET",
        "/wishes/{id:int}/candidates",
        candidates,
        "Volunteers ranked for a wish (staff)",
        query=CandidatesQuery,
        response=ListPage[CandidateOut],
        errors=(401, 403, 404, 422),
        tag="wishes",
    ),
    Endpoint(
        "GET",
        "/wish-categories",
        categories,
        "Wish categories",
        query=CategoriesQuery,
        response=ListPage[CategoryOut],
        auth="none",
        errors=(422,),
        tag="wishes",
    ),
]
