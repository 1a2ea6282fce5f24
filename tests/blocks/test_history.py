"""A customer's history as built: each item's time, direction, sender, type, status,
transactionId, who sent it and its thread; the answer of nothing; "Find a customer" in a Home
tab that Slack (the stand-in's Block Kit checks) takes."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from bot.blocks import home
from bot.blocks.history import (
    PREVIEW_CHARS,
    ShownItem,
    find_customer,
    find_problem_blocks,
    history_blocks,
    history_message,
    item_text,
)
from bot.blocks.home_tab import WaitingReply
from bot.core import ids
from bot.core.config import Sender
from bot.core.history import Direction, HistoryItem
from bot.core.records import ConversationRecord, SendState
from bot.core.window import Window
from bot.sandbox.slack.blockkit import _view_problem
from tests.scenarios.harness import text_of
from tests.test_home import check_limits, record

AT = datetime(2026, 12, 4, 12, 0, tzinfo=UTC)
DATE = "<!date^1796385600^{date_short_pretty} {time_secs}|2026-12-04 12:00:00 UTC>"
LINK = "https://acme.slack.com/archives/C0123SUPPORT/p1733300000123456"
SUPPORT = Sender("support", "15550001111", "Support")


def a_send(**values: Any) -> HistoryItem:
    fields: dict[str, Any] = dict(
        id="s1",
        at=AT,
        direction=Direction.SENT,
        sender_alias="support",
        sender_number="15550001111",
        customer="+573001234567",
        kind="image",
        text="Your parcel",
        status="READ",
        state=SendState.SENT,
        transaction_id="077da1d0-e089",
        user_id="U0ALICE",
        channel_id="C0123SUPPORT",
        thread_ts="1733300000.123456",
    )
    fields.update(values)
    return HistoryItem(**fields)


def a_message(**values: Any) -> HistoryItem:
    fields: dict[str, Any] = dict(
        id="m1",
        at=AT,
        direction=Direction.RECEIVED,
        sender_alias="support",
        customer="+573001234567",
        kind="text",
        text="¿Llegó mi pedido?",
        customer_name="Ana Gómez",
        channel_id="C0123SUPPORT",
        thread_ts="1733300000.123456",
    )
    fields.update(values)
    return HistoryItem(**fields)


def test_a_send_shows_when_what_who_status_transaction_and_thread() -> None:
    text = item_text(ShownItem(a_send(), "Support", LINK))
    assert text.splitlines() == [
        f":outbox_tray: *Sent* {DATE} · :frame_with_picture: image · from *Support* by <@U0ALICE>",
        f":eyes: *READ* · `077da1d0-e089` · <{LINK}|open the thread>",
        ">Your parcel",
    ]


def test_a_customers_message_shows_who_wrote_and_its_thread() -> None:
    text = item_text(ShownItem(a_message(), "Support", LINK))
    assert text.splitlines() == [
        f":inbox_tray: *Received* {DATE} · :speech_balloon: text · to *Support* from *Ana Gómez*",
        f"<{LINK}|open the thread>",
        ">¿Llegó mi pedido?",
    ]
    unnamed = item_text(ShownItem(a_message(customer_name=None, text=None), "Support"))
    assert "from the customer" in unnamed and "\n>" not in unnamed
    assert "in <#C0123SUPPORT>" in unnamed  # no link could be made: the channel


def test_a_send_without_a_status_says_what_the_bot_knows() -> None:
    expected = {
        SendState.CONFIRMED: ":hourglass_flowing_sand: *waiting to be sent*",
        SendState.SENDING: ":hourglass_flowing_sand: *sending*",
        SendState.SENT: ":outbox_tray: *accepted*",
        SendState.FAILED: ":x: *not sent*",
        SendState.UNKNOWN: ":warning: *unknown*",
    }
    for state, words in expected.items():
        item = a_send(status=None, state=state, transaction_id=None)
        second = item_text(ShownItem(item, "Support", LINK)).splitlines()[1]
        assert second.startswith(f"{words} · `no transactionId`"), second
    failed = item_text(ShownItem(a_send(status="REJECTED"), "Support")).splitlines()[1]
    assert failed.startswith(":x: *REJECTED*")


def test_without_a_thread_it_says_so() -> None:
    cli = a_send(user_id=None, channel_id=None, thread_ts=None)
    assert "by the command line" in item_text(ShownItem(cli, "Support"))
    assert "no thread in Slack" in item_text(ShownItem(cli, "Support"))
    unshown = a_message(channel_id=None, thread_ts=None)
    assert "not shown in Slack yet" in item_text(ShownItem(unshown, "Support"))


def test_a_link_that_could_end_early_or_carry_a_label_is_not_made() -> None:
    for link in ("https://x.example/a|click me", "https://x.example/a> <!channel", "http://x/a"):
        text = item_text(ShownItem(a_send(), "Support", link))
        assert "open the thread" not in text and "in <#C0123SUPPORT>" in text


def test_a_long_text_is_previewed_on_one_line_clipped() -> None:
    long = "line one\nline two " + "x" * 500
    preview = item_text(ShownItem(a_send(text=long), "Support")).splitlines()[-1]
    assert preview.startswith(">line one line two x")
    assert preview.endswith("…") and len(preview) == PREVIEW_CHARS + 1


def test_the_answer_counts_says_what_is_left_out_and_who_sees_what() -> None:
    items = [ShownItem(a_send(), "Support", LINK), ShownItem(a_message(), "Support", LINK)]
    message = history_message("+573001234567", "acme-ops", items, more=True)
    texts = [text_of({"blocks": [b]}) for b in message.blocks]
    assert texts[0].startswith(":mag: *History of* *+573001234567* (acme-ops): 2 messages")
    assert texts[1].startswith(":outbox_tray: *Sent*") and texts[2].startswith(":inbox_tray:")
    assert texts[-1].startswith("Only the newest 2 are shown. You see what was sent or received")
    assert message.text == "History of +573001234567: 2 messages, newest first"


def test_nothing_to_show() -> None:
    message = history_message("+573001234567", None, [])
    assert message.text == "Nothing sent to or received from +573001234567 that you can see."
    assert text_of(message.as_kwargs()).startswith(
        ":mag: Nothing sent to or received from *+573001234567* that you can see."
    )


def test_twenty_items_fit_a_message() -> None:
    items = [ShownItem(a_send(text="x" * 3000, id=f"s{n}"), "S" * 200, LINK) for n in range(20)]
    message = history_message("+573001234567", "c" * 200, items, more=True)
    assert len(message.blocks) <= 50
    assert all(len(b.get("text", {}).get("text", "")) <= 3000 for b in message.blocks)


def test_find_a_customer_is_an_input_that_dispatches_on_enter() -> None:
    header, block, divider = find_customer(None)
    assert header["text"]["text"] == "Find a customer" and divider == {"type": "divider"}
    assert block["type"] == "input" and block["dispatch_action"] is True
    assert block["block_id"] == ids.FIND_BLOCK
    element = block["element"]
    assert element["type"] == "plain_text_input" and element["action_id"] == ids.FIND_INPUT
    assert element["dispatch_action_config"] == {"trigger_actions_on": ["on_enter_pressed"]}
    assert "initial_value" not in element
    typed = find_customer("acme-ops\u202e " + "9" * 300, find_problem_blocks("bad"))
    value = typed[1]["element"]["initial_value"]
    assert value.startswith("acme-ops 999") and len(value) == 100
    assert text_of({"blocks": typed[2:3]}) == ":warning: bad"


def test_a_home_tab_with_everything_in_it_is_one_slack_takes() -> None:
    waiting = [
        WaitingReply(
            conversation=ConversationRecord(
                id=f"c{n}",
                created_at=AT,
                updated_at=AT,
                sender_alias="support",
                customer="+573001234567",
                last_customer_at=AT,
            ),
            sender=SUPPORT,
            window=Window(AT, now=AT),
        )
        for n in range(20)
    ]
    items = [ShownItem(a_send(id=f"s{n}"), "Support", LINK) for n in range(20)]
    results = history_blocks("+573001234567", None, items, more=True)
    view = home(
        channels=[("C0123SUPPORT", [SUPPORT], True)],
        anywhere=None,
        may_send=True,
        sends=[(record(n), "Support") for n in range(95)],
        total=300,
        waiting=waiting,
        more_waiting=True,
        find=find_customer("+573001234567", results),
    )
    check_limits(view)
    assert _view_problem(view, home=True) is None
    texts = [text_of({"blocks": [b]}) for b in view["blocks"]]
    assert texts.index("Find a customer") < texts.index("Your recent sends")
    assert any("…and" in t and "more" in t for t in texts)  # the sends give way
