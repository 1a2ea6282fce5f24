"""Stand-in for the WhatsApp provider's notification API, served over HTTP on loopback.

It answers ``POST /notification`` the way the provider's page describes, records every
request, posts status callbacks in a sequence the caller chooses, can fetch media URLs as
the provider would (no redirects, at most 5 MB), and can inject faults (429, 5xx, hangs,
dropped connections, malformed answers) for the next sends.

Faults queued with :meth:`ProviderStandIn.fail_next` are consumed by the next
``POST /notification`` requests in order, before authentication and validation.

``api`` answers the requests, ``callbacks`` posts the statuses and fetches media,
``faults`` holds the queued faults, ``records`` what was received and done.
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
from bot.sandbox.provider.faults import FAULT_KINDS
from bot.sandbox.provider.records import (
    CallbackAttempt,
    Headers,
    MediaFetch,
    RecordedRequest,
    SendRecord,
    StatusStep,
)

__all__ = [
    "DEFAULT_API_KEY",
    "DEFAULT_STATUSES",
    "FAULT_KINDS",
    "MAX_TEXT_CHARS",
    "MEDIA_TYPES",
    "SUPPORTED_TYPES",
    "CallbackAttempt",
    "Headers",
    "MediaFetch",
    "ProviderStandIn",
    "RecordedRequest",
    "SendRecord",
    "StatusStep",
    "validation_error",
]
