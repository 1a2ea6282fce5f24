"""The stand-in provider's own HTTP routes, beside its API: what a person or the demo uses.

- ``POST /_standin/customer-message``: send the app one customer message, as
  :meth:`Customers.customer_message` does, from a JSON body of the same names (``url`` and
  ``user`` required; ``text``, ``shape``, ``name``, ``attachments``, ``message_id``, ``kind``,
  ``owner``, ``method``, ``date``, ``ts``); an attachment may carry its bytes as ``base64`` (with
  ``fileName`` and ``contentType``), hosted here. ``{"resend": "<message id>"}`` sends a message
  again. The answer is JSON: what was sent and the app's ``status``, ``body`` and ``error``
  (200, or 502 when the app could not be reached); a bad body gets 400 and the reason.
- ``GET /_media/<id>``: the bytes of an attachment hosted with ``host_attachment``.

Neither is recorded in ``requests`` (which is the provider's API), and neither takes a
credential: the stand-in listens on loopback only, and the demo never shows its API key.
"""

from __future__ import annotations

import base64
import binascii
import json
import mimetypes
import time
from collections.abc import Sequence
from http import HTTPStatus
from typing import Any, Final
from urllib.parse import urlsplit

from bot.sandbox.http import BodyError, Handler
from bot.sandbox.provider.customers import MEDIA_PATH, Customers
from bot.sandbox.provider.records import AttachmentDownload, CustomerMessage, Headers, _reason

CUSTOMER_MESSAGE_PATH: Final = "/_standin/customer-message"

_PREFIX: Final = "/_standin/"
_ATTACHMENT_KEYS: Final = frozenset({"url", "fileName", "caption", "base64", "contentType"})
_KEYS: Final = frozenset(
    {"url", "user", "text", "shape", "name", "attachments", "message_id", "kind", "owner"}
    | {"method", "date", "ts", "resend"}
)


class Control(Customers):
    """Answers ``/_standin/…`` and ``/_media/…`` before the provider's API sees a request."""

    def _serve_own(self, handler: Handler) -> bool:
        """Answer ``/_standin/…`` and ``/_media/…``; False for any other path."""
        path = urlsplit(handler.path).path
        if not path.startswith((_PREFIX, MEDIA_PATH)):
            return False
        try:
            try:
                data = handler.read_limited(self.max_body_bytes, strict=True)
            except BodyError as exc:
                _answer(handler, exc.status, _reason(exc.reason))
                return True
            if path.startswith(MEDIA_PATH):
                self._serve_attachment(handler, path[len(MEDIA_PATH) :])
            elif path != CUSTOMER_MESSAGE_PATH:
                _answer(handler, HTTPStatus.NOT_FOUND, _reason("Not Found"))
            elif handler.command != "POST":
                _answer(
                    handler,
                    HTTPStatus.METHOD_NOT_ALLOWED,
                    _reason("Method Not Allowed"),
                    [("Allow", "POST")],
                )
            else:
                self._serve_customer_message(handler, data)
        except OSError:
            handler.close_connection = True
        except Exception as exc:
            handler.close_connection = True
            if not handler.replied:
                reason = f"Internal Server Error ({type(exc).__name__}: {exc})"
                _answer(handler, HTTPStatus.INTERNAL_SERVER_ERROR, _reason(reason))
        return True

    def _serve_attachment(self, handler: Handler, media_id: str) -> None:
        with self._cond:
            found = self._attachments.get(media_id)
        if handler.command not in {"GET", "HEAD"}:
            status = int(HTTPStatus.METHOD_NOT_ALLOWED)
            _answer(handler, status, _reason("Method Not Allowed"), [("Allow", "GET, HEAD")])
        elif found is None:
            status = int(HTTPStatus.NOT_FOUND)
            _answer(handler, status, _reason("Not Found"))
        else:
            status = found.status
            headers = [("Location", found.location)] if found.location else []
            handler.write(
                status, found.data, found.content_type, headers, head=handler.command == "HEAD"
            )
        download = AttachmentDownload(
            media_id=media_id,
            method=handler.command,
            headers=Headers(handler.headers.items()),
            http_status=status,
            received_at=time.monotonic(),
        )
        with self._cond:
            self._downloads.append(download)
            self._cond.notify_all()

    def _serve_customer_message(self, handler: Handler, data: bytes) -> None:
        try:
            body: Any = json.loads(data)
        except (ValueError, RecursionError):
            body = None
        if not isinstance(body, dict):
            _answer(handler, HTTPStatus.BAD_REQUEST, _reason("body must be a JSON object"))
            return
        try:
            message = self._admin_message(body)
        except (ValueError, TypeError) as exc:
            _answer(handler, HTTPStatus.BAD_REQUEST, _reason(str(exc)))
            return
        answer = {
            "id": message.message_id,
            "shape": message.shape,
            "method": message.method,
            "url": message.url,
            "redelivery": message.redelivery,
            "sent": message.payload,
            "status": message.http_status,
            "body": message.response_body.decode("utf-8", "replace"),
            "error": message.error,
        }
        # 502 when the app could not be reached, so `curl --fail` says so.
        status = HTTPStatus.BAD_GATEWAY if message.error else HTTPStatus.OK
        _answer(handler, status, answer)

    def _admin_message(self, body: dict[str, Any]) -> CustomerMessage:
        unknown = sorted(set(body) - _KEYS)
        if unknown:
            known = ", ".join(sorted(_KEYS))
            raise ValueError(f"unknown field {unknown[0]!r}; the fields are {known}")
        if "resend" in body:
            if len(body) != 1:
                raise ValueError("resend takes no other field")
            message_id = body["resend"]
            if not isinstance(message_id, str):
                raise ValueError("resend must be the id of a message sent before")
            try:
                return self.resend(message_id)
            except KeyError:
                raise ValueError(f"no customer message with id {message_id!r} was sent") from None
        for required in ("url", "user"):
            if required not in body:
                raise ValueError(f"{required} is required")
        items = body.get("attachments", [])
        if not isinstance(items, list):
            raise ValueError("attachments must be a list of objects")
        return self.customer_message(
            body["url"],
            user=body["user"],
            text=body.get("text", ""),
            shape=body.get("shape", "json"),
            name=body.get("name"),
            attachments=[self._admin_attachment(i, item) for i, item in enumerate(items)],
            message_id=body.get("message_id"),
            kind=body.get("kind"),
            owner=body.get("owner"),
            method=body.get("method"),
            date=body.get("date"),
            ts=body.get("ts"),
        )

    def _admin_attachment(self, index: int, item: object) -> dict[str, object]:
        """One attachment of the admin body; bytes given as ``base64`` are hosted here."""
        where = f"attachments[{index}]"
        if not isinstance(item, dict):
            raise ValueError(f"{where} must be an object")
        unknown = sorted(set(item) - _ATTACHMENT_KEYS)
        if unknown:
            known = ", ".join(sorted(_ATTACHMENT_KEYS))
            raise ValueError(f"{where} has an unknown field {unknown[0]!r}; the fields are {known}")
        if "base64" not in item:
            if "contentType" in item:
                raise ValueError(f"{where}.contentType goes with base64")
            return dict(item)
        if "url" in item:
            raise ValueError(f"{where} takes url or base64, not both")
        file_name = item.get("fileName")
        if not isinstance(file_name, str) or not file_name:
            raise ValueError(f"{where}.fileName is required with base64")
        content_type = item.get("contentType") or mimetypes.guess_type(file_name)[0]
        if not isinstance(content_type, str):
            raise ValueError(f"{where}.contentType is required (it cannot be guessed)")
        try:
            data = base64.b64decode(str(item["base64"]), validate=True)
        except (binascii.Error, ValueError):
            raise ValueError(f"{where}.base64 is not valid base64") from None
        attachment: dict[str, object] = {
            "url": self.host_attachment(data, file_name, content_type),
            "fileName": file_name,
        }
        if "caption" in item:
            attachment["caption"] = item["caption"]
        return attachment


def _answer(
    handler: Handler,
    status: int,
    payload: object,
    headers: Sequence[tuple[str, str]] = (),
) -> None:
    data = json.dumps(payload, ensure_ascii=False).encode()
    handler.write(int(status), data, "application/json", headers, head=handler.command == "HEAD")
