"""The optimal fair roster (排班方案): staff generate a plan for a period, preview and adjust
it, then accept it (its places go out as invitations) or discard it
(``services.rostering``)."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel

from volunteer_hub.services import rostering
from volunteer_hub.web.api import Call, Endpoint
from volunteer_hub.web.schemas import local


class SpreadOut(BaseModel):
    histogram: list[int]  # how many people get 0, 1, 2... places in the period
    max: int
    mean: float
    none: int


class SummaryOut(BaseModel):
    occurrences: int
    places: int
    assigned: int
    left_open: int
    candidates: int
    refused_by_rules: int = 0
    closed_for_minimum_group: int = 0
    before: SpreadOut
    after: SpreadOut


class AssignmentOut(BaseModel):
    id: int
    task_id: int
    task_title: str
    location: str | None
    occurrence_start: datetime
    occurrence_end: datetime
    person_id: int
    name: str
    reasons: list[str]


class RosterPlanOut(BaseModel):
    id: int
    community_id: int
    status: str
    period_start: datetime
    period_end: datetime
    summary: SummaryOut
    assignments: list[AssignmentOut]


class SkippedOut(BaseModel):
    assignment_id: int
    person_id: int
    task_id: int
    occurrence_start: datetime
    reason: str  # place_taken, already_signed_up, already_invited, registration_refused...


class AcceptOut(BaseModel):
    id: int
    status: str
    invited: int
    skipped: list[SkippedOut]


class DiscardOut(BaseModel):
    id: int
    status: str


def plan_out(view: rostering.RosterPlanView) -> RosterPlanOut:
    tz = view.timezone
    return RosterPlanOut(
        id=view.id,
        community_id=view.community_id,
        status=view.status.value,
        period_start=local(view.period_start, tz),
        period_end=local(view.period_end, tz),
        summary=SummaryOut.model_validate(view.summary),
        assignments=[
            AssignmentOut(
                id=a.id,
                task_id=a.task_id,
                task_title=a.task_title,
                location=a.location,
                occurrence_start=local(a.occurrence_start, tz),
                occurrence_end=local(a.occurrence_end, tz),
                person_id=a.person_id,
                name=a.name,
                reasons=list(a.reasons),
            )
            for a in view.assignments
        ],
    )


async def generate_plan(call: Call) -> RosterPlanOut:
    plan = await rostering.generate_plan(call.hub, call.user, call.path_int("cid"), call.body)
    return plan_out(await rostering.plan_view(call.hub, call.user, plan.id, call.locale))


async def get_plan(call: Call) -> RosterPlanOut:
    view = await rostering.plan_view(call.hub, call.user, call.path_int("id"), call.locale)
    return plan_out(view)


async def accept_plan(call: Call) -> AcceptOut:
    result = await rostering.accept_plan(call.hub, call.user, call.path_int("id"))
    return AcceptOut(
        id=result.plan.id,
        status=result.plan.status.value,
        invited=result.invited,
        skipped=[
            SkippedOut(**{**s, "occurrence_start": local(s["occurrence_start"], result.timezone)})
            for s in result.skipped
        ],
    )


async def discard_plan(call: Call) -> DiscardOut:
    plan = await rostering.discard_plan(call.hub, call.user, call.path_int("id"))
    return DiscardOut(id=plan.id, status=plan.status.value)


async def remove_assignment(call: Call) -> None:
    await rostering.remove_assignment(
        call.hub, call.user, call.path_int("id"), call.path_int("aid")
    )


async def swap_assignment(call: Call) -> AssignmentOut:
    plan_id, aid = call.path_int("id"), call.path_int("aid")
    await rostering.swap_assignment(call.hub, call.user, plan_id, aid, call.body)
    view = await rostering.plan_view(call.hub, call.user, plan_id, call.locale)
    out = plan_out(view)
    return next(a for a in out.assignments if a.id == aid)


ERRORS = (401, 403, 404, 409, 422)

ENDPOINTS = [
    Endpoint(
        "POST",
        "/communities/{cid:int}/roster-plans",
        generate_plan,
        "Generate a draft roster for a period: every open place assigned at once (staff)",
        body=rostering.PlanIn,
        response=RosterPlanOut,
        status=201,
        errors=ERRORS,
        tag="roster",
    ),
    Endpoint(
        "GET",
        "/roster-plans/{id:int}",
        get_plan,
        "A roster plan: who, where, why, and the load spread before and after (staff)",
        response=RosterPlanOut,
        errors=(401, 404),
        tag="roster",
    ),
    Endpoint(
        "POST",
        "/roster-plans/{id:int}/accept",
        accept_plan,
        "Accept a draft roster: each place becomes an invitation; places taken since are skipped",
        response=AcceptOut,
        errors=(401, 404, 409),
        tag="roster",
    ),
    Endpoint(
        "POST",
        "/roster-plans/{id:int}/discard",
        discard_plan,
        "Discard a draft roster (staff)",
        response=DiscardOut,
        errors=(401, 404, 409),
        tag="roster",
    ),
    Endpoint(
        "DELETE",
        "/roster-plans/{id:int}/assignments/{aid:int}",
        remove_assignment,
        "Take a person off a draft roster (staff)",
        status=204,
        errors=(401, 404, 409),
        tag="roster",
    ),
    Endpoint(
        "PUT",
        "/roster-plans/{id:int}/assignments/{aid:int}",
        swap_assignment,
        "Give a draft roster's place to another eligible person (staff)",
        body=rostering.SwapIn,
        response=AssignmentOut,
        errors=ERRORS,
        tag="roster",
    ),
]
