"""Crash safety: `serve` is SIGKILLed (master and worker at once) and started again.

What the app acknowledged stays in the database; what it may have sent is `unknown`, said in
its thread with Retry, never resent alone; and the SQLite file stays sound.
"""

from __future__ import annotations

import contextlib
import inspect
import os
import random
import sqlite3
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from bot.app import create_app
from bot.core import ids
from bot.core.config import load_config
from bot.store import SendRecord, SendState
from bot.usecases.sending import SendService
from tests.conftest import SECRETS
from tests.reliability import figures
from tests.reliability.rig import (
    CHANNEL,
    USER,
    Instance,
    Rig,
    draft_text,
    requests_for,
    share_file,
    wait_until,
)
from tests.scenarios.harness import buttons

# how often `serve` runs recovery: create_app's default sweep_interval
MAINTENANCE_INTERVAL: float = inspect.signature(create_app).parameters["sweep_interval"].default


def recovery_seconds(app: Instance) -> float:
    """How long after its last heartbeat a `sending` send must be `unknown`: the app's own
    `stuck_after`, plus one maintenance interval for the loop to come round."""
    config = load_config(str(app.config_path), SECRETS)
    service = SendService(config=config, store=None, provider=None)  # type: ignore[arg-type]
    return service.stuck_after + MAINTENANCE_INTERVAL


@dataclass
class Crash:
    """One SIGKILL with three sends in different places, and what the restart made of them."""

    rig: Rig
    done: SendRecord  # sent, statuses received, before the crash
    done_callbacks: list[Any]
    done_timeline: list[str]
    slow: SendRecord  # `sending`: the provider had it, its answer never heard
    slow_sending: SendRecord
    held: SendRecord  # the click was taken, the provider not called yet
    held_at_kill: SendState
    busy: SendRecord  # sent; its thread was being edited (held by Slack) at the kill
    busy_read_shown: bool  # READ, posted right after the restart, shown by recovery time
    recovered_after: float
    limit: float


@pytest.fixture(scope="module")
def crash(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Crash]:
    rig = Rig(tmp_path_factory.mktemp("crash"))
    try:
        yield _crash(rig)
    finally:
        rig.close()


def _crash(rig: Rig) -> Crash:
    app = rig.add()
    # a send that went through completely: it must survive the crash intact
    done, confirmation = draft_text(rig, app, "Before the crash: your invoice")
    app.driver.click(ids.SEND, done.id, user=USER, channel=CHANNEL, message=confirmation)
    rig.wait_thread(done.id, "Status: *READ*")
    done = rig.current(done.id)
    assert done.state is SendState.SENT
    done_callbacks = rig.store.callbacks_for(done.id)
    done_timeline = [row.status for row in rig.store.timeline(done.id)]
    assert len(done_callbacks) == 4
    rig.provider.auto_callbacks = False

    # a sent send, its status reply shown, quiet: its next edit will be held at the kill
    busy, confirmation = draft_text(rig, app, "Busy thread: your order")
    app.driver.click(ids.SEND, busy.id, user=USER, channel=CHANNEL, message=confirmation)
    busy = rig.wait_state(busy.id, SendState.SENT)
    assert busy.transaction_id is not None
    rig.provider.post_status(busy.transaction_id, "QUEUE")
    rig.wait_thread(busy.id, "Status: *QUEUE*")
    wait_until(lambda: not rig.current(busy.id).dirty, 5, "the busy thread up to date")

    # Slack holds the next two edits for 5 s (rate limited): the file offer's, and the busy's
    rig.slack.fail_next("chat.update", "ratelimited", retry_after=5, count=2)
    held_edits = len(rig.slack.calls_to("chat.update"))

    # a shared file whose Send click is taken: the offer becomes the record before the
    # provider is called, and that edit is held
    _, held = share_file(rig, app, "confirmed.png")
    offer = rig.message_with_button(CHANNEL, USER, ids.SEND, held.id)
    app.driver.click(ids.SEND, held.id, user=USER, channel=CHANNEL, message=offer)
    rig.wait_state(held.id, SendState.CONFIRMED, SendState.SENDING, timeout=5)
    wait_until(lambda: len(rig.slack.calls_to("chat.update")) > held_edits, 5, "a held edit")
    rig.provider.post_status(busy.transaction_id, "DELIVERED")
    wait_until(lambda: len(rig.slack.calls_to("chat.update")) > held_edits + 1, 5, "two held")

    # a send whose request the provider is still answering, slowly
    rig.provider.latency = 0.8  # slower than the click, faster than the 1 s timeout
    slow, confirmation = draft_text(rig, app, "During the crash: your parcel")
    app.driver.click(ids.SEND, slow.id, user=USER, channel=CHANNEL, message=confirmation)
    slow_sending = rig.wait_state(slow.id, SendState.SENDING, timeout=5)
    # `sending` is recorded just before the request goes out: kill once the provider has it
    wait_until(lambda: requests_for(rig, slow.external_id) == 1, 5, "the slow request")
    app.kill()  # between the `sending` record and the provider's answer
    killed_at = time.monotonic()
    assert rig.current(slow.id).state is SendState.SENDING
    held_at_kill = rig.current(held.id).state  # `confirmed` (or `sending` if recorded first)
    assert rig.provider.requests[-1].json["request"]["externalId"] != held.external_id
    wait_until(lambda: len(rig.provider.sends) == 2, 5, "the provider's (unheard) answer")
    rig.provider.latency = 0

    app.start()
    limit = recovery_seconds(app)
    assert rig.provider.post_status(busy.transaction_id, "READ")[0].http_status == 200
    rig.wait_state(
        slow.id,
        SendState.UNKNOWN,
        SendState.SENT,
        timeout=limit + 5 - (time.monotonic() - killed_at),
    )
    recovered_after = time.monotonic() - killed_at
    # READ, posted right after the restart, shown by recovery time: the bound `slow` is held
    # to. Looked for until then, not at the moment `slow` was recovered: that round's sweep,
    # which may be the one to show it, comes just after its recovery.
    busy_read_shown = shown_by(rig, busy.id, "Status: *READ*", killed_at + limit + 2)
    print(
        f"\nrecovered `sending` -> `unknown` {recovered_after:.1f} s after SIGKILL "
        f"(limit {limit:.1f} s)"
    )
    rig.wait_thread(slow.id, "Not sure whether the message was sent")
    # The round of recovery that made `slow` unknown also took up `held`: left `sending`, it
    # became unknown with it; left `confirmed`, it was handed on to be delivered. Either way
    # it ends, shown in its thread. Not waited for as an assertion: the tests say what it is.
    with contextlib.suppress(AssertionError):
        rig.wait_state(held.id, SendState.SENT, SendState.FAILED, SendState.UNKNOWN, timeout=10)
        rig.wait_shown(held.id)
    return Crash(
        rig,
        done,
        done_callbacks,
        done_timeline,
        slow,
        slow_sending,
        rig.current(held.id),
        held_at_kill,
        rig.current(busy.id),
        busy_read_shown,
        recovered_after,
        limit,
    )


def shown_by(rig: Rig, send_id: str, words: str, deadline: float) -> bool:
    """Whether the send's thread shows `words` by `deadline` (time.monotonic)."""
    try:
        rig.wait_thread(send_id, words, timeout=max(0.0, deadline - time.monotonic()))
    except AssertionError:
        return False
    return True


def test_sigkill_while_the_provider_answers_slowly_becomes_unknown_with_retry(
    crash: Crash,
) -> None:
    rig = crash.rig
    unknown = rig.current(crash.slow.id)
    figures.add(
        "crash:slow",
        "SIGKILL between the `sending` record and the provider's answer",
        1,
        "kill points",
        int(unknown.state is not SendState.UNKNOWN) + requests_for(rig, crash.slow.external_id) - 1,
        "sends lost or resent",
    )
    assert unknown.state is SendState.UNKNOWN
    assert crash.recovered_after <= crash.limit + 2
    assert unknown.updated_at > crash.slow_sending.updated_at
    texts = rig.thread_texts(unknown.id)
    outcome = next(t for t in texts if "Not sure" in t)
    assert "the app stopped while waiting for the provider" in outcome
    assert any(buttons(m) == ["Retry"] for m in rig.thread(unknown))
    assert requests_for(rig, crash.slow.external_id) == 1  # never resent on its own
    # nothing confirmed before the crash is forgotten
    after = rig.current(crash.done.id)
    assert after.state is SendState.SENT
    assert after.transaction_id == crash.done.transaction_id
    assert after.provider_status == "READ"
    assert rig.store.callbacks_for(crash.done.id) == crash.done_callbacks
    assert [row.status for row in rig.store.timeline(crash.done.id)] == crash.done_timeline


def test_sigkill_after_confirm_before_the_provider_call_is_not_forgotten(crash: Crash) -> None:
    """Found by this suite: a send killed after `confirmed` and before `sending` stayed
    `confirmed` forever, never sent nor said (fixed in dd56b8d: Slack is told only once
    `sending` is recorded, and recovery delivers confirmed sends a crash left behind)."""
    rig = crash.rig
    held = crash.held
    figures.add(
        "crash:confirmed",
        "SIGKILL after the click was taken, before the provider call",
        1,
        "kill points",
        int(held.state is SendState.CONFIRMED),
        "sends left confirmed, never sent nor said",
    )
    print(f"\nheld send: {crash.held_at_kill} at the kill, {held.state} after recovery")
    assert held.state is not SendState.CONFIRMED, "still `confirmed`: never sent, never said"
    # not forgotten: sent once, or recorded as `unknown`/`failed`, which its thread will say
    # (how soon its thread says it is the next test's business)
    assert requests_for(rig, held.external_id) <= 1
    assert held.state is not SendState.SENT or requests_for(rig, held.external_id) == 1


def test_a_thread_being_updated_at_the_kill_catches_up_within_recovery_time(
    crash: Crash,
) -> None:
    rig = crash.rig
    print(f"\nbusy thread shows READ by recovery time: {crash.busy_read_shown}")
    figures.add(
        "crash:lease",
        "SIGKILL while a thread was being edited; a status posted after the restart",
        1,
        "kill points",
        int(not crash.busy_read_shown),
        "threads not caught up within the recovery time (BUG)",
    )
    assert rig.current(crash.busy.id).provider_status == "READ"  # stored, at least
    assert crash.busy_read_shown, "READ was stored but not shown in the thread in time"


def test_sigkill_at_random_points_during_a_burst_loses_nothing(
    make_rig: Callable[..., Rig],
) -> None:
    seed = int(os.environ.get("RELIABILITY_SEED", time.time_ns() % 100_000))
    chance = random.Random(seed)
    print(f"\nrandom kill points from seed {seed} (RELIABILITY_SEED={seed} to replay)")
    rig = make_rig(callback_delay=0.01)
    app = rig.add()
    rig.provider.latency = 0.15  # so that kills land while requests are in flight too
    kills = 5
    clicks_acknowledged = 0
    for round_ in range(kills):
        drafts = [
            draft_text(rig, app, f"Burst {round_}.{n}: your order {chance.randrange(10**6)}")
            for n in range(5)
        ]
        stop = threading.Event()
        answers: list[int] = []

        def click(
            send: SendRecord, confirmation: dict[str, Any], answers: list[int] = answers
        ) -> None:
            with contextlib.suppress(OSError):  # killed before it answered
                answer = app.driver.click(
                    ids.SEND, send.id, user=USER, channel=CHANNEL, message=confirmation
                )
                answers.append(answer.status)

        def replay_statuses(stop: threading.Event = stop) -> None:
            # callbacks of earlier sends, again and again, while the app is being killed
            while not stop.is_set():
                for sent in rig.provider.sends[-6:]:
                    for status in ("SENT", "DELIVERED"):
                        rig.provider.post_status(sent.transaction_id, status)  # never raises
                time.sleep(0.01)

        threads = [threading.Thread(target=click, args=d) for d in drafts]
        threads.append(threading.Thread(target=replay_statuses))
        for thread in threads:
            thread.start()
        time.sleep(chance.uniform(0.0, 0.4))
        app.kill()
        stop.set()
        for thread in threads:
            thread.join(20)
        clicks_acknowledged += answers.count(200)
        states = Counter(str(rig.current(d[0].id).state) for d in drafts)
        print(f"  kill {round_ + 1}: the round's sends were {dict(states)}")
        app.start()

    # Before counting: the provider has answered every request it got (if to a dead app), and
    # the restarted app has recovered every send the kills left `confirmed` or `sending`, the
    # only ones it acts on alone: what it would resend, it has resent by now.
    rig.provider.wait_for_requests(len(rig.provider.requests))
    wait_until(
        lambda: not rig.store.sends_in_state([SendState.CONFIRMED, SendState.SENDING]),
        recovery_seconds(app) + 10,
        "every send the kills left behind recovered",
    )
    lost, duplicates = check_nothing_lost(rig)
    integrity = sqlite_integrity(rig)
    figures.add(
        "crash:random",
        "SIGKILL at random points in a burst of clicks and callbacks (SQLite)",
        kills,
        "kill points",
        len(lost),
        "sends or acknowledged callbacks lost",
    )
    figures.add(
        "crash:random-duplicates",
        "provider requests after random SIGKILLs",
        len(rig.provider.requests),
        "requests",
        duplicates,
        "duplicates",
    )
    print(
        f"{kills} kills, {clicks_acknowledged} clicks acknowledged, "
        f"{len(rig.provider.sends)} sends accepted, "
        f"{sum(c.http_status == 200 for c in rig.provider.callbacks)} callbacks acknowledged; "
        f"lost {len(lost)}, duplicate requests {duplicates}, integrity {integrity}"
    )
    assert lost == []
    assert duplicates == 0
    assert integrity == ["ok"]


def check_nothing_lost(rig: Rig) -> tuple[list[str], int]:
    """What the provider accepted and what the app acknowledged, missing from the database."""
    lost: list[str] = []
    by_external = {s.external_id: s for s in rig.all_sends()}
    for accepted in rig.provider.sends:
        send = by_external.get(accepted.external_id or "")
        if send is None:
            lost.append(f"send {accepted.external_id} is not in the database")
        elif send.state is SendState.SENT and send.transaction_id != accepted.transaction_id:
            lost.append(f"send {send.id} has the wrong transactionId")
        elif send.state not in (SendState.SENT, SendState.SENDING, SendState.UNKNOWN):
            lost.append(f"send {send.id} was accepted by the provider but is {send.state}")
    stored = Counter(body for _, _, body in rig.stored_callbacks())
    for attempt in rig.provider.callbacks:
        if attempt.http_status is not None and 200 <= attempt.http_status < 300:
            body = attempt.body.decode()
            if stored[body] < 1:
                lost.append(f"acknowledged callback {body[:80]} is not stored")
    per_send = Counter(
        (r.json.get("request") or {}).get("externalId")
        for r in rig.provider.requests
        if isinstance(r.json, dict)
    )
    duplicates = sum(n - 1 for n in per_send.values() if n > 1)
    return lost, duplicates


def sqlite_integrity(rig: Rig) -> list[str]:
    path = rig.database_url.removeprefix("sqlite:///")
    conn = sqlite3.connect(path)
    try:
        result = [row[0] for row in conn.execute("PRAGMA integrity_check")]
        problems = list(conn.execute("PRAGMA foreign_key_check"))
    finally:
        conn.close()
    return result + [f"foreign key: {p}" for p in problems]
