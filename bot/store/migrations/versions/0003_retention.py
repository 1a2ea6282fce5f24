"""Retention: kept file bytes deleted after `retention.media_days` (the row stays, its links
answer 410), content removed after `retention.content_days` or when a customer is forgotten.

New nullable columns and two partial indexes: every existing row stays as it was.

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision: str | None = "0002"
branch_labels: str | None = None
depends_on: str | None = None

TIMESTAMP = sa.DateTime(timezone=True)
KEPT = sa.text("content_removed_at IS NULL")


def upgrade() -> None:
    op.add_column("media", sa.Column("purged_at", TIMESTAMP))
    op.add_column("sends", sa.Column("content_removed_at", TIMESTAMP))
    op.add_column("inbound_messages", sa.Column("content_removed_at", TIMESTAMP))
    op.add_column("conversations", sa.Column("forgotten_at", TIMESTAMP))
    op.create_index(
        "ix_sends_content_kept", "sends", ["created_at"], sqlite_where=KEPT, postgresql_where=KEPT
    )
    op.create_index(
        "ix_inbound_messages_content_kept",
        "inbound_messages",
        ["received_at"],
        sqlite_where=KEPT,
        postgresql_where=KEPT,
    )


def downgrade() -> None:
    op.drop_index("ix_inbound_messages_content_kept", "inbound_messages")
    op.drop_index("ix_sends_content_kept", "sends")
    for table, column in (
        ("conversations", "forgotten_at"),
        ("inbound_messages", "content_removed_at"),
        ("sends", "content_removed_at"),
        ("media", "purged_at"),
    ):
        with op.batch_alter_table(table) as batch:
            batch.drop_column(column)
