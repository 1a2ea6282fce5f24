"""The `/whatsapp` commands people are shown as examples: in help, and beside every mistake."""

from __future__ import annotations

from bot.core.phones import EXAMPLE_NUMBER
from bot.core.records import MessageKind

COMMAND = "/whatsapp"
EXAMPLE_URL = "https://example.com/photo.jpg"

EXAMPLES = {
    MessageKind.IMAGE: f"{COMMAND} image {EXAMPLE_NUMBER} {EXAMPLE_URL} The best coffee in town!",
    MessageKind.VIDEO: f"{COMMAND} video {EXAMPLE_NUMBER} https://example.com/clip.mp4",
    MessageKind.AUDIO: f"{COMMAND} audio {EXAMPLE_NUMBER} https://example.com/note.mp3",
    MessageKind.DOCUMENT: (
        f"{COMMAND} document {EXAMPLE_NUMBER} https://example.com/files/123 invoice-1042.pdf"
    ),
    MessageKind.TEXT: f"{COMMAND} text {EXAMPLE_NUMBER} Your parcel is on its way",
}
STATUS_EXAMPLE = f"{COMMAND} status 077da1d0-e089-487e-aed0-59534ba2d9f5"
OPTOUTS_EXAMPLE = f"{COMMAND} optouts"
HISTORY_EXAMPLE = f"{COMMAND} history {EXAMPLE_NUMBER}"
