"""What `check-config` prints about a valid configuration."""

from __future__ import annotations

from bot.core.config.model import Config


def redact_database_url(url: str) -> str:
    """The database URL with any password hidden, for printing."""
    from sqlalchemy.engine import make_url  # here: the records never load the database library
    from sqlalchemy.exc import ArgumentError

    try:
        parsed = make_url(url)
        return parsed.render_as_string(hide_password=True) if parsed.password else url
    except (ArgumentError, ValueError):
        return "(unreadable URL)"


def summary(config: Config) -> str:
    """A short human summary for `check-config`."""
    lines = ["Configuration OK.", "Senders:"]
    for alias, sender in config.senders.items():
        mark = " (default)" if alias == config.default_sender else ""
        lines.append(f"  - {alias}: {sender.describe()}{mark}")
    if config.channels:
        lines.append(
            f"Channels: sending is allowed only in these {len(config.channels)} channel(s):"
        )
        for channel in config.channels.values():
            extra = []
            if channel.file_shares:
                extra.append("offers shared files")
            if channel.default_recipient:
                extra.append(f"default recipient {channel.default_recipient}")
            suffix = f"; {', '.join(extra)}" if extra else ""
            lines.append(
                f"  - {channel.channel_id}: sender {channel.sender}, "
                f"allowed {', '.join(channel.allowed_senders)}{suffix}"
            )
    else:
        lines.append("Channels: none configured, so sending is allowed in ANY channel.")
    users = config.access.allowed_users
    lines.append(
        f"Users: only {len(users)} listed user(s) may send."
        if users
        else "Users: anyone in an allowed channel may send."
    )
    if config.contacts:
        lines.append(f"Contacts: {len(config.contacts)}")
    for name, members in config.groups.items():
        lines.append(f"Group {name}: {len(members)} recipient(s)")
    retention = config.retention
    content = (
        f"content removed after {retention.content_days} day(s)"
        if retention.content_days is not None
        else "content kept"
    )
    lines.append(
        f"Retention: kept file bytes deleted after {retention.media_days} day(s); {content}"
    )
    lines.append(f"Database: {redact_database_url(config.database_url)}")
    lines.append(f"Public URL: {config.public_base_url}")
    lines.append(f"Provider: {config.whatsapp.api_url}")
    return "\n".join(lines)
