"""Two `whatsapp-bot serve` instances over one PostgreSQL database, as behind a load balancer.

Each instance has its own config file whose `public_base_url` is its own URL; both share the
database, the stand-in Slack, the stand-in provider and the file host. Slack requests and
provider callbacks land on either instance; one instance is killed (SIGKILL, workers and all)
half-way and the other carries on. At the end every thread is right and nothing was lost or
done twice.
"""

from __future__ import annotations

import json
import os
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bot.core import ids
from bot.sandbox.driver import SlackDriver
from bot.sandbox.files import FileHost
from bot.sandbox.images import jpeg, png
from bot.sandbox.launch import AppProcess
from bot.sandbox.provider import ProviderStandIn
from bot.sandbox.slack import SlackStandIn
from bot.store import SendRecord, SendState, Store, callbacks, sends
from tests.conftest import SECRETS, config_dict, reset_postgres
from tests.scenarios.harness import CHANNEL, OTHER_USER, USER, text_of

ROOT = Path(__file__).resolve().parents[2]


class Instance(AppProcess):
    """One `serve` process (own port, own config file) in a process group of its own."""

    def __init__(self, name: str, tmp_path: Path, database_url: str, shared: Shared) -> None:
        super().__init__(
            config_path=tmp_path / f"config-{name}.yaml",
            log_path=tmp_path / f"serve-{name}.log",
            env={**os.environ, **SECRETS},
            cwd=ROOT,
            name=name,
            own_group=True,  # killed with its workers
        )
        self.configure(
            config_dict(whatsapp={"timeout_seconds": 5}),
            slack_api_url=shared.slack.api_url,
            provider_url=shared.provider.notification_url,
            database_url=database_url,
        )
        self.driver = SlackDriver(self.url, SECRETS["SLACK_SIGNING_SECRET"], slack=shared.slack)


class Shared:
    def __init__(self) -> None:
        self.slack = SlackStandIn(bot_token=SECRETS["SLACK_BOT_TOKEN"])
        self.provider = ProviderStandIn(
            api_key=SECRETS["WHATSAPP_API_KEY"], auto_callbacks=False
        ).start()
        self.files = FileHost()
        self.coffee_url = self.files.add("coffee.jpg", jpeg(), "image/jpeg")

    def close(self) -> None:
        self.slack.stop()
        self.provider.stop()
        self.files.stop()


@pytest.fixture
def postgres_url() -> str:
    url = os.environ.get("TEST_DATABASE_URL")
    if not url:
        pytest.skip("two instances need one PostgreSQL: set TEST_DATABASE_URL (`.ci/run` does)")
    reset_postgres(url)
    return url


@pytest.fixture
def pair(tmp_path: Path, postgres_url: str) -> Iterator[tuple[Instance, Instance, Shared]]:
    shared = Shared()
    first = Instance("a", tmp_path, postgres_url, shared)
    second = Instance("b", tmp_path, postgres_url, shared)
    try:
        first.start(wait=False)
        second.start(wait=False)
        first.wait_healthy()
        second.wait_healthy()
        yield first, second, shared
    finally:
        first.stop()
        second.stop()
        shared.close()


def fetch(url: str) -> tuple[int, str | None, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=5) as answer:
            return answer.status, answer.headers.get("Content-Type"), answer.read()
    except urllib.error.HTTPError as error:
        return error.code, error.headers.get("Content-Type"), error.read()


def thread_of(slack: SlackStandIn, send: SendRecord) -> list[dict[str, Any]]:
    root = send.thread_ts or send.message_ts
    assert root is not None, f"send {send.id} has no Slack message"
    return slack.thread(CHANNEL, root)


def wait_for_send(store: Store, predicate: Any, what: str, timeout: float = 20) -> SendRecord:
    deadline = time.monotonic() + timeout
    while True:
        with store.engine.connect() as conn:
            rows = conn.execute(sends.select()).mappings().all()
        for row in rows:
            send = SendRecord.from_row(row)
            if predicate(send):
                return send
        if time.monotonic() > deadline:
            raise AssertionError(f"no send {what}: {[dict(r) for r in rows]}")
        time.sleep(0.05)


def wait_thread(slack: SlackStandIn, store: Store, send_id: str, *contains: str) -> list[str]:
    """The send's thread (record first), once it shows everything in `contains`."""
    deadline = time.monotonic() + 20
    texts: list[str] = []
    while time.monotonic() < deadline:
        send = store.get_send(send_id)
        if send is not None and (send.thread_ts or send.message_ts):
            texts = [text_of(m) for m in thread_of(slack, send)]
            if all(any(word in t for t in texts) for word in contains):
                return texts
        time.sleep(0.05)
    raise AssertionError(f"thread of {send_id} never showed {contains}; it shows {texts}")


def wait_sends(provider: ProviderStandIn, count: int) -> None:
    """Until the provider has accepted (and given a transactionId to) `count` sends."""
    provider.wait_for(lambda: len(provider.sends) >= count, timeout=15)


def wait_record(slack: SlackStandIn, store: Store, send_id: str, word: str) -> None:
    """The send's record (its channel message, or its offer in a file's thread) shows `word`."""
    deadline = time.monotonic() + 20
    shown = ""
    while time.monotonic() < deadline:
        send = store.get_send(send_id)
        record = slack.message(CHANNEL, send.message_ts) if send and send.message_ts else None
        shown = text_of(record) if record else ""
        if word in shown:
            return
        time.sleep(0.05)
    raise AssertionError(f"the record of {send_id} never showed {word!r}; it shows {shown!r}")


def post_to(
    provider: ProviderStandIn, instance: Instance, transaction_id: str, status: str, **extra: Any
) -> int:
    """Post a status to `instance`'s callback path for the send, whatever URL it was given."""
    named = provider.get_send(transaction_id).callbacks[0]
    path = named.split("/whatsapp/callbacks/", 1)[1]
    url = f"{instance.url}/whatsapp/callbacks/{path}"
    payload = provider.callback_payload(transaction_id, status, url=named, **extra)
    attempt = provider.post_raw(url, json.dumps(payload).encode(), transaction_id=transaction_id)
    assert attempt.http_status == 200, (attempt, instance.log())
    return 1


def test_two_instances_share_one_database_and_survive_a_crash(
    pair: tuple[Instance, Instance, Shared],
) -> None:
    a, b, shared = pair
    slack, provider = shared.slack, shared.provider
    store = Store.from_url(os.environ["TEST_DATABASE_URL"])
    posted: dict[str, int] = {}
    try:
        # 1. /whatsapp on A, Send clicked on B: one provider request, the thread from B.
        command = f"image +573001234567 {shared.coffee_url} The best coffee in the town!"
        assert a.driver.slash_command(command, user=USER, channel=CHANNEL).status == 200
        slack.wait_for(
            lambda: any(
                "Send an image on WhatsApp?" in text_of(m)
                for m in slack.ephemerals(channel=CHANNEL, user=USER)
            ),
            timeout=10,
        )
        assert b.driver.click(ids.SEND, user=USER, channel=CHANNEL).status == 200
        wait_sends(provider, 1)
        first_txid = provider.sends[0].transaction_id
        first = wait_for_send(store, lambda s: s.transaction_id == first_txid, "with 1st txid")
        wait_thread(slack, store, first.id, first_txid)
        named = provider.get_send(first_txid).callbacks[0]
        assert named.startswith(b.url + "/whatsapp/callbacks/")  # B delivered it

        # Statuses alternate between the instance the URL names and the other one.
        posted[first.id] = 0
        for status, target in (("QUEUE", b), ("SENT", a), ("DELIVERED", b)):
            posted[first.id] += post_to(provider, target, first_txid, status)
        wait_thread(slack, store, first.id, "Status: *DELIVERED*")

        # 2. A file shared (the event reaches B), its offer's Send clicked on A.
        image = png(64, 48)
        shared_file = b.driver.file_share(
            "parcel.png", image, user=USER, channel=CHANNEL, text="Your parcel arrived"
        )
        file_ts = str(shared_file.sent["event"]["ts"])
        slack.wait_for(
            lambda: any("Send *parcel.png*" in text_of(m) for m in slack.thread(CHANNEL, file_ts)),
            timeout=15,
        )
        assert a.driver.click(ids.SEND, user=OTHER_USER, channel=CHANNEL).status == 200
        wait_sends(provider, 2)
        second_txid = provider.sends[1].transaction_id
        link = provider.sends[1].message
        assert link.startswith(a.url + "/media/")
        other_link = b.url + link.removeprefix(a.url)
        for url in (link, other_link):
            assert fetch(url) == (200, "image/png", image)
        second = wait_for_send(store, lambda s: s.transaction_id == second_txid, "2nd txid")
        wait_thread(slack, store, second.id, second_txid)

        # A gets the second send's first status and shows it; then A dies mid-way.
        posted[second.id] = post_to(provider, a, second_txid, "QUEUE")
        wait_thread(slack, store, second.id, "Status: *QUEUE*")
        # A's render pass has released its lease, having shown the status: killed after that
        wait_for_send(
            store,
            lambda s: s.id == second.id and not s.dirty and s.render_owner is None,
            "shown by A, its lease released",
        )
        a.kill()
        assert fetch(other_link) == (200, "image/png", image)

        # 3. B carries on: the rest of both sends' statuses (a late SENT and a duplicate too).
        for txid, send_id, statuses in (
            (first_txid, first.id, ["READ", "SENT"]),
            (second_txid, second.id, ["SENT", "DELIVERED", "READ", "READ"]),
        ):
            for status in statuses:
                posted[send_id] += post_to(provider, b, txid, status)

        # 4. A whole send on B alone after the crash, ending in a failure.
        command = f"image +573001234567 {shared.coffee_url} After the crash"
        assert b.driver.slash_command(command, user=USER, channel=CHANNEL).status == 200
        slack.wait_for(
            lambda: any(
                "After the crash" in text_of(m) and "Send" in text_of(m)
                for m in slack.ephemerals(channel=CHANNEL, user=USER)
            ),
            timeout=10,
        )
        assert b.driver.click(ids.SEND, user=USER, channel=CHANNEL).status == 200
        wait_sends(provider, 3)
        third_txid = provider.sends[2].transaction_id
        third = wait_for_send(store, lambda s: s.transaction_id == third_txid, "3rd txid")
        posted[third.id] = post_to(provider, b, third_txid, "QUEUE")
        posted[third.id] += post_to(
            provider, b, third_txid, "FAILED", reason="The number is not on WhatsApp"
        )

        # Every thread is right.
        texts = wait_thread(slack, store, first.id, first_txid, "Status: *READ*")
        assert sum("Status:" in t for t in texts) == 1
        texts = wait_thread(slack, store, second.id, second_txid, "Status: *READ*")
        assert sum("Status:" in t for t in texts) == 1
        texts = wait_thread(slack, store, third.id, third_txid, "*FAILED*", "not on WhatsApp")

        # Nothing lost, nothing done twice.
        assert len(provider.requests) == 3
        assert [s.transaction_id for s in provider.sends] == [first_txid, second_txid, third_txid]
        final = {s: store.get_send(s) for s in posted}
        assert {s: (r.state, r.provider_status) for s, r in final.items() if r} == {
            first.id: (SendState.SENT, "READ"),
            second.id: (SendState.SENT, "READ"),
            third.id: (SendState.SENT, "FAILED"),
        }
        with store.engine.connect() as conn:
            rows = conn.execute(callbacks.select()).mappings().all()
        stored: dict[str, int] = {}
        for row in rows:
            stored[row["send_id"]] = stored.get(row["send_id"], 0) + 1
        assert stored == posted
        progress = ["QUEUE", "SENT", "DELIVERED", "READ"]
        for send_id, expected in (
            (first.id, progress),
            (second.id, progress),
            (third.id, ["QUEUE", "FAILED"]),
        ):
            assert sorted(row.status for row in store.timeline(send_id)) == sorted(expected)
        for send_id, word in ((first.id, "*READ*"), (second.id, "*READ*"), (third.id, "FAILED")):
            wait_record(slack, store, send_id, word)
        assert b.process is not None and b.process.poll() is None
    finally:
        store.close()


def test_a_thread_whose_updater_dies_is_taken_over_within_seconds(
    pair: tuple[Instance, Instance, Shared],
) -> None:
    """A is in the middle of a pass (Slack made it wait) when it is killed: B brings the
    thread up to date within 3 s of the kill, and posts nothing A had posted."""
    a, b, shared = pair
    slack, provider = shared.slack, shared.provider
    store = Store.from_url(os.environ["TEST_DATABASE_URL"])
    try:
        command = f"image +573001234567 {shared.coffee_url} Taken over"
        assert a.driver.slash_command(command, user=USER, channel=CHANNEL).status == 200
        slack.wait_for(
            lambda: any(
                "Taken over" in text_of(m) and "Send" in text_of(m)
                for m in slack.ephemerals(channel=CHANNEL, user=USER)
            ),
            timeout=10,
        )
        assert a.driver.click(ids.SEND, user=USER, channel=CHANNEL).status == 200
        wait_sends(provider, 1)
        txid = provider.sends[0].transaction_id
        send = wait_for_send(store, lambda s: s.transaction_id == txid, "with its txid")
        post_to(provider, a, txid, "QUEUE")
        wait_thread(slack, store, send.id, txid, "Status: *QUEUE*")
        wait_for_send(store, lambda s: s.id == send.id and not s.dirty, "showing QUEUE", timeout=10)

        # A takes FAILED, edits the record, then Slack makes it wait 5 s before its reply.
        limited = len(slack.calls_to("chat.postMessage"))
        slack.fail_next("chat.postMessage", "ratelimited", retry_after=5)
        post_to(provider, a, txid, "FAILED", reason="The number is not on WhatsApp")
        slack.wait_for(lambda: len(slack.calls_to("chat.postMessage")) > limited, timeout=10)
        held = store.get_send(send.id)
        assert held is not None and held.dirty and held.render_owner is not None
        killed = time.monotonic()
        a.kill()

        wait_thread(slack, store, send.id, "not on WhatsApp", "Status: *FAILED*")
        wait_record(slack, store, send.id, "FAILED")
        took = time.monotonic() - killed
        assert took < 3.0, f"B took the thread over {took:.1f} s after the kill\n{b.log()}"

        time.sleep(1.0)  # anything posted twice would be posted by now
        root = send.thread_ts or send.message_ts
        replies = [
            str(c.params.get("text"))
            for c in slack.calls_to("chat.postMessage")
            if c.status == 200 and c.response.get("ok") and c.params.get("thread_ts") == root
        ]
        assert len(replies) == len(set(replies)), replies
        texts = [text_of(m) for m in thread_of(slack, store.get_send(send.id) or send)]
        assert len(texts) == len(set(texts)), texts
        assert sum("Status:" in t for t in texts) == 1
    finally:
        store.close()


def test_two_messages_at_once_for_a_new_conversation_make_one_thread_across_instances(
    pair: tuple[Instance, Instance, Shared],
) -> None:
    """Each of ten new customers writes twice in the same instant, once to each instance:
    every customer gets one thread in the inbox channel, holding both messages."""
    import threading

    import requests

    from bot.core import tokens

    first, second, shared = pair
    token = tokens.sender_token(SECRETS["WHATSAPP_BOT_SECRET"], "support")
    customers = [f"57300123{n:04d}" for n in range(10)]
    barrier = threading.Barrier(len(customers) * 2)
    answers: list[int] = []

    def write(instance: Instance, customer: str, n: int) -> None:
        body = {"id": f"wamid.{customer}.{n}", "user": customer, "text": f"msg {n} of {customer}"}
        barrier.wait()
        answer = requests.post(f"{instance.url}/whatsapp/inbound/{token}", json=body, timeout=20)
        answers.append(answer.status_code)

    threads = [
        threading.Thread(target=write, args=(instance, customer, n))
        for customer in customers
        for n, instance in enumerate((first, second))
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert answers == [200] * len(threads)

    def roots() -> dict[str, list[dict[str, Any]]]:
        found: dict[str, list[dict[str, Any]]] = {}
        for message in shared.slack.channel_messages(CHANNEL):
            for customer in customers:
                if f"+{customer}" in text_of(message):
                    found.setdefault(customer, []).append(message)
        return found

    def settled() -> dict[str, list[dict[str, Any]]] | None:
        found = roots()
        if len(found) < len(customers):
            return None
        for messages in found.values():
            thread = shared.slack.thread(CHANNEL, messages[0]["ts"])
            if len(thread) < 2:
                return None
        return found

    found = shared.slack.wait_for(settled, timeout=30)
    time.sleep(1.0)  # a second thread would have been posted by now; look again
    found = roots()
    for customer in customers:
        assert len(found[customer]) == 1, (customer, [text_of(m) for m in found[customer]])
        texts = [text_of(m) for m in shared.slack.thread(CHANNEL, found[customer][0]["ts"])]
        assert len(texts) == 2
        assert {f"msg {n} of {customer}" for n in (0, 1)} <= {
            line.lstrip(">") for text in texts for line in text.splitlines()
        }
