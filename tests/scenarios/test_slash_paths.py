"""Refusals, cancel, double and replayed clicks, provider faults, callbacks, restarts."""

from __future__ import annotations

import json
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.core import ids
from bot.store import SendState
from tests.scenarios.harness import CHANNEL, OTHER_USER, USER, Harness, buttons, text_of
from tests.scenarios.test_slash_send import command, confirm_and_send


@pytest.mark.parametrize(
    ("command", "words"),
    [
        ("gif +573001234567 https://x.example/a.gif", "`gif` is not something I can send"),
        ("image +57300 https://x.example/a.png", "is not a valid phone number"),
        ("image nobody https://x.example/a.png", "not a phone number or a known contact"),
        ("image +573001234567", "media URL is missing"),
        ("image +573001234567 ftp://x.example/a.png", "not a web link"),
        ("video +573001234567 https://x.example/v.mp4 a caption", "cannot have a caption"),
        ("document +573001234567 https://x.example/d notes.docx", "not a PDF file name"),
        ("text +573001234567 " + "x" * 1025, "at most 1024"),
        ("image +573001234567 https://x.example/a.png from:ghost", "no sender called `ghost`"),
    ],
)
def test_each_mistake_gets_its_own_ephemeral_message(
    bot: Harness, command: str, words: str
) -> None:
    answer = bot.driver.slash_command(command, user=USER, channel=CHANNEL)
    assert answer.status == 200
    message = bot.wait_ephemeral(words)
    assert "For example: `/whatsapp" in text_of(message)
    assert buttons(message) == []
    assert bot.provider.requests == []


def test_a_sender_not_allowed_in_the_channel(bot: Harness) -> None:
    bot.driver.slash_command(
        "image +573001234567 https://x.example/a.png from:support", user=USER, channel="C0SALES"
    )
    bot.wait_ephemeral("may not be used in this channel", channel="C0SALES")


def test_a_channel_that_is_not_configured(bot: Harness) -> None:
    bot.driver.slash_command(command(bot), user=USER, channel="C0RANDOM")
    bot.wait_ephemeral("not set up for this channel", channel="C0RANDOM")


@pytest.fixture
def restricted(tmp_path: Path) -> Iterator[Harness]:
    harness = Harness(tmp_path, access={"allowed_users": [USER]}).start()
    yield harness
    harness.close()


def test_a_user_not_allowed(restricted: Harness) -> None:
    restricted.driver.slash_command(command(restricted), user=OTHER_USER, channel=CHANNEL)
    restricted.wait_ephemeral("not on the list of people", user=OTHER_USER)
    restricted.driver.slash_command(command(restricted), user=USER, channel=CHANNEL)
    restricted.wait_ephemeral("Send an image on WhatsApp?")


def test_help(bot: Harness) -> None:
    bot.driver.slash_command("help", user=USER, channel=CHANNEL)
    bot.wait_ephemeral("/whatsapp status")


def test_cancel_sends_nothing(bot: Harness) -> None:
    bot.driver.slash_command(command(bot), user=USER, channel=CHANNEL)
    bot.wait_ephemeral("Send an image on WhatsApp?")
    bot.driver.click(ids.CANCEL, user=USER, channel=CHANNEL)
    bot.wait_ephemeral("Cancelled; nothing was sent.")  # the click's handler ends with it
    assert bot.only_send().state is SendState.CANCELLED
    # Cancelling changed the send; no one asked for its thread, so the maintenance sweep
    # takes it up: once it has, nothing is left that could post or send anything for it.
    bot.wait_shown()
    assert bot.provider.requests == []
    assert bot.slack.channel_messages(CHANNEL) == []


def test_double_click_and_replayed_click_send_once(bot: Harness) -> None:
    bot.driver.slash_command(command(bot), user=USER, channel=CHANNEL)
    confirmation = bot.wait_ephemeral("Send an image on WhatsApp?")
    send_id = bot.only_send().id
    results = []

    def click() -> None:
        results.append(
            bot.driver.click(ids.SEND, send_id, user=USER, channel=CHANNEL, message=confirmation)
        )

    threads = [threading.Thread(target=click) for _ in range(5)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert all(r.status == 200 for r in results)
    first = results[0]
    replay = bot.driver.raw_post(
        first.request_body,
        {
            **bot.driver.signed_headers(first.request_body, "application/x-www-form-urlencoded"),
            "X-Slack-Retry-Num": "1",
            "X-Slack-Retry-Reason": "http_timeout",
        },
    )
    assert replay.status == 200
    bot.wait_thread("transactionId")
    # Each click's handler ends by saying how it went: the one that sent, and the five others.
    bot.wait_said("Sent to +573001234567")
    bot.wait_said("This was already confirmed", count=len(results))
    assert len(bot.provider.requests) == 1
    assert len([m for m in bot.slack.channel_messages(CHANNEL) if m.get("bot_id")]) == 1


def test_someone_else_cannot_click_my_confirmation(bot: Harness) -> None:
    bot.driver.slash_command(command(bot), user=USER, channel=CHANNEL)
    confirmation = bot.wait_ephemeral("Send an image on WhatsApp?")
    send_id = bot.only_send().id
    bot.driver.click(ids.SEND, send_id, user=OTHER_USER, channel=CHANNEL, message=confirmation)
    bot.slack.wait_for(
        lambda: any("Only <@" in (p.body or {}).get("text", "") for p in bot.slack.response_posts)
    )
    assert bot.only_send().state is SendState.DRAFT
    assert bot.provider.requests == []


def test_ack_is_fast_while_the_provider_takes_ten_seconds(bot: Harness) -> None:
    bot.provider.latency = 10
    bot.driver.slash_command(command(bot), user=USER, channel=CHANNEL)
    bot.wait_ephemeral("Send an image on WhatsApp?")
    click = bot.driver.click(ids.SEND, user=USER, channel=CHANNEL)
    assert click.status == 200 and click.elapsed < 3
    again = bot.driver.slash_command("help", user=USER, channel=CHANNEL)
    assert again.status == 200 and again.elapsed < 3
    # the provider timeout (2 s in this config) makes the outcome uncertain: said, not resent
    texts = bot.wait_thread("Not sure whether the message was sent")
    assert any("Retry" in t or "Retry" in t for t in texts)
    assert len(bot.provider.requests) == 1
    assert bot.only_send().state is SendState.UNKNOWN


def test_retry_after_an_uncertain_send_sends_once_more_on_request(bot: Harness) -> None:
    bot.provider.fail_next("500")
    confirm_and_send(bot)
    bot.wait_thread("Not sure whether the message was sent")
    assert bot.only_send().state is SendState.UNKNOWN
    record = bot.channel_record()
    replies = bot.slack.thread(CHANNEL, record["ts"])
    outcome = next(m for m in replies if "Retry" in buttons(m))
    bot.driver.click(ids.RETRY, bot.only_send().id, user=USER, channel=CHANNEL, message=outcome)
    bot.wait_thread("transactionId")
    assert len(bot.provider.requests) == 2
    assert bot.only_send().state is SendState.SENT


def test_a_refused_send_says_why_in_the_thread(bot: Harness) -> None:
    bot.provider.fail_next("400", reason="The destination number is not on WhatsApp")
    confirm_and_send(bot)
    texts = bot.wait_thread("The destination number is not on WhatsApp")
    assert "Not sent" in texts[0]
    assert bot.only_send().state is SendState.FAILED


def test_unauthorized_provider_says_so(bot: Harness) -> None:
    bot.provider.fail_next("401")
    confirm_and_send(bot)
    bot.wait_thread("The provider did not send the message")


def post_callback(bot: Harness, token: str, body: bytes) -> tuple[int, dict[str, object]]:
    request = urllib.request.Request(
        f"{bot.url}/whatsapp/callbacks/{token}",
        data=body,
        method="POST",
        headers={"Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=5) as answer:
            return answer.status, json.loads(answer.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"{}")


def test_callbacks_out_of_order_duplicated_and_failures(bot: Harness) -> None:
    bot.provider.auto_callbacks = False
    confirm_and_send(bot)
    bot.wait_thread("transactionId")
    transaction_id = bot.provider.sends[0].transaction_id
    for status in ["DELIVERED", "QUEUE", "DELIVERED", "SENT", "WAITING_FOR_WINDOW"]:
        bot.provider.post_status(transaction_id, status)
    texts = bot.wait_thread("WAITING_FOR_WINDOW")
    bot.wait_thread("Status: *DELIVERED*")
    bot.wait_shown()  # every callback above was stored before it was answered
    texts = bot.thread_texts()
    assert sum("Status:" in t for t in texts) == 1
    assert "*DELIVERED*" in texts[0]
    bot.provider.post_status(transaction_id, "BLACKLISTED", reason="user opted out")
    texts = bot.wait_thread("block list")
    failure = next(t for t in texts if t.startswith(":x: *BLACKLISTED*"))
    assert "user opted out" in failure
    bot.wait_thread("Status: *BLACKLISTED*")
    # Stored, with the send's status decided, before it was answered.
    (late,) = bot.provider.post_status(transaction_id, "READ")
    assert late.http_status == 200
    assert bot.only_send().provider_status == "BLACKLISTED"
    kept = bot.store.callbacks_for(bot.only_send().id)
    assert len(kept) == 7


def test_callbacks_that_are_refused(bot: Harness) -> None:
    bot.provider.auto_callbacks = False
    confirm_and_send(bot)
    bot.wait_thread("transactionId")
    token = bot.only_send().callback_token
    assert post_callback(bot, "not-a-token", b'{"status": "READ"}')[0] == 404
    forged = token[:-2] + ("AA" if not token.endswith("AA") else "BB")
    assert post_callback(bot, forged, b'{"status": "READ"}')[0] == 404
    assert post_callback(bot, token, b"not json")[0] == 400
    assert post_callback(bot, token, b"[1, 2]")[0] == 400
    assert post_callback(bot, token, b'{"status": "READ", "externalId": "other"}')[0] == 400
    assert post_callback(bot, token, b'{"note": "no status"}')[0] == 202
    assert post_callback(bot, token, b"x" * 100_000)[0] == 413
    status, body = post_callback(bot, token, b'{"status": "sent", "extra": {"a": 1}}')
    assert status == 200 and body["status"] == "SENT"
    assert bot.only_send().provider_status == "SENT"


def test_status_lookup(bot: Harness) -> None:
    confirm_and_send(bot)
    bot.wait_thread("Status: *READ*")
    transaction_id = bot.provider.sends[0].transaction_id
    bot.driver.slash_command(f"status {transaction_id}", user=USER, channel=CHANNEL)
    lookup = text_of(bot.wait_ephemeral("*Timeline*"))
    assert transaction_id in lookup
    for status in ("QUEUE", "SENT", "DELIVERED", "READ"):
        assert f"`{status}`" in lookup
    bot.driver.slash_command("status nope", user=USER, channel=CHANNEL)
    bot.wait_ephemeral("No send has the transactionId `nope`")


def test_status_shows_a_send_only_in_its_channel_or_to_its_sender(bot: Harness) -> None:
    confirm_and_send(bot)
    bot.wait_thread("Status: *READ*")
    transaction_id = bot.provider.sends[0].transaction_id
    # Another person in another channel: refused, and nothing of the send is shown.
    bot.driver.slash_command(f"status {transaction_id}", user=OTHER_USER, channel="C0SALES")
    refusal = text_of(bot.wait_ephemeral("can't show that send here", OTHER_USER, "C0SALES"))
    assert "+573001234567" not in refusal and "coffee" not in refusal
    # Another person in the send's channel, and its sender anywhere: shown.
    bot.driver.slash_command(f"status {transaction_id}", user=OTHER_USER, channel=CHANNEL)
    assert transaction_id in text_of(bot.wait_ephemeral("*Timeline*", OTHER_USER, CHANNEL))
    bot.driver.slash_command(f"status {transaction_id}", user=USER, channel="C0SALES")
    assert transaction_id in text_of(bot.wait_ephemeral("*Timeline*", USER, "C0SALES"))


def test_threads_keep_working_after_a_restart(bot: Harness) -> None:
    bot.provider.auto_callbacks = False
    confirm_and_send(bot)
    bot.wait_thread("transactionId")
    transaction_id = bot.provider.sends[0].transaction_id
    bot.provider.post_status(transaction_id, "SENT")
    bot.wait_thread("Status: *SENT*")
    bot.restart()
    bot.provider.post_status(transaction_id, "DELIVERED")
    bot.wait_thread("Status: *DELIVERED*")
    texts = bot.thread_texts()
    assert sum("Status:" in t for t in texts) == 1
    assert "DELIVERED" in texts[0]


def test_bad_signature_and_stale_timestamp_are_401(bot: Harness) -> None:
    bad = bot.driver.slash_command(command(bot), user=USER, channel=CHANNEL, corrupt_signature=True)
    assert bad.status == 401
    stale = bot.driver.slash_command(
        command(bot), user=USER, channel=CHANNEL, timestamp=int(time.time()) - 6 * 60
    )
    assert stale.status == 401
    # A 401 is answered before Bolt sees the request: nothing was handed on to answer later.
    assert bot.slack.ephemerals() == []
    bot.marker()  # and a signed command sent after them is answered, alone
    assert len(bot.slack.ephemerals()) == 1


def test_health_and_unknown_routes(bot: Harness) -> None:
    with urllib.request.urlopen(bot.url + "/healthz", timeout=5) as answer:
        assert json.loads(answer.read()) == {
            "ok": True,
            "database": "ok",
            "schema": "ok",
            "slack": "ok",
        }
    with pytest.raises(urllib.error.HTTPError) as info:
        urllib.request.urlopen(bot.url + "/nope", timeout=5)
    assert info.value.code == 404
    with pytest.raises(urllib.error.HTTPError) as info:
        urllib.request.urlopen(bot.url + "/slack/events", timeout=5)
    assert info.value.code == 405


def test_media_urls_are_checked_before_confirmation(bot: Harness) -> None:
    from tests.media import builders

    hevc = bot.files.add("clip", builders.mp4(video=builders.hvc1()), "video/mp4")
    moved = bot.files.add(
        "moved.jpg", b"", "text/html", status=302, location="https://cdn.example/final.jpg"
    )
    gone = bot.files.add("gone.png", b"", "text/html", status=404)
    pdf = bot.files.add("doc", b"%PDF-1.4\n%%EOF\n", "application/pdf")
    cases = [
        (f"image +573001234567 {moved}", "https://cdn.example/final.jpg"),
        (f"image +573001234567 {gone}", "404"),
        (f"image +573001234567 {pdf}", "PDF"),
        (f"+573001234567 {hevc}", "HEVC"),
    ]
    for text, words in cases:
        bot.driver.slash_command(text, user=USER, channel=CHANNEL)
        bot.wait_ephemeral(words)
    # no type and no extension: the file served decides
    bot.driver.slash_command(f"+573001234567 {pdf} statement.pdf", user=USER, channel=CHANNEL)
    confirmation = bot.wait_ephemeral("Send a document on WhatsApp?")
    assert "statement.pdf" in text_of(confirmation)
    assert bot.provider.requests == []


def test_private_addresses_are_refused_unless_allowed(tmp_path: Path) -> None:
    harness = Harness(tmp_path, media={"allow_private_hosts": False}).start()
    try:
        for asked, url in enumerate(
            (
                "http://127.0.0.1/a.png",
                "http://10.0.0.1/a.png",
                "http://169.254.169.254/latest/a.png",
                "http://[::1]/a.png",
                "http://localhost/a.png",
            ),
            start=1,
        ):
            harness.driver.slash_command(f"image +573001234567 {url}", user=USER, channel=CHANNEL)
            harness.slack.wait_for(  # each answer before the next question: they stay in order
                lambda n=asked: len(harness.slack.ephemerals(channel=CHANNEL, user=USER)) >= n,
                timeout=15,
            )
        harness.slack.wait_for(
            lambda: len(harness.slack.ephemerals(channel=CHANNEL, user=USER)) == 5, timeout=15
        )
        texts = [text_of(m) for m in harness.slack.ephemerals(channel=CHANNEL, user=USER)]
        assert len(texts) == 5
        assert all("Send an image" not in t for t in texts)
        assert all("not to a public server" in t for t in texts), texts
    finally:
        harness.close()
