"""The Slack token's health through the real `serve`: the check at start, /healthz following
the stand-in Slack's refusal and acceptance, and the uninstall and revocation events."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bot.sandbox.launch import wait_until
from tests.conftest import SECRETS
from tests.scenarios.harness import Harness


def healthz(bot: Harness) -> tuple[int, dict[str, Any]]:
    try:
        with urllib.request.urlopen(bot.url + "/healthz", timeout=5) as answer:
            return int(answer.status), json.loads(answer.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def refused_healthz(bot: Harness, within: float) -> dict[str, Any]:
    """/healthz's answer once it is 503."""
    answer = wait_until(lambda: (got := healthz(bot))[0] == 503 and got, within, "/healthz 503")
    return answer[1]


@pytest.fixture
def quick(tmp_path: Path) -> Iterator[Harness]:
    """An app that asks Slack about its token every half second."""
    harness = Harness(tmp_path, slack={"token_check_seconds": 0.5}).start()
    yield harness
    harness.close()


@pytest.fixture
def slow(tmp_path: Path) -> Iterator[Harness]:
    """An app that asks Slack about its token only at start (within the test)."""
    harness = Harness(tmp_path, slack={"token_check_seconds": 600}).start()
    yield harness
    harness.close()


def test_serve_checks_the_token_at_start_and_logs_the_team(slow: Harness) -> None:
    wait_until(lambda: "Slack: team" in slow.log(), 5, "the start check in the log")
    assert "Slack: team Stand-in Workspace (T000), bot user U0BOT0001" in slow.log()
    assert len(slow.slack.calls_to("auth.test")) == 1
    for _ in range(5):
        assert healthz(slow) == (200, {"ok": True, "database": "ok", "schema": "ok", "slack": "ok"})
    assert len(slow.slack.calls_to("auth.test")) == 1  # probes do not ask Slack


def test_healthz_turns_503_while_slack_refuses_the_token(quick: Harness) -> None:
    assert healthz(quick)[0] == 200
    quick.slack.refuse_token("token_revoked")
    body = refused_healthz(quick, 5)
    assert body["ok"] is False and body["database"] == "ok"
    assert body["slack"].startswith("the token was refused (token_revoked): reinstall the app")
    assert SECRETS["SLACK_BOT_TOKEN"] not in json.dumps(body)
    wait_until(lambda: "Slack refused the bot token (token_revoked)" in quick.log(), 5)
    quick.slack.accept_token()
    wait_until(lambda: healthz(quick)[0] == 200, 5, "/healthz back to 200")
    assert healthz(quick)[1] == {"ok": True, "database": "ok", "schema": "ok", "slack": "ok"}
    assert SECRETS["SLACK_BOT_TOKEN"] not in quick.log()
    # a few probes a second, yet Slack was asked about twice a second at most
    started = quick.slack.calls_to("auth.test")[0].time
    asked = len(quick.slack.calls_to("auth.test"))
    assert asked <= 2 * (time.time() - started) + 2, asked


def test_slack_not_answering_leaves_healthz_up(quick: Harness) -> None:
    quick.slack.fail_next("auth.test", "500", count=1000)
    wait_until(lambda: "could not check" in healthz(quick)[1]["slack"], 5, "the failed check")
    assert healthz(quick) == (
        200,
        {"ok": True, "database": "ok", "schema": "ok", "slack": "could not check (internal_error)"},
    )


def test_app_uninstalled_turns_healthz_503_at_once(slow: Harness) -> None:
    assert healthz(slow)[0] == 200
    assert slow.driver.event({"type": "app_uninstalled"}).status == 200
    body = refused_healthz(slow, 3)
    assert body["slack"].startswith("Slack says the app was uninstalled (app_uninstalled)")
    wait_until(lambda: "Slack says app_uninstalled" in slow.log(), 3)
    assert len(slow.slack.calls_to("auth.test")) == 1  # the event was enough


def test_tokens_revoked_turns_healthz_503_for_the_bot_token_only(slow: Harness) -> None:
    user_only = {"type": "tokens_revoked", "tokens": {"oauth": ["U0ALICE"], "bot": []}}
    assert slow.driver.event(user_only).status == 200
    wait_until(lambda: "user tokens only" in slow.log(), 3)
    assert healthz(slow)[0] == 200
    bot_token = {"type": "tokens_revoked", "tokens": {"bot": [slow.slack.bot_user_id]}}
    assert slow.driver.event(bot_token).status == 200
    body = refused_healthz(slow, 3)
    assert body["slack"].startswith("Slack says the bot token was revoked (tokens_revoked)")
    assert "Slack says tokens_revoked" in slow.log()


def test_a_token_refused_at_start_is_logged_and_the_app_still_serves(tmp_path: Path) -> None:
    harness = Harness(tmp_path)
    try:
        harness.slack.refuse_token("invalid_auth")
        harness.app.healthy = frozenset({503})
        harness.start()
        assert "Slack refused the bot token (invalid_auth); fix: copy the Bot User OAuth Token" in (
            harness.log()
        )
        status, body = healthz(harness)
        assert status == 503
        assert body["slack"].startswith("the token was refused (invalid_auth): copy the Bot User")
        assert SECRETS["SLACK_BOT_TOKEN"] not in harness.log()
    finally:
        harness.close()
