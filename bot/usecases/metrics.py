"""What the app counts, for `GET /metrics` in Prometheus' text format.

Under `whatsapp-bot serve` every gunicorn worker counts into files of its own in one directory
(prometheus_client's multiprocess mode), and a scrape answered by any worker adds them all up.
prometheus_client picks that mode once, when it is first imported, from
`PROMETHEUS_MULTIPROC_DIR`: so it is imported here only when a `Metrics` is made (in the
worker, after the master has set the variable), never when this module is.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from prometheus_client import CollectorRegistry, Counter, Histogram

# The classic text format, which every Prometheus reads; the names here need nothing newer.
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
SEND_STATES = ("sent", "failed", "unknown")
PROVIDER_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
# Fine around 1–2 s, where the benchmarks' goal for a thread's lag is (p99 ≤ 1.5 s).
LAG_BUCKETS = (0.1, 0.25, 0.5, 0.75, 1.0, 1.25, 1.5, 2.0, 3.0, 5.0, 10.0, 30.0, 60.0, 300.0)
# Label values come from outside (Slack's error codes, the provider's statuses): one that does
# not look like a code is counted as `other`, so nobody can mint label values at will.
_CODE = re.compile(r"[A-Za-z0-9_.]{1,64}")


class MultiprocessNotReady(RuntimeError):
    """prometheus_client was imported before `PROMETHEUS_MULTIPROC_DIR` was set."""


class Metrics:
    """The app's metrics for one process; with `multiprocess_dir`, summed across processes.

    Without it (tests, the command line) each instance has a registry of its own.
    """

    def __init__(self, *, multiprocess_dir: str | None = None) -> None:
        import prometheus_client
        from prometheus_client import values

        if multiprocess_dir is not None and not getattr(values.ValueClass, "_multiprocess", False):
            raise MultiprocessNotReady(
                "prometheus_client was imported before PROMETHEUS_MULTIPROC_DIR was set: "
                "its counts would stay in one worker"
            )
        self.multiprocess_dir = multiprocess_dir
        self._own = prometheus_client.CollectorRegistry(auto_describe=True)
        # In multiprocess mode the numbers are read from the files, never from a registry.
        registry = None if multiprocess_dir else self._own
        counter, histogram = prometheus_client.Counter, prometheus_client.Histogram
        self.sends: Counter = counter(
            "whatsapp_sends",
            "Sends that reached a final state after meeting the provider, by that state.",
            ["state"],
            registry=registry,
        )
        self.provider_seconds: Histogram = histogram(
            "whatsapp_provider_request_seconds",
            "Time of each request to the provider's send API, failed ones included.",
            buckets=PROVIDER_BUCKETS,
            registry=registry,
        )
        self.callbacks: Counter = counter(
            "whatsapp_callbacks",
            "Status callbacks received, by status (`none` without one, `other` for one the "
            "bot does not know, `refused` for a bad token or body).",
            ["status"],
            registry=registry,
        )
        self.inbound: Counter = counter(
            "whatsapp_inbound_messages",
            "Messages customers sent to the company's numbers.",
            registry=registry,
        )
        self.slack_errors: Counter = counter(
            "slack_api_errors",
            "Slack Web API calls that failed, by method and Slack's error code.",
            ["method", "error"],
            registry=registry,
        )
        self.thread_lag: Histogram = histogram(
            "whatsapp_thread_lag_seconds",
            "From a status callback received to its thread in Slack showing it.",
            buckets=LAG_BUCKETS,
            registry=registry,
        )
        self.inbound_lag: Histogram = histogram(
            "whatsapp_inbound_lag_seconds",
            "From a customer's message received to its thread in Slack showing it.",
            buckets=LAG_BUCKETS,
            registry=registry,
        )
        for state in SEND_STATES:
            self.sends.labels(state=state)

    # counting

    def send_finished(self, state: str) -> None:
        self.sends.labels(state=state).inc()

    def provider_request(self, seconds: float) -> None:
        self.provider_seconds.observe(max(0.0, seconds))

    def callback(self, status: str | None, *, known: bool = True) -> None:
        label = _label(status) if known or not status else "other"
        self.callbacks.labels(status=label).inc()

    def callback_refused(self) -> None:
        self.callbacks.labels(status="refused").inc()

    def inbound_message(self) -> None:
        self.inbound.inc()

    def inbound_shown(self, seconds: float) -> None:
        """A customer's message is in its thread `seconds` after it came in."""
        self.inbound_lag.observe(max(0.0, seconds))

    def slack_error(self, method: str, error: str) -> None:
        self.slack_errors.labels(method=_label(method), error=_label(error)).inc()

    def shown(self, seconds: float) -> None:
        """A status is in its thread `seconds` after its callback came in."""
        self.thread_lag.observe(max(0.0, seconds))

    # reading

    def exposition(self) -> bytes:
        """Every metric in Prometheus' text format (content type `CONTENT_TYPE`)."""
        from prometheus_client import CollectorRegistry, generate_latest

        registry: CollectorRegistry = self._own
        if self.multiprocess_dir is not None:
            from prometheus_client.multiprocess import MultiProcessCollector

            registry = CollectorRegistry()
            MultiProcessCollector(registry, path=self.multiprocess_dir)  # type: ignore[no-untyped-call]
        return generate_latest(registry)


def _label(value: str | None) -> str:
    if not value:
        return "none"
    return value if _CODE.fullmatch(value) else "other"
