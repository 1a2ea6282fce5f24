"""The threaded loopback HTTP server under every stand-in: Slack, the provider, the file host.

A stand-in subclasses :class:`HttpStandIn` and answers each request in ``_serve(handler)``;
its handler class subclasses :class:`Handler`, which dispatches the HTTP methods it accepts,
reads bodies within a limit and writes answers.

They speak HTTP/1.1: a connection stays open for the client's next request (every answer
carries its Content-Length) until the client closes it, the handler's ``timeout`` passes idle,
or the stand-in stops, which closes every connection still open.
"""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Callable, Iterable
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, ClassVar, Final, Self

__all__ = ["BodyError", "Handler", "HttpStandIn"]

JOIN_GRACE_SECONDS: Final = 2.0
_CHUNK: Final = 64 * 1024


class BodyError(Exception):
    """A request body that breaks the rules: the status to answer, why, and what was read."""

    def __init__(self, status: HTTPStatus, reason: str, data: bytes = b"") -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason
        self.data = data


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    allow_reuse_address = True
    request_queue_size = 128

    def __init__(
        self, address: tuple[str, int], handler: type[Handler], standin: HttpStandIn
    ) -> None:
        self.standin = standin
        super().__init__(address, handler)

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Keep tracebacks out of the output; a broken connection is the client's business."""


class Handler(BaseHTTPRequestHandler):
    """Hands every request in ``methods`` (all of them when None) to the stand-in."""

    server: _Server
    protocol_version = "HTTP/1.1"
    methods: ClassVar[frozenset[str] | None] = None
    replied: bool = False
    body_read: bool = False

    def setup(self) -> None:
        super().setup()
        # An answer's headers and body are two writes: without this, on a kept-alive
        # connection the body waits for the client's delayed ACK of the headers (40 ms).
        with contextlib.suppress(OSError):
            self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.server.standin._track(self.connection, add=True)

    def finish(self) -> None:
        self.server.standin._track(self.connection, add=False)
        with contextlib.suppress(OSError):
            super().finish()

    def __getattr__(self, name: str) -> Callable[[], None]:
        if name.startswith("do_") and (self.methods is None or name[3:] in self.methods):
            return self._dispatch
        raise AttributeError(name)

    def log_message(self, format: str, *args: Any) -> None:
        """Stay quiet; the stand-ins record what they need."""

    def internal_error(self) -> None:
        """Answer a request whose handling raised before any answer (default: none, close)."""

    def _dispatch(self) -> None:
        self.replied = False
        self.body_read = False
        try:
            self.server.standin._serve(self)
        except OSError:
            self.close_connection = True
        except Exception:
            if not self.replied:
                with contextlib.suppress(Exception):
                    self.internal_error()
            self.close_connection = True
        if self._body_unread():
            self.close_connection = True

    def _body_unread(self) -> bool:
        """Whether the request has a body not read: the connection cannot take another."""
        headers = getattr(self, "headers", None)  # none yet: a request line refused
        if self.body_read or headers is None:
            return False
        if "Transfer-Encoding" in headers:
            return True
        return str(headers.get("Content-Length", "0")).strip() not in {"", "0"}

    def read_limited(self, limit: int, *, strict: bool = False) -> bytes:
        """The body, by Content-Length (or chunked unless ``strict``), of at most ``limit`` bytes.

        ``strict`` refuses any Transfer-Encoding, a Content-Length that is not a number and a
        body shorter than announced. A refusal raises BodyError and closes the connection.
        """
        try:
            data = self._read_within(limit, strict=strict)
        except BodyError:
            self.close_connection = True
            raise
        self.body_read = True
        return data

    def _read_within(self, limit: int, *, strict: bool) -> bytes:
        if strict and "Transfer-Encoding" in self.headers:
            raise BodyError(HTTPStatus.LENGTH_REQUIRED, "Length Required")
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            return self._read_chunked(limit)
        raw_length = self.headers.get("Content-Length")
        if raw_length is None or (not strict and not raw_length):
            return b""
        try:
            length = int(raw_length.strip())
        except ValueError:
            length = -1
        if length < 0:
            raise BodyError(HTTPStatus.BAD_REQUEST, "invalid Content-Length")
        if length > limit:
            raise BodyError(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, "Payload Too Large")
        data = self.rfile.read(length) if length else b""
        if strict and len(data) < length:
            raise BodyError(HTTPStatus.BAD_REQUEST, "incomplete body", data)
        return data

    def _read_chunked(self, limit: int) -> bytes:
        parts: list[bytes] = []
        total = 0
        while True:
            line = self.rfile.readline(1024).split(b";", 1)[0].strip()
            try:
                size = int(line, 16)
            except ValueError as exc:
                raise BodyError(HTTPStatus.BAD_REQUEST, "invalid chunk size") from exc
            if size == 0:
                while self.rfile.readline(1024).strip():
                    pass
                return b"".join(parts)
            total += size
            if total > limit:
                raise BodyError(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, "Payload Too Large")
            parts.append(self.rfile.read(size))
            self.rfile.readline(8)

    def write(
        self,
        status: int,
        body: bytes,
        content_type: str | None,
        headers: Iterable[tuple[str, str]] = (),
        *,
        head: bool = False,
        reason: str | None = None,
    ) -> None:
        """One answer; ``head`` leaves the body out but keeps its Content-Length."""
        self.replied = True
        self.send_response(status, reason)
        if content_type is not None:
            self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        said = False  # the caller's own Connection header
        for name, value in headers:
            self.send_header(name, value)
            said = said or name.lower() == "connection"
        if self._body_unread():
            self.close_connection = True
        if self.close_connection and not said and self.protocol_version >= "HTTP/1.1":
            self.send_header("Connection", "close")
        self.end_headers()
        if head:
            return
        view = memoryview(body)
        for offset in range(0, len(body), _CHUNK):
            self.wfile.write(view[offset : offset + _CHUNK])


class HttpStandIn:
    """A threaded HTTP server on ``host`` (port 0: any free one) whose thread ``start`` runs."""

    def __init__(
        self,
        handler: type[Handler],
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        name: str = "standin",
        poll_interval: float = 0.05,
    ) -> None:
        self._life = threading.Lock()
        self._started = False
        self._stopped = False
        self._stopping = threading.Event()
        self._open: set[socket.socket] = set()
        self._accepted = 0
        self._server = _Server((host, port), handler, self)
        bound_host, bound_port = self._server.server_address[:2]
        self.host: str = str(bound_host)
        self.port: int = int(bound_port)
        self._serve_thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": poll_interval},
            name=f"{name}-{self.port}",
            daemon=True,
        )

    @property
    def url(self) -> str:
        """Base URL, e.g. ``http://127.0.0.1:54321``."""
        return f"http://{self.host}:{self.port}"

    @property
    def connections(self) -> int:
        """Connections accepted so far."""
        with self._life:
            return self._accepted

    def close_connections(self) -> None:
        """Shut every connection open now, as a server closes idle kept-alive ones."""
        with self._life:
            connections = list(self._open)
        for connection in connections:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)

    def _serve(self, handler: Handler) -> None:
        """Answer one request."""
        raise NotImplementedError

    def _track(self, connection: socket.socket, *, add: bool) -> None:
        """Note a connection opened or closed; one opened after ``stop`` is shut at once."""
        with self._life:
            if not add:
                self._open.discard(connection)
                return
            self._accepted += 1
            if not self._stopped:
                self._open.add(connection)
                return
        with contextlib.suppress(OSError):
            connection.shutdown(socket.SHUT_RDWR)

    def start(self) -> Self:
        """Start serving in a daemon thread; returns self."""
        with self._life:
            if self._stopped:
                raise RuntimeError("the stand-in has been stopped and cannot be restarted")
            if self._started:
                return self
            self._started = True
        self._serve_thread.start()
        return self

    def stop(self) -> None:
        """Stop serving, close the socket and every connection still open; safe to call
        twice."""
        self._shut_down()

    def _shut_down(self) -> bool:
        """Stop serving and shut the open connections (their handlers, waiting for a next
        request or in the middle of one, end); False when it was already stopped."""
        with self._life:
            if self._stopped:
                return False
            self._stopped = True
            started = self._started
        self._stopping.set()
        if started:
            self._server.shutdown()
        self._server.server_close()
        self.close_connections()
        if started:
            self._serve_thread.join(JOIN_GRACE_SECONDS)
        return True

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
