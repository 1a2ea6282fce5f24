"""Check a media link from a slash command before the provider is asked to fetch it.

The provider downloads each media URL itself, does not follow redirects, and silently drops files
of 5 MB or more or of the wrong type. So before anything is sent, ``check_url`` fetches the link
the way the provider will and says, in words a Slack user can act on, what is wrong with it.

Fetching a URL that a user typed is also a server-side request forgery risk, so the check is
careful about where it connects:

1. Only ``http`` and ``https`` links, without user names or passwords, spaces or control
   characters, are considered.
2. The host name is resolved once (IP literals, ``[::1]`` included, are taken as they are). Every
   address it resolves to must be public (see ``is_public_address``) unless
   ``allow_private_hosts`` is set; otherwise nothing is connected to at all.
3. Every request then goes to the very address that was checked: the name is never resolved
   again, so DNS rebinding cannot swap in another address. The ``Host`` header carries the name
   from the link, and HTTPS is verified against that name (with SNI).
4. ``HEAD`` is asked first. Whatever it says, the first 64 KiB are then fetched with
   ``GET`` and ``Range: bytes=0-65535`` (the provider fetches with ``GET``, so that answer is the
   one that counts, and the content itself is checked, not only what the server claims it is).
   If no size is given anywhere, the body is read, streamed, up to the size limit to measure it.
5. Redirects are never followed; nothing but the first bytes (and, to measure an unannounced
   size, a count of the rest) is read; everything, DNS included, ends within ``timeout``
   seconds in total.

Every problem with the link is raised as ``MediaUrlRefused``; nothing else is raised for a URL
problem. Which links and addresses are refused is decided in ``bot.media.addresses``, the pinned
requests are made by ``bot.media.fetch``, and the words of the refusals are in
``bot.media.refusals``; this module puts them together.
"""

from __future__ import annotations

import http.client
import ssl
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import quote, urljoin, urlsplit

from bot.media.addresses import (
    PATH_SAFE,
    IPAddress,
    PublicTest,
    Target,
    is_public_address,
    not_public,
    parse_host,
    parse_link,
    refuse_private,
)
from bot.media.checks import MAX_MEDIA_BYTES, MediaKind, MediaRefused, check_prefix, sniff
from bot.media.fetch import (
    PREFIX_BYTES,
    Deadline,
    Expired,
    Resolver,
    Session,
    content_length_of,
    content_range_of,
    count_body,
    lookup,
    media_type_of,
    read_body,
    system_resolve,
)
from bot.media.refusals import (
    KIND_ACCEPTED,
    KIND_ACCEPTED_PLURAL,
    KIND_NOUN,
    MediaUrlRefused,
    described,
    empty_link,
    link_too_large,
    seconds,
    status_name,
    status_refusal,
)

__all__ = [
    "PREFIX_BYTES",
    "IPAddress",
    "MediaUrlRefused",
    "RemoteMedia",
    "check_url",
    "is_public_address",
]

_SHOWN_URL_CHARS = 200


@dataclass(frozen=True)
class RemoteMedia:
    """A media link the provider should be able to fetch."""

    url: str
    content_type: str
    """The type the server declares (lower case, without parameters); when it declares none, or
    only application/octet-stream, the type found in the content."""
    size: int | None
    """Bytes, from Content-Length or Content-Range, or counted when the server gave neither."""
    kind: MediaKind | None
    """The message type the content is, judged from the content itself."""
    address: str
    """The IP address that was checked and connected to."""


# --- names and addresses ---------------------------------------------------------------------


def _addresses(target: Target, resolve: Resolver, deadline: Deadline) -> list[IPAddress]:
    if target.literal is not None:
        return [target.literal]
    try:
        addresses = lookup(resolve, target.host, target.port, deadline)
    except Expired:
        raise MediaUrlRefused(
            f"Looking up the server name {target.host} took longer than "
            f"{seconds(deadline.seconds)}.",
            "Try again in a moment; if it keeps happening, check the link's server name.",
        ) from None
    except (OSError, UnicodeError, ValueError):
        addresses = []
    if not addresses:
        raise MediaUrlRefused(
            f"The server name {target.host} could not be found (DNS lookup failed).",
            "Check the link for typos; the site may also be down or no longer exist.",
        )
    return addresses


# --- content types ---------------------------------------------------------------------------

_DECLARED_TYPES: dict[MediaKind, tuple[str, ...]] = {
    MediaKind.IMAGE: ("image/jpeg", "image/png"),
    MediaKind.VIDEO: ("video/mp4", "video/3gpp"),
    MediaKind.AUDIO: ("audio/aac", "audio/mpeg", "audio/mp3", "audio/amr", "audio/x-aac"),
    MediaKind.DOCUMENT: ("application/pdf",),
}
_KIND_OF_TYPE = {t: kind for kind, types in _DECLARED_TYPES.items() for t in types}
_UNDECIDED_TYPES = frozenset({"application/octet-stream"})
"""Declared types that say nothing about the content: the content decides."""

_WEB_PAGE_TYPES = frozenset({"text/html", "application/xhtml+xml"})


def _check_declared(declared: str | None, expected: MediaKind | None) -> None:
    """Refuse a declared Content-Type that the provider will not take as ``expected``."""
    if declared is None or declared in _UNDECIDED_TYPES:
        return
    kind = _KIND_OF_TYPE.get(declared)
    if kind is not None and (expected is None or kind == expected):
        return
    wanted = KIND_NOUN[expected] if expected else "a media file"
    if declared in _WEB_PAGE_TYPES:
        raise MediaUrlRefused(
            f"The link opens a web page ({declared}), not {wanted}.",
            "Use a direct download link to the file itself, not a page that shows it (a "
            "sharing page of Google Drive, Dropbox and the like is a web page).",
        )
    if not declared:
        raise MediaUrlRefused(
            "The server sends this link with a malformed Content-Type.",
            "Fix the server's Content-Type for this file, or host the file elsewhere.",
        )
    if kind is not None and expected is not None:
        raise MediaUrlRefused(
            f"The server says this link is {described(declared)}, not {wanted}.",
            f"Send it as {KIND_NOUN[kind]} instead, or link to {KIND_ACCEPTED[expected]}.",
        )
    if expected is not None:
        types = _DECLARED_TYPES[expected]
        listed = ", ".join(types[:-1]) + " or " + types[-1] if len(types) > 1 else types[0]
        raise MediaUrlRefused(
            f"The server says this link is {described(declared)}, and the provider only takes "
            f"{KIND_ACCEPTED_PLURAL[expected]} (Content-Type {listed}).",
            f"Link to {KIND_ACCEPTED[expected]} instead, or fix the server's Content-Type.",
        )
    raise MediaUrlRefused(
        f"The server says this link is {described(declared)}, which the provider does not take.",
        "Link to a JPEG or PNG image, an MP4 video, an AAC, MP3 or AMR audio file, or a PDF.",
    )


def _shown_url(url: str) -> str:
    """A server-given URL made safe and short enough to quote to a user."""
    shown = quote(url, safe="".join(c for c in PATH_SAFE if c not in "<>\"'`|*_~"))
    if len(shown) > _SHOWN_URL_CHARS:
        shown = shown[: _SHOWN_URL_CHARS - 1] + "…"
    return shown


@dataclass(frozen=True)
class _Policy:
    allow_private_hosts: bool
    resolve: Resolver
    is_public: PublicTest
    expected_kind: MediaKind | None
    max_bytes: int


def _redirect_refusal(
    response: http.client.HTTPResponse, target: Target, policy: _Policy, deadline: Deadline
) -> MediaUrlRefused:
    name = status_name(response.status)
    location = (response.getheader("Location") or "").strip()
    if not location:
        return MediaUrlRefused(
            f"The link redirects ({name}) without saying where to, and the provider does not "
            "follow redirects anyway.",
            "Use the final, direct link to the file.",
        )
    try:
        destination = urljoin(target.url, location)
    except ValueError:
        destination = location
    shown = _shown_url(destination)
    private = None
    if not policy.allow_private_hosts:
        private = _private_destination(destination, policy, deadline)
    if private is not None:
        return MediaUrlRefused(
            f"The link redirects ({name}) to {shown}, {private}, and the provider does not "
            "follow redirects.",
            "Use a direct link to the file on a public web server.",
        )
    return MediaUrlRefused(
        f"The link redirects ({name}) to {shown}, and the provider does not follow redirects.",
        "Use the final, direct link instead: open the link in a browser and copy the address "
        "where the file opens.",
    )


def _private_destination(url: str, policy: _Policy, deadline: Deadline) -> str | None:
    """What non-public address a redirect leads to, if it can be told quickly; else None."""
    try:
        parts = urlsplit(url)
        if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
            return None
        host, literal = parse_host(parts.hostname, bracketed="[" in parts.netloc)
        port = parts.port or (443 if parts.scheme.lower() == "https" else 80)
        if literal is not None:
            addresses = [literal]
        else:
            addresses = lookup(policy.resolve, host, port, deadline)
    except (MediaUrlRefused, Expired, OSError, UnicodeError, ValueError):
        return None
    for address in addresses:
        if not policy.is_public(address):
            what = not_public(address) or "an address not treated as public"
            if literal is not None:
                return f"which is {what}"
            return f"whose server name leads to {address}, {what}"
    return None


def _failure(error: Exception, session: Session) -> MediaUrlRefused:
    """A network or protocol error, in words."""
    server = session.target.shown
    within = seconds(session.deadline.seconds)
    slow_hint = (
        "Check that the link opens quickly in a browser; the provider gives up on slow servers too."
    )
    if isinstance(error, Expired | TimeoutError) or session.deadline.expired:
        reason = {
            "connect": f"The server {server} did not accept a connection within {within}.",
            "tls": f"The secure (HTTPS) connection to {server} was not set up within {within}.",
            "answer": f"The server {server} did not answer within {within}.",
            "download": f"The server {server} did not send the file within {within}.",
        }[session.phase]
        return MediaUrlRefused(reason, slow_hint)
    if isinstance(error, ssl.SSLCertVerificationError):
        detail = (error.verify_message or "it could not be verified").rstrip(". ")
        return MediaUrlRefused(
            f"The server {server} has an HTTPS certificate that is not valid ({detail}).",
            "The provider will not trust it either: fix the server's certificate, or put the "
            "file on another server.",
        )
    if isinstance(error, ssl.SSLError):
        detail = (error.reason or "handshake failed").replace("_", " ").lower()
        return MediaUrlRefused(
            f"The secure (HTTPS) connection to {server} failed ({detail}).",
            "Check that the server really serves HTTPS at this address (or try http://), or "
            "put the file on another server.",
        )
    if isinstance(error, ConnectionRefusedError):
        return MediaUrlRefused(
            f"The server {server} refused the connection.",
            "Check the link (and its port number, if it has one); the server may be down.",
        )
    if isinstance(error, http.client.IncompleteRead):
        return MediaUrlRefused(
            f"The server {server} stopped sending the file before its end.",
            "Try again; if it keeps happening, put the file on another server.",
        )
    if isinstance(error, http.client.RemoteDisconnected):
        return MediaUrlRefused(
            f"The server {server} closed the connection without answering.",
            "Check that the link opens in a browser, or put the file on another server.",
        )
    if isinstance(error, http.client.HTTPException | ValueError):
        return MediaUrlRefused(
            f"The server {server} did not answer with valid HTTP.",
            "Check that the link is a web address of a file, or put the file on another server.",
        )
    detail = error.strerror if isinstance(error, OSError) and error.strerror else str(error)
    return MediaUrlRefused(
        f"The connection to {server} failed ({detail or type(error).__name__}).",
        "Check the link; the server may be down or not reachable from the internet.",
    )


# --- the check -------------------------------------------------------------------------------


def check_url(
    url: str,
    *,
    expected_kind: MediaKind | None,
    allow_private_hosts: bool = False,
    max_bytes: int = MAX_MEDIA_BYTES,
    timeout: float = 5.0,
    resolve: Callable[[str, int], list[str]] | None = None,
    is_public: Callable[[IPAddress], bool] | None = None,
) -> RemoteMedia:
    """Check that the provider can fetch ``url`` as ``expected_kind`` media, without sending it.

    Returns what was found; raises MediaUrlRefused, with a reason and a hint for the user, for
    anything that would make the provider fail or drop the message. ``expected_kind`` None lets
    the content decide the kind. Sizes of ``max_bytes`` or more are refused (the provider takes
    files "less than 5MB"). ``timeout`` bounds the whole check, DNS, connections and reads.
    ``resolve`` (host, port -> IP address strings; default ``socket.getaddrinfo``) and
    ``is_public`` (default ``is_public_address``) are for tests; ``allow_private_hosts`` turns
    the public-address rule off (for tests and closed networks only).
    """
    policy = _Policy(
        allow_private_hosts=allow_private_hosts,
        resolve=resolve or system_resolve,
        is_public=is_public or is_public_address,
        expected_kind=expected_kind,
        max_bytes=max_bytes,
    )
    session = open_session(url, policy, timeout)
    try:
        return _fetch(session, policy)
    except (Expired, OSError, http.client.HTTPException, ValueError) as error:
        raise _failure(error, session) from None


def open_session(url: str, policy: _Policy, timeout: float) -> Session:
    """A session with the link's server: its name resolved and, unless private hosts are
    allowed, its addresses checked, all within `timeout` (which bounds what follows too)."""
    deadline = Deadline(timeout)
    target = parse_link(url)
    addresses = _addresses(target, policy.resolve, deadline)
    if not policy.allow_private_hosts:
        refuse_private(target, addresses, policy.is_public)
    return Session(target, addresses, deadline)


def _fetch(session: Session, policy: _Policy) -> RemoteMedia:
    target, deadline, max_bytes = session.target, session.deadline, policy.max_bytes

    # HEAD: a redirect or a missing file ends the check; a size or type is noted.
    head_size: int | None = None
    head_type: str | None = None
    with session.request("HEAD") as response:
        status = response.status
        if 300 <= status <= 399:
            raise _redirect_refusal(response, target, policy, deadline)
        if status in (404, 410):
            raise status_refusal(status)
        if status == 200:
            head_type = media_type_of(response)
            head_size = content_length_of(response) or None  # 0 from HEAD is often wrong
        # Anything else (405, 501, 403, 400, a server error...): the GET below decides.
    _check_declared(head_type, policy.expected_kind)
    if head_size is not None and head_size >= max_bytes:
        raise link_too_large(head_size, max_bytes)

    # GET the first bytes, as the provider would fetch them.
    size: int | None = None
    with session.request("GET", ranged=True) as response:
        status = response.status
        if 300 <= status <= 399:
            raise _redirect_refusal(response, target, policy, deadline)
        if status == 416 and (content_range_of(response) or (None, None))[1] == 0:
            raise empty_link()
        if status not in (200, 206):
            raise status_refusal(status)
        get_type = media_type_of(response)
        declared = head_type if get_type is None else get_type
        _check_declared(declared, policy.expected_kind)
        announced = response.length  # this answer's body, from its Content-Length
        if status == 206:
            content_range = content_range_of(response)
            if content_range is None or content_range[0] != 0:
                raise MediaUrlRefused(
                    f"The server {target.shown} answered the request for the start of the file "
                    "with a malformed or different part of it.",
                    "Put the file on another server, or fix the server's range requests.",
                )
            size = content_range[1]
        else:
            size = content_length_of(response)
        if size is not None and size >= max_bytes:
            raise link_too_large(size, max_bytes)
        prefix, ended = read_body(response, PREFIX_BYTES, deadline)
        if announced is not None and len(prefix) < min(announced, PREFIX_BYTES):
            raise http.client.IncompleteRead(prefix, announced - len(prefix))
        if size is None and ended:
            size = len(prefix)  # the body ended before the 64 KiB asked for: that is the file
        if size is None and status == 200:
            size = len(prefix) + count_body(response, max_bytes - len(prefix), deadline)
            if size >= max_bytes:
                raise link_too_large(size, max_bytes, measured=True)
    if size is None:
        size = head_size
    if size is None:  # a 206 of unknown total: count the whole body
        size = _measure(session, policy)

    return _judge_content(prefix, size, declared, session, policy)


def _measure(session: Session, policy: _Policy) -> int:
    with session.request("GET") as response:
        if 300 <= response.status <= 399:
            raise _redirect_refusal(response, session.target, policy, session.deadline)
        if response.status != 200:
            raise status_refusal(response.status)
        size = content_length_of(response)
        if size is None:
            size = count_body(response, policy.max_bytes, session.deadline)
            if size >= policy.max_bytes:
                raise link_too_large(size, policy.max_bytes, measured=True)
    if size >= policy.max_bytes:
        raise link_too_large(size, policy.max_bytes)
    return size


def _judge_content(
    prefix: bytes, size: int, declared: str | None, session: Session, policy: _Policy
) -> RemoteMedia:
    found = sniff(prefix)
    try:
        accepted = check_prefix(
            prefix, total_size=size, expected_kind=policy.expected_kind, max_bytes=policy.max_bytes
        )
    except MediaRefused as refused:
        raise MediaUrlRefused(refused.reason, refused.hint) from None
    found = found or accepted
    kind = _KIND_OF_TYPE.get(found) or policy.expected_kind
    declared_kind = _KIND_OF_TYPE.get(declared or "")
    if declared_kind is not None and kind is not None and declared_kind != kind:
        raise MediaUrlRefused(
            f"The server says this link is {described(declared or '')}, but the file is "
            f"{described(found)}.",
            "Check that the link points at the right file, or fix the server's Content-Type.",
        )
    content_type = declared if declared and declared not in _UNDECIDED_TYPES else found
    return RemoteMedia(
        url=session.target.url,
        content_type=content_type,
        size=size,
        kind=kind,
        address=str(session.address),
    )
