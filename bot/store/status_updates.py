"""Recording a provider's callbacks and the statuses they carry.

A callback is taken in one transaction on either engine. On SQLite that is a few prebuilt
statements (`take_callback_on_sqlite`, `add_status`); on PostgreSQL, one statement that does
the same in the same order (`take_callback_on_postgres`), so one round trip. Both are here,
side by side; `Store.take_callback` decides which one runs.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from bot.core.records import CallbackTaken, Lease, StatusChange, aware, utcnow
from bot.store.schema import TIMESTAMP, batches, callbacks, sends, statuses
from bot.store.statements import (
    BATCH_CHANGED,
    CALLBACK_TARGET,
    SEND_CHANGED,
    insert_ignoring_conflict,
)

# Runs a prebuilt statement on a connection; its first row by column, or None.
RowOf = Callable[[Connection, Any, Mapping[str, Any]], dict[str, Any] | None]

# Built once, as the statements of the other hot paths (see `bot.store.statements`).
_P = sa.bindparam
INSERT_CALLBACK = callbacks.insert()
_EXTERNAL_ID = _P("external_id", type_=sa.String)
# Find the send by token and keep the body, in one statement: only if the body names no
# other send's externalId.
KEEP_CALLBACK_BY_TOKEN = (
    callbacks.insert()
    .from_select(
        ["send_id", "received_at", "status", "body"],
        sa.select(
            sends.c.id,
            _P("at", type_=TIMESTAMP),
            _P("status", type_=sa.String),
            _P("body", type_=sa.Text),
        ).where(
            sends.c.callback_token == _P("token"),
            sa.or_(_EXTERNAL_ID.is_(None), sends.c.external_id == _EXTERNAL_ID),
        ),
    )
    .returning(callbacks.c.send_id)
)
SHOWN_STATUS = sa.select(sends.c.provider_status).where(sends.c.id == _P("send_id"))
_OUTRANKS_SHOWN = sa.or_(
    sends.c.provider_rank.is_(None), sends.c.provider_rank < _P("p_rank", type_=sa.Integer)
)
_LEASE_FREE = sa.or_(
    sends.c.render_until.is_(None), sends.c.render_until < _P("p_at", type_=TIMESTAMP)
)
# A new status (none of that name yet) is a change worth showing; it becomes the shown status
# only if it ranks above the current one. Every SET expression reads the row as it was.
APPLY_NEW_STATUS = (
    sends.update()
    .where(
        sends.c.id == _P("p_send"),
        ~sa.exists().where(statuses.c.send_id == _P("p_send"), statuses.c.status == _P("p_status")),
    )
    .values(
        provider_status=sa.case(
            (_OUTRANKS_SHOWN, _P("p_status", type_=sa.String)), else_=sends.c.provider_status
        ),
        provider_status_at=sa.case(
            (_OUTRANKS_SHOWN, _P("p_at", type_=TIMESTAMP)), else_=sends.c.provider_status_at
        ),
        provider_rank=sa.case(
            (_OUTRANKS_SHOWN, _P("p_rank", type_=sa.Integer)), else_=sends.c.provider_rank
        ),
        render_owner=sa.case(
            (_LEASE_FREE, _P("p_owner", type_=sa.String)), else_=sends.c.render_owner
        ),
        render_until=sa.case(
            (_LEASE_FREE, _P("p_until", type_=TIMESTAMP)), else_=sends.c.render_until
        ),
        updated_at=_P("p_at", type_=TIMESTAMP),
        **SEND_CHANGED,
    )
    .returning(
        sends.c.provider_status,
        sends.c.batch_id,
        sends.c.render_owner,
        sends.c.render_until,
        sends.c.rendered_at,
    )
)


def _lease(owner: str | None, until: datetime | None, rendered_at: datetime | None) -> Lease:
    return Lease(owner, aware(until), aware(rendered_at))


def keep_callback(
    conn: Connection, send_id: str | None, raw: str, status: str | None, at: datetime
) -> int:
    result = conn.execute(
        INSERT_CALLBACK, {"send_id": send_id, "body": raw, "status": status, "received_at": at}
    )
    key = result.inserted_primary_key
    return int(key[0]) if key else 0


def take_callback_on_sqlite(
    conn: Connection,
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
    *,
    row: RowOf | None = None,
) -> CallbackTaken | None:
    """`Store.take_callback` on SQLite: keep the body, then record its status (`add_status`),
    in the caller's transaction; `row` runs each prebuilt statement (see `add_status`)."""
    row = row or _sqlalchemy_row
    params = {"token": token, "external_id": external_id, "at": at, "status": status}
    kept = row(conn, KEEP_CALLBACK_BY_TOKEN, {**params, "body": raw})
    if kept is None:  # kept nothing: no such send, or another send's externalId
        target = row(conn, CALLBACK_TARGET, {"token": token})
        return None if target is None else CallbackTaken(target["id"], mismatch=True)
    send_id = kept["send_id"]
    if status is None:
        return CallbackTaken(send_id)
    change = add_status(
        conn, send_id, status, rank, at, provider_date, detail, owner, until, row=row
    )
    return CallbackTaken(send_id, change=change)


def add_status(
    conn: Connection,
    send_id: str,
    status: str,
    rank: int,
    at: datetime | None,
    provider_date: str | None,
    detail: str | None,
    owner: str | None = None,
    until: datetime | None = None,
    *,
    row: RowOf | None = None,
) -> StatusChange:
    """Three statements: mark the send changed (and advanced, if the status ranks above
    its shown one, and its lease taken for `owner`, if free) unless the status is
    already recorded, then record the status. `row` runs a prebuilt statement on `conn`
    and gives its first row by column (SQLite's `StatementRunner.row`); by default,
    SQLAlchemy's `Connection.execute`."""
    row = row or _sqlalchemy_row
    at = at or utcnow()
    params = {"p_send": send_id, "p_status": status, "p_rank": rank, "p_at": at}
    changed = row(conn, APPLY_NEW_STATUS, {**params, "p_owner": owner, "p_until": until})
    if changed is None:  # a duplicate (or no such send): nothing changes
        shown_row = row(conn, SHOWN_STATUS, {"send_id": send_id})
        shown = shown_row["provider_status"] if shown_row else None
        return StatusChange(new=False, advanced=False, shown=shown)
    shown = changed["provider_status"]
    batch_id = changed["batch_id"]
    advanced = shown == status
    insert = insert_ignoring_conflict(conn, statuses)
    # RETURNING, not rowcount: psycopg reports no rowcount for ON CONFLICT DO NOTHING.
    # On PostgreSQL a concurrent duplicate can pass the UPDATE's check; it stops here.
    new = (
        row(
            conn,
            insert,
            {
                "send_id": send_id,
                "status": status,
                "received_at": at,
                "provider_date": provider_date,
                "detail": detail,
                "advanced": advanced,
            },
        )
        is not None
    )
    if new and batch_id is not None:
        row(conn, _MARK_BATCH_CHANGED, {"p_batch": batch_id})
    lease = _lease(changed["render_owner"], changed["render_until"], changed["rendered_at"])
    return StatusChange(new, new and advanced, shown, lease)


_MARK_BATCH_CHANGED = (
    batches.update().where(batches.c.id == sa.bindparam("p_batch")).values(**BATCH_CHANGED)
)


def _sqlalchemy_row(
    conn: Connection, statement: Any, params: Mapping[str, Any]
) -> dict[str, Any] | None:
    result = conn.execute(statement, params)
    if not result.returns_rows:
        return None
    found = result.mappings().first()
    return dict(found) if found is not None else None


# `advanced` exactly when the UPDATE (which waits for concurrent ones) made it the shown one.
TAKE_CALLBACK_ON_POSTGRES = sa.text(
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
    sa.bindparam("at", type_=TIMESTAMP),
    sa.bindparam("until", type_=TIMESTAMP),
    sa.bindparam("rank", type_=sa.Integer),
)


def take_callback_on_postgres(
    run: Callable[[Any, Mapping[str, Any]], dict[str, Any] | None],
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
    """`Store.take_callback` on PostgreSQL: one statement, run alone by `run`, so one round trip,
    atomic on its own. It does what the SQLite path's statements do, in the same order (see
    `add_status`)."""
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
    found = run(TAKE_CALLBACK_ON_POSTGRES, params)
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
