"""The app's services built in this process over a SQLite file, between the stand-in Slack and
the stand-in provider on loopback: real HTTP both ways, no server of the app's own. What the
handlers and use cases are tested against directly."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bot.app import build_services
from bot.core import ids
from bot.sandbox.files import FileHost
from bot.sandbox.images import png
from bot.sandbox.provider import ProviderStandIn
from bot.sandbox.slack import SlackStandIn, find_element
from bot.store import SendRecord, Store
from bot.usecases.services import Services
from bot.whatsapp.payloads import Message, MessageKind
from tests.conftest import SECRETS, make_config
from tests.scenarios.harness import text_of

CHANNEL = "C0123SUPPORT"
USER = "U0ALICE"
OTHER_USER = "U0BOB"
RECIPIENT = "+573001234567"


@dataclass
class Responses:
    """A `respond` callable, as Bolt hands one to a listener: keeps what each call said."""

    calls: list[dict[str, Any]] = field(default_factory=list)

    def __call__(self, **kwargs: Any) -> None:
        self.calls.append(kwargs)

    @property
    def texts(self) -> list[str]:
        return [text_of(call) for call in self.calls]


@dataclass
class Stage:
    services: Services
    slack: SlackStandIn
    provider: ProviderStandIn
    files: FileHost

    @property
    def store(self) -> Store:
        return self.services.store

    def send(self, send_id: str) -> SendRecord:
        send = self.store.get_send(send_id)
        assert send is not None, send_id
        return send

    def draft(
        self,
        body: str = "Your order shipped",
        *,
        user: str = USER,
        channel: str = CHANNEL,
        recipient: str = RECIPIENT,
    ) -> SendRecord:
        """A text draft, as `/whatsapp text <recipient> <body>` makes it."""
        sending = self.services.sending
        return sending.create_draft(
            Message(MessageKind.TEXT, recipient, body),
            sender=sending.resolve_sender(None, channel),
            source="slash",
            team_id=self.slack.team_id,
            channel_id=channel,
            user_id=user,
        )

    def offer(self, name: str = "parcel.png", *, user: str = USER, text: str = "") -> SendRecord:
        """A PNG shared in the channel, and the offer the bot posts in its thread."""
        file = self.slack.add_file(name, png(), "image/png", "png", user, CHANNEL, text=text)
        ts = str(file["shares"]["public"][CHANNEL][0]["ts"])
        event = {
            "type": "message",
            "subtype": "file_share",
            "channel": CHANNEL,
            "user": user,
            "text": text,
            "ts": ts,
            "files": [file],
        }
        self.services.files.on_file_share(
            event, self.slack.team_id, event_id=f"Ev{secrets.token_hex(6)}"
        )
        offers = [m for m in self.slack.thread(CHANNEL, ts) if m.get("bot_id")]
        assert len(offers) == 1, offers
        found = find_element(offers[0].get("blocks"), ids.SEND)
        assert found is not None, offers[0]
        return self.send(str(found[1]["value"]))

    def records(self, channel: str = CHANNEL) -> list[dict[str, Any]]:
        """The bot's messages at the top of the channel."""
        return [m for m in self.slack.channel_messages(channel) if m.get("bot_id")]

    def thread_texts(self, send_id: str) -> list[str]:
        send = self.send(send_id)
        anchor = send.thread_ts or send.message_ts
        assert send.channel_id is not None and anchor is not None, send
        return [text_of(m) for m in self.slack.thread(send.channel_id, anchor)]


def click(send_id: str, *, user: str = USER, channel: str = CHANNEL) -> dict[str, Any]:
    """What Bolt hands a button's listener as `body`: who clicked, and the button's value."""
    return {
        "type": "block_actions",
        "user": {"id": user},
        "channel": {"id": channel},
        "actions": [{"value": send_id}],
    }


@contextmanager
def staged(tmp_path: Path, **config: Any) -> Iterator[Stage]:
    """Services over `tmp_path`/bot.sqlite3; `config` as `make_config` takes it."""
    slack = SlackStandIn(bot_token=SECRETS["SLACK_BOT_TOKEN"])
    provider = ProviderStandIn(api_key=SECRETS["WHATSAPP_API_KEY"], auto_callbacks=False).start()
    files = FileHost()
    services: Services | None = None
    try:
        settings = make_config(
            slack={"api_base_url": slack.api_url, **config.pop("slack", {})},
            whatsapp={
                "api_url": provider.notification_url,
                "timeout_seconds": 1,
                **config.pop("whatsapp", {}),
            },
            media={"allow_private_hosts": True, **config.pop("media", {})},
            database_url=f"sqlite:///{tmp_path / 'bot.sqlite3'}",
            **config,
        )
        services = build_services(settings)
        yield Stage(services=services, slack=slack, provider=provider, files=files)
    finally:
        if services is not None:
            services.close()
        slack.stop()
        provider.stop()
        files.stop()
