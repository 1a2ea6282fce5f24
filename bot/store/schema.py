"""The tables, one SQLAlchemy Core schema for SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

metadata = sa.MetaData()

TIMESTAMP = sa.DateTime(timezone=True)


def _render_columns() -> list[sa.Column[Any]]:
    """What Slack shows of a row, and who is updating it. `version` counts changes worth
    showing; `dirty` (indexed) says Slack lags behind, so a sweeper finds the row after a crash."""
    return [
        sa.Column("version", sa.Integer, nullable=False, server_default="0"),
        sa.Column("rendered_version", sa.Integer, nullable=False, server_default="0"),
        sa.Column("dirty", sa.Boolean, nullable=False, server_default=sa.false(), index=True),
        sa.Column("render_owner", sa.String(64)),
        sa.Column("render_until", TIMESTAMP),
        sa.Column("rendered_at", TIMESTAMP),
    ]


def _content_kept_index(table: str, column: str) -> sa.Index:
    """The rows whose content is still there, by age: what retention looks through, without
    passing again over the rows it has done (a partial index, on SQLite and PostgreSQL)."""
    kept = sa.text("content_removed_at IS NULL")
    return sa.Index(f"ix_{table}_content_kept", column, sqlite_where=kept, postgresql_where=kept)


sends = sa.Table(
    "sends",
    metadata,
    sa.Column("id", sa.String(32), primary_key=True),
    sa.Column("created_at", TIMESTAMP, nullable=False),
    sa.Column("updated_at", TIMESTAMP, nullable=False),
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
    sa.Column("provider_status_at", TIMESTAMP),
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
    # The send's record is the root of a conversation's thread where the customer wrote last.
    sa.Column("reply_waiting", sa.Boolean, nullable=False, server_default=sa.false()),
    # When its caption, text and file name were replaced (retention, or forgetting a customer).
    sa.Column("content_removed_at", TIMESTAMP),
    *_render_columns(),
    sa.Index("ix_sends_conversation", "sender_alias", "recipient", "created_at"),
    _content_kept_index("sends", "created_at"),
)

media = sa.Table(
    "media",
    metadata,
    sa.Column("id", sa.String(32), primary_key=True),
    sa.Column("created_at", TIMESTAMP, nullable=False),
    sa.Column("expires_at", TIMESTAMP, nullable=False, index=True),
    sa.Column("content_type", sa.String(100), nullable=False),
    sa.Column("size", sa.Integer, nullable=False),
    sa.Column("sha256", sa.String(64), nullable=False),
    sa.Column("file_name", sa.Text),
    sa.Column("slack_file_id", sa.String(32)),
    sa.Column("data", sa.LargeBinary, nullable=False),
    # When its bytes were deleted (`retention.media_days`, or forgetting a customer): the row
    # stays, so that its links answer 410 Gone.
    sa.Column("purged_at", TIMESTAMP),
)

batches = sa.Table(
    "batches",
    metadata,
    sa.Column("id", sa.String(32), primary_key=True),
    sa.Column("created_at", TIMESTAMP, nullable=False),
    sa.Column("updated_at", TIMESTAMP, nullable=False),
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
    sa.Column("received_at", TIMESTAMP, nullable=False, index=True),
)

flags = sa.Table(
    "flags",
    metadata,
    sa.Column("name", sa.String(64), primary_key=True),
    sa.Column("value", sa.Text, nullable=False),
    sa.Column("updated_at", TIMESTAMP, nullable=False),
)

# Who opened their Home tab, and when: only their tabs are kept fresh as sends change.
home_views = sa.Table(
    "home_views",
    metadata,
    sa.Column("user_id", sa.String(32), primary_key=True),
    sa.Column("opened_at", TIMESTAMP, nullable=False),
)

statuses = sa.Table(
    "statuses",
    metadata,
    sa.Column("send_id", sa.String(32), sa.ForeignKey("sends.id"), primary_key=True),
    sa.Column("status", sa.String(64), primary_key=True),
    sa.Column("received_at", TIMESTAMP, nullable=False),
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
    sa.Column("received_at", TIMESTAMP, nullable=False),
    sa.Column("status", sa.String(64)),
    sa.Column("body", sa.Text, nullable=False),
)

# One row per sender and customer: the thread their messages go to now, WhatsApp's window
# (`last_customer_at`), whether a reply is waiting, and the do-not-send list (`opted_out_at`).
# Its render lease is taken by whoever shows the customer's messages, one at a time, so two
# messages of a new conversation make one thread, on any number of instances.
conversations = sa.Table(
    "conversations",
    metadata,
    sa.Column("id", sa.String(32), primary_key=True),
    sa.Column("created_at", TIMESTAMP, nullable=False),
    sa.Column("updated_at", TIMESTAMP, nullable=False),
    sa.Column("sender_alias", sa.String(64), nullable=False),
    sa.Column("customer", sa.String(32), nullable=False),
    sa.Column("answerable", sa.Boolean, nullable=False, server_default=sa.true()),
    sa.Column("customer_name", sa.Text),
    sa.Column("channel_id", sa.String(32)),
    sa.Column("thread_ts", sa.String(32)),
    sa.Column("root_send_id", sa.String(32)),
    sa.Column("root_inbound_id", sa.String(32)),
    sa.Column("thread_active_at", TIMESTAMP),
    sa.Column("last_customer_at", TIMESTAMP),
    sa.Column("waiting_since", TIMESTAMP, index=True),
    sa.Column("root_shown", sa.String(64)),
    sa.Column("opted_out_at", TIMESTAMP),
    sa.Column("opted_out_why", sa.Text),
    sa.Column("opted_in_at", TIMESTAMP),
    # When the customer was forgotten (`whatsapp-bot forget`): `customer` is masked since.
    sa.Column("forgotten_at", TIMESTAMP),
    *_render_columns(),
    sa.UniqueConstraint("sender_alias", "customer", name="uq_conversations_sender_customer"),
)

# Every message a customer sent, once (`dedup_key` per sender), with the raw body it came in.
inbound_messages = sa.Table(
    "inbound_messages",
    metadata,
    sa.Column("id", sa.String(32), primary_key=True),
    sa.Column("received_at", TIMESTAMP, nullable=False),
    sa.Column("conversation_id", sa.String(32), sa.ForeignKey("conversations.id"), nullable=False),
    sa.Column("sender_alias", sa.String(64), nullable=False),
    sa.Column("customer", sa.String(32), nullable=False),
    sa.Column("dedup_key", sa.String(200), nullable=False),
    sa.Column("shape", sa.String(8), nullable=False),
    sa.Column("kind", sa.String(16), nullable=False),
    sa.Column("text", sa.Text, nullable=False),
    sa.Column("customer_name", sa.Text),
    sa.Column("provider_id", sa.String(500)),
    sa.Column("provider_date", sa.String(500)),
    sa.Column("attachments", sa.Text, nullable=False),
    sa.Column("number_problem", sa.Text),
    sa.Column("optout", sa.String(8)),
    sa.Column("raw", sa.Text, nullable=False),
    sa.Column("content_type", sa.String(200)),
    sa.Column("channel_id", sa.String(32)),
    sa.Column("thread_ts", sa.String(32)),
    sa.Column("message_ts", sa.String(32)),
    sa.Column("files_shown", sa.Text),
    sa.Column("shown_at", TIMESTAMP),
    # When its text, attachments' names and captions and raw body were replaced.
    sa.Column("content_removed_at", TIMESTAMP),
    sa.UniqueConstraint("sender_alias", "dedup_key", name="uq_inbound_messages_dedup"),
    sa.Index("ix_inbound_messages_conversation", "conversation_id", "received_at"),
    sa.Index("ix_inbound_messages_customer", "customer", "received_at"),
    _content_kept_index("inbound_messages", "received_at"),
)
