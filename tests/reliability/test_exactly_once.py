"""Exactly once towards the customer, counted at the stand-in provider.

Clicks, modal submissions and events are delivered many times at once (threads released
together), replayed byte for byte with Slack's retry headers, and sent to two app instances on
one database. However often Slack delivers, the provider gets one request per send.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable

from bot.core import ids
from bot.sandbox.driver import DriverResponse
from bot.store import SendState
from tests.reliability import figures
from tests.reliability.rig import (
    CHANNEL,
    OTHER_USER,
    USER,
    Instance,
    Rig,
    build,
    draft_text,
    fire_together,
    replay,
    requests_for,
    share_file,
    submission,
    wait_until,
)
from tests.scenarios.harness import buttons

ROW = "duplicate"


def count(what: str, tried: int, requests: int, sends: int = 1) -> None:
    """One row: deliveries tried → provider requests made, and those beyond one per send."""
    for key, label in (
        (f"{ROW}:{what}", f"duplicate deliveries: {what}"),
        (f"{ROW}:all", "duplicate deliveries, all of the above"),
    ):
        figures.add(
            key,
            label,
            tried,
            f"deliveries of {sends} send(s)" if key != f"{ROW}:all" else "deliveries",
            requests - sends,
            "extra provider requests",
            made=requests,
            made_label="provider requests",
        )


def settle(rig: Rig, send_id: str) -> None:
    """Wait for the send's whole course: its outcome, the provider's statuses, the last one
    shown. Every duplicate was acknowledged, so handed on, before this began; turning one away
    takes a read and a refused update: by the time the last status is shown, a second or more
    after the one request, each has long been turned away or has made its own request."""
    rig.wait_state(send_id, SendState.SENT, timeout=15)
    rig.wait_thread(send_id, "transactionId")
    rig.wait_thread(send_id, "Status: *READ*")
    rig.provider.wait_for_callbacks(timeout=15)
    rig.wait_shown(send_id)


def offer_marker(rig: Rig, app: Instance) -> None:
    """Another file shared, and its offer: the events this instance got before it have been
    taken up. Its event id is its own (two drivers number theirs alike within a second)."""
    share_file(rig, app, "marker.png", text="marker", event_id=f"EvMARKER{secrets.token_hex(6)}")


ALREADY = "This was already confirmed"


def test_a_send_click_storm_with_replays_sends_once(make_rig: Callable[..., Rig]) -> None:
    rig = make_rig()
    app = rig.add()
    send, confirmation = draft_text(rig, app, "Click storm: your order shipped")
    clicks = [
        build(
            app.driver,
            app.driver.click,
            ids.SEND,
            send.id,
            user=USER,
            channel=CHANNEL,
            message=confirmation,
        )
        for _ in range(16)
    ]
    # 16 distinct clicks, and the first one replayed 16 more times as Slack retries it
    calls: list[Callable[[], DriverResponse]] = [
        (lambda c=c: replay(app.driver, c)) for c in clicks
    ]
    calls += [(lambda n=n: replay(app.driver, clicks[0], retry_num=1 + n % 3)) for n in range(16)]
    told = rig.told(ALREADY)
    answers = fire_together(calls)
    assert [a.status for a in answers] == [200] * len(calls)
    settle(rig, send.id)
    # and each click's handler says how it ended, last: one sent, every other was turned away
    rig.wait_told("Sent to")
    rig.wait_told(ALREADY, count=told + len(calls) - 1)
    made = requests_for(rig, send.external_id)
    count("Send click (threads, X-Slack-Retry-Num replays)", len(calls), made)
    assert made == 1
    records = [m for m in rig.slack.channel_messages(CHANNEL) if m.get("bot_id")]
    assert len(records) == 1
    assert sum("transactionId" in t for t in rig.thread_texts(send.id)) == 1


def test_the_same_modal_submission_many_times_sends_once(make_rig: Callable[..., Rig]) -> None:
    rig = make_rig()
    app = rig.add()
    _, send = share_file(rig, app, "invoice-photo.png")
    offer = rig.message_with_button(CHANNEL, USER, ids.CHOOSE_RECIPIENT, send.id)
    app.driver.click(ids.CHOOSE_RECIPIENT, send.id, user=USER, channel=CHANNEL, message=offer)
    view = wait_until(lambda: next(iter(rig.slack.views.values()), None), 10, "the modal")
    # acme-ops never wrote: the choice is answered with `Send anyway`, whose submission sends
    chosen = submission(app, view, "acme-ops", "sales")
    form = "application/x-www-form-urlencoded"
    asked = app.driver.raw_post(chosen, app.driver.signed_headers(chosen, form))
    assert asked.status == 200 and isinstance(asked.json, dict), asked.body
    anyway = asked.json["view"]
    assert anyway["submit"]["text"] == "Send anyway"
    assert requests_for(rig, send.external_id) == 0
    body = submission(app, {**view, **anyway}, "acme-ops", "sales")
    headers = app.driver.signed_headers(body, form)
    calls: list[Callable[[], DriverResponse]] = []
    for n in range(24):
        extra = {} if n % 2 == 0 else {"X-Slack-Retry-Num": str(n % 3 + 1)}
        calls.append(lambda extra=extra: app.driver.raw_post(body, {**headers, **extra}))
    answers = fire_together(calls)
    assert all(a.status == 200 for a in answers), [(a.status, a.body) for a in answers]
    settle(rig, send.id)
    made = requests_for(rig, send.external_id)
    count("recipient modal submission (threads, retries)", len(calls), made)
    assert made == 1
    (accepted,) = [r for r in rig.provider.requests if r.json]
    assert accepted.json["request"]["from"] == "15550002222"  # type: ignore[index]
    assert rig.current(send.id).sender_alias == "sales"


def test_a_file_share_event_delivered_many_times_offers_once_and_sends_once(
    make_rig: Callable[..., Rig],
) -> None:
    rig = make_rig()
    app = rig.add()
    first, send = share_file(rig, app, "delivery.png")
    envelope = first.sent
    calls: list[Callable[[], DriverResponse]] = []
    for n in range(24):
        retry = None if n % 3 == 0 else n % 4 + 1
        calls.append(lambda retry=retry: app.driver.post_event(envelope, retry_num=retry))
    answers = fire_together(calls)
    assert all(a.status == 200 for a in answers)
    offer_marker(rig, app)
    ts = str(envelope["event"]["ts"])
    offers = [m for m in rig.slack.thread(CHANNEL, ts) if buttons(m)]
    drafts = [s for s in rig.all_sends() if s.thread_ts == ts]
    events = len(calls) + 1
    figures.add(
        "duplicate:offer",
        "duplicate deliveries: file_share event (same event_id, with and without retries)",
        events,
        "deliveries of 1 event",
        len(offers) - 1 + len(drafts) - 1,
        "extra offers or drafts",
        made=len(offers),
        made_label="offers",
    )
    assert len(offers) == 1 and len(drafts) == 1

    offer = rig.message_with_button(CHANNEL, USER, ids.SEND, send.id)
    clicks = [
        build(
            app.driver,
            app.driver.click,
            ids.SEND,
            send.id,
            user=user,
            channel=CHANNEL,
            message=offer,
        )
        for user in (USER, OTHER_USER) * 6
    ]
    calls = [(lambda c=c: replay(app.driver, c)) for c in clicks]
    calls += [(lambda: replay(app.driver, clicks[0], retry_num=1))] * 4
    answers = fire_together(calls)
    assert all(a.status == 200 for a in answers)
    settle(rig, send.id)
    made = requests_for(rig, send.external_id)
    count("Send on a file offer, by two people at once", len(calls), made)
    assert made == 1


def test_two_instances_receiving_the_same_click_send_once(
    make_rig: Callable[..., Rig], db_url: str
) -> None:
    rig = make_rig(database_url=db_url)
    first = rig.add("a")
    second = rig.add("b")
    backend = db_url.split(":", 1)[0].split("+", 1)[0]
    total_tried = total_tried_requests = 0
    for round_ in range(3):
        send, confirmation = draft_text(rig, first, f"Two instances {round_}: invoice ready")
        click = build(
            first.driver,
            first.driver.click,
            ids.SEND,
            send.id,
            user=USER,
            channel=CHANNEL,
            message=confirmation,
        )
        calls: list[Callable[[], DriverResponse]] = []
        for n in range(8):
            retry = None if n < 2 else n
            calls.append(lambda retry=retry, c=click: replay(first.driver, c, retry))
            calls.append(lambda retry=retry, c=click: replay(second.driver, c, retry))
        told = rig.told(ALREADY)
        answers = fire_together(calls)
        assert all(a.status == 200 for a in answers)
        settle(rig, send.id)
        # each click's handler says how it ended, last: one sent, every other was turned away
        rig.wait_told("Sent to", count=round_ + 1)
        rig.wait_told(ALREADY, count=told + len(calls) - 1)
        made = requests_for(rig, send.external_id)
        total_tried += len(calls)
        total_tried_requests += made
        assert made == 1, f"round {round_}: {made} provider requests"
    count(
        f"same click to two instances on one {backend} database",
        total_tried,
        total_tried_requests,
        sends=3,
    )
    # and the same file_share event to both instances: one offer
    shared, _ = share_file(rig, first, "both.png")
    answers = fire_together(
        [lambda: second.driver.post_event(shared.sent, retry_num=1)] * 4
        + [lambda: first.driver.post_event(shared.sent)] * 4
    )
    assert all(a.status == 200 for a in answers)
    offer_marker(rig, first)
    offer_marker(rig, second)
    ts = str(shared.sent["event"]["ts"])
    assert len([m for m in rig.slack.thread(CHANNEL, ts) if buttons(m)]) == 1
