"""The App Home's conversations waiting for a reply, in process: only those a person may answer
(the channel's policy, `access.allowed_users`), each linked to its thread, and the tabs of
those who look at theirs republished as conversations start and stop waiting."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from bot.core import tokens
from bot.store import ConversationRecord
from tests.conftest import SECRETS
from tests.inprocess import CHANNEL, OTHER_USER, USER, Stage, staged
from tests.scenarios.harness import text_of

ANA = "573001234567"
LUIS = "573009876543"


def customer_writes(
    stage: Stage, message_id: str, text: str, *, customer: str = ANA, sender: str = "support"
) -> ConversationRecord:
    """A customer's message arrives at the sender's inbound URL; its conversation once shown."""
    token = tokens.sender_token(SECRETS["WHATSAPP_BOT_SECRET"], sender)
    body = {
        "id": message_id,
        "user": customer,
        "text": text,
        "extraInfo": {"contacts": [{"profile": {"name": f"Customer {customer[-4:]}"}}]},
    }
    answer = stage.services.inbound.receive(
        token, json.dumps(body).encode(), "application/json", ""
    )
    assert answer.status == 200, answer

    def shown() -> ConversationRecord | None:
        found = stage.store.find_conversation(sender, f"+{customer}")
        return found if found is not None and found.channel_id and not found.dirty else None

    return stage.slack.wait_for(shown, timeout=10)


def waiting_texts(view: dict[str, Any] | None) -> list[str]:
    """The lines of the tab's list of conversations waiting for a reply."""
    if view is None:
        return []
    texts = [text_of({"blocks": [b]}) for b in view["blocks"]]
    if "Waiting for a reply" not in texts:
        return []
    start = texts.index("Waiting for a reply") + 1
    return [t for t in texts[start:] if t.startswith(":hourglass:")]


def test_the_list_links_each_thread_newest_first(stage: Stage) -> None:
    first = customer_writes(stage, "wamid.1", "hola", customer=ANA)
    second = customer_writes(stage, "wamid.2", "buenas", customer=LUIS, sender="sales")

    lines = waiting_texts(stage.services.home.view(USER))

    assert len(lines) == 2
    assert lines[0].startswith(f":hourglass: *Customer 6543* (+{LUIS}) to *Sales*")
    assert lines[1].startswith(f":hourglass: *Customer 4567* (+{ANA}) to *Support*")
    assert ":large_green_circle: 23 h left" in lines[0]
    for line, conversation in zip(lines, (second, first), strict=True):
        assert conversation.channel_id and conversation.thread_ts
        asked = stage.services.client.chat_getPermalink(
            channel=conversation.channel_id, message_ts=conversation.thread_ts
        )
        link = asked["permalink"]
        assert f"<{link}|open the thread>" in line
    # the workspace's URL is asked once
    stage.services.home.view(USER)
    assert len(stage.slack.calls_to("auth.test")) == 1


def moved(stage: Stage, conversation: ConversationRecord, channel: str) -> None:
    """The conversation's thread is in `channel` (as after the config changed under it)."""
    stage.store.set_conversation_fields(conversation.id, channel_id=channel)


def test_only_conversations_the_person_may_answer(tmp_path: Path) -> None:
    """Listed: in a configured channel, with a sender allowed there (what `Reply` asks too);
    a person who may not send sees no list at all."""
    with staged(tmp_path, access={"allowed_users": [USER]}) as stage:
        ana = customer_writes(stage, "wamid.1", "hola", customer=ANA)
        customer_writes(stage, "wamid.2", "buenas", customer=LUIS, sender="sales")
        pedro = customer_writes(stage, "wamid.3", "hi", customer="573005550000")
        moved(stage, ana, "C0SALES")  # only Sales may send there
        moved(stage, pedro, "C0ELSEWHERE")  # not configured

        lines = waiting_texts(stage.services.home.view(USER))
        assert len(lines) == 1 and f"+{LUIS}" in lines[0]
        other = json.dumps(stage.services.home.view(OTHER_USER))
        assert "Waiting for a reply" not in other and f"+{LUIS}" not in other
        assert "not on the list of people who may send" in other


def test_without_channels_every_sender_anywhere(tmp_path: Path) -> None:
    with staged(tmp_path) as first:  # shown in the inbox channels of the usual config
        customer_writes(first, "wamid.1", "hola", customer=ANA)
        customer_writes(first, "wamid.2", "buenas", customer=LUIS, sender="sales")
    senders = {
        "support": {"number": "15550001111", "label": "Support"},
        "sales": {"number": "15550002222", "label": "Sales"},
    }
    with staged(tmp_path, senders=senders, channels={}) as stage:
        assert len(waiting_texts(stage.services.home.view(OTHER_USER))) == 2


def test_a_tab_that_was_opened_is_republished_as_conversations_start_and_stop_waiting(
    stage: Stage,
) -> None:
    home = stage.services.home
    home.opened(USER)
    stage.slack.wait_for(lambda: stage.slack.home_view(USER), timeout=10)
    assert waiting_texts(stage.slack.home_view(USER)) == []

    customer_writes(stage, "wamid.1", "hola")
    stage.slack.wait_for(lambda: waiting_texts(stage.slack.home_view(USER)), timeout=10)

    stage.services.conversations.answered("support", f"+{ANA}")
    stage.slack.wait_for(
        lambda: (
            not waiting_texts(stage.slack.home_view(USER))
            and "No customer is waiting" in json.dumps(stage.slack.home_view(USER))
        ),
        timeout=10,
    )
    # nobody else opened theirs: nothing was published for them
    assert stage.slack.home_view(OTHER_USER) is None
    assert all(c.params.get("user_id") == USER for c in stage.slack.calls_to("views.publish"))


def test_a_customer_opting_out_leaves_the_list(stage: Stage) -> None:
    stage.services.home.opened(USER)
    customer_writes(stage, "wamid.1", "hola")
    stage.slack.wait_for(lambda: waiting_texts(stage.slack.home_view(USER)), timeout=10)
    customer_writes(stage, "wamid.2", "STOP")
    stage.slack.wait_for(lambda: not waiting_texts(stage.slack.home_view(USER)), timeout=10)
    assert CHANNEL in json.dumps(stage.slack.home_view(USER))  # where one may send is still said
