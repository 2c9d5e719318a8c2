"""Message templates: one folder per event and locale (subject.txt, body.txt, body.html)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined, TemplateNotFound

from volunteer_hub.i18n import DEFAULT_LOCALE, normalize_locale


@dataclass(frozen=True)
class Rendered:
    subject: str
    body: str
    html: str | None


class Templates:
    def __init__(self) -> None:
        loader = PackageLoader("volunteer_hub.notifications", "templates")
        # Plain text is not HTML: no escaping there; HTML bodies escape everything.
        self._text = Environment(
            loader=loader, autoescape=False, undefined=StrictUndefined, auto_reload=False
        )
        self._html = Environment(
            loader=loader, autoescape=True, undefined=StrictUndefined, auto_reload=False
        )

    def render(self, event: str, locale: str, context: dict[str, Any]) -> Rendered:
        locale = normalize_locale(locale)
        try:
            return self._render(event, locale, context)
        except TemplateNotFound:
            if locale == DEFAULT_LOCALE:
                raise
            return self._render(event, DEFAULT_LOCALE, context)

    def _render(self, event: str, locale: str, context: dict[str, Any]) -> Rendered:
        folder = f"{event}/{locale}"
        subject = self._text.get_template(f"{folder}/subject.txt").render(context).strip()
        body = self._text.get_template(f"{folder}/body.txt").render(context).strip()
        try:
            html_template = self._html.get_template(f"{folder}/body.html")
        except TemplateNotFound:
            html = None
        else:
            html = html_template.render({**context, "subject": subject, "locale": locale})
        return Rendered(subject=" ".join(subject.split())[:200], body=body, html=html)
