"""Slack's message format turned into the plain text a person meant, without any I/O.

Slack escapes `&`, `<` and `>` as entities and writes mentions and links as `<...>` tokens:
`<@U123>`, `<#C123|name>`, `<!here>`, `<!subteam^S123|@team>`, `<!date^...|fallback>`,
`<https://x|label>`, `<mailto:a@b|a@b>`. A customer on WhatsApp must get none of that.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime

UserName = Callable[[str], str | None]

_TOKEN = re.compile(r"<([^<>]*)>")
_ENTITY = re.compile(r"&(amp|lt|gt);")
_ENTITIES = {"amp": "&", "lt": "<", "gt": ">"}
_SCHEME = re.compile(r"^(?:[a-z][a-z0-9+.-]*://|mailto:|tel:|sms:)", re.IGNORECASE)
_ADDRESS_SCHEMES = ("mailto:", "tel:", "sms:")
_BROADCASTS = ("here", "channel", "everyone")


def no_names(user_id: str) -> str | None:
    """A resolver that knows nobody: mentions keep their label, else the id."""
    return None


def unescape(text: str) -> str:
    """`&amp;`, `&lt;` and `&gt;` back to `&`, `<` and `>`, each exactly once."""
    return _ENTITY.sub(lambda match: _ENTITIES[match.group(1)], text)


def decode(text: str, *, user_name: UserName = no_names) -> str:
    """The text as its author meant it: tokens resolved, entities unescaped.

    A `<` with no closing `>` is not a token and stays as it is.
    """
    parts: list[str] = []
    end = 0
    for match in _TOKEN.finditer(text):
        parts.append(unescape(text[end : match.start()]))
        parts.append(_token(match.group(1), user_name))
        end = match.end()
    parts.append(unescape(text[end:]))
    return "".join(parts)


def _token(inner: str, user_name: UserName) -> str:
    target, _, label = inner.partition("|")
    target, label = unescape(target), unescape(label)
    if target.startswith("@"):
        user_id = target[1:]
        return "@" + (user_name(user_id) or label.removeprefix("@") or user_id)
    if target.startswith("#"):
        return "#" + (label.removeprefix("#") or target[1:])
    if target.startswith("!"):
        return _special(target[1:], label)
    return _link(target, label)


def _special(command: str, label: str) -> str:
    """`<!here>`, `<!subteam^S123|@team>`, `<!date^1700000000^{date}|fallback>`, ..."""
    name, _, argument = command.partition("^")
    if name in _BROADCASTS:
        return "@" + name
    if label:
        return label
    if name == "subteam":
        return "@" + argument
    if name == "date":
        return _date(argument.partition("^")[0])
    return name


def _date(timestamp: str) -> str:
    try:
        moment = datetime.fromtimestamp(int(timestamp), UTC)
    except (ValueError, OverflowError, OSError):
        return timestamp
    return moment.strftime("%Y-%m-%d %H:%M UTC")


def _link(target: str, label: str) -> str:
    """A link's URL, or `label (URL)` when the label says something else."""
    address = target
    if target.lower().startswith(_ADDRESS_SCHEMES):
        address = target.partition(":")[2]
    if not label or _same_place(label, target):
        return label or address
    return f"{label} ({address})"


def _same_place(label: str, target: str) -> bool:
    """Whether the label is just the link written out, as Slack does for `example.com`."""

    def bare(text: str) -> str:
        return _SCHEME.sub("", text.strip()).rstrip("/").lower()

    if target.lower().startswith(("tel:", "sms:")):
        return re.sub(r"[^\d+]", "", label) == re.sub(r"[^\d+]", "", bare(target))
    return bare(label) == bare(target)
