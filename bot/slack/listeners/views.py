"""The recipient modal: from an offer's `Choose recipient…`, or the `Send to WhatsApp` shortcut;
the reply modal of a customer's message."""

from __future__ import annotations

from typing import Any

from slack_bolt import Ack, App
from slack_sdk import WebClient

from bot import blocks
from bot.core import ids
from bot.slack import fileflow, replies
from bot.usecases.services import Services


def register(app: App, services: Services) -> None:
    def open_for_offer(body: dict[str, Any], client: WebClient) -> None:
        view = fileflow.modal_for_offer(services, body)
        client.views_open(trigger_id=body["trigger_id"], view=view)

    def open_for_shortcut(body: dict[str, Any], client: WebClient) -> None:
        opened = client.views_open(trigger_id=body["trigger_id"], view=blocks.modal_loading(""))
        fileflow.prepare_shortcut(services, body, str(opened["view"]["id"]))

    @app.action(ids.CHOOSE_RECIPIENT)
    def on_choose(ack: Ack, body: dict[str, Any], client: WebClient) -> None:
        ack()
        services.background(open_for_offer, body, client)

    @app.shortcut(ids.SHORTCUT)
    def on_shortcut(ack: Ack, body: dict[str, Any], client: WebClient) -> None:
        ack()
        services.background(open_for_shortcut, body, client)

    @app.view(ids.MODAL)
    def on_submit(ack: Ack, body: dict[str, Any], view: dict[str, Any]) -> None:
        answer = fileflow.answer_submission(services, body, view)
        if answer.errors:
            ack(response_action="errors", errors=answer.errors)
            return
        if answer.view is not None:  # `Send anyway` first, or why it cannot be sent
            ack(response_action="update", view=answer.view)
            return
        ack()
        if answer.choice is not None:
            services.background(services.deliveries.send_choice, answer.choice)

    @app.view(ids.REPLY_MODAL)
    def on_reply(ack: Ack, body: dict[str, Any], view: dict[str, Any]) -> None:
        errors, reply = replies.check_submission(services, body, view)
        if errors:
            ack(response_action="errors", errors=errors)
            return
        ack()
        if reply is not None:
            services.background(replies.send, services, reply)
