"""Every send and every customer message of a time range, oldest first, read in constant
memory: what `whatsapp-bot export` writes.

Only sends someone made are read: those confirmed (`confirmed`, `sending`, `sent`, `failed`,
`unknown`); drafts and cancelled drafts never left the person who made them. A send's time is
its `created_at`, a customer message's its `received_at`; `since` is inclusive, `until`
exclusive. Times are text made by the database, UTC, always as wide
(`2026-01-31T14:30:00.000000Z`), so that they sort as text.

Sends and customer messages are each read in one ordered query, on one connection in one
snapshot: on PostgreSQL with a server-side cursor (in a REPEATABLE READ, READ ONLY
transaction), on SQLite in a read transaction whose rows are stepped through as they are
fetched; `chunk` rows at a time either way. Each send's statuses come with it, joined by the
database in the send's row (a subquery on the statuses' primary key, which starts with
`send_id`): as text (`SENT@… DELIVERED@…`) or as a JSON array of `{status, at, detail}`, as
asked. The two streams are merged by time a batch at a time (`_in_time_order`), on a thread
of their own a batch or two ahead of the caller (`_ReadAhead`), so that the database's work
overlaps the caller's writing.
"""

from __future__ import annotations

import bisect
import functools
import queue
import threading
from collections.abc import Callable, Generator, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from operator import attrgetter
from typing import Any, Literal, NamedTuple

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from bot.core.records import SendState
from bot.store.database import Database
from bot.store.schema import conversations, inbound_messages, sends
from bot.store.sqlite import READ_ONLY

EXPORTED_STATES = (
    SendState.CONFIRMED,
    SendState.SENDING,
    SendState.SENT,
    SendState.FAILED,
    SendState.UNKNOWN,
)
CHUNK = 2000
Timeline = Literal["text", "json"]


class ExportedSend(NamedTuple):
    id: str
    at: str  # created_at
    user_id: str | None
    channel_id: str | None
    sender_alias: str
    sender_number: str
    recipient: str
    customer_name: str | None  # as the customer's WhatsApp gave it, if they wrote
    kind: str
    body: str  # the media URL, or the text
    caption: str | None
    file_name: str | None
    transaction_id: str | None
    state: str
    provider_status: str | None
    error: str | None
    batch_id: str | None
    # Oldest first: `STATUS@time STATUS@time`, or `[{"status", "at", "detail"}, …]` (JSON);
    # None (or `[]`) for none.
    statuses: str | None


class ExportedMessage(NamedTuple):
    """A customer's message to a sender."""

    id: str
    at: str  # received_at
    sender_alias: str
    customer: str
    customer_name: str | None
    kind: str
    text: str
    attachments: str  # JSON: [{"url", "file_name", "caption"}]
    channel_id: str | None


Exported = ExportedSend | ExportedMessage


def export_rows(
    database: Database,
    *,
    since: datetime | None = None,
    until: datetime | None = None,
    statuses: Timeline = "json",
    chunk: int = CHUNK,
) -> Generator[Exported]:
    """Every confirmed send (with its statuses, as `statuses` says) and every customer
    message from `since` (inclusive) to `until` (exclusive), oldest first, sends before
    messages of the same moment. The connection is held until the iterator is exhausted or
    closed."""
    with _snapshot(database) as conn:
        rows = functools.partial(_merged, conn, since, until, statuses, chunk)
        with _ReadAhead(rows, interrupt=lambda: _interrupt(conn)) as batches:
            for batch in batches:
                yield from batch


# ---------------------------------------------------------------------------- the statements


def _time_text(column: str, dialect: str) -> str:
    """SQL for the time in `column` as `2026-01-31T14:30:00.000000Z`: a million of them cost
    much less in the database than as datetimes in Python."""
    if dialect == "postgresql":
        return f"""to_char({column} AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')"""
    # SQLite holds SQLAlchemy's `YYYY-MM-DD HH:MM:SS.ffffff`, in UTC; a shorter fraction (or
    # none) is padded with zeros.
    return (
        f"substr({column}, 1, 10) || 'T' || substr({column}, 12, 15) "
        f"|| substr('.000000', length({column}) - 18) || 'Z'"
    )


def _timeline(dialect: str, shape: Timeline) -> str:
    """SQL for a send's statuses in one value, oldest first (a subquery of `sends`' row)."""
    at = _time_text("statuses.received_at", dialect)
    order = "statuses.received_at, statuses.status"
    mine = "FROM statuses WHERE statuses.send_id = sends.id"
    if dialect == "postgresql":
        if shape == "text":
            entry = f"statuses.status || '@' || {at}"
            return f"(SELECT string_agg({entry}, ' ' ORDER BY {order}) {mine})"
        entry = (
            f"json_build_object('status', statuses.status, 'at', {at}, 'detail', statuses.detail)"
        )
        return f"(SELECT '[' || string_agg({entry}::text, ',' ORDER BY {order}) || ']' {mine})"
    # SQLite before 3.44 has no ORDER BY in an aggregate; a subquery with one is not
    # flattened into an aggregate query, so its rows reach the aggregate in that order.
    if shape == "text":
        return (
            f"(SELECT group_concat(entry, ' ') FROM (SELECT statuses.status || '@' || {at} "
            f"AS entry {mine} ORDER BY {order}))"
        )
    return (
        "(SELECT json_group_array(json_object('status', status, 'at', at, 'detail', detail)) "
        f"FROM (SELECT statuses.status AS status, {at} AS at, statuses.detail AS detail "
        f"{mine} ORDER BY {order}))"
    )


@functools.cache
def _sends_statement(dialect: str, shape: Timeline) -> sa.Select[Any]:
    known = sa.and_(
        conversations.c.sender_alias == sends.c.sender_alias,
        conversations.c.customer == sends.c.recipient,
    )
    # Nearly every send is exported: SQLite reads the table faster in its own order than
    # through the index on `state` (a jump to the row for each), and `+` keeps it off the index.
    state = sends.c.state if dialect == "postgresql" else sa.literal_column("+sends.state")
    return (
        sa.select(
            sends.c.id,
            sa.literal_column(_time_text("sends.created_at", dialect), sa.String),
            sends.c.user_id,
            sends.c.channel_id,
            sends.c.sender_alias,
            sends.c.sender_number,
            sends.c.recipient,
            conversations.c.customer_name,
            sends.c.kind,
            sends.c.body,
            sends.c.caption,
            sends.c.file_name,
            sends.c.transaction_id,
            sends.c.state,
            sends.c.provider_status,
            sends.c.error,
            sends.c.batch_id,
            sa.literal_column(_timeline(dialect, shape), sa.String),
        )
        .select_from(sends.outerjoin(conversations, known))
        .where(state.in_([str(exported) for exported in EXPORTED_STATES]))
        .order_by(sends.c.created_at, sends.c.id)
    )


@functools.cache
def _messages_statement(dialect: str) -> sa.Select[Any]:
    return sa.select(
        inbound_messages.c.id,
        sa.literal_column(_time_text("inbound_messages.received_at", dialect), sa.String),
        inbound_messages.c.sender_alias,
        inbound_messages.c.customer,
        inbound_messages.c.customer_name,
        inbound_messages.c.kind,
        inbound_messages.c.text,
        inbound_messages.c.attachments,
        inbound_messages.c.channel_id,
    ).order_by(inbound_messages.c.received_at, inbound_messages.c.id)


def _in_range(column: Any, since: datetime | None, until: datetime | None) -> list[Any]:
    conditions = []
    if since is not None:
        conditions.append(column >= since.astimezone(UTC))
    if until is not None:
        conditions.append(column < until.astimezone(UTC))
    return conditions


# ---------------------------------------------------------------------------- the reading


@contextmanager
def _snapshot(database: Database) -> Iterator[Connection]:
    """One connection reading one snapshot of the database, for as long as the export runs."""
    engine = database.engine
    with engine.connect() as conn:
        if engine.dialect.name == "sqlite":
            # No BEGIN IMMEDIATE (the writers' lock is not needed); a deferred BEGIN makes
            # every read of the export see the database as it was at its first.
            transaction = conn.execution_options(**{READ_ONLY: True}).begin()
            conn.exec_driver_sql("BEGIN")
        else:
            transaction = conn.execution_options(
                isolation_level="REPEATABLE READ", postgresql_readonly=True
            ).begin()
        try:
            yield conn
        finally:
            try:
                transaction.rollback()
            except sa.exc.DBAPIError:  # a cancel that came late: nobody gets this connection
                conn.invalidate()


def _merged(
    conn: Connection,
    since: datetime | None,
    until: datetime | None,
    shape: Timeline,
    chunk: int,
) -> Generator[list[Exported]]:
    """The sends and the customer messages in one time order, a batch at a time."""
    dialect = conn.dialect.name
    streams = [
        _batches(
            conn,
            _sends_statement(dialect, shape).where(*_in_range(sends.c.created_at, since, until)),
            ExportedSend,
            chunk,
        ),
        _batches(
            conn,
            _messages_statement(dialect).where(
                *_in_range(inbound_messages.c.received_at, since, until)
            ),
            ExportedMessage,
            chunk,
        ),
    ]
    try:
        yield from _in_time_order(streams)
    finally:  # their cursors closed by the thread that used them
        for stream in streams:
            stream.close()


def _in_time_order(streams: list[Generator[list[Exported]]]) -> Iterator[list[Exported]]:
    """Batches of records, each stream in time order, as batches in one time order; of the
    same moment, the first stream's records first. What was read of each stream before the
    earliest of their last times read is final, and goes out sorted (a sort of a few sorted
    runs costs much less than merging record by record); a stream is read on when all it had
    is out, or all that is left of it is of that moment. Holds a batch or two of each."""
    at = attrgetter("at")
    held: list[list[Exported]] = [[] for _ in streams]
    open_ = [True for _ in streams]

    def read(index: int) -> None:
        batch = next(streams[index], None)
        if batch is None:
            open_[index] = False
        else:
            held[index] += batch

    while True:
        for index, records in enumerate(held):
            if open_[index] and not records:
                read(index)
        lasts = [records[-1].at for index, records in enumerate(held) if open_[index]]
        if not lasts:
            break
        before = min(lasts)
        out: list[Exported] = []
        for records in held:
            cut = bisect.bisect_left(records, before, key=at)
            out += records[:cut]
            del records[:cut]
        if out:
            out.sort(key=at)  # stable: the first stream's records of a moment stay first
            yield out
        else:  # all that is left of a stream is of that moment: read on
            for index, records in enumerate(held):
                if open_[index] and records[-1].at == before:
                    read(index)
    out = [record for records in held for record in records]
    if out:
        out.sort(key=at)
        yield out


def _batches(
    conn: Connection, statement: sa.Select[Any], record: type[Exported], chunk: int
) -> Generator[list[Exported]]:
    """The statement's rows as records, `chunk` at a time from the driver's own cursor (a
    server-side one on PostgreSQL). Every column is text that the driver gives as it is, so
    SQLAlchemy's rows and their processing are skipped; the statement's only values (the
    states, the range's ends) are rendered into its SQL by the dialect."""
    sql = str(statement.compile(dialect=conn.dialect, compile_kwargs={"literal_binds": True}))
    driver: Any = conn.connection.driver_connection
    postgres = conn.dialect.name == "postgresql"
    cursor = driver.cursor(f"export_{record.__name__.lower()}") if postgres else driver.cursor()
    new = tuple.__new__
    try:
        cursor.execute(sql)
        while rows := cursor.fetchmany(chunk):
            yield [new(record, row) for row in rows]
    finally:
        cursor.close()


def _interrupt(conn: Connection) -> None:
    """Stop the query under way on the connection (from another thread)."""
    driver: Any = conn.connection.driver_connection
    if conn.dialect.name == "sqlite":
        driver.interrupt()
    else:
        driver.cancel()


class _Failed(NamedTuple):
    error: BaseException


_END = object()


class _ReadAhead:
    """Reads the next batches on a thread of its own while the caller writes this one, so
    that the database's work (SQLite's steps, PostgreSQL's answers: neither holds the GIL)
    overlaps Python's. At most two batches wait; the connection is used by the thread alone
    until it has finished, been stopped (its query interrupted) or failed."""

    def __init__(
        self, source: Callable[[], Generator[list[Exported]]], interrupt: Callable[[], None]
    ) -> None:
        self._source = source
        self._interrupt = interrupt
        self._queue: queue.Queue[object] = queue.Queue(maxsize=2)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._read, name="export-read-ahead", daemon=True)

    def __enter__(self) -> Iterator[list[Exported]]:
        self._thread.start()
        return self._batches()

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._interrupt()  # a query under way stops now, not when it is done
        self._thread.join()

    def _read(self) -> None:
        batches = self._source()
        try:
            for batch in batches:
                if not self._put(batch):
                    return
            self._put(_END)
        except BaseException as exc:
            self._put(_Failed(exc))
        finally:
            batches.close()

    def _put(self, item: object) -> bool:
        while not self._stop.is_set():
            try:
                self._queue.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def _batches(self) -> Iterator[list[Exported]]:
        while (item := self._queue.get()) is not _END:
            if isinstance(item, _Failed):
                raise item.error
            yield item  # type: ignore[misc]
