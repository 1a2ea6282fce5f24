"""Read the structure of ISO base media files (MP4, 3GPP, QuickTime, HEIF) without copying them.

Only box headers and a few small configuration boxes are read, with ``struct.unpack_from`` at
known offsets, so the cost depends on the number of boxes, never on the size of the media data.
The walk is iterative, follows one fixed path (moov/trak/mdia/minf/stbl/stsd/entry) and gives
up after ``MAX_BOXES`` box headers, so no input can make it recurse deeply or loop for long.

This module states facts about the file; whether the provider accepts them is decided in
``bot.media.formats.video``.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from dataclasses import dataclass

__all__ = [
    "MAX_BOXES",
    "Box",
    "Corrupt",
    "IsoError",
    "Movie",
    "SampleEntry",
    "Track",
    "Truncated",
    "looks_like_isobmff",
    "parse",
]

MAX_BOXES = 20_000
"""Box headers read per file at most; real files have a few hundred (fragmented: thousands)."""

_MAX_BRANDS = 64
_CONFIG_BYTES = 32

# Top-level box types a QuickTime file may start with when it has no ftyp box.
_QUICKTIME_FIRST = frozenset({b"moov", b"mdat", b"wide", b"free", b"skip", b"pnot"})

# Boxes in a sample entry that configure the decoder; the first one found is kept.
_CONFIG_TYPES = frozenset(
    {"avcC", "hvcC", "vpcC", "av1C", "dvcC", "dvvC", "dOps", "damr", "dac3", "dec3", "dfLa"}
)

_HEADER = struct.Struct(">I4s")
_U16 = struct.Struct(">H")
_U32 = struct.Struct(">I")
_U64 = struct.Struct(">Q")

# Bytes between a sample entry's header and its child boxes (ISO 14496-12 8.5.2, QTFF).
_VISUAL_FIELDS = 78
_AUDIO_FIELDS = 28
_QT_SOUND_V1_EXTRA = 16
_QT_SOUND_V2_EXTRA = 36


class IsoError(Exception):
    """The bytes do not form a well-formed ISO base media file."""


class Truncated(IsoError):
    """A top-level box declares more bytes than the file holds: the file was cut short."""

    def __init__(self, box_type: str, missing: int) -> None:
        super().__init__(f"the {box_type!r} box needs {missing} more bytes than the file has")
        self.box_type = box_type
        self.missing = missing


class Corrupt(IsoError):
    """The box structure contradicts itself."""


@dataclass(frozen=True, slots=True)
class Box:
    """A box header: its four-character type and where its payload starts and it ends."""

    type: str
    start: int
    body: int
    end: int


@dataclass(frozen=True)
class SampleEntry:
    """One codec description from a track's stsd box."""

    fourcc: str
    config_type: str | None = None
    """The decoder configuration box found in the entry (avcC, hvcC, vpcC, av1C, dOps...)."""
    config: bytes = b""
    """The first bytes of that box's payload (avcC: version, profile, compatibility, level)."""
    object_type: int | None = None
    """objectTypeIndication from the esds DecoderConfigDescriptor (0x40: MPEG-4 audio)."""
    audio_object_type: int | None = None
    """The audio object type from the esds AudioSpecificConfig (2: AAC LC, 34: MP3)."""
    original_format: str | None = None
    """For encrypted entries (encv/enca): the codec inside the protection (sinf/frma)."""


@dataclass(frozen=True)
class Track:
    """A trak box: its handler (vide, soun, hint, meta, ...) and its sample entries."""

    handler: str
    entries: tuple[SampleEntry, ...]


@dataclass(frozen=True)
class Movie:
    """What could be read of a file; ``error`` says why the reading stopped early, if it did."""

    major_brand: str | None
    compatible_brands: tuple[str, ...]
    top_level: tuple[str, ...]
    """Top-level box types, each once, in order of first appearance."""
    tracks: tuple[Track, ...] | None
    """The tracks of the moov box; None when no complete moov box was read."""
    error: IsoError | None

    @property
    def has_moov(self) -> bool:
        return "moov" in self.top_level

    @property
    def brands(self) -> tuple[str, ...]:
        """The major brand followed by the compatible brands."""
        major = () if self.major_brand is None else (self.major_brand,)
        return major + self.compatible_brands


def looks_like_isobmff(data: bytes) -> bool:
    """True when the first box is ftyp, or one QuickTime files without ftyp start with."""
    if len(data) < 8:
        return False
    size: int = _U32.unpack_from(data, 0)[0]
    kind = data[4:8]
    if kind == b"ftyp":
        return size == 0 or size >= 8
    return kind in _QUICKTIME_FIRST and (size in (0, 1) or size >= 8)


def parse(data: bytes, *, complete: bool = True) -> Movie:
    """Read the brands, the top-level boxes and the tracks' sample entries.

    With ``complete=False`` the data is only the start of a file: a top-level box that runs past
    the end is not an error, and a moov box that is not wholly present is not read.
    Never raises: a problem is returned in ``Movie.error``.
    """
    major, compatible = _brands(data)
    reader = _Reader(data, complete=complete)
    seen: dict[str, None] = {}
    tracks: tuple[Track, ...] | None = None
    error: IsoError | None = None
    try:
        for box in reader.children(0, len(data), top=True):
            seen.setdefault(box.type, None)
            if box.type == "moov" and tracks is None and box.end <= len(data):
                tracks = reader.tracks(box)
    except IsoError as exc:
        error = exc
    return Movie(
        major_brand=major,
        compatible_brands=compatible,
        top_level=tuple(seen),
        tracks=tracks,
        error=error,
    )


def _fourcc(raw: bytes) -> str:
    return raw.decode("latin-1")


def _brands(data: bytes) -> tuple[str | None, tuple[str, ...]]:
    if len(data) < 12 or data[4:8] != b"ftyp":
        return None, ()
    (size,) = _U32.unpack_from(data, 0)
    end = len(data) if size < 16 else min(size, len(data))
    major = _fourcc(data[8:12])
    compatible = tuple(_fourcc(data[pos : pos + 4]) for pos in range(16, end - 3, 4)[:_MAX_BRANDS])
    return major, compatible


class _Reader:
    def __init__(self, data: bytes, *, complete: bool) -> None:
        self.data = data
        self.complete = complete
        self.budget = MAX_BOXES

    def children(self, start: int, end: int, *, top: bool = False) -> Iterator[Box]:
        """The boxes laid end to end from ``start`` to ``end``."""
        data = self.data
        pos = start
        while end - pos >= 8:
            self.budget -= 1
            if self.budget < 0:
                raise Corrupt(f"it has more than {MAX_BOXES} boxes")
            size, raw_type = _HEADER.unpack_from(data, pos)
            box_type = _fourcc(raw_type)
            header = 8
            if size == 1:
                if end - pos < 16:
                    if top and not self.complete:
                        return
                    raise self._overrun(box_type, pos + 16 - end, top=top)
                (size,) = _U64.unpack_from(data, pos + 8)
                header = 16
            elif size == 0:
                size = end - pos
            if raw_type == b"uuid":
                header += 16
            if size < header:
                raise Corrupt(f"the {box_type!r} box declares an impossible size ({size} bytes)")
            box_end = pos + size
            if box_end > end:
                if top and not self.complete:
                    yield Box(box_type, pos, pos + header, box_end)
                    return
                raise self._overrun(box_type, box_end - end, top=top)
            yield Box(box_type, pos, pos + header, box_end)
            pos = box_end
        if top and self.complete and pos < end and any(data[pos:end]):
            raise Truncated("(next box header)", 8 - (end - pos))

    def _overrun(self, box_type: str, missing: int, *, top: bool) -> IsoError:
        if top:
            return Truncated(box_type, missing)
        return Corrupt(f"the {box_type!r} box runs past the box that holds it")

    def child(self, parent: Box, box_type: str) -> Box | None:
        for box in self.children(parent.body, parent.end):
            if box.type == box_type:
                return box
        return None

    def tracks(self, moov: Box) -> tuple[Track, ...]:
        return tuple(
            self.track(box) for box in self.children(moov.body, moov.end) if box.type == "trak"
        )

    def track(self, trak: Box) -> Track:
        mdia = self.child(trak, "mdia")
        if mdia is None:
            raise Corrupt("a track has no media box (mdia)")
        handler: str | None = None
        stsd: Box | None = None
        for box in self.children(mdia.body, mdia.end):
            if box.type == "hdlr" and handler is None:
                handler = self.handler(box)
            elif box.type == "minf" and stsd is None:
                stbl = self.child(box, "stbl")
                stsd = None if stbl is None else self.child(stbl, "stsd")
        if handler is None:
            raise Corrupt("a track has no handler box (hdlr)")
        if stsd is None:
            raise Corrupt("a track has no sample description box (stsd)")
        return Track(handler=handler, entries=self.sample_entries(stsd, handler))

    def handler(self, hdlr: Box) -> str:
        # version and flags (4), pre_defined / QuickTime component type (4), handler_type (4)
        if hdlr.end - hdlr.body < 12:
            raise Corrupt("a handler box (hdlr) is too short")
        return _fourcc(self.data[hdlr.body + 8 : hdlr.body + 12])

    def sample_entries(self, stsd: Box, handler: str) -> tuple[SampleEntry, ...]:
        if stsd.end - stsd.body < 8:
            raise Corrupt("a sample description box (stsd) is too short")
        (count,) = _U32.unpack_from(self.data, stsd.body + 4)
        entries: list[SampleEntry] = []
        for box in self.children(stsd.body + 8, stsd.end):
            if len(entries) >= count:
                break
            entries.append(self.sample_entry(box, handler))
        return tuple(entries)

    def sample_entry(self, entry: Box, handler: str) -> SampleEntry:
        start = self.entry_children_start(entry, handler)
        if start is None:
            return SampleEntry(fourcc=entry.type)
        config_type: str | None = None
        config = b""
        object_type: int | None = None
        audio_object_type: int | None = None
        original: str | None = None
        for box in self.children(start, entry.end):
            esds: Box | None = None
            if box.type == "esds":
                esds = box
            elif box.type == "wave":  # QuickTime keeps the esds inside a wave box
                esds = self.child(box, "esds")
            elif box.type == "sinf":
                original = self.original_format(box)
            elif box.type in _CONFIG_TYPES and config_type is None:
                config_type = box.type
                config = self.data[box.body : min(box.end, box.body + _CONFIG_BYTES)]
            if esds is not None and object_type is None:
                object_type, audio_object_type = _read_esds(self.data, esds.body, esds.end)
                config_type = config_type or "esds"
        return SampleEntry(
            fourcc=entry.type,
            config_type=config_type,
            config=config,
            object_type=object_type,
            audio_object_type=audio_object_type,
            original_format=original,
        )

    def entry_children_start(self, entry: Box, handler: str) -> int | None:
        """Where a sample entry's child boxes start; None for handlers not read here."""
        if handler == "vide":
            start = entry.body + _VISUAL_FIELDS
        elif handler == "soun":
            start = self.audio_children_start(entry)
        else:
            return None
        if start > entry.end:
            raise Corrupt(f"the {entry.type!r} sample entry is too short")
        return start

    def audio_children_start(self, entry: Box) -> int:
        base = entry.body + _AUDIO_FIELDS
        if entry.end - entry.body < 10:
            return base
        (version,) = _U16.unpack_from(self.data, entry.body + 8)
        if version == 2:
            return base + _QT_SOUND_V2_EXTRA
        if version == 1:
            # QuickTime sound description v1 adds 16 bytes; ISO AudioSampleEntryV1 adds none.
            longer = base + _QT_SOUND_V1_EXTRA
            if self.fits_boxes(longer, entry.end) or not self.fits_boxes(base, entry.end):
                return longer
        return base

    def fits_boxes(self, start: int, end: int) -> bool:
        """True when ``start`` is the end or a box header that fits before ``end``."""
        if start == end:
            return True
        if end - start < 8:
            return False
        size: int = _U32.unpack_from(self.data, start)[0]
        return 8 <= size <= end - start

    def original_format(self, sinf: Box) -> str | None:
        frma = self.child(sinf, "frma")
        if frma is None or frma.end - frma.body < 4:
            return None
        return _fourcc(self.data[frma.body : frma.body + 4])


def _read_esds(data: bytes, body: int, end: int) -> tuple[int, int | None]:
    """objectTypeIndication and audio object type from an esds box (ISO 14496-1 7.2.6)."""
    pos = body + 4  # version and flags
    tag, pos, length = _descriptor(data, pos, end)
    if tag == 0x03:  # ES_Descriptor: ES_ID (2), flags (1), optional fields, then descriptors
        limit = min(end, pos + length)
        _need(pos + 3, limit)
        flags = data[pos + 2]
        pos += 3
        if flags & 0x80:  # streamDependenceFlag
            pos += 2
        if flags & 0x40:  # URL_Flag
            _need(pos + 1, limit)
            pos += 1 + data[pos]
        if flags & 0x20:  # OCRstreamFlag
            pos += 2
        tag, pos, length = _descriptor(data, pos, limit)
        end = limit
    if tag != 0x04:
        raise Corrupt("the esds box has no decoder configuration")
    limit = min(end, pos + length)
    _need(pos + 1, limit)
    object_type = data[pos]
    audio_object_type: int | None = None
    pos += 13  # objectTypeIndication, streamType, bufferSizeDB (3), max and avg bitrate (4 + 4)
    if pos + 2 <= limit:
        tag, pos, length = _descriptor(data, pos, limit)
        if tag == 0x05 and length >= 1:
            audio_object_type = _audio_object_type(data, pos, min(limit, pos + length))
    return object_type, audio_object_type


def _descriptor(data: bytes, pos: int, end: int) -> tuple[int, int, int]:
    """A descriptor's tag, the offset of its payload and its length (up to 4 length bytes)."""
    _need(pos + 2, end)
    tag = data[pos]
    pos += 1
    length = 0
    for _ in range(4):
        _need(pos + 1, end)
        byte = data[pos]
        pos += 1
        length = (length << 7) | (byte & 0x7F)
        if not byte & 0x80:
            break
    return tag, pos, length


def _audio_object_type(data: bytes, pos: int, end: int) -> int | None:
    """The first field of an AudioSpecificConfig (ISO 14496-3 1.6.2.1)."""
    if pos >= end:
        return None
    first = data[pos] >> 3
    if first != 31:
        return first
    if pos + 2 > end:
        return None
    return 32 + (((data[pos] & 0x07) << 3) | (data[pos + 1] >> 5))


def _need(pos: int, end: int) -> None:
    if pos > end:
        raise Corrupt("a codec description is cut short")
