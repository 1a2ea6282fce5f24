"""`whatsapp-bot export` of a million sends, on SQLite and on PostgreSQL: rows per second and
the command's peak memory, beside a bare writer of the same sends.

The database is filled in bulk before the clock starts (SQLAlchemy Core `executemany` on
SQLite, `COPY` on PostgreSQL, then `ANALYZE`): `--sends` sends 25 ms apart, each with two or
three statuses (SENT, DELIVERED, every other one READ; one in ten FAILED with a reason), one in
five a text, one in fifty a draft or a cancelled draft (not exported); `--messages` customer
messages spread over the same hours from `--customers` customers, one conversation each.

Then `python -m bot export --output FILE` runs in a subprocess, `--runs` times per format
(the run of median time is shown, and the fastest's rate beside it): the time
from its start to its exit (interpreter start, import, connection, query, writing, rename),
rows per second, and its peak RSS (`ru_maxrss` of that child, from `wait4`). Every file is
checked: as many records as exported sends and messages, in time order. Beside it, in the same
run: `bare`, a subprocess that runs the export's query of sends (the same columns, statuses,
filter and order; no customer messages) on a plain DBAPI cursor (a server-side one on
PostgreSQL) and writes each row as it is with `csv.writer`; and `count`, a `SELECT count(*)`
of those sends.

Goal: ≥ 50,000 rows/s and peak RSS < 150 MB for 1,000,000 sends, on both databases.

    .venv/bin/python bench/export.py [--sends 1000000] [--messages 100000] [--customers 10000]
        [--formats csv,jsonl] [--runs 3] [--pg-url URL] [--no-postgres] [--no-sqlite]

PostgreSQL: --pg-url, else
postgresql+psycopg://postgres@127.0.0.1:5432/whatsapp_bot_bench_export (created when
missing; its tables are dropped first). Skipped with a message when unreachable.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import _common as c
import sqlalchemy as sa

GOAL_ROWS_PER_SECOND = 50_000
GOAL_RSS_MB = 150
DEFAULT_PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/whatsapp_bot_bench_export"
T0 = datetime(2026, 1, 5, 8, 0, tzinfo=UTC)
STEP = timedelta(milliseconds=25)
CHUNK = 20_000
CAPTION = 'Pedido #{n}: entregado en portería, "frágil", firmó Ana'
EXPORTED = ("confirmed", "sending", "sent", "failed", "unknown")

# ---------------------------------------------------------------------------- the rows


def customer(number: int) -> str:
    return f"+5730{number:08d}"


def send_row(n: int, customers: int) -> dict[str, Any]:
    at = T0 + n * STEP
    state = "sent"
    if n % 10 == 9:
        state = "failed"
    elif n % 50 == 7:
        state = "draft" if n % 100 == 7 else "cancelled"
    elif n % 50 == 13:
        state = "unknown"
    text = n % 5 == 4
    return {
        "id": f"{n:032x}",
        "created_at": at,
        "updated_at": at,
        "source": "slash",
        "team_id": "T0BENCH",
        "channel_id": "C0123SUPPORT",
        "user_id": f"U0BENCH{n % 40:03d}",
        "sender_alias": "support",
        "sender_number": "15550001111",
        "recipient": customer(n % customers),
        "kind": "text" if text else "image",
        "body": f"Hola, su pedido #{n} va en camino." if text else f"https://cdn.example/p/{n}.jpg",
        "caption": None if text else CAPTION.format(n=n),
        "external_id": f"ext{n:029d}",
        "callback_token": f"cb{n:030d}",
        "transaction_id": None if state in ("draft", "cancelled") else f"tx-{n:012d}",
        "state": state,
        "provider_status": {"failed": "FAILED", "sent": "READ" if n % 2 else "DELIVERED"}.get(
            state
        ),
        "error": "The number is not on WhatsApp" if state == "failed" else None,
    }


def status_rows(send: dict[str, Any]) -> list[dict[str, Any]]:
    if send["state"] in ("draft", "cancelled"):
        return []
    names = ["SENT", "FAILED"] if send["state"] == "failed" else ["SENT", "DELIVERED"]
    if send["provider_status"] == "READ":
        names.append("READ")
    return [
        {
            "send_id": send["id"],
            "status": name,
            "received_at": send["created_at"] + timedelta(seconds=1 + 2 * index),
            "detail": "The number is not on WhatsApp" if name == "FAILED" else None,
        }
        for index, name in enumerate(names)
    ]


def conversation_row(number: int) -> dict[str, Any]:
    return {
        "id": f"c{number:031d}",
        "created_at": T0,
        "updated_at": T0,
        "sender_alias": "support",
        "customer": customer(number),
        "customer_name": f"Cliente {number}",
    }


def message_row(number: int, messages: int, sends: int, customers: int) -> dict[str, Any]:
    who = number % customers
    return {
        "id": f"m{number:031d}",
        "received_at": T0 + (sends * STEP) * number / messages + timedelta(microseconds=7),
        "conversation_id": f"c{who:031d}",
        "sender_alias": "support",
        "customer": customer(who),
        "dedup_key": f"id:{number}",
        "shape": "json",
        "kind": "text",
        "text": f"¿Dónde está mi pedido #{number}? Gracias, saludos",
        "customer_name": f"Cliente {who}",
        "attachments": "[]",
        "raw": "{}",
        "channel_id": "C0INBOX",
    }


def chunks(total: int) -> Iterator[range]:
    for start in range(0, total, CHUNK):
        yield range(start, min(total, start + CHUNK))


# ---------------------------------------------------------------------------- filling


def fill(url: str, sends: int, messages: int, customers: int) -> int:
    """The database at `url`, migrated and filled; how many sends are exported."""
    from bot.store import Store, conversations, inbound_messages, statuses
    from bot.store import sends as sends_table

    store = Store.from_url(url, pool_size=1)
    store.migrate()
    store.close()
    engine = sa.create_engine(url)
    exported = 0
    postgres = engine.dialect.name == "postgresql"
    with engine.begin() as conn:
        insert = _copy if postgres else _executemany
        insert(conn, conversations, [conversation_row(n) for n in range(customers)])
        for numbers in chunks(sends):
            rows = [send_row(n, customers) for n in numbers]
            exported += sum(row["state"] in EXPORTED for row in rows)
            insert(conn, sends_table, rows)
            insert(conn, statuses, [status for row in rows for status in status_rows(row)])
        for numbers in chunks(messages):
            insert(
                conn,
                inbound_messages,
                [message_row(n, messages, sends, customers) for n in numbers],
            )
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.exec_driver_sql("VACUUM ANALYZE" if postgres else "ANALYZE")
    engine.dispose()
    return exported


def _executemany(conn: sa.Connection, table: sa.Table, rows: list[dict[str, Any]]) -> None:
    if rows:
        conn.execute(table.insert(), rows)


def _copy(conn: sa.Connection, table: sa.Table, rows: list[dict[str, Any]]) -> None:
    if not rows:
        return
    columns = list(rows[0])
    cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
    with cursor.copy(f"COPY {table.name} ({', '.join(columns)}) FROM STDIN") as copy:
        for row in rows:
            copy.write_row([row[column] for column in columns])


# ---------------------------------------------------------------------------- measuring


@dataclass
class Run:
    name: str
    rows: int
    seconds: float
    cpu: float = 0.0  # user + system seconds of the process that wrote the file
    rss_mb: float = 0.0
    output_mb: float = 0.0
    busy: float = 0.0  # share of the machine's CPU busy meanwhile (all cores, anyone's)

    @property
    def rate(self) -> float:
        return self.rows / self.seconds if self.seconds else 0.0


# Starts the command from a small process of its own, so that the command's `ru_maxrss` is
# its own: a child's counts what it had before `exec` too, i.e. everything this benchmark
# holds when it forks (the launcher's few MB are the floor).
LAUNCHER = """
import os, sys
pid = os.fork()
if pid == 0:
    os.execv(sys.argv[2], sys.argv[2:])
_, status, usage = os.wait4(pid, 0)
with open(sys.argv[1], "w") as report:
    report.write(f"{usage.ru_maxrss} {usage.ru_utime + usage.ru_stime}")
sys.exit(os.waitstatus_to_exitcode(status))
"""


def timed(argv: list[str], env: dict[str, str]) -> Run:
    """The command run to its end: its seconds from start to exit, CPU and peak RSS."""
    with tempfile.TemporaryDirectory() as folder:
        report, errors = Path(folder) / "usage", Path(folder) / "stderr"
        with errors.open("wb") as stderr:
            before = c.machine_ticks()
            started = time.perf_counter()
            code = subprocess.call(
                [sys.executable, "-S", "-c", LAUNCHER, str(report), *argv],
                stdout=subprocess.DEVNULL,
                stderr=stderr,
                env=env,
            )
            seconds = time.perf_counter() - started
            busy = c.machine_busy(before, c.machine_ticks())
        if code != 0:
            said = errors.read_text(errors="replace").strip()
            raise RuntimeError(f"{argv[1:]} exited {code}: {said}")
        maxrss, cpu = report.read_text().split()
    return Run("", 0, seconds, float(cpu), int(maxrss) / 1024, 0.0, busy)


def export_run(config: Path, output: Path, fmt: str, expected: int) -> Run:
    argv = [sys.executable, "-m", "bot", "export", "--config", str(config)]
    argv += ["--format", fmt, "--output", str(output)]
    run = timed(argv, {**os.environ, **c.SECRETS})
    run.name, run.output_mb = f"export {fmt}", output.stat().st_size / 1e6
    run.rows = check(output, fmt)
    output.unlink()
    if run.rows != expected:
        raise RuntimeError(f"{fmt}: {run.rows} records written, {expected} expected")
    return run


def check(path: Path, fmt: str) -> int:
    """How many records the file holds; each no older than the one before it."""
    found, last = 0, ""
    with path.open(encoding="utf-8", newline="") as stream:
        if fmt == "csv":
            reader = csv.reader(stream)
            next(reader)
            times: Iterator[str] = (row[0] for row in reader)
        else:
            times = (json.loads(line)["time"] for line in stream)
        for at in times:
            if at < last:
                raise RuntimeError(f"{path.name}: record {found + 1} at {at} after {last}")
            found, last = found + 1, at
    return found


def bare_run(url: str, output: Path, expected: int) -> Run:
    run = timed([sys.executable, __file__, "bare", url, str(output)], dict(os.environ))
    run.name, run.output_mb = "bare: query + csv.writer", output.stat().st_size / 1e6
    with output.open(encoding="utf-8", newline="") as stream:
        run.rows = sum(1 for _ in csv.reader(stream)) - 1
    output.unlink()
    if run.rows != expected:
        raise RuntimeError(f"bare: {run.rows} rows written, {expected} expected")
    return run


def count_run(url: str) -> Run:
    engine = sa.create_engine(url)
    states = ", ".join(f"'{state}'" for state in EXPORTED)
    with engine.connect() as conn:
        started = time.perf_counter()
        found = conn.exec_driver_sql(
            f"SELECT count(*) FROM sends WHERE state IN ({states})"
        ).scalar_one()
        seconds = time.perf_counter() - started
    engine.dispose()
    return Run("SELECT count(*) (in process)", found, seconds)


def bare(url: str, output: str) -> int:
    """The floor: the same sends from a plain DBAPI cursor, written with csv.writer."""
    from bot.store.export_rows import _sends_statement

    engine = sa.create_engine(url)
    sends = _sends_statement(engine.dialect.name, "text")
    statement = str(sends.compile(engine, compile_kwargs={"literal_binds": True}))
    raw = engine.raw_connection()
    postgres = engine.dialect.name == "postgresql"
    cursor = raw.driver_connection.cursor("bare") if postgres else raw.cursor()  # type: ignore[union-attr]
    cursor.execute(statement)
    with open(output, "w", encoding="utf-8", newline="") as stream:
        writer = csv.writer(stream, lineterminator="\r\n")
        writer.writerow([column.name for column in sends.selected_columns])
        while rows := cursor.fetchmany(2000):
            writer.writerows(rows)
    raw.close()
    return 0


# ---------------------------------------------------------------------------- the run


def run_backend(name: str, url: str, args: argparse.Namespace) -> list[list[object]]:
    started = time.perf_counter()
    exported = fill(url, args.sends, args.messages, args.customers)
    print(
        f"   {name}: filled {args.sends:,} sends and {args.messages:,} customer messages in "
        f"{time.perf_counter() - started:.0f} s",
        flush=True,
    )
    rows = []
    with tempfile.TemporaryDirectory(prefix="bench-export-") as folder:
        config = c.write_config(
            Path(folder) / "config.yaml",
            urls={"slack_api": "http://127.0.0.1:9/api/", "provider": "http://127.0.0.1:9/"},
            public_base_url="https://bot.example.com",
            database_url=url,
        )
        runs = [[count_run(url)]]
        runs.append([bare_run(url, Path(folder) / "bare.csv", exported) for _ in range(args.runs)])
        for fmt in args.formats.split(","):
            output = Path(folder) / f"export.{fmt}"
            runs.append(
                [
                    export_run(config, output, fmt, exported + args.messages)
                    for _ in range(args.runs)
                ]
            )
            print(f"   {name}: {runs[-1][0].name} done", flush=True)
    for repeated in runs:
        rows.append([name, *_summary(repeated)])
    return rows


def _summary(runs: list[Run]) -> list[object]:
    """The run of median time (with the fastest's rate beside it) and the highest peak RSS."""
    ordered = sorted(runs, key=lambda run: run.seconds)
    run = ordered[(len(ordered) - 1) // 2]
    if not run.cpu:  # the count: no rows leave the database
        return [run.name, run.rows, run.seconds, "", "", "", "", "", ""]
    return [
        run.name,
        run.rows,
        run.seconds,
        run.rate,
        ordered[0].rate,
        run.rows / run.cpu,
        max(one.rss_mb for one in runs),
        run.output_mb,
        f"{run.busy:.0%}",
    ]


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["bare"]:
        return bare(argv[1], argv[2])
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sends", type=int, default=1_000_000, help="sends (1,000,000)")
    parser.add_argument("--messages", type=int, default=100_000, help="customer messages")
    parser.add_argument("--customers", type=int, default=10_000, help="customers (10,000)")
    parser.add_argument("--formats", default="csv,jsonl", help="csv,jsonl")
    parser.add_argument("--runs", type=int, default=3, help="runs of each (3): the median")
    parser.add_argument("--pg-url", help=f"PostgreSQL URL (default {DEFAULT_PG_URL})")
    parser.add_argument("--no-postgres", action="store_true")
    parser.add_argument("--no-sqlite", action="store_true")
    args = parser.parse_args(argv)
    c.header(
        "export: whatsapp-bot export in a subprocess, rows/s and peak RSS",
        f"{args.sends:,} sends (2–3 statuses each), {args.messages:,} customer messages",
    )
    rows: list[list[object]] = []
    if not args.no_sqlite:
        with tempfile.TemporaryDirectory(prefix="bench-export-db-") as folder:
            rows += run_backend("sqlite", f"sqlite:///{Path(folder) / 'bot.sqlite3'}", args)
    if not args.no_postgres:
        url, why = c.postgres_url(args.pg_url or DEFAULT_PG_URL)
        if url is None:
            print(f"   postgresql: skipped: {why}")
        else:
            rows += run_backend("postgresql", url, args)
            c.reset_database(url)
    print()
    titles = ["database", "what", "rows", "seconds", "rows/s", "fastest rows/s", "rows/CPU s"]
    print(c.table([*titles, "peak RSS MB", "file MB", "machine busy"], rows))
    print()
    for row in rows:
        if str(row[1]).startswith("export"):
            rate, rss = float(row[4]), float(row[7])  # type: ignore[arg-type]
            ok = rate >= GOAL_ROWS_PER_SECOND and rss < GOAL_RSS_MB
            print(
                f"   {row[0]} {row[1]}: {rate:,.0f} rows/s (median of {args.runs}; goal ≥ "
                f"{GOAL_ROWS_PER_SECOND:,}), peak RSS {rss:.0f} MB (goal < {GOAL_RSS_MB}): "
                f"{c.verdict(ok)}"
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
