"""Everything a request handler needs, built once per process from the config."""

from __future__ import annotations

import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from slack_sdk import WebClient

from bot.config import Config
from bot.fileshare import FileShares
from bot.intake import StatusIntake
from bot.media.service import MediaService
from bot.render import ThreadRenderer
from bot.sending import SendService
from bot.store import Store
from bot.whatsapp.client import ProviderClient

logger = logging.getLogger(__name__)


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
    executor: ThreadPoolExecutor = field(
        default_factory=lambda: ThreadPoolExecutor(max_workers=32, thread_name_prefix="work")
    )

    def background(self, fn: Callable[..., Any], *args: Any) -> None:
        """Run slow work (provider calls) off Bolt's listener threads, logging any failure."""

        def run() -> None:
            try:
                fn(*args)
            except Exception:
                logger.exception("Failed to run %s in the background", getattr(fn, "__name__", fn))

        self.executor.submit(run)

    def close(self) -> None:
        self.executor.shutdown(wait=True)
        self.renderer.close()
        self.provider.close()
        self.store.close()
