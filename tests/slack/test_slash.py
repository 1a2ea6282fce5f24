"""`/whatsapp` handled in process: from the command's text to the ephemeral answer, and the draft
it records (or not)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import sqlalchemy as sa

from bot import blocks
from bot.core import ids
from bot.sandbox.images import jpeg
from bot.sandbox.slack import find_element
from bot.slack import slash
from bot.store import SendState, batches, sends, utcnow
from tests.inprocess import CHANNEL, OTHER_USER, RECIPIENT, USER, Stage, staged
from tests.scenarios.harness import text_of


def command(text: str, *, user: str = USER, channel: str = CHANNEL) -> dict[str, Any]:
    """What Bolt hands the command's listener as `command`."""
    return {
        "command": ids.COMMAND,
        "text": text,
        "user_id": user,
        "channel_id": channel,
        "team_id": "T0STANDIN",
    }


def answer(stage: Stage, text: str, **where: str) -> str:
    return text_of(slash.handle(stage.services, command(text, **where)).as_kwargs())


def count(stage: Stage, table: sa.Table = sends) -> int:
    with stage.store.engine.connect() as conn:
        return int(conn.execute(sa.select(sa.func.count()).select_from(table)).scalar_one())


def test_help_and_an_empty_command_answer_with_the_help(stage: Stage) -> None:
    for text in ("help", ""):
        message = slash.handle(stage.services, command(text))
        assert message == blocks.help_message()
    assert count(stage) == 0


def test_a_mistake_is_answered_with_its_own_problem_and_an_example(stage: Stage) -> None:
    text = answer(stage, "gif +573001234567 https://x.example/a.gif")
    assert "`gif` is not something I can send" in text
    assert "For example: `/whatsapp" in text
    assert count(stage) == 0


def test_a_channel_that_is_not_configured_is_refused_before_anything_is_checked(
    stage: Stage,
) -> None:
    text = answer(stage, f"image {RECIPIENT} {stage.files.url}/a.jpg", channel="C0RANDOM")
    assert "not set up for this channel" in text and "`C0RANDOM`" in text
    assert stage.files.requests == []  # the URL was not even asked
    assert count(stage) == 0


def test_a_person_not_on_the_list_is_refused(tmp_path: Path) -> None:
    with staged(tmp_path, access={"allowed_users": [USER]}) as stage:
        text = answer(stage, f"text {RECIPIENT} Hello", user=OTHER_USER)
        assert "not on the list of people" in text and f"`{OTHER_USER}`" in text
        assert count(stage) == 0
        assert "Send a text message on WhatsApp?" in answer(stage, f"text {RECIPIENT} Hello")


def test_a_text_draft_is_recorded_and_confirmed_with_its_buttons(stage: Stage) -> None:
    message = slash.handle(stage.services, command(f"text {RECIPIENT} Your order shipped"))
    (send,) = stage.store.sends_in_state([SendState.DRAFT])
    assert (send.source, send.kind, send.body, send.recipient) == (
        "slash",
        "text",
        "Your order shipped",
        RECIPIENT,
    )
    assert (send.user_id, send.channel_id, send.team_id) == (USER, CHANNEL, "T0STANDIN")
    assert (send.sender_alias, send.sender_number) == ("support", "15550001111")
    assert message.text == f"Send a text message on WhatsApp to {RECIPIENT} from Support?"
    for action in (ids.SEND, ids.CANCEL):
        found = find_element(message.blocks, action)
        assert found is not None and found[1]["value"] == send.id
    # nothing leaves the app until Send is clicked
    assert stage.provider.requests == []
    assert stage.slack.calls == []


def test_a_contact_is_named_in_the_confirmation(stage: Stage) -> None:
    text = answer(stage, "text acme-ops Your order shipped")
    assert f"*To:* {RECIPIENT} (acme-ops)" in text
    (send,) = stage.store.sends_in_state([SendState.DRAFT])
    assert send.recipient == RECIPIENT


def test_senders_are_checked_against_the_config_and_the_channel(stage: Stage) -> None:
    text = answer(stage, f"text {RECIPIENT} Hello from:ghost")
    assert "There is no sender called `ghost`" in text
    assert "from:support" in text  # the example names a sender that exists
    text = answer(stage, f"text {RECIPIENT} Hello from:support", channel="C0SALES")
    assert "The sender `support` may not be used in this channel" in text
    assert count(stage) == 0
    answer(stage, f"text {RECIPIENT} Hello from:sales")
    (send,) = stage.store.sends_in_state([SendState.DRAFT])
    assert (send.sender_alias, send.sender_number) == ("sales", "15550002222")


def test_a_media_url_is_asked_what_it_serves_before_the_confirmation(stage: Stage) -> None:
    url = stage.files.add("coffee.jpg", jpeg(), "image/jpeg")
    text = answer(stage, f"image {RECIPIENT} {url} The best coffee")
    assert "*Checked:* :white_check_mark: image/jpeg" in text
    assert stage.files.requests, "the URL was not checked"
    (send,) = stage.store.sends_in_state([SendState.DRAFT])
    assert (send.kind, send.body, send.caption) == ("image", url, "The best coffee")


def test_a_media_url_that_serves_something_else_is_refused(stage: Stage) -> None:
    pdf = stage.files.add("doc", b"%PDF-1.4\n%%EOF\n", "application/pdf")
    gone = stage.files.add("gone.jpg", b"", "text/html", status=404)
    assert "PDF" in answer(stage, f"image {RECIPIENT} {pdf}")
    assert "404" in answer(stage, f"image {RECIPIENT} {gone}")
    assert count(stage) == 0
    # without a type, what is served decides it
    text = answer(stage, f"{RECIPIENT} {pdf} statement.pdf")
    assert "Send a document on WhatsApp?" in text and "statement.pdf" in text


def test_a_private_address_is_refused_unless_allowed(tmp_path: Path) -> None:
    with staged(tmp_path, media={"allow_private_hosts": False}) as stage:
        url = stage.files.add("coffee.jpg", jpeg(), "image/jpeg")
        assert "not to a public server" in answer(stage, f"image {RECIPIENT} {url}")
        assert stage.files.requests == []
        assert count(stage) == 0


def test_a_group_gets_one_confirmation_and_a_draft_per_member(tmp_path: Path) -> None:
    members = ["+573001234500", "+573001234501", "acme-ops"]
    with staged(tmp_path, groups={"drivers": members}) as stage:
        message = slash.handle(stage.services, command("text drivers Route change today"))
        assert "to 3 recipients" in message.text
        found = find_element(message.blocks, ids.SEND_GROUP)
        assert found is not None
        batch = stage.services.groups.get(found[1]["value"])
        assert batch is not None and (batch.group_name, batch.total) == ("drivers", 3)
        drafted = stage.services.groups.sends(batch.id)
        assert sorted(s.recipient for s in drafted) == sorted([*members[:2], RECIPIENT])
        assert {(s.source, s.state, s.body) for s in drafted} == {
            ("group", SendState.DRAFT, "Route change today")
        }
        assert count(stage, batches) == 1 and stage.provider.requests == []


def sent(stage: Stage) -> str:
    """A send made in the channel and delivered; its transactionId."""
    send = stage.draft()
    assert stage.services.sending.confirm(send.id) is not None
    stage.services.deliveries.deliver(send.id)
    transaction_id = stage.send(send.id).transaction_id
    assert transaction_id is not None
    return transaction_id


def test_status_shows_a_send_only_in_its_channel_or_to_its_sender(stage: Stage) -> None:
    transaction_id = sent(stage)
    here = answer(stage, f"status {transaction_id}", user=OTHER_USER)
    assert transaction_id in here and "*Timeline*" in here
    assert transaction_id in answer(stage, f"status {transaction_id}", channel="C0SALES")
    elsewhere = answer(stage, f"status {transaction_id}", user=OTHER_USER, channel="C0SALES")
    assert "can't show that send here" in elsewhere
    assert transaction_id not in elsewhere and RECIPIENT not in elsewhere
    assert "No send has the transactionId `nope`" in answer(stage, "status nope")


# WhatsApp's window and opt-outs


def test_the_confirmation_says_the_window_and_its_button(stage: Stage) -> None:
    text = answer(stage, f"text {RECIPIENT} Hello")
    assert "no message from this customer in the last 24 h" in text
    assert "Send anyway" in text
    stage.store.opt_out("support", RECIPIENT, "setting up a conversation")
    record = stage.store.find_conversation("support", RECIPIENT)
    assert record is not None
    stage.store.set_conversation_fields(
        record.id, opted_out_at=None, opted_out_why=None, last_customer_at=utcnow()
    )
    text = answer(stage, f"text {RECIPIENT} Hello again")
    assert "*WhatsApp window:* open until" in text and "23 h left" in text
    assert "Send anyway" not in text


def test_a_customer_on_the_do_not_send_list_is_refused_before_any_draft(stage: Stage) -> None:
    stage.store.opt_out("support", RECIPIENT, 'they wrote "STOP"')
    media = stage.files.add("coffee.jpg", jpeg(), "image/jpeg")
    for text in (f"text {RECIPIENT} Hello", f"image acme-ops {media}"):
        refused = answer(stage, text)
        assert f"{RECIPIENT} opted out of messages from Support on " in refused
        assert '(they wrote "STOP")' in refused
    assert count(stage) == 0
    assert stage.files.requests == []  # refused before the URL was asked
    # the list is the sender's: another sender may still write
    assert "Send a text message on WhatsApp?" in answer(stage, f"text {RECIPIENT} Hi from:sales")
