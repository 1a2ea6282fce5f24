"""Customer messages into the store, once each, on SQLite and PostgreSQL."""

from __future__ import annotations

import threading
from datetime import timedelta
from typing import Any

from bot.core.records import utcnow
from bot.store import InboundTaken, Store, inbound_messages

CUSTOMER = "+573001234567"


def take(store: Store, key: str, text: str = "hi", **options: Any) -> InboundTaken:
    return store.take_inbound(
        sender_alias=options.pop("sender", "support"),
        customer=options.pop("customer", CUSTOMER),
        answerable=True,
        message={
            "dedup_key": key,
            "shape": "json",
            "kind": "text",
            "text": text,
            "attachments": "[]",
            "raw": "{}",
            **options.pop("message", {}),
        },
        optout=options.pop("optout", None),
        **options,
    )


def test_a_message_is_kept_once_and_its_conversation_notes_it(store: Store) -> None:
    first = take(store, "id:1", message={"customer_name": "Ana"})
    again = take(store, "id:1", message={"customer_name": "Someone else"})
    assert first.new and not again.new
    assert again.conversation_id == first.conversation_id
    conversation = store.get_conversation(first.conversation_id)
    assert conversation is not None
    assert conversation.customer_name == "Ana" and conversation.waiting_since is not None
    assert conversation.dirty and conversation.version == 1
    with store.engine.connect() as conn:
        assert len(conn.execute(inbound_messages.select()).all()) == 1


def test_the_same_key_for_another_sender_is_another_message(store: Store) -> None:
    assert take(store, "id:1").new and take(store, "id:1", sender="sales").new


def test_opt_out_and_in_words_change_the_do_not_send_list(store: Store) -> None:
    out = take(store, "id:1", "STOP", optout="out", opt_out_why='they wrote "STOP"')
    conversation = store.get_conversation(out.conversation_id)
    assert conversation is not None and conversation.opted_out
    assert conversation.opted_out_why == 'they wrote "STOP"'
    assert conversation.waiting_since is None  # an opt-out waits for no reply
    take(store, "id:2", "START", optout="in")
    conversation = store.get_conversation(out.conversation_id)
    assert conversation is not None and not conversation.opted_out
    assert conversation.opted_in_at is not None and conversation.waiting_since is not None


def test_a_free_render_lease_is_taken_and_a_held_one_reported(store: Store) -> None:
    until = utcnow() + timedelta(seconds=5)
    first = take(store, "id:1", claim=("worker-a", until))
    assert first.lease.owner == "worker-a"
    second = take(store, "id:2", claim=("worker-b", until))
    assert second.lease.owner == "worker-a"  # held: b leaves the pass to a


def test_messages_at_once_for_a_new_customer_make_one_conversation(store: Store) -> None:
    barrier = threading.Barrier(8)
    taken: list[InboundTaken] = []

    def write(n: int) -> None:
        barrier.wait()
        taken.append(take(store, f"id:{n}", customer="+573001230000"))

    threads = [threading.Thread(target=write, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(taken) == 8 and all(t.new for t in taken)
    assert len({t.conversation_id for t in taken}) == 1
    conversation = store.get_conversation(taken[0].conversation_id)
    assert conversation is not None and conversation.version == 8
