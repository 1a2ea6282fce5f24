"""`whatsapp-bot serve`: the app on gunicorn, with threads so a slow provider never blocks an
acknowledgement."""

from __future__ import annotations

import contextlib
import ctypes
import gc
import logging
import math
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

from gunicorn.app.base import BaseApplication
from gunicorn.config import KNOWN_SETTINGS
from gunicorn.glogging import Logger

from bot.core.logs import LogFormat, use_format
from bot.web import WebApp

# One worker per core: each worker also runs its own background, render and maintenance
# threads, so more processes than cores only add contention (see docs/performance.md).
DEFAULT_WORKERS = max(1, os.cpu_count() or 1)
# Request threads only ack and hand off, but a burst of provider callbacks can take them all
# for a moment, and an ack then waits for a free one (ack p99 ratio to a bare Bolt app 0.99–1.30
# with 32, 1.20–5.41 with 16; the same callbacks/s).
DEFAULT_THREADS = 32
# Seconds a worker has to stop after SIGTERM before the master kills it (`graceful_timeout`).
DEFAULT_GRACEFUL_TIMEOUT = 15
# prometheus_client's multiprocess mode: where each worker writes its counts.
MULTIPROCESS_ENV = "PROMETHEUS_MULTIPROC_DIR"
_METRICS_PREFIX = "whatsapp-bot-metrics-"


# glibc's mallopt: the size from which a buffer is mapped on its own (see `pin_mmap_threshold`).
_M_MMAP_THRESHOLD = -3
MMAP_THRESHOLD = 256 * 1024


def pin_mmap_threshold() -> bool:
    """With glibc, buffers of `MMAP_THRESHOLD` and more (a kept file's 512 kB slices, large
    bodies) are mapped and unmapped on their own, never left behind in the arenas of the
    worker's 32 threads: left to itself glibc raises that threshold as such buffers are freed,
    and 16 downloads of a 5 MB file left each worker about 20 MB bigger (peak RSS 126 MB,
    106 MB with it, in `bench/media.py`). False where the C library has no `mallopt`."""
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    return bool(mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD))


class _Server(BaseApplication):  # type: ignore[misc]
    def __init__(self, factory: Callable[[], WebApp], options: Mapping[str, Any]) -> None:
        self._factory = factory
        self._options = dict(options)
        super().__init__()

    def load_config(self) -> None:
        for key, value in self._options.items():
            self.cfg.set(key, value)

    def load(self) -> WebApp:
        """The worker's app; then what it holds for good (modules, Bolt, SQLAlchemy's
        tables, the config) is moved out of the garbage collector's reach (`gc.freeze`): a
        full collection walked all ~100,000 of those objects, stopping every thread for
        50–110 ms, the slowest acknowledgements' wait; it now walks only what came since."""
        app = self._factory()
        gc.collect()
        gc.freeze()
        return app


@contextlib.contextmanager
def metrics_directory() -> Iterator[str]:
    """A fresh, empty directory for the workers' metric files, named in the environment the
    workers inherit (prometheus_client reads it there), removed with everything in it after.

    Fresh for every start: files left by the workers of an earlier run would be counted again.
    Its name carries the master's pid, so a start removes those of masters that were killed.
    """
    _remove_orphans(tempfile.gettempdir())
    path = tempfile.mkdtemp(prefix=f"{_METRICS_PREFIX}{os.getpid()}-")
    previous = os.environ.get(MULTIPROCESS_ENV)
    os.environ[MULTIPROCESS_ENV] = path
    owner = os.getpid()
    try:
        yield path
    finally:
        # A gunicorn worker leaves through here too (its SystemExit unwinds the master's stack,
        # forked): only the master, once, may remove what the others still write to.
        if os.getpid() == owner:
            if previous is None:
                os.environ.pop(MULTIPROCESS_ENV, None)
            else:
                os.environ[MULTIPROCESS_ENV] = previous
            shutil.rmtree(path, ignore_errors=True)


def _remove_orphans(parent: str) -> None:
    """Remove the metrics directories of masters no longer running (SIGKILL cleans nothing)."""
    for entry in Path(parent).glob(f"{_METRICS_PREFIX}*-*"):
        pid = entry.name.removeprefix(_METRICS_PREFIX).partition("-")[0]
        if pid.isdigit() and not _running(int(pid)):
            shutil.rmtree(entry, ignore_errors=True)


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's
        return True
    return True


def _forget_worker(metrics_dir: str) -> Callable[[Any, Any], None]:
    """gunicorn's `child_exit` hook: a dead worker's live gauges no longer count (its
    counters and histograms do, so totals never go down)."""

    def child_exit(_server: Any, worker: Any) -> None:
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid, metrics_dir)  # type: ignore[no-untyped-call]

    return child_exit


def _close_app(_server: Any, worker: Any) -> None:
    """gunicorn's `worker_exit` hook: the worker's app stops (sends not yet with the provider
    handed back, calls in flight finished) once its requests are answered.

    gunicorn also runs it in the master for a worker already gone, which has no app there."""
    close = getattr(getattr(worker, "wsgi", None), "close", None)
    if close is not None and worker.pid == os.getpid():
        close()


def _logger_class(log_format: LogFormat) -> type[Logger]:
    """gunicorn's logger, writing its error log in `log_format` and redacted like the app's."""

    class Logs(Logger):  # type: ignore[misc]
        def setup(self, cfg: Any) -> None:
            super().setup(cfg)
            for handler in self.error_log.handlers:
                use_format(handler, log_format, fmt=self.error_fmt, datefmt=self.datefmt)

    return Logs


def use_log_format(log_format: LogFormat) -> None:
    """The app's own lines (every handler of the root logger) in `log_format`; Python's
    warnings too, so that nothing else reaches the log unformatted."""
    for handler in logging.getLogger().handlers:
        use_format(handler, log_format)
    logging.captureWarnings(True)


def graceful_timeout(provider_timeout: float) -> int:
    """Seconds a worker may take to stop: a provider call in flight may take
    `provider_timeout` to answer, and the app must be gone within `provider_timeout` + 5 s;
    the last second is the master's, to kill a worker that overran and exit itself."""
    return max(1, math.floor(provider_timeout + 5) - 1)


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
    log_format: LogFormat = "text",
    metrics_dir: str | None = None,
    graceful_timeout: int = DEFAULT_GRACEFUL_TIMEOUT,
) -> None:
    """Run until stopped; every worker builds its own app from `factory`. With `metrics_dir`
    (from `metrics_directory`) the workers' metrics are summed there. On SIGTERM a worker
    still running after `graceful_timeout` seconds is killed."""
    options = {
        "bind": f"{host}:{port}",
        "workers": workers,
        "worker_class": "gthread",
        "threads": threads,
        "timeout": 60,
        "graceful_timeout": graceful_timeout,
        "worker_exit": _close_app,
        "keepalive": 5,
        "loglevel": log_level,
        # No access log: callback and media URLs carry bearer tokens.
        "accesslog": None,
        "errorlog": "-",
        "limit_request_line": 8190,
        "proc_name": "whatsapp-bot",
        "worker_tmp_dir": "/dev/shm" if os.path.isdir("/dev/shm") else None,
        "logger_class": _logger_class(log_format),
    }
    if metrics_dir is not None:
        options["child_exit"] = _forget_worker(metrics_dir)
    if _has_setting("control_socket_disable"):
        # gunicorn's control socket sits at one fixed path per user: several instances on one
        # machine would fight over it, and the app does not use it.
        options["control_socket_disable"] = True
    pin_mmap_threshold()  # before the workers are forked: they inherit it
    _Server(factory, options).run()
