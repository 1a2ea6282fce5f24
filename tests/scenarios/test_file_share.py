"""Files shared in Slack: offered in their thread, checked by content, served by signed link."""

from __future__ import annotations

import io
import time
import urllib.error
import urllib.request
from typing import Any

import pytest
from PIL import Image

from bot.core import ids
from bot.sandbox.driver.transport import DriverResponse
from bot.store import SendState
from tests.media import builders
from tests.scenarios.harness import CHANNEL, OTHER_USER, USER, Harness, buttons, text_of
from tests.scenarios.test_slash_send import CLOSED


def png(size: tuple[int, int] = (64, 48), *, noise: bool = False) -> bytes:
    image = Image.new("RGB", size, (200, 120, 40))
    if noise:
        image = Image.effect_noise(size, 100).convert("RGB")
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()


def gif() -> bytes:
    out = io.BytesIO()
    Image.new("P", (8, 8)).save(out, format="GIF")
    return out.getvalue()


def pdf() -> bytes:
    return (
        b"%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\n"
        b"2 0 obj<</Type/Pages/Kids[]/Count 0>>endobj\ntrailer<</Root 1 0 R>>\n%%EOF\n"
    )


def share(bot: Harness, name: str, content: bytes, text: str = "", **kwargs: Any) -> str:
    answer = bot.driver.file_share(name, content, user=USER, channel=CHANNEL, text=text, **kwargs)
    assert answer.status == 200
    return str(answer.sent["event"]["ts"])


def wait_in_thread(bot: Harness, thread_ts: str, contains: str, timeout: float = 15) -> list[str]:
    def match() -> list[str] | None:
        texts = [text_of(m) for m in bot.slack.thread(CHANNEL, thread_ts)]
        return texts if any(contains in t for t in texts) else None

    try:
        found: list[str] = bot.slack.wait_for(match, timeout=timeout)
    except TimeoutError:
        texts = [text_of(m) for m in bot.slack.thread(CHANNEL, thread_ts)]
        raise AssertionError(f"{contains!r} not in thread {texts}\n{bot.log()[-2000:]}") from None
    return found


def fetch(url: str, method: str = "GET") -> tuple[int, dict[str, str], bytes]:
    request = urllib.request.Request(url, method=method)
    try:
        with urllib.request.urlopen(request, timeout=5) as answer:
            return answer.status, dict(answer.headers), answer.read()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read()


def test_a_shared_png_is_sent_from_its_thread(bot: Harness) -> None:
    image = png()
    ts = share(bot, "parcel.png", image, text="Your parcel arrived")
    texts = wait_in_thread(bot, ts, "Send *parcel.png*")
    offer = next(m for m in bot.slack.thread(CHANNEL, ts) if buttons(m))
    # the channel's default recipient never wrote: outside WhatsApp's window
    assert buttons(offer) == ["Send anyway", "Choose recipient…", "Cancel"]
    assert CLOSED in texts[-1]
    assert "+573001234567" in texts[-1] and "PNG" in texts[-1]
    assert "Your parcel arrived" in texts[-1]

    bot.driver.click(ids.SEND, user=OTHER_USER, channel=CHANNEL)
    (request,) = bot.provider.wait_for_requests(1)
    body = request.json["request"]  # type: ignore[index]
    assert body["type"] == "image" and body["caption"] == "Your parcel arrived"
    assert body["message"].startswith(f"{bot.url}/media/")
    status, headers, data = fetch(body["message"])
    assert status == 200 and data == image
    assert headers["Content-Type"] == "image/png"
    assert headers["Content-Length"] == str(len(image))
    assert "no-store" in headers["Cache-Control"]
    head_status, head_headers, head_body = fetch(body["message"], "HEAD")
    assert head_status == 200 and head_body == b""
    assert head_headers["Content-Length"] == str(len(image))

    transaction_id = bot.provider.sends[0].transaction_id
    wait_in_thread(bot, ts, transaction_id)
    texts = wait_in_thread(bot, ts, "Status: *READ*")
    record = bot.slack.message(CHANNEL, offer["ts"])
    assert record is not None and buttons(record) == []
    assert f"<@{OTHER_USER}> sent an image" in text_of(record)
    assert ":eyes: *READ*" in text_of(record)
    assert bot.only_send().state is SendState.SENT
    # nothing was posted at the top level of the channel but the file itself
    assert [m for m in bot.slack.channel_messages(CHANNEL) if m.get("bot_id")] == []


def test_tampered_expired_and_purged_links_give_no_bytes(bot: Harness) -> None:
    ts = share(bot, "parcel.png", png())
    wait_in_thread(bot, ts, "Send *parcel.png*")
    bot.driver.click(ids.SEND, user=USER, channel=CHANNEL)
    (request,) = bot.provider.wait_for_requests(1)
    url = request.json["request"]["message"]  # type: ignore[index]
    media_id, expiry, signature = url.rsplit("/", 1)[1].split(".")
    base = url.rsplit("/", 1)[0]
    tampered_expiry = f"{base}/{media_id}.{int(expiry) + 3600}.{signature}"
    tampered_mac = (
        f"{base}/{media_id}.{expiry}.{signature[:-1]}{'A' if signature[-1] != 'A' else 'B'}"
    )
    for bad in (tampered_expiry, tampered_mac, f"{base}/nothing", f"{base}/a.b.c"):
        status, _, data = fetch(bad)
        assert status in (403, 404) and b"\x89PNG" not in data
    from bot.media import links

    secret = "test-link-secret-0123456789abcdef"
    expired = links.issue(
        secret,
        media_id,
        __import__("datetime").datetime.fromtimestamp(
            time.time() - 5, tz=__import__("datetime").UTC
        ),
    )
    status, _, data = fetch(f"{base}/{expired}")
    assert status == 403 and b"PNG" not in data
    from bot.store import media

    with bot.store.engine.begin() as conn:
        conn.execute(media.update().values(expires_at=__import__("datetime").datetime(2000, 1, 1)))
    assert bot.store.purge_media() == 1
    status, _, data = fetch(url)
    assert status == 404 and data == b"no such media\n"


@pytest.mark.parametrize(
    ("name", "content", "words"),
    [
        ("big.png", builders.noise_png(6_000_000), "6.0 MB"),
        ("anim.gif", gif(), "GIF"),
        ("clip.mp4", builders.mp4(video=builders.hvc1()), "HEVC"),
        ("clip.mp4", builders.mp4(audio=builders.mp4a(object_type=0x6B)), "MP3"),
        ("invoice.png", pdf(), "PDF"),
        ("cut.mp4", builders.mp4()[: len(builders.mp4()) // 2], "incomplete"),
    ],
    ids=["6MB-png", "gif", "hevc-mp4", "mp4-with-mp3", "pdf-named-png", "truncated-mp4"],
)
def test_files_the_provider_would_refuse_are_refused_in_the_thread(
    bot: Harness, name: str, content: bytes, words: str
) -> None:
    ts = share(bot, name, content)
    texts = wait_in_thread(bot, ts, "can't be sent on WhatsApp")
    assert words in texts[-1]
    assert all(buttons(m) == [] for m in bot.slack.thread(CHANNEL, ts))
    assert bot.provider.requests == []


def offer_marker(bot: Harness) -> None:
    """Another file shared where offers are on, and its offer: the events sent before it have
    been taken up."""
    ts = share(bot, "marker.png", png(), text="marker")
    wait_in_thread(bot, ts, "Send *marker.png*")


def test_event_retries_never_offer_twice(bot: Harness) -> None:
    answer = bot.driver.file_share("parcel.png", png(), user=USER, channel=CHANNEL)
    envelope = answer.sent
    ts = envelope["event"]["ts"]
    for retry in (1, 2):
        again = bot.driver.post_event(envelope, retry_num=retry)
        assert again.status == 200
    wait_in_thread(bot, ts, "Send *parcel.png*")
    offer_marker(bot)
    offers = [m for m in bot.slack.thread(CHANNEL, ts) if buttons(m)]
    assert len(offers) == 1


def test_channels_without_file_shares_and_bot_messages_are_ignored(bot: Harness) -> None:
    bot.driver.file_share("parcel.png", png(), user=USER, channel="C0SALES")
    offer_marker(bot)
    assert [m for m in bot.slack.channel_messages("C0SALES") if m.get("bot_id")] == []
    assert bot.store.get_send("x") is None


def test_cancel_an_offer(bot: Harness) -> None:
    ts = share(bot, "parcel.png", png())
    wait_in_thread(bot, ts, "Send *parcel.png*")
    bot.driver.click(ids.CANCEL, user=USER, channel=CHANNEL)
    wait_in_thread(bot, ts, "cancelled sending")
    assert bot.only_send().state is SendState.CANCELLED
    assert bot.provider.requests == []


def test_the_modal_path_sends_once(bot: Harness) -> None:
    ts = share(bot, "invoice.pdf", pdf(), text="Invoice for October")
    wait_in_thread(bot, ts, "Send *invoice.pdf*")
    bot.driver.click(ids.CHOOSE_RECIPIENT, user=USER, channel=CHANNEL)
    view = bot.slack.wait_for(lambda: next(iter(bot.slack.views.values()), None))
    bad = bot.driver.submit_view(view["id"], choice("12", "sales"), user=USER)
    assert bad.status == 200 and bad.json["response_action"] == "errors"  # type: ignore[index]
    assert "not a valid phone number" in bad.json["errors"]["recipient"]  # type: ignore[index]
    good = bot.driver.submit_view(view["id"], choice("acme-ops", "sales"), user=USER)
    assert bot.provider.requests == []  # acme-ops never wrote: asked first
    assert send_anyway(bot, view["id"], good).status == 200
    again = bot.driver.submit_view(view["id"], {}, user=USER)
    assert again.status == 200
    (request,) = bot.provider.wait_for_requests(1)
    body = request.json["request"]  # type: ignore[index]
    assert (body["type"], body["from"], body["fileName"]) == (
        "document",
        "15550002222",
        "invoice.pdf",
    )
    assert "caption" not in body
    wait_in_thread(bot, ts, bot.provider.sends[0].transaction_id)
    # The send's whole course, its last status shown: long after the second submission (taken
    # before the first request was seen) was turned away.
    wait_in_thread(bot, ts, "Status: *READ*")
    bot.provider.wait_for_callbacks()
    bot.wait_shown()
    assert len(bot.provider.requests) == 1


def test_the_message_shortcut_sends_once(bot: Harness) -> None:
    answer = bot.driver.file_share("photo.png", png(), user=USER, channel="C0SALES")
    message = bot.slack.message("C0SALES", answer.sent["event"]["ts"])
    assert message is not None
    bot.driver.message_shortcut(ids.SHORTCUT, message, user=USER, channel="C0SALES")

    view = bot.wait_recipient_modal()
    answer = bot.driver.submit_view(view["id"], choice("+573001234567", "sales"), user=USER)
    send_anyway(bot, view["id"], answer)
    (request,) = bot.provider.wait_for_requests(1)
    assert request.json["request"]["type"] == "image"  # type: ignore[index]
    texts = wait_in_thread_channel(bot, "C0SALES", message["ts"], "Status: *READ*")
    assert any(bot.provider.sends[0].transaction_id in t for t in texts)


def send_anyway(
    bot: Harness,
    view_id: str,
    answer: DriverResponse,
    *,
    user: str = USER,
    words: str = CLOSED,
) -> DriverResponse:
    """The modal's answer to a recipient outside WhatsApp's window: nothing sent yet, the
    window's `words` and `Send anyway` in its place; submitting that sends."""
    assert answer.status == 200, answer
    reply = answer.json
    assert isinstance(reply, dict) and reply["response_action"] == "update", reply
    assert reply["view"]["submit"]["text"] == "Send anyway"
    assert words in text_of(reply["view"])
    return bot.driver.submit_view(view_id, {}, user=user)


def choice(recipient: str, sender: str) -> dict[str, dict[str, Any]]:
    return {
        ids.RECIPIENT_BLOCK: {ids.RECIPIENT_INPUT: recipient},
        ids.SENDER_BLOCK: {ids.SENDER_INPUT: sender},
    }


def wait_in_thread_channel(bot: Harness, channel: str, ts: str, contains: str) -> list[str]:
    def match() -> list[str] | None:
        texts = [text_of(m) for m in bot.slack.thread(channel, ts)]
        return texts if any(contains in t for t in texts) else None

    found: list[str] = bot.slack.wait_for(match, timeout=15)
    return found


def _share_with(bot: Harness, name: str, **changes: Any) -> str:
    """A real share in the stand-in, delivered to the app with its file object changed."""
    answer = bot.driver.file_share(name, png(), user=USER, channel="C0SALES")
    event = dict(answer.sent["event"])
    event["channel"] = CHANNEL
    event["ts"] = bot.slack.new_ts()
    event["files"] = [{**event["files"][0], **changes}]
    assert bot.driver.event(event).status == 200
    return str(event["ts"])


def test_the_bot_token_goes_to_no_host_but_slack_s(bot: Harness) -> None:
    elsewhere = bot.files.add("elsewhere.png", png(), "image/png")
    ts = _share_with(bot, "elsewhere.png", url_private=elsewhere, url_private_download=elsewhere)
    texts = wait_in_thread(bot, ts, "can't be sent on WhatsApp")
    assert "not to Slack's file host" in texts[-1]
    assert bot.files.requests == []  # not even asked: the token never left for it
    assert bot.slack.downloads == []
    assert bot.provider.requests == []


def test_a_file_kept_outside_slack_is_refused_with_the_reason(bot: Harness) -> None:
    ts = _share_with(bot, "plan.png", mode="external", is_external=True, external_type="gdrive")
    texts = wait_in_thread(bot, ts, "can't be sent on WhatsApp")
    assert "kept outside Slack (gdrive)" in texts[-1]
    assert bot.slack.downloads == []
    assert bot.provider.requests == []
