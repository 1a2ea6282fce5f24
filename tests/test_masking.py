"""The masked number of a forgotten customer, and the words that replace removed content."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime

import pytest

from bot.core import phones
from bot.core.records import SendRecord, SendState
from bot.core.retention import REMOVED_ON_REQUEST, is_removal, removed_after
from bot.usecases.send_passes import record_label


@pytest.mark.parametrize(
    ("number", "masked"),
    [
        ("+573001234567", "+57300•••4567"),  # as the spec shows it
        ("+15550001111", "+1555•••1111"),
        ("+442071838750", "+44207•••8750"),
        ("+4930123456", "+493•••3456"),  # a short national number hides 3 digits all the same
        ("573001234567", "+57300•••4567"),
    ],
)
def test_a_masked_number_keeps_the_country_code_the_first_3_and_the_last_4(
    number: str, masked: str
) -> None:
    assert phones.mask(number) == masked
    assert phones.is_masked(masked) and not phones.is_masked(number)
    hidden = len(number.lstrip("+")) - len(masked.replace(phones.MASK, "").lstrip("+"))
    assert hidden >= 3


def test_the_words_in_place_of_removed_content() -> None:
    assert removed_after(30) == "[removed after 30 days]"
    assert removed_after(1) == "[removed after 1 day]"
    assert is_removal(removed_after(90)) and is_removal(REMOVED_ON_REQUEST)
    assert not is_removal("[removed by hand]") and not is_removal(None)


def test_a_records_label_changes_once_its_content_is_removed() -> None:
    now = datetime.now(UTC)
    send = SendRecord(
        id="s",
        created_at=now,
        updated_at=now,
        source="slash",
        sender_alias="support",
        sender_number="15550001111",
        recipient="+573001234567",
        kind="text",
        body="hi",
        external_id="e",
        callback_token="t",
        state=SendState.SENT,
        provider_status="READ",
    )
    assert record_label(send) == "READ"
    removed = dataclasses.replace(send, content_removed_at=now, reply_waiting=True)
    assert record_label(removed) == "READ waiting removed"
