"""The configuration as the app uses it: frozen records, and the problems found reading one."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Literal

from bot.core.logs import LogFormat

DEFAULT_DATABASE_URL = "sqlite:///whatsapp-bot.sqlite3"
DEFAULT_SLACK_API_URL = "https://slack.com/api/"
DEFAULT_TOKEN_CHECK_SECONDS = 300.0

RecipientFormat = Literal["e164", "digits"]
CallbacksFormat = Literal["string", "list"]


@dataclass(frozen=True)
class SlackConfig:
    bot_token: str
    signing_secret: str
    api_base_url: str = DEFAULT_SLACK_API_URL
    token_check_seconds: float = DEFAULT_TOKEN_CHECK_SECONDS


@dataclass(frozen=True)
class WhatsAppConfig:
    api_url: str
    api_key: str
    timeout_seconds: float = 10.0
    connect_timeout_seconds: float = 5.0
    recipient_format: RecipientFormat = "e164"
    callbacks_format: CallbacksFormat = "string"
    max_rate_limit_wait_seconds: float = 60.0
    max_concurrent_sends: int = 5


@dataclass(frozen=True)
class Sender:
    alias: str
    number: str
    label: str
    inbox_channel: str | None = None  # as written; `Config.inbox_channel` resolves the default

    def describe(self) -> str:
        return f"{self.label} (+{self.number})"


@dataclass(frozen=True)
class ChannelPolicy:
    channel_id: str
    sender: str
    allowed_senders: tuple[str, ...]
    file_shares: bool = False
    default_recipient: str | None = None


@dataclass(frozen=True)
class AccessConfig:
    allowed_users: frozenset[str] = frozenset()


@dataclass(frozen=True)
class MediaConfig:
    link_secret: str
    link_ttl_hours: float = 24.0
    allow_private_hosts: bool = False


@dataclass(frozen=True)
class MetricsConfig:
    token: str | None = None  # when set, `GET /metrics` wants `Authorization: Bearer <token>`


DEFAULT_OPT_OUT_WORDS = ("STOP", "UNSUBSCRIBE", "BAJA", "CANCELAR", "PARAR", "SAIR")
DEFAULT_OPT_IN_WORDS = ("START", "ALTA", "UNSTOP")


@dataclass(frozen=True)
class ConversationsConfig:
    """Customer messages: which thread they join, WhatsApp's window, opt-out words.

    `window_hours` is WhatsApp's customer-care window; `broadcast_after_hours`, how old a
    thread must be for a customer's message in it to be broadcast to the channel as well;
    `max_inbound_bytes`, the largest body the inbound URL reads (attachments come as URLs)."""

    thread_idle_hours: float = 72.0
    opt_out_words: tuple[str, ...] = DEFAULT_OPT_OUT_WORDS
    opt_in_words: tuple[str, ...] = DEFAULT_OPT_IN_WORDS
    window_hours: float = 24.0
    broadcast_after_hours: float = 24.0
    max_inbound_bytes: int = 256 * 1024

    def is_opt_out(self, text: str) -> bool:
        return _word(text) in {w.casefold() for w in self.opt_out_words}

    def is_opt_in(self, text: str) -> bool:
        return _word(text) in {w.casefold() for w in self.opt_in_words}


def _word(text: str) -> str:
    """A whole message as a keyword: any case, surrounding spaces and final punctuation ignored."""
    return text.strip().rstrip(".!¡¿?").strip().casefold()


DEFAULT_MEDIA_DAYS = 30


@dataclass(frozen=True)
class RetentionConfig:
    """How long things are kept. `media_days`: kept file bytes (files shared in Slack and sent
    from there) are deleted that many days after they were kept; `content_days`: captions,
    texts, file names and customers' messages are replaced by `[removed after N days]`
    (None keeps them)."""

    media_days: int = DEFAULT_MEDIA_DAYS
    content_days: int | None = None


@dataclass(frozen=True)
class LoggingConfig:
    format: LogFormat = "text"


@dataclass(frozen=True)
class Config:
    slack: SlackConfig
    whatsapp: WhatsAppConfig
    public_base_url: str
    senders: Mapping[str, Sender]
    default_sender: str
    media: MediaConfig
    database_url: str = DEFAULT_DATABASE_URL
    contacts: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    groups: Mapping[str, tuple[str, ...]] = field(default_factory=lambda: MappingProxyType({}))
    channels: Mapping[str, ChannelPolicy] = field(default_factory=lambda: MappingProxyType({}))
    access: AccessConfig = field(default_factory=AccessConfig)
    metrics: MetricsConfig = field(default_factory=MetricsConfig)
    logging: LoggingConfig = field(default_factory=LoggingConfig)
    conversations: ConversationsConfig = field(default_factory=ConversationsConfig)
    retention: RetentionConfig = field(default_factory=RetentionConfig)

    def inbox_channel(self, alias: str) -> str | None:
        """Where a sender's new conversations appear: its `inbox_channel`, else the first
        configured channel whose sender it is, else None (they are kept, not shown)."""
        sender = self.senders.get(alias)
        if sender is not None and sender.inbox_channel:
            return sender.inbox_channel
        for channel in self.channels.values():
            if channel.sender == alias:
                return channel.channel_id
        return None

    def inbound_url(self, token: str) -> str:
        return f"{self.public_base_url}/whatsapp/inbound/{token}"

    def callback_url(self, token: str) -> str:
        return f"{self.public_base_url}/whatsapp/callbacks/{token}"

    def media_url(self, token: str) -> str:
        return f"{self.public_base_url}/media/{token}"


@dataclass(frozen=True)
class Problem:
    path: str
    message: str
    fix: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}. {self.fix}"


class ConfigError(Exception):
    """The configuration cannot be used; `problems` lists every reason at once."""

    def __init__(self, problems: list[Problem], source: str = "the configuration") -> None:
        self.problems = problems
        self.source = source
        lines = [f"{source} has {len(problems)} problem(s):"]
        lines += [f"  - {p}" for p in problems]
        super().__init__("\n".join(lines))
