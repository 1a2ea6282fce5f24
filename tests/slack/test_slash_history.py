"""`/whatsapp history` handled in process: the ephemeral answer, its mistakes, and the same
access policy as every other subcommand; Enter in the App Home's "Find a customer"."""

from __future__ import annotations

from bot.core import ids
from bot.slack import history, slash
from tests.inprocess import CHANNEL, OTHER_USER, USER, Stage
from tests.scenarios.harness import text_of
from tests.test_store_history import sent


def answer(stage: Stage, text: str, *, user: str = USER, channel: str = CHANNEL) -> str:
    command = {
        "command": ids.COMMAND,
        "text": text,
        "user_id": user,
        "channel_id": channel,
        "team_id": "T0STANDIN",
    }
    return text_of(slash.handle(stage.services, command).as_kwargs())


def test_the_history_of_a_number(stage: Stage) -> None:
    sent(
        stage.store,
        1,
        channel_id=CHANNEL,
        user_id=OTHER_USER,
        transaction_id="tx-ana",
        provider_status="DELIVERED",
    )
    text = answer(stage, "history +573001234567")
    assert text.startswith(":mag: *History of* *+573001234567*: 1 message")
    assert (
        ":white_check_mark: *DELIVERED* · `tx-ana` · <https://standin.slack.com/archives/" in text
    )
    assert f"from *Support* by <@{OTHER_USER}>" in text
    # Asked in another channel: that channel's items and one's own sends, not this one's
    # (the spec: a send is shown only in its channel, or to the person who made it).
    elsewhere = answer(stage, "history acme-ops", channel="C0SALES")
    assert "Nothing sent to or received from" in elsewhere and "`tx-ana`" not in elsewhere
    mine = answer(stage, "history acme-ops", channel="C0SALES", user=OTHER_USER)
    assert "*+573001234567* (acme-ops): 1 message" in mine and "`tx-ana`" in mine


def test_nothing_for_an_unknown_number(stage: Stage) -> None:
    text = answer(stage, "history +573009876543")
    assert text.startswith(":mag: Nothing sent to or received from *+573009876543* that you")
    assert "You see what was sent or received where you may send" in text


def test_a_malformed_number_says_why_with_an_example(stage: Stage) -> None:
    text = answer(stage, "history +57300")
    assert "`+57300` is not a valid phone number: it is too short" in text
    assert "For example: `/whatsapp history +573001234567`" in text
    missing = answer(stage, "history")
    assert "Say whose history to show" in missing and "/whatsapp history +57" in missing
    assert "no sender called `ghost`" in answer(stage, "history +573001234567 from:ghost")


def test_a_channel_that_is_not_set_up_is_refused(stage: Stage) -> None:
    sent(stage.store, 1, channel_id=CHANNEL)
    text = answer(stage, "history +573001234567", channel="C0RANDOM")
    assert "not set up for this channel" in text and "tx-" not in text


def test_help_names_it(stage: Stage) -> None:
    assert "`/whatsapp history +573001234567`" in answer(stage, "help")


def test_enter_in_find_a_customer_publishes_the_history(stage: Stage) -> None:
    sent(stage.store, 1, channel_id=CHANNEL, user_id=OTHER_USER, transaction_id="tx-ana")
    body = {
        "type": "block_actions",
        "user": {"id": USER},
        "container": {"type": "view", "view_id": "V1"},
        "view": {"type": "home"},
        "actions": [
            {"type": "plain_text_input", "action_id": ids.FIND_INPUT, "value": "acme-ops"},
        ],
    }
    history.on_find(stage.services, body)
    view = stage.slack.home_view(USER)
    assert view is not None and "`tx-ana`" in str(view["blocks"])
    history.on_find(stage.services, {"actions": [{"value": "x"}]})  # nobody: nothing happens
