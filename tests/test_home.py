"""The Home tab as built stays within Slack's limits."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from bot.blocks import MAX_VIEW_BLOCKS, home
from bot.core.config import Sender
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
