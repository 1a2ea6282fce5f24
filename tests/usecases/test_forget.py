"""Forgetting a customer, in one process against the stand-in Slack and provider (over loopback
HTTP), on SQLite and PostgreSQL: the app's own rendering edits every Slack message that showed
the customer (the send's record, the replies that quote the provider, the customer's own
messages, whose uploaded files are deleted), and a second run changes nothing."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from bot.app import build_services
from bot.core import ids, phones, tokens
from bot.core.retention import REMOVED_ON_REQUEST
from bot.sandbox.images import jpeg
from bot.sandbox.provider import ProviderStandIn
from bot.sandbox.slack import SlackStandIn
from bot.store import SendState
from bot.usecases.forget import Forgetting
from bot.usecases.services import Services
from bot.whatsapp.payloads import Message, MessageKind
from tests.conftest import SECRETS, make_config

CHANNEL = "C0123SUPPORT"
CUSTOMER = "+573001234567"
DIGITS = CUSTOMER.lstrip("+")
MASKED = "+57300•••4567"


@dataclass
class World:
    services: Services
    slack: SlackStandIn
    provider: ProviderStandIn

    def everything_in_slack(self) -> str:
        """Every message the bot posted, with its thread and files, as one text."""
        found = []
        for top in self.slack.channel_messages(CHANNEL):
            found.extend(self.slack.thread(CHANNEL, str(top["ts"])) or [top])
        return json.dumps(found, ensure_ascii=False)


@pytest.fixture
def world(database_url: str) -> Iterator[World]:
    with SlackStandIn(bot_token=SECRETS["SLACK_BOT_TOKEN"]) as slack:
        provider = ProviderStandIn(api_key=SECRETS["WHATSAPP_API_KEY"], auto_callbacks=False)
        provider.start()
        config = make_config(
            slack={"api_base_url": slack.api_url},
            whatsapp={"api_url": provider.notification_url},
            media={"allow_private_hosts": True},
            database_url=database_url,
        )
        services = build_services(config, render_interval=0.0)
        try:
            yield World(services, slack, provider)
        finally:
            services.close()
            provider.stop()


def send_text(world: World, text: str) -> str:
    sending = world.services.sending
    draft = sending.create_draft(
        Message(MessageKind.TEXT, CUSTOMER, text),
        sender=sending.resolve_sender(None, CHANNEL),
        source="slash",
        channel_id=CHANNEL,
        user_id="U0ALICE",
    )
    sending.confirm(draft.id)
    delivery = sending.deliver(draft.id)
    assert delivery is not None and delivery.result is not None
    return draft.id


def customer_writes(world: World, message_id: str, text: str, attachments: Any = ()) -> None:
    token = tokens.sender_token(SECRETS["WHATSAPP_BOT_SECRET"], "support")
    body = {
        "id": message_id,
        "user": DIGITS,
        "text": text,
        "date": "2027-03-01T12:00:00Z",
        "extraInfo": {
            "type": "image" if attachments else "text",
            "attachments": list(attachments),
            "contacts": [{"profile": {"name": "Ana Gómez"}, "wa_id": DIGITS}],
        },
    }
    answer = world.services.inbound.receive(
        token, json.dumps(body).encode(), "application/json", ""
    )
    assert answer.status == 200


def test_forget_edits_every_slack_message_that_showed_the_customer(world: World) -> None:
    services, slack = world.services, world.slack
    send_id = send_text(world, "Hola Ana, tu pedido 123 sale hoy")
    services.store.add_status(send_id, "FAILED", rank=9, detail=f"{CUSTOMER} is not on WhatsApp")
    services.renderer.render(send_id)
    photo = world.provider.host_attachment(jpeg(), "id-card.jpg", "image/jpeg")
    customer_writes(
        world,
        "wamid.1",
        "Mi cédula, por favor no la compartan",
        [{"url": photo, "fileName": "id-card.jpg", "caption": "cédula"}],
    )
    slack.wait_for(lambda: len(slack.uploads) == 1, timeout=10)
    slack.wait_for(lambda: "no la compartan" in world.everything_in_slack(), timeout=10)
    shown = world.everything_in_slack()
    assert DIGITS in shown and "Hola Ana" in shown and "Ana Gómez" in shown
    assert f'"action_id": "{ids.REPLY}"' in shown
    (upload,) = slack.uploads
    assert slack.file(upload.file_id) is not None

    forgetting = Forgetting(store=services.store)
    outcome = forgetting.forget(CUSTOMER)
    assert outcome.masked == MASKED and outcome.total >= 4
    caught_up = forgetting.bring_slack_up_to_date(services.renderer, outcome, timeout=20)

    assert caught_up.left == [] and caught_up.done == 2
    shown = world.everything_in_slack()
    assert DIGITS not in shown, shown
    for private in ("Hola Ana", "compartan", "Ana Gómez", "cédula", "id-card"):
        assert private not in shown
    assert MASKED in shown and REMOVED_ON_REQUEST in shown
    assert slack.file(upload.file_id) is None  # the customer's file, deleted from Slack
    assert f'"id": "{upload.file_id}", "mode": "tombstone"' in shown
    for top in slack.channel_messages(CHANNEL):
        for message in slack.thread(CHANNEL, str(top["ts"])) or [top]:
            actions = [b for b in message.get("blocks") or [] if b.get("type") == "actions"]
            assert all(ids.REPLY not in json.dumps(a) for a in actions)  # nobody to answer
    send = services.store.get_send(send_id)
    assert send is not None and send.recipient == MASKED and not send.dirty

    edits = len(slack.calls_to("chat.update"))
    again = forgetting.forget(CUSTOMER)
    assert again.total == 0 and again.already > 0
    assert forgetting.bring_slack_up_to_date(services.renderer, again, timeout=5).left == []
    assert len(slack.calls_to("chat.update")) == edits  # nothing more to edit


def test_an_unknown_outcome_loses_its_retry_once_forgotten(world: World) -> None:
    services = world.services
    send_id = send_text(world, "Hola")
    store = services.store
    assert store.transition(send_id, from_states=[SendState.SENT], to=SendState.UNKNOWN)
    store.set_send_fields(send_id, error=f"no answer about {CUSTOMER}")
    services.renderer.render(send_id)
    thread = world.slack.thread(CHANNEL, str(store.get_send(send_id).message_ts))  # type: ignore[union-attr]
    assert any(ids.RETRY in json.dumps(m.get("blocks")) for m in thread)

    outcome = Forgetting(store=store).forget(CUSTOMER)
    Forgetting(store=store).bring_slack_up_to_date(services.renderer, outcome, timeout=10)

    thread = world.slack.thread(CHANNEL, str(store.get_send(send_id).message_ts))  # type: ignore[union-attr]
    assert not any(ids.RETRY in json.dumps(m.get("blocks")) for m in thread)
    assert DIGITS not in json.dumps(thread) and phones.mask(CUSTOMER) in json.dumps(
        thread, ensure_ascii=False
    )
    assert services.sending.retry(send_id) is None  # and a click that was on its way does nothing
