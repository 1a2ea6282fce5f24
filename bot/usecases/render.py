"""Keeps each send's Slack thread in step with the database.

What a thread shows is a function of the stored send and its statuses (the passes are in
`send_passes.py`, a conversation's in `conversations.py`). Whoever changes a send marks it
dirty; one worker at a time (a lease in the database, so across instances too) brings Slack up
to date, at most one pass a second per thread, so a burst of callbacks is coalesced and the
last edit shows the most advanced status. A sweeper picks up what a crash left behind.
"""

from __future__ import annotations

import logging
import secrets
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from typing import Any, TypeVar

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError

from bot import blocks
from bot.core.config import Config, Sender
from bot.core.logs import log_context
from bot.store import (
    BatchRecord,
    ConversationRecord,
    Lease,
    SendRecord,
    Store,
    batches,
    utcnow,
)
from bot.store.schema import conversations  # the table: `bot.store.conversations` is a module
from bot.usecases.delayed import DelayedCalls
from bot.usecases.leases import LeaseKeeper, LeaseLost
from bot.usecases.metrics import Metrics
from bot.usecases.send_passes import GiveUp, NotReady, SendPasses

logger = logging.getLogger(__name__)

NOT_READY_RETRY = 1.0
# How many rows' last write times a process keeps before it forgets those past the interval.
_REMEMBERED_WRITES = 4096
# Slack errors that no retry will fix: the thread is given up, not retried forever.
PERMANENT_ERRORS = frozenset(
    {
        "channel_not_found",
        "not_in_channel",
        "is_archived",
        "message_not_found",
        "cant_update_message",
        "msg_too_long",
        "invalid_blocks",
        "no_text",
        "restricted_action",
        "thread_locked",
    }
)


# Seconds a send's first change waits for the ones right behind it (see `ThreadRenderer`).
GATHER_SECONDS = 0.25


class ThreadRenderer(SendPasses):
    """Brings Slack threads up to date with stored sends, once per change, in order."""

    def __init__(
        self,
        *,
        config: Config,
        store: Store,
        client: WebClient,
        senders: Callable[[SendRecord], Sender],
        min_interval: float = 1.0,
        lease_seconds: float = 2.0,
        workers: int = 4,
        metrics: Metrics | None = None,
    ) -> None:
        self.config = config
        self.store = store
        self.client = client
        self.senders = senders
        self.metrics = metrics or Metrics()
        self.min_interval = min_interval
        # A send's change waits this long before its pass, so that a burst (a provider posts
        # QUEUE, SENT and DELIVERED a few ms apart) is one edit, not two a second apart.
        self.gather = min(GATHER_SECONDS, min_interval / 4)
        self.lease_seconds = lease_seconds
        self._owner = secrets.token_hex(8)
        self._executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="render")
        self._delayed = DelayedCalls()
        self._lock = threading.Lock()
        self._busy: dict[str, bool] = {}  # row → asked again while queued or running
        # Leases are short and renewed while this process works on their rows or waits to
        # (queued, or timed): if it dies, another instance takes its threads over quickly.
        self._leases = LeaseKeeper(
            store=store, owner=self._owner, seconds=lease_seconds, waiting=self._waiting
        )
        self._wrote: dict[str, float] = {}  # row → when this process last wrote it to Slack
        # Told of every send whose thread changed (the Home tab listens).
        self.on_change: Callable[[SendRecord], None] | None = None
        # A conversation's pass (`usecases/conversations.py`): customers' messages into threads.
        self.conversation_pass: Callable[[ConversationRecord, dict[str, Any]], bool] | None = None

    # scheduling

    def schedule(self, send_id: str) -> None:
        """Update the send's thread in the background."""
        self._submit(send_id, self._render_send)

    def claim(self) -> tuple[str, datetime]:
        """What a change takes the send's lease with, if free (`Store.take_callback`): one
        lease, renewed while this worker waits out the second since the last write."""
        return self._owner, utcnow() + timedelta(seconds=self.lease_seconds)

    def changed(self, send_id: str, lease: Lease) -> None:
        """The send changed, leaving its render `lease` as it was: update its thread in the
        background, unless another worker holds the lease (it finds the row still dirty as
        it lets go, and goes on), after `gather` seconds, and not before a second has passed
        since the last write."""
        self._changed(send_id, lease, self._render_send, self.gather)

    def conversation_changed(self, conversation_id: str, lease: Lease) -> None:
        """A customer wrote (as `changed`, for the conversation's row)."""
        self._changed(conversation_id, lease, self._render_conversation)

    def _changed(
        self, row_id: str, lease: Lease, fn: Callable[[str], None], gather: float = 0.0
    ) -> None:
        now = utcnow()
        if lease.owner not in (None, self._owner) and lease.until and lease.until > now:
            return
        self._submit(row_id, fn, max(gather, self._too_soon(lease.rendered_at, now)))

    def schedule_conversation(self, conversation_id: str) -> None:
        """Show a conversation's new messages (and what its thread's root says) in the
        background."""
        self._submit(conversation_id, self._render_conversation)

    def schedule_batch(self, batch_id: str) -> None:
        """Update a group send's progress message in the background."""
        self._submit(batch_id, self._render_batch)

    def _submit(self, row_id: str, fn: Callable[[str], None], wait: float = 0.0) -> None:
        """Run `fn(row_id)` on a render worker, unless this process will anyway: a pass that
        is queued or running for the row is told to run again when it ends, a row written to
        Slack less than `min_interval` ago waits for the interval (or `wait` seconds, if
        longer), and a row already waiting is left to wait. A burst of changes to one send
        costs one pass, not one per change."""
        with self._lock:
            if self._asked_again(row_id) or self._delayed.pending(row_id):
                return
            wait = max(wait, self._local_wait(row_id))
            if wait > 0:
                self._delayed.call(wait, lambda later_id: self._submit(later_id, fn), row_id)
                return
            self._busy[row_id] = False
        try:
            self._executor.submit(self._run, row_id, fn)
        except RuntimeError:  # shutting down: the sweeper of the next start will do it
            with self._lock:
                self._busy.pop(row_id, None)
            logger.info("Not updating Slack for %s: shutting down", row_id)

    def _waiting(self) -> set[str]:
        """The rows this process has a pass of queued, running or timed."""
        with self._lock:
            busy = set(self._busy)
        return busy | self._delayed.rows()

    def _run(self, row_id: str, fn: Callable[[str], None]) -> None:
        try:
            fn(row_id)
        except Exception:
            logger.exception("Failed to update Slack for %s", row_id)
        finally:
            with self._lock:
                again = self._busy.pop(row_id, False)
            if again:
                self._submit(row_id, fn)

    def _local_wait(self, row_id: str) -> float:
        """Seconds until this process may write the row to Slack again (it wrote it last)."""
        wrote = self._wrote.get(row_id)
        return 0.0 if wrote is None else self.min_interval - (time.monotonic() - wrote)

    def _note_write(self, row_id: str) -> None:
        with self._lock:
            now = time.monotonic()
            if len(self._wrote) > _REMEMBERED_WRITES:
                cutoff = now - self.min_interval
                self._wrote = {k: v for k, v in self._wrote.items() if v > cutoff}
            self._wrote[row_id] = now

    def sweep(self, *, abandoned: bool = False) -> int:
        """Schedule every send or batch that is dirty and not being updated; how many. With
        `abandoned`, only those whose lease ran out (its holder died): cheap enough to run
        every fraction of a lease."""
        dirty = self.store.dirty_rows(abandoned=abandoned)
        for send_id in dirty:
            self.schedule(send_id)
        dirty_batches = self.store.dirty_rows(table=batches, abandoned=abandoned)
        for batch_id in dirty_batches:
            self.schedule_batch(batch_id)
        dirty_conversations = self.store.dirty_rows(table=conversations, abandoned=abandoned)
        for conversation_id in dirty_conversations:
            self.schedule_conversation(conversation_id)
        return len(dirty) + len(dirty_batches) + len(dirty_conversations)

    def close(self) -> None:
        self._leases.stop()
        self._delayed.stop()
        self._executor.shutdown(wait=True, cancel_futures=False)

    # rendering

    def render(self, send_id: str) -> None:
        """Bring the thread up to date now; returns at once if another worker holds the
        lease, or if a pass of this process is queued or running (it is told to go again)."""
        self._now(send_id, self._render_send)

    def render_batch(self, batch_id: str) -> None:
        """Bring a group send's progress message up to date now (as `render`)."""
        self._now(batch_id, self._render_batch)

    def render_conversation(self, conversation_id: str) -> None:
        """Bring a conversation's messages in Slack up to date now (as `render`)."""
        self._now(conversation_id, self._render_conversation)

    def _now(self, row_id: str, fn: Callable[[str], None]) -> None:
        with self._lock:
            if self._asked_again(row_id):
                return
            self._busy[row_id] = False
        self._run(row_id, fn)

    def _asked_again(self, row_id: str) -> bool:
        """With the lock held: if a pass of the row is queued or running, tell it to run
        again when it ends, and say so."""
        if row_id in self._busy:
            self._busy[row_id] = True
            return True
        return False

    def _render_send(self, send_id: str) -> None:
        with log_context(send_id=send_id):
            self._keep_up(send_id, SendRecord, self.store.get_send, self._pass, self.schedule)

    def _render_batch(self, batch_id: str) -> None:
        with log_context(batch_id=batch_id):
            self._keep_up(
                batch_id, BatchRecord, self.store.get_batch, self._batch_pass, self.schedule_batch
            )

    def _render_conversation(self, conversation_id: str) -> None:
        if self.conversation_pass is None:
            return
        with log_context(conversation_id=conversation_id):
            self._keep_up(
                conversation_id,
                ConversationRecord,
                self.store.get_conversation,
                self.conversation_pass,
                self.schedule_conversation,
            )

    def _keep_up(
        self,
        row_id: str,
        record: type[Row],
        load: Callable[[str], Row | None],
        do_pass: Callable[[Row, dict[str, Any]], bool],
        again: Callable[[str], None],
    ) -> None:
        """One pass under the row's lease, if it is dirty; what is left is scheduled, never
        slept on, so a few render workers keep many threads up to date.

        Passes that write are at least `min_interval` apart, across workers and instances
        (`rendered_at`), so a burst of changes is coalesced into one edit a second. A pass
        notes what its edits now show in `now_showing`, stored as the lease is released.
        """
        # A lease this worker holds already is its own (taken by a change, or kept by the last
        # pass): passes of one row never overlap in a process (`_busy`).
        taken_at = time.monotonic()
        row = self.store.acquire_render(
            record, row_id, self._owner, seconds=self.lease_seconds, held=True
        )
        if row is None:
            return
        self._leases.begin(record, row_id, taken_at)
        shown: int | None = None
        now_showing: dict[str, Any] = {}
        wrote_at: datetime | None = None
        retry_in: float | None = None
        try:
            wait = self._too_soon(row.rendered_at)
            if wait > 0:
                retry_in = wait
            else:
                if do_pass(row, now_showing):
                    wrote_at = utcnow()
                    self._note_write(row_id)
                shown = row.version
        except GiveUp:
            gone = load(row_id)
            shown = gone.version if gone is not None else None
        except NotReady:
            retry_in = NOT_READY_RETRY
        except LeaseLost:
            logger.info("%s %s is another worker's to update now", record.__name__, row_id)
        except SlackClientError:
            logger.exception(
                "Failed to update Slack for %s %s; will retry", record.__name__, row_id
            )
        finally:
            self._leases.end(row_id)
            # Kept if a pass follows when the row is still dirty (below), renewed until then;
            # a failed pass lets go.
            again_if_dirty = retry_in is not None or shown is not None
            hold = utcnow() + timedelta(seconds=self.lease_seconds) if again_if_dirty else None
            still_dirty = self.store.finish_render(
                record, row_id, self._owner, shown, wrote_at=wrote_at, hold=hold, **now_showing
            )
        if retry_in is None and still_dirty and shown is not None:
            retry_in = self.min_interval if wrote_at is not None else 0.0
        if retry_in is not None:
            self._delayed.call(retry_in, again, row_id)

    def _too_soon(self, rendered_at: datetime | None, now: datetime | None = None) -> float:
        """Seconds to wait before this row may be written to Slack again."""
        if rendered_at is None:
            return 0.0
        return self.min_interval - ((now or utcnow()) - rendered_at).total_seconds()

    def show_wait(self, send_id: str, seconds: float) -> None:
        """Say in the thread that the provider asked to wait, posting the record early."""
        with log_context(send_id=send_id):
            self._show_wait(send_id, seconds)

    def _show_wait(self, send_id: str, seconds: float) -> None:
        taken_at = time.monotonic()
        send = self.store.acquire_render(
            SendRecord, send_id, self._owner, seconds=self.lease_seconds, only_dirty=False
        )
        if send is None:
            return
        self._leases.begin(SendRecord, send_id, taken_at)
        now_showing: dict[str, Any] = {}
        try:
            if send.channel_id is None:
                return
            send, _ = self._record(send, self.senders(send), now_showing)
            thread = send.thread_ts or send.message_ts
            self._post(send, thread, blocks.wait_reply(seconds))
        except (SlackClientError, GiveUp, LeaseLost):
            logger.exception("Failed to say in Slack that send %s waits", send_id)
        finally:
            self._leases.end(send_id)
            self.store.finish_render(SendRecord, send_id, self._owner, None, **now_showing)

    def call(self, method: str, **kwargs: Any) -> Any:
        """A Slack write of a pass under way (a conversation's), only while its lease is ours;
        one Slack will never take ends the pass without a retry."""
        return self._call(method, **kwargs)

    def _call(self, method: str, **kwargs: Any) -> Any:
        """A Slack write of the pass under way, only while its lease is still ours."""
        self._leases.check()
        channel = kwargs.get("channel")
        try:
            return getattr(self.client, method)(**kwargs)
        except SlackApiError as exc:
            error = str(exc.response.get("error", ""))
            if error in PERMANENT_ERRORS:
                logger.error(
                    "Slack refused %s in %s: %s; this thread is no longer updated",
                    method,
                    channel,
                    error,
                )
                raise GiveUp from None
            raise


Row = TypeVar("Row", SendRecord, BatchRecord, ConversationRecord)
