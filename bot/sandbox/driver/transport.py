"""Signing and posting requests to the app as Slack does, and the parts all of them share."""

from __future__ import annotations

import hashlib
import hmac
import http.client
import itertools
import json
import secrets
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final, TypedDict, Unpack
from urllib.parse import urlencode, urlsplit

from bot.sandbox.slack import BOT_USER_ID, DEFAULT_APP_ID, SlackStandIn

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


class SignedPoster:
    """Signs and posts to the app at ``app_url`` as Slack would; the parts every request shares."""

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
