"""The WSGI application, called in this process with hand-built environs: routes, methods,
body limits, HEAD, and /healthz."""

from __future__ import annotations

import hashlib
import io
import json
import logging
import secrets
import shutil
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from bot.app import create_app
from bot.core import tokens
from bot.media import links
from bot.sandbox.driver import sign
from bot.sandbox.launch import wait_until
from bot.sandbox.slack import SlackStandIn
from bot.store import utcnow
from bot.usecases.sending import CALLBACK_PURPOSE, PROVIDER_AUTH_FLAG
from bot.web import MAX_CALLBACK_BODY, MAX_SLACK_BODY, WebApp
from bot.whatsapp.payloads import Message, MessageKind
from tests.conftest import SECRETS, make_config

NOT_FOUND = {"error": "not found"}


class Body(io.BytesIO):
    """A request body that counts what the app read of it."""

    def __init__(self, data: bytes = b"") -> None:
        super().__init__(data)
        self.taken = 0

    def read(self, size: int | None = -1) -> bytes:
        data = super().read(size)
        self.taken += len(data)
        return data


class BrokenBody(io.BytesIO):
    """A body whose connection broke half-way."""

    def read(self, size: int | None = -1) -> bytes:
        raise ConnectionResetError("reset by peer")


@dataclass
class Answer:
    status: str
    headers: list[tuple[str, str]]
    body: bytes

    @property
    def code(self) -> int:
        return int(self.status.split()[0])

    def header(self, name: str) -> list[str]:
        return [value for key, value in self.headers if key.lower() == name.lower()]

    def json(self) -> Any:
        return json.loads(self.body)


def call(
    app: WebApp,
    method: str,
    path: str,
    body: bytes | io.BytesIO = b"",
    *,
    length: str | None = "",
    headers: dict[str, str] | None = None,
) -> Answer:
    """One request; `length` is the Content-Length sent ("" for the body's own, None for
    none at all)."""
    stream = body if isinstance(body, io.BytesIO) else Body(body)
    environ: dict[str, Any] = {
        "REQUEST_METHOD": method,
        "PATH_INFO": path,
        "QUERY_STRING": "",
        "wsgi.input": stream,
    }
    if length is not None:
        environ["CONTENT_LENGTH"] = length or str(len(stream.getvalue()))
    for name, value in (headers or {}).items():
        key = name.upper().replace("-", "_")
        environ[key if key == "CONTENT_TYPE" else f"HTTP_{key}"] = value
    started: list[tuple[str, list[tuple[str, str]]]] = []
    chunks = app(environ, lambda status, headers: started.append((status, headers)))
    (status, answer_headers), *more = started
    assert more == []
    return Answer(status, answer_headers, b"".join(chunks))


@pytest.fixture
def slack() -> Iterator[SlackStandIn]:
    with SlackStandIn(bot_token=SECRETS["SLACK_BOT_TOKEN"]) as standin:
        yield standin


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    """Where the database lives (removed whole to break it)."""
    path = tmp_path / "db"
    path.mkdir()
    return path


@pytest.fixture
def app(folder: Path, slack: SlackStandIn) -> Iterator[WebApp]:
    config = make_config(
        slack={"api_base_url": slack.api_url},
        database_url=f"sqlite:///{folder / 'bot.sqlite3'}",
    )
    web = create_app(config, sweep_interval=None)
    yield web
    web.services.close()


# routes and methods


@pytest.mark.parametrize(
    "path", ["/", "/nope", "/slack/events/more", "/healthz/", "/mediafile", "/whatsapp"]
)
def test_a_path_nobody_serves_is_404(app: WebApp, path: str) -> None:
    for method in ("GET", "POST"):
        answer = call(app, method, path)
        assert answer.code == 404 and answer.status == "404 Not Found"
        assert answer.json() == NOT_FOUND
        assert answer.header("Content-Type") == ["application/json"]
        assert answer.header("Content-Length") == [str(len(answer.body))]


@pytest.mark.parametrize(
    ("method", "path", "allowed"),
    [
        ("GET", "/slack/events", "POST"),
        ("PUT", "/slack/events", "POST"),
        ("GET", "/whatsapp/callbacks/some-token", "POST"),
        ("POST", "/healthz", "GET, HEAD"),
        ("DELETE", "/media/some-token", "GET, HEAD"),
        ("POST", "/media/some-token", "GET, HEAD"),
    ],
)
def test_a_method_a_route_does_not_take_is_405_with_allow(
    app: WebApp, method: str, path: str, allowed: str
) -> None:
    answer = call(app, method, path, b"{}")
    assert answer.status == "405 Method Not Allowed"
    assert answer.header("Allow") == [allowed]
    assert answer.json() == {"error": f"use {allowed.replace(', ', ' or ')}"}


# bodies


@pytest.mark.parametrize(
    ("path", "limit"),
    [("/slack/events", MAX_SLACK_BODY), ("/whatsapp/callbacks/some-token", MAX_CALLBACK_BODY)],
)
def test_a_declared_length_over_the_limit_is_413_before_reading(
    app: WebApp, path: str, limit: int
) -> None:
    body = Body(b"{" * 100)
    answer = call(app, "POST", path, body, length=str(limit + 1))
    assert answer.status == "413 Payload Too Large"
    assert answer.json() == {"error": "request body too large"}
    assert body.taken == 0


def test_without_a_length_the_body_is_read_only_one_byte_past_the_limit(app: WebApp) -> None:
    body = Body(b" " * (MAX_CALLBACK_BODY + 5000))
    answer = call(app, "POST", "/whatsapp/callbacks/some-token", body, length=None)
    assert answer.code == 413
    assert body.taken == MAX_CALLBACK_BODY + 1
    # at the limit exactly, the body is taken and the token decides: none such here
    whole = Body(b" " * MAX_CALLBACK_BODY)
    answer = call(app, "POST", "/whatsapp/callbacks/some-token", whole, length=None)
    assert answer.code == 404 and answer.json() == {"error": "unknown callback URL"}


@pytest.mark.parametrize(
    ("length", "error"),
    [
        ("abc", "Content-Length is not a number"),
        ("12.5", "Content-Length is not a number"),
        ("-1", "Content-Length is negative"),
    ],
)
@pytest.mark.parametrize("path", ["/slack/events", "/whatsapp/callbacks/some-token"])
def test_a_bad_content_length_is_400(app: WebApp, path: str, length: str, error: str) -> None:
    answer = call(app, "POST", path, b"{}", length=length)
    assert answer.status == "400 Bad Request"
    assert answer.json() == {"error": error}


def test_a_body_that_breaks_while_read_is_400(app: WebApp) -> None:
    answer = call(app, "POST", "/slack/events", BrokenBody(b"x" * 10))
    assert answer.code == 400
    assert answer.json() == {"error": "the body could not be read (ConnectionResetError)"}


def test_a_slack_body_that_is_not_utf8_is_400_before_its_signature_is_checked(
    app: WebApp,
) -> None:
    answer = call(app, "POST", "/slack/events", b"payload=\xff\xfe")
    assert answer.code == 400 and answer.json() == {"error": "the body is not UTF-8"}


# Slack's URL


def signed(body: bytes, timestamp: int | None = None) -> dict[str, str]:
    stamp = str(timestamp if timestamp is not None else int(time.time()))
    return {
        "Content-Type": "application/json",
        "X-Slack-Request-Timestamp": stamp,
        "X-Slack-Signature": sign(SECRETS["SLACK_SIGNING_SECRET"], stamp, body),
    }


def test_a_signed_request_reaches_bolt_and_its_answer_comes_back_whole(app: WebApp) -> None:
    challenge = secrets.token_urlsafe(24)
    body = json.dumps({"type": "url_verification", "challenge": challenge}).encode()
    answer = call(app, "POST", "/slack/events", body, headers=signed(body))
    assert answer.status == "200 OK"
    assert answer.json() == {"challenge": challenge}
    # Bolt's own length is replaced by the app's: one header, and it is right
    assert answer.header("Content-Length") == [str(len(answer.body))]


def test_a_request_unsigned_or_six_minutes_old_is_401(app: WebApp, slack: SlackStandIn) -> None:
    body = json.dumps({"type": "url_verification", "challenge": "x"}).encode()
    for headers in (
        {"Content-Type": "application/json"},
        signed(body, int(time.time()) - 6 * 60),
        {**signed(body), "X-Slack-Signature": "v0=" + "0" * 64},
    ):
        answer = call(app, "POST", "/slack/events", body, headers=headers)
        assert answer.code == 401
        assert answer.json() == {"error": "invalid Slack signature or timestamp"}
    assert slack.calls == []


# the provider's callbacks


def test_a_callback_is_stored_and_answered_with_the_status(app: WebApp) -> None:
    sending = app.services.sending
    send = sending.create_draft(
        Message(MessageKind.TEXT, "+573001234567", "hello"),
        sender=sending.resolve_sender(None),
        source="cli",
    )
    body = json.dumps({"status": "DELIVERED", "externalId": send.external_id}).encode()
    answer = call(app, "POST", f"/whatsapp/callbacks/{send.callback_token}", body)
    assert answer.code == 200
    assert answer.json() == {
        "ok": True,
        "status": "DELIVERED",
        "duplicate": False,
        "shown": "DELIVERED",
    }
    assert [raw for _, _, raw in app.services.store.callbacks_for(send.id)] == [body.decode()]
    forged = send.callback_token[:-1] + ("A" if send.callback_token[-1] != "A" else "B")
    answer = call(app, "POST", f"/whatsapp/callbacks/{forged}", body)
    assert answer.code == 404 and answer.json() == {"error": "unknown callback URL"}


# media


def keep_media(app: WebApp, data: bytes, *, file_name: str | None = None) -> str:
    """Bytes kept as a shared file's are; the path of their signed link."""
    media_id = secrets.token_hex(16)
    expires_at = utcnow() + timedelta(hours=1)
    app.services.store.add_media(
        id=media_id,
        expires_at=expires_at,
        content_type="application/pdf",
        size=len(data),
        sha256=hashlib.sha256(data).hexdigest(),
        file_name=file_name,
        slack_file_id=None,
        data=data,
    )
    return "/media/" + links.issue(SECRETS["WHATSAPP_BOT_SECRET"], media_id, expires_at)


def test_media_is_served_whole_and_head_gives_its_headers_without_it(app: WebApp) -> None:
    data = b"%PDF-1.4\n" + secrets.token_bytes(3000) + b"\n%%EOF\n"
    path = keep_media(app, data, file_name="invoice.pdf")
    got = call(app, "GET", path)
    assert got.status == "200 OK" and got.body == data
    assert got.header("Content-Type") == ["application/pdf"]
    assert got.header("Content-Length") == [str(len(data))]
    assert got.header("Content-Disposition") == ['inline; filename="invoice.pdf"']
    head = call(app, "HEAD", path)
    assert head.status == "200 OK" and head.body == b""
    assert head.headers == got.headers


def test_media_links_that_are_tampered_or_unknown_give_no_bytes(app: WebApp) -> None:
    path = keep_media(app, b"%PDF-1.4 secret")
    media_id, expiry, mac = path.removeprefix("/media/").split(".")
    tampered = f"/media/{media_id}.{int(expiry) + 60}.{mac}"
    answer = call(app, "GET", tampered)
    assert answer.code == 403 and b"secret" not in answer.body
    unknown = "/media/" + links.issue(
        SECRETS["WHATSAPP_BOT_SECRET"], "0" * 32, utcnow() + timedelta(hours=1)
    )
    answer = call(app, "GET", unknown)
    assert answer.code == 404 and answer.body == b"no such media\n"


# /healthz


def slack_checked(app: WebApp) -> None:
    """Until the token check the first probe started has answered (the stand-in takes it)."""
    wait_until(lambda: call(app, "GET", "/healthz").json().get("slack") == "ok", 10, "auth.test")


def test_healthz_is_200_and_head_is_the_same_without_a_body(app: WebApp) -> None:
    slack_checked(app)
    got = call(app, "GET", "/healthz")
    assert got.status == "200 OK"
    assert got.json() == {"ok": True, "database": "ok", "schema": "ok", "slack": "ok"}
    head = call(app, "HEAD", "/healthz")
    assert head.status == "200 OK" and head.body == b""
    assert head.header("Content-Length") == [str(len(got.body))]
    missing = call(app, "HEAD", "/nope")
    assert missing.code == 404 and missing.body == b""


def test_healthz_is_503_while_the_provider_refuses_the_key(app: WebApp) -> None:
    store = app.services.store
    store.set_flag(PROVIDER_AUTH_FLAG, "HTTP 401: invalid key")
    answer = call(app, "GET", "/healthz")
    assert answer.status == "503 Service Unavailable"
    assert answer.json() == {
        "ok": False,
        "database": "ok",
        "schema": "ok",
        "provider": "the provider refused the API key (HTTP 401: invalid key); "
        "check whatsapp.api_key",
    }
    assert SECRETS["WHATSAPP_API_KEY"] not in answer.body.decode()
    head = call(app, "HEAD", "/healthz")
    assert head.code == 503 and head.body == b""
    store.set_flag(PROVIDER_AUTH_FLAG, None)  # a send went through since
    assert call(app, "GET", "/healthz").code == 200


def break_database(app: WebApp, folder: Path) -> None:
    """The database's folder is gone: no connection can be opened to it any more."""
    shutil.rmtree(folder)
    app.services.store.engine.dispose()  # the pooled connections still hold the old file


def test_healthz_is_503_when_the_database_is_unreachable(
    app: WebApp, folder: Path, caplog: pytest.LogCaptureFixture
) -> None:
    break_database(app, folder)
    with caplog.at_level(logging.ERROR, logger="bot.web"):
        answer = call(app, "GET", "/healthz")
    assert answer.status == "503 Service Unavailable"
    assert answer.json() == {"ok": False, "database": "unreachable"}
    (logged,) = caplog.records
    assert logged.getMessage() == "Failed to reach the database for /healthz"
    assert logged.exc_info is not None


def test_an_unexpected_failure_is_a_plain_500_with_the_traceback_only_in_the_log(
    app: WebApp, folder: Path, caplog: pytest.LogCaptureFixture
) -> None:
    token = tokens.new_token(SECRETS["WHATSAPP_BOT_SECRET"], CALLBACK_PURPOSE)
    break_database(app, folder)
    with caplog.at_level(logging.ERROR, logger="bot.web"):
        answer = call(app, "POST", f"/whatsapp/callbacks/{token}", b'{"status": "READ"}')
    assert answer.status == "500 Internal Server Error"
    assert answer.json() == {"error": "internal error"}
    (logged,) = caplog.records
    assert logged.getMessage().startswith("Failed to handle POST /whatsapp/callbacks/")
    assert logged.exc_info is not None
