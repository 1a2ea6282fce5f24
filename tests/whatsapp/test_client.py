"""The provider client against the stand-in provider over real HTTP: one POST, whatever fails."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest
import responses
from responses import matchers

from bot.sandbox.provider import ProviderStandIn
from bot.whatsapp.client import (
    ProviderClient,
    ProviderRateLimited,
    ProviderRejected,
    ProviderUnauthorized,
    ProviderUnavailable,
    parse_duration,
    retry_after_seconds,
)

BODY = {
    "channel": "WHATSAPP",
    "request": {
        "from": "15550001111",
        "to": "+573001234567",
        "message": "https://example.com/a.png",
        "type": "image",
        "caption": "The best coffee in the town!",
        "externalId": "abc123",
    },
}


@pytest.fixture
def provider() -> Iterator[ProviderStandIn]:
    with ProviderStandIn(auto_callbacks=False) as standin:
        yield standin


def client_for(provider: ProviderStandIn, *, key: str = "test-provider-key") -> ProviderClient:
    return ProviderClient(
        api_url=provider.notification_url, api_key=key, timeout_seconds=1, connect_timeout_seconds=1
    )


def test_success_returns_the_transaction_id(provider: ProviderStandIn) -> None:
    result = client_for(provider).send(BODY)
    (request,) = provider.requests
    assert request.json == BODY
    assert request.headers["Authorization"] == "Bearer test-provider-key"
    assert request.headers["Content-Type"] == "application/json"
    assert result.transaction_id == provider.sends[0].transaction_id
    assert result.explain == "Send Notification"
    assert isinstance(result.timestamp, int)


def test_rejected_carries_the_providers_reason(provider: ProviderStandIn) -> None:
    provider.fail_next("400", reason="Invalid destination number")
    with pytest.raises(ProviderRejected) as info:
        client_for(provider).send(BODY)
    assert info.value.reason == "Invalid destination number"
    assert info.value.status == 400 and not info.value.may_have_been_received
    assert len(provider.requests) == 1


def test_a_body_the_provider_refuses_is_rejected(provider: ProviderStandIn) -> None:
    bad = {**BODY, "channel": "SMS"}
    with pytest.raises(ProviderRejected) as info:
        client_for(provider).send(bad)
    assert "channel" in info.value.reason


@pytest.mark.parametrize("kind", ["401", "403"])
def test_unauthorized(provider: ProviderStandIn, kind: str) -> None:
    provider.fail_next(kind)
    with pytest.raises(ProviderUnauthorized) as info:
        client_for(provider).send(BODY)
    assert info.value.status == int(kind) and not info.value.may_have_been_received
    assert len(provider.requests) == 1


def test_a_wrong_key_is_unauthorized(provider: ProviderStandIn) -> None:
    with pytest.raises(ProviderUnauthorized):
        client_for(provider, key="wrong").send(BODY)


def test_rate_limited_says_when_to_try_again(provider: ProviderStandIn) -> None:
    provider.fail_next("429", reset="5m0s")
    with pytest.raises(ProviderRateLimited) as info:
        client_for(provider).send(BODY)
    assert info.value.retry_after == 300
    assert info.value.reason == "Too Many Requests"
    assert not info.value.may_have_been_received
    assert len(provider.requests) == 1


@pytest.mark.parametrize("kind", ["500", "503", "garbage", "no_transaction_id", "drop"])
def test_server_side_failures_may_have_been_received(provider: ProviderStandIn, kind: str) -> None:
    provider.fail_next(kind)
    with pytest.raises(ProviderUnavailable) as info:
        client_for(provider).send(BODY)
    assert info.value.may_have_been_received
    assert len(provider.requests) == 1


def test_a_timeout_may_have_been_received_and_is_not_retried(provider: ProviderStandIn) -> None:
    provider.fail_next("hang", seconds=3)
    with pytest.raises(ProviderUnavailable) as info:
        client_for(provider).send(BODY)
    assert info.value.may_have_been_received
    assert "did not answer within 1 seconds" in info.value.reason
    assert len(provider.requests) == 1


def test_connection_refused_was_not_received() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    client = ProviderClient(api_url=f"http://127.0.0.1:{port}/notification", api_key="k")
    with pytest.raises(ProviderUnavailable) as info:
        client.send(BODY)
    assert not info.value.may_have_been_received


@responses.activate
def test_exact_wire_format() -> None:
    """The body is exactly the JSON given and the key goes only in the Authorization header."""
    responses.post(
        "https://provider.example/notification",
        json={"meta": {"timestamp": 1, "transactionId": "t-1", "explain": "Send Notification"}},
        match=[
            matchers.json_params_matcher(BODY, strict_match=True),
            matchers.header_matcher(
                {"Authorization": "Bearer k-1", "Content-Type": "application/json"}
            ),
        ],
    )
    client = ProviderClient(api_url="https://provider.example/notification", api_key="k-1")
    assert client.send(BODY).transaction_id == "t-1"


@responses.activate
def test_a_redirect_is_not_followed() -> None:
    responses.post("https://provider.example/notification", status=302, headers={"Location": "/x"})
    client = ProviderClient(api_url="https://provider.example/notification", api_key="k")
    with pytest.raises(ProviderRejected):
        client.send(BODY)
    assert len(responses.calls) == 1


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("5m0s", 300), ("1.5s", 1.5), ("2h", 7200), ("30", 30), ("250ms", 0.25), ("soon", None)],
)
def test_durations(text: str, seconds: float | None) -> None:
    assert parse_duration(text) == seconds


def test_retry_after_prefers_the_standard_header() -> None:
    assert retry_after_seconds({"Retry-After": "7", "ratelimit-reset": "5m0s"}, now=0) == 7
    date = "Thu, 01 Jan 1970 00:01:40 GMT"
    assert retry_after_seconds({"Retry-After": date}, now=40) == 60
    assert retry_after_seconds({}, now=0) is None
