"""`/whatsapp optouts` handled in process: the do-not-send lists of the senders allowed in the
channel, under the same access policy as every other subcommand."""

from __future__ import annotations

from pathlib import Path

from bot.core import ids
from bot.slack import slash
from tests.inprocess import CHANNEL, OTHER_USER, USER, Stage, staged
from tests.scenarios.harness import text_of


def answer(stage: Stage, text: str, *, user: str = USER, channel: str = CHANNEL) -> str:
    command = {
        "command": ids.COMMAND,
        "text": text,
        "user_id": user,
        "channel_id": channel,
        "team_id": "T0STANDIN",
    }
    return text_of(slash.handle(stage.services, command).as_kwargs())


def opt_out(stage: Stage, sender: str, customer: str, why: str = "they wrote STOP") -> None:
    assert stage.store.opt_out(sender, customer, why)


def test_nobody_opted_out(stage: Stage) -> None:
    text = answer(stage, "optouts")
    assert text == (
        ":white_check_mark: Nobody has opted out of messages from *Support* (+15550001111) or "
        "*Sales* (+15550002222)."
    )
    sales_only = answer(stage, "optouts", channel="C0SALES")
    assert sales_only.endswith("messages from *Sales* (+15550002222).")


def test_the_senders_allowed_in_the_channel(stage: Stage) -> None:
    opt_out(stage, "support", "+573001234567")
    opt_out(stage, "sales", "+573009876543", "the provider reported the number as BLACKLISTED")

    here = answer(stage, "optouts")
    assert "+573001234567" in here and "+573009876543" in here
    assert "from Support" in here and "from Sales" in here and "BLACKLISTED" in here
    assert here.index("+573009876543") < here.index("+573001234567")  # newest first

    sales = answer(stage, "optouts", channel="C0SALES")
    assert "+573009876543" in sales and "+573001234567" not in sales

    one = answer(stage, "optouts from:support")
    assert "+573001234567" in one and "+573009876543" not in one


def test_a_sender_not_allowed_in_the_channel_is_refused(stage: Stage) -> None:
    opt_out(stage, "support", "+573001234567")
    text = answer(stage, "optouts from:support", channel="C0SALES")
    assert "may not be used in this channel" in text and "+573001234567" not in text
    assert "no sender called `ghost`" in answer(stage, "optouts from:ghost")


def test_the_same_access_policy_as_every_subcommand(tmp_path: Path) -> None:
    with staged(tmp_path, access={"allowed_users": [USER]}) as stage:
        opt_out(stage, "support", "+573001234567")
        elsewhere = answer(stage, "optouts", channel="C0RANDOM")
        assert "not set up for this channel" in elsewhere and "+573001234567" not in elsewhere
        stranger = answer(stage, "optouts", user=OTHER_USER)
        assert "not on the list of people" in stranger and "+573001234567" not in stranger
        assert "+573001234567" in answer(stage, "optouts")


def test_help_names_optouts(stage: Stage) -> None:
    assert "`/whatsapp optouts`" in answer(stage, "help")
