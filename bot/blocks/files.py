"""Files shared in Slack: the offer in the file's thread, refusals, the recipient modal."""

from __future__ import annotations

from collections.abc import Sequence

from bot.blocks.sends import confirmation_closed
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
from bot.core.records import SendRecord

# --- files shared in Slack -------------------------------------------------------------------


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
