"""A confirmation belongs to whoever asked, on every path: clicks and modal submissions."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

from bot.core import ids
from bot.store import SendRecord, SendState, sends
from tests.scenarios.harness import CHANNEL, OTHER_USER, USER, Harness
from tests.scenarios.test_file_share import choice, png, send_anyway


def slash_draft(bot: Harness) -> SendRecord:
    text = f"image +573001234567 {bot.coffee_url} For Alice's customer"
    assert bot.driver.slash_command(text, user=USER, channel=CHANNEL).status == 200
    bot.wait_ephemeral("Send an image on WhatsApp?")
    return bot.only_send()


def forged_view(send_id: str) -> dict[str, Any]:
    """The recipient modal as a crafted submission would carry it, naming `send_id`."""
    return {
        "type": "modal",
        "callback_id": ids.MODAL,
        "private_metadata": json.dumps({"send_id": send_id}),
        "blocks": [
            {
                "type": "input",
                "block_id": ids.RECIPIENT_BLOCK,
                "element": {"type": "plain_text_input", "action_id": ids.RECIPIENT_INPUT},
            },
            {
                "type": "input",
                "block_id": ids.SENDER_BLOCK,
                "element": {"type": "plain_text_input", "action_id": ids.SENDER_INPUT},
            },
        ],
    }


def naming(view: dict[str, Any], send_id: str) -> dict[str, Any]:
    """The same modal, its metadata rewritten to name another send."""
    forged = copy.deepcopy(view)
    forged.pop("id", None)
    forged["private_metadata"] = json.dumps({"send_id": send_id})
    return forged


def test_a_modal_submission_cannot_send_another_person_s_slash_draft(bot: Harness) -> None:
    alice = slash_draft(bot)
    answer = bot.driver.submit_view(
        forged_view(alice.id), choice("+573009876543", "sales"), user=OTHER_USER
    )
    assert answer.status == 200
    assert answer.json["response_action"] == "errors"  # type: ignore[index]
    assert "only send a shared file" in answer.json["errors"][ids.RECIPIENT_BLOCK]  # type: ignore[index]
    # Wait for what must happen (Alice's own click sends her draft as she wrote it), then check
    # that the forged submission changed nothing.
    bot.driver.click(ids.SEND, alice.id, user=USER, channel=CHANNEL)
    (request,) = bot.provider.wait_for_requests(1)
    assert (request.json["request"]["to"], request.json["request"]["from"]) == (  # type: ignore[index]
        "+573001234567",
        "15550001111",
    )
    sent = bot.store.get_send(alice.id)
    assert sent is not None and sent.user_id == USER and sent.sender_alias == "support"


def test_a_slash_draft_is_never_reachable_through_the_modal_even_by_its_owner(
    bot: Harness,
) -> None:
    alice = slash_draft(bot)
    answer = bot.driver.submit_view(
        forged_view(alice.id), choice("+573009876543", "sales"), user=USER
    )
    assert answer.json["response_action"] == "errors"  # type: ignore[index]
    draft = bot.store.get_send(alice.id)
    assert draft is not None and draft.state is SendState.DRAFT
    assert draft.recipient == "+573001234567" and draft.sender_alias == "support"


def test_a_shortcut_draft_is_its_owner_s_alone(bot: Harness) -> None:
    answer = bot.driver.file_share("photo.png", png(), user=USER, channel="C0SALES")
    message = bot.slack.message("C0SALES", answer.sent["event"]["ts"])
    assert message is not None
    bot.driver.message_shortcut(ids.SHORTCUT, message, user=USER, channel="C0SALES")

    view = bot.wait_recipient_modal()
    stolen = bot.driver.submit_view(
        naming(view, json.loads(view["private_metadata"])["send_id"]),
        choice("+573009876543", "sales"),
        user=OTHER_USER,
    )
    assert stolen.json["response_action"] == "errors"  # type: ignore[index]
    assert "only the person who asked" in stolen.json["errors"][ids.RECIPIENT_BLOCK]  # type: ignore[index]
    mine = bot.driver.submit_view(view["id"], choice("+573001234567", "sales"), user=USER)
    assert send_anyway(bot, view["id"], mine).status == 200
    (request,) = bot.provider.wait_for_requests(1)
    assert request.json["request"]["to"] == "+573001234567"  # type: ignore[index]
    sent = bot.only_send()
    assert sent.user_id == USER


def test_a_click_cannot_confirm_one_member_of_a_group(tmp_path: Path) -> None:
    bot = Harness(tmp_path, groups={"team": ["+573001234501", "+573001234502"]}).start()
    try:
        _one_member_clicked(bot)
    finally:
        bot.close()


def _one_member_clicked(bot: Harness) -> None:
    text = f"image team {bot.coffee_url} Hello team"
    assert bot.driver.slash_command(text, user=USER, channel=CHANNEL).status == 200
    confirmation = bot.wait_ephemeral("2 recipients")
    with bot.store.engine.connect() as conn:
        member = SendRecord.from_row(
            conn.execute(sends.select().where(sends.c.source == "group")).mappings().first()
        )
    bot.driver.click(ids.SEND, member.id, user=USER, channel=CHANNEL, message=confirmation)
    bot.wait_ephemeral("part of a group send")
    still = bot.store.get_send(member.id)
    assert still is not None and still.state is SendState.DRAFT
    assert bot.provider.requests == []
