"""A customer's history read from the store (mixed into `Store`): the newest sends to a number
and messages from it that a person may see.

One query per kind, each walking its index newest first and stopping at the limit: the sends
by `ix_sends_conversation` (sender, recipient, time), one branch per sender in a UNION ALL,
each with its own LIMIT; the messages by `ix_inbound_messages_customer` (customer, time)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa

from bot.core.access import SeenWith
from bot.core.history import HISTORY_SIZE, UNLISTED_STATES, HistoryItem, newest_first
from bot.store.database import Database
from bot.store.schema import batches, inbound_messages, sends

_S = sends.c
_B = batches.c
_M = inbound_messages.c
_LISTED = sa.not_(_S.state.in_([str(state) for state in UNLISTED_STATES]))
# A group member lives in its group's thread; any other send in its own (or the one it joined).
_IN_GROUP = _S.batch_id.is_not(None)
_SEND_COLUMNS = [
    _S.id,
    _S.created_at,
    _S.sender_alias,
    _S.sender_number,
    _S.recipient,
    _S.kind,
    _S.body,
    _S.caption,
    _S.file_name,
    _S.media_id,
    _S.state,
    _S.provider_status,
    _S.transaction_id,
    _S.user_id,
    sa.case((_IN_GROUP, _B.channel_id), else_=_S.channel_id).label("thread_channel_id"),
    sa.case(
        (_IN_GROUP, sa.func.coalesce(_B.thread_ts, _B.message_ts)),
        else_=sa.func.coalesce(_S.thread_ts, _S.message_ts),
    ).label("thread_root_ts"),
]
_INBOUND_COLUMNS = [
    _M.id,
    _M.received_at,
    _M.sender_alias,
    _M.customer,
    _M.customer_name,
    _M.kind,
    _M.text,
    _M.channel_id,
    _M.thread_ts,
    _M.message_ts,
]


def _where(seen: SeenWith, channel: Any) -> sa.ColumnElement[bool]:
    """The items of `seen`'s sender in the places it covers."""
    if seen.channels is None:
        return sa.true()
    places: list[sa.ColumnElement[bool]] = []
    if seen.channels:
        places.append(channel.in_(sorted(seen.channels)))
    if seen.unplaced:
        places.append(channel.is_(None))
    return sa.or_(sa.false(), *places)


class HistoryStore(Database):
    """The newest items of a customer's history that a person may see."""

    def history(
        self,
        customer: str,
        scope: Sequence[SeenWith],
        *,
        user_id: str | None = None,
        limit: int = HISTORY_SIZE,
    ) -> list[HistoryItem]:
        """The newest `limit` sends to `customer` (not drafts, not cancelled) and messages
        from them, together, newest first: of each sender in `scope`, those in the places it
        covers, and the sends `user_id` made with it wherever made."""
        if not scope or limit <= 0:
            return []
        with self._read() as conn:
            sent = conn.execute(_sends_query(customer, scope, user_id, limit)).mappings()
            items = [HistoryItem.from_send_row(row) for row in sent]
            received = conn.execute(_inbound_query(customer, scope, limit)).mappings()
            items += [HistoryItem.from_inbound_row(row) for row in received]
        return newest_first(items, limit)


def _sends_query(
    customer: str, scope: Sequence[SeenWith], user_id: str | None, limit: int
) -> sa.Select[Any]:
    branches = []
    for seen in scope:
        visible = _where(seen, _S.channel_id)
        if user_id:
            visible = sa.or_(visible, _S.user_id == user_id)
        branches.append(
            sa.select(*_SEND_COLUMNS)
            .select_from(sends.outerjoin(batches, _B.id == _S.batch_id))
            .where(_S.sender_alias == seen.sender_alias, _S.recipient == customer, _LISTED)
            .where(visible)
            .order_by(_S.created_at.desc())
            .limit(limit)
        )
    if len(branches) == 1:
        return branches[0]
    union = sa.union_all(*(branch.subquery().select() for branch in branches)).subquery()
    return sa.select(union).order_by(union.c.created_at.desc()).limit(limit)


def _inbound_query(customer: str, scope: Sequence[SeenWith], limit: int) -> sa.Select[Any]:
    visible = sa.or_(
        *(
            sa.and_(_M.sender_alias == seen.sender_alias, _where(seen, _M.channel_id))
            for seen in scope
        )
    )
    return (
        sa.select(*_INBOUND_COLUMNS)
        .where(_M.customer == customer, visible)
        .order_by(_M.received_at.desc())
        .limit(limit)
    )
