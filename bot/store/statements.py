"""Statements built once: those of the hot paths, and those built for each table."""

from __future__ import annotations

import dataclasses
import functools
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Connection

from bot.core.records import SendState, SendSummary
from bot.store.schema import TIMESTAMP, batches, home_views, sends, statuses

SEND_CHANGED = {"version": sends.c.version + 1, "dirty": True}
BATCH_CHANGED = {"version": batches.c.version + 1, "dirty": True}

# The statements of the hot paths (a status callback, a render pass), built once: building a
# Core statement and its cache key costs more than SQLite takes to run it.
_P = sa.bindparam
CALLBACK_TARGET = sa.select(sends.c.id, sends.c.external_id).where(
    sends.c.callback_token == _P("token")
)
SEND_BY_ID = sa.select(sends).where(sends.c.id == _P("send_id"))
HOME_OPENED_AT = sa.select(home_views.c.opened_at).where(home_views.c.user_id == _P("user_id"))
STATUS_TIMELINE = (
    sa.select(statuses)
    .where(statuses.c.send_id == _P("send_id"))
    .order_by(statuses.c.received_at, statuses.c.status)
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


@functools.cache
def update_by_id(table: sa.Table, columns: tuple[str, ...]) -> Any:
    """UPDATE `table` SET each of `columns` = :v_<column> WHERE id = :p_id, built once per set
    of columns, for the prebuilt path (`Database._update_row`)."""
    return (
        table.update()
        .where(table.c.id == _P("p_id"))
        .values({name: _P(f"v_{name}", type_=table.c[name].type) for name in columns})
    )


def built_values(compiled: Any) -> dict[str, Any]:
    """The values a compiled statement was built with, by parameter name
    (`values(render_owner=None)` is a parameter too): what the prebuilt paths send with the
    caller's parameters when they run its SQL on the driver's cursor."""
    return {
        compiled.bind_names[bind]: bind.value
        for bind in compiled.binds.values()
        if not bind.required and bind.callable is None
    }
