"""The send use case against the stand-in provider: what is retried, and what never is."""

from __future__ import annotations

import time
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

from bot.core.config import Config
from bot.sandbox.launch import free_port, wait_until
from bot.sandbox.provider import ProviderStandIn
from bot.store import SendState, Store
from bot.usecases.sending import HANDED_BACK, Delivery, SendService
from bot.whatsapp.client import ProviderClient
from bot.whatsapp.payloads import Message, MessageKind
from tests.conftest import SECRETS, make_config


def service_for(
    url: str, tmp_path: Path, sleeps: list[float], on_sleep: object = None
) -> SendService:
    config: Config = make_config(whatsapp={"api_url": url, "timeout_seconds": 1})
    store = Store.from_url(f"sqlite:///{tmp_path / 's.sqlite3'}")
    store.migrate()
    client = ProviderClient(api_url=url, api_key=SECRETS["WHATSAPP_API_KEY"], timeout_seconds=1)

    def sleep(seconds: float) -> None:
        sleeps.append(seconds)
        if callable(on_sleep):
            on_sleep()

    return SendService(config=config, store=store, provider=client, sleep=sleep)


def draft(service: SendService) -> str:
    sender = service.resolve_sender(None)
    send = service.create_draft(
        Message(MessageKind.TEXT, "+573001234567", "hello"), sender=sender, source="cli"
    )
    assert service.confirm(send.id) is not None
    return send.id


def test_a_refused_connection_is_retried_until_the_provider_is_up(tmp_path: Path) -> None:
    port = free_port()
    sleeps: list[float] = []
    started: list[ProviderStandIn] = []

    def start_on_second_sleep() -> None:
        # the stand-in binds its port when built: nothing listens there before this
        if len(sleeps) == 2 and not started:
            key = SECRETS["WHATSAPP_API_KEY"]
            started.append(ProviderStandIn(api_key=key, port=port, auto_callbacks=False).start())

    url = f"http://127.0.0.1:{port}/notification"
    service = service_for(url, tmp_path, sleeps, start_on_second_sleep)
    try:
        delivery = service.deliver(draft(service))
    finally:
        for standin in started:
            standin.stop()
    assert delivery is not None and delivery.ok
    assert sleeps == [0.5, 1.0]  # backoff, then success
    assert len(started[0].requests) == 1


def test_a_provider_that_never_comes_up_fails_without_a_request(tmp_path: Path) -> None:
    sleeps: list[float] = []
    service = service_for(f"http://127.0.0.1:{free_port()}/notification", tmp_path, sleeps)
    delivery = service.deliver(draft(service))
    assert delivery is not None and not delivery.ok
    assert delivery.send.state is SendState.FAILED
    assert sleeps == [0.5, 1.0, 2.0]


def test_a_rate_limit_is_waited_out_once_within_the_bound(tmp_path: Path) -> None:
    with ProviderStandIn(api_key=SECRETS["WHATSAPP_API_KEY"], auto_callbacks=False) as standin:
        sleeps: list[float] = []
        service = service_for(standin.notification_url, tmp_path, sleeps)
        standin.fail_next("429", reset="2s")
        waits: list[float] = []
        delivery = service.deliver(draft(service), on_wait=lambda _send, s: waits.append(s))
        assert delivery is not None and delivery.ok
        assert waits == [2.0] and sum(sleeps) == 2.0
        assert len(standin.requests) == 2
        standin.fail_next("429", reset="5m0s")
        late = service.deliver(draft(service))
        assert late is not None and late.send.state is SendState.FAILED
        assert "longer than the bot waits" in (late.send.error or "")
        assert len(standin.requests) == 3


def test_a_send_left_sending_by_a_crash_becomes_unknown(tmp_path: Path) -> None:
    service = service_for("http://127.0.0.1:9/notification", tmp_path, [])
    send_id = draft(service)
    service.store.transition(send_id, from_states=[SendState.CONFIRMED], to=SendState.SENDING)
    assert service.recover_stuck() == []  # not yet: it may still be waiting for the provider
    from datetime import timedelta

    from bot.store import sends, utcnow

    with service.store.engine.begin() as conn:
        conn.execute(sends.update().values(updated_at=utcnow() - timedelta(minutes=5)))
    (recovered,) = service.recover_stuck()
    assert recovered.state is SendState.UNKNOWN
    assert "stopped while waiting" in (recovered.error or "")
    assert service.recover_stuck() == []


def test_a_send_confirmed_but_never_sent_is_offered_for_delivery(tmp_path: Path) -> None:
    from datetime import timedelta

    from bot.store import sends, utcnow

    service = service_for("http://127.0.0.1:9/notification", tmp_path, [])
    send_id = draft(service)
    assert service.abandoned() == []
    with service.store.engine.begin() as conn:
        conn.execute(sends.update().values(updated_at=utcnow() - timedelta(minutes=5)))
    assert [s.id for s in service.abandoned()] == [send_id]


def stoppable_service(url: str, tmp_path: Path) -> SendService:
    """As the app makes it: its waits end when it is told to stop."""
    config = make_config(
        whatsapp={"api_url": url, "timeout_seconds": 5, "max_rate_limit_wait_seconds": 120}
    )
    store = Store.from_url(f"sqlite:///{tmp_path / 's.sqlite3'}")
    store.migrate()
    client = ProviderClient(api_url=url, api_key=SECRETS["WHATSAPP_API_KEY"], timeout_seconds=5)
    return SendService(config=config, store=store, provider=client)


def deliver_in_background(service: SendService, send_id: str) -> Future[Delivery | None]:
    return ThreadPoolExecutor(max_workers=1).submit(service.deliver, send_id)


def test_a_send_waiting_out_a_429_is_handed_back_when_the_app_stops(tmp_path: Path) -> None:
    with ProviderStandIn(api_key=SECRETS["WHATSAPP_API_KEY"], auto_callbacks=False) as standin:
        service = stoppable_service(standin.notification_url, tmp_path)
        standin.fail_next("429", retry_after=30)
        send_id = draft(service)
        delivering = deliver_in_background(service, send_id)
        standin.wait_for_requests(1)
        wait_until(lambda: service.get(send_id).state is SendState.SENDING)  # type: ignore[union-attr]
        started = time.monotonic()
        service.stop()
        delivery = delivering.result(timeout=5)
        assert time.monotonic() - started < 1
        assert delivery is not None and delivery.handed_back and not delivery.ok
        assert delivery.send.state is SendState.CONFIRMED
        assert delivery.send.error == HANDED_BACK
        # never taken for stuck, and offered to whoever sends next at once, not in minutes
        assert service.recover_stuck() == []
        assert [s.id for s in service.abandoned()] == [send_id]
        assert service.deliver(send_id) is None  # stopping: nothing new goes out
        assert len(standin.requests) == 1

        next_start = stoppable_service(standin.notification_url, tmp_path)
        sent = next_start.deliver(send_id)
        assert sent is not None and sent.ok
        assert sent.send.state is SendState.SENT and sent.send.error is None
        assert len(standin.requests) == 2 and len(standin.sends) == 1
        assert next_start.abandoned() == []


def test_a_call_in_flight_when_the_app_stops_finishes_and_is_recorded(tmp_path: Path) -> None:
    with ProviderStandIn(api_key=SECRETS["WHATSAPP_API_KEY"], auto_callbacks=False) as standin:
        service = stoppable_service(standin.notification_url, tmp_path)
        standin.latency = 1.0
        send_id = draft(service)
        delivering = deliver_in_background(service, send_id)
        wait_until(lambda: len(standin.requests) == 1)
        service.stop()
        delivery = delivering.result(timeout=5)
        assert delivery is not None and delivery.ok and not delivery.handed_back
        assert delivery.send.state is SendState.SENT
        assert delivery.send.transaction_id == standin.sends[0].transaction_id
        assert len(standin.requests) == 1


def test_a_confirmed_send_not_started_when_the_app_stops_is_handed_back(tmp_path: Path) -> None:
    service = stoppable_service(f"http://127.0.0.1:{free_port()}/notification", tmp_path)
    send_id = draft(service)
    assert service.abandoned() == []  # just confirmed: its worker is about to send it
    service.stop()
    assert service.deliver(send_id) is None
    handed = service.get(send_id)
    assert handed is not None and handed.state is SendState.CONFIRMED
    assert handed.error == HANDED_BACK
    assert [s.id for s in service.abandoned()] == [send_id]
