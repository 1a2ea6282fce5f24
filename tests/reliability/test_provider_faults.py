"""Provider faults: rate limits, refused connections, 5xx, hangs, dropped connections, a bad key.

What may have reached the provider is never sent again without a person's Retry; what surely
did not (429, a refused connection) is sent again, once.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from bot.core import ids
from bot.sandbox.launch import free_port
from bot.sandbox.provider import ProviderStandIn
from bot.store import SendRecord, SendState
from tests.conftest import SECRETS
from tests.reliability import figures
from tests.reliability.rig import CHANNEL, USER, Instance, Rig, draft_text, requests_for, wait_until
from tests.scenarios.harness import buttons


def click_send(rig: Rig, app: Instance, body: str) -> SendRecord:
    send, confirmation = draft_text(rig, app, body)
    answer = app.driver.click(ids.SEND, send.id, user=USER, channel=CHANNEL, message=confirmation)
    assert answer.status == 200
    return send


def test_429_waits_as_told_says_so_and_sends_once_more(make_rig: Callable[..., Rig]) -> None:
    rig = make_rig()
    app = rig.add()
    rig.provider.fail_next("429", reset="1s")
    send = click_send(rig, app, "Rate limited: your parcel")
    rig.wait_thread(send.id, "The provider is rate limiting")
    sent = rig.wait_state(send.id, SendState.SENT)
    texts = rig.wait_thread(send.id, f"transactionId: `{sent.transaction_id}`")
    rig.wait_told("Sent to")  # the click's handler has ended: it says how, last
    rig.wait_shown(send.id)
    first, second = rig.provider.requests  # exactly one more request after the 429
    assert first.response_status == 429 and second.response_status == 200
    assert second.received_at - first.received_at >= 0.9  # `ratelimit-reset: 1s` honoured
    assert sent.transaction_id == rig.provider.sends[0].transaction_id
    assert sum("rate limiting" in t for t in texts) == 1
    figures.add(
        "fault:429",
        "provider 429 (ratelimit-reset 1s)",
        1,
        "sends",
        len(rig.provider.requests) - 2,
        "requests beyond the one retry",
        made=len(rig.provider.requests),
        made_label="provider requests (429, then 200)",
    )


def test_a_refused_connection_is_tried_again_until_the_provider_listens(
    make_rig: Callable[..., Rig],
) -> None:
    port = free_port()  # nobody listens here yet: connections are refused at once
    rig = make_rig(provider_url=f"http://127.0.0.1:{port}/notification")
    app = rig.add()
    send = click_send(rig, app, "Refused at first: your invoice")
    rig.wait_state(send.id, SendState.SENDING, timeout=5)
    # `sending` is recorded just before the first attempt, which is refused at once; a refused
    # connection leaves nothing to wait for, so a moment well inside the 0.5 s before the
    # app tries again: it is waiting, not giving up.
    time.sleep(0.25)
    assert rig.current(send.id).state is SendState.SENDING
    late = ProviderStandIn(api_key=SECRETS["WHATSAPP_API_KEY"], port=port).start()
    try:
        sent = rig.wait_state(send.id, SendState.SENT, SendState.FAILED, SendState.UNKNOWN)
        assert sent.state is SendState.SENT, sent.error
        rig.wait_thread(send.id, f"transactionId: `{sent.transaction_id}`")
        rig.wait_told("Sent to")  # the click's handler has ended: it says how, last
        assert len(late.requests) == 1
        assert sent.transaction_id == late.sends[0].transaction_id
        figures.add(
            "fault:refused",
            "provider connection refused, then listening",
            1,
            "sends",
            len(late.requests) - 1,
            "extra requests",
            made=len(late.requests),
            made_label="provider request once it listened, transactionId shown",
        )
    finally:
        late.stop()


def test_a_provider_that_never_listens_fails_plainly_without_unknowns(
    make_rig: Callable[..., Rig],
) -> None:
    rig = make_rig(provider_url=f"http://127.0.0.1:{free_port()}/notification")
    app = rig.add()
    send = click_send(rig, app, "Never listening: your invoice")
    failed = rig.wait_state(send.id, SendState.FAILED, SendState.UNKNOWN, SendState.SENT)
    assert failed.state is SendState.FAILED  # refused: surely not received, so not `unknown`
    texts = rig.wait_thread(send.id, "refused the connection")
    assert not any("Retry" in buttons(m) for m in rig.thread(failed))
    assert "did not send" in "\n".join(texts)
    figures.add(
        "fault:never",
        "provider never listening",
        1,
        "sends",
        int(failed.state is not SendState.FAILED),
        "left `unknown` (it surely never arrived)",
        made=1,
        made_label="`failed`, thread says the connection was refused",
    )


UNCERTAIN = [
    ("500", {}, "HTTP 500"),
    ("hang", {"seconds": 3}, "did not answer within 1 seconds"),
    ("drop", {}, "broke before it answered"),
    ("no_transaction_id", {}, "without a transactionId"),
]


def test_uncertain_answers_become_unknown_with_retry_and_are_never_resent_alone(
    make_rig: Callable[..., Rig],
) -> None:
    rig = make_rig()
    app = rig.add()
    unknown: list[SendRecord] = []
    for kind, options, words in UNCERTAIN:
        rig.provider.fail_next(kind, **options)
        send = click_send(rig, app, f"Uncertain {kind}: your order")
        done = rig.wait_state(send.id, SendState.UNKNOWN, SendState.SENT, SendState.FAILED)
        assert done.state is SendState.UNKNOWN, (kind, done.state, done.error)
        texts = rig.wait_thread(send.id, "Not sure whether the message was sent")
        outcome = next(t for t in texts if "Not sure" in t)
        assert words in outcome, (kind, outcome)
        assert "not* sent again automatically" in outcome
        assert any(buttons(m) == ["Retry"] for m in rig.thread(done))
        unknown.append(done)
    # Each click's handler has ended (it says how, last); on its own the app acts only in its
    # maintenance rounds, and a whole one has come round since.
    rig.wait_told("Not sure whether it was sent", count=len(UNCERTAIN))
    rig.wait_maintenance(unknown[-1].id)
    made = [requests_for(rig, s.external_id) for s in unknown]
    figures.add(
        "fault:uncertain",
        "provider 500 / hang past timeout / dropped connection / 200 without transactionId",
        len(unknown),
        "sends",
        sum(made) - len(made),
        "requests made without a Retry",
        made=sum(made),
        made_label="provider requests, all `unknown` with Retry",
    )
    assert made == [1] * len(UNCERTAIN)
    assert all(rig.current(s.id).state is SendState.UNKNOWN for s in unknown)

    # a person decides: Retry sends it once more, and only once however often it is clicked
    chosen = unknown[0]
    outcome = next(m for m in rig.thread(chosen) if buttons(m) == ["Retry"])
    refused = "already retried or has a result"
    before = rig.told(refused)
    for _ in range(3):
        app.driver.click(ids.RETRY, chosen.id, user=USER, channel=CHANNEL, message=outcome)
    sent = rig.wait_state(chosen.id, SendState.SENT)
    rig.wait_thread(chosen.id, f"transactionId: `{sent.transaction_id}`")
    # one click sent it again, its handler ending with the thread; the two others said no
    rig.wait_told("chose to send it again")
    rig.wait_told(refused, count=before + 2)
    rig.wait_shown(chosen.id)
    assert requests_for(rig, chosen.external_id) == 2


def test_a_refused_key_is_said_in_the_thread_and_in_healthz_until_a_send_succeeds(
    make_rig: Callable[..., Rig],
) -> None:
    rig = make_rig()
    app = rig.add()
    assert app.health().status == 200
    for code in ("401", "403"):
        rig.provider.fail_next(code)
        send = click_send(rig, app, f"Key refused {code}: your order")
        failed = rig.wait_state(send.id, SendState.FAILED, SendState.UNKNOWN, SendState.SENT)
        assert failed.state is SendState.FAILED
        texts = rig.wait_thread(send.id, "wrong or expired")
        assert any(f"HTTP {code}" in t and "whatsapp.api_key" in t for t in texts)
        health = app.health()
        assert health.status == 503, health
        assert "whatsapp.api_key" in health.json()["provider"]
        assert SECRETS["WHATSAPP_API_KEY"] not in health.text
    rig.wait_told(":x: Not sent", count=2)  # both clicks' handlers have ended
    assert app.health().status == 503  # still: nothing has succeeded since
    send = click_send(rig, app, "Key renewed: your order")
    rig.wait_state(send.id, SendState.SENT)
    wait_until(lambda: app.health().status == 200, 5, "healthz back to 200")
    assert app.health().json() == {"ok": True, "database": "ok", "schema": "ok", "slack": "ok"}
    figures.add(
        "fault:key",
        "provider 401, then 403, then a send that succeeds",
        3,
        "sends",
        0,
        "wrong answers",
        made=2,
        made_label="threads saying the key is wrong; /healthz 503 until the success",
    )
