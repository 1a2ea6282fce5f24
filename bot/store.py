"""Persistence: one SQLAlchemy Core schema for SQLite and PostgreSQL.

State changes are single conditional UPDATEs, so under concurrency (threads, or several app
instances on one PostgreSQL) a draft is confirmed once and a send is attempted once.
"""

from __future__ import annotations

import dataclasses
import fcntl
import functools
import os
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any, ClassVar, Self, TypeVar

import psycopg
import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.pool import StaticPool


class SendState(StrEnum):
    DRAFT = "draft"
    CONFIRMED = "confirmed"
    SENDING = "sending"
    SENT = "sent"
    FAILED = "failed"
    UNKNOWN = "unknown"
    CANCELLED = "cancelled"


metadata = sa.MetaData()

_TS = sa.DateTime(timezone=True)


def _render_columns() -> list[sa.Column[Any]]:
    """What Slack shows of a row, and who is updating it. `version` counts changes worth
    showing; `dirty` (indexed) says Slack lags behind, so a sweeper finds the row after a crash."""
    return [
        sa.Column("version", sa.Integer, nullable=False, server_default="0"),
        sa.Column("rendered_version", sa.Integer, nullable=False, server_default="0"),
        sa.Column("dirty", sa.Boolean, nullable=False, server_default=sa.false(), index=True),
        sa.Column("render_owner", sa.String(64)),
        sa.Column("render_until", _TS),
        sa.Column("rendered_at", _TS),
    ]


sends = sa.Table(
    "sends",
    metadata,
    sa.Column("id", sa.String(32), primary_key=True),
    sa.Column("created_at", _TS, nullable=False),
    sa.Column("updated_at", _TS, nullable=False),
    sa.Column("source", sa.String(16), nullable=False),
    sa.Column("team_id", sa.String(32)),
    sa.Column("channel_id", sa.String(32)),
    sa.Column("user_id", sa.String(32), index=True),
    sa.Column("thread_ts", sa.String(32)),
    sa.Column("message_ts", sa.String(32)),
    sa.Column("status_ts", sa.String(32)),
    sa.Column("sender_alias", sa.String(64), nullable=False),
    sa.Column("sender_number", sa.String(16), nullable=False),
    sa.Column("recipient", sa.String(32), nullable=False),
    sa.Column("kind", sa.String(16), nullable=False),
    sa.Column("body", sa.Text, nullable=False),
    sa.Column("caption", sa.Text),
    sa.Column("file_name", sa.Text),
    sa.Column("external_id", sa.String(64), nullable=False, unique=True),
    sa.Column("callback_token", sa.String(128), nullable=False, unique=True),
    sa.Column("transaction_id", sa.String(128), index=True),
    sa.Column("state", sa.String(16), nullable=False, index=True),
    sa.Column("provider_status", sa.String(64)),
    sa.Column("provider_rank", sa.Integer),
    sa.Column("provider_status_at", _TS),
    sa.Column("error", sa.Text),
    sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
    # A Slack file's bytes served at /media/<token>; `origin` makes one offer per shared file.
    sa.Column("media_id", sa.String(32), sa.ForeignKey("media.id", ondelete="SET NULL")),
    sa.Column("origin", sa.String(200), unique=True),
    sa.Column("txid_ts", sa.String(32)),
    sa.Column("outcome_ts", sa.String(32)),
    sa.Column("message_status", sa.String(64)),
    sa.Column("status_shown", sa.String(64)),
    sa.Column("batch_id", sa.String(32), sa.ForeignKey("batches.id"), index=True),
    *_render_columns(),
)

media = sa.Table(
    "media",
    metadata,
    sa.Column("id", sa.String(32), primary_key=True),
    sa.Column("created_at", _TS, nullable=False),
    sa.Column("expires_at", _TS, nullable=False, index=True),
    sa.Column("content_type", sa.String(100), nullable=False),
    sa.Column("size", sa.Integer, nullable=False),
    sa.Column("sha256", sa.String(64), nullable=False),
    sa.Column("file_name", sa.Text),
    sa.Column("slack_file_id", sa.String(32)),
    sa.Column("data", sa.LargeBinary, nullable=False),
)

batches = sa.Table(
    "batches",
    metadata,
    sa.Column("id", sa.String(32), primary_key=True),
    sa.Column("created_at", _TS, nullable=False),
    sa.Column("updated_at", _TS, nullable=False),
    sa.Column("group_name", sa.String(100), nullable=False),
    sa.Column("total", sa.Integer, nullable=False),
    sa.Column("state", sa.String(16), nullable=False),
    sa.Column("team_id", sa.String(32)),
    sa.Column("channel_id", sa.String(32)),
    sa.Column("user_id", sa.String(32)),
    sa.Column("thread_ts", sa.String(32)),
    sa.Column("message_ts", sa.String(32)),
    sa.Column("shown", sa.Text),
    *_render_columns(),
)

slack_events = sa.Table(
    "slack_events",
    metadata,
    sa.Column("event_id", sa.String(64), primary_key=True),
    sa.Column("received_at", _TS, nullable=False, index=True),
)

flags = sa.Table(
    "flags",
    metadata,
    sa.Column("name", sa.String(64), primary_key=True),
    sa.Column("value", sa.Text, nullable=False),
    sa.Column("updated_at", _TS, nullable=False),
)

# Who opened their Home tab, and when: only their tabs are kept fresh as sends change.
home_views = sa.Table(
    "home_views",
    metadata,
    sa.Column("user_id", sa.String(32), primary_key=True),
    sa.Column("opened_at", _TS, nullable=False),
)

statuses = sa.Table(
    "statuses",
    metadata,
    sa.Column("send_id", sa.String(32), sa.ForeignKey("sends.id"), primary_key=True),
    sa.Column("status", sa.String(64), primary_key=True),
    sa.Column("received_at", _TS, nullable=False),
    sa.Column("provider_date", sa.String(64)),
    sa.Column("detail", sa.Text),
    # True when this status moved the shown status forward as it arrived.
    sa.Column("advanced", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("reply_ts", sa.String(32)),
)

callbacks = sa.Table(
    "callbacks",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("send_id", sa.String(32), sa.ForeignKey("sends.id"), index=True),
    sa.Column("received_at", _TS, nullable=False),
    sa.Column("status", sa.String(64)),
    sa.Column("body", sa.Text, nullable=False),
)


_READONLY = "whatsapp_bot_readonly"
_CHANGED = {"version": sends.c.version + 1, "dirty": True}
_BATCH_CHANGED = {"version": batches.c.version + 1, "dirty": True}

# The statements of the hot paths (a status callback, a render pass), built once: building a
# Core statement and its cache key costs more than SQLite takes to run it.
_P = sa.bindparam
_CALLBACK_TARGET = sa.select(sends.c.id, sends.c.external_id).where(
    sends.c.callback_token == _P("token")
)
_INSERT_CALLBACK = callbacks.insert()
_EXTERNAL_ID = _P("external_id", type_=sa.String)
# Find the send by token and keep the body, in one statement: only if the body names no
# other send's externalId.
_KEEP_BY_TOKEN = (
    callbacks.insert()
    .from_select(
        ["send_id", "received_at", "status", "body"],
        sa.select(
            sends.c.id,
            _P("at", type_=_TS),
            _P("status", type_=sa.String),
            _P("body", type_=sa.Text),
        ).where(
            sends.c.callback_token == _P("token"),
            sa.or_(_EXTERNAL_ID.is_(None), sends.c.external_id == _EXTERNAL_ID),
        ),
    )
    .returning(callbacks.c.send_id)
)
_SEND_BY_ID = sa.select(sends).where(sends.c.id == _P("send_id"))
_HOME_OPENED = sa.select(home_views.c.opened_at).where(home_views.c.user_id == _P("user_id"))
_SHOWN = sa.select(sends.c.provider_status).where(sends.c.id == _P("send_id"))
_TIMELINE = (
    sa.select(statuses)
    .where(statuses.c.send_id == _P("send_id"))
    .order_by(statuses.c.received_at, statuses.c.status)
)
# take_callback on PostgreSQL in one statement. Every part reads the database as it was
# before the statement, except that `recorded` reads what `changed` returns, so a status is
# `advanced` exactly when the UPDATE (which waits for concurrent ones) made it the shown one.
_PG_TAKE_CALLBACK = sa.text(
    """
WITH target AS (
    SELECT id, external_id, provider_status FROM sends WHERE callback_token = :token
), accepted AS (
    SELECT id FROM target
    WHERE CAST(:external_id AS VARCHAR) IS NULL OR external_id = :external_id
), kept AS (
    INSERT INTO callbacks (send_id, received_at, status, body)
    SELECT id, :at, :status, :body FROM accepted
    RETURNING send_id
), changed AS (
    UPDATE sends SET
        provider_status = CASE WHEN provider_rank IS NULL OR provider_rank < :rank
            THEN :status ELSE provider_status END,
        provider_status_at = CASE WHEN provider_rank IS NULL OR provider_rank < :rank
            THEN :at ELSE provider_status_at END,
        provider_rank = CASE WHEN provider_rank IS NULL OR provider_rank < :rank
            THEN :rank ELSE provider_rank END,
        render_owner = CASE WHEN render_until IS NULL OR render_until < :at
            THEN CAST(:owner AS VARCHAR) ELSE render_owner END,
        render_until = CASE WHEN render_until IS NULL OR render_until < :at
            THEN CAST(:until AS TIMESTAMP WITH TIME ZONE) ELSE render_until END,
        updated_at = :at, version = version + 1, dirty = true
    WHERE id IN (SELECT id FROM accepted) AND CAST(:status AS VARCHAR) IS NOT NULL
      AND NOT EXISTS (SELECT 1 FROM statuses s WHERE s.send_id = sends.id AND s.status = :status)
    RETURNING id, provider_status, batch_id, render_owner, render_until, rendered_at
), recorded AS (
    INSERT INTO statuses (send_id, status, received_at, provider_date, detail, advanced)
    SELECT id, :status, :at, :provider_date, :detail, provider_status = :status FROM changed
    ON CONFLICT DO NOTHING
    RETURNING send_id
), touched AS (
    UPDATE batches SET version = version + 1, dirty = true
    WHERE id IN (SELECT batch_id FROM changed) AND EXISTS (SELECT 1 FROM recorded)
    RETURNING id
)
SELECT target.id AS send_id,
       EXISTS (SELECT 1 FROM accepted) AS accepted,
       EXISTS (SELECT 1 FROM recorded) AS new,
       changed.provider_status AS changed_status,
       target.provider_status AS old_status,
       changed.render_owner AS owner,
       changed.render_until AS until,
       changed.rendered_at AS rendered_at
FROM target LEFT JOIN changed ON changed.id = target.id
"""
).bindparams(
    sa.bindparam("at", type_=_TS),
    sa.bindparam("until", type_=_TS),
    sa.bindparam("rank", type_=sa.Integer),
)
_RANKS_BELOW = sa.or_(
    sends.c.provider_rank.is_(None), sends.c.provider_rank < _P("p_rank", type_=sa.Integer)
)
_LEASE_FREE = sa.or_(sends.c.render_until.is_(None), sends.c.render_until < _P("p_at", type_=_TS))
# A new status (none of that name yet) is a change worth showing; it becomes the shown status
# only if it ranks above the current one. Every SET expression reads the row as it was.
_ADVANCE = (
    sends.update()
    .where(
        sends.c.id == _P("p_send"),
        ~sa.exists().where(statuses.c.send_id == _P("p_send"), statuses.c.status == _P("p_status")),
    )
    .values(
        provider_status=sa.case(
            (_RANKS_BELOW, _P("p_status", type_=sa.String)), else_=sends.c.provider_status
        ),
        provider_status_at=sa.case(
            (_RANKS_BELOW, _P("p_at", type_=_TS)), else_=sends.c.provider_status_at
        ),
        provider_rank=sa.case(
            (_RANKS_BELOW, _P("p_rank", type_=sa.Integer)), else_=sends.c.provider_rank
        ),
        render_owner=sa.case(
            (_LEASE_FREE, _P("p_owner", type_=sa.String)), else_=sends.c.render_owner
        ),
        render_until=sa.case((_LEASE_FREE, _P("p_until", type_=_TS)), else_=sends.c.render_until),
        updated_at=_P("p_at", type_=_TS),
        **_CHANGED,
    )
    .returning(
        sends.c.provider_status,
        sends.c.batch_id,
        sends.c.render_owner,
        sends.c.render_until,
        sends.c.rendered_at,
    )
)


def utcnow() -> datetime:
    return datetime.now(UTC)


def _lease(owner: str | None, until: datetime | None, rendered_at: datetime | None) -> Lease:
    return Lease(owner, _aware(until), _aware(rendered_at))


def _aware(value: datetime | None) -> datetime | None:
    """SQLite hands back naive datetimes; everything stored is UTC."""
    if value is not None and value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value


@dataclass(frozen=True, kw_only=True)
class Rendered:
    """What Slack shows of a row, and who is updating it (see `_render_columns`).

    Its subclasses are rows with a `state` and these times, read back with `from_row`.
    """

    _TIMES: ClassVar[tuple[str, ...]] = ("created_at", "updated_at", "render_until", "rendered_at")

    version: int = 0
    rendered_version: int = 0
    dirty: bool = False
    render_owner: str | None = None
    render_until: datetime | None = None
    rendered_at: datetime | None = None

    @classmethod
    def from_row(cls, row: Mapping[Any, Any]) -> Self:
        values = dict(row)
        for key in cls._TIMES:
            values[key] = _aware(values[key])
        values["state"] = SendState(values["state"])
        return cls(**values)


@dataclass(frozen=True, kw_only=True)
class SendRecord(Rendered):
    id: str
    created_at: datetime
    updated_at: datetime
    source: str
    sender_alias: str
    sender_number: str
    recipient: str
    kind: str
    body: str
    external_id: str
    callback_token: str
    state: SendState
    team_id: str | None = None
    channel_id: str | None = None
    user_id: str | None = None
    thread_ts: str | None = None
    message_ts: str | None = None
    status_ts: str | None = None
    caption: str | None = None
    file_name: str | None = None
    transaction_id: str | None = None
    provider_status: str | None = None
    provider_rank: int | None = None
    provider_status_at: datetime | None = None
    error: str | None = None
    attempts: int = 0
    media_id: str | None = None
    origin: str | None = None
    batch_id: str | None = None
    txid_ts: str | None = None
    outcome_ts: str | None = None
    message_status: str | None = None
    status_shown: str | None = None

    _TIMES: ClassVar[tuple[str, ...]] = (*Rendered._TIMES, "provider_status_at")


_SEND_FIELDS = {f.name for f in dataclasses.fields(SendRecord)}


@dataclass(frozen=True)
class SendSummary:
    """What a list of sends shows of each (the Home tab): a few columns, not the whole row."""

    id: str
    created_at: datetime
    kind: str
    recipient: str
    sender_alias: str
    sender_number: str
    state: SendState
    transaction_id: str | None
    provider_status: str | None

    @classmethod
    def from_row(cls, row: Any) -> SendSummary:
        values = dict(row._mapping)
        values["created_at"] = _aware(values["created_at"])
        values["state"] = SendState(values["state"])
        return cls(**values)


_SUMMARY_COLUMNS = [sends.c[f.name] for f in dataclasses.fields(SendSummary)]
_LISTED = sa.and_(
    sends.c.user_id == sa.bindparam("user_id"),
    sends.c.state.in_(
        [str(s) for s in (SendState.SENDING, SendState.SENT, SendState.FAILED, SendState.UNKNOWN)]
    ),
)
_RECENT = (
    sa.select(*_SUMMARY_COLUMNS)
    .where(_LISTED)
    .order_by(sends.c.created_at.desc())
    .limit(sa.bindparam("limit", type_=sa.Integer))
)
_RECENT_COUNT = sa.select(sa.func.count()).select_from(sends).where(_LISTED)


@dataclass(frozen=True)
class StatusRow:
    status: str
    received_at: datetime
    provider_date: str | None = None
    detail: str | None = None
    advanced: bool = False
    reply_ts: str | None = None


@dataclass(frozen=True)
class Lease:
    """Who is bringing a row's thread up to date (`owner`, until when), and when Slack was
    last written for it: read with a change, so the one who made it knows whether to start
    a pass now, later, or not at all (the holder sees the change as it lets go)."""

    owner: str | None = None
    until: datetime | None = None
    rendered_at: datetime | None = None


@dataclass(frozen=True)
class StatusChange:
    """What recording one status did: `new` unless a duplicate; `advanced` if now shown;
    `shown`, the send's shown status afterwards; `lease`, the send's lease as it left it."""

    new: bool
    advanced: bool
    shown: str | None = None
    lease: Lease = Lease()


@dataclass(frozen=True)
class CallbackTaken:
    """What `take_callback` did: `mismatch` when the body names another send's externalId
    (nothing is stored); otherwise the body is kept and `change` says what its status did."""

    send_id: str
    mismatch: bool = False
    change: StatusChange | None = None


@dataclass(frozen=True)
class MediaRecord:
    id: str
    created_at: datetime
    expires_at: datetime
    content_type: str
    size: int
    sha256: str
    file_name: str | None
    slack_file_id: str | None
    data: bytes | None = None

    @classmethod
    def from_row(cls, row: Mapping[Any, Any]) -> MediaRecord:
        values = dict(row)
        values["created_at"] = _aware(values["created_at"])
        values["expires_at"] = _aware(values["expires_at"])
        if values.get("data") is not None:
            values["data"] = bytes(values["data"])
        return cls(**values)


@dataclass(frozen=True, kw_only=True)
class BatchRecord(Rendered):
    """A group send: one confirmation and one progress message for many recipients."""

    id: str
    created_at: datetime
    updated_at: datetime
    group_name: str
    total: int
    state: SendState
    team_id: str | None = None
    channel_id: str | None = None
    user_id: str | None = None
    thread_ts: str | None = None
    message_ts: str | None = None
    shown: str | None = None


class Store:
    """The app's database. Thread-safe; every method is one short transaction."""

    def __init__(self, engine: Engine, alone: Engine | None = None) -> None:
        """`engine` runs transactions; on PostgreSQL, `alone` (autocommit connections of a
        pool of their own, so that no checkout switches modes) runs what is sent alone."""
        self.engine = engine
        self._server = engine.dialect.name != "sqlite"
        self._alone = alone or (
            engine.execution_options(isolation_level="AUTOCOMMIT") if self._server else engine
        )
        self._write_lock: AbstractContextManager[object] = (
            _WriterLock(engine.url.database) if engine.dialect.name == "sqlite" else nullcontext()
        )
        self._together = _Together(self._tx)
        self._compiled: dict[int, _Compiled] = {}  # by the id of a prebuilt statement

    @classmethod
    def from_url(cls, url: str, *, pool_size: int = 10) -> Store:
        if sa.engine.make_url(url).get_backend_name() == "sqlite":
            return cls(create_engine(url, pool_size=pool_size))
        # Two pools sharing the 2 × pool_size connections one pool had (with its overflow),
        # kept open: an overflow connection is closed when returned, and opening one costs
        # more than waiting a moment for a pooled one.
        alone = max(2, pool_size * 6 // 5)
        return cls(
            create_engine(url, pool_size=max(2, 2 * pool_size - alone), overflow=0),
            create_engine(url, pool_size=alone, overflow=0, autocommit=True),
        )

    def create_schema(self) -> None:
        """Create missing tables; safe when several instances start at once."""
        with self.engine.begin() as conn:
            if conn.dialect.name == "postgresql":
                conn.execute(sa.text("SELECT pg_advisory_xact_lock(7461263)"))
            metadata.create_all(conn, checkfirst=True)

    def close(self) -> None:
        self.engine.dispose()
        self._alone.dispose()
        if isinstance(self._write_lock, _WriterLock):
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
            with self._alone.connect() as conn:
                return fn(conn)
        return self._together.run(fn)

    def _rows(self, statement: Any, params: Mapping[str, Any]) -> list[dict[str, Any]]:
        """Run one prebuilt statement of a hot path, alone, and return its rows by column.

        On PostgreSQL it goes to the driver's cursor as SQL compiled once: SQLAlchemy's
        execution path (cache lookup, parameter and result processing) costs more than the
        round trip. Only for statements whose parameters and results psycopg converts as
        SQLAlchemy would (strings, numbers, booleans, aware datetimes)."""
        if not self._server:
            return self._write_one(
                lambda conn: [dict(r) for r in conn.execute(statement, params).mappings()]
            )
        compiled = self._compiled.get(id(statement))
        if compiled is None:
            compiled = _Compiled.of(statement, self._alone.dialect)
            self._compiled[id(statement)] = compiled
        pooled = self._alone.raw_connection()
        try:
            driver = pooled.driver_connection
            cursor = driver.execute(compiled.sql, {**compiled.fixed, **params})  # type: ignore[union-attr]
            if cursor.description is None:
                return []
            names = [column.name for column in cursor.description]
            return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]
        except Exception as exc:
            if getattr(exc, "sqlstate", None) is None or isinstance(exc, _DISCONNECTS):
                pooled.invalidate(exc)  # broken, or in a state nobody should inherit
            raise
        finally:
            pooled.close()

    def _row(self, statement: Any, params: Mapping[str, Any]) -> dict[str, Any] | None:
        rows = self._rows(statement, params)
        return rows[0] if rows else None

    @contextmanager
    def _read(self) -> Iterator[Connection]:
        """A connection for reads, each statement on its own: no BEGIN and no ROLLBACK to
        send (on PostgreSQL, a read is one round trip instead of three)."""
        with self._alone.connect() as conn:
            if not self._server:
                conn.execution_options(**{_READONLY: True})
            yield conn

    # sends

    def add_send(self, **values: Any) -> SendRecord:
        now = utcnow()
        row = {"created_at": now, "updated_at": now, "state": SendState.DRAFT, **values}
        unknown = set(row) - _SEND_FIELDS
        if unknown:
            raise TypeError(f"unknown send fields: {sorted(unknown)}")
        row["state"] = str(row["state"])
        with self._tx() as conn:
            conn.execute(sends.insert().values(**row))
            return self._get(conn, row["id"])

    def add_send_once(self, **values: Any) -> SendRecord | None:
        """Like add_send, but None when a send with the same `origin` already exists."""
        try:
            return self.add_send(**values)
        except sa.exc.IntegrityError:
            return None

    def update_draft(self, send_id: str, **changes: Any) -> SendRecord | None:
        """Change a send that is still a draft (its recipient or sender); None otherwise."""
        with self._tx() as conn:
            result = conn.execute(
                sends.update()
                .where(sends.c.id == send_id, sends.c.state == str(SendState.DRAFT))
                .values(**changes, updated_at=utcnow())
            )
            return self._get(conn, send_id) if result.rowcount == 1 else None

    def get_send(self, send_id: str) -> SendRecord | None:
        with self._read() as conn:
            row = conn.execute(_SEND_BY_ID, {"send_id": send_id}).mappings().first()
            return SendRecord.from_row(row) if row else None

    def callback_target(self, token: str) -> tuple[str, str] | None:
        """The id and externalId of the send a callback token belongs to."""
        with self._read() as conn:
            row = conn.execute(_CALLBACK_TARGET, {"token": token}).first()
            return (row[0], row[1]) if row else None

    def find_by_transaction_id(self, transaction_id: str) -> SendRecord | None:
        with self._read() as conn:
            return self._find(conn, sends.c.transaction_id == transaction_id)

    def recent_sends(self, user_id: str, *, limit: int) -> tuple[list[SendSummary], int]:
        """A person's latest sends that went to the provider, newest first, and how many in all."""
        with self._read() as conn:
            rows = conn.execute(_RECENT, {"user_id": user_id, "limit": limit})
            records = [SendSummary.from_row(r) for r in rows]
            total = conn.execute(_RECENT_COUNT, {"user_id": user_id}).scalar()
            return records, int(total or 0)

    def sends_in_state(self, states: Iterable[SendState]) -> list[SendRecord]:
        with self._read() as conn:
            rows = conn.execute(
                sa.select(sends)
                .where(sends.c.state.in_([str(s) for s in states]))
                .order_by(sends.c.created_at)
            ).mappings()
            return [SendRecord.from_row(r) for r in rows]

    def transition(
        self, send_id: str, *, from_states: Iterable[SendState], to: SendState, **changes: Any
    ) -> SendRecord | None:
        """Move a send between states atomically; None if it was not in `from_states`."""
        allowed = [str(s) for s in from_states]
        values = {**changes, "state": str(to), "updated_at": utcnow(), **_CHANGED}
        if to is SendState.SENDING:
            values["attempts"] = sends.c.attempts + 1
        with self._tx() as conn:
            result = conn.execute(
                sends.update()
                .where(sends.c.id == send_id, sends.c.state.in_(allowed))
                .values(**values)
            )
            if result.rowcount != 1:
                return None
            send = self._get(conn, send_id)
            self._touch_batch(conn, send)
            return send

    def _touch_batch(self, conn: Connection, send: SendRecord) -> None:
        """A member's change is also a change of its group's progress message."""
        if send.batch_id is not None:
            conn.execute(
                batches.update().where(batches.c.id == send.batch_id).values(**_BATCH_CHANGED)
            )

    def set_send_fields(self, send_id: str, **changes: Any) -> None:
        """update_send without reading the row back, for callers that know what they wrote."""
        if "state" in changes:
            raise ValueError("use transition() to change a send's state")
        statement = (
            sends.update().where(sends.c.id == send_id).values(**changes, updated_at=utcnow())
        )
        self._write_one(lambda conn: conn.execute(statement))

    def update_send(self, send_id: str, **changes: Any) -> SendRecord:
        """Set fields that carry no state (Slack message refs, for instance)."""
        if "state" in changes:
            raise ValueError("use transition() to change a send's state")
        with self._tx() as conn:
            conn.execute(
                sends.update().where(sends.c.id == send_id).values(**changes, updated_at=utcnow())
            )
            return self._get(conn, send_id)

    # media

    def add_media(self, **values: Any) -> MediaRecord:
        row = {"created_at": utcnow(), **values}
        with self._tx() as conn:
            conn.execute(media.insert().values(**row))
        record = self.get_media(row["id"], with_data=False)
        assert record is not None
        return record

    def get_media(self, media_id: str, *, with_data: bool = True) -> MediaRecord | None:
        columns = [c for c in media.c if with_data or c.name != "data"]
        with self._read() as conn:
            row = conn.execute(sa.select(*columns).where(media.c.id == media_id)).mappings().first()
            return MediaRecord.from_row(row) if row else None

    def media_chunks(self, media_id: str, *, size: int, chunk: int = 512 * 1024) -> Iterator[bytes]:
        """A kept file's bytes in slices, so serving it never holds the whole file in memory.

        Ends early if the file is purged meanwhile."""
        if self.engine.dialect.name == "sqlite":
            yield from self._sqlite_chunks(media_id, size=size, chunk=chunk)
            return
        piece = sa.func.substring(media.c.data, sa.bindparam("start"), sa.bindparam("length"))
        query = sa.select(piece).where(media.c.id == media_id)
        for offset in range(0, size, chunk):
            with self._read() as conn:
                data = conn.execute(query, {"start": offset + 1, "length": chunk}).scalar()
            if not data:
                return
            yield bytes(data)

    def _sqlite_chunks(self, media_id: str, *, size: int, chunk: int) -> Iterator[bytes]:
        with self._read() as conn:
            rowid = conn.execute(
                sa.select(sa.literal_column("rowid")).where(media.c.id == media_id)
            ).scalar()
            if rowid is None:
                return
            raw = conn.connection.driver_connection
            assert raw is not None
            with raw.blobopen("media", "data", rowid, readonly=True) as blob:
                for _ in range(0, size, chunk):
                    data = blob.read(chunk)
                    if not data:
                        return
                    yield bytes(data)

    def extend_media(self, media_id: str, expires_at: datetime) -> None:
        """Keep the media at least until `expires_at`."""
        with self._tx() as conn:
            conn.execute(
                media.update()
                .where(media.c.id == media_id, media.c.expires_at < expires_at)
                .values(expires_at=expires_at)
            )

    def purge_media(self, now: datetime | None = None) -> int:
        """Delete the bytes of every expired media; their links then answer 404."""
        with self._tx() as conn:
            result = conn.execute(media.delete().where(media.c.expires_at < (now or utcnow())))
            return int(result.rowcount or 0)

    # flags shared by every instance

    def set_flag(self, name: str, value: str | None) -> None:
        """Set (or with None, clear) a named condition, such as a refused provider key."""
        with self._tx() as conn:
            conn.execute(flags.delete().where(flags.c.name == name))
            if value is not None:
                conn.execute(flags.insert().values(name=name, value=value, updated_at=utcnow()))

    def get_flag(self, name: str) -> str | None:
        with self._read() as conn:
            return conn.execute(sa.select(flags.c.value).where(flags.c.name == name)).scalar()

    # Slack events

    def claim_event(self, event_id: str) -> bool:
        """True the first time an event id is seen, on any instance."""
        values = {"event_id": event_id, "received_at": utcnow()}
        row = self._write_one(
            lambda conn: conn.execute(_insert_ignore(conn, slack_events), values).first()
        )
        return row is not None

    # Home tabs

    def note_home_opened(self, user_id: str, at: datetime | None = None) -> None:
        """Remember that a person opened their Home tab (on any instance)."""
        at = at or utcnow()
        insert = pg_insert if self._server else sqlite_insert
        statement = (
            insert(home_views)
            .values(user_id=user_id, opened_at=at)
            .on_conflict_do_update(index_elements=["user_id"], set_={"opened_at": at})
        )
        self._write_one(lambda conn: conn.execute(statement))

    def home_opened_since(self, user_id: str, since: datetime) -> bool:
        with self._read() as conn:
            opened = conn.execute(_HOME_OPENED, {"user_id": user_id}).scalar()
        return opened is not None and (_aware(opened) or since) >= since

    # statuses

    def record_callback(
        self, send_id: str | None, body: str, status: str | None, *, at: datetime | None = None
    ) -> int:
        """Keep a provider callback verbatim, whatever it says."""
        with self._tx() as conn:
            return self._keep_callback(conn, send_id, body, status, at or utcnow())

    def callbacks_for(self, send_id: str) -> list[tuple[datetime, str | None, str]]:
        with self._read() as conn:
            rows = conn.execute(
                sa.select(callbacks.c.received_at, callbacks.c.status, callbacks.c.body)
                .where(callbacks.c.send_id == send_id)
                .order_by(callbacks.c.id)
            )
            return [(_aware(r[0]) or utcnow(), r[1], r[2]) for r in rows]

    def add_status(
        self,
        send_id: str,
        status: str,
        *,
        rank: int,
        at: datetime | None = None,
        provider_date: str | None = None,
        detail: str | None = None,
    ) -> StatusChange:
        """Record a status once; make it the shown one only if it ranks above the current
        (a callback's status is recorded by `take_callback`, with its body)."""
        with self._tx() as conn:
            return self._add_status(conn, send_id, status, rank, at, provider_date, detail)

    def take_callback(
        self,
        token: str,
        raw: str,
        *,
        external_id: str | None,
        status: str | None,
        rank: int = 0,
        provider_date: str | None = None,
        detail: str | None = None,
        claim: tuple[str, datetime] | None = None,
    ) -> CallbackTaken | None:
        """One provider callback in one transaction: find its send by token (None: no such
        send, nothing stored), refuse another send's externalId, keep the body verbatim and
        record its status, if any.

        `claim`, (owner, until): a status that changes the send also takes its render lease
        for `owner` if nobody holds it, so that one worker, not every one that took a
        callback, brings the thread up to date (`StatusChange.lease` says who holds it)."""
        at = utcnow()
        owner, until = claim if claim is not None else (None, None)
        if self._server:
            return self._take_callback_at_once(
                token, raw, at, external_id, status, rank, provider_date, detail, owner, until
            )

        def take(conn: Connection) -> CallbackTaken | None:
            params = {"token": token, "external_id": external_id, "at": at, "status": status}
            kept = conn.execute(_KEEP_BY_TOKEN, {**params, "body": raw}).first()
            if kept is None:  # kept nothing: no such send, or another send's externalId
                target = conn.execute(_CALLBACK_TARGET, {"token": token}).first()
                return None if target is None else CallbackTaken(target[0], mismatch=True)
            send_id = kept[0]
            if status is None:
                return CallbackTaken(send_id)
            change = self._add_status(
                conn, send_id, status, rank, at, provider_date, detail, owner, until
            )
            return CallbackTaken(send_id, change=change)

        return self._together.run(take)

    def _take_callback_at_once(
        self,
        token: str,
        raw: str,
        at: datetime,
        external_id: str | None,
        status: str | None,
        rank: int,
        provider_date: str | None,
        detail: str | None,
        owner: str | None,
        until: datetime | None,
    ) -> CallbackTaken | None:
        """take_callback on PostgreSQL: one statement, so one round trip, atomic on its own.
        It does what the SQLite path's statements do, in the same order (see _add_status)."""
        params = {
            "owner": owner,
            "until": until,
            "token": token,
            "body": raw,
            "at": at,
            "external_id": external_id,
            "status": status,
            "rank": rank,
            "provider_date": provider_date,
            "detail": detail,
        }
        found = self._row(_PG_TAKE_CALLBACK, params)
        if found is None:
            return None
        send_id, accepted, new = found["send_id"], found["accepted"], found["new"]
        changed_status, old_status = found["changed_status"], found["old_status"]
        lease = found["owner"], found["until"], found["rendered_at"]
        if not accepted:
            return CallbackTaken(send_id, mismatch=True)
        if status is None:
            return CallbackTaken(send_id)
        if changed_status is None:  # a duplicate: nothing changed
            return CallbackTaken(send_id, change=StatusChange(False, False, old_status))
        if not new:
            # A concurrent duplicate passes the UPDATE (and may take the lease) but is not
            # recorded: nothing shown changed, but the send is marked changed all the same.
            change = StatusChange(False, False, changed_status, _lease(*lease))
            return CallbackTaken(send_id, change=change)
        advanced = changed_status == status
        change = StatusChange(True, advanced, changed_status, _lease(*lease))
        return CallbackTaken(send_id, change=change)

    @staticmethod
    def _keep_callback(
        conn: Connection, send_id: str | None, raw: str, status: str | None, at: datetime
    ) -> int:
        result = conn.execute(
            _INSERT_CALLBACK, {"send_id": send_id, "body": raw, "status": status, "received_at": at}
        )
        key = result.inserted_primary_key
        return int(key[0]) if key else 0

    @staticmethod
    def _add_status(
        conn: Connection,
        send_id: str,
        status: str,
        rank: int,
        at: datetime | None,
        provider_date: str | None,
        detail: str | None,
        owner: str | None = None,
        until: datetime | None = None,
    ) -> StatusChange:
        """Three statements: mark the send changed (and advanced, if the status ranks above
        its shown one, and its lease taken for `owner`, if free) unless the status is
        already recorded, then record the status."""
        at = at or utcnow()
        params = {"p_send": send_id, "p_status": status, "p_rank": rank, "p_at": at}
        changed = conn.execute(_ADVANCE, {**params, "p_owner": owner, "p_until": until}).first()
        if changed is None:  # a duplicate (or no such send): nothing changes
            shown = conn.execute(_SHOWN, {"send_id": send_id}).scalar()
            return StatusChange(new=False, advanced=False, shown=shown)
        shown, batch_id, *lease = changed
        advanced = shown == status
        insert = _insert_ignore(conn, statuses)
        # RETURNING, not rowcount: psycopg reports no rowcount for ON CONFLICT DO NOTHING.
        # On PostgreSQL a concurrent duplicate can pass the UPDATE's check; it stops here.
        new = (
            conn.execute(
                insert,
                {
                    "send_id": send_id,
                    "status": status,
                    "received_at": at,
                    "provider_date": provider_date,
                    "detail": detail,
                    "advanced": advanced,
                },
            ).first()
            is not None
        )
        if new and batch_id is not None:
            conn.execute(batches.update().where(batches.c.id == batch_id).values(**_BATCH_CHANGED))
        return StatusChange(new, new and advanced, shown, _lease(*lease))

    def set_status_reply(self, send_id: str, status: str, reply_ts: str) -> None:
        statement = (
            statuses.update()
            .where(statuses.c.send_id == send_id, statuses.c.status == status)
            .values(reply_ts=reply_ts)
        )
        self._write_one(lambda conn: conn.execute(statement))

    # keeping Slack in step

    def acquire_render(
        self,
        record: type[R],
        row_id: str,
        owner: str,
        *,
        seconds: float,
        only_dirty: bool = True,
        held: bool = False,
    ) -> R | None:
        """Take the row's render lease and read the row, in one statement; None if someone
        else holds an unexpired lease (or, with `only_dirty`, Slack already shows the row's
        latest version). With `held`, a lease `owner` holds already (a callback took it for
        it, or its last pass kept it) is taken too: only for one who never runs two passes
        of a row at once."""
        now = utcnow()
        params = {"p_id": row_id, "p_now": now, "p_owner": owner}
        params["p_until"] = now + timedelta(seconds=seconds)
        row = self._row(_acquire(_TABLES[record], only_dirty, held), params)
        return record.from_row(row) if row else None

    def finish_render(
        self,
        record: type[Rendered],
        row_id: str,
        owner: str,
        version: int | None,
        *,
        wrote_at: datetime | None = None,
        hold: datetime | None = None,
        **shown: Any,
    ) -> bool:
        """Release the lease having shown `version` (None: shown nothing); True if still dirty.

        `wrote_at`, the time of the last write to Slack, spaces the next holder's first write;
        `shown` are fields that say what Slack now shows (a status the channel message shows),
        kept only while the lease is still ours: a later holder redoes what we did not keep.
        With `hold`, a row left dirty stays ours until then, for the pass we will make next
        (so that no other worker starts one meanwhile, only to find nothing left to do).
        """
        values: dict[str, Any] = {f"f_{key}": value for key, value in shown.items()}
        values.update(p_id=row_id, p_owner=owner)
        if wrote_at is not None:
            values["f_rendered_at"] = wrote_at
        if version is not None:
            values["p_version"] = version
        if hold is not None:
            values["p_hold"] = hold
        statement = _finish(
            _TABLES[record],
            tuple(sorted(shown)),
            wrote_at is not None,
            version is not None,
            hold is not None,
        )
        row = self._row(statement, values)
        return bool(row["dirty"]) if row is not None else False  # None: the lease was lost

    def dirty_rows(self, *, limit: int = 100, table: sa.Table = sends) -> list[str]:
        """Rows that Slack lags behind and that nobody is updating now."""
        now = utcnow()
        until = table.c.render_until
        with self._read() as conn:
            rows = conn.execute(
                sa.select(table.c.id)
                .where(table.c.dirty.is_(True), sa.or_(until.is_(None), until < now))
                .order_by(table.c.updated_at)
                .limit(limit)
            )
            return [r[0] for r in rows]

    # batches (group sends)

    def add_batch(self, **values: Any) -> BatchRecord:
        now = utcnow()
        row = {"created_at": now, "updated_at": now, "state": str(SendState.DRAFT), **values}
        with self._tx() as conn:
            conn.execute(batches.insert().values(**row))
        batch = self.get_batch(row["id"])
        assert batch is not None
        return batch

    def get_batch(self, batch_id: str) -> BatchRecord | None:
        with self._read() as conn:
            row = conn.execute(batches.select().where(batches.c.id == batch_id)).mappings().first()
            return BatchRecord.from_row(row) if row else None

    def batch_sends(self, batch_id: str) -> list[SendRecord]:
        with self._read() as conn:
            rows = conn.execute(
                sa.select(sends).where(sends.c.batch_id == batch_id).order_by(sends.c.created_at)
            ).mappings()
            return [SendRecord.from_row(r) for r in rows]

    def move_batch(
        self, batch_id: str, *, from_state: SendState, to: SendState, **changes: Any
    ) -> BatchRecord | None:
        """Move a batch and all its still-waiting sends together, once."""
        with self._tx() as conn:
            moved = conn.execute(
                batches.update()
                .where(batches.c.id == batch_id, batches.c.state == str(from_state))
                .values(state=str(to), updated_at=utcnow(), **changes, **_BATCH_CHANGED)
            )
            if moved.rowcount != 1:
                return None
            conn.execute(
                sends.update()
                .where(sends.c.batch_id == batch_id, sends.c.state == str(from_state))
                .values(state=str(to), updated_at=utcnow(), **_CHANGED)
            )
            row = conn.execute(batches.select().where(batches.c.id == batch_id)).mappings().one()
            return BatchRecord.from_row(row)

    def update_batch(self, batch_id: str, **changes: Any) -> None:
        statement = (
            batches.update().where(batches.c.id == batch_id).values(**changes, updated_at=utcnow())
        )
        self._write_one(lambda conn: conn.execute(statement))

    def timeline(self, send_id: str) -> list[StatusRow]:
        if self._server:
            rows = self._rows(_TIMELINE, {"send_id": send_id})
        else:
            with self._read() as conn:
                rows = [dict(r) for r in conn.execute(_TIMELINE, {"send_id": send_id}).mappings()]
        return [
            StatusRow(
                status=r["status"],
                received_at=_aware(r["received_at"]) or utcnow(),
                provider_date=r["provider_date"],
                detail=r["detail"],
                advanced=r["advanced"],
                reply_ts=r["reply_ts"],
            )
            for r in rows
        ]

    # helpers

    def _find(self, conn: Connection, condition: Any) -> SendRecord | None:
        row = conn.execute(sa.select(sends).where(condition)).mappings().first()
        return SendRecord.from_row(row) if row else None

    def _get(self, conn: Connection, send_id: str) -> SendRecord:
        record = self._find(conn, sends.c.id == send_id)
        if record is None:
            raise LookupError(f"no send {send_id}")
        return record


@dataclass(frozen=True)
class _Compiled:
    """A prebuilt statement's SQL for the driver, and the values it was built with
    (`values(render_owner=None)` is a parameter too)."""

    statement: Any  # kept, so that its id is never another statement's
    sql: str
    fixed: dict[str, Any]

    @classmethod
    def of(cls, statement: Any, dialect: Any) -> _Compiled:
        compiled = statement.compile(dialect=dialect)
        fixed = {
            compiled.bind_names[bind]: bind.value
            for bind in compiled.binds.values()
            if not bind.required and bind.callable is None
        }
        return cls(statement, str(compiled), fixed)


class _WriterLock:
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
class _Work:
    fn: Callable[[Connection], Any]
    result: Any = None
    error: BaseException | None = None
    lead: bool = False
    finished: bool = False


class _Together:
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
        self._queue: list[_Work] = []
        self._busy = False

    def run(self, fn: Callable[[Connection], T]) -> T:
        item = _Work(fn)
        with self._cond:
            self._queue.append(item)
            if not self._busy:
                self._busy = True
                item.lead = True
            while not item.finished:
                if not item.lead:
                    self._cond.wait()
                    continue
                item.lead = False
                batch, self._queue = self._queue[:_BATCH_MOST], self._queue[_BATCH_MOST:]
                self._cond.release()
                try:
                    self._write(batch)
                finally:
                    self._cond.acquire()
                    for done in batch:
                        done.finished = True
                    if self._queue:
                        self._queue[0].lead = True
                    else:
                        self._busy = False
                    self._cond.notify_all()
        if item.error is not None:
            raise item.error
        return item.result  # type: ignore[no-any-return]

    def _write(self, batch: list[_Work]) -> None:
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


_BATCH_MOST = 64

R = TypeVar("R", SendRecord, BatchRecord)
_TABLES: dict[type[Rendered], sa.Table] = {SendRecord: sends, BatchRecord: batches}


@functools.cache
def _acquire(table: sa.Table, only_dirty: bool, held: bool) -> Any:
    until = table.c.render_until
    free = [until.is_(None), until < _P("p_now", type_=_TS)]
    if held:
        free.append(table.c.render_owner == _P("p_owner"))
    conditions = [table.c.id == _P("p_id"), sa.or_(*free)]
    if only_dirty:
        conditions.append(table.c.dirty.is_(True))
    return (
        table.update()
        .where(*conditions)
        .values(render_owner=_P("p_owner"), render_until=_P("p_until", type_=_TS))
        .returning(*table.c)
    )


@functools.cache
def _finish(table: sa.Table, fields: tuple[str, ...], wrote: bool, shown: bool, hold: bool) -> Any:
    values: dict[str, Any] = {"render_owner": None, "render_until": None}
    for name in (*fields, *(["rendered_at"] if wrote else [])):
        values[name] = _P(f"f_{name}", type_=table.c[name].type)
    dirty_after: Any = table.c.dirty
    if shown:
        version = _P("p_version", type_=sa.Integer)
        values["rendered_version"] = version
        values["dirty"] = dirty_after = table.c.version > version
    if hold:  # every SET reads the row as it was, so `dirty_after` is what `dirty` becomes
        values["render_owner"] = sa.case((dirty_after, table.c.render_owner), else_=None)
        values["render_until"] = sa.case((dirty_after, _P("p_hold", type_=_TS)), else_=None)
    return (
        table.update()
        .where(table.c.id == _P("p_id"), table.c.render_owner == _P("p_owner"))
        .values(**values)
        .returning(table.c.dirty)
    )


def _insert_ignore(conn: Connection, table: sa.Table) -> Any:
    """INSERT … ON CONFLICT DO NOTHING RETURNING the key, in the connection's dialect."""
    return _insert_ignore_for(conn.dialect.name, table)


@functools.cache
def _insert_ignore_for(dialect: str, table: sa.Table) -> Any:
    insert = pg_insert if dialect == "postgresql" else sqlite_insert
    return insert(table).on_conflict_do_nothing().returning(*table.primary_key.columns)


IDLE_PING_SECONDS = 10.0
# Driver errors after which a connection is not handed to anyone else.
_DISCONNECTS = (OSError, psycopg.OperationalError, psycopg.InterfaceError)


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
    """An engine tuned for the backend: WAL and a busy timeout for SQLite; for a database
    server, connections checked when they come back from idle, or autocommit ones."""
    parsed = sa.engine.make_url(url)
    if parsed.get_backend_name() != "sqlite":
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
        if not conn.get_execution_options().get(_READONLY, False):
            conn.exec_driver_sql("BEGIN IMMEDIATE")

    return engine
