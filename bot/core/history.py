"""A customer's history: the sends to a number and the messages from it, as one list shows
them (`/whatsapp history`, the App Home's "Find a customer")."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from bot.core.records import MessageKind, SendState, aware, utcnow

# How many items a history shows: the newest, of both kinds together.
HISTORY_SIZE = 20

# A send that went no further than its confirmation is not part of a customer's history.
UNLISTED_STATES = (SendState.DRAFT, SendState.CANCELLED)


class Direction(StrEnum):
    SENT = "sent"
    RECEIVED = "received"


@dataclass(frozen=True)
class HistoryItem:
    """One send to the customer or one message from them.

    `text` is what it said (a text's message, a media's caption or file name, the URL of a
    media sent by URL; never a shared file's link); `status` and `state` and `transaction_id`
    are a send's; `user_id` is who sent it, `customer_name` the name a message came with.
    `channel_id` and `thread_ts` are its thread's (a group member's is its group's thread)."""

    id: str
    at: datetime
    direction: Direction
    sender_alias: str
    customer: str
    kind: str
    text: str | None = None
    sender_number: str | None = None
    status: str | None = None
    state: SendState | None = None
    transaction_id: str | None = None
    user_id: str | None = None
    customer_name: str | None = None
    channel_id: str | None = None
    thread_ts: str | None = None

    @classmethod
    def from_send_row(cls, row: Mapping[Any, Any]) -> HistoryItem:
        """From a send's columns, with its thread's `thread_channel_id` and `thread_root_ts`."""
        kind = str(row["kind"])
        text: str | None
        if kind == MessageKind.TEXT:
            text = row["body"]
        else:
            by_url = None if row["media_id"] else row["body"]
            text = row["caption"] or row["file_name"] or by_url
        return cls(
            id=str(row["id"]),
            at=aware(row["created_at"]) or utcnow(),
            direction=Direction.SENT,
            sender_alias=str(row["sender_alias"]),
            sender_number=row["sender_number"],
            customer=str(row["recipient"]),
            kind=kind,
            text=text,
            status=row["provider_status"],
            state=SendState(row["state"]),
            transaction_id=row["transaction_id"],
            user_id=row["user_id"],
            channel_id=row["thread_channel_id"],
            thread_ts=row["thread_root_ts"],
        )

    @classmethod
    def from_inbound_row(cls, row: Mapping[Any, Any]) -> HistoryItem:
        return cls(
            id=str(row["id"]),
            at=aware(row["received_at"]) or utcnow(),
            direction=Direction.RECEIVED,
            sender_alias=str(row["sender_alias"]),
            customer=str(row["customer"]),
            kind=str(row["kind"]),
            text=row["text"] or None,
            customer_name=row["customer_name"],
            channel_id=row["channel_id"],
            thread_ts=row["thread_ts"] or row["message_ts"],
        )


def newest_first(items: list[HistoryItem], limit: int = HISTORY_SIZE) -> list[HistoryItem]:
    """Both kinds in one list, newest first (ties in a fixed order), at most `limit`."""
    return sorted(items, key=lambda item: (item.at, item.direction, item.id), reverse=True)[:limit]
