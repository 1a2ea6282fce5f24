"""The shown status is the most advanced one, whatever order and however often statuses arrive.

Property-based (hypothesis) over arrival orders, on the Store directly: a SQLite file, and a
fresh PostgreSQL database when TEST_DATABASE_URL is set. Ranks come from bot.statuses.describe;
a failure outranks everything, so it is final.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import secrets
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.core.statuses import describe
from bot.store import Store
from tests.reliability import figures
from tests.reliability.conftest import fresh_postgres

PROGRESS = ["QUEUE", "DEQUEUED", "SENT", "DELIVERED", "READ"]
NAMES = [
    *PROGRESS,
    "QUEUED",
    "FAILED",
    "BLACKLISTED",
    "REJECTED",
    "QUOTA_EXCEEDED",
    "WAITING_FOR_WINDOW",  # never seen before: kept, ranked lowest
    "PAUSED",
    "read",  # the provider's spelling may vary; the bot normalises
    " sent ",
    "DELIVERY_FAILED_SOMEHOW",  # unknown, but a failure by its words
]

SETTINGS = settings(
    max_examples=150,
    deadline=None,
    database=None,  # write nothing outside the test's own folders
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def status_store(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Store]:
    with contextlib.ExitStack() as stack:
        if request.param == "sqlite":
            folder: Path = tmp_path_factory.mktemp("statuses")
            url = f"sqlite:///{folder / 'statuses.sqlite3'}"
        else:
            url = stack.enter_context(fresh_postgres())
        store = Store.from_url(url)
        store.migrate()
        stack.callback(store.close)
        yield store


_URLS: dict[str, tuple[str, str]] = {}  # send → its callback token and externalId


def new_send(store: Store) -> str:
    send_id = secrets.token_hex(16)
    _URLS[send_id] = (secrets.token_urlsafe(24), secrets.token_hex(8))
    store.add_send(
        id=send_id,
        source="slash",
        sender_alias="support",
        sender_number="15550001111",
        recipient="+573001234567",
        kind="text",
        body="hello",
        external_id=_URLS[send_id][1],
        callback_token=_URLS[send_id][0],
        state="sent",
    )
    return send_id


def receive(store: Store, send_id: str, raw: str) -> None:
    """What StatusIntake does with a callback: the body kept and its status recorded, in the
    one store call it makes."""
    info = describe(raw)
    token, external_id = _URLS[send_id]
    body = json.dumps({"status": raw, "externalId": external_id})
    taken = store.take_callback(
        token, body, external_id=external_id, status=info.name, rank=info.rank
    )
    assert taken is not None and taken.send_id == send_id and not taken.mismatch


def expected(arrivals: list[str]) -> str:
    """The most advanced status; among equals (two failures), the first to arrive."""
    infos = [describe(raw) for raw in arrivals]
    best = max(info.rank for info in infos)
    return next(info.name for info in infos if info.rank == best)


@st.composite
def arrival_orders(draw: st.DrawFn) -> list[str]:
    """A set of statuses in any order, with any of them repeated anywhere."""
    chosen = draw(st.lists(st.sampled_from(NAMES), min_size=1, max_size=7, unique=True))
    order = list(draw(st.permutations(chosen)))
    for again in draw(st.lists(st.sampled_from(chosen), max_size=6)):
        order.insert(draw(st.integers(0, len(order))), again)
    return order


def _backend(store: Store) -> str:
    return store.engine.dialect.name


@SETTINGS
@given(arrivals=arrival_orders())
def test_any_order_and_duplication_shows_the_most_advanced(
    status_store: Store, arrivals: list[str]
) -> None:
    send_id = new_send(status_store)
    for raw in arrivals:
        receive(status_store, send_id, raw)
    shown = status_store.get_send(send_id).provider_status  # type: ignore[union-attr]
    wrong = shown != expected(arrivals)
    figures.add(
        f"order:{_backend(status_store)}",
        f"status arrival orders: permutations, duplicates, concurrent ({_backend(status_store)})",
        1,
        "orders",
        int(wrong),
        "wrong final statuses",
    )
    assert not wrong, (arrivals, shown)
    if any(describe(raw).is_failure for raw in arrivals):
        assert describe(shown or "").is_failure  # a failure is final


def test_every_permutation_of_the_progress_statuses(status_store: Store) -> None:
    wrong = []
    orders = list(itertools.permutations([*PROGRESS, "FAILED"]))[::6]  # 120 of the 720
    orders += [tuple(p) for p in itertools.permutations(PROGRESS)]  # all 120
    for order in orders:
        send_id = new_send(status_store)
        for raw in [*order, order[0]]:  # and the first one again, last
            receive(status_store, send_id, raw)
        shown = status_store.get_send(send_id).provider_status  # type: ignore[union-attr]
        if shown != expected(list(order)):
            wrong.append((order, shown))
    figures.add(
        f"order:{_backend(status_store)}",
        f"status arrival orders: permutations, duplicates, concurrent ({_backend(status_store)})",
        len(orders),
        "orders",
        len(wrong),
        "wrong final statuses",
    )
    assert wrong == []


def test_concurrent_arrivals_show_the_most_advanced(status_store: Store) -> None:
    """Six threads deliver the same statuses at once, in different orders, 20 times over."""
    wrong = []
    for round_ in range(20):
        send_id = new_send(status_store)
        barrier = threading.Barrier(6)
        orders = [list(p) for p in itertools.islice(itertools.permutations(PROGRESS), 6)]
        orders = [o[round_ % 5 :] + o[: round_ % 5] for o in orders]

        def deliver(
            order: list[str], send_id: str = send_id, barrier: threading.Barrier = barrier
        ) -> None:
            barrier.wait(10)
            for raw in order:
                receive(status_store, send_id, raw)

        threads = [threading.Thread(target=deliver, args=(o,)) for o in orders]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(30)
        send = status_store.get_send(send_id)
        assert send is not None
        rows = status_store.timeline(send_id)
        timeline = [row.status for row in rows]
        kept = len(status_store.callbacks_for(send_id))
        read_advanced = any(row.status == "READ" and row.advanced for row in rows)
        if (
            send.provider_status != "READ"
            or sorted(timeline) != sorted(PROGRESS)
            or kept != 6 * len(PROGRESS)
            or not read_advanced
        ):
            wrong.append((send.provider_status, timeline, kept, read_advanced))
    figures.add(
        f"order:{_backend(status_store)}",
        f"status arrival orders: permutations, duplicates, concurrent ({_backend(status_store)})",
        20,
        "orders",
        len(wrong),
        "wrong final statuses",
    )
    assert wrong == []
