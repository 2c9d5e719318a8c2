"""What a group robot posts: a short markdown message that @-mentions its person.

The notification arrives rendered in its person's language (zh-CN or en) as a subject and
a plain-text body; the robots set the subject as a heading, the body below it, and the
mention last. The whole group reads the message, so it is trimmed for a group:

* a line with a link is left out: links in messages are personal (an emergency call-out's
  acknowledgement link would let anyone in the group acknowledge for the person);
* text cannot mention anyone else (``<@…>`` in a wish title is defused);
* the message is cut to what the robot accepts (WeCom: 4096 bytes of markdown).
"""

from __future__ import annotations

import re

WECOM_MAX_BYTES = 4096
DINGTALK_MAX_BYTES = 18000  # DingTalk refuses a request over 20000 bytes
ELLIPSIS = "…"

_LINK = re.compile(r"https?://", re.IGNORECASE)


def _lines(body: str, *, blank: bool) -> list[str]:
    """The body's lines without links or mention syntax; blank ones kept single, or none."""
    kept: list[str] = []
    for line in body.replace("\r\n", "\n").split("\n"):
        line = line.strip().replace("<@", "＜@")
        if _LINK.search(line) or (not line and (not blank or not kept or not kept[-1])):
            continue
        kept.append(line)
    while kept and not kept[-1]:
        kept.pop()
    return kept


def _heading(subject: str) -> str:
    return " ".join(subject.replace("<@", "＜@").split())


def _fit(head: str, lines: list[str], tail: str, max_bytes: int, joiner: str) -> str:
    """``head``, the body lines and ``tail``, the body cut so the whole fits ``max_bytes``."""
    body = joiner.join(lines)
    room = max_bytes - len((head + tail).encode("utf-8"))
    encoded = body.encode("utf-8")
    if len(encoded) > room:
        cut = encoded[: max(0, room - len(ELLIPSIS.encode("utf-8")))]
        body = cut.decode("utf-8", errors="ignore").rstrip() + ELLIPSIS
    return head + body + tail


def wecom_markdown(subject: str, body: str, userid: str) -> str:
    """WeCom's markdown: a bold subject, the body line by line, ``<@userid>`` to mention."""
    return _fit(
        f"**{_heading(subject)}**\n",
        _lines(body, blank=True),
        f"\n<@{userid}>",
        WECOM_MAX_BYTES,
        "\n",
    )


def dingtalk_markdown(subject: str, body: str, mobile: str) -> str:
    """DingTalk's markdown: the mention shows only if ``@mobile`` is in the text (and in ``at``).

    Lines become paragraphs: DingTalk's markdown joins lines that one newline separates.
    """
    head, lines = f"#### {_heading(subject)}\n\n", _lines(body, blank=False)
    return _fit(head, lines, f"\n\n@{mobile}", DINGTALK_MAX_BYTES, "\n\n")
