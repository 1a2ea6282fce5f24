"""Slack faults and Slack's limits: `ratelimited` answers, and a burst of status callbacks that
must not turn into a burst of edits."""

from __future__ import annotations

import itertools
import json
import time
from collections.abc import Callable
from typing import Any

from bot.core import ids
from bot.store import SendState
from tests.reliability import figures
from tests.reliability.rig import CHANNEL, USER, Rig, draft_text, fire_together, requests_for
from tests.scenarios.harness import text_of

# Slack allows about one chat.update a second per message; the renderer promises one pass a
# second per thread. Call times are taken by the stand-in when each call arrives, so allow a
# little scheduling jitter below the second.
MIN_GAP = 0.9


def test_ratelimited_slack_still_ends_with_the_right_thread(make_rig: Callable[..., Rig]) -> None:
    rig = make_rig()
    app = rig.add()
    rig.provider.auto_callbacks = False
    send, confirmation = draft_text(rig, app, "Slack rate limits: your parcel")
    rig.slack.fail_next("chat.postMessage", "ratelimited", retry_after=1, count=2)
    app.driver.click(ids.SEND, send.id, user=USER, channel=CHANNEL, message=confirmation)
    sent = rig.wait_state(send.id, SendState.SENT)
    assert sent.transaction_id is not None
    rig.wait_thread(send.id, "transactionId", timeout=20)
    rig.slack.fail_next("chat.update", "ratelimited", retry_after=1, count=2)
    for status in ("QUEUE", "SENT", "DELIVERED", "READ"):
        rig.provider.post_status(sent.transaction_id, status)
        time.sleep(0.3)  # statuses spread out, as the provider sends them
    rig.wait_thread(send.id, "Status: *READ*", timeout=30)
    limited = [c for c in rig.slack.calls if c.status == 429]
    assert sorted(c.method for c in limited) == ["chat.postMessage"] * 2 + ["chat.update"] * 2
    rig.wait_shown(send.id)  # every pass the statuses called for has ended
    texts = rig.thread_texts(send.id)
    records = [m for m in rig.slack.channel_messages(CHANNEL) if m.get("bot_id")]
    assert len(records) == 1
    assert ":eyes: *READ*" in texts[0]
    assert sum(f"`{sent.transaction_id}`" in t for t in texts) == 1
    assert sum("Status:" in t for t in texts) == 1
    assert len(texts) == 3, texts  # record, transactionId, status
    assert requests_for(rig, send.external_id) == 1
    figures.add(
        "slack:ratelimited",
        "Slack `ratelimited` (429, Retry-After 1) on chat.postMessage and chat.update",
        len(limited),
        "429 answers",
        0,
        "threads left wrong",
    )


def test_a_burst_of_callbacks_is_at_most_one_edit_a_second(make_rig: Callable[..., Rig]) -> None:
    rig = make_rig()
    app = rig.add()
    rig.provider.auto_callbacks = False
    send, confirmation = draft_text(rig, app, "Callback burst: your order")
    app.driver.click(ids.SEND, send.id, user=USER, channel=CHANNEL, message=confirmation)
    sent = rig.wait_state(send.id, SendState.SENT)
    rig.wait_thread(send.id, "transactionId")
    # The thread is idle: no pass left to run, and the second since the last write is over,
    # so the burst's first status is shown at once.
    rig.wait_shown(send.id)
    time.sleep(1.2)
    url = f"/whatsapp/callbacks/{sent.callback_token}"
    progress = ["QUEUE", "DEQUEUED", "SENT", "DELIVERED", "READ"]
    burst = [status for status in progress for _ in range(5)]  # 25, each status five times
    assert sent.transaction_id is not None
    started = time.monotonic()
    answers = []
    for step in range(0, len(burst), 5):  # five waves of five at once, 0.2 s apart
        wave = [
            rig.provider.callback_payload(sent.transaction_id, status)
            for status in burst[step : step + 5]
        ]
        answers += fire_together(
            [
                (
                    lambda body=body: app.call(
                        url, "POST", _json(body), {"Content-Type": "application/json"}
                    )
                )
                for body in wave
            ]
        )
        time.sleep(0.2)  # the waves spread over a second
    burst_seconds = time.monotonic() - started
    assert burst_seconds < 1.5
    assert all(a.status == 200 for a in answers), [a.status for a in answers]
    rig.wait_thread(send.id, "Status: *READ*")
    # Every callback was stored before it was answered: once Slack shows the send as stored,
    # no pass is left to come.
    final = rig.wait_shown(send.id)
    assert final.status_ts and final.message_ts
    mine = {final.message_ts, final.status_ts}
    edits = [c for c in rig.slack.calls_to("chat.update") if c.params.get("ts") in mine]
    times = sorted(c.time for c in edits)
    per_message = {ts: sorted(c.time for c in edits if c.params.get("ts") == ts) for ts in mine}
    gaps = [b - a for t in per_message.values() for a, b in itertools.pairwise(t)]
    passes = _passes(times)
    pass_gaps = [b - a for a, b in itertools.pairwise(passes)]
    too_close = sum(g < MIN_GAP for g in gaps) + sum(g < MIN_GAP for g in pass_gaps)
    print(
        f"\n{len(burst)} callbacks in {burst_seconds:.2f} s -> {len(edits)} chat.update "
        f"in {len(passes)} passes; smallest gap per message "
        f"{min(gaps, default=float('nan')):.2f} s, between passes "
        f"{min(pass_gaps, default=float('nan')):.2f} s"
    )
    figures.add(
        "slack:burst",
        f"status callbacks for one send within {burst_seconds:.1f} s",
        len(burst),
        f"callbacks -> {len(edits)} edits",
        too_close,
        "edits less than a second apart in one thread",
    )
    assert too_close == 0, (gaps, pass_gaps)
    assert edits, "the burst was expected to edit the thread at least once"
    # what Slack shows last, on each message, is the most advanced status
    for ts, words in ((final.status_ts, "Status: *READ*"), (final.message_ts, ":eyes: *READ*")):
        writes = [
            c
            for c in rig.slack.calls
            if c.method in ("chat.update", "chat.postMessage")
            and c.ok
            and (c.params.get("ts") == ts or c.response.get("ts") == ts)
        ]
        last = max(writes, key=lambda c: c.time)
        assert words in call_text(last.params), (ts, call_text(last.params))
        shown = rig.slack.message(CHANNEL, ts)
        assert shown is not None and words in text_of(shown)
    texts = rig.thread_texts(send.id)
    assert sum("Status:" in t for t in texts) == 1 and "*READ*" in texts[0]


def _passes(times: list[float], within: float = 0.1) -> list[float]:
    """Start times of render passes: edits closer than `within` belong to one pass."""
    starts: list[float] = []
    for moment in times:
        if not starts or moment - starts[-1] > within:
            starts.append(moment)
    return starts


def _json(body: object) -> bytes:
    return json.dumps(body).encode()


def call_text(params: dict[str, Any]) -> str:
    """What a Web API call would show: its blocks' text (form-encoded blocks are JSON)."""
    blocks = params.get("blocks")
    if isinstance(blocks, str):
        blocks = json.loads(blocks)
    return text_of({"blocks": blocks, "text": params.get("text", "")})
