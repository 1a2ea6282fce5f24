"""The store's operations on conversations and customer messages (mixed into `Store`)."""

from __future__ import annotations

import functools
import secrets
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Connection

from bot.core.records import (
    ConversationRecord,
    InboundRecord,
    InboundTaken,
    Lease,
    SendState,
    aware,
    utcnow,
)
from bot.store.database import Database
from bot.store.schema import TIMESTAMP, conversations, home_views, inbound_messages, sends
from bot.store.statements import SEND_CHANGED, insert_ignoring_conflict

CONVERSATION_CHANGED = {"version": conversations.c.version + 1, "dirty": True}
# A send whose thread a customer's message may join: shown in Slack, not a group's member.
_THREAD_STATES = [
    str(s) for s in (SendState.SENDING, SendState.SENT, SendState.FAILED, SendState.UNKNOWN)
]


def new_id() -> str:
    return secrets.token_hex(16)


class ConversationStore(Database):
    """Customer messages in, each once; the conversation row each belongs to."""

    def take_inbound(
        self,
        *,
        sender_alias: str,
        customer: str,
        answerable: bool,
        message: dict[str, Any],
        optout: str | None,
        opt_out_why: str | None = None,
        claim: tuple[str, datetime] | None = None,
        at: datetime | None = None,
    ) -> InboundTaken:
        """Store one customer message unless its `dedup_key` was seen (for this sender), and
        bring its conversation up to date (window, waiting, opt-out) with it, atomically. With
        `claim` (owner, until), the conversation's render lease is taken if it is free.

        Statements built once: on PostgreSQL two round trips (the conversation made or found;
        then the message kept and the conversation changed in one statement); on SQLite one
        write committed together with the others queued for the lock."""
        now = at or utcnow()
        owner, until = claim if claim is not None else (None, None)
        conversation = {
            "c_id": new_id(),
            "c_sender": sender_alias,
            "c_customer": customer,
            "c_answerable": answerable,
            "p_now": now,
        }
        row = {
            "id": new_id(),
            "received_at": now,
            "sender_alias": sender_alias,
            "customer": customer,
            **{name: None for name in _OPTIONAL_MESSAGE_FIELDS},
            **message,
        }
        note = {
            "p_now": now,
            "p_name": message.get("customer_name"),
            "p_why": opt_out_why,
            "p_owner": owner,
            "p_until": until,
        }
        claimed = claim is not None
        if self._server:
            made = self._prebuilt_row(UPSERT_CONVERSATION, conversation)
            assert made is not None  # an upsert returns its row
            conversation_id = str(made["id"])
            params = {**note, "p_conv": conversation_id}
            row["conversation_id"] = conversation_id
            params.update(
                {f"m_{column.name}": row.get(column.name) for column in inbound_messages.c}
            )
            noted = self._prebuilt_row(_keep_and_note(optout, claimed), params)
            return _taken(row["id"], conversation_id, noted)

        row_of = self._statements.row

        def write(conn: Connection) -> InboundTaken:
            made = row_of(conn, INSERT_CONVERSATION, conversation)
            if made is None:
                found = row_of(conn, FIND_CONVERSATION, conversation)
                assert found is not None  # the INSERT found it there
                made = found
            conversation_id = str(made["id"])
            kept = row_of(
                conn,
                insert_ignoring_conflict(conn, inbound_messages),
                {**row, "conversation_id": conversation_id},
            )
            if kept is None:
                return _taken(row["id"], conversation_id, None)
            noted = row_of(
                conn, _note(optout, claimed, cte=False), {**note, "p_conv": conversation_id}
            )
            return _taken(row["id"], conversation_id, noted)

        return self._group_commit.run(write)

    def get_conversation(self, conversation_id: str) -> ConversationRecord | None:
        with self._read() as conn:
            row = (
                conn.execute(sa.select(conversations).where(conversations.c.id == conversation_id))
                .mappings()
                .first()
            )
        return ConversationRecord.from_row(row) if row else None

    def find_conversation(self, sender_alias: str, customer: str) -> ConversationRecord | None:
        found = self.conversations_with(sender_alias, [customer])
        return found.get(customer)

    def conversations_with(
        self, sender_alias: str, customers: Iterable[str]
    ) -> dict[str, ConversationRecord]:
        """The conversations of one sender with these customers, by customer (a group's
        confirmation asks about all its members at once)."""
        wanted = sorted(set(customers))
        found: dict[str, ConversationRecord] = {}
        with self._read() as conn:
            for start in range(0, len(wanted), 500):
                rows = conn.execute(
                    sa.select(conversations).where(
                        conversations.c.sender_alias == sender_alias,
                        conversations.c.customer.in_(wanted[start : start + 500]),
                    )
                ).mappings()
                for row in rows:
                    record = ConversationRecord.from_row(row)
                    found[record.customer] = record
        return found

    def set_conversation_fields(self, conversation_id: str, **changes: Any) -> None:
        self._update_row(conversations, conversation_id, {**changes, "updated_at": utcnow()})

    def unshown_inbound(self, conversation_id: str) -> list[InboundRecord]:
        """The conversation's messages not yet (fully) shown in Slack, oldest first."""
        rows = self._prebuilt_read(UNSHOWN_INBOUND, {"p_conv": conversation_id})
        return [InboundRecord.from_row(row) for row in rows]

    def get_inbound(self, message_id: str) -> InboundRecord | None:
        with self._read() as conn:
            row = (
                conn.execute(sa.select(inbound_messages).where(inbound_messages.c.id == message_id))
                .mappings()
                .first()
            )
        return InboundRecord.from_row(row) if row else None

    def inbound_raw(self, message_id: str) -> str | None:
        with self._read() as conn:
            return conn.execute(
                sa.select(inbound_messages.c.raw).where(inbound_messages.c.id == message_id)
            ).scalar()

    def set_inbound_fields(self, message_id: str, **changes: Any) -> None:
        self._update_row(inbound_messages, message_id, changes)

    def newest_send_thread(
        self, sender_alias: str, customer: str
    ) -> tuple[str, str, datetime, str] | None:
        """The newest send from this sender to this customer that has a thread of its own
        or lives in one (not a group's member): (channel, thread ts, last activity, send id)."""
        rows = self._prebuilt_read(
            NEWEST_SEND_THREAD, {"p_sender": sender_alias, "p_customer": customer}
        )
        if not rows:
            return None
        row = rows[0]
        return (
            str(row["channel_id"]),
            str(row["thread_ts"] or row["message_ts"]),
            aware(row["updated_at"]) or utcnow(),
            str(row["id"]),
        )

    def mark_send_waiting(self, send_id: str, waiting: bool) -> None:
        """The send's record is the root of a thread where a customer's reply waits (or not)."""
        statement = (
            sends.update()
            .where(sends.c.id == send_id, sends.c.reply_waiting.is_(not waiting))
            .values(reply_waiting=waiting, updated_at=utcnow(), **SEND_CHANGED)
        )
        self._write_one(lambda conn: conn.execute(statement))

    def conversation_answered(self, sender_alias: str, customer: str) -> str | None:
        """Someone sent this customer a message from this sender: no reply is waiting any
        more. The conversation's id when that changed what its thread shows."""
        c = conversations.c
        now = utcnow()
        statement = (
            conversations.update()
            .where(
                c.sender_alias == sender_alias,
                c.customer == customer,
                c.waiting_since.is_not(None),
            )
            .values(waiting_since=None, updated_at=now, **CONVERSATION_CHANGED)
            .returning(c.id)
        )
        return self._write_one(lambda conn: conn.execute(statement).scalar())

    def opt_out(self, sender_alias: str, customer: str, why: str) -> bool:
        """Put the customer on the sender's do-not-send list (a BLACKLISTED status); True if
        they were not on it."""
        now = utcnow()
        params = {
            "c_id": new_id(),
            "c_sender": sender_alias,
            "c_customer": customer,
            "c_answerable": True,
            "p_now": now,
        }
        with self._tx() as conn:
            made = conn.execute(
                UPSERT_CONVERSATION if self._server else INSERT_CONVERSATION, params
            ).first()
            conversation_id = made[0] if made else conn.execute(FIND_CONVERSATION, params).scalar()
            c = conversations.c
            changed = conn.execute(
                conversations.update()
                .where(c.id == conversation_id, c.opted_out_at.is_(None))
                .values(opted_out_at=now, opted_out_why=why, updated_at=now)
            ).rowcount
        return bool(changed)

    def waiting_conversations(
        self, *, limit: int = 20, places: Mapping[str, Iterable[str]] | None = None
    ) -> list[ConversationRecord]:
        """Conversations whose customer waits for a reply, newest first: shown in a thread,
        answerable and not opted out. With `places` (channel → senders), only those in one of
        the channels with one of its senders."""
        c = conversations.c
        where: list[sa.ColumnElement[bool]] = [
            c.waiting_since.is_not(None),
            c.channel_id.is_not(None),
            c.answerable.is_(True),
            c.opted_out_at.is_(None),
        ]
        if places is not None:
            where.append(
                sa.or_(
                    sa.false(),
                    *(
                        sa.and_(c.channel_id == channel, c.sender_alias.in_(list(aliases)))
                        for channel, aliases in places.items()
                    ),
                )
            )
        with self._read() as conn:
            rows = conn.execute(
                sa.select(conversations)
                .where(*where)
                .order_by(c.last_customer_at.desc(), c.id)
                .limit(limit)
            ).mappings()
            return [ConversationRecord.from_row(row) for row in rows]

    def home_watchers(self, since: datetime) -> list[str]:
        """The people who opened their Home tab since then (whose lists of conversations
        waiting for a reply are kept fresh)."""
        with self._read() as conn:
            rows = conn.execute(
                sa.select(home_views.c.user_id).where(home_views.c.opened_at >= since)
            )
            return [str(row[0]) for row in rows]

    def opted_out(self, sender_aliases: Iterable[str]) -> list[ConversationRecord]:
        """The do-not-send lists of these senders, newest first (then by number)."""
        c = conversations.c
        with self._read() as conn:
            rows = conn.execute(
                sa.select(conversations)
                .where(c.sender_alias.in_(list(sender_aliases)), c.opted_out_at.is_not(None))
                .order_by(c.opted_out_at.desc(), c.customer)
            ).mappings()
            return [ConversationRecord.from_row(row) for row in rows]


# take_inbound's statements, built once

_P = sa.bindparam
_C = conversations.c
_OPTIONAL_MESSAGE_FIELDS = (
    "customer_name",
    "provider_id",
    "provider_date",
    "number_problem",
    "optout",
    "content_type",
)
_NEW_CONVERSATION = {
    "id": _P("c_id"),
    "created_at": _P("p_now", type_=TIMESTAMP),
    "updated_at": _P("p_now", type_=TIMESTAMP),
    "sender_alias": _P("c_sender"),
    "customer": _P("c_customer"),
    "answerable": _P("c_answerable", type_=sa.Boolean),
}
INSERT_CONVERSATION = (
    sqlite_insert(conversations).values(_NEW_CONVERSATION).on_conflict_do_nothing().returning(_C.id)
)
FIND_CONVERSATION = sa.select(_C.id).where(
    _C.sender_alias == _P("c_sender"), _C.customer == _P("c_customer")
)
_M = inbound_messages.c
UNSHOWN_INBOUND = (
    sa.select(inbound_messages)
    .where(_M.conversation_id == _P("p_conv"), _M.shown_at.is_(None))
    .order_by(_M.received_at, _M.id)
)
# `state IN (…)` spelled as ORs: an IN list is expanded as the statement runs, which the
# driver's cursor cannot do.
NEWEST_SEND_THREAD = (
    sa.select(sends.c.channel_id, sends.c.thread_ts, sends.c.message_ts)
    .add_columns(sends.c.updated_at, sends.c.id)
    .where(
        sends.c.sender_alias == _P("p_sender"),
        sends.c.recipient == _P("p_customer"),
        sends.c.batch_id.is_(None),
        sends.c.message_ts.is_not(None),
        sends.c.channel_id.is_not(None),
        sa.or_(*(sends.c.state == state for state in _THREAD_STATES)),
    )
    .order_by(sends.c.created_at.desc())
    .limit(1)
)
# DO UPDATE (of nothing) rather than DO NOTHING: the row's id comes back whoever made it.
UPSERT_CONVERSATION = (
    pg_insert(conversations)
    .values(_NEW_CONVERSATION)
    .on_conflict_do_update(
        constraint="uq_conversations_sender_customer",
        set_={"sender_alias": pg_insert(conversations).excluded.sender_alias},
    )
    .returning(_C.id)
)


@functools.cache
def _note(optout: str | None, claimed: bool, *, cte: bool) -> Any:
    """The conversation's change for a new message: window, name, waiting or opt-out, and the
    render lease for `p_owner` if free. With `cte`, only if the message was kept by the
    statement's own INSERT (PostgreSQL)."""
    now = _P("p_now", type_=TIMESTAMP)
    values: dict[str, Any] = {
        **CONVERSATION_CHANGED,
        "updated_at": now,
        "last_customer_at": now,
        "customer_name": sa.func.coalesce(_P("p_name", type_=sa.Text), _C.customer_name),
    }
    if optout == "out":
        values.update(opted_out_at=now, opted_out_why=_P("p_why", type_=sa.Text))
    else:
        values["waiting_since"] = sa.func.coalesce(_C.waiting_since, now)
        if optout == "in":
            values.update(opted_out_at=None, opted_out_why=None, opted_in_at=now)
    if claimed:
        free = sa.or_(_C.render_until.is_(None), _C.render_until < now)
        values["render_owner"] = sa.case((free, _P("p_owner")), else_=_C.render_owner)
        values["render_until"] = sa.case(
            (free, _P("p_until", type_=TIMESTAMP)), else_=_C.render_until
        )
    conditions = [_C.id == _P("p_conv")]
    statement = conversations.update()
    if cte:
        names = [column.name for column in inbound_messages.c]
        kept = (
            pg_insert(inbound_messages)
            .from_select(
                names,
                sa.select(
                    *[_P(f"m_{name}", type_=inbound_messages.c[name].type) for name in names]
                ),
            )
            .on_conflict_do_nothing()
            .returning(inbound_messages.c.id)
            .cte("kept")
        )
        statement = statement.add_cte(kept)
        conditions.append(sa.exists(sa.select(kept.c.id)))
    return (
        statement.where(*conditions)
        .values(**values)
        .returning(_C.render_owner, _C.render_until, _C.rendered_at)
    )


def _keep_and_note(optout: str | None, claimed: bool) -> Any:
    return _note(optout, claimed, cte=True)


def _taken(message_id: str, conversation_id: str, noted: dict[str, Any] | None) -> InboundTaken:
    """None noted: the message was there already (a redelivery), nothing changed."""
    if noted is None:
        return InboundTaken(new=False, message_id=message_id, conversation_id=conversation_id)
    lease = Lease(
        owner=noted["render_owner"],
        until=aware(noted["render_until"]),
        rendered_at=aware(noted["rendered_at"]),
    )
    return InboundTaken(
        new=True, message_id=message_id, conversation_id=conversation_id, lease=lease
    )
