"""Plays Slack's side towards the app: signed requests to ``/slack/events`` as Slack sends them.

Slash commands and interactivity go form-encoded (interactivity as ``payload=<json>``),
events as JSON in an ``event_callback`` envelope, each signed with the signing secret
(``v0=`` HMAC-SHA256 over ``v0:{timestamp}:{body}``). With a :class:`SlackStandIn`, response
URLs and trigger IDs come from it, clicks find their button in what it shows the user, file
shares upload there first, and what Slack would do with the app's HTTP answer (a slash
command's message, a modal's ``response_action``) is applied to it.

Every sending method takes ``timestamp=``, ``signature=``, ``corrupt_signature=`` and
``headers=`` to build negative cases; :meth:`SlackDriver.raw_post` sends anything at all.
"""

from __future__ import annotations

import copy
import hashlib
import hmac
import http.client
import itertools
import json
import mimetypes
import secrets
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final, TypedDict, Unpack
from urllib.parse import urlencode, urlsplit

from bot.sandbox.slack import BOT_USER_ID, DEFAULT_APP_ID, SlackStandIn, find_element

__all__ = ["DriverResponse", "SendOptions", "SlackDriver", "sign"]

Json = dict[str, Any]

FORM: Final = "application/x-www-form-urlencoded"
JSON_TYPE: Final = "application/json"
USER_AGENT: Final = "Slackbot 1.0 (+https://api.slack.com/robots)"
VERIFICATION_TOKEN: Final = "verification-token-deprecated"

_FILETYPES: Final = {
    "image/jpeg": "jpg",
    "image/png": "png",
    "image/gif": "gif",
    "image/webp": "webp",
    "video/mp4": "mp4",
    "video/quicktime": "mov",
    "video/3gpp": "3gp",
    "audio/mpeg": "mp3",
    "audio/ogg": "ogg",
    "audio/aac": "aac",
    "audio/mp4": "m4a",
    "audio/amr": "amr",
    "application/pdf": "pdf",
    "text/plain": "text",
}


def sign(signing_secret: str, timestamp: str | int, body: bytes | str) -> str:
    """Slack's ``X-Slack-Signature`` for ``body`` sent at ``timestamp``."""
    raw = body.encode() if isinstance(body, str) else body
    base = f"v0:{timestamp}:".encode() + raw
    return "v0=" + hmac.new(signing_secret.encode(), base, hashlib.sha256).hexdigest()


class SendOptions(TypedDict, total=False):
    """Per-request overrides for negative tests."""

    timestamp: int | str
    signature: str
    corrupt_signature: bool
    headers: Mapping[str, str]


@dataclass(frozen=True)
class DriverResponse:
    """The app's answer to one request, with what was sent."""

    status: int
    headers: dict[str, str]
    body: str
    json: Any
    elapsed: float
    request_body: bytes = b""
    sent: Json = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300

    def header(self, name: str) -> str | None:
        """A response header, case-insensitively."""
        wanted = name.lower()
        for key, value in self.headers.items():
            if key.lower() == wanted:
                return value
        return None


class SlackDriver:
    """Sends the app at ``app_url`` the requests Slack would, signed with ``signing_secret``."""

    def __init__(
        self,
        app_url: str,
        signing_secret: str,
        *,
        team_id: str = "T000",
        team_domain: str = "standin",
        api_app_id: str = DEFAULT_APP_ID,
        slack: SlackStandIn | None = None,
        events_path: str = "/slack/events",
        timeout: float = 10.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        base = app_url.rstrip("/")
        self.events_url = base if base.endswith(events_path) else base + events_path
        self.signing_secret = signing_secret
        self.team_id = slack.team_id if slack is not None else team_id
        self.team_domain = slack.team_domain if slack is not None else team_domain
        self.api_app_id = slack.app_id if slack is not None else api_app_id
        self.bot_user_id = slack.bot_user_id if slack is not None else BOT_USER_ID
        self.slack = slack
        self.timeout = timeout
        self.clock = clock
        self.history: list[DriverResponse] = []
        self._seq = itertools.count(1)

    # ------------------------------------------------------------------ low level

    def sign(self, body: bytes | str, timestamp: int | str) -> str:
        return sign(self.signing_secret, timestamp, body)

    def signed_headers(
        self, body: bytes, content_type: str, **options: Unpack[SendOptions]
    ) -> dict[str, str]:
        """The headers Slack sends with ``body``, with any overrides applied."""
        timestamp = str(options.get("timestamp", int(self.clock())))
        signature = options.get("signature") or self.sign(body, timestamp)
        if options.get("corrupt_signature"):
            last = "0" if signature[-1] != "0" else "1"
            signature = signature[:-1] + last
        headers = {
            "Content-Type": content_type,
            "User-Agent": USER_AGENT,
            "Accept": "application/json,*/*",
            "Accept-Encoding": "gzip,deflate",
            "X-Slack-Request-Timestamp": timestamp,
            "X-Slack-Signature": signature,
        }
        headers.update(options.get("headers", {}))
        return headers

    def raw_post(
        self,
        body: bytes | str,
        headers: Mapping[str, str],
        *,
        url: str | None = None,
        sent: Json | None = None,
    ) -> DriverResponse:
        """POSTs exactly ``body`` with exactly ``headers`` (nothing signed or added)."""
        raw = body.encode() if isinstance(body, str) else body
        target = urlsplit(url or self.events_url)
        conn_type = (
            http.client.HTTPSConnection if target.scheme == "https" else http.client.HTTPConnection
        )
        conn = conn_type(target.netloc, timeout=self.timeout)
        path = target.path or "/"
        if target.query:
            path += "?" + target.query
        started = time.monotonic()
        try:
            conn.request("POST", path, body=raw, headers=dict(headers))
            resp = conn.getresponse()
            data = resp.read()
            status = resp.status
            resp_headers = dict(resp.getheaders())
        finally:
            conn.close()
        elapsed = time.monotonic() - started
        text = data.decode("utf-8", errors="replace")
        parsed: Any = None
        if text.strip():
            try:
                parsed = json.loads(text)
            except ValueError:
                parsed = None
        result = DriverResponse(
            status=status,
            headers=resp_headers,
            body=text,
            json=parsed,
            elapsed=elapsed,
            request_body=raw,
            sent=sent or {},
        )
        self.history.append(result)
        return result

    def post(
        self, body: bytes | str, content_type: str, **options: Unpack[SendOptions]
    ) -> DriverResponse:
        """Signs and POSTs ``body``."""
        raw = body.encode() if isinstance(body, str) else body
        return self.raw_post(raw, self.signed_headers(raw, content_type, **options))

    def post_form(
        self, fields: Mapping[str, str], **options: Unpack[SendOptions]
    ) -> DriverResponse:
        raw = urlencode(list(fields.items())).encode()
        return self._send(raw, FORM, dict(fields), {}, **options)

    def post_interaction(self, payload: Json, **options: Unpack[SendOptions]) -> DriverResponse:
        """Form body ``payload=<json>`` as Slack sends interactivity."""
        raw = urlencode({"payload": json.dumps(payload)}).encode()
        return self._send(raw, FORM, payload, {}, **options)

    def post_event(
        self,
        envelope: Json,
        *,
        retry_num: int | None = None,
        retry_reason: str = "http_timeout",
        **options: Unpack[SendOptions],
    ) -> DriverResponse:
        """JSON body, with ``X-Slack-Retry-Num``/``-Reason`` when ``retry_num`` is set."""
        raw = json.dumps(envelope).encode()
        extra: dict[str, str] = {}
        if retry_num is not None:
            extra = {"X-Slack-Retry-Num": str(retry_num), "X-Slack-Retry-Reason": retry_reason}
        return self._send(raw, JSON_TYPE, envelope, extra, **options)

    def _send(
        self,
        raw: bytes,
        content_type: str,
        sent: Json,
        extra: dict[str, str],
        **options: Unpack[SendOptions],
    ) -> DriverResponse:
        headers = self.signed_headers(raw, content_type, **options)
        for key, value in extra.items():
            headers.setdefault(key, value)
        return self.raw_post(raw, headers, sent=sent)

    # ------------------------------------------------------------------ helpers

    def _ts(self) -> str:
        if self.slack is not None:
            return self.slack.new_ts()
        now = self.clock()
        return f"{int(now)}.{next(self._seq) * 100:06d}"

    def _trigger_id(self) -> str:
        if self.slack is not None:
            return self.slack.new_trigger_id()
        return f"{int(self.clock())}.{next(self._seq)}.{secrets.token_hex(16)}"

    def _response_url(
        self, channel: str, user: str, *, message_ts: str | None = None, ephemeral: bool = False
    ) -> str:
        if self.slack is not None:
            return self.slack.new_response_url(
                channel, user, message_ts=message_ts, ephemeral=ephemeral
            )
        return f"https://hooks.slack.com/actions/{self.team_id}/{next(self._seq)}/{secrets.token_urlsafe(18)}"

    def _user_name(self, user: str) -> str:
        if self.slack is not None:
            found = self.slack.user(user)
            if found is not None:
                return str(found["name"])
        return user.lower()

    def _channel_name(self, channel: str) -> str:
        if self.slack is not None:
            found = self.slack.channel(channel)
            if found is not None:
                return str(found["name"])
        return "directmessage" if channel.startswith("D") else channel.lower()

    def _user_obj(self, user: str) -> Json:
        name = self._user_name(user)
        return {"id": user, "username": name, "name": name, "team_id": self.team_id}

    def _team(self) -> Json:
        return {"id": self.team_id, "domain": self.team_domain}

    def _event_id(self) -> str:
        return f"Ev{int(self.clock())}{next(self._seq):04d}"

    # ------------------------------------------------------------------ slash commands

    def slash_command(
        self,
        text: str,
        *,
        user: str,
        channel: str,
        command: str = "/whatsapp",
        **options: Unpack[SendOptions],
    ) -> DriverResponse:
        """Someone typed ``{command} {text}`` in ``channel``.

        With a stand-in, the app's immediate answer (JSON message or plain text) is shown as
        Slack would: ephemeral to the user unless ``response_type`` is ``in_channel``.
        """
        response_url = self._response_url(channel, user)
        fields = {
            "token": VERIFICATION_TOKEN,
            "team_id": self.team_id,
            "team_domain": self.team_domain,
            "channel_id": channel,
            "channel_name": self._channel_name(channel),
            "user_id": user,
            "user_name": self._user_name(user),
            "command": command,
            "text": text,
            "api_app_id": self.api_app_id,
            "is_enterprise_install": "false",
            "response_url": response_url,
            "trigger_id": self._trigger_id(),
        }
        result = self.post_form(fields, **options)
        if self.slack is not None and result.status == 200 and result.body.strip():
            if isinstance(result.json, dict):
                answer: Json = result.json
            else:
                answer = {"text": result.body}
            if answer.get("text") or answer.get("blocks") or answer.get("attachments"):
                self.slack.apply_response(response_url, answer, count_use=False)
        return result

    # ------------------------------------------------------------------ interactivity

    def click(
        self,
        action_id: str,
        value: str | None = None,
        *,
        user: str,
        channel: str | None = None,
        message: Json | None = None,
        container: Json | None = None,
        response_url: str | None = None,
        view: Json | str | None = None,
        block_id: str | None = None,
        **options: Unpack[SendOptions],
    ) -> DriverResponse:
        """``user`` clicks (or picks) ``action_id``: a ``block_actions`` payload.

        Without ``message`` or ``view``, the stand-in finds the newest message the user
        sees in ``channel`` with that element (ephemeral ones first). ``value`` defaults to
        the element's own value.
        """
        if view is not None:
            return self._click_in_view(action_id, value, user=user, view=view, **options)
        if channel is None:
            raise ValueError("click needs a channel (or a view)")
        is_ephemeral = False
        if message is None and self.slack is not None:
            found = self.slack.message_with_action(channel, user, action_id)
            if found is None:
                raise LookupError(f"no message in {channel} shows {user} an action {action_id!r}")
            message, is_ephemeral = found
        elif message is not None and self.slack is not None:
            is_ephemeral = self.slack.find_ephemeral(channel, str(message.get("ts"))) is not None
        blocks = message.get("blocks") if message else None
        action = self._action(action_id, value, blocks, block_id)
        message_ts = str(message["ts"]) if message else self._ts()
        if container is None:
            container = {
                "type": "message",
                "message_ts": message_ts,
                "channel_id": channel,
                "is_ephemeral": is_ephemeral,
            }
            if message and message.get("thread_ts") and message["thread_ts"] != message_ts:
                container["thread_ts"] = message["thread_ts"]
        if response_url is None:
            response_url = self._response_url(
                channel, user, message_ts=message_ts, ephemeral=is_ephemeral
            )
        payload: Json = {
            "type": "block_actions",
            "user": self._user_obj(user),
            "api_app_id": self.api_app_id,
            "token": VERIFICATION_TOKEN,
            "container": container,
            "trigger_id": self._trigger_id(),
            "team": self._team(),
            "enterprise": None,
            "is_enterprise_install": False,
            "channel": {"id": channel, "name": self._channel_name(channel)},
            "state": {"values": {}},
            "response_url": response_url,
            "actions": [action],
        }
        if message is not None and not is_ephemeral:
            shown = {k: v for k, v in message.items() if k not in {"channel", "recipient"}}
            payload["message"] = shown
        return self.post_interaction(payload, **options)

    def _action(self, action_id: str, value: str | None, blocks: Any, block_id: str | None) -> Json:
        found = find_element(blocks, action_id)
        element: Json = found[1] if found else {"type": "button", "action_id": action_id}
        action: Json = {
            "action_id": action_id,
            "block_id": block_id or (found[0] if found and found[0] else "actions"),
            "type": element.get("type", "button"),
            "action_ts": f"{self.clock():.6f}",
        }
        if action["type"] == "button":
            action["text"] = element.get("text", {"type": "plain_text", "text": action_id})
            action["value"] = value if value is not None else element.get("value", "")
            if "style" in element:
                action["style"] = element["style"]
        elif action["type"] in {"static_select", "radio_buttons", "overflow"}:
            option = _option(element, value)
            key = "selected_option"
            action[key] = option
        else:
            action["value"] = value
        return action

    def _view_obj(self, view: Json | str) -> Json:
        if isinstance(view, str):
            if self.slack is None or view not in self.slack.views:
                raise LookupError(f"no view {view!r} in the stand-in")
            return self.slack.views[view]
        if self.slack is not None and view.get("id") in self.slack.views:
            return self.slack.views[str(view["id"])]
        return copy.deepcopy(view)

    def _click_in_view(
        self,
        action_id: str,
        value: str | None,
        *,
        user: str,
        view: Json | str,
        **options: Unpack[SendOptions],
    ) -> DriverResponse:
        shown = self._view_obj(view)
        payload: Json = {
            "type": "block_actions",
            "user": self._user_obj(user),
            "api_app_id": self.api_app_id,
            "token": VERIFICATION_TOKEN,
            "container": {"type": "view", "view_id": shown.get("id", "")},
            "trigger_id": self._trigger_id(),
            "team": self._team(),
            "enterprise": None,
            "is_enterprise_install": False,
            "view": shown,
            "actions": [self._action(action_id, value, shown.get("blocks"), None)],
        }
        return self.post_interaction(payload, **options)

    def submit_view(
        self,
        view: Json | str,
        values: Mapping[str, Mapping[str, Any]],
        *,
        user: str,
        **options: Unpack[SendOptions],
    ) -> DriverResponse:
        """``user`` submits the modal ``view`` (a view or its ID) with ``values``.

        ``values`` maps block_id → action_id → either Slack's state value object or a plain
        value (a string, or a list for multi-selects) that is wrapped as the element's type.
        With a stand-in, the app's ``response_action`` is applied to the view.
        """
        shown = self._view_obj(view)
        state: Json = {}
        for block_id, actions in values.items():
            state[block_id] = {}
            for action_id, raw in actions.items():
                found = find_element(
                    [b for b in shown.get("blocks", []) if b.get("block_id") == block_id],
                    action_id,
                )
                element = found[1] if found else {"type": "plain_text_input"}
                state[block_id][action_id] = _state_value(element, raw)
        shown["state"] = {"values": state}
        payload: Json = {
            "type": "view_submission",
            "team": self._team(),
            "user": self._user_obj(user),
            "api_app_id": self.api_app_id,
            "token": VERIFICATION_TOKEN,
            "trigger_id": self._trigger_id(),
            "view": shown,
            "response_urls": [],
            "is_enterprise_install": False,
            "enterprise": None,
        }
        result = self.post_interaction(payload, **options)
        if self.slack is not None and result.status == 200 and shown.get("id"):
            answer = result.json if isinstance(result.json, dict) else None
            self.slack.apply_view_response(str(shown["id"]), answer)
        return result

    def close_view(
        self, view: Json | str, *, user: str, **options: Unpack[SendOptions]
    ) -> DriverResponse:
        """``user`` closes the modal: a ``view_closed`` payload (sent only if it asked)."""
        shown = self._view_obj(view)
        payload: Json = {
            "type": "view_closed",
            "team": self._team(),
            "user": self._user_obj(user),
            "api_app_id": self.api_app_id,
            "token": VERIFICATION_TOKEN,
            "view": shown,
            "is_cleared": False,
            "is_enterprise_install": False,
            "enterprise": None,
        }
        if self.slack is not None and shown.get("id"):
            self.slack.close_view(str(shown["id"]))
        return self.post_interaction(payload, **options)

    def message_shortcut(
        self,
        callback_id: str,
        message: Json,
        *,
        user: str,
        channel: str,
        **options: Unpack[SendOptions],
    ) -> DriverResponse:
        """``user`` runs the message shortcut ``callback_id`` on ``message``."""
        message_ts = str(message["ts"])
        payload: Json = {
            "type": "message_action",
            "token": VERIFICATION_TOKEN,
            "action_ts": f"{self.clock():.6f}",
            "team": self._team(),
            "user": self._user_obj(user),
            "channel": {"id": channel, "name": self._channel_name(channel)},
            "is_enterprise_install": False,
            "enterprise": None,
            "callback_id": callback_id,
            "trigger_id": self._trigger_id(),
            "response_url": self._response_url(channel, user),
            "message_ts": message_ts,
            "message": message,
        }
        return self.post_interaction(payload, **options)

    # ------------------------------------------------------------------ events

    def envelope(self, event: Json, *, event_id: str | None = None) -> Json:
        """The ``event_callback`` envelope Slack wraps ``event`` in."""
        return {
            "token": VERIFICATION_TOKEN,
            "team_id": self.team_id,
            "api_app_id": self.api_app_id,
            "event": event,
            "type": "event_callback",
            "event_id": event_id or self._event_id(),
            "event_time": int(self.clock()),
            "authorizations": [
                {
                    "enterprise_id": None,
                    "team_id": self.team_id,
                    "user_id": self.bot_user_id,
                    "is_bot": True,
                    "is_enterprise_install": False,
                }
            ],
            "is_ext_shared_channel": False,
            "event_context": f"4-{secrets.token_urlsafe(24)}",
        }

    def event(
        self,
        event: Json,
        *,
        event_id: str | None = None,
        retry_num: int | None = None,
        retry_reason: str = "http_timeout",
        **options: Unpack[SendOptions],
    ) -> DriverResponse:
        """Delivers ``event`` (the inner event) in an envelope; pass the same ``event_id``
        with ``retry_num`` to play Slack's retry of it.

        With a stand-in, a ``message`` event it does not know yet is added to the channel
        first, since Slack only tells about messages that exist.
        """
        if (
            self.slack is not None
            and event.get("type") == "message"
            and event.get("subtype") in {None, "file_share", "thread_broadcast", "bot_message"}
            and isinstance(event.get("channel"), str)
            and isinstance(event.get("ts"), str)
            and self.slack.message(event["channel"], event["ts"]) is None
        ):
            self.slack.add_message(
                event["channel"],
                user=str(event.get("user", "")),
                text=str(event.get("text", "")),
                ts=event["ts"],
                thread_ts=event.get("thread_ts") if event.get("thread_ts") != event["ts"] else None,
                blocks=event.get("blocks"),
                files=event.get("files"),
                subtype=event.get("subtype"),
            )
        envelope = self.envelope(event, event_id=event_id)
        return self.post_event(envelope, retry_num=retry_num, retry_reason=retry_reason, **options)

    def url_verification(
        self,
        challenge: str = "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P",
        **options: Unpack[SendOptions],
    ) -> DriverResponse:
        body = {"token": VERIFICATION_TOKEN, "challenge": challenge, "type": "url_verification"}
        return self.post_event(body, **options)

    def message(
        self,
        text: str,
        *,
        user: str,
        channel: str,
        thread_ts: str | None = None,
        event_id: str | None = None,
        **options: Unpack[SendOptions],
    ) -> DriverResponse:
        """``user`` posts ``text`` in ``channel`` (or a thread): a ``message`` event."""
        ts = self._ts()
        event: Json = {
            "type": "message",
            "text": text,
            "user": user,
            "ts": ts,
            "client_msg_id": str(uuid.uuid4()),
            "team": self.team_id,
            "channel": channel,
            "event_ts": ts,
            "channel_type": _channel_type(channel),
        }
        if thread_ts:
            event["thread_ts"] = thread_ts
        return self.event(event, event_id=event_id, **options)

    def file_share(
        self,
        name: str,
        content: bytes,
        *,
        user: str,
        channel: str,
        text: str = "",
        mimetype: str | None = None,
        filetype: str | None = None,
        thread_ts: str | None = None,
        event_id: str | None = None,
        retry_num: int | None = None,
        **options: Unpack[SendOptions],
    ) -> DriverResponse:
        """``user`` uploads ``name`` to ``channel`` with ``text``: a ``message`` event of
        subtype ``file_share`` (needs a stand-in, which then holds and serves the file).
        """
        if self.slack is None:
            raise RuntimeError("file_share needs a stand-in Slack to hold the file")
        mime = mimetype or mimetypes.guess_type(name)[0] or "application/octet-stream"
        kind = filetype or _FILETYPES.get(mime) or (name.rsplit(".", 1)[-1].lower() or "binary")
        obj = self.slack.add_file(
            name, content, mime, kind, user, channel, text=text, thread_ts=thread_ts
        )
        share = next(iter(obj["shares"].values()))[channel][0]
        ts = str(share["ts"])
        event: Json = {
            "type": "message",
            "text": text,
            "files": [obj],
            "upload": False,
            "user": user,
            "display_as_bot": False,
            "ts": ts,
            "client_msg_id": str(uuid.uuid4()),
            "channel": channel,
            "subtype": "file_share",
            "event_ts": ts,
            "channel_type": _channel_type(channel),
        }
        if text:
            event["blocks"] = [
                {
                    "type": "rich_text",
                    "block_id": secrets.token_hex(2),
                    "elements": [
                        {"type": "rich_text_section", "elements": [{"type": "text", "text": text}]}
                    ],
                }
            ]
        if thread_ts:
            event["thread_ts"] = thread_ts
        return self.event(event, event_id=event_id, retry_num=retry_num, **options)

    def file_shared(
        self,
        file_id: str,
        *,
        user: str,
        channel: str,
        event_id: str | None = None,
        retry_num: int | None = None,
        **options: Unpack[SendOptions],
    ) -> DriverResponse:
        """The ``file_shared`` event Slack also sends for an upload."""
        event: Json = {
            "type": "file_shared",
            "channel_id": channel,
            "file_id": file_id,
            "user_id": user,
            "file": {"id": file_id},
            "event_ts": self._ts(),
        }
        return self.event(event, event_id=event_id, retry_num=retry_num, **options)

    def app_home_opened(
        self,
        user: str,
        *,
        tab: str = "home",
        event_id: str | None = None,
        **options: Unpack[SendOptions],
    ) -> DriverResponse:
        """``user`` opens the app's Home tab (with its current view, if one was published)."""
        channel = self.slack.dm_channel(user) if self.slack is not None else "D" + user[1:]
        event: Json = {
            "type": "app_home_opened",
            "user": user,
            "channel": channel,
            "tab": tab,
            "event_ts": self._ts(),
        }
        view = self.slack.home_view(user) if self.slack is not None else None
        if view is not None and tab == "home":
            event["view"] = view
        return self.event(event, event_id=event_id, **options)


def _channel_type(channel: str) -> str:
    return {"C": "channel", "G": "group", "D": "im"}.get(channel[:1], "channel")


def _option(element: Json, value: Any) -> Json | None:
    if value is None:
        return None
    options = list(element.get("options", []))
    for group in element.get("option_groups", []):
        options.extend(group.get("options", []))
    for option in options:
        if isinstance(option, dict) and option.get("value") == value:
            return dict(option)
    return {"text": {"type": "plain_text", "text": str(value)}, "value": str(value)}


def _state_value(element: Json, raw: Any) -> Json:
    """Slack's ``view.state.values`` entry for ``raw`` entered into ``element``."""
    kind = str(element.get("type", "plain_text_input"))
    if isinstance(raw, dict):
        return {"type": kind, **raw}
    if kind in {"static_select", "external_select", "radio_buttons"}:
        return {"type": kind, "selected_option": _option(element, raw)}
    if kind in {"multi_static_select", "checkboxes"}:
        values = raw if isinstance(raw, list) else [raw]
        return {"type": kind, "selected_options": [_option(element, v) for v in values]}
    if kind == "conversations_select":
        return {"type": kind, "selected_conversation": raw}
    if kind == "channels_select":
        return {"type": kind, "selected_channel": raw}
    if kind == "users_select":
        return {"type": kind, "selected_user": raw}
    if kind == "datepicker":
        return {"type": kind, "selected_date": raw}
    return {"type": kind, "value": raw}
