"""The provider's delivery statuses: their order, and what each means in plain words.

Statuses never move backwards: each has a rank, and the shown status is the highest ranked
one received. A failure is final. A status the bot does not know is kept and shown verbatim.
"""

from __future__ import annotations

from dataclasses import dataclass

UNKNOWN_RANK = 1
FAILURE_RANK = 100

_PROGRESS = {
    "QUEUE": (10, ":hourglass_flowing_sand:", "queued at the provider"),
    "QUEUED": (10, ":hourglass_flowing_sand:", "queued at the provider"),
    "DEQUEUED": (20, ":arrow_forward:", "handed to WhatsApp"),
    "SENT": (30, ":heavy_check_mark:", "sent to the customer's phone"),
    "DELIVERED": (40, ":white_check_mark:", "delivered to the customer's phone"),
    "READ": (50, ":eyes:", "read by the customer"),
}

_FAILURES = {
    "CODE_NOT_ALLOWED": "the provider does not allow sending to this number or country code",
    "INCOMPLETE": "the provider could not complete the message (a field was missing or invalid)",
    "BLACKLISTED": "the number is on a block list; the customer may have opted out",
    "QUOTA_EXCEEDED": "the account's sending quota is used up; ask the provider to raise it",
    "EXHAUSTED": "the provider gave up after every delivery attempt failed",
    "SEGMENTS_EXCEEDED": "the message is longer than the provider allows",
    "FAILED": "WhatsApp could not deliver the message",
    "UNDELIVERED": "WhatsApp could not deliver the message to the phone",
    "UNDELIVERABLE": "WhatsApp could not deliver the message to the phone",
    "REJECTED": "the provider or WhatsApp rejected the message",
    "EXPIRED": "the message expired before it could be delivered",
    "ERROR": "the provider reported an error",
}

_FAILURE_WORDS = ("FAIL", "ERROR", "REJECT", "UNDELIVER", "EXPIRE", "BLOCK", "DENIED", "INVALID")


@dataclass(frozen=True)
class StatusInfo:
    name: str
    rank: int
    emoji: str
    meaning: str
    is_failure: bool
    is_known: bool


def normalize(raw: str) -> str:
    """Status names are upper case; keep anything else verbatim apart from spacing."""
    return raw.strip().upper()


def describe(raw: str) -> StatusInfo:
    name = normalize(raw)
    if name in _PROGRESS:
        rank, emoji, meaning = _PROGRESS[name]
        return StatusInfo(name, rank, emoji, meaning, is_failure=False, is_known=True)
    if name in _FAILURES:
        return StatusInfo(name, FAILURE_RANK, ":x:", _FAILURES[name], True, True)
    if any(word in name for word in _FAILURE_WORDS):
        meaning = "the provider reported a failure the bot does not know by name"
        return StatusInfo(name, FAILURE_RANK, ":x:", meaning, is_failure=True, is_known=False)
    meaning = "a status the bot does not know; shown as the provider sent it"
    return StatusInfo(name, UNKNOWN_RANK, ":grey_question:", meaning, False, False)
