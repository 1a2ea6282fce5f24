"""Slack messages as a person reads them: mrkdwn made readable, buttons as `[Send] [Cancel]`."""

from __future__ import annotations

import json
import re
from datetime import date, datetime, timedelta
from typing import Any, TextIO

from bot.demo.stage import Secrets
from bot.sandbox.provider import ProviderStandIn
from bot.sandbox.slack import SlackStandIn

Json = dict[str, Any]

_ANGLE = re.compile(r"<([^<>\n]+)>")
_EMOJI_CODE = re.compile(r":([a-z0-9_+\-]+):")
_DATE_TOKEN = re.compile(r"\{(\w+)\}")
_EMOJI = {
    "arrow_forward": "▶",
    "eyes": "👀",
    "film_frames": "🎞",
    "frame_with_picture": "🖼",
    "grey_question": "❔",
    "heavy_check_mark": "✔",
    "hourglass": "⌛",
    "hourglass_flowing_sand": "⏳",
    "large_green_circle": "🟢",
    "no_entry": "⛔",
    "outbox_tray": "📤",
    "page_facing_up": "📄",
    "paperclip": "📎",
    "receipt": "🧾",
    "round_pushpin": "📍",
    "movie_camera": "🎥",
    "bust_in_silhouette": "👤",
    "repeat": "🔁",
    "sound": "🔉",
    "speech_balloon": "💬",
    "warning": "⚠",
    "wastebasket": "🗑",
    "white_check_mark": "✅",
    "x": "❌",
}
_TIME_FORMATS = {
    "time": "%H:%M",
    "time_secs": "%H:%M:%S",
    "date_num": "%Y-%m-%d",
    "date_short": "%b %d",
    "date": "%B %d",
    "date_long": "%A, %B %d",
}


_ASCII = str.maketrans({"…": "...", "→": "->", "▾": "v", "—": "-"})


class Console:
    """Every line the demo prints goes through here, so no secret value can reach the screen."""

    def __init__(self, *, out: TextIO, secrets: Secrets) -> None:
        self.out = out
        self.secrets = secrets
        encoding = (getattr(out, "encoding", None) or "").lower().replace("-", "")
        self.unicode = encoding in ("utf8", "utf8sig")

    def line(self, text: str = "") -> None:
        if not self.unicode:
            text = text.translate(_ASCII).encode("ascii", "replace").decode("ascii")
        self.out.write(self.secrets.redact(text) + "\n")
        self.out.flush()

    def lines(self, texts: list[str], indent: str = "") -> None:
        for text in texts:
            self.line(indent + text if text else "")

    def heading(self, text: str) -> None:
        self.line()
        self.line(f"== {text} ".ljust(78, "="))


class Readable:
    """Turns the stand-in Slack's messages into text, naming people as the workspace does."""

    def __init__(self, *, slack: SlackStandIn, emoji: bool) -> None:
        self.slack = slack
        self.emoji = emoji

    # mrkdwn

    def mrkdwn(self, text: str) -> str:
        """Mentions, links and dates as Slack shows them; `*bold*` and `code` are kept."""
        text = _ANGLE.sub(self._angle, text)
        text = text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")
        if self.emoji:
            text = _EMOJI_CODE.sub(lambda m: _EMOJI.get(m.group(1), m.group(0)), text)
        return text

    def _angle(self, match: re.Match[str]) -> str:
        target, _, label = match.group(1).partition("|")
        if target.startswith("@"):
            return "@" + (label or self.user_name(target[1:]))
        if target.startswith("#"):
            return "#" + (label or self.channel_name(target[1:]))
        if target.startswith("!date^"):
            return _date(target, label)
        if target.startswith("!subteam^"):
            return label or "@group"
        if target.startswith("!"):
            return "@" + target[1:]
        return f"{label} ({target})" if label and label != target else target

    def user_name(self, user_id: str) -> str:
        found = self.slack.user(user_id)
        return str(found["name"]) if found else user_id

    def channel_name(self, channel_id: str) -> str:
        found = self.slack.channel(channel_id)
        return str(found["name"]) if found else channel_id

    # messages

    def body(self, message: Json) -> list[str]:
        """What the message shows: its blocks (or text), buttons, and attached files."""
        lines: list[str] = []
        if message.get("bot_id") or not message.get("text"):
            for block in message.get("blocks") or []:
                lines.extend(self._block(block))
        if not lines and message.get("text"):
            lines = self.mrkdwn(str(message["text"])).splitlines()
        for file in message.get("files") or []:
            size = int(file.get("size") or 0)
            shown = f"{size / 1000:.1f} KB" if size < 1_000_000 else f"{size / 1e6:.1f} MB"
            clip = "📎" if self.emoji else "[file]"
            lines.append(f"{clip} {file.get('name')} ({file.get('pretty_type')}, {shown})")
        return lines

    def _block(self, block: Json) -> list[str]:
        kind = block.get("type")
        if kind in ("section", "header"):
            lines = self._text(block.get("text")).splitlines()
            for item in block.get("fields") or []:
                lines.extend(self._text(item).splitlines())
            accessory = block.get("accessory")
            if isinstance(accessory, dict) and accessory.get("type") == "button":
                lines.append(self._element(accessory))
            return lines
        if kind == "context":
            parts = [self._text(e) for e in block.get("elements") or [] if e.get("text")]
            return "  ".join(parts).splitlines()
        if kind == "actions":
            return [" ".join(self._element(e) for e in block.get("elements") or [])]
        if kind == "divider":
            return ["-" * 40]
        if kind == "image":
            return [f"[image: {block.get('alt_text', '')}]"]
        return []

    def view(self, view: Json) -> list[str]:
        """A modal as its viewer reads it: title, blocks, inputs, and its buttons."""
        lines = [f"[ {self._text(view.get('title'))} ]"]
        for block in view.get("blocks") or []:
            if block.get("type") == "input":
                element = block.get("element") or {}
                lines.append(f"{self._text(block.get('label'))}: [{element.get('type')} ]")
            else:
                lines.extend(self._block(block))
        buttons = [self._text(view.get(key)) for key in ("close", "submit") if view.get(key)]
        lines.append("  ".join(f"[{label}]" for label in buttons))
        return lines

    def _text(self, obj: object) -> str:
        if not isinstance(obj, dict):
            return ""
        text = str(obj.get("text", ""))
        return self.mrkdwn(text) if obj.get("type") == "mrkdwn" else text

    def _element(self, element: Json) -> str:
        label = self._text(element.get("text")) or self._text(element.get("placeholder"))
        if element.get("type") == "button":
            return f"[{label}]"
        return f"[{label or element.get('type')} ▾]"

    def author(self, message: Json) -> str:
        """`whatsapp APP 14:03:05 (edited)`, the line above a message."""
        name = self.user_name(str(message.get("user", "")))
        app = " APP" if message.get("bot_id") else ""
        when = datetime.fromtimestamp(float(message.get("ts", 0))).strftime("%H:%M:%S")
        edited = "  (edited)" if message.get("edited") else ""
        return f"{name}{app}  {when}{edited}"

    def message(self, message: Json, *, note: str = "") -> list[str]:
        return [self.author(message) + note, *("  " + line for line in self.body(message))]

    def thread(self, channel: str, messages: list[Json]) -> list[str]:
        """A channel message and its replies, indented under it as Slack's thread view shows."""
        if not messages:
            return ["(no messages)"]
        parent, replies = messages[0], messages[1:]
        lines = [f"#{self.channel_name(channel)}", *("  " + x for x in self.message(parent))]
        if replies:
            count = f"{len(replies)} repl{'y' if len(replies) == 1 else 'ies'}"
            lines.append(f"  | {count}")
        for reply in replies:
            lines.extend("  | " + x for x in self.message(reply))
        return lines


def provider_view(provider: ProviderStandIn) -> list[str]:
    """Each request the provider received, its answer, what it fetched and the callbacks it made."""
    lines: list[str] = []
    for number, request in enumerate(provider.requests, start=1):
        answer = f"HTTP {request.response_status}"
        if request.transaction_id:
            answer += f", transactionId {request.transaction_id}"
        lines.append(f"{number}. {request.method} {request.path}  ->  {answer}")
        for name, value in request.headers.items():
            if name.lower() == "authorization":
                scheme, _, token = value.partition(" ")
                lines.append(f"   {name}: {scheme} [redacted, {len(token)} characters]")
            elif name.lower() == "content-type":
                lines.append(f"   {name}: {value}")
        body = json.dumps(request.json, indent=2, ensure_ascii=False)
        lines.extend("   " + line for line in body.splitlines())
        if request.transaction_id is None:
            continue
        for fetch in provider.fetches:
            if fetch.transaction_id == request.transaction_id:
                verdict = "accepted" if fetch.accepted else f"refused: {fetch.reason}"
                lines.append(
                    f"   It fetched the media: HTTP {fetch.http_status} {fetch.content_type}, "
                    f"{fetch.length} bytes ({verdict})"
                )
        callbacks = provider.callbacks_for(request.transaction_id)
        if callbacks:
            posted = ", ".join(f"{c.status} (HTTP {c.http_status})" for c in callbacks)
            lines.append(f"   It posted status callbacks to the app: {posted}")
            last = json.dumps(callbacks[-1].payload, ensure_ascii=False)
            lines.append(f"   The last one: {last}")
    return lines or ["(nothing)"]


def _date(target: str, fallback: str) -> str:
    """`<!date^…^{time_secs}|fallback>` in the reader's local time; the fallback for unknowns."""
    parts = target.split("^")
    try:
        moment = datetime.fromtimestamp(int(parts[1]))
    except (IndexError, ValueError):
        return fallback
    fmt = parts[2] if len(parts) > 2 else ""
    known = True

    def token(match: re.Match[str]) -> str:
        nonlocal known
        name = match.group(1)
        if name in _TIME_FORMATS:
            return moment.strftime(_TIME_FORMATS[name])
        if name.endswith("_pretty"):
            day = moment.date()
            if day == date.today():
                return "Today"
            if day == date.today() - timedelta(days=1):
                return "Yesterday"
            return moment.strftime(_TIME_FORMATS.get(name.removesuffix("_pretty"), "%b %d"))
        known = False
        return ""

    shown = _DATE_TOKEN.sub(token, fmt)
    return shown if known and shown else fallback
