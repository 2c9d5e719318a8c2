"""The wecom_robot and dingtalk_robot channels: settings, what a strict robot receives, its
refusals, and notifications in both languages through the real outbox and worker."""

from __future__ import annotations

import dataclasses
from datetime import timedelta

import pytest
from chat_robot_sink import RobotSink
from pydantic import ValidationError
from vh_chat_robots import plugin, services
from vh_chat_robots.plugin import DingTalkRobotSettings, WeComRobotSettings

from volunteer_hub.errors import InvalidInput
from volunteer_hub.hub import Hub
from volunteer_hub.models import Delivery, DeliveryStatus, Role
from volunteer_hub.notifications import outbox
from volunteer_hub.notifications.senders import AppriseNotifier, Outgoing, SendError
from volunteer_hub.notifications.worker import Worker
from volunteer_hub.services import callouts, channels, teams, wishes
from volunteer_hub.testing import TestCommunity, confirmed_address
from volunteer_hub.validation import invalid_input

ERRAND = {"title": "帮忙取快递", "description": "腿脚不便", "category": "errand"}


PLUGIN = ("vh-chat-robots", plugin)


@pytest.fixture
def vhub_plugins():
    return [PLUGIN]


@pytest.fixture
async def staff(vhub_community: TestCommunity):
    return await vhub_community.person("社区干部", roles=(Role.STAFF,))


@pytest.fixture
def sink():
    with RobotSink() as running:
        yield running


@pytest.fixture
async def notifier():
    services.register()  # what the hook does in a process that uses the channels
    sender = AppriseNotifier()
    yield sender
    sender.close()


def wecom(sink: RobotSink, **changes) -> WeComRobotSettings:
    return WeComRobotSettings(**{"key": sink.wecom_key, "base_url": sink.base_url} | changes)


def dingtalk(sink: RobotSink, **changes) -> DingTalkRobotSettings:
    values = {
        "access_token": sink.dingtalk_token,
        "secret": sink.dingtalk_secret,
        "base_url": sink.base_url,
    }
    return DingTalkRobotSettings(**values | changes)


async def send(notifier, url: str, subject: str = "活动提醒：巡逻", body: str = "请按时签到。"):
    await notifier.send(Outgoing(delivery_id=1, url=url, subject=subject, body=body))


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
    vhub_hub, vhub_community, staff, sink
):
    settings = dataclasses.replace(vhub_hub.settings, allow_private_network=False)
    strict = Hub.create(settings, plugins=[PLUGIN], clock=vhub_hub.clock)  # as in production
    config = {"code": "wecom_robot", "name": "反诈队群", "settings": wecom(sink).model_dump()}
    with pytest.raises(InvalidInput) as caught:
        await channels.configure(strict, staff, vhub_community.id, config)
    assert caught.value.details[0].msgid.startswith("This address is on a private network")
    view = await channels.configure(vhub_hub, staff, vhub_community.id, config)
    assert view.settings["key"] == channels.MASK


# --- what the robots receive ----------------------------------------------------------


async def test_wecom_gets_markdown_that_mentions_the_person(sink, notifier):
    await send(notifier, plugin.wecom_url(wecom(sink), "ZhangSan", "k-1"))
    [post] = sink.posts
    assert post.errcode == 0 and post.headers["X-Idempotency-Key"] == "k-1"
    assert post.payload == {
        "msgtype": "markdown",
        "markdown": {"content": "**活动提醒：巡逻**\n请按时签到。\n<@ZhangSan>"},
    }


async def test_dingtalk_gets_a_signed_markdown_post_that_mentions_the_mobile(sink, notifier):
    await send(notifier, plugin.dingtalk_url(dingtalk(sink), "13800138000", "k-2"))
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
async def test_a_refusal_with_http_200_is_a_failure_with_the_errcode(
    sink, notifier, robot, changes, errcode
):
    if robot == "wecom":
        url = plugin.wecom_url(wecom(sink, **changes), "ZhangSan", "k-3")
    else:
        url = plugin.dingtalk_url(dingtalk(sink, **changes), "13800138000", "k-3")
    with pytest.raises(SendError) as caught:
        await send(notifier, url)
    assert f"errcode {errcode}" in str(caught.value) and not caught.value.permanent
    assert not sink.accepted


async def test_an_address_the_robot_cannot_mention_is_a_permanent_failure(sink, notifier):
    for url in (
        plugin.wecom_url(wecom(sink), "张三", "k-4"),
        plugin.dingtalk_url(dingtalk(sink), "12345", "k-5"),
    ):
        with pytest.raises(SendError) as caught:
            await send(notifier, url)
        assert caught.value.permanent
    assert not sink.posts


# --- through the outbox ---------------------------------------------------------------


async def approve_wishes(community: TestCommunity, staff, code: str, settings, people) -> None:
    """Each (person, address) gets an address for the channel, posts a wish; staff approve."""
    config = {"code": code, "name": "志愿队群", "settings": settings.model_dump()}
    await channels.configure(community.hub, staff, community.id, config)
    for person, address in people:
        await confirmed_address(community.hub, person, code, address)
        wish = await wishes.post(community.hub, person, community.id, ERRAND)
        await wishes.review(community.hub, staff, wish.id, {"decision": "approve"})


async def run_worker(hub):
    notifier = AppriseNotifier()
    try:
        return await Worker(hub, notifier).run_once()
    finally:
        notifier.close()


async def test_wecom_posts_each_persons_message_in_their_language(
    vhub_hub, vhub_community, staff, sink
):
    wang = await vhub_community.person("王奶奶")
    anna = await vhub_community.person("Anna")
    anna.person.locale = "en"
    await anna.person.save()
    people = [(wang, "wangnainai"), (anna, "anna.w")]
    await approve_wishes(vhub_community, staff, "wecom_robot", wecom(sink), people)
    report = await run_worker(vhub_hub)
    assert (report.sent, report.failed) == (2, 0)
    contents = sorted(p["markdown"]["content"] for p in sink.accepted.values())
    assert contents == [
        "**Your wish was approved: 帮忙取快递**\nHello Anna,\n\n"
        'Your wish "帮忙取快递" was approved by the community and is waiting for a volunteer.\n\n'
        "幸福里社区\n<@anna.w>",
        "**您的心愿已通过审核：帮忙取快递**\n王奶奶，您好！\n\n"
        "您的心愿“帮忙取快递”已通过社区审核，正在等待志愿者认领。\n\n幸福里社区\n<@wangnainai>",
    ]
    keys = set(
        await Delivery.filter(channel__code="wecom_robot").values_list("idempotency_key", flat=True)
    )
    assert set(sink.accepted) == keys and not sink.duplicates
    assert await Delivery.filter(status=DeliveryStatus.SENT).count() == 2


async def test_dingtalk_through_the_outbox_and_its_refusals_retried(
    vhub_hub, vhub_community, staff, sink, vhub_clock
):
    li = await vhub_community.person("李志愿")
    sink.fail = 130101  # "send too fast, exceed 20 times per minute"
    people = [(li, "+86 138 0013 8000")]
    await approve_wishes(vhub_community, staff, "dingtalk_robot", dingtalk(sink), people)
    report = await run_worker(vhub_hub)
    assert (report.sent, report.failed) == (0, 1)
    [delivery] = await Delivery.filter(channel__code="dingtalk_robot")
    assert delivery.status is DeliveryStatus.PENDING and "errcode 130101" in delivery.last_error
    sink.fail = None
    vhub_clock.now += outbox.backoff(1) + timedelta(seconds=1)
    assert (await run_worker(vhub_hub)).sent == 1
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
    vhub_hub, vhub_community, staff, sink, code, address, own
):
    """A hostile wish title, person's name and call-out message, through the outbox to the
    robot's stand-in: only the robot's own heading and mention are markup."""
    settings = wecom(sink) if code == "wecom_robot" else dingtalk(sink)
    config = {"code": code, "name": "志愿队群", "settings": settings.model_dump()}
    await channels.configure(vhub_hub, staff, vhub_community.id, config)
    resident = await vhub_community.person("[王](http://evil.example) @all")
    await confirmed_address(vhub_hub, resident, code, address)
    wish = await wishes.post(
        vhub_hub,
        resident,
        vhub_community.id,
        {"title": HOSTILE_TITLE, "description": HOSTILE_MESSAGE, "category": "errand"},
    )
    await wishes.review(vhub_hub, staff, wish.id, {"decision": "approve"})
    team = await vhub_community.team("elderly_care")
    membership = await teams.join_team(vhub_hub, resident, team.id)
    await vhub_community.approve(membership.id)  # the community vets its new volunteers
    await callouts.call_out(
        vhub_hub,
        staff,
        vhub_community.id,
        {"title": HOSTILE_TITLE, "message": HOSTILE_MESSAGE, "target": {"kind": "everyone"}},
    )
    # The wish's approval, the membership's approval and the call-out.
    assert (await run_worker(vhub_hub)).sent == 3
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
