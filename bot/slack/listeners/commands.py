"""The `/whatsapp` slash command."""

from __future__ import annotations

from typing import Any

from slack_bolt import Ack, App, Respond

from bot.core import ids
from bot.slack import slash
from bot.usecases.services import Services


def register(app: App, services: Services) -> None:
    def answer(command: dict[str, Any], respond: Respond) -> None:
        respond(response_type="ephemeral", **slash.handle(services, command).as_kwargs())

    @app.command(ids.COMMAND)
    def on_whatsapp(ack: Ack, command: dict[str, Any], respond: Respond) -> None:
        ack()
        services.background(answer, command, respond)
