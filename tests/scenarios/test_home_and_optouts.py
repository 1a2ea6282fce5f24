"""Conversations as the App Home and `/whatsapp optouts` show them, end to end over HTTP: the
provider posts customers' messages to the sender's inbound URL, people look in Slack."""

from __future__ import annotations

import json

from slack_sdk import WebClient

from bot.core import ids
from tests.conftest import SECRETS
from tests.scenarios.harness import CHANNEL, OTHER_USER, USER, Harness, text_of
from tests.scenarios.test_conversations import CUSTOMER, customer_json, inbox_roots


def waiting_lines(bot: Harness, user: str = USER) -> list[str]:
    view = bot.slack.home_view(user)
    if view is None:
        return []
    texts = [text_of({"blocks": [b]}) for b in view["blocks"]]
    if "Waiting for a reply" not in texts:
        return []
    return [t for t in texts[texts.index("Waiting for a reply") + 1 :] if t.startswith(":hour")]


def home_text(bot: Harness, user: str = USER) -> str:
    return json.dumps(bot.slack.home_view(user))


def permalink(bot: Harness, channel: str, ts: str) -> str:
    client = WebClient(token=SECRETS["SLACK_BOT_TOKEN"], base_url=bot.slack.api_url)
    return str(client.chat_getPermalink(channel=channel, message_ts=ts)["permalink"])


def test_the_home_tab_lists_a_waiting_customer_until_someone_answers(bot: Harness) -> None:
    assert bot.driver.app_home_opened(USER).status == 200
    bot.slack.wait_for(lambda: "No customer is waiting" in home_text(bot), timeout=10)

    assert customer_json(bot, "wamid.H1", "¿Llegó mi pedido?").status_code == 200

    (line,) = bot.slack.wait_for(lambda: waiting_lines(bot), timeout=10)
    root = inbox_roots(bot)[0]
    assert line.startswith(f":hourglass: *Ana Gómez* ({CUSTOMER}) to *Support*")
    assert "wrote <!date^" in line and ":large_green_circle: 23 h left" in line
    assert f"<{permalink(bot, CHANNEL, root['ts'])}|open the thread>" in line

    # Someone answers from Slack: the customer no longer waits, and the tab says so.
    bot.driver.slash_command(
        f"text {CUSTOMER} Sí, llegó esta mañana", user=OTHER_USER, channel=CHANNEL
    )
    bot.wait_ephemeral("Send a text message on WhatsApp?", user=OTHER_USER)
    assert bot.driver.click(ids.SEND, user=OTHER_USER, channel=CHANNEL).status == 200
    bot.provider.wait_for_requests(1)
    bot.slack.wait_for(
        lambda: not waiting_lines(bot) and "No customer is waiting" in home_text(bot), timeout=15
    )
    assert bot.slack.home_view(OTHER_USER) is None  # never opened: never published
    assert "Traceback" not in bot.log(), bot.log()


def test_a_customer_who_writes_stop_is_listed_by_optouts(bot: Harness) -> None:
    bot.driver.slash_command("optouts", user=USER, channel=CHANNEL)
    bot.wait_ephemeral("Nobody has opted out of messages from *Support* (+15550001111) or *Sales*")

    assert customer_json(bot, "wamid.S1", "STOP").status_code == 200
    bot.slack.wait_for(lambda: any("Opted out" in text_of(m) for m in inbox_roots(bot)), timeout=10)

    answer = bot.driver.slash_command("optouts", user=USER, channel=CHANNEL)
    assert answer.status == 200 and answer.elapsed < 3
    listed = text_of(bot.wait_ephemeral("Do-not-send list"))
    assert f"*Ana Gómez* ({CUSTOMER}) · from Support · <!date^" in listed
    assert 'they wrote "STOP"' in listed and "1 number" in listed
    # only its asker sees it
    assert not any(
        "Do-not-send" in text_of(m) for m in bot.slack.ephemerals(channel=CHANNEL, user=OTHER_USER)
    )

    # The sales channel lists only Sales' list, which is empty.
    bot.driver.slash_command("optouts", user=USER, channel="C0SALES")
    bot.wait_ephemeral(
        "Nobody has opted out of messages from *Sales* (+15550002222).", channel="C0SALES"
    )
    # A channel that is not set up is refused as for any subcommand.
    bot.driver.slash_command("optouts", user=USER, channel="C0RANDOM")
    bot.wait_ephemeral("not set up for this channel", channel="C0RANDOM")
