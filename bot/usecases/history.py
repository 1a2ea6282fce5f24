"""A customer's history (`/whatsapp history`, the App Home's "Find a customer"): the newest
sends to a number and messages from it that the person asking may see, each with the link to
its thread.

Who sees what is the rule of sending (`core/access.history_scope`): an item is shown to a
person who could send in its channel with its sender; an item in no channel counts as being in
its sender's inbox channel; a person's own sends are shown to them wherever they were made.
"""

from __future__ import annotations

from dataclasses import dataclass

from bot.blocks.history import ShownItem
from bot.core import access
from bot.core.config import Config
from bot.core.history import HISTORY_SIZE, HistoryItem
from bot.store import Store
from bot.usecases.permalinks import Permalinks
from bot.usecases.sending import SendService
from bot.whatsapp.payloads import PayloadError


class HistoryRefused(ValueError):
    """The number or name cannot be looked up, and why."""


@dataclass(frozen=True)
class Found:
    """The history of `number` (`label`: the contact name it was asked by), newest first;
    `more` when older items were left out."""

    number: str
    label: str | None
    items: list[ShownItem]
    more: bool = False


class History:
    def __init__(
        self, *, config: Config, store: Store, sending: SendService, links: Permalinks
    ) -> None:
        self.config = config
        self.store = store
        self.sending = sending
        self.links = links

    def find(
        self,
        text: str,
        user_id: str | None,
        *,
        sender_alias: str | None = None,
        channel_id: str | None = None,
    ) -> Found:
        """The history of the number or contact `text` as `user_id` may see it (of one sender
        with `sender_alias`; asked in `channel_id`, that channel's items and the person's own
        sends); HistoryRefused when `text` is not a number or a contact."""
        text = text.strip()
        if not text:
            raise HistoryRefused("Say whose history to show: a phone number or a contact name.")
        try:
            number = self.sending.resolve_recipient(text)
        except PayloadError as exc:
            raise HistoryRefused(str(exc)) from None
        scope = access.within_channel(
            self.config, access.history_scope(self.config, user_id), channel_id
        )
        if sender_alias is not None:
            if sender_alias not in self.config.senders:
                known = ", ".join(self.config.senders)
                raise HistoryRefused(
                    f"There is no sender called `{sender_alias}`. Senders: {known}."
                )
            scope = [seen for seen in scope if seen.sender_alias == sender_alias]
        items = self.store.history(number, scope, user_id=user_id, limit=HISTORY_SIZE + 1)
        label = text if text in self.config.contacts else None
        shown = self._shown(items[:HISTORY_SIZE])
        return Found(number=number, label=label, items=shown, more=len(items) > HISTORY_SIZE)

    def _shown(self, items: list[HistoryItem]) -> list[ShownItem]:
        links: dict[tuple[str | None, str | None], str | None] = {}
        shown = []
        for item in items:
            where = (item.channel_id, item.thread_ts)
            if where not in links:
                links[where] = self.links.thread(*where)
            shown.append(ShownItem(item=item, sender_label=self._label(item), link=links[where]))
        return shown

    def _label(self, item: HistoryItem) -> str:
        sender = self.config.senders.get(item.sender_alias)
        if sender is None or (item.sender_number and item.sender_number != sender.number):
            return item.sender_alias
        return sender.label
