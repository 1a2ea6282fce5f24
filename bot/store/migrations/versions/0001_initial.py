"""The schema as version 0.1.0 created it, table for table, column for column.

A database made by 0.1.0 has these tables and no `alembic_version`: it is marked as being at
this revision and upgraded from here, never created again. Frozen: a later change of the
schema is a migration of its own.

Revision ID: 0001
Revises: none
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision: str | None = None
branch_labels: str | None = None
depends_on: str | None = None

TIMESTAMP = sa.DateTime(timezone=True)


def _render_columns() -> list[sa.Column[Any]]:
    return [
        sa.Column("version", sa.Integer, nullable=False, server_default="0"),
        sa.Column("rendered_version", sa.Integer, nullable=False, server_default="0"),
        sa.Column("dirty", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("render_owner", sa.String(64)),
        sa.Column("render_until", TIMESTAMP),
        sa.Column("rendered_at", TIMESTAMP),
    ]


def upgrade() -> None:
    # In the order 0.1.0's `create_all` made them: a table before those that refer to it.
    op.create_table(
        "media",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.Column("expires_at", TIMESTAMP, nullable=False),
        sa.Column("content_type", sa.String(100), nullable=False),
        sa.Column("size", sa.Integer, nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("file_name", sa.Text),
        sa.Column("slack_file_id", sa.String(32)),
        sa.Column("data", sa.LargeBinary, nullable=False),
    )
    op.create_index("ix_media_expires_at", "media", ["expires_at"])

    op.create_table(
        "batches",
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
    op.create_index("ix_batches_dirty", "batches", ["dirty"])

    op.create_table(
        "slack_events",
        sa.Column("event_id", sa.String(64), primary_key=True),
        sa.Column("received_at", TIMESTAMP, nullable=False),
    )
    op.create_index("ix_slack_events_received_at", "slack_events", ["received_at"])

    op.create_table(
        "flags",
        sa.Column("name", sa.String(64), primary_key=True),
        sa.Column("value", sa.Text, nullable=False),
        sa.Column("updated_at", TIMESTAMP, nullable=False),
    )

    op.create_table(
        "home_views",
        sa.Column("user_id", sa.String(32), primary_key=True),
        sa.Column("opened_at", TIMESTAMP, nullable=False),
    )

    op.create_table(
        "sends",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.Column("updated_at", TIMESTAMP, nullable=False),
        sa.Column("source", sa.String(16), nullable=False),
        sa.Column("team_id", sa.String(32)),
        sa.Column("channel_id", sa.String(32)),
        sa.Column("user_id", sa.String(32)),
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
        sa.Column("transaction_id", sa.String(128)),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("provider_status", sa.String(64)),
        sa.Column("provider_rank", sa.Integer),
        sa.Column("provider_status_at", TIMESTAMP),
        sa.Column("error", sa.Text),
        sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
        sa.Column("media_id", sa.String(32), sa.ForeignKey("media.id", ondelete="SET NULL")),
        sa.Column("origin", sa.String(200), unique=True),
        sa.Column("txid_ts", sa.String(32)),
        sa.Column("outcome_ts", sa.String(32)),
        sa.Column("message_status", sa.String(64)),
        sa.Column("status_shown", sa.String(64)),
        sa.Column("batch_id", sa.String(32), sa.ForeignKey("batches.id")),
        *_render_columns(),
    )
    for column in ("state", "transaction_id", "batch_id", "dirty", "user_id"):
        op.create_index(f"ix_sends_{column}", "sends", [column])

    op.create_table(
        "statuses",
        sa.Column("send_id", sa.String(32), sa.ForeignKey("sends.id"), primary_key=True),
        sa.Column("status", sa.String(64), primary_key=True),
        sa.Column("received_at", TIMESTAMP, nullable=False),
        sa.Column("provider_date", sa.String(64)),
        sa.Column("detail", sa.Text),
        sa.Column("advanced", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("reply_ts", sa.String(32)),
    )

    op.create_table(
        "callbacks",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("send_id", sa.String(32), sa.ForeignKey("sends.id")),
        sa.Column("received_at", TIMESTAMP, nullable=False),
        sa.Column("status", sa.String(64)),
        sa.Column("body", sa.Text, nullable=False),
    )
    op.create_index("ix_callbacks_send_id", "callbacks", ["send_id"])


def downgrade() -> None:
    raise NotImplementedError("The bot never downgrades a database: restore a backup instead.")
