"""Slack's format never reaches a customer: entities, mentions and links arrive as meant, and the
confirmation shows exactly that text."""

from __future__ import annotations

from typing import Any

from bot.core import ids
from tests.scenarios.harness import CHANNEL, OTHER_USER, USER, Harness, text_of
from tests.scenarios.test_file_share import choice, png, send_anyway, share, wait_in_thread


def seen(message: dict[str, Any] | str) -> str:
    """What a person reads: Slack shows `&amp;`, `&lt;` and `&gt;` as the characters."""
    text = message if isinstance(message, str) else text_of(message)
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def names(bot: Harness) -> None:
    bot.slack.add_user(USER, "alice", real_name="Alice Arias", display_name="Alice")
    bot.slack.add_user(OTHER_USER, "bob", real_name="Bob Baker", display_name="Bob")


def sent(bot: Harness) -> dict[str, Any]:
    (request,) = bot.provider.wait_for_requests(1)
    body: dict[str, Any] = request.json["request"]  # type: ignore[index]
    return body


def users_asked(bot: Harness) -> list[str]:
    return [str(call.params.get("user")) for call in bot.slack.calls_to("users.info")]


def test_a_caption_and_its_url_reach_the_provider_unescaped(bot: Harness) -> None:
    names(bot)
    url = f"<{bot.coffee_url}?size=large&amp;v=2>"
    text = f"image +573001234567 {url} Fish &amp; Chips <@{OTHER_USER}>"
    bot.driver.slash_command(text, user=USER, channel=CHANNEL)
    confirmation = seen(bot.wait_ephemeral("Send an image on WhatsApp?"))
    assert "Fish & Chips @Bob" in confirmation
    assert f"{bot.coffee_url}?size=large&v=2" in confirmation
    assert "&amp;" not in confirmation and "<@" not in confirmation

    bot.driver.click(ids.SEND, user=USER, channel=CHANNEL)
    body = sent(bot)
    assert body["caption"] == "Fish & Chips @Bob"
    assert body["message"] == f"{bot.coffee_url}?size=large&v=2"


def test_a_text_message_gets_names_and_links_asking_slack_once_per_person(bot: Harness) -> None:
    names(bot)
    text = (
        f"text +573001234567 <@{OTHER_USER}>: <http://x.example/a|see this> &amp; "
        f"<http://x.example/b> before 5 &lt;3 <!here> (ask <@{OTHER_USER}>)"
    )
    meant = "@Bob: see this (http://x.example/a) & http://x.example/b before 5 <3 @here (ask @Bob)"
    bot.driver.slash_command(text, user=USER, channel=CHANNEL)
    confirmation = bot.wait_ephemeral("Send a text message on WhatsApp?")
    assert meant in seen(confirmation)

    bot.driver.click(ids.SEND, user=USER, channel=CHANNEL)
    assert sent(bot)["message"] == meant
    bot.driver.slash_command(
        f"image +573001234567 {bot.coffee_url} for <@{OTHER_USER}>", user=USER, channel=CHANNEL
    )
    bot.wait_ephemeral("for @Bob")
    assert users_asked(bot) == [OTHER_USER]


def test_a_shared_files_message_becomes_its_caption_with_names(bot: Harness) -> None:
    names(bot)
    ts = share(bot, "parcel.png", png(), text=f"<@{USER}> &amp; <@{OTHER_USER}> packed this")
    texts = wait_in_thread(bot, ts, "Send *parcel.png*")
    assert "@Alice & @Bob packed this" in seen(texts[-1])
    bot.driver.click(ids.SEND, user=USER, channel=CHANNEL)
    assert sent(bot)["caption"] == "@Alice & @Bob packed this"


def test_the_message_shortcut_decodes_the_caption_too(bot: Harness) -> None:
    names(bot)
    answer = bot.driver.file_share(
        "photo.png", png(), user=USER, channel="C0SALES", text=f"From <@{USER}> &lt;3"
    )
    message = bot.slack.message("C0SALES", answer.sent["event"]["ts"])
    assert message is not None
    bot.driver.message_shortcut(ids.SHORTCUT, message, user=USER, channel="C0SALES")

    view = bot.wait_recipient_modal()
    assert "From @Alice <3" in seen({"blocks": view["blocks"]})
    answer = bot.driver.submit_view(view["id"], choice("+573001234567", "sales"), user=USER)
    send_anyway(bot, view["id"], answer)
    assert sent(bot)["caption"] == "From @Alice <3"
