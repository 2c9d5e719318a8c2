"""The public surface for plugins: everything a volunteer_hub plugin may import.

First-party plugins use nothing else of volunteer_hub (checked in CI by the import
contracts); their tests use this and ``volunteer_hub.testing``. Anything not named in
``__all__`` here may change without notice.
"""

from __future__ import annotations

from volunteer_hub import hookimpl
from volunteer_hub.errors import InvalidInput
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
    age_on,
)
from volunteer_hub.i18n import LocalizedText, localize
from volunteer_hub.validation import ProviderUrl, custom_error, invalid_input

__all__ = [
    # hooks
    "hookimpl",
    # hook types
    "AdmissionDecision",
    "CandidateFacts",
    "DomainEvent",
    "MatchScore",
    "NotificationChannel",
    "PartyReportFacts",
    "PersonFacts",
    "QualificationKind",
    "SignupFacts",
    "TeamKind",
    "Violation",
    "WishCategory",
    "WishFacts",
    "age_on",
    # text
    "LocalizedText",
    "localize",
    # validation helpers for plugin settings and channels
    "InvalidInput",
    "ProviderUrl",
    "custom_error",
    "invalid_input",
]
