"""The recipient modal's submission checked in process: inline errors, or the choice to send."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bot.core import ids
from bot.slack import fileflow
from bot.store import SendState
from bot.usecases.delivery import Choice
from bot.usecases.fileshare import modal_metadata
from tests.inprocess import OTHER_USER, RECIPIENT, USER, Stage, staged


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
