"""Buttons: Send, Cancel, Retry, a customer message's Reply; Enter in the App Home's "Find a
customer". Acknowledged at once; the work runs in the background."""
# Every listener only acks and hands off: the app acks from the request thread
# (process_before_response), so a listener's time is Slack's wait.

from __future__ import annotations

from typing import Any

from slack_bolt import Ack, App, Respond
from slack_sdk import WebClient

from bot.core import ids
from bot.slack import clicks, history, replies
from bot.usecases.services import Services


def register(app: App, services: Services) -> None:
    @app.action(ids.SEND)
    def on_send(ack: Ack, body: dict[str, Any], respond: Respond) -> None:
        ack()
        services.background(clicks.on_send, services, body, respond)

    @app.action(ids.CANCEL)
    def on_cancel(ack: Ack, body: dict[str, Any], respond: Respond) -> None:
        ack()
        services.background(clicks.on_cancel, services, body, respond)

    @app.action(ids.SEND_GROUP)
    def on_send_group(ack: Ack, body: dict[str, Any], respond: Respond) -> None:
        ack()
        services.background(clicks.on_send_group, services, body, respond)

    @app.action(ids.CANCEL_GROUP)
    def on_cancel_group(ack: Ack, body: dict[str, Any], respond: Respond) -> None:
        ack()
        services.background(clicks.on_cancel_group, services, body, respond)

    @app.action(ids.RETRY)
    def on_retry(ack: Ack, body: dict[str, Any], respond: Respond) -> None:
        ack()
        services.background(clicks.on_retry, services, body, respond)

    @app.action(ids.FIND_INPUT)
    def on_find(ack: Ack, body: dict[str, Any]) -> None:
        ack()
        services.background(history.on_find, services, body)

    @app.action(ids.REPLY)
    def on_reply(ack: Ack, body: dict[str, Any], respond: Respond, client: WebClient) -> None:
        ack()
        services.background(replies.open_modal, services, body, respond, client)
