"""The store's operations on kept files (mixed into `Store`): their bytes, kept in the
database so that every instance serves them, read in slices (SQLite's blob reader beside
PostgreSQL's `substring`), deleted when no link can fetch them any more or when retention says.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from bot.core.records import MediaRecord, utcnow
from bot.store.database import Database
from bot.store.schema import media

# Kept files per transaction when their bytes are deleted: each may be megabytes to free.
MEDIA_BATCH = 20


class MediaStore(Database):
    """Kept files: a row each, with its bytes until they are purged."""

    def add_media(self, **values: Any) -> MediaRecord:
        row = {"created_at": utcnow(), **values}
        with self._tx() as conn:
            conn.execute(media.insert().values(**row))
        record = self.get_media(row["id"], with_data=False)
        assert record is not None
        return record

    def get_media(self, media_id: str, *, with_data: bool = True) -> MediaRecord | None:
        columns = [c for c in media.c if with_data or c.name != "data"]
        with self._read() as conn:
            row = conn.execute(sa.select(*columns).where(media.c.id == media_id)).mappings().first()
            return MediaRecord.from_row(row) if row else None

    def media_chunks(self, media_id: str, *, size: int, chunk: int = 512 * 1024) -> Iterator[bytes]:
        """A kept file's bytes in slices, so serving it never holds the whole file in memory.

        Ends early if the file is purged meanwhile."""
        if self.engine.dialect.name == "sqlite":
            yield from self._sqlite_chunks(media_id, size=size, chunk=chunk)
            return
        piece = sa.func.substring(media.c.data, sa.bindparam("start"), sa.bindparam("length"))
        query = sa.select(piece).where(media.c.id == media_id)
        for offset in range(0, size, chunk):
            with self._read() as conn:
                data = conn.execute(query, {"start": offset + 1, "length": chunk}).scalar()
            if not data:
                return
            yield bytes(data)

    def _sqlite_chunks(self, media_id: str, *, size: int, chunk: int) -> Iterator[bytes]:
        with self._read() as conn:
            rowid = conn.execute(
                sa.select(sa.literal_column("rowid")).where(media.c.id == media_id)
            ).scalar()
            if rowid is None:
                return
            raw = conn.connection.driver_connection
            assert raw is not None
            with raw.blobopen("media", "data", rowid, readonly=True) as blob:
                for _ in range(0, size, chunk):
                    data = blob.read(chunk)
                    if not data:
                        return
                    yield bytes(data)

    def extend_media(self, media_id: str, expires_at: datetime) -> None:
        """Keep the media at least until `expires_at`."""
        with self._tx() as conn:
            conn.execute(
                media.update()
                .where(media.c.id == media_id, media.c.expires_at < expires_at)
                .values(expires_at=expires_at)
            )

    def purge_media(self, now: datetime | None = None) -> int:
        """Delete every expired media, row and bytes: no link can fetch it any more (its
        links were made to expire with it), and one that still could would answer 404."""
        with self._tx() as conn:
            result = conn.execute(media.delete().where(media.c.expires_at < (now or utcnow())))
            return int(result.rowcount or 0)

    def purge_old_media(self, *, before: datetime, now: datetime, limit: int = MEDIA_BATCH) -> int:
        """Delete the bytes of up to `limit` kept files kept before `before`, keeping their
        rows (marked `purged_at`, so that their links answer 410); how many. One short
        transaction; on PostgreSQL the rows another instance is purging are skipped."""
        m = media.c
        pick = sa.select(m.id).where(m.purged_at.is_(None), m.created_at < before).limit(limit)
        if self._server:
            pick = pick.with_for_update(skip_locked=True)
        with self._tx() as conn:
            # The ids first, then the update (see `RetentionStore._pick`).
            ids = list(conn.execute(pick).scalars())
            if not ids:
                return 0
            statement = media.update().where(m.id.in_(ids)).values(data=b"", purged_at=now)
            return int(conn.execute(statement).rowcount or 0)
