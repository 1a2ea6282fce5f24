"""Decide, from a file's bytes alone, whether the WhatsApp provider will accept it as media.

The provider silently drops media it does not take, so every file is checked here before it is
offered for sending. Formats are recognised by content (signatures and structure), never by file
name. Accepted (``reference/media-message-api.txt``), each strictly under 5 MB:

- image: JPEG, PNG
- video: MP4 and 3GPP with H.264 video and, if there is audio, AAC audio
- audio: AAC (ADTS), MP3 and MPEG audio layers I/II, AMR
- document: PDF

Everything here is pure: functions on bytes, no I/O. Only headers and structure are read, never
the whole buffer, so a 5 MB file is checked in well under a millisecond or two. Each family of
formats is read by its module in ``bot.media.formats``; this module asks them in turn and decides.
"""

from __future__ import annotations

from dataclasses import dataclass

from bot.media.formats.audio import read_amr, read_mpeg_audio, read_ogg, read_other_audio
from bot.media.formats.documents import read_other_document, read_pdf, read_text, read_zip
from bot.media.formats.found import Found
from bot.media.formats.images import (
    read_bmp,
    read_gif,
    read_jpeg,
    read_other_image,
    read_png,
    read_riff,
    read_tiff,
)
from bot.media.formats.video import read_isobmff, read_other_video
from bot.media.kinds import MAX_MEDIA_BYTES, MediaKind
from bot.media.refusals import (
    ACCEPTED_BY_KIND,
    ANY_ACCEPTED,
    KIND_NOUN,
    MediaRefused,
    RefusalCode,
    empty_file,
    file_too_large,
)

__all__ = [
    "MAX_MEDIA_BYTES",
    "MediaInfo",
    "MediaKind",
    "MediaRefused",
    "RefusalCode",
    "check_prefix",
    "inspect_media",
    "sniff",
]


@dataclass(frozen=True)
class MediaInfo:
    """A file the provider will accept."""

    kind: MediaKind
    mime_type: str
    """Exact type for Content-Type headers: image/png, video/mp4, video/3gpp, audio/mpeg..."""
    format_name: str
    """For people: "PNG image", "MP4 video (H.264, AAC audio)"."""
    size: int
    extension: str
    """The usual extension for this content, with the dot: ".jpg", ".mp4", ".pdf"."""
    video_codec: str | None = None
    """"H.264" for videos, else None."""
    audio_codec: str | None = None
    """"AAC", "MP3", "AMR"...; None for images, documents and videos without sound."""
    codecs: str | None = None
    """RFC 6381 codecs parameter for videos, e.g. "avc1.42C01E, mp4a.40.2"."""


def inspect_media(
    data: bytes,
    *,
    expected_kind: MediaKind | None = None,
    file_name: str | None = None,
    max_bytes: int = MAX_MEDIA_BYTES,
) -> MediaInfo:
    """Describe a whole file the provider will accept, or raise MediaRefused saying why not.

    ``expected_kind`` is the message type it will be sent as; ``file_name`` is only used to word
    a refusal when the name contradicts the content.
    """
    size = len(data)
    if size == 0:
        raise empty_file()
    if size >= max_bytes:
        raise _too_large(data[:65536], size, max_bytes, expected_kind)
    found, kind = _accepted(_identify(data, complete=True), expected_kind, file_name)
    return MediaInfo(
        kind=kind,
        mime_type=found.mime_type,
        format_name=found.format_name,
        size=size,
        extension=found.extension,
        video_codec=found.video_codec,
        audio_codec=found.audio_codec,
        codecs=found.codecs,
    )


def sniff(data: bytes) -> str | None:
    """The MIME type of the content that ``data`` (a whole file or its first few KB) starts.

    Refused formats are named too (image/gif, video/quicktime, ...); None when unrecognised.
    """
    found = _identify(data, complete=False)
    return None if found is None else found.mime_type


def check_prefix(
    prefix: bytes,
    *,
    total_size: int | None = None,
    expected_kind: MediaKind | None = None,
    file_name: str | None = None,
    max_bytes: int = MAX_MEDIA_BYTES,
) -> str:
    """Check a remote file from its first bytes (and its Content-Length, if known).

    Returns the MIME type when nothing seen so far rules the file out, and raises MediaRefused
    when something does: a refused format, the wrong kind, too large, or unrecognised. For an
    MP4 whose moov box is in the prefix, codecs are checked too. Truncation cannot be seen from
    a prefix; when ``prefix`` holds all ``total_size`` bytes, the whole file is checked.
    """
    if total_size == 0 or (total_size is None and not prefix):
        raise empty_file()
    size = max(len(prefix), total_size or 0)
    complete = total_size is not None and len(prefix) >= total_size
    if size >= max_bytes:
        raise _too_large(prefix[:65536], size, max_bytes, expected_kind)
    found, _ = _accepted(_identify(prefix, complete=complete), expected_kind, file_name)
    return found.mime_type


_EXTENSION_ALIASES = {
    "jpeg": "jpg",
    "jpe": "jpg",
    "jfif": "jpg",
    "tiff": "tif",
    "3gpp": "3gp",
    "m4v": "mp4",
    "htm": "html",
    "mpga": "mpeg",
    "mp2": "mpeg",
    "mp1": "mpeg",
}


def _accepted(
    found: Found | None, expected: MediaKind | None, file_name: str | None
) -> tuple[Found, MediaKind]:
    """``found`` and its kind if it is accepted and of the expected kind; else MediaRefused."""
    if found is None:
        hint = ACCEPTED_BY_KIND[expected] if expected else ANY_ACCEPTED
        raise MediaRefused(
            "The bot could not recognise this file's format.", hint, code=RefusalCode.UNKNOWN
        )
    if expected is not None and found.kind is not None and found.kind != expected:
        reason = f"This file is {found.noun}, not {KIND_NOUN[expected]}"
        name_ext = _extension_of(file_name)
        if name_ext and name_ext != found.extension.lstrip("."):
            reason += f", even though its name ends in .{name_ext}"
        if found.refusal is not None:
            hint = found.refusal.hint
        else:
            hint = f"Send it as {KIND_NOUN[found.kind]} instead."
        raise MediaRefused(
            reason + ".", hint, code=RefusalCode.WRONG_KIND, detected=found.mime_type
        )
    if found.refusal is not None:
        refusal = found.refusal
        raise MediaRefused(
            refusal.reason, refusal.hint, code=refusal.code, detected=found.mime_type
        )
    if found.kind is None:  # only refused content has no kind
        raise MediaRefused(
            "The bot could not recognise this file's format.",
            ANY_ACCEPTED,
            code=RefusalCode.UNKNOWN,
        )
    return found, found.kind


def _extension_of(file_name: str | None) -> str | None:
    """The name's extension, lower case, only if it is short and plain (safe to quote)."""
    if not file_name or "." not in file_name:
        return None
    ext = file_name.rsplit(".", 1)[1].lower()
    if not (0 < len(ext) <= 8 and ext.isascii() and ext.isalnum()):
        return None
    return _EXTENSION_ALIASES.get(ext, ext)


def _too_large(head: bytes, size: int, limit: int, expected: MediaKind | None) -> MediaRefused:
    """The refusal of a file of ``size`` bytes, naming what its first bytes hold if known."""
    found = _identify(head, complete=False)
    kind = (found.kind if found else None) or expected
    return file_too_large(size, limit, kind=kind, detected=found.mime_type if found else None)


# --- recognising content --------------------------------------------------------------------


def _identify(data: bytes, *, complete: bool) -> Found | None:
    """The format ``data`` holds, with a refusal if the provider would drop it."""
    for reader in _READERS:
        found = reader(data, complete)
        if found is not None:
            return found
    return None


_READERS = (
    read_png,
    read_jpeg,
    read_gif,
    read_riff,
    read_bmp,
    read_tiff,
    read_other_image,
    read_pdf,
    read_zip,
    read_other_document,
    read_isobmff,
    read_amr,
    read_ogg,
    read_other_audio,
    read_other_video,
    read_mpeg_audio,
    read_text,
)
