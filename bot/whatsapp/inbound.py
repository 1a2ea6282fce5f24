"""Customer messages as the provider forwards them, parsed without any I/O.

Two shapes are known (see the spec's *Conversations*): a JSON object (`id`, `user`, `text`,
`date`, `extraInfo` with `type`, `attachments` and `contacts`), and the older query or form
parameters `mobile`, `mo`, `ts`, `shortcode`. Only the customer's number is required; the raw
body is kept by the caller whatever it holds.
"""

from __future__ import annotations

import hashlib
import json
import secrets
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl

from bot.core import phones
from bot.whatsapp.callbacks import clean

KINDS = ("text", "image", "video", "audio", "document", "location", "contacts", "sticker")
MAX_ATTACHMENTS = 10
MAX_TEXT_CHARS = 20_000
_MAX_FIELD = 500


class InboundInvalid(ValueError):
    """A body that is not a customer message in either shape; the caller answers 400."""


@dataclass(frozen=True)
class Attachment:
    url: str
    file_name: str | None = None
    caption: str | None = None


@dataclass(frozen=True)
class CustomerMessage:
    shape: str  # "json" or "query"
    dedup_key: str  # one customer message, however often the provider delivers it
    customer_raw: str  # the number as the provider wrote it
    customer: str | None  # in E.164; None when it cannot be read as a number
    number_problem: str | None
    text: str
    kind: str
    provider_id: str | None = None
    provider_date: str | None = None
    name: str | None = None
    attachments: tuple[Attachment, ...] = ()

    @property
    def number(self) -> str:
        """What a conversation is keyed by: the E.164 number, or the raw text if unreadable."""
        return self.customer or self.customer_raw


def parse_inbound(raw: bytes, content_type: str, query: str) -> CustomerMessage:
    """Read one customer message from the request's body and query string."""
    media_type = content_type.split(";", 1)[0].strip().lower()
    stripped = raw.lstrip()
    if media_type == "application/json" or stripped.startswith((b"{", b"[")):
        return _from_json(raw)
    params = dict(parse_qsl(query, keep_blank_values=True))
    if raw and media_type in ("application/x-www-form-urlencoded", ""):
        try:
            params.update(parse_qsl(raw.decode("utf-8"), keep_blank_values=True))
        except UnicodeDecodeError:
            raise InboundInvalid("the form body is not UTF-8") from None
    if "mobile" in params:
        return _from_params(params, raw, query)
    raise InboundInvalid(
        "the request is neither a JSON customer message (with `user`) nor the "
        "`mobile`/`mo` parameters of a forwarded one"
    )


def _from_json(raw: bytes) -> CustomerMessage:
    try:
        payload = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise InboundInvalid("the body is not JSON") from None
    except RecursionError:
        raise InboundInvalid("the body is JSON nested too deeply") from None
    if not isinstance(payload, dict):
        raise InboundInvalid("the body is JSON but not an object")
    user = _field(payload.get("user"))
    if not user:
        raise InboundInvalid("the JSON has no `user` (the customer's number)")
    extra = payload.get("extraInfo")
    extra = extra if isinstance(extra, dict) else {}
    attachments = _attachments(extra.get("attachments"))
    text = _text(payload.get("text"))
    kind = (_field(extra.get("type")) or "").lower()
    if kind not in KINDS:
        kind = "document" if attachments and not kind else (kind[:16] or "text")
    provider_id = _field(payload.get("id"))
    digest = hashlib.sha256(raw).hexdigest()
    customer, problem = _number(user)
    return CustomerMessage(
        shape="json",
        dedup_key=_id_key(provider_id) if provider_id else f"body:{digest}",
        customer_raw=user[:32],
        customer=customer,
        number_problem=problem,
        text=text,
        kind=kind,
        provider_id=provider_id,
        provider_date=_field(payload.get("date")),
        name=_name(extra.get("contacts")),
        attachments=attachments,
    )


def _from_params(params: dict[str, str], raw: bytes, query: str) -> CustomerMessage:
    mobile = clean(params.get("mobile", "").strip())[:_MAX_FIELD]
    if not mobile:
        raise InboundInvalid("the `mobile` parameter (the customer's number) is empty")
    text = _text(params.get("mo", ""))
    ts = clean(params.get("ts", "").strip())[:64] or None
    customer, problem = _number(mobile)
    # Number, text and time name one message; without a time, two alike are two messages.
    stamp = ts or secrets.token_hex(8)
    digest = hashlib.sha256(text.encode("utf-8")).hexdigest()[:32]
    return CustomerMessage(
        shape="query",
        dedup_key=f"mo:{customer or mobile[:32]}:{digest}:{stamp}",
        customer_raw=mobile[:32],
        customer=customer,
        number_problem=problem,
        text=text,
        kind="text",
        provider_date=ts,
    )


def _id_key(provider_id: str) -> str:
    """`id:<the provider's id>`, or its digest when it is too long to keep as a key."""
    if len(provider_id) <= 150:
        return f"id:{provider_id}"
    return "id#" + hashlib.sha256(provider_id.encode("utf-8")).hexdigest()


def _number(raw: str) -> tuple[str | None, str | None]:
    try:
        return phones.normalize(raw), None
    except phones.InvalidNumber as exc:
        return None, exc.why


def _field(value: Any) -> str | None:
    if isinstance(value, str) and value.strip():
        return clean(value.strip())[:_MAX_FIELD] or None
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return None


def _text(value: Any) -> str:
    if isinstance(value, str):
        return clean(value)[:MAX_TEXT_CHARS]
    return ""


def _attachments(value: Any) -> tuple[Attachment, ...]:
    if not isinstance(value, list):
        return ()
    found = []
    for item in value[:MAX_ATTACHMENTS]:
        if isinstance(item, dict) and (url := _field(item.get("url"))):
            found.append(
                Attachment(
                    url=url,
                    file_name=_field(item.get("fileName")),
                    caption=_text(item.get("caption"))[:_MAX_FIELD] or None,
                )
            )
    return tuple(found)


def _name(value: Any) -> str | None:
    if not isinstance(value, list):
        return None
    for contact in value:
        profile = contact.get("profile") if isinstance(contact, dict) else None
        if isinstance(profile, dict) and (name := _field(profile.get("name"))):
            return name[:100]
    return None
