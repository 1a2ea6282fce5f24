"""Group sends: one confirmation, a message per recipient, one progress message."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.core import ids
from tests.scenarios.harness import CHANNEL, USER, Harness, buttons, text_of

DRIVERS = [f"+5730012345{n:02d}" for n in range(12)]


@pytest.fixture
def bot(tmp_path: Path) -> Iterator[Harness]:
    harness = Harness(tmp_path, groups={"drivers": [*DRIVERS[:11], "acme-ops"]}).start()
    yield harness
    harness.close()


def progress(bot: Harness) -> str:
    return text_of(bot.channel_record())


def test_a_group_of_twelve_with_two_refused(bot: Harness) -> None:
    bot.provider.fail_next("400", count=2, reason="Recipient is not a WhatsApp user")
    bot.driver.slash_command(
        f"image drivers {bot.coffee_url} Route change today", user=USER, channel=CHANNEL
    )
    confirmation = bot.wait_ephemeral("12 recipients")
    text = text_of(confirmation)
    assert "+573001234500, +573001234501" in text and "and 7 more" in text
    # nobody in the group has written: every one is outside WhatsApp's window
    assert "12 of 12 recipients have not written in the last 24 h" in text
    assert buttons(confirmation) == ["Send anyway to 12", "Cancel"]
    bot.driver.click(ids.SEND_GROUP, user=USER, channel=CHANNEL)
    bot.provider.wait_for_requests(12, timeout=20)
    texts = bot.wait_thread("12/12 · 10 sent · 2 failed", timeout=20)
    failures = [t for t in texts if "Recipient is not a WhatsApp user" in t]
    assert len(failures) == 2
    refused = {r.json["request"]["to"] for r in bot.provider.requests if r.response_status == 400}  # type: ignore[index]
    for number in refused:
        assert any(number in t for t in failures)
    assert (
        sorted(r.json["request"]["to"] for r in bot.provider.requests)
        == sorted(  # type: ignore[index]
            [*DRIVERS[:11], "+573001234567"]
        )
    )
    assert len({r.json["request"]["externalId"] for r in bot.provider.requests}) == 12  # type: ignore[index]
    # the ten accepted ones report their statuses; the progress message totals them
    bot.wait_thread("10 READ", timeout=20)
    assert "12/12 · 10 sent · 2 failed" in progress(bot)
    # the progress message is edited at most once a second
    record_ts = bot.channel_record()["ts"]
    times = [c.time for c in bot.slack.calls_to("chat.update") if c.params.get("ts") == record_ts]
    assert times
    assert all(b - a >= 0.9 for a, b in itertools.pairwise(times)), times


def test_cancel_a_group(bot: Harness) -> None:
    bot.driver.slash_command(f"image drivers {bot.coffee_url}", user=USER, channel=CHANNEL)
    bot.wait_ephemeral("12 recipients")
    bot.driver.click(ids.CANCEL_GROUP, user=USER, channel=CHANNEL)
    bot.wait_ephemeral("Cancelled; nothing was sent.")
    assert bot.provider.requests == []


def test_a_shared_file_to_a_group_from_the_modal(bot: Harness) -> None:
    from tests.scenarios.test_file_share import choice, png, send_anyway, share, wait_in_thread

    ts = share(bot, "route.png", png())
    wait_in_thread(bot, ts, "Send *route.png*")
    bot.driver.click(ids.CHOOSE_RECIPIENT, user=USER, channel=CHANNEL)
    view = bot.slack.wait_for(lambda: next(iter(bot.slack.views.values()), None))
    answer = bot.driver.submit_view(view["id"], choice("drivers", "support"), user=USER)
    send_anyway(bot, view["id"], answer, words="12 of 12 recipients have not written in the last")
    bot.provider.wait_for_requests(12, timeout=20)
    texts = wait_in_thread(bot, ts, "12/12 · 12 sent · 0 failed", timeout=20)
    assert all(buttons(m) == [] for m in bot.slack.thread(CHANNEL, ts))
    assert any("group *drivers*" in t for t in texts)
    urls = {r.json["request"]["message"] for r in bot.provider.requests}  # type: ignore[index]
    assert all(u.startswith(f"{bot.url}/media/") for u in urls)
