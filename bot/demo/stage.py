"""The stage: stand-in Slack, provider and file host on loopback, and `whatsapp-bot serve`."""

from __future__ import annotations

import contextlib
import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import bot
from bot.core import tokens
from bot.demo.samples import COFFEE_JPEG
from bot.sandbox.driver import SlackDriver
from bot.sandbox.files import FileHost
from bot.sandbox.launch import AppProcess, StartError
from bot.sandbox.provider import ProviderStandIn
from bot.sandbox.slack import SlackStandIn

SUPPORT = "C0123SUPPORT"
SALES = "C0SALES"
ALICE = "U0ALICE"
BOB = "U0BOB"
CUSTOMER = "+573001234567"
CUSTOMER_NAME = "Ana Gómez"
# The channel's default recipient, who gets the shared invoice: another customer than the first
# send's, so that the first customer's answer joins the first send's thread (the newest send to
# them from Support).
ACCOUNTS = "+573005551234"
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
        "contacts": {"acme-ops": CUSTOMER, "accounts": ACCOUNTS},
        "channels": {
            SUPPORT: {
                "sender": "support",
                "allowed_senders": ["support", "sales"],
                "file_shares": True,
                "default_recipient": "accounts",
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
        # Its own process group: Ctrl-C reaches only the demo, which then stops the app gracefully.
        self.app = AppProcess(
            config_path=folder / "config.yaml",
            log_path=folder / "serve.log",
            env=self._child_env(),
            cwd=folder,
            own_group=True,
        )
        self.config_path = self.app.config_path
        self.log_path = self.app.log_path
        self.port = self.app.port
        self.url = self.app.url
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
        self.app.save_config(data)
        try:
            self.app.start(timeout)
        except StartError as exc:
            if exc.exit_code is not None:
                raise DemoError(
                    "`whatsapp-bot serve` exited during start-up (exit code "
                    f"{exc.exit_code}); its log below says why."
                ) from None
            raise DemoError(
                f"`whatsapp-bot serve` did not answer GET /healthz with 200 within "
                f"{timeout:.0f} s; its log below says why."
            ) from None

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

    def app_running(self) -> bool:
        return self.app.running()

    def exit_code(self) -> int | None:
        return self.app.exit_code()

    def log_tail(self, lines: int = 25) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return "(no log was written)"
        tail = text.rstrip().splitlines()[-lines:]
        return self.secrets.redact("\n".join(tail)) if tail else "(the log is empty)"

    def stop_app(self) -> None:
        """SIGTERM to the app alone, as a process manager would: gunicorn finishes in-flight
        requests."""
        self.app.stop(group=False)

    def close(self) -> None:
        """Stop the app, then the stand-ins; safe to call twice."""
        self.stop_app()
        for stop in (self.provider.stop, self.slack.stop, self.files.stop):
            with contextlib.suppress(Exception):
                stop()


def inbound_url(stage: Stage, alias: str) -> str:
    """The URL the provider is given for customers' messages to `alias`'s number (what
    `whatsapp-bot inbound-url` prints for this stage's app)."""
    token = tokens.sender_token(stage.secrets.link_secret, alias)
    return f"{stage.url}/whatsapp/inbound/{token}"
