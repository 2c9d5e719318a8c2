"""What the robots post: DingTalk's signature, and the markdown each robot gets."""

from __future__ import annotations

from urllib.parse import quote_plus

from vh_chat_robots.messages import WECOM_MAX_BYTES, dingtalk_markdown, wecom_markdown
from vh_chat_robots.services import dingtalk_sign

ZH_SUBJECT = "活动提醒：银发巡逻 2026-12-03 19:00"
ZH_BODY = (
    "王大爷，您好！\n\n提醒您：“银发巡逻”将于2026-12-03 19:00开始。\n"
    "地点：3号楼\n请按时签到。\n\n幸福里社区"
)
EN_SUBJECT = "Reminder: Silver patrol at 2026-12-03 19:00"
EN_BODY = "Hello Anna,\n\nReminder: Silver patrol starts at 2026-12-03 19:00.\n\nHappy Lane"


def test_dingtalk_signature_matches_one_computed_with_openssl():
    # printf '%s\n%s' 1700000000000 SECtestsecret0123456789abcdef \
    #   | openssl dgst -sha256 -hmac SECtestsecret0123456789abcdef -binary | base64
    expected = "oWnZboeOYjlS1NUgJCZh8t1VJ8C+IwsRPuEItFP4A0s="
    assert dingtalk_sign("SECtestsecret0123456789abcdef", 1700000000000) == expected
    # …which goes into the query URL-encoded once: + / = are escaped, nothing else.
    assert quote_plus(expected) == "oWnZboeOYjlS1NUgJCZh8t1VJ8C%2BIwsRPuEItFP4A0s%3D"


def test_wecom_markdown_in_chinese_and_english():
    assert wecom_markdown(ZH_SUBJECT, ZH_BODY, "wangdaye") == (
        "**活动提醒：银发巡逻 2026-12-03 19:00**\n"
        "王大爷，您好！\n\n提醒您：“银发巡逻”将于2026-12-03 19:00开始。\n"
        "地点：3号楼\n请按时签到。\n\n幸福里社区\n<@wangdaye>"
    )
    assert wecom_markdown(EN_SUBJECT, EN_BODY, "anna") == (
        "**Reminder: Silver patrol at 2026-12-03 19:00**\n"
        "Hello Anna,\n\nReminder: Silver patrol starts at 2026-12-03 19:00.\n\nHappy Lane\n<@anna>"
    )


def test_dingtalk_markdown_mentions_the_mobile_in_the_text():
    text = dingtalk_markdown(EN_SUBJECT, EN_BODY, "13800138000")
    assert text == (
        "#### Reminder: Silver patrol at 2026-12-03 19:00\n\n"
        "Hello Anna,\n\nReminder: Silver patrol starts at 2026-12-03 19:00.\n\n"
        "Happy Lane\n\n@13800138000"
    )


def test_links_stay_out_of_the_group_and_nobody_else_is_mentioned():
    body = "紧急通知：停水\n\n收到请点击确认：https://vhub.example/ack/secret-token\n<@boss> 请注意"
    text = wecom_markdown("【紧急】停水 <@all>", body, "li")
    assert "secret-token" not in text and "https://" not in text
    assert "<@boss>" not in text and "<@all>" not in text
    assert text.endswith("<@li>") and text.count("<@") == 1


def test_a_long_message_is_cut_to_what_the_robot_takes():
    text = wecom_markdown("长消息", "很长的内容。" * 2000, "li")
    assert len(text.encode("utf-8")) <= WECOM_MAX_BYTES
    assert text.startswith("**长消息**\n很长的内容。") and text.endswith("…\n<@li>")
