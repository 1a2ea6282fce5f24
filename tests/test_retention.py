"""Retention on SQLite and PostgreSQL: kept bytes deleted after `media_days` (the row stays),
content replaced after `content_days` (ids, numbers, times, senders and statuses stay), in
batches, each row once, by any number of instances at once; and forgetting one customer."""

from __future__ import annotations

import json
import secrets
import threading
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa

from bot.core import phones
from bot.core.retention import REMOVED_ON_REQUEST, redact_attachments, removed_after
from bot.store import (
    SendState,
    Store,
    callbacks,
    conversations,
    inbound_messages,
    media,
    sends,
    statuses,
)
from bot.usecases.retention import Retention
from tests.conftest import make_config

NOW = datetime(2027, 3, 1, 12, 0, tzinfo=UTC)
OLD = NOW - timedelta(days=45)
YOUNG = NOW - timedelta(days=2)
CUSTOMER = "+573001234567"
OTHER = "+573009876543"


class Clock:
    def __call__(self) -> datetime:
        return NOW


def a_send(store: Store, *, at: datetime = OLD, **values: Any) -> str:
    send_id = secrets.token_hex(16)
    row: dict[str, Any] = {
        "id": send_id,
        "source": "slash",
        "sender_alias": "support",
        "sender_number": "15550001111",
        "recipient": CUSTOMER,
        "kind": "image",
        "body": "https://files.example/parcel.png",
        "caption": "Your parcel, Ana",
        "external_id": secrets.token_hex(16),
        "callback_token": secrets.token_urlsafe(24),
        "state": SendState.SENT,
        "transaction_id": secrets.token_hex(8),
        "provider_status": "READ",
        **values,
    }
    store.add_send(**row)
    with store.engine.begin() as conn:
        conn.execute(
            sends.update().where(sends.c.id == send_id).values(created_at=at, updated_at=at)
        )
    return send_id


def a_message(
    store: Store, key: str, *, at: datetime = OLD, customer: str = CUSTOMER, **values: Any
) -> str:
    taken = store.take_inbound(
        sender_alias=values.pop("sender_alias", "support"),
        customer=customer,
        answerable=True,
        message={
            "dedup_key": key,
            "shape": "json",
            "kind": "image",
            "text": "My address is Calle 10 #4-21",
            "customer_name": "Ana Gómez",
            "attachments": json.dumps(
                [{"url": "https://provider.example/m/1", "file_name": "id.jpg", "caption": "me"}]
            ),
            "raw": json.dumps({"user": customer.lstrip("+"), "text": "My address"}),
            **values,
        },
        optout=None,
        at=at,
    )
    return taken.message_id


def a_file(store: Store, *, at: datetime = OLD, data: bytes = b"\x89PNG-bytes") -> str:
    media_id = secrets.token_hex(16)
    store.add_media(
        id=media_id,
        expires_at=NOW + timedelta(days=1),
        content_type="image/png",
        size=len(data),
        sha256="0" * 64,
        file_name="parcel.png",
        slack_file_id="F1",
        data=data,
    )
    with store.engine.begin() as conn:
        conn.execute(media.update().where(media.c.id == media_id).values(created_at=at))
    return media_id


def rows(store: Store, table: sa.Table) -> dict[str, dict[str, Any]]:
    key = next(iter(table.primary_key.columns))
    with store.engine.connect() as conn:
        return {str(r[key.name]): dict(r) for r in conn.execute(table.select()).mappings()}


def retention(store: Store, **days: Any) -> Retention:
    config = make_config(retention=days)
    return Retention(config=config, store=store, clock=Clock(), pause=0.0)


# kept bytes


def test_old_kept_bytes_are_deleted_and_their_row_stays(store: Store) -> None:
    old, young = a_file(store), a_file(store, at=YOUNG)
    done = retention(store, media_days=30).purge()
    assert (done.media, done.sends, done.inbound_messages) == (1, 0, 0)
    gone = store.get_media(old)
    assert gone is not None and gone.data == b"" and gone.purged_at == NOW
    assert (gone.size, gone.content_type, gone.file_name) == (10, "image/png", "parcel.png")
    kept = store.get_media(young)
    assert kept is not None and kept.data == b"\x89PNG-bytes" and kept.purged_at is None
    assert b"".join(store.media_chunks(old, size=10)) == b""
    assert retention(store, media_days=30).purge().total == 0  # each row once


def test_kept_bytes_go_in_batches(store: Store) -> None:
    for _ in range(5):
        a_file(store)
    assert store.purge_old_media(before=NOW, now=NOW, limit=2) == 2
    assert store.purge_old_media(before=NOW, now=NOW, limit=2) == 2
    assert store.purge_old_media(before=NOW, now=NOW, limit=2) == 1
    assert store.purge_old_media(before=NOW, now=NOW, limit=2) == 0


# content


def test_content_days_null_keeps_every_caption_and_message(store: Store) -> None:
    a_send(store)
    a_message(store, "id:1")
    assert retention(store).purge().total == 0
    assert retention(store, content_days=None).purge().total == 0


def test_old_content_is_replaced_and_the_audit_trail_keeps_its_shape(store: Store) -> None:
    image = a_send(store, file_name=None)
    text = a_send(store, kind="text", body="Hola Ana, tu pedido 123", caption=None)
    document = a_send(store, kind="document", caption=None, file_name="invoice-ana.pdf")
    young = a_send(store, at=YOUNG)
    store.add_status(image, "READ", rank=5, at=OLD)
    old_message = a_message(store, "id:old")
    young_message = a_message(store, "id:young", at=YOUNG)
    before = rows(store, sends)
    before_messages = rows(store, inbound_messages)

    done = retention(store, content_days=30).purge()

    assert (done.sends, done.inbound_messages) == (3, 1)
    words = removed_after(30)
    assert words == "[removed after 30 days]"
    after = rows(store, sends)
    assert after[image]["caption"] == words and after[image]["file_name"] is None
    assert after[image]["body"] == before[image]["body"]  # a media URL is not a text
    assert after[text]["body"] == words and after[text]["caption"] is None
    assert after[document]["file_name"] == words and after[document]["caption"] is None
    for send_id in (image, text, document):
        changed = {k for k in after[send_id] if after[send_id][k] != before[send_id][k]}
        assert changed <= {"caption", "file_name", "body", "content_removed_at"}
        assert after[send_id]["content_removed_at"] is not None
        # Slack is not edited for it: neither `version` nor `dirty` changed (above)
    assert after[young] == before[young]
    assert [row.status for row in store.timeline(image)] == ["READ"]
    message = rows(store, inbound_messages)[old_message]
    assert message["text"] == words and message["raw"] == words
    assert json.loads(message["attachments"]) == [
        {"url": words, "file_name": words, "caption": words}
    ]
    for key in ("customer", "customer_name", "received_at", "provider_id", "dedup_key"):
        assert message[key] == before_messages[old_message][key]
    assert rows(store, inbound_messages)[young_message] == before_messages[young_message]
    again = retention(store, content_days=30).purge()
    assert again.total == 0 and rows(store, sends) == after


def test_content_goes_in_batches_of_rows(store: Store) -> None:
    ids = [a_send(store, at=OLD + timedelta(minutes=i)) for i in range(5)]
    assert store.remove_old_send_content(before=NOW, words="x", now=NOW, limit=2) == 2
    done = {k for k, v in rows(store, sends).items() if v["content_removed_at"] is not None}
    assert len(done) == 2 and done <= set(ids)
    assert store.remove_old_send_content(before=NOW, words="x", now=NOW, limit=10) == 3
    assert store.remove_old_send_content(before=NOW, words="x", now=NOW, limit=10) == 0


def test_instances_purging_at_once_do_each_row_once(store: Store) -> None:
    for i in range(120):
        a_send(store, at=OLD + timedelta(seconds=i))
        a_message(store, f"id:{i}")
    counts: list[int] = []
    lock = threading.Lock()

    def one_instance() -> None:
        other = Store.from_url(store.engine.url.render_as_string(hide_password=False))
        try:
            rounds = Retention(
                config=make_config(retention={"content_days": 30}),
                store=other,
                clock=Clock(),
                pause=0.0,
            )
            # small batches, so that the instances meet on the same rows
            rounds.store.remove_old_send_content = _small(  # type: ignore[method-assign]
                other.remove_old_send_content
            )
            done = rounds.purge()
            with lock:
                counts.append(done.sends + done.inbound_messages)
        finally:
            other.close()

    threads = [threading.Thread(target=one_instance) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sum(counts) == 240
    assert all(r["content_removed_at"] is not None for r in rows(store, sends).values())


def _small(remove: Any) -> Any:
    return lambda **kw: remove(**{**kw, "limit": 7})


def test_a_send_whose_content_was_removed_is_never_sent_again(store: Store) -> None:
    draft = a_send(store, state=SendState.DRAFT, kind="text", body="hi", caption=None)
    unknown = a_send(store, state=SendState.UNKNOWN)
    retention(store, content_days=30).purge()
    assert store.transition(draft, from_states=[SendState.DRAFT], to=SendState.CONFIRMED) is None
    assert (
        store.transition(unknown, from_states=[SendState.UNKNOWN], to=SendState.CONFIRMED) is None
    )
    cancelled = store.transition(draft, from_states=[SendState.DRAFT], to=SendState.CANCELLED)
    assert cancelled is not None and cancelled.state is SendState.CANCELLED


def test_redacted_attachments_keep_their_count_and_other_keys() -> None:
    given = json.dumps([{"url": "u", "file_name": None, "caption": "c", "size": 3}, "odd"])
    assert json.loads(redact_attachments(given, "W")) == [
        {"url": "W", "file_name": None, "caption": "W", "size": 3},
        "W",
    ]
    assert redact_attachments("not json", "W") == "[]"


# forgetting one customer


def test_forgetting_a_customer_masks_the_number_and_erases_the_content_everywhere(
    store: Store,
) -> None:
    digits = CUSTOMER.lstrip("+")
    kept = a_file(store)
    sent = a_send(store, media_id=kept, channel_id="C1", message_ts="1.1", error=None)
    failed = a_send(
        store,
        kind="text",
        body="Hola",
        caption=None,
        state=SendState.FAILED,
        error=f"the provider refused {CUSTOMER}",
    )
    draft = a_send(store, state=SendState.DRAFT, at=YOUNG)
    theirs_too = a_send(store, recipient=OTHER, media_id=None)
    store.add_status(failed, "FAILED", rank=9, at=OLD, detail=f"{digits} is not on WhatsApp")
    linked = store.record_callback(sent, json.dumps({"to": CUSTOMER, "status": "READ"}), "READ")
    loose = store.record_callback(None, f"to={digits}&status=SENT", "SENT")
    unrelated = store.record_callback(theirs_too, json.dumps({"to": OTHER}), "READ")
    message = a_message(store, "id:1", at=YOUNG)
    query = a_message(store, f"mo:{CUSTOMER}:abc:1733300000", shape="query", at=YOUNG)
    with store.engine.begin() as conn:
        conn.execute(
            inbound_messages.update()
            .where(inbound_messages.c.id == message)
            .values(
                message_ts="2.2",
                channel_id="C1",
                files_shown=json.dumps([{"name": "id.jpg", "file_id": "F9", "size": 3}]),
            )
        )
    store.opt_out("sales", CUSTOMER, f"{CUSTOMER} wrote STOP")
    other_message = a_message(store, "id:other", customer=OTHER)
    before = {t.name: rows(store, t) for t in (sends, inbound_messages, callbacks, conversations)}

    masked = phones.mask(CUSTOMER)
    done = store.forget_customer(CUSTOMER, masked, REMOVED_ON_REQUEST, NOW)

    assert masked == "+57300•••4567"
    assert (done.sends, done.inbound_messages, done.conversations) == (3, 2, 2)
    assert (done.statuses, done.callbacks, done.media, done.opted_out) == (1, 2, 1, 1)
    assert done.total == 11
    after_sends = rows(store, sends)
    for send_id in (sent, failed, draft):
        row = after_sends[send_id]
        assert row["recipient"] == masked and row["body"] == REMOVED_ON_REQUEST
        assert row["caption"] in (None, REMOVED_ON_REQUEST) and row["dirty"]
        assert row["version"] == before["sends"][send_id]["version"] + 1
        assert row["transaction_id"] == before["sends"][send_id]["transaction_id"]
        assert row["updated_at"] == before["sends"][send_id]["updated_at"]
    assert after_sends[sent]["state"] == "sent"
    assert after_sends[failed]["error"] == "the provider refused +57300•••4567"
    assert after_sends[draft]["state"] == "cancelled"  # never to go to a masked number
    assert after_sends[theirs_too] == before["sends"][theirs_too]
    (status,) = store.timeline(failed)
    assert status.detail == "57300•••4567 is not on WhatsApp"
    bodies = {k: v["body"] for k, v in rows(store, callbacks).items()}
    assert json.loads(bodies[str(linked)]) == {"to": masked, "status": "READ"}
    assert bodies[str(loose)] == "to=57300•••4567&status=SENT"
    assert bodies[str(unrelated)] == json.dumps({"to": OTHER})
    purged = store.get_media(kept)
    assert purged is not None and purged.purged_at == NOW and purged.data == b""
    assert purged.file_name == REMOVED_ON_REQUEST
    shown = rows(store, inbound_messages)
    for message_id in (message, query):
        row = shown[message_id]
        assert row["customer"] == masked and row["customer_name"] is None
        assert row["text"] == REMOVED_ON_REQUEST and row["raw"] == REMOVED_ON_REQUEST
        assert digits not in json.dumps(row, default=str)
    assert shown[query]["dedup_key"] == "mo:+57300•••4567:abc:1733300000"
    assert shown[message]["shown_at"] is None  # posted before: to be edited again
    assert json.loads(shown[message]["files_shown"]) == [
        {"name": REMOVED_ON_REQUEST, "file_id": "F9", "size": 3}
    ]
    assert shown[other_message] == before["inbound_messages"][other_message]
    found = [c for c in rows(store, conversations).values() if c["forgotten_at"] is not None]
    assert sorted(c["sender_alias"] for c in found) == ["sales", "support"]
    for conversation in found:
        assert conversation["customer"] == masked and not conversation["answerable"]
        assert conversation["dirty"] and conversation["customer_name"] is None
    assert {c["opted_out_why"] for c in found} == {None, "+57300•••4567 wrote STOP"}
    assert store.find_conversation("support", OTHER) is not None
    everything = json.dumps(
        [rows(store, t) for t in (sends, inbound_messages, callbacks, conversations, statuses)],
        default=str,
    )
    assert everything.count(digits) == 0

    again = store.forget_customer(CUSTOMER, masked, REMOVED_ON_REQUEST, NOW)
    assert again.total == 0
    counted, dirty_sends, dirty_conversations = store.forgotten_before(masked)
    assert counted == 3 + 2 + 2
    assert sorted(dirty_sends) == sorted([sent, failed, draft])
    assert len(dirty_conversations) == 2


def test_two_forgotten_customers_whose_numbers_mask_alike_keep_a_conversation_each(
    store: Store,
) -> None:
    twin = "+573004444567"  # +57300•••4567 too
    assert phones.mask(twin) == phones.mask(CUSTOMER)
    a_message(store, "id:a")
    a_message(store, "id:b", customer=twin)
    masked = phones.mask(CUSTOMER)
    assert store.forget_customer(CUSTOMER, masked, REMOVED_ON_REQUEST, NOW).conversations == 1
    assert store.forget_customer(twin, masked, REMOVED_ON_REQUEST, NOW).conversations == 1
    names = sorted(c["customer"] for c in rows(store, conversations).values())
    assert names == [masked, f"{masked} (2)"]


def test_a_kept_file_sent_to_others_too_keeps_its_bytes(store: Store) -> None:
    shared = a_file(store)
    a_send(store, media_id=shared)
    a_send(store, media_id=shared, recipient=OTHER)
    done = store.forget_customer(CUSTOMER, phones.mask(CUSTOMER), REMOVED_ON_REQUEST, NOW)
    assert done.media == 0
    kept = store.get_media(shared)
    assert kept is not None and kept.purged_at is None and kept.data


def test_every_instances_maintenance_applies_retention_on_a_thread_of_its_own(
    store: Store,
) -> None:
    from bot.app import build_services

    url = store.engine.url.render_as_string(hide_password=False)
    send_id = a_send(store, at=datetime.now(UTC) - timedelta(days=45))
    file_id = a_file(store, at=datetime.now(UTC) - timedelta(days=45))
    config = make_config(database_url=url, retention={"content_days": 30})
    instances = [build_services(config) for _ in range(2)]
    try:
        for services in instances:
            services.start_maintenance(interval=0.05, purge_every=0.2)
        deadline = datetime.now(UTC) + timedelta(seconds=10)
        while datetime.now(UTC) < deadline:
            send, kept = store.get_send(send_id), store.get_media(file_id)
            if send and send.content_removed_at and kept and kept.purged_at:
                break
            threading.Event().wait(0.05)
        assert send is not None and send.caption == "[removed after 30 days]"
        assert kept is not None and kept.data == b""
        assert all(s._retention is not None and s._retention.is_alive() for s in instances)
    finally:
        for services in instances:
            services.close()
    assert not any(s._retention.is_alive() for s in instances)  # type: ignore[union-attr]


def test_a_stop_ends_a_purge_between_two_batches(store: Store) -> None:
    for _ in range(3):
        a_file(store)
    stop = threading.Event()
    stop.set()
    assert retention(store).purge(stop).total == 0
    assert retention(store).purge().media == 3
