"""The real app (`whatsapp-bot serve` on gunicorn, in a subprocess) between the stand-in Slack
and the stand-in provider, all on loopback; tests talk to it only over HTTP."""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from bot.core import ids
from bot.sandbox.driver import SlackDriver
from bot.sandbox.files import FileHost
from bot.sandbox.images import jpeg
from bot.sandbox.launch import AppProcess
from bot.sandbox.provider import ProviderStandIn
from bot.sandbox.slack import SlackStandIn
from bot.store import SendRecord, Store
from tests.conftest import SECRETS, config_dict

ROOT = Path(__file__).resolve().parents[2]
CHANNEL = "C0123SUPPORT"
USER = "U0ALICE"
OTHER_USER = "U0BOB"


class Harness:
    """One app instance with its own database, Slack and provider stand-ins."""

    def __init__(
        self,
        tmp_path: Path,
        *,
        database_url: str | None = None,
        request_threads: int = 8,
        workers: int = 1,
        **config: Any,
    ) -> None:
        self.tmp_path = tmp_path
        self.slack = SlackStandIn(bot_token=SECRETS["SLACK_BOT_TOKEN"])
        self.provider = ProviderStandIn(api_key=SECRETS["WHATSAPP_API_KEY"]).start()
        self.files = FileHost()
        self.coffee_url = self.files.add("coffee.jpg", jpeg(), "image/jpeg")
        self.app = AppProcess(
            config_path=tmp_path / "config.yaml",
            log_path=tmp_path / "serve.log",
            env={**os.environ, **SECRETS},
            cwd=ROOT,
            workers=workers,
            threads=request_threads,
        )
        self.port = self.app.port
        self.url = self.app.url
        self.database_url = database_url or f"sqlite:///{tmp_path / 'bot.sqlite3'}"
        whatsapp = {"timeout_seconds": 2, **config.pop("whatsapp", {})}
        data = config_dict(
            whatsapp=whatsapp,
            **{"media": {"allow_private_hosts": True}, **config},
        )
        self.app.configure(
            data,
            slack_api_url=self.slack.api_url,
            provider_url=self.provider.notification_url,
            database_url=self.database_url,
        )
        self.config_path = self.app.config_path
        self.log_path = self.app.log_path
        self.driver = SlackDriver(self.url, SECRETS["SLACK_SIGNING_SECRET"], slack=self.slack)
        self._store: Store | None = None

    @property
    def process(self) -> subprocess.Popen[bytes] | None:
        return self.app.process

    def start(self) -> Harness:
        self.app.start()
        return self

    def stop(self, sig: int = signal.SIGTERM) -> None:
        self.app.stop(sig)

    def restart(self) -> None:
        self.stop()
        self.start()

    def close(self) -> None:
        self.stop()
        if self._store is not None:
            self._store.close()
        self.slack.stop()
        self.provider.stop()
        self.files.stop()

    def log(self) -> str:
        return self.app.log()

    # reading what happened

    @property
    def store(self) -> Store:
        if self._store is None:
            self._store = Store.from_url(self.database_url)
        return self._store

    def only_send(self) -> SendRecord:
        from bot.store import sends

        with self.store.engine.connect() as conn:
            rows = conn.execute(sends.select()).mappings().all()
        assert len(rows) == 1, rows
        return SendRecord.from_row(rows[0])

    def latest_ephemeral(self, user: str = USER, channel: str = CHANNEL) -> dict[str, Any]:
        found = self.slack.ephemerals(channel=channel, user=user)
        assert found, "no ephemeral message"
        return found[-1]

    def wait_ephemeral(
        self, contains: str, user: str = USER, channel: str = CHANNEL
    ) -> dict[str, Any]:
        def match() -> dict[str, Any] | None:
            for message in reversed(self.slack.ephemerals(channel=channel, user=user)):
                if contains in text_of(message):
                    return message
            return None

        try:
            found: dict[str, Any] = self.slack.wait_for(match, timeout=10)
        except TimeoutError:
            shown = [text_of(m) for m in self.slack.ephemerals(channel=channel, user=user)]
            raise AssertionError(f"no ephemeral containing {contains!r}; have {shown}") from None
        return found

    def said(self, words: str) -> int:
        """How many answers to interactions (response_url posts) contain `words`."""
        return sum(words in text_of(post.body or {}) for post in self.slack.response_posts)

    def wait_said(self, words: str, count: int = 1, timeout: float = 10) -> None:
        """Until `count` answers to interactions contain `words`: a click's handler says how
        it ended last, so each one counted has finished."""
        try:
            self.slack.wait_for(lambda: self.said(words) >= count, timeout=timeout)
        except TimeoutError:
            texts = [text_of(post.body or {}) for post in self.slack.response_posts]
            raise AssertionError(f"{count} answers saying {words!r} never came: {texts}") from None

    def wait_shown(self, send_id: str | None = None, timeout: float = 15) -> SendRecord:
        """Until Slack shows the send's latest change (not dirty, nobody rendering it): every
        render pass the send's changes called for has ended."""
        wanted = send_id or self.only_send().id

        def shown() -> SendRecord | None:
            send = self.store.get_send(wanted)
            return send if send is not None and not send.dirty and not send.render_owner else None

        try:
            found: SendRecord = self.slack.wait_for(shown, timeout=timeout)
        except TimeoutError:
            raise AssertionError(
                f"send {wanted} is still not shown as stored: {self.store.get_send(wanted)}"
            ) from None
        return found

    def marker(self, user: str = USER, channel: str = CHANNEL) -> None:
        """A harmless `/whatsapp status` through the slash path, and its answer: the app has
        taken up what was sent to it before."""
        key = f"marker-{secrets.token_hex(4)}"
        self.driver.slash_command(f"status {key}", user=user, channel=channel)
        self.wait_ephemeral(f"No send has the transactionId `{key}`", user=user, channel=channel)

    def wait_recipient_modal(self) -> dict[str, Any]:
        """The recipient modal, once the app has turned its loading view into it."""

        def ready() -> dict[str, Any] | None:
            for view in self.slack.views.values():
                if any(b.get("block_id") == ids.RECIPIENT_BLOCK for b in view.get("blocks", [])):
                    return dict(view)
            return None

        found: dict[str, Any] = self.slack.wait_for(ready, timeout=10)
        return found

    def channel_record(self, channel: str = CHANNEL) -> dict[str, Any]:
        messages = [m for m in self.slack.channel_messages(channel) if m.get("bot_id")]
        assert len(messages) == 1, messages
        return messages[0]

    def thread_texts(self, channel: str = CHANNEL) -> list[str]:
        record = self.channel_record(channel)
        return [text_of(m) for m in self.slack.thread(channel, record["ts"])]

    def wait_thread(self, contains: str, channel: str = CHANNEL, timeout: float = 15) -> list[str]:
        def match() -> list[str] | None:
            records = [m for m in self.slack.channel_messages(channel) if m.get("bot_id")]
            if not records:
                return None
            texts = [text_of(m) for m in self.slack.thread(channel, records[0]["ts"])]
            return texts if any(contains in t for t in texts) else None

        try:
            found: list[str] = self.slack.wait_for(match, timeout=timeout)
        except TimeoutError:
            raise AssertionError(
                f"thread never showed {contains!r}; log:\n{self.log()[-3000:]}"
            ) from None
        return found


def objects(node: Any) -> Iterator[dict[str, Any]]:
    """Every JSON object in `node` (a message's blocks, say), each before what it holds."""
    if isinstance(node, dict):
        yield node
        for value in node.values():
            yield from objects(value)
    elif isinstance(node, list):
        for item in node:
            yield from objects(item)


def text_of(message: dict[str, Any]) -> str:
    """The text a person reads: the blocks' text, else the fallback text."""
    parts = [
        node["text"]
        for node in objects(message.get("blocks") or [])
        if node.get("type") in ("mrkdwn", "plain_text") and isinstance(node.get("text"), str)
    ]
    return "\n".join(parts) if parts else str(message.get("text", ""))


def buttons(message: dict[str, Any]) -> list[str]:
    return [
        node["text"]["text"]
        for node in objects(message.get("blocks") or [])
        if node.get("type") == "button"
    ]
