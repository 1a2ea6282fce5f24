"""The stand-in provider's API: ``POST /notification`` checked and answered as documented."""

from __future__ import annotations

import contextlib
import json
import re
import secrets
import socket
import threading
import time
import uuid
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any, Final, cast
from urllib.parse import urlsplit

from bot.sandbox.http import JOIN_GRACE_SECONDS, BodyError, Handler
from bot.sandbox.provider.callbacks import DEFAULT_STATUSES, _check_steps, _Plan
from bot.sandbox.provider.control import Control
from bot.sandbox.provider.faults import Faults, _Fault
from bot.sandbox.provider.records import (
    CallbackAttempt,
    Headers,
    MediaFetch,
    RecordedRequest,
    SendRecord,
    StatusStep,
    _reason,
)

DEFAULT_API_KEY: Final = "test-provider-key"
MEDIA_TYPES: Final = frozenset({"image", "audio", "video", "document"})
SUPPORTED_TYPES: Final = frozenset({"text"}) | MEDIA_TYPES
MAX_TEXT_CHARS: Final = 1024

_DIGITS = re.compile(r"[0-9]+", re.ASCII)
_E164 = re.compile(r"\+?[1-9][0-9]{7,14}", re.ASCII)
_ALPHANUMERIC = re.compile(r"[A-Za-z0-9]+", re.ASCII)
_URL_PREFIXES: Final = ("http://", "https://")


@dataclass
class _Body:
    data: bytes = b""
    problem: tuple[int, str] | None = None


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


class ProviderStandIn(Faults, Control):
    """A loopback HTTP server that behaves like the provider's ``POST /notification``, and
    sends the app customer messages (``customers``, ``control``)."""

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
        self._init_customers()

        self._sockets: set[socket.socket] = set()  # the callbacks' own connections
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

    def reset(self) -> None:
        """Clear recordings, queued faults and next-send overrides (settings and hosted
        attachments are kept)."""
        with self._cond:
            self._requests.clear()
            self._sends.clear()
            self._callbacks.clear()
            self._fetches.clear()
            self._faults.clear()
            self._next_plans.clear()
            self._reset_customers()
            self._cond.notify_all()

    # Internals: a request

    def _serve(self, handler: Handler) -> None:
        if self._serve_own(handler):  # /_standin/ and /_media/: not the provider's API
            return
        handler = cast(_Handler, handler)
        body = _Body()
        record: RecordedRequest | None = None
        try:
            body = handler._read_body()
            try:
                parsed: Any = json.loads(body.data) if body.data else None
            except (ValueError, RecursionError):
                parsed = None
            record = RecordedRequest(
                method=handler.command,
                path=handler.path,
                headers=Headers(handler.headers.items()),
                body=body.data,
                json=parsed,
                received_at=time.monotonic(),
            )
            self._record_request(record)
            route = urlsplit(handler.path).path
            if route != self.path:
                handler.respond(record, HTTPStatus.NOT_FOUND, _reason("Not Found"))
            elif handler.command != "POST":
                handler.respond(
                    record,
                    HTTPStatus.METHOD_NOT_ALLOWED,
                    _reason("Method Not Allowed"),
                    headers={"Allow": "POST"},
                )
            elif body.problem is not None:
                status, reason = body.problem
                handler.respond(record, status, _reason(reason))
            else:
                self._handle_send(handler, record)
        except OSError:
            handler.close_connection = True
        except Exception:
            handler.close_connection = True
            if record is not None and record.response_status is None:
                with contextlib.suppress(Exception):
                    handler.respond(
                        record, HTTPStatus.INTERNAL_SERVER_ERROR, _reason("Internal Server Error")
                    )

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


def _optional_str(value: object) -> str | None:
    return None if value is None else str(value)


class _Handler(Handler):
    default_request_version = "HTTP/1.0"
    server_version = "ProviderStandIn/1.0"
    sys_version = ""
    timeout = 30.0

    @property
    def standin(self) -> ProviderStandIn:
        return cast(ProviderStandIn, self.server.standin)

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
            return _Body(data=exc.data, problem=(exc.status, exc.reason))
