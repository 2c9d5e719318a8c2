"""What a group robot posts: a short markdown message that @-mentions its person.

The notification arrives rendered in its person's language (zh-CN or en) as a subject and
a plain-text body; the robots set the subject as a heading, the body below it, and the
mention last. The whole group reads the message, so it is trimmed for a group:

* a line with a link is left out: links in messages are personal (an emergency call-out's
  acknowledgement link would let anyone in the group acknowledge for the person);
* the text is plain, whoever wrote it (a resident's wish title, a volunteer's name): every
  character that WeCom's or DingTalk's markdown reads as markup becomes its full-width
  look-alike (``plain``), so no link, image, heading, emphasis, quote, font tag or mention
  (``<@…>``, ``@all``, ``@mobile``) comes out of it; only the robot's own heading and
  mention are markup;
* the message is cut to what the robot accepts (WeCom: 4096 bytes of markdown).

Full-width look-alikes rather than backslash escapes: neither robot documents escapes,
and a look-alike is plain text in any markdown.
"""

from __future__ import annotations

import re

WECOM_MAX_BYTES = 4096
DINGTALK_MAX_BYTES = 18000  # DingTalk refuses a request over 20000 bytes
ELLIPSIS = "…"

_LINK = re.compile(r"https?://", re.IGNORECASE)
# Markdown's (and the robots' own) markup characters, and the look-alikes shown instead.
_MARKUP = str.maketrans("[]<>#*_`~@&!\\|", "［］＜＞＃＊＿｀～＠＆！＼｜")
_RULE = re.compile(r"^[\s\-+=]+$")  # "---" or "===" under a line makes it a heading
_URL_START = re.compile(r"(://|www\.)", re.IGNORECASE)


def plain(text: str) -> str:
    """``text`` as plain text in the robots' markdown: nothing in it is markup any more."""
    text = _URL_START.sub(lambda m: m.group(0).replace(":", "：").replace(".", "．"), text)
    text = text.translate(_MARKUP)
    return "—" * len(text) if text and _RULE.fullmatch(text) else text


def _lines(body: str, *, blank: bool) -> list[str]:
    """The body's lines as plain text, without links; blank ones kept single, or none."""
    kept: list[str] = []
    for line in body.replace("\r\n", "\n").replace("\r", "\n").split("\n"):
        line = line.strip()
        if _LINK.search(line) or (not line and (not blank or not kept or not kept[-1])):
            continue
        kept.append(plain(line))
    while kept and not kept[-1]:
        kept.pop()
    return kept


def _heading(subject: str) -> str:
    return plain(" ".join(subject.split()))


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
