from __future__ import annotations

import pytest

from bot.core.statuses import FAILURE_RANK, UNKNOWN_RANK, describe


def test_progress_order() -> None:
    ranks = [describe(s).rank for s in ("QUEUE", "DEQUEUED", "SENT", "DELIVERED", "READ")]
    assert ranks == sorted(ranks) and len(set(ranks)) == 5


@pytest.mark.parametrize(
    "name", ["CODE_NOT_ALLOWED", "BLACKLISTED", "QUOTA_EXCEEDED", "INCOMPLETE", "UNDELIVERED"]
)
def test_known_failures_are_final_and_explained(name: str) -> None:
    info = describe(name.lower())
    assert info.name == name and info.is_failure and info.is_known
    assert info.rank == FAILURE_RANK > describe("READ").rank
    assert info.meaning and info.meaning != name


def test_unknown_failure_names_are_failures() -> None:
    info = describe("MEDIA_DOWNLOAD_FAILED")
    assert info.is_failure and not info.is_known


def test_an_unknown_status_is_kept_verbatim_and_ranks_lowest() -> None:
    info = describe("WAITING_FOR_WINDOW")
    assert info.name == "WAITING_FOR_WINDOW"
    assert not info.is_failure and not info.is_known
    assert info.rank == UNKNOWN_RANK < describe("QUEUE").rank
