"""`whatsapp-bot demo` from start to finish: set the stage, walk through, show, clean up."""

from __future__ import annotations

import json
import os
import shutil
import signal
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from types import FrameType
from typing import TextIO

from bot.demo.feed import Feed
from bot.demo.show import Console, Readable, provider_view
from bot.demo.stage import CUSTOMER, CUSTOMER_NAME, DemoError, Secrets, Stage, inbound_url
from bot.demo.walk import Thread, Walk

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_INTERRUPTED = 130
# The walk-through must end well inside the 30 s promised; start-up gets its own share.
START_TIMEOUT = 15.0
WALK_BUDGET = 25.0


def run(
    *,
    env: Mapping[str, str],
    out: TextIO,
    err: TextIO,
    keep_running: bool = False,
    secrets_file: str | None = None,
) -> int:
    """Run the demo; every outcome is printed in words and given an exit code."""
    started = time.monotonic()
    secrets = Secrets.made_up()
    if secrets_file:
        _write_secrets(Path(secrets_file), secrets)
    console = Console(out=out, secrets=secrets)
    folder = Path(tempfile.mkdtemp(prefix="whatsapp-bot-demo-"))
    stage: Stage | None = None
    try:
        try:
            with _on_signals(_interrupt):
                stage = Stage(env=env, secrets=secrets, folder=folder)
                feed = _walk_through(stage, console, started)
                if keep_running:
                    _stay_up(stage, console, feed)
            code = EXIT_OK
        except DemoError as exc:
            _report(err, secrets, str(exc), stage, folder)
            code = EXIT_FAILED
        except KeyboardInterrupt:
            console.line()
            console.line("Interrupted.")
            code = EXIT_INTERRUPTED
        except Exception as exc:
            message = (
                f"The demo failed unexpectedly ({type(exc).__name__}: {exc}). This is a bug in "
                "the demo or in the app; the app's log below may say which."
            )
            _report(err, secrets, message, stage, folder)
            code = EXIT_FAILED
        if stage is not None:
            console.line()
            console.line("Stopping the app and the stand-ins…")
    finally:
        if stage is not None:
            # A second Ctrl-C must not leave the app running in its own session.
            with _on_signals(signal.SIG_IGN):
                stage.close()
    if code != EXIT_FAILED:  # a failed run's files are kept for a look at them
        shutil.rmtree(folder, ignore_errors=True)
    if code == EXIT_OK:
        console.line(f"Done in {time.monotonic() - started:.1f} s.")
    return code


def _walk_through(stage: Stage, console: Console, started: float) -> Feed:
    readable = Readable(slack=stage.slack, emoji=console.unicode)
    console.line(
        "WhatsApp bot demo: the real app between a stand-in Slack workspace and a stand-in "
        "WhatsApp provider, all on 127.0.0.1 (no credentials, no network)."
    )
    console.line(f"  stand-in Slack     {stage.slack.api_url}  (@alice, @bob; #support, #sales)")
    console.line(f"  stand-in provider  {stage.provider.notification_url}")
    console.line(f"  file host          {stage.coffee_url}")
    console.line(f"  config             {stage.config_path}  (SQLite beside it)")
    console.line(
        "  secrets            made up for this run, passed in the environment, never shown"
    )
    console.line(f"Starting `whatsapp-bot serve` (gunicorn, 1 worker) on {stage.url} …")
    stage.start(timeout=START_TIMEOUT)
    console.line(f"  GET /healthz -> 200 after {time.monotonic() - started:.1f} s")
    walk = Walk(
        stage=stage,
        console=console,
        readable=readable,
        deadline=time.monotonic() + WALK_BUDGET,
    )
    threads = walk.all()
    console.heading("What the provider received")
    console.lines(provider_view(stage.provider), "  ")
    _summary(console, threads)
    console.line(f"The walk-through took {time.monotonic() - started:.1f} s from start-up.")
    return walk.feed


def _summary(console: Console, threads: list[Thread]) -> None:
    console.heading("Summary")
    for thread in threads:
        console.line(f"  {thread.title}")
        console.line(
            f"     transactionId {thread.transaction_id}, final status {thread.final_status}"
        )


def _stay_up(stage: Stage, console: Console, feed: Feed) -> None:
    """Leave everything running, printing what happens, until Ctrl-C."""
    callback = stage.provider.sends[0].callbacks[0]
    console.heading("Still running: press Ctrl-C to stop")
    console.line(f"  app (whatsapp-bot serve)  {stage.url}  (log: {stage.log_path})")
    console.line(f"  stand-in Slack            {stage.slack.api_url}")
    console.line(f"  stand-in provider         {stage.provider.notification_url}")
    console.line(f"  file host                 {stage.coffee_url}")
    console.line("Try, from another terminal:")
    console.line(f"  curl -s {stage.url}/healthz")
    console.line(
        "  curl -s -H 'Content-Type: application/json' -d '{\"status\": \"DELIVERED\"}' "
        f"'{callback}'"
    )
    console.line(
        '  (a late status for send 1: the app answers 200 with "duplicate": true, '
        "and the thread stays at READ)"
    )
    customer = stage.provider.url + "/_standin/customer-message"
    inbound = inbound_url(stage, "support")
    console.line(
        f'  curl -s -d \'{{"url": "{inbound}", "user": "{CUSTOMER}", '
        f'"name": "{CUSTOMER_NAME}", "text": "Is it still on time?"}}\' \'{customer}\''
    )
    console.line(
        "  (the stand-in provider forwards a customer's message to the app, as JSON: it joins "
        'the first send\'s thread, with a Reply button; add "shape": "query" for the '
        "provider's older mobile/mo/ts form)"
    )
    console.line("What Slack and the provider see from now on is printed as it happens.")
    feed.restart()
    stop = threading.Event()
    try:
        while not stop.wait(0.2):
            feed.flush()
            if not stage.app_running():
                raise DemoError(
                    f"`whatsapp-bot serve` exited (exit code {stage.exit_code()}) while the "
                    "demo kept it running; its log below says why."
                )
    except KeyboardInterrupt:
        return


def _report(err: TextIO, secrets: Secrets, message: str, stage: Stage | None, folder: Path) -> None:
    tail = stage.log_tail() if stage is not None else "(the app was not started)"
    text = (
        f"Error: the demo failed. {message} The files of this run are kept in {folder}.\n\n"
        f"Last lines of the app's log:\n{tail}\n"
    )
    err.write(secrets.redact(text))
    err.flush()


def _write_secrets(path: Path, secrets: Secrets) -> None:
    """For tests: the made-up values, so they can check none of them was printed."""
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w") as file:
        json.dump(secrets.env(), file)


def _interrupt(_signum: int, _frame: FrameType | None) -> None:
    raise KeyboardInterrupt


@contextmanager
def _on_signals(
    handler: Callable[[int, FrameType | None], None] | signal.Handlers,
) -> Iterator[None]:
    """Handle SIGINT and SIGTERM with `handler` meanwhile.

    With `_interrupt`, SIGTERM (and SIGINT even where the shell ignored it) stops the demo like
    Ctrl-C, so the app and the stand-ins are still stopped.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, earlier in previous.items():
            signal.signal(sig, earlier)
