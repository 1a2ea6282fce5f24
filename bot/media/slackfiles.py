"""Downloads a Slack file with the bot token, streamed, stopping at the size limit.

The token goes only to Slack's own file host: a file object naming any other host is refused
before a connection is made. Redirects are not followed: Slack redirects to a login page when
the token is refused, and the token must never be sent to another host.
"""

from __future__ import annotations

import http.client
from urllib.parse import urlsplit

CHUNK = 64 * 1024
SLACK_FILE_HOST = "files.slack.com"

Origin = tuple[str, str, int]  # scheme, host, port


class DownloadFailed(Exception):
    """The file could not be fetched from Slack; the message says why, for people."""


class FileTooLarge(DownloadFailed):
    def __init__(self, size: int | None, limit: int) -> None:
        self.size = size
        self.limit = limit
        super().__init__(f"the file is larger than {limit / 1_000_000:.1f} MB")


def _origin(url: str) -> Origin | None:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return None
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        return None
    return parts.scheme, parts.hostname.lower(), port


def file_origins(api_base_url: str) -> frozenset[Origin]:
    """Where Slack serves files to the bot: `files.slack.com` for Slack's own Web API, and the
    Web API's own host and port for any other (a stand-in Slack in tests and the demo)."""
    api = _origin(api_base_url)
    if api is None or api[1] == "slack.com" or api[1].endswith(".slack.com"):
        return frozenset({("https", SLACK_FILE_HOST, 443)})
    return frozenset({api})


def download(
    url: str,
    token: str,
    *,
    max_bytes: int,
    allowed: frozenset[Origin],
    timeout: float = 30.0,
) -> bytes:
    """The file's bytes, or DownloadFailed / FileTooLarge after reading at most max_bytes + 1.

    The token is sent only when the URL is on one of the `allowed` origins."""
    parts = urlsplit(url)
    origin = _origin(url)
    if origin is None:
        raise DownloadFailed("Slack gave no usable download link for the file")
    if origin not in allowed:
        raise DownloadFailed(
            f"its download link points to {origin[1]}, not to Slack's file host, and the bot "
            "sends its token only to Slack"
        )
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
