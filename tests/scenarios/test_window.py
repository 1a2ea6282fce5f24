"""WhatsApp's 24-hour window and the do-not-send lists, end to end over HTTP: every confirmation
says the window; a customer who opted out is refused before any confirmation, and a click on
an older one sends nothing; a group skips them."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from bot.core import ids
from bot.core.records import ConversationRecord, utcnow
from bot.store import SendState
from tests.scenarios.harness import CHANNEL, OTHER_USER, USER, Harness, buttons, text_of
from tests.scenarios.test_conversations import CUSTOMER, customer_json
from tests.scenarios.test_file_share import choice, png, send_anyway, share, wait_in_thread
from tests.scenarios.test_slash_send import CLOSED

DRIVERS = ["+573001234500", "+573001234501", "+573001234502"]


def conversation(bot: Harness, customer: str = CUSTOMER) -> ConversationRecord:
    found = bot.store.find_conversation("support", customer)
    assert found is not None, customer
    return found


def wrote(bot: Harness, text: str, customer: str = CUSTOMER) -> ConversationRecord:
    """The customer writes to the support number (the provider posts to its inbound URL)."""
    answer = customer_json(bot, f"wamid.{customer}.{text}", text, user=customer.lstrip("+"))
    assert answer.status_code == 200
    return conversation(bot, customer)


def opted_out_words(record: ConversationRecord, text: str = "STOP") -> str:
    assert record.opted_out_at is not None
    return (
        f"{record.customer} opted out of messages from Support on "
        f'{record.opted_out_at:%Y-%m-%d %H:%M} UTC (they wrote "{text}")'
    )


def drafts(bot: Harness) -> list[SendState]:
    from bot.store import sends

    with bot.store.engine.connect() as conn:
        return [SendState(row.state) for row in conn.execute(sends.select())]


# --- the slash command ---------------------------------------------------------------------------


def test_a_customer_who_wrote_within_the_hour_gets_the_open_window_and_send(bot: Harness) -> None:
    record = wrote(bot, "Hola, ¿llegó mi pedido?")
    since = utcnow() - timedelta(minutes=50)
    bot.store.set_conversation_fields(record.id, last_customer_at=since)
    until = since + timedelta(hours=24)

    bot.driver.slash_command(f"text {CUSTOMER} Sí, hoy sale", user=USER, channel=CHANNEL)
    confirmation = bot.wait_ephemeral("Send a text message on WhatsApp?")
    text = text_of(confirmation)
    assert f"*WhatsApp window:* open until {until:%H:%M} UTC, 23 h left" in text
    assert CLOSED not in text
    assert buttons(confirmation) == ["Send", "Cancel"]

    bot.driver.click(ids.SEND, user=USER, channel=CHANNEL)
    (request,) = bot.provider.wait_for_requests(1)
    assert request.json["request"]["to"] == CUSTOMER  # type: ignore[index]


def test_a_customer_who_never_wrote_gets_the_closed_words_and_send_anyway(bot: Harness) -> None:
    bot.driver.slash_command(f"text {CUSTOMER} Your order shipped", user=USER, channel=CHANNEL)
    confirmation = bot.wait_ephemeral("Send a text message on WhatsApp?")
    assert f":warning: *WhatsApp window:* {CLOSED}" in text_of(confirmation)
    assert buttons(confirmation) == ["Send anyway", "Cancel"]
    # the same button, the same path: it sends
    bot.driver.click(ids.SEND, user=USER, channel=CHANNEL)
    (request,) = bot.provider.wait_for_requests(1)
    assert request.json["request"]["message"] == "Your order shipped"  # type: ignore[index]


def test_a_customer_who_wrote_stop_is_refused_and_an_older_confirmation_sends_nothing(
    bot: Harness,
) -> None:
    bot.driver.slash_command(f"text {CUSTOMER} First offer", user=USER, channel=CHANNEL)
    older = bot.wait_ephemeral("Send a text message on WhatsApp?")
    (older_send,) = [bot.only_send()]

    record = wrote(bot, "STOP")
    bot.driver.slash_command(f"text {CUSTOMER} hi", user=USER, channel=CHANNEL)
    refusal = bot.wait_ephemeral("opted out")
    assert opted_out_words(record) in text_of(refusal)
    assert buttons(refusal) == []
    assert drafts(bot) == [SendState.DRAFT]  # no draft of the refused command

    # the confirmation shown before the customer opted out: its click sends nothing
    bot.driver.click(ids.SEND, older_send.id, user=USER, channel=CHANNEL, message=older)
    bot.wait_said("Not sent: " + opted_out_words(record))
    assert bot.provider.requests == []
    assert bot.only_send().state is SendState.CANCELLED
    # and a click replayed later is told it is over
    bot.driver.click(ids.SEND, older_send.id, user=USER, channel=CHANNEL, message=older)
    bot.wait_said("This send was cancelled; nothing was sent.")
    assert bot.provider.requests == []


# --- a group ---------------------------------------------------------------------------------


@pytest.fixture
def drivers_bot(tmp_path: Path) -> Iterator[Harness]:
    harness = Harness(tmp_path, groups={"drivers": DRIVERS}).start()
    yield harness
    harness.close()


def test_a_group_skips_who_opted_out_at_the_confirmation_and_at_the_click(
    drivers_bot: Harness,
) -> None:
    bot = drivers_bot
    first = wrote(bot, "STOP", DRIVERS[0])
    wrote(bot, "Hola", DRIVERS[1])  # inside the window; DRIVERS[2] never wrote

    bot.driver.slash_command("text drivers Route change today", user=USER, channel=CHANNEL)
    confirmation = bot.wait_ephemeral("2 recipients")
    text = text_of(confirmation)
    assert f"*To:* group *drivers*, 2 recipients: {DRIVERS[1]}, {DRIVERS[2]}" in text
    assert "1 of 2 recipients have not written in the last 24 h: WhatsApp may refuse" in text
    assert f"1 skipped: opted out ({DRIVERS[0]})" in text
    assert buttons(confirmation) == ["Send anyway to 2", "Cancel"]

    # one more opts out after the confirmation was shown: skipped at the click
    wrote(bot, "Baja", DRIVERS[1])
    bot.driver.click(ids.SEND_GROUP, user=USER, channel=CHANNEL)
    bot.wait_said("Sending to 1 recipient (2 skipped: opted out)")
    (request,) = bot.provider.wait_for_requests(1)
    assert request.json["request"]["to"] == DRIVERS[2]  # type: ignore[index]

    def progress() -> str | None:
        for message in bot.slack.channel_messages(CHANNEL):
            if message.get("bot_id") and "group *drivers*" in text_of(message):
                text = text_of(message)
                return text if "1/1 · 1 sent · 0 failed · 2 skipped: opted out" in text else None
        return None

    shown = bot.slack.wait_for(progress, timeout=20)
    assert "group *drivers* (1 recipient) from *Support*" in shown
    assert f"Skipped, opted out: {DRIVERS[0]}, {DRIVERS[1]}" in shown
    assert len(bot.provider.requests) == 1 and first.opted_out_at is not None


def test_a_group_everyone_opted_out_of_is_refused(drivers_bot: Harness) -> None:
    bot = drivers_bot
    for number in DRIVERS:
        wrote(bot, "STOP", number)
    bot.driver.slash_command("text drivers Route change today", user=USER, channel=CHANNEL)
    refusal = bot.wait_ephemeral("opted out")
    assert "Everyone in the group `drivers` opted out of messages from Support" in text_of(refusal)
    assert drafts(bot) == []


# --- a shared file -------------------------------------------------------------------------


def test_a_file_offer_to_the_default_recipient_says_the_window(bot: Harness) -> None:
    wrote(bot, "¿Me mandan la foto?")
    ts = share(bot, "parcel.png", png())
    texts = wait_in_thread(bot, ts, "Send *parcel.png*")
    assert "*WhatsApp window:* open until" in texts[-1] and "23 h left" in texts[-1]
    offer = next(m for m in bot.slack.thread(CHANNEL, ts) if buttons(m))
    assert buttons(offer) == ["Send", "Choose recipient…", "Cancel"]
    bot.driver.click(ids.SEND, user=OTHER_USER, channel=CHANNEL, message=offer)
    (request,) = bot.provider.wait_for_requests(1)
    assert request.json["request"]["to"] == CUSTOMER  # type: ignore[index]


def test_an_offer_for_a_customer_who_opted_out_sends_nothing(bot: Harness) -> None:
    ts = share(bot, "parcel.png", png())
    wait_in_thread(bot, ts, "Send *parcel.png*")
    offer = next(m for m in bot.slack.thread(CHANNEL, ts) if buttons(m))
    assert buttons(offer) == ["Send anyway", "Choose recipient…", "Cancel"]

    record = wrote(bot, "STOP")
    # the offer made before: its Send is refused with when and why, and the offer stays
    bot.driver.click(ids.SEND, user=OTHER_USER, channel=CHANNEL, message=offer)
    bot.wait_said("Not sent: " + opted_out_words(record))
    assert bot.provider.requests == []
    assert bot.only_send().state is SendState.DRAFT

    # a file shared now: the default recipient is not offered, only another one
    later = share(bot, "later.png", png())
    texts = wait_in_thread(bot, later, "Send *later.png*")
    assert opted_out_words(record) in texts[-1]
    newest = next(m for m in bot.slack.thread(CHANNEL, later) if buttons(m))
    assert buttons(newest) == ["Choose recipient…", "Cancel"]

    # and the modal will not take them either
    bot.driver.click(ids.CHOOSE_RECIPIENT, user=USER, channel=CHANNEL, message=newest)
    view = bot.slack.wait_for(lambda: next(iter(bot.slack.views.values()), None))
    answer = bot.driver.submit_view(view["id"], choice(CUSTOMER, "support"), user=USER)
    assert answer.json["response_action"] == "errors"  # type: ignore[index]
    assert "opted out of messages from Support" in answer.json["errors"][ids.RECIPIENT_BLOCK]  # type: ignore[index]
    assert bot.provider.requests == []


def test_the_modal_sends_at_once_inside_the_window_and_asks_first_outside(bot: Harness) -> None:
    wrote(bot, "Hola")
    ts = share(bot, "parcel.png", png())
    wait_in_thread(bot, ts, "Send *parcel.png*")
    bot.driver.click(ids.CHOOSE_RECIPIENT, user=USER, channel=CHANNEL)
    view = bot.slack.wait_for(lambda: next(iter(bot.slack.views.values()), None))
    answer = bot.driver.submit_view(view["id"], choice(CUSTOMER, "support"), user=USER)
    assert answer.status == 200 and not (answer.json or {}).get("response_action")
    (request,) = bot.provider.wait_for_requests(1)
    assert request.json["request"]["to"] == CUSTOMER  # type: ignore[index]
    wait_in_thread(bot, ts, bot.provider.sends[0].transaction_id)

    # a number that never wrote: the modal says so and sends only on `Send anyway`, once
    other = share(bot, "other.png", png())
    wait_in_thread(bot, other, "Send *other.png*")
    offer = next(m for m in bot.slack.thread(CHANNEL, other) if buttons(m))
    bot.driver.click(ids.CHOOSE_RECIPIENT, user=USER, channel=CHANNEL, message=offer)
    second = bot.slack.wait_for(
        lambda: next((v for v in bot.slack.views.values() if v["id"] != view["id"]), None)
    )
    asked = bot.driver.submit_view(second["id"], choice("+573009876543", "support"), user=USER)
    assert len(bot.provider.requests) == 1
    send_anyway(bot, second["id"], asked)
    again = bot.driver.submit_view(second["id"], {}, user=USER)
    assert again.status == 200
    bot.provider.wait_for_requests(2)
    wait_in_thread(bot, other, "Status: *READ*")
    bot.provider.wait_for_callbacks()
    assert [r.json["request"]["to"] for r in bot.provider.requests] == [  # type: ignore[index]
        CUSTOMER,
        "+573009876543",
    ]
