"""Audio: AAC (ADTS), MP3 and MPEG audio, and AMR are accepted; others are named and refused."""

from __future__ import annotations

from dataclasses import dataclass, replace

from bot.media.formats.found import Found, refused_audio, refused_video
from bot.media.kinds import MediaKind

__all__ = ["read_amr", "read_mpeg_audio", "read_ogg", "read_other_audio"]

_MPEG_FRAMES_CHECKED = 4
_AMR_FRAMES_CHECKED = 8


_AMR_NB_FRAME = (13, 14, 16, 18, 20, 21, 27, 32, 6, 1, 1, 1, 1, 1, 1, 1)
_AMR_WB_FRAME = (18, 24, 33, 37, 41, 47, 51, 59, 61, 6, 1, 1, 1, 1, 1, 1)


def read_amr(data: bytes, complete: bool) -> Found | None:
    if data.startswith(b"#!AMR\n"):
        header, frame_sizes, name = 6, _AMR_NB_FRAME, "AMR"
    elif data.startswith(b"#!AMR-WB\n"):
        header, frame_sizes, name = 9, _AMR_WB_FRAME, "AMR-WB"
    else:
        return None
    # audio/amr for both: the provider lists .amr only, and AMR-WB players sniff the header.
    found = Found(
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


def read_mpeg_audio(data: bytes, complete: bool) -> Found | None:
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
        found = Found(
            MediaKind.AUDIO, "an AAC audio file", "audio/aac", ".aac", "AAC audio",
            audio_codec="AAC",
        )  # fmt: skip
    else:
        found = _mp3_found(frame.stream[2])
    return _check_frames(data, pos, frame, found, complete=complete, tagged=tagged)


def _check_frames(
    data: bytes, pos: int, first: _Frame, found: Found, *, complete: bool, tagged: bool
) -> Found | None:
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


def _mp3_found(layer: int) -> Found:
    if layer == 3:
        return Found(
            MediaKind.AUDIO, "an MP3 audio file", "audio/mpeg", ".mp3", "MP3 audio",
            audio_codec="MP3",
        )  # fmt: skip
    codec = f"MP{layer}"
    return Found(
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


def read_other_audio(data: bytes, complete: bool) -> Found | None:
    for signature, name, mime, ext in _OTHER_AUDIO:
        if data.startswith(signature):
            return refused_audio(name, mime, ext)
    if data.startswith(b"FORM") and data[8:12] in (b"AIFF", b"AIFC"):
        return refused_audio("AIFF audio file", "audio/aiff", ".aiff", an=True)
    return None


def read_ogg(data: bytes, complete: bool) -> Found | None:
    if not data.startswith(b"OggS"):
        return None
    head = data[:128]
    if b"OpusHead" in head:
        name = "Ogg Opus audio file (the format of WhatsApp voice notes)"
        found = refused_audio(name, "audio/ogg", ".ogg", an=True)
        return replace(found, noun="an Ogg Opus audio file", format_name="Ogg Opus audio")
    if b"\x80theora" in head:
        return refused_video("Ogg video", "video/ogg", ".ogv", an=True)
    if b"\x01vorbis" in head:
        return refused_audio("Ogg Vorbis audio file", "audio/ogg", ".ogg", an=True)
    return refused_audio("Ogg audio file", "audio/ogg", ".ogg", an=True)
