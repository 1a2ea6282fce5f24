"""Persistence behind one interface, `Store`: SQLAlchemy Core serves SQLite and PostgreSQL.

`schema` holds the tables and `statements` those built once; `sqlite` and `postgres` what is
particular to each engine; `database` decides which engine's path a transaction, a write or a
read takes; `status_updates` records callbacks and statuses, each engine's path side by side;
`store` holds the operations, with `conversation_rows` and `history_rows` mixed in; `migrate`
the schema's revisions, the Alembic migrations in `migrations/`. The records themselves are in
`bot.records`.
"""

from bot.core.records import (
    BatchRecord,
    CallbackTaken,
    ConversationRecord,
    InboundRecord,
    InboundTaken,
    Lease,
    MediaRecord,
    RenderedRecord,
    SendRecord,
    SendState,
    SendSummary,
    StatusChange,
    StatusRow,
    utcnow,
)
from bot.store.database import create_engine
from bot.store.migrate import Migration, SchemaError, SchemaStatus
from bot.store.retention_rows import Forgotten
from bot.store.schema import (
    batches,
    callbacks,
    conversations,
    flags,
    home_views,
    inbound_messages,
    media,
    metadata,
    sends,
    slack_events,
    statuses,
)
from bot.store.store import Store

__all__ = [
    "BatchRecord",
    "CallbackTaken",
    "ConversationRecord",
    "Forgotten",
    "InboundRecord",
    "InboundTaken",
    "Lease",
    "MediaRecord",
    "Migration",
    "RenderedRecord",
    "SchemaError",
    "SchemaStatus",
    "SendRecord",
    "SendState",
    "SendSummary",
    "StatusChange",
    "StatusRow",
    "Store",
    "batches",
    "callbacks",
    "conversations",
    "create_engine",
    "flags",
    "home_views",
    "inbound_messages",
    "media",
    "metadata",
    "sends",
    "slack_events",
    "statuses",
    "utcnow",
]
