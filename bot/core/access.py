"""Who may send where: configured channels, allowed users."""

from __future__ import annotations

import enum
from dataclasses import dataclass

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


@dataclass(frozen=True)
class SeenWith:
    """Where a person may see what was sent with one sender and received by it (a customer's
    history): the same places where they could send with it.

    `channels`: the configured channels that allow the sender (None: any channel, when no
    channel is configured); `unplaced`: also the items in no channel (sent from the command
    line, or a customer's message not shown in Slack yet), which count as being in the
    sender's inbox channel, where its customers' conversations appear."""

    sender_alias: str
    channels: frozenset[str] | None
    unplaced: bool

    def covers(self, channel_id: str | None) -> bool:
        if self.channels is None:
            return True
        return channel_id in self.channels if channel_id else self.unplaced


def history_scope(config: Config, user_id: str | None) -> list[SeenWith]:
    """Each configured sender whose items the person may see, and where; nothing for someone
    who may not send at all (`access.allowed_users`). Their own sends they see too (`may_see`),
    wherever made, as long as the sender is one of these."""
    allowed = config.access.allowed_users
    if allowed and (user_id or "") not in allowed:
        return []
    scope = []
    for alias in config.senders:
        if not config.channels:
            scope.append(SeenWith(alias, None, unplaced=True))
            continue
        channels = frozenset(
            channel_id
            for channel_id, policy in config.channels.items()
            if alias in policy.allowed_senders
        )
        if channels:
            inbox = config.inbox_channel(alias)
            scope.append(SeenWith(alias, channels, unplaced=inbox in channels))
    return scope


def within_channel(config: Config, scope: list[SeenWith], channel_id: str | None) -> list[SeenWith]:
    """`scope` narrowed to what was sent and received in one channel (`/whatsapp history` shows
    a channel's own items; the person's own sends are shown wherever made): the senders allowed
    there, and items in no channel only where the channel is the sender's inbox."""
    if channel_id is None:
        return scope
    narrowed = []
    for seen in scope:
        if seen.channels is not None and channel_id not in seen.channels:
            # not sendable here: only the person's own sends with it
            narrowed.append(SeenWith(seen.sender_alias, frozenset(), unplaced=False))
            continue
        inbox = config.inbox_channel(seen.sender_alias)
        narrowed.append(
            SeenWith(
                seen.sender_alias,
                frozenset({channel_id}),
                unplaced=seen.unplaced and (seen.channels is None or inbox == channel_id),
            )
        )
    return narrowed
