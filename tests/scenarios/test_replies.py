"""Replying to a customer from Slack, end to end over HTTP: `Reply` on the customer's message
opens a modal, submitting it sends once, the reply is recorded in the customer's thread."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from bot.core import ids
from bot.core.records import utcnow
from bot.sandbox.images import jpeg
from bot.store import SendState, inbound_messages, sends
from tests.scenarios.harness import CHANNEL, OTHER_USER, USER, Harness, buttons, text_of
from tests.scenarios.test_conversations import CUSTOMER, customer_json, inbox_roots
from tests.scenarios.test_file_share import wait_in_thread
from tests.scenarios.test_slash_send import confirm_and_send

SUPPORT_NUMBER = "15550001111"


def customer_writes(bot: Harness, text: str = "Hola, ¿tienen envío?") -> dict[str, Any]:
    """A new customer writes: the inbox's root message, with its Reply button."""
    assert customer_json(bot, "wamid.R1", text).status_code == 200
    roots = bot.slack.wait_for(
        lambda: [r for r in inbox_roots(bot) if buttons(r) == ["Reply"]] or None, timeout=10
    )
    assert len(roots) == 1
    wait_all_shown(bot)
    return roots[0]


def wait_all_shown(bot: Harness) -> None:
    """Until every customer message is stored as shown (where it was posted, so its Reply
    button can be answered): Slack shows it a moment before."""

    def shown() -> bool:
        with bot.store.engine.connect() as conn:
            waiting = conn.execute(
                inbound_messages.select().where(inbound_messages.c.shown_at.is_(None))
            ).first()
        return waiting is None

    bot.slack.wait_for(shown, timeout=10)


def open_reply(bot: Harness, user: str = USER) -> dict[str, Any]:
    """`user` clicks the newest Reply button; the modal it opens."""
    before = set(bot.slack.views)
    assert bot.driver.click(ids.REPLY, user=user, channel=CHANNEL).status == 200

    def opened() -> dict[str, Any] | None:
        for view_id, view in bot.slack.views.items():
            if view_id not in before and view.get("callback_id") == ids.REPLY_MODAL:
                return view
        return None

    try:
        found: dict[str, Any] = bot.slack.wait_for(opened, timeout=10)
    except TimeoutError:
        said = [text_of(post.body or {}) for post in bot.slack.response_posts]
        raise AssertionError(f"no reply modal; answers: {said}\n{bot.log()[-2000:]}") from None
    return found


def typed(
    text: str | None = None, url: str | None = None, caption: str | None = None
) -> dict[str, dict[str, Any]]:
    return {
        ids.REPLY_TEXT_BLOCK: {ids.REPLY_TEXT_INPUT: text},
        ids.REPLY_URL_BLOCK: {ids.REPLY_URL_INPUT: url},
        ids.REPLY_CAPTION_BLOCK: {ids.REPLY_CAPTION_INPUT: caption},
    }


def modal_text(view: dict[str, Any]) -> str:
    return text_of(view) + "\n" + str((view.get("submit") or {}).get("text", ""))


def reply_sends(bot: Harness) -> list[dict[str, Any]]:
    with bot.store.engine.connect() as conn:
        rows = conn.execute(sends.select().where(sends.c.source == "reply")).mappings().all()
    return [dict(row) for row in rows]


def test_a_text_reply_goes_once_and_is_recorded_in_the_customer_s_thread(bot: Harness) -> None:
    root = customer_writes(bot)
    assert "Reply waiting" in text_of(root)

    view = open_reply(bot)
    shown = text_of(view)
    assert view["title"]["text"] == "Reply on WhatsApp"
    assert view["submit"]["text"] == "Send"
    assert "Ana Gómez" in shown and CUSTOMER in shown and "Support" in shown
    assert f"+{SUPPORT_NUMBER}" in shown
    assert "open until" in shown and "UTC" in shown and "left" in shown
    assert view["private_metadata"]

    answer = bot.driver.submit_view(view["id"], typed("Sí, a todo el país"), user=USER)
    assert answer.status == 200 and not answer.body.strip()  # closed: no response_action
    (request,) = bot.provider.wait_for_requests(1)
    body = request.json["request"]  # type: ignore[index]
    assert (body["type"], body["from"], body["to"]) == ("text", SUPPORT_NUMBER, CUSTOMER)
    assert body["message"] == "Sí, a todo el país"

    transaction_id = bot.provider.sends[0].transaction_id
    texts = wait_in_thread(bot, root["ts"], transaction_id)
    assert any("sent" in t and CUSTOMER in t and "Support" in t for t in texts)
    wait_in_thread(bot, root["ts"], "Status: *READ*")
    # the thread's root says it was answered; no new message at the top of the channel
    bot.slack.wait_for(lambda: "Answered" in text_of(inbox_roots(bot)[0]), timeout=10)
    assert "Reply waiting" not in text_of(inbox_roots(bot)[0])
    assert [m["ts"] for m in bot.slack.channel_messages(CHANNEL) if m.get("bot_id")] == [root["ts"]]
    (send,) = reply_sends(bot)
    assert (send["thread_ts"], send["user_id"], send["sender_alias"]) == (
        root["ts"],
        USER,
        "support",
    )
    assert send["origin"] == f"reply:{view['id']}"
    conversation = bot.store.find_conversation("support", CUSTOMER)
    assert conversation is not None and conversation.waiting_since is None
    stored = bot.wait_shown(send["id"])
    assert stored.state is SendState.SENT and stored.transaction_id == transaction_id


@pytest.fixture
def on_each_database(tmp_path: Path, database_url: str) -> Iterator[Harness]:
    """The app on SQLite, and on PostgreSQL when TEST_DATABASE_URL names one."""
    harness = Harness(tmp_path, database_url=database_url).start()
    yield harness
    harness.close()


def test_double_submits_and_slack_s_retries_send_once(on_each_database: Harness) -> None:
    bot = on_each_database
    customer_writes(bot)
    view = open_reply(bot)
    for _ in range(2):
        assert bot.driver.submit_view(view["id"], typed("Once only"), user=USER).status == 200
    retried = bot.driver.submit_view(
        view["id"],
        typed("Once only"),
        user=USER,
        headers={"X-Slack-Retry-Num": "1", "X-Slack-Retry-Reason": "http_timeout"},
    )
    assert retried.status == 200
    bot.provider.wait_for_requests(1)
    bot.wait_shown(reply_sends(bot)[0]["id"])
    bot.marker()
    assert len(bot.provider.requests) == 1
    assert len(reply_sends(bot)) == 1


def test_a_reply_to_a_send_s_thread_clears_the_record_s_waiting_mark(bot: Harness) -> None:
    confirm_and_send(bot)
    bot.provider.wait_for_requests(1)  # the click is handled in the background
    bot.wait_thread(bot.provider.sends[0].transaction_id)
    record = bot.wait_shown()
    assert customer_json(bot, "wamid.S1", "¿Cuándo llega?").status_code == 200
    bot.slack.wait_for(lambda: "Reply waiting" in text_of(bot.channel_record()), timeout=10)
    bot.wait_thread("¿Cuándo llega?")
    wait_all_shown(bot)

    view = open_reply(bot)
    bot.driver.submit_view(view["id"], typed("Mañana"), user=USER)
    requests = bot.provider.wait_for_requests(2)
    assert requests[1].json["request"]["message"] == "Mañana"  # type: ignore[index]
    bot.wait_thread(bot.provider.sends[1].transaction_id)
    bot.slack.wait_for(lambda: "Reply waiting" not in text_of(bot.channel_record()), timeout=10)
    assert bot.channel_record()["ts"] == record.message_ts  # still the one channel message
    (reply,) = reply_sends(bot)
    assert reply["thread_ts"] == record.message_ts


def test_a_media_url_with_a_caption_its_kind_read_from_the_file(bot: Harness) -> None:
    bot.slack.add_user(OTHER_USER, "bob", real_name="Bob Baker", display_name="Bob")
    no_extension = bot.files.add("menu", jpeg(), "image/jpeg")
    root = customer_writes(bot)
    view = open_reply(bot)
    caption = f"Fish &amp; Chips, as <@{OTHER_USER}> said"
    bot.driver.submit_view(view["id"], typed(url=no_extension, caption=caption), user=USER)
    (request,) = bot.provider.wait_for_requests(1)
    body = request.json["request"]  # type: ignore[index]
    assert (body["type"], body["message"], body["caption"]) == (
        "image",
        no_extension,
        "Fish & Chips, as @Bob said",
    )
    wait_in_thread(bot, root["ts"], bot.provider.sends[0].transaction_id)


def test_a_text_reply_is_decoded_as_the_slash_command_s_text(bot: Harness) -> None:
    bot.slack.add_user(OTHER_USER, "bob", real_name="Bob Baker", display_name="Bob")
    customer_writes(bot)
    view = open_reply(bot)
    typed_text = f"<@{OTHER_USER}> says: <http://x.example/a|see this> &amp; 5 &lt;3 <!here>"
    bot.driver.submit_view(view["id"], typed(typed_text), user=USER)
    (request,) = bot.provider.wait_for_requests(1)
    assert request.json["request"]["message"] == (  # type: ignore[index]
        "@Bob says: see this (http://x.example/a) & 5 <3 @here"
    )


def test_a_url_the_provider_could_not_fetch_is_told_to_the_person_who_replied(
    bot: Harness,
) -> None:
    root = customer_writes(bot)
    view = open_reply(bot)
    missing = bot.coffee_url.rsplit("/", 1)[0] + "/nothing-here.jpg"
    bot.driver.submit_view(view["id"], typed(url=missing), user=USER)
    told = bot.wait_ephemeral("Your reply to")
    assert "not sent" in text_of(told) and "404" in text_of(told)
    assert told.get("thread_ts") == root["ts"]
    assert bot.provider.requests == []
    assert reply_sends(bot) == []


def test_what_is_missing_or_wrong_shows_under_its_input(bot: Harness) -> None:
    customer_writes(bot)
    view = open_reply(bot)

    def errors(values: dict[str, dict[str, Any]]) -> dict[str, str]:
        answer = bot.driver.submit_view(view["id"], values, user=USER)
        assert answer.status == 200 and answer.json["response_action"] == "errors"  # type: ignore[index]
        found: dict[str, str] = answer.json["errors"]  # type: ignore[index]
        return found

    assert list(errors(typed())) == [ids.REPLY_TEXT_BLOCK]
    assert list(errors(typed("hi", url=bot.coffee_url))) == [ids.REPLY_URL_BLOCK]
    bad = errors(typed(url="ftp://example.com/x.jpg"))
    assert list(bad) == [ids.REPLY_URL_BLOCK] and "http" in bad[ids.REPLY_URL_BLOCK]
    assert list(errors(typed("hi", caption="a caption"))) == [ids.REPLY_CAPTION_BLOCK]
    assert bot.slack.is_view_open(view["id"])
    bot.marker()
    assert bot.provider.requests == [] and reply_sends(bot) == []


def test_a_closed_window_says_so_and_the_button_reads_send_anyway(bot: Harness) -> None:
    customer_writes(bot)
    conversation = bot.store.find_conversation("support", CUSTOMER)
    assert conversation is not None
    bot.store.set_conversation_fields(
        conversation.id, last_customer_at=utcnow() - timedelta(hours=25)
    )
    view = open_reply(bot)
    assert view["submit"]["text"] == "Send anyway"
    assert "no message from this customer in the last 24 h" in text_of(view)
    bot.driver.submit_view(view["id"], typed("Still there?"), user=USER)
    bot.provider.wait_for_requests(1)


def test_a_customer_who_opted_out_cannot_be_answered(bot: Harness) -> None:
    assert customer_json(bot, "wamid.O1", "STOP").status_code == 200
    bot.slack.wait_for(lambda: inbox_roots(bot) or None, timeout=10)
    wait_all_shown(bot)
    view = open_reply(bot)
    assert "submit" not in view
    assert "opted out" in text_of(view)


def test_nothing_typed_in_the_thread_reaches_the_customer(bot: Harness) -> None:
    root = customer_writes(bot)
    answer = bot.driver.message(
        "Ana, we ship everywhere!", user=USER, channel=CHANNEL, thread_ts=root["ts"]
    )
    assert answer.status == 200
    bot.marker()
    time.sleep(0.5)
    assert bot.provider.requests == []
    assert reply_sends(bot) == []


@pytest.fixture
def allowlisted(tmp_path: Path) -> Iterator[Harness]:
    harness = Harness(tmp_path, access={"allowed_users": [USER]}).start()
    yield harness
    harness.close()


def test_someone_not_allowed_to_send_is_refused(allowlisted: Harness) -> None:
    bot = allowlisted
    customer_writes(bot)
    views_before = set(bot.slack.views)
    assert bot.driver.click(ids.REPLY, user=OTHER_USER, channel=CHANNEL).status == 200
    bot.wait_said("not on the list of people who may send")
    assert set(bot.slack.views) == views_before
    open_reply(bot, USER)  # the allowed person gets the modal
    assert bot.provider.requests == []
