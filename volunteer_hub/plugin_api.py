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

# --- notification channels ------------------------------------------------------------------
# A channel (``NotificationChannel``) names the apprise services its URLs need in
# ``apprise_services``; volunteer_hub registers them with apprise when it builds its Hub, so
# a plugin's ``vh_notification_channels`` only returns its channels. A channel that posts
# JSON may build URLs of the core's webhook service: apprise's ``json://`` options, sent on
# the notifier's kept-alive connections, with the private-address policy applied.
from volunteer_hub.default_plugins.webhook import (
    WEBHOOK_SCHEME,
    WEBHOOK_SECURE_SCHEME,
)

__all__ += ["WEBHOOK_SCHEME", "WEBHOOK_SECURE_SCHEME"]
