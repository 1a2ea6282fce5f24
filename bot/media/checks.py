"""Decide, from a file's bytes alone, whether the WhatsApp provider will accept it as media.

The provider silently drops media it does not take, so every file is checked here before it is
offered for sending. Formats are recognised by content (signatures and structure), never by file
name. Accepted (``reference/media-message-api.txt``), each strictly under 5 MB:

- image: JPEG, PNG
- video: MP4 and 3GPP with H.264 video and, if there is audio, AAC audio
- audio: AAC (ADTS), MP3 and MPEG audio layers I/II, AMR
- document: PDF

Everything here is pure: functions on bytes, no I/O. Only headers and structure are read, never
the whole buffer, so a 5 MB file is checked in well under a millisecond or two.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, replace

from bot.media import isobmff
from bot.media.kinds import MAX_MEDIA_BYTES, MediaKind
from bot.media.refusals import (
    _ACCEPTED_BY_KIND,
    _ANY_ACCEPTED,
    _KIND_NOUN,
    _ONLY_AUDIO,
    _ONLY_IMAGES,
    _ONLY_PDF,
    _ONLY_VIDEOS,
    _SHRINK_HINTS,
    _TO_MP3,
    _TO_MP4,
    _TO_PDF,
    MediaRefused,
    RefusalCode,
    _amount,
    _empty,
    _megabytes,
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


_MAX_PNG_CHUNKS = 100_000
_MAX_JPEG_SEGMENTS = 10_000
_MAX_JPEG_FILL = 64
_PDF_EOF_WINDOW = 1024
_MPEG_FRAMES_CHECKED = 4
_AMR_FRAMES_CHECKED = 8
_ZIP_ENTRIES_READ = 256
_TEXT_WINDOW = 1024

_U16LE = struct.Struct("<H")
_U32LE = struct.Struct("<I")
_U16 = struct.Struct(">H")
_U32 = struct.Struct(">I")


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
        raise _empty()
    if size >= max_bytes:
        raise _too_large(size, max_bytes, _identify(data[:65536], complete=False), expected_kind)
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
        raise _empty()
    size = max(len(prefix), total_size or 0)
    complete = total_size is not None and len(prefix) >= total_size
    if size >= max_bytes:
        raise _too_large(size, max_bytes, _identify(prefix[:65536], complete=False), expected_kind)
    found, _ = _accepted(_identify(prefix, complete=complete), expected_kind, file_name)
    return found.mime_type


# --- what was found -------------------------------------------------------------------------


@dataclass(frozen=True)
class _Refusal:
    code: RefusalCode
    reason: str
    hint: str


@dataclass(frozen=True)
class _Found:
    kind: MediaKind | None
    noun: str
    """How a sentence names the content: "a PNG image", "a PDF", "an MP4 video"."""
    mime_type: str
    extension: str
    format_name: str
    refusal: _Refusal | None = None
    video_codec: str | None = None
    audio_codec: str | None = None
    codecs: str | None = None

    def refuse(self, code: RefusalCode, reason: str, hint: str) -> _Found:
        return replace(self, refusal=_Refusal(code, reason, hint))

    def incomplete(self, missing: int | None = None) -> _Found:
        short = "too early" if missing is None else f"{_amount(missing)} too early"
        return self.refuse(
            RefusalCode.CORRUPT,
            f"This {self.format_name} is incomplete: the file ends {short}, so it was "
            "probably cut off while being uploaded or downloaded.",
            "Share the original file again.",
        )

    def damaged(self, detail: str) -> _Found:
        return self.refuse(
            RefusalCode.CORRUPT,
            f"This {self.format_name} is damaged: {detail}.",
            "Open it, save or export it again, and share the new copy.",
        )


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
    found: _Found | None, expected: MediaKind | None, file_name: str | None
) -> tuple[_Found, MediaKind]:
    """``found`` and its kind if it is accepted and of the expected kind; else MediaRefused."""
    if found is None:
        hint = _ACCEPTED_BY_KIND[expected] if expected else _ANY_ACCEPTED
        raise MediaRefused(
            "The bot could not recognise this file's format.", hint, code=RefusalCode.UNKNOWN
        )
    if expected is not None and found.kind is not None and found.kind != expected:
        reason = f"This file is {found.noun}, not {_KIND_NOUN[expected]}"
        name_ext = _extension_of(file_name)
        if name_ext and name_ext != found.extension.lstrip("."):
            reason += f", even though its name ends in .{name_ext}"
        if found.refusal is not None:
            hint = found.refusal.hint
        else:
            hint = f"Send it as {_KIND_NOUN[found.kind]} instead."
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
            _ANY_ACCEPTED,
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


def _too_large(
    size: int, limit: int, found: _Found | None, expected: MediaKind | None
) -> MediaRefused:
    shown = _megabytes(size)
    if shown == _megabytes(limit):
        shown += f" ({size:,} bytes)"
    kind = (found.kind if found else None) or expected
    hint = _SHRINK_HINTS[kind] if kind else "Send a smaller file."
    return MediaRefused(
        f"This file is {shown}, and the provider only accepts files under {_megabytes(limit)}.",
        hint,
        code=RefusalCode.TOO_LARGE,
        detected=found.mime_type if found else None,
    )


# --- recognising content --------------------------------------------------------------------


def _identify(data: bytes, *, complete: bool) -> _Found | None:
    """The format ``data`` holds, with a refusal if the provider would drop it."""
    for reader in _READERS:
        found = reader(data, complete)
        if found is not None:
            return found
    return None


def _refused(
    kind: MediaKind | None, noun: str, mime: str, ext: str, name: str, reason: str, hint: str
) -> _Found:
    return _Found(kind, noun, mime, ext, name).refuse(RefusalCode.UNSUPPORTED_FORMAT, reason, hint)


def _refused_image(name: str, mime: str, ext: str, hint: str, *, an: bool = False) -> _Found:
    noun = f"{'an' if an else 'a'} {name}"
    return _refused(
        MediaKind.IMAGE, noun, mime, ext, name, f"This file is {noun}, {_ONLY_IMAGES}.", hint
    )


def _refused_video(name: str, mime: str, ext: str, *, an: bool = False) -> _Found:
    noun = f"{'an' if an else 'a'} {name}"
    return _refused(
        MediaKind.VIDEO,
        noun,
        mime,
        ext,
        name,
        f"This file is {noun}, {_ONLY_VIDEOS}.",
        _TO_MP4.format(ext=ext.lstrip(".")),
    )


def _refused_audio(name: str, mime: str, ext: str, *, an: bool = False) -> _Found:
    noun = f"{'an' if an else 'a'} {name}"
    return _refused(
        MediaKind.AUDIO,
        noun,
        mime,
        ext,
        name,
        f"This file is {noun}, {_ONLY_AUDIO}.",
        _TO_MP3.format(ext=ext.lstrip(".")),
    )


def _refused_document(
    name: str, mime: str, ext: str, hint: str = _TO_PDF, *, an: bool = False
) -> _Found:
    noun = f"{'an' if an else 'a'} {name}"
    return _refused(
        MediaKind.DOCUMENT, noun, mime, ext, name, f"This file is {noun}, {_ONLY_PDF}.", hint
    )


# Images


_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _read_png(data: bytes, complete: bool) -> _Found | None:
    if not data.startswith(_PNG_SIGNATURE):
        return None
    found = _Found(MediaKind.IMAGE, "a PNG image", "image/png", ".png", "PNG image")
    size = len(data)
    if size < 33:
        return found.incomplete() if complete else found
    length, chunk = struct.unpack_from(">I4s", data, 8)
    width, height = struct.unpack_from(">II", data, 16)
    if chunk != b"IHDR" or length != 13:
        return found.damaged("it does not start with an image header")
    if width == 0 or height == 0:
        return found.damaged("its header gives it no width or height")
    pos = 8
    has_data = False
    for _ in range(_MAX_PNG_CHUNKS):
        if size - pos < 12:
            return found.incomplete() if complete else found
        length, chunk = struct.unpack_from(">I4s", data, pos)
        pos += 12 + length
        if pos > size:
            return found.incomplete() if complete else found
        if chunk == b"IDAT":
            has_data = True
        elif chunk == b"IEND":
            return found if has_data else found.damaged("it holds no image data")
    return found.damaged("it has far more chunks than any real image")


# Markers that start a frame (SOF0-SOF15 except DHT C4, JPG C8 and DAC CC).
_JPEG_SOF = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}


def _read_jpeg(data: bytes, complete: bool) -> _Found | None:
    if not data.startswith(b"\xff\xd8\xff"):
        return None
    found = _Found(MediaKind.IMAGE, "a JPEG image", "image/jpeg", ".jpg", "JPEG image")
    size = len(data)
    pos = 2
    has_frame = False
    for _ in range(_MAX_JPEG_SEGMENTS):
        fill_end = min(size, pos + _MAX_JPEG_FILL)
        start = pos
        while pos < fill_end and data[pos] == 0xFF:
            pos += 1
        if pos >= size:
            return found.incomplete() if complete else found
        if pos in (start, fill_end):
            return found.damaged("its header is malformed")
        marker = data[pos]
        pos += 1
        if 0xD0 <= marker <= 0xD7 or marker == 0x01:
            continue
        if marker in (0x00, 0xD8, 0xD9):
            return found.damaged("it holds no image data")
        if size - pos < 2:
            return found.incomplete() if complete else found
        (length,) = _U16.unpack_from(data, pos)
        if length < 2:
            return found.damaged("its header is malformed")
        segment_end = pos + length
        if segment_end > size:
            return found.incomplete() if complete else found
        if marker in _JPEG_SOF:
            has_frame = True
        elif marker == 0xDA:  # start of scan: the compressed image follows
            if not has_frame:
                return found.damaged("it has no frame header")
            # Only an EOI marker can contain FF D9 after the first scan (0xFF is stuffed).
            if complete and data.rfind(b"\xff\xd9", segment_end) < 0:
                return found.incomplete()
            return found
        pos = segment_end
    return found.damaged("its header has far more segments than any real image")


def _read_gif(data: bytes, complete: bool) -> _Found | None:
    if not data.startswith((b"GIF87a", b"GIF89a")):
        return None
    return _refused_image(
        "GIF image",
        "image/gif",
        ".gif",
        "Convert it to PNG or JPEG; to keep an animation, convert it to an MP4 video, for "
        'example: ffmpeg -i in.gif -vf "scale=trunc(iw/2)*2:trunc(ih/2)*2" -c:v libx264 '
        "-pix_fmt yuv420p out.mp4",
    )


def _read_riff(data: bytes, complete: bool) -> _Found | None:
    if not data.startswith(b"RIFF") or len(data) < 12:
        return None
    form = data[8:12]
    if form == b"WEBP":
        return _refused_image(
            "WebP image",
            "image/webp",
            ".webp",
            "Save it as PNG or JPEG (most image editors can), for example: "
            "ffmpeg -i in.webp out.png",
        )
    if form == b"WAVE":
        return _refused_audio("WAV audio file", "audio/wav", ".wav")
    if form == b"AVI ":
        return _refused_video("AVI video", "video/x-msvideo", ".avi", an=True)
    return None


_BMP_HEADER_SIZES = frozenset({12, 16, 40, 52, 56, 64, 108, 124})


def _read_bmp(data: bytes, complete: bool) -> _Found | None:
    if not data.startswith(b"BM") or len(data) < 18:
        return None
    if _U32LE.unpack_from(data, 14)[0] not in _BMP_HEADER_SIZES:
        return None
    return _refused_image(
        "BMP image", "image/bmp", ".bmp", "Convert it to PNG, for example: ffmpeg -i in.bmp out.png"
    )


def _read_tiff(data: bytes, complete: bool) -> _Found | None:
    if not data.startswith((b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+")):
        return None
    return _refused_image(
        "TIFF image",
        "image/tiff",
        ".tif",
        "Convert it to PNG or JPEG, for example: ffmpeg -i in.tif out.png",
    )


_OTHER_IMAGES = (
    (b"\x00\x00\x00\x0cjP  \r\n\x87\n", "JPEG 2000 image", "image/jp2", ".jp2"),
    (b"\x00\x00\x00\x0cJXL \r\n\x87\n", "JPEG XL image", "image/jxl", ".jxl"),
    (b"\xff\x0a", "JPEG XL image", "image/jxl", ".jxl"),
    (b"8BPS", "Photoshop document", "image/vnd.adobe.photoshop", ".psd"),
)


def _read_other_image(data: bytes, complete: bool) -> _Found | None:
    for signature, name, mime, ext in _OTHER_IMAGES:
        if data.startswith(signature):
            return _refused_image(name, mime, ext, "Export it as a PNG or JPEG image.")
    return None


# Documents


def _read_pdf(data: bytes, complete: bool) -> _Found | None:
    if not data.startswith(b"%PDF-"):  # not searched for: a ZIP may hold a PDF near its start
        return None
    found = _Found(MediaKind.DOCUMENT, "a PDF", "application/pdf", ".pdf", "PDF document")
    if complete and data.find(b"%%EOF", max(0, len(data) - _PDF_EOF_WINDOW)) < 0:
        return found.incomplete()
    return found


_OFFICE = (
    ("word/", "Word document (.docx)", "wordprocessingml.document", ".docx", False),
    ("xl/", "Excel spreadsheet (.xlsx)", "spreadsheetml.sheet", ".xlsx", True),
    ("ppt/", "PowerPoint presentation (.pptx)", "presentationml.presentation", ".pptx", False),
)


def _read_zip(data: bytes, complete: bool) -> _Found | None:
    if not data.startswith((b"PK\x03\x04", b"PK\x05\x06", b"PK\x07\x08")):
        return None
    if data[30:38] == b"mimetype":  # OpenDocument and EPUB store it first, uncompressed
        if data[38:58] == b"application/epub+zip":
            return _refused_document("EPUB e-book", "application/epub+zip", ".epub", an=True)
        if data.startswith(b"application/vnd.oasis.opendocument", 38):
            return _refused_document(
                "OpenDocument file (.odt, .ods or .odp)",
                "application/vnd.oasis.opendocument",
                ".odt",
                an=True,
            )
    names = _zip_names(data)
    for prefix, name, subtype, ext, an in _OFFICE:
        if any(entry.startswith(prefix) for entry in names):
            mime = f"application/vnd.openxmlformats-officedocument.{subtype}"
            return _refused_document(name, mime, ext, an=an)
    return _refused_document(
        "ZIP archive",
        "application/zip",
        ".zip",
        "Unzip it and send the files one at a time: PDF documents, JPEG or PNG images, MP4 videos.",
    )


def _zip_names(data: bytes) -> list[str]:
    """Entry names from the central directory, else from the local headers at the start."""
    names = _zip_central_names(data)
    if names:
        return names
    pos = 0
    while len(names) < _ZIP_ENTRIES_READ and data.startswith(b"PK\x03\x04", pos):
        if len(data) - pos < 30:
            break
        flags, _, _, _, _, compressed, _, name_len, extra_len = struct.unpack_from(
            "<HHHHIIIHH", data, pos + 6
        )
        names.append(data[pos + 30 : pos + 30 + name_len].decode("latin-1"))
        if flags & 0x08:  # sizes follow the data: the next header cannot be found this way
            break
        pos += 30 + name_len + extra_len + compressed
    return names


def _zip_central_names(data: bytes) -> list[str]:
    end = data.rfind(b"PK\x05\x06", max(0, len(data) - 65_557))
    if end < 0 or len(data) - end < 22:
        return []
    (pos,) = _U32LE.unpack_from(data, end + 16)
    names: list[str] = []
    while len(names) < _ZIP_ENTRIES_READ and data.startswith(b"PK\x01\x02", pos):
        if len(data) - pos < 46:
            break
        name_len, extra_len, comment_len = struct.unpack_from("<HHH", data, pos + 28)
        names.append(data[pos + 46 : pos + 46 + name_len].decode("latin-1"))
        pos += 46 + name_len + extra_len + comment_len
    return names


_UNZIP = "Unpack it and send the files inside one at a time."
_OTHER_DOCUMENTS = (
    (
        b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1",
        "older Microsoft Office file (.doc, .xls or .ppt)",
        "application/x-ole-storage",
        ".doc",
        _TO_PDF,
    ),
    (b"{\\rtf", "RTF document", "application/rtf", ".rtf", _TO_PDF),
    (b"Rar!\x1a\x07", "RAR archive", "application/vnd.rar", ".rar", _UNZIP),
    (b"7z\xbc\xaf\x27\x1c", "7-Zip archive", "application/x-7z-compressed", ".7z", _UNZIP),
    (b"\x1f\x8b", "gzip archive", "application/gzip", ".gz", _UNZIP),
)


def _read_other_document(data: bytes, complete: bool) -> _Found | None:
    for signature, name, mime, ext, hint in _OTHER_DOCUMENTS:
        if data.startswith(signature):
            return _refused_document(name, mime, ext, hint, an=name.startswith("older"))
    return None


# Audio


_AMR_NB_FRAME = (13, 14, 16, 18, 20, 21, 27, 32, 6, 1, 1, 1, 1, 1, 1, 1)
_AMR_WB_FRAME = (18, 24, 33, 37, 41, 47, 51, 59, 61, 6, 1, 1, 1, 1, 1, 1)


def _read_amr(data: bytes, complete: bool) -> _Found | None:
    if data.startswith(b"#!AMR\n"):
        header, frame_sizes, name = 6, _AMR_NB_FRAME, "AMR"
    elif data.startswith(b"#!AMR-WB\n"):
        header, frame_sizes, name = 9, _AMR_WB_FRAME, "AMR-WB"
    else:
        return None
    # audio/amr for both: the provider lists .amr only, and AMR-WB players sniff the header.
    found = _Found(
        MediaKind.AUDIO, f"an {name} audio file", "audio/amr", ".amr", f"{name} audio",
        audio_codec=name,
    )  # fmt: skip
    if len(data) == header:
        return found.damaged("it holds no audio") if complete else found
    if complete and header + frame_sizes[(data[header] >> 3) & 0x0F] > len(data):
        return found.incomplete()
    pos = header
    for _ in range(_AMR_FRAMES_CHECKED):
        if pos >= len(data):
            break
        if data[pos] & 0x83:  # the padding bits of a frame header are zero
            return found.damaged("its audio frames are malformed")
        pos += frame_sizes[(data[pos] >> 3) & 0x0F]
    return found


# Bitrates in kbit/s by [MPEG-1?][layer - 1][index].
_MPEG_BITRATES = (
    (
        (0, 32, 48, 56, 64, 80, 96, 112, 128, 144, 160, 176, 192, 224, 256),
        (0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160),
        (0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160),
    ),
    (
        (0, 32, 64, 96, 128, 160, 192, 224, 256, 288, 320, 352, 384, 416, 448),
        (0, 32, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320, 384),
        (0, 32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320),
    ),
)
_MPEG_SAMPLE_RATES = (44100, 48000, 32000)


@dataclass(frozen=True)
class _Frame:
    """An MPEG audio or ADTS frame header: what must stay the same, and the frame's length."""

    stream: tuple[int, ...]
    length: int


def _mpeg_frame(data: bytes, pos: int) -> _Frame | None:
    """An MPEG-1/2/2.5 audio frame header (ISO 11172-3 2.4.1.3) at ``pos``."""
    if len(data) - pos < 4 or data[pos] != 0xFF or data[pos + 1] & 0xE0 != 0xE0:
        return None
    version = (data[pos + 1] >> 3) & 0x03  # 0: MPEG-2.5, 1: reserved, 2: MPEG-2, 3: MPEG-1
    layer = 4 - ((data[pos + 1] >> 1) & 0x03)  # 4 means reserved
    bitrate_index = data[pos + 2] >> 4
    rate_index = (data[pos + 2] >> 2) & 0x03
    if version == 1 or layer == 4 or bitrate_index in (0, 15) or rate_index == 3:
        return None
    mpeg1 = version == 3
    bitrate = _MPEG_BITRATES[mpeg1][layer - 1][bitrate_index] * 1000
    rate = _MPEG_SAMPLE_RATES[rate_index] >> (0 if mpeg1 else 1 if version == 2 else 2)
    padding = (data[pos + 2] >> 1) & 0x01
    if layer == 1:
        length = (12 * bitrate // rate + padding) * 4
    elif layer == 3 and not mpeg1:
        length = 72 * bitrate // rate + padding
    else:
        length = 144 * bitrate // rate + padding
    return _Frame((0, version, layer, rate_index), length)


def _adts_frame(data: bytes, pos: int) -> _Frame | None:
    """An ADTS header (ISO 14496-3 1.A.2.2) at ``pos``."""
    if len(data) - pos < 7 or data[pos] != 0xFF or data[pos + 1] & 0xF6 != 0xF0:
        return None
    profile = data[pos + 2] >> 6
    rate_index = (data[pos + 2] >> 2) & 0x0F
    length = ((data[pos + 3] & 0x03) << 11) | (data[pos + 4] << 3) | (data[pos + 5] >> 5)
    header = 7 if data[pos + 1] & 0x01 else 9
    if rate_index > 12 or length < header:
        return None
    return _Frame((1, profile, rate_index), length)


_TRAILING_TAGS = (b"TAG", b"APETAGEX", b"LYRICSBEGIN", b"ID3")


def _read_mpeg_audio(data: bytes, complete: bool) -> _Found | None:
    pos: int | None = 0
    tagged = data.startswith(b"ID3")
    if tagged:
        pos = _after_id3(data)
    if pos is None:
        return None
    frame = _mpeg_frame(data, pos) or _adts_frame(data, pos)
    if frame is None:
        if tagged and pos >= len(data) and not complete:
            return _mp3_found(3)  # the prefix ends inside the tag
        if tagged:
            return _mp3_found(3).damaged("it has a tag but no audio frames")
        return None
    if frame.stream[0] == 1:
        found = _Found(
            MediaKind.AUDIO, "an AAC audio file", "audio/aac", ".aac", "AAC audio",
            audio_codec="AAC",
        )  # fmt: skip
    else:
        found = _mp3_found(frame.stream[2])
    return _check_frames(data, pos, frame, found, complete=complete, tagged=tagged)


def _check_frames(
    data: bytes, pos: int, first: _Frame, found: _Found, *, complete: bool, tagged: bool
) -> _Found | None:
    """Follow a few frames: each must start where the last one ends."""
    read = _adts_frame if first.stream[0] == 1 else _mpeg_frame
    frame: _Frame | None = first
    frames = 0
    while frame is not None and frame.stream == first.stream:
        frames += 1
        pos += frame.length
        if pos >= len(data) or frames == _MPEG_FRAMES_CHECKED:
            break
        frame = read(data, pos)
    if pos > len(data) and frames == 1 and complete:
        return found.incomplete()
    if pos < len(data) and frames == 1 and not data.startswith(_TRAILING_TAGS, pos):
        # One frame followed by something else: a coincidence, not an audio stream.
        return found.damaged("its audio frames are malformed") if tagged else None
    return found


def _mp3_found(layer: int) -> _Found:
    if layer == 3:
        return _Found(
            MediaKind.AUDIO, "an MP3 audio file", "audio/mpeg", ".mp3", "MP3 audio",
            audio_codec="MP3",
        )  # fmt: skip
    codec = f"MP{layer}"
    return _Found(
        MediaKind.AUDIO,
        f"an MPEG audio file (layer {'I' * layer})",
        "audio/mpeg",
        ".mpeg",
        f"MPEG audio (layer {'I' * layer})",
        audio_codec=codec,
    )


def _after_id3(data: bytes) -> int | None:
    """The offset after an ID3v2 tag and any zero padding; None if the tag is malformed."""
    if len(data) < 10:
        return len(data)
    size_bytes = data[6:10]
    if data[3] == 0xFF or data[4] == 0xFF or any(b & 0x80 for b in size_bytes):
        return None
    size = 0
    for byte in size_bytes:
        size = (size << 7) | byte
    pos = 10 + size + (10 if data[5] & 0x10 else 0)
    window = data[pos : pos + 4096]
    return pos + len(window) - len(window.lstrip(b"\x00"))


_OTHER_AUDIO = (
    (b"fLaC", "FLAC audio file", "audio/flac", ".flac"),
    (b"caff", "Core Audio file", "audio/x-caf", ".caf"),
)


def _read_other_audio(data: bytes, complete: bool) -> _Found | None:
    for signature, name, mime, ext in _OTHER_AUDIO:
        if data.startswith(signature):
            return _refused_audio(name, mime, ext)
    if data.startswith(b"FORM") and data[8:12] in (b"AIFF", b"AIFC"):
        return _refused_audio("AIFF audio file", "audio/aiff", ".aiff", an=True)
    return None


def _read_ogg(data: bytes, complete: bool) -> _Found | None:
    if not data.startswith(b"OggS"):
        return None
    head = data[:128]
    if b"OpusHead" in head:
        name = "Ogg Opus audio file (the format of WhatsApp voice notes)"
        found = _refused_audio(name, "audio/ogg", ".ogg", an=True)
        return replace(found, noun="an Ogg Opus audio file", format_name="Ogg Opus audio")
    if b"\x80theora" in head:
        return _refused_video("Ogg video", "video/ogg", ".ogv", an=True)
    if b"\x01vorbis" in head:
        return _refused_audio("Ogg Vorbis audio file", "audio/ogg", ".ogg", an=True)
    return _refused_audio("Ogg audio file", "audio/ogg", ".ogg", an=True)


# Video containers other than ISO base media


def _read_other_video(data: bytes, complete: bool) -> _Found | None:
    if data.startswith(b"\x1a\x45\xdf\xa3"):
        if b"webm" in data[:64]:
            return _refused_video("WebM video", "video/webm", ".webm")
        return _refused_video("Matroska (.mkv) video", "video/x-matroska", ".mkv")
    if data.startswith(b"0&\xb2u\x8ef\xcf\x11"):
        return _refused_video("Windows Media file", "video/x-ms-asf", ".wmv")
    if data.startswith(b"FLV\x01"):
        return _refused_video("Flash video", "video/x-flv", ".flv")
    if data.startswith(b"\x00\x00\x01\xba"):
        return _refused_video("MPEG program stream video", "video/mpeg", ".mpg", an=True)
    if len(data) > 376 and data[0] == data[188] == data[376] == 0x47:
        return _refused_video("MPEG transport stream video", "video/mp2t", ".ts", an=True)
    return None


# Text


def _read_text(data: bytes, complete: bool) -> _Found | None:
    head = data[:_TEXT_WINDOW].lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    if head.startswith((b"<!doctype html", b"<html", b"<head", b"<body")):
        return _Found(None, "a web page", "text/html", ".html", "web page (HTML)").refuse(
            RefusalCode.UNSUPPORTED_FORMAT,
            "This is a web page (HTML), not a media file.",
            "Use a direct download link to the file itself, not a page that shows it.",
        )
    if head.startswith(b"<svg") or (
        head.startswith((b"<?xml", b"<!doctype svg")) and b"<svg" in head
    ):
        return _refused_image(
            "SVG image", "image/svg+xml", ".svg", "Export it as a PNG image.", an=True
        )
    return None


# ISO base media: MP4, 3GPP, QuickTime, HEIF, M4A


_HEIC_BRANDS = frozenset({"heic", "heix", "heim", "heis", "hevc", "hevx"})
_AVIF_BRANDS = frozenset({"avif", "avis"})
_HEIF_BRANDS = _HEIC_BRANDS | _AVIF_BRANDS | {"mif1", "msf1", "mif2", "miaf"}
_AUDIO_BRANDS = frozenset({"M4A ", "M4B ", "M4P "})
_MP4_VIDEO = _Found(MediaKind.VIDEO, "an MP4 video", "video/mp4", ".mp4", "MP4 video")

_VIDEO_CODECS = {
    "avc1": "H.264",
    "avc3": "H.264",
    "hvc1": "HEVC (H.265)",
    "hev1": "HEVC (H.265)",
    "dvh1": "Dolby Vision (HEVC)",
    "dvhe": "Dolby Vision (HEVC)",
    "dva1": "Dolby Vision (H.264)",
    "dvav": "Dolby Vision (H.264)",
    "vp08": "VP8",
    "vp09": "VP9",
    "av01": "AV1",
    "mp4v": "MPEG-4 Part 2",
    "s263": "H.263",
    "h263": "H.263",
    "jpeg": "Motion JPEG",
    "mjpa": "Motion JPEG",
    "mjpb": "Motion JPEG",
    "apch": "Apple ProRes",
    "apcn": "Apple ProRes",
    "apcs": "Apple ProRes",
    "apco": "Apple ProRes",
    "ap4h": "Apple ProRes",
    "ap4x": "Apple ProRes",
}
_H264 = frozenset({"avc1", "avc3"})

_AUDIO_CODECS = {
    ".mp3": "MP3",
    "mp3 ": "MP3",
    "ms\x00U": "MP3",
    "samr": "AMR",
    "sawb": "AMR-WB",
    "sawp": "AMR-WB+",
    "Opus": "Opus",
    "fLaC": "FLAC",
    "alac": "Apple Lossless",
    "ac-3": "Dolby Digital (AC-3)",
    "ec-3": "Dolby Digital Plus (E-AC-3)",
    "ac-4": "Dolby AC-4",
    "dtsc": "DTS",
    "dtsh": "DTS",
    "dtsl": "DTS",
    "dtse": "DTS",
    "mha1": "MPEG-H",
    "mhm1": "MPEG-H",
    "sqcp": "QCELP",
    "sevc": "EVRC",
    "ulaw": "G.711",
    "alaw": "G.711",
    "ima4": "IMA ADPCM",
}
for _pcm in ("lpcm", "sowt", "twos", "raw ", "in24", "in32", "fl32", "fl64", "ipcm", "fpcm"):
    _AUDIO_CODECS[_pcm] = "uncompressed PCM"

# esds objectTypeIndication (ISO 14496-1 table 5; MP4RA).
_AAC_OBJECT_TYPES = frozenset({0x40, 0x66, 0x67, 0x68})
_OBJECT_TYPES = {
    0x69: "MP3",
    0x6B: "MP3",
    0xA5: "Dolby Digital (AC-3)",
    0xA6: "Dolby Digital Plus (E-AC-3)",
    0xA9: "DTS",
    0xAD: "Opus",
    0xDD: "Vorbis",
    0xE1: "QCELP",
}
# MPEG-4 audio object types (ISO 14496-3 table 1.1) that are AAC, and some that are not.
_AAC_AUDIO_OBJECT_TYPES = frozenset({1, 2, 3, 4, 5, 6, 17, 19, 20, 22, 23, 29, 39, 42})
_AUDIO_OBJECT_TYPES = {32: "MP1", 33: "MP2", 34: "MP3", 36: "MPEG-4 ALS", 7: "TwinVQ"}


@dataclass(frozen=True)
class _Codec:
    phrase: str
    """How a sentence names it: "HEVC (H.265) video", "audio in an unrecognised format"."""
    ok: bool
    name: str = ""
    codecs: str = ""
    encrypted: bool = False
    broken: bool = False


def _printable(fourcc: str) -> str:
    return "".join(c if c.isascii() and c.isprintable() else "?" for c in fourcc).strip()


def _video_codec(entry: isobmff.SampleEntry) -> _Codec:
    fourcc = entry.original_format or entry.fourcc
    encrypted = entry.fourcc in ("encv", "drmi")
    if fourcc in _H264:
        if entry.config_type != "avcC" or len(entry.config) < 4:
            return _Codec("H.264 video", False, "H.264", encrypted=encrypted, broken=True)
        codecs = f"{fourcc}.{entry.config[1:4].hex().upper()}"
        return _Codec("H.264 video", True, "H.264", codecs, encrypted)
    name = _VIDEO_CODECS.get(fourcc)
    if name is None:
        return _Codec(f"video in an unrecognised format ({_printable(fourcc)})", False)
    return _Codec(f"{name} video", False, name, encrypted=encrypted)


def _audio_codec(entry: isobmff.SampleEntry) -> _Codec:
    fourcc = entry.original_format or entry.fourcc
    encrypted = entry.fourcc in ("enca", "drms")
    if fourcc != "mp4a":
        name = _AUDIO_CODECS.get(fourcc)
        if name is None:
            return _Codec(f"audio in an unrecognised format ({_printable(fourcc)})", False)
        return _Codec(f"{name} audio", False, name, encrypted=encrypted)
    oti = entry.object_type
    aot = entry.audio_object_type
    if oti is None:
        return _Codec("audio whose format is not declared", False, encrypted=encrypted)
    if oti not in _AAC_OBJECT_TYPES:
        name = _OBJECT_TYPES.get(oti, "")
        phrase = f"{name} audio" if name else f"audio in an unrecognised format (0x{oti:02X})"
        return _Codec(phrase, False, name, encrypted=encrypted)
    if oti == 0x40 and aot is not None and aot not in _AAC_AUDIO_OBJECT_TYPES:
        name = _AUDIO_OBJECT_TYPES.get(aot, "")
        phrase = f"{name} audio" if name else f"audio in an unrecognised format (type {aot})"
        return _Codec(phrase, False, name, encrypted=encrypted)
    codecs = f"mp4a.{oti:X}" if oti != 0x40 else "mp4a.40" + ("" if aot is None else f".{aot}")
    return _Codec("AAC audio", True, "AAC", codecs, encrypted)


def _read_isobmff(data: bytes, complete: bool) -> _Found | None:
    if not isobmff.looks_like_isobmff(data):
        return None
    movie = isobmff.parse(data, complete=complete)
    brand = movie.major_brand
    if brand in _HEIF_BRANDS or (
        not movie.has_moov and "meta" in movie.top_level and bool(_HEIF_BRANDS & set(movie.brands))
    ):
        return _heif(movie)
    if brand is None or brand == "qt  ":
        return _quicktime(movie)
    if brand.startswith("3g2"):
        return _refused_video("3GPP2 (.3g2) video", "video/3gpp2", ".3g2")
    if brand.startswith("3g"):
        container = _Found(MediaKind.VIDEO, "a 3GPP video", "video/3gpp", ".3gp", "3GPP video")
    elif brand in _AUDIO_BRANDS:
        container = _Found(MediaKind.AUDIO, "an M4A audio file", "audio/mp4", ".m4a", "M4A audio")
    else:
        container = _MP4_VIDEO
    if isinstance(movie.error, isobmff.Truncated):
        return container.incomplete(movie.error.missing)
    if movie.error is not None:
        return container.damaged(f"its structure is broken ({movie.error})")
    if movie.tracks is None:
        if complete:
            return container.refuse(
                RefusalCode.CORRUPT,
                f"This {container.format_name} is incomplete: it has no index (moov box), so it "
                "cannot be played; recordings that were interrupted end up like this.",
                "Share the original file again, or record or export it again.",
            )
        if container.kind == MediaKind.AUDIO:
            return _audio_only(container, None)
        return container
    if complete and "mdat" not in movie.top_level:
        return container.damaged("it holds no media data (mdat box)")
    if container.kind == MediaKind.AUDIO and any(t.handler == "vide" for t in movie.tracks):
        container = _MP4_VIDEO  # an audio brand, but a picture: judge it as the video it is
    return _tracks_verdict(container, movie.tracks)


def _heif(movie: isobmff.Movie) -> _Found:
    brands = set(movie.brands)
    if movie.major_brand in _AVIF_BRANDS or (
        movie.major_brand not in _HEIC_BRANDS and brands & _AVIF_BRANDS
    ):
        return _refused_image(
            "AVIF image",
            "image/avif",
            ".avif",
            "Convert it to JPEG or PNG (most image editors can) before sending.",
            an=True,
        )
    if brands & _HEIC_BRANDS:
        name, mime, ext = "HEIC image (the iPhone photo format)", "image/heic", ".heic"
    else:
        name, mime, ext = "HEIF image", "image/heif", ".heif"
    found = _refused_image(
        name,
        mime,
        ext,
        "Convert it to JPEG, for example: heif-convert in.heic out.jpg (an iPhone set to "
        "Settings > Camera > Formats > Most Compatible takes JPEG photos).",
    )
    return replace(found, noun=f"a {name.split(' (')[0]}", format_name=name.split(" (")[0])


def _quicktime(movie: isobmff.Movie) -> _Found:
    container = _Found(
        MediaKind.VIDEO, "a QuickTime (.mov) video", "video/quicktime", ".mov", "QuickTime video"
    )
    hint = _TO_MP4.format(ext="mov")
    if movie.error is None and movie.tracks is not None:
        verdict = _tracks_verdict(container, movie.tracks)
        if verdict.refusal is None:
            hint = (
                "Its H.264 and AAC streams can be copied into an MP4 without re-encoding, "
                "for example: ffmpeg -i in.mov -c copy out.mp4"
            )
        elif verdict.refusal.code == RefusalCode.UNSUPPORTED_CODEC:
            hint = verdict.refusal.hint
    return container.refuse(
        RefusalCode.UNSUPPORTED_FORMAT,
        f"This file is a QuickTime (.mov) video, {_ONLY_VIDEOS} with H.264 video and AAC audio.",
        hint,
    )


def _tracks_verdict(container: _Found, tracks: tuple[isobmff.Track, ...]) -> _Found:
    video = [_video_codec(e) for t in tracks if t.handler == "vide" for e in t.entries]
    audio = [_audio_codec(e) for t in tracks if t.handler == "soun" for e in t.entries]
    if any(t.handler in ("vide", "soun") and not t.entries for t in tracks):
        return container.damaged("a track has no codec description")
    if not video:
        return _audio_only(container, audio[0].name or audio[0].phrase if audio else "")
    if any(c.encrypted for c in video + audio):
        return container.refuse(
            RefusalCode.UNSUPPORTED_FORMAT,
            "This video is copy-protected (encrypted), so it cannot be sent.",
            "Send a copy of the video that is not DRM-protected.",
        )
    if any(c.broken for c in video):
        return container.damaged("its H.264 track is missing its decoder settings (avcC box)")
    bad = [c.phrase for c in video + audio if not c.ok]
    if bad:
        return _codec_refusal(
            container, bad, video_ok=all(c.ok for c in video), audio_ok=all(c.ok for c in audio)
        )
    return replace(
        container,
        format_name=f"{container.format_name} (H.264, {'AAC audio' if audio else 'no audio'})",
        video_codec="H.264",
        audio_codec="AAC" if audio else None,
        codecs=", ".join(dict.fromkeys(c.codecs for c in video + audio)),
    )


def _codec_refusal(
    container: _Found, found: list[str], *, video_ok: bool, audio_ok: bool
) -> _Found:
    unique = list(dict.fromkeys(found))
    listed = unique[0] if len(unique) == 1 else ", ".join(unique[:-1]) + " and " + unique[-1]
    video_args = "-c:v copy" if video_ok else "-c:v libx264 -pix_fmt yuv420p"
    audio_args = "-c:a copy" if audio_ok else "-c:a aac"
    ext = container.extension.lstrip(".")
    return container.refuse(
        RefusalCode.UNSUPPORTED_CODEC,
        f"This {container.format_name} has {listed}, and the provider only takes H.264 video "
        "with AAC audio.",
        "Convert it to an MP4 with H.264 video and AAC audio, for example: "
        f"ffmpeg -i in.{ext} {video_args} {audio_args} out.mp4",
    )


def _audio_only(container: _Found, codec: str | None) -> _Found:
    """Refuse an MP4 or 3GPP file that holds sound but no picture."""
    if codec == "":
        return container.damaged("it has no video or audio track")
    m4a = container.extension in (".mp4", ".m4a")
    label, ext = ("M4A", "m4a") if m4a else ("3GPP", "3gp")
    found = _Found(
        MediaKind.AUDIO,
        f"{'an' if m4a else 'a'} {label} audio file",
        "audio/mp4" if m4a else "audio/3gpp",
        f".{ext}",
        f"{label} audio",
    )
    copy_to = {"AAC": "aac", "AMR": "amr", "MP3": "mp3"}.get(codec or "")
    if copy_to:
        hint = (
            f"Copy its {codec} audio into a .{copy_to} file without re-encoding, for example: "
            f"ffmpeg -i in.{ext} -c:a copy out.{copy_to}"
        )
    else:
        hint = _TO_MP3.format(ext=ext)
    inside = f" ({codec} audio in {'an MP4' if m4a else 'a 3GPP'} container)" if codec else ""
    return found.refuse(
        RefusalCode.UNSUPPORTED_FORMAT,
        f"This file is {found.noun}{inside}, {_ONLY_AUDIO}.",
        hint,
    )


_READERS = (
    _read_png,
    _read_jpeg,
    _read_gif,
    _read_riff,
    _read_bmp,
    _read_tiff,
    _read_other_image,
    _read_pdf,
    _read_zip,
    _read_other_document,
    _read_isobmff,
    _read_amr,
    _read_ogg,
    _read_other_audio,
    _read_other_video,
    _read_mpeg_audio,
    _read_text,
)
