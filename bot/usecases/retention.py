"""Retention: kept file bytes deleted after `retention.media_days` (their links then answer
410), captions, texts, file names and customers' messages replaced by `[removed after N days]`
after `retention.content_days`; ids, numbers, times, senders and statuses stay.

Run by the maintenance of every instance at once: the store does a batch of rows per short
transaction, marks each row done, and on PostgreSQL skips the rows another instance is doing.
Between batches the purge waits three times as long as the batch took, so that it holds the
database's writers (SQLite's lock) at most a quarter of the time, and takes at most a quarter of
a core, and callbacks and sends go on meanwhile.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from bot.core.config import Config
from bot.core.retention import removed_after
from bot.store import Store, utcnow

logger = logging.getLogger(__name__)


@dataclass
class Purged:
    """What one round of retention did."""

    media: int = 0
    sends: int = 0
    inbound_messages: int = 0
    seconds: float = 0.0
    batches: int = 0
    longest_batch: float = 0.0  # seconds: the longest a batch held the writers

    @property
    def total(self) -> int:
        return self.media + self.sends + self.inbound_messages


class Retention:
    """One round deletes or replaces everything older than the configured days."""

    def __init__(
        self,
        *,
        config: Config,
        store: Store,
        clock: Callable[[], datetime] = utcnow,
        pause: float = 3.0,
    ) -> None:
        """`pause`: after each batch, wait `pause` times as long as it took."""
        self.config = config
        self.store = store
        self._clock = clock
        self.pause = pause

    def purge(self, stop: threading.Event | None = None) -> Purged:
        """Every batch until nothing older is left (or `stop` is set): the rows done by this
        round, by table."""
        started = time.monotonic()
        now = self._clock()
        days = self.config.retention
        done = Purged()
        media_before = now - timedelta(days=days.media_days)
        done.media = self._batches(
            lambda: self.store.purge_old_media(before=media_before, now=now), stop, done
        )
        if days.content_days is not None:
            before = now - timedelta(days=days.content_days)
            words = removed_after(days.content_days)
            done.sends = self._batches(
                lambda: self.store.remove_old_send_content(before=before, words=words, now=now),
                stop,
                done,
            )
            done.inbound_messages = self._batches(
                lambda: self.store.remove_old_inbound_content(before=before, words=words, now=now),
                stop,
                done,
            )
        done.seconds = time.monotonic() - started
        if done.total:
            logger.info(
                "Retention: deleted the bytes of %d kept file(s) older than %d day(s); removed "
                "the content of %d send(s) and %d customer message(s)%s (%d batches in %.1f s)",
                done.media,
                days.media_days,
                done.sends,
                done.inbound_messages,
                f" older than {days.content_days} day(s)" if days.content_days else "",
                done.batches,
                done.seconds,
            )
        return done

    def _batches(self, batch: Callable[[], int], stop: threading.Event | None, done: Purged) -> int:
        total = 0
        while stop is None or not stop.is_set():
            started = time.monotonic()
            changed = batch()
            took = time.monotonic() - started
            done.batches += 1
            done.longest_batch = max(done.longest_batch, took)
            total += changed
            if changed == 0:
                break
            wait = took * self.pause
            if stop is not None:
                if stop.wait(wait):
                    break
            elif wait > 0:
                time.sleep(wait)
        return total
