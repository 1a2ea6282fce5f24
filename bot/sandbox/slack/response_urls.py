"""Response URLs of the stand-in Slack: messages posted to them, shown as Slack shows them."""

from __future__ import annotations

import json
import secrets
import time
from dataclasses import dataclass
from typing import Final

from bot.sandbox.slack.calls import Calls
from bot.sandbox.slack.common import (
    Json,
    ResponseUrlPost,
    _Handler,
    _json_reply,
    _Reply,
    _SlackError,
    _truthy,
)

RESPONSE_URL_USES: Final = 5
RESPONSE_URL_TTL: Final = 30 * 60.0


@dataclass
class _ResponseUrl:
    id: str
    channel: str
    user: str
    created: float
    original_ts: str | None = None
    original_ephemeral: bool = False
    uses: int = 0


class ResponseUrls(Calls):
    """Response URLs for interactions: each works 5 times within 30 minutes."""

    _response_urls: dict[str, _ResponseUrl]
    _response_posts: list[ResponseUrlPost]

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

    # ------------------------------------------------------------------ read helpers

    @property
    def response_posts(self) -> list[ResponseUrlPost]:
        with self._lock:
            return list(self._response_posts)

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
