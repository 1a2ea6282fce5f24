"""The `retention:` section: how long kept file bytes and message content are kept.

Beside `reading.py`, whose `Reader` does the checking: a key and its check are read together.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from bot.core.config.model import DEFAULT_MEDIA_DAYS, RetentionConfig

if TYPE_CHECKING:
    from bot.core.config.reading import Reader

RETENTION_KEYS = {"media_days": False, "content_days": False}


def read_retention(reader: Reader, value: Any) -> RetentionConfig:
    section = reader.mapping(value, "retention", RETENTION_KEYS)
    if section is None:
        return RetentionConfig()
    media_days = _days(reader, section.get("media_days"), "retention.media_days")
    content_days = _days(reader, section.get("content_days"), "retention.content_days")
    return RetentionConfig(
        media_days=DEFAULT_MEDIA_DAYS if media_days is None else media_days,
        content_days=content_days,
    )


def _days(reader: Reader, value: Any, path: str) -> int | None:
    """A whole number of days, 1 or more; None when unset (or null)."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or value != int(value):
        number = None
    else:
        number = int(value)
    if number is None or number < 1:
        reader.problem(
            path,
            "must be a whole number of days, 1 or more",
            "For example `30`" + (", or `null` to keep them" if "content" in path else ""),
        )
        return None
    return number
