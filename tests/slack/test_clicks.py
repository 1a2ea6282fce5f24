"""The buttons handled in process: Send, Cancel and Retry, what each answers the clicker with,
and what reaches the provider and the channel."""

from __future__ import annotations

from pathlib import Path

from bot.core import ids
from bot.sandbox.slack import find_element
from bot.slack import clicks
from bot.store import SendState
from bot.whatsapp.payloads import Message, MessageKind
from tests.inprocess import (
    CHANNEL,
    OTHER_USER,
    RECIPIENT,
    USER,
    Responses,
    Stage,
    click,
    staged,
)
from tests.scenarios.harness import buttons, text_of

ALREADY = "This was already confirmed; it is sent only once. Its record is in the channel."
CANCELLED = "This send was cancelled; nothing was sent."


def requests_for(stage: Stage, external_id: str) -> int:
    return sum(
        1
        for r in stage.provider.requests
        if isinstance(r.json, dict) and r.json["request"].get("externalId") == external_id
    )


def refusal(text: str) -> dict[str, object]:
    """What a refused click answers: a note to the clicker, the message clicked left alone."""
    return {"text": f":no_entry: {text}", "response_type": "ephemeral", "replace_original": False}


# Send


def test_send_calls_the_provider_once_and_rewrites_the_confirmation(stage: Stage) -> None:
    send = stage.draft()
    respond = Responses()
    clicks.on_send(stage.services, click(send.id), respond)
    (request,) = stage.provider.requests
    assert request.json == {
        "channel": "WHATSAPP",
        "request": {
            "from": "15550001111",
            "to": RECIPIENT,
            "message": "Your order shipped",
            "type": "text",
            "externalId": send.external_id,
        },
        "callbacks": f"https://bot.example.com/whatsapp/callbacks/{send.callback_token}",
    }
    transaction_id = stage.provider.sends[0].transaction_id
    after = stage.send(send.id)
    assert after.state is SendState.SENT and after.transaction_id == transaction_id
    # the confirmation says it is sending, then how it went; each replaces it, buttons and all
    assert [call["replace_original"] for call in respond.calls] == [True, True]
    assert respond.texts[0] == f":outbox_tray: Sending to {RECIPIENT}…"
    assert respond.texts[1].startswith(f":white_check_mark: Sent to {RECIPIENT}.")
    assert f"`{transaction_id}`" in respond.texts[1]
    assert all(buttons(call) == [] for call in respond.calls)
    # the record is in the channel, its transactionId in its thread
    (record,) = stage.records()
    assert record["ts"] == after.message_ts
    assert any(transaction_id in text for text in stage.thread_texts(send.id))


def test_a_second_send_click_is_told_it_was_already_confirmed(stage: Stage) -> None:
    send = stage.draft()
    clicks.on_send(stage.services, click(send.id), Responses())
    again = Responses()
    clicks.on_send(stage.services, click(send.id), again)
    assert again.texts == [ALREADY]
    assert again.calls[0]["replace_original"] is True
    assert requests_for(stage, send.external_id) == 1
    assert len(stage.records()) == 1


def test_a_refused_send_says_why(stage: Stage) -> None:
    stage.provider.fail_next("400", reason="The destination number is not on WhatsApp")
    send = stage.draft()
    respond = Responses()
    clicks.on_send(stage.services, click(send.id), respond)
    assert respond.texts[-1] == (
        ":x: Not sent: The destination number is not on WhatsApp. See the record's thread."
    )
    assert stage.send(send.id).state is SendState.FAILED
    assert any("not on WhatsApp" in text for text in stage.thread_texts(send.id))


def test_only_the_asker_may_confirm_or_cancel_a_confirmation(stage: Stage) -> None:
    send = stage.draft(user=USER)
    for handler in (clicks.on_send, clicks.on_cancel):
        respond = Responses()
        handler(stage.services, click(send.id, user=OTHER_USER), respond)
        assert respond.calls == [
            refusal(f"Only <@{USER}>, who asked for this send, can confirm it.")
        ]
    assert stage.send(send.id).state is SendState.DRAFT
    assert stage.provider.requests == [] and stage.slack.calls == []


def test_a_click_on_a_send_that_does_not_exist_closes_the_confirmation(stage: Stage) -> None:
    for handler in (clicks.on_send, clicks.on_cancel):
        respond = Responses()
        handler(stage.services, click("0" * 32), respond)
        assert respond.texts == ["This confirmation has expired; nothing was sent."]
        assert respond.calls[0]["replace_original"] is True
    assert stage.provider.requests == []


def test_a_click_by_someone_no_longer_allowed_is_refused(tmp_path: Path) -> None:
    with staged(tmp_path, access={"allowed_users": [USER]}) as stage:
        # drafted while the config still listed them
        send = stage.draft(user=OTHER_USER)
        for handler in (clicks.on_send, clicks.on_cancel):
            respond = Responses()
            handler(stage.services, click(send.id, user=OTHER_USER), respond)
            (said,) = respond.calls
            assert said["replace_original"] is False
            assert "not on the list of people" in said["text"]
        assert stage.send(send.id).state is SendState.DRAFT
        assert stage.provider.requests == []


def test_a_group_member_is_sent_only_through_its_group(tmp_path: Path) -> None:
    with staged(tmp_path, groups={"drivers": [RECIPIENT, "+573001234500"]}) as stage:
        services = stage.services
        drafted = services.groups.draft(
            "drivers",
            Message(MessageKind.TEXT, "", "Route change"),
            sender=services.sending.resolve_sender(None, CHANNEL),
            team_id=None,
            channel_id=CHANNEL,
            user_id=USER,
        )
        member = drafted.members[0]
        respond = Responses()
        clicks.on_send(services, click(member.id), respond)
        assert respond.calls == [
            refusal("This message is part of a group send; use the group's confirmation.")
        ]
        assert stage.send(member.id).state is SendState.DRAFT
        assert stage.provider.requests == []


def test_send_on_a_shared_file_s_offer_is_anyones_and_the_offer_becomes_the_record(
    stage: Stage,
) -> None:
    send = stage.offer("parcel.png", user=USER)
    respond = Responses()
    clicks.on_send(stage.services, click(send.id, user=OTHER_USER), respond)
    assert respond.calls == []  # the offer itself says what happened
    assert requests_for(stage, send.external_id) == 1
    after = stage.send(send.id)
    assert after.state is SendState.SENT and after.user_id == OTHER_USER
    offer = stage.slack.message(CHANNEL, after.message_ts or "")
    assert offer is not None and buttons(offer) == []
    assert f"<@{OTHER_USER}> sent an image" in text_of(offer)
    assert stage.records() == []  # in the file's thread, nothing at the top of the channel


# Cancel


def test_cancel_sends_nothing_and_later_clicks_say_so(stage: Stage) -> None:
    send = stage.draft()
    respond = Responses()
    clicks.on_cancel(stage.services, click(send.id), respond)
    assert respond.texts == [":wastebasket: Cancelled; nothing was sent."]
    assert respond.calls[0]["replace_original"] is True
    assert stage.send(send.id).state is SendState.CANCELLED
    for handler in (clicks.on_cancel, clicks.on_send):
        later = Responses()
        handler(stage.services, click(send.id), later)
        assert later.texts == [CANCELLED]
    assert stage.provider.requests == [] and stage.records() == []


def test_cancel_after_send_changes_nothing(stage: Stage) -> None:
    send = stage.draft()
    clicks.on_send(stage.services, click(send.id), Responses())
    respond = Responses()
    clicks.on_cancel(stage.services, click(send.id), respond)
    assert respond.texts == [ALREADY]
    assert stage.send(send.id).state is SendState.SENT


def test_cancel_on_a_shared_file_s_offer_rewrites_the_offer(stage: Stage) -> None:
    send = stage.offer("parcel.png", user=USER)
    respond = Responses()
    clicks.on_cancel(stage.services, click(send.id, user=OTHER_USER), respond)
    (said,) = respond.calls
    assert said["replace_original"] is True and buttons(said) == []
    # an image keeps no file name of its own to send: it is named by its kind
    assert respond.texts == [
        f":wastebasket: <@{OTHER_USER}> cancelled sending *the image*; nothing was sent."
    ]
    assert stage.send(send.id).state is SendState.CANCELLED
    assert stage.provider.requests == []


# Retry


def uncertain(stage: Stage) -> str:
    """A send the provider may or may not have received (it answered 500)."""
    stage.provider.fail_next("500")
    send = stage.draft()
    respond = Responses()
    clicks.on_send(stage.services, click(send.id), respond)
    assert respond.texts[-1] == ":warning: Not sure whether it was sent; see the record's thread."
    after = stage.send(send.id)
    assert after.state is SendState.UNKNOWN
    thread = stage.slack.thread(CHANNEL, after.message_ts or "")
    assert any(find_element(m.get("blocks"), ids.RETRY) for m in thread)
    return send.id


def test_retry_sends_an_uncertain_send_once_more_and_only_once(stage: Stage) -> None:
    send_id = uncertain(stage)
    external_id = stage.send(send_id).external_id
    respond = Responses()
    clicks.on_retry(stage.services, click(send_id, user=OTHER_USER), respond)
    assert respond.texts == [f":repeat: <@{OTHER_USER}> chose to send it again."]
    assert respond.calls[0]["replace_original"] is True
    after = stage.send(send_id)
    assert after.state is SendState.SENT
    assert after.transaction_id == stage.provider.sends[-1].transaction_id
    assert requests_for(stage, external_id) == 2
    again = Responses()
    clicks.on_retry(stage.services, click(send_id), again)
    assert again.calls == [
        refusal("This send was already retried or has a result; it is not sent again.")
    ]
    assert requests_for(stage, external_id) == 2


def test_retry_is_refused_for_a_send_with_a_result_or_none_at_all(stage: Stage) -> None:
    send = stage.draft()
    clicks.on_send(stage.services, click(send.id), Responses())
    respond = Responses()
    clicks.on_retry(stage.services, click(send.id), respond)
    assert respond.calls == [
        refusal("This send was already retried or has a result; it is not sent again.")
    ]
    missing = Responses()
    clicks.on_retry(stage.services, click("0" * 32), missing)
    assert missing.calls == [refusal("This send no longer exists.")]
    assert requests_for(stage, send.external_id) == 1


def test_retry_by_someone_not_allowed_is_refused(tmp_path: Path) -> None:
    with staged(tmp_path, access={"allowed_users": [USER]}) as stage:
        send_id = uncertain(stage)
        respond = Responses()
        clicks.on_retry(stage.services, click(send_id, user=OTHER_USER), respond)
        (said,) = respond.calls
        assert said["replace_original"] is False and "not on the list of people" in said["text"]
        assert stage.send(send_id).state is SendState.UNKNOWN
        assert len(stage.provider.requests) == 1


# a customer who opted out after the confirmation was shown


def test_a_click_for_a_customer_who_opted_out_since_sends_nothing(stage: Stage) -> None:
    send = stage.draft()
    stage.store.opt_out("support", RECIPIENT, 'they wrote "STOP"')
    respond = Responses()
    clicks.on_send(stage.services, click(send.id), respond)
    assert stage.provider.requests == []
    assert stage.send(send.id).state is SendState.CANCELLED
    (said,) = respond.calls
    assert said["replace_original"] is True and buttons(said) == []
    assert respond.texts[0].startswith(f":no_entry: Not sent: {RECIPIENT} opted out of messages")
    assert '(they wrote "STOP")' in respond.texts[0]


def test_an_offer_s_send_for_a_customer_who_opted_out_since_leaves_the_offer(
    stage: Stage,
) -> None:
    send = stage.offer()
    stage.store.opt_out("support", RECIPIENT, "the provider reported the number as BLACKLISTED")
    respond = Responses()
    clicks.on_send(stage.services, click(send.id, user=OTHER_USER), respond)
    assert stage.provider.requests == []
    assert stage.send(send.id).state is SendState.DRAFT  # another recipient may be chosen
    (said,) = respond.calls
    assert said["replace_original"] is False and said["response_type"] == "ephemeral"
    assert "BLACKLISTED" in respond.texts[0] and "Not sent" in respond.texts[0]
