"""The `conversations:` section, and each sender's `inbox_channel`.

Beside `reading.py`, whose `Reader` does the checking: a key and its check are read together.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from bot.core.config.model import (
    DEFAULT_OPT_IN_WORDS,
    DEFAULT_OPT_OUT_WORDS,
    ChannelPolicy,
    ConversationsConfig,
    Sender,
)

if TYPE_CHECKING:
    from bot.core.config.reading import Reader

CONVERSATIONS_KEYS = {
    "thread_idle_hours": False,
    "opt_out_words": False,
    "opt_in_words": False,
    "window_hours": False,
    "broadcast_after_hours": False,
    "max_inbound_bytes": False,
}


def read_conversations(reader: Reader, value: Any) -> ConversationsConfig:
    section = reader.mapping(value, "conversations", CONVERSATIONS_KEYS)
    if section is None:
        return ConversationsConfig()
    path = "conversations."
    idle = reader.number(section.get("thread_idle_hours"), path + "thread_idle_hours", 72.0)
    window = reader.number(section.get("window_hours"), path + "window_hours", 24.0)
    broadcast = reader.number(
        section.get("broadcast_after_hours"), path + "broadcast_after_hours", 24.0
    )
    max_bytes = reader.number(
        section.get("max_inbound_bytes"), path + "max_inbound_bytes", 256 * 1024, minimum=1024
    )
    out_words = _words(reader, section.get("opt_out_words"), path + "opt_out_words")
    in_words = _words(reader, section.get("opt_in_words"), path + "opt_in_words")
    out = DEFAULT_OPT_OUT_WORDS if out_words is None else out_words
    back = DEFAULT_OPT_IN_WORDS if in_words is None else in_words
    both = {w.casefold() for w in out} & {w.casefold() for w in back}
    if both:
        reader.problem(
            path + "opt_in_words",
            f"{', '.join(sorted(both))} is also an opt-out word",
            "A word can opt a customer out or back in, not both: remove it from one list",
        )
    return ConversationsConfig(
        thread_idle_hours=idle,
        opt_out_words=out,
        opt_in_words=back,
        window_hours=window,
        broadcast_after_hours=broadcast,
        max_inbound_bytes=int(max_bytes),
    )


def _words(reader: Reader, value: Any, path: str) -> tuple[str, ...] | None:
    if value is None:
        return None
    if not isinstance(value, list) or not all(
        isinstance(word, str) and word.strip() and len(word) <= 64 for word in value
    ):
        reader.problem(path, "must be a list of words", "Write it like `[STOP, BAJA]`")
        return ()
    return tuple(word.strip() for word in value)


def check_inbox_channels(
    reader: Reader, senders: Mapping[str, Sender], channels: Mapping[str, ChannelPolicy]
) -> None:
    """A sender's `inbox_channel` must be a configured channel where that sender may be used:
    otherwise nobody could answer its customers from there."""
    for alias, sender in senders.items():
        channel_id = sender.inbox_channel
        if channel_id is None:
            continue
        path = f"senders.{alias}.inbox_channel"
        policy = channels.get(channel_id)
        if policy is None:
            reader.problem(
                path,
                f"`{channel_id}` is not configured under `channels`",
                f"Add `{channel_id}` under `channels` with `allowed_senders: [{alias}]`, "
                "or name a configured channel",
            )
        elif alias not in policy.allowed_senders:
            reader.problem(
                path,
                f"`{alias}` may not be used in `{channel_id}`, so its customers could not be "
                "answered there",
                f"Add `{alias}` to `channels.{channel_id}.allowed_senders`",
            )
