"""The `Reply` modal: to whom and from which sender, WhatsApp's window, a message or a media URL
with a caption; or, for a customer who opted out, why nothing can be sent."""

from __future__ import annotations

from bot.blocks.conversations import customer_line, window_line
from bot.blocks.text import Block, SlackMessage, clip, context, esc, quoted, section
from bot.core import ids
from bot.core.config import Sender
from bot.core.records import InboundRecord
from bot.core.window import Window

TITLE = "Reply on WhatsApp"
# WhatsApp's longest text and caption, and the provider's longest URL (`whatsapp/payloads.py`
# checks them again, after Slack's markup is decoded).
MAX_TEXT_CHARS = 1024
MAX_CAPTION_CHARS = 1024
MAX_URL_CHARS = 2048
# How much of the customer's message the modal quotes, to say which one is answered.
_QUOTED_CHARS = 300


def _heading(message: InboundRecord, sender: Sender) -> list[Block]:
    who = customer_line(message.customer, message.customer_name)
    parts = [section(f":speech_balloon: To {who} from *{esc(sender.label)}* (+{sender.number})")]
    if message.text:
        parts.append(context(quoted(clip(message.text, _QUOTED_CHARS))))
    return parts


def _shell(blocks: list[Block], *, metadata: str, submit: str | None) -> Block:
    view: Block = {
        "type": "modal",
        "callback_id": ids.REPLY_MODAL,
        "title": {"type": "plain_text", "text": TITLE},
        "close": {"type": "plain_text", "text": "Cancel" if submit else "Close"},
        "private_metadata": metadata,
        "blocks": blocks,
    }
    if submit:
        view["submit"] = {"type": "plain_text", "text": submit}
    return view


def _input(
    block_id: str,
    action_id: str,
    label: str,
    *,
    hint: str,
    placeholder: str,
    max_length: int,
    multiline: bool = False,
) -> Block:
    element: Block = {
        "type": "plain_text_input",
        "action_id": action_id,
        "multiline": multiline,
        "max_length": max_length,
        "placeholder": {"type": "plain_text", "text": placeholder},
    }
    return {
        "type": "input",
        "block_id": block_id,
        "optional": True,
        "label": {"type": "plain_text", "text": label},
        "hint": {"type": "plain_text", "text": hint},
        "element": element,
    }


def reply_modal(message: InboundRecord, sender: Sender, window: Window) -> Block:
    """The modal a `Reply` button opens; submitting it sends. Outside WhatsApp's window the
    button reads `Send anyway`."""
    return _shell(
        [
            *_heading(message, sender),
            context(window_line(window)),
            _input(
                ids.REPLY_TEXT_BLOCK,
                ids.REPLY_TEXT_INPUT,
                "Message",
                hint="The text the customer receives. Leave it empty to send a media URL instead.",
                placeholder="Write your reply",
                max_length=MAX_TEXT_CHARS,
                multiline=True,
            ),
            _input(
                ids.REPLY_URL_BLOCK,
                ids.REPLY_URL_INPUT,
                "Or a media URL",
                hint="An image, video, audio or PDF the provider can download; the file itself "
                "says which.",
                placeholder="https://",
                max_length=MAX_URL_CHARS,
            ),
            _input(
                ids.REPLY_CAPTION_BLOCK,
                ids.REPLY_CAPTION_INPUT,
                "Caption",
                hint="Shown under an image. For a PDF, a file name ending in .pdf.",
                placeholder="Optional, with a media URL",
                max_length=MAX_CAPTION_CHARS,
            ),
        ],
        metadata=message.id,
        submit="Send" if window.open else "Send anyway",
    )


def reply_refused_modal(message: InboundRecord, sender: Sender, why: str) -> Block:
    """The modal for a customer nobody may write to (opted out): why, and no way to send."""
    return _shell(
        [*_heading(message, sender), section(f":no_entry: {esc(why)}")],
        metadata=message.id,
        submit=None,
    )


def reply_not_sent(customer: str, why: str) -> SlackMessage:
    """Told only to the person who replied, in the customer's thread."""
    text = f":no_entry: Your reply to {esc(customer)} was not sent: {esc(why)}"
    return SlackMessage(text=text, blocks=[section(text)])
