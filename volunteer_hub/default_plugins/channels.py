"""Core notification channels: e-mail over SMTP and a JSON webhook (e.g. an SMS gateway).

E-mail is apprise's own SMTP service; the webhook is apprise's JSON post on kept-alive
connections (``default_plugins.webhook``, which the channel declares so that the Hub
registers it with apprise). Staff configure them per community.
"""

from __future__ import annotations

import re
from typing import Annotated
from urllib.parse import parse_qsl, quote, urlencode, urlsplit

from pydantic import BaseModel, ConfigDict, Field, field_validator

from volunteer_hub import hookimpl
from volunteer_hub.default_plugins.webhook import (
    WEBHOOK_SCHEME,
    WEBHOOK_SECURE_SCHEME,
    NotifyKeepAliveJSON,
)
from volunteer_hub.hooktypes import NotificationChannel
from volunteer_hub.validation import http_address

_RECIPIENT_SEPARATORS = re.compile(r'[\s,;<>\[\]()"]')

Host = Annotated[str, Field(min_length=1, max_length=253, pattern=r"^[A-Za-z0-9.\-]+$")]


class EmailSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    host: Host
    port: Annotated[int, Field(ge=1, le=65535)] = 25
    username: Annotated[str, Field(max_length=200)] | None = None
    password: Annotated[str, Field(max_length=200)] | None = None
    sender: Annotated[str, Field(min_length=3, max_length=200, pattern=r"^[^@\s]+@[^@\s]+$")]
    tls: bool = False


class WebhookSettings(BaseModel):
    """A JSON endpoint that receives {title, message, to} (an SMS gateway, a chat bridge)."""

    model_config = ConfigDict(extra="forbid")

    url: Annotated[str, Field(min_length=8, max_length=500)]

    @field_validator("url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        http_address(value)
        return value


def email_url(settings: EmailSettings, address: str, key: str) -> str:
    # Apprise reads several recipients out of one "to" ("a@x.cn,b@evil.com", "A <a@x.cn>
    # b@evil.com"): an address checked when it was given has none of these, but one stored
    # before that check must not reach two mailboxes either.
    if _RECIPIENT_SEPARATORS.search(address) or address.count("@") > 1:
        raise ValueError("not a single e-mail address")
    scheme = "mailtos" if settings.tls else "mailto"
    auth = ""
    if settings.username:
        auth = quote(settings.username, safe="") + ":" + quote(settings.password or "", safe="")
        auth += "@"
    query = urlencode({"from": settings.sender, "to": address, "+X-Idempotency-Key": key})
    return f"{scheme}://{auth}{settings.host}:{settings.port}?{query}"


def webhook_url(settings: WebhookSettings, address: str, key: str) -> str:
    """Apprise's JSON post on kept-alive connections (``default_plugins.webhook``).

    The staff URL's own query (an API key) goes along as GET parameters (``-name``);
    the idempotency key as a header (``+``), the address in the body (``:to``).
    """
    parts = urlsplit(settings.url)
    scheme = WEBHOOK_SECURE_SCHEME if parts.scheme == "https" else WEBHOOK_SCHEME
    extra = [(f"-{name}", value) for name, value in parse_qsl(parts.query, keep_blank_values=True)]
    extra.append(("+Idempotency-Key", key))
    if address:
        extra.append((":to", address))
    return f"{scheme}://{parts.netloc}{parts.path or '/'}?{urlencode(extra, quote_via=quote)}"


CHANNELS = [
    NotificationChannel(
        code="email",
        name={"zh-CN": "电子邮件", "en": "E-mail"},
        address_kind="email",
        build_url=email_url,
        settings=EmailSettings,
        secret_settings=("password",),
        html=True,
    ),
    NotificationChannel(
        code="webhook",
        name={"zh-CN": "短信网关 / Webhook", "en": "SMS gateway / webhook"},
        address_kind="phone",
        build_url=webhook_url,
        settings=WebhookSettings,
        secret_settings=("url",),
        apprise_services=(NotifyKeepAliveJSON,),
        text_messages=True,
    ),
]


@hookimpl
def vh_notification_channels() -> list[NotificationChannel]:
    return CHANNELS
