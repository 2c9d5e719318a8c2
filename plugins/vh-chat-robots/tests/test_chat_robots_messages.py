"""What the robots post: DingTalk's signature, and the markdown each robot gets."""

from __future__ import annotations

from urllib.parse import quote_plus

import pytest
from vh_chat_robots.messages import WECOM_MAX_BYTES, dingtalk_markdown, plain, wecom_markdown
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


@pytest.mark.parametrize(
    ("written", "shown"),
    [
        ("[x](http://evil)", "［x］(http：//evil)"),
        ("![](http://evil/p.png)", "！［］(http：//evil/p.png)"),
        ("<@boss> <at>", "＜＠boss＞ ＜at＞"),
        ("@all 开会", "＠all 开会"),
        ("# 标题", "＃ 标题"),
        ("**粗** _斜_ `码` ~~删~~", "＊＊粗＊＊ ＿斜＿ ｀码｀ ～～删～～"),
        ('<font color="warning">红</font>', '＜font color="warning"＞红＜/font＞'),
        ("> 引用", "＞ 引用"),
        ("---", "———"),
        ("&lt;@all&gt;", "＆lt;＠all＆gt;"),
        ("www.evil.example", "www．evil.example"),
        ("2026-12-03 19:00 (周四) 3号楼", "2026-12-03 19:00 (周四) 3号楼"),  # plain stays
    ],
)
def test_written_text_is_plain_in_both_robots(written, shown):
    assert plain(written) == shown
    heading = plain(f"心愿：{written}")
    assert "[" not in heading and "<" not in heading and "@" not in heading
    line = [] if "http" in written else [shown]  # a body line with a link is left out
    wecom = wecom_markdown(f"心愿：{written}", f"第一行\n{written}\n# 另起\n\n末行", "li")
    assert wecom == "\n".join([f"**{heading}**", "第一行", *line, "＃ 另起", "", "末行", "<@li>"])
    ding = dingtalk_markdown(f"心愿：{written}", f"第一行\n{written}", "13800138000")
    assert ding == "\n\n".join([f"#### {heading}", "第一行", *line, "@13800138000"])


def test_newlines_in_a_subject_do_not_start_markup():
    text = wecom_markdown("标题\n# 另一个\r\n[x](y)", "正文", "li")
    assert text.startswith("**标题 ＃ 另一个 ［x］(y)**\n")
