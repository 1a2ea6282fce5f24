"""Conversations: customers' messages shown in the right thread, one conversation at a time;
WhatsApp's window and the do-not-send lists, as every confirmation asks about them.

A customer's message joins the thread of the newest send from that sender to that customer, or
the thread the conversation's last message went to, whichever was active last, if younger than
`conversations.thread_idle_hours`; otherwise it opens a new thread in the sender's inbox
channel. A conversation's messages are shown by one worker at a time (its render lease, across
instances), so two messages arriving together for a new conversation make one thread.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from slack_sdk.errors import SlackApiError

from bot.blocks import conversations as shown
from bot.core.config import Config, Sender
from bot.core.records import ConversationRecord, InboundRecord, utcnow
from bot.core.window import Window
from bot.media.download import Downloaded, download_url
from bot.media.refusals import MediaUrlRefused
from bot.store import Store
from bot.usecases.metrics import Metrics
from bot.usecases.render import ThreadRenderer
from bot.usecases.send_passes import GiveUp

logger = logging.getLogger(__name__)

# What Slack answers `files.delete` for a file that is gone already, or not the bot's to delete.
_FILE_GONE = frozenset({"file_not_found", "file_deleted", "cant_delete_file"})

Download = Callable[[str], Downloaded]


@dataclass(frozen=True)
class Standing:
    """What a confirmation says of one customer: the window, and an opt-out if any."""

    window: Window
    opted_out: ConversationRecord | None = None


class Conversations:
    """Where customers' messages go, and what the bot knows of each customer."""

    def __init__(
        self,
        *,
        config: Config,
        store: Store,
        renderer: ThreadRenderer,
        metrics: Metrics | None = None,
        download: Download | None = None,
    ) -> None:
        self.config = config
        self.store = store
        self.renderer = renderer
        self.metrics = metrics or Metrics()
        self._download = download or self._fetch
        renderer.conversation_pass = self.show
        # Told of every conversation after its pass (the Home tab's waiting list listens).
        self.on_conversation_change: Callable[[ConversationRecord], None] | None = None

    # what confirmations ask

    def standing(self, sender_alias: str, customer: str) -> Standing:
        return self.standings(sender_alias, [customer])[customer]

    def standings(self, sender_alias: str, customers: Iterable[str]) -> dict[str, Standing]:
        wanted = list(customers)
        found = self.store.conversations_with(sender_alias, wanted)
        hours = self.config.conversations.window_hours
        now = utcnow()
        result = {}
        for customer in wanted:
            conversation = found.get(customer)
            last = conversation.last_customer_at if conversation else None
            out = conversation if conversation is not None and conversation.opted_out else None
            result[customer] = Standing(window=Window(last, hours, now), opted_out=out)
        return result

    def answered(self, sender_alias: str, customer: str) -> None:
        """A message went to the customer from this sender: no reply waits any more."""
        conversation_id = self.store.conversation_answered(sender_alias, customer)
        if conversation_id is not None:
            self.renderer.schedule_conversation(conversation_id)

    def senders_in(self, channel_id: str | None) -> list[Sender]:
        """The senders allowed in a channel (every sender where no channel is configured)."""
        policy = self.config.channels.get(channel_id or "")
        aliases = policy.allowed_senders if policy is not None else tuple(self.config.senders)
        return [self.config.senders[a] for a in aliases if a in self.config.senders]

    def opt_outs(self, senders: Iterable[Sender]) -> list[tuple[ConversationRecord, Sender]]:
        """The do-not-send lists of these senders, newest first, each entry with its sender."""
        by_alias = {sender.alias: sender for sender in senders}
        return [(c, by_alias[c.sender_alias]) for c in self.store.opted_out(by_alias)]

    def blacklisted(self, sender_alias: str, customer: str) -> bool:
        """The provider said BLACKLISTED: the number goes on the sender's do-not-send list."""
        return self.store.opt_out(
            sender_alias, customer, "the provider reported the number as BLACKLISTED"
        )

    # showing messages (a render pass, under the conversation's lease)

    def show(self, conversation: ConversationRecord, now_showing: dict[str, Any]) -> bool:
        sender = self._sender(conversation.sender_alias)
        wrote = False
        for message in self.store.unshown_inbound(conversation.id):
            conversation, posted = self._show_message(conversation, message, sender)
            wrote |= posted
        wrote |= self._show_root(conversation, sender, now_showing)
        if self.on_conversation_change is not None:
            try:
                self.on_conversation_change(conversation)
            except Exception:  # the thread is shown; a Home tab is refreshed at its next change
                logger.exception("Failed to refresh the Home tabs listing a conversation")
        return wrote

    def _sender(self, alias: str) -> Sender:
        configured = self.config.senders.get(alias)
        return configured or Sender(alias=alias, number="", label=alias)

    def _show_message(
        self, conversation: ConversationRecord, message: InboundRecord, sender: Sender
    ) -> tuple[ConversationRecord, bool]:
        wrote = False
        posted_before = message.message_ts is not None
        attachments = json.loads(message.attachments or "[]")
        if not posted_before:
            # A message without files is shown once posted: stored so in the same write.
            placed = self._place(conversation, message, sender, finished=not attachments)
            if placed is None:
                self._done(message)
                return conversation, False
            conversation, message = placed
            if message.shown_at is not None:
                self._counted(message)
                return conversation, True
            wrote = True
        elif message.content_removed_at is not None:
            wrote |= self._show_again(conversation, message, sender)
        results: list[dict[str, Any]] = json.loads(message.files_shown or "[]")
        for attachment in attachments[len(results) :]:
            if message.content_removed_at is not None:  # nothing left to fetch
                results.append({"name": attachment.get("file_name"), "error": "removed"})
            else:
                results.append(self._attach(message, attachment))
            self.store.set_inbound_fields(message.id, files_shown=json.dumps(results))
            wrote = True
        self._done(message, again=posted_before)
        return conversation, wrote

    def _done(self, message: InboundRecord, *, again: bool = False) -> None:
        now = utcnow()
        self.store.set_inbound_fields(message.id, shown_at=now)
        if not again:
            self._counted(dataclasses.replace(message, shown_at=now))

    def _counted(self, message: InboundRecord) -> None:
        """The message is in its thread: how long after it came in."""
        assert message.shown_at is not None
        self.metrics.inbound_shown((message.shown_at - message.received_at).total_seconds())

    def _show_again(
        self, conversation: ConversationRecord, message: InboundRecord, sender: Sender
    ) -> bool:
        """A message posted before whose content was removed since (its customer forgotten):
        edited to show what is stored now, without its `Reply` button once the number is
        masked, and the files uploaded from its attachments deleted from Slack."""
        root = message.id == conversation.root_inbound_id
        content = shown.customer_message(
            message,
            sender,
            answerable=conversation.answerable and conversation.forgotten_at is None,
            waiting=(conversation.waiting_since is not None) if root else None,
            file_names=_file_names(message) if root else None,
        )
        try:
            self.renderer.call(
                "chat_update",
                channel=message.channel_id,
                ts=message.message_ts,
                **content.as_kwargs(),
            )
        except GiveUp:  # the message is gone from Slack, or its channel: nothing to edit
            logger.warning("A forgotten customer's message %s could not be edited", message.id)
        if conversation.forgotten_at is not None:
            self._delete_files(message)
        return True

    def _delete_files(self, message: InboundRecord) -> None:
        """The files uploaded into Slack from a forgotten customer's attachments, deleted."""
        results: list[dict[str, Any]] = json.loads(message.files_shown or "[]")
        changed = False
        for entry in results:
            if not isinstance(entry, dict) or not entry.get("file_id") or entry.get("deleted"):
                continue
            try:
                self.renderer.call("files_delete", file=entry["file_id"])
            except SlackApiError as exc:
                if exc.response.get("error") not in _FILE_GONE:
                    raise
            entry["deleted"] = True
            changed = True
        if changed:
            self.store.set_inbound_fields(message.id, files_shown=json.dumps(results))

    def _place(
        self,
        conversation: ConversationRecord,
        message: InboundRecord,
        sender: Sender,
        *,
        finished: bool = False,
    ) -> tuple[ConversationRecord, InboundRecord] | None:
        """Post the message in its thread (or as a new thread's root); with `finished`, it
        is stored as shown too (nothing follows the post)."""
        now = utcnow()
        idle = timedelta(hours=self.config.conversations.thread_idle_hours)
        candidates: list[tuple[datetime, str, str, str | None, str | None]] = []
        if conversation.channel_id and conversation.thread_ts and conversation.thread_active_at:
            candidates.append(
                (
                    conversation.thread_active_at,
                    conversation.channel_id,
                    conversation.thread_ts,
                    conversation.root_send_id,
                    conversation.root_inbound_id,
                )
            )
        if conversation.answerable:
            newest = self.store.newest_send_thread(conversation.sender_alias, conversation.customer)
            if newest is not None:
                channel, thread, active, send_id = newest
                same = (channel, thread) == (conversation.channel_id, conversation.thread_ts)
                root_send = send_id if self._is_root(send_id, thread) else None
                candidates.append(
                    (
                        active,
                        channel,
                        thread,
                        conversation.root_send_id if same else root_send,
                        conversation.root_inbound_id if same else None,
                    )
                )
        answerable = conversation.answerable
        fresh = [c for c in candidates if now - c[0] < idle]
        if fresh:
            _, channel, thread, root_send, root_inbound = max(fresh, key=lambda c: c[0])
            content = shown.customer_message(message, sender, answerable=answerable)
            broadcast = _age(thread, now) > timedelta(
                hours=self.config.conversations.broadcast_after_hours
            )
            response = self.renderer.call(
                "chat_postMessage",
                channel=channel,
                thread_ts=thread,
                reply_broadcast=broadcast,
                unfurl_links=False,
                unfurl_media=False,
                **content.as_kwargs(),
            )
            ts = str(response["ts"])
        else:
            inbox = self.config.inbox_channel(conversation.sender_alias)
            if inbox is None:
                logger.warning(
                    "A message from %s to sender %s is kept but not shown: the sender has no "
                    "inbox channel (set senders.%s.inbox_channel)",
                    conversation.customer,
                    conversation.sender_alias,
                    conversation.sender_alias,
                )
                return None
            content = shown.customer_message(
                message, sender, answerable=answerable, waiting=message.optout != "out"
            )
            response = self.renderer.call(
                "chat_postMessage",
                channel=inbox,
                unfurl_links=False,
                unfurl_media=False,
                **content.as_kwargs(),
            )
            ts = str(response["ts"])
            channel, thread, root_send, root_inbound = inbox, ts, None, message.id
        placed: dict[str, Any] = {"channel_id": channel, "thread_ts": thread, "message_ts": ts}
        if finished:
            placed["shown_at"] = utcnow()
        self.store.set_inbound_fields(message.id, **placed)
        changes: dict[str, Any] = {
            "channel_id": channel,
            "thread_ts": thread,
            "thread_active_at": now,
            "root_send_id": root_send,
            "root_inbound_id": root_inbound,
        }
        if root_inbound == message.id:  # a new root: it says whether a reply waits
            changes["root_shown"] = "waiting" if message.optout != "out" else "answered"
        if (channel, thread) != (conversation.channel_id, conversation.thread_ts):
            self._leave_root(conversation)
        self.store.set_conversation_fields(conversation.id, **changes)
        conversation = dataclasses.replace(conversation, **changes)
        message = dataclasses.replace(message, **placed)
        return conversation, message

    def _is_root(self, send_id: str, thread: str) -> bool:
        send = self.store.get_send(send_id)
        return send is not None and send.thread_ts is None and send.message_ts == thread

    def _leave_root(self, conversation: ConversationRecord) -> None:
        """The conversation moves to another thread: its old root no longer says a reply waits."""
        if conversation.root_send_id:
            self.store.mark_send_waiting(conversation.root_send_id, False)
            self.renderer.schedule(conversation.root_send_id)
        elif conversation.root_inbound_id and conversation.root_shown == "waiting":
            root = self.store.get_inbound(conversation.root_inbound_id)
            if root is not None and root.message_ts and root.channel_id:
                content = shown.customer_message(
                    root,
                    self._sender(root.sender_alias),
                    answerable=conversation.answerable,
                    waiting=False,
                    file_names=_file_names(root),
                )
                self.renderer.call(
                    "chat_update",
                    channel=root.channel_id,
                    ts=root.message_ts,
                    **content.as_kwargs(),
                )

    def _show_root(
        self, conversation: ConversationRecord, sender: Sender, now_showing: dict[str, Any]
    ) -> bool:
        """The thread's root says whether a reply is waiting."""
        waiting = conversation.waiting_since is not None
        if conversation.root_send_id:
            send = self.store.get_send(conversation.root_send_id)
            if send is not None and send.reply_waiting != waiting:
                self.store.mark_send_waiting(send.id, waiting)
                self.renderer.schedule(send.id)
            return False
        if not conversation.root_inbound_id:
            return False
        wanted = "waiting" if waiting else "answered"
        if conversation.root_shown == wanted:
            return False
        root = self.store.get_inbound(conversation.root_inbound_id)
        if root is None or root.message_ts is None or root.channel_id is None:
            return False
        content = shown.customer_message(
            root,
            sender,
            answerable=conversation.answerable,
            waiting=waiting,
            file_names=_file_names(root),
        )
        self.renderer.call(
            "chat_update", channel=root.channel_id, ts=root.message_ts, **content.as_kwargs()
        )
        now_showing["root_shown"] = wanted
        return True

    # attachments

    def _attach(self, message: InboundRecord, attachment: dict[str, Any]) -> dict[str, Any]:
        """Fetch one attachment and upload it into the message's thread; what was shown."""
        name = attachment.get("file_name") or _name_from_url(attachment["url"])
        started = time.monotonic()
        try:
            got = self._download(attachment["url"])
        except MediaUrlRefused as refused:
            logger.warning(
                "A customer's attachment from %s was not shown: %s",
                message.customer,
                refused.reason,
            )
            self.renderer.call(
                "chat_postMessage",
                channel=message.channel_id,
                thread_ts=message.thread_ts,
                **shown.attachment_refused(name, refused.reason).as_kwargs(),
            )
            return {"name": name, "error": refused.reason}
        response = self.renderer.call(
            "files_upload_v2",
            channel=message.channel_id,
            thread_ts=message.thread_ts,
            file=got.data,
            filename=name,
            title=attachment.get("caption") or name,
        )
        files = response.get("files") or [response.get("file") or {}]
        file_id = files[0].get("id") if files else None
        logger.info(
            "Uploaded a customer's attachment (%d bytes) in %.2f s",
            len(got.data),
            time.monotonic() - started,
        )
        return {"name": name, "file_id": file_id, "size": len(got.data)}

    def _fetch(self, url: str) -> Downloaded:
        return download_url(
            url,
            allow_private_hosts=self.config.media.allow_private_hosts,
            timeout=self.config.whatsapp.timeout_seconds,
        )


def _age(thread_ts: str, now: datetime) -> timedelta:
    try:
        return timedelta(seconds=now.timestamp() - float(thread_ts))
    except ValueError:
        return timedelta(0)


def _name_from_url(url: str) -> str:
    tail = url.split("?", 1)[0].rstrip("/").rsplit("/", 1)[-1]
    return tail[:100] or "attachment"


def _file_names(message: InboundRecord) -> list[str]:
    return [
        a.get("file_name") or _name_from_url(a.get("url", ""))
        for a in json.loads(message.attachments or "[]")
    ]
