"""Calls a function for a row after a delay, from one thread, with one pending call per row."""

from __future__ import annotations

import heapq
import itertools
import threading
import time
from collections.abc import Callable


class DelayedCalls:
    """Calls `fn(row_id)` after a delay, from one thread; one pending call per row."""

    def __init__(self) -> None:
        self._heap: list[tuple[float, int, Callable[[str], None], str]] = []
        self._pending: set[str] = set()
        self._cond = threading.Condition()
        self._count = itertools.count()
        self._stopped = False
        self._thread = threading.Thread(target=self._run, name="render-delayed", daemon=True)
        self._thread.start()

    def call(self, delay: float, fn: Callable[[str], None], row_id: str) -> None:
        with self._cond:
            if row_id in self._pending:
                return
            self._pending.add(row_id)
            entry = (time.monotonic() + delay, next(self._count), fn, row_id)
            heapq.heappush(self._heap, entry)
            if self._heap[0] is entry:  # sooner than what the thread waits for: wake it
                self._cond.notify()

    def pending(self, row_id: str) -> bool:
        with self._cond:
            return row_id in self._pending

    def rows(self) -> set[str]:
        """The rows with a call pending."""
        with self._cond:
            return set(self._pending)

    def stop(self) -> None:
        with self._cond:
            self._stopped = True
            self._cond.notify()

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._stopped and (not self._heap or self._heap[0][0] > time.monotonic()):
                    timeout = self._heap[0][0] - time.monotonic() if self._heap else None
                    self._cond.wait(timeout)
                if self._stopped:
                    return
                _, _, fn, row_id = heapq.heappop(self._heap)
                self._pending.discard(row_id)
            fn(row_id)
