"""HTTP requests pinned to one checked address, all ending before one deadline.

The host name is resolved once (``lookup``); each request then connects to the very address that
was checked and never resolves the name again, so DNS rebinding cannot swap in another address.
The ``Host`` header carries the name from the link, and HTTPS is verified against that name (with
SNI). A watchdog shuts the socket down at the deadline, so no slow trickle of bytes outlasts it;
bodies are read in chunks, and only as far as asked. Which addresses may be used is decided in
``bot.media.addresses``, not here.
"""

from __future__ import annotations

import contextlib
import http.client
import ipaddress
import re
import socket
import ssl
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TypeAlias

from bot.media.addresses import IPAddress, Target

__all__ = [
    "PREFIX_BYTES",
    "Deadline",
    "Expired",
    "Resolver",
    "Session",
    "content_length_of",
    "content_range_of",
    "count_body",
    "lookup",
    "media_type_of",
    "read_body",
    "system_resolve",
]

Resolver: TypeAlias = Callable[[str, int], list[str]]

PREFIX_BYTES = 65_536
"""How much of the file is fetched (``Range: bytes=0-65535``) to recognise its content."""

_READ_CHUNK = 65_536
_USER_AGENT = "slack-whatsapp-bot/0.1 (media link check)"


# --- time ------------------------------------------------------------------------------------


class Expired(Exception):
    """The deadline passed."""


class Deadline:
    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self._end = time.monotonic() + seconds

    def left(self) -> float:
        return self._end - time.monotonic()

    def remaining(self) -> float:
        """Seconds left; raises Expired when there are none."""
        left = self.left()
        if left <= 0:
            raise Expired
        return left

    @property
    def expired(self) -> bool:
        return self.left() <= 0


class _Watchdog:
    """Shuts a socket down at the deadline, so no slow trickle of bytes can outlast it."""

    def __init__(self, sock: socket.socket, deadline: Deadline) -> None:
        self._lock = threading.Lock()
        self._sock = sock
        self._stopped = False
        self._timer = threading.Timer(max(deadline.left(), 0.0), self._fire)
        self._timer.daemon = True
        self._timer.start()

    def watch(self, sock: socket.socket) -> None:
        with self._lock:
            self._sock = sock

    def _fire(self) -> None:
        with self._lock:
            if self._stopped:
                return
            # The plain socket's shutdown, also for an SSLSocket: it just ends the stream.
            with contextlib.suppress(OSError):
                socket.socket.shutdown(self._sock, socket.SHUT_RDWR)

    def stop(self) -> None:
        """Call before closing the socket."""
        with self._lock:
            self._stopped = True
            self._timer.cancel()


# --- names and addresses ---------------------------------------------------------------------


def system_resolve(host: str, port: int) -> list[str]:
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return [str(info[4][0]) for info in infos if info[0] in (socket.AF_INET, socket.AF_INET6)]


def lookup(resolve: Resolver, host: str, port: int, deadline: Deadline) -> list[IPAddress]:
    """``resolve(host, port)`` as IP addresses, given up on at the deadline.

    Raises Expired, or the resolver's own error (OSError, UnicodeError...), or ValueError for
    an answer that is not an IP address.
    """
    answers: list[list[str]] = []
    errors: list[Exception] = []

    def run() -> None:
        try:
            answers.append(resolve(host, port))
        except Exception as error:
            errors.append(error)

    worker = threading.Thread(target=run, name=f"resolve {host}", daemon=True)
    worker.start()
    worker.join(deadline.remaining())
    if worker.is_alive():
        raise Expired
    if errors:
        raise errors[0]
    addresses: list[IPAddress] = []
    for text in answers[0]:
        address = ipaddress.ip_address(text)
        if isinstance(address, ipaddress.IPv6Address) and address.scope_id:
            address = ipaddress.IPv6Address(int(address))
        if address not in addresses:
            addresses.append(address)
    return addresses


# --- HTTP to one checked address -------------------------------------------------------------


def _tls_context() -> ssl.SSLContext:
    return ssl.create_default_context()  # certificates verified, host name checked


class _PinnedConnection(http.client.HTTPConnection):
    """An HTTPConnection over a socket that is already connected to the checked address."""

    def __init__(self, target: Target, sock: socket.socket) -> None:
        super().__init__(target.host, target.port)
        self.sock = sock

    def connect(self) -> None:
        # Never connect (or resolve) again: the socket goes to the address that was checked.
        raise http.client.HTTPException("the pinned connection was closed")


class Session:
    """Requests, each on its own connection, to one checked address, all before one deadline."""

    def __init__(self, target: Target, candidates: list[IPAddress], deadline: Deadline) -> None:
        self.target = target
        self.deadline = deadline
        self.address: IPAddress | None = None
        self.phase = "connect"
        self._candidates = candidates

    @contextmanager
    def request(self, method: str, *, ranged: bool = False) -> Iterator[http.client.HTTPResponse]:
        self.phase = "connect"
        sock = self._connect_tcp()
        watchdog = _Watchdog(sock, self.deadline)
        try:
            if self.target.https:
                self.phase = "tls"
                sock = _tls_context().wrap_socket(
                    sock, server_hostname=self.target.host, do_handshake_on_connect=False
                )
                watchdog.watch(sock)
                sock.do_handshake()
            conn = _PinnedConnection(self.target, sock)
            try:
                self.phase = "answer"
                conn.putrequest(method, self.target.request_path, skip_host=True)
                conn.putheader("Host", self.target.host_header)
                conn.putheader("User-Agent", _USER_AGENT)
                conn.putheader("Accept", "*/*")
                conn.putheader("Connection", "close")
                if ranged:
                    conn.putheader("Range", f"bytes=0-{PREFIX_BYTES - 1}")
                conn.endheaders()
                response = conn.getresponse()
                self.phase = "download"
                yield response
            finally:
                watchdog.stop()
                conn.close()
        finally:
            watchdog.stop()
            sock.close()

    def _connect_tcp(self) -> socket.socket:
        candidates = [self.address] if self.address is not None else self._candidates
        failure: OSError | None = None
        for address in candidates:
            family = socket.AF_INET6 if address.version == 6 else socket.AF_INET
            sock = socket.socket(family, socket.SOCK_STREAM)
            try:
                sock.settimeout(self.deadline.remaining())
                sock.connect((str(address), self.target.port))
            except OSError as error:
                sock.close()
                failure = error
                continue
            except BaseException:
                sock.close()
                raise
            self.address = address
            return sock
        if failure is None or self.deadline.expired:
            raise Expired
        raise failure


# --- reading answers -------------------------------------------------------------------------


def read_body(
    response: http.client.HTTPResponse, limit: int, deadline: Deadline
) -> tuple[bytes, bool]:
    """Up to ``limit`` bytes of the body, and whether the body ended within them."""
    chunks: list[bytes] = []
    got = 0
    while got < limit:
        chunk = response.read(min(_READ_CHUNK, limit - got))
        if deadline.expired:
            raise Expired
        if not chunk:
            return b"".join(chunks), True
        chunks.append(chunk)
        got += len(chunk)
    return b"".join(chunks), False


def count_body(response: http.client.HTTPResponse, limit: int, deadline: Deadline) -> int:
    """Bytes left in the body, counting no further than ``limit``."""
    got = 0
    while got < limit:
        chunk = response.read(min(_READ_CHUNK, limit - got))
        if deadline.expired:
            raise Expired
        if not chunk:
            break
        got += len(chunk)
    return got


def content_length_of(response: http.client.HTTPResponse) -> int | None:
    values = {v.strip() for v in response.headers.get_all("Content-Length") or ()}
    if len(values) != 1:
        return None
    value = values.pop()
    return int(value) if value.isdigit() and len(value) < 19 else None


_CONTENT_RANGE = re.compile(r"bytes\s+(?:(\d{1,18})-(\d{1,18})|\*)/(\d{1,18}|\*)", re.IGNORECASE)


def content_range_of(response: http.client.HTTPResponse) -> tuple[int | None, int | None] | None:
    """(first byte, total size) from Content-Range; None when it is missing or malformed."""
    match = _CONTENT_RANGE.fullmatch((response.getheader("Content-Range") or "").strip())
    if match is None:
        return None
    first, last, total = match.groups()
    start = None if first is None else int(first)
    size = None if total == "*" else int(total)
    if start is not None and (int(last) < start or (size is not None and int(last) >= size)):
        return None
    return start, size


_MEDIA_TYPE = re.compile(r"[a-z0-9][a-z0-9!#$&^_.+-]{0,63}/[a-z0-9][a-z0-9!#$&^_.+-]{0,63}")


def media_type_of(response: http.client.HTTPResponse) -> str | None:
    """The declared Content-Type, lower case, without parameters; "" if it is malformed."""
    value = response.getheader("Content-Type")
    if value is None or not value.strip():
        return None
    media_type = value.split(";", 1)[0].strip().lower()
    return media_type if _MEDIA_TYPE.fullmatch(media_type) else ""
