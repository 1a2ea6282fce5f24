"""Status callbacks from the provider: authenticate by token, keep verbatim, show in Slack."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from bot.core import statuses, tokens
from bot.core.config import Config
from bot.store import Store
from bot.usecases.metrics import Metrics
from bot.usecases.render import ThreadRenderer
from bot.usecases.sending import CALLBACK_PURPOSE
from bot.whatsapp.callbacks import CallbackInvalid, parse_callback

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Answer:
    status: int
    body: dict[str, Any] = field(default_factory=dict)


NOT_FOUND = Answer(404, {"error": "unknown callback URL"})
# The provider's word for a number that refuses messages: it goes on the do-not-send list.
BLACKLISTED = "BLACKLISTED"


class StatusIntake:
    def __init__(
        self,
        *,
        config: Config,
        store: Store,
        renderer: ThreadRenderer,
        metrics: Metrics | None = None,
    ) -> None:
        self.config = config
        self.store = store
        self.renderer = renderer
        self.metrics = metrics or Metrics()

    def receive(self, token: str, raw: bytes) -> Answer:
        """Store one callback; 2xx for anything stored, 4xx for what is refused.

        The body is parsed first, then the send is looked up and the callback stored in one
        transaction; an unknown token is a 404 whatever the body."""
        answer = self._receive(token, raw)
        if answer.status >= 400:
            self.metrics.callback_refused()
        return answer

    def _receive(self, token: str, raw: bytes) -> Answer:
        if not tokens.check_token(self.config.media.link_secret, CALLBACK_PURPOSE, token):
            return NOT_FOUND
        try:
            callback = parse_callback(raw)
        except CallbackInvalid as exc:
            target = self.store.callback_target(token)
            if target is None:
                return NOT_FOUND
            logger.warning(
                "Refused a callback for send %s: %s", target[0], exc, extra={"send_id": target[0]}
            )
            return Answer(400, {"error": str(exc)})
        info = statuses.describe(callback.status) if callback.status is not None else None
        taken = self.store.take_callback(
            token,
            raw.decode("utf-8"),
            external_id=callback.external_id,
            status=info.name if info else None,
            rank=info.rank if info else 0,
            provider_date=callback.date,
            detail=callback.detail,
            claim=self.renderer.claim(),
        )
        if taken is None:
            return NOT_FOUND
        if taken.mismatch:
            logger.warning(
                "Refused a callback for send %s: externalId does not match",
                taken.send_id,
                extra={"send_id": taken.send_id},
            )
            return Answer(400, {"error": "externalId does not match this callback URL"})
        self.metrics.callback(info.name if info else None, known=info is None or info.is_known)
        change = taken.change
        if info is None or change is None:
            return Answer(202, {"ok": True, "stored": True, "note": "no status in the body"})
        if change.new and info.name == BLACKLISTED:
            self._opt_out(taken.send_id)
        if change.new or change.lease.owner is not None:  # a change, or a lease taken
            self.renderer.changed(taken.send_id, change.lease)
        return Answer(
            200,
            {
                "ok": True,
                "status": info.name,
                "duplicate": not change.new,
                "shown": change.shown,
            },
        )

    def _opt_out(self, send_id: str) -> None:
        send = self.store.get_send(send_id)
        if send is not None and self.store.opt_out(
            send.sender_alias, send.recipient, "the provider reported the number as BLACKLISTED"
        ):
            logger.warning(
                "%s is now on %s's do-not-send list (BLACKLISTED)",
                send.recipient,
                send.sender_alias,
                extra={"send_id": send_id},
            )
