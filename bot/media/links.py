"""Signed, expiring links to media kept by the bot: `<media id>.<expiry>.<mac>`.

The MAC (under `media.link_secret`) covers the id and the expiry, so neither can be changed;
it is checked in constant time before the database is asked.
"""

from __future__ import annotations

from datetime import UTC, datetime
from enum import Enum

from bot.core import tokens

PURPOSE = "media"


class LinkCheck(Enum):
    VALID = "valid"
    TAMPERED = "tampered"
    EXPIRED = "expired"


def issue(secret: str, media_id: str, expires_at: datetime) -> str:
    payload = f"{media_id}.{int(expires_at.timestamp())}"
    return f"{payload}.{tokens.sign(secret, PURPOSE, payload)}"


def check(secret: str, token: str, *, now: datetime | None = None) -> tuple[LinkCheck, str]:
    """Whether a link is genuine and unexpired, and the media id it names."""
    parts = token.split(".")
    if len(parts) != 3 or len(token) > 200 or not token.isascii():
        return LinkCheck.TAMPERED, ""
    media_id, expiry, signature = parts
    if not tokens.verify(secret, PURPOSE, f"{media_id}.{expiry}", signature):
        return LinkCheck.TAMPERED, ""
    moment = (now or datetime.now(UTC)).timestamp()
    if not expiry.isdigit() or int(expiry) <= moment:
        return LinkCheck.EXPIRED, media_id
    return LinkCheck.VALID, media_id
