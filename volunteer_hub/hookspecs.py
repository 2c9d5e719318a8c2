"""Hook specifications: the whole public surface a plugin can implement.

Implement a hook with ``@volunteer_hub.hookimpl`` on a function of the same name in a
module or class registered under the ``volunteer_hub`` entry-point group. Hooks are
called with keyword arguments; an implementation may take any subset of the
arguments named here (but none with a default value: pluggy does not pass those).

Each plugin's implementation is called on its own: one that raises is recorded in the
plugin's status and, for rule hooks, counts as a refusal (rules fail closed).
"""

from __future__ import annotations

from collections.abc import Awaitable
from datetime import date

import pluggy

from volunteer_hub.hooktypes import (
    AdmissionDecision,
    CandidateFacts,
    DomainEvent,
    MatchScore,
    NotificationChannel,
    PersonFacts,
    QualificationKind,
    SignupFacts,
    TeamKind,
    Violation,
    WishCategory,
    WishFacts,
)

hookspec = pluggy.HookspecMarker("volunteer_hub")


@hookspec
def vh_team_kinds() -> list[TeamKind]:
    """Add kinds of volunteer team.

    Returns:
        A list of `TeamKind`. Results of all plugins are merged by ``code``; a plugin
        registered later replaces an earlier definition of the same code.
    """


@hookspec
def vh_qualification_kinds() -> list[QualificationKind]:
    """Add kinds of qualification that volunteers can declare.

    Returns:
        A list of `QualificationKind`, merged by ``code`` like `vh_team_kinds`.
    """


@hookspec
def vh_wish_categories(community_id: int) -> list[WishCategory]:
    """Add micro-wish categories, or change which team kind serves one.

    Args:
        community_id: the community asking, so a plugin can answer per community.

    Returns:
        A list of `WishCategory`, merged by ``code``; a later plugin's definition of a
        code replaces the core one (this is how a community routes a category elsewhere).
    """


@hookspec
def vh_check_team_join(
    person: PersonFacts, team_kind: str, team_id: int, community_id: int, today: date
) -> list[Violation] | None:
    """Registration rules for joining a team (e.g. silver patrol members are 60 or older).

    Args:
        person: the person joining, with the qualifications they hold or just declared.
        team_kind: the kind code of the team.
        team_id: the team's id.
        community_id: the team's community.
        today: the date in the community's time zone.

    Returns:
        A list of `Violation` (each with a rule id and a message), or None/empty to allow.
        All plugins are asked; any violation refuses the join. A plugin that raises
        refuses too (rule ``plugin_error``).
    """


@hookspec
def vh_check_signup(person: PersonFacts, signup: SignupFacts) -> list[Violation] | None:
    """Registration rules for signing up to a task occurrence (e.g. no minors after 21:00).

    Args:
        person: the person signing up.
        signup: the task occurrence, in the community's local time, and who is confirmed.

    Returns:
        A list of `Violation`, or None/empty to allow. All plugins are asked; any
        violation refuses the signup. A plugin that raises refuses too.
    """


@hookspec(firstresult=True)
def vh_admit_wish(wish: WishFacts) -> AdmissionDecision | None:
    """The admission list (准入清单): may the community take this wish on?

    Args:
        wish: the wish being posted (``id`` is None: it is not saved yet).

    Returns:
        An `AdmissionDecision`, or None to leave the decision to the next plugin.
        The first non-None answer wins; with none, the wish is accepted. A refusal
        carries a reason and a referral (who should handle it instead).
    """


@hookspec
def vh_match_score(wish: WishFacts, candidate: CandidateFacts) -> MatchScore | None:
    """Score a volunteer as a candidate for a wish.

    Args:
        wish: the wish to fill.
        candidate: a volunteer who may serve the wish's category, with their recent load.

    Returns:
        A `MatchScore` or None. The scores of all plugins are added; candidates are
        ranked by the total, best first, and their reasons are shown to staff.
    """


@hookspec
def vh_notification_channels() -> list[NotificationChannel]:
    """Add kinds of notification channel (e.g. an SMS provider apprise lacks).

    Returns:
        A list of `NotificationChannel`, merged by ``code``.
    """


@hookspec
def vh_domain_event(event: DomainEvent) -> Awaitable[None] | None:
    """Learn of a domain event after its transaction has committed.

    Every audited change is an event, named like its audit action:
    ``community.created``, ``grid.created``, ``person.registered``,
    ``person.admin_created``, ``role.assigned``, ``team.created``, ``team.joined``,
    ``team.membership_approved``, ``party_report.filed``, ``wish.posted``,
    ``wish.approved``, ``wish.rejected``, ``wish.claimed``, ``wish.fulfilled``,
    ``wish.confirmed``, ``wish.cancelled``, ``wish.expired``, ``wish.escalated``,
    ``wish.invited``, ``task.created``, ``task.invited``, ``signup.confirmed``,
    ``signup.waitlisted``, ``signup.promoted``, ``signup.cancelled``,
    ``signup.checked_in`` and ``signup.checked_out``.

    Args:
        event: the `DomainEvent`.

    Returns:
        None, or an awaitable that the core awaits. Errors are recorded in the plugin's
        status and never undo the change.
    """
