"""PostgreSQL's side of the store: pools whose idle connections are checked, and prebuilt
statements compiled once for the driver."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import psycopg
import sqlalchemy as sa
from sqlalchemy.engine import Engine

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
        fixed = {
            compiled.bind_names[bind]: bind.value
            for bind in compiled.binds.values()
            if not bind.required and bind.callable is None
        }
        return cls(statement, str(compiled), fixed)
