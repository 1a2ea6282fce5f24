"""SendService's transitions, each taken once: confirm, cancel, retry; and finding a send. On
SQLite and PostgreSQL alike."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest

from bot.store import SendRecord, SendState, Store
from bot.usecases.sending import SendService
from bot.whatsapp.client import ProviderClient
from bot.whatsapp.payloads import Message, MessageKind
from tests.conftest import make_config

ASKER = "U0ALICE"
CLICKER = "U0BOB"


@pytest.fixture
def service(store: Store) -> Iterator[SendService]:
    provider = ProviderClient(api_url="http://127.0.0.1:9/notification", api_key="unused")
    yield SendService(config=make_config(), store=store, provider=provider)
    provider.close()


def draft(service: SendService) -> SendRecord:
    return service.create_draft(
        Message(MessageKind.TEXT, "+573001234567", "Your order shipped"),
        sender=service.resolve_sender(None),
        source="slash",
        channel_id="C0123SUPPORT",
        user_id=ASKER,
    )


def moved(service: SendService, send_id: str, *states: SendState, **changes: object) -> None:
    """Walk a send through `states` as the delivery would."""
    current = service.store.get_send(send_id)
    assert current is not None
    for state in states:
        after = service.store.transition(send_id, from_states=[current.state], to=state, **changes)
        assert after is not None, (current.state, state)
        current = after


def test_confirm_takes_a_draft_once(service: SendService) -> None:
    send = draft(service)
    confirmed = service.confirm(send.id)
    assert confirmed is not None and confirmed.state is SendState.CONFIRMED
    assert confirmed.user_id == ASKER  # nobody named: the asker stays
    assert service.confirm(send.id) is None
    assert service.confirm(send.id, by=CLICKER) is None
    assert service.get(send.id) == confirmed


def test_confirm_records_who_confirmed_a_draft_anyone_may_send(service: SendService) -> None:
    send = draft(service)
    confirmed = service.confirm(send.id, by=CLICKER)
    assert confirmed is not None and confirmed.user_id == CLICKER


def test_of_many_confirming_at_once_exactly_one_does(service: SendService) -> None:
    send = draft(service)
    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(lambda _: service.confirm(send.id), range(16)))
    assert sum(r is not None for r in results) == 1
    final = service.get(send.id)
    assert final is not None and final.state is SendState.CONFIRMED


def test_cancel_takes_only_a_draft(service: SendService) -> None:
    send = draft(service)
    cancelled = service.cancel(send.id)
    assert cancelled is not None and cancelled.state is SendState.CANCELLED
    assert service.cancel(send.id) is None
    assert service.confirm(send.id) is None  # a cancelled send is never sent
    other = draft(service)
    assert service.confirm(other.id) is not None
    assert service.cancel(other.id) is None  # nor is a confirmed one taken back
    final = service.get(other.id)
    assert final is not None and final.state is SendState.CONFIRMED


def test_retry_takes_only_an_unknown_send_and_clears_its_outcome(service: SendService) -> None:
    send = draft(service)
    assert service.retry(send.id) is None
    moved(service, send.id, SendState.CONFIRMED)
    assert service.retry(send.id) is None
    moved(service, send.id, SendState.SENDING)
    moved(service, send.id, SendState.UNKNOWN, error="no answer", outcome_ts="1.5")
    retried = service.retry(send.id)
    assert retried is not None and retried.state is SendState.CONFIRMED
    assert retried.error is None and retried.outcome_ts is None
    assert service.retry(send.id) is None  # once: it is confirmed now


def test_retry_never_resends_a_send_with_a_result(service: SendService) -> None:
    for result in (SendState.SENT, SendState.FAILED):
        send = draft(service)
        moved(service, send.id, SendState.CONFIRMED, SendState.SENDING, result)
        assert service.retry(send.id) is None
        after = service.get(send.id)
        assert after is not None and after.state is result


def test_find_by_transaction_id_or_by_id(service: SendService) -> None:
    send = draft(service)
    other = draft(service)
    moved(service, send.id, SendState.CONFIRMED, SendState.SENDING)
    moved(service, send.id, SendState.SENT, transaction_id="a1b2c3d4-0000-4000-8000-000000000001")
    found = service.find("a1b2c3d4-0000-4000-8000-000000000001")
    assert found is not None and found.id == send.id
    by_id = service.find(other.id)
    assert by_id is not None and by_id.id == other.id
    assert service.find("a1b2c3d4-0000-4000-8000-000000000002") is None
    assert service.find("") is None


def test_a_draft_with_an_origin_is_recorded_once_even_when_asked_together(
    service: SendService,
) -> None:
    message = Message(MessageKind.TEXT, "+573001234567", "One reply")
    sender = service.resolve_sender(None)

    def once() -> SendRecord | None:
        return service.create_draft_once(
            message, origin="reply:V0001", sender=sender, source="reply", user_id=ASKER
        )

    with ThreadPoolExecutor(max_workers=4) as pool:
        made = [send for send in pool.map(lambda _: once(), range(4)) if send is not None]
    assert len(made) == 1
    assert service.store.send_with_origin("reply:V0001") == made[0]
    assert made[0].origin == "reply:V0001" and made[0].state is SendState.DRAFT
    assert once() is None
    assert service.store.send_with_origin("reply:V0002") is None
