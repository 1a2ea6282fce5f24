"""Status callbacks the stand-in provider posts after a send, and the media it fetches first."""

from __future__ import annotations

import hashlib
import http.client
import json
import threading
import time
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final
from urllib.parse import urlsplit

from bot.sandbox.provider.records import (
    CallbackAttempt,
    MediaFetch,
    ProviderState,
    SendRecord,
    StatusStep,
)

DEFAULT_STATUSES: Final[tuple[str, ...]] = ("QUEUE", "SENT", "DELIVERED", "READ")
_READ_CHUNK: Final = 64 * 1024


@dataclass(frozen=True)
class _Plan:
    steps: tuple[StatusStep, ...]
    delay: float


def _utc_now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class Callbacks(ProviderState):
    """The callback sequence for each accepted send, run in a thread of its own."""

    _plan: _Plan
    _next_plans: deque[_Plan]
    media_failure_status: str
    max_media_bytes: int
    callback_timeout: float
    fetch_timeout: float

    def set_statuses(self, statuses: Sequence[StatusStep], *, delay: float | None = None) -> None:
        """Set the callback sequence (and optionally the delay between steps) for later sends."""
        _check_steps(statuses)
        with self._cond:
            self._plan = _Plan(tuple(statuses), self._plan.delay if delay is None else delay)

    def set_next_statuses(
        self, statuses: Sequence[StatusStep], *, delay: float | None = None
    ) -> None:
        """Use this sequence for the next accepted send only (even if auto_callbacks is off)."""
        _check_steps(statuses)
        with self._cond:
            self._next_plans.append(
                _Plan(tuple(statuses), self._plan.delay if delay is None else delay)
            )

    # Callbacks on demand

    def callback_payload(
        self,
        transaction_id: str,
        status: str,
        *,
        url: str | None = None,
        reason: str | None = None,
        extra: Mapping[str, object] | None = None,
    ) -> dict[str, object]:
        """The callback body the stand-in would post for this send and status."""
        send = self.get_send(transaction_id)
        target = url if url is not None else (send.callbacks[0] if send.callbacks else "")
        fields: dict[str, object] = {"status": status}
        if reason is not None:
            fields["reason"] = reason
        if extra:
            fields.update(extra)
        return _build_callback(send, target, fields)

    def post_status(
        self,
        transaction_id: str,
        status: str,
        *,
        reason: str | None = None,
        extra: Mapping[str, object] | None = None,
        urls: Sequence[str] | None = None,
    ) -> list[CallbackAttempt]:
        """Post one status now to the send's callback URLs (or ``urls``); return the attempts."""
        send = self.get_send(transaction_id)
        attempts = []
        for url in send.callbacks if urls is None else urls:
            payload = self.callback_payload(
                transaction_id, status, url=url, reason=reason, extra=extra
            )
            attempts.append(
                self._post(url, json.dumps(payload).encode(), "application/json", transaction_id)
            )
        return attempts

    def post_raw(
        self,
        url: str,
        body: bytes,
        *,
        content_type: str = "application/json",
        transaction_id: str | None = None,
    ) -> CallbackAttempt:
        """Post an arbitrary body to a URL now, recorded like any callback."""
        return self._post(url, body, content_type, transaction_id)

    # Internals: after a send

    def _start_worker(self, send: SendRecord, plan: _Plan | None, fetch: bool) -> None:
        thread = threading.Thread(
            target=self._run_worker,
            args=(send, plan, fetch),
            name=f"provider-standin-callbacks-{send.transaction_id[:8]}",
            daemon=True,
        )
        with self._cond:
            self._workers.add(thread)
        thread.start()

    def _run_worker(self, send: SendRecord, plan: _Plan | None, fetch: bool) -> None:
        try:
            if fetch:
                refusal = self._fetch(send)
                if refusal is not None and plan is not None:
                    failure = {"status": self.media_failure_status, "reason": refusal}
                    plan = _Plan(("QUEUE", failure), plan.delay)
            if plan is None:
                return
            for step in plan.steps:
                if self._stopping.wait(plan.delay):
                    return
                fields: dict[str, object] = (
                    {"status": step} if isinstance(step, str) else dict(step)
                )
                for url in send.callbacks:
                    if self._stopping.is_set():
                        return
                    body = json.dumps(_build_callback(send, url, fields)).encode()
                    self._post(url, body, "application/json", send.transaction_id)
        finally:
            with self._cond:
                self._pending_workers -= 1
                self._workers.discard(threading.current_thread())
                self._cond.notify_all()

    def _connect(self, url: str, timeout: float) -> tuple[http.client.HTTPConnection, str]:
        parts = urlsplit(url)
        if parts.scheme not in {"http", "https"} or not parts.hostname:
            raise ValueError(f"not an http(s) URL: {url!r}")
        connection_class = (
            http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
        )
        conn = connection_class(parts.hostname, parts.port, timeout=timeout)
        target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        conn.connect()
        self._track_socket(conn.sock, add=True)
        return conn, target

    def _close(self, conn: http.client.HTTPConnection | None) -> None:
        if conn is None:
            return
        self._track_socket(conn.sock, add=False)
        conn.close()

    def _post(
        self, url: str, body: bytes, content_type: str, transaction_id: str | None
    ) -> CallbackAttempt:
        try:
            payload: Any = json.loads(body)
        except (ValueError, RecursionError):
            payload = None
        status = payload.get("status") if isinstance(payload, dict) else None
        http_status: int | None = None
        error: str | None = None
        conn: http.client.HTTPConnection | None = None
        try:
            if self._stopping.is_set():
                raise ConnectionAbortedError("stand-in stopped")
            conn, target = self._connect(url, self.callback_timeout)
            conn.request(
                "POST",
                target,
                body=body,
                headers={"Content-Type": content_type, "User-Agent": "provider-standin"},
            )
            response = conn.getresponse()
            response.read()
            http_status = response.status
        except Exception as exc:
            error = f"{type(exc).__name__}: {exc}"
        finally:
            self._close(conn)
        attempt = CallbackAttempt(
            url=url,
            body=body,
            payload=payload,
            status=status if isinstance(status, str) else None,
            transaction_id=transaction_id,
            http_status=http_status,
            error=error,
            sent_at=time.monotonic(),
        )
        with self._cond:
            self._callbacks.append(attempt)
            self._cond.notify_all()
        return attempt

    def _fetch(self, send: SendRecord) -> str | None:
        """Download the send's media as the provider would; return a refusal reason or None."""
        url = send.message
        http_status: int | None = None
        content_type: str | None = None
        length: int | None = None
        digest: str | None = None
        location: str | None = None
        error: str | None = None
        reason: str | None = None
        conn: http.client.HTTPConnection | None = None
        try:
            conn, target = self._connect(url, self.fetch_timeout)
            conn.request("GET", target, headers={"User-Agent": "provider-standin"})
            response = conn.getresponse()
            http_status = response.status
            content_type = response.getheader("Content-Type")
            location = response.getheader("Location")
            declared = _optional_int(response.getheader("Content-Length"))
            if 300 <= http_status < 400:
                reason = f"media URL redirected ({http_status}); redirects are not supported"
            elif http_status != 200:
                reason = f"media URL answered HTTP {http_status}"
            elif declared is not None and declared > self.max_media_bytes:
                length = declared
                reason = f"media is larger than {self.max_media_bytes} bytes"
            else:
                hasher = hashlib.sha256()
                length = 0
                while length <= self.max_media_bytes and not self._stopping.is_set():
                    chunk = response.read(_READ_CHUNK)
                    if not chunk:
                        break
                    hasher.update(chunk)
                    length += len(chunk)
                if length > self.max_media_bytes:
                    reason = f"media is larger than {self.max_media_bytes} bytes"
                elif self._stopping.is_set():
                    reason = "stand-in stopped during the download"
                else:
                    digest = hasher.hexdigest()
        except Exception as exc:
            error = f"{type(exc).__name__}: {exc}"
            reason = f"media URL could not be fetched ({error})"
        finally:
            self._close(conn)
        fetched = MediaFetch(
            url=url,
            transaction_id=send.transaction_id,
            http_status=http_status,
            content_type=content_type,
            length=length,
            sha256=digest,
            location=location,
            error=error,
            accepted=reason is None,
            reason=reason,
        )
        with self._cond:
            self._fetches.append(fetched)
            self._cond.notify_all()
        return reason


def _check_steps(steps: Sequence[StatusStep]) -> None:
    if isinstance(steps, str):
        raise TypeError("statuses must be a sequence of steps, not one string")
    for step in steps:
        if isinstance(step, Mapping) and not isinstance(step.get("status"), str):
            raise ValueError("a mapping step needs a string 'status'")


def _build_callback(send: SendRecord, url: str, fields: Mapping[str, object]) -> dict[str, object]:
    body: dict[str, object] = {"callback": url, "date": _utc_now_iso()}
    if send.external_id is not None:
        body["externalId"] = send.external_id
    if send.client_id is not None:
        body["clientId"] = send.client_id
    body.update(
        {
            "campaignId": None,
            "from": send.sender,
            "to": send.to,
            "id": send.message_id,
        }
    )
    body.update(fields)
    return body


def _optional_int(value: str | None) -> int | None:
    if value is None:
        return None
    try:
        return int(value)
    except ValueError:
        return None
