"""`GET /metrics` on the real app with two gunicorn workers: a send and its callbacks counted
once whichever worker took each request, whichever worker answers the scrape; a bearer token
when configured; odd requests never a 500."""

from __future__ import annotations

import http.client
import threading
from collections.abc import Iterator, Mapping
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from bot.sandbox.launch import wait_until
from tests.scenarios.harness import Harness
from tests.scenarios.test_slash_send import confirm_and_send

TOKEN = "metrics-token-0123456789abcdef"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


@pytest.fixture
def two_workers(tmp_path: Path) -> Iterator[Harness]:
    harness = Harness(tmp_path, workers=2, metrics={"token": TOKEN}).start()
    yield harness
    harness.close()


def call(
    bot: Harness, path: str = "/metrics", method: str = "GET", headers: Mapping[str, str] = AUTH
) -> tuple[int, dict[str, str], bytes]:
    """One request on a fresh connection (so either worker may take it)."""
    conn = http.client.HTTPConnection("127.0.0.1", bot.port, timeout=10)
    try:
        conn.request(method, path, headers=dict(headers))
        response = conn.getresponse()
        return response.status, dict(response.getheaders()), response.read()
    finally:
        conn.close()


def scrape(bot: Harness) -> Samples:
    status, headers, body = call(bot)
    assert status == 200, body
    assert headers["Content-Type"].startswith("text/plain; version=0.0.4")
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(body.decode("utf-8"))
        for sample in family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


def test_a_send_and_its_callbacks_are_counted_once_across_two_workers(
    two_workers: Harness,
) -> None:
    bot = two_workers
    before = scrape(bot)
    for state in ("sent", "failed", "unknown"):
        assert value(before, "whatsapp_sends_total", state=state) == 0
    assert ("whatsapp_inbound_messages_total", frozenset()) in before
    assert value(before, "whatsapp_provider_request_seconds_count") == 0

    confirm_and_send(bot)
    bot.wait_thread("Status: *READ*")
    bot.provider.wait_for_callbacks()
    (send,) = bot.provider.sends
    # duplicates, all at once: the two workers take some each
    duplicates = [
        threading.Thread(target=bot.provider.post_status, args=(send.transaction_id, "READ"))
        for _ in range(8)
    ]
    for thread in duplicates:
        thread.start()
    for thread in duplicates:
        thread.join(10)

    def counted() -> Samples | None:
        samples = scrape(bot)
        return samples if value(samples, "whatsapp_thread_lag_seconds_count") >= 1 else None

    wait_until(counted, 10, "the thread's lag observed")
    for _ in range(8):  # whichever worker answers, the same totals
        samples = scrape(bot)
        assert value(samples, "whatsapp_sends_total", state="sent") == 1
        assert value(samples, "whatsapp_sends_total", state="failed") == 0
        assert value(samples, "whatsapp_sends_total", state="unknown") == 0
        assert value(samples, "whatsapp_provider_request_seconds_count") == 1
        assert value(samples, "whatsapp_provider_request_seconds_bucket", le="+Inf") == 1
        for status in ("QUEUE", "SENT", "DELIVERED"):
            assert value(samples, "whatsapp_callbacks_total", status=status) == 1, status
        assert value(samples, "whatsapp_callbacks_total", status="READ") == 1 + len(duplicates)
        assert value(samples, "whatsapp_callbacks_total", status="refused") == 0
        assert value(samples, "whatsapp_inbound_messages_total") == 0
        assert 1 <= value(samples, "whatsapp_thread_lag_seconds_count") <= 4
        assert 0 <= value(samples, "whatsapp_thread_lag_seconds_sum") < 15
        assert not [key for key in samples if key[0] == "slack_api_errors_total"]

    # a Slack error is counted by method and error code
    bot.slack.fail_next("chat.postMessage", "channel_not_found")
    confirm_and_send(bot)
    wait_until(
        lambda: (
            value(
                scrape(bot),
                "slack_api_errors_total",
                method="chat.postMessage",
                error="channel_not_found",
            )
            == 1
        ),
        15,
        "the refused chat.postMessage counted",
    )
    bot.provider.wait_for_requests(2)
    wait_until(
        lambda: value(scrape(bot), "whatsapp_sends_total", state="sent") == 2, 10, "two sends"
    )


def test_the_token_is_required_and_odd_requests_are_never_a_500(two_workers: Harness) -> None:
    bot = two_workers
    wrong = [
        {},
        {"Authorization": ""},
        {"Authorization": "Bearer"},
        {"Authorization": "Bearer "},
        {"Authorization": f"Basic {TOKEN}"},
        {"Authorization": f"Bearer {TOKEN}x"},
        {"Authorization": f"Bearer {TOKEN[:-1]}"},
        {"Authorization": f"Bearer{TOKEN}"},
        {"Authorization": f"Bearer {TOKEN} {TOKEN}"},
        {"Authorization": f"Bearer {TOKEN[:-1]}\u00e9"},
        {"Authorization": "Bearer " + "x" * 6000},
    ]
    for headers in wrong:
        status, answer_headers, body = call(bot, headers=headers)
        assert status == 401, (headers, status, body)
        assert answer_headers["WWW-Authenticate"].startswith("Bearer")
        assert TOKEN.encode() not in body
    for headers in (
        AUTH,
        {"Authorization": f"bearer {TOKEN}"},
        {"Authorization": f"  Bearer   {TOKEN}  "},
        {**AUTH, "X-Forwarded-For": "10.0.0.1", "Cookie": "a=b", "Accept": "application/json"},
        {**AUTH, "Accept": "application/openmetrics-text; version=1.0.0"},
        {**AUTH, "Content-Length": "0", "Content-Type": "application/json"},
    ):
        status, _, body = call(bot, headers=headers)
        assert status == 200 and b"whatsapp_sends_total" in body, (headers, status)
    for path in ("/metrics?", "/metrics?x=1", "/metrics?%ff%00", "/metrics?a=" + "b" * 4000):
        status, _, body = call(bot, path)
        assert status == 200 and b"whatsapp_sends_total" in body, path
    for path in ("/metrics/", "/metrics/x", "/Metrics", "/metrics%00"):
        assert call(bot, path)[0] == 404, path
    for method in ("POST", "PUT", "DELETE", "PATCH", "OPTIONS", "TRACE", "FOO"):
        status, headers, _ = call(bot, method=method)
        assert status == 405 and headers["Allow"] == "GET, HEAD", method
    status, headers, body = call(bot, method="HEAD")
    assert status == 200 and body == b"" and int(headers["Content-Length"]) > 0
    assert call(bot, method="HEAD", headers={})[0] == 401
    assert "Traceback" not in bot.log()


def test_without_a_token_metrics_are_open(bot: Harness) -> None:
    status, headers, body = call(bot, headers={})
    assert status == 200 and b"# TYPE whatsapp_thread_lag_seconds histogram" in body
    assert headers["Cache-Control"] == "no-store"
