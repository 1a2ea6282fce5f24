"""Files shared in Slack: the offer in the file's thread, refusals, the recipient modal."""

from __future__ import annotations

from collections.abc import Sequence

from bot.blocks.conversations import opted_out_line, window_line
from bot.blocks.groups import group_window_line, skipped_line
from bot.blocks.sends import confirmation_closed, send_label
from bot.blocks.text import (
    Block,
    SlackMessage,
    button,
    context,
    esc,
    labelled,
    mention,
    plain,
    section,
    size_text,
)
from bot.core import ids
from bot.core.config.model import Sender
from bot.core.records import ConversationRecord, SendRecord
from bot.core.window import Window

# --- files shared in Slack -------------------------------------------------------------------


def file_offer(
    send: SendRecord,
    sender: Sender,
    *,
    file_name: str,
    format_name: str,
    size: int,
    dropped_text: bool,
    window: Window | None,
    opted_out: ConversationRecord | None = None,
) -> SlackMessage:
    """The reply in a shared file's thread: what would go out, with Send / Choose / Cancel.

    With a recipient, `window` is WhatsApp's window with them (`Send anyway` when closed); a
    channel's default recipient who opted out (`opted_out`, the draft then has no recipient) is
    said, and only another recipient can be chosen."""
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
    if send.recipient and window is not None:
        lines.append(window_line(window))
    if opted_out is not None:
        lines.append(f":no_entry: {esc(opted_out_line(opted_out, sender))}")
    elements = []
    if send.recipient:
        label = send_label(window) if window is not None else "Send"
        elements.append(button(label, ids.SEND, send.id, "primary"))
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


def _modal_shell(
    blocks_: list[Block], *, metadata: str, submit: bool, submit_label: str = "Send"
) -> Block:
    view: Block = {
        "type": "modal",
        "callback_id": ids.MODAL,
        "title": {"type": "plain_text", "text": "Send on WhatsApp"},
        "close": {"type": "plain_text", "text": "Cancel"},
        "private_metadata": metadata,
        "blocks": blocks_,
    }
    if submit:
        view["submit"] = {"type": "plain_text", "text": submit_label}
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


def send_anyway_modal(
    sender: Sender,
    *,
    to: str,
    windows: Sequence[Window],
    opted_out: Sequence[ConversationRecord] = (),
    group: str | None = None,
    file_name: str,
    format_name: str,
    size: int,
    metadata: str,
) -> Block:
    """The recipient modal once a choice is made that WhatsApp may refuse: someone outside the
    window (or a group's members skipped), said before the file goes, with `Send anyway` (or
    `Send` when the only news is who is skipped)."""
    summary = f":paperclip: *{esc(file_name)}* ({esc(format_name)}, {size_text(size)})"
    if group is not None:
        who = f"group *{esc(group)}*, {len(windows)} recipients"
        notes = [group_window_line(windows)]
        if opted_out:
            notes.append(skipped_line(opted_out))
        label = "Send" if all(w.open for w in windows) else "Send anyway"
    else:
        who = f"*{esc(to)}*"
        notes = [window_line(windows[0])] if windows else []
        label = send_label(windows[0]) if windows else "Send"
    lines = [summary, f"*To:* {who}   *From:* {esc(sender.label)} (+{sender.number})", *notes]
    return _modal_shell(
        [
            section("\n".join(lines)),
            context(f"Nothing is sent until you click *{label}*; *Cancel* sends nothing."),
        ],
        metadata=metadata,
        submit=True,
        submit_label=label,
    )
