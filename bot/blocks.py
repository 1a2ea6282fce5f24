"""Block Kit builders: pure functions from records to Slack messages, no I/O."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from bot import ids, statuses
from bot.commands import EXAMPLES, STATUS_EXAMPLE
from bot.config.model import Sender
from bot.records import BatchRecord, SendRecord, SendState, SendSummary, StatusRow
from bot.whatsapp.payloads import MessageKind

if TYPE_CHECKING:
    from bot.media.remote import RemoteMedia

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


def confirmation(
    send: SendRecord,
    sender: Sender,
    *,
    recipient_label: str | None = None,
    checked: RemoteMedia | None = None,
) -> SlackMessage:
    """The ephemeral question: what will go to whom, with `Send` and `Cancel`."""
    kind = MessageKind(send.kind)
    to = esc(send.recipient) + (f" ({esc(recipient_label)})" if recipient_label else "")
    summary = [
        f"*Type:* {_KIND_EMOJI[kind]} {kind}",
        f"*To:* {to}",
        f"*From:* {esc(sender.label)} (+{sender.number})",
        *_content_lines(send),
    ]
    if checked is not None:
        size = f", {size_text(checked.size)}" if checked.size is not None else ""
        summary.append(f"*Checked:* :white_check_mark: {esc(checked.content_type or '?')}{size}")
    text = f"Send {_what(send)} on WhatsApp to {esc(send.recipient)} from {esc(sender.label)}?"
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
        f"{_KIND_EMOJI[kind]} {who} sent {_what(send)} on WhatsApp to *{esc(send.recipient)}* "
        f"from *{esc(sender.label)}* (+{sender.number})"
    )
    status = _state_line(send)
    text = f"{who} sent {_what(send)} to {esc(send.recipient)} from {esc(sender.label)}: " + esc(
        send.provider_status or str(send.state)
    )
    return SlackMessage(
        text=text,
        blocks=[section(headline), section("\n".join(_content_lines(send))), context(status)],
    )


def transaction_reply(send: SendRecord) -> SlackMessage:
    transaction_id = esc(send.transaction_id or "")
    text = f"Provider transactionId: {transaction_id}"
    return SlackMessage(
        text=text, blocks=[section(f":receipt: Provider transactionId: `{transaction_id}`")]
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
    text = f"Status: {esc(info.name)} ({info.meaning})"
    return SlackMessage(text=text, blocks=[section(head), context(steps or esc(info.name))])


def status_event_reply(row: StatusRow) -> SlackMessage:
    """A reply of its own for a failure, or for a status the bot does not know."""
    info = statuses.describe(row.status)
    detail = f"\nThe provider said: {esc(row.detail)}" if row.detail else ""
    if info.is_failure:
        text = f":x: *{esc(row.status)}*: {info.meaning}.{detail}"
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
    return SlackMessage(text=f"WhatsApp send {esc(send.transaction_id or 'none')}", blocks=blocks)


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
    to = f"*{esc(send.recipient)}*" if send.recipient else "_choose a recipient_"
    lines = [
        f":paperclip: Send *{esc(file_name)}* ({esc(format_name)}, {size_text(size)}) on WhatsApp?",
        f"*From:* {esc(sender.label)} (+{sender.number})   *To:* {to}",
    ]
    if send.caption:
        lines.append(labelled("Caption", send.caption))
    if send.file_name:
        lines.append(labelled("File name", send.file_name))
    if dropped_text:
        lines.append("_The message text is not sent: WhatsApp shows captions only on images._")
    elements = []
    if send.recipient:
        elements.append(button("Send", ids.SEND, send.id, "primary"))
    elements.append(button("Choose recipient…", ids.CHOOSE_RECIPIENT, send.id))
    elements.append(button("Cancel", ids.CANCEL, send.id))
    text = f"Send {esc(file_name)} on WhatsApp?"
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
    fallback = f"{esc(file_name)} can't be sent on WhatsApp: {esc(reason)}"
    return SlackMessage(text=fallback, blocks=blocks)


def offer_cancelled(file_name: str, user_id: str) -> SlackMessage:
    return confirmation_closed(
        f":wastebasket: {mention(user_id)} cancelled sending *{esc(file_name)}*; nothing was sent."
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
        {"text": {"type": "plain_text", "text": plain(s.describe())[:75]}, "value": s.alias}
        for s in senders
    ]
    initial = next((o for o in options if o["value"] == chosen_sender), options[0])
    summary = f":paperclip: *{esc(file_name)}* ({esc(format_name)}, {size_text(size)})"
    if send.caption:
        summary += "\n" + labelled("Caption", send.caption)
    return _modal_shell(
        [
            section(summary),
            {
                "type": "input",
                "block_id": ids.RECIPIENT_BLOCK,
                "label": {"type": "plain_text", "text": "Recipient"},
                "hint": {
                    "type": "plain_text",
                    "text": "A number with its country code, a contact name, or a group name.",
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


# --- group sends ------------------------------------------------------------------------------

GROUP_PREVIEW = 5
BAR_WIDTH = 10


def group_confirmation(
    batch: BatchRecord, sample: SendRecord, sender: Sender, recipients: Sequence[str]
) -> SlackMessage:
    """The ephemeral question for a group: the count and the first few recipients."""
    kind = MessageKind(sample.kind)
    shown = ", ".join(esc(r) for r in recipients[:GROUP_PREVIEW])
    more = len(recipients) - GROUP_PREVIEW
    if more > 0:
        shown += f" and {more} more"
    summary = [
        f"*Type:* {_KIND_EMOJI[kind]} {kind}",
        f"*To:* group *{esc(batch.group_name)}*, {len(recipients)} recipients: {shown}",
        f"*From:* {esc(sender.label)} (+{sender.number})",
        *_content_lines(sample),
    ]
    text = (
        f"Send {_what(sample)} on WhatsApp to {len(recipients)} recipients "
        f"({esc(batch.group_name)})?"
    )
    return SlackMessage(
        text=text,
        blocks=[
            section(f"*Send {_what(sample)} on WhatsApp to {len(recipients)} recipients?*"),
            section("\n".join(summary)),
            {
                "type": "actions",
                "block_id": ids.CONFIRM_BLOCK,
                "elements": [
                    button(f"Send to {len(recipients)}", ids.SEND_GROUP, batch.id, "primary"),
                    button("Cancel", ids.CANCEL_GROUP, batch.id),
                ],
            },
            context(
                "Each recipient gets their own message. Nothing is sent until you click *Send*."
            ),
        ],
    )


def progress_bar(done: int, total: int, width: int = BAR_WIDTH) -> str:
    filled = round(width * done / total) if total else width
    return "▓" * filled + "░" * (width - filled)


def _member_outcome(send: SendRecord) -> str:
    if send.provider_status and statuses.describe(send.provider_status).is_failure:
        return "failed"
    if send.state is SendState.FAILED:
        return "failed"
    if send.state is SendState.UNKNOWN and not send.provider_status:
        return "unknown"
    if send.state in (SendState.SENT, SendState.UNKNOWN):
        return "sent"
    return "pending"


def group_progress(
    batch: BatchRecord, members: Sequence[SendRecord], sender: Sender
) -> SlackMessage:
    """`▓▓▓▓░░░░ 52/120 sent · 2 failed`, then the totals per status."""
    counts = {"sent": 0, "failed": 0, "unknown": 0, "pending": 0}
    by_status: dict[str, int] = {}
    for member in members:
        counts[_member_outcome(member)] += 1
        if member.provider_status:
            by_status[member.provider_status] = by_status.get(member.provider_status, 0) + 1
    total = len(members)
    done = total - counts["pending"]
    line = (
        f"{progress_bar(done, total)} {done}/{total} · {counts['sent']} sent · "
        f"{counts['failed']} failed"
    )
    if counts["unknown"]:
        line += f" · {counts['unknown']} unknown"
    sample = members[0]
    who = mention(batch.user_id) if batch.user_id else "Someone"
    head = (
        f"{_KIND_EMOJI[MessageKind(sample.kind)]} {who} is sending {_what(sample)} on WhatsApp to "
        f"group *{esc(batch.group_name)}* ({total} recipients) from *{esc(sender.label)}* "
        f"(+{sender.number})"
    )
    if batch.state is SendState.CANCELLED:
        line = "Cancelled; nothing was sent."
    finished = done == total
    state = ":white_check_mark: Done: " if finished else ":outbox_tray: "
    order = sorted(by_status, key=lambda name: (statuses.describe(name).rank, name))
    totals = " · ".join(f"{by_status[name]} {esc(name)}" for name in order)
    parts = [section(head), section(f"{state}`{line}`")]
    if totals:
        parts.append(context(f"Statuses: {totals}"))
    if counts["failed"] or counts["unknown"]:
        parts.append(context("Each failure is explained in the thread."))
    return SlackMessage(
        text=f"{esc(batch.group_name)}: {line}" + (f" · {totals}" if totals else ""), blocks=parts
    )


def member_outcome(send: SendRecord) -> SlackMessage:
    """One member of a group was refused, or its outcome is unknown."""
    message = outcome_reply(send)
    prefix = f"*{esc(send.recipient)}*: "
    blocks_ = [dict(b) for b in message.blocks]
    first = blocks_[0]
    first["text"] = {"type": "mrkdwn", "text": prefix + first["text"]["text"]}
    return SlackMessage(text=f"{esc(send.recipient)}: {message.text}", blocks=blocks_)


def member_failure(send: SendRecord, row: StatusRow) -> SlackMessage:
    info = statuses.describe(row.status)
    detail = f" The provider said: {esc(row.detail)}" if row.detail else ""
    text = f":x: *{esc(send.recipient)}*: *{esc(row.status)}*, {info.meaning}.{detail}"
    return SlackMessage(
        text=f"{esc(send.recipient)}: {esc(row.status)} ({info.meaning})", blocks=[section(text)]
    )


# --- App Home --------------------------------------------------------------------------------

MAX_VIEW_BLOCKS = 100


def _send_line(send: SendSummary, sender_label: str) -> str:
    if send.provider_status:
        info = statuses.describe(send.provider_status)
        status = f"{info.emoji} *{esc(info.name)}*"
    else:
        status = {
            SendState.SENDING: ":hourglass_flowing_sand: *sending*",
            SendState.SENT: ":outbox_tray: *accepted*",
            SendState.FAILED: ":x: *not sent*",
            SendState.UNKNOWN: ":warning: *unknown*",
        }.get(send.state, esc(str(send.state)))
    return (
        f"{status} · {slack_date(send.created_at)} · {send.kind} to *{esc(send.recipient)}* "
        f"from {esc(sender_label)}\n`{esc(send.transaction_id or 'no transactionId')}`"
    )


def home(
    *,
    channels: Sequence[tuple[str, Sequence[Sender], bool]],
    anywhere: Sequence[Sender] | None,
    may_send: bool,
    sends: Sequence[tuple[SendSummary, str]],
    total: int,
) -> Block:
    """The Home tab: where the viewer may send and from which numbers, then their sends."""
    where: list[str] = []
    if not may_send:
        where.append("You are not on the list of people who may send; ask an admin to add you.")
    elif anywhere is not None:
        names = ", ".join(f"{esc(s.label)} (+{s.number})" for s in anywhere)
        where.append(f"Any channel: {names}")
    for channel_id, senders, file_shares in channels if may_send else ():
        names = ", ".join(f"{esc(s.label)} (+{s.number})" for s in senders)
        extra = " · :paperclip: shared files are offered" if file_shares else ""
        where.append(f"<#{channel_id}>: {names}{extra}")
    view_blocks: list[Block] = [
        {"type": "header", "text": {"type": "plain_text", "text": "WhatsApp sends"}},
        section("*Where you can send*\n" + ("\n".join(where) or "No channel is set up yet.")),
        {"type": "divider"},
        {"type": "header", "text": {"type": "plain_text", "text": "Your recent sends"}},
    ]
    room = MAX_VIEW_BLOCKS - len(view_blocks) - 1
    for send, label in list(sends)[:room]:
        view_blocks.append(section(_send_line(send, label)))
    shown = min(len(sends), room)
    if total > shown:
        view_blocks.append(
            context(
                f"…and {total - shown} more. `/whatsapp status <transactionId>` shows any of them."
            )
        )
    elif not sends:
        view_blocks.append(context("Nothing sent yet. Try `/whatsapp help` in a channel."))
    return {"type": "home", "blocks": view_blocks}
