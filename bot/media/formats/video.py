"""Video: MP4 and 3GPP with H.264 and AAC are accepted, judged by their ISO base media boxes.

HEIF images, M4A audio and QuickTime files share that structure and are told apart here; other
video containers are named and refused.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from bot.media import isobmff
from bot.media.formats.found import Found, refused_image, refused_video
from bot.media.kinds import MediaKind
from bot.media.refusals import ONLY_AUDIO, ONLY_VIDEOS, TO_MP3, TO_MP4, RefusalCode

__all__ = ["read_isobmff", "read_other_video"]


def read_other_video(data: bytes, complete: bool) -> Found | None:
    if data.startswith(b"\x1a\x45\xdf\xa3"):
        if b"webm" in data[:64]:
            return refused_video("WebM video", "video/webm", ".webm")
        return refused_video("Matroska (.mkv) video", "video/x-matroska", ".mkv")
    if data.startswith(b"0&\xb2u\x8ef\xcf\x11"):
        return refused_video("Windows Media file", "video/x-ms-asf", ".wmv")
    if data.startswith(b"FLV\x01"):
        return refused_video("Flash video", "video/x-flv", ".flv")
    if data.startswith(b"\x00\x00\x01\xba"):
        return refused_video("MPEG program stream video", "video/mpeg", ".mpg", an=True)
    if len(data) > 376 and data[0] == data[188] == data[376] == 0x47:
        return refused_video("MPEG transport stream video", "video/mp2t", ".ts", an=True)
    return None


# ISO base media: MP4, 3GPP, QuickTime, HEIF, M4A


_HEIC_BRANDS = frozenset({"heic", "heix", "heim", "heis", "hevc", "hevx"})
_AVIF_BRANDS = frozenset({"avif", "avis"})
_HEIF_BRANDS = _HEIC_BRANDS | _AVIF_BRANDS | {"mif1", "msf1", "mif2", "miaf"}
_AUDIO_BRANDS = frozenset({"M4A ", "M4B ", "M4P "})
_MP4_VIDEO = Found(MediaKind.VIDEO, "an MP4 video", "video/mp4", ".mp4", "MP4 video")

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


def read_isobmff(data: bytes, complete: bool) -> Found | None:
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
        return refused_video("3GPP2 (.3g2) video", "video/3gpp2", ".3g2")
    if brand.startswith("3g"):
        container = Found(MediaKind.VIDEO, "a 3GPP video", "video/3gpp", ".3gp", "3GPP video")
    elif brand in _AUDIO_BRANDS:
        container = Found(MediaKind.AUDIO, "an M4A audio file", "audio/mp4", ".m4a", "M4A audio")
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


def _heif(movie: isobmff.Movie) -> Found:
    brands = set(movie.brands)
    if movie.major_brand in _AVIF_BRANDS or (
        movie.major_brand not in _HEIC_BRANDS and brands & _AVIF_BRANDS
    ):
        return refused_image(
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
    found = refused_image(
        name,
        mime,
        ext,
        "Convert it to JPEG, for example: heif-convert in.heic out.jpg (an iPhone set to "
        "Settings > Camera > Formats > Most Compatible takes JPEG photos).",
    )
    return replace(found, noun=f"a {name.split(' (')[0]}", format_name=name.split(" (")[0])


def _quicktime(movie: isobmff.Movie) -> Found:
    container = Found(
        MediaKind.VIDEO, "a QuickTime (.mov) video", "video/quicktime", ".mov", "QuickTime video"
    )
    hint = TO_MP4.format(ext="mov")
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
        f"This file is a QuickTime (.mov) video, {ONLY_VIDEOS} with H.264 video and AAC audio.",
        hint,
    )


def _tracks_verdict(container: Found, tracks: tuple[isobmff.Track, ...]) -> Found:
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


def _codec_refusal(container: Found, found: list[str], *, video_ok: bool, audio_ok: bool) -> Found:
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


def _audio_only(container: Found, codec: str | None) -> Found:
    """Refuse an MP4 or 3GPP file that holds sound but no picture."""
    if codec == "":
        return container.damaged("it has no video or audio track")
    m4a = container.extension in (".mp4", ".m4a")
    label, ext = ("M4A", "m4a") if m4a else ("3GPP", "3gp")
    found = Found(
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
        hint = TO_MP3.format(ext=ext)
    inside = f" ({codec} audio in {'an MP4' if m4a else 'a 3GPP'} container)" if codec else ""
    return found.refuse(
        RefusalCode.UNSUPPORTED_FORMAT,
        f"This file is {found.noun}{inside}, {ONLY_AUDIO}.",
        hint,
    )
