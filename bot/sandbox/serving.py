"""How the demo, the tests and the benchmarks start `whatsapp-bot serve` for real."""

from __future__ import annotations

import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path


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


def wait_healthy(
    url: str,
    process: subprocess.Popen[bytes],
    log: Callable[[], str],
    *,
    name: str = "serve",
    timeout: float = 30,
) -> None:
    """Until `GET /healthz` answers 200; RuntimeError with the log if it exits or never does."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{name} exited:\n{log()}")
        try:
            with urllib.request.urlopen(url + "/healthz", timeout=1) as answer:
                if answer.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            time.sleep(0.05)
    raise RuntimeError(f"{name} did not become healthy:\n{log()}")
