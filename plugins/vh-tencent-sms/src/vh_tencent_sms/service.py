"""The apprise service that sends one SMS through Tencent Cloud's SendSms (API 3.0).

Its URL is built by the channel (``plugin.sms_url``) from staff settings and a person's
number; nobody types it. ``vhtencents://`` posts over https, ``vhtencent://`` over plain http
(the channel allows that only for a private network address: a test sink, a LAN relay).

Apprise has no entry-point discovery: the channel declares this service
(``apprise_services``), and volunteer_hub registers it with apprise when it builds its Hub,
so the service is known in every process that uses the channel.
"""

from __future__ import annotations

import json
import re
import time

import requests
from apprise import NotifyBase, NotifyType
from apprise.exception import AppriseImproperlyConfigured

from vh_tencent_sms.signing import sign

SCHEME = "vhtencent"  # apprise takes a trailing "s" for "secure"
SECURE_SCHEME = "vhtencents"
SERVICE = "sms"  # the credential scope's service, whatever host the endpoint names
ACTION = "SendSms"
VERSION = "2021-01-11"
PARAM_SOURCES = ("subject", "topic", "title")

_MAINLAND_MOBILE = re.compile(r"(?:\+?86)?(1[3-9][0-9]{9})")
_DIGITS = re.compile(r"[0-9]{1,20}")
_URL = re.compile(r"https?://\S+", re.IGNORECASE)
# 【紧急】… or [Emergency] …: a bracketed topic; otherwise the topic ends at the first colon.
_BRACKETED = re.compile(r"^\s*(?:【([^】]*)】|\[([^\]]*)\])\s*(.*)$", re.DOTALL)
_COLON = re.compile(r"[:：]")


def template_params(subject: str, sources: tuple[str, ...], limit: int) -> list[str]:
    """The template's parameters, in order, from the message's subject.

    ``subject`` is the whole subject; ``topic`` what kind of message it is (before the
    first colon, or in the leading brackets: 活动提醒, 紧急); ``title`` the rest (the wish's
    or the task's title). Each value loses links (Tencent refuses links in parameters) and
    the brackets that SMS reserves for the signature, and is cut to ``limit`` characters.
    """
    topic, title = _topic_and_title(subject)
    values = {"subject": subject, "topic": topic, "title": title or subject}
    return [_fit(values[source], limit) for source in sources]


def _topic_and_title(subject: str) -> tuple[str, str]:
    bracketed = _BRACKETED.match(subject)
    if bracketed:
        return bracketed.group(1) or bracketed.group(2) or "", bracketed.group(3)
    parts = _COLON.split(subject, maxsplit=1)
    return (parts[0], parts[1]) if len(parts) == 2 else (subject, "")


def _fit(text: str, limit: int) -> str:
    text = _URL.sub(" ", text).replace("【", " ").replace("】", " ")
    text = " ".join(text.split())[:limit].strip()
    return text or "-"  # an empty parameter is refused


def mainland_e164(number: str) -> str | None:
    """``+8613800138000`` for a mainland mobile number given in any usual form."""
    match = _MAINLAND_MOBILE.fullmatch(re.sub(r"[\s\-()]", "", number))
    return f"+86{match.group(1)}" if match else None


def _masked(phone: str) -> str:
    return f"{phone[:6]}****{phone[-4:]}"


class NotifyTencentSms(NotifyBase):
    """Tencent Cloud SMS: one approved template to one mainland number per message."""

    service_name = "Tencent Cloud SMS"
    service_url = "https://cloud.tencent.com/product/sms"
    protocol = SCHEME
    secure_protocol = SECURE_SCHEME
    # Tencent takes 3000 requests a second; each message has its own service object anyway.
    request_rate_per_sec = 0
    templates = (
        "{schema}://{secret_id}:{secret_key}@{host}",
        "{schema}://{secret_id}:{secret_key}@{host}:{port}",
    )
    template_tokens = dict(
        NotifyBase.template_tokens,
        secret_id={"name": "SecretId", "type": "string", "private": True, "required": True},
        secret_key={"name": "SecretKey", "type": "string", "private": True, "required": True},
        host={"name": "Endpoint", "type": "string", "required": True},
        port={"name": "Port", "type": "int", "min": 1, "max": 65535},
    )
    template_args = dict(
        NotifyBase.template_args,
        to={"name": "Mobile number", "type": "string", "required": True},
        appid={"name": "SmsSdkAppId", "type": "string", "required": True},
        sign={"name": "SignName", "type": "string", "required": True},
        tpl={"name": "TemplateId", "type": "string", "required": True},
        region={"name": "Region", "type": "string", "required": True},
        params={"name": "Template parameters", "type": "list:string"},
        maxlen={"name": "Parameter length", "type": "int", "min": 1, "default": 6},
        ctx={"name": "SessionContext", "type": "string"},
    )

    def __init__(
        self,
        secret_id: str,
        secret_key: str,
        to: str,
        appid: str,
        sign: str,
        tpl: str,
        region: str,
        params: tuple[str, ...] = (),
        maxlen: int = 6,
        ctx: str = "",
        **kwargs,
    ) -> None:
        super().__init__(**kwargs)
        phone = mainland_e164(to or "")
        if phone is None:
            raise AppriseImproperlyConfigured("Tencent SMS: not a mainland mobile number")
        if not (secret_id and secret_key and sign and region):
            raise AppriseImproperlyConfigured("Tencent SMS: incomplete credentials or signature")
        if not (_DIGITS.fullmatch(appid or "") and _DIGITS.fullmatch(tpl or "")):
            raise AppriseImproperlyConfigured("Tencent SMS: SmsSdkAppId and TemplateId are digits")
        unknown = set(params) - set(PARAM_SOURCES)
        if unknown:
            raise AppriseImproperlyConfigured(f"Tencent SMS: unknown parameters {sorted(unknown)}")
        self.secret_id, self.secret_key, self.phone = secret_id, secret_key, phone
        self.sdk_app_id, self.sign_name, self.template_id = appid, sign, tpl
        self.region = region
        self.params, self.maxlen, self.context = tuple(params), int(maxlen), ctx

    @property
    def url_identifier(self):
        return (self.secure_protocol, self.secret_id, self.host, self.port, self.sdk_app_id)

    def url(self, privacy: bool = False, *args, **kwargs) -> str:
        query = {
            "to": self.phone,
            "appid": self.sdk_app_id,
            "sign": self.sign_name,
            "tpl": self.template_id,
            "region": self.region,
            "params": ",".join(self.params),
            "maxlen": str(self.maxlen),
            "ctx": self.context,
            **self.url_parameters(*args, privacy=privacy, **kwargs),
        }
        return "{schema}://{user}:{password}@{host}{port}/?{query}".format(
            schema=self.secure_protocol if self.secure else self.protocol,
            user=self.pprint(self.secret_id, privacy, safe=""),
            password=self.pprint(self.secret_key, privacy, safe=""),
            host=self.host,
            port=f":{self.port}" if self.port else "",
            query=self.urlencode(query),
        )

    def __len__(self) -> int:
        return 1

    def send(self, body: str, title: str = "", notify_type=NotifyType.INFO, **kwargs) -> bool:
        payload = json.dumps(
            {
                "PhoneNumberSet": [self.phone],
                "SmsSdkAppId": self.sdk_app_id,
                "SignName": self.sign_name,
                "TemplateId": self.template_id,
                "TemplateParamSet": template_params(title or body, self.params, self.maxlen),
                # Tencent hands this back in the answer and in delivery reports.
                "SessionContext": self.context,
            },
            ensure_ascii=False,
        ).encode("utf-8")
        default_port = 443 if self.secure else 80
        host = self.host if self.port in (None, default_port) else f"{self.host}:{self.port}"
        headers = {"Content-Type": "application/json; charset=utf-8", "Host": host}
        timestamp = int(time.time())
        signed = sign(
            secret_id=self.secret_id,
            secret_key=self.secret_key,
            service=SERVICE,
            timestamp=timestamp,
            headers={**headers, "X-TC-Action": ACTION},
            payload=payload,
        )
        headers.update(
            {
                "Authorization": signed.authorization,
                "X-TC-Action": ACTION,
                "X-TC-Version": VERSION,
                "X-TC-Region": self.region,
                "X-TC-Timestamp": str(timestamp),
                "User-Agent": self.app_id,
            }
        )
        self.throttle()
        try:
            answer = requests.post(
                f"{'https' if self.secure else 'http'}://{host}/",
                data=payload,
                headers=headers,
                verify=self.verify_certificate,
                timeout=self.request_timeout,
                allow_redirects=False,
            )
        except requests.RequestException as exc:
            self.logger.warning("Tencent SMS could not be reached: %s", exc)
            return False
        problem = self._problem(answer)
        if problem:
            self.logger.warning("Tencent SMS did not send to %s: %s", _masked(self.phone), problem)
            return False
        self.logger.info("Sent Tencent SMS to %s.", _masked(self.phone))
        return True

    @staticmethod
    def _problem(answer: requests.Response) -> str | None:
        """None for a message Tencent accepted, else what went wrong, with Tencent's code."""
        try:
            response = answer.json()["Response"]
        except (ValueError, KeyError, TypeError):
            return f"HTTP {answer.status_code}, not an API 3.0 answer"
        request = f"(RequestId {response.get('RequestId', '?')})"
        error = response.get("Error")
        if error:  # the whole request was refused (credentials, signature, limits)
            return f"{error.get('Code')}: {str(error.get('Message'))[:200]} {request}"
        statuses = response.get("SendStatusSet") or []
        if not statuses:
            return f"HTTP {answer.status_code}, no SendStatusSet {request}"
        status = statuses[0]
        if status.get("Code") != "Ok":  # refused for this number (template, limits, blacklist)
            return f"{status.get('Code')}: {str(status.get('Message'))[:200]} {request}"
        return None

    @staticmethod
    def parse_url(url: str):
        results = NotifyBase.parse_url(url, verify_host=True)
        if not results:
            return results
        query = results["qsd"]
        results["secret_id"] = NotifyTencentSms.unquote(results.get("user") or "")
        results["secret_key"] = NotifyTencentSms.unquote(results.get("password") or "")
        for name in ("to", "appid", "sign", "tpl", "region", "ctx"):
            results[name] = query.get(name, "")
        results["params"] = tuple(p for p in query.get("params", "").split(",") if p)
        results["maxlen"] = int(query["maxlen"]) if query.get("maxlen", "").isdigit() else 6
        return results
