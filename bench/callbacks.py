"""Provider status callbacks into one instance, on SQLite and on PostgreSQL.

Sends are made through the app's own code against the server's database (draft, confirm,
deliver to the stand-in provider, show in the stand-in Slack), before the clock starts. Then
`--concurrency` provider-like clients post every send's statuses over HTTP to the running
`whatsapp-bot serve`, each on a fresh connection as the provider does; a send's statuses go in
order, one after another, as fast as the server answers, so that a thread's edits must be
coalesced: QUEUE, SENT, DELIVERED, READ, then a late SENT and a duplicate READ (every tenth
send: QUEUE, FAILED with a reason, then a late SENT). The same bodies are then posted to a
bare route under the same gunicorn settings that only reads and parses the JSON (first, while
the app is idle).

Checked afterwards: every callback answered 2xx and is a row of the `callbacks` table; edits
(chat.update) of any one Slack message at least a second apart; every thread shows the right
final status, in the channel message and in its status reply.

Goals: callbacks/s at least half the bare route's in the same run; the p99 of the thread lag
(callback received → its thread shows it: the app's histogram whatsapp_thread_lag_seconds,
scraped from `/metrics` before the app's callbacks and once every thread shows its final
status) at most 1.5 s, read as the bound of the bucket it falls in.

    .venv/bin/python bench/callbacks.py [--sends 300] [--concurrency 16] [--workers 2]
        [--threads 32] [--pg-url URL] [--no-postgres] [--no-sqlite] [--profile DIR]

PostgreSQL: --pg-url, else $BENCH_DATABASE_URL, else
postgresql+psycopg://postgres@127.0.0.1:5432/whatsapp_bot_bench (created when missing; its
tables are dropped first). Skipped with a message when unreachable.
"""

from __future__ import annotations

import argparse
import itertools
import json
import re
import threading
import time
from collections import defaultdict
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import _common as c
import _load
import sqlalchemy as sa

COALESCE_SECONDS = 0.95  # edits of one message at least ~1 s apart (stand-in receive times)
PASS_SECONDS = 0.3  # edits of one thread this close together belong to one render pass
USER = "U0BENCHCB"


@dataclass(frozen=True)
class Planned:
    send_id: str
    transaction_id: str
    url: str
    bodies: tuple[bytes, ...]
    final: str


def plan_statuses(index: int) -> tuple[list[dict[str, str]], str]:
    if index % 10 == 9:
        failed = {"status": "FAILED", "reason": "The number is not on WhatsApp"}
        return [{"status": "QUEUE"}, failed, {"status": "SENT"}], "FAILED"
    steps = ["QUEUE", "SENT", "DELIVERED", "READ", "SENT", "READ"]
    return [{"status": s} for s in steps], "READ"


def prepare(config_path: Path, database_url: str, coffee_url: str, count: int) -> list[Planned]:
    """Drafts confirmed and delivered by the app's own code, shown in Slack, ready for
    callbacks."""
    from bot.app import build_services
    from bot.whatsapp.payloads import Message, MessageKind

    config = c.load_config(config_path)
    services = build_services(config, render_interval=0.0)
    sending = services.sending

    def one(index: int) -> Planned:
        sender = sending.resolve_sender(None, c.CHANNEL)
        message = Message(kind=MessageKind.IMAGE, to=c.RECIPIENT, body=coffee_url)
        draft = sending.create_draft(
            message, sender=sender, source="slash", channel_id=c.CHANNEL, user_id=USER
        )
        sending.confirm(draft.id)
        delivery = sending.deliver(draft.id)
        if delivery is None or delivery.result is None:
            raise RuntimeError(f"the stand-in provider did not take send {draft.id}")
        services.renderer.render(draft.id)
        send = delivery.send
        steps, final = plan_statuses(index)
        url = config.callback_url(send.callback_token)
        bodies = []
        for step in steps:
            body = {
                "callback": url,
                "date": datetime.now(UTC).isoformat(timespec="milliseconds"),
                "externalId": send.external_id,
                "campaignId": None,
                "from": send.sender_number,
                "to": send.recipient,
                "id": f"wamid.{send.id}",
                **step,
            }
            bodies.append(json.dumps(body).encode())
        return Planned(send.id, delivery.result.transaction_id, url, tuple(bodies), final)

    try:
        with ThreadPoolExecutor(max_workers=8) as pool:
            return list(pool.map(one, range(count)))
    finally:
        services.close()


def post_all(
    base_url: str | None,
    planned: Sequence[Planned],
    concurrency: int,
    pids: Sequence[int],
    stands_pid: int | None = None,
) -> _load.Load:
    """Post every send's bodies in order; sends spread over `concurrency` clients.
    With `base_url`, the callback URLs' path is posted to that server instead."""
    load = _load.Load()
    lock = threading.Lock()

    def post(item: Planned) -> None:
        url = item.url
        if base_url is not None:
            url = base_url + "/whatsapp/callbacks/" + url.rsplit("/", 1)[1]
        for body in item.bodies:
            try:
                status, answer, seconds = c.http_request("POST", url, body)
            except OSError as exc:
                with lock:
                    load.failures.append(f"{type(exc).__name__}: {exc}")
                continue
            with lock:
                load.latencies.append(seconds)
                if not 200 <= status < 300:
                    load.failures.append(f"HTTP {status}: {answer[:100]!r}")

    _load.run_clients(load, planned, post, concurrency, pids, stands_pid)
    return load


@dataclass
class Checks:
    stored: int = 0
    expected: int = 0
    edits: int = 0
    edited_messages: int = 0
    min_gap: float | None = None
    too_close: int = 0
    threads: int = 0
    min_pass_gap: float | None = None
    passes_too_close: int = 0
    wrong: list[str] = field(default_factory=list)
    settle: float | None = None


def check(stands: Any, database_url: str, planned: Sequence[Planned], posted: int) -> Checks:
    checks = Checks(expected=posted)
    by_txid = {p.transaction_id: p for p in planned}
    txid_pattern = re.compile("|".join(re.escape(t) for t in by_txid))

    def shown() -> list[str]:
        wrong = []
        seen = set()
        for thread in stands.threads(c.CHANNEL):
            found = None
            for reply in thread["replies"]:
                match = txid_pattern.search(reply)
                if match:
                    found = by_txid[match.group(0)]
                    break
            if found is None:
                continue
            seen.add(found.transaction_id)
            status_replies = [r for r in thread["replies"] if r.startswith("Status")]
            if found.final not in thread["text"]:
                wrong.append(f"{found.send_id}: channel message says {thread['text'][-40:]!r}")
            elif not status_replies or f"Status: {found.final}" not in status_replies[-1]:
                last = status_replies[-1] if status_replies else "no status reply"
                wrong.append(f"{found.send_id}: status reply says {last[:60]!r}")
        missing = [p.send_id for p in planned if p.transaction_id not in seen]
        return wrong + [f"{m}: no thread with its transactionId" for m in missing]

    started = time.monotonic()
    deadline = started + 60
    wrong = shown()
    while wrong and time.monotonic() < deadline:
        time.sleep(0.5)
        wrong = shown()
    checks.settle = None if wrong else time.monotonic() - started
    checks.wrong = wrong

    engine = sa.create_engine(database_url)
    with engine.connect() as conn:
        checks.stored = int(conn.execute(sa.text("SELECT count(*) FROM callbacks")).scalar() or 0)
    engine.dispose()

    times: dict[str, list[float]] = defaultdict(list)
    by_thread: dict[str, list[float]] = defaultdict(list)
    for call in stands.slack_calls("chat.update"):
        times[call["ts"]].append(call["time"])
        by_thread[call["root"]].append(call["time"])
    checks.edits = sum(len(v) for v in times.values())
    checks.edited_messages = len(times)
    gaps = [b - a for v in times.values() for a, b in itertools.pairwise(sorted(v))]
    checks.min_gap = min(gaps) if gaps else None
    checks.too_close = sum(1 for g in gaps if g < COALESCE_SECONDS)
    # A pass may edit the channel message and the status reply a moment apart: one pass.
    pass_gaps = []
    for moments in by_thread.values():
        starts: list[float] = []
        for moment in sorted(moments):
            if not starts or moment - starts[-1] > PASS_SECONDS:
                starts.append(moment)
        pass_gaps += [b - a for a, b in itertools.pairwise(starts)]
    checks.threads = len(by_thread)
    checks.min_pass_gap = min(pass_gaps) if pass_gaps else None
    checks.passes_too_close = sum(1 for g in pass_gaps if g < COALESCE_SECONDS)
    return checks


def run_backend(
    name: str, database_url: str | None, args: argparse.Namespace
) -> tuple[list[object], _load.Lag]:
    """One database's run (None: SQLite): its row of the table, and the thread lag."""
    with _load.running(
        "bench-callbacks-", database_url, args, bare="json", auto_callbacks=False
    ) as rig:
        began = time.monotonic()
        planned = prepare(rig.config, rig.database_url, rig.urls["coffee"], args.sends)
        print(
            f"   {name}: {len(planned)} sends drafted, delivered and shown in "
            f"{time.monotonic() - began:.1f} s; posting "
            f"{sum(len(p.bodies) for p in planned)} callbacks",
            flush=True,
        )
        bare_load = post_all(rig.bare.url, planned, args.concurrency, rig.bare.pids())
        before = _load.histograms(rig.app)
        with c.profiled(rig.app.worker_pids(), args.profile, f"callbacks-{name}"):
            load = post_all(None, planned, args.concurrency, rig.app.pids(), rig.stands.pid())
        checks = check(rig.stands, rig.database_url, planned, len(load.latencies))
        lag = _load.lag(before, _load.settled(rig.app), "whatsapp_thread_lag_seconds")
        errors = rig.app.error_lines()
    report(name, load, bare_load, checks, errors)
    row = [name, *_load.figures(load, bare_load), load.cpu_ms_each(), _load.percent(load.busy)]
    return row, lag


def report(
    name: str, load: _load.Load, bare: _load.Load, checks: Checks, errors: list[str]
) -> None:
    ok_stored = checks.stored == checks.expected and not load.failures
    print(
        f"   {name}: {checks.stored} rows in `callbacks` for {checks.expected} callbacks posted "
        f"({len(load.failures)} not answered 2xx): {c.verdict(ok_stored)}"
    )
    if load.failures:
        print(f"      first failure: {load.failures[0]}")
    gap = "n/a" if checks.min_gap is None else f"{checks.min_gap:.2f} s"
    print(
        f"   {name}: {checks.edits} chat.update calls on {checks.edited_messages} messages; "
        f"closest two edits of one message {gap} apart, {checks.too_close} pair(s) under "
        f"{COALESCE_SECONDS} s: {c.verdict(checks.too_close == 0)}"
    )
    gap = "n/a" if checks.min_pass_gap is None else f"{checks.min_pass_gap:.2f} s"
    print(
        f"   {name}: edit passes per thread (edits within {PASS_SECONDS} s count as one) on "
        f"{checks.threads} threads at least {gap} apart, {checks.passes_too_close} under "
        f"{COALESCE_SECONDS} s: {c.verdict(checks.passes_too_close == 0)}"
    )
    if checks.settle is None:
        print(f"   {name}: {len(checks.wrong)} thread(s) wrong after 60 s: MISSED")
        for line in checks.wrong[:5]:
            print(f"      {line}")
    else:
        print(
            f"   {name}: every thread shows its final status, {checks.settle:.1f} s after the "
            "last callback: MET"
        )
    _load.print_errors(errors, name)
    print(f"   {name}: CPU ms per callback: {_load.cpu_split(load)}")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sends", type=int, default=300, help="sends called back for (300)")
    parser.add_argument("--concurrency", type=int, default=16, help="callback clients (16)")
    _load.add_options(parser, both_databases=True)
    args = parser.parse_args(argv)

    c.header(
        "callbacks: provider status callbacks into one instance",
        f"{args.sends} sends, {args.concurrency} concurrent provider clients, gunicorn "
        f"{args.workers} workers × {args.threads} threads",
    )
    runs = [run_backend(name, url, args) for name, url in _load.backends(args)]
    rows = [row for row, _ in runs]
    print()
    titles = ["database", "callbacks", *_load.TITLES, "server CPU ms each", "machine busy"]
    print(c.table(titles, rows))
    print()
    _load.rate_goals(rows, "callbacks")
    for row, lag in runs:
        _load.lag_goal(str(row[0]), "callback received → its thread shows it", lag)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
