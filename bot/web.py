"""The WSGI application: Slack's one URL beside the bot's own routes.

Bodies are size-checked before anything parses them; an unexpected error is logged with its
traceback and answered with a plain 500, never a traceback.
"""

from __future__ import annotations

import hmac
import json
import logging
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from slack_bolt import App
from slack_bolt.request import BoltRequest
from slack_sdk.signature import SignatureVerifier

from bot.core.logs import redact
from bot.usecases.metrics import CONTENT_TYPE as METRICS_CONTENT_TYPE
from bot.usecases.sending import PROVIDER_AUTH_FLAG
from bot.usecases.services import Services

logger = logging.getLogger(__name__)

StartResponse = Callable[..., Any]
Environ = dict[str, Any]

MAX_SLACK_BODY = 1_000_000
# Slack's headers: seconds since the epoch, and `v0=` with a hex SHA-256 HMAC.
_TIMESTAMP = re.compile(r"[0-9]{1,12}")
_SIGNATURE = re.compile(r"v0=[0-9a-f]{64}")
MAX_CALLBACK_BODY = 64 * 1024


@dataclass
class Response:
    status: int
    body: bytes = b""
    headers: list[tuple[str, str]] = field(default_factory=list)
    stream: Iterable[bytes] | None = None  # a large body, sent as it is read

    @classmethod
    def json(cls, status: int, payload: Any) -> Response:
        body = json.dumps(payload).encode()
        return cls(status, body, [("Content-Type", "application/json")])


class BodyTooLarge(Exception):
    pass


class BadBody(Exception):
    pass


_REASONS = {
    200: "OK",
    202: "Accepted",
    204: "No Content",
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    411: "Length Required",
    413: "Payload Too Large",
    500: "Internal Server Error",
    503: "Service Unavailable",
}


def read_body(environ: Environ, limit: int) -> bytes:
    """The request body, refusing more than `limit` bytes before reading them all."""
    length_header = environ.get("CONTENT_LENGTH") or ""
    stream = environ["wsgi.input"]
    if length_header:
        try:
            length = int(length_header)
        except ValueError:
            raise BadBody("Content-Length is not a number") from None
        if length < 0:
            raise BadBody("Content-Length is negative")
        if length > limit:
            raise BodyTooLarge
        return _read(stream, length)
    data = _read(stream, limit + 1)
    if len(data) > limit:
        raise BodyTooLarge
    return data


def _read(stream: Any, size: int) -> bytes:
    """Read from the server's input; a broken body (bad chunking, a reset) is the client's."""
    try:
        return bytes(stream.read(size))
    except (OSError, ValueError) as exc:
        raise BadBody(f"the body could not be read ({type(exc).__name__})") from None
    except Exception as exc:
        # gunicorn's parse errors (InvalidChunkSize…) derive from Exception only.
        if type(exc).__module__.startswith("gunicorn.http"):
            raise BadBody(f"the body could not be read ({type(exc).__name__})") from None
        raise


class WebApp:
    """Routes: POST /slack/events, POST /whatsapp/callbacks/<token>, POST|GET
    /whatsapp/inbound/<token>, GET|HEAD /media/<token>,
    GET /healthz, GET /metrics."""

    def __init__(self, *, bolt: App, services: Services) -> None:
        self.bolt = bolt
        self.services = services
        self._verifier = SignatureVerifier(services.config.slack.signing_secret)

    def close(self) -> None:
        """Stop the app's background work (see `Services.close`)."""
        self.services.close()

    def __call__(self, environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
        try:
            response = self.route(environ)
        except BodyTooLarge:
            response = Response.json(413, {"error": "request body too large"})
        except BadBody as exc:
            response = Response.json(400, {"error": str(exc)})
        except Exception:
            logger.exception(
                "Failed to handle %s %s",
                environ.get("REQUEST_METHOD"),
                redact(str(environ.get("PATH_INFO"))),  # callback and media URLs are secrets
            )
            response = Response.json(500, {"error": "internal error"})
        reason = _REASONS.get(response.status, "")
        headers = response.headers
        if not any(name.lower() == "content-length" for name, _ in headers):
            headers = [*headers, ("Content-Length", str(len(response.body)))]
        start_response(f"{response.status} {reason}", headers)
        if environ.get("REQUEST_METHOD") == "HEAD":
            return [b""]
        if response.stream is not None:
            return response.stream
        return [response.body]

    def route(self, environ: Environ) -> Response:
        method = environ.get("REQUEST_METHOD", "GET")
        path = environ.get("PATH_INFO", "") or "/"
        if path == "/slack/events":
            return self._only(method, "POST") or self.slack(environ)
        if path.startswith("/whatsapp/callbacks/"):
            token = path.removeprefix("/whatsapp/callbacks/")
            return self._only(method, "POST") or self.callback(environ, token)
        if path.startswith("/whatsapp/inbound/"):
            token = path.removeprefix("/whatsapp/inbound/")
            return self._only(method, "POST", "GET") or self.inbound(environ, token)
        if path.startswith("/media/"):
            return self._only(method, "GET", "HEAD") or self.media(method, path[7:])
        if path == "/healthz":
            return self._only(method, "GET", "HEAD") or self.health()
        if path == "/metrics":
            return self._only(method, "GET", "HEAD") or self.metrics(environ)
        return Response.json(404, {"error": "not found"})

    @staticmethod
    def _only(method: str, *allowed: str) -> Response | None:
        if method in allowed:
            return None
        response = Response.json(405, {"error": f"use {' or '.join(allowed)}"})
        response.headers.append(("Allow", ", ".join(allowed)))
        return response

    def slack(self, environ: Environ) -> Response:
        raw = read_body(environ, MAX_SLACK_BODY)
        try:
            body = raw.decode("utf-8")
        except UnicodeDecodeError:
            raise BadBody("the body is not UTF-8") from None
        headers = _headers(environ)
        # Checked here, before Bolt parses anything: an unsigned body never reaches a parser.
        if not self._signed(body, headers):
            return Response.json(401, {"error": "invalid Slack signature or timestamp"})
        try:
            request = BoltRequest(body=body, query=environ.get("QUERY_STRING", ""), headers=headers)
        except (ValueError, TypeError, KeyError, AttributeError) as exc:
            raise BadBody(f"the body is not a Slack request ({type(exc).__name__})") from None
        bolt_response = self.bolt.dispatch(request)
        answer_headers = [
            (k, v)
            for k, values in bolt_response.headers.items()
            for v in values
            if k.lower() != "content-length"
        ]
        return Response(bolt_response.status, bolt_response.body.encode("utf-8"), answer_headers)

    def _signed(self, body: str, headers: dict[str, str | Sequence[str]]) -> bool:
        timestamp = str(headers.get("x-slack-request-timestamp") or "")
        signature = str(headers.get("x-slack-signature") or "")
        # Shapes checked before the verifier sees them: it would raise on a timestamp past
        # Python's int-string limit, and on a signature that is not ASCII.
        if not _TIMESTAMP.fullmatch(timestamp) or not _SIGNATURE.fullmatch(signature):
            return False
        return self._verifier.is_valid(body=body, timestamp=timestamp, signature=signature)

    def callback(self, environ: Environ, token: str) -> Response:
        raw = read_body(environ, MAX_CALLBACK_BODY)
        answer = self.services.intake.receive(token, raw)
        return Response.json(answer.status, answer.body)

    def inbound(self, environ: Environ, token: str) -> Response:
        """A customer's message: an empty 200 once kept (the provider's older form shows a
        body to the customer); the token is checked before the body is read."""
        if self.services.inbound.sender_of(token) is None:
            return Response.json(404, {"error": "unknown inbound URL"})
        raw = read_body(environ, self.services.config.conversations.max_inbound_bytes)
        answer = self.services.inbound.receive(
            token,
            raw,
            str(environ.get("CONTENT_TYPE") or ""),
            str(environ.get("QUERY_STRING") or ""),
        )
        if answer.error is not None:
            return Response.json(answer.status, {"error": answer.error})
        return Response(answer.status, b"", [("Content-Type", "text/plain; charset=utf-8")])

    def media(self, method: str, token: str) -> Response:
        answer = self.services.media.serve(token, head=method == "HEAD")
        return Response(answer.status, answer.body, list(answer.headers), answer.stream)

    def health(self) -> Response:
        try:
            self.services.store.ping()
            schema = self.services.store.schema_status()
        except Exception:
            logger.exception("Failed to reach the database for /healthz")
            return Response.json(503, {"ok": False, "database": "unreachable"})
        if not schema.current:
            return Response.json(503, {"ok": False, "database": "ok", "schema": schema.describe()})
        refused = self.services.store.get_flag(PROVIDER_AUTH_FLAG)
        if refused is not None:
            return Response.json(
                503,
                {
                    "ok": False,
                    "database": "ok",
                    "schema": "ok",
                    "provider": f"the provider refused the API key ({refused}); "
                    "check whatsapp.api_key",
                },
            )
        slack = self.services.slack_health.status()
        if not slack.healthy:
            return Response.json(
                503, {"ok": False, "database": "ok", "schema": "ok", "slack": slack.text}
            )
        return Response.json(
            200, {"ok": True, "database": "ok", "schema": "ok", "slack": slack.text}
        )

    def metrics(self, environ: Environ) -> Response:
        token = self.services.config.metrics.token
        if token is not None and not _bearer(environ, token):
            response = Response.json(401, {"error": "send Authorization: Bearer <metrics.token>"})
            response.headers.append(("WWW-Authenticate", 'Bearer realm="metrics"'))
            return response
        body = self.services.metrics.exposition()
        return Response(
            200, body, [("Content-Type", METRICS_CONTENT_TYPE), ("Cache-Control", "no-store")]
        )


def _bearer(environ: Environ, token: str) -> bool:
    """Whether the request's `Authorization` is `Bearer <token>`, compared in constant time."""
    scheme, _, credentials = str(environ.get("HTTP_AUTHORIZATION") or "").strip().partition(" ")
    # WSGI hands headers over as latin-1 text: encoded back, they are the bytes that came in.
    given = credentials.strip().encode("latin-1", errors="replace")
    return scheme.lower() == "bearer" and hmac.compare_digest(given, token.encode("utf-8"))


def _headers(environ: Environ) -> dict[str, str | Sequence[str]]:
    headers: dict[str, str | Sequence[str]] = {
        key[5:].replace("_", "-").lower(): str(value)
        for key, value in environ.items()
        if key.startswith("HTTP_")
    }
    if environ.get("CONTENT_TYPE"):
        headers["content-type"] = str(environ["CONTENT_TYPE"])
    return headers
