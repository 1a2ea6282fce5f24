"""The stand-in Slack's workspace: users, channels, messages, threads, edits and files."""

from __future__ import annotations

import copy
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from bot.sandbox.http import HttpStandIn
from bot.sandbox.slack.blockkit import find_element
from bot.sandbox.slack.common import (
    Json,
    T,
    _as_value_error,
    _SlackError,
)

_CHANNEL_ID = re.compile(r"[CGD][A-Z0-9]{2,}", re.ASCII)


_USER_ID = re.compile(r"[UW][A-Z0-9]{2,}", re.ASCII)


@dataclass
class _StoredFile:
    obj: Json
    content: bytes


class Workspace(HttpStandIn):
    """Users, channels, messages, threads and ephemeral messages, as Slack keeps them.

    The state is set by :class:`SlackStandIn`'s constructor; every access holds ``_lock``.
    """

    bot_token: str
    team_id: str
    team_name: str
    team_domain: str
    app_id: str
    bot_user_id: str
    bot_id: str
    bot_name: str
    trigger_ttl: float
    files_unauthorized: Literal["redirect", "forbidden"]
    _lock: threading.RLock
    _last_us: int
    _deterministic: bool
    _ids: dict[str, int]
    _users: dict[str, Json]
    _channels: dict[str, Json]
    _top: dict[str, list[Json]]
    _replies: dict[tuple[str, str], list[Json]]
    _index: dict[tuple[str, str], Json]
    _edits: dict[tuple[str, str], list[Json]]
    _ephemerals: dict[tuple[str, str], list[Json]]
    _files: dict[str, _StoredFile]

    # ------------------------------------------------------------------ set-up helpers

    def add_user(
        self,
        user_id: str,
        name: str,
        *,
        real_name: str | None = None,
        display_name: str | None = None,
        is_bot: bool = False,
        tz: str = "UTC",
    ) -> Json:
        """Registers a person (or bot) so ``users.info`` describes them by name.

        ``name`` is the handle; the display name is the handle unless given, and ``""`` is a
        person who never set one, as Slack answers for them.
        """
        shown = name if display_name is None else display_name
        user: Json = {
            "id": user_id,
            "team_id": self.team_id,
            "name": name,
            "deleted": False,
            "real_name": real_name or name,
            "tz": tz,
            "tz_label": tz,
            "tz_offset": 0,
            "profile": {
                "real_name": real_name or name,
                "display_name": shown,
                "real_name_normalized": real_name or name,
                "display_name_normalized": shown,
                "team": self.team_id,
            },
            "is_admin": False,
            "is_owner": False,
            "is_bot": is_bot,
            "is_app_user": False,
            "updated": int(time.time()),
        }
        if is_bot:
            user["profile"]["bot_id"] = self.bot_id
        with self._lock:
            self._users[user_id] = user
            return copy.deepcopy(user)

    def add_channel(self, channel_id: str, name: str, *, is_private: bool = False) -> Json:
        """Registers a channel so it has a name (unregistered well-formed IDs also work)."""
        if not _CHANNEL_ID.fullmatch(channel_id):
            raise ValueError(f"not a Slack channel ID: {channel_id!r}")
        with self._lock:
            channel = self._make_channel(channel_id, name, is_private=is_private)
            self._channels[channel_id] = channel
            return copy.deepcopy(channel)

    def dm_channel(self, user: str) -> str:
        """The ID of the bot's direct-message channel with ``user``."""
        return "D" + user[1:]

    def add_message(
        self,
        channel: str,
        *,
        user: str,
        text: str = "",
        thread_ts: str | None = None,
        ts: str | None = None,
        blocks: list[Json] | None = None,
        files: list[Json] | None = None,
        subtype: str | None = None,
    ) -> Json:
        """A message posted by a person, as it will appear in the channel (or thread)."""
        with self._lock, _as_value_error():
            chan = self._known_channel(channel)
            msg: Json = {
                "type": "message",
                "text": text,
                "user": user,
                "ts": ts or self._next_ts(),
                "team": self.team_id,
            }
            if subtype:
                msg["subtype"] = subtype
            if blocks is not None:
                msg["blocks"] = copy.deepcopy(blocks)
            if files is not None:
                msg["files"] = copy.deepcopy(files)
                msg["upload"] = False
                msg["display_as_bot"] = False
            if (chan, msg["ts"]) in self._index:
                raise ValueError(f"a message with ts {msg['ts']} already exists in {chan}")
            self._insert(chan, msg, thread_ts=thread_ts, broadcast=False)
            return copy.deepcopy(msg)

    def new_ts(self) -> str:
        """A fresh message timestamp, later than every one handed out before."""
        return self._next_ts()

    # ------------------------------------------------------------------ read helpers

    def channel_messages(self, channel: str) -> list[Json]:
        """The channel's top-level messages, oldest first (thread replies are not here)."""
        with self._lock:
            return copy.deepcopy(self._top.get(channel, []))

    def thread(self, channel: str, ts: str) -> list[Json]:
        """The thread's parent then its replies, oldest first; [] if there is none."""
        with self._lock:
            parent = self._index.get((channel, ts))
            if parent is None:
                return []
            parent_ts = parent.get("thread_ts", ts)
            root = self._index.get((channel, parent_ts), parent)
            return copy.deepcopy([root, *self._replies.get((channel, parent_ts), [])])

    def message(self, channel: str, ts: str) -> Json | None:
        """A channel message or thread reply by ``ts`` (not an ephemeral one)."""
        with self._lock:
            msg = self._index.get((channel, ts))
            return copy.deepcopy(msg) if msg is not None else None

    def edit_history(self, channel: str, ts: str) -> list[Json]:
        """Earlier versions of an edited message, oldest first."""
        with self._lock:
            return copy.deepcopy(self._edits.get((channel, ts), []))

    def ephemerals(self, channel: str | None = None, user: str | None = None) -> list[Json]:
        """Ephemeral messages still shown, oldest first; each has ``channel`` and ``recipient``."""
        with self._lock:
            found = [
                msg
                for (chan, rcpt), msgs in self._ephemerals.items()
                if (channel is None or chan == channel) and (user is None or rcpt == user)
                for msg in msgs
            ]
            found.sort(key=lambda m: m["ts"])
            return copy.deepcopy(found)

    def find_ephemeral(self, channel: str, ts: str) -> Json | None:
        with self._lock:
            for (chan, _), msgs in self._ephemerals.items():
                for msg in msgs:
                    if chan == channel and msg["ts"] == ts:
                        return copy.deepcopy(msg)
            return None

    def message_with_action(
        self, channel: str, user: str, action_id: str
    ) -> tuple[Json, bool] | None:
        """The newest message ``user`` sees in ``channel`` with an element ``action_id``.

        Returns (message, is_ephemeral); channel messages, thread replies and ephemeral
        messages to ``user`` are all searched.
        """
        with self._lock:
            candidates = [(m, False) for (chan, _), m in self._index.items() if chan == channel]
            candidates += [(m, True) for m in self._ephemerals.get((channel, user), [])]
            for msg, ephemeral in sorted(candidates, key=lambda c: c[0]["ts"], reverse=True):
                if find_element(msg.get("blocks"), action_id):
                    return copy.deepcopy(msg), ephemeral
            return None

    def user(self, user_id: str) -> Json | None:
        with self._lock:
            try:
                return copy.deepcopy(self._user_obj(user_id))
            except _SlackError:
                return None

    def channel(self, channel_id: str) -> Json | None:
        with self._lock:
            try:
                return copy.deepcopy(self._channel_obj(channel_id))
            except _SlackError:
                return None

    def wait_for(
        self, predicate: Callable[[], T], timeout: float = 5.0, interval: float = 0.01
    ) -> T:
        """Polls ``predicate`` until it returns something truthy, and returns that."""
        deadline = time.monotonic() + timeout
        while True:
            value = predicate()
            if value:
                return value
            if time.monotonic() >= deadline:
                raise TimeoutError(f"condition not met within {timeout} s")
            time.sleep(interval)

    # ------------------------------------------------------------------ internals: state

    def _next_ts(self) -> str:
        with self._lock:
            if self._deterministic:
                us = self._last_us + 100
            else:
                us = max(int(time.time() * 1_000_000) // 100 * 100, self._last_us + 100)
            self._last_us = us
            return f"{us // 1_000_000}.{us % 1_000_000:06d}"

    def _make_channel(self, channel_id: str, name: str, *, is_private: bool) -> Json:
        is_im = channel_id.startswith("D")
        return {
            "id": channel_id,
            "name": name,
            "is_channel": channel_id.startswith("C"),
            "is_group": channel_id.startswith("G"),
            "is_im": is_im,
            "is_mpim": False,
            "is_private": is_private or not channel_id.startswith("C"),
            "is_archived": False,
            "is_general": False,
            "is_member": True,
            "created": int(time.time()),
            "creator": "",
            "context_team_id": self.team_id,
        }

    def _channel_obj(self, channel: str) -> Json:
        if channel in self._channels:
            return self._channels[channel]
        if not _CHANNEL_ID.fullmatch(channel):
            raise _SlackError("channel_not_found")
        name = "directmessage" if channel.startswith("D") else channel.lower()
        obj = self._make_channel(channel, name, is_private=False)
        self._channels[channel] = obj
        return obj

    def _known_channel(self, channel: str) -> str:
        """Resolves a channel argument (ID, ``#name`` or user ID) to a channel ID."""
        if channel.startswith("#"):
            for cid, obj in self._channels.items():
                if obj["name"] == channel[1:]:
                    return cid
            raise _SlackError("channel_not_found")
        if _USER_ID.fullmatch(channel):
            self._user_obj(channel)
            return str(self._channel_obj(self.dm_channel(channel))["id"])
        return str(self._channel_obj(channel)["id"])

    def _user_obj(self, user: str) -> Json:
        if user in self._users:
            return self._users[user]
        if not _USER_ID.fullmatch(user):
            raise _SlackError("user_not_found")
        self.add_user(user, user.lower())
        return self._users[user]

    def _bot_message(self, text: str, blocks: list[Json] | None, attachments: Any) -> Json:
        msg: Json = {
            "type": "message",
            "user": self.bot_user_id,
            "bot_id": self.bot_id,
            "app_id": self.app_id,
            "text": text,
            "ts": self._next_ts(),
            "team": self.team_id,
        }
        if blocks is not None:
            msg["blocks"] = blocks
        if attachments is not None:
            msg["attachments"] = attachments
        return msg

    def _insert(self, channel: str, msg: Json, *, thread_ts: str | None, broadcast: bool) -> None:
        if not thread_ts:
            self._top.setdefault(channel, []).append(msg)
            self._index[(channel, msg["ts"])] = msg
            return
        parent = self._index.get((channel, thread_ts))
        if parent is None:
            raise _SlackError("thread_not_found")
        root_ts = str(parent.get("thread_ts") or parent["ts"])
        root = self._index[(channel, root_ts)]
        msg["thread_ts"] = root_ts
        msg["parent_user_id"] = root.get("user", "")
        if broadcast:
            msg["subtype"] = "thread_broadcast"
            msg["root"] = copy.deepcopy({k: v for k, v in root.items() if k != "replies"})
            self._top.setdefault(channel, []).append(msg)
        self._replies.setdefault((channel, root_ts), []).append(msg)
        self._index[(channel, msg["ts"])] = msg
        self._refresh_thread(channel, root_ts)

    def _refresh_thread(self, channel: str, root_ts: str) -> None:
        root = self._index.get((channel, root_ts))
        if root is None:
            return
        replies = self._replies.get((channel, root_ts), [])
        if not replies:
            for key in ("reply_count", "reply_users", "reply_users_count", "latest_reply"):
                root.pop(key, None)
            if root.get("subtype") != "tombstone":
                root.pop("thread_ts", None)
            return
        users: list[str] = []
        for reply in replies:
            who = reply.get("user") or reply.get("bot_id") or ""
            if who and who not in users:
                users.append(who)
        root["thread_ts"] = root_ts
        root["reply_count"] = len(replies)
        root["reply_users"] = users
        root["reply_users_count"] = len(users)
        root["latest_reply"] = replies[-1]["ts"]

    def _delete(self, channel: str, msg: Json) -> None:
        ts = msg["ts"]
        root_ts = msg.get("thread_ts")
        if root_ts and root_ts != ts:
            replies = self._replies.get((channel, root_ts), [])
            replies[:] = [r for r in replies if r["ts"] != ts]
            top = self._top.get(channel, [])
            top[:] = [m for m in top if m["ts"] != ts]
            self._index.pop((channel, ts), None)
            self._refresh_thread(channel, root_ts)
            return
        if self._replies.get((channel, ts)):
            for key in ("blocks", "attachments", "files", "edited", "reactions", "bot_id"):
                msg.pop(key, None)
            msg.update(
                {"subtype": "tombstone", "text": "This message was deleted.", "user": "USLACKBOT"}
            )
            msg["hidden"] = True
            return
        top = self._top.get(channel, [])
        top[:] = [m for m in top if m["ts"] != ts]
        self._index.pop((channel, ts), None)

    def _edit(self, channel: str, msg: Json, changes: Json) -> None:
        before = copy.deepcopy(msg)
        self._edits.setdefault((channel, msg["ts"]), []).append(before)
        for key, value in changes.items():
            if value is None or (key in {"blocks", "attachments"} and value == []):
                msg.pop(key, None)
            else:
                msg[key] = value
        msg["edited"] = {"user": self.bot_user_id, "ts": self._next_ts()}
