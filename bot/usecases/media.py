"""Media kept by the bot for the provider to fetch: stored in the database so that every
instance can serve it, linked by signed expiring URLs, purged when expired (the bytes of those
older than `retention.media_days` are deleted before: `usecases/retention.py`)."""

from __future__ import annotations

import hashlib
import logging
import secrets
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from bot.core.config import Config
from bot.media import links
from bot.media.checks import MediaInfo
from bot.store import MediaRecord, Store, utcnow

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class MediaResponse:
    status: int
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytes = b""
    stream: Iterable[bytes] | None = None


_NO_CACHE = [
    ("Cache-Control", "no-store, private"),
    ("X-Content-Type-Options", "nosniff"),
]


class MediaService:
    def __init__(
        self, *, config: Config, store: Store, clock: Callable[[], datetime] = utcnow
    ) -> None:
        self.config = config
        self.store = store
        self._clock = clock

    @property
    def ttl(self) -> timedelta:
        return timedelta(hours=self.config.media.link_ttl_hours)

    def keep(
        self, data: bytes, info: MediaInfo, *, file_name: str | None, slack_file_id: str | None
    ) -> MediaRecord:
        return self.store.add_media(
            id=secrets.token_hex(16),
            expires_at=self._clock() + self.ttl,
            content_type=info.mime_type,
            size=len(data),
            sha256=hashlib.sha256(data).hexdigest(),
            file_name=file_name,
            slack_file_id=slack_file_id,
            data=data,
        )

    def link(self, media_id: str) -> str:
        """A fresh link, valid for the configured time; the bytes are kept at least as long."""
        expires_at = self._clock() + self.ttl
        self.store.extend_media(media_id, expires_at)
        token = links.issue(self.config.media.link_secret, media_id, expires_at)
        return self.config.media_url(token)

    def serve(self, token: str, *, head: bool) -> MediaResponse:
        """200 with the exact type, length and bytes; 403 tampered or expired; 404 unknown;
        410 when its bytes were deleted (retention, or its customer forgotten)."""
        verdict, media_id = links.check(self.config.media.link_secret, token, now=self._clock())
        if verdict is not links.LinkCheck.VALID:
            return MediaResponse(403, list(_NO_CACHE), f"link {verdict.value}\n".encode())
        record = self.store.get_media(media_id, with_data=False)
        if record is not None and record.purged_at is not None:
            return MediaResponse(
                410,
                [("Content-Type", "text/plain; charset=utf-8"), *_NO_CACHE],
                b"gone: this file was deleted (retention.media_days, or its customer was "
                b"forgotten)\n",
            )
        if record is None or record.expires_at <= self._clock():
            return MediaResponse(404, list(_NO_CACHE), b"no such media\n")
        headers = [
            ("Content-Type", record.content_type),
            ("Content-Length", str(record.size)),
            *_NO_CACHE,
        ]
        if record.file_name:
            safe = "".join(c for c in record.file_name if c.isalnum() or c in "._- ")[:100]
            headers.append(("Content-Disposition", f'inline; filename="{safe or "file"}"'))
        if head:
            return MediaResponse(200, headers)
        return MediaResponse(
            200, headers, stream=self.store.media_chunks(record.id, size=record.size)
        )

    def purge(self) -> int:
        purged = self.store.purge_media(self._clock())
        if purged:
            logger.info("Purged %d expired media", purged)
        return purged
