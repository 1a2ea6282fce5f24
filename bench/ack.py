"""Acknowledgement latency: `whatsapp-bot serve` against a bare Bolt app that only acks.

N simulated Slack clients (one user each) each send, once per period, a signed `/whatsapp image`
slash command and, half a period later, click `Send` on the confirmation the app posted
(the bare app gets a click on a made-up button). The stand-in provider answers every send
after 2 s, so the app's background work (URL checks, drafts, provider calls, thread updates,
status callbacks) runs while the acknowledgements are timed. Both apps run under the same
gunicorn settings; rounds alternate between them (and which goes first). After each round of
the app, the benchmark waits until its background work has caught up, so that it never
spills into the bare app's round.

Latency is measured by the client: from sending the request to reading the whole answer.

Goals: the app's p99 at most 1.25 × the bare app's in every round (each round of the app
against the bare app's round of the same number, run beside it) and over all rounds pooled;
no ack of the app over 1 s.

    .venv/bin/python bench/ack.py [--clients 50] [--rounds 3] [--iterations 3] [--period 1.5]
                                  [--latency 2.0] [--workers 2] [--threads 32]
                                  [--database-url URL]
"""

from __future__ import annotations

import argparse
import functools
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import _common as c
import _load
import sqlalchemy as sa

from bot.core import ids

GOAL_RATIO = 1.25
GOAL_MAX_SECONDS = 1.0


@dataclass
class Round:
    target: str
    number: int
    latencies: dict[str, list[float]] = field(default_factory=lambda: {"slash": [], "click": []})
    failures: list[str] = field(default_factory=list)
    clicks_sent: int = 0
    cpu: float = 0.0
    busy: float = 0.0
    drain: float | None = None

    @property
    def all(self) -> list[float]:
        return self.latencies["slash"] + self.latencies["click"]


def run_round(
    server: c.Server,
    stands: Any,
    urls: dict[str, str],
    *,
    real: bool,
    number: int,
    clients: int,
    iterations: int,
    period: float,
    first_user: int,
) -> Round:
    result = Round(target="bot" if real else "bare", number=number)
    lock = threading.Lock()
    start_at = time.monotonic() + 0.3

    def sleep_until(moment: float) -> None:
        delay = moment - time.monotonic()
        if delay > 0:
            time.sleep(delay)

    def record(kind: str, answer: Any) -> None:
        with lock:
            result.latencies[kind].append(answer.elapsed)
            if answer.status != 200:
                result.failures.append(f"{kind}: HTTP {answer.status} {answer.body[:100]}")

    def client(index: int) -> None:
        user = f"U0BENCH{first_user + index:04d}"
        driver = c.BenchDriver(server.url, stands, urls)
        clicked: list[str] = []
        offset = period * index / clients
        for i in range(iterations):
            begin = start_at + offset + i * period
            sleep_until(begin)
            text = f"image {c.RECIPIENT} {urls['coffee']} Round {number} client {index} #{i}"
            record("slash", driver.slash_command(text, user=user, channel=c.CHANNEL))
            click_at = begin + period / 2
            sleep_until(click_at)
            if real:
                button = None
                deadline = time.monotonic() + 20
                while button is None and time.monotonic() < deadline:
                    button = stands.latest_button(c.CHANNEL, user, ids.SEND, clicked)
                    if button is None:
                        time.sleep(0.05)
                if button is None:
                    with lock:
                        result.failures.append(f"{user}: no confirmation within 20 s")
                    continue
                clicked.append(button["value"])
            else:
                button = {"ts": driver._ts(), "block_id": ids.CONFIRM_BLOCK, "value": "bare"}
            record("click", driver.click_ephemeral(ids.SEND, button, user=user, channel=c.CHANNEL))
            with lock:
                result.clicks_sent += 1

    with _load.spent(server) as used:
        _load.in_threads([functools.partial(client, i) for i in range(clients)])
    result.cpu, result.busy = used.cpu, used.busy
    return result


def drain(stands: Any, database_url: str, expected_sends: int, timeout: float = 90) -> float | None:
    """Wait until every click reached the provider, every callback was answered and every
    thread is up to date; the seconds it took, or None if it did not within `timeout`."""
    started = time.monotonic()
    engine = sa.create_engine(database_url)

    def caught_up() -> bool:
        counts = stands.provider_counts()
        if counts["sends"] < expected_sends or counts["pending"]:
            return False
        with engine.connect() as conn:
            behind = conn.execute(
                sa.text(
                    "SELECT count(*) FROM sends WHERE dirty OR state IN ('confirmed','sending')"
                )
            ).scalar()
        return behind == 0

    try:
        c.wait_until(caught_up, timeout, "every send and thread caught up", interval=0.2)
    except AssertionError:
        return None
    finally:
        engine.dispose()
    return time.monotonic() - started


def summary_row(
    label: str, number: str, latencies: Sequence[float], cpu: str = "-", busy: str = "-"
) -> list[object]:
    late = sum(1 for x in latencies if x > GOAL_MAX_SECONDS)
    return [number, label, len(latencies), *_load.spread_ms(latencies), late, cpu, busy]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=50, help="simulated Slack users (50)")
    parser.add_argument("--rounds", type=int, default=3, help="rounds per app (3)")
    parser.add_argument("--iterations", type=int, default=3, help="sends per client per round")
    parser.add_argument(
        "--period", type=float, default=1.5, help="seconds between a client's sends"
    )
    parser.add_argument("--latency", type=float, default=2.0, help="provider answer delay (2 s)")
    _load.add_options(parser, both_databases=False)
    parser.add_argument(
        "--bare-sync",
        action="store_true",
        help="run the bare app's listeners on the request thread (process_before_response=True)",
    )
    args = parser.parse_args(argv)

    c.header(
        "ack: acknowledgement latency, whatsapp-bot serve vs a bare Bolt app",
        f"{args.clients} clients, {args.rounds} rounds per app × {args.iterations} iterations "
        f"(slash command + Send click every {args.period} s per client), provider latency "
        f"{args.latency} s, gunicorn {args.workers} workers × {args.threads} threads",
    )
    with _load.running(
        "bench-ack-",
        _load.emptied(args.database_url),
        args,
        bare="bolt-sync" if args.bare_sync else "bolt",
        app_name="bot",
        latency=args.latency,
    ) as rig:
        try:
            return run(args, rig)
        finally:
            _load.print_errors(rig.app.error_lines())


def run(args: argparse.Namespace, rig: _load.Running) -> int:
    app, bare, stands, urls = rig.app, rig.bare, rig.stands, rig.urls
    database_url = rig.database_url
    warm = [
        run_round(
            server,
            stands,
            urls,
            real=real,
            number=0,
            clients=4,
            iterations=1,
            period=0.5,
            first_user=9000,
        )
        for server, real in ((app, True), (bare, False))
    ]
    expected = warm[0].clicks_sent
    drain(stands, database_url, expected)

    rounds: list[Round] = []
    for number in range(1, args.rounds + 1):
        order = [(app, True), (bare, False)] if number % 2 else [(bare, False), (app, True)]
        for server, real in order:
            with c.profiled(server.worker_pids() if real else [], args.profile, f"ack{number}"):
                result = run_round(
                    server,
                    stands,
                    urls,
                    real=real,
                    number=number,
                    clients=args.clients,
                    iterations=args.iterations,
                    period=args.period,
                    first_user=number * 1000 if real else 5000 + number * 1000,
                )
                if real:
                    expected += result.clicks_sent
                    result.drain = drain(stands, database_url, expected)
            rounds.append(result)

    rows = []
    for result in rounds:
        rows.append(
            summary_row(
                result.target,
                str(result.number),
                result.all,
                f"{result.cpu:.2f}",
                f"{result.busy * 100:.0f}%",
            )
        )
    by_target: dict[str, list[float]] = {"bot": [], "bare": []}
    cpu: dict[str, float] = {"bot": 0.0, "bare": 0.0}
    for result in rounds:
        by_target[result.target] += result.all
        cpu[result.target] += result.cpu
    for target in ("bot", "bare"):
        rows.append(summary_row(target, "all", by_target[target], f"{cpu[target]:.2f}"))
    for kind in ("slash", "click"):
        for target in ("bot", "bare"):
            values = [x for r in rounds if r.target == target for x in r.latencies[kind]]
            rows.append(summary_row(target, kind, values))
    print()
    titles = ["round", "app", "acks", "p50 ms", "p99 ms", "max ms", "> 1 s", "server CPU s"]
    print(c.table([*titles, "machine busy"], rows))
    print()
    drains = [r.drain for r in rounds if r.target == "bot"]
    shown = ", ".join("never" if d is None else f"{d:.1f} s" for d in drains)
    print(f"   the app's background work caught up after each round in: {shown}")
    counts = stands.provider_counts()
    print(
        f"   provider: {counts['sends']} sends for {expected} clicks; "
        f"{counts['callbacks']} status callbacks, {counts['callbacks_failed']} not answered 2xx"
    )
    failures = [f for r in rounds for f in r.failures]
    if failures:
        print(f"   {len(failures)} failed request(s); first: {failures[0]}")
    # p99 of the app against the bare app's: each round beside the bare app's of the same
    # number (run one after the other), then all rounds pooled
    pairs = [
        (
            f"round {number}",
            [x for r in rounds if (r.number, r.target) == (number, "bot") for x in r.all],
            [x for r in rounds if (r.number, r.target) == (number, "bare") for x in r.all],
        )
        for number in range(1, args.rounds + 1)
    ]
    pairs.append(("pooled", by_target["bot"], by_target["bare"]))
    ratios, met = [], True
    for label, app_acks, bare_acks in pairs:
        p99_app, p99_bare = c.percentile(app_acks, 99), c.percentile(bare_acks, 99)
        ratio = p99_app / p99_bare if p99_bare else float("inf")
        met = met and ratio <= GOAL_RATIO
        ratios.append(f"{label} {p99_app * 1000:.1f}/{p99_bare * 1000:.1f} ms = {ratio:.2f}")
    print(
        f"   p99 app/bare: {', '.join(ratios)} (goal ≤ {GOAL_RATIO} in every round and "
        f"pooled): {c.verdict(met)}"
    )
    slowest = max(by_target["bot"], default=0.0)
    print(
        f"   slowest app ack: {slowest * 1000:.0f} ms (goal: none over 1 s): "
        f"{c.verdict(slowest <= GOAL_MAX_SECONDS)}"
    )
    ok = counts["sends"] == expected and not failures and None not in drains
    if not ok:
        print("   WARNING: not every click was sent once, or a round did not catch up")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
