"""What a reader found in a file: its format, and why the provider would refuse it, if it would."""

from __future__ import annotations

from dataclasses import dataclass, replace

from bot.media.kinds import MediaKind
from bot.media.refusals import (
    _ONLY_AUDIO,
    _ONLY_IMAGES,
    _ONLY_PDF,
    _ONLY_VIDEOS,
    _TO_MP3,
    _TO_MP4,
    _TO_PDF,
    RefusalCode,
    _amount,
)


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
