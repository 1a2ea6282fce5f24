"""Links to Slack threads: made from the workspace's URL (`auth.test`, asked once) and the
thread's channel and root ts, as Slack makes them; asked of `chat.getPermalink` when they
cannot be made."""

from __future__ import annotations

import logging
import threading
import time

from slack_sdk import WebClient
from slack_sdk.errors import SlackClientError

from bot.blocks.conversations import thread_url

logger = logging.getLogger(__name__)

WORKSPACE_RETRY_SECONDS = 60.0


class Permalinks:
    """The workspace's URL, kept; a thread's link from it."""

    def __init__(self, client: WebClient) -> None:
        self.client = client
        self._lock = threading.Lock()
        self._workspace_url: str | None = None
        self._workspace_asked = float("-inf")

    def workspace(self) -> str | None:
        """The workspace's URL (`auth.test`), for links to threads: asked once, again a minute
        after a failure."""
        with self._lock:
            if self._workspace_url is not None:
                return self._workspace_url
            if time.monotonic() - self._workspace_asked < WORKSPACE_RETRY_SECONDS:
                return None
            self._workspace_asked = time.monotonic()
        try:
            url = self.client.auth_test().get("url")
        except (SlackClientError, OSError, ValueError):
            logger.warning("Could not learn the workspace's URL; threads are linked by channel")
            return None
        with self._lock:
            self._workspace_url = str(url) if url else None
        return self._workspace_url

    def thread(self, channel_id: str | None, thread_ts: str | None) -> str | None:
        """The link to the thread whose root is `thread_ts` in `channel_id`: made, else asked
        of Slack; None when there is no such thread or Slack does not say."""
        if not channel_id or not thread_ts:
            return None
        made = thread_url(self.workspace(), channel_id, thread_ts)
        if made is not None:
            return made
        try:
            answer = self.client.chat_getPermalink(channel=channel_id, message_ts=thread_ts)
        except (SlackClientError, OSError, ValueError):
            logger.info("No permalink for %s in %s", thread_ts, channel_id)
            return None
        link = answer.get("permalink")
        return str(link) if link else None
