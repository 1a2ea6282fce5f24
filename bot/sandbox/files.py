"""A stand-in web host for media URLs: serves the files a test or the demo puts on it."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self


@dataclass(frozen=True)
class HostedFile:
    data: bytes
    content_type: str
    status: int = 200
    location: str | None = None


class FileHost:
    """Serves GET and HEAD on 127.0.0.1 (port 0); records each request's path."""

    def __init__(self) -> None:
        self._files: dict[str, HostedFile] = {}
        self._lock = threading.Lock()
        self.requests: list[tuple[str, str]] = []
        host = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                host._answer(self, head=False)

            def do_HEAD(self) -> None:
                host._answer(self, head=True)

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def add(self, path: str, data: bytes, content_type: str, **options: Any) -> str:
        """Serve `data` at `/path`; returns its URL."""
        with self._lock:
            self._files["/" + path.lstrip("/")] = HostedFile(data, content_type, **options)
        return f"{self.url}/{path.lstrip('/')}"

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *_: object) -> None:
        self.stop()

    def _answer(self, handler: BaseHTTPRequestHandler, *, head: bool) -> None:
        path = handler.path.split("?", 1)[0]
        with self._lock:
            self.requests.append((handler.command, path))
            found = self._files.get(path)
        if found is None:
            handler.send_response(404)
            handler.send_header("Content-Length", "0")
            handler.end_headers()
            return
        handler.send_response(found.status)
        if found.location:
            handler.send_header("Location", found.location)
        handler.send_header("Content-Type", found.content_type)
        handler.send_header("Content-Length", str(len(found.data)))
        handler.end_headers()
        if not head:
            handler.wfile.write(found.data)
