"""How the demo, the tests and the benchmarks start the real app on the stand-ins.

:class:`AppProcess` writes the app's config pointed at the stand-ins and a database, runs
`whatsapp-bot serve` (gunicorn) on a loopback port in a subprocess, waits for ``/healthz``,
and stops, kills or restarts it; its output goes to a log file.
"""

from __future__ import annotations

import contextlib
import copy
import http.client
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Collection, Mapping, Sequence
from pathlib import Path
from typing import Any, Self, TypeVar

import yaml

__all__ = ["AppProcess", "StartError", "free_port", "serve_command", "wait_until"]

T = TypeVar("T")


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_until(
    predicate: Callable[[], T], timeout: float = 10.0, what: str = "", *, interval: float = 0.02
) -> T:
    """Poll until `predicate()` is truthy and return it; AssertionError on timeout."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise AssertionError(f"not within {timeout} s: {what or predicate}")
        time.sleep(interval)


def serve_command(
    config_path: Path | str, port: int, *, workers: int = 1, threads: int = 8
) -> list[str]:
    """`whatsapp-bot serve` on loopback, run by this Python, as a list for subprocess."""
    return [
        sys.executable,
        "-m",
        "bot",
        "serve",
        "--config",
        str(config_path),
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--workers",
        str(workers),
        "--threads",
        str(threads),
    ]


class StartError(RuntimeError):
    """The app exited during start-up (``exit_code`` set) or never became healthy (None)."""

    def __init__(self, message: str, *, exit_code: int | None) -> None:
        super().__init__(message)
        self.exit_code = exit_code


class AppProcess:
    """`whatsapp-bot serve` (or another server ``command``) in a subprocess on 127.0.0.1.

    Its config is ``config_path`` (written by ``configure`` or ``save_config``), its output
    goes to ``log_path``; ``port`` defaults to a free one.

    With ``own_group`` it runs in a process group of its own: Ctrl-C in a terminal does not
    reach it, and ``stop`` and ``kill`` signal the gunicorn master and its workers at once
    (``kill`` as a crash or an OOM kill would).
    """

    def __init__(
        self,
        *,
        config_path: Path | None = None,
        log_path: Path,
        env: Mapping[str, str],
        cwd: Path | str,
        port: int | None = None,
        name: str = "serve",
        workers: int = 1,
        threads: int = 8,
        own_group: bool = False,
        healthy: Collection[int] = (200,),
        command: Sequence[str] | None = None,
    ) -> None:
        self.config_path = config_path
        self.log_path = log_path
        self.env = dict(env)
        self.cwd = cwd
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.name = name
        self.own_group = own_group
        self.healthy = frozenset(healthy)
        if command is None:
            if config_path is None:
                raise ValueError("`whatsapp-bot serve` needs a config_path")
            command = serve_command(config_path, self.port, workers=workers, threads=threads)
        self.command = list(command)
        self.process: subprocess.Popen[bytes] | None = None

    # ------------------------------------------------------------------ config

    def configure(
        self,
        config: Mapping[str, Any],
        *,
        slack_api_url: str,
        provider_url: str,
        database_url: str,
    ) -> None:
        """Write `config` with the app pointed at the stand-ins, the database and its own URL.

        Media hosts on loopback (the file host) are allowed unless `config` says otherwise.
        """
        data = copy.deepcopy(dict(config))
        data["slack"] = {**data.get("slack", {}), "api_base_url": slack_api_url}
        data["whatsapp"] = {**data.get("whatsapp", {}), "api_url": provider_url}
        data["public_base_url"] = self.url
        data["database_url"] = database_url
        data["media"] = {"allow_private_hosts": True, **data.get("media", {})}
        self.save_config(data)

    def save_config(self, data: Mapping[str, Any]) -> None:
        """Write `data` as the config file, as it is."""
        if self.config_path is None:
            raise ValueError("this process has no config_path")
        self.config_path.write_text(yaml.safe_dump(dict(data), sort_keys=False))

    # ------------------------------------------------------------------ lifecycle

    def start(self, timeout: float = 30, *, wait: bool = True) -> Self:
        """Start the process (its output appended to the log); unless not `wait`, until healthy."""
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                self.command,
                cwd=self.cwd,
                env=self.env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=self.own_group,
            )
        if wait:
            self.wait_healthy(timeout)
        return self

    def wait_healthy(self, timeout: float = 30) -> None:
        """Until `GET /healthz` answers one of the ``healthy`` statuses and `ready()`."""
        deadline = time.monotonic() + timeout
        while True:
            if not self.running():
                raise StartError(
                    f"{self.name} exited:\n{self.log()[-3000:]}", exit_code=self.exit_code()
                )
            if self.health_status(timeout=1) in self.healthy and self.ready():
                return
            if time.monotonic() >= deadline:
                raise StartError(
                    f"{self.name} did not become healthy:\n{self.log()[-3000:]}", exit_code=None
                )
            time.sleep(0.05)

    def ready(self) -> bool:
        """What else must hold before the app counts as started (nothing, here)."""
        return True

    def stop(
        self, sig: int = signal.SIGTERM, *, timeout: float = 20, group: bool | None = None
    ) -> None:
        """Send `sig` to the process (to its whole group with `group`, by default when it has
        its own); kill it if it is still up after `timeout` seconds."""
        process = self.process
        if process is None:
            return
        if process.poll() is None:
            self._signal(sig, group=self.own_group if group is None else group)
            try:
                process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.kill()
        if self.own_group:
            # a worker that outlived its master would keep the port and the database busy
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(process.pid, signal.SIGKILL)
        self.process = None

    def kill(self) -> None:
        """SIGKILL (to the whole group with ``own_group``): no handler, no flush."""
        process = self.process
        if process is None:
            return
        self._signal(signal.SIGKILL, group=self.own_group)
        process.wait(10)
        self.process = None

    def restart(self) -> None:
        self.stop()
        self.start()

    def _signal(self, sig: int, *, group: bool) -> None:
        assert self.process is not None
        with contextlib.suppress(ProcessLookupError):
            if group:
                os.killpg(self.process.pid, sig)
            else:
                self.process.send_signal(sig)

    # ------------------------------------------------------------------ looking at it

    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def exit_code(self) -> int | None:
        return None if self.process is None else self.process.poll()

    def health_status(self, timeout: float = 2) -> int | None:
        """The status of `GET /healthz`, or None when the app does not answer."""
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        try:
            conn.request("GET", "/healthz")
            response = conn.getresponse()
            response.read()
            return response.status
        except (OSError, http.client.HTTPException):
            return None
        finally:
            conn.close()

    def log(self) -> str:
        """Everything the process wrote so far ("" before it started)."""
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""
