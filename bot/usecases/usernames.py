"""People's names for mentions, from `users.info`, kept a while so a burst of sends asks Slack
once per person."""

from __future__ import annotations

import logging
import re
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from typing import Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.core import slacktext

logger = logging.getLogger(__name__)

_USER_ID = re.compile(r"[UW][A-Z0-9]{2,}")


class UserNames:
    """A bounded cache of names; a name Slack would not give is retried after `failure_ttl`."""

    def __init__(
        self,
        *,
        client: WebClient,
        ttl: float = 3600.0,
        failure_ttl: float = 60.0,
        max_size: int = 1000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.client = client
        self.ttl = ttl
        self.failure_ttl = failure_ttl
        self.max_size = max_size
        self.clock = clock
        self._lock = threading.Lock()
        self._names: OrderedDict[str, tuple[float, str | None]] = OrderedDict()

    def decode(self, text: str) -> str:
        """Slack's format as plain text, mentions by name."""
        return slacktext.decode(text, user_name=self.lookup)

    def lookup(self, user_id: str) -> str | None:
        """The name Slack shows for a person, or None when Slack cannot say."""
        now = self.clock()
        with self._lock:
            cached = self._names.get(user_id)
            if cached is not None and cached[0] > now:
                self._names.move_to_end(user_id)
                return cached[1]
        name = self._ask(user_id)
        expires = now + (self.ttl if name is not None else self.failure_ttl)
        with self._lock:
            self._names[user_id] = (expires, name)
            self._names.move_to_end(user_id)
            while len(self._names) > self.max_size:
                self._names.popitem(last=False)
        return name

    def _ask(self, user_id: str) -> str | None:
        if not _USER_ID.fullmatch(user_id):
            return None
        try:
            answer = self.client.users_info(user=user_id)
        except SlackApiError as exc:
            logger.warning("Slack gave no name for %s: %s", user_id, exc.response.get("error"))
            return None
        except Exception:
            logger.exception("Failed to look up the name of %s", user_id)
            return None
        return name_of(answer.get("user") or {})


def name_of(user: Mapping[str, Any]) -> str | None:
    """Display name, else real name, else the handle: what Slack itself shows."""
    profile = user.get("profile") or {}
    for name in (
        profile.get("display_name"),
        profile.get("real_name"),
        user.get("real_name"),
        user.get("name"),
    ):
        if isinstance(name, str) and name.strip():
            return name.strip()
    return None
