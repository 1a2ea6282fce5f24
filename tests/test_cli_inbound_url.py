"""`whatsapp-bot inbound-url`: each sender's URL for customer messages, one a line, and the URL
taken by the app; an unknown sender or a bad config is one clear paragraph."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from bot.__main__ import main
from bot.app import create_app
from bot.core import tokens
from bot.sandbox.slack import SlackStandIn
from bot.store import Store, inbound_messages
from tests.conftest import SECRETS, config_dict
from tests.test_web import call

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def config_path(tmp_path: Path) -> Path:
    path = tmp_path / "config.yaml"
    data = config_dict(database_url=f"sqlite:///{tmp_path / 'bot.sqlite3'}")
    path.write_text(yaml.safe_dump(data))
    return path


def inbound_url(config_path: Path, *args: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    old_err, sys.stderr = sys.stderr, err
    try:
        code = main(["inbound-url", "--config", str(config_path), *args], env=SECRETS, out=out)
    finally:
        sys.stderr = old_err
    return code, out.getvalue(), err.getvalue()


def lines(out: str) -> dict[str, str]:
    found = dict(line.split(" ") for line in out.splitlines())
    assert len(found) == len(out.splitlines())
    return found


def test_one_line_per_sender_with_its_signed_url(config_path: Path) -> None:
    code, out, err = inbound_url(config_path)
    assert (code, err) == (0, "")
    urls = lines(out)
    senders = yaml.safe_load(config_path.read_text())["senders"]
    assert list(urls) == list(senders)  # in the config's order
    secret = SECRETS["WHATSAPP_BOT_SECRET"]
    for alias, url in urls.items():
        prefix = "https://bot.example.com/whatsapp/inbound/"
        assert url.startswith(prefix)
        token = url.removeprefix(prefix)
        assert tokens.sender_of_token(secret, token) == alias
        assert tokens.sender_of_token("another-secret-0123456789abcdef", token) is None
    assert urls["support"] != urls["sales"]
    # the same on every run: the URL given to the provider keeps working
    assert inbound_url(config_path)[1] == out


def test_sender_prints_only_that_one(config_path: Path) -> None:
    code, out, err = inbound_url(config_path, "--sender", "sales")
    assert (code, err) == (0, "")
    assert list(lines(out)) == ["sales"]
    every = inbound_url(config_path)[1].splitlines(keepends=True)
    assert [line for line in every if line.startswith("sales ")] == [out]


def test_an_unknown_sender_names_the_known_ones(config_path: Path) -> None:
    code, out, err = inbound_url(config_path, "--sender", "ghost")
    assert (code, out) == (2, "")
    assert err.startswith("Error: There is no sender called `ghost`")
    assert "Senders: sales, support." in err and "--sender" in err
    assert err.count("\n") == 1 and "Traceback" not in err


def test_a_missing_config_is_one_paragraph(tmp_path: Path) -> None:
    code, out, err = inbound_url(tmp_path / "missing.yaml")
    assert (code, out) == (1, "")
    assert "does not exist" in err and "check-config" in err and "Traceback" not in err


def test_a_config_without_the_link_secret_is_named(tmp_path: Path) -> None:
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(config_dict()))
    out, err = io.StringIO(), io.StringIO()
    old_err, sys.stderr = sys.stderr, err
    try:
        env = {k: v for k, v in SECRETS.items() if k != "WHATSAPP_BOT_SECRET"}
        code = main(["inbound-url", "--config", str(path)], env=env, out=out)
    finally:
        sys.stderr = old_err
    assert (code, out.getvalue()) == (1, "")
    assert "WHATSAPP_BOT_SECRET" in err.getvalue() and "Traceback" not in err.getvalue()


def test_in_a_subprocess_without_a_traceback(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "bot", "inbound-url", "--config", str(tmp_path / "nope.yaml")],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
    )
    assert result.returncode == 1
    assert "does not exist" in result.stderr and "Traceback" not in result.stderr


@pytest.fixture
def slack() -> Iterator[SlackStandIn]:
    with SlackStandIn(bot_token=SECRETS["SLACK_BOT_TOKEN"]) as standin:
        yield standin


def test_the_printed_url_is_the_one_the_app_takes(tmp_path: Path, slack: SlackStandIn) -> None:
    """Each printed URL's path, posted to the app, stores the message for its sender; the same
    path with the other sender's signature is refused."""
    path = tmp_path / "config.yaml"
    data: dict[str, Any] = config_dict(
        slack={"api_base_url": slack.api_url},
        database_url=f"sqlite:///{tmp_path / 'bot.sqlite3'}",
    )
    path.write_text(yaml.safe_dump(data))
    code, out, _ = inbound_url(path)
    assert code == 0
    urls = lines(out)
    from bot.core.config import parse_config

    app = create_app(parse_config(data, SECRETS), sweep_interval=None)
    try:
        for n, (alias, url) in enumerate(urls.items()):
            route = url.removeprefix(data["public_base_url"])
            body = json.dumps({"id": f"wamid.{n}", "user": "573001234567", "text": "hola"})
            answer = call(
                app, "POST", route, body.encode(), headers={"Content-Type": "application/json"}
            )
            assert answer.code == 200, (alias, answer.body)
        support, sales = urls["support"], urls["sales"]
        forged = support.rsplit(".", 1)[0] + "." + sales.rsplit(".", 1)[1]
        route = forged.removeprefix(data["public_base_url"])
        assert call(app, "POST", route, b'{"user": "573001234567", "text": "x"}').code == 404
    finally:
        app.services.close()
    store = Store.from_url(data["database_url"])
    try:
        with store.engine.connect() as conn:
            rows = conn.execute(inbound_messages.select()).mappings().all()
        assert sorted(r["sender_alias"] for r in rows) == ["sales", "support"]
    finally:
        store.close()
