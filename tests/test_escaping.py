"""Outside text (file names, captions, bodies, the provider's words, contact and group names)
never becomes markup in the bot's messages, in the blocks or in the fallback `text`, and never
forges a line of them."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from bot import blocks
from bot.blocks import SlackMessage
from bot.blocks.files import send_anyway_modal
from bot.blocks.history import (
    ShownItem,
    find_customer,
    find_problem_blocks,
    history_blocks,
    history_message,
)
from bot.core.config import Sender
from bot.core.history import Direction, HistoryItem
from bot.core.records import ConversationRecord
from bot.core.window import Window
from bot.media.remote import RemoteMedia
from bot.slack import clicks
from bot.store import BatchRecord, SendRecord, SendState, SendSummary, StatusRow

NOW = datetime(2026, 11, 24, 9, 30, tzinfo=UTC)
BIDI = "\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"
# Input that would notify everyone, mention someone, disguise a link, reorder its own end, and
# start lines that read as the bot's.
HOSTILE = "<!channel> <@U0BOB> <http://evil.example|safe> &lt; invoice\u202efdp\u2066.exe"
FORGED_LINES = "\n:white_check_mark: *DELIVERED*\n*From:* Sales\n>quoted"
# What the bot itself puts between angle brackets: its user's mention, dates, channels.
OWN_MARKUP = re.compile(r"<@U0ALICE>|<!date\^\d+\^[^|<>]*\|[^<>]*>|<#C\w+>")
FORGED_STARTS = (":white_check_mark: *DELIVERED*", "*From:* Sales")
SUPPORT = Sender("support", "15550001111", "Support")


def send_record(**values: Any) -> SendRecord:
    base: dict[str, Any] = dict(
        id="s1",
        created_at=NOW,
        updated_at=NOW,
        source="slash",
        sender_alias="support",
        sender_number="15550001111",
        recipient="+573001234567",
        kind="image",
        body="https://example.com/a.png",
        external_id="e1",
        callback_token="t1",
        state=SendState.SENT,
        user_id="U0ALICE",
        channel_id="C0123SUPPORT",
        transaction_id="tx-1",
        provider_status="READ",
    )
    base.update(values)
    return SendRecord(**base)


def hostile_send(**values: Any) -> SendRecord:
    """Every outside field of a send made hostile."""
    fields: dict[str, Any] = dict(
        caption=HOSTILE + FORGED_LINES,
        file_name=HOSTILE + FORGED_LINES,
        transaction_id=HOSTILE,
        provider_status=HOSTILE,
        error=HOSTILE + FORGED_LINES,
    )
    fields.update(values)
    return send_record(**fields)


def hostile_row(**values: Any) -> StatusRow:
    fields: dict[str, Any] = dict(
        status="FAILED " + HOSTILE, received_at=NOW, detail=HOSTILE + FORGED_LINES, advanced=True
    )
    fields.update(values)
    return StatusRow(**fields)


def hostile_sender() -> Sender:
    return Sender("support", "15550001111", "Support " + HOSTILE + FORGED_LINES)


OPEN = Window(NOW - timedelta(hours=1), now=NOW)
CLOSED = Window(None, now=NOW)


def hostile_opt_out() -> ConversationRecord:
    """A customer who opted out with a hostile message."""
    return ConversationRecord(
        id="c1",
        created_at=NOW,
        updated_at=NOW,
        sender_alias="support",
        customer=HOSTILE,
        opted_out_at=NOW,
        opted_out_why=f'they wrote "{HOSTILE}{FORGED_LINES}"',
    )


def mrkdwn_of(node: Any) -> Iterator[str]:
    """Every mrkdwn text in blocks or a view."""
    if isinstance(node, dict):
        if node.get("type") == "mrkdwn" and isinstance(node.get("text"), str):
            yield node["text"]
        for value in node.values():
            yield from mrkdwn_of(value)
    elif isinstance(node, list):
        for item in node:
            yield from mrkdwn_of(item)


def plain_of(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        if node.get("type") == "plain_text" and isinstance(node.get("text"), str):
            yield node["text"]
        for value in node.values():
            yield from plain_of(value)
    elif isinstance(node, list):
        for item in node:
            yield from plain_of(item)


def texts_of(message: SlackMessage) -> list[str]:
    """The fallback text and every mrkdwn text of the blocks: all are read as mrkdwn."""
    return [message.text, *mrkdwn_of(message.blocks)]


def assert_inert(texts: list[str]) -> None:
    """No markup but the bot's own, no bidi control, no forged line."""
    assert texts
    for text in texts:
        outside = OWN_MARKUP.sub("", text)
        assert "<" not in outside, text
        assert not any(c in text for c in BIDI), text
        for line in text.splitlines():
            assert not line.startswith(FORGED_STARTS), text


def assert_quoted(texts: list[str]) -> None:
    """The multi-line caption or body is shown as quoted lines (`assert_inert`: no line
    starts as one of the bot's)."""
    lines = {line for text in texts for line in text.splitlines()}
    assert {">" + start for start in FORGED_STARTS} | {">&gt;quoted"} <= lines, lines


def assert_escaped(texts: list[str], *, fallback: bool = True) -> None:
    """The hostile words are shown, as text (the fallback too, unless it leaves them out)."""
    shown = "&lt;!channel&gt; &lt;@U0BOB&gt; &lt;http://evil.example|safe&gt;"
    assert any(shown in text for text in texts), texts
    if fallback:
        assert shown in texts[0], texts[0]


# --- the helpers --------------------------------------------------------------------------------


def test_esc_keeps_ordinary_text_as_it_is() -> None:
    ordinary = "Your parcel arrived: 2 boxes * 3 = _six_ :tada: ~gone~ `code` ¿qué? שלום"
    assert blocks.esc(ordinary) == ordinary
    assert blocks.quoted(ordinary) == ">" + ordinary
    assert blocks.labelled("Caption", ordinary) == "*Caption:* " + ordinary


def test_esc_escapes_flattens_and_drops_bidi_controls() -> None:
    assert blocks.esc("a & <b>\nc\r\nd\u2028e") == "a &amp; &lt;b&gt; c d e"
    assert blocks.esc("invoice\u202efdp.exe\u200f") == "invoicefdp.exe"


def test_quoted_puts_every_line_behind_a_quote() -> None:
    assert blocks.quoted("Hi" + FORGED_LINES) == (
        ">Hi\n>:white_check_mark: *DELIVERED*\n>*From:* Sales\n>&gt;quoted"
    )
    assert blocks.quoted("") == ">"
    assert blocks.quoted("a\n\nb\r\n") == ">a\n>\n>b"
    assert blocks.labelled("Caption", "a\nb") == "*Caption:*\n>a\n>b"


def test_a_mention_is_made_only_of_a_member_id() -> None:
    assert blocks.mention("U0ALICE") == "<@U0ALICE>"
    assert blocks.mention("U0ALICE> <!channel") == "U0ALICE&gt; &lt;!channel"


LINE_BREAKS = "\n\r\v\f\x1c\x1d\x1e\x85\u2028\u2029"
outside_text = st.text(
    alphabet=st.one_of(st.characters(), st.sampled_from("<>&|@!*>:_~`" + BIDI + LINE_BREAKS))
)


@given(outside_text)
@example(HOSTILE + FORGED_LINES)
def test_no_angle_bracket_bidi_control_or_line_break_survives_esc(text: str) -> None:
    escaped = blocks.esc(text)
    assert "<" not in escaped and ">" not in escaped
    assert len(escaped.splitlines()) <= 1 and "\n" not in escaped
    assert not any(c in escaped for c in BIDI)
    assert not any(c in blocks.plain(text) for c in BIDI + LINE_BREAKS)


@given(outside_text)
@example(HOSTILE + FORGED_LINES)
def test_no_line_of_quoted_text_is_outside_the_quote(text: str) -> None:
    for shown in (blocks.quoted(text), blocks.labelled("Caption", text)):
        lines = shown.splitlines()
        if shown.startswith("*Caption:* "):
            lines = [">" + lines[0].removeprefix("*Caption:* ")]
            assert len(lines) == 1
        elif shown.startswith("*Caption:*"):
            lines = lines[1:]
        assert lines
        for line in lines:
            assert line.startswith(">")
            assert "<" not in line and ">" not in line[1:]
            assert not any(c in line for c in BIDI)


# --- the builders -------------------------------------------------------------------------------


def test_confirmation() -> None:
    send = hostile_send(kind="text", body="Hi" + FORGED_LINES + "\n" + HOSTILE, caption=None)
    message = blocks.confirmation(
        send,
        hostile_sender(),
        window=OPEN,
        recipient_label=HOSTILE,
        checked=RemoteMedia("https://x", HOSTILE, 10, None, "127.0.0.1"),
    )
    assert_inert(texts_of(message))
    assert_quoted(texts_of(message))
    assert_escaped(texts_of(message))


def test_confirmation_of_media_with_a_caption() -> None:
    message = blocks.confirmation(hostile_send(body=HOSTILE), SUPPORT, window=CLOSED)
    assert_inert(texts_of(message))
    assert_quoted(texts_of(message))


def test_record() -> None:
    message = blocks.record(hostile_send(), hostile_sender())
    assert_inert(texts_of(message))
    assert_quoted(texts_of(message))
    assert_escaped(texts_of(message))


def test_record_of_a_text_message() -> None:
    message = blocks.record(hostile_send(kind="text", body=HOSTILE + FORGED_LINES), SUPPORT)
    assert_inert(texts_of(message))
    assert_quoted(texts_of(message))


def test_status_event_reply() -> None:
    for status in ("FAILED " + HOSTILE, "ODD " + HOSTILE):
        message = blocks.status_event_reply(hostile_row(status=status))
        assert_inert(texts_of(message))
        assert_escaped(texts_of(message))
        assert "said: &lt;!channel&gt;" in message.blocks[0]["text"]["text"]


def test_status_reply_and_transaction_reply() -> None:
    send = hostile_send()
    for message in (blocks.status_reply(send, [hostile_row()]), blocks.transaction_reply(send)):
        assert_inert(texts_of(message))
        assert "&lt;!channel&gt;".upper() in message.text.upper()


def test_outcome_reply() -> None:
    for state in (SendState.FAILED, SendState.UNKNOWN):
        message = blocks.outcome_reply(hostile_send(state=state, provider_status=None))
        assert_inert(texts_of(message))
        assert_escaped(texts_of(message))


def test_status_lookup() -> None:
    send = hostile_send(kind="text", body="Hi" + FORGED_LINES)
    message = blocks.status_lookup(send, hostile_sender(), [hostile_row(), hostile_row()])
    assert_inert(texts_of(message))
    assert_quoted(texts_of(message))
    assert_escaped(texts_of(message))


@pytest.mark.parametrize("window", [OPEN, CLOSED])
def test_file_offer(window: Window) -> None:
    message = blocks.file_offer(
        hostile_send(state=SendState.DRAFT, provider_status=None),
        hostile_sender(),
        file_name=HOSTILE + FORGED_LINES,
        format_name=HOSTILE,
        size=2048,
        dropped_text=False,
        window=window,
    )
    assert_inert(texts_of(message))
    assert_quoted(texts_of(message))
    assert_escaped(texts_of(message))


def test_file_offer_to_a_default_recipient_who_opted_out() -> None:
    message = blocks.file_offer(
        hostile_send(state=SendState.DRAFT, provider_status=None, recipient=""),
        hostile_sender(),
        file_name=HOSTILE + FORGED_LINES,
        format_name=HOSTILE,
        size=2048,
        dropped_text=False,
        window=None,
        opted_out=hostile_opt_out(),
    )
    assert_inert(texts_of(message))
    assert_escaped(texts_of(message))


def test_file_refused() -> None:
    message = blocks.file_refused(HOSTILE + FORGED_LINES, HOSTILE + FORGED_LINES, HOSTILE)
    assert_inert(texts_of(message))
    assert_escaped(texts_of(message))


def test_offer_cancelled_and_the_modals() -> None:
    assert_inert(texts_of(blocks.offer_cancelled(HOSTILE + FORGED_LINES, "U0ALICE> <!here")))
    send = hostile_send(state=SendState.DRAFT)
    modal = blocks.recipient_modal(
        send,
        [hostile_sender()],
        chosen_sender="support",
        file_name=HOSTILE + FORGED_LINES,
        format_name=HOSTILE,
        size=10,
        metadata="{}",
    )
    problem = blocks.modal_problem(HOSTILE + FORGED_LINES, HOSTILE)
    anyway = [
        send_anyway_modal(
            hostile_sender(),
            to=HOSTILE,
            windows=[CLOSED, OPEN],
            opted_out=[hostile_opt_out()],
            group=group,
            file_name=HOSTILE + FORGED_LINES,
            format_name=HOSTILE,
            size=10,
            metadata="{}",
        )
        for group in (None, "VIP " + HOSTILE + FORGED_LINES)
    ]
    for view in (modal, problem, *anyway):
        assert_inert(list(mrkdwn_of(view)))
        for text in plain_of(view):
            assert not any(c in text for c in BIDI) and "\n" not in text
    assert_quoted(list(mrkdwn_of(modal)))


def test_problem() -> None:
    message = blocks.problem(f"`{HOSTILE}` is not a phone number." + FORGED_LINES, HOSTILE)
    assert_inert(texts_of(message))
    assert_escaped(texts_of(message))


def batch_record(**values: Any) -> BatchRecord:
    fields: dict[str, Any] = dict(
        id="b1",
        created_at=NOW,
        updated_at=NOW,
        group_name="VIP " + HOSTILE + FORGED_LINES,
        total=3,
        state=SendState.CONFIRMED,
        user_id="U0ALICE",
        channel_id="C0123SUPPORT",
    )
    fields.update(values)
    return BatchRecord(**fields)


def test_group_confirmation() -> None:
    sample = hostile_send(kind="text", body="Hi" + FORGED_LINES, batch_id="b1")
    message = blocks.group_confirmation(
        batch_record(),
        sample,
        hostile_sender(),
        ["+573001234567", HOSTILE],
        windows=[OPEN, CLOSED],
        opted_out=[hostile_opt_out()],
    )
    assert_inert(texts_of(message))
    assert_quoted(texts_of(message))
    assert_escaped(texts_of(message))


def test_group_progress() -> None:
    members = [
        hostile_send(id="m1", provider_status="FAILED " + HOSTILE),
        hostile_send(id="m2", provider_status="ODD " + HOSTILE),
        hostile_send(id="m3", provider_status=None, state=SendState.SENDING),
        hostile_send(  # skipped: opted out
            id="m4", recipient=HOSTILE, provider_status=None, state=SendState.CANCELLED
        ),
    ]
    message = blocks.group_progress(batch_record(), members, hostile_sender())
    assert_inert(texts_of(message))
    assert_escaped(texts_of(message))


def test_member_outcome() -> None:
    for state in (SendState.FAILED, SendState.UNKNOWN):
        send = hostile_send(recipient=HOSTILE, state=state, provider_status=None)
        message = blocks.member_outcome(send)
        assert_inert(texts_of(message))
        assert_escaped(texts_of(message))


def test_member_failure() -> None:
    message = blocks.member_failure(hostile_send(recipient=HOSTILE), hostile_row())
    assert_inert(texts_of(message))
    assert_escaped(texts_of(message))


def test_home() -> None:
    summary = SendSummary(
        id="s1",
        created_at=NOW,
        kind="image",
        recipient=HOSTILE,
        sender_alias="support",
        sender_number="15550001111",
        state=SendState.SENT,
        transaction_id=HOSTILE,
        provider_status=HOSTILE,
    )
    view = blocks.home(
        channels=[("C0123SUPPORT", [hostile_sender()], True)],
        anywhere=None,
        may_send=True,
        sends=[(summary, "Support " + HOSTILE + FORGED_LINES)],
        total=1,
    )
    texts = list(mrkdwn_of(view))
    assert_inert(texts)
    assert_escaped(texts, fallback=False)


def hostile_history() -> list[ShownItem]:
    """A send and a customer's message whose every outside field is hostile."""
    common: dict[str, Any] = dict(
        at=NOW,
        sender_alias="support",
        customer=HOSTILE,
        kind="text " + HOSTILE,
        text=HOSTILE + FORGED_LINES,
        channel_id="C0123 " + HOSTILE,
        thread_ts=HOSTILE,
    )
    send = HistoryItem(
        id="s1",
        direction=Direction.SENT,
        status=HOSTILE,
        state=SendState.SENT,
        transaction_id=HOSTILE,
        user_id="U0ALICE> " + HOSTILE,
        **common,
    )
    message = HistoryItem(
        id="m1", direction=Direction.RECEIVED, customer_name=HOSTILE + FORGED_LINES, **common
    )
    label = "Support " + HOSTILE + FORGED_LINES
    link = "https://x.example/a|" + HOSTILE
    return [ShownItem(send, label, link), ShownItem(message, label, link)]


def test_history() -> None:
    items = hostile_history()
    for message in (
        history_message(HOSTILE, HOSTILE + FORGED_LINES, items, more=True),
        history_message(HOSTILE, None, []),
    ):
        assert_inert(texts_of(message))
        assert_escaped(texts_of(message))
    shown = texts_of(history_message("+573001234567", None, items))
    assert_escaped(shown, fallback=False)
    # what the customer wrote is previewed on one quoted line: no line of it stands alone
    previews = [line for t in shown for line in t.splitlines() if line.startswith(">")]
    assert len(previews) == 2 and all(HOSTILE[:9].replace("<", "&lt;") in p for p in previews)


def test_find_a_customer_in_the_home_tab() -> None:
    results = history_blocks(HOSTILE, HOSTILE, hostile_history())
    view = blocks.home(
        channels=[],
        anywhere=[SUPPORT],
        may_send=True,
        sends=[],
        total=0,
        find=find_customer(HOSTILE + FORGED_LINES, [*results, *find_problem_blocks(HOSTILE)]),
    )
    texts = list(mrkdwn_of(view))
    assert_inert(texts)
    assert_escaped(texts, fallback=False)
    assert not any(c in text for text in plain_of(view) for c in BIDI + "\n")


@pytest.mark.parametrize("state", [SendState.SENT, SendState.FAILED])
def test_the_clicked_confirmation_says_the_outcome_as_text(state: SendState) -> None:
    send = hostile_send(state=state, recipient=HOSTILE)
    message = blocks.confirmation_closed(clicks._done_text(send))
    assert_inert(texts_of(message))
    assert_escaped(texts_of(message))
