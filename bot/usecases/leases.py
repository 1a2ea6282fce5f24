"""Keeps a process's render leases alive while it works on their rows.

A lease is short (`ThreadRenderer.lease_seconds`), so that when its holder dies another
instance takes the thread over within seconds; a live holder renews it from one thread, a few
times per lease, for every row it is making a pass of or means to. A pass checks its lease
before each Slack write, and stops if another worker took it: a reply is never posted twice.
"""

from __future__ import annotations

import itertools
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from bot.store import BatchRecord, ConversationRecord, SendRecord, Store

logger = logging.getLogger(__name__)

_RECORDS: tuple[type[SendRecord] | type[BatchRecord] | type[ConversationRecord], ...] = (
    SendRecord,
    BatchRecord,
    ConversationRecord,
)


class LeaseLost(Exception):
    """Another worker took the lease of the row this pass was writing."""


@dataclass
class _Pass:
    record: type[SendRecord] | type[BatchRecord] | type[ConversationRecord]
    valid_until: float  # monotonic: ours until then at least
    number: int


class LeaseKeeper:
    """Renews `owner`'s leases every quarter of `seconds`: those of the passes under way
    (`begin`…`end`), and those of the rows `waiting()` names (queued or timed passes)."""

    def __init__(
        self,
        *,
        store: Store,
        owner: str,
        seconds: float,
        waiting: Callable[[], set[str]],
    ) -> None:
        self.store = store
        self.owner = owner
        self.seconds = seconds
        self.every = seconds / 4
        self._waiting = waiting
        self._lock = threading.Lock()
        self._passes: dict[str, _Pass] = {}
        self._lost: set[int] = set()  # passes (by number) whose lease another worker took
        self._numbers = itertools.count()
        self._local = threading.local()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def begin(
        self,
        record: type[SendRecord] | type[BatchRecord] | type[ConversationRecord],
        row_id: str,
        taken_at: float,
    ) -> None:
        """This thread makes a pass of the row, whose lease it took at `taken_at` (monotonic,
        read before the statement was sent)."""
        with self._lock:
            this = _Pass(record, taken_at + self.seconds, next(self._numbers))
            self._passes[row_id] = this
            if self._thread is None and not self._stop.is_set():
                self._thread = threading.Thread(target=self._run, name="render-leases", daemon=True)
                self._thread.start()
        self._local.row = row_id

    def end(self, row_id: str) -> None:
        self._local.row = None
        with self._lock:
            this = self._passes.pop(row_id, None)
            if this is not None:
                self._lost.discard(this.number)

    def check(self) -> None:
        """Before a Slack write: raise `LeaseLost` unless this thread's pass holds its lease
        for a while yet (renewed here if the renewals fell behind)."""
        row_id = getattr(self._local, "row", None)
        if row_id is None:
            return
        with self._lock:
            this = self._passes.get(row_id)
            if this is None:
                return
            lost = this.number in self._lost
            fresh = time.monotonic() < this.valid_until - self.every
        if lost:
            raise LeaseLost(row_id)
        if fresh:
            return
        sent = time.monotonic()
        renewed = self.store.renew_render(this.record, [row_id], self.owner, seconds=self.seconds)
        self._renewed(this.record, {row_id: this}, renewed, sent)
        if row_id not in renewed:
            raise LeaseLost(row_id)

    def renew(self) -> None:
        """Renew every lease this process holds and still needs, once."""
        with self._lock:
            passes = dict(self._passes)
        waiting = self._waiting() - passes.keys()
        for record in _RECORDS:
            mine = {row_id: p for row_id, p in passes.items() if p.record is record}
            if not mine and not waiting:
                continue
            sent = time.monotonic()
            renewed = self.store.renew_render(
                record, mine.keys() | waiting, self.owner, seconds=self.seconds
            )
            self._renewed(record, mine, renewed, sent)

    def _renewed(
        self,
        record: type[SendRecord] | type[BatchRecord] | type[ConversationRecord],
        asked: dict[str, _Pass],
        renewed: set[str],
        sent: float,
    ) -> None:
        with self._lock:
            for row_id, asked_for in asked.items():
                this = self._passes.get(row_id)
                if this is None or this.number != asked_for.number:
                    continue  # that pass ended meanwhile
                if row_id in renewed:
                    this.valid_until = max(this.valid_until, sent + self.seconds)
                else:
                    self._lost.add(this.number)
                    logger.warning(
                        "Lost the lease of %s %s to another worker", record.__name__, row_id
                    )

    def _run(self) -> None:
        while not self._stop.wait(self.every):
            try:
                self.renew()
            except Exception:
                logger.exception("Failed to renew render leases")

    def stop(self) -> None:
        self._stop.set()
