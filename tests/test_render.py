"""When a change starts a render pass: at once, after the second since the last write, or not
at all while another worker holds the send's lease: it finds the send still dirty as it lets
go, and goes on (`test_a_new_status_reports_the_sends_render_lease`)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from slack_sdk import WebClient

from bot.sandbox.slack import SlackStandIn
from bot.store import Lease, Store
from bot.usecases.render import ThreadRenderer
from tests.conftest import make_config


class Passes:
    """Stands in for a render pass of a send: when each was started, by send."""

    def __init__(self) -> None:
        self.started: dict[str, list[float]] = {}
        self.seen = threading.Condition()

    def __call__(self, send_id: str) -> None:
        with self.seen:
            self.started.setdefault(send_id, []).append(time.monotonic())
            self.seen.notify_all()

    def wait(self, send_id: str, timeout: float) -> list[float]:
        with self.seen:
            self.seen.wait_for(lambda: send_id in self.started, timeout)
            return self.started.get(send_id, [])


@pytest.fixture
def renderer(store: Store) -> Iterator[tuple[ThreadRenderer, Passes]]:
    with SlackStandIn() as slack:
        client = WebClient(token="xoxb-test", base_url=slack.api_url)
        renderer = ThreadRenderer(
            config=make_config(),
            store=store,
            client=client,
            senders=lambda _s: None,  # type: ignore[arg-type,return-value]
        )
        passes = Passes()
        renderer._render_send = passes  # type: ignore[method-assign]
        try:
            yield renderer, passes
        finally:
            renderer.close()


def test_a_change_to_a_free_send_starts_a_pass_once_the_burst_is_in(
    renderer: tuple[ThreadRenderer, Passes],
) -> None:
    """A provider posts a send's first statuses a few ms apart: the pass waits `gather`
    (a quarter second) for the others, and shows them all in one edit."""
    rendering, passes = renderer
    assert rendering.gather == 0.25
    asked = time.monotonic()
    for _ in range(3):
        rendering.changed("s1", Lease())
    started = passes.wait("s1", timeout=5)
    time.sleep(rendering.gather * 2)  # no second pass follows
    assert len(passes.started["s1"]) == 1
    assert rendering.gather <= started[0] - asked < 0.5


def test_a_change_waits_for_the_second_since_the_last_write(
    renderer: tuple[ThreadRenderer, Passes],
) -> None:
    rendering, passes = renderer
    asked = time.monotonic()
    rendering.changed("s2", Lease(rendered_at=datetime.now(UTC) - timedelta(seconds=0.4)))
    started = passes.wait("s2", timeout=5)
    assert len(started) == 1 and started[0] - asked >= 0.5


def test_a_change_under_another_workers_lease_is_left_to_it(
    renderer: tuple[ThreadRenderer, Passes],
) -> None:
    rendering, passes = renderer
    until = datetime.now(UTC) + timedelta(seconds=10)
    rendering.changed("s3", Lease(owner="someone-else", until=until))
    rendering.changed(
        "s4", Lease(owner="someone-else", until=datetime.now(UTC) - timedelta(seconds=1))
    )
    # That lease ran out, its holder is gone: a pass. `changed` decides on the spot, so by the
    # time s4's pass runs, s3 (asked first) was either submitted as well or left alone.
    assert len(passes.wait("s4", timeout=5)) == 1
    assert "s3" not in passes.started
    assert not rendering._delayed.pending("s3")  # nor kept for later
