"""The deployment files say what the code does: the unit's command parses as `serve` takes it."""

from __future__ import annotations

import configparser
import shlex
from pathlib import Path

from bot.__main__ import build_parser
from bot.core.config import WhatsAppConfig

ROOT = Path(__file__).resolve().parents[1]


def unit() -> configparser.ConfigParser:
    parser = configparser.ConfigParser(interpolation=None, strict=False)
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read(ROOT / "deploy" / "whatsapp-bot.service")
    return parser


def test_the_unit_starts_serve_behind_the_proxy_s_upstream() -> None:
    command = shlex.split(unit()["Service"]["ExecStart"])
    assert command[0].endswith("/whatsapp-bot")
    args = build_parser().parse_args(command[1:])
    assert (args.command, args.host, args.port) == ("serve", "127.0.0.1", 3000)
    assert args.log_format == "json"
    upstream = (ROOT / "deploy" / "nginx.conf").read_text()
    assert f"server {args.host}:{args.port}" in upstream


def test_systemd_waits_longer_than_a_graceful_stop_with_the_default_timeouts() -> None:
    # A graceful stop lets a provider call in flight finish: at most timeout_seconds + 5 s.
    stop = int(unit()["Service"]["TimeoutStopSec"])
    assert unit()["Service"]["KillSignal"] == "SIGTERM"
    assert stop > WhatsAppConfig.timeout_seconds + 5
