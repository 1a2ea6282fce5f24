"""What a send's thread shows, and a group's progress message: the passes `ThreadRenderer`
runs under a row's lease (mixed into it), each a function of the stored row and its statuses.

A send's record is edited when its label (`record_label`: the status at a glance, a reply
waiting, content removed) changes; the replies of its thread are posted once each, and edited
again only when the send's content was removed (they may quote what the provider said of the
number, masked since).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

from bot import blocks
from bot.core import statuses
from bot.core.config import Sender
from bot.store import BatchRecord, SendRecord, SendState, StatusRow, Store, utcnow
from bot.usecases.metrics import Metrics

_NOT_SHOWN_YET = (SendState.CONFIRMED, SendState.SENDING)
# A draft's offer and a cancelled offer are shown by the click handlers, never as a record.
_NEVER_SHOWN = (SendState.DRAFT, SendState.CANCELLED)
_REMOVED = " removed"


class GiveUp(Exception):
    """Slack will never accept this thread's updates."""


class NotReady(Exception):
    """Not showable yet (a group member before its progress message): left dirty for later."""


def record_label(send: SendRecord) -> str:
    """What the channel message shows at a glance; a change of it means an edit."""
    label = send.provider_status or str(send.state)
    if send.reply_waiting:
        label += " waiting"
    if send.content_removed_at is not None:
        label += _REMOVED
    return label


def _removed(label: str | None) -> bool:
    return label is not None and label.endswith(_REMOVED)


class SendPasses:
    """A send's pass, a group member's and a group's (see `ThreadRenderer._keep_up`)."""

    store: Store
    senders: Callable[[SendRecord], Sender]
    metrics: Metrics
    on_change: Callable[[SendRecord], None] | None

    def _call(self, method: str, **kwargs: Any) -> Any:
        """A Slack write of the pass under way (`ThreadRenderer._call`)."""
        raise NotImplementedError

    def schedule_batch(self, batch_id: str) -> None:
        raise NotImplementedError

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
            raise NotReady
        thread = batch.thread_ts or batch.message_ts
        wrote = False
        if send.content_removed_at is not None and not _removed(send.message_status):
            # A member's replies name its recipient: edited once its content was removed.
            self._replies_again(send, member=True)
            send = self._set(send, message_status=_REMOVED.strip())
            wrote = True
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
        label = record_label(send)
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
        if _removed(label) and not _removed(send.message_status):
            self._replies_again(send)
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

    def _replies_again(self, send: SendRecord, *, member: bool = False) -> None:
        """Edit the replies that quote the provider (why a send failed, a status's detail)
        again: the send's content was removed, and with it the number they may name."""
        if send.outcome_ts is not None:
            outcome = blocks.member_outcome(send) if member else blocks.outcome_reply(send)
            self._call(
                "chat_update", channel=send.channel_id, ts=send.outcome_ts, **outcome.as_kwargs()
            )
        for row in self.store.timeline(send.id):
            if row.reply_ts is None:
                continue
            reply = blocks.member_failure(send, row) if member else blocks.status_event_reply(row)
            self._call("chat_update", channel=send.channel_id, ts=row.reply_ts, **reply.as_kwargs())
