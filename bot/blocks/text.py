"""The parts every message is made of, and the one place where outside text is made safe."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

Block = dict[str, Any]


@dataclass(frozen=True)
class SlackMessage:
    """A message's fallback text (notifications, screen readers) and its blocks."""

    text: str
    blocks: list[Block] = field(default_factory=list)

    def as_kwargs(self) -> dict[str, Any]:
        return {"text": self.text, "blocks": self.blocks}


# Characters that reorder what is shown around them: a file name can hide its real end behind
# a right-to-left override. They are dropped, so the text reads in the order it is stored.
_BIDI_CONTROLS = "\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"
_NO_BIDI = str.maketrans("", "", _BIDI_CONTROLS)
_ENTITIES = str.maketrans({"&": "&amp;", "<": "&lt;", ">": "&gt;"})
_SLACK_ID = re.compile(r"[UW][A-Z0-9]{2,}")


def plain(text: str) -> str:
    """Outside text for a plain_text field: one line, without bidi controls."""
    return " ".join(text.translate(_NO_BIDI).splitlines())


def esc(text: str) -> str:
    """Outside text as part of one line of mrkdwn: `&`, `<` and `>` escaped (no link, mention
    or date can form), line breaks made spaces (it cannot start a line), bidi controls dropped."""
    return plain(text).translate(_ENTITIES)


def quoted(text: str) -> str:
    """Outside text that may span lines, as mrkdwn: every line behind `>`, escaped as `esc`
    escapes, so no line of it can read as a line of the bot's own message."""
    lines = text.translate(_NO_BIDI).splitlines() or [""]
    return "\n".join(">" + line.translate(_ENTITIES) for line in lines)


def labelled(label: str, value: str) -> str:
    """`*Label:* value` for outside text on one line; the label, then the value quoted, for more."""
    if len(value.splitlines()) <= 1:
        return f"*{label}:* {esc(value)}"
    return f"*{label}:*\n{quoted(value)}"


def mention(user_id: str) -> str:
    """A Slack mention of a member ID; anything else is shown as text."""
    return f"<@{user_id}>" if _SLACK_ID.fullmatch(user_id) else esc(user_id)


def clip(text: str, limit: int = 2900) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def section(text: str) -> Block:
    return {"type": "section", "text": {"type": "mrkdwn", "text": clip(text)}}


def context(text: str) -> Block:
    return {"type": "context", "elements": [{"type": "mrkdwn", "text": clip(text)}]}


def button(label: str, action_id: str, value: str, style: str | None = None) -> Block:
    element: Block = {
        "type": "button",
        "text": {"type": "plain_text", "text": label, "emoji": True},
        "action_id": action_id,
        "value": value,
    }
    if style:
        element["style"] = style
    return element


def slack_date(moment: datetime, fmt: str = "{date_short_pretty} {time_secs}") -> str:
    """A time each reader sees in their own time zone, with a UTC fallback."""
    fallback = moment.strftime("%Y-%m-%d %H:%M:%S UTC")
    return f"<!date^{int(moment.timestamp())}^{fmt}|{fallback}>"


def size_text(size: int) -> str:
    if size >= 1_000_000:
        return f"{size / 1_000_000:.1f} MB"
    return f"{max(1, round(size / 1000))} KB"
