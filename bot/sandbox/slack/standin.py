"""The stand-in Slack: its workspace, Web API, response URLs and files on one HTTP server."""

from __future__ import annotations

import threading
from collections import deque
from typing import Literal, cast
from urllib.parse import urlsplit

from bot.sandbox.http import Handler
from bot.sandbox.slack.calls import _Fault
from bot.sandbox.slack.common import (
    _LOGIN_PAGE,
    BOT_ID,
    BOT_USER_ID,
    DEFAULT_APP_ID,
    DEFAULT_BOT_TOKEN,
    DEFAULT_TEAM_ID,
    ApiCall,
    Download,
    Json,
    ResponseUrlPost,
    Upload,
    _Handler,
    _Reply,
)
from bot.sandbox.slack.response_urls import ResponseUrls, _ResponseUrl
from bot.sandbox.slack.uploads import UPLOAD_PATH, Uploads, _Pending
from bot.sandbox.slack.views import Views
from bot.sandbox.slack.webapi import WebApi
from bot.sandbox.slack.workspace import _StoredFile


class SlackStandIn(WebApi, Views, ResponseUrls, Uploads):
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
        self._token_refusal: str | None = None
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
        self._pending: dict[str, _Pending] = {}
        self._upload_keys: dict[str, str] = {}
        self._uploads: list[Upload] = []
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
            self._download(handler, verb, path)
        elif path.startswith(UPLOAD_PATH):
            self._upload_post(handler, verb, path[len(UPLOAD_PATH) :])
        elif path in {"/", "/signin"} and verb in {"GET", "HEAD"}:
            handler.reply(_Reply(200, _LOGIN_PAGE, "text/html; charset=utf-8"), head=head)
        else:
            handler.reply(_Reply(404, b"Not Found", "text/plain; charset=utf-8"), head=head)
