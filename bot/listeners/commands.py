"""The `/whatsapp` slash command."""

from __future__ import annotations

from typing import Any

from slack_bolt import Ack, App, Respond

from bot import ids, slash
from bot.services import Services


def register(app: App, services: Services) -> None:
    @app.command(ids.COMMAND)
    def on_whatsapp(ack: Ack, command: dict[str, Any], respond: Respond) -> None:
        ack()
        answer = slash.handle(services, command)
        respond(response_type="ephemeral", **answer.as_kwargs())
