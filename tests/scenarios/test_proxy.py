"""deploy/nginx.conf in front of `whatsapp-bot serve`: slow clients wait on nginx, never on the
app's request threads.

Runs Debian's `nginx` (`.ci/run` installs it) with the deploy file itself, its listen and upstream
lines pointed at this test's ports; skipped, saying so, without it. The app runs with a single
worker of 4 request threads, so that 80 slow clients are 20 times what it has; the same clients
sent straight to `serve` show what the proxy is for.
"""

from __future__ import annotations

import hashlib
import http.client
import os
import re
import secrets
import shutil
import socket
import threading
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from types import TracebackType

import pytest

from bot.media import links
from bot.sandbox.driver import SlackDriver
from bot.sandbox.launch import AppProcess, free_port
from bot.store import utcnow
from tests.conftest import SECRETS
from tests.scenarios.harness import CHANNEL, ROOT, USER, Harness

NGINX = shutil.which("nginx") or shutil.which("nginx", path="/usr/sbin:/sbin")
pytestmark = pytest.mark.skipif(
    NGINX is None,
    reason="nginx is not installed (apt-get install nginx): deploy/nginx.conf is not tested",
)

DEPLOY_CONF = ROOT / "deploy" / "nginx.conf"
REQUEST_THREADS = 4
SLOW_CLIENTS = 40  # of each kind: trickling headers, trickling a body
TICK = 0.5  # seconds between two sends of a slow client
BYTES_PER_TICK = 2  # 4 bytes a second
TRICKLE_SECONDS = 20  # a slow client stops sending after this, whatever happens
SETTLE = 0.5  # for every slow client to be connected and read from
BUDGET = 1.0  # what /healthz must answer within, slow clients or not
STARVED = 3.0  # how long /healthz is waited for when it is expected not to answer at all

# Headers that never end (4 bytes a second of a 400-byte header), and a body that never
# arrives whole (4 bytes a second of 1000), each started at once.
SLOW_HEADERS = (
    b"POST /slack/events HTTP/1.1\r\n",
    b"Host: 127.0.0.1\r\nX-Slow: " + b"." * 400 + b"\r\n\r\n",
)
SLOW_BODY = (
    b"POST /whatsapp/callbacks/slow HTTP/1.1\r\nHost: 127.0.0.1\r\n"
    b"Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n{",
    b" " * 998 + b"}",
)


def site_config(listen_port: int, upstream_port: int) -> str:
    """deploy/nginx.conf with its two lines marked for tests pointed at these ports."""
    text = DEPLOY_CONF.read_text()
    for directive, value, mark in (
        ("listen", f"127.0.0.1:{listen_port}", "the listen address"),
        ("server", f"127.0.0.1:{upstream_port}", "the upstream address"),
    ):
        pattern = re.compile(rf"^(\s*){directive} [^;\n]+;(\s*# tests: {mark})$", re.MULTILINE)
        text, found = pattern.subn(rf"\g<1>{directive} {value};\g<2>", text)
        assert found == 1, f"deploy/nginx.conf needs one `{directive} …;  # tests: {mark}` line"
    return text


class Nginx:
    """nginx in the foreground with deploy/nginx.conf, everything of its own under `prefix`."""

    def __init__(self, prefix: Path, upstream_port: int) -> None:
        self.prefix = prefix
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = prefix / "nginx.log"
        site = prefix / "site.conf"
        site.write_text(site_config(self.port, upstream_port))
        temp = prefix / "temp"
        temp.mkdir()
        # Started as root, nginx's workers would switch to `nobody`, who cannot enter pytest's
        # private temporary directories: keep them root. Otherwise they run as whoever we are.
        user = "user root;\n" if os.geteuid() == 0 else ""
        self.conf = prefix / "nginx.conf"
        self.conf.write_text(
            f"{user}worker_processes 1;\n"
            f"pid {prefix / 'nginx.pid'};\n"
            f"error_log {self.log_path} warn;\n"
            "events { worker_connections 512; }\n"
            "http {\n"
            f"    client_body_temp_path {temp / 'body'};\n"
            f"    proxy_temp_path {temp / 'proxy'};\n"
            f"    fastcgi_temp_path {temp / 'fastcgi'};\n"
            f"    uwsgi_temp_path {temp / 'uwsgi'};\n"
            f"    scgi_temp_path {temp / 'scgi'};\n"
            f"    include {site};\n"
            "}\n"
        )
        assert NGINX is not None
        self.process = AppProcess(
            log_path=self.log_path,
            env=os.environ,
            cwd=prefix,
            port=self.port,
            name="nginx",
            own_group=True,  # its workers with it, should it have to be killed
            command=[NGINX, "-p", str(prefix), "-c", str(self.conf), "-g", "daemon off;"],
        )

    def start(self) -> Nginx:
        self.process.start()
        return self

    def stop(self) -> None:
        self.process.stop()  # SIGTERM: nginx's fast shutdown, workers then the master

    def log(self) -> str:
        return self.process.log()


class SlowClients:
    """Connections that each send the start of a request at once and the rest a few bytes a
    second, for at most TRICKLE_SECONDS; all closed on leaving."""

    def __init__(self, port: int, requests: list[tuple[bytes, bytes]]) -> None:
        self._port = port
        self._requests = requests
        self._socks: list[socket.socket] = []
        self._rest: list[bytes] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._trickle, name="slow-clients", daemon=True)

    def __enter__(self) -> SlowClients:
        try:
            for first, rest in self._requests:
                sock = socket.create_connection(("127.0.0.1", self._port), timeout=5)
                self._socks.append(sock)
                sock.sendall(first)
                sock.setblocking(False)
                self._rest.append(rest)
        except BaseException:
            self._close()
            raise
        self._thread.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(5)
        self._close()

    def _close(self) -> None:
        for sock in self._socks:
            sock.close()

    def _trickle(self) -> None:
        deadline = time.monotonic() + TRICKLE_SECONDS
        while not self._stop.wait(TICK) and time.monotonic() < deadline:
            for i, sock in enumerate(self._socks):
                chunk = self._rest[i][:BYTES_PER_TICK]
                self._rest[i] = self._rest[i][BYTES_PER_TICK:]
                if chunk:
                    try:
                        sock.send(chunk)
                    except OSError:  # the server gave up on this one
                        self._rest[i] = b""

    def holding(self) -> int:
        """How many are still connected without an answer."""
        count = 0
        for sock in self._socks:
            try:
                sock.recv(1, socket.MSG_PEEK)
            except BlockingIOError:
                count += 1
            except OSError:
                pass
        return count


def slow_clients(port: int) -> SlowClients:
    """SLOW_CLIENTS trickling their headers and as many trickling a body, interleaved."""
    return SlowClients(port, [SLOW_HEADERS, SLOW_BODY] * SLOW_CLIENTS)


def healthz(port: int, timeout: float) -> tuple[int | None, float]:
    """GET /healthz on its own connection: the status (None if none came in time) and the wait."""
    started = time.monotonic()
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request("GET", "/healthz")
        answer = conn.getresponse()
        answer.read()
        status: int | None = answer.status
    except TimeoutError:
        status = None
    finally:
        conn.close()
    return status, time.monotonic() - started


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Harness]:
    harness = Harness(tmp_path_factory.mktemp("app"), request_threads=REQUEST_THREADS)
    try:
        yield harness.start()
    finally:
        harness.close()


@pytest.fixture(scope="module")
def proxy(app: Harness, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Nginx]:
    nginx = Nginx(tmp_path_factory.mktemp("nginx"), app.port)
    try:
        yield nginx.start()
    finally:
        nginx.stop()


def test_behind_the_proxy_healthz_answers_within_a_second_while_slow_clients_hold_on(
    app: Harness, proxy: Nginx
) -> None:
    slack = SlackDriver(proxy.url, SECRETS["SLACK_SIGNING_SECRET"], slack=app.slack)
    with slow_clients(proxy.port) as slow:
        time.sleep(SETTLE)
        waits = []
        for _ in range(5):
            status, waited = healthz(proxy.port, timeout=STARVED)
            assert status == 200, f"no /healthz through nginx in {waited:.2f} s:\n{proxy.log()}"
            waits.append(waited)
            time.sleep(0.2)
        assert max(waits) < BUDGET, waits
        # Slack's acknowledgement does not wait either, and its answer arrives.
        ack = slack.slash_command("help", user=USER, channel=CHANNEL)
        assert ack.status == 200 and ack.elapsed < BUDGET, (ack.status, ack.elapsed)
        app.wait_ephemeral("/whatsapp status")
        # All the while nginx, not the app, held every slow client.
        assert slow.holding() == 2 * SLOW_CLIENTS


def test_premise_straight_to_serve_the_same_slow_clients_take_every_request_thread(
    app: Harness,
) -> None:
    with slow_clients(app.port) as slow:
        time.sleep(SETTLE)
        status, waited = healthz(app.port, timeout=STARVED)
        assert status is None, (
            f"/healthz answered {status} in {waited:.2f} s beside {2 * SLOW_CLIENTS} slow "
            f"clients with {REQUEST_THREADS} request threads: this test no longer shows why "
            "deploy/nginx.conf is needed"
        )
        assert slow.holding() == 2 * SLOW_CLIENTS
    # Once they are gone, the threads are free again.
    status, waited = healthz(app.port, timeout=10)
    assert status == 200, waited


def test_media_streams_whole_through_the_proxy(app: Harness, proxy: Nginx) -> None:
    data = os.urandom(4_900_000)  # near the provider's 5 MB limit
    media_id = secrets.token_hex(16)
    expires_at = utcnow() + timedelta(hours=1)
    app.store.add_media(
        id=media_id,
        expires_at=expires_at,
        content_type="video/mp4",
        size=len(data),
        sha256=hashlib.sha256(data).hexdigest(),
        file_name=None,
        slack_file_id=None,
        data=data,
    )
    path = "/media/" + links.issue(SECRETS["WHATSAPP_BOT_SECRET"], media_id, expires_at)
    conn = http.client.HTTPConnection("127.0.0.1", proxy.port, timeout=10)
    try:
        for method in ("HEAD", "GET"):
            conn.request(method, path)
            answer = conn.getresponse()
            body = answer.read()
            assert answer.status == 200
            assert answer.getheader("Content-Type") == "video/mp4"
            assert answer.getheader("Content-Length") == str(len(data))
            assert body == (data if method == "GET" else b"")
    finally:
        conn.close()


def test_the_proxy_refuses_a_body_over_its_limit_without_reading_it(proxy: Nginx) -> None:
    with socket.create_connection(("127.0.0.1", proxy.port), timeout=5) as sock:
        sock.sendall(
            b"POST /slack/events HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            b"Content-Type: application/json\r\nContent-Length: 2000000\r\n\r\n"
        )
        assert sock.recv(4096).startswith(b"HTTP/1.1 413 ")
