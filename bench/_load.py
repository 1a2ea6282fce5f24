"""What the load benchmarks share, beside `_common.py`: how they run the app, make requests
from client threads, measure the CPU time of each party and print their figures.

* :func:`running`: the stand-ins, `whatsapp-bot serve` on a database of its own and, when
  asked, a bare app under the same gunicorn settings, each waited for and stopped afterwards;
  :func:`launch` makes one such app.
* :func:`backends`: SQLite, then PostgreSQL (made ready by `_common.postgres_url`), as the
  command-line options of :func:`add_options` say.
* :class:`Load` and :func:`run_clients`: requests made by client threads (each taking the next
  item of work), timed, and where the machine's CPU went meanwhile (the app, the stand-ins,
  PostgreSQL, the load generator); :func:`spent`: the app's CPU time while a block runs.
* :func:`figures`, :func:`spread_ms`, :func:`cpu_split`: the figures printed;
  :func:`rate_goals`: each rate against the bare route's of the same run.
* :func:`histograms`, :func:`settled`, :func:`lag`, :func:`lag_goal`: the app's lag histograms
  read from its `/metrics` (every worker's counts added up), a phase's p99 from the difference
  of two scrapes, against GOAL_LAG_SECONDS.

A goal's or a check's line ends with `: MET` or `: MISSED` (`_common.verdict`), which is how
`bench/_run_all.py` (`make bench`) finds them for its summary.
"""

from __future__ import annotations

import argparse
import contextlib
import math
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import _common as c

T = TypeVar("T")

# Requests per second against the bare route's in the same run (absolute rates differ 2–3×
# between machines; their ratio much less): status callbacks' and customer messages' goal.
GOAL_RATE_RATIO = 0.5
# Seconds from a status callback (or a customer's message) received to its thread showing it:
# the goal for the p99 of whatsapp_thread_lag_seconds (and whatsapp_inbound_lag_seconds). A
# bound of bot.usecases.metrics.LAG_BUCKETS, so that the bucket of the p99 says on which side
# of it the p99 is.
GOAL_LAG_SECONDS = 1.5
# The columns of `figures`, after a first one (what was answered) that each benchmark names.
TITLES = ["per s", "p50 ms", "p99 ms", "bare per s", "bare p99 ms", "rate ratio"]


# ---------------------------------------------------------------------------- options, databases


def add_options(
    parser: argparse.ArgumentParser, *, both_databases: bool, profile: bool = True
) -> None:
    """--workers and --threads (gunicorn's); with `both_databases` --pg-url, --no-postgres and
    --no-sqlite (for :func:`backends`), else --database-url; --profile with `profile`."""
    parser.add_argument("--workers", type=int, default=c.DEFAULT_WORKERS)
    parser.add_argument("--threads", type=int, default=c.DEFAULT_THREADS)
    if both_databases:
        parser.add_argument("--pg-url", help="PostgreSQL URL (its app tables are dropped first)")
        parser.add_argument("--no-postgres", action="store_true")
        parser.add_argument("--no-sqlite", action="store_true")
    else:
        parser.add_argument(
            "--database-url", help="the app's database (default: SQLite in a temp dir)"
        )
    if profile:
        parser.add_argument("--profile", metavar="DIR", help="sample the app's workers with py-spy")


def backends(args: argparse.Namespace) -> Iterator[tuple[str, str | None]]:
    """("sqlite", None) unless --no-sqlite (None: SQLite in the run's folder, see `running`),
    then ("postgresql", its URL) unless --no-postgres; PostgreSQL is made ready only once
    SQLite's run is over, and skipped with a message when it is not usable."""
    if not args.no_sqlite:
        yield "sqlite", None
    if not args.no_postgres:
        url, why = c.postgres_url(args.pg_url)
        if url is None:
            print(f"   postgresql: skipped: {why}")
        else:
            yield "postgresql", url


def emptied(url: str | None) -> str | None:
    """`url`, its app tables dropped first when it is a PostgreSQL database."""
    if url and url.startswith("postgresql"):
        c.reset_database(url)
    return url


# ---------------------------------------------------------------------------- servers


def launch(
    folder: Path,
    urls: dict[str, str],
    database_url: str,
    *,
    workers: int,
    threads: int = c.DEFAULT_THREADS,
    name: str = "app",
) -> tuple[Path, c.Server]:
    """`whatsapp-bot serve` on a free port, pointed at the stand-ins (`urls`), its config and
    log `<name>.yaml` and `<name>.log` in `folder`; not started. The config's path and it."""
    port = c.free_port()
    config = c.write_config(
        folder / f"{name}.yaml",
        urls=urls,
        public_base_url=f"http://127.0.0.1:{port}",
        database_url=database_url,
    )
    server = c.Server.app(
        config,
        port=port,
        workers=workers,
        threads=threads,
        log_path=folder / f"{name}.log",
        name=name,
    )
    return config, server


@dataclass
class Running:
    stands: Any  # the proxy of `_common.stands`
    urls: dict[str, str]
    database_url: str
    config: Path
    app: c.Server
    the_bare: c.Server | None = None

    @property
    def bare(self) -> c.Server:
        if self.the_bare is None:
            raise RuntimeError("no bare app was asked for")
        return self.the_bare


@contextlib.contextmanager
def running(
    prefix: str,
    database_url: str | None,
    args: argparse.Namespace,
    *,
    bare: str | None = None,
    app_name: str = "app",
    **stand_ins: Any,
) -> Iterator[Running]:
    """The stand-ins (`stand_ins`: their options) and the app on `database_url` (None: SQLite
    in a temporary folder named `prefix`…), and with `bare` the bare app of that kind; under
    --workers and --threads, started and their workers up. Stopped when the block ends."""
    with tempfile.TemporaryDirectory(prefix=prefix) as tmp, c.stands(**stand_ins) as stands:
        folder = Path(tmp)
        urls = stands.urls()
        database_url = database_url or f"sqlite:///{folder / 'bot.sqlite3'}"
        config, app = launch(
            folder, urls, database_url, workers=args.workers, threads=args.threads, name=app_name
        )
        servers = [app]
        if bare is not None:
            servers.append(
                c.Server.bare(
                    bare,
                    port=c.free_port(),
                    workers=args.workers,
                    threads=args.threads,
                    log_path=folder / "bare.log",
                    slack_api=urls["slack_api"],
                )
            )
        for server in servers:
            server.start()
        try:
            for server in servers:
                server.wait_workers(args.workers)
            yield Running(stands, urls, database_url, config, *servers)
        finally:
            for server in servers:
                server.stop()


def print_errors(errors: Sequence[str], name: str | None = None) -> None:
    """How many error lines the app logged (`Server.error_lines`), and the first."""
    if errors:
        who = f"{name}: " if name else ""
        print(f"   {who}the app logged {len(errors)} error line(s); first: {errors[0][:200]}")


# ---------------------------------------------------------------------------- load, CPU


@dataclass
class Load:
    """Requests made by client threads, and where the machine's CPU went meanwhile."""

    latencies: list[float] = field(default_factory=list)  # seconds, of each request answered
    failures: list[str] = field(default_factory=list)
    seconds: float = 0.0  # from the clients' start to the last one's end
    finished: float = 0.0  # time.monotonic() at the last one's end
    cpu: float = 0.0  # seconds, of the server's processes
    busy: float = 0.0  # share of the machine's CPU time (all cores) that was busy
    steal: float = 0.0  # share taken by the hypervisor
    # where the rest of the machine's CPU went meanwhile, in seconds
    others: dict[str, float] = field(default_factory=dict)

    @property
    def rate(self) -> float:
        return len(self.latencies) / self.seconds if self.seconds else 0.0

    def cpu_ms_each(self) -> str:
        """The server's CPU ms per request answered."""
        return f"{self.cpu / max(1, len(self.latencies)) * 1000:.2f}"


def in_threads(clients: Sequence[Callable[[], None]]) -> float:
    """Run each of `clients` in a thread of its own until all are done; the seconds it took."""
    started = time.perf_counter()
    threads = [threading.Thread(target=client, daemon=True) for client in clients]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return time.perf_counter() - started


def _others(stands_pid: int | None) -> dict[str, dict[int, float]]:
    """CPU seconds so far of each other party's processes (PostgreSQL starts a process per new
    connection: those started meanwhile count from zero)."""
    parties = {
        "stand-ins": [stands_pid] if stands_pid else [],
        "PostgreSQL": c.database_server_pids(),
    }
    return {name: {p: c.cpu_seconds([p]) for p in pids} for name, pids in parties.items()}


def run_clients(
    load: Load,
    items: Sequence[T],
    handle: Callable[[T], None],
    concurrency: int,
    pids: Sequence[int],
    stands_pid: int | None = None,
) -> None:
    """`concurrency` client threads take `items` in order, one at a time, and `handle` each,
    until none is left. Into `load`: the time it took, and the CPU time meanwhile of the server
    (`pids`), of the other parties (the stand-ins' process `stands_pid`, PostgreSQL, this
    process: the load generator) and of the machine."""
    lock = threading.Lock()
    queue = list(reversed(items))

    def client() -> None:
        while True:
            with lock:
                if not queue:
                    return
                item = queue.pop()
            handle(item)

    others_before = _others(stands_pid)
    own_before = time.process_time()
    steal = c.steal_ticks()
    cpu_before = c.cpu_seconds(pids)
    ticks = c.machine_ticks()
    load.seconds = in_threads([client] * concurrency)
    load.finished = time.monotonic()
    load.cpu = c.cpu_seconds(pids) - cpu_before
    load.busy = c.machine_busy(ticks, c.machine_ticks())
    load.steal = c.machine_busy(steal, c.steal_ticks())
    load.others = {
        name: sum(cpu - others_before[name].get(pid, 0.0) for pid, cpu in now.items())
        for name, now in _others(stands_pid).items()
    }
    load.others["load generator"] = time.process_time() - own_before


@dataclass
class Spent:
    cpu: float = 0.0  # seconds, of the server's master and workers
    busy: float = 0.0  # share of the machine's CPU time (all cores) that was busy


@contextlib.contextmanager
def spent(server: c.Server) -> Iterator[Spent]:
    """The CPU time of `server`'s processes while the block runs, and how busy the machine was;
    filled in when the block ends."""
    used = Spent()
    cpu_before = c.cpu_seconds(server.pids())
    ticks = c.machine_ticks()
    yield used
    used.cpu = c.cpu_seconds(server.pids()) - cpu_before
    used.busy = c.machine_busy(ticks, c.machine_ticks())


# ---------------------------------------------------------------------------- figures


def percent(share: float) -> str:
    return f"{share * 100:.0f}%"


def spread_ms(seconds: Sequence[float]) -> list[float]:
    """p50, p99 and the largest of `seconds`, in ms (0.0 each for none)."""
    ms = [x * 1000 for x in seconds]
    return [c.percentile(ms, 50), c.percentile(ms, 99), max(ms, default=0.0)]


def figures(load: Load, bare: Load) -> list[object]:
    """Requests answered, then the columns of `TITLES`: `load`'s rate, p50 and p99, the bare
    route's rate and p99, and the ratio of the two rates."""
    p50, p99, _ = spread_ms(load.latencies)
    _, bare_p99, _ = spread_ms(bare.latencies)
    ratio = load.rate / bare.rate if bare.rate else 0.0
    return [len(load.latencies), load.rate, p50, p99, bare.rate, bare_p99, ratio]


def cpu_split(load: Load) -> str:
    """CPU ms per request answered, of the app and of each other party that used any, and how
    busy the machine was."""
    count = max(1, len(load.latencies))
    split = [f"the app {load.cpu / count * 1000:.2f}"] + [
        f"{who} {seconds / count * 1000:.2f}" for who, seconds in load.others.items() if seconds
    ]
    return (
        f"{', '.join(split)}; the machine was {percent(load.busy)} busy, "
        f"{percent(load.steal)} taken by the hypervisor (steal)"
    )


def rate_goals(rows: Sequence[Sequence[object]], unit: str) -> None:
    """Per row of `figures` (after the database: answered, rate, p50, p99, the bare route's
    rate, …): the rate against GOAL_RATE_RATIO × the bare route's."""
    for row in rows:
        rate, bare = float(row[2]), float(row[5])  # type: ignore[arg-type]
        ratio = rate / bare if bare else 0.0
        print(
            f"   {row[0]}: {rate:.0f} {unit}/s, {ratio:.2f} × the bare route's {bare:.0f}/s in "
            f"the same run (goal ≥ {GOAL_RATE_RATIO:g} ×): {c.verdict(ratio >= GOAL_RATE_RATIO)}"
        )


# ---------------------------------------------------------------------------- the app's metrics

# A histogram's cumulative counts by bucket bound (math.inf for `+Inf`).
Buckets = dict[float, float]
LAG_HISTOGRAMS = ("whatsapp_thread_lag_seconds", "whatsapp_inbound_lag_seconds")


def histograms(server: c.Server) -> dict[str, Buckets]:
    """Every histogram of the app's `GET /metrics`, by name. Under gunicorn each worker counts
    into files of its own and a scrape, whichever worker answers it, adds them all up
    (prometheus_client's multiprocess mode, see bot/usecases/metrics.py)."""
    from prometheus_client.parser import text_string_to_metric_families

    status, body, _ = c.http_request("GET", server.url + "/metrics")
    if status != 200:
        raise RuntimeError(f"GET /metrics answered {status}: {body[:200]!r}")
    found: dict[str, Buckets] = {}
    for family in text_string_to_metric_families(body.decode("utf-8")):
        if family.type != "histogram":
            continue
        buckets = found.setdefault(family.name, {})
        for sample in family.samples:
            if sample.name == family.name + "_bucket":
                bound = float(sample.labels["le"])  # "+Inf" reads as math.inf
                buckets[bound] = buckets.get(bound, 0.0) + sample.value
    return found


def settled(
    server: c.Server, names: Sequence[str] = LAG_HISTOGRAMS, *, timeout: float = 10.0
) -> dict[str, Buckets]:
    """`histograms` once the counts of `names` are the same in two scrapes half a second
    apart (a thread's lag is counted just after Slack answered its last edit), or after
    `timeout`."""
    deadline = time.monotonic() + timeout
    last = histograms(server)
    while time.monotonic() < deadline:
        time.sleep(0.5)
        now = histograms(server)
        if all(now.get(name) == last.get(name) for name in names):
            return now
        last = now
    return last


@dataclass
class Lag:
    """What a histogram of seconds counted between two scrapes."""

    name: str
    count: int
    # the upper bound of the bucket where the 99th percentile falls (math.inf: above the last
    # bound), None when nothing was counted
    p99: float | None


def lag(before: dict[str, Buckets], after: dict[str, Buckets], name: str) -> Lag:
    """The histogram `name`'s observations from the scrape `before` to `after`: how many, and
    the bucket bound of their 99th percentile (nearest rank)."""
    earlier = before.get(name, {})
    counts = {bound: n - earlier.get(bound, 0.0) for bound, n in after.get(name, {}).items()}
    total = int(counts.get(math.inf, 0.0))
    if total <= 0:
        return Lag(name, 0, None)
    rank = math.ceil(0.99 * total)
    p99 = min(bound for bound, n in counts.items() if n >= rank)
    return Lag(name, total, p99)


def lag_goal(label: str, what: str, found: Lag) -> None:
    """`found`'s p99 against GOAL_LAG_SECONDS, on a line of its own."""
    if found.p99 is None:
        print(f"   {label}: {what}: nothing counted in {found.name}: MISSED")
        return
    p99 = found.p99
    shown = "above the last bucket bound" if math.isinf(p99) else f"≤ {p99:g} s (bucket bound)"
    print(
        f"   {label}: {what}: p99 {shown} of {found.count} counted in {found.name} "
        f"(goal ≤ {GOAL_LAG_SECONDS:g} s): {c.verdict(p99 <= GOAL_LAG_SECONDS)}"
    )
