"""Unguessable, signed tokens for the URLs the bot hands to the provider.

A token is 128 random bits plus an HMAC under `media.link_secret`, so a forged or garbled token
is refused by arithmetic, in constant time, before the database is asked.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

_RANDOM_BYTES = 16
_MAC_BYTES = 16


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def sign(secret: str, purpose: str, payload: str) -> str:
    """A short URL-safe MAC of `payload`, bound to `purpose` so tokens never cross uses."""
    mac = hmac.new(secret.encode(), f"{purpose}\x00{payload}".encode(), hashlib.sha256)
    return _b64(mac.digest()[:_MAC_BYTES])


def verify(secret: str, purpose: str, payload: str, signature: str) -> bool:
    return hmac.compare_digest(sign(secret, purpose, payload), signature)


def new_token(secret: str, purpose: str) -> str:
    """`<random>.<mac>`: 128 random bits, signed."""
    random_part = _b64(secrets.token_bytes(_RANDOM_BYTES))
    return f"{random_part}.{sign(secret, purpose, random_part)}"


def check_token(secret: str, purpose: str, token: str) -> bool:
    """True when the token is well-formed and was signed by this secret for this purpose."""
    if len(token) > 128 or not token.isascii():
        return False
    random_part, dot, signature = token.partition(".")
    if not dot or not random_part or not signature:
        return False
    return verify(secret, purpose, random_part, signature)


INBOUND_PURPOSE = "inbound"


def sender_token(secret: str, alias: str) -> str:
    """The token of a sender's inbound URL: `<alias>.<mac>`, the same on every instance and
    every start, so the URL given to the provider keeps working."""
    return f"{alias}.{sign(secret, INBOUND_PURPOSE, alias)}"


def sender_of_token(secret: str, token: str) -> str | None:
    """The sender alias an inbound token was signed for, or None for a forged or garbled one."""
    if len(token) > 200 or not token.isascii():
        return None
    alias, dot, signature = token.rpartition(".")
    if not dot or not alias or not signature:
        return None
    return alias if verify(secret, INBOUND_PURPOSE, alias, signature) else None
