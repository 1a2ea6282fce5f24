"""SQLite's side of the store: one writer at a time, queued writes committed together, and
an engine tuned for it."""

from __future__ import annotations

import fcntl
import os
import threading
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.pool import StaticPool

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


@dataclass(eq=False)
class QueuedWrite:
    fn: Callable[[Connection], Any]
    result: Any = None
    error: BaseException | None = None
    leads: bool = False
    finished: bool = False


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
    """

    def __init__(self, transaction: Callable[[], AbstractContextManager[Connection]]) -> None:
        self._transaction = transaction
        self._cond = threading.Condition()
        self._queue: list[QueuedWrite] = []
        self._busy = False

    def run(self, fn: Callable[[Connection], T]) -> T:
        item = QueuedWrite(fn)
        with self._cond:
            self._queue.append(item)
            if not self._busy:
                self._busy = True
                item.leads = True
            while not item.finished:
                if not item.leads:
                    self._cond.wait()
                    continue
                item.leads = False
                batch, self._queue = self._queue[:_MOST_PER_COMMIT], self._queue[_MOST_PER_COMMIT:]
                self._cond.release()
                try:
                    self._write(batch)
                finally:
                    self._cond.acquire()
                    for done in batch:
                        done.finished = True
                    if self._queue:
                        self._queue[0].leads = True
                    else:
                        self._busy = False
                    self._cond.notify_all()
        if item.error is not None:
            raise item.error
        return item.result  # type: ignore[no-any-return]

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
