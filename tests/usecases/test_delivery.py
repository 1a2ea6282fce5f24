"""Deliveries in process, between the stand-in provider and the stand-in Slack: one provider
call per confirmed send, then its thread; a shared file's draft sent once, to a number or to a
group chosen in the modal."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import pytest

from bot.store import SendRecord, SendState
from bot.usecases.delivery import Choice
from tests.inprocess import CHANNEL, OTHER_USER, RECIPIENT, USER, Stage, staged
from tests.scenarios.harness import buttons, text_of


def confirmed(stage: Stage, body: str = "Your order shipped") -> SendRecord:
    send = stage.draft(body)
    assert stage.services.sending.confirm(send.id) is not None
    return send


def shown_by(params: dict[str, Any]) -> str:
    """What a chat.update call shows (its blocks arrive as JSON text)."""
    blocks = params.get("blocks")
    return text_of({"blocks": json.loads(blocks) if isinstance(blocks, str) else blocks})


def requests_for(stage: Stage, external_id: str) -> list[dict[str, object]]:
    return [
        r.json
        for r in stage.provider.requests
        if isinstance(r.json, dict) and r.json["request"].get("externalId") == external_id
    ]


# deliver


def test_deliver_makes_the_one_request_then_posts_the_record_and_its_transaction_id(
    stage: Stage,
) -> None:
    send = confirmed(stage)
    stage.services.deliveries.deliver(send.id)
    assert requests_for(stage, send.external_id) == [stage.services.sending.request_for(send)]
    transaction_id = stage.provider.sends[0].transaction_id
    after = stage.send(send.id)
    assert after.state is SendState.SENT and after.transaction_id == transaction_id
    (record,) = stage.records()
    assert record["ts"] == after.message_ts
    assert f"<@{USER}> sent a text message on WhatsApp to *{RECIPIENT}*" in text_of(record)
    texts = stage.thread_texts(send.id)
    assert sum(f"`{transaction_id}`" in t for t in texts) == 1
    assert not after.dirty  # Slack shows what is stored


def test_deliver_leaves_a_send_that_is_not_confirmed_alone(stage: Stage) -> None:
    send = stage.draft()
    stage.services.deliveries.deliver(send.id)
    assert stage.provider.requests == []
    assert stage.send(send.id).state is SendState.DRAFT
    assert stage.slack.calls_to("chat.postMessage") == []


def test_a_second_deliver_makes_no_second_request(stage: Stage) -> None:
    send = confirmed(stage)
    stage.services.deliveries.deliver(send.id)
    stage.services.deliveries.deliver(send.id)
    assert len(requests_for(stage, send.external_id)) == 1
    assert len(stage.records()) == 1


def test_before_call_runs_once_sending_is_recorded_and_before_the_request(
    stage: Stage, caplog: pytest.LogCaptureFixture
) -> None:
    seen: list[tuple[SendState, int]] = []

    def before(send: SendRecord) -> None:
        seen.append((stage.send(send.id).state, len(stage.provider.requests)))
        raise RuntimeError("Slack is down")

    send = confirmed(stage)
    with caplog.at_level(logging.ERROR):
        stage.services.deliveries.deliver(send.id, before_call=before)
    assert seen == [(SendState.SENDING, 0)]
    assert stage.send(send.id).state is SendState.SENT  # its failure never stops the send
    assert any(
        r.getMessage() == f"Failed to announce send {send.id}; sending it anyway" and r.exc_info
        for r in caplog.records
    )


def test_a_refused_send_is_failed_and_says_why_in_its_thread(stage: Stage) -> None:
    stage.provider.fail_next("400", reason="The destination number is not on WhatsApp")
    send = confirmed(stage)
    stage.services.deliveries.deliver(send.id)
    after = stage.send(send.id)
    assert after.state is SendState.FAILED and after.transaction_id is None
    assert any(
        "The provider did not send the message: The destination number is not on WhatsApp" in t
        for t in stage.thread_texts(send.id)
    )


def test_a_rate_limit_is_said_in_the_thread_and_waited_out(stage: Stage) -> None:
    stage.provider.fail_next("429", reset="1s")
    send = confirmed(stage)
    stage.services.deliveries.deliver(send.id)
    assert [r.response_status for r in stage.provider.requests] == [429, 200]
    texts = stage.thread_texts(send.id)
    assert any("The provider is rate limiting; sending again in 1 s" in t for t in texts)
    assert stage.send(send.id).state is SendState.SENT
    assert len(stage.records()) == 1  # the record was posted early, once


def test_when_slack_fails_the_send_stands_and_the_sweeper_catches_the_thread_up(
    stage: Stage,
) -> None:
    stage.slack.fail_next("chat.postMessage", "500")
    send = confirmed(stage)
    stage.services.deliveries.deliver(send.id)
    after = stage.send(send.id)
    assert after.state is SendState.SENT and len(stage.provider.requests) == 1
    assert stage.records() == [] and after.dirty  # left for the sweeper
    assert stage.services.renderer.sweep() == 1
    stage.slack.wait_for(lambda: stage.records() and not stage.send(send.id).dirty, timeout=10)
    assert any(f"`{after.transaction_id}`" in t for t in stage.thread_texts(send.id))
    assert len(stage.provider.requests) == 1


# send_draft: a shared file's offer


def test_send_draft_turns_the_offer_into_the_record_before_the_provider_is_called(
    stage: Stage,
) -> None:
    send = stage.offer("parcel.png", user=USER, text="Your parcel arrived")
    stage.services.deliveries.send_draft(send.id, OTHER_USER)
    (request,) = requests_for(stage, send.external_id)
    body = request["request"]
    assert isinstance(body, dict)
    assert body["type"] == "image" and body["caption"] == "Your parcel arrived"
    assert body["message"].startswith("https://bot.example.com/media/")
    after = stage.send(send.id)
    assert after.state is SendState.SENT and after.user_id == OTHER_USER
    # its first edit was made while the send was `sending`: before the provider's answer
    edits = [c for c in stage.slack.calls_to("chat.update") if c.params["ts"] == after.message_ts]
    assert edits and ":hourglass_flowing_sand: Sending…" in shown_by(edits[0].params)
    offer = stage.slack.message(CHANNEL, after.message_ts or "")
    assert offer is not None and buttons(offer) == []
    assert f"<@{OTHER_USER}> sent an image" in text_of(offer)
    assert stage.records() == []


def test_send_draft_sends_once_and_never_a_cancelled_offer(stage: Stage) -> None:
    send = stage.offer()
    stage.services.deliveries.send_draft(send.id, USER)
    stage.services.deliveries.send_draft(send.id, OTHER_USER)
    assert len(requests_for(stage, send.external_id)) == 1
    assert stage.send(send.id).user_id == USER
    cancelled = stage.offer("other.png")
    assert stage.services.sending.cancel(cancelled.id) is not None
    stage.services.deliveries.send_draft(cancelled.id, USER)
    assert requests_for(stage, cancelled.external_id) == []


# send_choice: the recipient modal


def test_send_choice_sends_to_the_chosen_number_from_the_chosen_sender_once(
    stage: Stage,
) -> None:
    send = stage.offer()
    sales = stage.services.config.senders["sales"]
    choice = Choice(send_id=send.id, recipient="+573001234500", sender=sales, user_id=OTHER_USER)
    stage.services.deliveries.send_choice(choice)
    stage.services.deliveries.send_choice(choice)  # the modal submitted twice
    (request,) = requests_for(stage, send.external_id)
    body = request["request"]
    assert isinstance(body, dict)
    assert (body["to"], body["from"]) == ("+573001234500", "15550002222")
    after = stage.send(send.id)
    assert after.state is SendState.SENT
    assert (after.recipient, after.sender_alias, after.user_id) == (
        "+573001234500",
        "sales",
        OTHER_USER,
    )
    offer = stage.slack.message(CHANNEL, after.message_ts or "")
    assert offer is not None and buttons(offer) == []
    assert "+573001234500" in text_of(offer) and "Sales" in text_of(offer)


def test_send_choice_after_the_offer_was_cancelled_sends_nothing(stage: Stage) -> None:
    send = stage.offer()
    assert stage.services.sending.cancel(send.id) is not None
    support = stage.services.config.senders["support"]
    stage.services.deliveries.send_choice(
        Choice(send_id=send.id, recipient=RECIPIENT, sender=support, user_id=USER)
    )
    assert stage.provider.requests == []
    assert stage.send(send.id).state is SendState.CANCELLED


def test_send_choice_to_a_group_sends_to_every_member_and_reports_in_the_offer(
    tmp_path: Path,
) -> None:
    members = ["+573001234500", "+573001234501"]
    with staged(tmp_path, groups={"drivers": members}) as stage:
        send = stage.offer("route.png", text="Route change")
        support = stage.services.config.senders["support"]
        choice = Choice(
            send_id=send.id, recipient="group:drivers", sender=support, user_id=OTHER_USER
        )
        stage.services.deliveries.send_choice(choice)
        stage.services.deliveries.send_choice(choice)  # submitted twice: still once each
        assert stage.send(send.id).state is SendState.CANCELLED  # the single send gave way
        bodies = [r.json["request"] for r in stage.provider.requests]
        assert sorted(body["to"] for body in bodies) == members
        assert {(body["type"], body["caption"]) for body in bodies} == {("image", "Route change")}

        def progress() -> str:
            offer = stage.slack.message(CHANNEL, send.message_ts or "")
            return text_of(offer) if offer else ""

        stage.slack.wait_for(lambda: "2/2 · 2 sent · 0 failed" in progress(), timeout=10)
        assert f"<@{OTHER_USER}> is sending an image" in progress()
        assert stage.records() == []
