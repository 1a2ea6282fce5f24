"""How log lines look: text for a terminal, or JSON (one object a line) for a log pipeline.

Either way a line never shows a bearer secret: the tokens of callback, inbound and media URLs,
`Bearer` credentials and Slack tokens are replaced before the line is written. A line logged
while a send is being worked on carries its id (`log_context`, or `extra={"send_id": ...}`).
"""

from __future__ import annotations

import contextlib
import json
import logging
import re
from collections.abc import Iterator, Mapping
from contextvars import ContextVar
from datetime import UTC, datetime
from types import MappingProxyType
from typing import Any, Literal

LogFormat = Literal["text", "json"]
LOG_FORMATS: tuple[LogFormat, ...] = ("text", "json")
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
# The ids a line may carry, in the order they are written.
CONTEXT_FIELDS = ("send_id", "batch_id")
REDACTED = "[redacted]"

_SECRETS = re.compile(
    r"(?P<keep>/whatsapp/callbacks/|/whatsapp/inbound/|/media/|\bBearer\s+)[^\s/?#\"'<>|,;]+"
    r"|(?P<slack>\bxox[a-z]-)[A-Za-z0-9-]+"
)
_context: ContextVar[Mapping[str, str]] = ContextVar("log_context", default=MappingProxyType({}))


def redact(text: str) -> str:
    """`text` with the tokens of bearer URLs and credentials replaced."""
    return _SECRETS.sub(_replace, text)


def _replace(match: re.Match[str]) -> str:
    return (match.group("keep") or match.group("slack")) + REDACTED


@contextlib.contextmanager
def log_context(**fields: str | None) -> Iterator[None]:
    """Every line logged in this block (in this thread) carries these fields."""
    added = {key: value for key, value in fields.items() if value is not None}
    token = _context.set(MappingProxyType({**_context.get(), **added}))
    try:
        yield
    finally:
        _context.reset(token)


class ContextFilter(logging.Filter):
    """Puts the fields of `log_context` on a record that lacks them (a handler's filter)."""

    def filter(self, record: logging.LogRecord) -> bool:
        for key, value in _context.get().items():
            if not hasattr(record, key):
                setattr(record, key, value)
        return True


class TextFormatter(logging.Formatter):
    """The usual text line, redacted."""

    def format(self, record: logging.LogRecord) -> str:
        return redact(super().format(record))


class JsonFormatter(logging.Formatter):
    """One JSON object a line: time, level, logger, message, the ids of `CONTEXT_FIELDS` when
    the record has them, and the traceback of an exception; redacted."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": redact(record.getMessage()),
            "pid": record.process,
        }
        for key in CONTEXT_FIELDS:
            value = getattr(record, key, None)
            if value is not None:
                entry[key] = str(value)
        if record.exc_info:
            entry["exception"] = redact(self.formatException(record.exc_info))
        elif record.exc_text:
            entry["exception"] = redact(record.exc_text)
        if record.stack_info:
            entry["stack"] = redact(self.formatStack(record.stack_info))
        return json.dumps(entry, ensure_ascii=False, default=str)


def formatter(
    kind: LogFormat, *, fmt: str = TEXT_FORMAT, datefmt: str | None = None
) -> logging.Formatter:
    """The formatter of a log format; `fmt` and `datefmt` shape the text lines."""
    if kind == "json":
        return JsonFormatter()
    return TextFormatter(fmt, datefmt)


def use_format(handler: logging.Handler, kind: LogFormat, **text: str) -> None:
    """Make `handler` write `kind` lines, with the ids of `log_context`."""
    handler.setFormatter(formatter(kind, **text))
    if not any(isinstance(f, ContextFilter) for f in handler.filters):
        handler.addFilter(ContextFilter())
