"""What a conversation shows: a customer's message (with its `Reply` button), a thread's root
that says a reply is waiting, an attachment that could not be shown, opt-outs."""

from __future__ import annotations

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

_KIND_EMOJI = {
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
    emoji = _KIND_EMOJI.get(message.kind, ":speech_balloon:")
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
