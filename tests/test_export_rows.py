"""`bot.store.export_rows`: sends and customer messages of a range, oldest first, on SQLite
and PostgreSQL."""

from __future__ import annotations

import json
import secrets
from collections.abc import Generator
from datetime import UTC, datetime, timedelta, timezone
from typing import Any, NamedTuple

import pytest

from bot.store import SendState, Store
from bot.store.export_rows import ExportedMessage, ExportedSend, export_rows

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def send_at(store: Store, minutes: float, state: SendState = SendState.SENT, **values: Any) -> str:
    send_id = secrets.token_hex(16)
    store.add_send(
        id=send_id,
        created_at=T0 + timedelta(minutes=minutes),
        source="slash",
        user_id="U1",
        channel_id="C1",
        sender_alias="support",
        sender_number="15550001111",
        recipient="+573001234567",
        kind="image",
        body="https://x.example/a.png",
        caption="Hi",
        external_id=secrets.token_hex(16),
        callback_token=secrets.token_urlsafe(24),
        state=state,
        **values,
    )
    return send_id


def customer_wrote(
    store: Store, minutes: float, text: str = "hola", customer: str = "+573001234567"
) -> str:
    taken = store.take_inbound(
        sender_alias="support",
        customer=customer,
        answerable=True,
        message={
            "dedup_key": secrets.token_hex(8),
            "shape": "json",
            "kind": "text",
            "text": text,
            "customer_name": "Ana",
            "attachments": "[]",
            "raw": "{}",
        },
        optout=None,
        at=T0 + timedelta(minutes=minutes),
    )
    return taken.message_id


def exported(store: Store, **kwargs: Any) -> list[ExportedSend | ExportedMessage]:
    return list(export_rows(store, **kwargs))


def test_sends_and_messages_merged_oldest_first_with_each_send_s_statuses(store: Store) -> None:
    late = send_at(store, 10, transaction_id="tx-late", provider_status="READ")
    early = send_at(store, 1, transaction_id="tx-early", error=None)
    store.add_status(late, "DELIVERED", rank=40, at=T0 + timedelta(minutes=12), detail="ok")
    store.add_status(late, "SENT", rank=30, at=T0 + timedelta(minutes=11))
    store.add_status(late, "READ", rank=50, at=T0 + timedelta(minutes=13))
    message = customer_wrote(store, 5, "¿llegó?")

    rows = exported(store)

    assert [row.id for row in rows] == [early, message, late]
    first, middle, last = rows
    assert isinstance(first, ExportedSend) and json.loads(first.statuses or "[]") == []
    assert first.at == "2026-03-01T12:01:00.000000Z"
    assert isinstance(middle, ExportedMessage)
    assert (middle.text, middle.customer) == ("¿llegó?", "+573001234567")
    assert middle.customer_name == "Ana"
    assert isinstance(last, ExportedSend)
    # In the order they arrived, not the order they were stored or their names'.
    assert json.loads(last.statuses or "") == [
        {"status": "SENT", "at": "2026-03-01T12:11:00.000000Z", "detail": None},
        {"status": "DELIVERED", "at": "2026-03-01T12:12:00.000000Z", "detail": "ok"},
        {"status": "READ", "at": "2026-03-01T12:13:00.000000Z", "detail": None},
    ]
    assert (last.transaction_id, last.provider_status, last.state) == ("tx-late", "READ", "sent")
    assert (last.user_id, last.channel_id, last.sender_number) == ("U1", "C1", "15550001111")
    # The customer wrote to that sender, so the send carries the name they gave.
    assert last.customer_name == "Ana"

    as_text = exported(store, statuses="text")
    assert [row.statuses for row in as_text if isinstance(row, ExportedSend)] == [
        None,
        "SENT@2026-03-01T12:11:00.000000Z DELIVERED@2026-03-01T12:12:00.000000Z "
        "READ@2026-03-01T12:13:00.000000Z",
    ]


def test_only_sends_someone_confirmed(store: Store) -> None:
    kept = {
        state: send_at(store, minute, state)
        for minute, state in enumerate(SendState)
        if state not in (SendState.DRAFT, SendState.CANCELLED)
    }
    send_at(store, 20, SendState.DRAFT)
    send_at(store, 21, SendState.CANCELLED)

    rows = exported(store)

    assert [row.id for row in rows] == list(kept.values())
    assert {row.state for row in rows if isinstance(row, ExportedSend)} == {
        "confirmed",
        "sending",
        "sent",
        "failed",
        "unknown",
    }


def test_since_is_included_and_until_is_not(store: Store) -> None:
    ids = [send_at(store, minute) for minute in range(5)]
    messages = [customer_wrote(store, minute + 0.5) for minute in range(5)]

    rows = exported(store, since=T0 + timedelta(minutes=1), until=T0 + timedelta(minutes=3))
    assert [row.id for row in rows] == [ids[1], messages[1], ids[2], messages[2]]
    assert [row.id for row in exported(store, since=T0 + timedelta(minutes=4))] == [
        ids[4],
        messages[4],
    ]
    assert [row.id for row in exported(store, until=T0 + timedelta(microseconds=1))] == [ids[0]]
    # An offset is a moment like any other: 07:01 at UTC-5 is 12:01 UTC.
    bogota = timezone(timedelta(hours=-5))
    since = datetime(2026, 3, 1, 7, 1, tzinfo=bogota)
    rows = exported(store, since=since, until=T0.replace(hour=13))
    assert [row.id for row in rows][:2] == [ids[1], messages[1]]
    assert len(rows) == 8


def test_many_chunks_keep_each_send_s_statuses_and_the_order(store: Store) -> None:
    ids = [send_at(store, minute) for minute in range(7)]
    for number, send_id in enumerate(ids):
        for rank, status in enumerate(("SENT", "DELIVERED", "READ")[: 1 + number % 3]):
            store.add_status(send_id, status, rank=rank, at=T0 + timedelta(hours=1, minutes=rank))
    messages = [customer_wrote(store, minute + 0.5, f"m{minute}") for minute in range(0, 7, 2)]

    rows = exported(store, chunk=2)

    sends_out = [row for row in rows if isinstance(row, ExportedSend)]
    assert [row.id for row in sends_out] == ids
    assert [len(json.loads(row.statuses or "")) for row in sends_out] == [1, 2, 3, 1, 2, 3, 1]
    as_text = exported(store, chunk=2, statuses="text")
    texts = [row.statuses or "" for row in as_text if isinstance(row, ExportedSend)]
    assert [text.count("@") for text in texts] == [1, 2, 3, 1, 2, 3, 1]
    assert [row.id for row in rows if isinstance(row, ExportedMessage)] == messages
    assert [row.at for row in rows] == sorted(row.at for row in rows)


def test_sends_of_the_same_moment_in_a_stable_order(store: Store) -> None:
    ids = sorted(send_at(store, 0) for _ in range(5))
    message = customer_wrote(store, 0)
    assert [row.id for row in exported(store)] == [*ids, message]


def test_stopping_early_gives_the_connection_back(store: Store) -> None:
    for minute in range(10):
        send_at(store, minute)
        customer_wrote(store, minute + 0.5)
    for _ in range(30):  # more than the pool holds: each one's connection was returned
        rows = export_rows(store, chunk=3)
        assert next(rows).id
        rows.close()
    assert len(exported(store)) == 20


def test_an_empty_database_exports_nothing(store: Store) -> None:
    assert exported(store) == []


@pytest.mark.parametrize("minutes", [0, 59.999])
def test_microseconds_count_at_the_edges(store: Store, minutes: float) -> None:
    send_id = send_at(store, minutes)
    at = T0 + timedelta(minutes=minutes)
    assert [row.id for row in exported(store, since=at)] == [send_id]
    assert exported(store, until=at) == []
    assert exported(store, since=at + timedelta(microseconds=1)) == []


def test_times_are_utc_text_of_one_width_whatever_was_stored(
    store: Store, database_url: str
) -> None:
    send_id = send_at(store, 0)
    if store.engine.dialect.name == "sqlite":  # a time written without a fraction
        with store.engine.begin() as conn:
            conn.exec_driver_sql(
                "UPDATE sends SET created_at = '2026-03-01 12:00:00' WHERE id = ?", (send_id,)
            )
        assert [row.at for row in exported(store)] == ["2026-03-01T12:00:00.000000Z"]
        return
    # PostgreSQL answers in the session's time zone; the export is UTC all the same.
    away = Store.from_url(f"{database_url}?options=-c%20timezone%3DAmerica/Bogota", pool_size=1)
    try:
        with away.engine.connect() as conn:
            assert conn.exec_driver_sql("SHOW timezone").scalar() == "America/Bogota"
        assert [row.at for row in exported(away)] == ["2026-03-01T12:00:00.000000Z"]
        since = datetime(2026, 3, 1, 7, tzinfo=timezone(timedelta(hours=-5)))
        assert [row.id for row in exported(away, since=since)] == [send_id]
    finally:
        away.close()


def test_a_failure_while_reading_reaches_the_reader(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    from bot.store import export_rows as module

    for minute in range(5):
        send_at(store, minute)

    def broken(*_args: Any) -> Any:
        raise RuntimeError("the messages are unreadable")

    monkeypatch.setattr(module, "_messages_statement", broken)
    with pytest.raises(RuntimeError, match="the messages are unreadable"):
        exported(store)
    monkeypatch.undo()
    assert len(exported(store)) == 5  # the connection came back usable


def test_the_export_reads_the_database_as_it_was_when_it_started(store: Store) -> None:
    ids = [send_at(store, minute) for minute in range(0, 400, 2)]
    rows = export_rows(store, chunk=10)
    assert next(rows).id == ids[0]
    # Written while the export runs: not in it (all of it is one snapshot).
    late = send_at(store, 3)
    store.add_status(ids[-1], "READ", rank=50, at=T0 + timedelta(days=1))
    customer_wrote(store, 5)
    rest = list(rows)
    assert [row.id for row in rest] == ids[1:]
    assert late not in {row.id for row in rest} and rest[-1].statuses in (None, "[]")
    assert len(exported(store)) == len(ids) + 2


@pytest.mark.parametrize("seed", range(20))
def test_merging_in_time_order_batch_by_batch(seed: int) -> None:
    """Two streams of batches, each in time order (with moments shared within and between
    them), come out in one time order, the first stream's records of a moment first, and
    no more than a few batches are held at once."""
    import random

    from bot.store.export_rows import _in_time_order

    chooser = random.Random(seed)
    size = chooser.choice([1, 2, 3, 7])

    class Record(NamedTuple):
        at: str
        stream: int
        number: int

    def stream(index: int, count: int, spread: int) -> list[Record]:
        moments = sorted(chooser.randrange(spread) for _ in range(count))
        return [Record(f"{moment:06d}", index, number) for number, moment in enumerate(moments)]

    first = stream(0, chooser.randrange(0, 60), chooser.choice([5, 50, 1000]))
    second = stream(1, chooser.randrange(0, 60), chooser.choice([5, 50, 1000]))
    read = [0, 0]

    def batches(index: int, records: list[Record]) -> Generator[list[Any]]:
        for start in range(0, len(records), size):
            read[index] += 1
            yield list(records[start : start + size])

    moments = [record.at for record in [*first, *second]]
    ties = max((moments.count(moment) for moment in moments), default=0)
    out: list[Record] = []
    for batch in _in_time_order([batches(0, first), batches(1, second)]):
        assert batch
        out += batch
        held = (read[0] + read[1]) * size - len(out)
        assert held <= 2 * size + ties
    assert out == sorted([*first, *second], key=lambda r: (r.at, r.stream, r.number))
