"""The public surface for plugins: everything a volunteer_hub plugin may import.

A plugin imports nothing else of volunteer_hub, and its tests import only this module and
`volunteer_hub.testing` (the pytest fixtures). First-party plugins under `plugins/` keep
to that (checked by the import contracts). Anything not named in `__all__` here may
change without notice; what is named here changes only with a note in the changelog.

Hooks and the values they take and return:

- `hookimpl`: marks a function (or method) as the implementation of a hook; the hooks
  themselves are the specifications in `volunteer_hub.hookspecs`, documented on the hook
  reference page.
- `TeamKind`, `QualificationKind`, `WishCategory`: what a plugin adds to the catalogue
  (`vh_team_kinds`, `vh_qualification_kinds`, `vh_wish_categories`).
- `PersonFacts`, `SignupFacts`, `WishFacts`, `PartyReportFacts`, `CandidateFacts`: the
  facts a rule or the matcher is given (plain values, no database).
- `Violation`: what a rule answers when it refuses (`vh_check_*` hooks).
- `AdmissionDecision`: a decision about a posted wish (`vh_admit_wish`).
- `MatchScore`: a candidate's score for a wish (`vh_match_score`).
- `NotificationChannel`: a way to reach people that a plugin adds
  (`vh_notification_channels`).
- `DomainEvent`: what happened, as `vh_domain_event` receives it.
- `EVENT_NAMES`: the name of every domain event the core publishes.
- `age_on`: a person's age on a day, as the rules count it (whole years; None if unknown).

Notification channels (a channel names the apprise services its URLs need in
`NotificationChannel.apprise_services`; volunteer_hub registers them with apprise once,
when it builds its Hub, so `vh_notification_channels` only describes channels):

- `WEBHOOK_SCHEME`, `WEBHOOK_SECURE_SCHEME`: the URL schemes of the core's webhook
  service, for a channel that posts JSON: apprise's `json://` options, sent on kept-alive
  connections, with the private-address policy applied.

Plugin settings (`vh_plugin_settings` returns a pydantic model; the host validates the
plugin settings file against it at start-up):

- `PluginConfigError`: the plugin settings were refused; `.problems` holds one line per
  problem, naming the file, the plugin's table, the community and the setting. Raised by
  the host (at start-up, or by `volunteer_hub.testing.configure_plugins`), never by a
  plugin: a settings model refuses a value by raising `ValueError` in a validator.

Validating what people type (a channel's settings entered by staff, an address):

- `InvalidInput`: the error that answers 422 naming each bad field; a plugin raises it
  (built with `invalid_input`) where it validates input outside a settings model.
- `invalid_input`: turns a pydantic `ValidationError` into `InvalidInput`, with
  messages in the reader's language.
- `custom_error`: a validation error with one of volunteer_hub's message ids, for a
  validator to raise.
- `ProviderUrl`: a field type for a provider's base address (https, or http only to a
  private address; a host and no path).

Text in the reader's language:

- `LocalizedText`: the type of text a plugin gives: a string, or a mapping from locale
  (`zh-CN`, `en`) to text.
- `localize`: renders a `LocalizedText` for a locale (zh-CN as the fallback).
- `SUPPORTED_LOCALES`: the locales volunteer_hub speaks, the keys a `LocalizedText`
  mapping should have.
"""

from __future__ import annotations

from volunteer_hub import hookimpl
from volunteer_hub.default_plugins.webhook import WEBHOOK_SCHEME, WEBHOOK_SECURE_SCHEME
from volunteer_hub.errors import InvalidInput
from volunteer_hub.events import EVENT_NAMES
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
from volunteer_hub.i18n import SUPPORTED_LOCALES, LocalizedText, localize
from volunteer_hub.plugin_settings import PluginConfigError
from volunteer_hub.validation import ProviderUrl, custom_error, invalid_input

# One section per part of the surface, as in the docstring above.
__all__ = [
    # --- hooks and their types
    "hookimpl",
    "AdmissionDecision",
    "CandidateFacts",
    "DomainEvent",
    "EVENT_NAMES",
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
    # --- notification channels
    "WEBHOOK_SCHEME",
    "WEBHOOK_SECURE_SCHEME",
    # --- plugin settings
    "PluginConfigError",
    # --- validation helpers and the error they raise
    "InvalidInput",
    "ProviderUrl",
    "custom_error",
    "invalid_input",
    # --- localisation
    "LocalizedText",
    "SUPPORTED_LOCALES",
    "localize",
]
