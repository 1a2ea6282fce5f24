"""Who may send where: configured channels, allowed users."""

from __future__ import annotations

from bot.config import Config
from bot.sending import SendRefused


def check(config: Config, *, channel_id: str | None, user_id: str | None) -> None:
    """Raise SendRefused, saying why and what an admin can change, unless allowed."""
    if config.channels and (channel_id or "") not in config.channels:
        raise SendRefused(
            f"WhatsApp sends are not set up for this channel. Use one of the configured "
            f"channels, or ask an admin to add `{channel_id}` under `channels:` in the bot's "
            "config."
        )
    allowed = config.access.allowed_users
    if allowed and (user_id or "") not in allowed:
        raise SendRefused(
            "You are not on the list of people who may send WhatsApp messages. Ask an admin to "
            f"add your member ID `{user_id}` under `access.allowed_users`."
        )
