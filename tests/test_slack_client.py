"""The Web API client over kept-alive connections (`bot/slack_client.py`): calls share one
connection, one the server closed while idle is replaced before anything is sent, and answers
and failures reach slack_sdk (its errors, its retry handlers) as they did over urllib."""

from __future__ import annotations

import json
import socket
import threading
import urllib.error
from collections import deque
from collections.abc import Iterator
from http.client import RemoteDisconnected
from types import SimpleNamespace
from typing import Any

import pytest
from slack_bolt import BoltContext, BoltResponse
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry import builtin_handlers, handler
from slack_sdk.http_retry.builtin_handlers import (
    ConnectionErrorRetryHandler,
    RateLimitErrorRetryHandler,
)
from slack_sdk.http_retry.request import HttpRequest
from slack_sdk.http_retry.response import HttpResponse
from slack_sdk.http_retry.state import RetryState

from bot.app import CountingWebClient, _listeners_share_connections, slack_client
from bot.sandbox.http import Handler, HttpStandIn
from bot.sandbox.slack import DEFAULT_BOT_TOKEN, SlackStandIn
from bot.slack_client import PooledWebClient
from bot.usecases.metrics import Metrics
from tests.conftest import make_config
from tests.test_metrics import samples

CHANNEL = "C0123SUPPORT"
OK = (200, {"ok": True}, {})


class Server(HttpStandIn):
    """Answers each POST with the next of `answers` (then `{"ok": true}`); "drop" closes the
    connection without an answer, "hang" never answers. Counts requests and connections."""

    def __init__(self, *answers: Any) -> None:
        self.answers: deque[Any] = deque(answers)
        self.requests: list[tuple[str, bytes]] = []
        self.closed = threading.Semaphore(0)  # released as a connection's handler ends
        super().__init__(_Recording)
        self.start()

    def _serve(self, handler: Handler) -> None:
        body = handler.read_limited(1 << 20)
        self.requests.append((handler.path, body))
        answer = self.answers.popleft() if self.answers else OK
        if answer == "drop":
            handler.close_connection = True
            return
        if answer == "hang":
            self._stopping.wait()
            handler.close_connection = True
            return
        status, payload, headers = answer
        data = json.dumps(payload).encode()
        handler.write(status, data, "application/json; charset=utf-8", headers.items())


class _Recording(Handler):
    methods = frozenset({"POST"})
    timeout = 30

    def finish(self) -> None:
        super().finish()
        self.server.standin.closed.release()  # type: ignore[attr-defined]


class Errors(ConnectionErrorRetryHandler):
    """Retries nothing; notes every error the client reports to its retry handlers."""

    def __init__(self) -> None:
        super().__init__(max_retry_count=0)
        self.seen: list[Exception] = []

    def _can_retry(
        self,
        *,
        state: RetryState,
        request: HttpRequest,
        response: HttpResponse | None = None,
        error: Exception | None = None,
    ) -> bool:
        if error is not None:
            self.seen.append(error)
        return False


@pytest.fixture
def slept(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """slack_sdk's retry handlers wait here instead of sleeping."""
    waits: list[float] = []
    fake = SimpleNamespace(sleep=waits.append)
    monkeypatch.setattr(handler, "time", fake)
    monkeypatch.setattr(builtin_handlers, "time", fake)
    return waits


@pytest.fixture
def server() -> Iterator[Server]:
    with Server() as running:
        yield running


@pytest.fixture
def slack() -> Iterator[SlackStandIn]:
    with SlackStandIn() as standin:
        standin.add_channel(CHANNEL, "support")
        yield standin


def client_of(url: str, **options: Any) -> PooledWebClient:
    return PooledWebClient(token=DEFAULT_BOT_TOKEN, base_url=f"{url}/api/", timeout=5, **options)


# ---------------------------------------------------------------- kept alive


def test_calls_share_one_kept_alive_connection(slack: SlackStandIn) -> None:
    client = client_of(slack.url)
    for number in range(5):
        client.chat_postMessage(channel=CHANNEL, text=f"message {number}")
    client.auth_test()
    assert len(slack.channel_messages(CHANNEL)) == 5
    assert slack.connections == 1


def test_the_apps_client_and_its_copies_share_connections(slack: SlackStandIn) -> None:
    config = make_config(slack={"api_base_url": slack.api_url, "bot_token": DEFAULT_BOT_TOKEN})
    client = slack_client(config, metrics=Metrics())
    assert isinstance(client, CountingWebClient)
    client.auth_test()
    copy = client.sharing_connections(team_id="T0TEAM")
    copy.token = "xoxb-changed"
    copy.auth_test(token=DEFAULT_BOT_TOKEN)
    assert client.token == DEFAULT_BOT_TOKEN
    assert "team_id" not in client.default_params
    assert slack.connections == 1


def test_bolt_listeners_get_a_copy_of_the_apps_client() -> None:
    client = CountingWebClient(metrics=Metrics(), token=DEFAULT_BOT_TOKEN, retry_handlers=[])
    context = BoltContext({"team_id": "T0TEAM"})
    share = _listeners_share_connections(client)
    answer = share(context, lambda: BoltResponse(status=200))
    given = context.client
    assert answer.status == 200
    assert isinstance(given, CountingWebClient)
    assert given is not client
    assert given._pool is client._pool
    assert given.metrics is client.metrics
    assert given.default_params == {"team_id": "T0TEAM"}


def test_files_upload_v2_uploads_over_the_same_connection(slack: SlackStandIn) -> None:
    client = client_of(slack.url)
    data = bytes(range(256)) * 64
    answer = client.files_upload_v2(
        channel=CHANNEL, content=data, filename="photo.jpg", title="A photo"
    )
    (upload,) = slack.uploads
    assert (upload.file_id, upload.name, upload.content) == (
        answer["file"]["id"],
        "photo.jpg",
        data,
    )
    assert slack.connections == 1


def test_a_connection_the_server_closed_while_idle_is_replaced_before_sending(
    server: Server, slept: list[float]
) -> None:
    errors = Errors()
    client = client_of(server.url, retry_handlers=[errors])
    assert client.auth_test()["ok"]
    server.close_connections()  # as a server ends a kept-alive connection left idle
    assert server.closed.acquire(timeout=5)

    assert client.chat_postMessage(channel=CHANNEL, text="after the close")["ok"]
    assert [path for path, _ in server.requests] == ["/api/auth.test", "/api/chat.postMessage"]
    assert server.connections == 2
    assert errors.seen == []
    assert slept == []


def test_a_request_whose_answer_broke_off_is_not_sent_again(server: Server) -> None:
    server.answers.extend([OK, "drop"])  # the second received, then closed: no answer
    client = client_of(server.url, retry_handlers=[])
    assert client.auth_test()["ok"]
    with pytest.raises(RemoteDisconnected):
        client.chat_postMessage(channel=CHANNEL, text="once")
    assert len(server.requests) == 2
    assert client.auth_test()["ok"]  # the next call on a new connection
    assert server.connections == 2


def test_a_request_that_could_not_be_sent_on_a_kept_connection_goes_on_a_new_one(
    server: Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    errors = Errors()
    client = client_of(server.url, retry_handlers=[errors])
    assert client.auth_test()["ok"]
    ((_, kept),) = next(iter(client._pool._idle.values()))
    kept.sock.shutdown(socket.SHUT_WR)  # sending on it now fails
    monkeypatch.setattr("bot.slack_client._open", lambda conn: True)  # as if closed just after
    assert client.chat_postMessage(channel=CHANNEL, text="sent once")["ok"]
    assert [path for path, _ in server.requests] == ["/api/auth.test", "/api/chat.postMessage"]
    assert server.connections == 2
    assert errors.seen == []


def test_a_broken_connection_is_retried_by_slack_sdks_handler_as_before(
    server: Server, slept: list[float]
) -> None:
    server.answers.append("drop")
    client = client_of(server.url, retry_handlers=[ConnectionErrorRetryHandler(2)])
    assert client.auth_test()["ok"]
    assert len(server.requests) == 2
    assert len(slept) == 1


def test_an_answer_too_late_is_a_timeout_not_retried(server: Server, slept: list[float]) -> None:
    server.answers.append("hang")
    client = PooledWebClient(
        token=DEFAULT_BOT_TOKEN,
        base_url=f"{server.url}/api/",
        timeout=0.2,  # type: ignore[arg-type]
        retry_handlers=[ConnectionErrorRetryHandler(2)],
    )
    with pytest.raises(TimeoutError):
        client.auth_test()
    assert len(server.requests) == 1
    assert slept == []


# ---------------------------------------------------------------- errors as before


def test_a_refusal_is_a_slack_api_error(slack: SlackStandIn) -> None:
    client = client_of(slack.url)
    with pytest.raises(SlackApiError) as refused:
        client.chat_postMessage(channel=CHANNEL, text="hello", token="xoxb-wrong")
    assert refused.value.response["error"] == "invalid_auth"
    client.chat_postMessage(channel=CHANNEL, text="then a good one")
    assert slack.connections == 1


def test_rate_limited_calls_wait_retry_after_and_try_again(
    server: Server, slept: list[float]
) -> None:
    limited = (429, {"ok": False, "error": "ratelimited"}, {"Retry-After": "3"})
    server.answers.extend([limited, limited])
    client = client_of(server.url, retry_handlers=[RateLimitErrorRetryHandler(max_retry_count=3)])
    assert client.chat_postMessage(channel=CHANNEL, text="hello")["ok"]
    assert len(server.requests) == 3
    assert [int(wait) for wait in slept] == [3, 3]
    assert server.connections == 1  # an error's answer keeps the connection too


def test_rate_limited_without_retries_is_a_slack_api_error_with_its_headers(
    server: Server,
) -> None:
    server.answers.append((429, {"ok": False, "error": "ratelimited"}, {"Retry-After": "7"}))
    client = client_of(server.url, retry_handlers=[])
    with pytest.raises(SlackApiError) as limited:
        client.chat_postMessage(channel=CHANNEL, text="hello")
    assert limited.value.response.status_code == 429
    assert limited.value.response["error"] == "ratelimited"
    assert limited.value.response.headers["Retry-After"] == "7"


def test_a_refused_connection_is_a_url_error_retried_by_slack_sdk(slept: list[float]) -> None:
    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))
        port = unused.getsockname()[1]
    metrics = Metrics()
    client = CountingWebClient(
        metrics=metrics,
        token=DEFAULT_BOT_TOKEN,
        base_url=f"http://127.0.0.1:{port}/api/",
        retry_handlers=[ConnectionErrorRetryHandler(max_retry_count=2)],
    )
    with pytest.raises(urllib.error.URLError) as failed:
        client.auth_test()
    assert isinstance(failed.value.reason, ConnectionRefusedError)
    assert len(slept) == 2
    found = samples(metrics.exposition())
    assert found['slack_api_errors_total{error="URLError",method="auth.test"}'] == 1


def test_through_a_proxy_calls_go_by_slack_sdks_own_way(slack: SlackStandIn) -> None:
    client = PooledWebClient(
        token=DEFAULT_BOT_TOKEN, base_url="http://slack.invalid/api/", proxy=slack.url
    )
    client.chat_postMessage(channel=CHANNEL, text="through the proxy")
    client.auth_test()
    assert len(slack.channel_messages(CHANNEL)) == 1
    assert slack.connections == 2  # urllib's: one per call
