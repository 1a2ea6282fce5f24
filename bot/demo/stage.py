"""The stage: stand-in Slack, provider and file host on loopback, and `whatsapp-bot serve`."""

from __future__ import annotations

import contextlib
import http.client
import os
import secrets
import signal
import socket
import subprocess
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

import bot
from bot.demo.samples import COFFEE_JPEG
from bot.sandbox.driver import SlackDriver
from bot.sandbox.files import FileHost
from bot.sandbox.provider import ProviderStandIn
from bot.sandbox.serving import serve_command
from bot.sandbox.slack import SlackStandIn

SUPPORT = "C0123SUPPORT"
SALES = "C0SALES"
ALICE = "U0ALICE"
BOB = "U0BOB"
CUSTOMER = "+573001234567"
BLOCKED_CUSTOMER = "+573009876543"

# Seconds between the provider's status callbacks: slow enough to see the thread being edited.
CALLBACK_DELAY = 0.3
_PROXY_VARIABLES = frozenset({"http_proxy", "https_proxy", "all_proxy", "no_proxy"})


class DemoError(Exception):
    """What went wrong, in one paragraph for the person running the demo."""


@dataclass(frozen=True)
class Secrets:
    """Made up for one run; they reach the app only through its environment."""

    slack_bot_token: str
    slack_signing_secret: str
    whatsapp_api_key: str
    link_secret: str

    @classmethod
    def made_up(cls) -> Secrets:
        return cls(
            slack_bot_token=f"xoxb-demo-{secrets.token_hex(16)}",
            slack_signing_secret=secrets.token_hex(16),
            whatsapp_api_key=secrets.token_urlsafe(32),
            link_secret=secrets.token_hex(32),
        )

    def env(self) -> dict[str, str]:
        return {
            "SLACK_BOT_TOKEN": self.slack_bot_token,
            "SLACK_SIGNING_SECRET": self.slack_signing_secret,
            "WHATSAPP_API_KEY": self.whatsapp_api_key,
            "WHATSAPP_BOT_SECRET": self.link_secret,
        }

    def redact(self, text: str) -> str:
        """`text` with every secret value replaced, as a last line of defence for output."""
        for value in self.env().values():
            text = text.replace(value, "[redacted]")
        return text


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def config_for(
    *, slack: SlackStandIn, provider: ProviderStandIn, app_url: str, folder: Path
) -> dict[str, Any]:
    """The app's config: every secret a `${VAR}` reference, the database in `folder`."""
    return {
        "slack": {
            "bot_token": "${SLACK_BOT_TOKEN}",
            "signing_secret": "${SLACK_SIGNING_SECRET}",
            "api_base_url": slack.api_url,
        },
        "whatsapp": {
            "api_url": provider.notification_url,
            "api_key": "${WHATSAPP_API_KEY}",
            "timeout_seconds": 5,
        },
        "public_base_url": app_url,
        "database_url": f"sqlite:///{folder / 'whatsapp-bot.sqlite3'}",
        "senders": {
            "support": {"number": "15550001111", "label": "Support"},
            "sales": {"number": "15550002222", "label": "Sales"},
        },
        "default_sender": "support",
        "contacts": {"acme-ops": CUSTOMER},
        "channels": {
            SUPPORT: {
                "sender": "support",
                "allowed_senders": ["support", "sales"],
                "file_shares": True,
                "default_recipient": CUSTOMER,
            },
            SALES: {"sender": "sales"},
        },
        "access": {"allowed_users": []},
        # The file host is on loopback, which a production config refuses.
        "media": {
            "link_secret": "${WHATSAPP_BOT_SECRET}",
            "link_ttl_hours": 24,
            "allow_private_hosts": True,
        },
    }


class Stage:
    """Everything the demo runs; `close` stops it all, whatever was started."""

    def __init__(self, *, env: Mapping[str, str], secrets: Secrets, folder: Path) -> None:
        self.env = env
        self.secrets = secrets
        self.folder = folder
        self.config_path = folder / "config.yaml"
        self.log_path = folder / "serve.log"
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.process: subprocess.Popen[bytes] | None = None
        self.slack = SlackStandIn(bot_token=secrets.slack_bot_token, team_name="Acme")
        self.provider = ProviderStandIn(
            api_key=secrets.whatsapp_api_key, callback_delay=CALLBACK_DELAY, fetch_media=True
        )
        self.files = FileHost()
        self.coffee_url = self.files.add("coffee.jpg", COFFEE_JPEG, "image/jpeg")
        self.driver = SlackDriver(self.url, secrets.slack_signing_secret, slack=self.slack)
        self.slack.add_user(ALICE, "alice", real_name="Alice Moreno")
        self.slack.add_user(BOB, "bob", real_name="Bob Ortiz")
        self.slack.add_channel(SUPPORT, "support")
        self.slack.add_channel(SALES, "sales")

    def start(self, *, timeout: float) -> None:
        """Start the provider and `whatsapp-bot serve`, and wait until /healthz answers 200."""
        self.provider.start()
        data = config_for(
            slack=self.slack, provider=self.provider, app_url=self.url, folder=self.folder
        )
        self.config_path.write_text(yaml.safe_dump(data, sort_keys=False))
        command = serve_command(self.config_path, self.port)
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                command,
                cwd=self.folder,
                env=self._child_env(),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                # Ctrl-C reaches only the demo, which then stops the app gracefully.
                start_new_session=True,
            )
        self._wait_healthy(timeout)

    def _child_env(self) -> dict[str, str]:
        """The caller's environment without proxies (all traffic is loopback), plus the secrets."""
        env = {k: v for k, v in self.env.items() if k.lower() not in _PROXY_VARIABLES}
        package_root = str(Path(bot.__file__).resolve().parents[1])
        path = [package_root, *filter(None, [env.get("PYTHONPATH")])]
        env.update(self.secrets.env())
        env.update(
            {
                "NO_PROXY": "127.0.0.1,localhost",
                "no_proxy": "127.0.0.1,localhost",
                "PYTHONPATH": os.pathsep.join(path),
                "PYTHONUNBUFFERED": "1",
            }
        )
        return env

    def _wait_healthy(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while True:
            if not self.app_running():
                raise DemoError(
                    "`whatsapp-bot serve` exited during start-up (exit code "
                    f"{self.exit_code()}); its log below says why."
                )
            if self.health() == 200:
                return
            if time.monotonic() >= deadline:
                raise DemoError(
                    f"`whatsapp-bot serve` did not answer GET /healthz with 200 within "
                    f"{timeout:.0f} s; its log below says why."
                )
            time.sleep(0.05)

    def health(self) -> int | None:
        """The status of GET /healthz, or None when the app does not answer."""
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=2)
        try:
            conn.request("GET", "/healthz")
            response = conn.getresponse()
            response.read()
            return response.status
        except OSError:
            return None
        finally:
            conn.close()

    def app_running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def exit_code(self) -> int | None:
        return None if self.process is None else self.process.poll()

    def log_tail(self, lines: int = 25) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return "(no log was written)"
        tail = text.rstrip().splitlines()[-lines:]
        return self.secrets.redact("\n".join(tail)) if tail else "(the log is empty)"

    def stop_app(self) -> None:
        """SIGTERM, as a process manager would: gunicorn finishes in-flight requests."""
        process = self.process
        if process is None:
            return
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(5)
        self.process = None

    def close(self) -> None:
        """Stop the app, then the stand-ins; safe to call twice."""
        self.stop_app()
        for stop in (self.provider.stop, self.slack.stop, self.files.stop):
            with contextlib.suppress(Exception):
                stop()
