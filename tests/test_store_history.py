"""A customer's history from the store, on SQLite and PostgreSQL: both kinds newest first,
the limit across them, only what the scope covers, each query walking its index."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa

from bot.core.access import SeenWith
from bot.core.history import Direction
from bot.store import SendState, Store
from bot.store.history_rows import _inbound_query, _sends_query
from tests.test_store_inbound import take

ANA = "+573001234567"
LUIS = "+573009876543"
T0 = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
EVERYWHERE = [SeenWith("support", None, True), SeenWith("sales", None, True)]


def at(minutes: int) -> datetime:
    return T0 + timedelta(minutes=minutes)


def sent(store: Store, minutes: int, **values: Any) -> str:
    """A send made `minutes` after T0 (sent, with a transactionId, unless told otherwise)."""
    send_id = secrets.token_hex(16)
    row: dict[str, Any] = {
        "id": send_id,
        "created_at": at(minutes),
        "source": "slash",
        "sender_alias": "support",
        "sender_number": "15550001111",
        "recipient": ANA,
        "kind": "text",
        "body": f"send at {minutes}",
        "external_id": secrets.token_hex(16),
        "callback_token": secrets.token_urlsafe(24),
        "state": SendState.SENT,
        "transaction_id": f"tx-{send_id[:8]}",
        "channel_id": "C1",
        "user_id": "U1",
        "message_ts": f"1700000{minutes:03d}.000100",
    }
    row.update(values)
    store.add_send(**row)
    return send_id


def received(store: Store, minutes: int, text: str | None = None, **values: Any) -> str:
    """A customer's message `minutes` after T0, shown in a thread of C1 unless told otherwise."""
    sender = values.pop("sender", "support")
    customer = values.pop("customer", ANA)
    taken = take(
        store,
        f"id:{secrets.token_hex(6)}",
        text or f"message at {minutes}",
        sender=sender,
        customer=customer,
        at=at(minutes),
        message={"customer_name": "Ana Gómez"},
    )
    shown = {"channel_id": "C1", "thread_ts": "1700000000.000100", "message_ts": "1.2"}
    shown.update(values)
    store.set_inbound_fields(taken.message_id, **shown)
    return taken.message_id


def test_both_kinds_newest_first_with_what_each_shows(store: Store) -> None:
    first = sent(store, 1, caption=None, provider_status="READ")
    message = received(store, 2, "¿Llegó?")
    last = sent(store, 3, kind="image", body="https://x.example/a.png", caption="Your parcel")

    items = store.history(ANA, EVERYWHERE)

    assert [i.id for i in items] == [last, message, first]
    assert [i.direction for i in items] == [Direction.SENT, Direction.RECEIVED, Direction.SENT]
    newest, answer, oldest = items
    assert (newest.kind, newest.text, newest.state) == ("image", "Your parcel", SendState.SENT)
    assert newest.transaction_id == f"tx-{last[:8]}" and newest.user_id == "U1"
    assert (newest.channel_id, newest.thread_ts) == ("C1", "1700000003.000100")
    assert (oldest.text, oldest.status) == ("send at 1", "READ")
    assert (answer.text, answer.customer_name, answer.status) == ("¿Llegó?", "Ana Gómez", None)
    assert (answer.channel_id, answer.thread_ts) == ("C1", "1700000000.000100")
    assert all(i.at.tzinfo is not None for i in items)


def test_the_limit_is_across_both_kinds(store: Store) -> None:
    for minute in range(0, 30, 2):
        sent(store, minute)
        received(store, minute + 1)
    sent(store, 100, sender_alias="sales", sender_number="15550002222")

    items = store.history(ANA, EVERYWHERE, limit=20)

    assert len(items) == 20
    assert [i.at for i in items] == sorted((i.at for i in items), reverse=True)
    assert items[0].sender_alias == "sales" and items[0].at == at(100)
    assert items[-1].at == at(11)  # the 19 newest of the rest, both kinds mixed
    assert {i.direction for i in items} == {Direction.SENT, Direction.RECEIVED}
    assert len(store.history(ANA, EVERYWHERE, limit=5)) == 5


def test_only_that_number_and_never_a_draft_or_a_cancelled_send(store: Store) -> None:
    kept = sent(store, 1)
    sent(store, 2, state=SendState.DRAFT, transaction_id=None)
    sent(store, 3, state=SendState.CANCELLED, transaction_id=None)
    waiting = sent(store, 4, state=SendState.CONFIRMED, transaction_id=None)
    sent(store, 5, recipient=LUIS)
    received(store, 6, customer=LUIS)
    mine = received(store, 7)

    assert [i.id for i in store.history(ANA, EVERYWHERE)] == [mine, waiting, kept]
    assert store.history("+570000000000", EVERYWHERE) == []
    assert store.history(ANA, []) == []


def test_only_the_senders_and_places_the_scope_covers(store: Store) -> None:
    in_c1 = sent(store, 1, channel_id="C1")
    in_c2 = sent(store, 2, channel_id="C2", user_id="U2")
    cli = sent(store, 3, channel_id=None, user_id=None, message_ts=None, source="cli")
    sales_c1 = sent(store, 4, sender_alias="sales", sender_number="15550002222")
    heard_c1 = received(store, 5)
    heard_c2 = received(store, 6, channel_id="C2")
    unshown = received(store, 7, channel_id=None, thread_ts=None, message_ts=None)
    sales_heard = received(store, 8, sender="sales")

    def ids(scope: list[SeenWith], user_id: str | None = None) -> set[str]:
        return {i.id for i in store.history(ANA, scope, user_id=user_id)}

    support_c1 = SeenWith("support", frozenset({"C1"}), unplaced=False)
    assert ids([support_c1]) == {in_c1, heard_c1}
    inbox = SeenWith("support", frozenset({"C1"}), unplaced=True)
    assert ids([inbox]) == {in_c1, heard_c1, cli, unshown}
    assert ids([SeenWith("sales", frozenset({"C1"}), False)]) == {sales_c1, sales_heard}
    # Someone's own sends are theirs to see wherever they were made.
    assert ids([support_c1], user_id="U2") == {in_c1, heard_c1, in_c2}
    assert ids(EVERYWHERE) == {
        in_c1,
        in_c2,
        cli,
        sales_c1,
        heard_c1,
        heard_c2,
        unshown,
        sales_heard,
    }
    assert ids([SeenWith("support", frozenset(), unplaced=False)]) == set()


def test_a_group_members_thread_is_its_groups(store: Store) -> None:
    store.add_batch(id="b" * 32, group_name="crew", total=1, channel_id="C1")
    store.update_batch("b" * 32, message_ts="1700000500.000100")
    member = sent(store, 1, batch_id="b" * 32, message_ts=None)
    in_thread = sent(store, 2, thread_ts="1700000400.000100", message_ts="1700000401.000100")

    items = {i.id: i for i in store.history(ANA, EVERYWHERE)}

    assert (items[member].channel_id, items[member].thread_ts) == ("C1", "1700000500.000100")
    assert items[in_thread].thread_ts == "1700000400.000100"


def test_a_shared_files_link_is_never_its_text(store: Store) -> None:
    store.add_media(
        id="m" * 32,
        expires_at=at(1000),
        content_type="image/png",
        size=1,
        sha256="0" * 64,
        data=b"x",
    )
    shared = sent(
        store, 1, kind="image", body="https://bot.example/media/secret", media_id="m" * 32
    )
    by_url = sent(store, 2, kind="document", body="https://x.example/d.pdf", file_name="d.pdf")
    bare = sent(store, 3, kind="image", body="https://x.example/a.png")

    items = {i.id: i.text for i in store.history(ANA, EVERYWHERE)}

    assert items == {shared: None, by_url: "d.pdf", bare: "https://x.example/a.png"}


def test_each_query_walks_its_index_on_sqlite(tmp_path: Any) -> None:
    store = Store.from_url(f"sqlite:///{tmp_path / 'plan.sqlite3'}")
    store.migrate()
    scope = [SeenWith("support", frozenset({"C1", "C2"}), True), SeenWith("sales", None, True)]
    try:
        with store.engine.connect() as conn:
            plans = []
            for query in (_sends_query(ANA, scope, "U1", 21), _inbound_query(ANA, scope, 21)):
                sql = str(query.compile(conn, compile_kwargs={"literal_binds": True}))
                plans.append(
                    " ".join(str(r[3]) for r in conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {sql}"))
                )
    finally:
        store.close()
    sends_plan, inbound_plan = plans
    assert (
        sends_plan.count("USING INDEX ix_sends_conversation (sender_alias=? AND recipient=?)") == 2
    )
    assert "SCAN sends" not in sends_plan
    assert "USING INDEX ix_inbound_messages_customer (customer=?)" in inbound_plan
    assert "TEMP B-TREE" not in inbound_plan  # read newest first from the index, LIMIT stops it


def test_postgresql_uses_the_indexes_too(store: Store) -> None:
    if store.engine.dialect.name != "postgresql":
        return
    for minute in range(40):
        sent(store, minute)
        received(store, minute)
    scope = [SeenWith("support", frozenset({"C1"}), True), SeenWith("sales", None, True)]
    with store.engine.connect() as conn:
        conn.exec_driver_sql("ANALYZE")
        conn.exec_driver_sql("SET enable_seqscan = off")
        plans = []
        for query in (_sends_query(ANA, scope, "U1", 21), _inbound_query(ANA, scope, 21)):
            sql = str(query.compile(conn, compile_kwargs={"literal_binds": True}))
            plans.append(" ".join(str(r[0]) for r in conn.execute(sa.text(f"EXPLAIN {sql}"))))
    assert "ix_sends_conversation" in plans[0]
    assert "ix_inbound_messages_customer" in plans[1]
