"""Which links and addresses the bot may fetch media from, and why the others are refused.

A link must be ``http`` or ``https``, without user names or passwords, spaces or control
characters, and its server name must be a valid (IDNA) host name or an IP literal. Every address
it leads to must be public (see ``is_public_address``); which addresses are not, and what each
one is, is said here. Nothing here connects to anything.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeAlias
from urllib.parse import quote, urlsplit

from bot.media.refusals import MediaUrlRefused

__all__ = [
    "PATH_SAFE",
    "IPAddress",
    "PublicTest",
    "Target",
    "is_public_address",
    "not_public",
    "parse_host",
    "parse_link",
    "refuse_private",
]

IPAddress: TypeAlias = ipaddress.IPv4Address | ipaddress.IPv6Address
PublicTest: TypeAlias = Callable[[IPAddress], bool]


# --- which addresses are public -------------------------------------------------------------

_LOOPBACK = "a loopback address (the bot's own machine)"
_PRIVATE = "a private network address"
_LINK_LOCAL = "a link-local address"
_METADATA = "the cloud metadata service address"
_MULTICAST = "a multicast address"
_RESERVED = "a reserved address"
_DOCUMENTATION = "an address reserved for documentation"

_V4 = ipaddress.IPv4Network
_V6 = ipaddress.IPv6Network

_NOT_PUBLIC_V4: tuple[tuple[ipaddress.IPv4Network, str], ...] = (
    (_V4("0.0.0.0/8"), "an unspecified address (0.0.0.0/8)"),
    (_V4("10.0.0.0/8"), _PRIVATE),
    (_V4("100.64.0.0/10"), "a carrier-grade NAT (shared) address"),
    (_V4("127.0.0.0/8"), _LOOPBACK),
    (_V4("169.254.169.254/32"), _METADATA),
    (_V4("169.254.0.0/16"), _LINK_LOCAL),
    (_V4("172.16.0.0/12"), _PRIVATE),
    (_V4("192.0.0.0/24"), _RESERVED),  # IETF protocol assignments (and some cloud metadata)
    (_V4("192.0.2.0/24"), _DOCUMENTATION),
    (_V4("192.88.99.0/24"), _RESERVED),  # the former 6to4 relay anycast
    (_V4("192.168.0.0/16"), _PRIVATE),
    (_V4("198.18.0.0/15"), "a network benchmarking address"),
    (_V4("198.51.100.0/24"), _DOCUMENTATION),
    (_V4("203.0.113.0/24"), _DOCUMENTATION),
    (_V4("224.0.0.0/4"), _MULTICAST),
    (_V4("240.0.0.0/4"), _RESERVED),  # and the broadcast address 255.255.255.255
)

_NAT64 = _V6("64:ff9b::/96")
_SIX_TO_FOUR = _V6("2002::/16")
_TEREDO = _V6("2001::/32")
_GLOBAL_UNICAST = _V6("2000::/3")

_NOT_PUBLIC_V6: tuple[tuple[ipaddress.IPv6Network, str], ...] = (
    (_V6("::/128"), "an unspecified address (::)"),
    (_V6("::1/128"), _LOOPBACK),
    (_V6("::ffff:0:0/96"), "an IPv4-mapped IPv6 address"),
    (_V6("::/96"), "an IPv4-compatible IPv6 address"),
    (_V6("::ffff:0:0:0/96"), "an IPv4-translated IPv6 address"),
    (_V6("64:ff9b:1::/48"), "a local-use NAT64 address"),
    (_V6("100::/64"), "a discard-only address"),
    (_V6("2001::/23"), _RESERVED),  # IETF protocol assignments (Teredo is judged before)
    (_V6("2001:db8::/32"), _DOCUMENTATION),
    (_V6("3fff::/20"), _DOCUMENTATION),
    (_V6("fd00:ec2::254/128"), _METADATA),
    (_V6("fc00::/7"), "a unique local (private) address"),
    (_V6("fe80::/10"), _LINK_LOCAL),
    (_V6("fec0::/10"), "a site-local (private) address"),
    (_V6("ff00::/8"), _MULTICAST),
)


def is_public_address(address: IPAddress) -> bool:
    """Whether ``address`` is a public unicast address that the bot may connect to.

    Not public: loopback, private (10/8, 172.16/12, 192.168/16, fc00::/7), link-local, cloud
    metadata, carrier-grade NAT (100.64/10), multicast, reserved, unspecified, 0.0.0.0/8,
    documentation and benchmarking ranges, IPv4-mapped, -compatible and -translated IPv6, and
    NAT64, 6to4 and Teredo addresses that embed a non-public IPv4 address. In IPv6 only global
    unicast (2000::/3) can be public. Never raises for an IPv4Address or IPv6Address.
    """
    return not_public(address) is None


def not_public(address: IPAddress) -> str | None:
    """What kind of non-public address ``address`` is, as a noun phrase; None if it is public."""
    if isinstance(address, ipaddress.IPv4Address):
        for network, what in _NOT_PUBLIC_V4:
            if address in network:
                return what
        return None
    address = ipaddress.IPv6Address(int(address))  # without any %scope
    embedded: tuple[ipaddress.IPv4Address, ...] = ()
    name = ""
    if address in _NAT64:
        embedded, name = (ipaddress.IPv4Address(int(address) & 0xFFFF_FFFF),), "NAT64"
    elif address in _SIX_TO_FOUR and address.sixtofour is not None:
        embedded, name = (address.sixtofour,), "6to4"
    elif address in _TEREDO and address.teredo is not None:
        embedded, name = address.teredo, "Teredo"
    if name:
        for inner in embedded:
            inner_kind = not_public(inner)
            if inner_kind is not None:
                return f"a {name} address for {inner}, {inner_kind}"
        return None
    for network6, label in _NOT_PUBLIC_V6:
        if address in network6:
            if address.ipv4_mapped is not None:
                return f"{label} (for {address.ipv4_mapped})"
            return label
    if address not in _GLOBAL_UNICAST:
        return _RESERVED
    return None


# --- the link --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Target:
    url: str
    https: bool
    host: str
    """ASCII: a lower-case IDNA name, or an IP address without brackets."""
    port: int
    request_path: str
    literal: IPAddress | None

    @property
    def host_header(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        default = 443 if self.https else 80
        return host if self.port == default else f"{host}:{self.port}"

    @property
    def shown(self) -> str:
        """The server as named in sentences."""
        return self.host_header


_URL_HINT = "Paste the direct link to the file, starting with https://."
_NAME = re.compile(r"[a-z0-9_](?:[a-z0-9_.-]*[a-z0-9_.])?")
# Printable ASCII but space: kept as is in the request target, everything else percent-encoded.
PATH_SAFE = "".join(chr(c) for c in range(0x21, 0x7F))


def parse_link(url: str) -> Target:
    text = url.strip()
    if not text:
        raise MediaUrlRefused("No link was given.", _URL_HINT)
    if any(c.isspace() or not c.isprintable() for c in text) or "\\" in text:
        raise MediaUrlRefused(
            "The link contains spaces, backslashes or invisible characters, so it is not a "
            "valid web address.",
            "Copy the link again from the browser's address bar (spaces must be written %20).",
        )
    try:
        parts = urlsplit(text)
        port = parts.port
    except ValueError:
        raise MediaUrlRefused(
            "The link is not a valid web address (check its server name and port number).",
            _URL_HINT,
        ) from None
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https"):
        if scheme and len(scheme) <= 20 and "//" in text:
            reason = f"The link starts with {scheme}://, and the provider only fetches http:// "
            reason += "and https:// links."
        else:
            reason = "The link does not start with http:// or https://."
        raise MediaUrlRefused(reason, _URL_HINT)
    if parts.username is not None or parts.password is not None:
        raise MediaUrlRefused(
            "The link contains a user name or password before the server name.",
            "Use a link that opens without signing in: the provider cannot sign in, and a "
            "password in a link is visible to everyone who sees it.",
        )
    if not parts.hostname:
        raise MediaUrlRefused("The link has no server name.", _URL_HINT)
    if port == 0:
        raise MediaUrlRefused("The link's port number (0) is not valid.", _URL_HINT)
    https = scheme == "https"
    host, literal = parse_host(parts.hostname, bracketed=parts.netloc.rpartition("@")[2][:1] == "[")
    path = parts.path or "/"
    if parts.query:
        path += "?" + parts.query
    return Target(
        url=text,
        https=https,
        host=host,
        port=port or (443 if https else 80),
        request_path=quote(path, safe=PATH_SAFE),
        literal=literal,
    )


def parse_host(hostname: str, *, bracketed: bool) -> tuple[str, IPAddress | None]:
    invalid = MediaUrlRefused(
        "The server name in the link is not valid.", "Check the link for typos. " + _URL_HINT
    )
    if bracketed:
        if "%" in hostname:  # a zone, as in [fe80::1%25eth0]: only meaningful on a local network
            raise invalid
        try:
            return hostname, ipaddress.IPv6Address(hostname)
        except ValueError:
            raise invalid from None
    try:
        return hostname, ipaddress.IPv4Address(hostname)
    except ValueError:
        pass
    try:
        name = hostname.encode("idna").decode("ascii").lower()
    except UnicodeError:
        raise invalid from None
    if not _NAME.fullmatch(name) or ".." in name or len(name) > 253:
        raise invalid
    return name, None


# --- refusing what is not public -------------------------------------------------------------


def refuse_private(target: Target, addresses: list[IPAddress], is_public: PublicTest) -> None:
    for address in addresses:
        if is_public(address):
            continue
        what = not_public(address) or "an address not treated as public"
        if target.literal is not None:
            reason = f"The link points to {address}, {what}, not to a public server."
        else:
            reason = (
                f"The server name {target.host} leads to {address}, {what}, not to a public server."
            )
        raise MediaUrlRefused(
            reason,
            "The provider can only fetch files from public web servers: put the file on one "
            "and use that link.",
        )
