"""What every way into the stand-in Slack shares: recorded calls, queued faults, arguments."""

from __future__ import annotations

import json
from collections import deque
from dataclasses import dataclass
from typing import Any

from bot.sandbox.slack.blockkit import _blocks_problem, _problem
from bot.sandbox.slack.common import (
    MAX_TEXT,
    ApiCall,
    Json,
    _json_reply,
    _Reply,
    _SlackError,
)
from bot.sandbox.slack.workspace import Workspace


@dataclass
class _Fault:
    error: str
    retry_after: int
    remaining: int


class Calls(Workspace):
    """Recorded Web API calls, faults queued per method, and reading a call's arguments."""

    _calls: list[ApiCall]
    _faults: dict[str, deque[_Fault]]
    _token_refusal: str | None

    def fail_next(
        self,
        method: str,
        error: str = "ratelimited",
        retry_after: int = 1,
        count: int = 1,
    ) -> None:
        """The next ``count`` calls to ``method`` fail.

        ``method`` is a Web API method, ``"*"`` for any, ``"response_url"``,
        ``"files.download"`` or ``"upload_url"`` (a POST of a file's bytes). ``error``
        ``"ratelimited"`` answers HTTP 429 with Retry-After; a status code such as ``"500"``
        answers that status; any other string answers 200 with ``{"ok": false, "error": error}``.
        """
        if count < 1:
            raise ValueError("count must be at least 1")
        with self._lock:
            self._faults.setdefault(method, deque()).append(_Fault(error, retry_after, count))

    def clear_faults(self) -> None:
        with self._lock:
            self._faults.clear()

    def refuse_token(self, error: str = "token_revoked") -> None:
        """From now on the bot token is refused, as Slack refuses a revoked one: every Web API
        method answers ``{"ok": false, "error": error}`` (``invalid_auth``, ``token_revoked``,
        ``account_inactive``…) and file downloads are treated as a stranger's, until
        :meth:`accept_token`."""
        if not error:
            raise ValueError("error must name Slack's error, e.g. 'token_revoked'")
        with self._lock:
            self._token_refusal = error

    def accept_token(self) -> None:
        """The bot token works again."""
        with self._lock:
            self._token_refusal = None

    # ------------------------------------------------------------------ read helpers

    @property
    def calls(self) -> list[ApiCall]:
        with self._lock:
            return list(self._calls)

    def calls_to(self, method: str) -> list[ApiCall]:
        with self._lock:
            return [c for c in self._calls if c.method == method]

    # ------------------------------------------------------------------ internals: faults

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
