"""Keeps each send's Slack thread in step with the database.

What a thread shows is a function of the stored send and its statuses. Whoever changes a send
now_showing it dirty; one worker at a time (a lease in the database, so across instances too) brings
Slack up to date, at most one pass a second per thread, so a burst of callbacks is coalesced
and the last edit shows the most advanced status. A sweeper picks up what a crash left behind.
"""

from __future__ import annotations

import dataclasses
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
from bot.core import statuses
from bot.core.config import Config, Sender
from bot.core.logs import log_context
from bot.store import (
    BatchRecord,
    ConversationRecord,
    Lease,
    SendRecord,
    SendState,
    StatusRow,
    Store,
    batches,
    utcnow,
)
from bot.store.schema import conversations  # the table: `bot.store.conversations` is a module
from bot.usecases.delayed import DelayedCalls
from bot.usecases.leases import LeaseKeeper, LeaseLost
from bot.usecases.metrics import Metrics

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
_NOT_SHOWN_YET = (SendState.CONFIRMED, SendState.SENDING)
# A draft's offer and a cancelled offer are shown by the click handlers, never as a record.
_NEVER_SHOWN = (SendState.DRAFT, SendState.CANCELLED)


class ThreadRenderer:
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
        it lets go, and goes on), and not before a second has passed since the last write."""
        self._changed(send_id, lease, self._render_send)

    def conversation_changed(self, conversation_id: str, lease: Lease) -> None:
        """A customer wrote (as `changed`, for the conversation's row)."""
        self._changed(conversation_id, lease, self._render_conversation)

    def _changed(self, row_id: str, lease: Lease, fn: Callable[[str], None]) -> None:
        now = utcnow()
        if lease.owner not in (None, self._owner) and lease.until and lease.until > now:
            return
        self._submit(row_id, fn, self._too_soon(lease.rendered_at, now))

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
        except _GiveUp:
            gone = load(row_id)
            shown = gone.version if gone is not None else None
        except _NotReady:
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
        except (SlackClientError, _GiveUp, LeaseLost):
            logger.exception("Failed to say in Slack that send %s waits", send_id)
        finally:
            self._leases.end(send_id)
            self.store.finish_render(SendRecord, send_id, self._owner, None, **now_showing)

    def _pass(self, send: SendRecord, now_showing: dict[str, Any]) -> bool:
        """One pass: post what is missing, edit what changed. True if Slack was written to.

        What is posted is stored at once (so a message is never posted twice); what an edit
        shows goes into `now_showing` (an edit done twice is harmless)."""
        if send.channel_id is None or send.state in _NEVER_SHOWN:
            return False
        if send.batch_id is not None:
            return self._member_pass(send)
        if send.state in _NOT_SHOWN_YET and send.message_ts is None:
            return False
        sender = self.senders(send)
        wrote = False
        send, posted = self._record(send, sender, now_showing)
        wrote |= posted
        thread = send.thread_ts or send.message_ts
        assert thread is not None
        if send.transaction_id and send.txid_ts is None:
            ts = self._post(send, thread, blocks.transaction_reply(send))
            send = self._set(send, txid_ts=ts)
            wrote = True
        if send.state in (SendState.FAILED, SendState.UNKNOWN) and send.outcome_ts is None:
            ts = self._post(send, thread, blocks.outcome_reply(send))
            send = self._set(send, outcome_ts=ts)
            wrote = True
        # Replies of their own first, then the summary: whoever reads the summary at a status
        # finds every failure and unknown status before it already said.
        rows = self.store.timeline(send.id)
        wrote |= self._event_replies(send, thread, rows)
        wrote |= self._status_reply(send, thread, rows, now_showing)
        if wrote and self.on_change is not None:
            self.on_change(send)
        return wrote

    def _member_pass(self, send: SendRecord) -> bool:
        """A group member shows only what went wrong, in its group's thread."""
        assert send.batch_id is not None
        batch = self.store.get_batch(send.batch_id)
        if batch is None:
            return False
        if batch.message_ts is None:
            raise _NotReady
        thread = batch.thread_ts or batch.message_ts
        wrote = False
        if send.state in (SendState.FAILED, SendState.UNKNOWN) and send.outcome_ts is None:
            ts = self._post(send, thread, blocks.member_outcome(send))
            self.store.set_send_fields(send.id, outcome_ts=ts)
            wrote = True
        for row in self.store.timeline(send.id):
            info = statuses.describe(row.status)
            if row.reply_ts is None and info.is_failure:
                ts = self._post(send, thread, blocks.member_failure(send, row))
                self._shown(row)
                self.store.set_status_reply(send.id, row.status, ts)
                wrote = True
        self.schedule_batch(batch.id)
        return wrote

    def _batch_pass(self, batch: BatchRecord, now_showing: dict[str, Any]) -> bool:
        """The group's one progress message, posted once and edited as members advance."""
        if batch.channel_id is None or batch.state in _NEVER_SHOWN:
            return False
        members = self.store.batch_sends(batch.id)
        if not members:
            return False
        message = blocks.group_progress(batch, members, self.senders(members[0]))
        if batch.message_ts is None:
            response = self._call(
                "chat_postMessage",
                channel=batch.channel_id,
                thread_ts=batch.thread_ts,
                **message.as_kwargs(),
            )
            self.store.update_batch(batch.id, message_ts=str(response["ts"]), shown=message.text)
            return True
        if batch.shown == message.text:
            return False
        self._call(
            "chat_update",
            channel=batch.channel_id,
            ts=batch.message_ts,
            **message.as_kwargs(),
        )
        now_showing["shown"] = message.text
        return True

    def _record(
        self, send: SendRecord, sender: Sender, now_showing: dict[str, Any]
    ) -> tuple[SendRecord, bool]:
        """The channel message (or the offer message in a file's thread), with the latest status."""
        label = _label(send)
        message = blocks.record(send, sender)
        if send.message_ts is None:
            ts = self._post(send, send.thread_ts, message)
            changes: dict[str, Any] = {"message_ts": ts, "message_status": label}
            return self._set(send, **changes), True
        if send.message_status == label:
            return send, False
        self._call(
            "chat_update", channel=send.channel_id, ts=send.message_ts, **message.as_kwargs()
        )
        now_showing["message_status"] = label
        return dataclasses.replace(send, message_status=label), True

    def _status_reply(
        self, send: SendRecord, thread: str, rows: list[StatusRow], now_showing: dict[str, Any]
    ) -> bool:
        if send.provider_status is None or send.status_shown == send.provider_status:
            return False
        message = blocks.status_reply(send, rows)
        if send.status_ts is None:
            ts = self._post(send, thread, message)
            self._shown(*(row for row in rows if row.status == send.provider_status))
            self._set(send, status_ts=ts, status_shown=send.provider_status)
        else:
            self._call(
                "chat_update",
                channel=send.channel_id,
                ts=send.status_ts,
                **message.as_kwargs(),
            )
            self._shown(*(row for row in rows if row.status == send.provider_status))
            now_showing["status_shown"] = send.provider_status
        return True

    def _shown(self, *rows: StatusRow) -> None:
        """The thread shows the status of `rows` (one status's rows) from now: how long
        after its first callback came in."""
        if rows:
            first = min(row.received_at for row in rows)
            self.metrics.shown((utcnow() - first).total_seconds())

    def _event_replies(self, send: SendRecord, thread: str, rows: list[StatusRow]) -> bool:
        """A new reply for every failure and every status the bot does not know."""
        wrote = False
        for row in rows:
            info = statuses.describe(row.status)
            if row.reply_ts is None and (info.is_failure or not info.is_known):
                ts = self._post(send, thread, blocks.status_event_reply(row))
                self._shown(row)
                self.store.set_status_reply(send.id, row.status, ts)
                wrote = True
        return wrote

    def _set(self, send: SendRecord, **changes: Any) -> SendRecord:
        """Store Slack refs of a send; the record is updated here, not read back."""
        self.store.set_send_fields(send.id, **changes)
        return dataclasses.replace(send, **changes)

    def _post(self, send: SendRecord, thread_ts: str | None, message: blocks.SlackMessage) -> str:
        response = self._call(
            "chat_postMessage",
            channel=send.channel_id,
            thread_ts=thread_ts,
            unfurl_links=False,
            unfurl_media=False,
            **message.as_kwargs(),
        )
        return str(response["ts"])

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
                raise _GiveUp from None
            raise


class _GiveUp(Exception):
    """Slack will never accept this thread's updates."""


class _NotReady(Exception):
    """Not showable yet (a group member before its progress message): left dirty for later."""


Row = TypeVar("Row", SendRecord, BatchRecord, ConversationRecord)


def _label(send: SendRecord) -> str:
    """What the channel message shows at a glance; a change of it means an edit."""
    label = send.provider_status or str(send.state)
    return f"{label} waiting" if send.reply_waiting else label
