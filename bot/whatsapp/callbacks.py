"""The provider's status callbacks, parsed without any I/O.

The status field's name is not documented (`status` is the likely one), so a few names are
tried. Everything else in the body is kept verbatim by the caller.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

MAX_CALLBACK_BYTES = 64 * 1024
_STATUS_KEYS = ("status", "Status", "state", "event", "eventType", "deliveryStatus")
_DETAIL_KEYS = ("reason", "description", "error", "errorMessage", "message", "details")
_MAX_STATUS_CHARS = 64


class CallbackInvalid(ValueError):
    """A body that is not a status callback at all; the caller answers 400."""


@dataclass(frozen=True)
class Callback:
    status: str | None
    external_id: str | None
    message_id: str | None
    date: str | None
    detail: str | None


def parse_callback(raw: bytes) -> Callback:
    """Read a callback body; a JSON object without a status is still a callback."""
    try:
        payload = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise CallbackInvalid("the body is not JSON") from None
    except RecursionError:
        raise CallbackInvalid("the body is JSON nested too deeply") from None
    if not isinstance(payload, dict):
        raise CallbackInvalid("the body is JSON but not an object")
    status = _text(payload, _STATUS_KEYS)
    if status is not None:
        status = status.strip().upper()[:_MAX_STATUS_CHARS] or None
    return Callback(
        status=status,
        external_id=_text(payload, ("externalId", "external_id")),
        message_id=_text(payload, ("id", "messageId")),
        date=_text(payload, ("date", "timestamp")),
        detail=_detail(payload),
    )


def clean(value: str) -> str:
    """Text any database takes: no NUL, no lone surrogate (both are valid JSON escapes)."""
    value = value.replace("\x00", "")
    return value.encode("utf-8", "replace").decode("utf-8")


def _text(payload: dict[str, Any], keys: tuple[str, ...]) -> str | None:
    for key in keys:
        value = payload.get(key)
        if isinstance(value, str) and value:
            return clean(value) or None
        if isinstance(value, int | float) and not isinstance(value, bool):
            return str(value)
    return None


def _detail(payload: dict[str, Any]) -> str | None:
    """The provider's own words about a failure, if it sent any."""
    for key in _DETAIL_KEYS:
        value = payload.get(key)
        if isinstance(value, str) and value.strip():
            return clean(value.strip()[:500]) or None
        if isinstance(value, dict):
            inner = _text(value, ("reason", "message", "title", "description"))
            if inner:
                return inner[:500]
    return None
