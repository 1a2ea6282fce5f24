"""The engines behind the store, and the one place that decides which engine's path a
transaction, a write of one statement or a read takes."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager, nullcontext
from typing import Any, Self, TypeVar

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

import bot.store.postgres as postgres
import bot.store.sqlite as sqlite
from bot.store.migrate import Migration, Migrations, SchemaError, SchemaStatus
from bot.store.sqlite import READ_ONLY, GroupCommit, WriterLock
from bot.store.statements import update_by_id

T = TypeVar("T")

logger = logging.getLogger(__name__)

# PostgreSQL's advisory lock for upgrading the schema: one upgrade at a time per database.
_LOCK = {"key": 7461263}


class Database:
    """Transactions, writes of one statement and reads, each by its engine's path."""

    def __init__(self, engine: Engine, autocommit: Engine | None = None) -> None:
        """`engine` runs transactions; on PostgreSQL, `autocommit` (autocommit connections of
        a pool of their own, so that no checkout switches modes) runs what is sent alone."""
        self.engine = engine
        self._server = engine.dialect.name != "sqlite"
        self._autocommit = autocommit or (
            engine.execution_options(isolation_level="AUTOCOMMIT") if self._server else engine
        )
        self._write_lock: AbstractContextManager[object] = (
            WriterLock(engine.url.database) if engine.dialect.name == "sqlite" else nullcontext()
        )
        self._group_commit = GroupCommit(self._tx)
        self._cursor_runner = postgres.CursorRunner(self._autocommit)
        self._statements = sqlite.StatementRunner(engine.dialect)
        self._migrations: Migrations | None = None

    @classmethod
    def from_url(cls, url: str, *, pool_size: int = 10) -> Self:
        if sa.engine.make_url(url).get_backend_name() == "sqlite":
            return cls(create_engine(url, pool_size=pool_size))
        # Two pools sharing the 2 × pool_size connections one pool had (with its overflow),
        # kept open: an overflow connection is closed when returned, and opening one costs
        # more than waiting a moment for a pooled one.
        autocommit_size = max(2, pool_size * 6 // 5)
        return cls(
            create_engine(url, pool_size=max(2, 2 * pool_size - autocommit_size), overflow=0),
            create_engine(url, pool_size=autocommit_size, overflow=0, autocommit=True),
        )

    @property
    def migrations(self) -> Migrations:
        """The package's migrations, read when first needed."""
        if self._migrations is None:
            self._migrations = Migrations()
        return self._migrations

    def migrate(self, migrations: Migrations | None = None) -> Migration:
        """Create the tables or upgrade them to the newest revision, in one transaction and
        under a lock (PostgreSQL's advisory lock; on SQLite the writers' lock), so that
        instances starting at once upgrade the database once. A SchemaError when the database
        is from a newer version, or when the upgrade failed and was rolled back."""
        migrations = migrations or self.migrations
        with self._write_lock, self.engine.connect() as conn:
            try:
                with conn.begin():
                    if self._server:
                        conn.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), _LOCK)
                    return migrations.upgrade(conn)
            except SchemaError:
                raise
            except Exception as exc:
                reason = " ".join(str(getattr(exc, "orig", None) or exc).split())
                raise SchemaError(
                    f"Upgrading the database to revision {migrations.head} failed "
                    f"({type(exc).__name__}: {reason}). The upgrade ran in one transaction, "
                    "which was rolled back, so nothing was changed: the database is at "
                    f"revision {self._revision_after_failure(conn, migrations)}."
                ) from exc

    @staticmethod
    def _revision_after_failure(conn: Connection, migrations: Migrations) -> str:
        try:
            with conn.begin():
                revision = migrations.status(conn).database
        except Exception:
            logger.exception("Failed to read the schema's revision after a failed upgrade")
            return "unknown (it could not be read)"
        return revision or "none (empty, or as version 0.1.0 left it)"

    def schema_status(self) -> SchemaStatus:
        """The database's revision beside the newest this code knows."""
        with self._read() as conn:
            return self.migrations.status(conn)

    def close(self) -> None:
        self.engine.dispose()
        self._autocommit.dispose()
        if isinstance(self._write_lock, WriterLock):
            self._write_lock.close()

    def ping(self) -> None:
        with self.engine.connect() as conn:
            conn.execute(sa.text("SELECT 1"))

    @contextmanager
    def _tx(self) -> Iterator[Connection]:
        with self._write_lock, self.engine.begin() as conn:
            yield conn

    def _write_one(self, fn: Callable[[Connection], T]) -> T:
        """A write of one statement, atomic on its own: on PostgreSQL it is sent alone (one
        round trip, no BEGIN or COMMIT); on SQLite it is committed together with the other
        writes queued for the lock."""
        if self._server:
            with self._autocommit.connect() as conn:
                return fn(conn)
        return self._group_commit.run(fn)

    def _prebuilt_rows(self, statement: Any, params: Mapping[str, Any]) -> list[dict[str, Any]]:
        """Run one prebuilt statement of a hot path, alone, and return its rows by column
        (on the driver's cursor: see `postgres.CursorRunner` and `sqlite.StatementRunner`)."""
        if not self._server:
            return self._write_one(lambda conn: self._statements.rows(conn, statement, params))
        return self._cursor_runner.rows(statement, params)

    def _prebuilt_read(self, statement: Any, params: Mapping[str, Any]) -> list[dict[str, Any]]:
        """A prebuilt read of a hot path, by column, on the driver's cursor (SQLite: outside
        the writers' queue, as `_read`)."""
        if self._server:
            return self._cursor_runner.rows(statement, params)
        with self._read() as conn:
            return self._statements.rows(conn, statement, params)

    def _update_row(self, table: sa.Table, row_id: str, changes: Mapping[str, Any]) -> None:
        """Set columns of one row by id, alone (as `_write_one`), on the prebuilt path: the
        statement of each set of columns is built once."""
        statement = update_by_id(table, tuple(sorted(changes)))
        params = {f"v_{name}": value for name, value in changes.items()}
        self._prebuilt_rows(statement, {**params, "p_id": row_id})

    def _prebuilt_row(self, statement: Any, params: Mapping[str, Any]) -> dict[str, Any] | None:
        rows = self._prebuilt_rows(statement, params)
        return rows[0] if rows else None

    @contextmanager
    def _read(self) -> Iterator[Connection]:
        """A connection for reads, each statement on its own: no BEGIN and no ROLLBACK to
        send (on PostgreSQL, a read is one round trip instead of three)."""
        with self._autocommit.connect() as conn:
            if not self._server:
                conn.execution_options(**{READ_ONLY: True})
            yield conn


def create_engine(
    url: str, *, pool_size: int = 10, overflow: int | None = None, autocommit: bool = False
) -> Engine:
    """An engine tuned for the backend: WAL and a busy timeout for SQLite; for a database
    server, connections checked when they come back from idle, or autocommit ones."""
    parsed = sa.engine.make_url(url)
    if parsed.get_backend_name() != "sqlite":
        return postgres.create_engine(
            url, pool_size=pool_size, overflow=overflow, autocommit=autocommit
        )
    return sqlite.create_engine(url, pool_size=pool_size)
