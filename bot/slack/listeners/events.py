"""Events: a file shared where `file_shares: true` gets an offer; the Home tab is opened; the
app uninstalled or its token revoked turns /healthz."""

from __future__ import annotations

from typing import Any

from slack_bolt import Ack, App

from bot.usecases.services import Services


def register(app: App, services: Services) -> None:
    def offer(event: dict[str, Any], body: dict[str, Any]) -> None:
        services.files.on_file_share(
            event, body.get("team_id"), event_id=str(body.get("event_id") or "")
        )

    @app.event("message")
    def on_message(ack: Ack, event: dict[str, Any], body: dict[str, Any]) -> None:
        ack()
        if services.files.offer_policy(event) is not None:
            services.background(offer, event, body)

    @app.event("app_home_opened")
    def on_home(ack: Ack, event: dict[str, Any]) -> None:
        ack()
        if event.get("tab", "home") == "home" and event.get("user"):
            services.background(services.home.opened, str(event["user"]))

    @app.event("file_shared")
    def on_file_shared(ack: Ack) -> None:
        ack()  # the `message` event with subtype file_share carries everything needed

    @app.event("app_uninstalled")
    def on_uninstalled(ack: Ack) -> None:
        ack()
        services.background(services.slack_health.revoked, "app_uninstalled")

    @app.event("tokens_revoked")
    def on_tokens_revoked(ack: Ack, event: dict[str, Any]) -> None:
        ack()
        services.background(services.slack_health.tokens_revoked, event.get("tokens"))
