"""Refused media, and the words of each refusal: what was found and what to do about it."""

from __future__ import annotations

from enum import StrEnum

from bot.media.kinds import MediaKind

__all__ = [
    "ACCEPTED_BY_KIND",
    "ANY_ACCEPTED",
    "KIND_NOUN",
    "ONLY_AUDIO",
    "ONLY_IMAGES",
    "ONLY_PDF",
    "ONLY_VIDEOS",
    "SHRINK_HINTS",
    "TO_MP3",
    "TO_MP4",
    "TO_PDF",
    "MediaRefused",
    "MediaUrlRefused",
    "RefusalCode",
    "amount",
    "empty_file",
    "megabytes",
]


class RefusalCode(StrEnum):
    """Why a file was refused, for programs; people read ``MediaRefused.reason``."""

    EMPTY = "empty"
    TOO_LARGE = "too_large"
    WRONG_KIND = "wrong_kind"
    UNSUPPORTED_FORMAT = "unsupported_format"
    UNSUPPORTED_CODEC = "unsupported_codec"
    CORRUPT = "corrupt"
    UNKNOWN = "unknown"


class MediaRefused(Exception):
    """The provider would drop this file; ``reason`` says what was found, ``hint`` what to do."""

    def __init__(
        self,
        reason: str,
        hint: str,
        *,
        code: RefusalCode,
        detected: str | None = None,
    ) -> None:
        super().__init__(reason, hint)
        self.reason = reason
        self.hint = hint
        self.code = code
        self.detected = detected
        """MIME type of the content found, when it was recognised."""

    def __str__(self) -> str:
        return f"{self.reason} {self.hint}"


class MediaUrlRefused(Exception):
    """The link cannot be sent; ``reason`` says what was found, ``hint`` what to do."""

    def __init__(self, reason: str, hint: str) -> None:
        super().__init__(reason, hint)
        self.reason = reason
        self.hint = hint

    def __str__(self) -> str:
        return f"{self.reason} {self.hint}"


KIND_NOUN = {
    MediaKind.IMAGE: "an image",
    MediaKind.VIDEO: "a video",
    MediaKind.AUDIO: "an audio file",
    MediaKind.DOCUMENT: "a document",
}

ACCEPTED_BY_KIND = {
    MediaKind.IMAGE: "Send a JPEG or PNG image.",
    MediaKind.VIDEO: "Send an MP4 or 3GPP video with H.264 video and AAC audio.",
    MediaKind.AUDIO: "Send an AAC, MP3 or AMR audio file.",
    MediaKind.DOCUMENT: "Send a PDF document.",
}

ANY_ACCEPTED = (
    "Send a JPEG or PNG image, an MP4 video (H.264 and AAC), a PDF document, "
    "or AAC, MP3 or AMR audio."
)


def empty_file() -> MediaRefused:
    return MediaRefused(
        "This file is empty (0 bytes).",
        "Check that the upload finished, then share the file again.",
        code=RefusalCode.EMPTY,
    )


def megabytes(size: int) -> str:
    return f"{size / 1_000_000:.1f} MB"


def amount(size: int) -> str:
    if size >= 100_000:
        return megabytes(size)
    if size >= 1_000:
        return f"{size // 1_000} KB"
    return f"{size} byte" + ("" if size == 1 else "s")


SHRINK_HINTS = {
    MediaKind.IMAGE: (
        "Resize it or save it as a JPEG at a lower quality; a photo 1600 pixels wide is "
        "usually well under 1 MB."
    ),
    MediaKind.VIDEO: (
        "Shorten it or lower its resolution, for example: ffmpeg -i in.mp4 -vf scale=-2:480 "
        "-c:v libx264 -crf 28 -pix_fmt yuv420p -c:a aac -b:a 64k out.mp4"
    ),
    MediaKind.AUDIO: (
        "Shorten it or lower its bitrate, for example: ffmpeg -i in.mp3 -c:a libmp3lame "
        "-b:a 64k out.mp3"
    ),
    MediaKind.DOCUMENT: "Compress the PDF (most PDF tools can reduce file size) or split it.",
}

ONLY_IMAGES = "and the provider only takes JPEG or PNG images"
ONLY_VIDEOS = "and the provider only takes MP4 or 3GPP videos"
ONLY_AUDIO = "and the provider only takes AAC, MP3 or AMR audio files"
ONLY_PDF = "and the provider only takes PDF documents"
TO_PDF = "Save or export it as a PDF and send that as a document."
TO_MP3 = "Convert it to MP3, for example: ffmpeg -i in.{ext} -c:a libmp3lame -q:a 2 out.mp3"
TO_MP4 = (
    "Convert it to an MP4 with H.264 video and AAC audio, for example: "
    "ffmpeg -i in.{ext} -c:v libx264 -pix_fmt yuv420p -c:a aac out.mp4"
)
