"""What every part of the stand-in Slack shares: its identity, records, errors and replies."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from email import policy
from email.parser import BytesParser
from http import HTTPStatus
from typing import Any, Final, TypeVar

from bot.sandbox.http import BodyError, Handler

Json = dict[str, Any]
T = TypeVar("T")

DEFAULT_BOT_TOKEN: Final = "xoxb-test-token"
DEFAULT_TEAM_ID: Final = "T000"
DEFAULT_APP_ID: Final = "A000"
BOT_USER_ID: Final = "U0BOT0001"
BOT_ID: Final = "B0BOT0001"

MAX_TEXT: Final = 40_000
MAX_BODY: Final = 64 * 1024 * 1024

_LOGIN_PAGE: Final = (
    b'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
    b"<title>Sign in | Slack</title></head><body><h1>Sign in to your workspace</h1>"
    b'<form method="post"><input name="email"><button>Sign In</button></form>'
    b"</body></html>"
)


@dataclass(frozen=True)
class ApiCall:
    """One Web API call as the stand-in received and answered it."""

    method: str
    params: Json
    headers: dict[str, str]
    time: float
    http_method: str = "POST"
    status: int = 200
    response: Json = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.status == 200 and self.response.get("ok") is True


@dataclass(frozen=True)
class ResponseUrlPost:
    """One POST to a response URL; ``result`` says what it did (or the error)."""

    url: str
    body: Json | None
    time: float
    status: int
    result: str


@dataclass(frozen=True)
class Download:
    """One GET or HEAD of a private file URL."""

    file_id: str
    http_method: str
    authorized: bool
    status: int
    time: float
    range: str | None = None


@dataclass(frozen=True)
class Upload:
    """A file uploaded through the external flow and completed: one per channel it was shared
    in (``channel`` None when it was kept private), with the bytes as they arrived."""

    file_id: str
    name: str
    title: str
    mimetype: str
    content: bytes
    channel: str | None
    thread_ts: str | None
    ts: str | None
    time: float


class _SlackError(Exception):
    def __init__(self, error: str, *, status: int = 200, extra: Json | None = None) -> None:
        super().__init__(error)
        self.error = error
        self.status = status
        self.extra = extra or {}


@dataclass(frozen=True)
class _Reply:
    status: int
    body: bytes
    content_type: str = "application/json; charset=utf-8"
    headers: tuple[tuple[str, str], ...] = ()


def _json_reply(status: int, obj: Json, *headers: tuple[str, str]) -> _Reply:
    return _Reply(status, json.dumps(obj).encode(), headers=headers)


def _truthy(value: object) -> bool:
    if isinstance(value, str):
        return value.strip().lower() in {"1", "true", "yes", "on"}
    return bool(value)


@dataclass(frozen=True)
class _FormPart:
    name: str
    filename: str | None
    content: bytes


def _form_parts(content_type: str, body: bytes) -> list[_FormPart]:
    """The parts of a multipart/form-data body; ValueError when it is not one."""
    head = f"Content-Type: {content_type}\r\n\r\n".encode("latin-1", "replace")
    message = BytesParser(policy=policy.HTTP).parsebytes(head + body)
    if not message.is_multipart() or message.defects:
        raise ValueError("not a multipart/form-data body")
    parts: list[_FormPart] = []
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        content = part.get_payload(decode=True)
        if not isinstance(name, str) or not isinstance(content, bytes):
            raise ValueError("a part without a name")
        parts.append(_FormPart(name, part.get_filename(), content))
    return parts


@contextlib.contextmanager
def _as_value_error() -> Iterator[None]:
    """Turns a Slack error into ValueError for Python callers of the set-up helpers."""
    try:
        yield
    except _SlackError as exc:
        raise ValueError(exc.error) from exc


class _Handler(Handler):
    methods = frozenset({"GET", "HEAD", "POST", "PUT", "DELETE"})
    server_version = "StandInSlack/1.0"
    sys_version = ""
    timeout = 15

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        with contextlib.suppress(OSError):
            body = json.dumps({"ok": False, "error": "invalid_request"}).encode()
            self.write(
                code,
                body,
                "application/json; charset=utf-8",
                [("Connection", "close")],
                head=self.command == "HEAD",
                reason=message,
            )

    def internal_error(self) -> None:
        self.reply(_json_reply(500, {"ok": False, "error": "internal_error"}))

    def read_body(self) -> bytes:
        """The request body, by Content-Length or chunked; refuses more than MAX_BODY."""
        try:
            return self.read_limited(MAX_BODY)
        except BodyError as exc:
            too_large = exc.status == HTTPStatus.REQUEST_ENTITY_TOO_LARGE
            error = "request_too_large" if too_large else "invalid_form_data"
            raise _SlackError(error, status=int(exc.status)) from exc

    def reply(self, reply: _Reply, *, head: bool = False) -> None:
        self.write(reply.status, reply.body, reply.content_type, reply.headers, head=head)

    def stream(
        self,
        status: int,
        content_type: str,
        content: bytes,
        headers: list[tuple[str, str]],
        *,
        head: bool,
    ) -> None:
        self.write(status, content, content_type, headers, head=head)
