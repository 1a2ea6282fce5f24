"""The recipient modal's submission checked in process: inline errors, or the choice to send."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bot.core import ids
from bot.slack import fileflow
from bot.store import SendState, utcnow
from bot.usecases.delivery import Choice
from bot.usecases.fileshare import modal_metadata
from tests.inprocess import OTHER_USER, RECIPIENT, USER, Stage, staged
from tests.scenarios.harness import text_of


def submitted(
    metadata: str, recipient: str, sender: str, *, user: str = USER
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The `body` and `view` Bolt hands the modal's listener for these values."""
    view = {
        "callback_id": ids.MODAL,
        "private_metadata": metadata,
        "state": {
            "values": {
                ids.RECIPIENT_BLOCK: {ids.RECIPIENT_INPUT: {"value": recipient}},
                ids.SENDER_BLOCK: {
                    ids.SENDER_INPUT: {"selected_option": {"value": sender} if sender else None}
                },
            }
        },
    }
    return {"type": "view_submission", "user": {"id": user}, "view": view}, view


def check(
    stage: Stage, send_id: str, recipient: str, sender: str, *, user: str = USER
) -> tuple[dict[str, str], Choice | None]:
    body, view = submitted(modal_metadata(send_id), recipient, sender, user=user)
    return fileflow.check_submission(stage.services, body, view)


def test_a_good_choice_is_returned_to_send_and_nothing_is_changed_yet(stage: Stage) -> None:
    send = stage.offer()
    errors, choice = check(stage, send.id, "acme-ops", "sales", user=OTHER_USER)
    assert errors == {}
    assert choice == Choice(
        send_id=send.id,
        recipient=RECIPIENT,
        sender=stage.services.config.senders["sales"],
        user_id=OTHER_USER,
    )
    assert stage.send(send.id) == send  # checked only: the draft is as it was
    assert stage.provider.requests == []


def test_a_number_is_taken_as_e164_and_no_sender_keeps_the_drafts(stage: Stage) -> None:
    send = stage.offer()
    errors, choice = check(stage, send.id, " +57 300 123 4500 ", "")
    assert errors == {}
    assert choice is not None and choice.recipient == "+573001234500"
    assert choice.sender == stage.services.config.senders["support"]


def test_a_group_is_chosen_by_its_name(tmp_path: Path) -> None:
    with staged(tmp_path, groups={"drivers": [RECIPIENT, "+573001234500"]}) as stage:
        send = stage.offer()
        errors, choice = check(stage, send.id, "drivers", "support")
        assert errors == {} and choice is not None
        assert choice.recipient == "group:drivers"


def test_a_bad_recipient_and_an_unknown_sender_are_errors_under_their_inputs(
    stage: Stage,
) -> None:
    send = stage.offer()
    errors, choice = check(stage, send.id, "12", "ghost")
    assert choice is None
    assert set(errors) == {ids.RECIPIENT_BLOCK, ids.SENDER_BLOCK}
    assert "not a valid phone number" in errors[ids.RECIPIENT_BLOCK]
    assert "There is no sender called `ghost`" in errors[ids.SENDER_BLOCK]
    assert all(len(error) <= 150 for error in errors.values())  # what Slack shows under one
    errors, choice = check(stage, send.id, "nobody", "support")
    assert choice is None and "not a phone number or a known contact" in errors["recipient"]


def test_a_slash_commands_draft_cannot_be_sent_through_the_modal(stage: Stage) -> None:
    draft = stage.draft(user=USER)
    errors, choice = check(stage, draft.id, "acme-ops", "support", user=USER)
    assert choice is None
    assert errors == {ids.RECIPIENT_BLOCK: "Not sent: this modal can only send a shared file."}
    assert stage.send(draft.id).state is SendState.DRAFT


def test_someone_not_allowed_gets_an_error_not_a_send(tmp_path: Path) -> None:
    with staged(tmp_path, access={"allowed_users": [USER]}) as stage:
        send = stage.offer(user=USER)
        errors, choice = check(stage, send.id, "acme-ops", "support", user=OTHER_USER)
        assert choice is None
        assert "not on the list of people" in errors[ids.RECIPIENT_BLOCK]


def test_a_send_gone_or_no_longer_a_draft_just_closes_the_modal(stage: Stage) -> None:
    send = stage.offer()
    assert stage.services.sending.cancel(send.id) is not None
    assert check(stage, send.id, "acme-ops", "support") == ({}, None)
    assert check(stage, "0" * 32, "acme-ops", "support") == ({}, None)
    body, view = submitted("not json at all", "acme-ops", "support")
    assert fileflow.check_submission(stage.services, body, view) == ({}, None)


# WhatsApp's window and opt-outs: `answer_submission`, what the listener answers Slack with


def answered(
    stage: Stage, send_id: str, recipient: str, sender: str, *, user: str = USER
) -> fileflow.Answer:
    body, view = submitted(modal_metadata(send_id), recipient, sender, user=user)
    return fileflow.answer_submission(stage.services, body, view)


def resubmitted(stage: Stage, shown: dict[str, Any], *, user: str = USER) -> fileflow.Answer:
    """The `Send anyway` view submitted: no inputs, its metadata carries the choice."""
    view = {**shown, "state": {"values": {}}}
    body = {"type": "view_submission", "user": {"id": user}, "view": view}
    return fileflow.answer_submission(stage.services, body, view)


def test_a_recipient_outside_the_window_is_asked_about_first_then_sent(stage: Stage) -> None:
    send = stage.offer()
    first = answered(stage, send.id, "+573001234500", "sales")
    assert first.errors == {} and first.choice is None and first.view is not None
    assert first.view["submit"]["text"] == "Send anyway"
    assert first.view["callback_id"] == ids.MODAL
    assert "no message from this customer in the last 24 h" in text_of(first.view)
    assert stage.send(send.id) == send  # nothing changed yet
    second = resubmitted(stage, first.view, user=OTHER_USER)
    assert second.view is None and second.errors == {}
    assert second.choice == Choice(
        send_id=send.id,
        recipient="+573001234500",
        sender=stage.services.config.senders["sales"],
        user_id=OTHER_USER,
    )


def test_a_recipient_inside_the_window_is_sent_at_once(stage: Stage) -> None:
    send = stage.offer()
    stage.store.opt_out("support", "+573001234500", "setting up a conversation")
    record = stage.store.find_conversation("support", "+573001234500")
    assert record is not None
    stage.store.set_conversation_fields(
        record.id, opted_out_at=None, opted_out_why=None, last_customer_at=utcnow()
    )
    got = answered(stage, send.id, "+573001234500", "support")
    assert got.view is None and got.choice is not None
    # the window is the sender's: from sales, this customer has not written
    assert answered(stage, send.id, "+573001234500", "sales").view is not None


def test_a_recipient_who_opted_out_is_an_error_under_the_input(stage: Stage) -> None:
    send = stage.offer()
    stage.store.opt_out("sales", RECIPIENT, 'they wrote "STOP"')
    got = answered(stage, send.id, "acme-ops", "sales")
    assert got.choice is None and got.view is None
    error = got.errors[ids.RECIPIENT_BLOCK]
    assert error.startswith(f"{RECIPIENT} opted out of messages from Sales on ")
    assert '(they wrote "STOP")' in error and len(error) <= 150
    # once the `Send anyway` view is up, an opt-out is said in the modal instead
    shown = answered(stage, send.id, "+573001234500", "sales").view
    assert shown is not None
    stage.store.opt_out("sales", "+573001234500", 'they wrote "BAJA"')
    late = resubmitted(stage, shown)
    assert late.choice is None and late.view is not None
    assert "opted out of messages from Sales" in text_of(late.view)
    assert "submit" not in late.view
    assert stage.send(send.id).state is SendState.DRAFT


def test_a_group_counts_its_members_outside_the_window_and_skipped(tmp_path: Path) -> None:
    members = [RECIPIENT, "+573001234500", "+573001234501"]
    with staged(tmp_path, groups={"drivers": members}) as stage:
        send = stage.offer()
        stage.store.opt_out("support", RECIPIENT, 'they wrote "STOP"')
        got = answered(stage, send.id, "drivers", "support")
        assert got.view is not None and got.view["submit"]["text"] == "Send anyway"
        text = text_of(got.view)
        assert "2 of 2 recipients have not written in the last 24 h" in text
        assert f"1 skipped: opted out ({RECIPIENT})" in text
        again = resubmitted(stage, got.view)
        assert again.choice is not None and again.choice.recipient == "group:drivers"
        for number in members[1:]:
            stage.store.opt_out("support", number, 'they wrote "STOP"')
        refused = answered(stage, send.id, "drivers", "support")
        assert "Everyone in the group drivers opted out" in refused.errors[ids.RECIPIENT_BLOCK]
