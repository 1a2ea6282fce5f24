"""The Home tab as built: where one may send, the conversations waiting for a reply, one's
sends; within Slack's limits."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from bot.blocks import MAX_VIEW_BLOCKS, home
from bot.blocks.conversations import thread_url
from bot.blocks.home_tab import WaitingReply
from bot.core.config import Sender
from bot.core.records import ConversationRecord
from bot.core.window import Window, time_left
from bot.store import SendRecord, SendState

SUPPORT = Sender("support", "15550001111", "Support")


def record(n: int, **values: object) -> SendRecord:
    now = datetime(2026, 11, 24, tzinfo=UTC)
    base: dict[str, object] = dict(
        id=f"s{n}",
        created_at=now,
        updated_at=now,
        source="slash",
        sender_alias="support",
        sender_number="15550001111",
        recipient="+573001234567",
        kind="image",
        body="https://x/a.png",
        external_id=f"e{n}",
        callback_token=f"t{n}",
        state=SendState.SENT,
        transaction_id=f"tx-{n}",
        provider_status="DELIVERED",
    )
    base.update(values)
    return SendRecord(**base)  # type: ignore[arg-type]


def check_limits(view: dict[str, object]) -> None:
    blocks = view["blocks"]
    assert isinstance(blocks, list) and len(blocks) <= MAX_VIEW_BLOCKS
    for block in blocks:
        text = block.get("text", {}).get("text", "")
        assert len(text) <= 3000
        if block["type"] == "header":
            assert len(text) <= 150
    assert len(json.dumps(view)) < 250_000


def test_many_sends_are_cut_to_the_block_limit_and_say_how_many_more() -> None:
    sends = [(record(n), "Support") for n in range(200)]
    view = home(
        channels=[("C1", [SUPPORT], True)],
        anywhere=None,
        may_send=True,
        sends=sends[:95],
        total=200,
    )
    check_limits(view)
    texts = [
        b.get("text", {}).get("text", "") or b.get("elements", [{}])[0].get("text", "")
        for b in view["blocks"]
    ]
    assert any("…and 105 more" in t for t in texts)
    assert sum("tx-" in t for t in texts) == 95


def test_newest_first_with_status_and_channels() -> None:
    sends = [
        (record(2, provider_status="READ"), "Support"),
        (record(1, state=SendState.FAILED, provider_status=None, transaction_id=None), "Support"),
    ]
    view = home(
        channels=[("C1", [SUPPORT], True)], anywhere=None, may_send=True, sends=sends, total=2
    )
    check_limits(view)
    text = json.dumps(view)
    assert text.index("tx-2") < text.index("no transactionId")
    assert ":eyes: *READ*" in text and ":x: *not sent*" in text
    assert "<#C1>: Support (+15550001111)" in text and "shared files are offered" in text


def test_a_person_who_may_not_send_is_told_so() -> None:
    view = home(
        channels=[("C1", [SUPPORT], False)], anywhere=None, may_send=False, sends=[], total=0
    )
    text = json.dumps(view)
    assert "not on the list" in text and "<#C1>" not in text


# conversations waiting for a reply

NOW = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)


def conversation(n: int, *, wrote_hours_ago: float, **values: object) -> ConversationRecord:
    wrote = NOW - timedelta(hours=wrote_hours_ago)
    base: dict[str, object] = dict(
        id=f"c{n}",
        created_at=wrote,
        updated_at=wrote,
        sender_alias="support",
        customer=f"+57300123{n:04d}",
        customer_name=None,
        channel_id="C1",
        thread_ts=f"17333000{n:02d}.000100",
        last_customer_at=wrote,
        waiting_since=wrote,
    )
    base.update(values)
    return ConversationRecord(**base)  # type: ignore[arg-type]


def waiting(n: int, *, wrote_hours_ago: float = 1.0, **values: object) -> WaitingReply:
    record = conversation(n, wrote_hours_ago=wrote_hours_ago, **values)
    return WaitingReply(
        conversation=record,
        sender=SUPPORT,
        window=Window(record.last_customer_at, 24.0, NOW),
        link=thread_url("https://acme.slack.com/", record.channel_id, record.thread_ts),
    )


def section_texts(view: dict[str, object]) -> list[str]:
    found = []
    for block in view["blocks"]:  # type: ignore[attr-defined]
        if block["type"] in ("section", "header"):
            found.append(block["text"]["text"])
        elif block["type"] == "context":
            found.append(block["elements"][0]["text"])
    return found


def test_waiting_conversations_show_customer_sender_time_window_and_thread() -> None:
    items = [
        waiting(1, wrote_hours_ago=21.5, customer_name="Ana Gómez"),
        waiting(2, wrote_hours_ago=30),
    ]
    view = home(
        channels=[("C1", [SUPPORT], False)],
        anywhere=None,
        may_send=True,
        sends=[],
        total=0,
        waiting=items,
    )
    check_limits(view)
    texts = section_texts(view)
    start = texts.index("Waiting for a reply")
    ana, other = texts[start + 1], texts[start + 2]
    assert ana.startswith(":hourglass: *Ana Gómez* (+573001230001) to *Support*")
    wrote = int((NOW - timedelta(hours=21.5)).timestamp())
    assert f"wrote <!date^{wrote}^" in ana
    assert ":large_green_circle: 2 h left" in ana
    assert "<https://acme.slack.com/archives/C1/p1733300001000100|open the thread>" in ana
    assert other.startswith(":hourglass: *+573001230002* to *Support*")
    assert ":warning: window closed" in other
    assert texts.index("Waiting for a reply") < texts.index("Your recent sends")


def test_the_window_left_in_minutes_near_its_end() -> None:
    item = waiting(1, wrote_hours_ago=23.5)
    assert time_left(item.window) == "30 min left"
    assert time_left(Window(None, 24.0, NOW)) == "window closed"


def test_without_a_link_the_channel_is_named() -> None:
    item = waiting(1)
    plain = WaitingReply(item.conversation, item.sender, item.window, link=None)
    view = home(channels=[], anywhere=[SUPPORT], may_send=True, sends=[], total=0, waiting=[plain])
    assert any("in <#C1>" in t for t in section_texts(view))


def test_nobody_waiting_is_said_and_a_person_who_may_not_send_sees_no_list() -> None:
    empty = home(
        channels=[("C1", [SUPPORT], False)],
        anywhere=None,
        may_send=True,
        sends=[],
        total=0,
        waiting=[],
    )
    assert "No customer is waiting for a reply." in section_texts(empty)
    refused = home(
        channels=[("C1", [SUPPORT], False)], anywhere=None, may_send=False, sends=[], total=0
    )
    assert "Waiting for a reply" not in section_texts(refused)


def test_a_full_list_and_many_sends_stay_within_the_block_limit() -> None:
    items = [waiting(n, wrote_hours_ago=n) for n in range(20)]
    view = home(
        channels=[("C1", [SUPPORT], True)],
        anywhere=None,
        may_send=True,
        sends=[(record(n), "Support") for n in range(95)],
        total=300,
        waiting=items,
        more_waiting=True,
    )
    check_limits(view)
    texts = section_texts(view)
    assert sum(t.startswith(":hourglass:") for t in texts) == 20
    assert "Only the newest 20 are shown." in texts
    shown = sum("tx-" in t for t in texts)
    assert len(view["blocks"]) == MAX_VIEW_BLOCKS  # type: ignore[arg-type]
    assert any(f"…and {300 - shown} more" in t for t in texts)


@pytest.mark.parametrize(
    ("workspace", "channel", "ts", "expected"),
    [
        ("https://acme.slack.com/", "C0123", "1733300000.123456", "p1733300000123456"),
        ("https://acme.enterprise.slack.com", "G1", "1.000001", "p1000001"),
        (None, "C0123", "1733300000.123456", None),
        ("https://acme.slack.com/", None, "1733300000.123456", None),
        ("https://acme.slack.com/", "C0123", None, None),
        ("https://acme.slack.com/x|y>", "C0123", "1733300000.123456", None),
        ("javascript:alert(1)//", "C0123", "1733300000.123456", None),
        ("https://acme.slack.com/", "C0123|evil", "1733300000.123456", None),
        ("https://acme.slack.com/", "C0123", "1733300000.1>", None),
    ],
)
def test_thread_links_are_made_only_of_slacks_parts(
    workspace: str | None, channel: str | None, ts: str | None, expected: str | None
) -> None:
    url = thread_url(workspace, channel, ts)
    if expected is None:
        assert url is None
    else:
        assert url == f"{workspace.rstrip('/')}/archives/{channel}/{expected}"  # type: ignore[union-attr]
