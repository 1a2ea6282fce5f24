"""Block Kit builders: pure functions from records to Slack messages, no I/O."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from bot import ids, statuses
from bot.commands import EXAMPLES, STATUS_EXAMPLE
from bot.config import Sender
from bot.store import SendRecord, SendState, StatusRow
from bot.whatsapp.payloads import MessageKind

Block = dict[str, Any]


@dataclass(frozen=True)
class SlackMessage:
    """A message's fallback text (notifications, screen readers) and its blocks."""

    text: str
    blocks: list[Block] = field(default_factory=list)

    def as_kwargs(self) -> dict[str, Any]:
        return {"text": self.text, "blocks": self.blocks}


def esc(text: str) -> str:
    """Escape user text for mrkdwn, so `<`, `>` and `&` cannot form links or mentions."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _clip(text: str, limit: int = 2900) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def section(text: str) -> Block:
    return {"type": "section", "text": {"type": "mrkdwn", "text": _clip(text)}}


def context(text: str) -> Block:
    return {"type": "context", "elements": [{"type": "mrkdwn", "text": _clip(text)}]}


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


_KIND_EMOJI = {
    MessageKind.IMAGE: ":frame_with_picture:",
    MessageKind.VIDEO: ":film_frames:",
    MessageKind.AUDIO: ":sound:",
    MessageKind.DOCUMENT: ":page_facing_up:",
    MessageKind.TEXT: ":speech_balloon:",
}


def _what(send: SendRecord) -> str:
    kind = MessageKind(send.kind)
    article = "an" if kind in (MessageKind.IMAGE, MessageKind.AUDIO) else "a"
    noun = "text message" if kind is MessageKind.TEXT else str(kind)
    return f"{article} {noun}"


def _content_lines(send: SendRecord) -> list[str]:
    kind = MessageKind(send.kind)
    if kind is MessageKind.TEXT:
        return [f">{esc(send.body)}"]
    # A shared file's link is a bearer URL for the provider: it is never shown in Slack.
    lines = [
        "*Media:* the file shared in this thread" if send.media_id else f"*Media:* {esc(send.body)}"
    ]
    if send.caption:
        lines.append(f"*Caption:* {esc(send.caption)}")
    if send.file_name:
        lines.append(f"*File name:* {esc(send.file_name)}")
    return lines


# --- confirmation ----------------------------------------------------------------------------


def confirmation(
    send: SendRecord, sender: Sender, *, recipient_label: str | None = None
) -> SlackMessage:
    """The ephemeral question: what will go to whom, with `Send` and `Cancel`."""
    kind = MessageKind(send.kind)
    to = send.recipient + (f" ({esc(recipient_label)})" if recipient_label else "")
    summary = [
        f"*Type:* {_KIND_EMOJI[kind]} {kind}",
        f"*To:* {to}",
        f"*From:* {esc(sender.label)} (+{sender.number})",
        *_content_lines(send),
    ]
    text = f"Send {_what(send)} on WhatsApp to {send.recipient} from {sender.label}?"
    return SlackMessage(
        text=text,
        blocks=[
            section(f"*Send {_what(send)} on WhatsApp?*"),
            section("\n".join(summary)),
            {
                "type": "actions",
                "block_id": ids.CONFIRM_BLOCK,
                "elements": [
                    button("Send", ids.SEND, send.id, "primary"),
                    button("Cancel", ids.CANCEL, send.id),
                ],
            },
            context("Nothing is sent until you click *Send*."),
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
        "The recipient is a number with its country code or a contact name. The type may be "
        "left out when the URL ends in .jpg, .png, .mp4, .mp3, .pdf…. Add `from:<sender>` to "
        "send from another of the company's numbers. Nothing is sent until you click *Send*.",
    ]
    return SlackMessage(text="How to use /whatsapp", blocks=[section("\n".join(lines))])


def problem(message: str, example: str | None = None) -> SlackMessage:
    """An ephemeral refusal: what is wrong, and a correct example to copy."""
    text = f":warning: {message}"
    blocks = [section(text)]
    if example:
        blocks.append(context(f"For example: `{esc(example)}`"))
    return SlackMessage(text=text, blocks=blocks)


# --- the record in the channel ---------------------------------------------------------------


def _state_line(send: SendRecord) -> str:
    if send.state is SendState.SENDING:
        return ":hourglass_flowing_sand: Sending…"
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
    who = f"<@{send.user_id}>" if send.user_id else "The command line"
    kind = MessageKind(send.kind)
    headline = (
        f"{_KIND_EMOJI[kind]} {who} sent {_what(send)} on WhatsApp to *{send.recipient}* "
        f"from *{esc(sender.label)}* (+{sender.number})"
    )
    status = _state_line(send)
    text = f"{who} sent {_what(send)} to {send.recipient} from {sender.label}: " + (
        send.provider_status or str(send.state)
    )
    return SlackMessage(
        text=text,
        blocks=[section(headline), section("\n".join(_content_lines(send))), context(status)],
    )


def transaction_reply(send: SendRecord) -> SlackMessage:
    text = f"Provider transactionId: {send.transaction_id}"
    return SlackMessage(
        text=text, blocks=[section(f":receipt: Provider transactionId: `{send.transaction_id}`")]
    )


def outcome_reply(send: SendRecord, *, retry: bool = True) -> SlackMessage:
    """Why a send did not go out (refused), or why nobody knows (no answer)."""
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
    text = f"Status: {info.name} ({info.meaning})"
    return SlackMessage(text=text, blocks=[section(head), context(steps or esc(info.name))])


def status_event_reply(row: StatusRow) -> SlackMessage:
    """A reply of its own for a failure, or for a status the bot does not know."""
    info = statuses.describe(row.status)
    detail = f"\nThe provider said: {esc(row.detail)}" if row.detail else ""
    if info.is_failure:
        text = f":x: *{esc(row.status)}*: {info.meaning}.{detail}"
        plain = f"Failed: {row.status} ({info.meaning})"
    else:
        text = (
            f":grey_question: The provider reported `{esc(row.status)}`, a status this bot does "
            f"not know; it is shown as received.{detail}"
        )
        plain = f"Status {row.status} (not known to the bot)"
    return SlackMessage(text=plain, blocks=[section(text), context(slack_date(row.received_at))])


# --- /whatsapp status ------------------------------------------------------------------------


def status_lookup(send: SendRecord, sender: Sender, rows: Sequence[StatusRow]) -> SlackMessage:
    """A send's whole record and every status received, for the person who asked."""
    who = f"<@{send.user_id}>" if send.user_id else "the command line"
    lines = [
        f"*transactionId:* `{send.transaction_id or 'none'}`",
        f"*Sent by:* {who}, {slack_date(send.created_at)}",
        f"*To:* {send.recipient}   *From:* {esc(sender.label)} (+{sender.number})",
        f"*Type:* {send.kind}",
        *_content_lines(send),
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
    return SlackMessage(text=f"WhatsApp send {send.transaction_id}", blocks=blocks)


# --- files shared in Slack -------------------------------------------------------------------


def size_text(size: int) -> str:
    if size >= 1_000_000:
        return f"{size / 1_000_000:.1f} MB"
    return f"{max(1, round(size / 1000))} KB"


def file_offer(
    send: SendRecord,
    sender: Sender,
    *,
    file_name: str,
    format_name: str,
    size: int,
    dropped_text: bool,
) -> SlackMessage:
    """The reply in a shared file's thread: what would go out, with Send / Choose / Cancel."""
    to = f"*{send.recipient}*" if send.recipient else "_choose a recipient_"
    lines = [
        f":paperclip: Send *{esc(file_name)}* ({esc(format_name)}, {size_text(size)}) on WhatsApp?",
        f"*From:* {esc(sender.label)} (+{sender.number})   *To:* {to}",
    ]
    if send.caption:
        lines.append(f"*Caption:* {esc(send.caption)}")
    if send.file_name:
        lines.append(f"*File name:* {esc(send.file_name)}")
    if dropped_text:
        lines.append("_The message text is not sent: WhatsApp shows captions only on images._")
    elements = []
    if send.recipient:
        elements.append(button("Send", ids.SEND, send.id, "primary"))
    elements.append(button("Choose recipient…", ids.CHOOSE_RECIPIENT, send.id))
    elements.append(button("Cancel", ids.CANCEL, send.id))
    text = f"Send {file_name} on WhatsApp?"
    return SlackMessage(
        text=text,
        blocks=[
            section("\n".join(lines)),
            {"type": "actions", "block_id": ids.CONFIRM_BLOCK, "elements": elements},
        ],
    )


def file_refused(file_name: str, reason: str, hint: str) -> SlackMessage:
    text = f":no_entry: *{esc(file_name)}* can't be sent on WhatsApp: {esc(reason)}"
    blocks = [section(text)]
    if hint:
        blocks.append(context(esc(hint)))
    return SlackMessage(text=f"{file_name} can't be sent on WhatsApp: {reason}", blocks=blocks)


def offer_cancelled(file_name: str, user_id: str) -> SlackMessage:
    return confirmation_closed(
        f":wastebasket: <@{user_id}> cancelled sending *{esc(file_name)}*; nothing was sent."
    )


def _modal_shell(blocks_: list[Block], *, metadata: str, submit: bool) -> Block:
    view: Block = {
        "type": "modal",
        "callback_id": ids.MODAL,
        "title": {"type": "plain_text", "text": "Send on WhatsApp"},
        "close": {"type": "plain_text", "text": "Cancel"},
        "private_metadata": metadata,
        "blocks": blocks_,
    }
    if submit:
        view["submit"] = {"type": "plain_text", "text": "Send"}
    return view


def modal_loading(metadata: str) -> Block:
    return _modal_shell(
        [section(":hourglass_flowing_sand: Checking the file…")], metadata=metadata, submit=False
    )


def modal_problem(message: str, hint: str = "", *, metadata: str = "") -> Block:
    parts = [section(f":no_entry: {esc(message)}")]
    if hint:
        parts.append(context(esc(hint)))
    return _modal_shell(parts, metadata=metadata, submit=False)


def recipient_modal(
    send: SendRecord,
    senders: Sequence[Sender],
    *,
    chosen_sender: str,
    file_name: str,
    format_name: str,
    size: int,
    metadata: str,
) -> Block:
    """Recipient (a number or a contact) and sender (the channel's allowed ones)."""
    recipient_input: Block = {
        "type": "plain_text_input",
        "action_id": ids.RECIPIENT_INPUT,
        "placeholder": {"type": "plain_text", "text": "+573001234567 or a contact name"},
    }
    if send.recipient:
        recipient_input["initial_value"] = send.recipient
    options = [
        {"text": {"type": "plain_text", "text": f"{s.label} (+{s.number})"[:75]}, "value": s.alias}
        for s in senders
    ]
    initial = next((o for o in options if o["value"] == chosen_sender), options[0])
    summary = f":paperclip: *{esc(file_name)}* ({esc(format_name)}, {size_text(size)})"
    if send.caption:
        summary += f"\n*Caption:* {esc(send.caption)}"
    return _modal_shell(
        [
            section(summary),
            {
                "type": "input",
                "block_id": ids.RECIPIENT_BLOCK,
                "label": {"type": "plain_text", "text": "Recipient"},
                "hint": {
                    "type": "plain_text",
                    "text": "A number with its country code, or a name from contacts.",
                },
                "element": recipient_input,
            },
            {
                "type": "input",
                "block_id": ids.SENDER_BLOCK,
                "label": {"type": "plain_text", "text": "From"},
                "element": {
                    "type": "static_select",
                    "action_id": ids.SENDER_INPUT,
                    "options": options,
                    "initial_option": initial,
                },
            },
        ],
        metadata=metadata,
        submit=True,
    )
