"""Customer messages into one instance, on SQLite and on PostgreSQL.

`--customers` customers each write `--messages` messages, one after another (the next once the
previous one is answered), from `--concurrency` provider-like clients posting to the sender's
inbound URL (`/whatsapp/inbound/<token>`) over HTTP, each request on a fresh connection as the
provider makes them. The requests are made by the stand-in provider's own sending code
(`ProviderStandIn.customer_message`, in the load generator's process: only its sending side is
used there). Most messages are in the JSON shape; every tenth is in the older query shape (a
GET, every other one a form POST); every tenth carries a photo (a small JPEG hosted by the
stand-in provider, which the app fetches and uploads into the thread). `--redeliveries` messages
are sent again byte for byte right after their first answer, as a provider redelivers. The same
messages first go to a bare route under the same gunicorn settings that only reads and parses
them (while the app is idle), then to the app.

Measured: requests answered per second, the HTTP answer's p50/p99 (beside the bare route's, in
the same run), the app's CPU per request while posting and per message until every message is
shown, messages shown per second end to end (messages ÷ the time from the first POST to the
last message shown), and the time from the POST to the message shown in Slack (the stand-in
Slack's receive time of its chat.postMessage, or of the upload of a message's photo, minus the
time the request was sent), separately for a conversation's first message, later ones and
photos.

Checked afterwards (each check's line says MET or MISSED; the exit status is 0 whatever they
say, non-zero only when the benchmark could not run to its end): every request answered 200;
every message is one row of `inbound_messages` (redeliveries not kept twice), each customer's
in one conversation; each customer's messages in exactly one thread of the sender's inbox
channel (the first as its root, the rest as replies in order, none twice); every photo uploaded
once, into its customer's thread, with the bytes sent.

Goals: requests answered per second at least half the bare route's in the same run; the p99 of
the app's whatsapp_inbound_lag_seconds (a customer's message received → its thread shows it),
and of whatsapp_thread_lag_seconds if anything was counted there, at most 1.5 s: both read from
`/metrics` before the app's messages and once every message is shown, the p99 as the bound of
the bucket it falls in.

    .venv/bin/python bench/inbound.py [--customers 100] [--messages 3] [--concurrency 16]
        [--redeliveries 10] [--workers 2] [--threads 32] [--pg-url URL] [--no-postgres]
        [--no-sqlite] [--profile DIR]

PostgreSQL: --pg-url, else $BENCH_DATABASE_URL, else
postgresql+psycopg://postgres@127.0.0.1:5432/whatsapp_bot_bench (created when missing; its
tables are dropped first). Skipped with a message when unreachable.
"""

from __future__ import annotations

import argparse
import hashlib
import re
import threading
import time
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import _common as c
import _load
import sqlalchemy as sa

from bot.core import tokens
from bot.sandbox.images import jpeg
from bot.sandbox.provider import ProviderStandIn

SENDER = "support"  # its inbox channel is c.CHANNEL, the first channel whose sender it is
SHOWN_TIMEOUT = 120.0
MARKER = re.compile(r"ref c(\d+)-m(\d+)\b")
PHOTO = jpeg()
PHOTO_SHA256 = hashlib.sha256(PHOTO).hexdigest()
DELAY_KINDS = (
    "text, all",
    "text, a conversation's first",
    "text, later ones",
    "photo (its upload)",
)


@dataclass(frozen=True)
class Planned:
    customer: int
    index: int  # the message's place among its customer's, from 0
    number: str
    text: str
    shape: str
    method: str | None
    name: str | None
    photo: str | None  # the attachment's file name
    photo_url: str | None
    redeliver: bool

    @property
    def marker(self) -> tuple[int, int]:
        return self.customer, self.index


@dataclass
class Sent:
    planned: Planned
    redelivery: bool
    sent_at: float  # epoch s, as the request left
    seconds: float  # until the whole answer was read
    status: int | None
    error: str | None


@dataclass
class Load(_load.Load):
    """Its latencies (of the requests answered) and failures (not answered 200) are those of
    `sent`, filled in by `post_all` once every client is done."""

    sent: list[Sent] = field(default_factory=list)


def plan(stands: Any, customers: int, messages: int, redeliveries: int) -> list[list[Planned]]:
    """Every customer's messages in order. Message n (counting all customers' in turn) is in
    the query shape when n % 10 == 9 and carries a photo when n % 10 == 4."""
    total = customers * messages
    step = max(1, total // redeliveries) if redeliveries else 0
    again = {n * step + step // 2 for n in range(redeliveries)} if step else set()
    planned: list[list[Planned]] = []
    for customer in range(customers):
        number = f"57300{customer:07d}"
        own = []
        for index in range(messages):
            n = customer * messages + index
            query = n % 10 == 9
            photo = f"photo-c{customer:04d}-m{index}.jpg" if n % 10 == 4 else None
            own.append(
                Planned(
                    customer=customer,
                    index=index,
                    number=number,
                    text=f"Hello, a question about my order (ref c{customer:04d}-m{index})",
                    shape="query" if query else "json",
                    method=("GET" if n // 10 % 2 == 0 else "POST") if query else None,
                    name=None if query else f"Customer {customer:04d}",
                    photo=photo,
                    photo_url=stands.host_attachment(PHOTO, photo, "image/jpeg") if photo else None,
                    redeliver=n in again,
                )
            )
        planned.append(own)
    return planned


def post_all(
    inbound_url: str,
    planned: Sequence[Sequence[Planned]],
    concurrency: int,
    pids: Sequence[int],
    stands_pid: int | None = None,
) -> Load:
    """Each customer's messages in order (a redelivery right after its message's answer),
    customers spread over `concurrency` clients, each request on a fresh connection."""
    load = Load()
    lock = threading.Lock()
    # Only its sending side is used: the stand-in is never started here.
    provider = ProviderStandIn(api_key=c.SECRETS["WHATSAPP_API_KEY"], callback_timeout=60)
    wall = time.time() - time.monotonic()

    def send(item: Planned) -> None:
        options: dict[str, Any] = {"user": item.number, "text": item.text, "shape": item.shape}
        if item.shape == "query":
            options["method"] = item.method
        else:
            options["name"] = item.name
            if item.photo_url:
                attachment = {"url": item.photo_url, "fileName": item.photo, "caption": "photo"}
                options["attachments"] = [attachment]
        message = provider.customer_message(inbound_url, **options)
        sent = [(message, False, time.monotonic())]
        if item.redeliver:
            again = provider.resend(message)
            sent.append((again, True, time.monotonic()))
        with lock:
            for record, redelivery, done in sent:
                load.sent.append(
                    Sent(
                        planned=item,
                        redelivery=redelivery,
                        sent_at=record.sent_at + wall,
                        seconds=done - record.sent_at,
                        status=record.http_status,
                        error=record.error,
                    )
                )

    def customer(own: Sequence[Planned]) -> None:
        for item in own:
            send(item)

    try:
        _load.run_clients(load, planned, customer, concurrency, pids, stands_pid)
    finally:
        provider.stop()
    load.latencies = [s.seconds for s in load.sent if s.error is None]
    load.failures = [
        f"{'redelivery of ' if s.redelivery else ''}customer {s.planned.customer} message "
        f"{s.planned.index}: {s.error or f'HTTP {s.status}'}"
        for s in load.sent
        if s.status != 200
    ]
    return load


@dataclass
class Checks:
    wrong: list[str] = field(default_factory=list)
    rows: int = 0
    expected_rows: int = 0
    conversations: int = 0
    threads: int = 0
    uploads: int = 0
    downloads: int = 0
    shown: bool = False  # every message posted and every photo uploaded in time
    settle: float = 0.0  # seconds from the last answer until the last message was shown
    span: float = 0.0  # seconds from the first POST until the last message was shown
    cpu_until_shown: float = 0.0
    # POST sent → shown in Slack, in seconds, by kind of message (DELAY_KINDS)
    delays: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))


def wait_shown(stands: Any, messages: int, photos: int, finished: float) -> bool:
    """Wait until Slack has a post per message and every photo; False if not within
    SHOWN_TIMEOUT of the last answer."""
    while True:
        posts, uploads = stands.shown_count()
        if posts >= messages and uploads >= photos:
            return True
        if time.monotonic() - finished > SHOWN_TIMEOUT:
            return False
        time.sleep(0.2)


def check(
    stands: Any, database_url: str, planned: Sequence[Sequence[Planned]], load: Load
) -> Checks:
    checks = Checks()
    everything = [item for own in planned for item in own]
    photos = [item for item in everything if item.photo]
    first_sent = {
        (s.planned.customer, s.planned.index): s.sent_at for s in load.sent if not s.redelivery
    }

    # Stored once: one row per message, one conversation per customer.
    engine = sa.create_engine(database_url)
    with engine.connect() as conn:
        checks.rows = int(
            conn.execute(sa.text("SELECT count(*) FROM inbound_messages")).scalar() or 0
        )
        per_customer: dict[str, int] = {
            str(customer): int(n)
            for customer, n in conn.execute(
                sa.text("SELECT customer, count(*) FROM inbound_messages GROUP BY customer")
            ).all()
        }
        checks.conversations = int(
            conn.execute(sa.text("SELECT count(*) FROM conversations")).scalar() or 0
        )
    engine.dispose()
    checks.expected_rows = len(everything)
    if checks.rows != checks.expected_rows:
        checks.wrong.append(
            f"{checks.rows} rows in inbound_messages for {checks.expected_rows} messages"
        )
    for own in planned:
        number = "+" + own[0].number
        if per_customer.get(number) != len(own):
            checks.wrong.append(
                f"customer {own[0].customer}: {per_customer.get(number, 0)} rows for "
                f"{len(own)} messages"
            )
    if checks.conversations != len(planned):
        checks.wrong.append(f"{checks.conversations} conversations for {len(planned)} customers")

    # Shown once each, in one thread per customer, in order.
    messages = stands.bot_messages(c.CHANNEL)
    places: dict[tuple[int, int], list[dict[str, Any]]] = defaultdict(list)
    for message in messages:
        found = {(int(a), int(b)) for a, b in MARKER.findall(message["text"])}
        if len(found) > 1:
            checks.wrong.append(f"Slack message {message['ts']} shows {len(found)} messages")
        for marker in found:
            places[marker].append(message)
    roots: set[str] = set()
    for own in planned:
        customer = own[0].customer
        shown = [places.get(item.marker, []) for item in own]
        if any(len(s) != 1 for s in shown):
            counts = [len(s) for s in shown]
            checks.wrong.append(f"customer {customer}: messages shown {counts} times")
            continue
        first = shown[0][0]
        if not first["top"]:
            checks.wrong.append(f"customer {customer}: the first message is not a thread's root")
        rest = [s[0] for s in shown[1:]]
        if any(m["top"] or m["root"] != first["root"] for m in rest):
            checks.wrong.append(f"customer {customer}: messages in more than one thread")
        order = [float(m["ts"]) for m in [first, *rest]]
        if order != sorted(order):
            checks.wrong.append(f"customer {customer}: messages shown out of order")
        roots.add(first["root"])
        for item, (message,) in zip(own, shown, strict=True):
            if item.photo is None and message["time"] is not None:
                delay = message["time"] - first_sent[item.marker]
                checks.delays[DELAY_KINDS[0]].append(delay)
                checks.delays[DELAY_KINDS[1] if item.index == 0 else DELAY_KINDS[2]].append(delay)
    checks.threads = len(roots)
    top_level = [m for m in messages if m["top"]]
    if len(top_level) != len(planned) or {m["root"] for m in top_level} != roots:
        checks.wrong.append(
            f"{len(top_level)} top-level messages in the inbox for {len(planned)} customers"
        )

    # Every photo uploaded once, into its customer's thread, with its bytes.
    uploads = stands.uploads()
    checks.uploads = len(uploads)
    checks.downloads = stands.attachment_downloads()
    by_name: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for upload in uploads:
        by_name[upload["name"]].append(upload)
    for item in photos:
        got = by_name.get(item.photo or "", [])
        if len(got) != 1:
            checks.wrong.append(f"{item.photo}: uploaded {len(got)} times")
            continue
        (upload,) = got
        root = places[(item.customer, 0)][0]["root"] if places.get((item.customer, 0)) else None
        if upload["channel"] != c.CHANNEL or upload["thread_ts"] != root:
            checks.wrong.append(f"{item.photo}: uploaded outside its customer's thread")
        if upload["sha256"] != PHOTO_SHA256:
            checks.wrong.append(f"{item.photo}: the uploaded bytes differ from those sent")
        checks.delays[DELAY_KINDS[3]].append(upload["time"] - first_sent[item.marker])
    if len(uploads) != len(photos):
        checks.wrong.append(f"{len(uploads)} uploads for {len(photos)} photos")

    shown_at = [m["time"] for m in messages if m["time"] is not None]
    shown_at += [u["time"] for u in uploads]
    if shown_at and load.sent:
        last = max(shown_at)
        checks.settle = last - max(s.sent_at + s.seconds for s in load.sent)
        checks.span = last - min(s.sent_at for s in load.sent)
    return checks


def run_backend(
    name: str, database_url: str | None, args: argparse.Namespace
) -> tuple[list[object], list[list[object]], bool, list[_load.Lag]]:
    """One database's run (None: SQLite): its row of the table, its rows of delays, whether
    every check passed, and the lags the app counted (customer messages', then threads')."""
    with _load.running(
        "bench-inbound-", database_url, args, bare="inbound", auto_callbacks=False
    ) as rig:
        config = c.load_config(rig.config)
        token = tokens.sender_token(config.media.link_secret, SENDER)
        planned = plan(rig.stands, args.customers, args.messages, args.redeliveries)
        count = sum(len(own) for own in planned)
        print(
            f"   {name}: {len(planned)} customers, {count} messages "
            f"({sum(1 for own in planned for p in own if p.shape == 'query')} in the query "
            f"shape, {sum(1 for own in planned for p in own if p.photo)} with a photo, "
            f"{sum(1 for own in planned for p in own if p.redeliver)} delivered twice)",
            flush=True,
        )
        path = f"/whatsapp/inbound/{token}"
        bare_load = post_all(rig.bare.url + path, planned, args.concurrency, rig.bare.pids())
        photos = sum(1 for own in planned for p in own if p.photo)
        before = _load.histograms(rig.app)
        with (
            _load.spent(rig.app) as until_shown,
            c.profiled(rig.app.worker_pids(), args.profile, f"inbound-{name}"),
        ):
            app_url = rig.app.url + path
            load = post_all(app_url, planned, args.concurrency, rig.app.pids(), rig.stands.pid())
            all_shown = wait_shown(rig.stands, count, photos, load.finished)
        checks = check(rig.stands, rig.database_url, planned, load)
        checks.shown, checks.cpu_until_shown = all_shown, until_shown.cpu
        after = _load.settled(rig.app)
        lags = [
            _load.lag(before, after, "whatsapp_inbound_lag_seconds"),
            _load.lag(before, after, "whatsapp_thread_lag_seconds"),
        ]
        errors = error_summary(rig.app.log())
    ok = report(name, load, bare_load, checks, errors)
    row = [
        name,
        *_load.figures(load, bare_load),
        checks.expected_rows / checks.span if checks.shown and checks.span else 0.0,
        load.cpu_ms_each(),
        f"{checks.cpu_until_shown / max(1, checks.expected_rows) * 1000:.2f}",
        _load.percent(load.busy),
    ]
    shown: list[list[object]] = []
    for kind in DELAY_KINDS:
        delays = checks.delays.get(kind, [])
        shown.append([name, kind, len(delays), *_load.spread_ms(delays)])
    return row, shown, ok, lags


def error_summary(log: str) -> list[str]:
    """The app's ERROR and CRITICAL lines, alike ones counted once (their time left out), each
    with the last line of the traceback that follows it, if any."""
    counts: dict[str, int] = {}
    lines = log.splitlines()
    for number, line in enumerate(lines):
        found = re.search(r"\b(ERROR|CRITICAL)\b.*", line)
        if not found and "WORKER TIMEOUT" not in line:
            continue
        what = found.group(0) if found else line
        following = []
        for after in lines[number + 1 :]:
            if re.match(r"\d{4}-\d\d-\d\d[ T]", after):
                break
            following.append(after)
        if following and following[0].startswith("Traceback"):
            what += " ← " + following[-1].strip()
        counts[what] = counts.get(what, 0) + 1
    return [f"{n} × {what}" for what, n in counts.items()]


def report(name: str, load: Load, bare: Load, checks: Checks, errors: list[str]) -> bool:
    """Print what was checked; True when all of it is right."""
    failures = load.failures
    redelivered = sum(1 for s in load.sent if s.redelivery)
    print(
        f"   {name}: {len(load.sent)} requests ({redelivered} redeliveries), "
        f"{len(load.sent) - len(failures)} answered 200: {c.verdict(not failures)}"
    )
    for line in failures[:5]:
        print(f"      {line}")
    if bare.failures:
        print(
            f"   {name}: the bare route failed {len(bare.failures)} (first: "
            f"{bare.failures[0]}): MISSED"
        )
    print(
        f"   {name}: {checks.rows} rows in `inbound_messages` for {checks.expected_rows} "
        f"messages, {checks.conversations} conversations: "
        f"{c.verdict(checks.rows == checks.expected_rows)}"
    )
    if not checks.shown:
        print(f"   {name}: not every message was shown within {SHOWN_TIMEOUT:.0f} s: MISSED")
    else:
        print(
            f"   {name}: every message shown in Slack {checks.settle:.1f} s after the last "
            f"answer; {checks.threads} threads, {checks.uploads} photos uploaded "
            f"({checks.downloads} fetched from the provider): MET"
        )
    print(
        f"   {name}: one thread per customer, in order, photos once: {c.verdict(not checks.wrong)}"
    )
    for line in checks.wrong[:10]:
        print(f"      {line}")
    if errors:
        print(f"   {name}: the app logged errors (alike ones counted once):")
        for line in errors[:5]:
            print(f"      {line[:200]}")
    print(
        f"   {name}: CPU ms per request while posting: {_load.cpu_split(load)}; "
        f"the app until every message was shown: "
        f"{checks.cpu_until_shown / max(1, checks.expected_rows) * 1000:.2f} per message"
    )
    return not failures and not bare.failures and not checks.wrong and checks.shown


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--customers", type=int, default=100, help="customers writing (100)")
    parser.add_argument("--messages", type=int, default=3, help="messages per customer (3)")
    parser.add_argument("--concurrency", type=int, default=16, help="provider clients (16)")
    parser.add_argument(
        "--redeliveries", type=int, default=10, help="messages delivered twice (10)"
    )
    _load.add_options(parser, both_databases=True)
    args = parser.parse_args(argv)
    if args.customers < 1 or args.messages < 1:
        parser.error("--customers and --messages must be at least 1")
    args.redeliveries = min(args.redeliveries, args.customers * args.messages)

    c.header(
        "inbound: customer messages into one instance",
        f"{args.customers} customers × {args.messages} messages, {args.redeliveries} "
        f"redeliveries, {args.concurrency} concurrent provider clients, gunicorn "
        f"{args.workers} workers × {args.threads} threads",
    )
    rows: list[list[object]] = []
    shown: list[list[object]] = []
    lags: list[tuple[str, list[_load.Lag]]] = []
    ok = True
    for name, url in _load.backends(args):
        row, delays, right, counted = run_backend(name, url, args)
        rows.append(row)
        shown += delays
        lags.append((name, counted))
        ok = ok and right
    print()
    titles = ["database", "answered", *_load.TITLES, "shown per s", "app CPU ms each"]
    titles += ["…until shown", "machine busy"]
    print(c.table(titles, rows))
    print()
    print("   POST sent → shown in Slack (its chat.postMessage; for a photo, its upload):")
    print(c.table(["database", "messages", "count", "p50 ms", "p99 ms", "max ms"], shown))
    print()
    _load.rate_goals(rows, "messages")
    for name, (inbound_lag, thread_lag) in lags:
        _load.lag_goal(name, "customer's message received → its thread shows it", inbound_lag)
        if thread_lag.count:
            _load.lag_goal(name, "status callback received → its thread shows it", thread_lag)
    if not ok:
        print("   CHECKS FAILED: see the lines above", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
