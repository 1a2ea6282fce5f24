"""The lists made of conversations: those waiting for a reply (the App Home) and the do-not-send
lists (`/whatsapp optouts`), as the store finds them on SQLite and PostgreSQL and as they are
shown."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from bot.blocks import home
from bot.blocks.conversations import opt_out_list
from bot.blocks.home_tab import WaitingReply
from bot.core.config import Sender
from bot.core.records import ConversationRecord
from bot.core.window import Window
from bot.store import Store
from tests.test_escaping import (
    FORGED_LINES,
    HOSTILE,
    assert_escaped,
    assert_inert,
    mrkdwn_of,
    texts_of,
)

SUPPORT = Sender("support", "15550001111", "Support")
SALES = Sender("sales", "15550002222", "Sales")
T0 = datetime(2026, 12, 4, 12, 0, tzinfo=UTC)


def customer_wrote(
    store: Store,
    customer: str,
    minutes: int,
    *,
    sender: str = "support",
    text: str = "hola",
    channel: str | None = "C1",
    optout: str | None = None,
    answerable: bool = True,
) -> str:
    """A customer's message `minutes` after T0, shown in `channel` (None: not shown yet)."""
    taken = store.take_inbound(
        sender_alias=sender,
        customer=customer,
        answerable=answerable,
        message={
            "dedup_key": f"id:{sender}:{customer}:{minutes}",
            "shape": "json",
            "kind": "text",
            "text": text,
            "customer_name": f"Name of {customer}",
            "attachments": "[]",
            "raw": "{}",
        },
        optout=optout,
        opt_out_why=f'they wrote "{text}"' if optout == "out" else None,
        at=T0 + timedelta(minutes=minutes),
    )
    if channel is not None:
        store.set_conversation_fields(
            taken.conversation_id, channel_id=channel, thread_ts=f"1733300{minutes:03d}.000100"
        )
    return taken.conversation_id


def customers(found: list[ConversationRecord]) -> list[str]:
    return [c.customer for c in found]


def test_waiting_conversations_newest_first_shown_answerable_and_not_opted_out(
    store: Store,
) -> None:
    customer_wrote(store, "+573000000001", 1)
    customer_wrote(store, "+573000000002", 5)
    customer_wrote(store, "+573000000003", 3, channel=None)  # not shown in Slack yet
    customer_wrote(store, "+573000000004", 4, answerable=False)  # a number that cannot be read
    customer_wrote(store, "+573000000005", 2)
    customer_wrote(store, "+573000000005", 6, text="STOP", optout="out")
    customer_wrote(store, "+573000000006", 7)
    store.conversation_answered("support", "+573000000006")

    found = store.waiting_conversations()

    assert customers(found) == ["+573000000002", "+573000000001"]
    assert found[0].last_customer_at == T0 + timedelta(minutes=5)
    assert customers(store.waiting_conversations(limit=1)) == ["+573000000002"]


def test_waiting_conversations_in_some_channels_with_some_senders(store: Store) -> None:
    customer_wrote(store, "+573000000001", 1, channel="C1")
    customer_wrote(store, "+573000000002", 2, channel="C2")
    customer_wrote(store, "+573000000003", 3, channel="C1", sender="sales")
    customer_wrote(store, "+573000000004", 4, channel="C3")

    def where(places: dict[str, tuple[str, ...]]) -> list[str]:
        return customers(store.waiting_conversations(places=places))

    assert where({"C1": ("support", "sales")}) == ["+573000000003", "+573000000001"]
    assert where({"C1": ("support",), "C2": ("support",)}) == ["+573000000002", "+573000000001"]
    assert where({"C1": ("sales",)}) == ["+573000000003"]
    assert where({}) == []
    assert len(store.waiting_conversations(places=None)) == 4


def test_home_watchers_are_those_who_opened_it_lately(store: Store) -> None:
    now = datetime.now(UTC)
    store.note_home_opened("U0ALICE", at=now - timedelta(hours=2))
    store.note_home_opened("U0BOB", at=now - timedelta(days=3))
    assert store.home_watchers(now - timedelta(hours=24)) == ["U0ALICE"]
    assert sorted(store.home_watchers(now - timedelta(days=7))) == ["U0ALICE", "U0BOB"]


def test_opted_out_of_some_senders_newest_first(store: Store) -> None:
    customer_wrote(store, "+573000000001", 1, text="STOP", optout="out")
    customer_wrote(store, "+573000000002", 2, text="baja", optout="out", sender="sales")
    customer_wrote(store, "+573000000003", 3, text="stop", optout="out")
    customer_wrote(store, "+573000000003", 4, text="START", optout="in")
    customer_wrote(store, "+573000000004", 5)
    assert store.opt_out("support", "+573000000009", "the provider reported BLACKLISTED")

    both = store.opted_out(["support", "sales"])
    assert customers(both)[1:] == ["+573000000002", "+573000000001"]
    assert both[0].customer == "+573000000009"  # opted out now, after T0
    first = both[-1]
    assert (first.opted_out_at, first.opted_out_why) == (
        T0 + timedelta(minutes=1),
        'they wrote "STOP"',
    )
    assert customers(store.opted_out(["sales"])) == ["+573000000002"]
    assert store.opted_out([]) == []


# as `/whatsapp optouts` shows them


def opted_out(n: int, **values: Any) -> ConversationRecord:
    at = T0 + timedelta(minutes=n)
    base: dict[str, Any] = dict(
        id=f"c{n}",
        created_at=at,
        updated_at=at,
        sender_alias="support",
        customer=f"+57300000{n:04d}",
        opted_out_at=at,
        opted_out_why='they wrote "STOP"',
    )
    base.update(values)
    return ConversationRecord(**base)


def test_the_list_says_number_name_sender_when_and_why() -> None:
    entries = [
        (opted_out(2, customer_name="Ana Gómez"), SUPPORT),
        (opted_out(1, sender_alias="sales", opted_out_why="BLACKLISTED"), SALES),
    ]
    message = opt_out_list([SUPPORT, SALES], entries)
    text = "\n".join(texts_of(message))
    assert "*Do-not-send list* of *Support* (+15550001111) or *Sales* (+15550002222)" in text
    assert "2 numbers, newest first" in text
    first, second = text.index("Ana Gómez"), text.index("+573000000001")
    assert first < second
    when = int((T0 + timedelta(minutes=2)).timestamp())
    assert (
        f"• *Ana Gómez* (+573000000002) · from Support · <!date^{when}^" in text
        and "they wrote &quot;STOP&quot;" not in text
        and 'they wrote "STOP"' in text
    )
    assert "from Sales" in text and "BLACKLISTED" in text
    assert "opt-in word" in text


def test_an_empty_list_says_nobody_opted_out() -> None:
    message = opt_out_list([SUPPORT], [])
    assert message.text == (
        ":white_check_mark: Nobody has opted out of messages from *Support* (+15550001111)."
    )
    both = opt_out_list([SUPPORT, SALES], [])
    assert "*Support* (+15550001111) or *Sales* (+15550002222)" in both.text


def test_a_long_list_is_cut_within_slacks_limits() -> None:
    entries = [(opted_out(n, customer_name="N" * 80), SUPPORT) for n in range(500)]
    message = opt_out_list([SUPPORT], entries)
    assert len(message.blocks) <= 50
    for block in message.blocks:
        texts = [block.get("text", {}).get("text", "")]
        texts += [e.get("text", "") for e in block.get("elements", [])]
        assert all(len(t) <= 3000 for t in texts)
    shown = "\n".join(texts_of(message))
    assert shown.count("• ") == 200
    assert "…and 300 more, older." in shown and "500 numbers" in shown


def test_hostile_names_and_reasons_are_shown_as_text() -> None:
    sender = Sender("support", "15550001111", "Support " + HOSTILE + FORGED_LINES)
    entry = opted_out(1, customer_name=HOSTILE + FORGED_LINES, opted_out_why=HOSTILE + FORGED_LINES)
    message = opt_out_list([sender], [(entry, sender)])
    assert_inert(texts_of(message))
    assert_escaped(texts_of(message), fallback=False)
    empty = opt_out_list([sender], [])
    assert_inert(texts_of(empty))
    assert_escaped(texts_of(empty))


def test_hostile_names_in_the_home_tabs_list_are_shown_as_text() -> None:
    sender = Sender("support", "15550001111", "Support " + HOSTILE + FORGED_LINES)
    record = opted_out(
        1,
        customer_name=HOSTILE + FORGED_LINES,
        opted_out_at=None,
        channel_id="C0123SUPPORT",
        thread_ts="1733300000.000100",
        last_customer_at=T0,
        waiting_since=T0,
    )
    item = WaitingReply(record, sender, Window(T0, 24.0, T0 + timedelta(hours=1)))
    view = home(channels=[], anywhere=[sender], may_send=True, sends=[], total=0, waiting=[item])
    texts = list(mrkdwn_of(view))
    assert_inert(texts)
    assert_escaped(texts, fallback=False)
    assert any("in <#C0123SUPPORT>" in text for text in texts)
