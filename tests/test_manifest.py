from __future__ import annotations

import io
import json
from pathlib import Path

import jsonschema
import yaml

from bot.__main__ import main
from bot.slack.manifest import manifest, render

ROOT = Path(__file__).resolve().parent.parent
SCHEMA = json.loads(
    (ROOT / "tests/fixtures/schemas/slack-app-manifest.schema.1.0.0.json").read_text()
)


def test_manifest_yml_validates_against_slacks_schema() -> None:
    data = yaml.safe_load((ROOT / "manifest.yml").read_text())
    jsonschema.validate(data, SCHEMA)


def test_the_schema_check_is_not_a_formality() -> None:
    broken = manifest()
    broken["settings"]["interactivity"]["is_enabled"] = "yes"
    errors = list(jsonschema.Draft7Validator(SCHEMA).iter_errors(broken))
    assert errors


def test_manifest_yml_is_what_the_code_renders() -> None:
    assert (ROOT / "manifest.yml").read_text() == render()


def test_manifest_declares_what_the_bot_uses_and_nothing_more() -> None:
    data = manifest()
    (command,) = data["features"]["slash_commands"]
    assert command["command"] == "/whatsapp"
    assert command["url"] == "https://bot.example.com/slack/events"
    assert data["settings"]["interactivity"]["request_url"] == command["url"]
    assert sorted(data["oauth_config"]["scopes"]["bot"]) == [
        "channels:history",
        "chat:write",
        "commands",
        "files:read",
        "files:write",
        "groups:history",
        "users:read",
    ]
    assert data["settings"]["event_subscriptions"]["bot_events"] == [
        "app_home_opened",
        "message.channels",
        "message.groups",
        "app_uninstalled",
        "tokens_revoked",
    ]
    assert data["features"]["app_home"]["home_tab_enabled"] is True
    (shortcut,) = data["features"]["shortcuts"]
    assert (shortcut["type"], shortcut["callback_id"]) == ("message", "whatsapp_send_file")


def test_manifest_command_fills_in_the_base_url() -> None:
    out = io.StringIO()
    assert main(["manifest", "--base-url", "https://wa.acme.io/"], env={}, out=out) == 0
    data = yaml.safe_load(out.getvalue())
    jsonschema.validate(data, SCHEMA)
    assert data["settings"]["interactivity"]["request_url"] == "https://wa.acme.io/slack/events"
    assert main(["manifest", "--base-url", "wa.acme.io"], env={}, out=io.StringIO()) == 2
