"""A customer's history: `/whatsapp history <recipient>`, and a number or contact entered in
the App Home's "Find a customer"."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from bot import blocks
from bot.blocks.examples import HISTORY_EXAMPLE
from bot.blocks.history import history_message
from bot.slack.commands import HistoryRequest
from bot.usecases.history import HistoryRefused
from bot.usecases.services import Services


def answer(
    services: Services,
    request: HistoryRequest,
    *,
    user_id: str | None,
    channel_id: str | None = None,
) -> blocks.SlackMessage:
    """The ephemeral answer: the history the person may see in the channel asked from (and
    their own sends), or why there is none."""
    try:
        found = services.home.history.find(
            request.recipient, user_id, sender_alias=request.sender_alias, channel_id=channel_id
        )
    except HistoryRefused as exc:
        return blocks.problem(str(exc), HISTORY_EXAMPLE)
    return history_message(found.number, found.label, found.items, more=found.more)


def on_find(services: Services, body: Mapping[str, Any]) -> None:
    """Enter pressed in "Find a customer": the person's Home tab shows that customer's history
    (the input cleared: the tab without one)."""
    user_id = (body.get("user") or {}).get("id")
    if not user_id:
        return
    actions = body.get("actions") or [{}]
    services.home.look_up(str(user_id), actions[0].get("value"))
