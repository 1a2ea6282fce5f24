"""The store's operations, the same on SQLite and PostgreSQL.

State changes are single conditional UPDATEs, so under concurrency (threads, or several app
instances on one PostgreSQL) a draft is confirmed once and a send is attempted once.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Collection, Iterable
from datetime import datetime, timedelta
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Connection

from bot.core.records import (
    BatchRecord,
    CallbackTaken,
    ConversationRecord,
    RenderedRecord,
    SendRecord,
    SendState,
    SendSummary,
    StatusChange,
    StatusRow,
    aware,
    utcnow,
)
from bot.store.conversation_rows import ConversationStore
from bot.store.history_rows import HistoryStore
from bot.store.media_rows import MediaStore
from bot.store.retention_rows import RetentionStore
from bot.store.schema import (
    batches,
    callbacks,
    conversations,
    flags,
    home_views,
    sends,
    slack_events,
    statuses,
)
from bot.store.statements import (
    BATCH_CHANGED,
    CALLBACK_TARGET,
    HOME_OPENED_AT,
    RECENT_SENDS,
    RECENT_SENDS_TOTAL,
    SEND_BY_ID,
    SEND_CHANGED,
    STATUS_TIMELINE,
    acquire_render_statement,
    finish_render_statement,
    insert_ignoring_conflict,
)
from bot.store.status_updates import (
    add_status,
    keep_callback,
    take_callback_on_postgres,
    take_callback_on_sqlite,
)

_SEND_FIELDS = {f.name for f in dataclasses.fields(SendRecord)}
_TOWARDS_PROVIDER = (SendState.CONFIRMED, SendState.SENDING)


class Store(ConversationStore, HistoryStore, MediaStore, RetentionStore):
    """The app's database. Thread-safe; every method is one short transaction."""

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

    def send_with_origin(self, origin: str) -> SendRecord | None:
        with self._read() as conn:
            return self._find(conn, sends.c.origin == origin)

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
        rows = self._prebuilt_read(SEND_BY_ID, {"send_id": send_id})
        return SendRecord.from_row(rows[0]) if rows else None

    def callback_target(self, token: str) -> tuple[str, str] | None:
        """The id and externalId of the send a callback token belongs to."""
        with self._read() as conn:
            row = conn.execute(CALLBACK_TARGET, {"token": token}).first()
            return (row[0], row[1]) if row else None

    def find_by_transaction_id(self, transaction_id: str) -> SendRecord | None:
        with self._read() as conn:
            return self._find(conn, sends.c.transaction_id == transaction_id)

    def recent_sends(self, user_id: str, *, limit: int) -> tuple[list[SendSummary], int]:
        """A person's latest sends that went to the provider, newest first, and how many in all."""
        with self._read() as conn:
            rows = conn.execute(RECENT_SENDS, {"user_id": user_id, "limit": limit}).mappings()
            records = [SendSummary.from_row(r) for r in rows]
            total = conn.execute(RECENT_SENDS_TOTAL, {"user_id": user_id}).scalar()
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
        values = {**changes, "state": str(to), "updated_at": utcnow(), **SEND_CHANGED}
        if to is SendState.SENDING:
            values["attempts"] = sends.c.attempts + 1
        where = [sends.c.id == send_id, sends.c.state.in_(allowed)]
        if to in _TOWARDS_PROVIDER:  # removed content is never sent (nor a masked number)
            where.append(sends.c.content_removed_at.is_(None))
        with self._tx() as conn:
            result = conn.execute(sends.update().where(*where).values(**values))
            if result.rowcount != 1:
                return None
            send = self._get(conn, send_id)
            self._mark_batch_changed(conn, send)
            return send

    def _mark_batch_changed(self, conn: Connection, send: SendRecord) -> None:
        """A member's change is also a change of its group's progress message."""
        if send.batch_id is not None:
            conn.execute(
                batches.update().where(batches.c.id == send.batch_id).values(**BATCH_CHANGED)
            )

    def set_send_fields(self, send_id: str, **changes: Any) -> None:
        """update_send without reading the row back, for callers that know what they wrote."""
        if "state" in changes:
            raise ValueError("use transition() to change a send's state")
        self._update_row(sends, send_id, {**changes, "updated_at": utcnow()})

    def update_send(self, send_id: str, **changes: Any) -> SendRecord:
        """Set fields that carry no state (Slack message refs, for instance)."""
        if "state" in changes:
            raise ValueError("use transition() to change a send's state")
        with self._tx() as conn:
            conn.execute(
                sends.update().where(sends.c.id == send_id).values(**changes, updated_at=utcnow())
            )
            return self._get(conn, send_id)

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
            lambda conn: conn.execute(insert_ignoring_conflict(conn, slack_events), values).first()
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
            opened = conn.execute(HOME_OPENED_AT, {"user_id": user_id}).scalar()
        return opened is not None and (aware(opened) or since) >= since

    # statuses

    def record_callback(
        self, send_id: str | None, body: str, status: str | None, *, at: datetime | None = None
    ) -> int:
        """Keep a provider callback verbatim, whatever it says."""
        with self._tx() as conn:
            return keep_callback(conn, send_id, body, status, at or utcnow())

    def callbacks_for(self, send_id: str) -> list[tuple[datetime, str | None, str]]:
        with self._read() as conn:
            rows = conn.execute(
                sa.select(callbacks.c.received_at, callbacks.c.status, callbacks.c.body)
                .where(callbacks.c.send_id == send_id)
                .order_by(callbacks.c.id)
            )
            return [(aware(r[0]) or utcnow(), r[1], r[2]) for r in rows]

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
            return add_status(conn, send_id, status, rank, at, provider_date, detail)

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
        args = (token, raw, at, external_id, status, rank, provider_date, detail, owner, until)
        if self._server:
            return take_callback_on_postgres(self._prebuilt_row, *args)
        row = self._statements.row
        return self._group_commit.run(lambda conn: take_callback_on_sqlite(conn, *args, row=row))

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
        row = self._prebuilt_row(
            acquire_render_statement(_TABLES[record], only_dirty, held), params
        )
        return record.from_row(row) if row else None

    def finish_render(
        self,
        record: type[RenderedRecord],
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
        statement = finish_render_statement(
            _TABLES[record],
            tuple(sorted(shown)),
            wrote_at is not None,
            version is not None,
            hold is not None,
        )
        row = self._prebuilt_row(statement, values)
        return bool(row["dirty"]) if row is not None else False  # None: the lease was lost

    def renew_render(
        self, record: type[RenderedRecord], row_ids: Collection[str], owner: str, *, seconds: float
    ) -> set[str]:
        """Extend the render leases `owner` holds on `row_ids` to `seconds` from now; the ids
        whose lease was renewed (any other was taken by someone else, or never ours)."""
        if not row_ids:
            return set()
        table = _TABLES[record]
        statement = (
            table.update()
            .where(table.c.render_owner == owner, table.c.id.in_(list(row_ids)))
            .values(render_until=utcnow() + timedelta(seconds=seconds))
            .returning(table.c.id)
        )
        return self._write_one(lambda conn: {row[0] for row in conn.execute(statement)})

    def dirty_rows(
        self, *, limit: int = 100, table: sa.Table = sends, abandoned: bool = False
    ) -> list[str]:
        """Rows that Slack lags behind and that nobody is updating now; with `abandoned`, only
        those whose holder let its lease run out (it died, most likely)."""
        now = utcnow()
        until = table.c.render_until
        free = until < now if abandoned else sa.or_(until.is_(None), until < now)
        with self._read() as conn:
            rows = conn.execute(
                sa.select(table.c.id)
                .where(table.c.dirty.is_(True), free)
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
                .values(state=str(to), updated_at=utcnow(), **changes, **BATCH_CHANGED)
            )
            if moved.rowcount != 1:
                return None
            conn.execute(
                sends.update()
                .where(
                    sends.c.batch_id == batch_id,
                    sends.c.state == str(from_state),
                    *([sends.c.content_removed_at.is_(None)] if to in _TOWARDS_PROVIDER else []),
                )
                .values(state=str(to), updated_at=utcnow(), **SEND_CHANGED)
            )
            row = conn.execute(batches.select().where(batches.c.id == batch_id)).mappings().one()
            return BatchRecord.from_row(row)

    def update_batch(self, batch_id: str, **changes: Any) -> None:
        statement = (
            batches.update().where(batches.c.id == batch_id).values(**changes, updated_at=utcnow())
        )
        self._write_one(lambda conn: conn.execute(statement))

    def timeline(self, send_id: str) -> list[StatusRow]:
        rows = self._prebuilt_read(STATUS_TIMELINE, {"send_id": send_id})
        return [
            StatusRow(
                status=r["status"],
                received_at=aware(r["received_at"]) or utcnow(),
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


R = TypeVar("R", SendRecord, BatchRecord, ConversationRecord)
_TABLES: dict[type[RenderedRecord], sa.Table] = {
    SendRecord: sends,
    BatchRecord: batches,
    ConversationRecord: conversations,
}
