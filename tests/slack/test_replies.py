"""The `Reply` button and its modal handled in process: who gets the modal, what the submission
checks inline, and what one submission sends (once)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bot.core import ids
from bot.core.records import InboundRecord, utcnow
from bot.slack import replies
from bot.store import SendState
from bot.usecases.replies import Reply
from tests.inprocess import CHANNEL, OTHER_USER, RECIPIENT, USER, Responses, Stage, staged
from tests.scenarios.harness import text_of


def customer_message(
    stage: Stage, text: str = "Hola, ¿tienen envío?", *, optout: str | None = None
) -> InboundRecord:
    """A customer's message, stored and shown as the root of a thread in the channel."""
    shown = stage.slack.add_message(CHANNEL, user="U0CUSTOMERS", text=text)
    taken = stage.store.take_inbound(
        sender_alias="support",
        customer=RECIPIENT,
        answerable=True,
        message={
            "dedup_key": f"id:{shown['ts']}",
            "shape": "json",
            "kind": "text",
            "text": text,
            "customer_name": "Ana Gómez",
            "attachments": "[]",
            "raw": "{}",
            "optout": optout,
        },
        optout=optout,
        opt_out_why='they wrote "STOP"' if optout == "out" else None,
    )
    ts = str(shown["ts"])
    stage.store.set_inbound_fields(
        taken.message_id, channel_id=CHANNEL, thread_ts=ts, message_ts=ts, shown_at=utcnow()
    )
    message = stage.store.get_inbound(taken.message_id)
    assert message is not None
    return message


def clicked(message_id: str, *, stage: Stage, user: str = USER) -> dict[str, Any]:
    return {
        "type": "block_actions",
        "user": {"id": user},
        "channel": {"id": CHANNEL},
        "trigger_id": stage.slack.new_trigger_id(),
        "actions": [{"action_id": ids.REPLY, "value": message_id}],
    }


def submitted(
    message_id: str,
    *,
    text: str = "",
    url: str = "",
    caption: str = "",
    user: str = USER,
    view_id: str = "V0REPLY1",
) -> tuple[dict[str, Any], dict[str, Any]]:
    view = {
        "id": view_id,
        "callback_id": ids.REPLY_MODAL,
        "private_metadata": message_id,
        "state": {
            "values": {
                ids.REPLY_TEXT_BLOCK: {ids.REPLY_TEXT_INPUT: {"value": text or None}},
                ids.REPLY_URL_BLOCK: {ids.REPLY_URL_INPUT: {"value": url or None}},
                ids.REPLY_CAPTION_BLOCK: {ids.REPLY_CAPTION_INPUT: {"value": caption or None}},
            }
        },
    }
    body = {"type": "view_submission", "user": {"id": user}, "team": {"id": "T000"}, "view": view}
    return body, view


def check(stage: Stage, message_id: str, **typed: Any) -> tuple[dict[str, str], Reply | None]:
    body, view = submitted(message_id, **typed)
    return replies.check_submission(stage.services, body, view)


def opened_views(stage: Stage) -> list[dict[str, Any]]:
    return [v for v in stage.slack.views.values() if v.get("callback_id") == ids.REPLY_MODAL]


# the click


def test_reply_opens_the_modal_for_that_customer_and_sender(stage: Stage) -> None:
    message = customer_message(stage)
    respond = Responses()
    replies.open_modal(
        stage.services, clicked(message.id, stage=stage), respond, stage.services.client
    )
    assert respond.calls == []
    (view,) = opened_views(stage)
    assert view["private_metadata"] == message.id
    assert view["submit"]["text"] == "Send"
    assert "Ana Gómez" in text_of(view) and "open until" in text_of(view)


def test_reply_by_someone_not_allowed_is_refused_without_a_modal(tmp_path: Path) -> None:
    with staged(tmp_path, access={"allowed_users": [USER]}) as stage:
        message = customer_message(stage)
        respond = Responses()
        body = clicked(message.id, stage=stage, user=OTHER_USER)
        replies.open_modal(stage.services, body, respond, stage.services.client)
        (call,) = respond.calls
        assert call["response_type"] == "ephemeral" and call["replace_original"] is False
        assert "not on the list of people who may send" in call["text"]
        assert opened_views(stage) == []


def test_reply_on_a_message_that_is_gone_says_so(stage: Stage) -> None:
    respond = Responses()
    replies.open_modal(stage.services, clicked("nope", stage=stage), respond, stage.services.client)
    assert respond.texts == [f":no_entry: {replies.GONE}"]
    assert opened_views(stage) == []


def test_a_customer_who_opted_out_gets_a_modal_without_send(stage: Stage) -> None:
    message = customer_message(stage, "STOP", optout="out")
    replies.open_modal(
        stage.services, clicked(message.id, stage=stage), Responses(), stage.services.client
    )
    (view,) = opened_views(stage)
    assert "submit" not in view
    assert "opted out of messages from Support" in text_of(view)
    assert 'they wrote "STOP"' in text_of(view)


# the submission


def test_a_good_submission_is_returned_to_send_and_nothing_is_sent_yet(stage: Stage) -> None:
    message = customer_message(stage)
    errors, reply = check(stage, message.id, text="  Sí, <@U0BOB>  ")
    assert errors == {}
    assert reply == Reply(
        message_id=message.id,
        view_id="V0REPLY1",
        user_id=USER,
        customer=RECIPIENT,
        channel_id=CHANNEL,
        thread_ts=message.thread_ts,
        team_id="T000",
        text="Sí, <@U0BOB>",  # decoded in the background, where asking Slack for names is fine
    )
    assert stage.provider.requests == []


def test_what_is_missing_or_wrong_is_said_under_its_input(stage: Stage) -> None:
    message = customer_message(stage)
    cases = {
        ids.REPLY_TEXT_BLOCK: {},
        ids.REPLY_URL_BLOCK: {"text": "hi", "url": "https://example.com/a.jpg"},
        ids.REPLY_CAPTION_BLOCK: {"text": "hi", "caption": "under what?"},
    }
    for block, typed in cases.items():
        errors, reply = check(stage, message.id, **typed)
        assert list(errors) == [block] and reply is None, typed
    errors, _ = check(stage, message.id, url="ftp://example.com/a.jpg")
    assert "is not a web link" in errors[ids.REPLY_URL_BLOCK]
    errors, _ = check(stage, message.id, url="https://")
    assert "not a valid URL" in errors[ids.REPLY_URL_BLOCK]


def test_a_submission_by_someone_no_longer_allowed_or_to_an_opted_out_customer_is_refused(
    tmp_path: Path,
) -> None:
    with staged(tmp_path, access={"allowed_users": [USER]}) as stage:
        message = customer_message(stage)
        errors, reply = check(stage, message.id, text="hi", user=OTHER_USER)
        assert reply is None
        assert errors[ids.REPLY_TEXT_BLOCK].startswith("Not sent: You are not on the list")
        stage.store.opt_out("support", RECIPIENT, "they wrote STOP")
        errors, reply = check(stage, message.id, url="https://example.com/a.jpg")
        assert reply is None and "opted out" in errors[ids.REPLY_URL_BLOCK]


# sending


def test_one_view_sends_once_however_often_it_is_submitted(stage: Stage) -> None:
    message = customer_message(stage)
    _, reply = check(stage, message.id, text="Sí &amp; <http://x.example|x.example>")
    assert reply is not None
    replies.send(stage.services, reply)
    replies.send(stage.services, reply)
    (request,) = stage.provider.requests
    body = request.json["request"]  # type: ignore[index]
    assert (body["to"], body["from"], body["message"]) == (
        RECIPIENT,
        "15550001111",
        "Sí & x.example",
    )
    (send,) = [s for s in stage.store.sends_in_state([SendState.SENT]) if s.source == "reply"]
    assert (send.channel_id, send.thread_ts, send.user_id, send.origin) == (
        CHANNEL,
        message.thread_ts,
        USER,
        "reply:V0REPLY1",
    )
    conversation = stage.store.find_conversation("support", RECIPIENT)
    assert conversation is not None and conversation.waiting_since is None
    # another view is another reply
    _, other = check(stage, message.id, text="And one more thing", view_id="V0REPLY2")
    assert other is not None
    replies.send(stage.services, other)
    assert len(stage.provider.requests) == 2


def test_a_refused_url_is_told_to_the_person_who_replied_in_the_thread(stage: Stage) -> None:
    message = customer_message(stage)
    url = stage.files.add("notes.txt", b"just some words\n" * 20, "text/plain")
    _, reply = check(stage, message.id, url=url, caption="see")
    assert reply is not None
    replies.send(stage.services, reply)
    (told,) = stage.slack.ephemerals(channel=CHANNEL, user=USER)
    assert told["thread_ts"] == message.thread_ts
    assert text_of(told).startswith(f":no_entry: Your reply to {RECIPIENT} was not sent:")
    assert stage.provider.requests == []
    assert stage.store.send_with_origin(reply.origin) is None


def test_a_caption_on_media_that_cannot_have_one_is_refused_and_a_pdf_name_names_a_document(
    stage: Stage,
) -> None:
    message = customer_message(stage)
    pdf = (
        b"%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\n"
        b"2 0 obj<</Type/Pages/Kids[]/Count 0>>endobj\ntrailer<</Root 1 0 R>>\n%%EOF\n"
    )
    url = stage.files.add("doc", pdf, "application/pdf")
    _, reply = check(stage, message.id, url=url, caption="the invoice")
    assert reply is not None
    replies.send(stage.services, reply)
    (told,) = stage.slack.ephemerals(channel=CHANNEL, user=USER)
    assert "A caption can only go with an image" in text_of(told)
    _, named = check(stage, message.id, url=url, caption="invoice-1042.pdf", view_id="V0REPLY3")
    assert named is not None
    replies.send(stage.services, named)
    (request,) = stage.provider.requests
    body = request.json["request"]  # type: ignore[index]
    assert (body["type"], body["fileName"]) == ("document", "invoice-1042.pdf")
    assert "caption" not in body
