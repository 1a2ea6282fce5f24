"""The `/whatsapp` slash command, end to end over HTTP: confirm, send, transactionId, statuses."""

from __future__ import annotations

import json
import time

from bot.core import ids
from tests.scenarios.harness import CHANNEL, USER, Harness, buttons, text_of

# What a confirmation says to a customer who has not written in WhatsApp's window.
CLOSED = (
    "no message from this customer in the last 24 h: WhatsApp may refuse a free-form message, "
    "and only a late status would say so"
)


def command(bot: Harness) -> str:
    return f"image +573001234567 {bot.coffee_url} The best coffee in the town!"


def confirm_and_send(bot: Harness, *, window_open: bool = False) -> None:
    """The command, its confirmation, and a click on its button: `Send anyway` when the
    customer has not written in the last 24 h (the tests' customers never do, unless made to)."""
    answer = bot.driver.slash_command(command(bot), user=USER, channel=CHANNEL)
    assert answer.status == 200
    confirmation = bot.wait_ephemeral("Send an image on WhatsApp?")
    if window_open:
        assert buttons(confirmation) == ["Send", "Cancel"]
        assert "WhatsApp window:* open until" in text_of(confirmation)
    else:
        assert buttons(confirmation) == ["Send anyway", "Cancel"]
        assert CLOSED in text_of(confirmation)
    click = bot.driver.click(ids.SEND, user=USER, channel=CHANNEL)
    assert click.status == 200


def test_image_send_to_read(bot: Harness) -> None:
    answer = bot.driver.slash_command(command(bot), user=USER, channel=CHANNEL)
    assert answer.status == 200 and answer.elapsed < 3
    confirmation = bot.wait_ephemeral("Send an image on WhatsApp?")
    summary = text_of(confirmation)
    for expected in (
        "+573001234567",
        "Support (+15550001111)",
        "coffee.jpg",
        "The best coffee in the town!",
        CLOSED,  # the customer never wrote
    ):
        assert expected in summary
    assert buttons(confirmation) == ["Send anyway", "Cancel"]

    click = bot.driver.click(ids.SEND, user=USER, channel=CHANNEL)
    assert click.status == 200 and click.elapsed < 3
    (request,) = bot.provider.wait_for_requests(1)
    send = bot.provider.sends[0]
    record = bot.wait_thread(send.transaction_id)
    stored = bot.only_send()
    assert request.json == {
        "channel": "WHATSAPP",
        "request": {
            "from": "15550001111",
            "to": "+573001234567",
            "message": bot.coffee_url,
            "type": "image",
            "caption": "The best coffee in the town!",
            "externalId": stored.external_id,
        },
        "callbacks": f"{bot.url}/whatsapp/callbacks/{stored.callback_token}",
    }
    assert f"<@{USER}> sent an image on WhatsApp to *+573001234567*" in record[0]
    assert "Support" in record[0]

    bot.wait_thread("Status: *READ*")
    bot.provider.wait_for_callbacks()
    assert [c.http_status for c in bot.provider.callbacks] == [200] * 4
    late = bot.provider.post_status(send.transaction_id, "SENT")
    assert late[0].http_status == 200
    # The callback was stored before it was answered; whatever render it called for is done.
    bot.wait_shown()
    texts = bot.thread_texts()
    assert ":eyes: *READ*" in texts[0]
    status_replies = [t for t in texts if "Status:" in t]
    assert len(status_replies) == 1 and "*READ*" in status_replies[0]
    assert "QUEUE" in status_replies[0] and "DELIVERED" in status_replies[0]
    assert bot.only_send().provider_status == "READ"
    # the confirmation was rewritten: no button is left to click twice
    assert buttons(bot.latest_ephemeral()) == []
    assert len(bot.provider.requests) == 1


def test_a_home_tab_nobody_opened_is_not_published_as_statuses_arrive(bot: Harness) -> None:
    """Only the Home tabs of people who open them are kept fresh; opening one shows it fresh."""
    confirm_and_send(bot)
    bot.wait_thread("Status: *READ*")
    # Every render pass, and with it every Home tab refresh it could have asked for, is done;
    # then past the Home tab's once-a-second spacing, had a refresh been scheduled.
    bot.wait_shown()
    time.sleep(1.5)
    assert bot.slack.calls_to("views.publish") == []
    assert bot.driver.app_home_opened(USER).status == 200
    bot.slack.wait_for(lambda: ":eyes: *READ*" in json.dumps(bot.slack.home_view(USER)), timeout=10)
    published = len(bot.slack.calls_to("views.publish"))
    confirm_and_send(bot)  # the next send's statuses refresh the opened tab
    bot.slack.wait_for(lambda: len(bot.slack.calls_to("views.publish")) > published, timeout=10)


def test_the_home_tab_after_three_sends(bot: Harness) -> None:
    for count in range(1, 4):
        confirm_and_send(bot)
        bot.provider.wait_for(lambda n=count: len(bot.provider.sends) >= n)  # type: ignore[misc]
        bot.wait_ephemeral(bot.provider.sends[-1].transaction_id)  # this confirmation is done
    bot.provider.wait_for_requests(3)
    bot.slack.wait_for(lambda: len(bot.slack.calls_to("chat.postMessage")) >= 6, timeout=15)
    answer = bot.driver.app_home_opened(USER)
    assert answer.status == 200

    def home_with_three() -> dict | None:  # type: ignore[type-arg]
        view = bot.slack.home_view(USER)
        if view is None:
            return None
        texts = [text_of({"blocks": [b]}) for b in view["blocks"]]
        found = [t for t in texts if any(s.transaction_id in t for s in bot.provider.sends)]
        return view if len(found) == 3 else None

    view = bot.slack.wait_for(home_with_three, timeout=10)
    texts = "\n".join(text_of({"blocks": [b]}) for b in view["blocks"])
    newest = bot.provider.sends[-1].transaction_id
    oldest = bot.provider.sends[0].transaction_id
    assert texts.index(newest) < texts.index(oldest)
    assert "<#C0123SUPPORT>" in texts and "Support (+15550001111)" in texts
    # a status change refreshes it
    bot.wait_thread("Status: *READ*")
    bot.slack.wait_for(lambda: ":eyes: *READ*" in json.dumps(bot.slack.home_view(USER)), timeout=10)
