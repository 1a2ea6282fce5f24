"""Customers' messages, end to end over HTTP: the provider posts to the sender's inbound URL,
the message appears in the right thread, attachments are uploaded into it."""

from __future__ import annotations

import json
from typing import Any

import requests

from bot.core import tokens
from bot.sandbox.images import jpeg
from tests.conftest import SECRETS
from tests.scenarios.harness import CHANNEL, Harness, buttons, text_of
from tests.scenarios.test_slash_send import confirm_and_send

CUSTOMER = "+573001234567"


def inbound_url(bot: Harness, alias: str = "support") -> str:
    token = tokens.sender_token(SECRETS["WHATSAPP_BOT_SECRET"], alias)
    return f"{bot.url}/whatsapp/inbound/{token}"


def customer_json(bot: Harness, message_id: str, text: str, **extra: Any) -> requests.Response:
    body = {
        "id": message_id,
        "user": extra.pop("user", CUSTOMER.lstrip("+")),
        "text": text,
        "date": "2026-12-04T12:00:00Z",
        "owner": "15550001111",
        "origin": "whatsapp",
        "connection": "whatsapp",
        "extraInfo": {
            "type": extra.pop("kind", "text"),
            "attachments": extra.pop("attachments", []),
            "contacts": [{"profile": {"name": "Ana Gómez"}, "wa_id": "573001234567"}],
        },
    }
    return requests.post(inbound_url(bot), json=body, timeout=10)


def inbox_roots(bot: Harness, channel: str = CHANNEL) -> list[dict[str, Any]]:
    return [m for m in bot.slack.channel_messages(channel) if "wrote to" in text_of(m)]


def test_a_reply_to_a_send_lands_in_its_thread_with_a_reply_button(bot: Harness) -> None:
    confirm_and_send(bot)
    bot.provider.wait_for_requests(1)  # the click is handled in the background
    send = bot.wait_shown()
    bot.wait_thread(bot.provider.sends[0].transaction_id)

    answer = customer_json(bot, "wamid.1", "Thanks, got it!")

    assert answer.status_code == 200 and answer.content == b""
    texts = bot.wait_thread("Thanks, got it!")
    reply = next(
        m
        for m in bot.slack.thread(CHANNEL, bot.channel_record()["ts"])
        if "Thanks, got it!" in text_of(m)
    )
    assert "Ana Gómez" in text_of(reply) and CUSTOMER in text_of(reply)
    assert buttons(reply) == ["Reply"]
    assert not reply.get("reply_broadcast")
    assert any("Thanks" in t for t in texts)
    # the record (the thread's root) shows that a reply waits
    bot.slack.wait_for(lambda: "Reply waiting" in text_of(bot.channel_record()), timeout=10)
    stored = bot.store.find_conversation("support", CUSTOMER)
    assert stored is not None and stored.root_send_id == send.id
    assert stored.last_customer_at is not None and stored.waiting_since is not None


def test_a_new_customer_opens_a_thread_in_the_inbox_and_replayed_messages_show_once(
    bot: Harness,
) -> None:
    for _ in range(3):  # the provider delivers the same message three times
        assert customer_json(bot, "wamid.A", "Hola, ¿tienen envío?").status_code == 200
    assert customer_json(bot, "wamid.B", "¿Y a Medellín?").status_code == 200

    roots = bot.slack.wait_for(lambda: inbox_roots(bot) or None, timeout=10)
    assert len(roots) == 1
    root = roots[0]
    assert "Hola, ¿tienen envío?" in text_of(root) and "Reply waiting" in text_of(root)
    thread = bot.slack.wait_for(
        lambda: (t := bot.slack.thread(CHANNEL, root["ts"])) and len(t) >= 2 and t, timeout=10
    )
    assert "¿Y a Medellín?" in text_of(thread[1])
    assert len(inbox_roots(bot)) == 1
    from bot.store import inbound_messages

    with bot.store.engine.connect() as conn:
        rows = conn.execute(inbound_messages.select()).mappings().all()
    assert sorted(r["dedup_key"] for r in rows) == ["id:wamid.A", "id:wamid.B"]
    assert all(json.loads(r["raw"])["user"] == "573001234567" for r in rows)


def test_the_query_form_is_taken_too(bot: Harness) -> None:
    params = {
        "mobile": "573001234567",
        "mo": "hello from sms gw",
        "ts": "1733300000",
        "shortcode": "1",
    }
    first = requests.get(inbound_url(bot), params=params, timeout=10)
    again = requests.post(inbound_url(bot), data=params, timeout=10)
    assert (first.status_code, first.content) == (200, b"")
    assert again.status_code == 200
    roots = bot.slack.wait_for(lambda: inbox_roots(bot) or None, timeout=10)
    assert len(roots) == 1 and "hello from sms gw" in text_of(roots[0])


def test_bad_requests_get_the_right_status_and_store_nothing(bot: Harness) -> None:
    wrong = inbound_url(bot).rsplit(".", 1)[0] + ".AAAAAAAAAAAAAAAAAAAAAA"
    assert (
        requests.post(wrong, json={"user": "573001234567", "text": "x"}, timeout=10).status_code
        == 404
    )
    assert requests.post(inbound_url(bot), data=b"<xml/>", timeout=10).status_code == 400
    assert requests.post(inbound_url(bot), json={"text": "no user"}, timeout=10).status_code == 400
    huge = b'{"user": "573001234567", "text": "' + b"x" * (10 * 1024 * 1024) + b'"}'
    assert (
        requests.post(
            inbound_url(bot), data=huge, headers={"Content-Type": "application/json"}, timeout=30
        ).status_code
        == 413
    )
    assert requests.put(inbound_url(bot), data=b"", timeout=10).status_code == 405
    from bot.store import inbound_messages

    with bot.store.engine.connect() as conn:
        assert conn.execute(inbound_messages.select()).first() is None
    assert "Traceback" not in bot.log()


def test_an_unreadable_number_is_kept_and_shown_without_a_reply_button(bot: Harness) -> None:
    assert customer_json(bot, "wamid.X", "who am I", user="12").status_code == 200
    roots = bot.slack.wait_for(lambda: inbox_roots(bot) or None, timeout=10)
    assert "could not be read" in text_of(roots[0])
    assert buttons(roots[0]) == []


def test_an_attachment_is_uploaded_into_the_thread_and_a_bad_one_is_named(bot: Harness) -> None:
    photo = jpeg()
    url = bot.files.add("customer/photo.jpg", photo, "image/jpeg")
    moved = bot.files.add(
        "customer/moved.jpg",
        b"",
        "image/jpeg",
        status=302,
        location="https://elsewhere.example/x.jpg",
    )
    attachments = [
        {"url": url, "fileName": "photo.jpg", "caption": "the parcel"},
        {"url": moved, "fileName": "moved.jpg"},
    ]
    assert (
        customer_json(bot, "wamid.P", "", kind="image", attachments=attachments).status_code == 200
    )

    uploads = bot.slack.wait_for(lambda: bot.slack.uploads or None, timeout=15)
    (upload,) = uploads
    assert upload.content == photo and upload.name == "photo.jpg"
    root = inbox_roots(bot)[0]
    assert upload.thread_ts == root["ts"]
    thread = bot.slack.wait_for(
        lambda: (
            (t := bot.slack.thread(CHANNEL, root["ts"]))
            and any("moved.jpg" in text_of(m) and "redirects" in text_of(m) for m in t)
            and t
        ),
        timeout=15,
    )
    assert thread
    assert bot.slack.calls_to("files.upload") == []


def test_opt_out_and_back_in(bot: Harness) -> None:
    assert customer_json(bot, "wamid.S", "STOP").status_code == 200
    roots = bot.slack.wait_for(lambda: inbox_roots(bot) or None, timeout=10)
    assert "Opted out" in text_of(roots[0])
    stored = bot.store.find_conversation("support", CUSTOMER)
    assert stored is not None and stored.opted_out
    assert customer_json(bot, "wamid.T", "start").status_code == 200
    bot.slack.wait_for(
        lambda: any(
            "Opted back in" in text_of(m) for m in bot.slack.thread(CHANNEL, roots[0]["ts"])
        ),
        timeout=10,
    )
    stored = bot.store.find_conversation("support", CUSTOMER)
    assert stored is not None and not stored.opted_out


def test_metrics_count_customer_messages_once_and_their_lag(bot: Harness) -> None:
    for _ in range(2):  # the second is a redelivery
        assert customer_json(bot, "wamid.M", "counted once").status_code == 200
    bot.slack.wait_for(lambda: inbox_roots(bot) or None, timeout=10)

    def scraped() -> str | None:
        text = requests.get(f"{bot.url}/metrics", timeout=10).text
        return text if "whatsapp_inbound_lag_seconds_count 1.0" in text else None

    text = bot.slack.wait_for(scraped, timeout=10)
    assert "whatsapp_inbound_messages_total 1.0" in text
