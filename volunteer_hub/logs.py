"""Secrets never reach a log line: one filter that knows what is secret, on every handler.

Some secrets travel in URLs, and uvicorn's access log prints the path with its query:
an Open311 ``api_key`` (and any parameter named in ``SECRET_PARAMS``), the token of a
personal calendar feed (``/calendar/<token>.ics``) and of an acknowledgement link
(``/ack/<token>``). A credential may also appear as ``Authorization: Bearer …`` text.

``RedactSecrets`` rewrites a record's message, its arguments and its traceback text
before any formatter sees them, so uvicorn's access formatter (which reads the request
line from the arguments) prints ``api_key=[redacted]``. ``log_config()`` is uvicorn's
logging configuration with the filter on every handler, the root logger's included (our
own loggers propagate there); uvicorn applies it in each worker process, so it holds for
``vhub serve --workers N``. ``protect_handlers()`` adds the filter to handlers someone else
configured (the app factory calls it when run by another server command).
"""

from __future__ import annotations

import copy
import logging
import re
from typing import Any
from urllib.parse import unquote_plus

MARKER = "[redacted]"

#: Query (and form) parameters whose value is a secret, compared in lower case.
SECRET_PARAMS = frozenset(
    {"api_key", "key", "token", "access_token", "code", "password", "secret", "csrf_token"}
)
# name=value in a query string; the name is compared decoded (api%5Fkey is api_key).
_PARAM = re.compile(r"(?P<lead>[?&;])(?P<name>[^=&;#\s\"'?]+)=(?P<value>[^&;#\s\"']*)")
#: Paths whose segment is a secret: (pattern, what replaces the match).
SECRET_PATHS = (
    # A person's feed; the team feeds (/calendar/teams/<id>.ics) are public.
    (re.compile(r"(/calendar/)(?!teams/)[^/?#\s\"']+?(\.ics)"), rf"\1{MARKER}\2"),
    (re.compile(r"(/ack/)[^/?#\s\"']+"), rf"\1{MARKER}"),
)
# A credential after its scheme, e.g. an Authorization header printed as text.
_CREDENTIAL = re.compile(r"(?i)\b(bearer|basic)(\s+)[A-Za-z0-9._~+/=-]+")

HANDLED_LOGGERS = ("", "uvicorn", "uvicorn.error", "uvicorn.access", "volunteer_hub")


def redact(text: str) -> str:
    """``text`` with every secret parameter, path token and credential replaced."""
    for pattern, replacement in SECRET_PATHS:
        text = pattern.sub(replacement, text)
    text = _PARAM.sub(_redact_param, text)
    return _CREDENTIAL.sub(rf"\1\2{MARKER}", text)


def _redact_param(match: re.Match[str]) -> str:
    if unquote_plus(match["name"]).strip().lower() in SECRET_PARAMS and match["value"]:
        return f"{match['lead']}{match['name']}={MARKER}"
    return match[0]


def _clean(value: Any) -> Any:
    return redact(value) if isinstance(value, str) else value


class RedactSecrets(logging.Filter):
    """Redacts a record's message, arguments and traceback; lets every record through."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = _clean(record.msg)
        if isinstance(record.args, dict):
            record.args = {k: _clean(v) for k, v in record.args.items()}
        elif record.args:
            record.args = tuple(_clean(a) for a in record.args)
        if record.exc_info and not record.exc_text:
            # The formatter reuses exc_text when it is set: give it the redacted one.
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
        return True


FILTER_NAME = "redact_secrets"


def log_config(level: str = "info") -> dict[str, Any]:
    """uvicorn's logging configuration, with ``RedactSecrets`` on every handler and a
    root handler (stderr) for the project's own loggers."""
    import uvicorn.config

    config = copy.deepcopy(uvicorn.config.LOGGING_CONFIG)
    config["filters"] = {FILTER_NAME: {"()": f"{__name__}.RedactSecrets"}}
    for handler in config["handlers"].values():
        handler["filters"] = [*handler.get("filters", []), FILTER_NAME]
    config["handlers"]["root"] = {
        "formatter": "plain",
        "class": "logging.StreamHandler",
        "stream": "ext://sys.stderr",
        "filters": [FILTER_NAME],
    }
    config["formatters"]["plain"] = {"format": "%(levelname)s:%(name)s: %(message)s"}
    # Our loggers say what went wrong (warnings and errors); --log-level debug shows all.
    root_level = "WARNING" if level.lower() == "info" else level.upper()
    config["root"] = {"handlers": ["root"], "level": root_level}
    return config


def protect_handlers() -> None:
    """Add ``RedactSecrets`` to the handlers of the root, uvicorn's and our loggers, and to
    the last-resort handler that prints warnings when no handler is configured (once)."""
    handlers = [h for name in HANDLED_LOGGERS for h in logging.getLogger(name).handlers]
    if logging.lastResort is not None:
        handlers.append(logging.lastResort)
    for handler in handlers:
        if not any(isinstance(f, RedactSecrets) for f in handler.filters):
            handler.addFilter(RedactSecrets())
