"""The stand-in provider, exercised over real HTTP on loopback."""

from __future__ import annotations

import base64
import hashlib
import json
import re
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl

import pytest
import requests

from bot.sandbox.provider import (
    CUSTOMER_MESSAGE_PATH,
    DEFAULT_OWNER,
    DEFAULT_STATUSES,
    MEDIA_PATH,
    ProviderStandIn,
    validation_error,
)

AUTH = {"Authorization": "Bearer test-provider-key"}
GOOD_MEDIA = b"\xff\xd8\xff\xe0" + bytes(range(256)) * 40
BIG = 5_000_001
ISO_Z = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z")
INBOUND_PATH = "/whatsapp/inbound/"


# A small receiver: takes callbacks and customer messages, and serves media files.


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes
    json: Any
    at: float
    method: str = "POST"


class _ReceiverServer(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128


class Receiver:
    """Threaded HTTP server recording POSTs and serving a few media URLs."""

    def __init__(self) -> None:
        self.cond = threading.Condition()
        self.posts: list[Received] = []
        self.gets: list[str] = []
        self.inbound: list[Received] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                if self.path.startswith(INBOUND_PATH):
                    self._inbound()
                    return
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                try:
                    parsed = json.loads(body)
                except ValueError:
                    parsed = None
                with receiver.cond:
                    receiver.posts.append(
                        Received(self.path, dict(self.headers), body, parsed, time.monotonic())
                    )
                    receiver.cond.notify_all()
                status = int(self.path.rsplit("/", 1)[1]) if "/status/" in self.path else 200
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def do_GET(self) -> None:
                if self.path.startswith(INBOUND_PATH):
                    self._inbound()
                    return
                with receiver.cond:
                    receiver.gets.append(self.path)
                    receiver.cond.notify_all()
                if self.path == "/media/good.jpg":
                    self._send(200, GOOD_MEDIA, "image/jpeg")
                elif self.path == "/media/redirect.jpg":
                    self.send_response(302)
                    self.send_header("Location", "/media/good.jpg")
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                elif self.path == "/media/big.jpg":
                    self._send(200, b"\0" * BIG, "image/jpeg")
                elif self.path == "/media/big-undeclared.jpg":
                    self.send_response(200)
                    self.send_header("Content-Type", "image/jpeg")
                    self.end_headers()
                    self.wfile.write(b"\0" * BIG)
                else:
                    self._send(404, b"not here", "text/plain")

            def _inbound(self) -> None:
                """A customer message; ``…/status/<n>`` in the path picks the answer's status."""
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                try:
                    parsed = json.loads(body)
                except ValueError:
                    parsed = None
                received = Received(
                    self.path, dict(self.headers), body, parsed, time.monotonic(), self.command
                )
                with receiver.cond:
                    receiver.inbound.append(received)
                    receiver.cond.notify_all()
                path = self.path.split("?", 1)[0]
                status = int(path.rsplit("/", 1)[1]) if "/status/" in path else 200
                self._send(status, b'{"ok": true}', "application/json")

            def _send(self, status: int, data: bytes, content_type: str) -> None:
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.server = _ReceiverServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True
        )
        self.thread.start()

    def wait_posts(self, count: int, timeout: float = 5.0) -> list[Received]:
        with self.cond:
            if not self.cond.wait_for(lambda: len(self.posts) >= count, timeout):
                raise TimeoutError(f"{len(self.posts)} of {count} posts")
            return list(self.posts)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.close()


@pytest.fixture
def provider() -> Iterator[ProviderStandIn]:
    with ProviderStandIn(callback_delay=0.0) as p:
        yield p


@pytest.fixture
def http() -> Iterator[requests.Session]:
    with requests.Session() as s:
        s.trust_env = False
        yield s


def image_body(callbacks: Any = None, **request: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "channel": "WHATSAPP",
        "request": {
            "from": "1000000001",
            "to": "+15551234567",
            "message": "https://media.example/cat.jpg",
            "type": "image",
            "caption": "The best coffee in the town!",
            "externalId": "abc123",
        },
    }
    for key, value in request.items():
        if value is None:
            body["request"].pop(key, None)
        else:
            body["request"][key] = value
    if callbacks is not None:
        body["callbacks"] = callbacks
    return body


def send(
    http: requests.Session,
    provider: ProviderStandIn,
    body: Any,
    *,
    headers: dict[str, str] | None = None,
    timeout: float = 5.0,
) -> requests.Response:
    return http.post(
        provider.notification_url,
        json=body,
        headers=AUTH if headers is None else headers,
        timeout=timeout,
    )


def reason(response: requests.Response) -> str:
    payload = response.json()
    assert set(payload) == {"errors"}
    assert set(payload["errors"]) == {"reason"}
    return str(payload["errors"]["reason"])


# The happy path


def test_accepts_a_send_with_the_documented_answer(
    provider: ProviderStandIn, http: requests.Session
) -> None:
    before = int(time.time() * 1000)
    response = send(http, provider, image_body())
    after = int(time.time() * 1000)

    assert response.status_code == 200
    assert response.headers["Content-Type"] == "application/json"
    payload = response.json()
    assert set(payload) == {"meta"}
    meta = payload["meta"]
    assert set(meta) == {"timestamp", "transactionId", "explain"}
    assert isinstance(meta["timestamp"], int)
    assert before <= meta["timestamp"] <= after
    assert uuid.UUID(meta["transactionId"]).version == 4
    assert meta["explain"] == "Send Notification"

    [recorded] = provider.requests
    assert recorded.method == "POST"
    assert recorded.path == "/notification"
    assert recorded.headers["authorization"] == AUTH["Authorization"]
    assert recorded.headers["AUTHORIZATION"] == AUTH["Authorization"]
    assert "content-type" in recorded.headers
    assert json.loads(recorded.body) == image_body()
    assert recorded.json == image_body()
    assert recorded.transaction_id == meta["transactionId"]
    assert recorded.response_status == 200
    [accepted] = provider.sends
    assert accepted.transaction_id == meta["transactionId"]
    assert accepted.timestamp_ms == meta["timestamp"]
    assert accepted.type == "image"
    assert accepted.external_id == "abc123"
    assert accepted.callbacks == ()
    assert provider.get_send(meta["transactionId"]) is accepted


def test_binds_loopback_and_stops_when_the_block_ends(http: requests.Session) -> None:
    with ProviderStandIn() as p:
        assert p.url.startswith("http://127.0.0.1:")
        assert p.port > 0
        assert p.notification_url == p.url + "/notification"
        assert send(http, p, image_body()).status_code == 200
    with pytest.raises(requests.ConnectionError):
        send(http, p, image_body(), timeout=1)


@pytest.mark.parametrize(
    "body",
    [
        image_body(to="15551234567"),
        image_body(to="+15551234567"),
        image_body(caption=None, externalId=None),
        image_body(type="text", message="x" * 1024, caption=None),
        image_body(type="audio", caption=None, message="http://media.example/a.mp3"),
        image_body(type="video", caption=None),
        image_body(type="document", caption=None, fileName="Invoice.PDF"),
        image_body(callbacks="http://a.example/cb, https://b.example/cb"),
        image_body(callbacks=["http://a.example/cb"]),
        image_body(callbacks=""),
        image_body(clientId="anything goes", replyTo="x"),
    ],
)
def test_accepts_valid_variants(
    provider: ProviderStandIn, http: requests.Session, body: dict[str, Any]
) -> None:
    provider.auto_callbacks = False
    assert send(http, provider, body).status_code == 200
    assert validation_error(body) is None


# Refusals


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer wrong"},
        {"Authorization": "Basic test-provider-key"},
        {"Authorization": "test-provider-key"},
        {"Authorization": "Bearer"},
    ],
)
def test_refuses_missing_or_wrong_key(
    provider: ProviderStandIn, http: requests.Session, headers: dict[str, str]
) -> None:
    response = send(http, provider, image_body(), headers=headers)
    assert response.status_code == 401
    assert response.json() == {"errors": {"reason": "Unauthorized"}}
    assert provider.sends == []
    assert provider.requests[0].response_status == 401


def test_uses_the_configured_key(http: requests.Session) -> None:
    with ProviderStandIn(api_key="k2") as p:
        assert send(http, p, image_body()).status_code == 401
        ok = send(http, p, image_body(), headers={"authorization": "bearer k2"})
        assert ok.status_code == 200


def _without(key: str) -> dict[str, Any]:
    body = image_body()
    del body[key]
    return body


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ([], "body must be a JSON object"),
        ("text", "body must be a JSON object"),
        (None, "body must be a JSON object"),
        (_without("channel"), "channel is required"),
        ({**image_body(), "channel": "SMS"}, "channel must be WHATSAPP"),
        (_without("request"), "request must be an object"),
        ({**image_body(), "request": "hi"}, "request must be an object"),
        (image_body(**{"from": None}), "request.from is required"),
        (image_body(**{"from": "+1000000001"}), "request.from must contain only digits"),
        (image_body(**{"from": 1000000001}), "request.from must contain only digits"),
        (image_body(to=None), "request.to is required"),
        (image_body(to="1234567"), "request.to must be an E.164 number"),
        (image_body(to="+1234567890123456"), "request.to must be an E.164 number"),
        (image_body(to="+1 555 123 4567"), "request.to must be an E.164 number"),
        (image_body(to="0612345678"), "request.to must be an E.164 number"),
        (image_body(type=None), "request.type is required"),
        (image_body(type="contacts", caption=None), "unsupported type"),
        (image_body(type="sticker", caption=None), "unsupported type"),
        (image_body(message=None), "request.message is required"),
        (image_body(message=42), "request.message must be a string"),
        (image_body(type="text", message="", caption=None), "request.message must not be empty"),
        (
            image_body(type="text", message="x" * 1025, caption=None),
            "request.message is longer than 1024 characters",
        ),
        (
            image_body(message="ftp://media.example/cat.jpg"),
            "request.message must be a URL starting with http:// or https://",
        ),
        (
            image_body(message="media.example/cat.jpg"),
            "request.message must be a URL starting with http:// or https://",
        ),
        (image_body(type="video"), "request.caption only applies to image"),
        (image_body(fileName="cat.pdf"), "request.fileName only applies to document"),
        (
            image_body(type="document", caption=None, fileName="report.docx"),
            "request.fileName must end with .pdf",
        ),
        (image_body(externalId="abc-123"), "request.externalId must be alphanumeric"),
        (image_body(externalId=""), "request.externalId must be alphanumeric"),
        (
            image_body(callbacks=5),
            "callbacks must be a comma-separated string or a list of URLs",
        ),
        (
            image_body(callbacks=["http://a.example/cb", 7]),
            "callbacks must be a comma-separated string or a list of URLs",
        ),
        (
            image_body(callbacks="http://a.example/cb,ftp://b.example/cb"),
            "callbacks must be http:// or https:// URLs",
        ),
    ],
)
def test_refuses_each_invalid_field(
    provider: ProviderStandIn, http: requests.Session, body: Any, expected: str
) -> None:
    response = send(http, provider, body)
    assert response.status_code == 400
    assert reason(response) == expected
    assert validation_error(body) == expected
    assert provider.sends == []


def test_refuses_a_body_that_is_not_json(provider: ProviderStandIn, http: requests.Session) -> None:
    response = http.post(provider.notification_url, data=b"{not json", headers=AUTH, timeout=5)
    assert response.status_code == 400
    assert reason(response) == "body must be a JSON object"
    assert provider.requests[0].body == b"{not json"
    assert provider.requests[0].json is None


def test_answers_404_405_and_413(provider: ProviderStandIn, http: requests.Session) -> None:
    missing = http.post(provider.url + "/notifications", json={}, headers=AUTH, timeout=5)
    assert missing.status_code == 404
    assert reason(missing) == "Not Found"

    wrong_method = http.get(provider.notification_url, headers=AUTH, timeout=5)
    assert wrong_method.status_code == 405
    assert wrong_method.headers["Allow"] == "POST"
    assert reason(wrong_method) == "Method Not Allowed"
    assert http.request("PURGE", provider.notification_url, timeout=5).status_code == 405

    too_big = http.post(provider.notification_url, data=b"x" * 1_000_001, headers=AUTH, timeout=5)
    assert too_big.status_code == 413
    assert reason(too_big) == "Payload Too Large"

    assert [r.response_status for r in provider.requests] == [404, 405, 405, 413]
    assert send(http, provider, image_body()).status_code == 200


def test_survives_garbage_on_the_socket(provider: ProviderStandIn, http: requests.Session) -> None:
    for raw in [
        b"\x00\xff garbage\r\n\r\n",
        b"POST /notification HTTP/1.1\r\nContent-Length: nope\r\n\r\n",
        b"POST /notification HTTP/1.1\r\nContent-Length: 50\r\n\r\nshort",
        b"POST /notification HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
    ]:
        with socket.create_connection((provider.host, provider.port), timeout=5) as sock:
            sock.sendall(raw)
            sock.shutdown(socket.SHUT_WR)
            answer = b""
            while chunk := sock.recv(4096):
                answer += chunk
        assert b"Traceback" not in answer
        if answer:
            assert answer.startswith(b"HTTP/1.")
            assert b'"errors"' in answer
    assert send(http, provider, image_body()).status_code == 200


# Faults


def test_fault_429_with_rate_limit_headers(
    provider: ProviderStandIn, http: requests.Session
) -> None:
    provider.fail_next("429")
    provider.fail_next("429", reset="5m0s", retry_after=3, limit=10)

    first = send(http, provider, image_body())
    assert first.status_code == 429
    assert first.json() == {"errors": {"reason": "Too Many Requests"}}
    assert first.headers["ratelimit-limit"] == "100"
    assert first.headers["ratelimit-policy"]
    assert first.headers["ratelimit-remaining"] == "0"
    assert first.headers["ratelimit-reset"] == "2s"
    assert "Retry-After" not in first.headers

    second = send(http, provider, image_body())
    assert second.status_code == 429
    assert second.headers["ratelimit-limit"] == "10"
    assert second.headers["ratelimit-reset"] == "5m0s"
    assert second.headers["Retry-After"] == "3"

    assert send(http, provider, image_body()).status_code == 200
    assert [r.fault for r in provider.requests] == ["429", "429", None]


@pytest.mark.parametrize(
    ("kind", "options", "status", "expected"),
    [
        ("500", {}, 500, "Internal Server Error"),
        ("503", {}, 503, "Service Unavailable"),
        ("400", {"reason": "Invalid destination"}, 400, "Invalid destination"),
        ("401", {}, 401, "Unauthorized"),
        ("403", {}, 403, "Forbidden"),
    ],
)
def test_fault_error_answers(
    provider: ProviderStandIn,
    http: requests.Session,
    kind: str,
    options: dict[str, Any],
    status: int,
    expected: str,
) -> None:
    provider.fail_next(kind, **options)
    response = send(http, provider, image_body())
    assert response.status_code == status
    assert reason(response) == expected
    assert provider.sends == []
    assert provider.requests[0].fault == kind


def test_faults_apply_to_the_next_count_sends_and_send_no_callbacks(
    provider: ProviderStandIn, http: requests.Session, receiver: Receiver
) -> None:
    provider.fail_next("500", count=2)
    body = image_body(callbacks=receiver.url + "/cb")
    assert send(http, provider, body).status_code == 500
    assert send(http, provider, body).status_code == 500
    assert send(http, provider, body).status_code == 200
    provider.wait_for_callbacks()
    assert len(provider.callbacks) == len(DEFAULT_STATUSES)
    assert {c.transaction_id for c in provider.callbacks} == {provider.sends[0].transaction_id}


def test_fault_garbage_and_missing_transaction_id(
    provider: ProviderStandIn, http: requests.Session
) -> None:
    provider.fail_next("garbage")
    provider.fail_next("no_transaction_id")

    garbage = send(http, provider, image_body())
    assert garbage.status_code == 200
    with pytest.raises(ValueError):
        garbage.json()

    empty = send(http, provider, image_body())
    assert empty.status_code == 200
    assert empty.json() == {"meta": {}}
    assert provider.sends == []


def test_fault_hang_is_recorded_and_times_the_client_out(
    provider: ProviderStandIn, http: requests.Session
) -> None:
    provider.fail_next("hang")
    with pytest.raises(requests.Timeout):
        send(http, provider, image_body(), timeout=0.2)
    [hung] = provider.requests
    assert hung.fault == "hang"
    assert hung.json == image_body()
    assert hung.response_status is None
    assert send(http, provider, image_body()).status_code == 200


def test_fault_hang_for_given_seconds_then_closes(
    provider: ProviderStandIn, http: requests.Session
) -> None:
    provider.fail_next("hang", seconds=0.1)
    with pytest.raises(requests.ConnectionError):
        send(http, provider, image_body())


def test_stop_releases_a_hanging_request_promptly(http: requests.Session) -> None:
    provider = ProviderStandIn().start()
    provider.fail_next("hang")
    errors: list[BaseException] = []

    def call() -> None:
        try:
            send(http, provider, image_body(), timeout=10)
        except requests.RequestException as exc:
            errors.append(exc)

    client = threading.Thread(target=call, daemon=True)
    client.start()
    provider.wait_for_requests(1)
    started = time.monotonic()
    provider.stop()
    client.join(5)
    assert time.monotonic() - started < 1.5
    assert not client.is_alive()
    assert len(errors) == 1
    assert isinstance(errors[0], requests.ConnectionError)


def test_fault_drop_closes_without_an_answer(
    provider: ProviderStandIn, http: requests.Session
) -> None:
    provider.fail_next("drop")
    with pytest.raises(requests.ConnectionError):
        send(http, provider, image_body())
    assert provider.requests[0].fault == "drop"
    assert provider.requests[0].json == image_body()
    assert send(http, provider, image_body()).status_code == 200


def test_fail_next_checks_its_arguments(provider: ProviderStandIn) -> None:
    with pytest.raises(ValueError):
        provider.fail_next("418")
    with pytest.raises(ValueError):
        provider.fail_next("500", seconds=3)
    with pytest.raises(ValueError):
        provider.fail_next("500", count=0)


def test_latency_delays_the_answer(provider: ProviderStandIn, http: requests.Session) -> None:
    provider.latency = 0.15
    started = time.monotonic()
    assert send(http, provider, image_body()).status_code == 200
    assert time.monotonic() - started >= 0.15
    with pytest.raises(requests.Timeout):
        send(http, provider, image_body(), timeout=0.05)


# Callbacks


def _send_ok(http: requests.Session, provider: ProviderStandIn, body: Any) -> str:
    response = send(http, provider, body)
    assert response.status_code == 200, response.text
    return str(response.json()["meta"]["transactionId"])


def test_callbacks_follow_the_default_sequence_with_documented_fields(
    http: requests.Session, receiver: Receiver
) -> None:
    url = receiver.url + "/hooks/whatsapp?token=t1"
    with ProviderStandIn() as provider:
        transaction_id = _send_ok(http, provider, image_body(callbacks=url))
        attempts = provider.wait_for_callbacks()

    posts = receiver.wait_posts(4)
    assert [p.json["status"] for p in posts] == list(DEFAULT_STATUSES)
    assert [a.status for a in attempts] == list(DEFAULT_STATUSES)
    assert all(p.path == "/hooks/whatsapp?token=t1" for p in posts)
    assert all(p.headers["Content-Type"] == "application/json" for p in posts)
    message_ids = {p.json["id"] for p in posts}
    assert len(message_ids) == 1
    assert re.fullmatch(r"wamid\.[0-9a-f]+", message_ids.pop())
    for post in posts:
        body = post.json
        assert set(body) == {
            "callback",
            "date",
            "externalId",
            "campaignId",
            "from",
            "to",
            "id",
            "status",
        }
        assert body["callback"] == url
        assert ISO_Z.fullmatch(body["date"])
        assert body["externalId"] == "abc123"
        assert body["campaignId"] is None
        assert body["from"] == "1000000001"
        assert body["to"] == "+15551234567"
    times = [p.at for p in posts]
    assert times == sorted(times)
    assert all(a.http_status == 200 and a.error is None for a in attempts)
    assert all(a.transaction_id == transaction_id for a in attempts)


def test_callbacks_omit_external_id_and_go_to_every_url(
    provider: ProviderStandIn, http: requests.Session, receiver: Receiver
) -> None:
    urls = [receiver.url + "/a", receiver.url + "/b"]
    _send_ok(http, provider, image_body(callbacks=" , ".join(urls), externalId=None))
    _send_ok(http, provider, image_body(callbacks=urls, externalId=None))
    provider.wait_for_callbacks()
    posts = receiver.wait_posts(16)
    assert all("externalId" not in p.json for p in posts)
    for path in ("/a", "/b"):
        mine = [p for p in posts if p.path == path]
        assert len(mine) == 8
        assert all(p.json["callback"] == receiver.url + path for p in mine)
        for message_id in {p.json["id"] for p in mine}:
            statuses = [p.json["status"] for p in mine if p.json["id"] == message_id]
            assert statuses == list(DEFAULT_STATUSES)


def test_chosen_sequences_and_next_send_override(
    provider: ProviderStandIn, http: requests.Session, receiver: Receiver
) -> None:
    body = image_body(callbacks=receiver.url + "/cb")
    provider.set_statuses(["QUEUE", "SENT"], delay=0.0)
    provider.set_next_statuses(
        ["READ", "QUEUE", {"status": "UNDELIVERED", "reason": "outside 24h window"}]
    )

    first = _send_ok(http, provider, body)
    provider.wait_for_callbacks()
    second = _send_ok(http, provider, body)
    provider.wait_for_callbacks()

    assert [c.status for c in provider.callbacks_for(first)] == ["READ", "QUEUE", "UNDELIVERED"]
    assert provider.callbacks_for(first)[-1].payload["reason"] == "outside 24h window"
    assert [c.status for c in provider.callbacks_for(second)] == ["QUEUE", "SENT"]
    assert len(receiver.wait_posts(5)) == 5


def test_on_demand_callbacks_when_automatic_ones_are_off(
    provider: ProviderStandIn, http: requests.Session, receiver: Receiver
) -> None:
    provider.auto_callbacks = False
    url = receiver.url + "/cb"
    transaction_id = _send_ok(http, provider, image_body(callbacks=url))
    assert provider.wait_for_callbacks(timeout=1) == []
    assert provider.pending_callbacks == 0

    [attempt] = provider.post_status(transaction_id, "DELIVERED")
    assert attempt.http_status == 200
    [twice] = provider.post_status(transaction_id, "DELIVERED", reason="dup", extra={"x": 1})
    assert twice.payload["reason"] == "dup"
    assert twice.payload["x"] == 1

    raw = provider.post_raw(url, b"not json at all", content_type="text/plain")
    assert raw.http_status == 200
    assert raw.payload is None

    posts = receiver.wait_posts(3)
    assert posts[0].json == provider.callback_payload(transaction_id, "DELIVERED", url=url) | {
        "date": posts[0].json["date"]
    }
    assert posts[2].body == b"not json at all"
    assert posts[2].headers["Content-Type"] == "text/plain"
    assert len(provider.callbacks) == 3

    with pytest.raises(KeyError):
        provider.post_status("no-such-transaction", "SENT")


def test_callback_attempts_record_http_status_and_errors(
    provider: ProviderStandIn, http: requests.Session, receiver: Receiver
) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{probe.getsockname()[1]}/cb"
    provider.set_statuses(["SENT"])
    _send_ok(http, provider, image_body(callbacks=[receiver.url + "/status/500", closed]))
    attempts = provider.wait_for_callbacks()
    assert [(a.url, a.http_status) for a in attempts] == [
        (receiver.url + "/status/500", 500),
        (closed, None),
    ]
    assert attempts[0].error is None
    assert attempts[1].error is not None


def test_wait_for_gives_up_with_timeout_error(provider: ProviderStandIn) -> None:
    with pytest.raises(TimeoutError):
        provider.wait_for(lambda: False, timeout=0.05)
    with pytest.raises(TimeoutError):
        provider.wait_for_callbacks(1, timeout=0.05)


def test_stop_cancels_pending_callbacks(http: requests.Session, receiver: Receiver) -> None:
    provider = ProviderStandIn(callback_delay=30.0).start()
    _send_ok(http, provider, image_body(callbacks=receiver.url + "/cb"))
    started = time.monotonic()
    provider.stop()
    assert time.monotonic() - started < 1.5
    assert provider.pending_callbacks == 0
    assert provider.callbacks == []


# Media fetching


@pytest.fixture
def fetching(provider: ProviderStandIn) -> ProviderStandIn:
    provider.fetch_media = True
    return provider


def _fetch_case(
    provider: ProviderStandIn, http: requests.Session, receiver: Receiver, media_path: str
) -> tuple[str, list[str | None]]:
    body = image_body(message=receiver.url + media_path, callbacks=receiver.url + "/cb")
    transaction_id = _send_ok(http, provider, body)
    attempts = provider.wait_for_callbacks()
    return transaction_id, [a.status for a in attempts]


def test_fetch_accepts_good_media(
    fetching: ProviderStandIn, http: requests.Session, receiver: Receiver
) -> None:
    transaction_id, statuses = _fetch_case(fetching, http, receiver, "/media/good.jpg")
    assert statuses == list(DEFAULT_STATUSES)
    [fetched] = fetching.fetches
    assert fetched.transaction_id == transaction_id
    assert fetched.accepted
    assert fetched.http_status == 200
    assert fetched.content_type == "image/jpeg"
    assert fetched.length == len(GOOD_MEDIA)
    assert fetched.sha256 == hashlib.sha256(GOOD_MEDIA).hexdigest()


@pytest.mark.parametrize(
    ("media_path", "status", "why"),
    [
        ("/media/redirect.jpg", 302, "redirect"),
        ("/media/missing.jpg", 404, "404"),
        ("/media/big.jpg", 200, "larger than 5000000 bytes"),
        ("/media/big-undeclared.jpg", 200, "larger than 5000000 bytes"),
    ],
)
def test_fetch_refuses_bad_media(
    fetching: ProviderStandIn,
    http: requests.Session,
    receiver: Receiver,
    media_path: str,
    status: int,
    why: str,
) -> None:
    transaction_id, statuses = _fetch_case(fetching, http, receiver, media_path)
    assert statuses == ["QUEUE", "FAILED"]
    failure = fetching.callbacks_for(transaction_id)[-1].payload
    assert why in failure["reason"]
    [fetched] = fetching.fetches
    assert not fetched.accepted
    assert fetched.http_status == status
    assert fetched.sha256 is None
    assert fetched.reason == failure["reason"]
    if status == 302:
        assert fetched.location == "/media/good.jpg"
    assert receiver.gets == [media_path]


def test_fetch_skips_text_and_happens_without_callbacks(
    fetching: ProviderStandIn, http: requests.Session, receiver: Receiver
) -> None:
    text = image_body(type="text", message="hello", caption=None, callbacks=receiver.url + "/cb")
    _send_ok(http, fetching, text)
    fetching.auto_callbacks = False
    _send_ok(http, fetching, image_body(message=receiver.url + "/media/good.jpg"))
    fetching.wait_for_callbacks()
    assert [f.url for f in fetching.fetches] == [receiver.url + "/media/good.jpg"]
    assert len(fetching.callbacks) == len(DEFAULT_STATUSES)


def test_records_are_thread_safe_under_concurrent_sends(
    provider: ProviderStandIn, receiver: Receiver
) -> None:
    provider.set_statuses(["SENT"])
    answers: list[int] = []
    lock = threading.Lock()

    def worker() -> None:
        with requests.Session() as session:
            session.trust_env = False
            for _ in range(5):
                code = send(session, provider, image_body(callbacks=receiver.url + "/cb"))
                with lock:
                    answers.append(code.status_code)

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    provider.wait_for_callbacks(40)
    assert answers == [200] * 40
    assert len(provider.requests) == 40
    assert len({s.transaction_id for s in provider.sends}) == 40


# Customer messages to the app, the attachments the stand-in hosts, and its own routes

CUSTOMER = "+573001234567"
WHEN = datetime(2024, 5, 1, 14, 5, 6, 789000, tzinfo=UTC)
WHEN_MS = "1714572306789"
JSON_KEYS = [
    "id",
    "user",
    "text",
    "date",
    "owner",
    "origin",
    "processId",
    "externalId",
    "callback",
    "connection",
    "extraInfo",
]


def inbound_url(receiver: Receiver, token: str = "tok3n") -> str:
    return f"{receiver.url}{INBOUND_PATH}{token}"


def free_port_url() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}{INBOUND_PATH}tok3n"


def control(http: requests.Session, provider: ProviderStandIn, body: Any) -> requests.Response:
    return http.post(f"{provider.url}{CUSTOMER_MESSAGE_PATH}", json=body, timeout=5)


def test_customer_message_in_the_json_shape_arrives_as_specified(
    provider: ProviderStandIn, receiver: Receiver
) -> None:
    url = inbound_url(receiver)
    sent = provider.customer_message(url, user=CUSTOMER, text="Hola, ¿y mi pedido?", name="Ana")

    [got] = receiver.inbound
    assert (got.method, got.path) == ("POST", f"{INBOUND_PATH}tok3n")
    assert got.headers["Content-Type"] == "application/json"
    assert got.headers["User-Agent"] == "provider-standin"
    assert int(got.headers["Content-Length"]) == len(got.body)
    assert list(got.json) == JSON_KEYS
    assert got.json == {
        "id": sent.message_id,
        "user": "573001234567",
        "text": "Hola, ¿y mi pedido?",
        "date": got.json["date"],
        "owner": DEFAULT_OWNER,
        "origin": "whatsapp",
        "processId": got.json["processId"],
        "externalId": None,
        "callback": url,
        "connection": "whatsapp",
        "extraInfo": {
            "type": "text",
            "attachments": [],
            "contacts": [{"profile": {"name": "Ana"}, "wa_id": "573001234567"}],
        },
    }
    assert re.fullmatch(r"wamid\.[0-9a-f]{32}", sent.message_id)
    assert ISO_Z.fullmatch(got.json["date"])
    assert uuid.UUID(got.json["processId"])

    assert sent.shape == "json" and sent.method == "POST" and sent.url == url
    assert (sent.user, sent.text) == ("573001234567", "Hola, ¿y mi pedido?")
    assert sent.body == got.body and sent.payload == got.json
    assert sent.headers == {"User-Agent": "provider-standin", "Content-Type": "application/json"}
    assert (sent.http_status, sent.response_body, sent.error) == (200, b'{"ok": true}', None)
    assert sent.response_content_type == "application/json"
    assert sent.redelivery is False
    assert provider.customer_messages == [sent]
    assert provider.requests == []  # the provider's API saw nothing


def test_json_shape_takes_date_owner_kind_and_extra_fields(
    provider: ProviderStandIn, receiver: Receiver
) -> None:
    provider.customer_message(
        inbound_url(receiver),
        user="573001234567",
        kind="location",
        owner="+15550002222",
        date=WHEN,
        message_id="wamid.given",
        extra={"externalId": "ext1", "processId": 7},
    )
    provider.customer_message(
        inbound_url(receiver), user=CUSTOMER, date="2024-05-01T09:05:06-05:00"
    )

    first, second = (r.json for r in receiver.inbound)
    assert first["date"] == "2024-05-01T14:05:06.789Z"
    assert (first["id"], first["owner"], first["extraInfo"]["type"]) == (
        "wamid.given",
        "15550002222",
        "location",
    )
    assert (first["externalId"], first["processId"]) == ("ext1", 7)
    assert first["extraInfo"]["contacts"] == [{"wa_id": "573001234567"}]  # no name given
    assert second["date"] == "2024-05-01T14:05:06.000Z"


def test_attachments_hosted_by_the_standin_are_sent_and_served(
    provider: ProviderStandIn, receiver: Receiver, http: requests.Session
) -> None:
    photo = provider.host_attachment(GOOD_MEDIA, "photo.jpg", "image/jpeg")
    assert photo.startswith(f"{provider.url}{MEDIA_PATH}")
    attachments = [{"url": photo, "fileName": "photo.jpg", "caption": "this one"}]

    sent = provider.customer_message(inbound_url(receiver), user=CUSTOMER, attachments=attachments)

    [got] = receiver.inbound
    assert got.json["text"] == ""
    assert got.json["extraInfo"]["type"] == "image"
    assert got.json["extraInfo"]["attachments"] == attachments
    assert sent.payload["extraInfo"]["attachments"] == attachments

    response = http.get(photo, headers={"X-Check": "1"}, timeout=5)
    assert response.status_code == 200
    assert response.content == GOOD_MEDIA
    assert response.headers["Content-Type"] == "image/jpeg"
    head = http.head(photo, timeout=5)
    assert (head.status_code, head.content) == (200, b"")
    assert head.headers["Content-Length"] == str(len(GOOD_MEDIA))
    assert http.get(f"{provider.url}{MEDIA_PATH}nope", timeout=5).status_code == 404
    refused = http.post(photo, data=b"x", timeout=5)
    assert (refused.status_code, refused.headers["Allow"]) == (405, "GET, HEAD")

    downloads = provider.attachment_downloads
    assert [(d.method, d.http_status) for d in downloads] == [
        ("GET", 200),
        ("HEAD", 200),
        ("GET", 404),
        ("POST", 405),
    ]
    assert downloads[0].media_id == photo.rsplit("/", 1)[1]
    assert downloads[0].headers["x-check"] == "1"
    assert provider.requests == []


def test_hosted_attachments_that_cannot_be_fetched_and_kinds_guessed(
    provider: ProviderStandIn, receiver: Receiver, http: requests.Session
) -> None:
    gone = provider.host_attachment(b"", "gone.mp4", "video/mp4", status=404)
    moved = provider.host_attachment(b"", "a.ogg", "audio/ogg", status=302, location="/x")
    assert http.get(gone, timeout=5).status_code == 404
    redirect = http.get(moved, allow_redirects=False, timeout=5)
    assert (redirect.status_code, redirect.headers["Location"]) == (302, "/x")

    url = inbound_url(receiver)
    cases = [
        ({"url": gone}, "video"),
        ({"url": moved}, "audio"),
        ({"url": "https://media.example/file", "fileName": "invoice.pdf"}, "document"),
        ({"url": "https://media.example/clip.mp4"}, "video"),
        ({"url": "https://media.example/unknown"}, "document"),
    ]
    for attachment, _ in cases:
        provider.customer_message(url, user=CUSTOMER, attachments=[attachment])
    assert [r.json["extraInfo"]["type"] for r in receiver.inbound] == [k for _, k in cases]


def test_customer_message_in_the_query_shape_as_a_get_and_a_form_post(
    provider: ProviderStandIn, receiver: Receiver
) -> None:
    url = inbound_url(receiver) + "?sender=support"
    get = provider.customer_message(
        url, user=CUSTOMER, text="Hola & adiós", shape="query", date=WHEN
    )
    post = provider.customer_message(
        inbound_url(receiver), user=CUSTOMER, text="STOP", shape="query", method="POST", ts="x1"
    )

    first, second = receiver.inbound
    assert first.method == "GET" and first.body == b""
    assert "Content-Type" not in first.headers and "Content-Length" not in first.headers
    path, _, query = first.path.partition("?")
    assert path == f"{INBOUND_PATH}tok3n"
    assert parse_qsl(query, keep_blank_values=True) == [
        ("sender", "support"),
        ("mobile", "573001234567"),
        ("mo", "Hola & adiós"),
        ("ts", WHEN_MS),
        ("shortcode", DEFAULT_OWNER),
    ]
    assert get.method == "GET" and get.url == f"{receiver.url}{first.path}"
    assert get.payload == {
        "mobile": "573001234567",
        "mo": "Hola & adiós",
        "ts": WHEN_MS,
        "shortcode": DEFAULT_OWNER,
    }
    assert (get.http_status, get.shape) == (200, "query")

    assert (second.method, second.path) == ("POST", f"{INBOUND_PATH}tok3n")
    assert second.headers["Content-Type"] == "application/x-www-form-urlencoded"
    assert parse_qsl(second.body.decode()) == [
        ("mobile", "573001234567"),
        ("mo", "STOP"),
        ("ts", "x1"),
        ("shortcode", DEFAULT_OWNER),
    ]
    assert post.body == second.body


def test_message_ids_are_unique_and_a_message_can_be_delivered_again(
    provider: ProviderStandIn, receiver: Receiver
) -> None:
    url = inbound_url(receiver)
    first = provider.customer_message(url, user=CUSTOMER, text="one")
    second = provider.customer_message(url, user=CUSTOMER, text="two")
    assert first.message_id != second.message_id

    again = provider.resend(first)
    by_id = provider.resend(first.message_id)
    same_id = provider.customer_message(url, user=CUSTOMER, text="one", message_id=first.message_id)

    bodies = [r.body for r in receiver.inbound]
    assert bodies[2] == bodies[3] == bodies[0]  # byte for byte, date and processId too
    assert receiver.inbound[4].json["id"] == first.message_id
    assert [m.redelivery for m in provider.customer_messages] == [False, False, True, True, True]
    assert again.message_id == by_id.message_id == same_id.message_id == first.message_id
    assert (again.body, again.headers, again.url) == (first.body, first.headers, first.url)
    with pytest.raises(KeyError):
        provider.resend("wamid.never")

    query = provider.customer_message(url, user=CUSTOMER, text="q", shape="query")
    provider.resend(query)
    assert receiver.inbound[-1].path == receiver.inbound[-2].path


def test_the_record_keeps_the_apps_answer_or_why_there_was_none(
    provider: ProviderStandIn, receiver: Receiver
) -> None:
    refused = provider.customer_message(inbound_url(receiver, "bad/status/403"), user=CUSTOMER)
    unreachable = provider.customer_message(free_port_url(), user=CUSTOMER)

    assert (refused.http_status, refused.error) == (403, None)
    assert unreachable.http_status is None
    assert unreachable.error is not None and "Connection" in unreachable.error
    assert provider.customer_messages == [refused, unreachable]

    provider.host_attachment(b"kept", "kept.txt", "text/plain")
    provider.reset()
    assert provider.customer_messages == [] and provider.attachment_downloads == []
    assert provider.resend(refused).redelivery is True  # the app saw the id before the reset


@pytest.mark.parametrize(
    ("arguments", "reason_part"),
    [
        ({"url": "ftp://x/y"}, "url must be an http"),
        ({"user": "57300abc"}, "user must be a phone number"),
        ({"shape": "xml"}, "shape must be one of json, query"),
        ({"kind": "sticker"}, "kind must be one of"),
        ({"method": "GET"}, "always a POST"),
        ({"ts": "1"}, "ts belongs to the query shape"),
        ({"owner": "support"}, "owner must be a phone number"),
        ({"date": "yesterday"}, "date must be an ISO 8601 time"),
        ({"date": datetime(2024, 5, 1)}, "time zone"),
        ({"message_id": ""}, "message_id must be a non-empty string"),
        ({"attachments": [{"fileName": "a.jpg"}]}, "attachments[0].url must be"),
        ({"attachments": [{"url": "https://x/a", "size": 1}]}, "unknown field 'size'"),
        ({"attachments": {"url": "https://x/a"}}, "attachments must be a list"),
        ({"shape": "query", "name": "Ana"}, "the query shape carries no name"),
        ({"shape": "query", "method": "PUT"}, "a GET or a form POST"),
    ],
)
def test_customer_message_checks_its_arguments(
    provider: ProviderStandIn, arguments: dict[str, Any], reason_part: str
) -> None:
    call: dict[str, Any] = {"url": "http://127.0.0.1:9/whatsapp/inbound/t", "user": CUSTOMER}
    call.update(arguments)
    url = call.pop("url")
    with pytest.raises(ValueError) as caught:
        provider.customer_message(url, **call)
    assert reason_part in str(caught.value)
    assert provider.customer_messages == []


def test_control_endpoint_sends_a_customer_message(
    provider: ProviderStandIn, receiver: Receiver, http: requests.Session
) -> None:
    url = inbound_url(receiver)
    photo = base64.b64encode(GOOD_MEDIA).decode()
    response = control(
        http,
        provider,
        {
            "url": url,
            "user": CUSTOMER,
            "text": "mira",
            "name": "Ana",
            "attachments": [{"base64": photo, "fileName": "p.jpg", "caption": "the box"}],
        },
    )

    assert response.status_code == 200
    assert response.headers["Content-Type"] == "application/json"
    answer = response.json()
    [got] = receiver.inbound
    [sent] = provider.customer_messages
    assert answer == {
        "id": sent.message_id,
        "shape": "json",
        "method": "POST",
        "url": url,
        "redelivery": False,
        "sent": got.json,
        "status": 200,
        "body": '{"ok": true}',
        "error": None,
    }
    [attachment] = got.json["extraInfo"]["attachments"]
    assert set(attachment) == {"url", "fileName", "caption"}
    assert (attachment["fileName"], attachment["caption"]) == ("p.jpg", "the box")
    assert got.json["extraInfo"]["type"] == "image"
    fetched = http.get(attachment["url"], timeout=5)
    assert (fetched.content, fetched.headers["Content-Type"]) == (GOOD_MEDIA, "image/jpeg")

    again = control(http, provider, {"resend": sent.message_id})
    assert again.status_code == 200 and again.json()["redelivery"] is True
    assert receiver.inbound[1].body == got.body

    query = control(
        http, provider, {"url": url, "user": CUSTOMER, "text": "hi", "shape": "query"}
    ).json()
    assert query["method"] == "GET" and query["status"] == 200
    assert set(query["sent"]) == {"mobile", "mo", "ts", "shortcode"}
    assert provider.requests == []  # the control route is not the provider's API


def test_control_endpoint_answers_502_when_the_app_cannot_be_reached(
    provider: ProviderStandIn, http: requests.Session
) -> None:
    response = control(http, provider, {"url": free_port_url(), "user": CUSTOMER})
    assert response.status_code == 502
    assert response.json()["status"] is None
    assert "Connection" in response.json()["error"]


@pytest.mark.parametrize(
    ("body", "reason_part"),
    [
        (b"not json", "body must be a JSON object"),
        (b"[1, 2]", "body must be a JSON object"),
        ({"user": CUSTOMER}, "url is required"),
        ({"url": "http://127.0.0.1:9/x"}, "user is required"),
        ({"url": "http://127.0.0.1:9/x", "user": CUSTOMER, "to": "x"}, "unknown field 'to'"),
        ({"url": "http://127.0.0.1:9/x", "user": 573001234567}, "user must be a phone number"),
        ({"url": "http://127.0.0.1:9/x", "user": CUSTOMER, "shape": "xml"}, "shape must be"),
        ({"url": "http://127.0.0.1:9/x", "user": CUSTOMER, "kind": ["image"]}, "kind must be"),
        ({"url": "http://127.0.0.1:9/x", "user": CUSTOMER, "text": 5}, "text must be a string"),
        ({"url": "http://127.0.0.1:9/x", "user": CUSTOMER, "attachments": "a"}, "must be a list"),
        (
            {"url": "http://127.0.0.1:9/x", "user": CUSTOMER, "attachments": [{"base64": "@@"}]},
            "attachments[0].fileName is required with base64",
        ),
        (
            {
                "url": "http://127.0.0.1:9/x",
                "user": CUSTOMER,
                "attachments": [{"base64": "@@", "fileName": "a.jpg"}],
            },
            "attachments[0].base64 is not valid base64",
        ),
        (
            {
                "url": "http://127.0.0.1:9/x",
                "user": CUSTOMER,
                "attachments": [{"base64": "", "url": "https://x/a", "fileName": "a.jpg"}],
            },
            "url or base64, not both",
        ),
        ({"resend": "wamid.never"}, "no customer message with id 'wamid.never' was sent"),
        ({"resend": "wamid.never", "text": "x"}, "resend takes no other field"),
    ],
)
def test_control_endpoint_refuses_bad_bodies_with_400(
    provider: ProviderStandIn, http: requests.Session, body: Any, reason_part: str
) -> None:
    target = f"{provider.url}{CUSTOMER_MESSAGE_PATH}"
    if isinstance(body, bytes):
        response = http.post(target, data=body, timeout=5)
    else:
        response = http.post(target, json=body, timeout=5)
    assert response.status_code == 400
    assert reason_part in reason(response)
    assert provider.customer_messages == []


def test_control_routes_answer_404_405_and_413(
    provider: ProviderStandIn, http: requests.Session
) -> None:
    target = f"{provider.url}{CUSTOMER_MESSAGE_PATH}"
    wrong_verb = http.get(target, timeout=5)
    assert (wrong_verb.status_code, wrong_verb.headers["Allow"]) == (405, "POST")
    assert reason(http.post(f"{provider.url}/_standin/other", json={}, timeout=5)) == "Not Found"
    too_big = http.post(target, data=b"x" * (provider.max_body_bytes + 1), timeout=5)
    assert too_big.status_code == 413
    assert provider.requests == []
