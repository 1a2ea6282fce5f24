"""Stand-in for Slack's Web API, response URLs and private file downloads, on loopback.

The app talks to it through ``slack_sdk.WebClient(base_url=standin.api_url)``. It keeps a
workspace the way Slack would show it to people: each channel's top-level messages, threads
(replies keyed by ``thread_ts``, with ``reply_count`` on the parent), edits applied in place
(with their history), reactions, ephemeral messages per (channel, user), published Home tabs,
opened modals, and files served only to the bot token. Every call is recorded, and faults can
be queued per method with :meth:`SlackStandIn.fail_next`.

Where Slack is strict, so is the stand-in: bots cannot edit or delete people's messages,
replies need an existing parent, trigger IDs are single-use and expire, blocks and views are
checked against Block Kit's documented limits, a response URL works 5 times in 30 minutes.
"""

from __future__ import annotations

import contextlib
import copy
import json
import re
import secrets
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any, Final, Literal, TypeVar, cast
from urllib.parse import parse_qsl, quote, unquote, urlsplit

from bot.sandbox.http import BodyError, Handler, HttpStandIn

__all__ = [
    "BOT_ID",
    "BOT_USER_ID",
    "DEFAULT_APP_ID",
    "DEFAULT_BOT_TOKEN",
    "DEFAULT_TEAM_ID",
    "ApiCall",
    "Download",
    "ResponseUrlPost",
    "SlackStandIn",
    "find_element",
]

Json = dict[str, Any]
T = TypeVar("T")

DEFAULT_BOT_TOKEN: Final = "xoxb-test-token"
DEFAULT_TEAM_ID: Final = "T000"
DEFAULT_APP_ID: Final = "A000"
BOT_USER_ID: Final = "U0BOT0001"
BOT_ID: Final = "B0BOT0001"

RESPONSE_URL_USES: Final = 5
RESPONSE_URL_TTL: Final = 30 * 60.0
MAX_TEXT: Final = 40_000
MAX_BODY: Final = 64 * 1024 * 1024

_CHANNEL_ID = re.compile(r"[CGD][A-Z0-9]{2,}", re.ASCII)
_USER_ID = re.compile(r"[UW][A-Z0-9]{2,}", re.ASCII)
_REACTION = re.compile(r"[a-z0-9_+'\-]+(::skin-tone-[2-6])?", re.ASCII)
_FILE_PATH = re.compile(r"/files-pri/([A-Z0-9]+)-([A-Z0-9]+)/(download/)?([^/]+)", re.ASCII)
_RANGE = re.compile(r"bytes=(\d*)-(\d*)", re.ASCII)

_BLOCK_TYPES: Final = frozenset(
    {
        "actions",
        "context",
        "context_actions",
        "divider",
        "file",
        "header",
        "image",
        "input",
        "markdown",
        "rich_text",
        "section",
        "table",
        "video",
    }
)
_METHODS: Final = (
    "api.test",
    "auth.test",
    "chat.delete",
    "chat.getPermalink",
    "chat.postEphemeral",
    "chat.postMessage",
    "chat.update",
    "conversations.history",
    "conversations.info",
    "conversations.replies",
    "files.info",
    "reactions.add",
    "reactions.remove",
    "users.info",
    "views.open",
    "views.publish",
    "views.push",
    "views.update",
)

_LOGIN_PAGE: Final = (
    b'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
    b"<title>Sign in | Slack</title></head><body><h1>Sign in to your workspace</h1>"
    b'<form method="post"><input name="email"><button>Sign In</button></form>'
    b"</body></html>"
)


@dataclass(frozen=True)
class ApiCall:
    """One Web API call as the stand-in received and answered it."""

    method: str
    params: Json
    headers: dict[str, str]
    time: float
    http_method: str = "POST"
    status: int = 200
    response: Json = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.status == 200 and self.response.get("ok") is True


@dataclass(frozen=True)
class ResponseUrlPost:
    """One POST to a response URL; ``result`` says what it did (or the error)."""

    url: str
    body: Json | None
    time: float
    status: int
    result: str


@dataclass(frozen=True)
class Download:
    """One GET or HEAD of a private file URL."""

    file_id: str
    http_method: str
    authorized: bool
    status: int
    time: float
    range: str | None = None


class _SlackError(Exception):
    def __init__(self, error: str, *, status: int = 200, extra: Json | None = None) -> None:
        super().__init__(error)
        self.error = error
        self.status = status
        self.extra = extra or {}


@dataclass
class _Fault:
    error: str
    retry_after: int
    remaining: int


@dataclass
class _ResponseUrl:
    id: str
    channel: str
    user: str
    created: float
    original_ts: str | None = None
    original_ephemeral: bool = False
    uses: int = 0


@dataclass
class _StoredFile:
    obj: Json
    content: bytes


@dataclass(frozen=True)
class _Reply:
    status: int
    body: bytes
    content_type: str = "application/json; charset=utf-8"
    headers: tuple[tuple[str, str], ...] = ()


def _json_reply(status: int, obj: Json, *headers: tuple[str, str]) -> _Reply:
    return _Reply(status, json.dumps(obj).encode(), headers=headers)


def _truthy(value: object) -> bool:
    if isinstance(value, str):
        return value.strip().lower() in {"1", "true", "yes", "on"}
    return bool(value)


def _text_of(obj: object) -> str:
    if isinstance(obj, dict):
        text = obj.get("text")
        return text if isinstance(text, str) else ""
    return ""


class SlackStandIn(HttpStandIn):
    """A small Slack workspace behind a Web API on ``127.0.0.1``; a context manager."""

    def __init__(
        self,
        *,
        bot_token: str = DEFAULT_BOT_TOKEN,
        team_id: str = DEFAULT_TEAM_ID,
        team_name: str = "Stand-in Workspace",
        team_domain: str = "standin",
        app_id: str = DEFAULT_APP_ID,
        bot_user_id: str = BOT_USER_ID,
        bot_id: str = BOT_ID,
        bot_name: str = "whatsapp",
        host: str = "127.0.0.1",
        port: int = 0,
        start_ts: float | None = None,
        trigger_ttl: float = 3.0,
        files_unauthorized: Literal["redirect", "forbidden"] = "redirect",
    ) -> None:
        if files_unauthorized not in {"redirect", "forbidden"}:
            raise ValueError("files_unauthorized must be 'redirect' or 'forbidden'")
        self.bot_token = bot_token
        self.team_id = team_id
        self.team_name = team_name
        self.team_domain = team_domain
        self.app_id = app_id
        self.bot_user_id = bot_user_id
        self.bot_id = bot_id
        self.bot_name = bot_name
        self.trigger_ttl = trigger_ttl
        self.files_unauthorized = files_unauthorized

        self._lock = threading.RLock()
        self._last_us = 0 if start_ts is None else int(start_ts * 1_000_000) - 100
        self._deterministic = start_ts is not None
        self._ids = {"F": 0, "V": 0, "T": 0}
        self._calls: list[ApiCall] = []
        self._response_posts: list[ResponseUrlPost] = []
        self._downloads: list[Download] = []
        self._faults: dict[str, deque[_Fault]] = {}
        self._users: dict[str, Json] = {}
        self._channels: dict[str, Json] = {}
        self._top: dict[str, list[Json]] = {}
        self._replies: dict[tuple[str, str], list[Json]] = {}
        self._index: dict[tuple[str, str], Json] = {}
        self._edits: dict[tuple[str, str], list[Json]] = {}
        self._ephemerals: dict[tuple[str, str], list[Json]] = {}
        self._views: dict[str, Json] = {}
        self._closed_views: set[str] = set()
        self._home: dict[str, str] = {}
        self._triggers: dict[str, tuple[float, bool]] = {}
        self._response_urls: dict[str, _ResponseUrl] = {}
        self._files: dict[str, _StoredFile] = {}
        self.add_user(bot_user_id, bot_name, is_bot=True)

        super().__init__(_Handler, host=host, port=port, name="slack-standin")
        self.start()

    # ------------------------------------------------------------------ lifecycle

    @property
    def api_url(self) -> str:
        """What ``WebClient(base_url=...)`` takes."""
        return f"{self.url}/api/"

    def _serve(self, handler: Handler) -> None:
        self._route(cast(_Handler, handler), handler.command)

    # ------------------------------------------------------------------ set-up helpers

    def add_user(
        self,
        user_id: str,
        name: str,
        *,
        real_name: str | None = None,
        is_bot: bool = False,
        tz: str = "UTC",
    ) -> Json:
        """Registers a person (or bot) so ``users.info`` describes them by name."""
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
                "display_name": name,
                "real_name_normalized": real_name or name,
                "display_name_normalized": name,
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

    def add_file(
        self,
        name: str,
        content: bytes,
        mimetype: str,
        filetype: str,
        user: str,
        channel: str | None = None,
        *,
        title: str | None = None,
        text: str = "",
        thread_ts: str | None = None,
    ) -> Json:
        """Uploads a file as ``user``; with ``channel`` it is shared there in a message."""
        with self._lock, _as_value_error():
            chan = self._known_channel(channel) if channel is not None else None
            if thread_ts and chan and (chan, thread_ts) not in self._index:
                raise _SlackError("thread_not_found")
            self._ids["F"] += 1
            file_id = f"F{self._ids['F']:08d}"
            now = int(time.time())
            safe = quote(name, safe="")
            base = f"{self.url}/files-pri/{self.team_id}-{file_id}"
            obj: Json = {
                "id": file_id,
                "created": now,
                "timestamp": now,
                "name": name,
                "title": title if title is not None else name,
                "mimetype": mimetype,
                "filetype": filetype,
                "pretty_type": filetype.upper(),
                "user": user,
                "user_team": self.team_id,
                "editable": False,
                "size": len(content),
                "mode": "hosted",
                "is_external": False,
                "external_type": "",
                "is_public": False,
                "public_url_shared": False,
                "display_as_bot": False,
                "username": "",
                "url_private": f"{base}/{safe}",
                "url_private_download": f"{base}/download/{safe}",
                "media_display_type": "unknown",
                "permalink": f"https://{self.team_domain}.slack.com/files/{user}/{file_id}/{safe}",
                "permalink_public": f"https://slack-files.com/{self.team_id}-{file_id}-0000000000",
                "has_rich_preview": False,
                "file_access": "visible",
                "channels": [],
                "groups": [],
                "ims": [],
                "comments_count": 0,
            }
            if mimetype.startswith("video/"):
                obj["media_display_type"] = "video"
            self._files[file_id] = _StoredFile(obj, bytes(content))
            if chan is not None:
                msg = self.add_message(
                    chan,
                    user=user,
                    text=text,
                    thread_ts=thread_ts,
                    files=[obj],
                    subtype="file_share",
                )
                kind = {"C": "public", "G": "private", "D": "private"}[chan[0]]
                where = {"C": "channels", "G": "groups", "D": "ims"}[chan[0]]
                obj[where].append(chan)
                obj["is_public"] = chan[0] == "C"
                share: Json = {
                    "reply_users": [],
                    "reply_users_count": 0,
                    "reply_count": 0,
                    "ts": msg["ts"],
                    "channel_name": self._channel_obj(chan)["name"],
                    "team_id": self.team_id,
                    "share_user_id": user,
                }
                if thread_ts:
                    share["thread_ts"] = thread_ts
                obj["shares"] = {kind: {chan: [share]}}
                stored = self._index[(chan, msg["ts"])]
                stored["files"] = [copy.deepcopy(obj)]
            return copy.deepcopy(obj)

    def new_ts(self) -> str:
        """A fresh message timestamp, later than every one handed out before."""
        return self._next_ts()

    def new_trigger_id(self) -> str:
        """A fresh trigger_id, usable once for ``views.open`` within ``trigger_ttl`` seconds."""
        with self._lock:
            self._ids["T"] += 1
            trigger = f"{int(time.time())}.{self._ids['T']}.{secrets.token_hex(16)}"
            self._triggers[trigger] = (time.monotonic(), False)
            return trigger

    def new_response_url(
        self,
        channel: str,
        user: str,
        *,
        message_ts: str | None = None,
        ephemeral: bool = False,
    ) -> str:
        """A response URL for an interaction by ``user`` in ``channel``.

        With ``message_ts`` the URL's "original" is that message (an ephemeral one when
        ``ephemeral``); otherwise the first message posted through the URL becomes it.
        """
        with self._lock:
            ru = _ResponseUrl(
                id=secrets.token_urlsafe(18),
                channel=channel,
                user=user,
                created=time.monotonic(),
                original_ts=message_ts,
                original_ephemeral=ephemeral,
            )
            self._response_urls[ru.id] = ru
            return f"{self.url}/response/{ru.id}"

    def fail_next(
        self,
        method: str,
        error: str = "ratelimited",
        retry_after: int = 1,
        count: int = 1,
    ) -> None:
        """The next ``count`` calls to ``method`` fail.

        ``method`` is a Web API method, ``"*"`` for any, ``"response_url"`` or
        ``"files.download"``. ``error`` ``"ratelimited"`` answers HTTP 429 with Retry-After;
        a status code such as ``"500"`` answers that status; any other string answers 200
        with ``{"ok": false, "error": error}``.
        """
        if count < 1:
            raise ValueError("count must be at least 1")
        with self._lock:
            self._faults.setdefault(method, deque()).append(_Fault(error, retry_after, count))

    def clear_faults(self) -> None:
        with self._lock:
            self._faults.clear()

    # ------------------------------------------------------------------ read helpers

    @property
    def calls(self) -> list[ApiCall]:
        with self._lock:
            return list(self._calls)

    def calls_to(self, method: str) -> list[ApiCall]:
        with self._lock:
            return [c for c in self._calls if c.method == method]

    @property
    def response_posts(self) -> list[ResponseUrlPost]:
        with self._lock:
            return list(self._response_posts)

    @property
    def downloads(self) -> list[Download]:
        with self._lock:
            return list(self._downloads)

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

    def home_view(self, user: str) -> Json | None:
        """The Home tab last published for ``user``."""
        with self._lock:
            view_id = self._home.get(user)
            return copy.deepcopy(self._views[view_id]) if view_id else None

    @property
    def views(self) -> dict[str, Json]:
        """Every modal and Home view by ID, as last opened, pushed, updated or published."""
        with self._lock:
            return copy.deepcopy(self._views)

    def is_view_open(self, view_id: str) -> bool:
        with self._lock:
            return view_id in self._views and view_id not in self._closed_views

    def file(self, file_id: str) -> Json | None:
        with self._lock:
            stored = self._files.get(file_id)
            return copy.deepcopy(stored.obj) if stored else None

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

    # ------------------------------------------------------------------ driver hooks

    def apply_response(self, response_url: str, payload: Json, *, count_use: bool = True) -> Json:
        """Applies a response-URL message as Slack would; returns ``{"ok": ...}``.

        The driver also uses this (with ``count_use=False``) for a slash command's immediate
        HTTP answer, which Slack shows the same way.
        """
        ru_id = response_url.rstrip("/").rsplit("/", 1)[-1]
        with self._lock:
            status, body, _ = self._respond(ru_id, payload, count_use=count_use)
            return body if status == 200 else {**body, "status": status}

    def apply_view_response(self, view_id: str, answer: Json | None) -> None:
        """Applies an app's answer to a ``view_submission`` (close, update, push, clear)."""
        answer = answer or {}
        action = answer.get("response_action")
        spec = answer.get("view")
        with self._lock:
            if action == "errors" or view_id not in self._views:
                return
            if action == "update" and isinstance(spec, dict):
                old = self._views[view_id]
                self._views[view_id] = self._make_view(spec, view_id=view_id, previous=old)
            elif action == "push" and isinstance(spec, dict):
                new = self._make_view(spec, view_id=self._next_view_id())
                new["previous_view_id"] = view_id
                new["root_view_id"] = self._views[view_id].get("root_view_id", view_id)
                self._views[new["id"]] = new
            elif action == "clear":
                root = self._views[view_id].get("root_view_id", view_id)
                for vid, view in self._views.items():
                    if view.get("root_view_id") == root:
                        self._closed_views.add(vid)
            else:
                self._closed_views.add(view_id)

    def close_view(self, view_id: str) -> None:
        with self._lock:
            self._closed_views.add(view_id)

    # ------------------------------------------------------------------ internals: state

    def _next_ts(self) -> str:
        with self._lock:
            if self._deterministic:
                us = self._last_us + 100
            else:
                us = max(int(time.time() * 1_000_000) // 100 * 100, self._last_us + 100)
            self._last_us = us
            return f"{us // 1_000_000}.{us % 1_000_000:06d}"

    def _next_view_id(self) -> str:
        self._ids["V"] += 1
        return f"V{self._ids['V']:08d}"

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

    # ------------------------------------------------------------------ internals: args

    @staticmethod
    def _str_arg(params: Json, name: str, *, required: bool = False, error: str = "") -> str:
        value = params.get(name)
        if value is None or value == "":
            if required:
                raise _SlackError(error or "invalid_arguments")
            return ""
        if isinstance(value, bool) or not isinstance(value, str | int | float):
            raise _SlackError("invalid_arguments")
        return str(value)

    @staticmethod
    def _json_arg(params: Json, name: str, error: str) -> Any:
        value = params.get(name)
        if isinstance(value, str):
            if value == "":
                return None
            try:
                return json.loads(value)
            except ValueError as exc:
                raise _SlackError(error, extra=_problem(f"{name} is not valid JSON")) from exc
        return value

    def _channel_arg(self, params: Json) -> str:
        return self._known_channel(
            self._str_arg(params, "channel", required=True, error="channel_not_found")
        )

    def _blocks_arg(self, params: Json, *, limit: int = 50) -> list[Json] | None:
        blocks = self._json_arg(params, "blocks", "invalid_blocks")
        if blocks is None:
            return None
        problem = _blocks_problem(blocks, limit=limit)
        if problem:
            raise _SlackError("invalid_blocks", extra=_problem(problem))
        return list(blocks)

    def _message_content(self, params: Json) -> tuple[str, list[Json] | None, Any]:
        text = self._str_arg(params, "text")
        blocks = self._blocks_arg(params)
        attachments = self._json_arg(params, "attachments", "invalid_attachments")
        if attachments is not None and not isinstance(attachments, list):
            raise _SlackError("invalid_attachments")
        if not text and not blocks and not attachments:
            raise _SlackError("no_text")
        if len(text) > MAX_TEXT:
            raise _SlackError("msg_too_long")
        return text, blocks, attachments

    def _find(self, params: Json, ts_name: str) -> tuple[str, Json]:
        channel = self._channel_arg(params)
        ts = self._str_arg(params, ts_name)
        msg = self._index.get((channel, ts))
        if msg is None or msg.get("subtype") == "tombstone":
            raise _SlackError("message_not_found")
        return channel, msg

    # ------------------------------------------------------------------ Web API methods

    def _api(self, method: str, params: Json) -> Json:
        handler: Callable[[Json], Json] = getattr(self, "_m_" + method.replace(".", "_"))
        return handler(params)

    def _m_api_test(self, params: Json) -> Json:
        return {"args": {k: v for k, v in params.items() if k != "token"}}

    def _m_auth_test(self, params: Json) -> Json:
        return {
            "url": f"https://{self.team_domain}.slack.com/",
            "team": self.team_name,
            "user": self.bot_name,
            "team_id": self.team_id,
            "user_id": self.bot_user_id,
            "bot_id": self.bot_id,
            "is_enterprise_install": False,
        }

    def _m_chat_postMessage(self, params: Json) -> Json:
        channel = self._channel_arg(params)
        text, blocks, attachments = self._message_content(params)
        msg = self._bot_message(text, blocks, attachments)
        metadata = self._json_arg(params, "metadata", "invalid_metadata_format")
        if isinstance(metadata, dict):
            msg["metadata"] = metadata
        thread_ts = self._str_arg(params, "thread_ts") or None
        broadcast = bool(thread_ts) and _truthy(params.get("reply_broadcast"))
        self._insert(channel, msg, thread_ts=thread_ts, broadcast=broadcast)
        return {"channel": channel, "ts": msg["ts"], "message": copy.deepcopy(msg)}

    def _m_chat_postEphemeral(self, params: Json) -> Json:
        channel = self._channel_arg(params)
        user = self._str_arg(params, "user", required=True, error="user_not_found")
        self._user_obj(user)
        text, blocks, attachments = self._message_content(params)
        msg = self._bot_message(text, blocks, attachments)
        thread_ts = self._str_arg(params, "thread_ts")
        if thread_ts:
            msg["thread_ts"] = thread_ts
        msg["channel"] = channel
        msg["recipient"] = user
        self._ephemerals.setdefault((channel, user), []).append(msg)
        return {"message_ts": msg["ts"]}

    def _m_chat_update(self, params: Json) -> Json:
        channel, msg = self._find(params, "ts")
        if msg.get("user") != self.bot_user_id:
            raise _SlackError("cant_update_message")
        changes: Json = {}
        if "text" in params:
            text = self._str_arg(params, "text")
            if len(text) > MAX_TEXT:
                raise _SlackError("msg_too_long")
            changes["text"] = text
        if "blocks" in params:
            changes["blocks"] = self._blocks_arg(params) or []
        if "attachments" in params:
            changes["attachments"] = self._json_arg(params, "attachments", "invalid_attachments")
        if not changes:
            raise _SlackError("no_text")
        after = {**msg, **changes}
        if not after.get("text") and not after.get("blocks") and not after.get("attachments"):
            raise _SlackError("no_text")
        self._edit(channel, msg, changes)
        return {
            "channel": channel,
            "ts": msg["ts"],
            "text": msg.get("text", ""),
            "message": copy.deepcopy(msg),
        }

    def _m_chat_delete(self, params: Json) -> Json:
        channel, msg = self._find(params, "ts")
        if msg.get("user") != self.bot_user_id:
            raise _SlackError("cant_delete_message")
        self._delete(channel, msg)
        return {"channel": channel, "ts": msg["ts"]}

    def _m_chat_getPermalink(self, params: Json) -> Json:
        channel, msg = self._find(params, "message_ts")
        digits = str(msg["ts"]).replace(".", "")
        link = f"https://{self.team_domain}.slack.com/archives/{channel}/p{digits}"
        if msg.get("thread_ts") and msg["thread_ts"] != msg["ts"]:
            link += f"?thread_ts={msg['thread_ts']}&cid={channel}"
        return {"channel": channel, "permalink": link}

    def _m_reactions_add(self, params: Json) -> Json:
        _, msg = self._find(params, "timestamp")
        name = self._str_arg(params, "name", required=True, error="invalid_name")
        if not _REACTION.fullmatch(name):
            raise _SlackError("invalid_name")
        reactions: list[Json] = msg.setdefault("reactions", [])
        for reaction in reactions:
            if reaction["name"] == name:
                if self.bot_user_id in reaction["users"]:
                    raise _SlackError("already_reacted")
                reaction["users"].append(self.bot_user_id)
                reaction["count"] += 1
                return {}
        reactions.append({"name": name, "users": [self.bot_user_id], "count": 1})
        return {}

    def _m_reactions_remove(self, params: Json) -> Json:
        _, msg = self._find(params, "timestamp")
        name = self._str_arg(params, "name", required=True, error="invalid_name")
        for reaction in msg.get("reactions", []):
            if reaction["name"] == name and self.bot_user_id in reaction["users"]:
                reaction["users"].remove(self.bot_user_id)
                reaction["count"] -= 1
                if not reaction["count"]:
                    msg["reactions"].remove(reaction)
                if not msg["reactions"]:
                    del msg["reactions"]
                return {}
        raise _SlackError("no_reaction")

    def _m_conversations_info(self, params: Json) -> Json:
        channel = self._str_arg(params, "channel", required=True, error="channel_not_found")
        return {"channel": copy.deepcopy(self._channel_obj(channel))}

    def _m_conversations_history(self, params: Json) -> Json:
        channel = self._str_arg(params, "channel", required=True, error="channel_not_found")
        self._channel_obj(channel)
        messages = list(reversed(self._top.get(channel, [])))
        return {
            "messages": copy.deepcopy(messages),
            "has_more": False,
            "response_metadata": {"next_cursor": ""},
        }

    def _m_conversations_replies(self, params: Json) -> Json:
        channel, msg = self._find(params, "ts")
        return {
            "messages": self.thread(channel, msg["ts"]),
            "has_more": False,
            "response_metadata": {"next_cursor": ""},
        }

    def _m_users_info(self, params: Json) -> Json:
        user = self._str_arg(params, "user", required=True, error="user_not_found")
        return {"user": copy.deepcopy(self._user_obj(user))}

    def _m_files_info(self, params: Json) -> Json:
        file_id = self._str_arg(params, "file", required=True, error="file_not_found")
        stored = self._files.get(file_id)
        if stored is None:
            raise _SlackError("file_not_found")
        return {
            "file": copy.deepcopy(stored.obj),
            "comments": [],
            "response_metadata": {"next_cursor": ""},
        }

    def _take_trigger(self, params: Json) -> None:
        trigger = self._str_arg(params, "trigger_id", required=True, error="invalid_trigger_id")
        issued = self._triggers.get(trigger)
        if issued is None:
            raise _SlackError("invalid_trigger_id")
        at, used = issued
        if used:
            raise _SlackError("exchanged_trigger_id")
        if time.monotonic() - at > self.trigger_ttl:
            raise _SlackError("expired_trigger_id")
        self._triggers[trigger] = (at, True)

    def _view_arg(self, params: Json, *, home: bool) -> Json:
        view = self._json_arg(params, "view", "invalid_arguments")
        problem = _view_problem(view, home=home)
        if problem:
            raise _SlackError("invalid_arguments", extra=_problem(problem))
        assert isinstance(view, dict)
        return view

    def _make_view(self, spec: Json, *, view_id: str, previous: Json | None = None) -> Json:
        view: Json = {
            "id": view_id,
            "team_id": self.team_id,
            "type": spec.get("type", "modal"),
            "blocks": copy.deepcopy(spec.get("blocks", [])),
            "private_metadata": spec.get("private_metadata", ""),
            "callback_id": spec.get("callback_id", ""),
            "state": {"values": {}},
            "hash": f"{int(time.time())}.{secrets.token_hex(4)}",
            "clear_on_close": bool(spec.get("clear_on_close", False)),
            "notify_on_close": bool(spec.get("notify_on_close", False)),
            "previous_view_id": None,
            "root_view_id": view_id,
            "app_id": self.app_id,
            "external_id": spec.get("external_id", ""),
            "app_installed_team_id": self.team_id,
            "bot_id": self.bot_id,
        }
        for key in ("title", "close", "submit"):
            if key in spec:
                view[key] = copy.deepcopy(spec[key])
        if previous is not None:
            view["previous_view_id"] = previous.get("previous_view_id")
            view["root_view_id"] = previous.get("root_view_id", view_id)
            if not view["external_id"]:
                view["external_id"] = previous.get("external_id", "")
        return view

    def _check_external_id(self, spec: Json, *, own: str | None) -> None:
        ext = spec.get("external_id")
        if ext:
            for vid, view in self._views.items():
                if view.get("external_id") == ext and vid != own:
                    raise _SlackError("duplicate_external_id")

    def _m_views_open(self, params: Json) -> Json:
        spec = self._view_arg(params, home=False)
        self._take_trigger(params)
        self._check_external_id(spec, own=None)
        view = self._make_view(spec, view_id=self._next_view_id())
        self._views[view["id"]] = view
        return {"view": copy.deepcopy(view)}

    def _m_views_push(self, params: Json) -> Json:
        spec = self._view_arg(params, home=False)
        self._take_trigger(params)
        self._check_external_id(spec, own=None)
        open_views = [v for v in self._views if v not in self._closed_views]
        view = self._make_view(spec, view_id=self._next_view_id())
        if open_views:
            below = self._views[open_views[-1]]
            view["previous_view_id"] = below["id"]
            view["root_view_id"] = below.get("root_view_id", below["id"])
        self._views[view["id"]] = view
        return {"view": copy.deepcopy(view)}

    def _m_views_update(self, params: Json) -> Json:
        view_id = self._str_arg(params, "view_id")
        external_id = self._str_arg(params, "external_id")
        if not view_id and not external_id:
            raise _SlackError("invalid_arguments", extra=_problem("view_id or external_id"))
        if not view_id:
            view_id = next(
                (v for v, obj in self._views.items() if obj.get("external_id") == external_id), ""
            )
        old = self._views.get(view_id)
        if old is None:
            raise _SlackError("not_found")
        spec = self._view_arg(params, home=old["type"] == "home")
        given_hash = self._str_arg(params, "hash")
        if given_hash and given_hash != old["hash"]:
            raise _SlackError("hash_conflict")
        self._check_external_id(spec, own=view_id)
        view = self._make_view(spec, view_id=view_id, previous=old)
        self._views[view_id] = view
        return {"view": copy.deepcopy(view)}

    def _m_views_publish(self, params: Json) -> Json:
        user = self._str_arg(params, "user_id", required=True, error="user_not_found")
        self._user_obj(user)
        spec = self._view_arg(params, home=True)
        old_id = self._home.get(user)
        if old_id is not None:
            given_hash = self._str_arg(params, "hash")
            if given_hash and given_hash != self._views[old_id]["hash"]:
                raise _SlackError("hash_conflict")
        view_id = old_id or self._next_view_id()
        view = self._make_view(spec, view_id=view_id)
        self._views[view_id] = view
        self._home[user] = view_id
        return {"view": copy.deepcopy(view)}

    # ------------------------------------------------------------------ internals: HTTP

    def _take_fault(self, method: str) -> _Fault | None:
        for key in (method, "*"):
            queue = self._faults.get(key)
            if queue:
                fault = queue[0]
                fault.remaining -= 1
                if fault.remaining <= 0:
                    queue.popleft()
                return fault
        return None

    @staticmethod
    def _fault_reply(fault: _Fault) -> _Reply:
        if fault.error == "ratelimited":
            return _json_reply(
                429,
                {"ok": False, "error": "ratelimited"},
                ("Retry-After", str(fault.retry_after)),
            )
        if fault.error.isdigit():
            status = int(fault.error)
            error = {500: "internal_error", 503: "service_unavailable"}.get(status, "fatal_error")
            return _json_reply(status, {"ok": False, "error": error})
        return _json_reply(200, {"ok": False, "error": fault.error})

    def _route(self, handler: _Handler, verb: str) -> None:
        parts = urlsplit(handler.path)
        path = parts.path
        head = verb == "HEAD"
        if path.startswith("/api/"):
            reply = self._web_api(handler, verb, path[len("/api/") :], parts.query)
            handler.reply(reply, head=head)
        elif path.startswith("/response/"):
            reply = self._response_post(handler, verb, path[len("/response/") :])
            handler.reply(reply, head=head)
        elif path.startswith("/files-pri/"):
            self._download(handler, verb, unquote(path))
        elif path in {"/", "/signin"} and verb in {"GET", "HEAD"}:
            handler.reply(_Reply(200, _LOGIN_PAGE, "text/html; charset=utf-8"), head=head)
        else:
            handler.reply(_Reply(404, b"Not Found", "text/plain; charset=utf-8"), head=head)

    def _parse_params(self, headers: Mapping[str, str], body: bytes, query: str) -> Json:
        params: Json = dict(parse_qsl(query, keep_blank_values=True))
        if not body:
            return params
        ctype = headers.get("content-type", "").split(";")[0].strip().lower()
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise _SlackError("invalid_form_data") from exc
        if ctype == "application/json":
            try:
                data = json.loads(text)
            except ValueError as exc:
                raise _SlackError("invalid_json") from exc
            if not isinstance(data, dict):
                raise _SlackError("invalid_json")
            params.update(data)
        elif ctype in {"application/x-www-form-urlencoded", ""}:
            try:
                params.update(parse_qsl(text, keep_blank_values=True, strict_parsing=True))
            except ValueError as exc:
                raise _SlackError("invalid_form_data") from exc
        else:
            raise _SlackError("invalid_form_data")
        return params

    def _web_api(self, handler: _Handler, verb: str, method: str, query: str) -> _Reply:
        headers = {k.lower(): v for k, v in handler.headers.items()}
        params: Json = {}
        reply: _Reply
        try:
            params = self._parse_params(headers, handler.read_body(), query)
            reply = self._web_api_call(method, params, headers)
        except _SlackError as exc:
            reply = _json_reply(exc.status, {"ok": False, "error": exc.error, **exc.extra})
        try:
            response = json.loads(reply.body)
        except ValueError:
            response = {}
        with self._lock:
            self._calls.append(
                ApiCall(
                    method=method,
                    params=params,
                    headers=dict(handler.headers.items()),
                    time=time.time(),
                    http_method=verb,
                    status=reply.status,
                    response=response,
                )
            )
        return reply

    def _web_api_call(self, method: str, params: Json, headers: Mapping[str, str]) -> _Reply:
        if method not in _METHODS:
            raise _SlackError("unknown_method")
        auth = headers.get("authorization", "")
        token = auth[len("bearer ") :].strip() if auth.lower().startswith("bearer ") else ""
        token = token or str(params.get("token") or "")
        if not token:
            raise _SlackError("not_authed")
        if token != self.bot_token:
            raise _SlackError("invalid_auth")
        with self._lock:
            fault = self._take_fault(method)
            if fault is not None:
                return self._fault_reply(fault)
            result = self._api(method, params)
        warning = {}
        if method in {"chat.postMessage", "chat.postEphemeral"} and not params.get("text"):
            warning = {
                "warning": "missing_text_in_request",
                "response_metadata": {"warnings": ["missing_text_in_request"]},
            }
        return _json_reply(200, {"ok": True, **result, **warning})

    # ------------------------------------------------------------------ response URLs

    def _response_post(self, handler: _Handler, verb: str, ru_id: str) -> _Reply:
        body: Json | None = None
        try:
            if verb != "POST":
                raise _SlackError("method_not_allowed", status=405)
            raw = handler.read_body()
            try:
                data = json.loads(raw.decode("utf-8"))
            except (UnicodeDecodeError, ValueError) as exc:
                raise _SlackError("invalid_payload", status=400) from exc
            if not isinstance(data, dict):
                raise _SlackError("invalid_payload", status=400)
            body = data
            with self._lock:
                fault = self._take_fault("response_url")
                if fault is not None:
                    reply = self._fault_reply(fault)
                    result = f"fault:{fault.error}"
                    status = reply.status
                else:
                    status, answer, result = self._respond(ru_id, data, count_use=True)
                    reply = _json_reply(status, answer)
        except _SlackError as exc:
            status, result = exc.status, exc.error
            reply = _json_reply(exc.status, {"ok": False, "error": exc.error})
        with self._lock:
            self._response_posts.append(
                ResponseUrlPost(
                    url=f"{self.url}/response/{ru_id}",
                    body=body,
                    time=time.time(),
                    status=status,
                    result=result,
                )
            )
        return reply

    def _respond(self, ru_id: str, data: Json, *, count_use: bool) -> tuple[int, Json, str]:
        """Applies one response-URL message; returns (status, answer, what it did)."""
        ru = self._response_urls.get(ru_id)
        if ru is None or time.monotonic() - ru.created > RESPONSE_URL_TTL:
            return 404, {"ok": False, "error": "expired_url"}, "expired_url"
        if count_use:
            if ru.uses >= RESPONSE_URL_USES:
                return 404, {"ok": False, "error": "used_url"}, "used_url"
            ru.uses += 1
        try:
            result = self._respond_apply(ru, data)
        except _SlackError as exc:
            status = 400 if exc.status == 200 else exc.status
            return status, {"ok": False, "error": exc.error, **exc.extra}, exc.error
        return 200, {"ok": True}, result

    def _original(self, ru: _ResponseUrl) -> Json | None:
        if ru.original_ts is None:
            return None
        if ru.original_ephemeral:
            for msg in self._ephemerals.get((ru.channel, ru.user), []):
                if msg["ts"] == ru.original_ts:
                    return msg
            return None
        return self._index.get((ru.channel, ru.original_ts))

    def _respond_apply(self, ru: _ResponseUrl, data: Json) -> str:
        original = self._original(ru)
        if _truthy(data.get("delete_original")):
            if original is None:
                raise _SlackError("message_not_found", status=404)
            if ru.original_ephemeral:
                msgs = self._ephemerals.get((ru.channel, ru.user), [])
                msgs[:] = [m for m in msgs if m is not original]
            else:
                self._delete(ru.channel, original)
            return "deleted"
        text, blocks, attachments = self._message_content(data)
        if _truthy(data.get("replace_original")) and original is not None:
            changes: Json = {"text": text, "blocks": blocks, "attachments": attachments}
            if ru.original_ephemeral:
                for key, value in changes.items():
                    if value is None:
                        original.pop(key, None)
                    else:
                        original[key] = value
            else:
                self._edit(ru.channel, original, changes)
            return "replaced"
        in_channel = data.get("response_type") == "in_channel"
        thread_ts = data.get("thread_ts") if isinstance(data.get("thread_ts"), str) else None
        msg = self._bot_message(text, blocks, attachments)
        if in_channel:
            self._insert(ru.channel, msg, thread_ts=thread_ts, broadcast=False)
        else:
            if thread_ts:
                msg["thread_ts"] = thread_ts
            msg["channel"] = ru.channel
            msg["recipient"] = ru.user
            self._ephemerals.setdefault((ru.channel, ru.user), []).append(msg)
        if ru.original_ts is None:
            ru.original_ts = msg["ts"]
            ru.original_ephemeral = not in_channel
        return "in_channel" if in_channel else "ephemeral"

    # ------------------------------------------------------------------ files

    def _download(self, handler: _Handler, verb: str, path: str) -> None:
        match = _FILE_PATH.fullmatch(path)
        with self._lock:
            stored = self._files.get(match.group(2)) if match else None
            if (
                match is None
                or stored is None
                or match.group(1) != self.team_id
                or match.group(4) != stored.obj["name"]
            ):
                handler.reply(_Reply(404, b"Not Found", "text/plain; charset=utf-8"))
                return
            file_id = stored.obj["id"]
            if verb not in {"GET", "HEAD"}:
                handler.reply(_Reply(405, b"Method Not Allowed", "text/plain; charset=utf-8"))
                return
            auth = handler.headers.get("Authorization", "")
            authorized = auth.lower().startswith("bearer ") and auth[7:].strip() == self.bot_token
            fault = self._take_fault("files.download")
        range_header = handler.headers.get("Range")

        def log(status: int) -> None:
            with self._lock:
                self._downloads.append(
                    Download(file_id, verb, authorized, status, time.time(), range_header)
                )

        if fault is not None:
            reply = self._fault_reply(fault)
            log(reply.status)
            handler.reply(reply, head=verb == "HEAD")
            return
        if not authorized:
            if self.files_unauthorized == "forbidden":
                log(403)
                handler.reply(_Reply(403, b"Forbidden", "text/plain; charset=utf-8"))
                return
            location = f"{self.url}/?redirect={quote(path, safe='')}"
            log(302)
            handler.reply(
                _Reply(302, _LOGIN_PAGE, "text/html; charset=utf-8", (("Location", location),)),
                head=verb == "HEAD",
            )
            return
        content = stored.content
        start, end = 0, len(content) - 1
        status = 200
        extra: list[tuple[str, str]] = [("Accept-Ranges", "bytes"), ("Cache-Control", "private")]
        if "/download/" in path:
            extra.append(("Content-Disposition", f'attachment; filename="{stored.obj["name"]}"'))
        if range_header:
            found = _RANGE.fullmatch(range_header.strip())
            parsed = _parse_range(found, len(content)) if found else None
            if parsed is None:
                log(416)
                handler.reply(
                    _Reply(416, b"", "text/plain", (("Content-Range", f"bytes */{len(content)}"),))
                )
                return
            start, end = parsed
            status = 206
            extra.append(("Content-Range", f"bytes {start}-{end}/{len(content)}"))
        log(status)
        handler.stream(
            status, stored.obj["mimetype"], content[start : end + 1], extra, head=verb == "HEAD"
        )


@contextlib.contextmanager
def _as_value_error() -> Iterator[None]:
    """Turns a Slack error into ValueError for Python callers of the set-up helpers."""
    try:
        yield
    except _SlackError as exc:
        raise ValueError(exc.error) from exc


def _parse_range(found: re.Match[str], size: int) -> tuple[int, int] | None:
    first, last = found.group(1), found.group(2)
    if not first and not last:
        return None
    if not first:
        length = int(last)
        if length == 0:
            return None
        return max(size - length, 0), size - 1
    start = int(first)
    end = int(last) if last else size - 1
    if start >= size or end < start:
        return None
    return start, min(end, size - 1)


def _problem(message: str) -> Json:
    return {"errors": [message], "response_metadata": {"messages": [f"[ERROR] {message}"]}}


def _blocks_problem(blocks: object, *, limit: int, where: str = "/blocks") -> str | None:
    """The first way ``blocks`` breaks Block Kit's documented rules, or None."""
    if not isinstance(blocks, list):
        return f"must be an array [json-pointer:{where}]"
    if len(blocks) > limit:
        return f"no more than {limit} items allowed [json-pointer:{where}]"
    block_ids: set[str] = set()
    for i, block in enumerate(blocks):
        at = f"{where}/{i}"
        if not isinstance(block, dict) or not isinstance(block.get("type"), str):
            return f"must be an object with a type [json-pointer:{at}]"
        kind = block["type"]
        if kind not in _BLOCK_TYPES:
            return f"unsupported type: {kind} [json-pointer:{at}/type]"
        block_id = block.get("block_id")
        if block_id is not None:
            if not isinstance(block_id, str) or not 0 < len(block_id) <= 255:
                return f"must be a string of 1 to 255 characters [json-pointer:{at}/block_id]"
            if block_id in block_ids:
                return f"duplicate block_id {block_id} [json-pointer:{at}/block_id]"
            block_ids.add(block_id)
        problem = _block_problem(block, at)
        if problem:
            return problem
    return None


def _block_problem(block: Json, at: str) -> str | None:
    kind = block["type"]
    if kind == "section":
        if "text" not in block and "fields" not in block and "expand" not in block:
            return f"must provide text or fields [json-pointer:{at}]"
        if len(_text_of(block.get("text"))) > 3000:
            return f"must be less than 3001 characters [json-pointer:{at}/text/text]"
        fields = block.get("fields", [])
        if not isinstance(fields, list) or len(fields) > 10:
            return f"no more than 10 items allowed [json-pointer:{at}/fields]"
    if kind == "header" and not 0 < len(_text_of(block.get("text"))) <= 150:
        return f"must be 1 to 150 characters [json-pointer:{at}/text/text]"
    if kind == "input":
        if not isinstance(block.get("element"), dict) or not isinstance(block.get("label"), dict):
            return f"must provide label and element [json-pointer:{at}]"
        if len(_text_of(block["label"])) > 2000:
            return f"must be less than 2001 characters [json-pointer:{at}/label/text]"
    elements: list[Any] = []
    if kind in {"actions", "context"}:
        if not isinstance(block.get("elements"), list):
            return f"must provide elements [json-pointer:{at}/elements]"
        elements = block["elements"]
        limit = 25 if kind == "actions" else 10
        if not elements or len(elements) > limit:
            return f"must have 1 to {limit} items [json-pointer:{at}/elements]"
    elif isinstance(block.get("accessory"), dict):
        elements = [block["accessory"]]
    elif isinstance(block.get("element"), dict):
        elements = [block["element"]]
    action_ids: set[str] = set()
    for j, element in enumerate(elements):
        if not isinstance(element, dict) or not isinstance(element.get("type"), str):
            return f"must be an object with a type [json-pointer:{at}/elements/{j}]"
        action_id = element.get("action_id")
        if action_id is not None:
            if not isinstance(action_id, str) or not 0 < len(action_id) <= 255:
                return f"must be 1 to 255 characters [json-pointer:{at}/elements/{j}/action_id]"
            if action_id in action_ids:
                return f"duplicate action_id {action_id} [json-pointer:{at}/elements/{j}]"
            action_ids.add(action_id)
        if element["type"] == "button":
            if not 0 < len(_text_of(element.get("text"))) <= 75:
                return f"must be 1 to 75 characters [json-pointer:{at}/elements/{j}/text/text]"
            value = element.get("value", "")
            if not isinstance(value, str) or len(value) > 2000:
                return f"must be at most 2000 characters [json-pointer:{at}/elements/{j}/value]"
            if element.get("style") not in {None, "primary", "danger"}:
                return f"must be primary or danger [json-pointer:{at}/elements/{j}/style]"
    return None


def _view_problem(view: object, *, home: bool) -> str | None:
    if not isinstance(view, dict):
        return "must be an object [json-pointer:/view]"
    kind = view.get("type")
    if home and kind != "home":
        return "type must be home [json-pointer:/view/type]"
    if not home and kind != "modal":
        return "type must be modal [json-pointer:/view/type]"
    if kind == "modal":
        for key, required in (("title", True), ("submit", False), ("close", False)):
            if key not in view:
                if required:
                    return f"must provide {key} [json-pointer:/view/{key}]"
                continue
            value = view[key]
            if not isinstance(value, dict) or value.get("type") != "plain_text":
                return f"must be a plain_text object [json-pointer:/view/{key}]"
            if not 0 < len(_text_of(value)) <= 24:
                return f"must be 1 to 24 characters [json-pointer:/view/{key}/text]"
        blocks = view.get("blocks", [])
        if (
            isinstance(blocks, list)
            and any(isinstance(b, dict) and b.get("type") == "input" for b in blocks)
            and "submit" not in view
        ):
            return "must provide submit when an input block is present [json-pointer:/view]"
    if len(str(view.get("private_metadata", ""))) > 3000:
        return "must be at most 3000 characters [json-pointer:/view/private_metadata]"
    if len(str(view.get("callback_id", ""))) > 255:
        return "must be at most 255 characters [json-pointer:/view/callback_id]"
    return _blocks_problem(view.get("blocks", []), limit=100, where="/view/blocks")


class _Handler(Handler):
    methods = frozenset({"GET", "HEAD", "POST", "PUT", "DELETE"})
    server_version = "StandInSlack/1.0"
    sys_version = ""
    timeout = 15

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        with contextlib.suppress(OSError):
            body = json.dumps({"ok": False, "error": "invalid_request"}).encode()
            self.write(
                code,
                body,
                "application/json; charset=utf-8",
                [("Connection", "close")],
                head=self.command == "HEAD",
                reason=message,
            )

    def internal_error(self) -> None:
        self.reply(_json_reply(500, {"ok": False, "error": "internal_error"}))

    def read_body(self) -> bytes:
        """The request body, by Content-Length or chunked; refuses more than MAX_BODY."""
        try:
            return self.read_limited(MAX_BODY)
        except BodyError as exc:
            too_large = exc.status == HTTPStatus.REQUEST_ENTITY_TOO_LARGE
            error = "request_too_large" if too_large else "invalid_form_data"
            raise _SlackError(error, status=int(exc.status)) from exc

    def reply(self, reply: _Reply, *, head: bool = False) -> None:
        self.write(reply.status, reply.body, reply.content_type, reply.headers, head=head)

    def stream(
        self,
        status: int,
        content_type: str,
        content: bytes,
        headers: list[tuple[str, str]],
        *,
        head: bool,
    ) -> None:
        self.write(status, content, content_type, headers, head=head)


def _iter_elements(blocks: object) -> Iterator[tuple[str, Json]]:
    """Yields (block_id, element) for every interactive element in ``blocks``."""
    if not isinstance(blocks, list):
        return
    for block in blocks:
        if not isinstance(block, dict):
            continue
        block_id = str(block.get("block_id", ""))
        candidates: list[Any] = []
        if isinstance(block.get("elements"), list):
            candidates.extend(block["elements"])
        for key in ("accessory", "element"):
            if isinstance(block.get(key), dict):
                candidates.append(block[key])
        for element in candidates:
            if isinstance(element, dict) and "action_id" in element:
                yield block_id, element


def find_element(blocks: object, action_id: str) -> tuple[str, Json] | None:
    """The (block_id, element) with ``action_id`` in ``blocks``, or None."""
    for block_id, element in _iter_elements(blocks):
        if element.get("action_id") == action_id:
            return block_id, element
    return None
