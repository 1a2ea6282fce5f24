"""Customer messages from the provider: authenticate the sender's token, keep each message
once with its raw body, answer at once, show it in Slack afterwards."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass

from bot.core import tokens
from bot.core.config import Config
from bot.store import Store
from bot.usecases.metrics import Metrics
from bot.usecases.render import ThreadRenderer
from bot.whatsapp.callbacks import clean
from bot.whatsapp.inbound import CustomerMessage, InboundInvalid, parse_inbound

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class InboundAnswer:
    """An empty 200 for a message kept (the old web-service form shows a body to the customer);
    an error's words otherwise."""

    status: int
    error: str | None = None


NOT_FOUND = InboundAnswer(404, "unknown inbound URL")


class InboundIntake:
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

    def sender_of(self, token: str) -> str | None:
        alias = tokens.sender_of_token(self.config.media.link_secret, token)
        return alias if alias in self.config.senders else None

    def receive(self, token: str, raw: bytes, content_type: str, query: str) -> InboundAnswer:
        """Store one customer message once; 200 for anything kept, 4xx for what is refused.
        An unknown token is a 404 whatever the body, and nothing is stored."""
        alias = self.sender_of(token)
        if alias is None:
            return NOT_FOUND
        try:
            message = parse_inbound(raw, content_type, query)
        except InboundInvalid as exc:
            logger.warning(
                "Refused a customer message for sender %s (%d bytes): %s", alias, len(raw), exc
            )
            return InboundAnswer(400, str(exc))
        words = self.config.conversations
        optout = None
        why = None
        if message.customer and words.is_opt_out(message.text):
            optout, why = "out", f'they wrote "{message.text.strip()[:40]}"'
        elif message.customer and words.is_opt_in(message.text):
            optout = "in"
        taken = self.store.take_inbound(
            sender_alias=alias,
            customer=message.number,
            answerable=message.customer is not None,
            message=_row(message, raw, content_type, query, optout),
            optout=optout,
            opt_out_why=why,
            claim=self.renderer.claim(),
        )
        if not taken.new:
            logger.info(
                "A customer message delivered again was kept once (%s)", message.dedup_key[:80]
            )
            return InboundAnswer(200)
        self.metrics.inbound_message()
        if message.number_problem:
            logger.warning(
                "A message for sender %s came from a number that cannot be read (%s): %s",
                alias,
                message.customer_raw,
                message.number_problem,
            )
        self.renderer.conversation_changed(taken.conversation_id, taken.lease)
        return InboundAnswer(200)


def _row(
    message: CustomerMessage, raw: bytes, content_type: str, query: str, optout: str | None
) -> dict[str, object]:
    """The message's row: what was parsed, and the request as it came (the query string of
    the old form is part of what was received)."""
    body = clean(raw.decode("utf-8", "replace"))
    if query and message.shape == "query":
        body = f"?{clean(query)}" + (f"\n{body}" if body else "")
    return {
        "dedup_key": message.dedup_key,
        "shape": message.shape,
        "kind": message.kind,
        "text": message.text,
        "customer_name": message.name,
        "provider_id": message.provider_id,
        "provider_date": message.provider_date,
        "attachments": json.dumps(
            [
                {"url": a.url, "file_name": a.file_name, "caption": a.caption}
                for a in message.attachments
            ]
        ),
        "number_problem": message.number_problem,
        "optout": optout,
        "raw": body,
        "content_type": clean(content_type)[:200] or None,
    }
