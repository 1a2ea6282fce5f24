"""Refused media, and the words of each refusal: what was found and what to do about it."""

from __future__ import annotations

from enum import StrEnum
from http import HTTPStatus

from bot.media.kinds import MediaKind

__all__ = [
    "ACCEPTED_BY_KIND",
    "ANY_ACCEPTED",
    "KIND_ACCEPTED",
    "KIND_ACCEPTED_PLURAL",
    "KIND_NOUN",
    "ONLY_AUDIO",
    "ONLY_IMAGES",
    "ONLY_PDF",
    "ONLY_VIDEOS",
    "SHRINK_HINTS",
    "TO_MP3",
    "TO_MP4",
    "TO_PDF",
    "TYPE_NOUN",
    "MediaRefused",
    "MediaUrlRefused",
    "RefusalCode",
    "amount",
    "described",
    "empty_file",
    "empty_link",
    "file_too_large",
    "link_too_large",
    "megabytes",
    "seconds",
    "status_name",
    "status_refusal",
]


# --- the refusals ----------------------------------------------------------------------------


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


# --- naming kinds and types ------------------------------------------------------------------

KIND_NOUN = {
    MediaKind.IMAGE: "an image",
    MediaKind.VIDEO: "a video",
    MediaKind.AUDIO: "an audio file",
    MediaKind.DOCUMENT: "a document",
}
KIND_ACCEPTED = {
    MediaKind.IMAGE: "a JPEG or PNG image",
    MediaKind.VIDEO: "an MP4 or 3GPP video",
    MediaKind.AUDIO: "an AAC, MP3 or AMR audio file",
    MediaKind.DOCUMENT: "a PDF document",
}
KIND_ACCEPTED_PLURAL = {
    MediaKind.IMAGE: "JPEG or PNG images",
    MediaKind.VIDEO: "MP4 or 3GPP videos",
    MediaKind.AUDIO: "AAC, MP3 or AMR audio files",
    MediaKind.DOCUMENT: "PDF documents",
}
TYPE_NOUN = {
    "image/jpeg": "a JPEG image",
    "image/png": "a PNG image",
    "video/mp4": "an MP4 video",
    "video/3gpp": "a 3GPP video",
    "audio/aac": "an AAC audio file",
    "audio/x-aac": "an AAC audio file",
    "audio/mpeg": "an MP3 audio file",
    "audio/mp3": "an MP3 audio file",
    "audio/amr": "an AMR audio file",
    "application/pdf": "a PDF document",
    "image/gif": "a GIF image",
    "image/webp": "a WebP image",
    "image/heic": "a HEIC image",
    "image/svg+xml": "an SVG image",
    "video/quicktime": "a QuickTime video",
    "video/webm": "a WebM video",
    "audio/ogg": "an Ogg audio file",
    "audio/wav": "a WAV audio file",
    "application/json": "JSON data",
    "text/plain": "plain text",
    "application/zip": "a ZIP archive",
}


def described(media_type: str) -> str:
    noun = TYPE_NOUN.get(media_type)
    return f"{noun} ({media_type})" if noun else media_type


# --- amounts ---------------------------------------------------------------------------------


def megabytes(size: int) -> str:
    return f"{size / 1_000_000:.1f} MB"


def amount(size: int) -> str:
    if size >= 100_000:
        return megabytes(size)
    if size >= 1_000:
        return f"{size // 1_000} KB"
    return f"{size} byte" + ("" if size == 1 else "s")


def seconds(value: float) -> str:
    return f"{value:g} second" + ("" if value == 1 else "s")


def _over_limit(size: int, limit: int) -> str:
    """``size`` in MB, and in bytes too when it rounds to the limit itself."""
    shown = megabytes(size)
    if shown == megabytes(limit):
        shown += f" ({size:,} bytes)"
    return shown


# --- files -----------------------------------------------------------------------------------

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

ONLY_IMAGES = f"and the provider only takes {KIND_ACCEPTED_PLURAL[MediaKind.IMAGE]}"
ONLY_VIDEOS = f"and the provider only takes {KIND_ACCEPTED_PLURAL[MediaKind.VIDEO]}"
ONLY_AUDIO = f"and the provider only takes {KIND_ACCEPTED_PLURAL[MediaKind.AUDIO]}"
ONLY_PDF = f"and the provider only takes {KIND_ACCEPTED_PLURAL[MediaKind.DOCUMENT]}"
TO_PDF = "Save or export it as a PDF and send that as a document."
TO_MP3 = "Convert it to MP3, for example: ffmpeg -i in.{ext} -c:a libmp3lame -q:a 2 out.mp3"
TO_MP4 = (
    "Convert it to an MP4 with H.264 video and AAC audio, for example: "
    "ffmpeg -i in.{ext} -c:v libx264 -pix_fmt yuv420p -c:a aac out.mp4"
)

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


def empty_file() -> MediaRefused:
    return MediaRefused(
        "This file is empty (0 bytes).",
        "Check that the upload finished, then share the file again.",
        code=RefusalCode.EMPTY,
    )


def file_too_large(
    size: int, limit: int, *, kind: MediaKind | None, detected: str | None
) -> MediaRefused:
    """``kind`` (found, else expected) picks the hint; ``detected`` is the type found, if any."""
    return MediaRefused(
        f"This file is {_over_limit(size, limit)}, and the provider only accepts files under "
        f"{megabytes(limit)}.",
        SHRINK_HINTS[kind] if kind else "Send a smaller file.",
        code=RefusalCode.TOO_LARGE,
        detected=detected,
    )


# --- links -----------------------------------------------------------------------------------


def empty_link() -> MediaUrlRefused:
    return MediaUrlRefused(
        "The file at this link is empty (0 bytes).",
        "Check that the upload finished, then share the link again.",
    )


def link_too_large(size: int, limit: int, *, measured: bool = False) -> MediaUrlRefused:
    """``measured``: the server gave no size, and counting stopped at ``limit``."""
    hint = "Make the file smaller (resize or compress it), upload it again and use the new link."
    if measured:
        return MediaUrlRefused(
            f"The file at this link is {megabytes(limit)} or more (the server did not say its "
            f"size, so the bot counted), and the provider only accepts files under "
            f"{megabytes(limit)}.",
            hint,
        )
    return MediaUrlRefused(
        f"The file at this link is {_over_limit(size, limit)}, and the provider only accepts "
        f"files under {megabytes(limit)}.",
        hint,
    )


def status_name(status: int) -> str:
    try:
        return f"{status} {HTTPStatus(status).phrase}"
    except ValueError:
        return f"HTTP {status}"


def status_refusal(status: int) -> MediaUrlRefused:
    """A server's answer other than the file, in words."""
    name = status_name(status)
    if status in (401, 403, 407):
        return MediaUrlRefused(
            f"The server refused access to the file ({name}).",
            "The provider can only fetch links that open without signing in: use a public, "
            "direct link to the file.",
        )
    if status in (404, 410):
        return MediaUrlRefused(
            f"The server has no file at this link ({name}).",
            "Check the link for typos; the file may have been moved or deleted.",
        )
    if status == 429:
        return MediaUrlRefused(
            f"The server is turning requests away ({name}).", "Try again in a few minutes."
        )
    if 500 <= status <= 599:
        return MediaUrlRefused(
            f"The server failed with an error ({name}).",
            "Try again later, or put the file on another server.",
        )
    return MediaUrlRefused(
        f"The server answered {name} instead of sending the file.",
        "Use a direct download link that opens the file itself.",
    )
