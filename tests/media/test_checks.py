"""bot.media.checks on real files built at test time (see tests/media/builders.py)."""

from __future__ import annotations

import io
import re
import shutil
import struct
import subprocess
import time
import zipfile
from collections.abc import Callable
from functools import cache
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.media import isobmff
from bot.media.checks import (
    MAX_MEDIA_BYTES,
    MediaInfo,
    MediaKind,
    MediaRefused,
    RefusalCode,
    check_prefix,
    inspect_media,
    sniff,
)
from tests.media import builders as b

IMAGE, VIDEO, AUDIO, DOCUMENT = (
    MediaKind.IMAGE,
    MediaKind.VIDEO,
    MediaKind.AUDIO,
    MediaKind.DOCUMENT,
)


def refusal(data: bytes, **options: object) -> MediaRefused:
    with pytest.raises(MediaRefused) as caught:
        inspect_media(data, **options)  # type: ignore[arg-type]
    return caught.value


# --- accepted --------------------------------------------------------------------------------

ACCEPTED: list[tuple[str, Callable[[], bytes], MediaKind, str, str]] = [
    ("png", b.png, IMAGE, "image/png", "PNG image"),
    ("jpeg", b.jpeg, IMAGE, "image/jpeg", "JPEG image"),
    ("progressive jpeg", lambda: b.jpeg(progressive=True), IMAGE, "image/jpeg", "JPEG image"),
    ("mp4 h264 aac", b.mp4, VIDEO, "video/mp4", "MP4 video (H.264, AAC audio)"),
    (
        "mp4 moov last",
        lambda: b.mp4(moov_first=False),
        VIDEO,
        "video/mp4",
        "MP4 video (H.264, AAC audio)",
    ),
    (
        "mp4 avc3",
        lambda: b.mp4(video=b.avc1("avc3")),
        VIDEO,
        "video/mp4",
        "MP4 video (H.264, AAC audio)",
    ),
    (
        "mp4 no audio",
        lambda: b.mp4(no_audio=True),
        VIDEO,
        "video/mp4",
        "MP4 video (H.264, no audio)",
    ),
    (
        "mp4 he-aac",
        lambda: b.mp4(audio=b.mp4a(0x40, 5)),
        VIDEO,
        "video/mp4",
        "MP4 video (H.264, AAC audio)",
    ),
    (
        "mp4 mpeg-2 aac main",
        lambda: b.mp4(audio=b.mp4a(0x66, None)),
        VIDEO,
        "video/mp4",
        "MP4 video (H.264, AAC audio)",
    ),
    (
        "mp4 mpeg-2 aac lc",
        lambda: b.mp4(audio=b.mp4a(0x67, None)),
        VIDEO,
        "video/mp4",
        "MP4 video (H.264, AAC audio)",
    ),
    (
        "mp4 mpeg-2 aac ssr",
        lambda: b.mp4(audio=b.mp4a(0x68, None)),
        VIDEO,
        "video/mp4",
        "MP4 video (H.264, AAC audio)",
    ),
    (
        "mp4 mp42 brand",
        lambda: b.mp4(brand="mp42", compatible=("mp42", "isom")),
        VIDEO,
        "video/mp4",
        "MP4 video (H.264, AAC audio)",
    ),
    ("3gp4", lambda: b.three_gp("3gp4"), VIDEO, "video/3gpp", "3GPP video (H.264, AAC audio)"),
    ("3gp5", lambda: b.three_gp("3gp5"), VIDEO, "video/3gpp", "3GPP video (H.264, AAC audio)"),
    ("3gp6", lambda: b.three_gp("3gp6"), VIDEO, "video/3gpp", "3GPP video (H.264, AAC audio)"),
    ("3gg6", lambda: b.three_gp("3gg6"), VIDEO, "video/3gpp", "3GPP video (H.264, AAC audio)"),
    ("pdf", b.pdf, DOCUMENT, "application/pdf", "PDF document"),
    ("aac adts", b.adts, AUDIO, "audio/aac", "AAC audio"),
    ("mp3 with id3", b.mp3, AUDIO, "audio/mpeg", "MP3 audio"),
    ("mp3 frame sync", lambda: b.mp3(tag=False), AUDIO, "audio/mpeg", "MP3 audio"),
    ("mp3 one frame", lambda: b.mp3(1, tag=False), AUDIO, "audio/mpeg", "MP3 audio"),
    ("mpeg layer ii", lambda: b.mpeg_audio(layer=2), AUDIO, "audio/mpeg", "MPEG audio (layer II)"),
    ("mpeg layer i", lambda: b.mpeg_audio(layer=1), AUDIO, "audio/mpeg", "MPEG audio (layer I)"),
    ("amr", b.amr, AUDIO, "audio/amr", "AMR audio"),
    ("amr-wb", lambda: b.amr(wideband=True), AUDIO, "audio/amr", "AMR-WB audio"),
]


@pytest.mark.parametrize(
    ("build", "kind", "mime", "name"),
    [case[1:] for case in ACCEPTED],
    ids=[case[0] for case in ACCEPTED],
)
def test_accepts(build: Callable[[], bytes], kind: MediaKind, mime: str, name: str) -> None:
    data = build()
    info = inspect_media(data, expected_kind=kind)
    assert (info.kind, info.mime_type, info.format_name, info.size) == (kind, mime, name, len(data))
    assert inspect_media(data) == info
    assert sniff(data[:4096]) == mime


def test_video_codec_details() -> None:
    info = inspect_media(b.mp4())
    assert (info.video_codec, info.audio_codec) == ("H.264", "AAC")
    assert info.codecs == "avc1.42C01E, mp4a.40.2"
    assert info.extension == ".mp4"
    silent = inspect_media(b.mp4(no_audio=True))
    assert (silent.audio_codec, silent.codecs) == (None, "avc1.42C01E")
    assert inspect_media(b.three_gp()).extension == ".3gp"


def test_accepts_quicktime_style_sound_description_in_an_mp4() -> None:
    """A sound description v1 keeps its esds in a wave box; it is still AAC."""
    info = inspect_media(b.mp4(audio=b.mp4a(quicktime_v1=True)))
    assert info.audio_codec == "AAC"


def test_accepts_a_64_bit_mdat_size() -> None:
    data = b.mp4(moov_first=True)
    mdat = data.rindex(b"mdat") - 4
    (size,) = struct.unpack_from(">I", data, mdat)
    large = struct.pack(">I4sQ", 1, b"mdat", size + 8) + data[mdat + 8 :]
    moov_data = data[:mdat]
    # The chunk offsets move by 8 bytes; the checks do not read them, the file stays valid.
    assert inspect_media(moov_data + large).mime_type == "video/mp4"


def test_accepts_jpeg_with_bytes_after_the_end_marker() -> None:
    """Motion photos append a video after the JPEG's EOI marker."""
    assert inspect_media(b.jpeg() + b.mp4()).mime_type == "image/jpeg"


def test_an_audio_brand_with_a_picture_is_judged_as_a_video() -> None:
    info = inspect_media(b.mp4(brand="M4A ", compatible=("M4A ", "isom")))
    assert (info.kind, info.mime_type) == (VIDEO, "video/mp4")


def test_a_pdf_inside_a_zip_is_not_a_pdf() -> None:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_STORED) as archive:
        archive.writestr("invoice.pdf", b.pdf())
    assert refusal(out.getvalue()).reason.startswith("This file is a ZIP archive")


def test_name_does_not_decide_the_format() -> None:
    assert inspect_media(b.jpeg(), file_name="photo.png").mime_type == "image/jpeg"
    assert inspect_media(b.png(), file_name="photo").mime_type == "image/png"


# --- refused ---------------------------------------------------------------------------------


def _without_moov() -> bytes:
    """An MP4 recorded with its moov box last, cut off before it."""
    data = b.mp4(moov_first=False)
    return data[: data.index(b"moov") - 4]


UNSUPPORTED = RefusalCode.UNSUPPORTED_FORMAT
CODEC = RefusalCode.UNSUPPORTED_CODEC
CORRUPT = RefusalCode.CORRUPT

REFUSED: list[tuple[str, Callable[[], bytes], RefusalCode, str, str]] = [
    ("gif", b.gif, UNSUPPORTED, "GIF image", "PNG or JPEG"),
    ("webp", b.webp, UNSUPPORTED, "WebP image", "PNG or JPEG"),
    ("bmp", b.bmp, UNSUPPORTED, "BMP image", "PNG"),
    ("tiff", b.tiff, UNSUPPORTED, "TIFF image", "PNG or JPEG"),
    ("heic", b.heif_image, UNSUPPORTED, "HEIC image", "JPEG"),
    (
        "heif mif1",
        lambda: b.heif_image(brand="mif1", compatible=("mif1",)),
        UNSUPPORTED,
        "HEIF image",
        "JPEG",
    ),
    (
        "avif",
        lambda: b.heif_image(brand="avif", compatible=("avif", "mif1")),
        UNSUPPORTED,
        "AVIF image",
        "JPEG or PNG",
    ),
    (
        "mp4 hevc hvc1",
        lambda: b.mp4(video=b.hvc1()),
        CODEC,
        "HEVC (H.265) video",
        "-c:v libx264 -pix_fmt yuv420p -c:a copy",
    ),
    (
        "mp4 hevc hev1",
        lambda: b.mp4(video=b.hvc1("hev1")),
        CODEC,
        "HEVC (H.265) video",
        "-c:v libx264",
    ),
    ("mp4 vp9", lambda: b.mp4(video=b.vp09()), CODEC, "VP9 video", "-c:v libx264"),
    ("mp4 av1", lambda: b.mp4(video=b.av01()), CODEC, "AV1 video", "-c:v libx264"),
    (
        "mp4 mp3 audio 0x6b",
        lambda: b.mp4(audio=b.mp4a(0x6B, None)),
        CODEC,
        "MP3 audio",
        "-c:v copy -c:a aac",
    ),
    (
        "mp4 mp3 audio 0x69",
        lambda: b.mp4(audio=b.mp4a(0x69, None)),
        CODEC,
        "MP3 audio",
        "-c:v copy -c:a aac",
    ),
    ("mp4 mp3 audio .mp3", lambda: b.mp4(audio=b.mp3_entry()), CODEC, "MP3 audio", "-c:a aac"),
    ("mp4 mp3 audio aot 34", lambda: b.mp4(audio=b.mp4a(0x40, 34)), CODEC, "MP3 audio", "-c:a aac"),
    (
        "3gp amr audio",
        lambda: b.three_gp(audio=b.samr()),
        CODEC,
        "AMR audio",
        "ffmpeg -i in.3gp -c:v copy -c:a aac",
    ),
    ("mp4 opus audio", lambda: b.mp4(audio=b.opus_entry()), CODEC, "Opus audio", "-c:a aac"),
    (
        "mp4 hevc and opus",
        lambda: b.mp4(video=b.hvc1(), audio=b.opus_entry()),
        CODEC,
        "HEVC (H.265) video and Opus audio",
        "-c:v libx264 -pix_fmt yuv420p -c:a aac",
    ),
    (
        "mov qt brand",
        b.mov,
        UNSUPPORTED,
        "QuickTime (.mov) video",
        "ffmpeg -i in.mov -c copy out.mp4",
    ),
    (
        "mov without ftyp",
        lambda: b.mov(with_ftyp=False),
        UNSUPPORTED,
        "QuickTime (.mov) video",
        "-c copy",
    ),
    (
        "mov hevc",
        lambda: b.mov(video=b.hvc1()),
        UNSUPPORTED,
        "QuickTime (.mov) video",
        "-c:v libx264",
    ),
    ("3g2", lambda: b.mp4(brand="3g2a", compatible=("3g2a",)), UNSUPPORTED, "3GPP2", "ffmpeg"),
    ("m4a", b.m4a, UNSUPPORTED, "M4A audio file", "-c:a copy out.aac"),
    (
        "mp4 audio only",
        lambda: b.mp4(no_video=True),
        UNSUPPORTED,
        "M4A audio file",
        "-c:a copy out.aac",
    ),
    (
        "3gp audio only",
        lambda: b.three_gp(no_video=True, audio=b.samr()),
        UNSUPPORTED,
        "3GPP audio file",
        "out.amr",
    ),
    ("docx", b.docx, UNSUPPORTED, "Word document (.docx)", "PDF"),
    ("xlsx", b.xlsx, UNSUPPORTED, "Excel spreadsheet (.xlsx)", "PDF"),
    ("zip", b.zip_archive, UNSUPPORTED, "ZIP archive", "one at a time"),
    ("ogg opus", b.ogg_opus, UNSUPPORTED, "Ogg Opus audio", "libmp3lame"),
    ("wav", b.wav, UNSUPPORTED, "WAV audio", "libmp3lame"),
    ("webm", b.webm, UNSUPPORTED, "WebM video", "-c:v libx264"),
    (
        "html page",
        lambda: b"\n<!DOCTYPE html><html><body>Sign in</body></html>",
        UNSUPPORTED,
        "web page",
        "direct download link",
    ),
    (
        "svg",
        lambda: b'<?xml version="1.0"?>\n<svg xmlns="http://www.w3.org/2000/svg"/>',
        UNSUPPORTED,
        "SVG image",
        "PNG",
    ),
    ("png without iend", lambda: b.png()[:-12], CORRUPT, "PNG image is incomplete", "again"),
    ("png cut in a chunk", lambda: b.png()[:60], CORRUPT, "PNG image is incomplete", "again"),
    ("jpeg without eoi", lambda: b.jpeg()[:-2], CORRUPT, "JPEG image is incomplete", "again"),
    (
        "jpeg cut in half",
        lambda: b.jpeg()[: len(b.jpeg()) // 2],
        CORRUPT,
        "JPEG image is incomplete",
        "again",
    ),
    ("pdf without eof", lambda: b.pdf()[:-7], CORRUPT, "PDF document is incomplete", "again"),
    (
        "mp4 cut in half",
        lambda: b.mp4()[: len(b.mp4()) // 2],
        CORRUPT,
        "MP4 video is incomplete",
        "again",
    ),
    (
        "mp4 without moov",
        _without_moov,
        CORRUPT,
        "no index (moov box)",
        "again",
    ),
    (
        "mp4 mdat shorter than declared",
        lambda: b.mp4()[:-5],
        CORRUPT,
        "ends 5 bytes too early",
        "again",
    ),
    ("amr without frames", lambda: b"#!AMR\n", CORRUPT, "AMR audio is damaged", "again"),
    (
        "mp3 tag without audio",
        lambda: b.id3v2() + bytes(100),
        CORRUPT,
        "MP3 audio is damaged",
        "again",
    ),
]


@pytest.mark.parametrize(
    ("build", "code", "found", "hint"),
    [case[1:] for case in REFUSED],
    ids=[case[0] for case in REFUSED],
)
def test_refuses(build: Callable[[], bytes], code: RefusalCode, found: str, hint: str) -> None:
    refused = refusal(build())
    assert refused.code == code
    assert found in refused.reason
    assert hint in refused.hint
    assert refused.reason.endswith(".") and refused.reason[0].isupper()
    assert str(refused) == f"{refused.reason} {refused.hint}"


def test_refusal_names_the_mime_type_found() -> None:
    assert refusal(b.gif()).detected == "image/gif"
    assert refusal(b.mov()).detected == "video/quicktime"
    assert refusal(b.m4a()).detected == "audio/mp4"


def test_refuses_an_empty_file() -> None:
    refused = refusal(b"")
    assert refused.code == RefusalCode.EMPTY
    assert "empty" in refused.reason


def test_refuses_unknown_content() -> None:
    refused = refusal(b"just some text, nothing more\n" * 10)
    assert refused.code == RefusalCode.UNKNOWN
    assert "could not recognise this file's format" in refused.reason
    assert "JPEG or PNG" in refused.hint


def test_unknown_content_hint_follows_the_expected_kind() -> None:
    assert refusal(bytes(64), expected_kind=VIDEO).hint == (
        "Send an MP4 or 3GPP video with H.264 video and AAC audio."
    )


def test_refuses_a_pdf_renamed_png_sent_as_an_image() -> None:
    refused = refusal(b.pdf(), expected_kind=IMAGE, file_name="invoice.png")
    assert refused.code == RefusalCode.WRONG_KIND
    assert refused.reason == "This file is a PDF, not an image, even though its name ends in .png."
    assert refused.hint == "Send it as a document instead."


def test_wrong_kind_without_a_misleading_name() -> None:
    refused = refusal(b.png(), expected_kind=DOCUMENT, file_name="scan.png")
    assert refused.reason == "This file is a PNG image, not a document."
    assert refused.hint == "Send it as an image instead."
    assert (
        refusal(b.mp4(), expected_kind=AUDIO).reason
        == "This file is an MP4 video, not an audio file."
    )


def test_wrong_kind_of_a_refused_format_keeps_the_formats_hint() -> None:
    refused = refusal(b.m4a(), expected_kind=VIDEO)
    assert refused.reason == "This file is an M4A audio file, not a video."
    assert "-c:a copy out.aac" in refused.hint


def test_only_a_plain_extension_is_quoted() -> None:
    refused = refusal(b.pdf(), expected_kind=IMAGE, file_name="<!channel>.p<n>g")
    assert refused.reason == "This file is a PDF, not an image."


def test_refuses_an_encrypted_video() -> None:
    entry = b.visual_entry("encv", b.avcc(), b.box("sinf", b.box("frma", b"avc1")))
    refused = refusal(b.mp4(video=entry))
    assert refused.code == UNSUPPORTED
    assert "copy-protected" in refused.reason


def test_refuses_h264_without_its_decoder_configuration() -> None:
    refused = refusal(b.mp4(video=b.avc1(config=False)))
    assert refused.code == CORRUPT
    assert "avcC" in refused.reason


def test_refuses_a_box_that_runs_past_its_parent() -> None:
    data = bytearray(b.mp4())
    trak = data.index(b"trak") - 4
    struct.pack_into(">I", data, trak, struct.unpack_from(">I", data, trak)[0] + 10_000)
    refused = refusal(bytes(data))
    assert refused.code == CORRUPT
    assert "'trak' box runs past" in refused.reason


def test_refuses_a_box_with_an_impossible_size() -> None:
    data = bytearray(b.mp4())
    struct.pack_into(">I", data, data.index(b"mvhd") - 4, 3)
    assert "impossible size" in refusal(bytes(data)).reason


def test_refuses_an_mp4_without_tracks() -> None:
    data = b.ftyp("isom", ("isom",)) + b.box("moov", b.box("mvhd", bytes(100))) + b.box("mdat")
    assert "no video or audio track" in refusal(data).reason


def test_refuses_an_mp4_without_media_data() -> None:
    data = b.mp4()
    without_mdat = data[: data.rindex(b"mdat") - 4]
    assert "no media data" in refusal(without_mdat).reason


def test_gives_up_on_absurd_numbers_of_boxes_quickly() -> None:
    # Bounded by a count, not timed: the reader stops at MAX_BOXES headers of the 200,000.
    data = b.ftyp("isom") + b.box("free") * 200_000
    refused = refusal(data[: MAX_MEDIA_BYTES - 1])
    assert refused.code == CORRUPT
    assert "boxes" in refused.reason
    assert f"more than {isobmff.MAX_BOXES} boxes" in refused.reason
    assert isobmff.MAX_BOXES < 200_000


# --- size ------------------------------------------------------------------------------------


def test_refuses_a_6_mb_png() -> None:
    data = b.noise_png(6_000_000)
    refused = refusal(data, expected_kind=IMAGE)
    assert refused.code == RefusalCode.TOO_LARGE
    assert (
        refused.reason == "This file is 6.0 MB, and the provider only accepts files under 5.0 MB."
    )
    assert "JPEG" in refused.hint
    assert refused.detected == "image/png"


def test_refuses_a_file_exactly_at_the_limit() -> None:
    data = b.png(total_size=MAX_MEDIA_BYTES)
    assert len(data) == 5_000_000
    refused = refusal(data)
    assert refused.code == RefusalCode.TOO_LARGE
    assert refused.reason == (
        "This file is 5.0 MB (5,000,000 bytes), and the provider only accepts files under 5.0 MB."
    )


def test_accepts_a_file_one_byte_under_the_limit() -> None:
    data = b.png(total_size=MAX_MEDIA_BYTES - 1)
    assert inspect_media(data, expected_kind=IMAGE).size == 4_999_999


def test_video_size_limit_and_hint() -> None:
    assert inspect_media(b.mp4(total_size=MAX_MEDIA_BYTES - 1)).size == MAX_MEDIA_BYTES - 1
    refused = refusal(b.mp4(total_size=MAX_MEDIA_BYTES))
    assert refused.code == RefusalCode.TOO_LARGE
    assert "ffmpeg" in refused.hint


def test_max_bytes_is_configurable() -> None:
    refused = refusal(b.pdf(), max_bytes=100)
    assert refused.reason.endswith("only accepts files under 0.0 MB.")
    assert inspect_media(b.pdf(), max_bytes=10_000).kind == DOCUMENT


# --- speed -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "build",
    [
        lambda: b.mp4(total_size=MAX_MEDIA_BYTES - 1),
        lambda: b.mp4(total_size=MAX_MEDIA_BYTES - 1, moov_first=False),
        lambda: b.png(total_size=MAX_MEDIA_BYTES - 1),
        lambda: b.pdf() + bytes(MAX_MEDIA_BYTES - 2_000) + b"%%EOF\n",
    ],
    ids=["mp4 moov first", "mp4 moov last", "png", "pdf"],
)
def test_checks_a_5_mb_file_in_well_under_20_ms(build: Callable[[], bytes]) -> None:
    data = build()
    inspect_media(data)
    best = min(_timed(inspect_media, data) for _ in range(5))
    assert best < 0.020


def _timed(check: Callable[[bytes], object], data: bytes) -> float:
    started = time.perf_counter()
    check(data)
    return time.perf_counter() - started


# --- from a prefix ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("build", "mime"),
    [
        (b.gif, "image/gif"),
        (b.webp, "image/webp"),
        (b.heif_image, "image/heic"),
        (b.mov, "video/quicktime"),
        (b.m4a, "audio/mp4"),
        (b.docx, "application/vnd.openxmlformats-officedocument.wordprocessingml.document"),
        (b.ogg_opus, "audio/ogg"),
        (lambda: b.noise_png(6_000_000), "image/png"),
    ],
)
def test_sniff_names_refused_formats_too(build: Callable[[], bytes], mime: str) -> None:
    assert sniff(build()[:4096]) == mime


def test_sniff_unknown() -> None:
    assert sniff(b"") is None
    assert sniff(b"plain text") is None


def test_check_prefix_passes_what_may_be_accepted() -> None:
    data = b.mp4(total_size=3_000_000, moov_first=False)
    assert check_prefix(data[:4096], total_size=len(data), expected_kind=VIDEO) == "video/mp4"
    assert check_prefix(b.png()[:20]) == "image/png"


def test_check_prefix_reads_codecs_when_the_moov_box_is_in_the_prefix() -> None:
    data = b.mp4(video=b.hvc1(), total_size=2_000_000)
    with pytest.raises(MediaRefused) as caught:
        check_prefix(data[:4096], total_size=len(data))
    assert caught.value.code == CODEC


def test_check_prefix_refuses_from_the_first_bytes() -> None:
    with pytest.raises(MediaRefused) as caught:
        check_prefix(b.gif()[:16], total_size=10_000)
    assert "GIF" in caught.value.reason
    with pytest.raises(MediaRefused) as caught:
        check_prefix(b.m4a()[:64])
    assert "M4A" in caught.value.reason
    with pytest.raises(MediaRefused) as caught:
        check_prefix(b.pdf()[:64], expected_kind=IMAGE)
    assert caught.value.code == RefusalCode.WRONG_KIND


def test_check_prefix_refuses_by_declared_size() -> None:
    with pytest.raises(MediaRefused) as caught:
        check_prefix(b.png()[:64], total_size=6_000_000)
    assert caught.value.reason.startswith("This file is 6.0 MB")
    with pytest.raises(MediaRefused) as caught:
        check_prefix(b"", total_size=0)
    assert caught.value.code == RefusalCode.EMPTY


def test_check_prefix_checks_a_whole_file_fully() -> None:
    truncated = b.png()[:-12]
    assert check_prefix(truncated[:50]) == "image/png"
    with pytest.raises(MediaRefused) as caught:
        check_prefix(truncated, total_size=len(truncated))
    assert caught.value.code == CORRUPT


# --- robustness ------------------------------------------------------------------------------

SAMPLES = [
    b.mp4(),
    b.mp4(moov_first=False, audio=b.mp4a(quicktime_v1=True)),
    b.mov(),
    b.m4a(),
    b.three_gp(audio=b.samr()),
    b.heif_image(),
    b.png(8, 8),
    b.jpeg(8, 8),
    b.pdf(),
    b.mp3(3),
    b.adts(3, payload=20),
    b.amr(3),
    b.docx(),
    b.ogg_opus(),
]

_SIZES = [0, 1, 7, 8, 9, 16, 0x7FFFFFFF, 0xFFFFFFFF]


@st.composite
def mutated_files(draw: st.DrawFn) -> bytes:
    """A valid file with bytes changed, cut, inserted, or a 32-bit field (a box size) rewritten."""
    data = bytearray(draw(st.sampled_from(SAMPLES)))
    for _ in range(draw(st.integers(1, 4))):
        if not data:
            break
        at = draw(st.integers(0, len(data) - 1))
        operation = draw(st.sampled_from(["byte", "cut", "insert", "size"]))
        if operation == "byte":
            data[at] = draw(st.integers(0, 255))
        elif operation == "cut":
            del data[at:]
        elif operation == "insert":
            data[at:at] = draw(st.binary(max_size=12))
        else:
            size = draw(st.sampled_from(_SIZES) | st.integers(0, len(data) + 64))
            data[at : at + 4] = struct.pack(">I", size)
    return bytes(data)


_BOX_TYPES = ["moov", "trak", "mdia", "minf", "stbl", "stsd", "avc1", "mp4a", "hvc1", "encv",
              "enca", "wave", "sinf", "frma", "esds", "avcC", "hdlr", "mdat", "meta", "uuid",
              "free"]  # fmt: skip
_CONTAINER_FIELDS = {"stsd": 8, "avc1": 78, "hvc1": 78, "encv": 78, "mp4a": 28, "enca": 28}


def _container(kind: str, children: list[bytes], count: int) -> bytes:
    fields = bytearray(_CONTAINER_FIELDS.get(kind, 0))
    if kind == "stsd":
        struct.pack_into(">I", fields, 4, count)
    return b.box(kind, bytes(fields), *children)


_leaf = st.one_of(
    st.builds(b.box, st.sampled_from(_BOX_TYPES), st.binary(max_size=40)),
    st.builds(
        lambda handler: b.full_box("hdlr", 0, 0, bytes(4), handler, bytes(12)),
        st.sampled_from([b"vide", b"soun", b"meta"]),
    ),
    st.builds(b.esds, st.integers(0, 255), st.none() | st.integers(0, 80)),
)
_boxes = st.recursive(
    _leaf,
    lambda children: st.builds(
        _container, st.sampled_from(_BOX_TYPES), st.lists(children, max_size=3), st.integers(0, 3)
    ),
    max_leaves=24,
)
box_files = st.builds(
    lambda brand, boxes: b.ftyp(brand, ("isom",)) + b"".join(boxes),
    st.sampled_from(["isom", "qt  ", "3gp4", "M4A ", "heic", "mif1", "avif"]),
    st.lists(_boxes, max_size=4),
)


_entry_child = st.one_of(
    st.builds(b.avcc),
    st.builds(b.hvcc),
    st.builds(b.esds, st.integers(0, 255), st.none() | st.integers(0, 80)),
    st.builds(lambda raw: b.box("sinf", b.box("frma", raw)), st.binary(min_size=4, max_size=4)),
    st.builds(lambda inner: b.box("wave", inner), st.builds(b.esds, st.integers(0, 255))),
    _leaf,
)
_fourccs = st.sampled_from(
    ["avc1", "avc3", "hvc1", "encv", "mp4a", "enca", ".mp3", "samr", "xyz\x00"]
)
structured_mp4s = st.builds(
    lambda video, audio, v1, brand: b.mp4(
        brand=brand,
        video=b.visual_entry(video[0], *video[1]),
        audio=b.audio_entry(audio[0], *audio[1], quicktime_v1=v1),
    ),
    st.tuples(_fourccs, st.lists(_entry_child, max_size=3)),
    st.tuples(_fourccs, st.lists(_entry_child, max_size=3)),
    st.booleans(),
    st.sampled_from(["isom", "qt  ", "3gp5"]),
)


def assert_total(data: bytes) -> None:
    """Every check answers with a result or a MediaRefused, whatever the bytes."""
    for check in (
        lambda: inspect_media(data),
        lambda: inspect_media(data, expected_kind=VIDEO, file_name="x.mp4"),
        lambda: check_prefix(data[:512]),
        lambda: check_prefix(data, total_size=len(data)),
    ):
        try:
            result = check()
        except MediaRefused as refused:
            assert refused.reason and refused.hint
        else:
            assert isinstance(result, MediaInfo | str)
    assert sniff(data) is None or isinstance(sniff(data), str)
    assert isinstance(isobmff.parse(data), isobmff.Movie)


FUZZ = settings(
    derandomize=True,
    database=None,
    deadline=None,
    max_examples=300,
    suppress_health_check=[HealthCheck.too_slow],
)


@FUZZ
@given(st.binary(max_size=2048))
def test_random_bytes_are_accepted_or_refused(data: bytes) -> None:
    assert_total(data)


@FUZZ
@given(st.sampled_from([b"\x00\x00\x00\x18ftypisom", b"\xff\xfb", b"\xff\xf1", b"ID3", b"#!AMR\n",
                        b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff", b"%PDF-", b"PK\x03\x04", b"OggS",
                        b"RIFF"]),
       st.binary(max_size=1024))  # fmt: skip
def test_random_bytes_after_a_signature_are_accepted_or_refused(head: bytes, tail: bytes) -> None:
    assert_total(head + tail)


@FUZZ
@given(mutated_files())
def test_mutated_files_are_accepted_or_refused(data: bytes) -> None:
    assert_total(data)


@FUZZ
@given(box_files)
def test_random_box_trees_are_accepted_or_refused(data: bytes) -> None:
    assert_total(data)


@FUZZ
@given(structured_mp4s)
def test_mp4s_with_random_sample_entries_are_accepted_or_refused(data: bytes) -> None:
    assert_total(data)


# --- files made by ffmpeg, when it is installed ------------------------------------------------

FFMPEG = shutil.which("ffmpeg")
_VIDEO_IN = ["-f", "lavfi", "-i", "testsrc=size=128x96:rate=10:duration=1"]
_AUDIO_IN = ["-f", "lavfi", "-i", "sine=frequency=440:duration=1"]
_H264 = ["-c:v", "libx264", "-pix_fmt", "yuv420p"]
_AV = ["-map", "0:v", "-map", "1:a"]
_A = ["-map", "1:a"]
_ONE_FRAME = ["-map", "0:v", "-frames:v", "1"]

# (id, output file, ffmpeg output options, encoders needed, MIME type if accepted / refusal code)
FFMPEG_CASES: list[tuple[str, str, list[str], list[str], str | RefusalCode]] = [
    ("mp4 h264 aac", "a.mp4", [*_AV, *_H264, "-c:a", "aac"], ["libx264", "aac"], "video/mp4"),
    ("mp4 faststart", "a.mp4", [*_AV, *_H264, "-c:a", "aac", "-movflags", "+faststart"],
     ["libx264", "aac"], "video/mp4"),
    ("mp4 fragmented", "a.mp4", [*_AV, *_H264, "-c:a", "aac", "-movflags",
     "frag_keyframe+empty_moov"], ["libx264", "aac"], "video/mp4"),
    ("mp4 h264 only", "a.mp4", ["-map", "0:v", *_H264], ["libx264"], "video/mp4"),
    ("3gp h264 aac", "a.3gp", [*_AV, *_H264, "-c:a", "aac"], ["libx264", "aac"], "video/3gpp"),
    ("mp4 hevc", "a.mp4", [*_AV, "-c:v", "libx265", "-tag:v", "hvc1", "-c:a", "aac",
     "-x265-params", "log-level=error"], ["libx265", "aac"], CODEC),
    ("mp4 vp9", "a.mp4", [*_AV, "-c:v", "libvpx-vp9", "-deadline", "realtime", "-c:a", "aac"],
     ["libvpx-vp9", "aac"], CODEC),
    ("mp4 av1", "a.mp4", [*_AV, "-c:v", "libaom-av1", "-cpu-used", "8", "-c:a", "aac"],
     ["libaom-av1", "aac"], CODEC),
    ("mp4 mp3 audio", "a.mp4", [*_AV, *_H264, "-c:a", "libmp3lame"], ["libx264", "libmp3lame"],
     CODEC),
    ("mp4 opus audio", "a.mp4", [*_AV, *_H264, "-c:a", "libopus", "-strict", "-2"],
     ["libx264", "libopus"], CODEC),
    ("mov h264 aac", "a.mov", [*_AV, *_H264, "-c:a", "aac"], ["libx264", "aac"], UNSUPPORTED),
    ("m4a", "a.m4a", [*_A, "-c:a", "aac"], ["aac"], UNSUPPORTED),
    ("aac adts", "a.aac", [*_A, "-c:a", "aac"], ["aac"], "audio/aac"),
    ("mp3", "a.mp3", [*_A, "-c:a", "libmp3lame"], ["libmp3lame"], "audio/mpeg"),
    ("mp2", "a.mp2", [*_A, "-c:a", "mp2"], ["mp2"], "audio/mpeg"),
    ("amr", "a.amr", [*_A, "-ar", "8000", "-ac", "1", "-c:a", "libopencore_amrnb"],
     ["libopencore_amrnb"], "audio/amr"),
    ("ogg opus", "a.ogg", [*_A, "-c:a", "libopus"], ["libopus"], UNSUPPORTED),
    ("wav", "a.wav", [*_A], [], UNSUPPORTED),
    ("webm", "a.webm", [*_AV, "-c:v", "libvpx-vp9", "-deadline", "realtime", "-c:a", "libopus"],
     ["libvpx-vp9", "libopus"], UNSUPPORTED),
    ("png", "a.png", _ONE_FRAME, ["png"], "image/png"),
    ("jpeg", "a.jpg", [*_ONE_FRAME, "-pix_fmt", "yuvj420p"], ["mjpeg"], "image/jpeg"),
    ("gif", "a.gif", _ONE_FRAME, ["gif"], UNSUPPORTED),
    ("webp", "a.webp", _ONE_FRAME, ["libwebp"], UNSUPPORTED),
    ("bmp", "a.bmp", _ONE_FRAME, ["bmp"], UNSUPPORTED),
]  # fmt: skip


@cache
def _ffmpeg_encoders() -> frozenset[str]:
    assert FFMPEG is not None
    listing = subprocess.run(
        [FFMPEG, "-hide_banner", "-encoders"], capture_output=True, text=True, check=True
    ).stdout
    return frozenset(re.findall(r"^ [A-Z.]{6} (\S+)", listing, re.MULTILINE))


def ffmpeg_file(directory: Path, name: str, options: list[str], encoders: list[str]) -> bytes:
    """Have ffmpeg encode one second of its test pattern and a sine tone into ``name``."""
    if FFMPEG is None:
        pytest.skip("ffmpeg is not on PATH; these tests run only where it is installed")
    missing = [encoder for encoder in encoders if encoder not in _ffmpeg_encoders()]
    if missing:
        pytest.skip(f"this ffmpeg build has no {', '.join(missing)} encoder")
    out = directory / name
    command = [FFMPEG, "-hide_banner", "-loglevel", "error", "-nostdin", "-y"]
    command += [*_VIDEO_IN, *_AUDIO_IN, *options, str(out)]
    subprocess.run(command, check=True, timeout=120)
    return out.read_bytes()


@pytest.mark.parametrize(
    ("name", "options", "encoders", "expected"),
    [case[1:] for case in FFMPEG_CASES],
    ids=[case[0] for case in FFMPEG_CASES],
)
def test_ffmpeg_made_files(
    tmp_path: Path,
    name: str,
    options: list[str],
    encoders: list[str],
    expected: str | RefusalCode,
) -> None:
    data = ffmpeg_file(tmp_path, name, options, encoders)
    if isinstance(expected, RefusalCode):
        assert refusal(data).code == expected
    else:
        info = inspect_media(data)
        assert info.mime_type == expected
        if info.kind == VIDEO:
            assert info.video_codec == "H.264"
            assert info.codecs is not None and info.codecs.startswith("avc1.")
    assert_total(data)


def test_ffmpeg_mp4_cut_in_half_is_refused(tmp_path: Path) -> None:
    data = ffmpeg_file(tmp_path, "a.mp4", [*_AV, *_H264, "-c:a", "aac"], ["libx264", "aac"])
    refused = refusal(data[: len(data) // 2])
    assert refused.code == CORRUPT
    assert "incomplete" in refused.reason
