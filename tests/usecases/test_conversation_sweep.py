"""A conversation whose pass never ran (its worker died before scheduling it) is caught up by
the maintenance sweep, as sends and groups are."""

from __future__ import annotations

import sqlalchemy as sa

from bot import store as store_package
from bot.store import ConversationRecord
from tests.inprocess import CHANNEL, Stage


def test_the_store_package_names_the_table_not_its_submodule() -> None:
    assert isinstance(store_package.conversations, sa.Table)


def test_the_sweep_shows_a_conversation_left_dirty(stage: Stage) -> None:
    taken = stage.store.take_inbound(
        sender_alias="support",
        customer="+573001234567",
        answerable=True,
        message={
            "dedup_key": "id:wamid.1",
            "shape": "json",
            "kind": "text",
            "text": "hola",
            "attachments": "[]",
            "raw": "{}",
        },
        optout=None,
    )  # stored, but nobody was told: no pass is scheduled
    assert stage.services.renderer.sweep(abandoned=True) == 0  # no lease ran out
    assert stage.services.renderer.sweep() >= 1

    def shown() -> ConversationRecord | None:
        found = stage.store.get_conversation(taken.conversation_id)
        return found if found is not None and found.channel_id and not found.dirty else None

    conversation = stage.slack.wait_for(shown, timeout=10)
    assert conversation.channel_id == CHANNEL
    assert any("hola" in str(m.get("text")) for m in stage.slack.channel_messages(CHANNEL))
