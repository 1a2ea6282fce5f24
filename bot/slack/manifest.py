"""The Slack app manifest: the bot user, `/whatsapp`, interactivity, and only the scopes and
events the bot uses. `manifest.yml` at the top of the repo is this, for bot.example.com."""

from __future__ import annotations

from typing import Any

import yaml

from bot.core import ids

EXAMPLE_BASE_URL = "https://bot.example.com"

BOT_SCOPES = [
    "channels:history",  # the file_share messages of public channels
    "chat:write",  # the record, its thread replies and edits
    "commands",  # /whatsapp and the message shortcut
    "files:read",  # downloading a shared file to check it and hand it to the provider
    "files:write",  # uploading a customer's attachments into their conversation's thread
    "groups:history",  # the file_share messages of private channels
    "users:read",  # the names of people mentioned in a caption or message, for the customer
]
BOT_EVENTS = [
    "app_home_opened",
    "message.channels",
    "message.groups",
    # Delivered only when subscribed; either one turns /healthz 503.
    "app_uninstalled",
    "tokens_revoked",
]


def manifest(base_url: str = EXAMPLE_BASE_URL) -> dict[str, Any]:
    events_url = base_url.rstrip("/") + "/slack/events"
    return {
        "_metadata": {"major_version": 1, "minor_version": 1},
        "display_information": {
            "name": "WhatsApp Sender",
            "description": "Send WhatsApp media to customers and follow every delivery status.",
            "background_color": "#075e54",
            "long_description": (
                "Send images, videos, PDFs, audio and text to customers from the company's "
                "WhatsApp Business numbers without leaving Slack. Every send leaves a record in "
                "the channel with the provider's transactionId, and each delivery status "
                "(queued, sent, delivered, read, or why it failed) appears in its thread. "
                "Nothing is sent without a confirmation."
            ),
        },
        "features": {
            "app_home": {
                "home_tab_enabled": True,
                "messages_tab_enabled": False,
                "messages_tab_read_only_enabled": False,
            },
            "bot_user": {"display_name": "whatsapp", "always_online": True},
            "slash_commands": [
                {
                    "command": ids.COMMAND,
                    "url": events_url,
                    "description": "Send WhatsApp media or text to a customer",
                    "usage_hint": (
                        "[image|video|audio|document|text|status|history|optouts|help] "
                        "<to> <url> [caption]"
                    ),
                    "should_escape": False,
                }
            ],
            "shortcuts": [
                {
                    "name": "Send to WhatsApp",
                    "type": "message",
                    "callback_id": ids.SHORTCUT,
                    "description": "Send this message's file to a customer on WhatsApp",
                }
            ],
        },
        "oauth_config": {"scopes": {"bot": list(BOT_SCOPES)}},
        "settings": {
            "event_subscriptions": {"request_url": events_url, "bot_events": list(BOT_EVENTS)},
            "interactivity": {"is_enabled": True, "request_url": events_url},
            "org_deploy_enabled": False,
            "socket_mode_enabled": False,
            "token_rotation_enabled": False,
        },
    }


def render(base_url: str = EXAMPLE_BASE_URL) -> str:
    header = (
        "# The Slack app manifest for slack-whatsapp-bot. Create the app from it at\n"
        "# api.slack.com/apps -> Create New App -> From a manifest. Regenerate it for your\n"
        "# own address with: whatsapp-bot manifest --base-url https://your-host\n"
    )
    return header + yaml.safe_dump(manifest(base_url), sort_keys=False, width=100)
