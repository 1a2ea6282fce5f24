"""The store's operations for retention and for forgetting a customer (mixed into `Store`).

Everything here works in short transactions of at most a batch of rows, so that a purge of
many rows never holds the writers' lock (SQLite) or many row locks (PostgreSQL) for long; each
row is marked as done (`content_removed_at`, `purged_at`), so that it is never done twice, and
on PostgreSQL the rows being done by another instance are skipped (`SKIP LOCKED`), so that
every instance may run the same purge at once.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from bot.core.records import SendState
from bot.core.retention import redact_attachments, redact_files_shown
from bot.store.database import Database
from bot.store.media_rows import MEDIA_BATCH
from bot.store.schema import callbacks, conversations, inbound_messages, media, sends, statuses

# Rows per transaction: on SQLite a batch holds the writers' lock some 10 to 40 ms.
BATCH = 250
_NOT_SENT_YET = [str(SendState.DRAFT), str(SendState.CONFIRMED)]


@dataclass
class Forgotten:
    """What forgetting one customer changed, table by table, and the rows whose Slack messages
    are to be brought up to date."""

    sends: int = 0
    inbound_messages: int = 0
    conversations: int = 0
    statuses: int = 0
    callbacks: int = 0
    media: int = 0
    send_ids: list[str] = field(default_factory=list)
    conversation_ids: list[str] = field(default_factory=list)
    opted_out: int = 0  # conversations on a do-not-send list, which no longer name the number

    @property
    def total(self) -> int:
        return (
            self.sends
            + self.inbound_messages
            + self.conversations
            + self.statuses
            + self.callbacks
            + self.media
        )


def _chunks(ids: Sequence[Any], size: int = BATCH) -> Iterable[list[Any]]:
    for start in range(0, len(ids), size):
        yield list(ids[start : start + size])


class RetentionStore(Database):
    """Content removed after `retention.content_days`, kept bytes deleted after
    `retention.media_days`, one customer forgotten on request."""

    def _pick(self, statement: sa.Select[Any]) -> sa.Select[Any]:
        """The rows of a batch, read first in its transaction, then changed by primary key.

        On PostgreSQL they are locked as they are read, skipping those another instance is
        doing (`SKIP LOCKED`), so nobody else changes them before the commit; on SQLite the
        transaction holds the writers' lock. Read apart, because an `IN (SELECT … LIMIT …
        SKIP LOCKED)` may be scanned again for each row changed, each scan skipping the rows
        changed already and taking more than the limit. No ORDER BY, and the update by primary
        key alone: so that neither needs fresh statistics to be cheap (a table just loaded
        otherwise gets a sort, or a scan of the partial index, of every row left, per batch)."""
        return statement.with_for_update(skip_locked=True) if self._server else statement

    # retention

    def remove_old_send_content(
        self, *, before: datetime, words: str, now: datetime, limit: int = BATCH
    ) -> int:
        """Replace the caption, file name and text (a text send's body) of up to `limit` sends
        made before `before` by `words`; how many. Nothing Slack shows is edited for it (a later
        edit of the record shows the words), and `updated_at` stays: the send's thread is no
        more active for it."""
        s = sends.c
        pick = self._pick(
            sa.select(s.id)
            .where(s.content_removed_at.is_(None), s.created_at < before)
            .limit(limit)
        )
        with self._tx() as conn:
            ids = list(conn.execute(pick).scalars())  # first: see `_pick`
            if not ids:
                return 0
            statement = (
                sends.update()
                .where(s.id.in_(ids))
                .values(
                    caption=sa.case((s.caption.is_not(None), words), else_=None),
                    file_name=sa.case((s.file_name.is_not(None), words), else_=None),
                    body=sa.case((s.kind == "text", words), else_=s.body),
                    content_removed_at=now,
                )
            )
            return int(conn.execute(statement).rowcount or 0)

    def remove_old_inbound_content(
        self, *, before: datetime, words: str, now: datetime, limit: int = BATCH
    ) -> int:
        """Replace the text, raw body and attachments' URLs, names and captions of up to
        `limit` customer messages received before `before`; how many."""
        m = inbound_messages.c
        pick = self._pick(
            sa.select(m.id, m.attachments, m.files_shown)
            .where(m.content_removed_at.is_(None), m.received_at < before)
            .limit(limit)
        )
        values = {
            "text": sa.case((m.text == "", ""), else_=words),
            "raw": words,
            "content_removed_at": now,
        }
        with self._tx() as conn:
            rows = conn.execute(pick).all()
            if not rows:
                return 0
            changed = conn.execute(
                inbound_messages.update().where(m.id.in_([row[0] for row in rows])).values(**values)
            ).rowcount
            self._redact_attachments(conn, rows, words)
            return int(changed or 0)

    @staticmethod
    def _redact_attachments(conn: Connection, rows: Sequence[Any], words: str) -> None:
        """Each message's attachments (JSON) with their content replaced, row by row."""
        m = inbound_messages.c
        changed = [
            {
                "b_id": row[0],
                "b_attachments": redact_attachments(row[1], words),
                "b_files": redact_files_shown(row[2], words),
            }
            for row in rows
            if (row[1] or "[]") != "[]" or row[2] is not None
        ]
        if changed:
            conn.execute(
                inbound_messages.update()
                .where(m.id == sa.bindparam("b_id"))
                .values(
                    attachments=sa.bindparam("b_attachments"), files_shown=sa.bindparam("b_files")
                ),
                changed,
            )

    # forgetting one customer

    def forget_customer(self, number: str, masked: str, words: str, now: datetime) -> Forgotten:
        """Replace one customer's content by `words` and their number by `masked` in every
        stored record, in batches; their kept files' bytes deleted (those sent to nobody
        else). The rows whose Slack messages show them are marked to be edited again.

        The rows are found by reads first (the callbacks by a scan of their bodies), outside
        any transaction, then changed by primary key a batch at a time."""
        digits, masked_digits = number.lstrip("+"), masked.lstrip("+")
        found = self._customer_rows(number, digits)
        done = Forgotten()
        for batch in _chunks(found["sends"]):
            done.sends += self._forget_sends(batch, number, masked, words, now)
            done.statuses += self._mask_statuses(batch, digits, masked_digits)
        for batch in _chunks(found["inbound"]):
            done.inbound_messages += self._forget_inbound(batch, number, masked, words, now)
        for conversation_id, alias, opted_out in found["conversations"]:
            if self._forget_conversation(conversation_id, alias, number, masked, now):
                done.conversations += 1
                done.opted_out += int(opted_out)
        for batch in _chunks(found["callbacks"]):
            statement = (
                callbacks.update()
                .where(callbacks.c.id.in_(batch), callbacks.c.body.contains(digits))
                .values(body=sa.func.replace(callbacks.c.body, digits, masked_digits))
            )
            with self._tx() as conn:
                done.callbacks += int(conn.execute(statement).rowcount or 0)
        done.media = self._purge_forgotten_media(found["media"], words, now)
        done.send_ids = list(found["sends"])
        done.conversation_ids = [row[0] for row in found["conversations"]]
        return done

    def _customer_rows(self, number: str, digits: str) -> dict[str, list[Any]]:
        s, m, c = sends.c, inbound_messages.c, conversations.c
        with self._read() as conn:
            send_rows = conn.execute(
                sa.select(s.id, s.media_id).where(s.recipient == number).order_by(s.created_at)
            ).all()
            return {
                "sends": [row[0] for row in send_rows],
                "media": sorted({row[1] for row in send_rows if row[1] is not None}),
                "inbound": [
                    row[0] for row in conn.execute(sa.select(m.id).where(m.customer == number))
                ],
                "conversations": [
                    (row[0], row[1], row[2] is not None)
                    for row in conn.execute(
                        sa.select(c.id, c.sender_alias, c.opted_out_at).where(c.customer == number)
                    )
                ],
                "callbacks": [
                    row[0]
                    for row in conn.execute(
                        sa.select(callbacks.c.id)
                        .where(callbacks.c.body.contains(digits))
                        .order_by(callbacks.c.id)
                    )
                ],
            }

    def _forget_sends(
        self, ids: list[str], number: str, masked: str, words: str, now: datetime
    ) -> int:
        """A batch of the customer's sends: masked, content replaced, a send not yet made
        cancelled (never to go to a masked number), and marked for their records' edit."""
        s = sends.c
        digits, masked_digits = number.lstrip("+"), masked.lstrip("+")
        statement = (
            sends.update()
            .where(s.id.in_(ids), s.recipient == number)
            .values(
                recipient=masked,
                body=words,
                caption=sa.case((s.caption.is_not(None), words), else_=None),
                file_name=sa.case((s.file_name.is_not(None), words), else_=None),
                state=sa.case(
                    (s.state.in_(_NOT_SENT_YET), str(SendState.CANCELLED)), else_=s.state
                ),
                error=sa.case(
                    (s.state.in_(_NOT_SENT_YET), "the customer was forgotten on request"),
                    else_=sa.func.replace(s.error, digits, masked_digits),
                ),
                content_removed_at=sa.func.coalesce(s.content_removed_at, now),
                version=s.version + 1,
                dirty=True,
            )
        )
        with self._tx() as conn:
            return int(conn.execute(statement).rowcount or 0)

    def _mask_statuses(self, send_ids: list[str], digits: str, masked_digits: str) -> int:
        """What the provider said with a status, where it names the number."""
        st = statuses.c
        statement = (
            statuses.update()
            .where(st.send_id.in_(send_ids), st.detail.contains(digits))
            .values(detail=sa.func.replace(st.detail, digits, masked_digits))
        )
        with self._tx() as conn:
            return int(conn.execute(statement).rowcount or 0)

    def _forget_inbound(
        self, ids: list[str], number: str, masked: str, words: str, now: datetime
    ) -> int:
        """A batch of the customer's messages: masked, content replaced; one already posted
        in Slack is to be shown again (`shown_at` cleared), so that its message is edited."""
        m = inbound_messages.c
        digits, masked_digits = number.lstrip("+"), masked.lstrip("+")
        with self._tx() as conn:
            rows = conn.execute(
                sa.select(m.id, m.attachments, m.files_shown).where(
                    m.id.in_(ids), m.customer == number
                )
            ).all()
            if not rows:
                return 0
            changed = conn.execute(
                inbound_messages.update()
                .where(m.id.in_([row[0] for row in rows]), m.customer == number)
                .values(
                    customer=masked,
                    customer_name=None,
                    text=sa.case((m.text == "", ""), else_=words),
                    raw=words,
                    dedup_key=sa.func.replace(m.dedup_key, digits, masked_digits),
                    number_problem=sa.func.replace(m.number_problem, digits, masked_digits),
                    content_removed_at=sa.func.coalesce(m.content_removed_at, now),
                    shown_at=sa.case((m.message_ts.is_not(None), None), else_=m.shown_at),
                )
            ).rowcount
            self._redact_attachments(conn, rows, words)
            return int(changed or 0)

    def _forget_conversation(
        self, conversation_id: str, alias: str, number: str, masked: str, now: datetime
    ) -> bool:
        """The customer's conversation with one sender: masked (unique per sender: a second
        forgotten customer whose number masks alike becomes `… (2)`), no longer answerable
        (nobody can write to a masked number), marked for its thread's edit."""
        c = conversations.c
        digits, masked_digits = number.lstrip("+"), masked.lstrip("+")
        with self._tx() as conn:
            taken = {
                row[0]
                for row in conn.execute(
                    sa.select(c.customer).where(
                        c.sender_alias == alias, c.customer.startswith(masked)
                    )
                )
            }
            name, copy = masked, 1
            while name in taken:
                copy += 1
                name = f"{masked} ({copy})"
            changed = conn.execute(
                conversations.update()
                .where(c.id == conversation_id, c.customer == number)
                .values(
                    customer=name,
                    customer_name=None,
                    answerable=False,
                    opted_out_why=sa.func.replace(c.opted_out_why, digits, masked_digits),
                    forgotten_at=now,
                    version=c.version + 1,
                    dirty=True,
                )
            ).rowcount
        return bool(changed)

    def _purge_forgotten_media(self, media_ids: list[str], words: str, now: datetime) -> int:
        """The bytes of the kept files sent to the customer, unless a send to someone not
        forgotten still has them (a group's file)."""
        m, s = media.c, sends.c
        still_used = sa.exists().where(s.media_id == m.id, s.content_removed_at.is_(None))
        changed = 0
        for batch in _chunks(media_ids, MEDIA_BATCH):
            statement = (
                media.update()
                .where(m.id.in_(batch), m.purged_at.is_(None), ~still_used)
                .values(data=b"", purged_at=now, file_name=words)
            )
            with self._tx() as conn:
                changed += int(conn.execute(statement).rowcount or 0)
        return changed

    def forgotten_before(self, masked: str) -> tuple[int, list[str], list[str]]:
        """For a number that matches nothing: how many records show its mask already (it was
        forgotten before, or another number that masks alike), and those of their sends and
        conversations that Slack still lags behind."""
        s, m, c = sends.c, inbound_messages.c, conversations.c
        with self._read() as conn:
            counted = sum(
                int(conn.execute(statement).scalar() or 0)
                for statement in (
                    sa.select(sa.func.count()).select_from(sends).where(s.recipient == masked),
                    sa.select(sa.func.count())
                    .select_from(inbound_messages)
                    .where(m.customer == masked),
                    sa.select(sa.func.count())
                    .select_from(conversations)
                    .where(c.customer.startswith(masked), c.forgotten_at.is_not(None)),
                )
            )
            dirty_sends = [
                row[0]
                for row in conn.execute(
                    sa.select(s.id).where(s.recipient == masked, s.dirty.is_(True))
                )
            ]
            dirty_conversations = [
                row[0]
                for row in conn.execute(
                    sa.select(c.id).where(
                        c.customer.startswith(masked),
                        c.forgotten_at.is_not(None),
                        c.dirty.is_(True),
                    )
                )
            ]
        return counted, dirty_sends, dirty_conversations
