"""What takes the place of removed content, and which parts of a stored message are content.

Retention (`retention.content_days`) and `whatsapp-bot forget` replace captions, texts, file
names and customers' messages by a few words in brackets; ids, numbers, times, senders and
statuses stay, so the audit trail keeps its shape. Pure: the store and the use cases share it.
"""

from __future__ import annotations

import json
from typing import Any

REMOVED_ON_REQUEST = "[removed on request]"
# The parts of a customer's attachment that are theirs: the provider's URL fetches the file.
ATTACHMENT_CONTENT = ("url", "file_name", "caption")


def removed_after(days: int) -> str:
    """`[removed after 30 days]`."""
    return f"[removed after {days} day{'' if days == 1 else 's'}]"


def is_removal(text: str | None) -> bool:
    """Whether a stored text is one of the words put in place of removed content."""
    return text is not None and (
        text == REMOVED_ON_REQUEST or (text.startswith("[removed after ") and text.endswith("]"))
    )


def redact_attachments(attachments: str | None, words: str) -> str:
    """A customer message's attachments (JSON: url, file_name, caption) with each of those
    replaced by `words`: as many attachments as before, none of their content."""
    return _redact(attachments, words, ATTACHMENT_CONTENT)


def redact_files_shown(files_shown: str | None, words: str) -> str | None:
    """What a message's attachments showed in Slack (JSON: name, file_id, size, or name and
    the reason it could not be shown) with the file names replaced."""
    if files_shown is None:
        return None
    return _redact(files_shown, words, ("name",))


def _redact(value: str | None, words: str, keys: tuple[str, ...]) -> str:
    try:
        items: Any = json.loads(value or "[]")
    except ValueError:
        return json.dumps([])
    if not isinstance(items, list):
        return json.dumps([])
    redacted = []
    for item in items:
        if isinstance(item, dict):
            item = {k: (words if k in keys and v else v) for k, v in item.items()}
        else:
            item = words
        redacted.append(item)
    return json.dumps(redacted, ensure_ascii=False)
