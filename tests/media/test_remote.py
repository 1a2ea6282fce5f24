"""bot.media.remote against small HTTP(S) servers on loopback; nothing outside is contacted.

Functional cases run with ``allow_private_hosts=True`` (the servers are on 127.0.0.1). The
address guard runs with it off, and proves that nothing was connected to. Names other than
``localhost`` are only ever resolved by resolvers injected here.
"""

from __future__ import annotations

import io
import ipaddress
import random
import re
import socket
import socketserver
import ssl
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from http import HTTPStatus
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from PIL import Image

from bot.media.checks import MediaKind
from bot.media.remote import (
    PREFIX_BYTES,
    IPAddress,
    MediaUrlRefused,
    RemoteMedia,
    check_url,
    is_public_address,
)

IMAGE, VIDEO, AUDIO, DOCUMENT = (
    MediaKind.IMAGE,
    MediaKind.VIDEO,
    MediaKind.AUDIO,
    MediaKind.DOCUMENT,
)

# --- files -----------------------------------------------------------------------------------


def _image_bytes(fmt: str, size: tuple[int, int] = (24, 16), *, noise: bool = False) -> bytes:
    if noise:
        pixels = random.Random(7).randbytes(size[0] * size[1] * 3)
        image = Image.frombytes("RGB", size, pixels)
    else:
        image = Image.new("RGB", size, (200, 40, 90))
    out = io.BytesIO()
    image.save(out, fmt)
    return out.getvalue()


PNG = _image_bytes("PNG")
JPEG = _image_bytes("JPEG")
GIF = _image_bytes("GIF")
BIG_PNG = _image_bytes("PNG", (220, 220), noise=True)  # well over the 64 KiB that is fetched first
PDF = (
    b"%PDF-1.4\n1 0 obj\n<< /Type /Catalog /Pages 2 0 R >>\nendobj\n"
    b"2 0 obj\n<< /Type /Pages /Kids [] /Count 0 >>\nendobj\n"
    b"trailer\n<< /Root 1 0 R >>\n%%EOF\n"
)
SIX_MB = 6_000_000


def test_fixtures_are_what_they_claim() -> None:
    assert PNG.startswith(b"\x89PNG") and JPEG.startswith(b"\xff\xd8") and GIF.startswith(b"GIF")
    assert len(BIG_PNG) > PREFIX_BYTES


# --- servers ---------------------------------------------------------------------------------


@dataclass
class Seen:
    method: str
    path: str
    headers: dict[str, str]


@dataclass
class Reply:
    status: int = 200
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytes = b""
    stream: Iterable[bytes] | None = None
    """Sent after ``body`` (for GET), with no length: the connection's end ends it."""
    raw: bytes | None = None
    """Sent as is instead of a proper HTTP answer."""
    hang: bool = False
    drip: bool = False
    """Send the status line one byte at a time, forever."""


Respond = Callable[[Seen], Reply]


class Server:
    """A threaded HTTP/1.1 server on loopback that records what it was asked."""

    def __init__(
        self, respond: Respond, host: str = "127.0.0.1", tls: ssl.SSLContext | None = None
    ) -> None:
        self.respond = respond
        self.host = host
        self.tls = tls
        self.requests: list[Seen] = []
        self.connections = 0
        self.server_names: list[str | None] = []
        self.stopping = threading.Event()
        self._lock = threading.Lock()
        owner = self

        class Handler(socketserver.BaseRequestHandler):
            def handle(self) -> None:
                owner._handle(self.request)

        class TCPServer(socketserver.ThreadingTCPServer):
            allow_reuse_address = True
            daemon_threads = True
            block_on_close = False

        self._server = TCPServer((host, 0), Handler)
        self.port: int = self._server.server_address[1]
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )
        self._thread.start()

    def url(self, path: str = "/media/file", *, scheme: str = "http", host: str = "") -> str:
        return f"{scheme}://{host or self.host}:{self.port}{path}"

    @property
    def methods(self) -> list[str]:
        return [seen.method for seen in self.requests]

    def close(self) -> None:
        self.stopping.set()
        self._server.shutdown()
        self._server.server_close()

    def _handle(self, sock: socket.socket) -> None:
        with self._lock:
            self.connections += 1
        sock.settimeout(5)
        try:
            if self.tls is not None:
                sock = self.tls.wrap_socket(sock, server_side=True)
            self._exchange(sock)
        except (OSError, ValueError):
            pass  # the client went away (as it does once it has read enough), or TLS failed

    def _exchange(self, sock: socket.socket) -> None:
        stream = sock.makefile("rb")
        request_line = stream.readline(65537).decode("latin-1").rstrip("\r\n")
        headers: dict[str, str] = {}
        while (line := stream.readline(65537).decode("latin-1").rstrip("\r\n")) != "":
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        method, path, _ = request_line.split(" ", 2)
        seen = Seen(method, path, headers)
        with self._lock:
            self.requests.append(seen)
        reply = self.respond(seen)
        if reply.hang:
            self.stopping.wait(10)
            return
        if reply.drip:
            while not self.stopping.is_set():
                sock.sendall(b"H")
                time.sleep(0.05)
            return
        if reply.raw is not None:
            sock.sendall(reply.raw)
            return
        try:
            phrase = HTTPStatus(reply.status).phrase
        except ValueError:
            phrase = "Whatever"
        head = [f"HTTP/1.1 {reply.status} {phrase}", *(f"{k}: {v}" for k, v in reply.headers)]
        head.append("Connection: close")
        sock.sendall(("\r\n".join(head) + "\r\n\r\n").encode("latin-1"))
        if method == "HEAD":
            return
        sock.sendall(reply.body)
        for chunk in reply.stream or ():
            sock.sendall(chunk)


@pytest.fixture
def serve() -> Iterator[Callable[..., Server]]:
    servers: list[Server] = []

    def start(
        respond: Respond, host: str = "127.0.0.1", tls: ssl.SSLContext | None = None
    ) -> Server:
        try:
            server = Server(respond, host, tls)
        except OSError as error:
            pytest.skip(f"cannot listen on {host}: {error}")
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.close()


def serve_file(
    body: bytes,
    content_type: str | None,
    *,
    head_status: int = 200,
    ranges: bool = True,
    length: bool = True,
    head_length: int | None = None,
    total: int | None = None,
) -> Respond:
    """A file the way a web server serves it, with knobs for the ways servers get it wrong.

    ``head_status`` answers HEAD; ``ranges`` False ignores Range; ``length`` False gives no
    Content-Length (and ``*`` as the Content-Range total); ``head_length`` and ``total`` are
    lies told in HEAD's Content-Length and in the Content-Range total.
    """

    def respond(seen: Seen) -> Reply:
        typed = [("Content-Type", content_type)] if content_type else []
        if seen.method == "HEAD":
            if head_status != 200:
                return Reply(head_status)
            size = len(body) if head_length is None else head_length
            return Reply(200, typed + ([("Content-Length", str(size))] if length else []))
        match = re.fullmatch(r"bytes=(\d+)-(\d+)", seen.headers.get("range", ""))
        if match and ranges:
            start, end = int(match[1]), int(match[2])
            if not body:
                return Reply(416, [("Content-Range", "bytes */0")])
            part = body[start : end + 1]
            of = ("*" if not length else str(len(body))) if total is None else str(total)
            extent = [("Content-Range", f"bytes {start}-{start + len(part) - 1}/{of}")]
            return Reply(206, typed + extent + [("Content-Length", str(len(part)))], part)
        if not length:
            return Reply(200, typed, stream=[body])
        return Reply(200, [*typed, ("Content-Length", str(len(body)))], body)

    return respond


def answer(status: int, headers: Iterable[tuple[str, str]] = ()) -> Respond:
    return lambda seen: Reply(status, list(headers))


def refused(url: str, **options: object) -> MediaUrlRefused:
    options.setdefault("expected_kind", IMAGE)
    with pytest.raises(MediaUrlRefused) as caught:
        check_url(url, **options)  # type: ignore[arg-type]
    assert caught.value.reason and caught.value.hint
    assert caught.value.reason[0].isupper() and caught.value.reason.endswith(".")
    return caught.value


def check_local(url: str, **options: object) -> RemoteMedia:
    options.setdefault("expected_kind", IMAGE)
    return check_url(url, allow_private_hosts=True, **options)  # type: ignore[arg-type]


def refused_local(url: str, **options: object) -> MediaUrlRefused:
    return refused(url, allow_private_hosts=True, **options)


# --- files that are fine ---------------------------------------------------------------------


def test_png_is_checked_with_head_then_its_first_bytes(serve: Callable[..., Server]) -> None:
    server = serve(serve_file(PNG, "image/png"))
    media = check_local(server.url("/a/pic.png?v=1"))
    assert media == RemoteMedia(
        url=server.url("/a/pic.png?v=1"),
        content_type="image/png",
        size=len(PNG),
        kind=IMAGE,
        address="127.0.0.1",
    )
    assert server.methods == ["HEAD", "GET"]
    head, get = server.requests
    assert head.path == get.path == "/a/pic.png?v=1"
    assert get.headers["range"] == "bytes=0-65535"
    assert get.headers["host"] == f"127.0.0.1:{server.port}"
    assert get.headers["accept-encoding"] == "identity"


@pytest.mark.parametrize("status", [405, 501, 403, 400])
def test_head_refused_falls_back_to_a_ranged_get(serve: Callable[..., Server], status: int) -> None:
    server = serve(serve_file(JPEG, "image/jpeg", head_status=status))
    media = check_local(server.url("/photo.jpg"))
    assert (media.kind, media.size, media.content_type) == (IMAGE, len(JPEG), "image/jpeg")
    assert server.methods == ["HEAD", "GET"]
    assert server.requests[1].headers["range"] == "bytes=0-65535"


def test_large_file_only_its_first_64_kib_are_fetched(serve: Callable[..., Server]) -> None:
    server = serve(serve_file(BIG_PNG, "image/png", head_status=405))
    media = check_local(server.url())
    assert (media.size, media.kind) == (len(BIG_PNG), IMAGE)


def test_server_ignoring_range_is_read_no_further_than_64_kib(
    serve: Callable[..., Server],
) -> None:
    def respond(seen: Seen) -> Reply:
        headers = [("Content-Type", "image/png"), ("Content-Length", str(len(BIG_PNG)))]
        if seen.method == "HEAD":
            return Reply(405)
        return Reply(200, headers, BIG_PNG)

    server = serve(respond)
    media = check_local(server.url())
    assert (media.size, media.kind) == (len(BIG_PNG), IMAGE)


def test_no_content_length_anywhere_the_body_is_counted(serve: Callable[..., Server]) -> None:
    server = serve(serve_file(PNG, "image/png", length=False, ranges=False))
    media = check_local(server.url())
    assert (media.size, media.kind) == (len(PNG), IMAGE)
    assert server.methods == ["HEAD", "GET"]


def test_no_length_and_a_short_range_answer_gives_the_size(serve: Callable[..., Server]) -> None:
    server = serve(serve_file(PNG, "image/png", length=False))
    media = check_local(server.url())
    assert media.size == len(PNG)
    assert server.methods == ["HEAD", "GET"]


def test_range_of_unknown_total_on_a_big_file_is_measured(serve: Callable[..., Server]) -> None:
    server = serve(serve_file(BIG_PNG, "image/png", length=False))
    media = check_local(server.url())
    assert media.size == len(BIG_PNG)
    assert server.methods == ["HEAD", "GET", "GET"]
    assert "range" not in server.requests[2].headers


def test_unknown_kind_is_decided_by_the_content(serve: Callable[..., Server]) -> None:
    server = serve(serve_file(PDF, "application/octet-stream"))
    media = check_local(server.url("/report"), expected_kind=None)
    assert (media.kind, media.content_type, media.size) == (DOCUMENT, "application/pdf", len(PDF))


def test_missing_content_type_is_decided_by_the_content(serve: Callable[..., Server]) -> None:
    server = serve(serve_file(JPEG, None))
    assert check_local(server.url(), expected_kind=None).kind == IMAGE
    media = check_local(server.url(), expected_kind=IMAGE)
    assert (media.kind, media.content_type) == (IMAGE, "image/jpeg")


def test_content_type_parameters_and_case_are_ignored(serve: Callable[..., Server]) -> None:
    server = serve(serve_file(PDF, "Application/PDF; charset=binary"))
    media = check_local(server.url(), expected_kind=DOCUMENT)
    assert (media.kind, media.content_type) == (DOCUMENT, "application/pdf")


def test_a_name_is_sent_as_host_and_non_ascii_paths_are_encoded(
    serve: Callable[..., Server],
) -> None:
    server = serve(serve_file(PNG, "image/png"))
    media = check_local(server.url("/café.png", host="localhost"))
    assert media.kind == IMAGE
    assert media.address in ("127.0.0.1", "::1")
    assert {seen.headers["host"] for seen in server.requests} == {f"localhost:{server.port}"}
    assert {seen.path for seen in server.requests} == {"/caf%C3%A9.png"}


def test_the_checked_address_is_the_one_used_no_rebinding(serve: Callable[..., Server]) -> None:
    server = serve(serve_file(PNG, "image/png"), host="127.0.0.2")
    other = serve(serve_file(GIF, "image/gif"))  # where a second lookup would lead
    answers = [["127.0.0.2"], ["127.0.0.1"], ["127.0.0.1"]]
    lookups: list[tuple[str, int]] = []

    def resolve(host: str, port: int) -> list[str]:
        lookups.append((host, port))
        return answers[len(lookups) - 1]

    media = check_url(
        f"http://media.example:{server.port}/p.png",
        expected_kind=IMAGE,
        resolve=resolve,
        is_public=lambda address: str(address) == "127.0.0.2",
    )
    assert (media.address, media.kind) == ("127.0.0.2", IMAGE)
    assert lookups == [("media.example", server.port)]
    assert server.methods == ["HEAD", "GET"]
    assert {seen.headers["host"] for seen in server.requests} == {f"media.example:{server.port}"}
    assert other.connections == 0


def test_an_address_that_refuses_is_skipped_for_the_next(serve: Callable[..., Server]) -> None:
    server = serve(serve_file(PNG, "image/png"), host="127.0.0.2")
    media = check_url(
        f"http://media.example:{server.port}/p.png",
        expected_kind=IMAGE,
        resolve=lambda host, port: ["127.0.0.1", "127.0.0.2"],  # nothing listens on the first
        is_public=lambda address: True,
    )
    assert media.address == "127.0.0.2"


# --- answers that are refused ----------------------------------------------------------------


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
def test_redirect_is_refused_naming_where_it_goes(
    serve: Callable[..., Server], status: int
) -> None:
    server = serve(answer(status, [("Location", "https://cdn.example.net/files/real.png")]))
    error = refused_local(server.url())
    assert "https://cdn.example.net/files/real.png" in error.reason
    assert str(status) in error.reason
    assert "does not follow redirects" in error.reason
    assert "direct link" in error.hint
    assert server.methods == ["HEAD"]


def test_redirect_only_on_get_is_refused_too(serve: Callable[..., Server]) -> None:
    def respond(seen: Seen) -> Reply:
        if seen.method == "HEAD":
            return Reply(405)
        return Reply(302, [("Location", "/elsewhere/real.png")])

    server = serve(respond)
    error = refused_local(server.url())
    assert server.url("/elsewhere/real.png") in error.reason
    assert server.methods == ["HEAD", "GET"]


def test_redirect_location_is_quoted_safely(serve: Callable[..., Server]) -> None:
    location = "https://x.example/<!channel> *hi*/" + "a" * 500
    server = serve(answer(302, [("Location", location)]))
    error = refused_local(server.url())
    assert "<" not in error.reason and "*" not in error.reason
    assert "%3C!channel%3E" in error.reason
    assert len(error.reason) < 400


def test_404_is_refused(serve: Callable[..., Server]) -> None:
    server = serve(answer(404))
    error = refused_local(server.url())
    assert "404 Not Found" in error.reason
    assert server.methods == ["HEAD"]


def test_500_is_refused(serve: Callable[..., Server]) -> None:
    server = serve(answer(500))
    error = refused_local(server.url())
    assert "500 Internal Server Error" in error.reason
    assert server.methods == ["HEAD", "GET"]  # a broken HEAD is not taken as the last word


def test_get_refused_after_head_said_ok(serve: Callable[..., Server]) -> None:
    def respond(seen: Seen) -> Reply:
        if seen.method == "HEAD":
            return Reply(200, [("Content-Type", "image/png"), ("Content-Length", "100")])
        return Reply(403)

    error = refused_local(serve(respond).url())
    assert "403 Forbidden" in error.reason
    assert "without signing in" in error.hint


@pytest.mark.parametrize(
    ("content_type", "expected", "found"),
    [
        ("text/html; charset=utf-8", IMAGE, "web page"),
        ("image/gif", IMAGE, "GIF image (image/gif)"),
        ("application/pdf", IMAGE, "PDF document (application/pdf), not an image"),
        ("image/jpeg", VIDEO, "JPEG image (image/jpeg), not a video"),
        ("video/quicktime", None, "QuickTime video (video/quicktime)"),
        ("text/plain", DOCUMENT, "plain text (text/plain)"),
    ],
)
def test_wrong_content_type_is_refused(
    serve: Callable[..., Server], content_type: str, expected: MediaKind | None, found: str
) -> None:
    server = serve(serve_file(PNG, content_type))
    error = refused_local(server.url(), expected_kind=expected)
    assert found in error.reason
    assert server.methods == ["HEAD"]  # HEAD told enough


def test_wrong_content_type_on_get_only_is_refused(serve: Callable[..., Server]) -> None:
    server = serve(serve_file(PNG, "text/html", head_status=405))
    error = refused_local(server.url())
    assert "web page" in error.reason and "direct download link" in error.hint


def test_image_url_serving_a_pdf_is_refused(serve: Callable[..., Server]) -> None:
    server = serve(serve_file(PDF, "image/png"))
    error = refused_local(server.url("/picture.png"))
    assert "PDF" in error.reason and "not an image" in error.reason


def test_image_url_serving_a_pdf_as_octet_stream_is_refused(
    serve: Callable[..., Server],
) -> None:
    server = serve(serve_file(PDF, "application/octet-stream"))
    error = refused_local(server.url("/picture.png"))
    assert "PDF" in error.reason and "not an image" in error.reason


def test_declared_type_contradicted_by_content_is_refused(serve: Callable[..., Server]) -> None:
    server = serve(serve_file(PDF, "image/png"))
    error = refused_local(server.url(), expected_kind=None)
    assert "PNG image (image/png)" in error.reason and "PDF" in error.reason


@pytest.mark.parametrize("content_type", ["application/octet-stream", None, "image/png"])
def test_gif_is_refused_by_its_content(
    serve: Callable[..., Server], content_type: str | None
) -> None:
    server = serve(serve_file(GIF, content_type))
    error = refused_local(server.url())
    assert "GIF" in error.reason
    assert "JPEG or PNG" in error.reason + error.hint


def test_unrecognised_content_is_refused(serve: Callable[..., Server]) -> None:
    server = serve(serve_file(b"\x00\x01garbage" * 50, "application/octet-stream"))
    error = refused_local(server.url(), expected_kind=None)
    assert "could not recognise" in error.reason


def test_empty_file_is_refused(serve: Callable[..., Server]) -> None:
    server = serve(serve_file(b"", "image/png", head_status=405))
    assert "empty" in refused_local(server.url()).reason


def test_six_mb_by_header_is_refused_after_head(serve: Callable[..., Server]) -> None:
    server = serve(serve_file(PNG, "image/png", head_length=SIX_MB))
    error = refused_local(server.url())
    assert "6.0 MB" in error.reason and "5.0 MB" in error.reason
    assert server.methods == ["HEAD"]


def test_six_mb_total_in_content_range_beats_a_lying_head(serve: Callable[..., Server]) -> None:
    server = serve(serve_file(PNG, "image/png", head_length=1_000, total=SIX_MB))
    error = refused_local(server.url())
    assert "6.0 MB" in error.reason and "5.0 MB" in error.reason


def test_six_mb_without_any_length_is_counted_and_refused(serve: Callable[..., Server]) -> None:
    body = PNG + bytes(SIX_MB - len(PNG))
    server = serve(serve_file(body, "image/png", length=False, ranges=False))
    started = time.monotonic()
    error = refused_local(server.url())
    assert "5.0 MB or more" in error.reason and "did not say its size" in error.reason
    assert time.monotonic() - started < 3


def test_six_mb_by_get_content_length_is_refused_without_reading(
    serve: Callable[..., Server],
) -> None:
    body = PNG + bytes(SIX_MB - len(PNG))
    server = serve(serve_file(body, "image/png", head_status=405, ranges=False))
    assert "6.0 MB" in refused_local(server.url()).reason


def test_size_limit_is_strict_and_configurable(serve: Callable[..., Server]) -> None:
    server = serve(serve_file(PNG, "image/png"))
    error = refused_local(server.url(), max_bytes=len(PNG))  # "less than", so equal is too big
    assert f"({len(PNG):,} bytes)" in error.reason
    assert check_local(server.url(), max_bytes=len(PNG) + 1).size == len(PNG)


def test_body_shorter_than_announced_is_refused(serve: Callable[..., Server]) -> None:
    def respond(seen: Seen) -> Reply:
        if seen.method == "HEAD":
            return Reply(405)
        return Reply(200, [("Content-Type", "image/png"), ("Content-Length", "1000")], PNG[:100])

    error = refused_local(serve(respond).url())
    assert "stopped sending" in error.reason


def test_garbage_instead_of_http_is_refused(serve: Callable[..., Server]) -> None:
    server = serve(lambda seen: Reply(raw=b"SSH-2.0-OpenSSH_9.6\r\n"))
    assert "valid HTTP" in refused_local(server.url()).reason


def test_closed_without_answer_is_refused(serve: Callable[..., Server]) -> None:
    server = serve(lambda seen: Reply(raw=b""))
    assert "without answering" in refused_local(server.url()).reason


# --- the network failing ---------------------------------------------------------------------


def test_a_server_that_never_answers_times_out(serve: Callable[..., Server]) -> None:
    server = serve(lambda seen: Reply(hang=True))
    started = time.monotonic()
    error = refused_local(server.url(), timeout=0.5)
    assert time.monotonic() - started < 2
    assert "did not answer within 0.5 seconds" in error.reason


def test_a_listener_that_never_accepts_times_out() -> None:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)
        port = listener.getsockname()[1]
        started = time.monotonic()
        error = refused_local(f"http://127.0.0.1:{port}/x.png", timeout=0.4)
    assert time.monotonic() - started < 2
    assert "within 0.4 seconds" in error.reason


def test_a_trickle_of_bytes_cannot_outlast_the_timeout(serve: Callable[..., Server]) -> None:
    server = serve(lambda seen: Reply(drip=True))  # each byte well within any read timeout
    started = time.monotonic()
    error = refused_local(server.url(), timeout=0.6)
    assert time.monotonic() - started < 2
    assert "within 0.6 seconds" in error.reason


def test_a_slow_name_lookup_times_out() -> None:
    def resolve(host: str, port: int) -> list[str]:
        time.sleep(3)
        return ["127.0.0.1"]

    started = time.monotonic()
    error = refused("http://slow.example/x.png", timeout=0.3, resolve=resolve)
    assert time.monotonic() - started < 2
    assert "Looking up the server name slow.example" in error.reason


def test_refused_connection_is_named() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    error = refused_local(f"http://127.0.0.1:{port}/x.png")
    assert "refused the connection" in error.reason


def test_dns_failure_is_named() -> None:
    def resolve(host: str, port: int) -> list[str]:
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    error = refused("https://no-such-host.example/x.png", resolve=resolve)
    assert "no-such-host.example could not be found" in error.reason


def test_tls_to_a_plain_http_server_fails_plainly() -> None:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)
        port = listener.getsockname()[1]

        def answer_plainly() -> None:  # as a web server does to a TLS hello on its HTTP port
            conn, _ = listener.accept()
            with conn:
                conn.recv(4096)
                conn.sendall(b"HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n")

        thread = threading.Thread(target=answer_plainly, daemon=True)
        thread.start()
        error = refused_local(f"https://127.0.0.1:{port}/x.png")
        thread.join(2)
    assert "secure (HTTPS) connection" in error.reason


# TEST ONLY: a CA and a certificate for media.example that it signed (valid 2000-2100).
TEST_CA = """\
-----BEGIN CERTIFICATE-----
MIIBbDCCARKgAwIBAgICEAAwCgYIKoZIzj0EAwIwHDEaMBgGA1UEAwwRcmVtb3Rl
LnB5IHRlc3QgQ0EwIBcNMDAwMTAxMDAwMDAwWhgPMjEwMDAxMDEwMDAwMDBaMBwx
GjAYBgNVBAMMEXJlbW90ZS5weSB0ZXN0IENBMFkwEwYHKoZIzj0CAQYIKoZIzj0D
AQcDQgAEkICvTquH5ZthB/BXpNe7QFvax/QnOsEvGeGM4Sjy9BdspqSJijvzlQjy
Bo7KF4GyWo6U/KaJDlvizyHkIVcfh6NCMEAwDwYDVR0TAQH/BAUwAwEB/zAOBgNV
HQ8BAf8EBAMCAQYwHQYDVR0OBBYEFGcjLpgTyqGDEHcVc9BCyeOQINfWMAoGCCqG
SM49BAMCA0gAMEUCIFErncqOJ6QFfdRyhOKvPCP0RE7JzdDAasE0twdJRu2LAiEA
2B7G1/ffv2u3WXYLfiIdpbUwcY2W1J3CCxKLrG8vxwU=
-----END CERTIFICATE-----
"""
TEST_CERT = """\
-----BEGIN CERTIFICATE-----
MIIBtDCCAVqgAwIBAgICEAEwCgYIKoZIzj0EAwIwHDEaMBgGA1UEAwwRcmVtb3Rl
LnB5IHRlc3QgQ0EwIBcNMDAwMTAxMDAwMDAwWhgPMjEwMDAxMDEwMDAwMDBaMBgx
FjAUBgNVBAMMDW1lZGlhLmV4YW1wbGUwWTATBgcqhkjOPQIBBggqhkjOPQMBBwNC
AARkHGGZSdlIEDdiP2/hr3ctkVcmlKukvmdzzlCvWniocoId99SGEtTl0Wo7uW1a
xbB9UVlMnDtGEJvH1xu4tiGCo4GNMIGKMBgGA1UdEQQRMA+CDW1lZGlhLmV4YW1w
bGUwCQYDVR0TBAIwADAOBgNVHQ8BAf8EBAMCB4AwEwYDVR0lBAwwCgYIKwYBBQUH
AwEwHwYDVR0jBBgwFoAUZyMumBPKoYMQdxVz0ELJ45Ag19YwHQYDVR0OBBYEFIEj
7j3w1sXlrWbptk+QPAp3E8LDMAoGCCqGSM49BAMCA0gAMEUCIFANnfxdEYub35sH
UnFaF5MHylHWMObWqx0ss2qP48tpAiEAsV7Q3nFUnGJRALWiQZAW3SqfbtSt2/US
tYfMW9t88pg=
-----END CERTIFICATE-----
"""
TEST_KEY = """\
-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgxSlhKtZMfAX2mGaL
9cjUOZAlYoTlK5UvmY288I4vBIqhRANCAARkHGGZSdlIEDdiP2/hr3ctkVcmlKuk
vmdzzlCvWniocoId99SGEtTl0Wo7uW1axbB9UVlMnDtGEJvH1xu4tiGC
-----END PRIVATE KEY-----
"""


@pytest.fixture
def tls_server(
    serve: Callable[..., Server], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Server:
    """An HTTPS server for media.example on 127.0.0.1, and a client that trusts its CA."""
    (tmp_path / "cert.pem").write_text(TEST_CERT)
    (tmp_path / "key.pem").write_text(TEST_KEY)
    (tmp_path / "ca.pem").write_text(TEST_CA)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(tmp_path / "cert.pem", tmp_path / "key.pem")
    server = serve(serve_file(PNG, "image/png"), tls=context)

    def record(sock: ssl.SSLObject, name: str | None, ctx: ssl.SSLContext) -> None:
        server.server_names.append(name)

    context.sni_callback = record
    monkeypatch.setenv("SSL_CERT_FILE", str(tmp_path / "ca.pem"))
    monkeypatch.delenv("SSL_CERT_DIR", raising=False)
    return server


def _to_loopback(host: str, port: int) -> list[str]:
    return ["127.0.0.1"]


def test_https_verifies_the_certificate_for_the_name_with_sni(tls_server: Server) -> None:
    url = f"https://media.example:{tls_server.port}/p.png"
    media = check_url(url, expected_kind=IMAGE, resolve=_to_loopback, is_public=lambda a: True)
    assert (media.kind, media.address) == (IMAGE, "127.0.0.1")
    assert tls_server.server_names == ["media.example", "media.example"]
    assert {s.headers["host"] for s in tls_server.requests} == {f"media.example:{tls_server.port}"}


def test_https_certificate_for_another_name_is_refused(tls_server: Server) -> None:
    url = f"https://other.example:{tls_server.port}/p.png"
    error = refused(url, resolve=_to_loopback, is_public=lambda a: True)
    assert "certificate" in error.reason and "other.example" in error.reason
    assert tls_server.requests == []


def test_https_certificate_from_an_unknown_ca_is_refused(
    tls_server: Server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "nobody.pem").write_text("")
    monkeypatch.setenv("SSL_CERT_FILE", str(tmp_path / "nobody.pem"))
    (tmp_path / "no-certs").mkdir()
    monkeypatch.setenv("SSL_CERT_DIR", str(tmp_path / "no-certs"))
    url = f"https://media.example:{tls_server.port}/p.png"
    error = refused(url, resolve=_to_loopback, is_public=lambda a: True)
    assert "certificate that is not valid" in error.reason
    assert tls_server.requests == []


# --- links that are refused before any connection ---------------------------------------------


@pytest.fixture
def no_connections(monkeypatch: pytest.MonkeyPatch) -> list[object]:
    """Fail (and record) any attempt to connect a socket during the test."""
    attempts: list[object] = []

    def forbidden(sock: socket.socket, address: object) -> None:
        attempts.append(address)
        raise AssertionError(f"tried to connect to {address}")

    monkeypatch.setattr(socket.socket, "connect", forbidden)
    monkeypatch.setattr(socket.socket, "connect_ex", forbidden)
    return attempts


@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("", "No link"),
        ("   ", "No link"),
        ("ftp://files.example/a.png", "ftp://"),
        ("javascript:alert(1)", "does not start with http"),
        ("files.example/a.png", "does not start with http"),
        ("http:///a.png", "no server name"),
        ("https://user:secret@files.example/a.png", "user name or password"),
        ("https://files.example/a b.png", "spaces"),
        ("https://files.example\\@127.0.0.1/a.png", "backslashes"),
        ("https://files.example/a\u200b.png", "invisible"),
        ("https://files.example:99999/a.png", "port"),
        ("https://files.example:0/a.png", "port"),
        ("https://[not-an-ip]/a.png", "not a valid"),
        ("https://[fe80::1%25eth0]/a.png", "not valid"),
        ("https://bad_name!.example/a.png", "not valid"),
    ],
)
def test_malformed_links_are_refused(no_connections: list[object], url: str, says: str) -> None:
    def resolve(host: str, port: int) -> list[str]:
        raise AssertionError("no lookup for a malformed link")

    error = refused(url, resolve=resolve)
    assert says in error.reason
    assert no_connections == []


@pytest.mark.parametrize(
    ("host", "says"),
    [
        ("127.0.0.1", "loopback"),
        ("10.0.0.1", "private network"),
        ("172.16.5.4", "private network"),
        ("192.168.1.10", "private network"),
        ("169.254.169.254", "cloud metadata"),
        ("169.254.10.10", "link-local"),
        ("100.64.0.1", "carrier-grade NAT"),
        ("0.0.0.0", "unspecified"),
        ("224.0.0.1", "multicast"),
        ("255.255.255.255", "reserved"),
        ("[::1]", "loopback"),
        ("[::]", "unspecified"),
        ("[::ffff:127.0.0.1]", "IPv4-mapped IPv6 address (for 127.0.0.1)"),
        ("[::ffff:a9fe:a9fe]", "IPv4-mapped"),
        ("[fd00:ec2::254]", "cloud metadata"),
        ("[fd12:3456::1]", "unique local"),
        ("[fe80::1]", "link-local"),
        ("[ff02::1]", "multicast"),
        ("[64:ff9b::a00:1]", "NAT64 address for 10.0.0.1"),
        ("[2002:7f00:1::1]", "6to4 address for 127.0.0.1"),
        ("[2001:0:4136:e378:8000:63bf:3fff:fdd2]", "Teredo"),
    ],
)
def test_private_address_literals_are_refused_without_connecting(
    no_connections: list[object], host: str, says: str
) -> None:
    error = refused(f"http://{host}:8080/x.png")
    assert says in error.reason
    assert "public" in error.hint
    assert no_connections == []


def test_loopback_servers_see_nothing(serve: Callable[..., Server]) -> None:
    server = serve(serve_file(PNG, "image/png"))
    for url in (
        server.url(),
        server.url(host="[::ffff:127.0.0.1]"),
        server.url(host="localhost"),
        server.url(scheme="https"),
    ):
        assert "not to a public server" in refused(url).reason
    assert server.connections == 0


def test_ipv6_loopback_server_sees_nothing(serve: Callable[..., Server]) -> None:
    server = serve(serve_file(PNG, "image/png"), host="::1")
    error = refused(f"http://[::1]:{server.port}/x.png")
    assert "::1" in error.reason and "loopback" in error.reason
    assert server.connections == 0
    assert check_local(f"http://[::1]:{server.port}/x.png").address == "::1"  # and it works


def _numeric_only(host: str, port: int) -> list[str]:
    """The system resolver, kept from asking DNS anything (numbers only)."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_NUMERICHOST)
    return [str(info[4][0]) for info in infos]


@pytest.mark.parametrize("host", ["127.1", "2130706433", "0x7f.0.0.1", "0177.0.0.1"])
def test_odd_spellings_of_loopback_are_refused(no_connections: list[object], host: str) -> None:
    error = refused(f"http://{host}/x.png", resolve=_numeric_only)
    assert f"{host} leads to 127.0.0.1, a loopback address" in error.reason
    assert no_connections == []


def test_international_names_are_looked_up_in_idna_form(no_connections: list[object]) -> None:
    asked: list[str] = []

    def resolve(host: str, port: int) -> list[str]:
        asked.append(host)
        return ["192.168.0.1"]

    refused("https://bücher.example/x.png", resolve=resolve)
    assert asked == ["xn--bcher-kva.example"]


@given(st.text(max_size=80), st.sampled_from(["", "http://", "https://", "http://[", "HTTP://"]))
def test_any_text_is_refused_plainly_without_connecting(text: str, start: str) -> None:
    def forbidden(sock: socket.socket, address: object) -> None:
        raise AssertionError(f"tried to connect to {address}")

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(socket.socket, "connect", forbidden)
        with pytest.raises(MediaUrlRefused):
            check_url(
                start + text,
                expected_kind=None,
                resolve=lambda host, port: ["192.0.2.1"],  # documentation: never public
            )


def test_localhost_name_is_refused(no_connections: list[object]) -> None:
    error = refused("http://localhost/x.png")
    assert "localhost leads to" in error.reason and "loopback" in error.reason
    assert no_connections == []


def test_one_private_address_among_public_ones_is_enough(no_connections: list[object]) -> None:
    def resolve(host: str, port: int) -> list[str]:
        return ["93.184.215.14", "2606:2800:21f:cb07:6820:80da:af6b:8b2c", "10.1.2.3"]

    error = refused("https://media.example/x.png", resolve=resolve)
    assert "media.example leads to 10.1.2.3, a private network address" in error.reason
    assert no_connections == []


def test_an_empty_lookup_is_a_dns_failure(no_connections: list[object]) -> None:
    error = refused("https://media.example/x.png", resolve=lambda host, port: [])
    assert "could not be found" in error.reason


def test_public_url_redirecting_to_a_private_one_is_refused(
    serve: Callable[..., Server], monkeypatch: pytest.MonkeyPatch
) -> None:
    server = serve(answer(302, [("Location", "http://127.0.0.1/secret")]), host="127.0.0.2")
    connected: list[str] = []
    connect = socket.socket.connect

    def spy(sock: socket.socket, address: tuple[str, int]) -> None:
        connected.append(address[0])
        connect(sock, address)

    monkeypatch.setattr(socket.socket, "connect", spy)
    lookups: list[str] = []

    def resolve(host: str, port: int) -> list[str]:
        lookups.append(host)
        return ["127.0.0.2"]

    error = refused(
        f"http://media.example:{server.port}/cat.png",
        resolve=resolve,
        is_public=lambda address: address == ipaddress.ip_address("127.0.0.2"),
    )
    assert "http://127.0.0.1/secret" in error.reason
    assert "loopback" in error.reason and "does not follow redirects" in error.reason
    assert "public web server" in error.hint
    assert connected == ["127.0.0.2"]
    assert lookups == ["media.example"]
    assert server.methods == ["HEAD"]


def test_redirect_to_a_name_leading_to_a_private_address_says_so(
    serve: Callable[..., Server],
) -> None:
    server = serve(answer(301, [("Location", "http://intranet.example/x.png")]), host="127.0.0.2")
    answers = {"media.example": ["127.0.0.2"], "intranet.example": ["192.168.0.7"]}
    error = refused(
        f"http://media.example:{server.port}/x.png",
        resolve=lambda host, port: answers[host],
        is_public=lambda address: address == ipaddress.ip_address("127.0.0.2"),
    )
    assert "http://intranet.example/x.png" in error.reason
    assert "192.168.0.7, a private network address" in error.reason


# --- is_public_address -----------------------------------------------------------------------

NOT_PUBLIC_V4 = [
    "0.0.0.0/8",
    "10.0.0.0/8",
    "100.64.0.0/10",
    "127.0.0.0/8",
    "169.254.0.0/16",
    "172.16.0.0/12",
    "192.0.0.0/24",
    "192.0.2.0/24",
    "192.168.0.0/16",
    "198.18.0.0/15",
    "198.51.100.0/24",
    "203.0.113.0/24",
    "224.0.0.0/4",
    "240.0.0.0/4",
]
NOT_PUBLIC_V6 = [
    "::/128",
    "::1/128",
    "::ffff:0:0/96",
    "::/96",
    "64:ff9b:1::/48",
    "2001:db8::/32",
    "fc00::/7",
    "fd00:ec2::254/128",
    "fe80::/10",
    "fec0::/10",
    "ff00::/8",
]

private_v4 = st.sampled_from(NOT_PUBLIC_V4).flatmap(lambda net: st.ip_addresses(network=net))


@given(st.ip_addresses())
def test_is_public_never_raises(address: IPAddress) -> None:
    assert isinstance(is_public_address(address), bool)


@given(st.sampled_from(NOT_PUBLIC_V4 + NOT_PUBLIC_V6).flatmap(lambda n: st.ip_addresses(network=n)))
def test_documented_private_ranges_are_never_public(address: IPAddress) -> None:
    assert not is_public_address(address)


@given(
    private_v4,
    st.sampled_from(["mapped", "compatible", "nat64", "6to4", "teredo server", "teredo client"]),
    st.integers(0, 2**64 - 1),
)
def test_private_ipv4_embedded_in_ipv6_is_never_public(
    inner: ipaddress.IPv4Address, form: str, noise: int
) -> None:
    v4 = int(inner)
    other = int(ipaddress.IPv4Address("8.8.8.8"))
    teredo = 0x2001_0000 << 96 | (noise & 0xFFFF_FFFF) << 32
    value = {
        "mapped": 0xFFFF << 32 | v4,
        "compatible": v4,
        "nat64": int(ipaddress.IPv6Address("64:ff9b::")) | v4,
        "6to4": 0x2002 << 112 | v4 << 80 | noise & (2**80 - 1),
        "teredo server": teredo | v4 << 64 | other ^ 0xFFFF_FFFF,
        "teredo client": teredo | other << 64 | v4 ^ 0xFFFF_FFFF,
    }[form]
    assert not is_public_address(ipaddress.IPv6Address(value))


@given(st.ip_addresses(v=6))
def test_only_global_unicast_ipv6_can_be_public(address: ipaddress.IPv6Address) -> None:
    if is_public_address(address):
        assert address in ipaddress.IPv6Network("2000::/3") or address in ipaddress.IPv6Network(
            "64:ff9b::/96"
        )


@pytest.mark.parametrize(
    "text",
    [
        "8.8.8.8",
        "1.1.1.1",
        "93.184.215.14",
        "172.32.0.1",
        "100.128.0.1",
        "2606:4700:4700::1111",
        "2a00:1450:4001:82a::200e",
        "64:ff9b::808:808",
        "2002:808:808::1",
    ],
)
def test_public_addresses_are_public(text: str) -> None:
    assert is_public_address(ipaddress.ip_address(text))
