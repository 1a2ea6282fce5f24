"""A shared file's name and caption reach Slack, through the real app, as text: no mention,
no disguised link, no line that reads as the bot's."""

from __future__ import annotations

import re
from typing import Any

from bot.core import ids
from tests.scenarios import test_file_share as shares
from tests.scenarios.harness import CHANNEL, USER, Harness, buttons, objects

NAME = "<!channel> urgent <http://evil.example|safe>.png"
SHOWN_NAME = "&lt;!channel&gt; urgent &lt;http://evil.example|safe&gt;.png"
CAPTION = "Look\n:white_check_mark: *DELIVERED*\n*From:* Sales"
# What the bot itself writes between angle brackets: mentions of members, dates.
OWN_MARKUP = re.compile(r"<@U0[A-Z]+>|<!date\^\d+\^[^|<>]*\|[^<>]*>")


def mrkdwn(message: dict[str, Any]) -> list[str]:
    """The fallback text and every mrkdwn text of a message's blocks, as Slack stored them."""
    blocks = objects(message.get("blocks") or [])
    return [str(message.get("text", ""))] + [
        str(node["text"]) for node in blocks if node.get("type") == "mrkdwn"
    ]


def assert_inert(message: dict[str, Any]) -> None:
    for text in mrkdwn(message):
        assert "<" not in OWN_MARKUP.sub("", text), text
        for line in text.splitlines():
            assert not line.startswith((":white_check_mark: *DELIVERED*", "*From:* Sales")), text


def test_a_file_named_to_notify_everyone_is_offered_and_recorded_as_text(bot: Harness) -> None:
    ts = shares.share(bot, NAME, shares.png(), text=CAPTION)
    shares.wait_in_thread(bot, ts, "on WhatsApp?")
    offer = next(m for m in bot.slack.thread(CHANNEL, ts) if buttons(m))
    assert offer["text"] == f"Send {SHOWN_NAME} on WhatsApp?"
    (section,) = [b for b in offer["blocks"] if b["type"] == "section"]
    lines = section["text"]["text"].splitlines()
    assert lines[0].startswith(f":paperclip: Send *{SHOWN_NAME}* (PNG")
    assert lines[2:6] == [
        "*Caption:*",
        ">Look",
        ">:white_check_mark: *DELIVERED*",
        ">*From:* Sales",
    ]
    assert_inert(offer)

    bot.driver.click(ids.SEND, user=USER, channel=CHANNEL)
    bot.provider.wait_for_requests(1)
    shares.wait_in_thread(bot, ts, "Status: *READ*")
    record = bot.slack.message(CHANNEL, offer["ts"])
    assert record is not None and buttons(record) == []
    assert ">*From:* Sales" in record["blocks"][1]["text"]["text"].splitlines()
    for message in bot.slack.thread(CHANNEL, ts):
        if message.get("bot_id"):
            assert_inert(message)


def test_a_refused_file_named_to_mention_is_refused_as_text(bot: Harness) -> None:
    ts = shares.share(bot, "<!here> <@U0BOB>\n*From:* Sales.gif", shares.gif())
    shares.wait_in_thread(bot, ts, "can't be sent on WhatsApp")
    (refusal,) = [m for m in bot.slack.thread(CHANNEL, ts) if m.get("bot_id")]
    assert refusal["text"].startswith(
        "&lt;!here&gt; &lt;@U0BOB&gt; *From:* Sales.gif can't be sent"
    )
    assert (
        "*&lt;!here&gt; &lt;@U0BOB&gt; *From:* Sales.gif*" in refusal["blocks"][0]["text"]["text"]
    )
    assert_inert(refusal)
