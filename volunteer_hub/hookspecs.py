"""Hook specifications: the whole public surface a plugin can implement.

Implement a hook with ``@volunteer_hub.hookimpl`` on a function of the same name in a
module or class registered under the ``volunteer_hub`` entry-point group. Hooks are
called with keyword arguments; an implementation may take any subset of the
arguments named here (but none with a default value: pluggy does not pass those).

Each plugin's implementation is called on its own: one that raises is recorded in the
plugin's status and, for rule hooks, counts as a refusal (rules fail closed).

Hooks with a community context also take ``settings``: the calling plugin's own settings
for that community (see `vh_plugin_settings`), or None for a plugin without settings.
"""

from __future__ import annotations

from collections.abc import Awaitable, Sequence
from datetime import date
from decimal import Decimal

import pluggy
from pydantic import BaseModel

from volunteer_hub.hooktypes import (
    AdmissionDecision,
    CandidateFacts,
    DomainEvent,
    MatchScore,
    NotificationChannel,
    PartyReportFacts,
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
def vh_plugin_settings() -> type[BaseModel] | None:
    """Declare the plugin's settings: a pydantic model, configured per community.

    The values come from the plugin settings file (TOML, ``VHUB_PLUGIN_CONFIG``): a
    table named after the plugin holds the defaults for every community, and a table
    ``communities.<id>`` inside it overrides them for one community. They are validated
    when the application starts; a wrong value stops it with an error that names the
    file, the plugin, the community and the setting. Every hook with a community
    context then receives this plugin's own validated instance as ``settings``. Mark
    secrets with pydantic's ``SecretStr``: they are shown masked.

    Returns:
        A subclass of ``pydantic.BaseModel`` (give its fields defaults where you can:
        a required field must be set in the file), or None for no settings. Each plugin
        answers for itself; the model may not have a field named ``communities``.
    """


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
def vh_wish_categories(community_id: int, settings: BaseModel | None) -> list[WishCategory]:
    """Add micro-wish categories, or change which team kind serves one.

    Args:
        community_id: the community asking, so a plugin can answer per community.
        settings: this plugin's settings for that community, or None.

    Returns:
        A list of `WishCategory`, merged by ``code``; a later plugin's definition of a
        code replaces the core one (this is how a community routes a category elsewhere).
    """


@hookspec
def vh_check_team_join(
    person: PersonFacts,
    team_kind: str,
    team_id: int,
    community_id: int,
    today: date,
    settings: BaseModel | None,
) -> list[Violation] | None:
    """Registration rules for joining a team (e.g. silver patrol members are 60 or older).

    Args:
        person: the person joining, with the qualifications they hold or just declared.
        team_kind: the kind code of the team.
        team_id: the team's id.
        community_id: the team's community.
        today: the date in the community's time zone.
        settings: this plugin's settings for the team's community, or None.

    Returns:
        A list of `Violation` (each with a rule id and a message), or None/empty to allow.
        All plugins are asked; any violation refuses the join. A plugin that raises
        refuses too (rule ``plugin_error``).
    """


@hookspec
def vh_check_signup(
    person: PersonFacts, signup: SignupFacts, settings: BaseModel | None
) -> list[Violation] | None:
    """Registration rules for signing up to a task occurrence (e.g. no minors after 21:00).

    Args:
        person: the person signing up.
        signup: the task occurrence, in the community's local time, and who is confirmed.
        settings: this plugin's settings for the task's community, or None.

    Returns:
        A list of `Violation`, or None/empty to allow. All plugins are asked; any
        violation refuses the signup. A plugin that raises refuses too.
    """


@hookspec(firstresult=True)
def vh_admit_wish(wish: WishFacts, settings: BaseModel | None) -> AdmissionDecision | None:
    """The admission list (准入清单): may the community take this wish on?

    Args:
        wish: the wish being posted (``id`` is None: it is not saved yet).
        settings: this plugin's settings for the wish's community, or None.

    Returns:
        An `AdmissionDecision`, or None to leave the decision to the next plugin.
        The first non-None answer wins; with none, the wish is accepted. A refusal
        carries a reason and a referral (who should handle it instead).
    """


@hookspec
def vh_match_score(
    wish: WishFacts, candidates: Sequence[CandidateFacts], settings: BaseModel | None
) -> Sequence[MatchScore | None] | None:
    """Score the volunteers ranked for a wish: all of them in one call (a batch).

    The core filters first (team kind, qualifications, availability, clashes, the weekly
    load cap, do-not-send; see Matching in the docs) and scores what is left in one
    vectorised pass; this hook then adds plugin scores. It is called once per ranking,
    only when some plugin implements it (the core does not build ``candidates`` otherwise).

    Args:
        wish: the wish to fill.
        candidates: every volunteer who passed the hard filters, in person id order, each
            with its core facts and ``core_score``. A plugin must not rely on their number:
            in a large team it is thousands.
        settings: this plugin's settings for the wish's community, or None.

    Returns:
        None (no opinion), or a sequence as long as ``candidates``, one `MatchScore` (or
        None) per candidate in the same order. Scores of all plugins are added to the core
        score; reasons are shown to staff, so they are words, not numbers. An answer of the
        wrong length or type is recorded as the plugin's failure and left out.
    """


@hookspec
def vh_notification_channels() -> list[NotificationChannel]:
    """Add kinds of notification channel (e.g. an SMS provider apprise lacks).

    Returns:
        A list of `NotificationChannel`, merged by ``code``.
    """


@hookspec
def vh_domain_event(event: DomainEvent, settings: BaseModel | None) -> Awaitable[None] | None:
    """Learn of a domain event after its transaction has committed.

    Every audited change is an event, named like its audit action (the full list is
    ``volunteer_hub.events.EVENT_NAMES``; a test holds this one to it):
    ``community.created``, ``community.updated``, ``community.emergency_started``,
    ``community.emergency_ended``, ``grid.created``, ``grid.updated``,
    ``person.registered``, ``person.admin_created``, ``person.password_changed``,
    ``person.locale_changed``, ``person.channel_set``, ``person.channel_code_sent``,
    ``person.channel_confirmed``, ``person.channel_tested``, ``person.updated``,
    ``person.deactivated``, ``person.reactivated``, ``person.reset_code_issued``,
    ``person.password_reset``,
    ``role.assigned``, ``role.revoked``, ``channel.configured``, ``delivery.retried``,
    ``open311_key.created``, ``open311_key.revoked``, ``calendar.revoked``,
    ``team.created``, ``team.updated``, ``team.joined``, ``team.membership_approved``,
    ``team.membership_started``, ``team.membership_refused``,
    ``qualification.declared``, ``qualification.verified``, ``qualification.refused``,
    ``qualification.expiring``, ``party_report.filed``,
    ``party_report.accepted``, ``party_report.refused``, ``wish.posted``,
    ``wish.approved``, ``wish.rejected``, ``wish.claimed``, ``wish.fulfilled``,
    ``wish.confirmed``, ``wish.cancelled``, ``wish.expired``, ``wish.escalated``,
    ``wish.invited``, ``wish.handed_back``, ``wish.dispatched``,
    ``wish.dispatch_exhausted``, ``wish.no_show``, ``wish.referred``,
    ``wish.referral_acknowledged``, ``wish.referral_renewed``, ``wish.resolved``,
    ``invitation.accepted``, ``invitation.declined``, ``invitation.expired``,
    ``invitation.withdrawn``,
    ``person.availability_set``, ``person.do_not_send``, ``responsible_contact.set``,
    ``roster.proposed``, ``roster.adjusted``, ``roster.accepted``, ``roster.discarded``,
    ``task.created``, ``task.invited``,
    ``task.updated``, ``task.cancelled``, ``occurrence.cancelled``,
    ``occurrence.messaged``, ``occurrence.dispatch_exhausted``, ``signup.confirmed``,
    ``signup.waitlisted``, ``signup.promoted``, ``signup.cancelled``, ``signup.checked_in``,
    ``signup.checked_out``, ``signup.no_show``, ``signup.excused``,
    ``no_show.recorded``, ``no_show.excused``,
    ``emergency.callout`` and ``emergency.acknowledged``.

    What the core does inside the transaction (the notifications it plans) is done by
    then. Secrets that went with an event inside the transaction (the code that
    confirms an address, a call-out's acknowledgement links) are not in ``event``.

    Args:
        event: the `DomainEvent`.
        settings: this plugin's settings for the event's community (the defaults for an
            event of no community), or None.

    Returns:
        None, or an awaitable that the core awaits. Errors are recorded in the plugin's
        status and never undo the change.
    """


@hookspec
def vh_check_party_report(
    report: PartyReportFacts, community_id: int, today: date, settings: BaseModel | None
) -> list[Violation] | None:
    """Rules for an in-service party member's report to a community (在职党员到社区报到).

    Asked before the report is saved, e.g. that the work unit names where the member
    serves and the party branch names a party organisation.

    Args:
        report: the report being filed, with the member's facts.
        community_id: the community reported to.
        today: the date in that community's time zone.
        settings: this plugin's settings for that community, or None.

    Returns:
        A list of `Violation`, or None/empty to allow. All plugins are asked; any
        violation refuses the report (422 with the rules named). A plugin that raises
        refuses too (rule ``plugin_error``).
    """


@hookspec(firstresult=True)
def vh_party_hours_target(community_id: int, settings: BaseModel | None) -> Decimal | None:
    """The yearly hours of service a community expects of its in-service party members.

    Args:
        community_id: the community the members reported to.
        settings: this plugin's settings for that community, or None.

    Returns:
        A ``Decimal`` (or ``int``) number of hours from 0 to 9999, or None to leave it
        to the next plugin. The first non-None answer wins. It is stored on each new
        report, and a member's progress is measured against the community's current
        answer. With no answer (or one that raises or is not such a number), a new
        report gets the default target (12) and progress uses the report's own.
    """
