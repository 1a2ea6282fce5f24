"""A text input in a Home tab, in the stand-in Slack: `views.publish` takes what Slack takes (an
input block that dispatches on Enter) and refuses what Slack refuses; the driver sends the
`block_actions` of Enter pressed in it, as Slack does, through a real Bolt app."""

from __future__ import annotations

import copy
import threading
from collections.abc import Iterator
from typing import Any
from wsgiref.simple_server import make_server

import pytest
from slack_bolt import App
from slack_bolt.adapter.wsgi import SlackRequestHandler
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.blocks.history import find_customer
from bot.core import ids
from bot.sandbox.driver import SlackDriver
from bot.sandbox.slack import DEFAULT_BOT_TOKEN, SlackStandIn
from tests.sandbox.test_slack_standin import SECRET, _Capture, _Quiet

ALICE = "U0ALICE01"


@pytest.fixture
def slack() -> Iterator[SlackStandIn]:
    with SlackStandIn() as standin:
        standin.add_user(ALICE, "alice")
        yield standin


@pytest.fixture
def client(slack: SlackStandIn) -> WebClient:
    return WebClient(token=DEFAULT_BOT_TOKEN, base_url=slack.api_url, timeout=5)


def home_with(blocks: list[dict[str, Any]]) -> dict[str, Any]:
    return {"type": "home", "blocks": blocks}


def refusal(client: WebClient, view: dict[str, Any]) -> str:
    with pytest.raises(SlackApiError) as info:
        client.views_publish(user_id=ALICE, view=view)
    assert info.value.response["error"] == "invalid_arguments"
    return str(info.value.response["response_metadata"]["messages"][0])


def test_an_input_that_dispatches_on_enter_is_published(
    slack: SlackStandIn, client: WebClient
) -> None:
    blocks = find_customer("+573001234567")
    client.views_publish(user_id=ALICE, view=home_with(blocks))
    shown = slack.home_view(ALICE)
    assert shown is not None and shown["blocks"] == blocks


def test_what_slack_refuses_in_a_text_input(client: WebClient) -> None:
    def broken(change: Any) -> dict[str, Any]:
        blocks = copy.deepcopy(find_customer(None))
        change(blocks[1])
        return home_with(blocks)

    def trigger(block: dict[str, Any]) -> None:
        block["element"]["dispatch_action_config"] = {"trigger_actions_on": ["on_blur"]}

    def no_trigger(block: dict[str, Any]) -> None:
        block["element"]["dispatch_action_config"] = {"trigger_actions_on": []}

    def too_long(block: dict[str, Any]) -> None:
        block["element"]["initial_value"] = "9" * 101  # max_length 100

    def placeholder(block: dict[str, Any]) -> None:
        block["element"]["placeholder"]["text"] = "x" * 151

    def not_boolean(block: dict[str, Any]) -> None:
        block["dispatch_action"] = "yes"

    def max_length(block: dict[str, Any]) -> None:
        block["element"]["max_length"] = 3001

    cases = {
        trigger: "trigger_actions_on",
        no_trigger: "trigger_actions_on",
        too_long: "initial_value",
        placeholder: "placeholder/text",
        not_boolean: "dispatch_action",
        max_length: "max_length",
    }
    for change, pointer in cases.items():
        assert pointer in refusal(client, broken(change)), change.__name__
    # a text input belongs in an input block, not among an actions block's elements
    element = find_customer(None)[1]["element"]
    problem = refusal(client, home_with([{"type": "actions", "elements": [element]}]))
    assert "unsupported type: plain_text_input" in problem


def test_enter_in_a_home_tabs_input_reaches_a_bolt_app(slack: SlackStandIn) -> None:
    web = WebClient(token=DEFAULT_BOT_TOKEN, base_url=slack.api_url)
    app = App(signing_secret=SECRET, client=web)
    received: list[dict[str, Any]] = []

    @app.action(ids.FIND_INPUT)
    def entered(ack: Any, body: dict[str, Any]) -> None:
        ack()
        received.append(body)

    server = make_server(
        "127.0.0.1", 0, SlackRequestHandler(app), server_class=_Capture, handler_class=_Quiet
    )
    threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
    try:
        web.views_publish(user_id=ALICE, view=home_with(find_customer(None)))
        view = slack.home_view(ALICE)
        assert view is not None
        driver = SlackDriver(f"http://127.0.0.1:{server.server_port}", SECRET, slack=slack)
        answer = driver.click(ids.FIND_INPUT, "acme-ops", user=ALICE, view=view)
        assert answer.status == 200
    finally:
        server.shutdown()
        server.server_close()

    (body,) = received
    assert body["type"] == "block_actions" and body["user"]["id"] == ALICE
    assert body["container"] == {"type": "view", "view_id": view["id"]}
    assert body["view"]["type"] == "home" and body["view"]["id"] == view["id"]
    assert "response_url" not in body and "channel" not in body
    (action,) = body["actions"]
    assert action["type"] == "plain_text_input" and action["value"] == "acme-ops"
    assert (action["block_id"], action["action_id"]) == (ids.FIND_BLOCK, ids.FIND_INPUT)
    assert body["view"]["state"]["values"] == {
        ids.FIND_BLOCK: {ids.FIND_INPUT: {"type": "plain_text_input", "value": "acme-ops"}}
    }
