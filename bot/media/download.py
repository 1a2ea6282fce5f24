"""Downloading a whole file from a URL (a customer's attachment, from the provider), with the
same rules as checking a media link: public addresses only, no redirects, a size limit and one
deadline for DNS, connections and reads."""

from __future__ import annotations

import http.client
from collections.abc import Callable
from dataclasses import dataclass

from bot.media.addresses import IPAddress, is_public_address
from bot.media.checks import MAX_MEDIA_BYTES, sniff
from bot.media.fetch import (
    Expired,
    content_length_of,
    media_type_of,
    read_body,
    system_resolve,
)
from bot.media.refusals import empty_link, link_too_large, status_refusal
from bot.media.remote import _failure, _Policy, _redirect_refusal, open_session


@dataclass(frozen=True)
class Downloaded:
    data: bytes
    content_type: str


def download_url(
    url: str,
    *,
    allow_private_hosts: bool = False,
    max_bytes: int = MAX_MEDIA_BYTES,
    timeout: float = 10.0,
    resolve: Callable[[str, int], list[str]] | None = None,
    is_public: Callable[[IPAddress], bool] | None = None,
) -> Downloaded:
    """The file at `url`, or MediaUrlRefused saying why not (as `check_url` words it)."""
    policy = _Policy(
        allow_private_hosts=allow_private_hosts,
        resolve=resolve or system_resolve,
        is_public=is_public or is_public_address,
        expected_kind=None,
        max_bytes=max_bytes,
    )
    session = open_session(url, policy, timeout)
    target, deadline = session.target, session.deadline
    try:
        with session.request("GET") as response:
            if 300 <= response.status <= 399:
                raise _redirect_refusal(response, target, policy, deadline)
            if response.status != 200:
                raise status_refusal(response.status)
            size = content_length_of(response)
            if size is not None and size >= max_bytes:
                raise link_too_large(size, max_bytes)
            data, ended = read_body(response, max_bytes, deadline)
            if not ended:
                raise link_too_large(len(data), max_bytes, measured=True)
            if size is not None and len(data) < size:
                raise http.client.IncompleteRead(data, size - len(data))
            if not data:
                raise empty_link()
            declared = media_type_of(response)
    except (Expired, OSError, http.client.HTTPException, ValueError) as error:
        raise _failure(error, session) from None
    content_type = declared or sniff(data) or "application/octet-stream"
    return Downloaded(data=data, content_type=content_type)
