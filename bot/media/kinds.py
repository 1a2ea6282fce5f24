"""The provider's media message types and its size limit."""

from __future__ import annotations

from enum import StrEnum

__all__ = ["MAX_MEDIA_BYTES", "MediaKind"]

MAX_MEDIA_BYTES = 5_000_000
"""The provider takes media "less than 5MB": read strictly, so 5,000,000 bytes is refused."""


class MediaKind(StrEnum):
    """The provider's media message types."""

    IMAGE = "image"
    VIDEO = "video"
    AUDIO = "audio"
    DOCUMENT = "document"
