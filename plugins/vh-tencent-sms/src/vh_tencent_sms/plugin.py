"""The ``tencent_sms`` channel: staff give a Tencent Cloud SMS account, people a mobile number.

Tencent sends only templates it approved, with parameters filled in: the community applies
for a signature (签名) and a notification template (正文模板) in the SMS console, and every
message of volunteer_hub fills that template's parameters from the message's subject
(``template_params``, see ``service.template_params``).
"""

from __future__ import annotations

from typing import Annotated, Literal
from urllib.parse import quote, urlencode, urlsplit

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator

from vh_tencent_sms import service
from volunteer_hub.plugin_api import NotificationChannel, ProviderUrl, custom_error, hookimpl

DEFAULT_ENDPOINT = "https://sms.tencentcloudapi.com"

Credential = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=128)]
Digits = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=20)]
ParamSource = Literal["subject", "topic", "title"]


class TencentSmsSettings(BaseModel):
    """A community's Tencent Cloud SMS account, signature and notification template."""

    model_config = ConfigDict(extra="forbid", coerce_numbers_to_str=True)

    secret_id: Credential
    secret_key: Credential
    sdk_app_id: Digits  # SmsSdkAppId, e.g. 1400006666
    sign_name: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=40)]
    template_id: Digits
    # The mainland regions of Tencent SMS.
    region: Literal["ap-guangzhou", "ap-beijing", "ap-nanjing"] = "ap-guangzhou"
    endpoint: ProviderUrl = DEFAULT_ENDPOINT
    # What fills the template's {1}, {2}, … in order; () for a template without parameters.
    template_params: Annotated[tuple[ParamSource, ...], Field(max_length=5)] = ("topic", "title")
    # Tencent's limit per parameter of a notification template: 6 characters, more for
    # some accounts and variable types. Longer values are cut.
    param_max_length: Annotated[int, Field(ge=1, le=500)] = 6

    @field_validator("secret_id", "secret_key")
    @classmethod
    def _alphanumeric(cls, value: str) -> str:
        if not value.isascii() or not value.isalnum():
            raise custom_error("credential", "This value is not valid.")
        return value

    @field_validator("sdk_app_id", "template_id")
    @classmethod
    def _digits(cls, value: str) -> str:
        if not value.isdigit():
            raise custom_error("digits", "Must be a whole number.")
        return value

    @field_validator("sign_name")
    @classmethod
    def _without_brackets(cls, value: str) -> str:
        # Staff often copy the signature as it appears, 【幸福里社区】; Tencent wants it bare.
        return value.strip("【】 ") or value


def sms_url(settings: TencentSmsSettings, address: str, key: str) -> str:
    """The service URL for one message: the key travels as Tencent's SessionContext."""
    parts = urlsplit(settings.endpoint)
    scheme = service.SECURE_SCHEME if parts.scheme == "https" else service.SCHEME
    credentials = f"{quote(settings.secret_id, safe='')}:{quote(settings.secret_key, safe='')}"
    query = {
        "to": address,
        "appid": settings.sdk_app_id,
        "sign": settings.sign_name,
        "tpl": settings.template_id,
        "region": settings.region,
        "params": ",".join(settings.template_params),
        "maxlen": settings.param_max_length,
        "ctx": key,
    }
    return f"{scheme}://{credentials}@{parts.netloc}/?{urlencode(query, quote_via=quote)}"


CHANNEL = NotificationChannel(
    code="tencent_sms",
    name={"zh-CN": "腾讯云短信", "en": "Tencent Cloud SMS"},
    address_kind="phone",
    build_url=sms_url,
    settings=TencentSmsSettings,
    secret_settings=("secret_id", "secret_key"),
    apprise_services=(service.NotifyTencentSms,),
    text_messages=True,
)


@hookimpl
def vh_notification_channels() -> list[NotificationChannel]:
    return [CHANNEL]
