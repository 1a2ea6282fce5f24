"""Stand-in for the WhatsApp provider's notification API, served over HTTP on loopback.

It answers ``POST /notification`` the way the provider's page describes, records every
request, posts status callbacks in a sequence the caller chooses, can fetch media URLs as
the provider would (no redirects, at most 5 MB), and can inject faults (429, 5xx, hangs,
dropped connections, malformed answers) for the next sends. It also sends the app customer
messages (in the JSON shape or the older query shape, redeliveries too) and hosts their
attachments' bytes, from Python or from ``curl`` (``POST /_standin/customer-message``).

Faults queued with :meth:`ProviderStandIn.fail_next` are consumed by the next
``POST /notification`` requests in order, before authentication and validation.

``api`` answers the requests, ``callbacks`` posts the statuses and fetches media,
``faults`` holds the queued faults, ``customers`` sends customer messages and hosts their
attachments, ``control`` answers the stand-in's own routes (``/_standin/``, ``/_media/``),
``records`` what was received and done.
"""

from bot.sandbox.provider.api import (
    DEFAULT_API_KEY,
    MAX_TEXT_CHARS,
    MEDIA_TYPES,
    SUPPORTED_TYPES,
    ProviderStandIn,
    validation_error,
)
from bot.sandbox.provider.callbacks import DEFAULT_STATUSES
from bot.sandbox.provider.control import CUSTOMER_MESSAGE_PATH
from bot.sandbox.provider.customers import DEFAULT_OWNER, MEDIA_PATH, MESSAGE_KINDS, SHAPES
from bot.sandbox.provider.faults import FAULT_KINDS
from bot.sandbox.provider.records import (
    AttachmentDownload,
    CallbackAttempt,
    CustomerMessage,
    Headers,
    MediaFetch,
    RecordedRequest,
    SendRecord,
    StatusStep,
)

__all__ = [
    "CUSTOMER_MESSAGE_PATH",
    "DEFAULT_API_KEY",
    "DEFAULT_OWNER",
    "DEFAULT_STATUSES",
    "FAULT_KINDS",
    "MAX_TEXT_CHARS",
    "MEDIA_PATH",
    "MEDIA_TYPES",
    "MESSAGE_KINDS",
    "SHAPES",
    "SUPPORTED_TYPES",
    "AttachmentDownload",
    "CallbackAttempt",
    "CustomerMessage",
    "Headers",
    "MediaFetch",
    "ProviderStandIn",
    "RecordedRequest",
    "SendRecord",
    "StatusStep",
    "validation_error",
]
