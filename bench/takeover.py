"""Takeover: how long a dead instance's threads wait for another instance.

Two instances over one PostgreSQL database. Sends are made and shown by the app's own code;
then each send's statuses are posted to instance A while Slack answers A's edits with
`ratelimited` (Retry-After 5 s) until the kill, so that A holds the render leases of every
thread, mid-pass or waiting for a render worker. A is SIGKILLed (master and workers); the
benchmark then watches the stand-in Slack until every thread shows its final status (record and
status reply), and prints how long after the kill each did (p50, max) and how many replies were
posted twice. Goals: every thread within 3 s of the kill; no reply posted twice.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench import _common as c
from bench import _load
from bench.callbacks import Planned, prepare

GOAL_SECONDS = 3.0


def post_statuses(base_url: str, planned: Sequence[Planned]) -> None:
    for plan in planned:
        path = plan.url.split("/whatsapp/callbacks/", 1)[1]
        for body in plan.bodies:
            status, _, _ = c.http_request("POST", f"{base_url}/whatsapp/callbacks/{path}", body)
            if status != 200:
                raise RuntimeError(f"a callback for {plan.send_id} was answered {status}")


def shown(stands: object, store: object, plan: Planned) -> bool:
    send = store.get_send(plan.send_id)  # type: ignore[attr-defined]
    if send is None or send.message_ts is None or send.status_ts is None:
        return False
    texts = stands.message_texts(c.CHANNEL, [send.message_ts, send.status_ts])  # type: ignore[attr-defined]
    record, reply = texts.get(send.message_ts, ""), texts.get(send.status_ts, "")
    return plan.final in record and f"*{plan.final}*" in reply


def run(database_url: str, args: argparse.Namespace) -> bool:
    from bot.store import Store

    with (
        tempfile.TemporaryDirectory(prefix="bench-takeover-") as tmp,
        c.stands(auto_callbacks=False) as stands,
    ):
        urls = stands.urls()
        servers = []
        for name in ("a", "b"):
            config, server = _load.launch(
                Path(tmp), urls, database_url, workers=args.workers, name=name
            )
            server.own_group = True  # killed with its workers
            servers.append((server, config))
        (a, a_config), (b, _) = servers
        try:
            a.start()
            b.start()
            planned = prepare(a_config, database_url, urls["coffee"], args.sends)
            time.sleep(1.1)  # past the second since each thread's first write
            stands.fail_next("chat.update", "ratelimited", retry_after=5, count=args.sends)
            post_statuses(a.url, planned)
            time.sleep(args.hold)
            stands.clear_faults()  # for B: only A's edits are held up
            killed = time.monotonic()
            a.kill()
            store = Store.from_url(database_url)
            waiting = {plan.send_id: plan for plan in planned}
            took: list[float] = []
            deadline = killed + args.timeout
            while waiting and time.monotonic() < deadline:
                for send_id, plan in list(waiting.items()):
                    if shown(stands, store, plan):
                        took.append(time.monotonic() - killed)
                        del waiting[send_id]
                time.sleep(0.05)
            time.sleep(1.0)  # anything posted twice would be posted by now
            store.close()
            threads = stands.threads(c.CHANNEL)
            twice = sum(len(t["replies"]) - len(set(t["replies"])) for t in threads)
        finally:
            a.kill()
            b.stop()
    took.sort()
    rows = [
        [
            len(planned),
            len(took),
            f"{c.percentile(took, 50):.2f}" if took else "-",
            f"{took[-1]:.2f}" if took else "-",
            twice,
        ]
    ]
    print(c.table(["threads", "caught up", "p50 s", "max s", "replies posted twice"], rows))
    in_time = not waiting and bool(took) and took[-1] <= GOAL_SECONDS
    print(
        f"   every thread shown by B within {GOAL_SECONDS:.0f} s of the kill: {c.verdict(in_time)}"
    )
    print(f"   no reply posted twice: {c.verdict(twice == 0)}")
    return in_time and twice == 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sends", type=int, default=20, help="threads A holds (20)")
    parser.add_argument("--workers", type=int, default=c.DEFAULT_WORKERS)
    parser.add_argument("--hold", type=float, default=1.0, help="seconds from callbacks to kill")
    parser.add_argument("--timeout", type=float, default=30.0, help="seconds to wait for B")
    parser.add_argument("--pg-url", help="PostgreSQL URL (its app tables are dropped first)")
    args = parser.parse_args(argv)
    url, why = c.postgres_url(args.pg_url)
    if url is None:
        print(f"takeover needs PostgreSQL: {why}")
        return 0
    c.header("takeover", f"{args.sends} threads held by an instance that is SIGKILLed")
    c.reset_database(url)
    run(url, args)  # its verdicts are printed; the exit status is 0 once it ran to its end
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
