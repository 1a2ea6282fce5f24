"""Customer messages the stand-in provider sends the app, and the attachments it hosts for them.

The provider forwards what customers write to a company number to the URL given for that
number, in one of two shapes: ``json`` (the message as a JSON object, POSTed) or ``query`` (the
older "External Web Service": ``mobile``, ``mo``, ``ts`` and ``shortcode`` as the parameters of
a GET, or of a form POST). :meth:`Customers.customer_message` sends one and
:meth:`Customers.resend` sends a recorded one again byte for byte, as a provider redelivers.

The attachments' bytes live on the stand-in too (:meth:`Customers.host_attachment`), served at
``/_media/<id>`` by ``control``, so the app fetches them from the provider as it would.
"""

from __future__ import annotations

import json
import mimetypes
import re
import secrets
import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final
from urllib.parse import urlencode, urlsplit

from bot.sandbox.files import HostedFile
from bot.sandbox.provider.callbacks import Callbacks
from bot.sandbox.provider.records import (
    AttachmentDownload,
    CustomerMessage,
)

SHAPES: Final = ("json", "query")
MESSAGE_KINDS: Final = frozenset(
    {"text", "image", "video", "audio", "document", "location", "contacts"}
)
DEFAULT_OWNER: Final = "15550001111"
"""The company number a customer message names when none is given (the demo's support sender)."""
MEDIA_PATH: Final = "/_media/"

_USER_AGENT: Final = "provider-standin"
_ATTACHMENT_KEYS: Final = frozenset({"url", "fileName", "caption"})
_DIGITS = re.compile(r"[0-9]+", re.ASCII)
_URL_PREFIXES: Final = ("http://", "https://")


@dataclass(frozen=True)
class _Outgoing:
    method: str
    url: str
    headers: Mapping[str, str]
    body: bytes


class Customers(Callbacks):
    """Customer messages to the app, and the attachment bytes the app fetches back."""

    max_body_bytes: int
    _customer_messages: list[CustomerMessage]
    _message_ids: set[str]
    _attachments: dict[str, HostedFile]
    _downloads: list[AttachmentDownload]

    # Sending

    def customer_message(
        self,
        url: str,
        *,
        user: str,
        text: str = "",
        shape: str = "json",
        name: str | None = None,
        attachments: Sequence[Mapping[str, object]] = (),
        message_id: str | None = None,
        kind: str | None = None,
        owner: str | None = None,
        method: str | None = None,
        date: datetime | str | None = None,
        ts: str | None = None,
        extra: Mapping[str, object] | None = None,
    ) -> CustomerMessage:
        """Send the app one customer message at ``url`` now; return it with the app's answer.

        ``user`` is the customer's number (a leading ``+`` is dropped); ``attachments`` are
        ``{"url", "fileName", "caption"}`` objects (``host_attachment`` gives a URL for bytes);
        ``kind`` (extraInfo.type) is guessed from the first attachment when not given, else
        ``text``. ``message_id`` defaults to a new id; an id sent before makes a redelivery.
        ``method``: POST for ``json``; GET (default) or a form POST for ``query``. ``date``
        (default now) is the JSON's RFC 3339 ``date``; the query's ``ts`` is its Unix time in
        milliseconds unless ``ts`` is given (the provider's format is not documented). The
        query shape carries no id, name or attachments: ``message_id`` then only names the
        record. ``extra`` is merged into the JSON object or the parameters last, as given.
        """
        _check_url(url)
        user = _number("user", user)
        if not isinstance(text, str):
            raise ValueError("text must be a string")
        if shape not in SHAPES:
            raise ValueError(f"shape must be one of {', '.join(SHAPES)}")
        company = DEFAULT_OWNER if owner is None else _number("owner", owner)
        moment = _moment(date)
        if message_id is None:
            message_id = self._new_message_id()
        elif not isinstance(message_id, str) or not message_id:
            raise ValueError("message_id must be a non-empty string")
        if extra is not None and not isinstance(extra, Mapping):
            raise ValueError("extra must be a mapping")
        if shape == "json":
            payload = self._json_payload(
                url,
                message_id=message_id,
                user=user,
                text=text,
                name=name,
                attachments=_attachments(attachments),
                kind=kind,
                owner=company,
                method=method,
                date=moment,
                ts=ts,
            )
            method = "POST"
        else:
            if name is not None or attachments or kind is not None:
                raise ValueError("the query shape carries no name, attachments or kind")
            method = "GET" if method is None else method
            if method not in ("GET", "POST"):
                raise ValueError("the query shape is a GET or a form POST")
            payload = _query_payload(user=user, text=text, owner=company, date=moment, ts=ts)
        if extra:
            payload.update(extra)
        out = _request(url, shape, method, payload)
        return self._deliver(out, message_id, shape, user, text, payload)

    def resend(self, message: CustomerMessage | str) -> CustomerMessage:
        """Send a recorded customer message (or the latest with this id) again, byte for byte."""
        if isinstance(message, str):
            with self._cond:
                found = [m for m in self._customer_messages if m.message_id == message]
            if not found:
                raise KeyError(message)
            message = found[-1]
        out = _Outgoing(message.method, message.url, dict(message.headers), message.body)
        return self._deliver(
            out, message.message_id, message.shape, message.user, message.text, message.payload
        )

    @property
    def customer_messages(self) -> list[CustomerMessage]:
        """Every customer message sent to the app (redeliveries too), in the order sent."""
        with self._cond:
            return list(self._customer_messages)

    # Hosting attachments

    def host_attachment(
        self,
        data: bytes,
        file_name: str,
        content_type: str,
        *,
        status: int = 200,
        location: str | None = None,
    ) -> str:
        """Serve ``data`` at a new ``/_media/<id>`` URL of the stand-in; return the URL.

        ``status`` and ``location`` make an attachment that cannot be fetched (a 404, say, or a
        redirect). ``file_name`` only helps guess the message's kind; the body names it.
        """
        if not isinstance(data, bytes):
            raise TypeError("data must be bytes")
        if not file_name or not content_type:
            raise ValueError("file_name and content_type must not be empty")
        media_id = secrets.token_hex(8)
        with self._cond:
            self._attachments[media_id] = HostedFile(data, content_type, status, location)
        return f"{self.url}{MEDIA_PATH}{media_id}"

    @property
    def attachment_downloads(self) -> list[AttachmentDownload]:
        """Every request for a hosted attachment (``/_media/…``), in arrival order."""
        with self._cond:
            return list(self._downloads)

    # Internals: the messages

    def _init_customers(self) -> None:
        self._customer_messages = []
        self._message_ids = set()
        self._attachments = {}
        self._downloads = []

    def _reset_customers(self) -> None:
        """Forget what was sent and downloaded. Hosted attachments stay, and so do the ids
        sent: the app has seen them, so one sent again is still a redelivery."""
        self._customer_messages.clear()
        self._downloads.clear()

    def _new_message_id(self) -> str:
        with self._cond:
            while True:
                candidate = f"wamid.{secrets.token_hex(16)}"
                if candidate not in self._message_ids:
                    return candidate

    def _json_payload(
        self,
        url: str,
        *,
        message_id: str,
        user: str,
        text: str,
        name: str | None,
        attachments: list[dict[str, object]],
        kind: str | None,
        owner: str,
        method: str | None,
        date: datetime,
        ts: str | None,
    ) -> dict[str, Any]:
        if method not in (None, "POST"):
            raise ValueError("the json shape is always a POST")
        if ts is not None:
            raise ValueError("ts belongs to the query shape; give date for the json shape")
        if name is not None and not isinstance(name, str):
            raise ValueError("name must be a string")
        if kind is None:
            kind = self._kind_of(attachments)
        elif not isinstance(kind, str) or kind not in MESSAGE_KINDS:
            raise ValueError(f"kind must be one of {', '.join(sorted(MESSAGE_KINDS))}")
        contact: dict[str, object] = {"wa_id": user}
        if name is not None:
            contact = {"profile": {"name": name}, "wa_id": user}
        payload: dict[str, Any] = {
            "id": message_id,
            "user": user,
            "text": text,
            "date": _rfc3339(date),
            "owner": owner,
            "origin": "whatsapp",
            "processId": str(uuid.uuid4()),
            "externalId": None,
            # As in its status callbacks, the provider names the URL it posts to.
            "callback": url,
            "connection": "whatsapp",
            "extraInfo": {"type": kind, "attachments": attachments, "contacts": [contact]},
        }
        return payload

    def _kind_of(self, attachments: list[dict[str, object]]) -> str:
        """The first attachment's family (image, video, audio, else document); text if none."""
        if not attachments:
            return "text"
        first = attachments[0]
        url = str(first["url"])
        content_type: str | None = None
        prefix = f"{self.url}{MEDIA_PATH}"
        if url.startswith(prefix):
            with self._cond:
                hosted = self._attachments.get(url[len(prefix) :])
            content_type = hosted.content_type if hosted else None
        if content_type is None:
            content_type, _ = mimetypes.guess_type(str(first.get("fileName") or urlsplit(url).path))
        family = (content_type or "").split("/", 1)[0]
        return family if family in {"image", "video", "audio"} else "document"

    def _deliver(
        self,
        out: _Outgoing,
        message_id: str,
        shape: str,
        user: str,
        text: str,
        payload: Mapping[str, Any],
    ) -> CustomerMessage:
        with self._cond:
            redelivery = message_id in self._message_ids
            self._message_ids.add(message_id)
        sent_at = time.monotonic()
        http_status: int | None = None
        answer = b""
        answer_type: str | None = None
        error: str | None = None
        conn = None
        try:
            if self._stopping.is_set():
                raise ConnectionAbortedError("stand-in stopped")
            conn, target = self._connect(out.url, self.callback_timeout)
            conn.request(out.method, target, body=out.body or None, headers=dict(out.headers))
            response = conn.getresponse()
            http_status = response.status
            answer_type = response.getheader("Content-Type")
            answer = response.read(self.max_body_bytes)
        except Exception as exc:
            error = f"{type(exc).__name__}: {exc}"
        finally:
            self._close(conn)
        message = CustomerMessage(
            message_id=message_id,
            shape=shape,
            method=out.method,
            url=out.url,
            user=user,
            text=text,
            headers=dict(out.headers),
            body=out.body,
            payload=payload,
            redelivery=redelivery,
            http_status=http_status,
            response_body=answer,
            response_content_type=answer_type,
            error=error,
            sent_at=sent_at,
        )
        with self._cond:
            self._customer_messages.append(message)
            self._cond.notify_all()
        return message


def _query_payload(
    *, user: str, text: str, owner: str, date: datetime, ts: str | None
) -> dict[str, Any]:
    if ts is not None and not isinstance(ts, str):
        raise ValueError("ts must be a string")
    stamp = str(int(date.timestamp() * 1000)) if ts is None else ts
    return {"mobile": user, "mo": text, "ts": stamp, "shortcode": owner}


def _request(url: str, shape: str, method: str, payload: Mapping[str, Any]) -> _Outgoing:
    """The request that carries ``payload`` to ``url`` in ``shape``."""
    headers = {"User-Agent": _USER_AGENT}
    if shape == "json":
        headers["Content-Type"] = "application/json"
        return _Outgoing("POST", url, headers, json.dumps(payload).encode())
    encoded = urlencode({key: _param(value) for key, value in payload.items()})
    if method == "POST":
        headers["Content-Type"] = "application/x-www-form-urlencoded"
        return _Outgoing("POST", url, headers, encoded.encode())
    parts = urlsplit(url)
    joined = f"{parts.query}&{encoded}" if parts.query else encoded
    return _Outgoing("GET", parts._replace(query=joined).geturl(), headers, b"")


def _param(value: object) -> str:
    return "" if value is None else str(value)


def _check_url(url: object) -> None:
    if not isinstance(url, str) or not url.startswith(_URL_PREFIXES):
        raise ValueError("url must be an http:// or https:// URL")
    if not urlsplit(url).hostname:
        raise ValueError("url must name a host")


def _number(field: str, value: object) -> str:
    """A phone number as the provider writes it: digits only (a leading ``+`` dropped)."""
    if not isinstance(value, str) or not _DIGITS.fullmatch(value.removeprefix("+")):
        raise ValueError(f"{field} must be a phone number of digits")
    return value.removeprefix("+")


def _moment(date: datetime | str | None) -> datetime:
    if date is None:
        return datetime.now(UTC)
    if isinstance(date, str):
        try:
            date = datetime.fromisoformat(date)
        except ValueError:
            raise ValueError("date must be an ISO 8601 time, e.g. 2024-05-01T14:05:00Z") from None
    if not isinstance(date, datetime):
        raise ValueError("date must be an ISO 8601 time, e.g. 2024-05-01T14:05:00Z")
    if date.tzinfo is None:
        raise ValueError("date must say its time zone (Z for UTC)")
    return date.astimezone(UTC)


def _rfc3339(moment: datetime) -> str:
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _attachments(items: Sequence[Mapping[str, object]]) -> list[dict[str, object]]:
    """Copies of the attachments, checked: ``url`` required, ``fileName``/``caption`` strings."""
    if isinstance(items, str | bytes | Mapping):
        raise ValueError("attachments must be a list of objects")
    copies: list[dict[str, object]] = []
    for index, item in enumerate(items):
        where = f"attachments[{index}]"
        if not isinstance(item, Mapping):
            raise ValueError(f"{where} must be an object")
        unknown = sorted(set(item) - _ATTACHMENT_KEYS)
        if unknown:
            raise ValueError(f"{where} has an unknown field {unknown[0]!r}")
        try:
            _check_url(item.get("url"))
        except ValueError as exc:
            raise ValueError(f"{where}.{exc}") from None
        for key in ("fileName", "caption"):
            if key in item and not isinstance(item[key], str):
                raise ValueError(f"{where}.{key} must be a string")
        copies.append(dict(item))
    return copies
