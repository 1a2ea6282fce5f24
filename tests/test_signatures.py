"""Slack's documented request-signing example, against the app's own verification.

The stand-in Slack answers the `auth.test` Bolt makes before it dispatches a verified request;
a refused request never gets that far.
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from typing import Any

import pytest
from slack_sdk.signature import Clock

from bot.app import create_app
from bot.sandbox.slack import SlackStandIn
from bot.web import WebApp
from tests.conftest import make_config

# From Slack's "Verifying requests from Slack" page.
SECRET = "8f742231b10e8888abcd99yyyzzz85a5"
TIMESTAMP = "1531420618"
BODY = (
    "token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V"
    "&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text="
    "&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmib"
    "IGlgcZRskXaIFfN&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c"
)
SIGNATURE = "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503"


class FrozenClock(Clock):
    def now(self) -> float:
        return float(TIMESTAMP) + 10


def answer(app: Any, body: str, signature: str, timestamp: str = TIMESTAMP) -> tuple[int, bytes]:
    """The status and body the app answers a signed POST /slack/events with."""
    environ = {
        "REQUEST_METHOD": "POST",
        "PATH_INFO": "/slack/events",
        "QUERY_STRING": "",
        "CONTENT_TYPE": "application/x-www-form-urlencoded",
        "CONTENT_LENGTH": str(len(body.encode())),
        "HTTP_X_SLACK_REQUEST_TIMESTAMP": timestamp,
        "HTTP_X_SLACK_SIGNATURE": signature,
        "wsgi.input": io.BytesIO(body.encode()),
    }
    status: list[str] = []
    body_parts = app(environ, lambda s, h: status.append(s))
    return int(status[0].split()[0]), b"".join(body_parts)


def call(app: Any, body: str, signature: str, timestamp: str = TIMESTAMP) -> int:
    return answer(app, body, signature, timestamp)[0]


@pytest.fixture
def slack() -> Iterator[SlackStandIn]:
    with SlackStandIn(bot_token="xoxb-x") as standin:
        yield standin


@pytest.fixture
def app(monkeypatch: pytest.MonkeyPatch, slack: SlackStandIn) -> Iterator[WebApp]:
    monkeypatch.setattr(Clock, "now", FrozenClock.now)
    config = make_config(channels={})
    config = type(config)(
        **{
            **config.__dict__,
            "slack": type(config.slack)(
                bot_token="xoxb-x", signing_secret=SECRET, api_base_url=slack.api_url
            ),
        }
    )
    web = create_app(config, sweep_interval=None)
    yield web
    web.services.close()


def test_the_app_checks_the_documented_vector(app: WebApp, slack: SlackStandIn) -> None:
    assert call(app, BODY.replace("roadrunner", "roadrunnes"), SIGNATURE) == 401
    assert call(app, BODY, SIGNATURE[:-1] + "0") == 401
    assert slack.calls == []  # refused before Bolt, which asks `auth.test` first
    # Verified, so Bolt dispatches it: the documented command is `/webhook-collect`, not
    # `/whatsapp`, and Bolt answers a command nobody listens to with 404.
    status, body = answer(app, BODY, SIGNATURE)
    assert status == 404
    assert json.loads(body) == {"error": "unhandled request"}
    assert [made.method for made in slack.calls] == ["auth.test"]


@pytest.mark.parametrize(
    ("timestamp", "signature"),
    [
        ("9" * 5000, SIGNATURE),  # past Python's int-string limit
        ("1" + "0" * 4400, SIGNATURE),
        (TIMESTAMP, "v0=" + "é" * 64),  # not ASCII: hmac.compare_digest raises on it
        (TIMESTAMP, SIGNATURE[:-1] + "\u00ff"),
        (TIMESTAMP, "v0=" + "a" * 5000),
        (TIMESTAMP, SIGNATURE.upper()),
        ("١٥٣١٤٢٠٦١٨", SIGNATURE),  # digits, but not ASCII ones
        ("-1531420618", SIGNATURE),
        (" " + TIMESTAMP, SIGNATURE),
        (TIMESTAMP, ""),
        ("", SIGNATURE),
    ],
)
def test_hostile_signature_headers_are_401_without_a_traceback(
    app: WebApp, caplog: pytest.LogCaptureFixture, timestamp: str, signature: str
) -> None:
    caplog.set_level("WARNING")
    assert call(app, BODY, signature, timestamp) == 401
    assert not [r for r in caplog.records if r.levelname in ("ERROR", "CRITICAL") or r.exc_info]
