"""The real app (`whatsapp-bot serve` on gunicorn, in a subprocess) between the stand-in Slack
and the stand-in provider, all on loopback; tests talk to it only over HTTP."""

from __future__ import annotations

import io
import os
import signal
import socket
import subprocess
from pathlib import Path
from typing import Any

import yaml
from PIL import Image

from bot.sandbox.driver import SlackDriver
from bot.sandbox.files import FileHost
from bot.sandbox.provider import ProviderStandIn
from bot.sandbox.serving import serve_command, wait_healthy
from bot.sandbox.slack import SlackStandIn
from bot.store import SendRecord, Store
from tests.conftest import SECRETS, config_dict

ROOT = Path(__file__).resolve().parents[2]
CHANNEL = "C0123SUPPORT"
USER = "U0ALICE"
OTHER_USER = "U0BOB"


def jpeg() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (40, 30), (120, 80, 40)).save(out, format="JPEG")
    return out.getvalue()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Harness:
    """One app instance with its own database, Slack and provider stand-ins."""

    def __init__(
        self,
        tmp_path: Path,
        *,
        database_url: str | None = None,
        request_threads: int = 8,
        **config: Any,
    ) -> None:
        self.tmp_path = tmp_path
        self.request_threads = request_threads
        self.slack = SlackStandIn(bot_token=SECRETS["SLACK_BOT_TOKEN"])
        self.provider = ProviderStandIn(api_key=SECRETS["WHATSAPP_API_KEY"]).start()
        self.files = FileHost()
        self.coffee_url = self.files.add("coffee.jpg", jpeg(), "image/jpeg")
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.database_url = database_url or f"sqlite:///{tmp_path / 'bot.sqlite3'}"
        data = config_dict(
            slack={"api_base_url": self.slack.api_url},
            whatsapp={"api_url": self.provider.notification_url, "timeout_seconds": 2},
            public_base_url=self.url,
            database_url=self.database_url,
            **{"media": {"allow_private_hosts": True}, **config},
        )
        self.config_path = tmp_path / "config.yaml"
        self.config_path.write_text(yaml.safe_dump(data))
        self.log_path = tmp_path / "serve.log"
        self.driver = SlackDriver(self.url, SECRETS["SLACK_SIGNING_SECRET"], slack=self.slack)
        self.process: subprocess.Popen[bytes] | None = None
        self._store: Store | None = None

    def start(self) -> Harness:
        log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            serve_command(self.config_path, self.port, threads=self.request_threads),
            cwd=ROOT,
            env={**os.environ, **SECRETS},
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        self._wait_healthy()
        return self

    def _wait_healthy(self) -> None:
        assert self.process is not None
        wait_healthy(self.url, self.process, self.log)

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(sig)
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)
        self.process = None

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
        return self.log_path.read_text(errors="replace")

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


def text_of(message: dict[str, Any]) -> str:
    """The text a person reads: the blocks' text, else the fallback text."""
    parts: list[str] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if node.get("type") in ("mrkdwn", "plain_text") and isinstance(node.get("text"), str):
                parts.append(node["text"])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk(message.get("blocks") or [])
    return "\n".join(parts) if parts else str(message.get("text", ""))


def buttons(message: dict[str, Any]) -> list[str]:
    found: list[str] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if node.get("type") == "button":
                found.append(node["text"]["text"])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk(message.get("blocks") or [])
    return found
