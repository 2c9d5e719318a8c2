"""Typed errors raised by the services. They name the field or rule at fault.

The core knows nothing of HTTP: each error has a ``kind``; the web layer maps kinds to
status codes (invalid and rule → 422, not_found → 404, forbidden → 403, conflict → 409,
unauthenticated → 401, throttled → 429). Messages are English message ids translated
at the edge with ``message(locale)``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar

from volunteer_hub.i18n import DEFAULT_LOCALE, LocalizedText, localize, translate


@dataclass(frozen=True)
class FieldProblem:
    field: str
    msgid: str
    params: dict[str, Any] = field(default_factory=dict)

    def render(self, locale: str = DEFAULT_LOCALE) -> dict[str, str]:
        return {"field": self.field, "message": translate(self.msgid, locale, **self.params)}


@dataclass(frozen=True)
class Violation:
    """A refusal by a rule (a registration rule, the admission list), usually from a plugin."""

    rule: str
    message: LocalizedText

    def render(self, locale: str = DEFAULT_LOCALE) -> dict[str, str]:
        return {"rule": self.rule, "message": localize(self.message, locale)}


class VolunteerHubError(Exception):
    kind: ClassVar[str] = "error"
    default_code: ClassVar[str] = "error"

    def __init__(
        self,
        msgid: str,
        *,
        code: str | None = None,
        details: tuple[FieldProblem | Violation, ...] | list[FieldProblem | Violation] = (),
        **params: Any,
    ) -> None:
        self.msgid = msgid
        self.code = code or self.default_code
        self.details = tuple(details)
        self.params = params
        super().__init__(translate(msgid, "en", **params))

    def message(self, locale: str = DEFAULT_LOCALE) -> str:
        return translate(self.msgid, locale, **self.params)

    def as_dict(self, locale: str = DEFAULT_LOCALE) -> dict[str, Any]:
        return {
            "code": self.code,
            "message": self.message(locale),
            "details": [d.render(locale) for d in self.details],
        }


class InvalidInput(VolunteerHubError):
    kind = "invalid"
    default_code = "validation_error"

    @classmethod
    def for_field(cls, field_name: str, msgid: str, **params: Any) -> InvalidInput:
        return cls(
            "The input is not valid.",
            details=[FieldProblem(field_name, msgid, params)],
        )

    @property
    def fields(self) -> list[str]:
        return [d.field for d in self.details if isinstance(d, FieldProblem)]


class RuleViolation(VolunteerHubError):
    kind = "rule"
    default_code = "rule_violation"

    @property
    def rules(self) -> list[str]:
        return [d.rule for d in self.details if isinstance(d, Violation)]


class NotFound(VolunteerHubError):
    kind = "not_found"
    default_code = "not_found"


class PermissionDenied(VolunteerHubError):
    kind = "forbidden"
    default_code = "forbidden"


class Conflict(VolunteerHubError):
    kind = "conflict"
    default_code = "conflict"


class NotAuthenticated(VolunteerHubError):
    kind = "unauthenticated"
    default_code = "not_authenticated"


class Throttled(VolunteerHubError):
    """Too many attempts; ``retry_after`` says in how many seconds to try again."""

    kind = "throttled"
    default_code = "too_many_attempts"

    def __init__(self, msgid: str, retry_after: int) -> None:
        super().__init__(msgid, minutes=max(1, -(-retry_after // 60)))
        self.retry_after = retry_after


class TooManyTries(VolunteerHubError):
    """Too many tries at something that only a fresh start unlocks (a new code)."""

    kind = "throttled"
    default_code = "too_many_attempts"
