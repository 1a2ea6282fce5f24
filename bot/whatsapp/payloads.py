"""The provider's `POST /notification` body, built and checked without any I/O.

A bad value never reaches the wire: it raises PayloadError with a message a Slack user can act on.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from bot.core import phones
from bot.core.config import CallbacksFormat, RecipientFormat
from bot.core.records import MessageKind as MessageKind

MAX_TEXT_CHARS = 1024
MAX_CAPTION_CHARS = 1024
MAX_URL_CHARS = 2048


class PayloadError(ValueError):
    """A message that the provider would refuse, explained for the person sending it."""

    def __init__(self, field: str, message: str) -> None:
        self.field = field
        super().__init__(message)


@dataclass(frozen=True)
class Message:
    """What a person asked to send: `body` is the text, or the media URL."""

    kind: MessageKind
    to: str
    body: str
    caption: str | None = None
    file_name: str | None = None


def new_external_id() -> str:
    """An alphanumeric id, unique per send, that the provider echoes in its callbacks."""
    return secrets.token_hex(16)


def check_message(message: Message) -> Message:
    """Return the message with its recipient in E.164, or raise PayloadError."""
    try:
        to = phones.normalize(message.to)
    except phones.InvalidNumber as exc:
        raise PayloadError("to", str(exc)) from None
    if message.kind is MessageKind.TEXT:
        _check_text(message.body)
    else:
        check_media_url(message.body)
    _check_caption(message)
    _check_file_name(message)
    return Message(message.kind, to, message.body, message.caption, message.file_name)


def _check_text(text: str) -> None:
    if not text.strip():
        raise PayloadError("message", "The message is empty. Write the text to send.")
    if len(text) > MAX_TEXT_CHARS:
        raise PayloadError(
            "message",
            f"The message is {len(text)} characters long; WhatsApp takes at most "
            f"{MAX_TEXT_CHARS}. Shorten it or split it into several messages.",
        )


def check_media_url(url: str) -> None:
    """The provider wants an http(s) URL that downloads the file directly."""
    parts = urlsplit(url)
    if parts.scheme.lower() not in ("http", "https"):
        raise PayloadError(
            "message",
            f"`{url}` is not a web link: media must be an `http://` or `https://` URL "
            "that downloads the file directly.",
        )
    if not parts.hostname or any(ch.isspace() for ch in url):
        raise PayloadError("message", f"`{url}` is not a valid URL.")
    if len(url) > MAX_URL_CHARS:
        raise PayloadError("message", f"The URL is longer than {MAX_URL_CHARS} characters.")


def _check_caption(message: Message) -> None:
    if message.caption is None:
        return
    if message.kind is not MessageKind.IMAGE:
        raise PayloadError(
            "caption",
            f"A caption can only go with an image; WhatsApp does not show one on a "
            f"{message.kind}. Leave it out, or send the text as a separate message.",
        )
    if len(message.caption) > MAX_CAPTION_CHARS:
        raise PayloadError(
            "caption",
            f"The caption is {len(message.caption)} characters long; at most "
            f"{MAX_CAPTION_CHARS} are allowed.",
        )


def _check_file_name(message: Message) -> None:
    if message.file_name is None:
        return
    if message.kind is not MessageKind.DOCUMENT:
        raise PayloadError(
            "fileName", f"A file name can only be given for a document, not for a {message.kind}."
        )
    name = message.file_name
    if not name.lower().endswith(".pdf") or len(name) <= 4 or "/" in name:
        raise PayloadError(
            "fileName",
            f"`{name}` is not a PDF file name: documents are sent as PDF, so the name must "
            "end in `.pdf`, e.g. `invoice-1042.pdf`.",
        )


def build_request(
    message: Message,
    *,
    sender_number: str,
    external_id: str,
    callback_urls: Sequence[str] = (),
    recipient_format: RecipientFormat = "e164",
    callbacks_format: CallbacksFormat = "string",
) -> dict[str, Any]:
    """The JSON body for `POST /notification`, exactly as the provider's page describes."""
    message = check_message(message)
    if not phones.is_sender_number(sender_number):
        raise PayloadError("from", f"The sender number `{sender_number}` must be digits only.")
    if not external_id.isascii() or not external_id.isalnum():
        raise PayloadError("externalId", "The external id must be alphanumeric.")
    request: dict[str, Any] = {
        "from": sender_number,
        "to": message.to if recipient_format == "e164" else message.to.lstrip("+"),
        "message": message.body,
        "type": str(message.kind),
    }
    if message.caption is not None:
        request["caption"] = message.caption
    if message.file_name is not None:
        request["fileName"] = message.file_name
    request["externalId"] = external_id
    body: dict[str, Any] = {"channel": "WHATSAPP", "request": request}
    if callback_urls:
        urls = list(callback_urls)
        body["callbacks"] = ",".join(urls) if callbacks_format == "string" else urls
    return body
