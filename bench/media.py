"""Media: checking a 5 MB MP4, serving `/media/<token>` links, and each worker's peak memory.

1. `bot.media.checks.inspect_media` on an MP4 (H.264 + AAC) one byte under the 5 MB limit,
   with the `moov` box first and last, timed in this process (median and slowest of many).
2. Files kept by the app's own `MediaService` in the server's database (a 100 kB PNG and the
   5 MB MP4), each fetched over and over by `--concurrency` clients through a running
   `whatsapp-bot serve` (GET, fresh connection each, as the provider fetches), for
   `--seconds` each: links served per second, MB/s, latency; every answer's status and
   length checked, and the bytes of one answer per client.
3. Peak RSS (VmHWM in /proc/<pid>/status) of each gunicorn worker after each of those.

    .venv/bin/python bench/media.py [--concurrency 16] [--seconds 5] [--workers 2]
        [--threads 32] [--database-url URL]
"""

from __future__ import annotations

import argparse
import hashlib
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import _common as c
import _load

GOAL_CHECK_MS = 20.0
GOAL_RSS_MB = 120.0


def files() -> dict[str, bytes]:
    from bot.media.checks import MAX_MEDIA_BYTES
    from tests.media import builders

    size = MAX_MEDIA_BYTES - 1  # the largest the provider takes: "5 MB"
    return {
        "mp4 moov first": builders.mp4(total_size=size),
        "mp4 moov last": builders.mp4(total_size=size, moov_first=False),
        "png 100 kB": builders.noise_png(100_000),
    }


def time_checks(samples: dict[str, bytes], runs: int) -> list[list[object]]:
    from bot.media.checks import inspect_media

    rows: list[list[object]] = []
    for name, data in samples.items():
        inspect_media(data)  # warm up
        timings = []
        for _ in range(runs):
            started = time.perf_counter()
            info = inspect_media(data)
            timings.append((time.perf_counter() - started) * 1000)
        median = c.percentile(timings, 50)
        rows.append(
            [
                name,
                f"{len(data) / 1_000_000:.2f} MB",
                info.format_name,
                median,
                max(timings),
                c.verdict(median < GOAL_CHECK_MS) if name.startswith("mp4") else "-",
            ]
        )
    return rows


@dataclass
class Fetches:
    latencies: list[float] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    seconds: float = 0.0
    size: int = 0


def fetch_for(url: str, data: bytes, concurrency: int, seconds: float) -> Fetches:
    result = Fetches(size=len(data))
    digest = hashlib.sha256(data).hexdigest()
    lock = threading.Lock()
    stop = time.monotonic() + seconds

    def client() -> None:
        checked = False
        while time.monotonic() < stop:
            try:
                status, body, elapsed = c.http_request("GET", url)
            except OSError as exc:
                with lock:
                    result.failures.append(f"{type(exc).__name__}: {exc}")
                continue
            problem = None
            if status != 200 or len(body) != len(data):
                problem = f"HTTP {status}, {len(body)} bytes"
            elif not checked:
                checked = True
                if hashlib.sha256(body).hexdigest() != digest:
                    problem = "the bytes differ from the file kept"
            with lock:
                result.latencies.append(elapsed)
                if problem:
                    result.failures.append(problem)

    result.seconds = _load.in_threads([client] * concurrency)
    return result


def keep(config_path: Path, data: bytes, name: str) -> str:
    """Keep `data` as a Slack file would be, with the app's MediaService; its link."""
    from bot.media.checks import inspect_media
    from bot.store import Store
    from bot.usecases.media import MediaService

    config = c.load_config(config_path)
    store = Store.from_url(config.database_url)
    store.migrate()
    try:
        media = MediaService(config=config, store=store)
        record = media.keep(data, inspect_media(data), file_name=name, slack_file_id=None)
        return media.link(record.id)
    finally:
        store.close()


def rss_mb(pids: Sequence[int], field_name: str = "VmHWM") -> list[float]:
    return [c.proc_status_kb(pid, field_name) / 1024 for pid in pids]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--concurrency", type=int, default=16, help="fetching clients (16)")
    parser.add_argument("--seconds", type=float, default=5, help="fetching time per file (5)")
    parser.add_argument("--runs", type=int, default=30, help="timed checks per file (30)")
    _load.add_options(parser, both_databases=False, profile=False)
    args = parser.parse_args(argv)

    c.header(
        "media: checks, /media/<token> links served, worker memory",
        f"{args.concurrency} fetching clients for {args.seconds:g} s per file, gunicorn "
        f"{args.workers} workers × {args.threads} threads",
    )
    samples = files()
    checked = time_checks(samples, args.runs)
    print()
    print(
        c.table(
            ["inspect_media", "size", "found", "median ms", "max ms", f"< {GOAL_CHECK_MS:g} ms"],
            checked,
        )
    )
    medians = [float(row[3]) for row in checked if str(row[0]).startswith("mp4")]  # type: ignore[arg-type]
    print(
        f"   inspect_media of the 5 MB MP4s: medians {', '.join(f'{m:.3g}' for m in medians)} ms "
        f"(goal < {GOAL_CHECK_MS:g} ms): {c.verdict(max(medians) < GOAL_CHECK_MS)}"
    )

    served: list[list[object]] = []
    memory: list[list[object]] = []
    with _load.running("bench-media-", _load.emptied(args.database_url), args) as rig:
        workers = rig.app.worker_pids()
        links = {
            "png 100 kB": keep(rig.config, samples["png 100 kB"], "parcel.png"),
            "mp4 5 MB": keep(rig.config, samples["mp4 moov first"], "clip.mp4"),
        }
        c.http_request("GET", links["png 100 kB"])  # each worker's first request
        memory.append(["after start", *rss_mb(workers)])
        for name, url in links.items():
            data = samples["png 100 kB" if name.startswith("png") else "mp4 moov first"]
            fetched = fetch_for(url, data, args.concurrency, args.seconds)
            count = len(fetched.latencies)
            p50, p99, _ = _load.spread_ms(fetched.latencies)
            served.append(
                [
                    name,
                    count,
                    count / fetched.seconds,
                    count * fetched.size / fetched.seconds / 1_000_000,
                    p50,
                    p99,
                    len(fetched.failures),
                ]
            )
            if fetched.failures:
                print(f"   {name}: first failure: {fetched.failures[0]}")
            memory.append([f"after {name}", *rss_mb(workers)])
        memory.append(["RSS now", *rss_mb(workers, "VmRSS")])
        errors = rig.app.error_lines()
    print()
    print(
        c.table(
            ["/media/<token>", "GETs", "per s", "MB/s", "p50 ms", "p99 ms", "failed"],
            served,
        )
    )
    print()
    print(c.table(["peak RSS MB", *[f"worker {i + 1}" for i in range(len(workers))]], memory))
    peak = max((float(x) for row in memory[:-1] for x in row[1:]), default=0.0)  # type: ignore[arg-type]
    print()
    print(
        f"   highest worker peak RSS: {peak:.0f} MB (goal < {GOAL_RSS_MB:.0f} MB): "
        f"{c.verdict(peak < GOAL_RSS_MB)}"
    )
    _load.print_errors(errors)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
