"""Migrations: how long `Store.migrate` takes on an empty database, on a database made by
0.1.0 with many rows (recognised, marked at the first revision, upgraded), and on one that is
already current (what every later start pays), on SQLite and PostgreSQL.

Each figure is one cold run in this process, as `serve` does it once per start: the
migrations read from the package, the lock taken, the transaction committed. The 0.1.0
database holds `--sends` sends with three statuses and three callbacks each, and one kept
100 kB file per hundred sends; every row is counted again after the upgrade.

    .venv/bin/python bench/migrate.py [--sends 20000] [--database-url URL]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

import _common as c
import sqlalchemy as sa

SECRET = "bench-link-secret-0123456789abcdef"


def fill(url: str, sends: int) -> int:
    """A 0.1.0 database with the fixture's rows and `sends` more; its row count."""
    from tests.fixtures import schema_0_1_0 as old

    old.create(url, link_secret=SECRET)
    now = datetime.now(UTC)
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        files = max(1, sends // 100)
        blob = bytes(range(256)) * 400
        conn.execute(
            old.media.insert(),
            [
                {
                    "id": f"bench{number:027d}",
                    "created_at": now,
                    "expires_at": now + timedelta(days=1),
                    "content_type": "image/png",
                    "size": len(blob),
                    "sha256": "0" * 64,
                    "data": blob,
                }
                for number in range(files)
            ],
        )
        for start in range(0, sends, 5000):
            numbers = range(start + 100, min(sends, start + 5000) + 100)
            rows = [
                old._send(
                    number,
                    now,
                    SECRET,
                    **old._delivered(number, "READ", 50, now),
                    media_id=f"bench{number % files:027d}",
                )
                for number in numbers
            ]
            conn.execute(old.sends.insert(), rows)
            for status in ("SENT", "DELIVERED", "READ"):
                conn.execute(
                    old.statuses.insert(),
                    [{"send_id": row["id"], "status": status, "received_at": now} for row in rows],
                )
                conn.execute(
                    old.callbacks.insert(),
                    [
                        {"send_id": row["id"], "received_at": now, "status": status, "body": "{}"}
                        for row in rows
                    ],
                )
    engine.dispose()
    return count(url)


def count(url: str) -> int:
    from tests.fixtures import schema_0_1_0 as old

    engine = sa.create_engine(url)
    with engine.connect() as conn:
        total = sum(
            conn.execute(sa.select(sa.func.count()).select_from(table)).scalar_one()
            for table in old.metadata.sorted_tables
        )
    engine.dispose()
    return total


def timed_migrate(url: str) -> tuple[float, str]:
    from bot.store import Store

    store = Store.from_url(url, pool_size=1)
    try:
        started = time.perf_counter()
        said = store.migrate().describe()
        return (time.perf_counter() - started) * 1000, said
    finally:
        store.close()


def run(backend: str, new_url: Callable[[], str], sends: int) -> list[list[object]]:
    rows: list[list[object]] = []
    empty = new_url()
    ms, said = timed_migrate(empty)
    rows.append([backend, "empty", 0, ms, said.split(":")[0]])
    ms, said = timed_migrate(empty)
    rows.append([backend, "already current", 0, ms, said.split(":")[0]])
    made = new_url()
    before = fill(made, sends)
    ms, said = timed_migrate(made)
    after = count(made)
    rows.append([backend, "0.1.0", before, ms, said.split(";")[0]])
    assert after == before, (before, after)
    return rows


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sends", type=int, default=20_000, help="sends in the 0.1.0 database")
    parser.add_argument("--database-url", help=f"PostgreSQL (default ${c.PG_ENV} or the bench db)")
    args = parser.parse_args(argv)
    c.header("migrate: empty, already current, and a 0.1.0 database", f"{args.sends} sends")

    with tempfile.TemporaryDirectory() as folder:
        numbers = iter(range(100))
        rows = run(
            "sqlite", lambda: f"sqlite:///{Path(folder) / f'{next(numbers)}.sqlite3'}", args.sends
        )
    url, why = c.postgres_url(args.database_url)
    if url is None:
        print(f"   PostgreSQL skipped: {why}")
    else:
        rows += run("postgresql", lambda: _fresh_postgres(url), args.sends)
        c.reset_database(url)
    print()
    print(c.table(["backend", "database", "rows", "migrate ms", "said"], rows))
    return 0


def _fresh_postgres(url: str) -> str:
    """The bench database, emptied (tables and revision dropped)."""
    c.reset_database(url)
    return url


if __name__ == "__main__":
    raise SystemExit(main())
