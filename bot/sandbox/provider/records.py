"""What the stand-in provider records: requests, accepted sends, callbacks, media fetches,
customer messages sent to the app and the app's downloads of their attachments.

:class:`ProviderState` holds the recordings and the lock that guards them; the faults and
callbacks parts of the stand-in, and its API, build on it.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from bot.sandbox.http import HttpStandIn

StatusStep = str | Mapping[str, object]
"""A status name, or a mapping of callback fields (with ``status``) merged into the body."""


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
class CustomerMessage:
    """One customer message the stand-in sent to the app, and what the app answered.

    ``payload`` is the JSON object (shape ``json``) or the parameters (shape ``query``);
    ``body`` the bytes sent (empty for a GET). ``redelivery`` is true when the stand-in had
    sent a message with this id before.
    """

    message_id: str
    shape: str
    method: str
    url: str
    user: str
    text: str
    headers: Mapping[str, str]
    body: bytes
    payload: Mapping[str, Any]
    redelivery: bool
    http_status: int | None
    response_body: bytes
    response_content_type: str | None
    error: str | None
    sent_at: float


@dataclass(frozen=True)
class AttachmentDownload:
    """One request for an attachment the stand-in hosts (``GET /_media/<id>``)."""

    media_id: str
    method: str
    headers: Headers
    http_status: int
    received_at: float


def _reason(text: str) -> dict[str, dict[str, str]]:
    return {"errors": {"reason": text}}


class ProviderState(HttpStandIn):
    """The recordings of a provider stand-in, readable and awaitable from any thread."""

    _cond: threading.Condition
    _requests: list[RecordedRequest]
    _sends: dict[str, SendRecord]
    _callbacks: list[CallbackAttempt]
    _fetches: list[MediaFetch]
    _pending_workers: int
    _sockets: set[socket.socket]
    _workers: set[threading.Thread]

    # Recordings

    @property
    def requests(self) -> list[RecordedRequest]:
        """Every request received, in arrival order (but the stand-in's own ``/_standin/``
        and ``/_media/`` routes: see ``customer_messages`` and ``attachment_downloads``)."""
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
