"""Slack's Web API client over kept-alive, pooled connections.

slack_sdk's `WebClient` sends every call through `urllib`, on a new connection (against
slack.com, a new TLS session) that is closed after the answer. `PooledWebClient` is the same
`WebClient` (its methods, retry handlers, `SlackApiError`s, `files_upload_v2`) whose requests
go out on `http.client` connections kept open between calls. Each answer and failure reaches
slack_sdk as `urllib` gives it: the same `HTTPMessage` headers, `HTTPError` for a status that
is not 2xx, `URLError` when the connection or the sending failed, the socket's own error when
the answer broke off.

A kept connection is used again only if the server has not closed it (checked as it is taken,
before anything is sent) and it sat idle less than `IDLE_SECONDS`. A request that could not be
sent whole on a kept connection (the server had closed it) is sent once more on a new one: the
server cannot have acted on it. One whose answer broke off is never sent again here (the server
may have acted on it); slack_sdk's retry handlers decide, as they do for a new connection.

With a proxy (`proxy=` or `HTTPS_PROXY`), calls go through slack_sdk's own `urllib` path,
one connection each.
"""

from __future__ import annotations

import copy
import http.client
import io
import logging
import os
import select
import threading
import time
import urllib.error
from ssl import SSLContext
from typing import Any, Final, Self, cast
from urllib.parse import urlsplit
from urllib.request import Request

from slack_sdk import WebClient
from slack_sdk.errors import SlackRequestError
from slack_sdk.web.file_upload_v2_result import FileUploadV2Result

__all__ = ["IDLE_SECONDS", "POOL_SIZE", "PooledWebClient"]

# Idle connections kept per host: enough for the background work (32 threads), the render
# workers and the request threads that call Slack at once. A caller finding none opens one;
# one given back to a full pool is closed.
POOL_SIZE: Final = 64
# A connection idle longer is closed, not used again: servers close idle ones (often after a
# minute), and one closed just as a request goes out would leave that request's fate unknown.
IDLE_SECONDS: Final = 30.0

_Key = tuple[str, str, int]  # scheme, host, port


class _Pool:
    """Idle connections by scheme, host and port, the most recently used last.

    Shared by a client and its copies; a forked child starts empty (the sockets are its
    parent's).
    """

    def __init__(self, size: int) -> None:
        self.size = size
        self._lock = threading.Lock()
        self._pid = os.getpid()
        self._idle: dict[_Key, list[tuple[float, http.client.HTTPConnection]]] = {}

    def take(self, key: _Key) -> http.client.HTTPConnection | None:
        """An idle connection the server has not closed, or None."""
        while True:
            with self._lock:
                self._forget_parents()
                idle = self._idle.get(key)
                if not idle:
                    return None
                since, conn = idle.pop()
            if time.monotonic() - since < IDLE_SECONDS and _open(conn):
                return conn
            conn.close()

    def give(self, key: _Key, conn: http.client.HTTPConnection) -> None:
        """Keep `conn` for the next call (or close it: the pool is full)."""
        now = time.monotonic()
        closing: list[http.client.HTTPConnection] = []
        with self._lock:
            self._forget_parents()
            idle = self._idle.setdefault(key, [])
            while idle and now - idle[0][0] >= IDLE_SECONDS:
                closing.append(idle.pop(0)[1])
            if len(idle) < self.size:
                idle.append((now, conn))
            else:
                closing.append(conn)
        for old in closing:
            old.close()

    def clear(self) -> None:
        with self._lock:
            idle, self._idle = self._idle, {}
        for connections in idle.values():
            for _, conn in connections:
                conn.close()

    def _forget_parents(self) -> None:
        if self._pid != os.getpid():
            self._pid = os.getpid()
            self._idle = {}


def _open(conn: http.client.HTTPConnection) -> bool:
    """Whether an idle connection is still open: nothing to read on it, not even its end."""
    sock = conn.sock
    if sock is None:
        return False
    try:
        if hasattr(select, "poll"):
            poll = select.poll()
            poll.register(sock, select.POLLIN)
            return not poll.poll(0)
        return not select.select([sock], [], [], 0)[0]
    except (OSError, ValueError):
        return False


class PooledWebClient(WebClient):
    """slack_sdk's `WebClient`, its calls over kept-alive connections shared by its copies."""

    def __init__(self, *, pool_size: int = POOL_SIZE, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._pool = _Pool(pool_size)

    def sharing_connections(self, *, team_id: str | None = None) -> Self:
        """A copy (settings, retry handlers) that uses the same connections; Bolt gives each
        request a client of its own, and a copy's token may change without touching this one."""
        twin = copy.copy(self)
        twin.headers = dict(self.headers)
        twin.default_params = dict(self.default_params)
        twin.retry_handlers = list(self.retry_handlers)
        if team_id is not None:
            twin.default_params["team_id"] = team_id
        return twin

    def close(self) -> None:
        """Close the idle connections (the copies' too); calls after open new ones."""
        self._pool.clear()

    # slack_sdk's transport, one request: every Web API method goes through here.
    def _perform_urllib_http_request_internal(self, url: str, req: Request) -> dict[str, Any]:
        if self.proxy:
            return super()._perform_urllib_http_request_internal(url, req)
        body = cast(bytes | None, req.data)  # slack_sdk's body is bytes, when there is one
        status, headers, data = self._post(url, body, dict(req.header_items()), self.timeout)
        if headers.get_content_type() == "application/gzip":
            return {"status": status, "headers": headers, "body": data}
        text = data.decode(headers.get_content_charset() or "utf-8")
        if self._logger.level <= logging.DEBUG:
            self._logger.debug(
                f"Received the following response - status: {status}, "
                f"headers: {dict(headers)}, body: {text}"
            )
        return {"status": status, "headers": headers, "body": text}

    # files_upload_v2's bytes, posted to the URL files.getUploadURLExternal gave.
    def _upload_file(
        self,
        *,
        url: str,
        data: bytes,
        logger: logging.Logger,
        timeout: int,
        proxy: str | None,
        ssl: SSLContext | None,
    ) -> FileUploadV2Result:
        if proxy or ssl is not self.ssl:
            return super()._upload_file(
                url=url, data=data, logger=logger, timeout=timeout, proxy=proxy, ssl=ssl
            )
        # What urllib sends with bytes and no headers: its form type.
        headers = {"Content-Type": "application/x-www-form-urlencoded"}
        status, answer, body = self._post(url, data, headers, timeout)
        charset = answer.get_content_charset() or "utf-8"
        return FileUploadV2Result(status=status, body=body.decode(charset))

    def _post(
        self, url: str, body: bytes | None, headers: dict[str, str], timeout: float
    ) -> tuple[int, http.client.HTTPMessage, bytes]:
        """One POST: its status, headers and body; `HTTPError` unless 2xx, as `urlopen`."""
        parts = urlsplit(url)
        scheme = parts.scheme.lower()
        if scheme not in ("http", "https") or not parts.hostname:
            raise SlackRequestError(f"Invalid URL detected: {url}")
        port = parts.port or (443 if scheme == "https" else 80)
        key = (scheme, parts.hostname, port)
        target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        conn = self._pool.take(key)
        if conn is not None:
            try:
                return self._exchange(key, conn, target, body, headers, timeout, url)
            except _NotSent:
                pass  # the server had closed it: the request never got there whole
        conn = self._connection(key, timeout)
        try:
            return self._exchange(key, conn, target, body, headers, timeout, url)
        except _NotSent as failed:
            raise urllib.error.URLError(failed.error) from failed.error

    def _connection(self, key: _Key, timeout: float) -> http.client.HTTPConnection:
        scheme, host, port = key
        if scheme == "https":
            return http.client.HTTPSConnection(host, port, timeout=timeout, context=self.ssl)
        return http.client.HTTPConnection(host, port, timeout=timeout)

    def _exchange(
        self,
        key: _Key,
        conn: http.client.HTTPConnection,
        target: str,
        body: bytes | None,
        headers: dict[str, str],
        timeout: float,
        url: str,
    ) -> tuple[int, http.client.HTTPMessage, bytes]:
        """The request and its whole answer on `conn`, kept for the next call if it may be.

        `_NotSent` when the request could not be sent (or the connection not made)."""
        if conn.sock is not None and conn.timeout != timeout:
            conn.sock.settimeout(timeout)
        conn.timeout = timeout
        try:
            conn.request("POST", target, body=body, headers=headers)
        except OSError as exc:
            conn.close()
            raise _NotSent(exc) from exc
        try:
            response = conn.getresponse()
            data = response.read()
        except BaseException:
            conn.close()
            raise
        if response.will_close:
            conn.close()
        else:
            self._pool.give(key, conn)
        if not 200 <= response.status < 300:
            raise urllib.error.HTTPError(
                url, response.status, response.reason, response.msg, io.BytesIO(data)
            )
        return response.status, response.msg, data


class _NotSent(Exception):
    """The connection could not be made or the request not sent whole."""

    def __init__(self, error: OSError) -> None:
        super().__init__(str(error))
        self.error = error
