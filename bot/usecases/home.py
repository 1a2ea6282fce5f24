"""The App Home tab: each person's recent sends and where they may send, kept fresh."""

from __future__ import annotations

import logging
import threading
import time
from datetime import timedelta
from typing import Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackClientError

from bot import blocks
from bot.core.config import Config, Sender
from bot.store import Store, utcnow
from bot.usecases.sending import SendService

logger = logging.getLogger(__name__)

RECENT = 95
WATCHED_FOR = timedelta(hours=24)
WATCHING_CHECK_SECONDS = 5.0


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

    def view(self, user_id: str) -> dict[str, Any]:
        recent, total = self.store.recent_sends(user_id, limit=RECENT)
        allowed = self.config.access.allowed_users
        channels = [
            (policy.channel_id, self._senders(policy.allowed_senders), policy.file_shares)
            for policy in self.config.channels.values()
        ]
        anywhere = None if self.config.channels else self._senders(tuple(self.config.senders))
        return blocks.home(
            channels=channels,
            anywhere=anywhere,
            may_send=not allowed or user_id in allowed,
            sends=[(send, self.sending.sender_of(send).label) for send in recent],
            total=total,
        )

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
        except SlackClientError:
            logger.exception("Failed to publish the Home tab of %s", user_id)

    def refresh(self, user_id: str | None) -> None:
        """Publish soon, coalescing a burst of changes into one publish a second, if the
        person looks at their Home tab."""
        if not user_id or not self.watching(user_id):
            return
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
