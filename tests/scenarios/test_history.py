"""A customer's history, end to end over HTTP: a send made with the slash command and the
customer's answer posted to the inbound URL, then `/whatsapp history` and the App Home's "Find
a customer" show both, with status, transactionId and the link to their thread."""

from __future__ import annotations

from typing import Any

from bot.core import ids
from tests.scenarios.harness import CHANNEL, OTHER_USER, USER, Harness, text_of
from tests.scenarios.test_conversations import CUSTOMER, customer_json
from tests.scenarios.test_home_and_optouts import permalink
from tests.scenarios.test_slash_send import confirm_and_send


def send_and_hear_back(bot: Harness) -> tuple[str, str]:
    """An image sent to the customer (read), and their answer in its thread: the send's
    transactionId and the thread's link."""
    confirm_and_send(bot)
    bot.provider.wait_for_requests(1)
    transaction_id = bot.provider.sends[0].transaction_id
    bot.wait_thread("Status: *READ*")
    assert customer_json(bot, "wamid.H1", "Thanks, got it & all fine!").status_code == 200
    bot.wait_thread("Thanks, got it")
    return transaction_id, permalink(bot, CHANNEL, bot.channel_record()["ts"])


def history_lines(message: dict[str, Any]) -> list[str]:
    return [text_of({"blocks": [block]}) for block in message.get("blocks") or []]


def check_history(lines: list[str], transaction_id: str, link: str) -> None:
    """Headline, the customer's answer, then the send: each as it should read."""
    assert lines[0].startswith(f":mag: *History of* *{CUSTOMER}*: 2 messages"), lines
    received, sent = lines[1], lines[2]
    assert received.startswith(":inbox_tray: *Received* <!date^")
    assert "to *Support* from *Ana Gómez*" in received
    assert f"<{link}|open the thread>" in received
    assert received.endswith(">Thanks, got it &amp; all fine!")
    assert sent.startswith(":outbox_tray: *Sent* <!date^")
    assert f":frame_with_picture: image · from *Support* by <@{USER}>" in sent
    assert f":eyes: *READ* · `{transaction_id}` · <{link}|open the thread>" in sent
    assert sent.endswith(">The best coffee in the town!")


def test_the_slash_command_shows_a_send_and_the_customers_answer(bot: Harness) -> None:
    transaction_id, link = send_and_hear_back(bot)

    answer = bot.driver.slash_command(f"history {CUSTOMER}", user=OTHER_USER, channel=CHANNEL)

    assert answer.status == 200 and answer.elapsed < 3
    shown = bot.wait_ephemeral("History of", user=OTHER_USER)
    check_history(history_lines(shown), transaction_id, link)
    # only to the person who asked
    assert not any("History of" in text_of(m) for m in bot.slack.ephemerals(CHANNEL, USER))
    assert not any("History of" in text_of(m) for m in bot.slack.channel_messages(CHANNEL))

    bot.driver.slash_command("history +573009876543", user=USER, channel=CHANNEL)
    bot.wait_ephemeral("Nothing sent to or received from *+573009876543* that you can see.")
    bot.driver.slash_command("history +57300", user=USER, channel=CHANNEL)
    problem = bot.wait_ephemeral("is not a valid phone number")
    assert "it is too short" in text_of(problem)
    assert "For example: `/whatsapp history +573001234567`" in text_of(problem)
    assert "Traceback" not in bot.log(), bot.log()


def test_find_a_customer_in_the_home_tab_shows_the_same(bot: Harness) -> None:
    transaction_id, link = send_and_hear_back(bot)
    assert bot.driver.app_home_opened(OTHER_USER).status == 200
    view = bot.slack.wait_for(
        lambda: (v := bot.slack.home_view(OTHER_USER)) and "Find a customer" in str(v) and v,
        timeout=10,
    )

    entered = bot.driver.click(ids.FIND_INPUT, "acme-ops", user=OTHER_USER, view=view)

    assert entered.status == 200 and entered.elapsed < 3

    def history() -> list[str] | None:
        lines = history_lines(bot.slack.home_view(OTHER_USER) or {})
        start = next((i for i, line in enumerate(lines) if "*History of*" in line), None)
        return lines[start : start + 3] if start is not None else None

    lines = bot.slack.wait_for(history, timeout=10)
    assert lines[0].startswith(f":mag: *History of* *{CUSTOMER}* (acme-ops): 2 messages")
    check_history([lines[0].replace(" (acme-ops)", ""), *lines[1:]], transaction_id, link)

    bad = bot.slack.home_view(OTHER_USER)
    assert bad is not None
    bot.driver.click(ids.FIND_INPUT, "+57300", user=OTHER_USER, view=bad)
    bot.slack.wait_for(
        lambda: any(
            line.startswith(":warning: `+57300` is not a valid phone number")
            for line in history_lines(bot.slack.home_view(OTHER_USER) or {})
        ),
        timeout=10,
    )
    assert "Traceback" not in bot.log(), bot.log()
