"""Validation of an expanded config tree: every problem at once, each with its path and a fix."""

from __future__ import annotations

import re
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any
from urllib.parse import urlsplit

from bot.core import phones
from bot.core.config.conversations import check_inbox_channels, read_conversations
from bot.core.config.model import (
    DEFAULT_DATABASE_URL,
    DEFAULT_SLACK_API_URL,
    DEFAULT_TOKEN_CHECK_SECONDS,
    AccessConfig,
    ChannelPolicy,
    Config,
    LoggingConfig,
    MediaConfig,
    MetricsConfig,
    Problem,
    Sender,
    SlackConfig,
    WhatsAppConfig,
)
from bot.core.config.retention import read_retention


def join(path: str, key: object) -> str:
    """The YAML path of `key` under `path`."""
    return f"{path}.{key}" if path else str(key)


class Reader:
    """Reads the expanded tree, appending a Problem for everything wrong."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems

    def problem(self, path: str, message: str, fix: str) -> None:
        # One problem per path: an unset ${VAR} is not also reported as a missing key.
        if all(p.path != path for p in self.problems):
            self.problems.append(Problem(path, message, fix))

    def mapping(self, value: Any, path: str, allowed: Mapping[str, bool]) -> dict[str, Any] | None:
        """Check a mapping's keys: `allowed` maps each key to whether it is required."""
        if value is None:
            value = {}
        if not isinstance(value, dict):
            self.problem(path or "(top level)", "must be a mapping of keys", "Indent keys below it")
            return None
        for key in value:
            if key not in allowed:
                known = ", ".join(allowed)
                self.problem(join(path, key), "unknown key", f"Remove it or use one of: {known}")
        for key, required in allowed.items():
            if required and value.get(key) in (None, ""):
                self.problem(join(path, key), "missing required key", f"Add `{key}:`")
        return value

    def text(self, value: Any, path: str, default: str | None = None) -> str:
        if value is None or value == "":
            return default or ""
        if isinstance(value, bool) or not isinstance(value, str | int | float):
            self.problem(path, "must be a single text value", "Write it as a quoted string")
            return default or ""
        return str(value)

    def url(self, value: Any, path: str, default: str | None = None) -> str:
        raw = self.text(value, path, default)
        if not raw:
            return raw
        parts = urlsplit(raw)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            self.problem(
                path, f"`{raw}` is not an http(s) URL", "Write it like https://host.example/path"
            )
        return raw

    def number(self, value: Any, path: str, default: float, *, minimum: float = 0.0) -> float:
        if value is None:
            return default
        try:
            result = float(value)
        except (TypeError, ValueError):
            result = float("nan")
        if isinstance(value, bool) or not (result > minimum) or result != result:
            self.problem(path, f"must be a number above {minimum:g}", f"For example `{default:g}`")
            return default
        return result

    def flag(self, value: Any, path: str, default: bool) -> bool:
        if value is None:
            return default
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "false", "yes", "no"):
            return value.lower() in ("true", "yes")
        self.problem(path, "must be true or false", f"Write `{str(default).lower()}`")
        return default

    def choice(self, value: Any, path: str, options: tuple[str, ...]) -> str:
        if value is None:
            return options[0]
        if value not in options:
            self.problem(path, f"`{value}` is not allowed", f"Use one of: {', '.join(options)}")
            return options[0]
        return str(value)

    def string_list(self, value: Any, path: str) -> tuple[str, ...] | None:
        if value is None:
            return None
        if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
            self.problem(path, "must be a list of names", "Write it like `[support, sales]`")
            return ()
        return tuple(value)

    # sections

    def config(self, data: Any) -> Config | None:
        top = self.mapping(data, "", _TOP_KEYS)
        if top is None:
            return None
        slack = self.slack(top.get("slack"))
        whatsapp = self.whatsapp(top.get("whatsapp"))
        media = self.media(top.get("media"))
        senders = self.senders(top.get("senders"))
        default_sender = self.default_sender(top.get("default_sender"), senders)
        contacts = self.contacts(top.get("contacts"))
        groups = self.groups(top.get("groups"), contacts)
        channels = self.channels(top.get("channels"), senders, default_sender, contacts)
        access = self.access(top.get("access"))
        public_base_url = self.url(top.get("public_base_url"), "public_base_url").rstrip("/")
        database_url = self.database_url(top.get("database_url"))
        metrics = self.metrics(top.get("metrics"))
        logging = self.logging(top.get("logging"))
        conversations = read_conversations(self, top.get("conversations"))
        retention = read_retention(self, top.get("retention"))
        check_inbox_channels(self, senders, channels)
        if slack is None or whatsapp is None or media is None:
            return None
        return Config(
            slack=slack,
            whatsapp=whatsapp,
            public_base_url=public_base_url,
            senders=MappingProxyType(senders),
            default_sender=default_sender,
            media=media,
            database_url=database_url,
            contacts=MappingProxyType(contacts),
            groups=MappingProxyType(groups),
            channels=MappingProxyType(channels),
            access=access,
            metrics=metrics,
            logging=logging,
            conversations=conversations,
            retention=retention,
        )

    def slack(self, value: Any) -> SlackConfig | None:
        section = self.mapping(value, "slack", _SLACK_KEYS)
        if section is None:
            return None
        api = self.url(section.get("api_base_url"), "slack.api_base_url", DEFAULT_SLACK_API_URL)
        return SlackConfig(
            bot_token=self.text(section.get("bot_token"), "slack.bot_token"),
            signing_secret=self.text(section.get("signing_secret"), "slack.signing_secret"),
            api_base_url=api if api.endswith("/") else api + "/",
            token_check_seconds=self.number(
                section.get("token_check_seconds"),
                "slack.token_check_seconds",
                DEFAULT_TOKEN_CHECK_SECONDS,
            ),
        )

    def whatsapp(self, value: Any) -> WhatsAppConfig | None:
        section = self.mapping(value, "whatsapp", _WHATSAPP_KEYS)
        if section is None:
            return None
        p = "whatsapp."
        recipient_format: Any = self.choice(
            section.get("recipient_format"), p + "recipient_format", ("e164", "digits")
        )
        callbacks_format: Any = self.choice(
            section.get("callbacks_format"), p + "callbacks_format", ("string", "list")
        )
        return WhatsAppConfig(
            api_url=self.url(section.get("api_url"), p + "api_url"),
            api_key=self.text(section.get("api_key"), p + "api_key"),
            timeout_seconds=self.number(section.get("timeout_seconds"), p + "timeout_seconds", 10),
            connect_timeout_seconds=self.number(
                section.get("connect_timeout_seconds"), p + "connect_timeout_seconds", 5
            ),
            recipient_format=recipient_format,
            callbacks_format=callbacks_format,
            max_rate_limit_wait_seconds=self.number(
                section.get("max_rate_limit_wait_seconds"),
                p + "max_rate_limit_wait_seconds",
                60,
            ),
            max_concurrent_sends=int(
                self.number(
                    section.get("max_concurrent_sends"), p + "max_concurrent_sends", 5, minimum=0.5
                )
            ),
        )

    def media(self, value: Any) -> MediaConfig | None:
        section = self.mapping(value, "media", _MEDIA_KEYS)
        if section is None:
            return None
        secret = self.text(section.get("link_secret"), "media.link_secret")
        if secret and len(secret) < 16:
            self.problem(
                "media.link_secret",
                "is too short to sign links safely",
                "Use at least 16 random characters, e.g. `openssl rand -hex 32`",
            )
        return MediaConfig(
            link_secret=secret,
            link_ttl_hours=self.number(section.get("link_ttl_hours"), "media.link_ttl_hours", 24),
            allow_private_hosts=self.flag(
                section.get("allow_private_hosts"), "media.allow_private_hosts", False
            ),
        )

    def senders(self, value: Any) -> dict[str, Sender]:
        if value is None or value == {}:
            self.problem(
                "senders",
                "no sender numbers are configured",
                'Add one, e.g. `support: {number: "15550001111", label: "Support"}`',
            )
            return {}
        if not isinstance(value, dict):
            self.problem("senders", "must be a mapping of alias to number", "See the example")
            return {}
        senders: dict[str, Sender] = {}
        for alias, entry in value.items():
            path = f"senders.{alias}"
            if isinstance(entry, str | int) and not isinstance(entry, bool):
                entry = {"number": str(entry)}
            section = self.mapping(entry, path, _SENDER_KEYS)
            if section is None:
                continue
            number = self.text(section.get("number"), path + ".number")
            if number and not phones.is_sender_number(number):
                self.problem(
                    path + ".number",
                    f"`{number}` must be digits only (8 to 15), without `+` or spaces",
                    'Write it like `"15550001111"`',
                )
            label = self.text(section.get("label"), path + ".label", str(alias))
            inbox = self.text(section.get("inbox_channel"), path + ".inbox_channel") or None
            senders[str(alias)] = Sender(
                alias=str(alias), number=number, label=label, inbox_channel=inbox
            )
        return senders

    def default_sender(self, value: Any, senders: Mapping[str, Sender]) -> str:
        if value is None:
            if len(senders) == 1:
                return next(iter(senders))
            if senders:
                self.problem(
                    "default_sender",
                    "missing required key (there is more than one sender)",
                    f"Add `default_sender:` with one of: {', '.join(senders)}",
                )
            return ""
        name = self.text(value, "default_sender")
        if senders and name not in senders:
            self.problem(
                "default_sender",
                f"`{name}` is not defined under `senders`",
                f"Use one of: {', '.join(senders)}",
            )
        return name

    def check_name(self, path: str, name: str, what: str, example: str) -> None:
        """Contact and group names are typed in commands: one word, starting with a letter."""
        if not re.fullmatch(r"[A-Za-z][A-Za-z0-9_.-]*", name):
            self.problem(
                path,
                f"a {what} name must start with a letter and have no spaces",
                f"Use letters, digits, `-`, `_` or `.`, e.g. `{example}`",
            )

    def contacts(self, value: Any) -> dict[str, str]:
        if value is None:
            return {}
        if not isinstance(value, dict):
            self.problem("contacts", "must be a mapping of name to number", "See the example")
            return {}
        contacts: dict[str, str] = {}
        for name, number in value.items():
            path = f"contacts.{name}"
            self.check_name(path, str(name), "contact", "acme-ops")
            try:
                contacts[str(name)] = phones.normalize(self.text(number, path))
            except phones.InvalidNumber as exc:
                self.problem(
                    path,
                    f"`{number}` is not a valid phone number ({exc.why})",
                    f"Write it in E.164, e.g. `{phones.EXAMPLE_NUMBER}`",
                )
        return contacts

    def groups(self, value: Any, contacts: Mapping[str, str]) -> dict[str, tuple[str, ...]]:
        """Named lists of recipients (numbers or contact names), each kept as E.164 numbers."""
        if value is None:
            return {}
        if not isinstance(value, dict):
            self.problem("groups", "must be a mapping of group name to a list", "See the example")
            return {}
        groups: dict[str, tuple[str, ...]] = {}
        for name, members in value.items():
            path = f"groups.{name}"
            self.check_name(path, str(name), "group", "drivers")
            if str(name) in contacts:
                self.problem(path, "is also a contact name", "Give the group another name")
            if not isinstance(members, list) or not members:
                self.problem(
                    path,
                    "must be a non-empty list of numbers or contact names",
                    'Write it like `["+573001234567", acme-ops]`',
                )
                continue
            numbers: list[str] = []
            for i, member in enumerate(members):
                number = self.recipient(member, f"{path}[{i}]", contacts, key="")
                if number is not None and number not in numbers:
                    numbers.append(number)
            groups[str(name)] = tuple(numbers)
        return groups

    def channels(
        self,
        value: Any,
        senders: Mapping[str, Sender],
        default_sender: str,
        contacts: Mapping[str, str],
    ) -> dict[str, ChannelPolicy]:
        if value is None:
            return {}
        if not isinstance(value, dict):
            self.problem("channels", "must be a mapping of Slack channel ID to settings", "")
            return {}
        channels: dict[str, ChannelPolicy] = {}
        for channel_id, entry in value.items():
            path = f"channels.{channel_id}"
            if not re.fullmatch(r"[CGD][A-Z0-9]{2,}", str(channel_id)):
                self.problem(
                    path,
                    "is not a Slack channel ID",
                    "Use the ID (like C0123ABCD) from the channel's details, not its name",
                )
            section = self.mapping(entry, path, _CHANNEL_KEYS)
            if section is None:
                continue
            policy = self.channel(str(channel_id), section, senders, default_sender, contacts)
            channels[str(channel_id)] = policy
        return channels

    def channel(
        self,
        channel_id: str,
        section: dict[str, Any],
        senders: Mapping[str, Sender],
        default_sender: str,
        contacts: Mapping[str, str],
    ) -> ChannelPolicy:
        path = f"channels.{channel_id}"
        sender = self.text(section.get("sender"), path + ".sender", default_sender)
        if section.get("sender") is not None and senders and sender not in senders:
            self.problem(
                path + ".sender",
                f"`{sender}` is not defined under `senders`",
                f"Use one of: {', '.join(senders)}",
            )
        allowed = self.string_list(section.get("allowed_senders"), path + ".allowed_senders")
        if allowed is None:
            return self.channel_policy(channel_id, section, (sender,), sender, contacts)
        for i, name in enumerate(allowed):
            if senders and name not in senders:
                self.problem(
                    f"{path}.allowed_senders[{i}]",
                    f"`{name}` is not defined under `senders`",
                    f"Use one of: {', '.join(senders)}",
                )
        if allowed and sender and sender not in allowed:
            self.problem(
                path + ".allowed_senders",
                f"does not include the channel's own sender `{sender}`",
                f"Add `{sender}` to the list or change `sender`",
            )
        return self.channel_policy(channel_id, section, allowed, sender, contacts)

    def channel_policy(
        self,
        channel_id: str,
        section: dict[str, Any],
        allowed: tuple[str, ...],
        sender: str,
        contacts: Mapping[str, str],
    ) -> ChannelPolicy:
        path = f"channels.{channel_id}"
        recipient = self.recipient(section.get("default_recipient"), path, contacts)
        return ChannelPolicy(
            channel_id=channel_id,
            sender=sender,
            allowed_senders=allowed,
            file_shares=self.flag(section.get("file_shares"), path + ".file_shares", False),
            default_recipient=recipient,
        )

    def recipient(
        self,
        value: Any,
        path: str,
        contacts: Mapping[str, str],
        *,
        key: str = ".default_recipient",
    ) -> str | None:
        if value is None:
            return None
        raw = self.text(value, path + key)
        if raw in contacts:
            return contacts[raw]
        try:
            return phones.normalize(raw)
        except phones.InvalidNumber as exc:
            self.problem(
                path + key,
                f"`{raw}` is neither a contact name nor a valid number ({exc.why})",
                f"Use a name from `contacts` or a number like `{phones.EXAMPLE_NUMBER}`",
            )
            return None

    def access(self, value: Any) -> AccessConfig:
        section = self.mapping(value, "access", _ACCESS_KEYS)
        if section is None:
            return AccessConfig()
        users = self.string_list(section.get("allowed_users"), "access.allowed_users") or ()
        for i, user in enumerate(users):
            if not re.fullmatch(r"[UW][A-Z0-9]{2,}", user):
                self.problem(
                    f"access.allowed_users[{i}]",
                    f"`{user}` is not a Slack user ID",
                    "Use the member ID (like U0123ABCD) from the person's profile",
                )
        return AccessConfig(allowed_users=frozenset(users))

    def metrics(self, value: Any) -> MetricsConfig:
        section = self.mapping(value, "metrics", _METRICS_KEYS)
        if section is None:
            return MetricsConfig()
        token = self.text(section.get("token"), "metrics.token") or None
        if token is not None and not re.fullmatch(r"[\x21-\x7e]+", token):
            self.problem(
                "metrics.token",
                "must be printable ASCII without spaces, to fit in an Authorization header",
                "Use random letters and digits, e.g. `openssl rand -hex 32`",
            )
        return MetricsConfig(token=token)

    def logging(self, value: Any) -> LoggingConfig:
        section = self.mapping(value, "logging", _LOGGING_KEYS)
        if section is None:
            return LoggingConfig()
        log_format: Any = self.choice(section.get("format"), "logging.format", ("text", "json"))
        return LoggingConfig(format=log_format)

    def database_url(self, value: Any) -> str:
        url = self.text(value, "database_url", DEFAULT_DATABASE_URL)
        fix = "Use `sqlite:///path/to/file.sqlite3` or `postgresql+psycopg://user@host/db`"
        # Imported here: the config's records are read by modules that never touch a database.
        from sqlalchemy.engine import make_url
        from sqlalchemy.exc import ArgumentError

        try:
            parsed = make_url(url)
        except (ArgumentError, ValueError):
            self.problem("database_url", f"`{url}` cannot be read as a database URL", fix)
            return url
        if parsed.get_backend_name() not in ("sqlite", "postgresql"):
            self.problem(
                "database_url", f"the `{parsed.get_backend_name()}` database is not supported", fix
            )
        return url


_TOP_KEYS = {
    "slack": True,
    "whatsapp": True,
    "public_base_url": True,
    "database_url": False,
    "senders": False,  # reported by `senders` itself, with an example
    "default_sender": False,
    "contacts": False,
    "groups": False,
    "channels": False,
    "access": False,
    "media": True,
    "metrics": False,
    "logging": False,
    "conversations": False,
    "retention": False,
}
_SLACK_KEYS = {
    "bot_token": True,
    "signing_secret": True,
    "api_base_url": False,
    "token_check_seconds": False,
}
_WHATSAPP_KEYS = {
    "api_url": True,
    "api_key": True,
    "timeout_seconds": False,
    "connect_timeout_seconds": False,
    "recipient_format": False,
    "callbacks_format": False,
    "max_rate_limit_wait_seconds": False,
    "max_concurrent_sends": False,
}
_SENDER_KEYS = {"number": True, "label": False, "inbox_channel": False}
_CHANNEL_KEYS = {
    "sender": False,
    "allowed_senders": False,
    "file_shares": False,
    "default_recipient": False,
}
_ACCESS_KEYS = {"allowed_users": False}
_MEDIA_KEYS = {"link_secret": True, "link_ttl_hours": False, "allow_private_hosts": False}
_METRICS_KEYS = {"token": False}
_LOGGING_KEYS = {"format": False}
