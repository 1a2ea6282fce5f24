"""Confirmed sends per second, and the time from a `Send` click to the transactionId in Slack.

Drafts are made through the app's own code against the server's database (as `/whatsapp`
would leave them); then signed `Send` clicks go to `whatsapp-bot serve` over HTTP. The
stand-in provider answers each send after 50 ms and then posts its four status callbacks,
as it would. A send counts as done when its thread in the stand-in Slack shows the provider's
transactionId; click-to-transactionId runs from just before the click is sent to the moment
the stand-in Slack received that reply (same clock).

Two phases: a burst of `--sends` clicks at once gives the throughput (sends/s, from the first
click to the last transactionId shown); then clicks at a steady rate (`--rate`, default half
the burst's throughput) for `--seconds` give click-to-transactionId when the app keeps up.

    .venv/bin/python bench/send.py [--sends 300] [--rate R] [--seconds 10] [--latency 0.05]
        [--workers 2] [--threads 32] [--database-url URL] [--profile DIR]
"""

from __future__ import annotations

import argparse
import threading
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import _common as c
import _load

from bot.core import ids

USER = "U0BENCHSEND"


@dataclass
class Phase:
    clicks: dict[str, float] = field(default_factory=dict)  # send id -> epoch seconds
    shown: dict[str, float] = field(default_factory=dict)  # send id -> epoch seconds
    ack_failures: list[str] = field(default_factory=list)
    missing: int = 0
    cpu: float = 0.0
    busy: float = 0.0

    def latencies(self) -> list[float]:
        return [self.shown[s] - t for s, t in self.clicks.items() if s in self.shown]

    def throughput(self) -> float:
        if not self.shown:
            return 0.0
        span = max(self.shown.values()) - min(self.clicks.values())
        return len(self.shown) / span if span > 0 else 0.0


def make_drafts(config_path: Path, coffee_url: str, count: int) -> list[str]:
    from bot.store import Store
    from bot.usecases.sending import SendService
    from bot.whatsapp.client import ProviderClient
    from bot.whatsapp.payloads import Message, MessageKind

    config = c.load_config(config_path)
    store = Store.from_url(config.database_url)
    store.migrate()
    provider = ProviderClient(api_url=config.whatsapp.api_url, api_key=config.whatsapp.api_key)
    sending = SendService(config=config, store=store, provider=provider)
    sender = sending.resolve_sender(None, c.CHANNEL)
    message = Message(kind=MessageKind.IMAGE, to=c.RECIPIENT, body=coffee_url)
    try:
        return [
            sending.create_draft(
                message, sender=sender, source="slash", channel_id=c.CHANNEL, user_id=USER
            ).id
            for _ in range(count)
        ]
    finally:
        provider.close()
        store.close()


def click_all(
    server: c.Server, stands: Any, urls: dict[str, str], drafts: Sequence[str], rate: float | None
) -> Phase:
    """Click Send on every draft: all at once (16 clients) or at `rate` a second."""
    phase = Phase()
    lock = threading.Lock()
    started = time.monotonic()
    local = threading.local()

    def click(index_and_id: tuple[int, str]) -> None:
        index, send_id = index_and_id
        if rate:
            delay = started + index / rate - time.monotonic()
            if delay > 0:
                time.sleep(delay)
        driver = getattr(local, "driver", None)
        if driver is None:
            driver = local.driver = c.BenchDriver(server.url, stands, urls)
        button = {"ts": driver._ts(), "block_id": ids.CONFIRM_BLOCK, "value": send_id}
        at = time.time()
        answer = driver.click_ephemeral(ids.SEND, button, user=USER, channel=c.CHANNEL)
        with lock:
            phase.clicks[send_id] = at
            if answer.status != 200:
                phase.ack_failures.append(f"HTTP {answer.status}")

    with ThreadPoolExecutor(max_workers=16) as pool:
        list(pool.map(click, enumerate(drafts)))
    return phase


def wait_shown(stands: Any, phase: Phase, database_url: str, timeout: float) -> None:
    """Fill `phase.shown` from the stand-in Slack's chat.postMessage calls."""
    from bot.store import Store

    store = Store.from_url(database_url)
    txids: dict[str, str] = {}
    deadline = time.monotonic() + timeout
    try:
        while True:
            for send_id in phase.clicks:
                if send_id not in txids:
                    send = store.get_send(send_id)
                    if send is not None and send.transaction_id:
                        txids[send_id] = send.transaction_id
            if len(txids) == len(phase.clicks) or time.monotonic() > deadline:
                posts = stands.slack_calls("chat.postMessage")
                for send_id, txid in txids.items():
                    times = [p["time"] for p in posts if txid in p["text"]]
                    if times:
                        phase.shown[send_id] = min(times)
                if len(phase.shown) == len(phase.clicks) or time.monotonic() > deadline:
                    break
            time.sleep(0.25)
    finally:
        store.close()
    phase.missing = len(phase.clicks) - len(phase.shown)


def run_phase(
    server: c.Server,
    stands: Any,
    urls: dict[str, str],
    drafts: Sequence[str],
    rate: float | None,
    database_url: str,
    profile: str | None,
    name: str,
) -> Phase:
    with _load.spent(server) as used, c.profiled(server.worker_pids(), profile, name):
        phase = click_all(server, stands, urls, drafts, rate)
        wait_shown(stands, phase, database_url, timeout=120)
    phase.cpu, phase.busy = used.cpu, used.busy
    return phase


def row(name: str, phase: Phase, rate: str) -> list[object]:
    return [
        name,
        len(phase.clicks),
        rate,
        phase.throughput(),
        *_load.spread_ms(phase.latencies()),
        f"{phase.cpu / max(1, len(phase.clicks)) * 1000:.1f}",
        _load.percent(phase.busy),
    ]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sends", type=int, default=300, help="clicks in the burst (300)")
    parser.add_argument("--rate", type=float, help="steady clicks/s (default: half the burst's)")
    parser.add_argument("--seconds", type=float, default=10, help="length of the steady phase")
    parser.add_argument("--latency", type=float, default=0.05, help="provider latency (0.05 s)")
    _load.add_options(parser, both_databases=False)
    args = parser.parse_args(argv)

    c.header(
        "send: confirmed sends per second and click-to-transactionId",
        f"provider latency {args.latency * 1000:.0f} ms with status callbacks on, gunicorn "
        f"{args.workers} workers × {args.threads} threads",
    )
    with _load.running(
        "bench-send-", _load.emptied(args.database_url), args, latency=args.latency
    ) as rig:
        server, stands, urls, config = rig.app, rig.stands, rig.urls, rig.config
        database_url = rig.database_url
        warm = make_drafts(config, urls["coffee"], 8)
        run_phase(server, stands, urls, warm, None, database_url, None, "warm")
        drafts = make_drafts(config, urls["coffee"], args.sends)
        burst = run_phase(
            server, stands, urls, drafts, None, database_url, args.profile, "send-burst"
        )
        rate = args.rate or max(1.0, round(burst.throughput() / 2, 1))
        steady_drafts = make_drafts(config, urls["coffee"], max(1, int(rate * args.seconds)))
        steady = run_phase(
            server, stands, urls, steady_drafts, rate, database_url, None, "send-steady"
        )
        counts = stands.provider_counts()
        errors = server.error_lines()
    clicked = len(warm) + len(burst.clicks) + len(steady.clicks)
    print()
    titles = ["phase", "clicks", "offered /s", "sends/s", "p50 ms", "p99 ms", "max ms"]
    print(
        c.table(
            [*titles, "server CPU ms each", "machine busy"],
            [row("burst", burst, "all at once"), row("steady", steady, f"{rate:g}")],
        )
    )
    print()
    print(
        "   click-to-transactionId is p50/p99/max above; sends/s counts from the first click "
        "to the last transactionId shown (no goal)."
    )
    print(
        f"   provider: {counts['sends']} sends for {clicked} clicks, one each: "
        f"{c.verdict(counts['sends'] == clicked)}"
    )
    for name, phase in (("burst", burst), ("steady", steady)):
        if phase.missing or phase.ack_failures:
            print(
                f"   {name}: {phase.missing} transactionId(s) never shown, "
                f"{len(phase.ack_failures)} click(s) not acknowledged"
            )
    _load.print_errors(errors)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
