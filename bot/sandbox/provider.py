"""Stand-in for the WhatsApp provider's notification API, served over HTTP on loopback.

It answers ``POST /notification`` the way the provider's page describes, records every
request, posts status callbacks in a sequence the caller chooses, can fetch media URLs as
the provider would (no redirects, at most 5 MB), and can inject faults (429, 5xx, hangs,
dropped connections, malformed answers) for the next sends.

Faults queued with :meth:`ProviderStandIn.fail_next` are consumed by the next
``POST /notification`` requests in order, before authentication and validation.
"""

from __future__ import annotations

import contextlib
import hashlib
import http.client
import json
import re
import secrets
import socket
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from http import HTTPStatus
from typing import Any, Final, cast
from urllib.parse import urlsplit

from bot.sandbox.http import JOIN_GRACE_SECONDS, BodyError, Handler, HttpStandIn

__all__ = [
    "DEFAULT_API_KEY",
    "DEFAULT_STATUSES",
    "FAULT_KINDS",
    "MEDIA_TYPES",
    "CallbackAttempt",
    "Headers",
    "MediaFetch",
    "ProviderStandIn",
    "RecordedRequest",
    "SendRecord",
    "StatusStep",
    "validation_error",
]

DEFAULT_API_KEY: Final = "test-provider-key"
DEFAULT_STATUSES: Final[tuple[str, ...]] = ("QUEUE", "SENT", "DELIVERED", "READ")
MEDIA_TYPES: Final = frozenset({"image", "audio", "video", "document"})
SUPPORTED_TYPES: Final = frozenset({"text"}) | MEDIA_TYPES
MAX_TEXT_CHARS: Final = 1024
FAULT_KINDS: Final = frozenset(
    {"429", "500", "503", "400", "401", "403", "hang", "drop", "garbage", "no_transaction_id"}
)

StatusStep = str | Mapping[str, object]
"""A status name, or a mapping of callback fields (with ``status``) merged into the body."""

_FAULT_OPTIONS: Final[Mapping[str, frozenset[str]]] = {
    "429": frozenset({"limit", "policy", "reset", "retry_after", "reason"}),
    "500": frozenset({"reason"}),
    "503": frozenset({"reason", "retry_after"}),
    "400": frozenset({"reason"}),
    "401": frozenset({"reason"}),
    "403": frozenset({"reason"}),
    "hang": frozenset({"seconds"}),
    "drop": frozenset(),
    "garbage": frozenset({"body", "content_type", "status"}),
    "no_transaction_id": frozenset(),
}

_DIGITS = re.compile(r"[0-9]+", re.ASCII)
_E164 = re.compile(r"\+?[1-9][0-9]{7,14}", re.ASCII)
_ALPHANUMERIC = re.compile(r"[A-Za-z0-9]+", re.ASCII)
_URL_PREFIXES: Final = ("http://", "https://")
_READ_CHUNK: Final = 64 * 1024


class Headers(Mapping[str, str]):
    """Request headers, keeping their original names, with case-insensitive lookup."""

    def __init__(self, items: Iterable[tuple[str, str]] = ()) -> None:
        self._items: dict[str, tuple[str, str]] = {}
        for name, value in items:
            key = name.lower()
            if key in self._items:
                first_name, first_value = self._items[key]
                self._items[key] = (first_name, f"{first_value}, {value}")
            else:
                self._items[key] = (name, value)

    def __getitem__(self, name: str) -> str:
        if not isinstance(name, str):
            raise KeyError(name)
        return self._items[name.lower()][1]

    def __iter__(self) -> Iterator[str]:
        return (name for name, _ in self._items.values())

    def __len__(self) -> int:
        return len(self._items)

    def __repr__(self) -> str:
        return f"Headers({dict(self.items())!r})"


@dataclass
class RecordedRequest:
    """One HTTP request the stand-in received, in arrival order."""

    method: str
    path: str
    headers: Headers
    body: bytes
    json: Any
    received_at: float
    response_status: int | None = None
    transaction_id: str | None = None
    fault: str | None = None


@dataclass(frozen=True)
class SendRecord:
    """One accepted send and what the stand-in answered for it."""

    transaction_id: str
    message_id: str
    timestamp_ms: int
    request: RecordedRequest
    payload: Mapping[str, Any]
    type: str
    sender: str
    to: str
    message: str
    external_id: str | None
    client_id: str | None
    callbacks: tuple[str, ...]


@dataclass(frozen=True)
class CallbackAttempt:
    """One status callback the stand-in tried to post, and how it went."""

    url: str
    body: bytes
    payload: Any
    status: str | None
    transaction_id: str | None
    http_status: int | None
    error: str | None
    sent_at: float


@dataclass(frozen=True)
class MediaFetch:
    """One media download attempt and what came back."""

    url: str
    transaction_id: str
    http_status: int | None
    content_type: str | None
    length: int | None
    sha256: str | None
    location: str | None
    error: str | None
    accepted: bool
    reason: str | None


@dataclass(frozen=True)
class _Fault:
    kind: str
    options: Mapping[str, object]


@dataclass(frozen=True)
class _Plan:
    steps: tuple[StatusStep, ...]
    delay: float


@dataclass
class _Body:
    data: bytes = b""
    problem: tuple[int, str] | None = None
    close: bool = False


def _reason(text: str) -> dict[str, dict[str, str]]:
    return {"errors": {"reason": text}}


def _utc_now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _callback_urls(value: object) -> tuple[tuple[str, ...], str | None]:
    """Parse ``callbacks`` (comma-separated string or list) into URLs, or give a reason."""
    if value is None:
        return (), None
    if isinstance(value, str):
        candidates: list[object] = list(value.split(","))
    elif isinstance(value, list):
        candidates = list(value)
    else:
        return (), "callbacks must be a comma-separated string or a list of URLs"
    urls: list[str] = []
    for candidate in candidates:
        if not isinstance(candidate, str):
            return (), "callbacks must be a comma-separated string or a list of URLs"
        url = candidate.strip()
        if not url:
            continue
        if not url.startswith(_URL_PREFIXES) or not urlsplit(url).hostname:
            return (), "callbacks must be http:// or https:// URLs"
        urls.append(url)
    return tuple(urls), None


def validation_error(payload: object) -> str | None:
    """Return the reason the stand-in would reject this send body with, or None if valid."""
    if not isinstance(payload, dict):
        return "body must be a JSON object"
    if "channel" not in payload:
        return "channel is required"
    if payload["channel"] != "WHATSAPP":
        return "channel must be WHATSAPP"
    request = payload.get("request")
    if not isinstance(request, dict):
        return "request must be an object"

    sender = request.get("from")
    if sender is None:
        return "request.from is required"
    if not isinstance(sender, str) or not _DIGITS.fullmatch(sender):
        return "request.from must contain only digits"

    to = request.get("to")
    if to is None:
        return "request.to is required"
    if not isinstance(to, str) or not _E164.fullmatch(to):
        return "request.to must be an E.164 number"

    kind = request.get("type")
    if kind is None:
        return "request.type is required"
    if kind not in SUPPORTED_TYPES:
        return "unsupported type"

    message = request.get("message")
    if message is None:
        return "request.message is required"
    if not isinstance(message, str):
        return "request.message must be a string"
    if kind == "text":
        if not message.strip():
            return "request.message must not be empty"
        if len(message) > MAX_TEXT_CHARS:
            return f"request.message is longer than {MAX_TEXT_CHARS} characters"
    elif not message.startswith(_URL_PREFIXES) or not urlsplit(message).hostname:
        return "request.message must be a URL starting with http:// or https://"

    if "caption" in request:
        if kind != "image":
            return "request.caption only applies to image"
        if not isinstance(request["caption"], str):
            return "request.caption must be a string"

    if "fileName" in request:
        if kind != "document":
            return "request.fileName only applies to document"
        file_name = request["fileName"]
        if not isinstance(file_name, str) or not file_name.lower().endswith(".pdf"):
            return "request.fileName must end with .pdf"

    if "externalId" in request:
        external_id = request["externalId"]
        if not isinstance(external_id, str) or not _ALPHANUMERIC.fullmatch(external_id):
            return "request.externalId must be alphanumeric"

    _, problem = _callback_urls(payload.get("callbacks"))
    return problem


class ProviderStandIn(HttpStandIn):
    """A loopback HTTP server that behaves like the provider's ``POST /notification``."""

    def __init__(
        self,
        *,
        api_key: str = DEFAULT_API_KEY,
        port: int = 0,
        path: str = "/notification",
        statuses: Sequence[StatusStep] = DEFAULT_STATUSES,
        callback_delay: float = 0.05,
        auto_callbacks: bool = True,
        fetch_media: bool = False,
        media_failure_status: str = "FAILED",
        max_media_bytes: int = 5_000_000,
        max_body_bytes: int = 1_000_000,
        latency: float = 0.0,
        success_status: int = 200,
        callback_timeout: float = 5.0,
        fetch_timeout: float = 5.0,
    ) -> None:
        self.api_key = api_key
        self.path = path
        self.media_failure_status = media_failure_status
        self.max_media_bytes = max_media_bytes
        self.max_body_bytes = max_body_bytes
        self.success_status = success_status
        self.callback_timeout = callback_timeout
        self.fetch_timeout = fetch_timeout

        self._cond = threading.Condition(threading.RLock())

        _check_steps(statuses)
        self._plan = _Plan(tuple(statuses), callback_delay)
        self._next_plans: deque[_Plan] = deque()
        self._faults: deque[_Fault] = deque()
        self._auto_callbacks = auto_callbacks
        self._fetch_media = fetch_media
        self._latency = latency

        self._requests: list[RecordedRequest] = []
        self._sends: dict[str, SendRecord] = {}
        self._callbacks: list[CallbackAttempt] = []
        self._fetches: list[MediaFetch] = []
        self._pending_workers = 0

        self._sockets: set[socket.socket] = set()
        self._workers: set[threading.Thread] = set()

        super().__init__(_Handler, port=port, name="provider-standin", poll_interval=0.01)

    # Lifecycle

    @property
    def notification_url(self) -> str:
        """Full URL of the send endpoint, the value to configure as the provider's api_url."""
        return f"{self.url}{self.path}"

    def stop(self) -> None:
        """Stop serving, release hanging requests and cancel pending callbacks."""
        if not self._shut_down():
            return
        with self._cond:
            sockets = list(self._sockets)
            threads = list(self._workers)
        for sock in sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
        deadline = time.monotonic() + JOIN_GRACE_SECONDS
        for thread in threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        with self._cond:
            self._cond.notify_all()

    # Settings

    @property
    def auto_callbacks(self) -> bool:
        """Whether accepted sends get their status callbacks automatically."""
        with self._cond:
            return self._auto_callbacks

    @auto_callbacks.setter
    def auto_callbacks(self, value: bool) -> None:
        with self._cond:
            self._auto_callbacks = value

    @property
    def fetch_media(self) -> bool:
        """Whether media URLs are downloaded (and possibly refused) before callbacks."""
        with self._cond:
            return self._fetch_media

    @fetch_media.setter
    def fetch_media(self, value: bool) -> None:
        with self._cond:
            self._fetch_media = value

    @property
    def latency(self) -> float:
        """Seconds to wait before answering each send."""
        with self._cond:
            return self._latency

    @latency.setter
    def latency(self, value: float) -> None:
        if value < 0:
            raise ValueError("latency must not be negative")
        with self._cond:
            self._latency = value

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

    def fail_next(self, kind: str, count: int = 1, **options: object) -> None:
        """Answer the next ``count`` sends with the fault ``kind`` (see FAULT_KINDS).

        Options: 429: limit, policy, reset ("2s"), retry_after, reason; 500/503/400/401/403:
        reason (503 also retry_after); hang: seconds (None waits until stop, then the
        connection is closed unanswered); garbage: body, content_type, status.
        """
        if kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault kind {kind!r}; choose from {sorted(FAULT_KINDS)}")
        unknown = set(options) - _FAULT_OPTIONS[kind]
        if unknown:
            raise ValueError(f"fault {kind!r} does not take {sorted(unknown)}")
        if count < 1:
            raise ValueError("count must be at least 1")
        for name in ("seconds", "status"):
            if options.get(name) is not None:
                _number(options[name])
        fault = _Fault(kind, dict(options))
        with self._cond:
            self._faults.extend([fault] * count)

    def clear_faults(self) -> None:
        """Forget faults queued and not used yet."""
        with self._cond:
            self._faults.clear()

    def reset(self) -> None:
        """Clear recordings, queued faults and next-send overrides (settings are kept)."""
        with self._cond:
            self._requests.clear()
            self._sends.clear()
            self._callbacks.clear()
            self._fetches.clear()
            self._faults.clear()
            self._next_plans.clear()
            self._cond.notify_all()

    # Recordings

    @property
    def requests(self) -> list[RecordedRequest]:
        """Every request received, in arrival order."""
        with self._cond:
            return list(self._requests)

    @property
    def sends(self) -> list[SendRecord]:
        """Accepted sends, in the order they were answered."""
        with self._cond:
            return list(self._sends.values())

    @property
    def callbacks(self) -> list[CallbackAttempt]:
        """Every callback post attempted, in the order they were made."""
        with self._cond:
            return list(self._callbacks)

    @property
    def fetches(self) -> list[MediaFetch]:
        """Every media download attempted, in order."""
        with self._cond:
            return list(self._fetches)

    def get_send(self, transaction_id: str) -> SendRecord:
        """The accepted send answered with this transactionId (KeyError if none)."""
        with self._cond:
            return self._sends[transaction_id]

    def callbacks_for(self, transaction_id: str) -> list[CallbackAttempt]:
        """Callback attempts made for one send."""
        with self._cond:
            return [c for c in self._callbacks if c.transaction_id == transaction_id]

    @property
    def pending_callbacks(self) -> int:
        """Number of sends whose media fetch or callback sequence is still running."""
        with self._cond:
            return self._pending_workers

    def wait_for(self, predicate: Callable[[], bool], timeout: float = 5.0) -> None:
        """Block until ``predicate()`` is true, re-checking after every recorded event."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while not predicate():
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError(f"condition not met within {timeout} s")
                self._cond.wait(remaining)

    def wait_for_requests(self, count: int, timeout: float = 5.0) -> list[RecordedRequest]:
        """Block until at least ``count`` requests were received and settled (answered, or
        held by a hang/drop fault), so an accepted one is already in ``sends``."""

        def settled(request: RecordedRequest) -> bool:
            return request.response_status is not None or request.fault in ("hang", "drop")

        def done() -> bool:
            with self._cond:
                first = self._requests[:count]
            return len(first) >= count and all(settled(r) for r in first)

        self.wait_for(done, timeout)
        return self.requests

    def wait_for_callbacks(
        self, count: int | None = None, timeout: float = 5.0
    ) -> list[CallbackAttempt]:
        """Block until ``count`` callbacks were attempted, or (count None) none are pending."""
        if count is None:
            self.wait_for(lambda: self._pending_workers == 0, timeout)
        else:
            wanted = count
            self.wait_for(lambda: len(self._callbacks) >= wanted, timeout)
        return self.callbacks

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

    # Internals: records

    def _record_request(self, request: RecordedRequest) -> None:
        with self._cond:
            self._requests.append(request)
            self._cond.notify_all()

    def _update_request(self, request: RecordedRequest, **changes: Any) -> None:
        with self._cond:
            for name, value in changes.items():
                setattr(request, name, value)
            self._cond.notify_all()

    def _track_socket(self, sock: socket.socket | None, add: bool) -> None:
        if sock is None:
            return
        with self._cond:
            if add:
                self._sockets.add(sock)
            else:
                self._sockets.discard(sock)

    def _take_fault(self) -> _Fault | None:
        with self._cond:
            return self._faults.popleft() if self._faults else None

    # Internals: handling a send

    def _handle_send(self, handler: _Handler, record: RecordedRequest) -> None:
        fault = self._take_fault()
        if fault is not None:
            self._update_request(record, fault=fault.kind)
        latency = self.latency
        if latency > 0 and self._stopping.wait(latency):
            handler.close_connection = True
            return
        if fault is not None:
            self._answer_fault(handler, record, fault)
            return

        if not self._authorized(record.headers.get("Authorization")):
            handler.respond(record, HTTPStatus.UNAUTHORIZED, _reason("Unauthorized"))
            return
        problem = validation_error(record.json)
        if problem is not None:
            handler.respond(record, HTTPStatus.BAD_REQUEST, _reason(problem))
            return

        payload = cast(dict[str, Any], record.json)
        request = cast(dict[str, Any], payload["request"])
        urls, _ = _callback_urls(payload.get("callbacks"))
        timestamp_ms = time.time_ns() // 1_000_000
        send = SendRecord(
            transaction_id=str(uuid.uuid4()),
            message_id=f"wamid.{secrets.token_hex(16)}",
            timestamp_ms=timestamp_ms,
            request=record,
            payload=payload,
            type=str(request["type"]),
            sender=str(request["from"]),
            to=str(request["to"]),
            message=str(request["message"]),
            external_id=cast(str | None, request.get("externalId")),
            client_id=_optional_str(request.get("clientId")),
            callbacks=urls,
        )
        fetch = self.fetch_media and send.type in MEDIA_TYPES
        with self._cond:
            plan = self._next_plans.popleft() if self._next_plans else None
            if plan is None and self._auto_callbacks:
                plan = self._plan
            if plan is not None and not send.callbacks:
                plan = None
            self._sends[send.transaction_id] = send
            record.transaction_id = send.transaction_id
            run_worker = fetch or plan is not None
            if run_worker:
                self._pending_workers += 1
            self._cond.notify_all()

        body = {
            "meta": {
                "timestamp": timestamp_ms,
                "transactionId": send.transaction_id,
                "explain": "Send Notification",
            }
        }
        try:
            handler.respond(record, self.success_status, body)
        finally:
            if run_worker:
                self._start_worker(send, plan, fetch)

    def _authorized(self, header: str | None) -> bool:
        if header is None:
            return False
        scheme, _, token = header.strip().partition(" ")
        return scheme.lower() == "bearer" and secrets.compare_digest(
            token.strip().encode(), self.api_key.encode()
        )

    def _answer_fault(self, handler: _Handler, record: RecordedRequest, fault: _Fault) -> None:
        opts = fault.options
        kind = fault.kind
        if kind == "429":
            limit = _opt(opts, "limit", 100)
            headers = {
                "ratelimit-limit": str(limit),
                "ratelimit-policy": str(_opt(opts, "policy", f"{limit};w=60")),
                "ratelimit-remaining": "0",
                "ratelimit-reset": str(_opt(opts, "reset", "2s")),
            }
            retry_after = opts.get("retry_after")
            if retry_after is not None:
                headers["Retry-After"] = str(retry_after)
            reason = str(_opt(opts, "reason", "Too Many Requests"))
            handler.respond(record, 429, _reason(reason), headers=headers)
        elif kind in {"500", "503", "400", "401", "403"}:
            status = HTTPStatus(int(kind))
            headers = {}
            if opts.get("retry_after") is not None:
                headers["Retry-After"] = str(opts["retry_after"])
            reason = str(_opt(opts, "reason", status.phrase))
            handler.respond(record, status, _reason(reason), headers=headers)
        elif kind == "hang":
            seconds = opts.get("seconds")
            self._stopping.wait(None if seconds is None else _number(seconds))
            handler.close_connection = True
        elif kind == "drop":
            handler.close_connection = True
        elif kind == "garbage":
            raw = _opt(opts, "body", b"<html><body>Bad Gateway</body></html>")
            data = raw if isinstance(raw, bytes) else str(raw).encode()
            handler.respond(
                record,
                int(_number(_opt(opts, "status", 200))),
                data,
                content_type=str(_opt(opts, "content_type", "text/html")),
            )
        else:  # no_transaction_id
            handler.respond(record, 200, {"meta": {}})

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


def _opt(options: Mapping[str, object], name: str, default: object) -> object:
    value = options.get(name)
    return default if value is None else value


def _number(value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(f"expected a number, got {value!r}")
    return float(value)


def _optional_str(value: object) -> str | None:
    return None if value is None else str(value)


def _optional_int(value: str | None) -> int | None:
    if value is None:
        return None
    try:
        return int(value)
    except ValueError:
        return None


class _Handler(Handler):
    protocol_version = "HTTP/1.1"
    default_request_version = "HTTP/1.0"
    server_version = "ProviderStandIn/1.0"
    sys_version = ""
    timeout = 30.0

    @property
    def standin(self) -> ProviderStandIn:
        return cast(ProviderStandIn, self.server.standin)

    def setup(self) -> None:
        super().setup()
        with contextlib.suppress(OSError):
            self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.standin._track_socket(self.connection, add=True)

    def finish(self) -> None:
        self.standin._track_socket(self.connection, add=False)
        with contextlib.suppress(OSError):
            super().finish()

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        self.close_connection = True
        try:
            reason = message or HTTPStatus(code).phrase
        except ValueError:
            reason = "Error"
        self._write(code, json.dumps(_reason(reason)).encode(), "application/json", {})

    def respond(
        self,
        record: RecordedRequest,
        status: int,
        payload: object,
        *,
        headers: Mapping[str, str] | None = None,
        content_type: str = "application/json",
    ) -> None:
        """Send one answer and note its status on the record."""
        data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        self.standin._update_request(record, response_status=int(status))
        self._write(int(status), data, content_type, headers or {})

    def _write(
        self, status: int, data: bytes, content_type: str, headers: Mapping[str, str]
    ) -> None:
        self.write(status, data, content_type, headers.items(), head=self.command == "HEAD")

    def _read_body(self) -> _Body:
        try:
            return _Body(data=self.read_limited(self.standin.max_body_bytes, strict=True))
        except BodyError as exc:
            return _Body(data=exc.data, problem=(exc.status, exc.reason), close=True)

    def _dispatch(self) -> None:
        standin = self.standin
        body = _Body()
        record: RecordedRequest | None = None
        try:
            body = self._read_body()
            if body.close:
                self.close_connection = True
            try:
                parsed: Any = json.loads(body.data) if body.data else None
            except (ValueError, RecursionError):
                parsed = None
            record = RecordedRequest(
                method=self.command,
                path=self.path,
                headers=Headers(self.headers.items()),
                body=body.data,
                json=parsed,
                received_at=time.monotonic(),
            )
            standin._record_request(record)
            route = urlsplit(self.path).path
            if route != standin.path:
                self.respond(record, HTTPStatus.NOT_FOUND, _reason("Not Found"))
            elif self.command != "POST":
                self.respond(
                    record,
                    HTTPStatus.METHOD_NOT_ALLOWED,
                    _reason("Method Not Allowed"),
                    headers={"Allow": "POST"},
                )
            elif body.problem is not None:
                status, reason = body.problem
                self.respond(record, status, _reason(reason))
            else:
                standin._handle_send(self, record)
        except OSError:
            self.close_connection = True
        except Exception:
            self.close_connection = True
            if record is not None and record.response_status is None:
                with contextlib.suppress(Exception):
                    self.respond(
                        record, HTTPStatus.INTERNAL_SERVER_ERROR, _reason("Internal Server Error")
                    )
