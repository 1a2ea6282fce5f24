"""Whether Slack still takes the bot token: `auth.test`, its answer kept a while, and a refusal
shared with every worker and instance through the store's flags."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError

from bot.store import Store

logger = logging.getLogger(__name__)

SLACK_AUTH_FLAG = "slack_token_refused"

_NEW_TOKEN = (
    "copy the Bot User OAuth Token (xoxb-…) from api.slack.com/apps → your app → "
    "OAuth & Permissions into SLACK_BOT_TOKEN (what slack.bot_token reads), then restart"
)
_REINSTALL = (
    "reinstall the app (api.slack.com/apps → your app → Install App), then copy its new "
    "Bot User OAuth Token (xoxb-…) into SLACK_BOT_TOKEN (what slack.bot_token reads) and restart"
)
# Slack's answers that mean the token itself is no good, and what to do about each. The events
# (`app_uninstalled`, `tokens_revoked`) are recorded under their own names.
FIXES: Mapping[str, str] = {
    "invalid_auth": _NEW_TOKEN,
    "not_authed": _NEW_TOKEN,
    "token_revoked": _REINSTALL,
    "token_expired": _REINSTALL,
    "account_inactive": "the workspace or the app's bot user was deactivated: " + _REINSTALL,
    "app_uninstalled": _REINSTALL,
    "tokens_revoked": _REINSTALL,
}
REFUSALS = frozenset(
    {"invalid_auth", "not_authed", "token_revoked", "token_expired", "account_inactive"}
)


def fix_for(error: str) -> str:
    return FIXES.get(error, _NEW_TOKEN)


_SAID = {
    "app_uninstalled": "Slack says the app was uninstalled",
    "tokens_revoked": "Slack says the bot token was revoked",
}


def refusal_text(error: str) -> str:
    """What /healthz says about a refused token; never the token itself."""
    return f"{_SAID.get(error, 'the token was refused')} ({error}): {fix_for(error)}"


@dataclass(frozen=True)
class TokenCheck:
    """One `auth.test`: the token works, Slack refused it, or Slack could not say."""

    outcome: Literal["ok", "refused", "unreachable"]
    error: str = ""  # Slack's error, or why Slack could not be asked
    team: str = ""
    team_id: str = ""
    user_id: str = ""

    def describe(self) -> str:
        if self.outcome == "ok":
            return f"team {self.team} ({self.team_id}), bot user {self.user_id}"
        if self.outcome == "refused":
            return f"Slack refused the bot token ({self.error}); fix: {fix_for(self.error)}"
        return f"could not check the bot token ({self.error})"


def auth_test(client: WebClient) -> TokenCheck:
    """Ask Slack once; only an answer that names the token as bad counts as a refusal
    (`ratelimited`, a 5xx or a network failure says nothing about the token)."""
    try:
        answer = client.auth_test()
    except SlackApiError as exc:
        error = str(exc.response.get("error") or f"HTTP {exc.response.status_code}")
        outcome: Literal["refused", "unreachable"] = (
            "refused" if error in REFUSALS else "unreachable"
        )
        return TokenCheck(outcome, error[:200])  # a proxy's error page can be long
    except (SlackClientError, OSError, ValueError) as exc:
        return TokenCheck("unreachable", _reason(exc))
    data: Mapping[str, Any] = answer.data if isinstance(answer.data, dict) else {}
    return TokenCheck(
        "ok",
        team=str(data.get("team") or ""),
        team_id=str(data.get("team_id") or ""),
        user_id=str(data.get("user_id") or ""),
    )


def _reason(exc: BaseException) -> str:
    cause = getattr(exc, "reason", None)  # urllib's URLError wraps the socket's error
    return type(cause if isinstance(cause, BaseException) else exc).__name__


@dataclass(frozen=True)
class SlackStatus:
    healthy: bool
    text: str


def _thread(fn: Callable[[], None]) -> None:
    threading.Thread(target=fn, name="slack-token-check", daemon=True).start()


class SlackTokenHealth:
    """The token's state for /healthz: asks Slack at most every `interval` seconds per
    process, in the background, so a probe never waits for Slack."""

    def __init__(
        self,
        *,
        store: Store,
        client: WebClient,
        interval: float,
        clock: Callable[[], float] = time.monotonic,
        spawn: Callable[[Callable[[], None]], None] = _thread,
    ) -> None:
        self.store = store
        self.client = client
        self.interval = interval
        self.clock = clock
        self.spawn = spawn
        self._lock = threading.Lock()
        self._checking = False
        self._checked_at: float | None = None
        self._last: TokenCheck | None = None

    def check_at_start(self) -> TokenCheck:
        """One `auth.test` when the app starts, logged; a refusal does not stop the app."""
        with self._lock:
            self._checking = True
        result = self.check()
        if result.outcome == "ok":
            logger.info("Slack: %s", result.describe())
        return result

    def check(self) -> TokenCheck:
        """Ask Slack now and record the answer for every worker and instance."""
        try:
            result = auth_test(self.client)
            self._record(result)
        finally:
            with self._lock:
                self._checking = False
                self._checked_at = self.clock()
        return result

    def _record(self, result: TokenCheck) -> None:
        previous = self._last
        self._last = result
        if result.outcome == "unreachable":
            logger.warning(
                "Could not check the Slack bot token (%s); it counts as good until Slack answers",
                result.error,
            )
            return
        refused = self.store.get_flag(SLACK_AUTH_FLAG)
        if result.outcome == "refused":
            if refused != result.error:
                self.store.set_flag(SLACK_AUTH_FLAG, result.error)
            if refused != result.error or previous != result:
                logger.error("%s", result.describe())
        elif refused is not None:
            self.store.set_flag(SLACK_AUTH_FLAG, None)
            logger.info("Slack takes the bot token again (it was refused: %s)", refused)

    def revoked(self, event: str) -> None:
        """Slack said the app was uninstalled or its token revoked: turn /healthz at once.
        The next `auth.test` that succeeds clears it (a token that works is not revoked)."""
        logger.warning("Slack says %s: %s", event, fix_for(event))
        self.store.set_flag(SLACK_AUTH_FLAG, event)

    def tokens_revoked(self, tokens: object) -> None:
        """A `tokens_revoked` event: only a revoked bot token matters, since the bot has no
        user tokens of its own."""
        if isinstance(tokens, dict) and not tokens.get("bot"):
            logger.info("Slack revoked user tokens only; the bot token is untouched")
            return
        self.revoked("tokens_revoked")

    def status(self) -> SlackStatus:
        """The last known state, from the store; a check is started when one is due."""
        self._check_if_due()
        refused = self.store.get_flag(SLACK_AUTH_FLAG)
        if refused is not None:
            return SlackStatus(False, refusal_text(refused))
        last = self._last
        if last is None:
            return SlackStatus(True, "not checked yet")
        if last.outcome == "unreachable":
            return SlackStatus(True, f"could not check ({last.error})")
        return SlackStatus(True, "ok")

    def _check_if_due(self) -> None:
        with self._lock:
            due = self._checked_at is None or self.clock() - self._checked_at >= self.interval
            if self._checking or not due:
                return
            self._checking = True
        try:
            self.spawn(self._check_logged)
        except Exception:
            with self._lock:
                self._checking = False
            raise

    def _check_logged(self) -> None:
        try:
            self.check()
        except Exception:
            logger.exception("Failed to check the Slack bot token")
