"""The Slack token's health: `auth.test` against the stand-in Slack, the answer kept for an
interval, a refusal shared through the store, and what /healthz answers."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from bot.app import create_app, token_check_client
from bot.sandbox.slack import DEFAULT_BOT_TOKEN, SlackStandIn
from bot.store import Store
from bot.usecases.slack_health import (
    SLACK_AUTH_FLAG,
    SlackTokenHealth,
    auth_test,
)
from bot.web import WebApp
from tests.conftest import SECRETS, make_config


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Spawner:
    """Runs a due check when the test says, as the background thread would."""

    def __init__(self) -> None:
        self.queued: list[Callable[[], None]] = []

    def __call__(self, fn: Callable[[], None]) -> None:
        self.queued.append(fn)

    def run(self) -> int:
        ran = len(self.queued)
        while self.queued:
            self.queued.pop(0)()
        return ran


@pytest.fixture
def slack() -> Iterator[SlackStandIn]:
    with SlackStandIn() as standin:
        yield standin


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def spawner() -> Spawner:
    return Spawner()


def health_for(
    slack: SlackStandIn, store: Store, clock: Clock, spawner: Spawner, url: str | None = None
) -> SlackTokenHealth:
    return SlackTokenHealth(
        store=store,
        client=token_check_client(DEFAULT_BOT_TOKEN, url or slack.api_url),
        interval=60,
        clock=clock,
        spawn=spawner,
    )


def test_auth_test_tells_a_refusal_from_slack_not_answering(slack: SlackStandIn) -> None:
    client = token_check_client(DEFAULT_BOT_TOKEN, slack.api_url)
    ok = auth_test(client)
    assert (ok.outcome, ok.team, ok.team_id, ok.user_id) == (
        "ok",
        "Stand-in Workspace",
        "T000",
        "U0BOT0001",
    )
    for error in ("invalid_auth", "token_revoked", "account_inactive"):
        slack.refuse_token(error)
        assert (auth_test(client).outcome, auth_test(client).error) == ("refused", error)
    slack.accept_token()
    assert auth_test(token_check_client("xoxb-other", slack.api_url)).error == "invalid_auth"
    for fault in ("ratelimited", "500", "fatal_error"):
        slack.fail_next("auth.test", fault)
        assert auth_test(client).outcome == "unreachable", fault
    gone = auth_test(token_check_client(DEFAULT_BOT_TOKEN, "http://127.0.0.1:9/api/"))
    assert (gone.outcome, gone.error) == ("unreachable", "ConnectionRefusedError")
    # one call each: the check client never retries
    assert len(slack.calls_to("auth.test")) == 1 + 6 + 1 + 3


def test_a_refusal_turns_the_status_for_every_worker_until_slack_takes_the_token(
    slack: SlackStandIn, store: Store, clock: Clock, spawner: Spawner
) -> None:
    one = health_for(slack, store, clock, spawner)
    other = health_for(slack, store, clock, spawner)  # another worker or instance
    assert one.check_at_start().outcome == "ok"
    assert one.status().text == "ok" and spawner.run() == 0
    clock.now += 59
    assert other.check_at_start().outcome == "ok"

    slack.refuse_token("token_revoked")
    assert one.status().healthy and spawner.run() == 0  # within the interval: Slack not asked
    clock.now += 1
    assert one.status().healthy  # the probe only starts the check...
    assert spawner.run() == 1
    status = one.status()  # ...and the next one sees its answer
    assert not status.healthy
    assert status.text.startswith("the token was refused (token_revoked): reinstall the app")
    assert "Bot User OAuth Token (xoxb-…)" in status.text
    assert DEFAULT_BOT_TOKEN not in status.text
    assert store.get_flag(SLACK_AUTH_FLAG) == "token_revoked"
    assert other.status() == status  # from the store: it did not ask Slack again
    assert spawner.run() == 0
    assert len(slack.calls_to("auth.test")) == 3

    slack.accept_token()
    clock.now += 60
    one.status()
    assert spawner.run() == 1
    assert one.status().text == "ok"
    assert other.status().healthy  # cleared for every worker by the one that asked
    assert store.get_flag(SLACK_AUTH_FLAG) is None


def test_slack_not_answering_is_not_a_refusal(
    slack: SlackStandIn, store: Store, clock: Clock, spawner: Spawner
) -> None:
    health = health_for(slack, store, clock, spawner, url="http://127.0.0.1:9/api/")
    assert health.check_at_start().outcome == "unreachable"
    status = health.status()
    assert status.healthy
    assert status.text == "could not check (ConnectionRefusedError)"

    refused = health_for(slack, store, clock, spawner)
    slack.refuse_token("invalid_auth")
    refused.check()
    slack.accept_token()
    slack.fail_next("auth.test", "ratelimited")
    refused.check()  # a rate limit leaves the refusal standing
    assert store.get_flag(SLACK_AUTH_FLAG) == "invalid_auth"
    assert not health.status().healthy


def test_one_check_at_a_time(
    slack: SlackStandIn, store: Store, clock: Clock, spawner: Spawner
) -> None:
    health = health_for(slack, store, clock, spawner)
    for _ in range(5):
        assert health.status().text == "not checked yet"
    assert spawner.run() == 1
    assert health.status().text == "ok"
    assert len(slack.calls_to("auth.test")) == 1


def test_events_turn_it_at_once_and_only_for_the_bot_token(
    slack: SlackStandIn, store: Store, clock: Clock, spawner: Spawner, caplog: Any
) -> None:
    health = health_for(slack, store, clock, spawner)
    health.check_at_start()
    caplog.set_level(logging.INFO, logger="bot")
    health.tokens_revoked({"oauth": ["U0ALICE"], "bot": []})
    assert health.status().healthy
    health.tokens_revoked({"bot": ["U0BOT0001"]})
    status = health.status()
    assert not status.healthy
    assert status.text.startswith("Slack says the bot token was revoked (tokens_revoked)")
    store.set_flag(SLACK_AUTH_FLAG, None)
    health.revoked("app_uninstalled")
    assert health.status().text.startswith("Slack says the app was uninstalled (app_uninstalled)")
    assert spawner.run() == 0  # no Slack call: the event is enough
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any("tokens_revoked" in w for w in warnings)
    assert any("app_uninstalled" in w for w in warnings)


def test_healthz_names_the_refused_token(spawner: Spawner, tmp_path: Any) -> None:
    slack = SlackStandIn(bot_token=SECRETS["SLACK_BOT_TOKEN"])
    config = make_config(
        slack={"api_base_url": slack.api_url},
        database_url=f"sqlite:///{tmp_path / 'bot.sqlite3'}",
    )
    app = create_app(config, sweep_interval=None)
    app.services.slack_health.spawn = spawner
    try:
        assert health(app) == (
            200,
            {"ok": True, "database": "ok", "schema": "ok", "slack": "not checked yet"},
        )
        app.services.slack_health.check_at_start()
        assert health(app) == (200, {"ok": True, "database": "ok", "schema": "ok", "slack": "ok"})
        app.services.slack_health.revoked("app_uninstalled")
        status, body = health(app)
        assert status == 503
        assert body["ok"] is False and "(app_uninstalled)" in body["slack"]
        assert SECRETS["SLACK_BOT_TOKEN"] not in json.dumps(body)
    finally:
        app.services.close()
        slack.stop()


def health(app: WebApp) -> tuple[int, dict[str, Any]]:
    answer = app.route({"REQUEST_METHOD": "GET", "PATH_INFO": "/healthz"})
    return answer.status, json.loads(answer.body)
