"""Everything a request handler needs, built once per process from the config."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from slack_sdk import WebClient

from bot.core.config import Config
from bot.store import Store
from bot.usecases.conversations import Conversations
from bot.usecases.delivery import Deliveries
from bot.usecases.fileshare import FileShares
from bot.usecases.groups import GroupSends
from bot.usecases.home import HomeTabs
from bot.usecases.inbound import InboundIntake
from bot.usecases.intake import StatusIntake
from bot.usecases.media import MediaService
from bot.usecases.metrics import Metrics
from bot.usecases.render import ThreadRenderer
from bot.usecases.replies import Replies
from bot.usecases.retention import Retention
from bot.usecases.sending import HANDED_BACK, SendService
from bot.usecases.slack_health import SlackTokenHealth
from bot.usecases.usernames import UserNames
from bot.whatsapp.client import ProviderClient

logger = logging.getLogger(__name__)

# How long a stop waits for a maintenance round under way (recovery, sweep, purge) to end.
MAINTENANCE_JOIN_SECONDS = 5.0


@dataclass
class Services:
    config: Config
    store: Store
    provider: ProviderClient
    client: WebClient
    sending: SendService
    renderer: ThreadRenderer
    intake: StatusIntake
    media: MediaService
    files: FileShares
    groups: GroupSends
    deliveries: Deliveries
    home: HomeTabs
    names: UserNames
    slack_health: SlackTokenHealth
    metrics: Metrics
    conversations: Conversations
    inbound: InboundIntake
    replies: Replies
    retention: Retention
    executor: ThreadPoolExecutor = field(
        default_factory=lambda: ThreadPoolExecutor(max_workers=32, thread_name_prefix="work")
    )
    _stop: threading.Event = field(default_factory=threading.Event)
    _maintenance: threading.Thread | None = None
    _retention: threading.Thread | None = None
    _closed: bool = False

    def background(self, fn: Callable[..., Any], *args: Any) -> None:
        """Run slow work (provider calls) off Bolt's listener threads, logging any failure."""

        def run() -> None:
            try:
                fn(*args)
            except Exception:
                logger.exception("Failed to run %s in the background", getattr(fn, "__name__", fn))

        try:
            self.executor.submit(run)
        except RuntimeError:  # closed: a send left confirmed is taken up by the next start
            logger.info("Not starting %s: the app is stopping", getattr(fn, "__name__", fn))

    def start_maintenance(
        self, interval: float = 5.0, purge_every: float = 600.0, takeover_every: float = 0.5
    ) -> None:
        """In the background: catch up Slack threads left behind, purge expired media; every
        `takeover_every`, take over the threads whose updater died (its lease ran out); and,
        on a thread of its own, retention every `purge_every`."""
        stop = self._stop

        def loop() -> None:
            next_purge = 0.0
            next_round = time.monotonic() + interval
            while not stop.wait(min(interval, takeover_every)):
                self._run_logged(
                    lambda: self.renderer.sweep(abandoned=True), "take over abandoned threads"
                )
                if time.monotonic() < next_round:
                    continue
                next_round = time.monotonic() + interval
                self._run_logged(self.recover, "recover sends a stopped app left behind")
                self._run_logged(self.renderer.sweep, "sweep sends that Slack lags behind")
                if time.monotonic() >= next_purge:
                    self._run_logged(self.media.purge, "purge expired media")
                    next_purge = time.monotonic() + purge_every

        self._maintenance = threading.Thread(target=loop, name="maintenance", daemon=True)
        self._maintenance.start()
        self._retention = threading.Thread(
            target=self._retention_loop, args=(interval, purge_every), name="retention", daemon=True
        )
        self._retention.start()

    def _retention_loop(self, first: float, every: float) -> None:
        """Retention on a thread of its own, a while after the start and then every `every`
        seconds: a long purge never delays the sweeps nor the takeover of abandoned threads,
        and a stop ends it between two batches."""
        wait = first
        while not self._stop.wait(wait):
            self._run_logged(lambda: self.retention.purge(self._stop), "apply retention")
            wait = every

    def recover(self) -> None:
        """Sends left `sending` become unknown (said, never resent); sends left `confirmed`
        never reached the provider, so they are sent, once."""
        self.sending.recover_stuck()
        for send in self.sending.abandoned():
            logger.warning(
                "Send %s was confirmed but never sent (%s): sending it now",
                send.id,
                "handed back by a stopping app" if send.error == HANDED_BACK else "left behind",
                extra={"send_id": send.id},
            )
            self.background(self.deliveries.deliver, send.id)

    @staticmethod
    def _run_logged(fn: Callable[[], object], what: str) -> None:
        try:
            fn()
        except Exception:
            logger.exception("Failed to %s", what)

    def close(self) -> None:
        """Stop (gunicorn's SIGTERM ends here): no new work; sends not yet with the provider
        handed back `confirmed`; provider calls in flight finished (each within the provider's
        timeout) and recorded; then every thread and connection closed."""
        if self._closed:
            return
        self._closed = True
        self._stop.set()
        self.sending.stop()
        for thread in (self._maintenance, self._retention):
            if thread is not None:
                thread.join(MAINTENANCE_JOIN_SECONDS)
        self.executor.shutdown(wait=True)
        self.renderer.close()
        self.provider.close()
        self.store.close()
