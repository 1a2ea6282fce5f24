"""Conversations: customer messages, the thread each customer's messages join, WhatsApp's
window, opt-outs; and a send's record that shows a reply is waiting.

New tables and a new column with a default: every existing row stays as it was.

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision: str | None = "0001"
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
    op.add_column(
        "sends",
        sa.Column("reply_waiting", sa.Boolean, nullable=False, server_default=sa.false()),
    )
    op.create_index("ix_sends_conversation", "sends", ["sender_alias", "recipient", "created_at"])
    op.create_table(
        "conversations",
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
        sa.Column("waiting_since", TIMESTAMP),
        sa.Column("root_shown", sa.String(64)),
        sa.Column("opted_out_at", TIMESTAMP),
        sa.Column("opted_out_why", sa.Text),
        sa.Column("opted_in_at", TIMESTAMP),
        *_render_columns(),
        sa.UniqueConstraint("sender_alias", "customer", name="uq_conversations_sender_customer"),
    )
    op.create_index("ix_conversations_waiting_since", "conversations", ["waiting_since"])
    op.create_index("ix_conversations_dirty", "conversations", ["dirty"])
    op.create_table(
        "inbound_messages",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("received_at", TIMESTAMP, nullable=False),
        sa.Column(
            "conversation_id",
            sa.String(32),
            sa.ForeignKey("conversations.id"),
            nullable=False,
        ),
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
        sa.UniqueConstraint("sender_alias", "dedup_key", name="uq_inbound_messages_dedup"),
    )
    op.create_index(
        "ix_inbound_messages_conversation",
        "inbound_messages",
        ["conversation_id", "received_at"],
    )
    op.create_index("ix_inbound_messages_customer", "inbound_messages", ["customer", "received_at"])


def downgrade() -> None:
    op.drop_table("inbound_messages")
    op.drop_table("conversations")
    op.drop_index("ix_sends_conversation", "sends")
    with op.batch_alter_table("sends") as batch:
        batch.drop_column("reply_waiting")
