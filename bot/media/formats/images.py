"""Images: JPEG and PNG are accepted; GIF, WebP, BMP, TIFF and others are named and refused.

RIFF files are read here too, so WAV audio and AVI video are told apart from WebP images.
"""

from __future__ import annotations

import struct

from bot.media.formats.found import Found, refused_audio, refused_image, refused_video
from bot.media.kinds import MediaKind

__all__ = [
    "read_bmp",
    "read_gif",
    "read_jpeg",
    "read_other_image",
    "read_png",
    "read_riff",
    "read_tiff",
]

_MAX_PNG_CHUNKS = 100_000
_MAX_JPEG_SEGMENTS = 10_000
_MAX_JPEG_FILL = 64

_U32LE = struct.Struct("<I")
_U16 = struct.Struct(">H")


_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def read_png(data: bytes, complete: bool) -> Found | None:
    if not data.startswith(_PNG_SIGNATURE):
        return None
    found = Found(MediaKind.IMAGE, "a PNG image", "image/png", ".png", "PNG image")
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


def read_jpeg(data: bytes, complete: bool) -> Found | None:
    if not data.startswith(b"\xff\xd8\xff"):
        return None
    found = Found(MediaKind.IMAGE, "a JPEG image", "image/jpeg", ".jpg", "JPEG image")
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


def read_gif(data: bytes, complete: bool) -> Found | None:
    if not data.startswith((b"GIF87a", b"GIF89a")):
        return None
    return refused_image(
        "GIF image",
        "image/gif",
        ".gif",
        "Convert it to PNG or JPEG; to keep an animation, convert it to an MP4 video, for "
        'example: ffmpeg -i in.gif -vf "scale=trunc(iw/2)*2:trunc(ih/2)*2" -c:v libx264 '
        "-pix_fmt yuv420p out.mp4",
    )


def read_riff(data: bytes, complete: bool) -> Found | None:
    if not data.startswith(b"RIFF") or len(data) < 12:
        return None
    form = data[8:12]
    if form == b"WEBP":
        return refused_image(
            "WebP image",
            "image/webp",
            ".webp",
            "Save it as PNG or JPEG (most image editors can), for example: "
            "ffmpeg -i in.webp out.png",
        )
    if form == b"WAVE":
        return refused_audio("WAV audio file", "audio/wav", ".wav")
    if form == b"AVI ":
        return refused_video("AVI video", "video/x-msvideo", ".avi", an=True)
    return None


_BMP_HEADER_SIZES = frozenset({12, 16, 40, 52, 56, 64, 108, 124})


def read_bmp(data: bytes, complete: bool) -> Found | None:
    if not data.startswith(b"BM") or len(data) < 18:
        return None
    if _U32LE.unpack_from(data, 14)[0] not in _BMP_HEADER_SIZES:
        return None
    return refused_image(
        "BMP image", "image/bmp", ".bmp", "Convert it to PNG, for example: ffmpeg -i in.bmp out.png"
    )


def read_tiff(data: bytes, complete: bool) -> Found | None:
    if not data.startswith((b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+")):
        return None
    return refused_image(
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


def read_other_image(data: bytes, complete: bool) -> Found | None:
    for signature, name, mime, ext in _OTHER_IMAGES:
        if data.startswith(signature):
            return refused_image(name, mime, ext, "Export it as a PNG or JPEG image.")
    return None
