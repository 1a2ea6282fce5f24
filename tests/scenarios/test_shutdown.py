"""SIGTERM, as gunicorn's graceful stop: a send waiting out a 429 is handed back and sent once
by the next start; a provider call in flight finishes and is recorded; the app is gone within
`timeout_seconds` + 5 s either way."""

from __future__ import annotations

import time
from pathlib import Path

from bot.core import ids
from bot.sandbox.launch import wait_until
from bot.store import SendState
from bot.usecases.sending import HANDED_BACK
from tests.scenarios.harness import CHANNEL, USER, Harness

TIMEOUT_SECONDS = 5


def start(tmp_path: Path) -> Harness:
    return Harness(
        tmp_path,
        whatsapp={"timeout_seconds": TIMEOUT_SECONDS, "max_rate_limit_wait_seconds": 120},
    ).start()


def click_send(bot: Harness, text: str) -> str:
    bot.driver.slash_command(f"text +573001234567 {text}", user=USER, channel=CHANNEL)
    bot.wait_ephemeral("Send a text message on WhatsApp?")
    assert bot.driver.click(ids.SEND, user=USER, channel=CHANNEL).status == 200
    return bot.only_send().id


def sigterm(bot: Harness) -> float:
    """Seconds from SIGTERM until `serve` has exited."""
    started = time.monotonic()
    bot.stop()
    return time.monotonic() - started


def test_a_send_waiting_out_a_429_is_handed_back_and_sent_once_after_the_restart(
    tmp_path: Path,
) -> None:
    bot = start(tmp_path)
    try:
        bot.provider.fail_next("429", retry_after=30)
        send_id = click_send(bot, "Waiting out a rate limit")
        bot.provider.wait_for_requests(1)
        bot.wait_thread("The provider is rate limiting")  # the record, and the wait said
        assert bot.store.get_send(send_id).state is SendState.SENDING  # type: ignore[union-attr]

        took = sigterm(bot)
        print(f"\nSIGTERM while waiting out a 429: exited in {took:.1f} s")
        assert took < 5, bot.log()[-3000:]  # well within timeout_seconds + 5
        handed = bot.store.get_send(send_id)
        assert handed is not None
        assert handed.state is SendState.CONFIRMED  # never unknown: the provider never had it
        assert handed.error == HANDED_BACK
        assert len(bot.provider.requests) == 1 and bot.provider.sends == []

        restarted = time.monotonic()
        bot.start()
        sent = wait_until(
            lambda: (s := bot.store.get_send(send_id)) and s.state is SendState.SENT and s,
            20,
            "the handed-back send sent by the next start",
        )
        print(f"sent by the next start {time.monotonic() - restarted:.1f} s after it began")
        (accepted,) = bot.provider.sends
        assert sent.transaction_id == accepted.transaction_id
        assert sent.error is None
        texts = bot.wait_thread(accepted.transaction_id)
        assert sum(accepted.transaction_id in t for t in texts) == 1
        assert not any("Not sure whether" in t for t in texts)
        time.sleep(1)  # a second recovery round sends nothing more
        assert len(bot.provider.requests) == 2  # the refused one, and the one accepted
    finally:
        bot.close()


def test_a_call_in_flight_at_sigterm_finishes_and_is_recorded(tmp_path: Path) -> None:
    bot = start(tmp_path)
    try:
        bot.provider.latency = 2.0  # the provider holds the request, answering within the timeout
        send_id = click_send(bot, "In flight at the stop")
        wait_until(lambda: len(bot.provider.requests) == 1, 5, "the request at the provider")

        took = sigterm(bot)
        print(f"\nSIGTERM with a provider call in flight: exited in {took:.1f} s")
        assert took < TIMEOUT_SECONDS + 5, bot.log()[-3000:]
        sent = bot.store.get_send(send_id)
        assert sent is not None and sent.state is SendState.SENT
        (accepted,) = bot.provider.sends
        assert sent.transaction_id == accepted.transaction_id
        assert len(bot.provider.requests) == 1
        # shown before the app went: the thread has the record and its transactionId
        texts = bot.thread_texts()
        assert sum(accepted.transaction_id in t for t in texts) == 1

        bot.provider.latency = 0
        bot.start()
        bot.marker()  # the next start is up and has taken up what was left: nothing
        time.sleep(1)
        assert len(bot.provider.requests) == 1
        assert bot.store.get_send(send_id).state is SendState.SENT  # type: ignore[union-attr]
    finally:
        bot.close()
