"""One send: its confirmation, its record in the channel, the replies in its thread, its lookup."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from bot.blocks.conversations import window_line
from bot.blocks.examples import EXAMPLES, HISTORY_EXAMPLE, OPTOUTS_EXAMPLE, STATUS_EXAMPLE
from bot.blocks.text import (
    SlackMessage,
    button,
    context,
    esc,
    labelled,
    mention,
    quoted,
    section,
    size_text,
    slack_date,
)
from bot.core import ids, statuses
from bot.core.config.model import Sender
from bot.core.records import MessageKind, SendRecord, SendState, StatusRow
from bot.core.window import Window


class CheckedMedia(Protocol):
    """What a media URL was found to serve (`bot.media.remote.RemoteMedia`)."""

    @property
    def content_type(self) -> str | None: ...

    @property
    def size(self) -> int | None: ...


KIND_EMOJI = {
    MessageKind.IMAGE: ":frame_with_picture:",
    MessageKind.VIDEO: ":film_frames:",
    MessageKind.AUDIO: ":sound:",
    MessageKind.DOCUMENT: ":page_facing_up:",
    MessageKind.TEXT: ":speech_balloon:",
}


def what(send: SendRecord) -> str:
    kind = MessageKind(send.kind)
    article = "an" if kind in (MessageKind.IMAGE, MessageKind.AUDIO) else "a"
    noun = "text message" if kind is MessageKind.TEXT else str(kind)
    return f"{article} {noun}"


def content_lines(send: SendRecord) -> list[str]:
    kind = MessageKind(send.kind)
    if kind is MessageKind.TEXT:
        return [quoted(send.body)]
    # A shared file's link is a bearer URL for the provider: it is never shown in Slack.
    lines = [
        "*Media:* the file shared in this thread" if send.media_id else f"*Media:* {esc(send.body)}"
    ]
    if send.caption:
        lines.append(labelled("Caption", send.caption))
    if send.file_name:
        lines.append(labelled("File name", send.file_name))
    return lines


# --- confirmation ----------------------------------------------------------------------------


def send_label(window: Window) -> str:
    """The button that sends: `Send`, or `Send anyway` outside WhatsApp's window."""
    return "Send" if window.open else "Send anyway"


def confirmation(
    send: SendRecord,
    sender: Sender,
    *,
    window: Window,
    recipient_label: str | None = None,
    checked: CheckedMedia | None = None,
) -> SlackMessage:
    """The ephemeral question: what will go to whom, whether WhatsApp's window is open, with
    `Send` (`Send anyway` outside the window) and `Cancel`."""
    kind = MessageKind(send.kind)
    to = esc(send.recipient) + (f" ({esc(recipient_label)})" if recipient_label else "")
    summary = [
        f"*Type:* {KIND_EMOJI[kind]} {kind}",
        f"*To:* {to}",
        f"*From:* {esc(sender.label)} (+{sender.number})",
        *content_lines(send),
    ]
    if checked is not None:
        size = f", {size_text(checked.size)}" if checked.size is not None else ""
        summary.append(f"*Checked:* :white_check_mark: {esc(checked.content_type or '?')}{size}")
    summary.append(window_line(window))
    label = send_label(window)
    text = f"Send {what(send)} on WhatsApp to {esc(send.recipient)} from {esc(sender.label)}?"
    return SlackMessage(
        text=text,
        blocks=[
            section(f"*Send {what(send)} on WhatsApp?*"),
            section("\n".join(summary)),
            {
                "type": "actions",
                "block_id": ids.CONFIRM_BLOCK,
                "elements": [
                    button(label, ids.SEND, send.id, "primary"),
                    button("Cancel", ids.CANCEL, send.id),
                ],
            },
            context(f"Nothing is sent until you click *{label}*."),
        ],
    )


def confirmation_closed(text: str) -> SlackMessage:
    """What replaces the confirmation once clicked: no button is left to click twice."""
    return SlackMessage(text=text, blocks=[section(text)])


def help_message() -> SlackMessage:
    lines = [
        "*Send WhatsApp messages to customers from Slack.*",
        f"• Image: `{EXAMPLES[MessageKind.IMAGE]}`",
        f"• Video: `{EXAMPLES[MessageKind.VIDEO]}`",
        f"• Audio: `{EXAMPLES[MessageKind.AUDIO]}`",
        f"• PDF: `{EXAMPLES[MessageKind.DOCUMENT]}`",
        f"• Text: `{EXAMPLES[MessageKind.TEXT]}`",
        f"• A send's record and status timeline: `{STATUS_EXAMPLE}`",
        f"• A customer's history: `{HISTORY_EXAMPLE}` shows the last 20 messages sent to and "
        "received from the number (or a contact name), with their statuses and threads; the "
        "App Home's *Find a customer* shows the same",
        f"• Who opted out: `{OPTOUTS_EXAMPLE}` lists the do-not-send list of each sender "
        "allowed in this channel",
        "The recipient is a number with its country code or a contact name. The type may be "
        "left out when the URL ends in .jpg, .png, .mp4, .mp3, .pdf…. Add `from:&lt;sender&gt;` to "
        "send from another of the company's numbers. Nothing is sent until you click *Send*.",
    ]
    return SlackMessage(text="How to use /whatsapp", blocks=[section("\n".join(lines))])


def problem(message: str, example: str | None = None) -> SlackMessage:
    """An ephemeral refusal: what is wrong, and a correct example to copy."""
    text = f":warning: {esc(message)}"
    blocks = [section(text)]
    if example:
        blocks.append(context(f"For example: `{esc(example)}`"))
    return SlackMessage(text=text, blocks=blocks)


# --- the record in the channel ---------------------------------------------------------------


def _state_line(send: SendRecord) -> str:
    if send.state is SendState.SENDING:
        return ":hourglass_flowing_sand: Sending…"
    if send.state is SendState.CONFIRMED:  # handed back by a stopping app, or retried
        return ":hourglass_flowing_sand: Waiting to be sent…"
    if send.provider_status:
        info = statuses.describe(send.provider_status)
        return f"{info.emoji} *{esc(info.name)}*"
    if send.state is SendState.FAILED:
        return ":x: Not sent, see the thread"
    if send.state is SendState.UNKNOWN:
        return ":warning: Outcome unknown, see the thread"
    return ":outbox_tray: Sent to the provider, waiting for its first status"


def record(send: SendRecord, sender: Sender) -> SlackMessage:
    """The channel message: who sent what to whom from which number, and the latest status."""
    who = mention(send.user_id) if send.user_id else "The command line"
    kind = MessageKind(send.kind)
    headline = (
        f"{KIND_EMOJI[kind]} {who} sent {what(send)} on WhatsApp to *{esc(send.recipient)}* "
        f"from *{esc(sender.label)}* (+{sender.number})"
    )
    status = _state_line(send)
    if send.reply_waiting:
        status += " · :hourglass: *Reply waiting* in the thread"
    text = f"{who} sent {what(send)} to {esc(send.recipient)} from {esc(sender.label)}: " + esc(
        send.provider_status or str(send.state)
    )
    return SlackMessage(
        text=text,
        blocks=[section(headline), section("\n".join(content_lines(send))), context(status)],
    )


def transaction_reply(send: SendRecord) -> SlackMessage:
    transaction_id = esc(send.transaction_id or "")
    text = f"Provider transactionId: {transaction_id}"
    return SlackMessage(
        text=text, blocks=[section(f":receipt: Provider transactionId: `{transaction_id}`")]
    )


def outcome_reply(send: SendRecord, *, retry: bool = True) -> SlackMessage:
    """Why a send did not go out (refused), or why nobody knows (no answer). A send whose
    content was removed is never sent again: no `Retry`."""
    retry = retry and send.content_removed_at is None
    reason = esc(send.error or "no reason given")
    if send.state is SendState.UNKNOWN:
        text = (
            f":warning: Not sure whether the message was sent: {reason}. The provider may have "
            "received it, so it was *not* sent again automatically (a duplicate would reach the "
            "customer). Wait for a status here, or click *Retry* to send it once more."
        )
        blocks = [section(text)]
        if retry:
            blocks.append(
                {"type": "actions", "elements": [button("Retry", ids.RETRY, send.id, "danger")]}
            )
        return SlackMessage(text=text, blocks=blocks)
    text = f":x: The provider did not send the message: {reason}."
    return SlackMessage(text=text, blocks=[section(text)])


def wait_reply(seconds: float) -> SlackMessage:
    text = (
        f":hourglass_flowing_sand: The provider is rate limiting; sending again in "
        f"{max(1, round(seconds))} s. It will be sent once."
    )
    return SlackMessage(text=text, blocks=[section(text)])


def shown_timeline(rows: Sequence[StatusRow]) -> list[StatusRow]:
    """The statuses that advanced the send when they arrived, oldest first."""
    return [row for row in rows if row.advanced]


def status_reply(send: SendRecord, rows: Sequence[StatusRow]) -> SlackMessage:
    """The one reply that is edited as the status advances, with its timeline."""
    assert send.provider_status is not None
    info = statuses.describe(send.provider_status)
    steps = " → ".join(
        f"{esc(row.status)} {slack_date(row.received_at, '{time_secs}')}"
        for row in shown_timeline(rows)
    )
    head = f"{info.emoji} Status: *{esc(info.name)}*, {info.meaning}"
    text = f"Status: {esc(info.name)} ({info.meaning})"
    return SlackMessage(text=text, blocks=[section(head), context(steps or esc(info.name))])


def status_event_reply(row: StatusRow) -> SlackMessage:
    """A reply of its own for a failure, or for a status the bot does not know."""
    info = statuses.describe(row.status)
    detail = f"\nThe provider said: {esc(row.detail)}" if row.detail else ""
    if info.is_failure:
        text = f":x: *{esc(row.status)}*: {info.meaning}.{detail}"
        if info.name == "BLACKLISTED":
            text += (
                "\n:no_entry: The number is now on this sender's do-not-send list: sends to it "
                "are refused until the customer writes an opt-in word."
            )
        fallback = f"Failed: {esc(row.status)} ({info.meaning})"
    else:
        text = (
            f":grey_question: The provider reported `{esc(row.status)}`, a status this bot does "
            f"not know; it is shown as received.{detail}"
        )
        fallback = f"Status {esc(row.status)} (not known to the bot)"
    return SlackMessage(text=fallback, blocks=[section(text), context(slack_date(row.received_at))])


# --- /whatsapp status ------------------------------------------------------------------------


def status_lookup(send: SendRecord, sender: Sender, rows: Sequence[StatusRow]) -> SlackMessage:
    """A send's whole record and every status received, for the person who asked."""
    who = mention(send.user_id) if send.user_id else "the command line"
    lines = [
        f"*transactionId:* `{esc(send.transaction_id or 'none')}`",
        f"*Sent by:* {who}, {slack_date(send.created_at)}",
        f"*To:* {esc(send.recipient)}   *From:* {esc(sender.label)} (+{sender.number})",
        f"*Type:* {send.kind}",
        *content_lines(send),
        f"*State:* {send.state}" + (f" ({esc(send.error)})" if send.error else ""),
        f"*Latest status:* {esc(send.provider_status or 'none yet')}",
    ]
    timeline = [
        f"• {slack_date(row.received_at)} `{esc(row.status)}`"
        + ("" if row.advanced else " (arrived late or repeated; not shown as current)")
        for row in rows
    ]
    blocks = [section("\n".join(lines))]
    blocks.append(section("*Timeline*\n" + ("\n".join(timeline) or "No status received yet.")))
    return SlackMessage(text=f"WhatsApp send {esc(send.transaction_id or 'none')}", blocks=blocks)
