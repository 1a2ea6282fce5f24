"""The App Home tab: where each person may send, the conversations waiting for a reply in
those channels, "Find a customer" with the history of the customer last looked up, and the
person's recent sends; kept fresh for those who look at it.

A Home tab is republished when one of its person's sends changes, and when a conversation it
may list starts or stops waiting for a reply (or moves to another thread). The times it shows
(when the customer wrote, the time left in WhatsApp's window) are as of that publish. The
customer a person looked up is remembered by the process that took the lookup, for an hour: a
tab republished by another instance meanwhile shows the input empty again.
"""

from __future__ import annotations

import logging
import threading
import time
from datetime import timedelta
from typing import Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackClientError

from bot import blocks
from bot.blocks.conversations import thread_url
from bot.blocks.history import find_customer, find_problem_blocks, history_blocks
from bot.blocks.home_tab import WaitingReply
from bot.blocks.text import Block
from bot.core import access
from bot.core.config import Config, Sender
from bot.core.errors import SendRefused
from bot.core.records import ConversationRecord
from bot.core.window import Window
from bot.store import Store, utcnow
from bot.usecases.history import History, HistoryRefused
from bot.usecases.permalinks import Permalinks
from bot.usecases.sending import SendService

logger = logging.getLogger(__name__)

RECENT = 95
WAITING = 20
WATCHED_FOR = timedelta(hours=24)
WATCHING_CHECK_SECONDS = 5.0
LOOKUP_KEPT_SECONDS = 3600.0


class HomeTabs:
    """Publishes Home tabs, at most once a second per person."""

    def __init__(
        self,
        *,
        config: Config,
        store: Store,
        client: WebClient,
        sending: SendService,
        min_interval: float = 1.0,
    ) -> None:
        self.config = config
        self.store = store
        self.client = client
        self.sending = sending
        self.min_interval = min_interval
        self._lock = threading.Lock()
        self._pending: set[str] = set()
        self._last: dict[str, float] = {}
        self._watching: dict[str, tuple[float, bool]] = {}  # user → (until when known, answer)
        # What this process last saw of each conversation a Home tab may list (see
        # `conversation_changed`).
        self._listed: dict[str, tuple[bool, str | None, str | None]] = {}
        self.links = Permalinks(client)
        self.history = History(config=config, store=store, sending=sending, links=self.links)
        self._lookups: dict[str, tuple[str, float]] = {}  # user → (what they looked up, until)

    def view(self, user_id: str) -> dict[str, Any]:
        recent, total = self.store.recent_sends(user_id, limit=RECENT)
        allowed = self.config.access.allowed_users
        may_send = not allowed or user_id in allowed
        channels = [
            (policy.channel_id, self._senders(policy.allowed_senders), policy.file_shares)
            for policy in self.config.channels.values()
        ]
        anywhere = None if self.config.channels else self._senders(tuple(self.config.senders))
        waiting = self._waiting(user_id) if may_send else None
        return blocks.home(
            channels=channels,
            anywhere=anywhere,
            may_send=may_send,
            sends=[(send, self.sending.sender_of(send).label) for send in recent],
            total=total,
            waiting=waiting[:WAITING] if waiting is not None else None,
            more_waiting=waiting is not None and len(waiting) > WAITING,
            find=self._find(user_id) if may_send else (),
        )

    def _find(self, user_id: str) -> list[Block]:
        """The tab's "Find a customer", with the history of the one the person looked up last."""
        query = self._lookup(user_id)
        if query is None:
            return find_customer(None)
        try:
            found = self.history.find(query, user_id)
        except HistoryRefused as exc:
            return find_customer(query, find_problem_blocks(str(exc)))
        results = history_blocks(found.number, found.label, found.items, more=found.more)
        return find_customer(query, results)

    def look_up(self, user_id: str, query: str | None) -> None:
        """The person entered a number or contact in "Find a customer" (nothing: cleared it):
        their tab is published at once with that customer's history."""
        query = (query or "").strip()
        with self._lock:
            if len(self._lookups) > 10_000:
                now = time.monotonic()
                self._lookups = {k: v for k, v in self._lookups.items() if v[1] > now}
            if query:
                self._lookups[user_id] = (query, time.monotonic() + LOOKUP_KEPT_SECONDS)
            else:
                self._lookups.pop(user_id, None)
        self.publish(user_id)

    def _lookup(self, user_id: str) -> str | None:
        with self._lock:
            kept = self._lookups.get(user_id)
        if kept is None or kept[1] < time.monotonic():
            return None
        return kept[0]

    def _waiting(self, user_id: str) -> list[WaitingReply]:
        """The conversations waiting for a reply that the person may answer (in a channel
        where they may send, with a sender allowed there), newest first; one more than shown,
        to tell whether there are more."""
        places = None
        if self.config.channels:
            places = {cid: p.allowed_senders for cid, p in self.config.channels.items()}
        found = self.store.waiting_conversations(limit=WAITING + 1, places=places)
        mine = [c for c in found if self.may_answer(user_id, c)]
        if not mine:
            return []
        workspace = self.links.workspace()
        hours = self.config.conversations.window_hours
        now = utcnow()
        return [
            WaitingReply(
                conversation=c,
                sender=self.config.senders[c.sender_alias],
                window=Window(c.last_customer_at, hours, now),
                link=thread_url(workspace, c.channel_id, c.thread_ts),
            )
            for c in mine
        ]

    def may_answer(self, user_id: str, conversation: ConversationRecord) -> bool:
        """Whether the person may send in the conversation's channel with its sender (what
        its `Reply` button asks too)."""
        try:
            access.check(self.config, channel_id=conversation.channel_id, user_id=user_id)
            self.sending.resolve_sender(conversation.sender_alias, conversation.channel_id)
        except SendRefused:
            return False
        return True

    def _senders(self, aliases: tuple[str, ...]) -> list[Sender]:
        return [self.config.senders[a] for a in aliases if a in self.config.senders]

    def opened(self, user_id: str) -> None:
        """The person opened their Home tab: show it fresh, and keep it fresh from now on."""
        self.store.note_home_opened(user_id)
        with self._lock:
            self._watching[user_id] = (time.monotonic() + WATCHING_CHECK_SECONDS, True)
        self.publish(user_id)

    def watching(self, user_id: str) -> bool:
        """Whether the person opened their Home tab in the last day, on any instance (asked
        of the database at most every few seconds). Nobody else's tab is refreshed as sends
        change: whoever opens it later gets a fresh one then."""
        now = time.monotonic()
        with self._lock:
            known = self._watching.get(user_id)
        if known is not None and known[0] > now:
            return known[1]
        answer = self.store.home_opened_since(user_id, utcnow() - WATCHED_FOR)
        with self._lock:
            if len(self._watching) > 10_000:
                self._watching = {k: v for k, v in self._watching.items() if v[0] > now}
            self._watching[user_id] = (now + WATCHING_CHECK_SECONDS, answer)
        return answer

    def publish(self, user_id: str) -> None:
        with self._lock:
            self._last[user_id] = time.monotonic()
        try:
            self.client.views_publish(user_id=user_id, view=self.view(user_id))
        except (SlackClientError, OSError):  # Slack refused it, or could not be reached
            logger.exception("Failed to publish the Home tab of %s", user_id)

    def conversation_changed(self, conversation: ConversationRecord) -> None:
        """A conversation's pass ran: when what the Home tabs list of it changed (it started
        or stopped waiting for a reply, moved to another thread, or this process had not seen
        it yet), refresh the tabs of those who look at theirs and may answer it."""
        if conversation.channel_id is None:
            return
        listed = (
            conversation.waiting_since is not None and not conversation.opted_out,
            conversation.channel_id,
            conversation.thread_ts,
        )
        with self._lock:
            if self._listed.get(conversation.id) == listed:
                return
            if len(self._listed) > 10_000:
                self._listed.clear()
            self._listed[conversation.id] = listed
        for user_id in self.store.home_watchers(utcnow() - WATCHED_FOR):
            if self.may_answer(user_id, conversation):
                self._schedule(user_id)

    def refresh(self, user_id: str | None) -> None:
        """Publish soon, coalescing a burst of changes into one publish a second, if the
        person looks at their Home tab."""
        if not user_id or not self.watching(user_id):
            return
        self._schedule(user_id)

    def _schedule(self, user_id: str) -> None:
        with self._lock:
            if user_id in self._pending:
                return
            self._pending.add(user_id)
            wait = self.min_interval - (time.monotonic() - self._last.get(user_id, 0.0))

        def run() -> None:
            with self._lock:
                self._pending.discard(user_id)
            self.publish(user_id)

        timer = threading.Timer(max(0.0, wait), run)
        timer.daemon = True
        timer.start()
