"""`whatsapp-bot send` against the stand-in provider, recorded in the database."""

from __future__ import annotations

import io
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from bot.__main__ import main
from bot.sandbox.provider import ProviderStandIn
from bot.store import SendState, Store
from tests.conftest import SECRETS, config_dict

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def provider() -> Iterator[ProviderStandIn]:
    with ProviderStandIn(auto_callbacks=False) as standin:
        yield standin


@pytest.fixture
def config_path(tmp_path: Path, provider: ProviderStandIn) -> Path:
    data = config_dict(
        whatsapp={"api_url": provider.notification_url, "timeout_seconds": 1},
        database_url=f"sqlite:///{tmp_path / 'bot.sqlite3'}",
    )
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def send(config_path: Path, *args: str) -> tuple[int, str, str]:
    out = io.StringIO()
    err = io.StringIO()
    old_err, sys.stderr = sys.stderr, err
    try:
        code = main(["send", "--config", str(config_path), *args], env=SECRETS, out=out)
    finally:
        sys.stderr = old_err
    return code, out.getvalue(), err.getvalue()


def stored(config_path: Path) -> Store:
    data = yaml.safe_load(config_path.read_text())
    return Store.from_url(data["database_url"])


def test_send_posts_the_documented_body_and_prints_the_transaction_id(
    config_path: Path, provider: ProviderStandIn
) -> None:
    code, out, err = send(
        config_path,
        "--to",
        "+573001234567",
        "--image",
        "https://example.com/coffee.jpg",
        "--caption",
        "The best coffee in the town!",
    )
    assert code == 0, err
    (request,) = provider.requests
    assert request.headers["Authorization"] == "Bearer " + SECRETS["WHATSAPP_API_KEY"]
    store = stored(config_path)
    (record,) = store.sends_in_state([SendState.SENT])
    assert request.json == {
        "channel": "WHATSAPP",
        "request": {
            "from": "15550001111",
            "to": "+573001234567",
            "message": "https://example.com/coffee.jpg",
            "type": "image",
            "caption": "The best coffee in the town!",
            "externalId": record.external_id,
        },
        "callbacks": f"https://bot.example.com/whatsapp/callbacks/{record.callback_token}",
    }
    transaction_id = provider.sends[0].transaction_id
    assert out.strip() == transaction_id
    assert record.transaction_id == transaction_id
    assert (record.source, record.sender_alias, record.recipient) == (
        "cli",
        "support",
        "+573001234567",
    )
    assert record.callback_token and record.attempts == 1


def test_contact_name_sender_alias_and_document(
    config_path: Path, provider: ProviderStandIn
) -> None:
    code, _, err = send(
        config_path,
        "--to",
        "acme-ops",
        "--document",
        "https://x.example/i",
        "--file-name",
        "invoice.pdf",
        "--from",
        "sales",
    )
    assert code == 0, err
    body = provider.requests[0].json
    assert body["request"]["from"] == "15550002222"  # type: ignore[index]
    assert body["request"]["to"] == "+573001234567"  # type: ignore[index]
    assert body["request"]["fileName"] == "invoice.pdf"  # type: ignore[index]


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["--to", "12", "--text", "hi"], "not a valid phone number"),
        (["--to", "bob", "--text", "hi"], "not a phone number or a known contact"),
        (["--to", "+573001234567", "--video", "ftp://x/v.mp4"], "http"),
        (["--to", "+573001234567", "--video", "https://x/v.mp4", "--caption", "c"], "caption"),
        (["--to", "+573001234567", "--text", "hi", "--from", "ghost"], "no sender called"),
    ],
)
def test_bad_input_is_named_and_nothing_is_sent(
    config_path: Path, provider: ProviderStandIn, args: list[str], words: str
) -> None:
    code, _, err = send(config_path, *args)
    assert code == 2
    assert words in err
    assert provider.requests == []


def test_a_refused_send_prints_the_reason(config_path: Path, provider: ProviderStandIn) -> None:
    provider.fail_next("400", reason="Number is not on WhatsApp")
    code, out, err = send(config_path, "--to", "+573001234567", "--text", "hi")
    assert code == 3 and out == ""
    assert "Number is not on WhatsApp" in err
    (record,) = stored(config_path).sends_in_state([SendState.FAILED])
    assert record.error == "Number is not on WhatsApp"


def test_a_timeout_is_uncertain_and_not_resent(
    config_path: Path, provider: ProviderStandIn
) -> None:
    provider.fail_next("hang", seconds=3)
    code, _, err = send(config_path, "--to", "+573001234567", "--text", "hi")
    assert code == 4
    assert "Not sure whether the message was sent" in err and "NOT sent again" in err
    assert len(provider.requests) == 1
    assert len(stored(config_path).sends_in_state([SendState.UNKNOWN])) == 1


def test_unauthorized_points_at_the_api_key(config_path: Path, provider: ProviderStandIn) -> None:
    provider.fail_next("401")
    code, _, err = send(config_path, "--to", "+573001234567", "--text", "hi")
    assert code == 3 and "whatsapp.api_key" in err


def test_rate_limit_waits_then_sends_once_more(
    config_path: Path, provider: ProviderStandIn
) -> None:
    provider.fail_next("429", reset="0s")
    code, out, err = send(config_path, "--to", "+573001234567", "--text", "hi")
    assert code == 0, err
    assert "rate limiting" in err
    assert len(provider.requests) == 2 and out.strip() == provider.sends[0].transaction_id


def test_cli_in_a_subprocess_has_no_traceback(tmp_path: Path) -> None:
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "bot",
            "send",
            "--config",
            str(tmp_path / "missing.yaml"),
            "--to",
            "+573001234567",
            "--text",
            "hi",
        ],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
    )
    assert result.returncode == 1
    assert "does not exist" in result.stderr and "Traceback" not in result.stderr
    two = subprocess.run(
        [sys.executable, "-m", "bot", "send", "--to", "1", "--text", "a", "--image", "b"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
    )
    assert two.returncode == 2 and "not allowed with argument" in two.stderr
