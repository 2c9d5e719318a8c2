"""Message translation: English message ids, zh-CN by default, English on request.

Catalogs are gettext ``.po`` files under ``volunteer_hub/locale``; they are compiled in
memory on first use, so no build step is needed and no binary file is committed.
"""

from __future__ import annotations

import io
from collections.abc import Mapping
from functools import cache
from importlib import resources
from typing import Literal, get_args

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import NullTranslations, Translations

DEFAULT_LOCALE = "zh-CN"
#: A supported locale, as a type an input model can declare (422 naming the field otherwise).
Locale = Literal["zh-CN", "en"]
SUPPORTED_LOCALES: tuple[str, ...] = get_args(Locale)

#: A text in several languages: a plain string (the same in all), or a mapping by locale.
LocalizedText = str | Mapping[str, str]


def _catalog_dir(locale: str) -> str:
    return locale.replace("-", "_")


@cache
def translations(locale: str) -> NullTranslations:
    """The gettext translations for one of SUPPORTED_LOCALES (English needs none)."""
    locale = normalize_locale(locale)
    if locale == "en":
        return NullTranslations()
    po = resources.files("volunteer_hub") / "locale" / _catalog_dir(locale) / "LC_MESSAGES"
    with (po / "messages.po").open("rb") as f:
        catalog = read_po(f, locale=_catalog_dir(locale))
    buf = io.BytesIO()
    write_mo(buf, catalog)
    buf.seek(0)
    return Translations(buf)


def normalize_locale(value: str | None) -> str:
    """Map 'zh', 'zh_CN', 'zh-Hans-CN', 'en-US' ... to a supported locale (zh-CN by default)."""
    if not value:
        return DEFAULT_LOCALE
    language = value.strip().replace("_", "-").split("-")[0].lower()
    return "en" if language == "en" else DEFAULT_LOCALE


def negotiate(accept_language: str | None) -> str:
    """Pick a locale from an Accept-Language header (RFC 9110), honouring q-values."""
    if not accept_language:
        return DEFAULT_LOCALE
    ranked: list[tuple[float, int, str]] = []
    for index, part in enumerate(accept_language.split(",")):
        tag, *params = (p.strip() for p in part.split(";"))
        quality = 1.0
        for param in params:
            name, _, value = param.partition("=")
            if name.strip().lower() == "q":
                quality = _quality(value.strip())
        if tag and tag != "*" and quality > 0:
            ranked.append((-quality, index, tag))
    for _, _, tag in sorted(ranked):
        if tag.replace("_", "-").split("-")[0].lower() in {"zh", "en"}:
            return normalize_locale(tag)
    return DEFAULT_LOCALE


def _quality(value: str) -> float:
    """A q-value is 0 to 1 with at most three decimals; anything else disqualifies."""
    try:
        quality = float(value)
    except ValueError:
        return 0.0
    return quality if 0.0 <= quality <= 1.0 else 0.0


def translate(msgid: str, locale: str = DEFAULT_LOCALE, **params: object) -> str:
    text = translations(normalize_locale(locale)).gettext(msgid)
    return text.format(**params) if params else text


def localize(text: LocalizedText, locale: str = DEFAULT_LOCALE) -> str:
    """Render a plugin-supplied text: a string as is, a mapping by locale (zh-CN as fallback)."""
    if isinstance(text, str):
        return text
    by_locale = {normalize_locale(key): value for key, value in text.items()}
    locale = normalize_locale(locale)
    return by_locale.get(locale) or by_locale.get(DEFAULT_LOCALE) or next(iter(text.values()), "")
