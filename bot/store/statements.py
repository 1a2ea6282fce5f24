"""Statements built once: those of the hot paths, and those built for each table."""

from __future__ import annotations

import dataclasses
import functools
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Connection

from bot.records import SendState, SendSummary
from bot.store.schema import TIMESTAMP, batches, callbacks, home_views, sends, statuses

SEND_CHANGED = {"version": sends.c.version + 1, "dirty": True}
BATCH_CHANGED = {"version": batches.c.version + 1, "dirty": True}

# The statements of the hot paths (a status callback, a render pass), built once: building a
# Core statement and its cache key costs more than SQLite takes to run it.
_P = sa.bindparam
CALLBACK_TARGET = sa.select(sends.c.id, sends.c.external_id).where(
    sends.c.callback_token == _P("token")
)
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
SEND_BY_ID = sa.select(sends).where(sends.c.id == _P("send_id"))
HOME_OPENED_AT = sa.select(home_views.c.opened_at).where(home_views.c.user_id == _P("user_id"))
SHOWN_STATUS = sa.select(sends.c.provider_status).where(sends.c.id == _P("send_id"))
STATUS_TIMELINE = (
    sa.select(statuses)
    .where(statuses.c.send_id == _P("send_id"))
    .order_by(statuses.c.received_at, statuses.c.status)
)
# take_callback on PostgreSQL in one statement. Every part reads the database as it was
# before the statement, except that `recorded` reads what `changed` returns, so a status is
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


_SUMMARY_COLUMNS = [sends.c[f.name] for f in dataclasses.fields(SendSummary)]
_LISTED_SENDS = sa.and_(
    sends.c.user_id == sa.bindparam("user_id"),
    sends.c.state.in_(
        [str(s) for s in (SendState.SENDING, SendState.SENT, SendState.FAILED, SendState.UNKNOWN)]
    ),
)
RECENT_SENDS = (
    sa.select(*_SUMMARY_COLUMNS)
    .where(_LISTED_SENDS)
    .order_by(sends.c.created_at.desc())
    .limit(sa.bindparam("limit", type_=sa.Integer))
)
RECENT_SENDS_TOTAL = sa.select(sa.func.count()).select_from(sends).where(_LISTED_SENDS)


@functools.cache
def acquire_render_statement(table: sa.Table, only_dirty: bool, held: bool) -> Any:
    until = table.c.render_until
    free = [until.is_(None), until < _P("p_now", type_=TIMESTAMP)]
    if held:
        free.append(table.c.render_owner == _P("p_owner"))
    conditions = [table.c.id == _P("p_id"), sa.or_(*free)]
    if only_dirty:
        conditions.append(table.c.dirty.is_(True))
    return (
        table.update()
        .where(*conditions)
        .values(render_owner=_P("p_owner"), render_until=_P("p_until", type_=TIMESTAMP))
        .returning(*table.c)
    )


@functools.cache
def finish_render_statement(
    table: sa.Table, fields: tuple[str, ...], wrote: bool, shown: bool, hold: bool
) -> Any:
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
        values["render_until"] = sa.case((dirty_after, _P("p_hold", type_=TIMESTAMP)), else_=None)
    return (
        table.update()
        .where(table.c.id == _P("p_id"), table.c.render_owner == _P("p_owner"))
        .values(**values)
        .returning(table.c.dirty)
    )


def insert_ignoring_conflict(conn: Connection, table: sa.Table) -> Any:
    """INSERT … ON CONFLICT DO NOTHING RETURNING the key, in the connection's dialect."""
    return _insert_ignoring_conflict_in(conn.dialect.name, table)


@functools.cache
def _insert_ignoring_conflict_in(dialect: str, table: sa.Table) -> Any:
    insert = pg_insert if dialect == "postgresql" else sqlite_insert
    return insert(table).on_conflict_do_nothing().returning(*table.primary_key.columns)
