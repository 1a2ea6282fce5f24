"""PostgreSQL's side of the store: pools whose idle connections are checked, and prebuilt
statements compiled once for the driver."""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import psycopg
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from bot.store.statements import built_values

IDLE_PING_SECONDS = 10.0
# Driver errors after which a connection is not handed to anyone else.
DISCONNECT_ERRORS = (OSError, psycopg.OperationalError, psycopg.InterfaceError)


def _ping_when_idle(engine: Engine) -> None:
    """Check a pooled connection before use only if it sat idle for a while (a database
    restart or an idle timeout breaks idle connections): `pool_pre_ping` would add a round
    trip to every transaction. A connection that fails the check is replaced, unseen."""

    @sa.event.listens_for(engine, "checkin")
    def _on_checkin(_dbapi_conn: Any, record: Any) -> None:
        record.info["last_used"] = time.monotonic()

    @sa.event.listens_for(engine, "checkout")
    def _on_checkout(dbapi_conn: Any, record: Any, _proxy: Any) -> None:
        last_used = record.info.get("last_used")
        if last_used is None or time.monotonic() - last_used < IDLE_PING_SECONDS:
            return
        try:
            cursor = dbapi_conn.cursor()
            try:
                cursor.execute("SELECT 1")
            finally:
                cursor.close()
            dbapi_conn.rollback()
        except Exception as exc:
            raise sa.exc.DisconnectionError(f"an idle connection is gone: {exc}") from exc


def create_engine(
    url: str, *, pool_size: int = 10, overflow: int | None = None, autocommit: bool = False
) -> Engine:
    """Connections checked when they come back from idle, or autocommit ones."""
    server = sa.create_engine(
        url,
        pool_size=pool_size,
        max_overflow=pool_size if overflow is None else overflow,
        pool_timeout=10,
        pool_recycle=1800,
        **({"isolation_level": "AUTOCOMMIT"} if autocommit else {}),
    )
    _ping_when_idle(server)
    return server


@dataclass(frozen=True)
class CompiledStatement:
    """A prebuilt statement's SQL for the driver, and the values it was built with
    (`values(render_owner=None)` is a parameter too)."""

    statement: Any  # kept, so that its id is never another statement's
    sql: str
    fixed: dict[str, Any]

    @classmethod
    def of(cls, statement: Any, dialect: Any) -> CompiledStatement:
        compiled = statement.compile(dialect=dialect)
        return cls(statement, str(compiled), built_values(compiled))


class CursorRunner:
    """Runs prebuilt statements of the hot paths on the driver's cursor, as SQL compiled once:
    SQLAlchemy's execution path (cache lookup, parameter and result processing) costs more
    than the round trip. Only for statements whose parameters and results psycopg converts as
    SQLAlchemy would (strings, numbers, booleans, aware datetimes)."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._compiled: dict[int, CompiledStatement] = {}  # by the id of a prebuilt statement

    def rows(self, statement: Any, params: Mapping[str, Any]) -> list[dict[str, Any]]:
        """Run `statement` alone and return its rows by column."""
        compiled = self._compiled.get(id(statement))
        if compiled is None:
            compiled = CompiledStatement.of(statement, self._engine.dialect)
            self._compiled[id(statement)] = compiled
        pooled = self._engine.raw_connection()
        try:
            driver = pooled.driver_connection
            cursor = driver.execute(compiled.sql, {**compiled.fixed, **params})  # type: ignore[union-attr]
            if cursor.description is None:
                return []
            names = [column.name for column in cursor.description]
            return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]
        except Exception as exc:
            if getattr(exc, "sqlstate", None) is None or isinstance(exc, DISCONNECT_ERRORS):
                pooled.invalidate(exc)  # broken, or in a state nobody should inherit
            raise
        finally:
            pooled.close()
