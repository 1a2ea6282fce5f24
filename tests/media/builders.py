"""Build real media files at test time, so that no binary fixture needs committing.

Images come from Pillow. ISO base media files (MP4, 3GPP, QuickTime, M4A) are assembled box by
box, as ffmpeg or a phone would lay them out::

    ftyp                        major brand, minor version, compatible brands
    moov
      mvhd                      timescale 1000, duration, next track id
      trak                      one per track (video first, then audio)
        tkhd                    track id, volume, width and height
        mdia
          mdhd                  timescale, duration, language
          hdlr                  handler 'vide' or 'soun'
          minf
            vmhd | smhd
            dinf/dref/url       the samples are in this file
            stbl
              stsd              one sample entry, with its decoder configuration:
                avc1|avc3 > avcC    H.264: a real SPS and PPS (Baseline profile)
                hvc1|hev1 > hvcC    HEVC
                vp09 > vpcC         VP9
                av01 > av1C         AV1
                mp4a > esds         ES_Descriptor > DecoderConfigDescriptor(objectTypeIndication)
                                    > DecoderSpecificInfo(AudioSpecificConfig) + SLConfigDescriptor
                mp4a > wave > esds  the same in a QuickTime sound description version 1
                .mp3 | samr > damr | Opus > dOps
              stts stsc stsz stco   one sample, whose chunk offset points into mdat
    mdat                        the samples' bytes (a length-prefixed NAL unit, an AAC frame)

HEIF and AVIF images are ``ftyp`` + ``meta`` (hdlr 'pict', pitm, iloc, iinf/infe, iprp with
ipco/hvcC|av1C/ispe and ipma) + ``mdat``.
"""

from __future__ import annotations

import io
import random
import struct
import wave
import zipfile
import zlib
from collections.abc import Sequence
from functools import cache

from PIL import Image

# --- images (Pillow) -------------------------------------------------------------------------


def _image(width: int, height: int, mode: str = "RGB") -> Image.Image:
    image = Image.new(mode, (width, height))
    image.putdata(
        [((x * 7) % 256, (y * 5) % 256, (x * y) % 256) for y in range(height) for x in range(width)]
        if mode == "RGB"
        else [(x + y) % 256 for y in range(height) for x in range(width)]
    )
    return image


def _save(image: Image.Image, fmt: str, **options: object) -> bytes:
    out = io.BytesIO()
    image.save(out, format=fmt, **options)
    return out.getvalue()


def png(width: int = 32, height: int = 24, *, total_size: int | None = None) -> bytes:
    """A PNG; with ``total_size``, padded to exactly that many bytes with a tEXt chunk."""
    data = _save(_image(width, height), "PNG")
    if total_size is None:
        return data
    return pad_png(data, total_size)


def pad_png(data: bytes, total_size: int) -> bytes:
    """Insert a tEXt chunk before IEND so that the PNG is exactly ``total_size`` bytes."""
    text_len = total_size - len(data) - 12
    if text_len < 8:
        raise ValueError(f"a PNG of {len(data)} bytes cannot be padded to {total_size}")
    text = b"Comment\x00" + b"x" * (text_len - 8)
    chunk = struct.pack(">I", len(text)) + b"tEXt" + text
    chunk += struct.pack(">I", zlib.crc32(chunk[4:]))
    iend = len(data) - 12
    return data[:iend] + chunk + data[iend:]


@cache
def noise_png(total_size: int) -> bytes:
    """A PNG of random pixels (which do not compress), padded to exactly ``total_size`` bytes."""
    side = int((total_size * 0.98 / 3) ** 0.5)
    pixels = random.Random(total_size).randbytes(side * side * 3)
    data = _save(Image.frombytes("RGB", (side, side), pixels), "PNG", compress_level=1)
    return pad_png(data, total_size)


def jpeg(width: int = 32, height: int = 24, *, progressive: bool = False) -> bytes:
    return _save(_image(width, height), "JPEG", quality=85, progressive=progressive)


def gif() -> bytes:
    return _save(_image(16, 16, "L"), "GIF")


def webp() -> bytes:
    return _save(_image(16, 16), "WEBP")


def bmp() -> bytes:
    return _save(_image(16, 16), "BMP")


def tiff() -> bytes:
    return _save(_image(16, 16), "TIFF")


# --- ISO base media ----------------------------------------------------------------------------


def box(kind: str, *payload: bytes) -> bytes:
    body = b"".join(payload)
    return struct.pack(">I4s", 8 + len(body), kind.encode("latin-1")) + body


def full_box(kind: str, version: int, flags: int, *payload: bytes) -> bytes:
    return box(kind, struct.pack(">I", (version << 24) | flags), *payload)


def ftyp(major: str, compatible: Sequence[str] = ()) -> bytes:
    brands = [major, *compatible]
    return box("ftyp", major.encode(), struct.pack(">I", 512), *(b.encode() for b in brands))


class _Bits:
    """An MSB-first bit writer with the Exp-Golomb codes of H.264 (ITU-T H.264 9.1)."""

    def __init__(self) -> None:
        self.bits: list[int] = []

    def u(self, count: int, value: int) -> _Bits:
        self.bits.extend((value >> i) & 1 for i in reversed(range(count)))
        return self

    def ue(self, value: int) -> _Bits:
        code = value + 1
        return self.u(code.bit_length() - 1, 0).u(code.bit_length(), code)

    def se(self, value: int) -> _Bits:
        return self.ue(2 * value - 1 if value > 0 else -2 * value)

    def to_bytes(self, *, trailing: bool = True) -> bytes:
        bits = self.bits + ([1] if trailing else [])
        bits += [0] * (-len(bits) % 8)
        return bytes(int("".join(map(str, bits[i : i + 8])), 2) for i in range(0, len(bits), 8))


def _nal(header: int, rbsp: bytes) -> bytes:
    """A NAL unit with emulation prevention bytes (00 00 0x -> 00 00 03 0x)."""
    out = bytearray([header])
    zeros = 0
    for byte in rbsp:
        if zeros >= 2 and byte <= 3:
            out.append(3)
            zeros = 0
        out.append(byte)
        zeros = zeros + 1 if byte == 0 else 0
    return bytes(out)


def h264_sps(width: int = 64, height: int = 48, level: int = 30) -> bytes:
    """A Constrained Baseline SPS for ``width`` x ``height`` (multiples of 16)."""
    bits = _Bits().u(8, 66).u(8, 0xC0).u(8, level)
    bits.ue(0).ue(0).ue(2).ue(1).u(1, 0)  # id, log2_max_frame_num-4, poc type, refs, gaps
    bits.ue(width // 16 - 1).ue(height // 16 - 1)
    bits.u(1, 1).u(1, 1).u(1, 0).u(1, 0)  # frame_mbs_only, direct_8x8, cropping, vui
    return _nal(0x67, bits.to_bytes())


def h264_pps() -> bytes:
    bits = _Bits().ue(0).ue(0).u(1, 0).u(1, 0).ue(0).ue(0).ue(0).u(1, 0).u(2, 0)
    bits.se(0).se(0).se(0).u(1, 1).u(1, 0).u(1, 0)
    return _nal(0x68, bits.to_bytes())


def avcc(width: int = 64, height: int = 48) -> bytes:
    sps, pps = h264_sps(width, height), h264_pps()
    return box(
        "avcC",
        bytes([1, sps[1], sps[2], sps[3], 0xFF, 0xE1]),
        struct.pack(">H", len(sps)),
        sps,
        b"\x01",
        struct.pack(">H", len(pps)),
        pps,
    )


def hvcc() -> bytes:
    """An HEVC decoder configuration record: Main profile, level 3.1, no parameter arrays."""
    return box(
        "hvcC",
        bytes([1, 0x01]),  # version; profile space 0, tier 0, general_profile_idc 1 (Main)
        struct.pack(">I", 0x60000000),  # profile compatibility flags
        bytes([0x90, 0, 0, 0, 0, 0]),  # constraint flags
        bytes([93]),  # level 3.1
        struct.pack(">H", 0xF000),  # min_spatial_segmentation_idc
        bytes([0xFC, 0xFD, 0xF8, 0xF8]),  # parallelism, 4:2:0, 8-bit luma and chroma
        struct.pack(">H", 0),  # avgFrameRate
        bytes([0x0F, 0]),  # lengthSizeMinusOne 3; numOfArrays 0
    )


def vpcc() -> bytes:
    """A VP9 codec configuration (vpcC version 1): profile 0, level 3.1, 8-bit 4:2:0."""
    return full_box("vpcC", 1, 0, bytes([0, 31, 0x82, 1, 1, 1]), struct.pack(">H", 0))


def av1c() -> bytes:
    """An AV1 codec configuration: Main profile, level 4.0, 8-bit 4:2:0."""
    return box("av1C", bytes([0x81, 0x08, 0x0C, 0x00]))


def visual_entry(fourcc: str, *children: bytes, width: int = 64, height: int = 48) -> bytes:
    """A VisualSampleEntry (ISO 14496-12 12.1.3): 78 bytes of fields, then child boxes."""
    name = b"\x0bbuilders.py".ljust(32, b"\x00")
    fields = (
        bytes(6)
        + struct.pack(">HHH", 1, 0, 0)  # data_reference_index, pre_defined, reserved
        + bytes(12)
        + struct.pack(">HHIII", width, height, 0x00480000, 0x00480000, 0)
        + struct.pack(">H", 1)  # frame_count
        + name
        + struct.pack(">Hh", 0x18, -1)  # depth, pre_defined
    )
    assert len(fields) == 78
    return box(fourcc, fields, *children)


def avc1(fourcc: str = "avc1", *, config: bool = True) -> bytes:
    return visual_entry(fourcc, *([avcc()] if config else []))


def hvc1(fourcc: str = "hvc1") -> bytes:
    return visual_entry(fourcc, hvcc())


def vp09() -> bytes:
    return visual_entry("vp09", vpcc())


def av01() -> bytes:
    return visual_entry("av01", av1c())


def _descriptor(tag: int, *payload: bytes) -> bytes:
    """An MPEG-4 descriptor with the 4-byte length form that ffmpeg writes."""
    body = b"".join(payload)
    n = len(body)
    length = bytes([0x80 | (n >> 21) & 0x7F, 0x80 | (n >> 14) & 0x7F, 0x80 | (n >> 7) & 0x7F])
    return bytes([tag]) + length + bytes([n & 0x7F]) + body


def audio_specific_config(
    audio_object_type: int = 2, rate_index: int = 4, channels: int = 2
) -> bytes:
    bits = _Bits()
    if audio_object_type < 31:
        bits.u(5, audio_object_type)
    else:
        bits.u(5, 31).u(6, audio_object_type - 32)
    bits.u(4, rate_index).u(4, channels).u(3, 0)
    return bits.to_bytes(trailing=False)


def esds(object_type: int = 0x40, audio_object_type: int | None = 2) -> bytes:
    """An esds box: ES_Descriptor > DecoderConfigDescriptor > DecoderSpecificInfo, SLConfig."""
    specific = (
        _descriptor(0x05, audio_specific_config(audio_object_type))
        if audio_object_type is not None
        else b""
    )
    decoder_config = _descriptor(
        0x04,
        bytes([object_type, 0x15]),  # objectTypeIndication; streamType audio, reserved bit
        (6144).to_bytes(3, "big"),  # bufferSizeDB
        struct.pack(">II", 128_000, 128_000),  # maxBitrate, avgBitrate
        specific,
    )
    es = _descriptor(0x03, struct.pack(">HB", 1, 0), decoder_config, _descriptor(0x06, b"\x02"))
    return full_box("esds", 0, 0, es)


def audio_entry(
    fourcc: str, *children: bytes, channels: int = 2, rate: int = 44100, quicktime_v1: bool = False
) -> bytes:
    """An AudioSampleEntry (28 bytes of fields), or a QuickTime sound description v1 (44)."""
    fields = bytes(6) + struct.pack(">HHHI", 1, 1 if quicktime_v1 else 0, 0, 0)
    fields += struct.pack(">HHHHI", channels, 16, 0, 0, rate << 16)
    if quicktime_v1:
        fields += struct.pack(">IIII", 1024, 0, 2 * channels, 2)
    return box(fourcc, fields, *children)


def mp4a(
    object_type: int = 0x40, audio_object_type: int | None = 2, *, quicktime_v1: bool = False
) -> bytes:
    config = esds(object_type, audio_object_type)
    if quicktime_v1:  # QuickTime wraps the esds in a wave box, with frma and a terminator
        wave_box = box("wave", box("frma", b"mp4a"), box("mp4a", bytes(4)), config, box("\x00" * 4))
        return audio_entry("mp4a", wave_box, quicktime_v1=True)
    return audio_entry("mp4a", config)


def mp3_entry() -> bytes:
    return audio_entry(".mp3")


def samr() -> bytes:
    """AMR-NB audio: a samr entry with its damr configuration box."""
    return audio_entry(
        "samr", box("damr", b"FFMP", bytes([0, 0x81, 0xFF, 0, 1])), channels=1, rate=8000
    )


def opus_entry() -> bytes:
    dops = box("dOps", bytes([0, 2]), struct.pack(">HIhB", 312, 48000, 0, 0))
    return audio_entry("Opus", dops, rate=48000)


def _matrix() -> bytes:
    return struct.pack(">9I", 0x10000, 0, 0, 0, 0x10000, 0, 0, 0, 0x40000000)


def _mvhd(next_track: int) -> bytes:
    return full_box(
        "mvhd",
        0,
        0,
        struct.pack(">IIII", 0, 0, 1000, 1000),
        struct.pack(">IH", 0x10000, 0x100),
        bytes(10),
        _matrix(),
        bytes(24),
        struct.pack(">I", next_track),
    )


def trak(handler: str, entry: bytes, *, track_id: int, offset: int, sample_size: int) -> bytes:
    video = handler == "vide"
    tkhd = full_box(
        "tkhd",
        0,
        3,
        struct.pack(">IIIII", 0, 0, track_id, 0, 1000),
        bytes(8),
        struct.pack(">hhHH", 0, 0, 0 if video else 0x100, 0),
        _matrix(),
        struct.pack(">II", (64 << 16) if video else 0, (48 << 16) if video else 0),
    )
    name = b"VideoHandler\x00" if video else b"SoundHandler\x00"
    media_header = full_box("vmhd", 0, 1, bytes(8)) if video else full_box("smhd", 0, 0, bytes(4))
    dinf = box("dinf", full_box("dref", 0, 0, struct.pack(">I", 1), full_box("url ", 0, 1)))
    stbl = box(
        "stbl",
        full_box("stsd", 0, 0, struct.pack(">I", 1), entry),
        full_box("stts", 0, 0, struct.pack(">III", 1, 1, 1000)),
        full_box("stsc", 0, 0, struct.pack(">IIII", 1, 1, 1, 1)),
        full_box("stsz", 0, 0, struct.pack(">III", 0, 1, sample_size)),
        full_box("stco", 0, 0, struct.pack(">II", 1, offset)),
    )
    mdia = box(
        "mdia",
        full_box("mdhd", 0, 0, struct.pack(">IIIIHH", 0, 0, 1000, 1000, 0x55C4, 0)),
        full_box("hdlr", 0, 0, bytes(4), handler.encode(), bytes(12), name),
        box("minf", media_header, dinf, stbl),
    )
    return box("trak", tkhd, mdia)


_VIDEO_SAMPLE = struct.pack(">I", 12) + b"\x65\x88\x84" + bytes(9)  # an IDR slice NAL unit
_AUDIO_SAMPLE = b"\x21\x10\x04\x60\x8c\x1c" + bytes(10)  # a raw AAC frame


def mp4(
    *,
    brand: str = "isom",
    compatible: Sequence[str] = ("isom", "iso2", "avc1", "mp41"),
    video: bytes | None = None,
    audio: bytes | None = None,
    no_video: bool = False,
    no_audio: bool = False,
    moov_first: bool = True,
    with_ftyp: bool = True,
    total_size: int | None = None,
) -> bytes:
    """An MP4 (by default H.264 + AAC, moov before mdat) with sample offsets into mdat.

    ``video`` and ``audio`` are sample entries (default ``avc1()`` and ``mp4a()``); with
    ``total_size`` the mdat is padded so that the file has exactly that many bytes.
    """
    tracks: list[tuple[str, bytes, bytes]] = []
    if not no_video:
        tracks.append(("vide", video if video is not None else avc1(), _VIDEO_SAMPLE))
    if not no_audio:
        tracks.append(("soun", audio if audio is not None else mp4a(), _AUDIO_SAMPLE))
    head = ftyp(brand, compatible) if with_ftyp else box("wide")

    def build_moov(mdat_body: int) -> bytes:
        traks = []
        offset = mdat_body
        for number, (handler, entry, sample) in enumerate(tracks, start=1):
            traks.append(
                trak(handler, entry, track_id=number, offset=offset, sample_size=len(sample))
            )
            offset += len(sample)
        return box("moov", _mvhd(len(tracks) + 1), *traks)

    samples = b"".join(sample for _, _, sample in tracks)
    moov_size = len(build_moov(0))
    if total_size is not None:
        samples += bytes(total_size - len(head) - moov_size - 8 - len(samples))
    mdat = box("mdat", samples)
    if moov_first:
        data = head + build_moov(len(head) + moov_size + 8) + mdat
    else:
        data = head + mdat + build_moov(len(head) + 8)
    assert total_size is None or len(data) == total_size
    return data


def three_gp(brand: str = "3gp4", **options: object) -> bytes:
    return mp4(brand=brand, compatible=(brand, "isom", "3gp4"), **options)  # type: ignore[arg-type]


def mov(*, with_ftyp: bool = True, video: bytes | None = None) -> bytes:
    """A QuickTime movie: brand 'qt  ', and a sound description v1 with a wave box."""
    return mp4(
        brand="qt  ",
        compatible=("qt  ",),
        video=video,
        audio=mp4a(quicktime_v1=True),
        with_ftyp=with_ftyp,
        moov_first=False,
    )


def m4a(brand: str = "M4A ") -> bytes:
    return mp4(brand=brand, compatible=(brand, "isom", "mp42"), no_video=True)


def heif_image(*, brand: str = "heic", compatible: Sequence[str] = ("mif1", "heic")) -> bytes:
    """A single-image HEIF (HEVC item, or AV1 item for the avif brand)."""
    av1 = brand == "avif"
    item_type, config = (b"av01", av1c()) if av1 else (b"hvc1", hvcc())
    payload = b"\x00\x00\x00\x10" + bytes(16)
    head = ftyp(brand, compatible)

    def build_meta(offset: int) -> bytes:
        infe = full_box("infe", 2, 0, struct.pack(">HH", 1, 0), item_type, b"\x00")
        iloc = full_box(
            "iloc",
            0,
            0,
            bytes([0x44, 0x00]),
            struct.pack(">HHHHII", 1, 1, 0, 1, offset, len(payload)),
        )
        ispe = full_box("ispe", 0, 0, struct.pack(">II", 64, 48))
        ipma = full_box("ipma", 0, 0, struct.pack(">IHB", 1, 1, 2), bytes([0x81, 0x02]))
        return full_box(
            "meta",
            0,
            0,
            full_box("hdlr", 0, 0, bytes(4), b"pict", bytes(12), b"\x00"),
            full_box("pitm", 0, 0, struct.pack(">H", 1)),
            iloc,
            full_box("iinf", 0, 0, struct.pack(">H", 1), infe),
            box("iprp", box("ipco", config, ispe), ipma),
        )

    meta_size = len(build_meta(0))
    return head + build_meta(len(head) + meta_size + 8) + box("mdat", payload)


# --- audio -------------------------------------------------------------------------------------


def adts(frames: int = 10, *, payload: int = 200) -> bytes:
    """AAC LC, 44.1 kHz stereo ADTS frames, each a 7-byte header and ``payload`` bytes."""
    length = 7 + payload
    header = bytes(
        [
            0xFF,
            0xF1,  # sync, MPEG-4, layer 0, no CRC
            (1 << 6) | (4 << 2) | 0,  # profile LC (1), 44.1 kHz (4), channels high bit
            (2 << 6) | (length >> 11),  # 2 channels, frame length high bits
            (length >> 3) & 0xFF,
            ((length & 0x07) << 5) | 0x1F,  # buffer fullness 0x7FF
            0xFC,
        ]
    )
    return (header + bytes(payload)) * frames


def id3v2(text: str = "builders.py") -> bytes:
    """An ID3v2.3 tag with one TIT2 (title) frame."""
    frame_body = b"\x00" + text.encode("latin-1")
    frame = b"TIT2" + struct.pack(">IH", len(frame_body), 0) + frame_body
    size = len(frame)
    syncsafe = bytes([(size >> 21) & 0x7F, (size >> 14) & 0x7F, (size >> 7) & 0x7F, size & 0x7F])
    return b"ID3\x03\x00\x00" + syncsafe + frame


def mpeg_audio(frames: int = 10, *, layer: int = 3, tag: bool = False) -> bytes:
    """MPEG-1 audio at 44.1 kHz, 128 kbit/s, stereo: layer 3 is MP3, 2 is MP2, 1 is MP1."""
    layer_bits = {1: 0b11, 2: 0b10, 3: 0b01}[layer]
    bitrate_index = {1: 4, 2: 8, 3: 9}[layer]  # 128 kbit/s in each layer's table
    header = bytes([0xFF, 0xF0 | 0x08 | (layer_bits << 1) | 1, bitrate_index << 4, 0x00])
    length = (12 * 128_000 // 44_100) * 4 if layer == 1 else 144 * 128_000 // 44_100
    frame = header + bytes(length - 4)
    return (id3v2() if tag else b"") + frame * frames


def mp3(frames: int = 10, *, tag: bool = True) -> bytes:
    return mpeg_audio(frames, layer=3, tag=tag)


def amr(frames: int = 10, *, wideband: bool = False) -> bytes:
    """AMR storage format (RFC 4867 section 5): 12.2 kbit/s NB or 23.85 kbit/s WB frames."""
    if wideband:
        return b"#!AMR-WB\n" + (bytes([8 << 3 | 0x04]) + bytes(60)) * frames
    return b"#!AMR\n" + (bytes([7 << 3 | 0x04]) + bytes(31)) * frames


def wav() -> bytes:
    out = io.BytesIO()
    with wave.open(out, "wb") as writer:
        writer.setnchannels(1)
        writer.setsampwidth(2)
        writer.setframerate(8000)
        writer.writeframes(bytes(1600))
    return out.getvalue()


def _ogg_crc(data: bytes) -> int:
    crc = 0
    for byte in data:
        crc ^= byte << 24
        for _ in range(8):
            crc = ((crc << 1) ^ 0x04C11DB7) if crc & 0x80000000 else crc << 1
            crc &= 0xFFFFFFFF
    return crc


def ogg_page(packet: bytes, *, sequence: int, first: bool = False) -> bytes:
    header = struct.pack(
        "<4sBBqIIIB", b"OggS", 0, 0x02 if first else 0, 0, 0x1234, sequence, 0, 1
    ) + bytes([len(packet)])
    page = header + packet
    return page[:22] + struct.pack("<I", _ogg_crc(page)) + page[26:]


def ogg_opus() -> bytes:
    """An Ogg Opus stream's first two pages: OpusHead and OpusTags."""
    head = b"OpusHead" + struct.pack("<BBHIhB", 1, 2, 312, 48000, 0, 0)
    tags = b"OpusTags" + struct.pack("<I", 4) + b"test" + struct.pack("<I", 0)
    return ogg_page(head, sequence=0, first=True) + ogg_page(tags, sequence=1)


def webm() -> bytes:
    """An EBML header with DocType webm, then an empty Segment."""
    doctype = b"\x42\x82\x84webm"
    ebml = b"\x1a\x45\xdf\xa3" + bytes([0x80 | len(doctype)]) + doctype
    return ebml + b"\x18\x53\x80\x67\x80"


# --- documents ---------------------------------------------------------------------------------


def pdf(text: str = "Invoice 42") -> bytes:
    """A one-page PDF 1.4 with a correct cross-reference table."""
    content = f"BT /F1 12 Tf 72 720 Td ({text}) Tj ET".encode()
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R "
        b"/Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length %d >>\nstream\n%s\nendstream" % (len(content), content),
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    out = bytearray(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n%s\nendobj\n" % (number, body)
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (
        len(objects) + 1,
        xref,
    )
    return bytes(out)


def _zip(entries: dict[str, str]) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, text in entries.items():
            archive.writestr(name, text)
    return out.getvalue()


_CONTENT_TYPES = '<?xml version="1.0"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"/>'


def docx() -> bytes:
    return _zip(
        {
            "[Content_Types].xml": _CONTENT_TYPES,
            "_rels/.rels": "<Relationships/>",
            "word/document.xml": "<w:document/>",
        }
    )


def xlsx() -> bytes:
    return _zip(
        {
            "[Content_Types].xml": _CONTENT_TYPES,
            "_rels/.rels": "<Relationships/>",
            "xl/workbook.xml": "<workbook/>",
        }
    )


def zip_archive() -> bytes:
    return _zip({"notes.txt": "hello", "photos/readme.txt": "none"})
