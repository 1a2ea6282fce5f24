"""Persistence behind one interface, `Store`: SQLAlchemy Core serves SQLite and PostgreSQL.

`schema` holds the tables, `statements` those built once, `sqlite` and `postgres` what is
particular to each; `store` decides which one's path an operation takes.
"""

from bot.records import (
    BatchRecord,
    CallbackTaken,
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
from bot.store.schema import (
    batches,
    callbacks,
    flags,
    home_views,
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
    "Lease",
    "MediaRecord",
    "RenderedRecord",
    "SendRecord",
    "SendState",
    "SendSummary",
    "StatusChange",
    "StatusRow",
    "Store",
    "batches",
    "callbacks",
    "create_engine",
    "flags",
    "home_views",
    "media",
    "metadata",
    "sends",
    "slack_events",
    "statuses",
    "utcnow",
]
