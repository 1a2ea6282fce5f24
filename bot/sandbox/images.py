"""Small one-colour JPEG and PNG images, made without an imaging library.

The demo ships with the stand-ins and must not need Pillow; these files are real images all
the same (any decoder reads them), just plain.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Iterable, Sequence
from typing import Final

__all__ = ["jpeg", "png"]

Colour = tuple[int, int, int]

# The DC table of JPEG's Annex K.3 (categories 0-11); the AC table holds only end-of-block.
_DC_BITS: Final = (0, 1, 5, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0)
_DC_VALUES: Final = tuple(range(12))
_AC_BITS: Final = (1,) + (0,) * 15
_AC_VALUES: Final = (0x00,)


def png(width: int = 48, height: int = 32, colour: Colour = (200, 120, 40)) -> bytes:
    """A ``width`` × ``height`` PNG (8-bit RGB) of one colour."""
    _check(width, height, colour)
    row = b"\x00" + bytes(colour) * width  # filter type 0 (None), then the pixels
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _png_chunk(b"IHDR", header)
        + _png_chunk(b"IDAT", zlib.compress(row * height, 9))
        + _png_chunk(b"IEND", b"")
    )


def jpeg(width: int = 40, height: int = 30, colour: Colour = (120, 80, 40)) -> bytes:
    """A ``width`` × ``height`` baseline JFIF JPEG (YCbCr, no subsampling) of one colour."""
    _check(width, height, colour)
    components = (1, 2, 3)
    frame = struct.pack(">BHHB", 8, height, width, len(components))
    frame += b"".join(bytes((c, 0x11, 0)) for c in components)
    scan = bytes((len(components),)) + b"".join(bytes((c, 0x00)) for c in components)
    scan += bytes((0, 63, 0))
    tables = bytes((0x00, *_DC_BITS, *_DC_VALUES, 0x10, *_AC_BITS, *_AC_VALUES))
    return (
        b"\xff\xd8"
        + _segment(0xE0, b"JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00")
        + _segment(0xDB, b"\x00" + b"\x01" * 64)  # every coefficient quantized by 1
        + _segment(0xC0, frame)
        + _segment(0xC4, tables)
        + _segment(0xDA, scan)
        + _jpeg_data(width, height, _ycbcr(colour))
        + b"\xff\xd9"
    )


def _check(width: int, height: int, colour: Colour) -> None:
    if not (0 < width <= 65535 and 0 < height <= 65535):
        raise ValueError("width and height must be 1 to 65535")
    if len(colour) != 3 or not all(0 <= c <= 255 for c in colour):
        raise ValueError("colour must be three values from 0 to 255")


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def _segment(marker: int, data: bytes) -> bytes:
    return bytes((0xFF, marker)) + struct.pack(">H", len(data) + 2) + data


def _ycbcr(colour: Colour) -> Colour:
    r, g, b = colour
    y = 0.299 * r + 0.587 * g + 0.114 * b
    cb = 128 - 0.168736 * r - 0.331264 * g + 0.5 * b
    cr = 128 + 0.5 * r - 0.418688 * g - 0.081312 * b
    y_, cb_, cr_ = (min(255, max(0, round(v))) for v in (y, cb, cr))
    return y_, cb_, cr_


def _codes(bits: Sequence[int], values: Sequence[int]) -> dict[int, tuple[int, int]]:
    """The canonical Huffman codes, ``{value: (code, length)}``, of a DHT table."""
    codes: dict[int, tuple[int, int]] = {}
    code, index = 0, 0
    for length, count in enumerate(bits, start=1):
        for _ in range(count):
            codes[values[index]] = (code, length)
            code += 1
            index += 1
        code <<= 1
    return codes


def _jpeg_data(width: int, height: int, samples: Colour) -> bytes:
    """The entropy-coded scan: per 8×8 block only the DC term, then end-of-block.

    A flat block's DC coefficient is 8 × (sample − 128); each block codes its difference from
    the previous block of the same component, so after the first MCU every difference is 0.
    """
    dc_codes = _codes(_DC_BITS, _DC_VALUES)
    eob = _codes(_AC_BITS, _AC_VALUES)[0x00]
    blocks = ((width + 7) // 8) * ((height + 7) // 8)
    bits: list[tuple[int, int]] = []
    previous = [0, 0, 0]
    for _ in range(blocks):
        for index, sample in enumerate(samples):
            dc = 8 * (sample - 128)
            diff, previous[index] = dc - previous[index], dc
            size = abs(diff).bit_length()
            bits.append(dc_codes[size])
            if size:
                bits.append((diff if diff > 0 else diff + (1 << size) - 1, size))
            bits.append(eob)
    return _pack(bits)


def _pack(bits: Iterable[tuple[int, int]]) -> bytes:
    """Codes written most significant bit first, padded with 1 bits, each 0xFF stuffed."""
    out = bytearray()
    buffer, count = 0, 0
    for code, length in bits:
        buffer = (buffer << length) | code
        count += length
        while count >= 8:
            count -= 8
            byte = (buffer >> count) & 0xFF
            out.append(byte)
            if byte == 0xFF:
                out.append(0x00)
        buffer &= (1 << count) - 1
    if count:
        byte = ((buffer << (8 - count)) | ((1 << (8 - count)) - 1)) & 0xFF
        out.append(byte)
        if byte == 0xFF:
            out.append(0x00)
    return bytes(out)
