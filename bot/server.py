"""`whatsapp-bot serve`: the app on gunicorn, with threads so a slow provider never blocks an
acknowledgement."""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from typing import Any

from gunicorn.app.base import BaseApplication
from gunicorn.config import KNOWN_SETTINGS

from bot.web import WebApp

# One worker per core: each worker also runs its own background, render and maintenance
# threads, so more processes than cores only add contention (see docs/performance.md).
DEFAULT_WORKERS = max(1, os.cpu_count() or 1)
# Request threads only ack and hand off, but a burst of provider callbacks can take them all
# for a moment, and an ack then waits for a free one (ack p99 ratio to a bare Bolt app 0.99–1.30
# with 32, 1.20–5.41 with 16; the same callbacks/s).
DEFAULT_THREADS = 32


class _Server(BaseApplication):  # type: ignore[misc]
    def __init__(self, factory: Callable[[], WebApp], options: Mapping[str, Any]) -> None:
        self._factory = factory
        self._options = dict(options)
        super().__init__()

    def load_config(self) -> None:
        for key, value in self._options.items():
            self.cfg.set(key, value)

    def load(self) -> WebApp:
        return self._factory()


def _has_setting(name: str) -> bool:
    """Whether this gunicorn knows a setting (older releases lack some)."""
    return any(setting.name == name for setting in KNOWN_SETTINGS)


def serve(
    factory: Callable[[], WebApp],
    *,
    host: str,
    port: int,
    workers: int = DEFAULT_WORKERS,
    threads: int = DEFAULT_THREADS,
    log_level: str = "info",
) -> None:
    """Run until stopped; every worker builds its own app from `factory`."""
    options = {
        "bind": f"{host}:{port}",
        "workers": workers,
        "worker_class": "gthread",
        "threads": threads,
        "timeout": 60,
        "graceful_timeout": 15,
        "keepalive": 5,
        "loglevel": log_level,
        # No access log: callback and media URLs carry bearer tokens.
        "accesslog": None,
        "errorlog": "-",
        "limit_request_line": 8190,
        "proc_name": "whatsapp-bot",
        "worker_tmp_dir": "/dev/shm" if os.path.isdir("/dev/shm") else None,
    }
    if _has_setting("control_socket_disable"):
        # gunicorn's control socket sits at one fixed path per user: several instances on one
        # machine would fight over it, and the app does not use it.
        options["control_socket_disable"] = True
    _Server(factory, options).run()
