"""The stand-in Slack's Web API: ``POST /api/<method>``, authenticated, recorded, answered."""

from __future__ import annotations

import copy
import json
import re
import time
from collections.abc import Callable, Mapping
from typing import Final
from urllib.parse import parse_qsl

from bot.sandbox.slack.calls import Calls
from bot.sandbox.slack.common import (
    MAX_TEXT,
    ApiCall,
    Json,
    _form_parts,
    _Handler,
    _json_reply,
    _Reply,
    _SlackError,
    _truthy,
)

_REACTION = re.compile(r"[a-z0-9_+'\-]+(::skin-tone-[2-6])?", re.ASCII)


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
    "files.completeUploadExternal",
    "files.delete",
    "files.getUploadURLExternal",
    "files.info",
    "reactions.add",
    "reactions.remove",
    "users.info",
    "views.open",
    "views.publish",
    "views.push",
    "views.update",
)

# Methods Slack has retired: known, authenticated, refused as Slack refuses them.
_RETIRED: Final = frozenset({"files.upload"})


class WebApi(Calls):
    """The Web API methods the app calls (``views.*`` are in :mod:`.views`)."""

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

    # ------------------------------------------------------------------ internals: HTTP

    def _parse_params(self, headers: Mapping[str, str], body: bytes, query: str) -> Json:
        params: Json = dict(parse_qsl(query, keep_blank_values=True))
        if not body:
            return params
        content_type = headers.get("content-type", "")
        ctype = content_type.split(";")[0].strip().lower()
        if ctype == "multipart/form-data":
            params.update(_form_fields(content_type, body))
            return params
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
        if method not in _METHODS and method not in _RETIRED:
            raise _SlackError("unknown_method")
        auth = headers.get("authorization", "")
        token = auth[len("bearer ") :].strip() if auth.lower().startswith("bearer ") else ""
        token = token or str(params.get("token") or "")
        if not token:
            raise _SlackError("not_authed")
        if token != self.bot_token:
            raise _SlackError("invalid_auth")
        with self._lock:
            if self._token_refusal is not None:
                raise _SlackError(self._token_refusal)
            if method in _RETIRED:
                raise _SlackError("method_deprecated")
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


def _form_fields(content_type: str, body: bytes) -> Json:
    """A multipart/form-data body's fields; a file part is recorded by its name and size."""
    try:
        parts = _form_parts(content_type, body)
        fields: Json = {}
        for part in parts:
            if part.filename is not None:
                fields[part.name] = {"filename": part.filename, "length": len(part.content)}
            else:
                fields[part.name] = part.content.decode("utf-8")
    except ValueError as exc:  # UnicodeDecodeError too
        raise _SlackError("invalid_form_data") from exc
    return fields
