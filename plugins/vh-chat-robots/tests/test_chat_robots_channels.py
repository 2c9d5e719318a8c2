"""The wecom_robot and dingtalk_robot channels: settings, what a strict robot receives, its
refusals, and notifications in both languages through the real outbox and worker."""

from __future__ import annotations

from datetime import timedelta

import pytest
from chat_robot_sink import RobotSink
from pydantic import ValidationError
from vh_chat_robots import plugin
from vh_chat_robots.plugin import DingTalkRobotSettings, WeComRobotSettings

from volunteer_hub.plugin_api import invalid_input
from volunteer_hub.testing import (
    TestCommunity,
    api_client,
    confirmed_address,
    deliver_due,
    deliveries,
    login,
    prefer_language,
    send_through_channel,
)

ERRAND = {"title": "帮忙取快递", "description": "腿脚不便", "category": "errand"}
MASK = "••••••"  # what the API shows of a secret setting
WECOM, DINGTALK = plugin.CHANNELS


PLUGIN = ("vh-chat-robots", plugin)


@pytest.fixture
def vhub_plugins():
    return [PLUGIN]


@pytest.fixture
async def staff(vhub_community: TestCommunity):
    return await vhub_community.person("社区干部", roles=("staff",))


@pytest.fixture
def sink():
    with RobotSink() as running:
        yield running


def wecom(sink: RobotSink, **changes) -> WeComRobotSettings:
    return WeComRobotSettings(**{"key": sink.wecom_key, "base_url": sink.base_url} | changes)


def dingtalk(sink: RobotSink, **changes) -> DingTalkRobotSettings:
    values = {
        "access_token": sink.dingtalk_token,
        "secret": sink.dingtalk_secret,
        "base_url": sink.base_url,
    }
    return DingTalkRobotSettings(**values | changes)


async def configure(api, staff, community_id: int, code: str, settings):
    """Staff configure the community's robot channel over the API."""
    config = {"code": code, "name": "志愿队群", "settings": settings.model_dump()}
    headers = await login(api, staff) | {"Accept-Language": "en"}
    return await api.post(
        f"/api/v1/communities/{community_id}/channels", json=config, headers=headers
    )


# --- settings -------------------------------------------------------------------------


def test_staff_may_paste_the_webhook_address_the_app_shows():
    pasted = "https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=693a91f6-7b2c-4bc4-97a0-0ec2"
    settings = WeComRobotSettings(key=pasted)
    assert (settings.key, settings.base_url) == ("693a91f6-7b2c-4bc4-97a0-0ec2", plugin.WECOM_HOST)
    ding = DingTalkRobotSettings(
        access_token="https://oapi.dingtalk.com/robot/send?access_token=0a1b2c", secret=" SECabc "
    )
    assert (ding.access_token, ding.secret, ding.base_url) == (
        "0a1b2c",
        "SECabc",
        plugin.DINGTALK_HOST,
    )


@pytest.mark.parametrize(
    ("model", "values", "field", "msgid"),
    [
        (WeComRobotSettings, {"key": "has space"}, "key", "not valid"),
        (WeComRobotSettings, {"key": "https://qyapi.weixin.qq.com/x?nokey=1"}, "key", "not valid"),
        (
            WeComRobotSettings,
            {"key": "k", "base_url": "http://qyapi.weixin.qq.com"},
            "base_url",
            "https",
        ),
        (
            WeComRobotSettings,
            {"key": "k", "base_url": "https://h.example/p"},
            "base_url",
            "not valid",
        ),
        (DingTalkRobotSettings, {"access_token": "t"}, "secret", "required"),
        (DingTalkRobotSettings, {"access_token": "t", "secret": "SEC-1"}, "secret", "not valid"),
        (DingTalkRobotSettings, {"access_token": "t", "secret": "s", "x": 1}, "x", "Unknown field"),
    ],
)
def test_bad_settings_name_their_field(model, values, field, msgid):
    with pytest.raises(ValidationError) as caught:
        model.model_validate(values)
    [problem] = invalid_input(caught.value).details
    assert problem.field == field and msgid in problem.msgid


async def test_a_robot_on_a_private_address_needs_allow_private_network(
    vhub_hub, vhub_api, vhub_community, staff, sink
):
    async with api_client(vhub_hub, allow_private_network=False) as strict:  # as in production
        refused = await configure(strict, staff, vhub_community.id, "wecom_robot", wecom(sink))
    assert refused.status_code == 422
    [problem] = refused.json()["error"]["details"]
    assert problem["message"].startswith("This address is on a private network")
    configured = await configure(vhub_api, staff, vhub_community.id, "wecom_robot", wecom(sink))
    assert configured.status_code == 201 and configured.json()["settings"]["key"] == MASK


# --- what the robots receive ----------------------------------------------------------


async def test_wecom_gets_markdown_that_mentions_the_person(sink):
    assert (await send_through_channel(WECOM, wecom(sink), "ZhangSan", key="k-1")).sent
    [post] = sink.posts
    assert post.errcode == 0 and post.headers["X-Idempotency-Key"] == "k-1"
    assert post.payload == {
        "msgtype": "markdown",
        "markdown": {"content": "**活动提醒：巡逻**\n请按时签到。\n<@ZhangSan>"},
    }


async def test_dingtalk_gets_a_signed_markdown_post_that_mentions_the_mobile(sink):
    assert (await send_through_channel(DINGTALK, dingtalk(sink), "13800138000", key="k-2")).sent
    [post] = sink.posts
    assert post.errcode == 0, "the sink re-computed a different signature"
    assert post.payload == {
        "msgtype": "markdown",
        "markdown": {
            "title": "活动提醒：巡逻",
            "text": "#### 活动提醒：巡逻\n\n请按时签到。\n\n@13800138000",
        },
        "at": {"atMobiles": ["13800138000"], "isAtAll": False},
    }


@pytest.mark.parametrize(
    ("robot", "changes", "errcode"),
    [
        ("wecom", {"key": "other-key"}, "93000"),
        ("dingtalk", {"secret": "SECwrongsecret"}, "310000"),
        ("dingtalk", {"access_token": "othertoken"}, "300001"),
    ],
)
async def test_a_refusal_with_http_200_is_a_failure_with_the_errcode(sink, robot, changes, errcode):
    if robot == "wecom":
        outcome = await send_through_channel(WECOM, wecom(sink, **changes), "ZhangSan", key="k-3")
    else:
        settings = dingtalk(sink, **changes)
        outcome = await send_through_channel(DINGTALK, settings, "13800138000", key="k-3")
    assert not outcome.sent
    assert f"errcode {errcode}" in outcome.error and not outcome.permanent
    assert not sink.accepted


async def test_an_address_the_robot_cannot_mention_is_a_permanent_failure(sink):
    for channel, settings, address in (
        (WECOM, wecom(sink), "张三"),
        (DINGTALK, dingtalk(sink), "12345"),
    ):
        outcome = await send_through_channel(channel, settings, address)
        assert not outcome.sent and outcome.permanent
    assert not sink.posts


# --- through the outbox ---------------------------------------------------------------


async def post_wish(api, community_id: int, person, wish: dict) -> int:
    headers = await login(api, person)
    response = await api.post(
        f"/api/v1/communities/{community_id}/wishes", json=wish, headers=headers
    )
    assert response.status_code == 201, response.text
    return response.json()["id"]


async def approve(api, staff, wish_id: int, community_id: int) -> None:
    headers = await login(api, staff)
    # The channel is what these tests are about: staff dispatch errands by hand here, so
    # that no automatic invitation (or escalation, with no volunteer to invite) joins the
    # messages. Dispatch's own messages are tested in the core.
    manual = await api.patch(
        f"/api/v1/communities/{community_id}",
        json={"manual_dispatch_categories": ["errand"]},
        headers=headers,
    )
    assert manual.status_code == 200, manual.text
    response = await api.post(
        f"/api/v1/wishes/{wish_id}/review", json={"decision": "approve"}, headers=headers
    )
    assert response.status_code == 200, response.text


async def approve_wishes(api, community: TestCommunity, staff, code: str, settings, people):
    """Each (person, address) gets an address for the channel, posts a wish; staff approve."""
    assert (await configure(api, staff, community.id, code, settings)).status_code == 201
    for person, address in people:
        await confirmed_address(community.hub, person, code, address)
        await approve(api, staff, await post_wish(api, community.id, person, ERRAND), community.id)


async def test_wecom_posts_each_persons_message_in_their_language(
    vhub_hub, vhub_api, vhub_community, staff, sink
):
    wang = await vhub_community.person("王奶奶")
    anna = await vhub_community.person("Anna")
    await prefer_language(vhub_hub, anna, "en")
    people = [(wang, "wangnainai"), (anna, "anna.w")]
    await approve_wishes(vhub_api, vhub_community, staff, "wecom_robot", wecom(sink), people)
    report = await deliver_due(vhub_hub)
    assert (report.sent, report.failed) == (2, 0)
    contents = sorted(p["markdown"]["content"] for p in sink.accepted.values())
    assert contents == [
        "**Your wish was approved: 帮忙取快递**\nHello Anna,\n\n"
        'Your wish "帮忙取快递" was approved by the community and is waiting for a volunteer.\n\n'
        "幸福里社区\n<@anna.w>",
        "**您的心愿已通过审核：帮忙取快递**\n王奶奶，您好！\n\n"
        "您的心愿“帮忙取快递”已通过社区审核，正在等待志愿者认领。\n\n幸福里社区\n<@wangnainai>",
    ]
    sent = await deliveries(channel="wecom_robot")
    assert set(sink.accepted) == {d.idempotency_key for d in sent} and not sink.duplicates
    assert [d.status for d in await deliveries()].count("sent") == 2


async def test_dingtalk_through_the_outbox_and_its_refusals_retried(
    vhub_hub, vhub_api, vhub_community, staff, sink, vhub_clock
):
    li = await vhub_community.person("李志愿")
    sink.fail = 130101  # "send too fast, exceed 20 times per minute"
    people = [(li, "+86 138 0013 8000")]
    await approve_wishes(vhub_api, vhub_community, staff, "dingtalk_robot", dingtalk(sink), people)
    report = await deliver_due(vhub_hub)
    assert (report.sent, report.failed) == (0, 1)
    [delivery] = await deliveries(channel="dingtalk_robot")
    assert delivery.status == "pending" and "errcode 130101" in delivery.last_error
    sink.fail = None
    vhub_clock.now = delivery.not_before + timedelta(seconds=1)  # when it is tried again
    assert (await deliver_due(vhub_hub)).sent == 1
    [payload] = sink.accepted.values()
    assert payload["at"]["atMobiles"] == ["13800138000"]
    assert payload["markdown"]["text"] == (
        "#### 您的心愿已通过审核：帮忙取快递\n\n李志愿，您好！\n\n"
        "您的心愿“帮忙取快递”已通过社区审核，正在等待志愿者认领。\n\n幸福里社区\n\n@13800138000"
    )
    assert len(sink.posts) == 2 and not sink.duplicates


# --- user-written text is plain text in the robots' markdown -----------------------------

# What a resident, a volunteer or staff may write, aimed at the group chat: a link, an image,
# a mention of someone else and of everyone, a heading, emphasis, a font tag, a quote.
HOSTILE_TITLE = (
    "[领奖](http://e.cn) ![](x.png) <@boss> @all # 标 **粗** "
    '<font color="red">红</font> <https://e.cn> www.e'
)
HOSTILE_MESSAGE = (
    "# 假通知\n[点我](http://evil.example)\n![图](http://evil.example/i.png)\n> 引用\n"
    "@all @13900000000 <@boss>\n---\n***\n`code` ~~删~~ &lt;@all&gt;"
)


def markup_left(text: str, own: tuple[str, ...]) -> list[str]:
    """The markup in ``text`` once the robot's own parts (``own``) are taken out."""
    for part in own:
        assert part in text
        text = text.replace(part, "", 1)
    found = [m for m in ("[", "](", "<", ">", "@", "#", "**", "`", "~~", "&lt;") if m in text]
    found += [m for m in ("http://", "https://", "www.") if m in text.lower()]
    found += [line for line in text.split("\n") if line.strip() in ("---", "***", "===")]
    return found


@pytest.mark.parametrize(
    ("code", "address", "own"),
    [
        ("wecom_robot", "wangnainai", ("**", "**", "<@wangnainai>")),
        ("dingtalk_robot", "+86 138 0013 8000", ("#### ", "@13800138000")),
    ],
)
async def test_nothing_anyone_writes_becomes_markup_in_the_group(
    vhub_hub, vhub_api, vhub_community, staff, sink, code, address, own
):
    """A hostile wish title, person's name and call-out message, through the outbox to the
    robot's stand-in: only the robot's own heading and mention are markup."""
    settings = wecom(sink) if code == "wecom_robot" else dingtalk(sink)
    assert (await configure(vhub_api, staff, vhub_community.id, code, settings)).status_code == 201
    resident = await vhub_community.person("[王](http://evil.example) @all")
    await confirmed_address(vhub_hub, resident, code, address)
    hostile = {"title": HOSTILE_TITLE, "description": HOSTILE_MESSAGE, "category": "errand"}
    wish_id = await post_wish(vhub_api, vhub_community.id, resident, hostile)
    await approve(vhub_api, staff, wish_id, vhub_community.id)
    team = await vhub_community.team("elderly_care")
    joined = await vhub_api.post(
        f"/api/v1/teams/{team.id}/members", json={}, headers=await login(vhub_api, resident)
    )
    assert joined.status_code == 201, joined.text
    await vhub_community.approve(joined.json()["id"])  # the community vets its new volunteers
    callout = await vhub_api.post(
        f"/api/v1/communities/{vhub_community.id}/callouts",
        json={"title": HOSTILE_TITLE, "message": HOSTILE_MESSAGE, "target": {"kind": "everyone"}},
        headers=await login(vhub_api, staff),
    )
    assert callout.status_code == 201, callout.text
    # The wish's approval, the membership's approval and the call-out.
    assert (await deliver_due(vhub_hub)).sent == 3
    assert len(sink.accepted) == 3
    texts = [
        p["markdown"]["content" if code == "wecom_robot" else "text"]
        for p in sink.accepted.values()
    ]
    assert sum("领奖" in text for text in texts) == 2  # the hostile words stay, as plain text
    for payload, text in zip(sink.accepted.values(), texts, strict=True):
        assert markup_left(text, own) == [], text
        if code == "dingtalk_robot":
            assert payload["at"] == {"atMobiles": ["13800138000"], "isAtAll": False}
