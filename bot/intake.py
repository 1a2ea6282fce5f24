"""Status callbacks from the provider: authenticate by token, keep verbatim, show in Slack."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from bot import statuses, tokens
from bot.config import Config
from bot.render import ThreadRenderer
from bot.sending import CALLBACK_PURPOSE
from bot.store import Store
from bot.whatsapp.callbacks import CallbackInvalid, parse_callback

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Answer:
    status: int
    body: dict[str, Any] = field(default_factory=dict)


NOT_FOUND = Answer(404, {"error": "unknown callback URL"})


class StatusIntake:
    def __init__(self, *, config: Config, store: Store, renderer: ThreadRenderer) -> None:
        self.config = config
        self.store = store
        self.renderer = renderer

    def receive(self, token: str, raw: bytes) -> Answer:
        """Store one callback; 2xx for anything stored, 4xx for what is refused."""
        if not tokens.check_token(self.config.media.link_secret, CALLBACK_PURPOSE, token):
            return NOT_FOUND
        target = self.store.callback_target(token)
        if target is None:
            return NOT_FOUND
        send_id, external_id = target
        try:
            callback = parse_callback(raw)
        except CallbackInvalid as exc:
            logger.warning("Refused a callback for send %s: %s", send_id, exc)
            return Answer(400, {"error": str(exc)})
        if callback.external_id is not None and callback.external_id != external_id:
            logger.warning("Refused a callback for send %s: externalId does not match", send_id)
            return Answer(400, {"error": "externalId does not match this callback URL"})
        body = raw.decode("utf-8")
        if callback.status is None:
            self.store.record_callback(send_id, body, None)
            return Answer(202, {"ok": True, "stored": True, "note": "no status in the body"})
        info = statuses.describe(callback.status)
        change = self.store.add_status(
            send_id,
            info.name,
            rank=info.rank,
            provider_date=callback.date,
            detail=callback.detail,
            raw=body,
        )
        if change.new:
            self.renderer.schedule(send_id)
        return Answer(
            200,
            {
                "ok": True,
                "status": info.name,
                "duplicate": not change.new,
                "shown": change.send.provider_status,
            },
        )
