"""Downloads a Slack file with the bot token, streamed, stopping at the size limit.

Redirects are not followed: Slack redirects to a login page when the token is refused, and the
token must never be sent to another host.
"""

from __future__ import annotations

import http.client
from urllib.parse import urlsplit

CHUNK = 64 * 1024


class DownloadFailed(Exception):
    """The file could not be fetched from Slack; the message says why, for people."""


class FileTooLarge(DownloadFailed):
    def __init__(self, size: int | None, limit: int) -> None:
        self.size = size
        self.limit = limit
        super().__init__(f"the file is larger than {limit / 1_000_000:.1f} MB")


def download(url: str, token: str, *, max_bytes: int, timeout: float = 30.0) -> bytes:
    """The file's bytes, or DownloadFailed / FileTooLarge after reading at most max_bytes + 1."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise DownloadFailed("Slack gave no usable download link for the file")
    connection_class = (
        http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
    )
    conn = connection_class(parts.netloc, timeout=timeout)
    path = parts.path + (f"?{parts.query}" if parts.query else "")
    try:
        conn.request("GET", path or "/", headers={"Authorization": f"Bearer {token}"})
        response = conn.getresponse()
        if response.status != 200:
            raise DownloadFailed(
                f"Slack answered HTTP {response.status} when the bot fetched the file"
                + (
                    " (the bot may lack the files:read scope)"
                    if response.status in (302, 403)
                    else ""
                )
            )
        length = response.getheader("Content-Length")
        if length and length.isdigit() and int(length) > max_bytes:
            raise FileTooLarge(int(length), max_bytes)
        chunks: list[bytes] = []
        size = 0
        while chunk := response.read(CHUNK):
            size += len(chunk)
            if size > max_bytes:
                raise FileTooLarge(None, max_bytes)
            chunks.append(chunk)
        return b"".join(chunks)
    except (OSError, http.client.HTTPException) as exc:
        raise DownloadFailed(
            f"the file could not be fetched from Slack ({type(exc).__name__})"
        ) from None
    finally:
        conn.close()
