"""The provider's HTTP API. The only module that imports requests.

A POST is never retried here when it may have reached the provider: a duplicate WhatsApp
message to a customer is worse than an error. Each failure says whether it may have.
"""

from __future__ import annotations

import email.utils
import json
import re
import time
from dataclasses import dataclass
from typing import Any

import requests
from requests.adapters import HTTPAdapter
from urllib3.exceptions import NewConnectionError

MAX_RESPONSE_BYTES = 1_000_000


@dataclass(frozen=True)
class SendResult:
    transaction_id: str
    timestamp: int | None
    explain: str


class ProviderError(Exception):
    """The provider did not accept a send."""

    kind = "error"
    may_have_been_received = False

    def __init__(self, reason: str, *, status: int | None = None) -> None:
        self.reason = reason
        self.status = status
        super().__init__(reason)


class ProviderRejected(ProviderError):
    """The provider answered 4xx: it refused this message; nothing was sent."""

    kind = "rejected"


class ProviderUnauthorized(ProviderRejected):
    """401/403: the API key is wrong, expired, or lacks the right to send."""

    kind = "unauthorized"


class ProviderRateLimited(ProviderError):
    """429: nothing was sent; try again after `retry_after` seconds (None when not said)."""

    kind = "rate_limited"

    def __init__(self, reason: str, *, status: int | None = 429, retry_after: float | None) -> None:
        super().__init__(reason, status=status)
        self.retry_after = retry_after


class ProviderUnavailable(ProviderError):
    """5xx, a timeout, a dropped connection or a garbled answer."""

    kind = "unavailable"

    def __init__(
        self, reason: str, *, status: int | None = None, may_have_been_received: bool
    ) -> None:
        super().__init__(reason, status=status)
        self.may_have_been_received = may_have_been_received


class ProviderClient:
    """Sends notification requests; one HTTP session, Bearer auth, bounded timeouts."""

    def __init__(
        self,
        *,
        api_url: str,
        api_key: str,
        timeout_seconds: float = 10.0,
        connect_timeout_seconds: float = 5.0,
        pool_size: int = 10,
    ) -> None:
        self.api_url = api_url
        self._timeout = (connect_timeout_seconds, timeout_seconds)
        self._session = requests.Session()
        # max_retries=0: urllib3 must not resend a request on its own.
        adapter = HTTPAdapter(pool_connections=1, pool_maxsize=pool_size, max_retries=0)
        self._session.mount("http://", adapter)
        self._session.mount("https://", adapter)
        self._session.headers.update(
            {
                "Authorization": f"Bearer {api_key}",
                "Content-Type": "application/json",
                "Accept": "application/json",
                "User-Agent": "slack-whatsapp-bot",
            }
        )

    def close(self) -> None:
        self._session.close()

    def send(self, body: dict[str, Any]) -> SendResult:
        """POST one notification; return its transactionId or raise a ProviderError."""
        data = json.dumps(body, ensure_ascii=False).encode("utf-8")
        try:
            response = self._session.post(
                self.api_url, data=data, timeout=self._timeout, stream=True, allow_redirects=False
            )
        except requests.exceptions.ConnectTimeout:
            raise ProviderUnavailable(
                "the provider could not be reached (connection timed out)",
                may_have_been_received=False,
            ) from None
        except requests.exceptions.Timeout:
            raise ProviderUnavailable(
                f"the provider did not answer within {self._timeout[1]:g} seconds",
                may_have_been_received=True,
            ) from None
        except requests.exceptions.ConnectionError as exc:
            raise _connection_error(exc) from None
        except requests.exceptions.RequestException as exc:
            raise ProviderUnavailable(
                f"the request failed ({type(exc).__name__})", may_have_been_received=True
            ) from None
        with response:
            return _interpret(response)


def _connection_error(exc: requests.exceptions.ConnectionError) -> ProviderUnavailable:
    """Refused before a connection existed: safe. Broken after sending: maybe received."""
    reason = exc.args[0] if exc.args else None
    underlying = getattr(reason, "reason", reason)
    if isinstance(underlying, NewConnectionError | ConnectionRefusedError):
        return ProviderUnavailable(
            "the provider refused the connection", may_have_been_received=False
        )
    return ProviderUnavailable(
        "the connection to the provider broke before it answered", may_have_been_received=True
    )


def _read_body(response: requests.Response) -> tuple[bytes, bool]:
    """At most MAX_RESPONSE_BYTES of the body, and whether it was complete."""
    chunks: list[bytes] = []
    size = 0
    try:
        for chunk in response.iter_content(64 * 1024):
            chunks.append(chunk)
            size += len(chunk)
            if size > MAX_RESPONSE_BYTES:
                return b"".join(chunks), False
    except requests.exceptions.RequestException:
        return b"".join(chunks), False
    return b"".join(chunks), True


def _interpret(response: requests.Response) -> SendResult:
    raw, complete = _read_body(response)
    status = response.status_code
    payload = _json(raw) if complete else None
    reason = _reason(payload) or response.reason or f"HTTP {status}"
    if 200 <= status < 300:
        return _success(payload, status)
    if status == 429:
        raise ProviderRateLimited(
            reason, retry_after=retry_after_seconds(response.headers, now=time.time())
        )
    if status in (401, 403):
        raise ProviderUnauthorized(reason, status=status)
    if 400 <= status < 500:
        raise ProviderRejected(reason, status=status)
    if 300 <= status < 400:
        raise ProviderRejected(
            f"the provider redirected the request (HTTP {status})", status=status
        )
    raise ProviderUnavailable(
        f"the provider failed (HTTP {status}: {reason})",
        status=status,
        may_have_been_received=True,
    )


def _success(payload: Any, status: int) -> SendResult:
    meta = payload.get("meta") if isinstance(payload, dict) else None
    transaction_id = meta.get("transactionId") if isinstance(meta, dict) else None
    if not isinstance(meta, dict) or not isinstance(transaction_id, str) or not transaction_id:
        # A 2xx may mean it was sent, so this is not a refusal.
        raise ProviderUnavailable(
            f"the provider answered HTTP {status} without a transactionId",
            status=status,
            may_have_been_received=True,
        )
    timestamp = meta.get("timestamp")
    explain = meta.get("explain")
    return SendResult(
        transaction_id=transaction_id,
        timestamp=timestamp if isinstance(timestamp, int) else None,
        explain=explain if isinstance(explain, str) else "",
    )


def _json(raw: bytes) -> Any:
    try:
        return json.loads(raw)
    except ValueError:
        return None


def _reason(payload: Any) -> str | None:
    """The provider's `errors.reason`, or a `message`/`error` text when that is what it sent."""
    if not isinstance(payload, dict):
        return None
    errors = payload.get("errors")
    if isinstance(errors, dict) and isinstance(errors.get("reason"), str):
        return str(errors["reason"])
    if isinstance(errors, list) and errors and isinstance(errors[0], dict):
        first = errors[0].get("reason") or errors[0].get("message")
        if isinstance(first, str):
            return first
    for key in ("message", "error", "reason"):
        if isinstance(payload.get(key), str):
            return str(payload[key])
    return None


_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(h|ms|m|s|us|µs|ns)")


def parse_duration(text: str) -> float | None:
    """Seconds in a Go-style duration (`5m0s`, `1.5s`) or a bare number of seconds."""
    text = text.strip()
    if not text:
        return None
    try:
        return max(0.0, float(text))
    except ValueError:
        pass
    parts = _DURATION_PART.findall(text)
    if not parts or "".join(n + u for n, u in parts) != text:
        return None
    scale = {"h": 3600, "m": 60, "s": 1, "ms": 1e-3, "us": 1e-6, "µs": 1e-6, "ns": 1e-9}
    return sum(float(n) * scale[u] for n, u in parts)


def retry_after_seconds(headers: Any, *, now: float) -> float | None:
    """When to try again, from `Retry-After` (seconds or a date) or `ratelimit-reset`."""
    retry_after = headers.get("Retry-After")
    if retry_after:
        seconds = parse_duration(retry_after)
        if seconds is not None:
            return seconds
        try:
            when = email.utils.parsedate_to_datetime(retry_after)
        except (TypeError, ValueError):
            when = None
        if when is not None:
            return max(0.0, when.timestamp() - now)
    reset = headers.get("ratelimit-reset")
    if reset:
        return parse_duration(reset)
    return None
