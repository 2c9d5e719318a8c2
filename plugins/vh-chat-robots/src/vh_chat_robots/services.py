"""The apprise services behind the two channels: apprise's own WeCom and DingTalk robots,
subclassed where volunteer_hub needs more than they do.

What the subclasses change, and why:

* the robot's base address is part of the URL (a channel setting that defaults to the
  official host), so that tests, and a relay on a private network, can stand in for it;
* they post markdown with an @-mention of the person (``messages``), where apprise's post
  plain text (WeCom) or mention without the ``@mobile`` that DingTalk needs in the text;
* they read the robot's answer: both robots answer HTTP 200 with ``errcode`` set when they
  refuse (a wrong key or signature, too many messages), which apprise counts as sent;
* DingTalk's signature goes into the query URL-encoded once, as DingTalk specifies
  (apprise 2.2 quotes it and then lets ``requests`` quote it again).

The URLs are built by the channels (``plugin``) from staff settings and a person's
address; nobody types them. The channels declare these services (``apprise_services``),
and volunteer_hub registers them with apprise when it builds its Hub.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import time
from json import dumps

import requests
from apprise import NotifyBase, NotifyFormat, NotifyType
from apprise.exception import AppriseImproperlyConfigured
from apprise.plugins.dingtalk import NotifyDingTalk
from apprise.plugins.wecombot import NotifyWeComBot

from vh_chat_robots.messages import dingtalk_markdown, wecom_markdown

# apprise reads a trailing "s" as "secure": these post over https, the others over http.
WECOM_SCHEME, WECOM_SECURE_SCHEME = "vhwecom", "vhwecoms"
DINGTALK_SCHEME, DINGTALK_SECURE_SCHEME = "vhdingtalk", "vhdingtalks"
WECOM_USERID = re.compile(r"[A-Za-z0-9_.@\-]{1,64}")


def dingtalk_sign(secret: str, timestamp_ms: int) -> str:
    """DingTalk's robot signature: base64(HMAC-SHA256(secret, f"{timestamp}\\n{secret}")).

    Not yet URL-encoded: the query string does that, once.
    """
    digest = hmac.new(
        secret.encode("utf-8"), f"{timestamp_ms}\n{secret}".encode(), hashlib.sha256
    ).digest()
    return base64.b64encode(digest).decode("ascii")


class _RobotPost:
    """Posting to a robot and reading its answer, shared by both services."""

    robot = ""

    def _netloc(self) -> str:
        default = 443 if self.secure else 80
        return self.host if self.port in (None, default) else f"{self.host}:{self.port}"

    def _url(self, query: dict) -> str:
        """This service's own URL, with ``query`` (its settings and apprise's own)."""
        scheme = self.secure_protocol if self.secure else self.protocol
        return f"{scheme}://{self._netloc()}/?{self.urlencode(query)}"

    def _post(self, path: str, params: dict[str, str], payload: dict, key: str) -> bool:
        headers = {"User-Agent": self.app_id, "Content-Type": "application/json; charset=utf-8"}
        if key:  # the outbox's idempotency key: a relay that honours it drops a repeat
            headers["X-Idempotency-Key"] = key
        self.throttle()
        try:
            answer = requests.post(
                f"{'https' if self.secure else 'http'}://{self._netloc()}{path}",
                params=params,
                data=dumps(payload, ensure_ascii=False).encode("utf-8"),
                headers=headers,
                verify=self.verify_certificate,
                timeout=self.request_timeout,
                allow_redirects=False,
            )
        except requests.RequestException as exc:
            self.logger.warning("%s could not be reached: %s", self.robot, exc)
            return False
        try:
            body = answer.json()
            code, message = int(body.get("errcode", -1)), str(body.get("errmsg", ""))[:200]
        except (ValueError, TypeError, AttributeError):
            code, message = -1, "not a robot answer"
        if answer.status_code != 200 or code != 0:
            self.logger.warning(
                "%s refused the message: HTTP %s, errcode %s: %s",
                self.robot,
                answer.status_code,
                code,
                message,
            )
            return False
        self.logger.info("Sent a %s message.", self.robot)
        return True

    @staticmethod
    def _parse(url: str, *names: str) -> dict | None:
        results = NotifyBase.parse_url(url, verify_host=True)
        if results:
            for name in names:
                results[name] = results["qsd"].get(name, "")
        return results


class NotifyWeComRobot(_RobotPost, NotifyWeComBot):
    """A WeCom (企业微信) group robot: markdown that mentions ``<@userid>``."""

    service_name = "WeCom group robot"
    robot = "WeCom robot"
    protocol = WECOM_SCHEME
    secure_protocol = WECOM_SECURE_SCHEME
    title_maxlen = 250  # the subject is the message's heading, not merged into the body
    request_rate_per_sec = 0  # one service object per message: nothing to space out
    templates = ("{schema}://{host}", "{schema}://{host}:{port}")

    def __init__(self, key: str, to: str, ik: str = "", **kwargs) -> None:
        super().__init__(key=key, **kwargs)  # apprise checks the key
        if not WECOM_USERID.fullmatch(to or ""):
            raise AppriseImproperlyConfigured("WeCom robot: not a WeCom user id")
        self.userid, self.idempotency_key = to, ik

    def url(self, privacy: bool = False, *args, **kwargs) -> str:
        return self._url(
            {
                "key": self.pprint(self.key, privacy, safe=""),
                "to": self.userid,
                "ik": self.idempotency_key,
                **self.url_parameters(*args, privacy=privacy, **kwargs),
            }
        )

    def send(self, body: str, title: str = "", notify_type=NotifyType.INFO, **kwargs) -> bool:
        payload = {
            "msgtype": "markdown",
            "markdown": {"content": wecom_markdown(title, body, self.userid)},
        }
        return self._post("/cgi-bin/webhook/send", {"key": self.key}, payload, self.idempotency_key)

    @staticmethod
    def parse_url(url: str):
        return _RobotPost._parse(url, "key", "to", "ik")

    @staticmethod
    def parse_native_url(url: str):
        return None  # a pasted official webhook address stays apprise's own service's


class NotifyDingTalkRobot(_RobotPost, NotifyDingTalk):
    """A DingTalk (钉钉) group robot with a signing secret: markdown that mentions ``@mobile``."""

    service_name = "DingTalk group robot"
    robot = "DingTalk robot"
    protocol = DINGTALK_SCHEME
    secure_protocol = DINGTALK_SECURE_SCHEME
    notify_format = NotifyFormat.TEXT  # the plain text comes in; send() writes the markdown
    request_rate_per_sec = 0
    templates = ("{schema}://{host}", "{schema}://{host}:{port}")

    def __init__(self, token: str, secret: str, to: str, ik: str = "", **kwargs) -> None:
        if not secret:
            raise AppriseImproperlyConfigured("DingTalk robot: the signing secret is missing")
        super().__init__(token=token, secret=secret, targets=[to], **kwargs)
        if len(self.targets) != 1:  # apprise drops a number it cannot use
            raise AppriseImproperlyConfigured("DingTalk robot: not a mobile number")
        self.idempotency_key = ik

    def url(self, privacy: bool = False, *args, **kwargs) -> str:
        return self._url(
            {
                "token": self.pprint(self.token, privacy, safe=""),
                "secret": self.pprint(self.secret, privacy, safe=""),
                "to": self.targets[0],
                "ik": self.idempotency_key,
                **self.url_parameters(*args, privacy=privacy, **kwargs),
            }
        )

    def send(self, body: str, title: str = "", notify_type=NotifyType.INFO, **kwargs) -> bool:
        mobile = self.targets[0]
        timestamp = round(time.time() * 1000)
        params = {
            "access_token": self.token,
            "timestamp": str(timestamp),
            "sign": dingtalk_sign(self.secret, timestamp),
        }
        payload = {
            "msgtype": "markdown",
            "markdown": {
                "title": " ".join(title.split()) or self.app_desc,
                "text": dingtalk_markdown(title, body, mobile),
            },
            "at": {"atMobiles": [mobile], "isAtAll": False},
        }
        return self._post("/robot/send", params, payload, self.idempotency_key)

    @staticmethod
    def parse_url(url: str):
        return _RobotPost._parse(url, "token", "secret", "to", "ik")
