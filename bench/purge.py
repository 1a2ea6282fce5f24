"""Status callbacks per second while retention purges 100,000 rows, on SQLite and PostgreSQL.

The app (`whatsapp-bot serve`) runs between the stand-ins as in `bench/callbacks.py`, whose
`prepare` makes its sends (drafted, delivered, shown in Slack by the app's own code) in three
equal sets. `--rows` old rows are then written straight into the database: half sends (texts,
and images with captions), half customers' messages (every tenth with an attachment), all 60
days old. Three phases post callbacks, each send's statuses in order, from `--concurrency`
provider-like clients, each request on a fresh connection:

1. *before*: the first set's callbacks, with nothing else going on;
2. *during*: the second set's, while another process runs the app's own retention
   (`Retention.purge` with `retention.content_days: 30`, its default pause between batches)
   over the same database, as the maintenance of another instance would; only the callbacks
   answered between the purge's first and last batch count;
3. *after*: the third set's, once the purge is done.

Printed: the purge's rows, seconds, rows per second and its longest batch (how long it held
the writers at once); callbacks per second and p50/p99 in each phase; the share of the purge
the posting covered. Checked: every callback answered 2xx and is a row of `callbacks`; every
old row's content removed, none of the sends the app made. Goal: callbacks per second during
the purge ≥ 80% of the mean of the rates before and after it, the same run (the absolute rate
is the machine's: see `bench/callbacks.py` for its goal).

    .venv/bin/python bench/purge.py [--rows 100000] [--sends 1500] [--concurrency 16]
        [--workers 2] [--threads 32] [--pg-url URL] [--no-postgres] [--no-sqlite]

PostgreSQL as in `bench/callbacks.py` (its app tables are dropped first).
"""

from __future__ import annotations

import argparse
import json
import secrets
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import _common as c
import _load
import callbacks as cb
import sqlalchemy as sa
import yaml

CONTENT_DAYS = 30
GOAL_RATIO = 0.8


@dataclass
class Phase:
    """Callbacks posted: when each answer came (epoch s) and how long it took."""

    load: _load.Load = field(default_factory=_load.Load)
    answered: list[tuple[float, float]] = field(default_factory=list)
    started: float = 0.0
    ended: float = 0.0

    def window(self, start: float, end: float) -> tuple[int, float, list[float]]:
        """The callbacks answered between `start` and `end`, and the seconds they span."""
        inside = [(at, took) for at, took in self.answered if start <= at <= end]
        span = min(end, self.ended) - max(start, self.started)
        return len(inside), max(span, 1e-9), [took for _, took in inside]

    @property
    def rate(self) -> float:
        seconds = self.ended - self.started
        return len(self.answered) / seconds if seconds else 0.0

    def p99(self, latencies: Sequence[float] | None = None) -> float:
        values = [took for _, took in self.answered] if latencies is None else latencies
        return c.percentile([x * 1000 for x in values], 99)


def post(rig: _load.Running, planned: Sequence[cb.Planned], concurrency: int) -> Phase:
    """Every planned send's bodies, in order per send, sends spread over the clients."""
    phase = Phase()
    lock = threading.Lock()

    def handle(item: cb.Planned) -> None:
        for body in item.bodies:
            try:
                status, answer, seconds = c.http_request("POST", item.url, body)
            except OSError as exc:
                with lock:
                    phase.load.failures.append(f"{type(exc).__name__}: {exc}")
                continue
            with lock:
                phase.answered.append((time.time(), seconds))
                phase.load.latencies.append(seconds)
                if not 200 <= status < 300:
                    phase.load.failures.append(f"HTTP {status}: {answer[:100]!r}")

    phase.started = time.time()
    _load.run_clients(phase.load, planned, handle, concurrency, rig.app.pids(), rig.stands.pid())
    phase.ended = time.time()
    return phase


def fill_old_rows(database_url: str, rows: int) -> datetime:
    """`rows` rows 60 days old, half sends and half customers' messages; the cutoff."""
    from bot.store import conversations, inbound_messages, sends

    old = datetime.now(UTC) - timedelta(days=2 * CONTENT_DAYS)
    engine = sa.create_engine(database_url)
    half = rows // 2
    customers = [f"+5730{n:08d}" for n in range(1000)]
    with engine.begin() as conn:
        conn.execute(
            conversations.insert(),
            [
                {
                    "id": f"c{n:031d}",
                    "created_at": old,
                    "updated_at": old,
                    "sender_alias": "sales",
                    "customer": customer,
                }
                for n, customer in enumerate(customers)
            ],
        )
    for start in range(0, half, 5000):
        batch = range(start, min(half, start + 5000))
        with engine.begin() as conn:
            conn.execute(
                sends.insert(),
                [
                    {
                        "id": f"o{n:031d}",
                        "created_at": old + timedelta(seconds=n),
                        "updated_at": old + timedelta(seconds=n),
                        "source": "slash",
                        "sender_alias": "sales",
                        "sender_number": "15550002222",
                        "recipient": customers[n % len(customers)],
                        "kind": "text" if n % 2 else "image",
                        "body": "Your order 4711 leaves today"
                        if n % 2
                        else "https://files.example/p.jpg",
                        "caption": None if n % 2 else f"Parcel {n} for you",
                        "external_id": secrets.token_hex(16),
                        "callback_token": secrets.token_urlsafe(24),
                        "transaction_id": f"old-{n}",
                        "state": "sent",
                        "provider_status": "READ",
                    }
                    for n in batch
                ],
            )
            attachment = json.dumps(
                [{"url": "https://provider.example/m/1", "file_name": "a.jpg", "caption": "me"}]
            )
            conn.execute(
                inbound_messages.insert(),
                [
                    {
                        "id": f"i{n:031d}",
                        "received_at": old + timedelta(seconds=n),
                        "conversation_id": f"c{n % len(customers):031d}",
                        "sender_alias": "sales",
                        "customer": customers[n % len(customers)],
                        "dedup_key": f"id:wamid.{n}",
                        "shape": "json",
                        "kind": "image" if n % 10 == 0 else "text",
                        "text": f"Hello, this is message {n}, my address is Calle {n}",
                        "attachments": attachment if n % 10 == 0 else "[]",
                        "raw": json.dumps({"id": f"wamid.{n}", "text": "Hello"}),
                    }
                    for n in batch
                ],
            )
    engine.dispose()
    return datetime.now(UTC) - timedelta(days=CONTENT_DAYS)


def left_to_purge(database_url: str, cutoff: datetime) -> tuple[int, int]:
    """(old rows whose content is still there, young sends whose content was removed)."""
    from bot.store import inbound_messages, sends

    engine = sa.create_engine(database_url)
    with engine.connect() as conn:
        old = sum(
            int(conn.execute(statement).scalar() or 0)
            for statement in (
                sa.select(sa.func.count())
                .select_from(sends)
                .where(sends.c.created_at < cutoff, sends.c.content_removed_at.is_(None)),
                sa.select(sa.func.count())
                .select_from(inbound_messages)
                .where(
                    inbound_messages.c.received_at < cutoff,
                    inbound_messages.c.content_removed_at.is_(None),
                ),
            )
        )
        young = int(
            conn.execute(
                sa.select(sa.func.count())
                .select_from(sends)
                .where(sends.c.created_at >= cutoff, sends.c.content_removed_at.is_not(None))
            ).scalar()
            or 0
        )
    engine.dispose()
    return old, young


def run_purge(config_path: str) -> int:
    """In a process of its own: one round of the app's retention; its figures as JSON."""
    from bot.store import Store
    from bot.usecases.retention import Retention

    config = c.load_config(Path(config_path))
    store = Store.from_url(config.database_url)
    print(json.dumps({"ready": True}), flush=True)
    sys.stdin.readline()  # go
    started = time.time()
    done = Retention(config=config, store=store).purge()
    ended = time.time()
    store.close()
    figures = {
        "started": started,
        "ended": ended,
        "rows": done.total,
        "sends": done.sends,
        "inbound_messages": done.inbound_messages,
        "batches": done.batches,
        "longest_batch": done.longest_batch,
    }
    print(json.dumps(figures), flush=True)
    return 0


def run_backend(name: str, database_url: str | None, args: argparse.Namespace) -> list[object]:
    """One database's run (None: SQLite); its row of the table."""
    with _load.running("bench-purge-", database_url, args, auto_callbacks=False) as rig:
        purge_config = rig.config.with_name("purge.yaml")
        data = yaml.safe_load(rig.config.read_text())
        data["retention"] = {"content_days": CONTENT_DAYS}
        purge_config.write_text(yaml.safe_dump(data))
        began = time.monotonic()
        planned = cb.prepare(rig.config, rig.database_url, rig.urls["coffee"], 3 * args.sends)
        cutoff = fill_old_rows(rig.database_url, args.rows)
        print(
            f"   {name}: {len(planned)} sends made and shown, {args.rows} old rows written "
            f"in {time.monotonic() - began:.1f} s",
            flush=True,
        )
        sets = [planned[i * args.sends : (i + 1) * args.sends] for i in range(3)]
        before = post(rig, sets[0], args.concurrency)
        purge = subprocess.Popen(
            [sys.executable, str(Path(__file__).resolve()), "run-purge", str(purge_config)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert purge.stdin is not None and purge.stdout is not None
        json.loads(purge.stdout.readline())  # ready: its imports and connections made
        purge.stdin.write("go\n")
        purge.stdin.flush()
        during = post(rig, sets[1], args.concurrency)
        figures = json.loads(purge.stdout.readline())
        purge.wait(60)
        after = post(rig, sets[2], args.concurrency)
        old_left, young_removed = left_to_purge(rig.database_url, cutoff)
        engine = sa.create_engine(rig.database_url)
        with engine.connect() as conn:
            stored = int(conn.execute(sa.text("SELECT count(*) FROM callbacks")).scalar() or 0)
        engine.dispose()
        errors = rig.app.error_lines()
    return report(name, figures, (before, during, after), stored, (old_left, young_removed), errors)


def report(
    name: str,
    figures: dict[str, Any],
    phases: tuple[Phase, Phase, Phase],
    stored: int,
    left: tuple[int, int],
    errors: list[str],
) -> list[object]:
    before, during, after = phases
    posted = sum(len(p.answered) for p in phases)
    failures = [f for p in phases for f in p.load.failures]
    count, span, latencies = during.window(figures["started"], figures["ended"])
    purge_seconds = figures["ended"] - figures["started"]
    covered = min(during.ended, figures["ended"]) - max(during.started, figures["started"])
    rate = count / span
    print(
        f"   {name}: purge of {figures['rows']} rows ({figures['sends']} sends, "
        f"{figures['inbound_messages']} customer messages) in {purge_seconds:.1f} s, "
        f"{figures['rows'] / purge_seconds:.0f} rows/s, {figures['batches']} batches, the "
        f"longest {figures['longest_batch'] * 1000:.0f} ms; old rows left with content: "
        f"{left[0]}, young sends changed: {left[1]}: {c.verdict(left == (0, 0))}"
    )
    print(
        f"   {name}: {stored} rows in `callbacks` for {posted} callbacks posted "
        f"({len(failures)} not answered 2xx): {c.verdict(stored == posted and not failures)}"
    )
    if failures:
        print(f"      first failure: {failures[0]}")
    print(
        f"   {name}: the posting covered {100 * max(0.0, covered) / purge_seconds:.0f}% of the "
        f"purge ({count} callbacks answered while it ran)"
    )
    for phase, what in zip(phases, ("before", "during", "after"), strict=True):
        print(f"   {name}: CPU ms per callback {what}: {_load.cpu_split(phase.load)}")
    _load.print_errors(errors, name)
    baseline = (before.rate + after.rate) / 2
    ratio = rate / baseline if baseline else 0.0
    print(
        f"   {name}: {rate:.0f} callbacks/s during the purge, {ratio:.2f} × the "
        f"{baseline:.0f} of before ({before.rate:.0f}) and after ({after.rate:.0f}) it "
        f"(goal ≥ {GOAL_RATIO:.2f} ×): {c.verdict(ratio >= GOAL_RATIO)}"
    )
    return [
        name,
        figures["rows"],
        purge_seconds,
        figures["rows"] / purge_seconds,
        figures["longest_batch"] * 1000,
        before.rate,
        rate,
        after.rate,
        before.p99(),
        during.p99(latencies),
        after.p99(),
    ]


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["run-purge"]:
        return run_purge(argv[1])
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=100_000, help="old rows to purge (100000)")
    parser.add_argument(
        "--sends", type=int, default=1500, help="sends called back per phase (1500)"
    )
    parser.add_argument("--concurrency", type=int, default=16, help="callback clients (16)")
    _load.add_options(parser, both_databases=True, profile=False)
    args = parser.parse_args(argv)

    c.header(
        "purge: status callbacks while retention purges old rows",
        f"{args.rows} old rows, {args.sends} sends called back per phase, "
        f"{args.concurrency} concurrent provider clients, gunicorn {args.workers} workers × "
        f"{args.threads} threads",
    )
    rows = [run_backend(name, url, args) for name, url in _load.backends(args)]
    print()
    titles = ["database", "rows purged", "purge s", "rows/s", "longest batch ms"]
    titles += ["cb/s before", "cb/s during", "cb/s after", "p99 before", "p99 during"]
    print(c.table([*titles, "p99 after"], rows))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
