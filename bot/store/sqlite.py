"""SQLite's side of the store: one writer at a time, queued writes committed together, and
an engine tuned for it."""

from __future__ import annotations

import fcntl
import os
import threading
from collections.abc import Callable, Mapping
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.pool import StaticPool

from bot.store.statements import built_values

READ_ONLY = "whatsapp_bot_readonly"


class WriterLock:
    """SQLite has one writer at a time. Writers queue for it here: the threads of a process
    on a lock, the processes (gunicorn workers, instances on one machine) on an `flock` of a
    file beside the database. Both wake a waiter as soon as the lock is free, where SQLite's
    busy handler polls with sleeps of up to 100 ms, which made the p99."""

    def __init__(self, database: str | None) -> None:
        self._threads = threading.RLock()
        self._depth = 0
        in_memory = database in (None, "", ":memory:") or str(database).startswith("file:")
        self._path = None if in_memory else f"{database}-writer.lock"
        self._fd: int | None = None
        self._pid = 0

    def __enter__(self) -> None:
        self._threads.acquire()
        self._depth += 1
        if self._depth == 1 and self._path is not None:
            try:
                fcntl.flock(self._file(), fcntl.LOCK_EX)
            except BaseException:
                self._depth -= 1
                self._threads.release()
                raise

    def __exit__(self, *exc: object) -> None:
        try:
            if self._depth == 1 and self._fd is not None:
                fcntl.flock(self._fd, fcntl.LOCK_UN)
        finally:
            self._depth -= 1
            self._threads.release()

    def _file(self) -> int:
        """The lock file, opened once per process: a forked child must not share the
        parent's open file, whose flock would then be theirs together."""
        assert self._path is not None
        if self._fd is None or self._pid != os.getpid():
            self.close()
            self._fd = os.open(self._path, os.O_RDWR | os.O_CREAT, 0o600)
            self._pid = os.getpid()
        return self._fd

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


T = TypeVar("T")


def _held_lock() -> threading.Lock:
    lock = threading.Lock()
    lock.acquire()
    return lock


@dataclass(eq=False)
class QueuedWrite:
    fn: Callable[[Connection], Any]
    result: Any = None
    error: BaseException | None = None
    leads: bool = False
    finished: bool = False
    # Held from the start; released once, when the write is finished or its turn to lead
    # has come: each waiter is woken alone, never all of them to see whose turn it is.
    wake: Any = field(default_factory=_held_lock)


class GroupCommit:
    """Group commit: writes that queue for the lock while another batch is being written go
    in together, in one transaction, so a busy SQLite spends one BEGIN, one COMMIT and one
    turn of the writer lock on many of them. The first to find nobody writing leads: it
    writes what has queued (itself first), then hands the lead to the next in the queue.

    Each write is a function of the connection that does nothing but database work (it may
    run twice: see below); the functions of one batch run one after another, as the
    transactions would have. Should one fail, or the COMMIT, the batch is
    rolled back and each is written again in a transaction of its own, so one bad write
    never costs the others theirs, and each caller gets its own result or exception.

    A waiting thread sleeps on a lock of its own, released by the leader when its write is
    done or it is to lead next; waking every waiter at each commit (a condition's
    `notify_all`) cost a fifth of a busy worker's CPU.
    """

    def __init__(self, transaction: Callable[[], AbstractContextManager[Connection]]) -> None:
        self._transaction = transaction
        self._lock = threading.Lock()
        self._queue: list[QueuedWrite] = []
        self._busy = False

    def run(self, fn: Callable[[Connection], T]) -> T:
        item = QueuedWrite(fn)
        with self._lock:
            self._queue.append(item)
            if not self._busy:
                self._busy = True
                item.leads = True
        while not item.finished:
            if not item.leads:
                item.wake.acquire()  # until finished, or leading
                continue
            self._lead(item)
        if item.error is not None:
            raise item.error
        return item.result  # type: ignore[no-any-return]

    def _lead(self, item: QueuedWrite) -> None:
        """Write the queue's first batch (`item` heads it), then wake each of its writers
        and the next leader."""
        with self._lock:
            item.leads = False
            batch, self._queue = self._queue[:_MOST_PER_COMMIT], self._queue[_MOST_PER_COMMIT:]
        try:
            self._write(batch)
        finally:
            with self._lock:
                for done in batch:
                    done.finished = True
                following = self._queue[0] if self._queue else None
                if following is not None:
                    following.leads = True
                else:
                    self._busy = False
            for done in batch:
                if done is not item:
                    done.wake.release()
            if following is not None:
                following.wake.release()

    def _write(self, batch: list[QueuedWrite]) -> None:
        try:
            with self._transaction() as conn:
                results = [work.fn(conn) for work in batch]
        except Exception as exc:
            if len(batch) == 1:
                batch[0].error = exc
                return
            for work in batch:  # one by one, each in a transaction of its own
                self._write([work])
            return
        except BaseException as exc:  # stopping: nobody is told it was written
            for work in batch:
                work.error = exc
            raise
        for work, result in zip(batch, results, strict=True):
            work.result = result


_MOST_PER_COMMIT = 64


def create_engine(url: str, *, pool_size: int = 10) -> Engine:
    """An engine with WAL and a busy timeout."""
    parsed = sa.engine.make_url(url)
    in_memory = parsed.database in (None, "", ":memory:")
    pooling: dict[str, Any] = (
        {"poolclass": StaticPool}
        if in_memory
        else {"pool_size": pool_size, "max_overflow": 4 * pool_size, "pool_timeout": 30}
    )
    engine = sa.create_engine(
        url, connect_args={"check_same_thread": False, "timeout": 30}, **pooling
    )

    @sa.event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        # pysqlite's own transaction handling is replaced by explicit BEGIN IMMEDIATE below,
        # so that concurrent writers wait on the busy timeout instead of failing to upgrade.
        dbapi_conn.isolation_level = None
        cursor = dbapi_conn.cursor()
        if not in_memory:
            cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.close()

    @sa.event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        # Reads run without a transaction: with WAL each statement reads a snapshot and
        # never waits for a writer. Writers take the write lock as they begin.
        if not conn.get_execution_options().get(READ_ONLY, False):
            conn.exec_driver_sql("BEGIN IMMEDIATE")

    return engine


@dataclass(frozen=True)
class _Compiled:
    """A prebuilt statement as SQL for sqlite3, with how to convert its parameters and
    results as SQLAlchemy would (datetimes are text in SQLite)."""

    sql: str
    names: tuple[str, ...]  # the parameters, in the order of the SQL's `?`
    fixed: dict[str, Any]  # values the statement was built with (`values(dirty=True)`)
    binders: dict[str, Callable[[Any], Any]]
    columns: tuple[str, ...]  # the keys SQLAlchemy's `mappings()` gives the results
    readers: tuple[Callable[[Any], Any] | None, ...]

    @classmethod
    def of(cls, statement: Any, dialect: Any, keys: frozenset[str]) -> _Compiled | None:
        """None when SQLAlchemy must run it (a column's default made in Python)."""
        # An INSERT or UPDATE without values of its own writes the columns it is given.
        compiled = statement.compile(dialect=dialect, column_keys=sorted(keys))
        if compiled.insert_prefetch or compiled.update_prefetch or "POSTCOMPILE" in str(compiled):
            return None  # a default made in Python, or an IN list expanded as it runs
        binders: dict[str, Callable[[Any], Any]] = {}
        for bind, name in compiled.bind_names.items():
            binder = bind.type.dialect_impl(dialect).bind_processor(dialect)
            if binder is not None:
                binders[name] = binder
        returned = list(getattr(statement, "exported_columns", ()))
        return cls(
            str(compiled),
            tuple(compiled.positiontup or ()),
            built_values(compiled),
            binders,
            tuple(column.key for column in returned),
            tuple(
                column.type.dialect_impl(dialect).result_processor(dialect, None)
                for column in returned
            ),
        )

    def parameters(self, params: Mapping[str, Any]) -> list[Any]:
        values = {**self.fixed, **params}
        binders = self.binders
        out = []
        for name in self.names:
            value = values[name]
            binder = binders.get(name)
            out.append(value if binder is None or value is None else binder(value))
        return out

    def mapping(self, row: tuple[Any, ...]) -> dict[str, Any]:
        return {
            key: value if reader is None else reader(value)
            for key, value, reader in zip(self.columns, row, self.readers, strict=True)
        }


class StatementRunner:
    """Runs the hot paths' prebuilt statements on sqlite3's own cursor, inside the caller's
    transaction, as SQL compiled once: SQLAlchemy's execution path (cache lookup, parameter
    and result processing) cost several times the statement, and on SQLite it is paid while
    holding the writers' lock. Parameters and results are converted with the types' own
    processors, so the rows are those `Connection.execute(...).mappings()` would give."""

    def __init__(self, dialect: Any) -> None:
        self._dialect = dialect
        # by the id of a prebuilt statement and the names of the parameters it is given
        self._compiled: dict[tuple[int, frozenset[str]], _Compiled | None] = {}
        self._kept: list[Any] = []

    def rows(
        self, conn: Connection, statement: Any, params: Mapping[str, Any]
    ) -> list[dict[str, Any]]:
        """Run `statement` on `conn`'s driver connection; its rows by column."""
        keys = frozenset(params)
        try:
            compiled = self._compiled[id(statement), keys]
        except KeyError:
            compiled = _Compiled.of(statement, self._dialect, keys)
            self._compiled[id(statement), keys] = compiled
            self._kept.append(statement)  # its id is never another statement's
        if compiled is None:
            return [dict(row) for row in conn.execute(statement, params).mappings()]
        driver: Any = conn.connection.driver_connection
        cursor = driver.execute(compiled.sql, compiled.parameters(params))
        try:
            if cursor.description is None:
                return []
            return [compiled.mapping(row) for row in cursor.fetchall()]
        finally:
            cursor.close()

    def row(
        self, conn: Connection, statement: Any, params: Mapping[str, Any]
    ) -> dict[str, Any] | None:
        rows = self.rows(conn, statement, params)
        return rows[0] if rows else None
