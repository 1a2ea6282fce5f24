"""Documents: PDF is accepted; office files, archives, web pages and SVG are named and refused."""

from __future__ import annotations

import struct

from bot.media.formats.found import Found, refused_document, refused_image
from bot.media.kinds import MediaKind
from bot.media.refusals import TO_PDF, RefusalCode

__all__ = ["read_other_document", "read_pdf", "read_text", "read_zip"]

_PDF_EOF_WINDOW = 1024
_ZIP_ENTRIES_READ = 256
_TEXT_WINDOW = 1024

_U32LE = struct.Struct("<I")


def read_pdf(data: bytes, complete: bool) -> Found | None:
    if not data.startswith(b"%PDF-"):  # not searched for: a ZIP may hold a PDF near its start
        return None
    found = Found(MediaKind.DOCUMENT, "a PDF", "application/pdf", ".pdf", "PDF document")
    if complete and data.find(b"%%EOF", max(0, len(data) - _PDF_EOF_WINDOW)) < 0:
        return found.incomplete()
    return found


_OFFICE = (
    ("word/", "Word document (.docx)", "wordprocessingml.document", ".docx", False),
    ("xl/", "Excel spreadsheet (.xlsx)", "spreadsheetml.sheet", ".xlsx", True),
    ("ppt/", "PowerPoint presentation (.pptx)", "presentationml.presentation", ".pptx", False),
)


def read_zip(data: bytes, complete: bool) -> Found | None:
    if not data.startswith((b"PK\x03\x04", b"PK\x05\x06", b"PK\x07\x08")):
        return None
    if data[30:38] == b"mimetype":  # OpenDocument and EPUB store it first, uncompressed
        if data[38:58] == b"application/epub+zip":
            return refused_document("EPUB e-book", "application/epub+zip", ".epub", an=True)
        if data.startswith(b"application/vnd.oasis.opendocument", 38):
            return refused_document(
                "OpenDocument file (.odt, .ods or .odp)",
                "application/vnd.oasis.opendocument",
                ".odt",
                an=True,
            )
    names = _zip_names(data)
    for prefix, name, subtype, ext, an in _OFFICE:
        if any(entry.startswith(prefix) for entry in names):
            mime = f"application/vnd.openxmlformats-officedocument.{subtype}"
            return refused_document(name, mime, ext, an=an)
    return refused_document(
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
        TO_PDF,
    ),
    (b"{\\rtf", "RTF document", "application/rtf", ".rtf", TO_PDF),
    (b"Rar!\x1a\x07", "RAR archive", "application/vnd.rar", ".rar", _UNZIP),
    (b"7z\xbc\xaf\x27\x1c", "7-Zip archive", "application/x-7z-compressed", ".7z", _UNZIP),
    (b"\x1f\x8b", "gzip archive", "application/gzip", ".gz", _UNZIP),
)


def read_other_document(data: bytes, complete: bool) -> Found | None:
    for signature, name, mime, ext, hint in _OTHER_DOCUMENTS:
        if data.startswith(signature):
            return refused_document(name, mime, ext, hint, an=name.startswith("older"))
    return None


# Text


def read_text(data: bytes, complete: bool) -> Found | None:
    head = data[:_TEXT_WINDOW].lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    if head.startswith((b"<!doctype html", b"<html", b"<head", b"<body")):
        return Found(None, "a web page", "text/html", ".html", "web page (HTML)").refuse(
            RefusalCode.UNSUPPORTED_FORMAT,
            "This is a web page (HTML), not a media file.",
            "Use a direct download link to the file itself, not a page that shows it.",
        )
    if head.startswith(b"<svg") or (
        head.startswith((b"<?xml", b"<!doctype svg")) and b"<svg" in head
    ):
        return refused_image(
            "SVG image", "image/svg+xml", ".svg", "Export it as a PNG image.", an=True
        )
    return None
