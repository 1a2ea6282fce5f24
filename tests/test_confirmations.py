"""What every confirmation says of WhatsApp's window and of opt-outs: the builders alone, with a
fixed clock (the slash command's, a shared file's offer, the modal's `Send anyway`, a group's)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from bot import blocks
from bot.blocks.files import send_anyway_modal
from bot.blocks.text import SlackMessage
from bot.core import ids
from bot.core.config import Sender
from bot.core.records import BatchRecord, ConversationRecord, SendRecord, SendState
from bot.core.window import Window
from bot.sandbox.slack import find_element
from tests.scenarios.harness import buttons, text_of

NOW = datetime(2026, 12, 4, 12, 0, tzinfo=UTC)
SUPPORT = Sender("support", "15550001111", "Support")
CUSTOMER = "+573001234567"
NUMBERS = [f"+5730012345{n:02d}" for n in range(12)]
CLOSED_WORDS = (
    "no message from this customer in the last 24 h: WhatsApp may refuse a free-form message, "
    "and only a late status would say so"
)


def wrote(hours_ago: float | None) -> Window:
    """The window with a customer who last wrote `hours_ago` (None: never)."""
    last = None if hours_ago is None else NOW - timedelta(hours=hours_ago)
    return Window(last, 24, NOW)


def draft(**values: Any) -> SendRecord:
    fields: dict[str, Any] = dict(
        id="s1",
        created_at=NOW,
        updated_at=NOW,
        source="slash",
        sender_alias="support",
        sender_number="15550001111",
        recipient=CUSTOMER,
        kind="text",
        body="Your order shipped",
        external_id="e1",
        callback_token="t1",
        state=SendState.DRAFT,
        user_id="U0ALICE",
        channel_id="C0123SUPPORT",
    )
    fields.update(values)
    return SendRecord(**fields)


def opted_out(customer: str = CUSTOMER) -> ConversationRecord:
    return ConversationRecord(
        id=f"c{customer}",
        created_at=NOW,
        updated_at=NOW,
        sender_alias="support",
        customer=customer,
        opted_out_at=datetime(2026, 12, 3, 18, 45, tzinfo=UTC),
        opted_out_why='they wrote "STOP"',
    )


def shown(message: SlackMessage | dict[str, Any]) -> dict[str, Any]:
    if isinstance(message, SlackMessage):
        return {"blocks": message.blocks, "text": message.text}
    return message


# --- the slash command's confirmation --------------------------------------------------------


def test_a_customer_who_wrote_an_hour_ago_gets_the_open_window_and_send() -> None:
    message = blocks.confirmation(draft(), SUPPORT, window=wrote(1))
    text = text_of(shown(message))
    assert "*WhatsApp window:* open until 11:00 UTC, 23 h left" in text
    assert CLOSED_WORDS not in text
    assert buttons(shown(message)) == ["Send", "Cancel"]
    assert "Nothing is sent until you click *Send*." in text


def test_a_customer_who_never_wrote_gets_the_closed_words_and_send_anyway() -> None:
    message = blocks.confirmation(draft(), SUPPORT, window=wrote(None))
    text = text_of(shown(message))
    assert f":warning: *WhatsApp window:* {CLOSED_WORDS}" in text
    assert buttons(shown(message)) == ["Send anyway", "Cancel"]
    assert "Nothing is sent until you click *Send anyway*." in text
    # the same button as `Send`: a click takes the same path
    found = find_element(message.blocks, ids.SEND)
    assert found is not None and found[1]["value"] == "s1"


def test_a_window_is_closed_once_its_24_hours_are_over() -> None:
    assert "open until" in text_of(shown(blocks.confirmation(draft(), SUPPORT, window=wrote(23.9))))
    assert "6 min left" in text_of(shown(blocks.confirmation(draft(), SUPPORT, window=wrote(23.9))))
    late = blocks.confirmation(draft(), SUPPORT, window=wrote(24.1))
    assert CLOSED_WORDS in text_of(shown(late))
    assert buttons(shown(late)) == ["Send anyway", "Cancel"]


# --- a shared file's offer ---------------------------------------------------------------------


def offer(send: SendRecord, **extra: Any) -> dict[str, Any]:
    message = blocks.file_offer(
        send,
        SUPPORT,
        file_name="parcel.png",
        format_name="PNG",
        size=2048,
        dropped_text=False,
        **extra,
    )
    return shown(message)


def test_an_offer_to_a_default_recipient_says_the_window() -> None:
    send = draft(source="file", kind="image", body="https://bot.example/media/x")
    open_offer = offer(send, window=wrote(2))
    assert "open until 10:00 UTC, 22 h left" in text_of(open_offer)
    assert buttons(open_offer) == ["Send", "Choose recipient…", "Cancel"]
    closed_offer = offer(send, window=wrote(None))
    assert CLOSED_WORDS in text_of(closed_offer)
    assert buttons(closed_offer) == ["Send anyway", "Choose recipient…", "Cancel"]


def test_an_offer_without_a_recipient_says_no_window() -> None:
    message = offer(draft(source="file", recipient=""), window=None)
    assert "WhatsApp window" not in text_of(message)
    assert buttons(message) == ["Choose recipient…", "Cancel"]


def test_an_offer_whose_default_recipient_opted_out_says_when_and_why_and_cannot_send() -> None:
    message = offer(draft(source="file", recipient=""), window=None, opted_out=opted_out())
    text = text_of(message)
    assert f"{CUSTOMER} opted out of messages from Support on 2026-12-03 18:45 UTC" in text
    assert '(they wrote "STOP")' in text
    assert buttons(message) == ["Choose recipient…", "Cancel"]


# --- the modal, once a choice WhatsApp may refuse is made --------------------------------------


def anyway(**values: Any) -> dict[str, Any]:
    fields: dict[str, Any] = dict(
        to=CUSTOMER,
        windows=[wrote(None)],
        file_name="invoice.pdf",
        format_name="PDF",
        size=900,
        metadata="{}",
    )
    fields.update(values)
    return send_anyway_modal(SUPPORT, **fields)


def test_the_modal_for_a_customer_outside_the_window_submits_send_anyway() -> None:
    view = anyway()
    assert view["submit"]["text"] == "Send anyway"
    assert view["callback_id"] == ids.MODAL
    text = text_of(view)
    assert CLOSED_WORDS in text and f"*To:* *{CUSTOMER}*" in text


def test_the_modal_for_a_group_counts_who_is_outside_and_who_is_skipped() -> None:
    windows = [wrote(None)] * 3 + [wrote(5)] * 7
    view = anyway(
        windows=windows, opted_out=[opted_out(NUMBERS[10]), opted_out(NUMBERS[11])], group="vip"
    )
    text = text_of(view)
    assert "3 of 10 recipients have not written in the last 24 h" in text
    assert f"2 skipped: opted out ({NUMBERS[10]}, {NUMBERS[11]})" in text
    assert view["submit"]["text"] == "Send anyway"
    everyone_open = anyway(windows=[wrote(5)] * 10, opted_out=[opted_out()], group="vip")
    assert everyone_open["submit"]["text"] == "Send"
    assert "open for all 10 recipients" in text_of(everyone_open)


# --- a group's confirmation and progress -------------------------------------------------------


def batch(**values: Any) -> BatchRecord:
    fields: dict[str, Any] = dict(
        id="b1",
        created_at=NOW,
        updated_at=NOW,
        group_name="drivers",
        total=12,
        state=SendState.DRAFT,
        user_id="U0ALICE",
        channel_id="C0123SUPPORT",
    )
    fields.update(values)
    return BatchRecord(**fields)


def test_a_group_confirmation_counts_the_recipients_outside_the_window() -> None:
    windows = [wrote(None)] * 3 + [wrote(2)] * 9
    message = blocks.group_confirmation(batch(), draft(), SUPPORT, NUMBERS, windows=windows)
    text = text_of(shown(message))
    assert (
        "3 of 12 recipients have not written in the last 24 h: WhatsApp may refuse a free-form "
        "message to them, and only a late status would say so"
    ) in text
    assert buttons(shown(message)) == ["Send anyway to 12", "Cancel"]
    found = find_element(message.blocks, ids.SEND_GROUP)
    assert found is not None and found[1]["value"] == "b1"
    assert "skipped" not in text


def test_a_group_confirmation_with_everyone_inside_the_window_says_send() -> None:
    windows = [wrote(2)] * 11 + [wrote(20)]
    message = blocks.group_confirmation(batch(), draft(), SUPPORT, NUMBERS, windows=windows)
    text = text_of(shown(message))
    assert "open for all 12 recipients" in text and "open until 16:00 UTC, 4 h left" in text
    assert buttons(shown(message)) == ["Send to 12", "Cancel"]


def test_a_group_confirmation_says_who_is_skipped_for_opting_out() -> None:
    going = NUMBERS[:10]
    message = blocks.group_confirmation(
        batch(),
        draft(),
        SUPPORT,
        going,
        windows=[wrote(1)] * 10,
        opted_out=[opted_out(NUMBERS[10]), opted_out(NUMBERS[11])],
    )
    text = text_of(shown(message))
    assert "*To:* group *drivers*, 10 recipients" in text
    assert f"2 skipped: opted out ({NUMBERS[10]}, {NUMBERS[11]})" in text
    assert buttons(shown(message)) == ["Send to 10", "Cancel"]


def test_group_progress_counts_the_skipped_apart() -> None:
    members = [
        draft(id=f"m{n}", recipient=number, state=SendState.SENT, batch_id="b1")
        for n, number in enumerate(NUMBERS[:10])
    ] + [
        draft(id=f"m{n}", recipient=number, state=SendState.CANCELLED, batch_id="b1")
        for n, number in enumerate(NUMBERS[10:], start=10)
    ]
    message = blocks.group_progress(batch(state=SendState.CONFIRMED), members, SUPPORT)
    text = text_of(shown(message))
    assert "10/10 · 10 sent · 0 failed · 2 skipped: opted out" in text
    assert "(10 recipients)" in text and ":white_check_mark: Done" in text
    assert f"Skipped, opted out: {NUMBERS[10]}, {NUMBERS[11]}" in text
    # a cancelled group is not a group whose members were skipped
    cancelled = [draft(id=m.id, state=SendState.CANCELLED, batch_id="b1") for m in members]
    text = text_of(
        shown(blocks.group_progress(batch(state=SendState.CANCELLED), cancelled, SUPPORT))
    )
    assert "Cancelled; nothing was sent." in text and "skipped" not in text
