"""A stand-in web host for media URLs: serves the files a test or the demo puts on it."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

from bot.sandbox.http import Handler, HttpStandIn


@dataclass(frozen=True)
class HostedFile:
    data: bytes
    content_type: str
    status: int = 200
    location: str | None = None


class _Handler(Handler):
    methods = frozenset({"GET", "HEAD"})


class FileHost(HttpStandIn):
    """Serves GET and HEAD on 127.0.0.1 (port 0); records each request's path."""

    def __init__(self) -> None:
        self._files: dict[str, HostedFile] = {}
        self._lock = threading.Lock()
        self.requests: list[tuple[str, str]] = []
        super().__init__(_Handler, name="file-host")
        self.start()

    def add(self, path: str, data: bytes, content_type: str, **options: Any) -> str:
        """Serve `data` at `/path`; returns its URL."""
        with self._lock:
            self._files["/" + path.lstrip("/")] = HostedFile(data, content_type, **options)
        return f"{self.url}/{path.lstrip('/')}"

    def _serve(self, handler: Handler) -> None:
        head = handler.command == "HEAD"
        path = handler.path.split("?", 1)[0]
        with self._lock:
            self.requests.append((handler.command, path))
            found = self._files.get(path)
        if found is None:
            handler.write(404, b"", None, head=head)
            return
        headers = [("Location", found.location)] if found.location else []
        handler.write(found.status, found.data, found.content_type, headers, head=head)
