"""What a reader found in a file: its format, and why the provider would refuse it, if it would."""

from __future__ import annotations

from dataclasses import dataclass, replace

from bot.media.kinds import MediaKind
from bot.media.refusals import (
    ONLY_AUDIO,
    ONLY_IMAGES,
    ONLY_PDF,
    ONLY_VIDEOS,
    TO_MP3,
    TO_MP4,
    TO_PDF,
    RefusalCode,
    amount,
)

__all__ = [
    "Found",
    "Refusal",
    "refused",
    "refused_audio",
    "refused_document",
    "refused_image",
    "refused_video",
]


@dataclass(frozen=True)
class Refusal:
    code: RefusalCode
    reason: str
    hint: str


@dataclass(frozen=True)
class Found:
    kind: MediaKind | None
    noun: str
    """How a sentence names the content: "a PNG image", "a PDF", "an MP4 video"."""
    mime_type: str
    extension: str
    format_name: str
    refusal: Refusal | None = None
    video_codec: str | None = None
    audio_codec: str | None = None
    codecs: str | None = None

    def refuse(self, code: RefusalCode, reason: str, hint: str) -> Found:
        return replace(self, refusal=Refusal(code, reason, hint))

    def incomplete(self, missing: int | None = None) -> Found:
        short = "too early" if missing is None else f"{amount(missing)} too early"
        return self.refuse(
            RefusalCode.CORRUPT,
            f"This {self.format_name} is incomplete: the file ends {short}, so it was "
            "probably cut off while being uploaded or downloaded.",
            "Share the original file again.",
        )

    def damaged(self, detail: str) -> Found:
        return self.refuse(
            RefusalCode.CORRUPT,
            f"This {self.format_name} is damaged: {detail}.",
            "Open it, save or export it again, and share the new copy.",
        )


def refused(
    kind: MediaKind | None, noun: str, mime: str, ext: str, name: str, reason: str, hint: str
) -> Found:
    return Found(kind, noun, mime, ext, name).refuse(RefusalCode.UNSUPPORTED_FORMAT, reason, hint)


def refused_image(name: str, mime: str, ext: str, hint: str, *, an: bool = False) -> Found:
    noun = f"{'an' if an else 'a'} {name}"
    return refused(
        MediaKind.IMAGE, noun, mime, ext, name, f"This file is {noun}, {ONLY_IMAGES}.", hint
    )


def refused_video(name: str, mime: str, ext: str, *, an: bool = False) -> Found:
    noun = f"{'an' if an else 'a'} {name}"
    return refused(
        MediaKind.VIDEO,
        noun,
        mime,
        ext,
        name,
        f"This file is {noun}, {ONLY_VIDEOS}.",
        TO_MP4.format(ext=ext.lstrip(".")),
    )


def refused_audio(name: str, mime: str, ext: str, *, an: bool = False) -> Found:
    noun = f"{'an' if an else 'a'} {name}"
    return refused(
        MediaKind.AUDIO,
        noun,
        mime,
        ext,
        name,
        f"This file is {noun}, {ONLY_AUDIO}.",
        TO_MP3.format(ext=ext.lstrip(".")),
    )


def refused_document(
    name: str, mime: str, ext: str, hint: str = TO_PDF, *, an: bool = False
) -> Found:
    noun = f"{'an' if an else 'a'} {name}"
    return refused(
        MediaKind.DOCUMENT, noun, mime, ext, name, f"This file is {noun}, {ONLY_PDF}.", hint
    )
