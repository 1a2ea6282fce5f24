"""Names for mentions from the stand-in Slack's `users.info`, through slack_sdk's real client."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from slack_sdk import WebClient

from bot.sandbox.slack import DEFAULT_BOT_TOKEN, SlackStandIn
from bot.usecases.usernames import UserNames, name_of


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def slack() -> Iterator[SlackStandIn]:
    with SlackStandIn() as standin:
        standin.add_user("U0ALICE", "alice", real_name="Alice Arias", display_name="Ali")
        standin.add_user("U0BOB", "bob", real_name="Bob Baker", display_name="")
        standin.add_user("U0CAROL", "carol")
        yield standin


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def names(slack: SlackStandIn, clock: Clock) -> UserNames:
    client = WebClient(token=DEFAULT_BOT_TOKEN, base_url=slack.api_url, timeout=5)
    return UserNames(client=client, ttl=600, failure_ttl=30, max_size=2, clock=clock)


def asked(slack: SlackStandIn) -> list[str]:
    return [str(call.params.get("user")) for call in slack.calls_to("users.info")]


def test_the_display_name_else_the_real_name(names: UserNames) -> None:
    assert names.lookup("U0ALICE") == "Ali"
    assert names.lookup("U0BOB") == "Bob Baker"


def test_the_handle_when_slack_gives_nothing_better() -> None:
    assert name_of({"name": "dan", "real_name": "", "profile": {"display_name": " "}}) == "dan"
    assert name_of({"profile": {}}) is None


def test_a_burst_of_mentions_asks_once_per_person(slack: SlackStandIn, names: UserNames) -> None:
    text = "<@U0ALICE> and <@U0BOB>, <@U0ALICE> again"
    assert names.decode(text) == "@Ali and @Bob Baker, @Ali again"
    assert names.decode(text) == "@Ali and @Bob Baker, @Ali again"
    assert sorted(asked(slack)) == ["U0ALICE", "U0BOB"]


def test_a_name_is_asked_again_once_it_is_old(
    slack: SlackStandIn, names: UserNames, clock: Clock
) -> None:
    names.lookup("U0ALICE")
    clock.now += 599
    names.lookup("U0ALICE")
    assert asked(slack) == ["U0ALICE"]
    slack.add_user("U0ALICE", "alice", display_name="Alice")
    clock.now += 2
    assert names.lookup("U0ALICE") == "Alice"
    assert asked(slack) == ["U0ALICE", "U0ALICE"]


def test_the_cache_is_bounded(slack: SlackStandIn, names: UserNames) -> None:
    for user in ("U0ALICE", "U0BOB", "U0CAROL", "U0ALICE"):
        names.lookup(user)
    assert asked(slack) == ["U0ALICE", "U0BOB", "U0CAROL", "U0ALICE"]


@pytest.mark.parametrize("error", ["missing_scope", "500", "ratelimited"])
def test_when_slack_will_not_say_the_mention_keeps_its_label_or_id(
    slack: SlackStandIn, names: UserNames, clock: Clock, error: str
) -> None:
    slack.fail_next("users.info", error, retry_after=0)
    assert names.decode("<@U0ALICE|alice> <@U0ALICE>") == "@alice @U0ALICE"
    assert asked(slack) == ["U0ALICE"]  # a failure is remembered a little while too
    clock.now += 31
    assert names.decode("<@U0ALICE>") == "@Ali"


def test_what_is_not_a_user_id_is_never_asked(slack: SlackStandIn, names: UserNames) -> None:
    assert names.decode("<@nobody|someone> <@>") == "@someone @"
    assert asked(slack) == []
