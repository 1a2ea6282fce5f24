"""The `/whatsapp` command's grammar, parsed without any I/O.

    /whatsapp help
    /whatsapp [image|video|audio|document] <recipient> <url> [caption or file name]
    /whatsapp text <recipient> <message...>
    /whatsapp status <transactionId>
    /whatsapp history <recipient> [from:<alias>]
    /whatsapp optouts [from:<alias>]

`from:<alias>` may stand anywhere to choose a sender (for `optouts`, whose list to show; for
`history`, whose sends and messages).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import PurePosixPath
from urllib.parse import unquote, urlsplit

from bot.blocks.examples import (
    COMMAND,
    EXAMPLE_URL,
    EXAMPLES,
    HISTORY_EXAMPLE,
    OPTOUTS_EXAMPLE,
    STATUS_EXAMPLE,
)
from bot.core import slacktext
from bot.core.phones import EXAMPLE_NUMBER, looks_like_number
from bot.whatsapp.payloads import MessageKind

UNKNOWN_KIND = (
    "I can't tell whether `{url}` is an image, video, audio or document. Say which before the "
    "recipient."
)

_EXTENSIONS = {
    ".jpg": MessageKind.IMAGE,
    ".jpeg": MessageKind.IMAGE,
    ".png": MessageKind.IMAGE,
    ".mp4": MessageKind.VIDEO,
    ".3gp": MessageKind.VIDEO,
    ".3gpp": MessageKind.VIDEO,
    ".aac": MessageKind.AUDIO,
    ".mp3": MessageKind.AUDIO,
    ".amr": MessageKind.AUDIO,
    ".mpeg": MessageKind.AUDIO,
    ".mpga": MessageKind.AUDIO,
    ".pdf": MessageKind.DOCUMENT,
}

_SLACK_LINK = re.compile(r"<([^<>|]+)(?:\|([^<>]*))?>")
_WORD = re.compile(r"(?:<[^<>]*>|[^\s<]|<)+")

Decode = Callable[[str], str]


@dataclass(frozen=True)
class HelpRequest:
    pass


@dataclass(frozen=True)
class StatusRequest:
    transaction_id: str


@dataclass(frozen=True)
class OptOutsRequest:
    """The do-not-send lists of the senders allowed in the channel, or of the one named."""

    sender_alias: str | None = None


@dataclass(frozen=True)
class HistoryRequest:
    """The newest sends to and messages from a recipient (a number or a contact, as typed: a
    number may be written with spaces), of every sender or of the one named."""

    recipient: str
    sender_alias: str | None = None


@dataclass(frozen=True)
class SendRequest:
    """A send as typed; the recipient and sender are still names to resolve against config.

    `kind` is None when neither the command nor the URL's extension says it: the file the URL
    serves decides, and `rest` (what followed the URL) is then placed with `place_rest`.
    """

    kind: MessageKind | None
    recipient: str
    body: str
    caption: str | None = None
    file_name: str | None = None
    sender_alias: str | None = None
    kind_was_guessed: bool = False
    rest: str | None = None


class CommandError(ValueError):
    """A mistake in the command, with a correct example to copy."""

    def __init__(self, message: str, example: str) -> None:
        self.example = example
        super().__init__(message)


Parsed = HelpRequest | StatusRequest | HistoryRequest | OptOutsRequest | SendRequest


def unwrap_slack_links(text: str) -> str:
    """Slack may send `<https://x|x>` or `<tel:+57...|+57...>`; keep the target."""

    def target(match: re.Match[str]) -> str:
        link = match.group(1)
        for prefix in ("tel:", "mailto:"):
            if link.lower().startswith(prefix):
                return link[len(prefix) :]
        return link

    return _SLACK_LINK.sub(target, text)


def kind_from_url(url: str) -> MessageKind | None:
    """The media kind its extension implies, if any."""
    path = unquote(urlsplit(url).path)
    return _EXTENSIONS.get(PurePosixPath(path).suffix.lower())


def parse(text: str, *, decode: Decode = slacktext.decode) -> Parsed:
    """Parse the text after `/whatsapp`, or raise CommandError.

    The text is in Slack's format. The recipient and URL are read from it as they are written;
    what the customer reads (caption, file name, message) is passed through `decode`.
    """
    text = text.replace("\u00a0", " ").strip()
    sender_alias, text = _take_sender(text)
    words = _words(text)
    plain = [word.plain for word in words]
    if not plain or plain[0].lower() in ("help", "-h", "--help", "?"):
        if sender_alias is not None and not plain:
            raise CommandError("`from:` needs something to send.", EXAMPLES[MessageKind.IMAGE])
        return HelpRequest()
    first = plain[0].lower()
    if first == "status":
        return _parse_status(plain[1:])
    if first == "history":
        return _parse_history(plain[1:], sender_alias)
    if first in _OPTOUTS:
        return _parse_optouts(plain[1:], sender_alias)
    if first == "text":
        return _parse_text(text, words, sender_alias, decode)
    if first in MessageKind.__members__.values() or first in ("doc", "pdf"):
        kind = MessageKind.DOCUMENT if first in ("doc", "pdf") else MessageKind(first)
        return _parse_media(kind, words[1:], sender_alias, decode, guessed=False)
    # No type given: `<recipient> <url> [rest]`, the type read from the URL.
    if (
        _looks_like_url(first)
        or looks_like_number(first)
        or (len(plain) >= 2 and _looks_like_url(plain[1]))
    ):
        return _parse_media(None, words, sender_alias, decode, guessed=True)
    raise CommandError(
        f"`{plain[0]}` is not something I can send. Start with image, video, audio, document, "
        "text, status, history, optouts or help.",
        EXAMPLES[MessageKind.IMAGE],
    )


@dataclass(frozen=True)
class _Word:
    """One word of the command as Slack sent it, where it starts, and its plain form."""

    raw: str
    start: int
    plain: str


def _words(text: str) -> list[_Word]:
    """Words split at spaces, except inside a `<...>` link; a word of nothing is left out."""
    found = (
        _Word(match.group(), match.start(), slacktext.unescape(unwrap_slack_links(match.group())))
        for match in _WORD.finditer(text)
    )
    return [word for word in found if word.plain]


def _take_sender(text: str) -> tuple[str | None, str]:
    senders = [word for word in _words(text) if word.plain.lower().startswith("from:")]
    if not senders:
        return None, text
    if len(senders) > 1:
        raise CommandError("Name one sender only, with a single `from:`.", _from_example())
    sender = senders[0]
    alias = sender.plain[len("from:") :]
    if not alias:
        raise CommandError("`from:` must be followed by a sender name.", _from_example())
    return alias, f"{text[: sender.start]} {text[sender.start + len(sender.raw) :]}".strip()


def _from_example() -> str:
    return f"{COMMAND} image {EXAMPLE_NUMBER} {EXAMPLE_URL} from:sales"


def _parse_status(args: list[str]) -> StatusRequest:
    if len(args) != 1:
        raise CommandError("Give one transactionId after `status`.", STATUS_EXAMPLE)
    return StatusRequest(transaction_id=args[0])


def _parse_history(args: list[str], sender_alias: str | None) -> HistoryRequest:
    if not args:
        raise CommandError(
            "Say whose history to show: a phone number or a contact name.", HISTORY_EXAMPLE
        )
    return HistoryRequest(recipient=" ".join(args), sender_alias=sender_alias)


_OPTOUTS = ("optouts", "optout", "opt-outs", "opt-out")


def _parse_optouts(args: list[str], sender_alias: str | None) -> OptOutsRequest:
    if args:
        raise CommandError(
            f"`optouts` takes nothing after it but an optional `from:<sender>`; remove "
            f"`{' '.join(args)}`.",
            OPTOUTS_EXAMPLE,
        )
    return OptOutsRequest(sender_alias=sender_alias)


def _parse_text(
    text: str, words: list[_Word], sender_alias: str | None, decode: Decode
) -> SendRequest:
    if len(words) < 2:
        raise CommandError("Say who to send the text to.", EXAMPLES[MessageKind.TEXT])
    # The message keeps its own spacing: everything from its first word on.
    message = decode(text[words[2].start :]) if len(words) > 2 else ""
    if not message.strip():
        raise CommandError(
            "The message is missing after the recipient.", EXAMPLES[MessageKind.TEXT]
        )
    return SendRequest(
        kind=MessageKind.TEXT, recipient=words[1].plain, body=message, sender_alias=sender_alias
    )


def _parse_media(
    kind: MessageKind | None,
    args: list[_Word],
    sender_alias: str | None,
    decode: Decode,
    *,
    guessed: bool,
) -> SendRequest:
    example = EXAMPLES[kind or MessageKind.IMAGE]
    if not args:
        raise CommandError("Say who to send it to, and the media URL.", example)
    recipient = args[0].plain
    if _looks_like_url(recipient):
        raise CommandError("The recipient comes before the URL.", example)
    if len(args) < 2:
        raise CommandError(f"The media URL is missing after `{recipient}`.", example)
    url = args[1].plain
    _check_url(url, example)
    if kind is None:
        kind = kind_from_url(url)
    rest = decode(" ".join(word.raw for word in args[2:])).strip() or None
    caption = file_name = None
    if rest is not None and kind is not None:
        caption, file_name = place_rest(kind, rest)
    return SendRequest(
        kind=kind,
        recipient=recipient,
        body=url,
        caption=caption,
        file_name=file_name,
        sender_alias=sender_alias,
        kind_was_guessed=guessed,
        rest=rest if kind is None else None,
    )


def place_rest(kind: MessageKind, rest: str) -> tuple[str | None, str | None]:
    """What follows the URL: a caption for an image, a file name for a document."""
    if kind is MessageKind.IMAGE:
        return rest, None
    if kind is MessageKind.DOCUMENT:
        if " " in rest or not rest.lower().endswith(".pdf"):
            raise CommandError(
                f"`{rest}` is not a PDF file name. After a document's URL you may give its file "
                "name, ending in `.pdf`, with no spaces.",
                EXAMPLES[MessageKind.DOCUMENT],
            )
        return None, rest
    raise CommandError(
        f"A {kind} cannot have a caption: WhatsApp only shows captions on images. "
        f"Remove `{rest}`, or send it as a separate text.",
        EXAMPLES[kind],
    )


def _looks_like_url(word: str) -> bool:
    return "://" in word or word.lower().startswith("www.")


def _check_url(url: str, example: str) -> None:
    parts = urlsplit(url)
    if parts.scheme.lower() not in ("http", "https"):
        raise CommandError(
            f"`{url}` is not a web link: the provider only fetches media from URLs starting "
            "`http://` or `https://`.",
            example,
        )
    if not parts.hostname:
        raise CommandError(f"`{url}` is not a complete URL.", example)
