"""What a conversation shows: a customer's message (with its `Reply` button), a thread's root
that says a reply is waiting, an attachment that could not be shown, opt-outs."""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import datetime

from bot.blocks.text import (
    Block,
    SlackMessage,
    button,
    context,
    esc,
    quoted,
    section,
    slack_date,
)
from bot.core import ids
from bot.core.config import Sender
from bot.core.records import ConversationRecord, InboundRecord
from bot.core.window import Window

RECEIVED_KIND_EMOJI = {
    "image": ":frame_with_picture:",
    "video": ":movie_camera:",
    "audio": ":sound:",
    "document": ":page_facing_up:",
    "location": ":round_pushpin:",
    "contacts": ":bust_in_silhouette:",
    "sticker": ":frame_with_picture:",
}


def customer_line(customer: str, name: str | None) -> str:
    """`*Ana Gómez* (+573001234567)`, or just the number."""
    if name:
        return f"*{esc(name)}* ({esc(customer)})"
    return f"*{esc(customer)}*"


def customer_message(
    message: InboundRecord,
    sender: Sender,
    *,
    answerable: bool = True,
    waiting: bool | None = None,
    file_names: list[str] | None = None,
) -> SlackMessage:
    """A customer's message as the thread shows it. `waiting` (for a thread's root only) says
    whether a reply is waiting; a message that can be answered carries the `Reply` button."""
    who = customer_line(message.customer, message.customer_name)
    emoji = RECEIVED_KIND_EMOJI.get(message.kind, ":speech_balloon:")
    headline = f"{emoji} {who} wrote to *{esc(sender.label)}* (+{sender.number}) on WhatsApp"
    blocks: list[Block] = [section(headline)]
    if message.text:
        blocks.append(section(quoted(message.text)))
    elif not file_names:
        blocks.append(section(f"_(a {esc(message.kind)} message without text)_"))
    if file_names:
        names = ", ".join(esc(name) for name in file_names)
        blocks.append(context(f":paperclip: {names}"))
    notes = [slack_date(message.received_at)]
    if message.optout == "out":
        notes.append(
            f":no_entry: Opted out: nothing more is sent to this number from {esc(sender.label)} "
            "until the customer writes an opt-in word"
        )
    elif message.optout == "in":
        notes.append(":white_check_mark: Opted back in: sends to this number are allowed again")
    if message.number_problem:
        notes.append(
            f":warning: The number could not be read ({esc(message.number_problem)}), so it "
            "cannot be answered from here"
        )
    if waiting is not None:
        notes.append(":hourglass: *Reply waiting*" if waiting else ":white_check_mark: Answered")
    blocks.append(context(" · ".join(notes)))
    if answerable and message.number_problem is None:
        blocks.append(
            {
                "type": "actions",
                "block_id": ids.REPLY,
                "elements": [button("Reply", ids.REPLY, message.id, "primary")],
            }
        )
    text = f"{message.customer_name or message.customer} wrote: {message.text or message.kind}"
    if waiting:
        text = "Reply waiting. " + text
    return SlackMessage(text=esc(text)[:3000], blocks=blocks)


def attachment_refused(file_name: str, reason: str) -> SlackMessage:
    text = f":warning: The customer's attachment {esc(file_name)} could not be shown: {esc(reason)}"
    return SlackMessage(text=text, blocks=[section(text)])


def waiting_line(since: datetime) -> str:
    return f":hourglass: *Reply waiting* since {slack_date(since, '{time}')}"


def opted_out_line(conversation: ConversationRecord, sender: Sender) -> str:
    """Why a send to this customer is refused: when and why they opted out."""
    when = conversation.opted_out_at
    moment = f"{when:%Y-%m-%d %H:%M} UTC" if when else "earlier"
    why = conversation.opted_out_why or "opted out"
    return (
        f"{conversation.customer} opted out of messages from {sender.label} on {moment} "
        f"({why}). Nothing is sent to them until they write an opt-in word."
    )


def window_line(window: Window) -> str:
    """The 24-hour window, as a confirmation shows it (mrkdwn)."""
    icon = ":large_green_circle:" if window.open else ":warning:"
    return f"{icon} *WhatsApp window:* {esc(window.line())}"


def blacklisted_line(customer: str, sender: Sender) -> str:
    return (
        f":no_entry: {esc(customer)} is now on {esc(sender.label)}'s do-not-send list: the "
        "provider reports the number as blacklisted."
    )


_WORKSPACE_URL = re.compile(r"https://[A-Za-z0-9.-]+(?::[0-9]{1,5})?/?")
_CHANNEL_ID = re.compile(r"[A-Z0-9]{2,32}")
_TS = re.compile(r"[0-9]{1,12}\.[0-9]{1,9}")


def thread_url(
    workspace_url: str | None, channel_id: str | None, thread_ts: str | None
) -> str | None:
    """The permalink of a thread's root message, as Slack makes them
    (`https://acme.slack.com/archives/C0123/p1733300000123456`), from the workspace's URL
    (`auth.test`'s `url`); None unless every part looks like Slack's, so it is safe in a link."""
    if not (workspace_url and channel_id and thread_ts):
        return None
    if not (
        _WORKSPACE_URL.fullmatch(workspace_url)
        and _CHANNEL_ID.fullmatch(channel_id)
        and _TS.fullmatch(thread_ts)
    ):
        return None
    return f"{workspace_url.rstrip('/')}/archives/{channel_id}/p{thread_ts.replace('.', '')}"


MAX_OPT_OUTS_SHOWN = 200


def _names(senders: Sequence[Sender]) -> str:
    labels = [f"*{esc(s.label)}* (+{s.number})" for s in senders]
    if len(labels) <= 1:
        return "".join(labels) or "any sender"
    return ", ".join(labels[:-1]) + " or " + labels[-1]


def opt_out_list(
    senders: Sequence[Sender], entries: Sequence[tuple[ConversationRecord, Sender]]
) -> SlackMessage:
    """`/whatsapp optouts`: the do-not-send lists of the senders allowed in the channel, newest
    first, each number with its name, sender, when and why."""
    names = _names(senders)
    if not entries:
        text = f":white_check_mark: Nobody has opted out of messages from {names}."
        return SlackMessage(text=text, blocks=[section(text)])
    count = "1 number" if len(entries) == 1 else f"{len(entries)} numbers"
    headline = f":no_entry: *Do-not-send list* of {names}: {count}, newest first"
    lines = []
    for conversation, sender in entries[:MAX_OPT_OUTS_SHOWN]:
        when = conversation.opted_out_at
        parts = [
            customer_line(conversation.customer, conversation.customer_name),
            f"from {esc(sender.label)}",
            slack_date(when) if when else "earlier",
            esc(conversation.opted_out_why or "opted out"),
        ]
        lines.append("• " + " · ".join(parts))
    blocks: list[Block] = [section(headline)]
    chunk: list[str] = []
    for line in lines:
        if chunk and len("\n".join([*chunk, line])) > 2900:
            blocks.append(section("\n".join(chunk)))
            chunk = []
        chunk.append(line)
    blocks.append(section("\n".join(chunk)))
    notes = []
    if len(entries) > MAX_OPT_OUTS_SHOWN:
        notes.append(f"…and {len(entries) - MAX_OPT_OUTS_SHOWN} more, older.")
    notes.append("A number comes off the list when the customer writes an opt-in word.")
    blocks.append(context(" ".join(notes)))
    return SlackMessage(text=f"Do-not-send list: {count}", blocks=blocks)
