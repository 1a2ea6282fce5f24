"""How the demo, the tests and the benchmarks start `whatsapp-bot serve` for real."""

from __future__ import annotations

import sys
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
