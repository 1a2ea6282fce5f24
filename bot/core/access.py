"""Who may send where: configured channels, allowed users."""

from __future__ import annotations

import enum

from bot.core.config import Config
from bot.core.errors import SendRefused
from bot.core.records import SendRecord


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


class DraftRefusal(enum.Enum):
    NOT_THE_ASKER = "only the person who asked for this send can confirm it"
    GROUP_MEMBER = "this message is part of a group send; use the group's confirmation"
    NOT_A_SHARED_FILE = "this modal can only send a shared file"


# Where a file's draft came from: offered in its channel's thread when shared there, or made
# by one person's `Send to WhatsApp` shortcut.
OFFERED_FILE = "file"
SHORTCUT_FILE = "shortcut"


def is_channel_offer(send: SendRecord) -> bool:
    """A shared file offered in its channel's thread: anyone who may send there may act on it."""
    return send.source == OFFERED_FILE


def draft_refusal(send: SendRecord, user_id: str) -> DraftRefusal | None:
    """Why `user_id` may not confirm, cancel or change this draft; None when they may.

    A draft is its asker's alone (a slash command's confirmation, a shortcut's modal), except a
    file offered in its channel; a group's members are confirmed only through their group."""
    if send.source == "group":
        return DraftRefusal.GROUP_MEMBER
    if is_channel_offer(send) or (send.user_id and send.user_id == user_id):
        return None
    return DraftRefusal.NOT_THE_ASKER


def modal_refusal(send: SendRecord, user_id: str) -> DraftRefusal | None:
    """As `draft_refusal`, for the recipient modal: it chooses a recipient for a shared file,
    so a slash command's draft is never reachable through it."""
    if send.source not in (OFFERED_FILE, SHORTCUT_FILE):
        return DraftRefusal.NOT_A_SHARED_FILE
    return draft_refusal(send, user_id)


def may_see(send: SendRecord, *, channel_id: str | None, user_id: str | None) -> bool:
    """A send's record is shown in the channel it was made in, or to the person who made it."""
    return bool(
        (send.channel_id and send.channel_id == channel_id)
        or (send.user_id and send.user_id == user_id)
    )
