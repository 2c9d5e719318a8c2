"""The tencent_sms channel: its settings, its requests as a strict Tencent sees them, its
failures, and a notification going through the real outbox and worker."""

from __future__ import annotations

import dataclasses
from datetime import timedelta

import pytest
from pydantic import ValidationError
from tencent_sms_sink import TencentSmsSink
from vh_tencent_sms import plugin
from vh_tencent_sms.plugin import TencentSmsSettings, sms_url
from vh_tencent_sms.service import template_params

from volunteer_hub.errors import InvalidInput
from volunteer_hub.hub import Hub
from volunteer_hub.models import Delivery, DeliveryStatus, Role
from volunteer_hub.notifications import outbox
from volunteer_hub.notifications.senders import AppriseNotifier, Outgoing, SendError
from volunteer_hub.notifications.worker import Worker
from volunteer_hub.services import channels, wishes
from volunteer_hub.testing import TestCommunity, confirmed_address
from volunteer_hub.validation import invalid_input

SECRET_ID = "AKIDtestSecretId0123456789"
SECRET_KEY = "testSecretKey0123456789abcdef"
ERRAND = {"title": "帮忙取快递", "description": "腿脚不便", "category": "errand"}


def account(endpoint: str = plugin.DEFAULT_ENDPOINT, **changes) -> dict:
    return {
        "secret_id": SECRET_ID,
        "secret_key": SECRET_KEY,
        "sdk_app_id": "1400006666",
        "sign_name": "幸福里社区",
        "template_id": "1234567",
        "endpoint": endpoint,
    } | changes


PLUGIN = ("vh-tencent-sms", plugin)


@pytest.fixture
def vhub_plugins():
    return [PLUGIN]


@pytest.fixture
async def staff(vhub_community: TestCommunity):
    return await vhub_community.person("社区干部", roles=(Role.STAFF,))


@pytest.fixture
def sink():
    with TencentSmsSink(SECRET_ID, SECRET_KEY) as running:
        yield running


@pytest.fixture
async def notifier():
    plugin.service.register()  # what the hook does in a process that uses the channel
    sender = AppriseNotifier()
    yield sender
    sender.close()


async def send(notifier: AppriseNotifier, settings: TencentSmsSettings, **message) -> None:
    url = sms_url(settings, message.pop("to", "13800138000"), message.pop("key", "k-1"))
    await notifier.send(Outgoing(delivery_id=1, url=url, **message))


# --- settings -------------------------------------------------------------------------


def test_settings_defaults_and_clean_up():
    settings = TencentSmsSettings.model_validate(
        account(sign_name="【幸福里社区】", sdk_app_id=1400006666)
    )
    assert settings.endpoint == "https://sms.tencentcloudapi.com"
    assert settings.sign_name == "幸福里社区"  # Tencent wants the signature without 【】
    assert settings.sdk_app_id == "1400006666"
    assert (settings.region, settings.template_params, settings.param_max_length) == (
        "ap-guangzhou",
        ("topic", "title"),
        6,
    )


@pytest.mark.parametrize(
    ("changes", "field", "msgid"),
    [
        ({"endpoint": "http://sms.tencentcloudapi.com"}, "endpoint", "Must be an https address"),
        ({"endpoint": "ftp://sms.tencentcloudapi.com"}, "endpoint", "Must be an http or https"),
        ({"endpoint": "https://u:p@sms.tencentcloudapi.com"}, "endpoint", "user name or password"),
        ({"endpoint": "https://sms.tencentcloudapi.com/x"}, "endpoint", "not valid"),
        ({"template_id": "12a"}, "template_id", "whole number"),
        ({"secret_key": "has space"}, "secret_key", "not valid"),
        ({"region": "ap-singapore"}, "region", "{expected}"),
        ({"template_params": ["body"]}, "template_params", "{expected}"),
        ({"param_max_length": 0}, "param_max_length", "at least"),
        ({"unknown": 1}, "unknown", "Unknown field"),
    ],
)
def test_bad_settings_name_their_field(changes, field, msgid):
    with pytest.raises(ValidationError) as caught:
        TencentSmsSettings.model_validate(account(**changes))
    problems = invalid_input(caught.value).details
    assert [p.field.split(".")[0] for p in problems] == [field]
    assert msgid in problems[0].msgid


def test_plain_http_is_allowed_only_to_a_private_address():
    assert TencentSmsSettings.model_validate(account("http://127.0.0.1:8080")).endpoint
    assert TencentSmsSettings.model_validate(account("http://192.168.1.20")).endpoint


async def test_a_private_endpoint_needs_allow_private_network(
    vhub_hub, vhub_community, staff, sink
):
    settings = dataclasses.replace(vhub_hub.settings, allow_private_network=False)
    strict = Hub.create(settings, plugins=[PLUGIN], clock=vhub_hub.clock)  # as in production
    config = {"code": "tencent_sms", "name": "短信", "settings": account(sink.endpoint)}
    with pytest.raises(InvalidInput) as caught:
        await channels.configure(strict, staff, vhub_community.id, config)
    assert caught.value.details[0].msgid.startswith("This address is on a private network")
    view = await channels.configure(vhub_hub, staff, vhub_community.id, config)
    assert view.settings["secret_id"] == view.settings["secret_key"] == channels.MASK
    assert view.settings["sdk_app_id"] == "1400006666"


# --- what is sent ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("subject", "sources", "limit", "expected"),
    [
        ("您的心愿已通过审核：帮忙取快递", ("topic", "title"), 6, ["您的心愿已通", "帮忙取快递"]),
        (
            "活动提醒：银发巡逻 2026-12-03 19:00",
            ("topic", "title"),
            30,
            ["活动提醒", "银发巡逻 2026-12-03 19:00"],
        ),
        (
            "【紧急】停水通知",
            ("topic", "title", "subject"),
            12,
            ["紧急", "停水通知", "紧急 停水通知"],
        ),
        ("[Emergency] Water cut", ("topic", "title"), 20, ["Emergency", "Water cut"]),
        ("Reminder: Patrol at 19:00", ("topic",), 20, ["Reminder"]),
        ("没有冒号的主题", ("topic", "title"), 20, ["没有冒号的主题", "没有冒号的主题"]),
        ("见 https://x.example/a?b=1 通知：标题", ("subject",), 40, ["见 通知：标题"]),
        ("已确认：", ("title",), 6, ["已确认："]),
        ("任意", (), 6, []),
    ],
)
def test_template_parameters_come_from_the_subject(subject, sources, limit, expected):
    assert template_params(subject, sources, limit) == expected


async def test_a_message_arrives_signed_as_tencent_checks_it(sink, notifier):
    settings = TencentSmsSettings.model_validate(account(sink.endpoint, region="ap-beijing"))
    await send(notifier, settings, subject="活动提醒：银发巡逻", body="……", to="13800138000")
    [request] = sink.requests
    assert request.verified, "the sink re-computed a different signature"
    assert request.signed_headers == "content-type;host;x-tc-action"
    assert request.headers["X-TC-Region"] == "ap-beijing"
    assert request.payload == {
        "PhoneNumberSet": ["+8613800138000"],
        "SmsSdkAppId": "1400006666",
        "SignName": "幸福里社区",
        "TemplateId": "1234567",
        "TemplateParamSet": ["活动提醒", "银发巡逻"],
        "SessionContext": "k-1",
    }


async def test_a_wrong_secret_is_refused_by_the_provider(sink, notifier):
    settings = TencentSmsSettings.model_validate(account(sink.endpoint, secret_key="wrong0key"))
    with pytest.raises(SendError) as caught:
        await send(notifier, settings, subject="s：t", body="b")
    assert "AuthFailure.SignatureFailure" in str(caught.value)
    assert not caught.value.permanent  # the outbox retries, then dead-letters
    assert not sink.requests[0].verified and not sink.accepted


@pytest.mark.parametrize(
    ("fail", "in_error"),
    [
        (("error", "FailedOperation.InsufficientBalanceInSmsPackage"), "InsufficientBalance"),
        (("status", "LimitExceeded.PhoneNumberDailyLimit"), "LimitExceeded.PhoneNumberDailyLimit"),
        (("http", 502), "HTTP 502"),
    ],
)
async def test_provider_error_answers_are_failures_with_the_code(sink, notifier, fail, in_error):
    sink.fail = fail
    settings = TencentSmsSettings.model_validate(account(sink.endpoint))
    with pytest.raises(SendError) as caught:
        await send(notifier, settings, subject="s：t", body="b")
    assert in_error in str(caught.value)
    assert "13800138000" not in str(caught.value)  # the number is masked in the error
    assert not sink.accepted


async def test_a_number_that_is_not_a_mainland_mobile_is_a_permanent_failure(sink, notifier):
    settings = TencentSmsSettings.model_validate(account(sink.endpoint))
    with pytest.raises(SendError) as caught:
        await send(notifier, settings, subject="s：t", body="b", to="02012345678")
    assert caught.value.permanent and not sink.requests


# --- through the outbox ---------------------------------------------------------------


async def approved_wish_for(community: TestCommunity, staff, sink) -> None:
    """The resident 王奶奶 gets a channel address, posts a wish, and staff approve it."""
    hub = community.hub
    config = {"code": "tencent_sms", "name": "腾讯云短信", "settings": account(sink.endpoint)}
    await channels.configure(hub, staff, community.id, config)
    resident = await community.person("王奶奶")
    await confirmed_address(hub, resident, "tencent_sms", "+86 139 0013 9000")
    wish = await wishes.post(hub, resident, community.id, ERRAND)
    await wishes.review(hub, staff, wish.id, {"decision": "approve"})


async def test_a_notification_goes_out_through_the_outbox_and_worker(
    vhub_hub, vhub_community, staff, sink
):
    await approved_wish_for(vhub_community, staff, sink)
    [delivery] = await Delivery.filter(channel__code="tencent_sms")
    notifier = AppriseNotifier()
    try:
        report = await Worker(vhub_hub, notifier).run_once()
        assert (report.sent, report.failed) == (1, 0)
        assert (await Worker(vhub_hub, notifier).run_once()).sent == 0  # sent once
    finally:
        notifier.close()
    [payload] = sink.accepted.values()
    assert payload["PhoneNumberSet"] == ["+8613900139000"]
    assert payload["TemplateParamSet"] == ["您的心愿已通", "帮忙取快递"]
    assert payload["SessionContext"] == delivery.idempotency_key
    assert all(r.verified for r in sink.requests) and not sink.duplicates
    await delivery.refresh_from_db()
    assert delivery.status is DeliveryStatus.SENT


async def test_provider_errors_are_retried_then_dead_lettered_with_the_code(
    vhub_hub, vhub_community, staff, sink, vhub_clock
):
    sink.fail = ("status", "FailedOperation.TemplateIncorrectOrUnapproved")
    await approved_wish_for(vhub_community, staff, sink)
    notifier = AppriseNotifier()
    try:
        for attempt in range(1, outbox.MAX_ATTEMPTS + 1):
            report = await Worker(vhub_hub, notifier).run_once()
            assert (report.sent, report.failed) == (0, 1)
            [delivery] = await Delivery.filter(channel__code="tencent_sms")
            assert delivery.attempts == attempt
            assert "FailedOperation.TemplateIncorrectOrUnapproved" in delivery.last_error
            vhub_clock.now += outbox.backoff(attempt) + timedelta(seconds=1)
    finally:
        notifier.close()
    assert delivery.status is DeliveryStatus.DEAD
    assert len(sink.requests) == outbox.MAX_ATTEMPTS and not sink.accepted


async def test_the_code_that_confirms_a_number_arrives_by_sms_and_nothing_before(
    vhub_hub, vhub_community, staff, sink
):
    """A number given by a person gets its code, in the template's parameters, and nothing
    else until the code is typed in; then the person's messages follow."""
    hub = vhub_hub
    config = {"code": "tencent_sms", "name": "腾讯云短信", "settings": account(sink.endpoint)}
    await channels.configure(hub, staff, vhub_community.id, config)
    resident = await vhub_community.person("王奶奶")
    await channels.set_address(hub, resident, "tencent_sms", {"address": "+86 139 0013 9000"})
    wish = await wishes.post(hub, resident, vhub_community.id, ERRAND)
    await wishes.review(hub, staff, wish.id, {"decision": "approve"})  # not for the number yet
    notifier = AppriseNotifier()
    try:
        assert (await Worker(hub, notifier).run_once()).sent == 1
        [payload] = sink.accepted.values()
        assert payload["PhoneNumberSet"] == ["+8613900139000"]
        topic, code = payload["TemplateParamSet"]
        assert topic == "验证码" and len(code) == 6 and code.isdigit()
        await channels.confirm_address(hub, resident, "tencent_sms", {"code": code})
        wish = await wishes.post(hub, resident, vhub_community.id, ERRAND)
        await wishes.review(hub, staff, wish.id, {"decision": "approve"})
        assert (await Worker(hub, notifier).run_once()).sent == 1
    finally:
        notifier.close()
    assert [p["TemplateParamSet"][0] for p in sink.accepted.values()] == ["验证码", "您的心愿已通"]
