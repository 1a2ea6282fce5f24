"""Which thread a customer's message joins, and what its root says: `Conversations.show` with a
recording stand-in for the renderer's Slack calls, against a real store."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from bot.core.config import Config
from bot.core.records import utcnow
from bot.media.download import Downloaded
from bot.media.refusals import MediaUrlRefused
from bot.store import ConversationRecord, SendState, Store, sends
from bot.usecases.conversations import Conversations
from tests.conftest import make_config

CUSTOMER = "+573001234567"


@dataclass
class Renderer:
    """What a pass writes to Slack, in order; each post gets the next ts."""

    calls: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    answered: list[str] = field(default_factory=list)  # the ts of each post, in order
    scheduled: list[str] = field(default_factory=list)
    conversation_pass: Any = None
    clock: float = 1_700_000_000.0

    def call(self, method: str, **kwargs: Any) -> dict[str, Any]:
        self.calls.append((method, kwargs))
        self.clock += 1
        if method == "files_upload_v2":
            return {"ok": True, "files": [{"id": "F1"}]}
        if method == "chat_postMessage":
            self.answered.append(f"{self.clock:.6f}")
        return {"ok": True, "ts": f"{self.clock:.6f}"}

    def schedule(self, send_id: str) -> None:
        self.scheduled.append(send_id)

    def schedule_conversation(self, conversation_id: str) -> None:
        self.scheduled.append(conversation_id)

    def posts(self) -> list[dict[str, Any]]:
        return [kwargs for method, kwargs in self.calls if method == "chat_postMessage"]


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    store = Store.from_url(f"sqlite:///{tmp_path / 'bot.sqlite3'}")
    store.migrate()
    yield store
    store.close()


def conversations(
    store: Store, config: Config | None = None, download: Any = None
) -> tuple[Conversations, Renderer]:
    renderer = Renderer()
    made = Conversations(
        config=config or make_config(),
        store=store,
        renderer=renderer,  # type: ignore[arg-type]
        download=download,
    )
    return made, renderer


def write(store: Store, key: str, text: str = "hi", **message: Any) -> ConversationRecord:
    taken = store.take_inbound(
        sender_alias="support",
        customer=message.pop("customer", CUSTOMER),
        answerable=True,
        message={
            "dedup_key": key,
            "shape": "json",
            "kind": "text",
            "text": text,
            "attachments": json.dumps(message.pop("attachments", [])),
            "raw": "{}",
            **message,
        },
        optout=None,
    )
    found = store.get_conversation(taken.conversation_id)
    assert found is not None
    return found


def a_send(store: Store, *, ts: str, updated_ago: timedelta) -> str:
    send = store.add_send(
        id="s" * 32,
        source="slash",
        channel_id="C0123SUPPORT",
        sender_alias="support",
        sender_number="15550001111",
        recipient=CUSTOMER,
        kind="text",
        body="hello",
        external_id="e1",
        callback_token="t1",
        state=SendState.SENT,
        message_ts=ts,
    )
    with store.engine.begin() as conn:  # its last activity, back in time
        conn.execute(
            sends.update().where(sends.c.id == send.id).values(updated_at=utcnow() - updated_ago)
        )
    return send.id


def test_a_new_customer_opens_a_thread_in_the_inbox_and_the_next_message_joins_it(
    store: Store,
) -> None:
    made, slack = conversations(store)
    made.show(write(store, "id:1", "first"), {})
    made.show(write(store, "id:2", "second"), {})
    first, second = slack.posts()
    assert first["channel"] == "C0123SUPPORT" and "thread_ts" not in first
    assert second["thread_ts"] == slack.answered[0]
    conversation = store.find_conversation("support", CUSTOMER)
    assert conversation is not None and conversation.thread_ts == second["thread_ts"]
    assert conversation.root_inbound_id is not None


def test_a_message_joins_the_newest_send_thread_while_it_is_active(store: Store) -> None:
    made, slack = conversations(store)
    send_id = a_send(store, ts=f"{utcnow().timestamp():.6f}", updated_ago=timedelta(hours=2))
    made.show(write(store, "id:1"), {})
    (post,) = slack.posts()
    assert post["thread_ts"] == store.get_send(send_id).message_ts  # type: ignore[union-attr]
    assert post["reply_broadcast"] is False
    assert store.get_send(send_id).reply_waiting  # type: ignore[union-attr]
    assert slack.scheduled == [send_id]


def test_a_thread_older_than_a_day_gets_the_message_broadcast(store: Store) -> None:
    made, slack = conversations(store)
    old = utcnow() - timedelta(hours=30)
    a_send(store, ts=f"{old.timestamp():.6f}", updated_ago=timedelta(hours=1))
    made.show(write(store, "id:1"), {})
    (post,) = slack.posts()
    assert post["reply_broadcast"] is True


def test_an_idle_thread_is_left_for_a_new_one_in_the_inbox(store: Store) -> None:
    made, slack = conversations(store)
    old = utcnow() - timedelta(hours=100)
    send_id = a_send(store, ts=f"{old.timestamp():.6f}", updated_ago=timedelta(hours=73))
    made.show(write(store, "id:1"), {})
    (post,) = slack.posts()
    assert "thread_ts" not in post and post["channel"] == "C0123SUPPORT"
    assert not store.get_send(send_id).reply_waiting  # type: ignore[union-attr]


def test_the_idle_hours_come_from_the_config(store: Store) -> None:
    made, slack = conversations(store, make_config(conversations={"thread_idle_hours": 1}))
    a_send(store, ts=f"{utcnow().timestamp():.6f}", updated_ago=timedelta(hours=2))
    made.show(write(store, "id:1"), {})
    (post,) = slack.posts()
    assert "thread_ts" not in post


def test_without_an_inbox_channel_the_message_is_kept_and_not_shown(
    store: Store, caplog: pytest.LogCaptureFixture
) -> None:
    made, slack = conversations(store, make_config(channels={}))
    conversation = write(store, "id:1")
    made.show(conversation, {})
    assert slack.posts() == []
    assert "has no inbox channel" in caplog.text
    assert store.unshown_inbound(conversation.id) == []  # not retried forever


def test_attachments_are_uploaded_once_and_a_refused_one_is_named(store: Store) -> None:
    def download(url: str) -> Downloaded:
        if "bad" in url:
            raise MediaUrlRefused("The link answered 404 Not Found.", "Check it.")
        return Downloaded(b"\xff\xd8photo", "image/jpeg")

    made, slack = conversations(store, download=download)
    attachments = [
        {"url": "https://p.example/good.jpg", "file_name": "good.jpg", "caption": "box"},
        {"url": "https://p.example/bad.jpg", "file_name": None, "caption": None},
    ]
    conversation = write(store, "id:1", "", attachments=attachments)
    made.show(conversation, {})
    made.show(conversation, {})  # a second pass finds nothing left to do
    methods = [method for method, _ in slack.calls]
    assert methods.count("files_upload_v2") == 1
    upload = next(kwargs for method, kwargs in slack.calls if method == "files_upload_v2")
    assert upload["file"] == b"\xff\xd8photo" and upload["filename"] == "good.jpg"
    assert upload["thread_ts"] == slack.answered[0]  # the new root's thread
    refusal = slack.posts()[-1]
    assert "bad.jpg" in refusal["text"] and "404" in refusal["text"]


def test_an_answer_clears_the_waiting_mark_of_an_inbox_root(store: Store) -> None:
    made, slack = conversations(store)
    conversation = write(store, "id:1")
    shown: dict[str, Any] = {}
    made.show(conversation, shown)
    assert "Reply waiting" in slack.posts()[0]["text"]
    made.answered("support", CUSTOMER)
    conversation = store.find_conversation("support", CUSTOMER)
    assert conversation is not None and conversation.waiting_since is None
    shown = {}
    made.show(conversation, shown)
    method, update = slack.calls[-1]
    assert method == "chat_update" and "Reply waiting" not in update["text"]
    assert shown == {"root_shown": "answered"}
