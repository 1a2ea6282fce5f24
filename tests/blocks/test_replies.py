"""The reply modal's blocks: the window decides the button's words; what customers and senders
are called, and what they wrote, never becomes markup."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from bot.blocks import replies
from bot.core import ids
from bot.core.config import Sender
from bot.core.records import InboundRecord
from bot.core.window import Window
from tests.test_escaping import (
    BIDI,
    FORGED_LINES,
    HOSTILE,
    NOW,
    assert_inert,
    hostile_sender,
    mrkdwn_of,
    plain_of,
)

SUPPORT = Sender("support", "15550001111", "Support")


def message(**values: Any) -> InboundRecord:
    fields: dict[str, Any] = dict(
        id="m1",
        received_at=NOW,
        conversation_id="c1",
        sender_alias="support",
        customer="+573001234567",
        dedup_key="id:m1",
        shape="json",
        kind="text",
        text="Hola",
        attachments="[]",
        customer_name="Ana Gómez",
        channel_id="C0123SUPPORT",
        thread_ts="1.000100",
        message_ts="1.000100",
    )
    fields.update(values)
    return InboundRecord(**fields)


def open_window() -> Window:
    return Window(NOW - timedelta(hours=21), 24, NOW)


def test_an_open_window_sends_and_a_closed_one_sends_anyway() -> None:
    view = replies.reply_modal(message(), SUPPORT, open_window())
    assert view["callback_id"] == ids.REPLY_MODAL
    assert view["private_metadata"] == "m1"
    assert view["title"]["text"] == "Reply on WhatsApp"
    assert view["submit"]["text"] == "Send"
    text = "\n".join(mrkdwn_of(view))
    assert "*Ana Gómez* (+573001234567)" in text and "*Support* (+15550001111)" in text
    assert "open until 12:30 UTC, 3 h left" in text
    inputs = {b["block_id"]: b for b in view["blocks"] if b["type"] == "input"}
    assert list(inputs) == [ids.REPLY_TEXT_BLOCK, ids.REPLY_URL_BLOCK, ids.REPLY_CAPTION_BLOCK]
    assert all(b["optional"] for b in inputs.values())
    assert inputs[ids.REPLY_TEXT_BLOCK]["element"]["multiline"] is True

    closed = replies.reply_modal(message(), SUPPORT, Window(NOW - timedelta(hours=30), 24, NOW))
    assert closed["submit"]["text"] == "Send anyway"
    assert "no message from this customer in the last 24 h" in "\n".join(mrkdwn_of(closed))


def test_an_opted_out_customer_s_modal_cannot_send() -> None:
    view = replies.reply_refused_modal(message(), SUPPORT, "+573001234567 opted out.")
    assert "submit" not in view and view["close"]["text"] == "Close"
    assert ":no_entry: +573001234567 opted out." in "\n".join(mrkdwn_of(view))


def test_outside_text_stays_text() -> None:
    hostile = message(customer_name=HOSTILE + FORGED_LINES, text=HOSTILE + FORGED_LINES)
    views = [
        replies.reply_modal(hostile, hostile_sender(), open_window()),
        replies.reply_refused_modal(hostile, hostile_sender(), HOSTILE + FORGED_LINES),
    ]
    for view in views:
        assert_inert(list(mrkdwn_of(view)))
        for text in plain_of(view):
            assert not any(c in text for c in BIDI) and "\n" not in text
    told = replies.reply_not_sent(HOSTILE, HOSTILE + FORGED_LINES)
    assert_inert([told.text, *mrkdwn_of(told.blocks)])
