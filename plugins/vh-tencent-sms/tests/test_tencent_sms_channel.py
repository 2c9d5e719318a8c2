"""The tencent_sms channel: its settings, its requests as a strict Tencent sees them, its
failures, and a notification going through the real outbox and worker."""

from __future__ import annotations

from datetime import timedelta

import pytest
from pydantic import ValidationError
from tencent_sms_sink import TencentSmsSink
from vh_tencent_sms import plugin
from vh_tencent_sms.plugin import TencentSmsSettings
from vh_tencent_sms.service import template_params

from volunteer_hub.plugin_api import invalid_input
from volunteer_hub.testing import (
    TestCommunity,
    api_client,
    confirmed_address,
    deliver_due,
    deliveries,
    login,
    max_delivery_attempts,
    send_through_channel,
)

SECRET_ID = "AKIDtestSecretId0123456789"
SECRET_KEY = "testSecretKey0123456789abcdef"
ERRAND = {"title": "帮忙取快递", "description": "腿脚不便", "category": "errand"}
MASK = "••••••"  # what the API shows of a secret setting


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
    return await vhub_community.person("社区干部", roles=("staff",))


@pytest.fixture
def sink():
    with TencentSmsSink(SECRET_ID, SECRET_KEY) as running:
        yield running


async def send(settings: TencentSmsSettings, *, to: str = "13800138000", **message):
    """One message through the channel, as the outbox sends it; what became of it."""
    return await send_through_channel(plugin.CHANNEL, settings, to, **message)


async def configure(api, staff, community_id: int, settings: dict):
    """Staff configure the community's Tencent SMS channel over the API."""
    config = {"code": "tencent_sms", "name": "腾讯云短信", "settings": settings}
    headers = await login(api, staff) | {"Accept-Language": "en"}
    return await api.post(
        f"/api/v1/communities/{community_id}/channels", json=config, headers=headers
    )


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
    vhub_hub, vhub_api, vhub_community, staff, sink
):
    async with api_client(vhub_hub, allow_private_network=False) as strict:  # as in production
        refused = await configure(strict, staff, vhub_community.id, account(sink.endpoint))
    assert refused.status_code == 422
    [problem] = refused.json()["error"]["details"]
    assert problem["message"].startswith("This address is on a private network")
    configured = await configure(vhub_api, staff, vhub_community.id, account(sink.endpoint))
    assert configured.status_code == 201, configured.text
    view = configured.json()
    assert view["settings"]["secret_id"] == view["settings"]["secret_key"] == MASK
    assert view["settings"]["sdk_app_id"] == "1400006666"


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


async def test_a_message_arrives_signed_as_tencent_checks_it(sink):
    settings = TencentSmsSettings.model_validate(account(sink.endpoint, region="ap-beijing"))
    assert (await send(settings, subject="活动提醒：银发巡逻", body="……", to="13800138000")).sent
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


async def test_a_wrong_secret_is_refused_by_the_provider(sink):
    settings = TencentSmsSettings.model_validate(account(sink.endpoint, secret_key="wrong0key"))
    outcome = await send(settings, subject="s：t", body="b")
    assert not outcome.sent and "AuthFailure.SignatureFailure" in outcome.error
    assert not outcome.permanent  # the outbox retries, then dead-letters
    assert not sink.requests[0].verified and not sink.accepted


@pytest.mark.parametrize(
    ("fail", "in_error"),
    [
        (("error", "FailedOperation.InsufficientBalanceInSmsPackage"), "InsufficientBalance"),
        (("status", "LimitExceeded.PhoneNumberDailyLimit"), "LimitExceeded.PhoneNumberDailyLimit"),
        (("http", 502), "HTTP 502"),
    ],
)
async def test_provider_error_answers_are_failures_with_the_code(sink, fail, in_error):
    sink.fail = fail
    settings = TencentSmsSettings.model_validate(account(sink.endpoint))
    outcome = await send(settings, subject="s：t", body="b")
    assert not outcome.sent and in_error in outcome.error
    assert "13800138000" not in outcome.error  # the number is masked in the error
    assert not sink.accepted


async def test_a_number_that_is_not_a_mainland_mobile_is_a_permanent_failure(sink):
    settings = TencentSmsSettings.model_validate(account(sink.endpoint))
    outcome = await send(settings, subject="s：t", body="b", to="02012345678")
    assert not outcome.sent and outcome.permanent and not sink.requests


# --- through the outbox ---------------------------------------------------------------


async def post_and_approve_wish(api, community: TestCommunity, staff, resident) -> None:
    headers = await login(api, resident)
    posted = await api.post(
        f"/api/v1/communities/{community.id}/wishes", json=ERRAND, headers=headers
    )
    assert posted.status_code == 201, posted.text
    staff_headers = await login(api, staff)
    # The channel is what these tests are about: staff dispatch errands by hand here, so
    # that no automatic invitation (or escalation, with no volunteer to invite) joins the
    # messages. Dispatch's own messages are tested in the core.
    manual = await api.patch(
        f"/api/v1/communities/{community.id}",
        json={"manual_dispatch_categories": [ERRAND["category"]]},
        headers=staff_headers,
    )
    assert manual.status_code == 200, manual.text
    reviewed = await api.post(
        f"/api/v1/wishes/{posted.json()['id']}/review",
        json={"decision": "approve"},
        headers=staff_headers,
    )
    assert reviewed.status_code == 200, reviewed.text


async def approved_wish_for(api, community: TestCommunity, staff, sink):
    """The resident 王奶奶 gets a channel address, posts a wish, and staff approve it."""
    assert (await configure(api, staff, community.id, account(sink.endpoint))).status_code == 201
    resident = await community.person("王奶奶")
    await confirmed_address(community.hub, resident, "tencent_sms", "+86 139 0013 9000")
    await post_and_approve_wish(api, community, staff, resident)
    return resident


async def test_a_notification_goes_out_through_the_outbox_and_worker(
    vhub_hub, vhub_api, vhub_community, staff, sink
):
    resident = await approved_wish_for(vhub_api, vhub_community, staff, sink)
    [delivery] = await deliveries(channel="tencent_sms", person=resident)
    report = await deliver_due(vhub_hub)
    assert (report.sent, report.failed) == (1, 0)
    assert (await deliver_due(vhub_hub)).sent == 0  # sent once
    [payload] = sink.accepted.values()
    assert payload["PhoneNumberSet"] == ["+8613900139000"]
    assert payload["TemplateParamSet"] == ["您的心愿已通", "帮忙取快递"]
    assert payload["SessionContext"] == delivery.idempotency_key
    assert all(r.verified for r in sink.requests) and not sink.duplicates
    [delivery] = await deliveries(channel="tencent_sms", person=resident)
    assert delivery.status == "sent"


async def test_provider_errors_are_retried_then_dead_lettered_with_the_code(
    vhub_hub, vhub_api, vhub_community, staff, sink, vhub_clock
):
    sink.fail = ("status", "FailedOperation.TemplateIncorrectOrUnapproved")
    await approved_wish_for(vhub_api, vhub_community, staff, sink)
    for attempt in range(1, max_delivery_attempts() + 1):
        report = await deliver_due(vhub_hub)
        assert (report.sent, report.failed) == (0, 1)
        [delivery] = await deliveries(channel="tencent_sms")
        assert delivery.attempts == attempt
        assert "FailedOperation.TemplateIncorrectOrUnapproved" in delivery.last_error
        vhub_clock.now = delivery.not_before + timedelta(seconds=1)  # when it is tried again
    assert delivery.status == "dead"
    assert len(sink.requests) == max_delivery_attempts() and not sink.accepted


async def test_the_code_that_confirms_a_number_arrives_by_sms_and_nothing_before(
    vhub_hub, vhub_api, vhub_community, staff, sink
):
    """A number given by a person gets its code, in the template's parameters, and nothing
    else until the code is typed in; then the person's messages follow."""
    assert (
        await configure(vhub_api, staff, vhub_community.id, account(sink.endpoint))
    ).status_code == 201
    resident = await vhub_community.person("王奶奶")
    headers = await login(vhub_api, resident)
    given = await vhub_api.put(
        "/api/v1/me/channels/tencent_sms", json={"address": "+86 139 0013 9000"}, headers=headers
    )
    assert given.status_code == 200, given.text
    await post_and_approve_wish(vhub_api, vhub_community, staff, resident)  # not for the number yet
    assert (await deliver_due(vhub_hub)).sent == 1
    [payload] = sink.accepted.values()
    assert payload["PhoneNumberSet"] == ["+8613900139000"]
    topic, code = payload["TemplateParamSet"]
    assert topic == "验证码" and len(code) == 6 and code.isdigit()
    confirmed = await vhub_api.post(
        "/api/v1/me/channels/tencent_sms/confirm", json={"code": code}, headers=headers
    )
    assert confirmed.status_code == 200, confirmed.text
    await post_and_approve_wish(vhub_api, vhub_community, staff, resident)
    assert (await deliver_due(vhub_hub)).sent == 1
    assert [p["TemplateParamSet"][0] for p in sink.accepted.values()] == ["验证码", "您的心愿已通"]
