"""Events API deliveries: the envelope, retries, messages, file shares, the Home tab."""

from __future__ import annotations

import mimetypes
import secrets
import uuid
from typing import Unpack

from bot.sandbox.driver.transport import (
    _FILETYPES,
    VERIFICATION_TOKEN,
    DriverResponse,
    Json,
    SendOptions,
    SignedPoster,
)


class Events(SignedPoster):
    """Events as Slack delivers them, in their envelope."""

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
