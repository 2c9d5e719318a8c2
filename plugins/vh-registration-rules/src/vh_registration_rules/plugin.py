"""The hook implementations: each hands its community's settings and facts to ``rules``."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from volunteer_hub.plugin_api import (
    PartyReportFacts,
    PersonFacts,
    QualificationKind,
    SignupFacts,
    Violation,
    hookimpl,
)

from vh_registration_rules import rules
from vh_registration_rules.settings import RegistrationRulesSettings

GUARDIAN_CONSENT_KIND = QualificationKind(
    rules.GUARDIAN_CONSENT, {"zh-CN": "监护人同意书", "en": "Guardian's consent"}
)


def _settings(settings: RegistrationRulesSettings | None) -> RegistrationRulesSettings:
    # The platform passes this plugin's settings for the community of the call.
    return settings if settings is not None else RegistrationRulesSettings()


@hookimpl
def vh_plugin_settings() -> type[RegistrationRulesSettings]:
    return RegistrationRulesSettings


@hookimpl
def vh_qualification_kinds() -> list[QualificationKind]:
    return [GUARDIAN_CONSENT_KIND]


@hookimpl
def vh_check_team_join(
    person: PersonFacts,
    team_kind: str,
    today: date,
    settings: RegistrationRulesSettings | None,
) -> list[Violation]:
    return rules.check_team_join(_settings(settings), person, team_kind, today)


@hookimpl
def vh_check_signup(
    person: PersonFacts, signup: SignupFacts, settings: RegistrationRulesSettings | None
) -> list[Violation]:
    return rules.check_signup(_settings(settings), person, signup)


@hookimpl
def vh_check_party_report(
    report: PartyReportFacts, settings: RegistrationRulesSettings | None
) -> list[Violation]:
    return rules.check_party_report(_settings(settings), report)


@hookimpl
def vh_party_hours_target(settings: RegistrationRulesSettings | None) -> Decimal | None:
    return rules.party_hours_target(_settings(settings))
