"""The ``wecom_robot`` and ``dingtalk_robot`` channels: a team's group chat, where each
message @-mentions the person it is for.

Staff add a robot to the group (企业微信: 添加群机器人; 钉钉: 自定义机器人 with 加签) and
give its key (and DingTalk's signing secret); people give their WeCom user id or the
mobile number of their DingTalk account. ``base_url`` defaults to the official host.
"""

from __future__ import annotations

import re
from typing import Annotated
from urllib.parse import parse_qs, quote, urlencode, urlsplit

from pydantic import (
    BaseModel,
    ConfigDict,
    StringConstraints,
    field_validator,
)

from vh_chat_robots import services
from volunteer_hub.plugin_api import NotificationChannel, ProviderUrl, custom_error, hookimpl

WECOM_HOST = "https://qyapi.weixin.qq.com"
DINGTALK_HOST = "https://oapi.dingtalk.com"

Token = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=500)]
_WECOM_KEY = re.compile(r"[A-Za-z0-9_\-]{1,100}")
_ALNUM = re.compile(r"[A-Za-z0-9]{1,200}")


def _from_webhook(value: str, parameter: str, shape: re.Pattern[str]) -> str:
    """The credential itself, also when staff paste the whole webhook address the app shows."""
    if "://" in value:
        value = parse_qs(urlsplit(value).query).get(parameter, [""])[0]
    if not shape.fullmatch(value):
        raise custom_error("credential", "This value is not valid.")
    return value


class WeComRobotSettings(BaseModel):
    """A WeCom group robot: its webhook key (…/webhook/send?key=KEY)."""

    model_config = ConfigDict(extra="forbid")

    key: Token
    base_url: ProviderUrl = WECOM_HOST

    @field_validator("key")
    @classmethod
    def _key(cls, value: str) -> str:
        return _from_webhook(value, "key", _WECOM_KEY)


class DingTalkRobotSettings(BaseModel):
    """A DingTalk custom robot with signing (加签): its access token and its SEC… secret."""

    model_config = ConfigDict(extra="forbid")

    access_token: Token
    secret: Token
    base_url: ProviderUrl = DINGTALK_HOST

    @field_validator("access_token")
    @classmethod
    def _token(cls, value: str) -> str:
        return _from_webhook(value, "access_token", _ALNUM)

    @field_validator("secret")
    @classmethod
    def _secret(cls, value: str) -> str:
        if not _ALNUM.fullmatch(value):
            raise custom_error("credential", "This value is not valid.")
        return value


def _service_url(base_url: str, schemes: tuple[str, str], query: dict[str, str]) -> str:
    parts = urlsplit(base_url)
    scheme = schemes[1] if parts.scheme == "https" else schemes[0]
    return f"{scheme}://{parts.netloc}/?{urlencode(query, quote_via=quote)}"


def wecom_url(settings: WeComRobotSettings, address: str, key: str) -> str:
    schemes = (services.WECOM_SCHEME, services.WECOM_SECURE_SCHEME)
    return _service_url(settings.base_url, schemes, {"key": settings.key, "to": address, "ik": key})


def dingtalk_url(settings: DingTalkRobotSettings, address: str, key: str) -> str:
    schemes = (services.DINGTALK_SCHEME, services.DINGTALK_SECURE_SCHEME)
    query = {"token": settings.access_token, "secret": settings.secret, "to": address, "ik": key}
    return _service_url(settings.base_url, schemes, query)


CHANNELS = [
    NotificationChannel(
        code="wecom_robot",
        name={"zh-CN": "企业微信群机器人", "en": "WeCom group robot"},
        address_kind="chat_id",  # the person's WeCom user id, mentioned in the group
        build_url=wecom_url,
        settings=WeComRobotSettings,
        secret_settings=("key",),
        apprise_services=(services.NotifyWeComRobot,),
    ),
    NotificationChannel(
        code="dingtalk_robot",
        name={"zh-CN": "钉钉群机器人", "en": "DingTalk group robot"},
        address_kind="phone",  # the mobile number of the person's DingTalk account
        build_url=dingtalk_url,
        settings=DingTalkRobotSettings,
        secret_settings=("access_token", "secret"),
        apprise_services=(services.NotifyDingTalkRobot,),
    ),
]


@hookimpl
def vh_notification_channels() -> list[NotificationChannel]:
    return CHANNELS
