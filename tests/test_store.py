"""Contract tests for the store: the same on SQLite and PostgreSQL."""

from __future__ import annotations

import contextlib
import secrets
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from bot import store as store_module
from bot.store import SendState, Store, postgres, sqlite


def new_send(store: Store, **values: Any) -> str:
    send_id = secrets.token_hex(16)
    store.add_send(
        id=send_id,
        source="cli",
        sender_alias="support",
        sender_number="15550001111",
        recipient="+573001234567",
        kind="image",
        body="https://x.example/a.png",
        caption="Hi",
        external_id=secrets.token_hex(16),
        callback_token=secrets.token_urlsafe(24),
        **values,
    )
    return send_id


def test_a_send_keeps_everything_it_was_given(store: Store) -> None:
    send_id = new_send(store, team_id="T1", channel_id="C1", user_id="U1")
    send = store.get_send(send_id)
    assert send is not None
    assert (send.state, send.team_id, send.channel_id, send.user_id) == (
        SendState.DRAFT,
        "T1",
        "C1",
        "U1",
    )
    assert send.caption == "Hi" and send.transaction_id is None
    assert send.created_at.tzinfo is not None
    assert store.callback_target(send.callback_token) == (send.id, send.external_id)
    assert store.callback_target("nope") is None
    assert store.get_send("nope") is None


def test_transitions_happen_once(store: Store) -> None:
    send_id = new_send(store)
    assert store.transition(send_id, from_states=[SendState.DRAFT], to=SendState.CONFIRMED)
    assert store.transition(send_id, from_states=[SendState.DRAFT], to=SendState.CONFIRMED) is None
    assert store.transition(send_id, from_states=[SendState.DRAFT], to=SendState.CANCELLED) is None
    sending = store.transition(send_id, from_states=[SendState.CONFIRMED], to=SendState.SENDING)
    assert sending is not None and sending.attempts == 1
    sent = store.transition(
        send_id, from_states=[SendState.SENDING], to=SendState.SENT, transaction_id="tx-1"
    )
    assert sent is not None and sent.state is SendState.SENT
    assert store.find_by_transaction_id("tx-1") == sent
    with pytest.raises(ValueError):
        store.update_send(send_id, state="draft")


def race(workers: int, action: Callable[[], object]) -> list[object]:
    barrier = threading.Barrier(workers)
    results: list[object] = []
    lock = threading.Lock()

    def run() -> None:
        barrier.wait()
        outcome = action()
        with lock:
            results.append(outcome)

    threads = [threading.Thread(target=run) for _ in range(workers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    return results


def test_concurrent_confirmations_win_exactly_once(store: Store) -> None:
    send_id = new_send(store)
    results = race(
        12, lambda: store.transition(send_id, from_states=[SendState.DRAFT], to=SendState.CONFIRMED)
    )
    assert sum(r is not None for r in results) == 1


def test_statuses_are_kept_once_and_never_move_backwards(store: Store) -> None:
    send_id = new_send(store)
    first = store.add_status(send_id, "QUEUE", rank=10)
    assert first.new and first.advanced and first.shown == "QUEUE"
    read = store.add_status(send_id, "READ", rank=50, provider_date="2026-01-01T00:00:00Z")
    assert read.advanced and read.shown == "READ"
    late = store.add_status(send_id, "SENT", rank=30)
    assert late.new and not late.advanced and late.shown == "READ"
    again = store.add_status(send_id, "READ", rank=50)
    assert not again.new and not again.advanced
    assert [s.status for s in store.timeline(send_id)] == ["QUEUE", "READ", "SENT"]
    assert store.timeline(send_id)[1].provider_date == "2026-01-01T00:00:00Z"


def test_concurrent_duplicate_statuses_are_recorded_once(store: Store) -> None:
    send_id = new_send(store)
    results = race(10, lambda: store.add_status(send_id, "DELIVERED", rank=40))
    assert sum(r.new for r in results) == 1  # type: ignore[attr-defined]
    assert sum(r.advanced for r in results) == 1  # type: ignore[attr-defined]


def test_every_callback_is_kept_raw(store: Store) -> None:
    send_id = new_send(store)
    store.record_callback(send_id, '{"status": "SENT"}', "SENT")
    store.record_callback(send_id, '{"status": "SENT"}', "SENT")
    store.record_callback(None, "not json", None)
    kept = store.callbacks_for(send_id)
    assert [(status, body) for _, status, body in kept] == [
        ("SENT", '{"status": "SENT"}'),
        ("SENT", '{"status": "SENT"}'),
    ]


def test_migrating_twice_keeps_the_rows(store: Store) -> None:
    store.migrate()
    send_id = new_send(store)
    store.migrate()
    assert store.get_send(send_id) is not None


def test_records_survive_a_new_store_on_the_same_database(database_url: str) -> None:
    first = Store.from_url(database_url)
    first.migrate()
    send_id = new_send(first)
    first.add_status(send_id, "SENT", rank=30)
    first.close()
    second = Store.from_url(database_url)
    second.migrate()
    assert second.get_send(send_id).provider_status == "SENT"  # type: ignore[union-attr]
    second.close()


def test_sqlite_uses_wal(tmp_path: Any) -> None:
    store = Store.from_url(f"sqlite:///{tmp_path / 'w.sqlite3'}")
    store.migrate()
    with store.engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
    store.close()


def test_media_is_read_back_in_slices(store: Store) -> None:
    from datetime import timedelta

    from bot.store import utcnow

    data = bytes(range(256)) * 4000 + b"tail"  # 1,024,004 bytes
    store.add_media(
        id="m1",
        expires_at=utcnow() + timedelta(hours=1),
        content_type="video/mp4",
        size=len(data),
        sha256="x",
        file_name=None,
        slack_file_id=None,
        data=data,
    )
    chunks = list(store.media_chunks("m1", size=len(data), chunk=300_000))
    assert [len(c) for c in chunks] == [300_000, 300_000, 300_000, 124_004]
    assert b"".join(chunks) == data
    assert list(store.media_chunks("gone", size=10)) == []


def test_an_idle_postgresql_connection_that_died_is_replaced_unseen(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Connections are checked only after sitting idle, so a database restart (here: the
    server ends the pooled connection) costs no request an error."""
    if store.engine.dialect.name != "postgresql":
        pytest.skip("the idle check is PostgreSQL's; SQLite connections are files")
    send_id = new_send(store)  # a transaction, and a read: both pools hold a connection
    assert store.get_send(send_id) is not None
    killer = sa.create_engine(store.engine.url)
    with killer.connect() as conn:
        ended = conn.execute(
            sa.text(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
        ).scalar()
    killer.dispose()
    assert ended and ended >= 2
    monkeypatch.setattr(postgres, "IDLE_PING_SECONDS", 0.0)
    moved = store.transition(send_id, from_states=[SendState.DRAFT], to=SendState.CONFIRMED)
    assert moved is not None
    send = store.get_send(send_id)
    assert send is not None and send.id == send_id


def test_sqlite_writers_of_two_processes_take_turns(tmp_path: Path) -> None:
    """Writers in different processes queue on the lock file beside the database (woken when
    it is free), not in SQLite's busy handler: a write waits while another process holds the
    writer lock, even before that process has begun its transaction."""
    url = f"sqlite:///{tmp_path / 'bot.sqlite3'}"
    store = Store.from_url(url)
    store.migrate()
    send_id = new_send(store)
    holding, released = tmp_path / "holding", tmp_path / "released"
    script = f"""
import time
from pathlib import Path
from bot.store import Store
store = Store.from_url({url!r})
with store._write_lock:
    Path({str(holding)!r}).write_text("x")
    time.sleep(0.5)
    Path({str(released)!r}).write_text("x")
"""
    holder = subprocess.Popen([sys.executable, "-c", script])
    try:
        deadline = time.monotonic() + 20
        while not holding.exists():
            assert holder.poll() is None and time.monotonic() < deadline
            time.sleep(0.01)
        store.set_send_fields(send_id, status_ts="1.2")
        assert released.exists(), "the write did not wait for the other process's lock"
    finally:
        holder.wait(20)
    assert holder.returncode == 0
    send = store.get_send(send_id)
    assert send is not None and send.status_ts == "1.2"
    store.close()


def test_a_callback_is_taken_whole_or_not_at_all(store: Store) -> None:
    """take_callback, what a status callback costs: lookup, raw body, status, in one go."""
    send_id = new_send(store)
    send = store.get_send(send_id)
    assert send is not None
    token, ext = send.callback_token, send.external_id

    def take(status: str | None, rank: int = 0, external_id: str | None = ext) -> Any:
        body = f'{{"status": "{status}"}}'
        return store.take_callback(token, body, external_id=external_id, status=status, rank=rank)

    assert store.take_callback("no-such-token", "{}", external_id=None, status="SENT") is None
    wrong = take("SENT", 30, external_id="someone-else")
    assert wrong.send_id == send_id and wrong.mismatch and wrong.change is None
    assert store.callbacks_for(send_id) == [] and store.timeline(send_id) == []

    quiet = take(None)
    assert not quiet.mismatch and quiet.change is None
    first = take("SENT", 30, external_id=None)  # no externalId in the body: the URL decides
    assert (first.change.new, first.change.advanced, first.change.shown) == (True, True, "SENT")
    late = take("QUEUE", 10)
    assert (late.change.new, late.change.advanced, late.change.shown) == (True, False, "SENT")
    again = take("SENT", 30)
    assert (again.change.new, again.change.advanced, again.change.shown) == (False, False, "SENT")

    assert [status for _, status, _ in store.callbacks_for(send_id)] == [
        None,
        "SENT",
        "QUEUE",
        "SENT",
    ]
    rows = store.timeline(send_id)
    assert [(r.status, r.advanced) for r in rows] == [("SENT", True), ("QUEUE", False)]
    after = store.get_send(send_id)
    assert after is not None and after.provider_status == "SENT" and after.provider_rank == 30
    assert after.dirty and after.version == send.version + 2  # two new statuses, two changes


def test_concurrent_duplicate_callbacks_are_kept_but_recorded_once(store: Store) -> None:
    send_id = new_send(store)
    send = store.get_send(send_id)
    assert send is not None
    results = race(
        10,
        lambda: store.take_callback(
            send.callback_token, "{}", external_id=None, status="DELIVERED", rank=40
        ),
    )
    changes = [r.change for r in results]  # type: ignore[attr-defined]
    assert sum(c.new for c in changes) == 1 and sum(c.advanced for c in changes) == 1
    assert {c.shown for c in changes} == {"DELIVERED"}
    assert len(store.callbacks_for(send_id)) == 10
    assert [(r.status, r.advanced) for r in store.timeline(send_id)] == [("DELIVERED", True)]


def test_a_group_members_new_status_marks_its_group_changed(store: Store) -> None:
    store.add_batch(id="b" * 32, group_name="crew", total=1)
    send_id = new_send(store, batch_id="b" * 32)
    send = store.get_send(send_id)
    assert send is not None
    before = store.get_batch("b" * 32)
    assert before is not None
    store.take_callback(send.callback_token, "{}", external_id=None, status="SENT", rank=30)
    store.take_callback(send.callback_token, "{}", external_id=None, status="SENT", rank=30)
    after = store.get_batch("b" * 32)
    assert after is not None and after.dirty and after.version == before.version + 1


def test_who_opened_their_home_tab_is_known_to_every_instance(database_url: str) -> None:
    first, second = Store.from_url(database_url), Store.from_url(database_url)
    first.migrate()
    day_ago = datetime.now(UTC) - timedelta(days=1)
    assert not second.home_opened_since("U1", day_ago)
    first.note_home_opened("U1", at=day_ago - timedelta(hours=1))
    assert not second.home_opened_since("U1", day_ago)  # opened, but too long ago
    first.note_home_opened("U1")
    assert second.home_opened_since("U1", day_ago)
    assert not second.home_opened_since("U2", day_ago)
    first.close()
    second.close()


class FakeDatabase:
    """A transaction that takes a while to begin (a busy writer lock), keeps what its
    writes appended only if it commits, and counts its transactions."""

    def __init__(self) -> None:
        self.committed: list[str] = []
        self.transactions = 0

    @contextlib.contextmanager
    def transaction(self) -> Iterator[Any]:
        time.sleep(0.05)
        self.transactions += 1
        writes: list[str] = []
        yield writes
        self.committed.extend(writes)


def test_writes_that_queue_are_committed_together_each_with_its_own_result() -> None:
    database = FakeDatabase()
    together = sqlite.GroupCommit(database.transaction)  # type: ignore[arg-type]

    def write(name: str) -> Callable[[Any], str]:
        def fn(conn: Any) -> str:
            conn.append(name)
            return f"wrote {name}"

        return fn

    names = [f"w{i}" for i in range(16)]
    barrier = threading.Barrier(16)
    answers: dict[str, str] = {}

    def one(name: str) -> None:
        barrier.wait(10)
        answers[name] = together.run(write(name))

    threads = [threading.Thread(target=one, args=(n,)) for n in names]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert answers == {n: f"wrote {n}" for n in names}
    assert sorted(database.committed) == sorted(names)
    assert database.transactions < len(names)  # they did not each wait for a turn


def test_a_failing_write_costs_the_others_of_its_batch_nothing() -> None:
    database = FakeDatabase()
    together = sqlite.GroupCommit(database.transaction)  # type: ignore[arg-type]
    barrier = threading.Barrier(8)
    outcomes: dict[int, object] = {}

    def fn_for(i: int) -> Callable[[Any], int]:
        def fn(conn: Any) -> int:
            conn.append(f"w{i}")
            if i == 3:
                raise ValueError("this one is bad")
            return i

        return fn

    def one(i: int) -> None:
        barrier.wait(10)
        try:
            outcomes[i] = together.run(fn_for(i))
        except ValueError as exc:
            outcomes[i] = exc

    threads = [threading.Thread(target=one, args=(i,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert isinstance(outcomes.pop(3), ValueError)
    assert outcomes == {i: i for i in range(8) if i != 3}
    assert sorted(database.committed) == sorted(f"w{i}" for i in range(8) if i != 3)


def test_concurrent_callbacks_on_sqlite_are_each_kept_once(tmp_path: Path) -> None:
    store = Store.from_url(f"sqlite:///{tmp_path / 'bot.sqlite3'}")
    store.migrate()
    sends = [store.get_send(new_send(store)) for _ in range(4)]
    statuses = [("QUEUE", 10), ("SENT", 30), ("DELIVERED", 40), ("READ", 50)]
    work = [(s, status, rank) for s in sends for status, rank in statuses for _ in range(2)]
    barrier = threading.Barrier(len(work))

    def deliver(item: tuple[Any, str, int]) -> None:
        send, status, rank = item
        barrier.wait(10)
        body = f'{{"status": "{status}"}}'
        store.take_callback(send.callback_token, body, external_id=None, status=status, rank=rank)

    threads = [threading.Thread(target=deliver, args=(item,)) for item in work]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    for send in sends:
        assert send is not None
        assert len(store.callbacks_for(send.id)) == 8
        assert sorted(r.status for r in store.timeline(send.id)) == sorted(s for s, _ in statuses)
        after = store.get_send(send.id)
        assert after is not None and after.provider_status == "READ"
    store.close()


def test_a_new_status_takes_a_free_render_lease_and_reports_a_held_one(store: Store) -> None:
    """So that one worker, not each that took a callback, brings the thread up to date."""
    send_id = new_send(store)
    send = store.get_send(send_id)
    assert send is not None
    record = store_module.SendRecord
    soon = datetime.now(UTC) + timedelta(seconds=11)

    def take(status: str, rank: int, owner: str | None = "worker-a") -> Any:
        claim = (owner, soon) if owner else None
        taken = store.take_callback(
            send.callback_token, "{}", external_id=None, status=status, rank=rank, claim=claim
        )
        return taken.change

    first = take("QUEUE", 10)
    assert first.new and first.lease.owner == "worker-a" and first.lease.until == soon
    assert store.acquire_render(record, send_id, "worker-b", seconds=10) is None
    assert store.acquire_render(record, send_id, "worker-a", seconds=10) is None  # not `held`
    held = store.acquire_render(record, send_id, "worker-a", seconds=10, held=True)
    assert held is not None and held.render_owner == "worker-a"
    during = take("SENT", 30, owner="worker-b")
    assert during.new and during.lease.owner == "worker-a"  # not taken from its holder
    assert during.lease.until is not None and during.lease.until > datetime.now(UTC)
    wrote_at = datetime.now(UTC).replace(microsecond=0)
    assert store.finish_render(
        record, send_id, "worker-a", held.version, wrote_at=wrote_at, hold=soon
    )  # still dirty (SENT came after the lease was taken): kept for the next pass
    kept = store.get_send(send_id)
    assert kept is not None and (kept.render_owner, kept.render_until) == ("worker-a", soon)
    assert take("DELIVERED", 40, owner="worker-b").lease.owner == "worker-a"
    again = store.acquire_render(record, send_id, "worker-a", seconds=10, held=True)
    assert again is not None and again.rendered_at == wrote_at
    assert not store.finish_render(record, send_id, "worker-a", again.version, hold=soon)
    free = store.get_send(send_id)
    assert free is not None and free.render_owner is None and not free.dirty  # clean: let go
    after = take("READ", 50, owner=None)
    assert after.lease.owner is None and after.lease.rendered_at == wrote_at
    assert take("READ", 50).lease == store_module.Lease()  # a duplicate changes nothing


def test_the_package_s_conversations_is_the_table_not_the_module_of_that_name() -> None:
    import bot.store
    from bot.store import schema

    assert bot.store.conversations is schema.conversations


def test_sqlite_statements_on_the_driver_give_what_sqlalchemy_gives(tmp_path: Path) -> None:
    """The hot paths' statements run on sqlite3's cursor (`StatementRunner`): the same rows,
    datetimes and all, as SQLAlchemy's execution, and the same rows written."""
    from bot.store.schema import sends as sends_table
    from bot.store.statements import STATUS_TIMELINE, acquire_render_statement

    store = Store.from_url(f"sqlite:///{tmp_path / 'runner.sqlite3'}")
    store.migrate()
    send_id = new_send(store)
    send = store.get_send(send_id)
    assert send is not None
    store.take_callback(send.callback_token, "{}", external_id=None, status="SENT", rank=30)
    store.take_callback(send.callback_token, "{}", external_id=None, status="QUEUE", rank=10)
    runner = sqlite.StatementRunner(store.engine.dialect)
    now = datetime.now(UTC)
    lease = {"p_id": send_id, "p_now": now, "p_owner": "w1", "p_until": now + timedelta(seconds=2)}
    acquire = acquire_render_statement(sends_table, True, False)
    with store.engine.begin() as conn:
        timeline = runner.rows(conn, STATUS_TIMELINE, {"send_id": send_id})
        expected = [dict(r) for r in conn.execute(STATUS_TIMELINE, {"send_id": send_id}).mappings()]
        assert timeline == expected and len(timeline) == 2
        assert isinstance(timeline[0]["received_at"], datetime)
        taken = runner.row(conn, acquire, lease)
        assert taken is not None and taken["render_owner"] == "w1"
        assert taken["render_until"] == lease["p_until"].replace(tzinfo=None)
        assert runner.row(conn, acquire, lease) is None  # the lease is held: nothing taken
        conn.rollback()
    with store.engine.begin() as conn:
        assert dict(conn.execute(acquire, lease).mappings().one()) == taken
    store.close()
