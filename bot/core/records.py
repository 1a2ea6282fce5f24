"""The stored records: what the store reads back, and what Slack is shown of them.

Plain dataclasses that import nothing of the database, so that builders of messages can
render them without pulling in SQLAlchemy or a driver.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, ClassVar, Self


class SendState(StrEnum):
    DRAFT = "draft"
    CONFIRMED = "confirmed"
    SENDING = "sending"
    SENT = "sent"
    FAILED = "failed"
    UNKNOWN = "unknown"
    CANCELLED = "cancelled"


def utcnow() -> datetime:
    return datetime.now(UTC)


def aware(value: datetime | None) -> datetime | None:
    """SQLite hands back naive datetimes; everything stored is UTC."""
    if value is not None and value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value


@dataclass(frozen=True, kw_only=True)
class RenderedRecord:
    """What Slack shows of a row, and who is updating it (see `bot.store.schema`).

    Its subclasses are rows with a `state` and these times, read back with `from_row`.
    """

    _TIMES: ClassVar[tuple[str, ...]] = ("created_at", "updated_at", "render_until", "rendered_at")

    version: int = 0
    rendered_version: int = 0
    dirty: bool = False
    render_owner: str | None = None
    render_until: datetime | None = None
    rendered_at: datetime | None = None

    @classmethod
    def from_row(cls, row: Mapping[Any, Any]) -> Self:
        values = dict(row)
        for key in cls._TIMES:
            values[key] = aware(values[key])
        values["state"] = SendState(values["state"])
        return cls(**values)


@dataclass(frozen=True, kw_only=True)
class SendRecord(RenderedRecord):
    id: str
    created_at: datetime
    updated_at: datetime
    source: str
    sender_alias: str
    sender_number: str
    recipient: str
    kind: str
    body: str
    external_id: str
    callback_token: str
    state: SendState
    team_id: str | None = None
    channel_id: str | None = None
    user_id: str | None = None
    thread_ts: str | None = None
    message_ts: str | None = None
    status_ts: str | None = None
    caption: str | None = None
    file_name: str | None = None
    transaction_id: str | None = None
    provider_status: str | None = None
    provider_rank: int | None = None
    provider_status_at: datetime | None = None
    error: str | None = None
    attempts: int = 0
    media_id: str | None = None
    origin: str | None = None
    batch_id: str | None = None
    txid_ts: str | None = None
    outcome_ts: str | None = None
    message_status: str | None = None
    status_shown: str | None = None
    reply_waiting: bool = False
    content_removed_at: datetime | None = None  # caption, text and file name replaced

    _TIMES: ClassVar[tuple[str, ...]] = (
        *RenderedRecord._TIMES,
        "provider_status_at",
        "content_removed_at",
    )


@dataclass(frozen=True)
class SendSummary:
    """What a list of sends shows of each (the Home tab): a few columns, not the whole row."""

    id: str
    created_at: datetime
    kind: str
    recipient: str
    sender_alias: str
    sender_number: str
    state: SendState
    transaction_id: str | None
    provider_status: str | None

    @classmethod
    def from_row(cls, row: Mapping[Any, Any]) -> SendSummary:
        values = dict(row)
        values["created_at"] = aware(values["created_at"])
        values["state"] = SendState(values["state"])
        return cls(**values)


@dataclass(frozen=True)
class StatusRow:
    status: str
    received_at: datetime
    provider_date: str | None = None
    detail: str | None = None
    advanced: bool = False
    reply_ts: str | None = None


@dataclass(frozen=True)
class Lease:
    """Who is bringing a row's thread up to date (`owner`, until when), and when Slack was
    last written for it: read with a change, so the one who made it knows whether to start
    a pass now, later, or not at all (the holder sees the change as it lets go)."""

    owner: str | None = None
    until: datetime | None = None
    rendered_at: datetime | None = None


@dataclass(frozen=True)
class StatusChange:
    """What recording one status did: `new` unless a duplicate; `advanced` if now shown;
    `shown`, the send's shown status afterwards; `lease`, the send's lease as it left it."""

    new: bool
    advanced: bool
    shown: str | None = None
    lease: Lease = Lease()


@dataclass(frozen=True)
class CallbackTaken:
    """What `take_callback` did: `mismatch` when the body names another send's externalId
    (nothing is stored); otherwise the body is kept and `change` says what its status did."""

    send_id: str
    mismatch: bool = False
    change: StatusChange | None = None


@dataclass(frozen=True)
class MediaRecord:
    id: str
    created_at: datetime
    expires_at: datetime
    content_type: str
    size: int
    sha256: str
    file_name: str | None
    slack_file_id: str | None
    data: bytes | None = None
    purged_at: datetime | None = None  # its bytes were deleted: its links answer 410

    @classmethod
    def from_row(cls, row: Mapping[Any, Any]) -> MediaRecord:
        values = dict(row)
        values["created_at"] = aware(values["created_at"])
        values["expires_at"] = aware(values["expires_at"])
        values["purged_at"] = aware(values.get("purged_at"))
        if values.get("data") is not None:
            values["data"] = bytes(values["data"])
        return cls(**values)


@dataclass(frozen=True, kw_only=True)
class BatchRecord(RenderedRecord):
    """A group send: one confirmation and one progress message for many recipients."""

    id: str
    created_at: datetime
    updated_at: datetime
    group_name: str
    total: int
    state: SendState
    team_id: str | None = None
    channel_id: str | None = None
    user_id: str | None = None
    thread_ts: str | None = None
    message_ts: str | None = None
    shown: str | None = None


class MessageKind(StrEnum):
    TEXT = "text"
    IMAGE = "image"
    VIDEO = "video"
    AUDIO = "audio"
    DOCUMENT = "document"

    @property
    def is_media(self) -> bool:
        return self is not MessageKind.TEXT


@dataclass(frozen=True, kw_only=True)
class ConversationRecord(RenderedRecord):
    """One sender and one customer: where their messages go now, WhatsApp's window, whether a
    reply is waiting, and whether the customer opted out (see `bot.store.schema`)."""

    _TIMES: ClassVar[tuple[str, ...]] = (
        *RenderedRecord._TIMES,
        "thread_active_at",
        "last_customer_at",
        "waiting_since",
        "opted_out_at",
        "opted_in_at",
        "forgotten_at",
    )

    id: str
    created_at: datetime
    updated_at: datetime
    sender_alias: str
    customer: str
    answerable: bool = True
    customer_name: str | None = None
    channel_id: str | None = None
    thread_ts: str | None = None
    root_send_id: str | None = None
    root_inbound_id: str | None = None
    thread_active_at: datetime | None = None
    last_customer_at: datetime | None = None
    waiting_since: datetime | None = None
    root_shown: str | None = None
    opted_out_at: datetime | None = None
    opted_out_why: str | None = None
    opted_in_at: datetime | None = None
    forgotten_at: datetime | None = None  # `whatsapp-bot forget`: `customer` is masked

    @classmethod
    def from_row(cls, row: Mapping[Any, Any]) -> Self:
        values = dict(row)
        for key in cls._TIMES:
            values[key] = aware(values[key])
        return cls(**values)

    @property
    def opted_out(self) -> bool:
        return self.opted_out_at is not None


@dataclass(frozen=True, kw_only=True)
class InboundRecord:
    """One message a customer sent, as stored (its raw body is read only on request)."""

    id: str
    received_at: datetime
    conversation_id: str
    sender_alias: str
    customer: str
    dedup_key: str
    shape: str
    kind: str
    text: str
    attachments: str  # JSON: [{"url", "file_name", "caption"}]
    customer_name: str | None = None
    provider_id: str | None = None
    provider_date: str | None = None
    number_problem: str | None = None
    optout: str | None = None  # "out" or "in": the message was an opt-out or opt-in word
    content_type: str | None = None
    channel_id: str | None = None
    thread_ts: str | None = None
    message_ts: str | None = None
    files_shown: str | None = None  # JSON: one entry per attachment, as it was shown
    shown_at: datetime | None = None
    content_removed_at: datetime | None = None  # text, attachments and raw body replaced

    @classmethod
    def from_row(cls, row: Mapping[Any, Any]) -> InboundRecord:
        values = dict(row)
        values.pop("raw", None)
        values["received_at"] = aware(values["received_at"])
        values["shown_at"] = aware(values["shown_at"])
        values["content_removed_at"] = aware(values.get("content_removed_at"))
        return cls(**values)


@dataclass(frozen=True)
class InboundTaken:
    """What storing one customer message did: `new` unless the provider delivered it before;
    the conversation it belongs to; its render lease as the message left it."""

    new: bool
    message_id: str
    conversation_id: str
    lease: Lease = Lease()
