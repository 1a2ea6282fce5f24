from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from bot.core.config import ConfigError, load_config, parse_config, parse_config_text, summary
from bot.sandbox.slack import SlackStandIn
from tests.conftest import SECRETS, config_dict

ROOT = Path(__file__).resolve().parent.parent


def problems_of(data: object, env: dict[str, str] | None = None) -> dict[str, str]:
    with pytest.raises(ConfigError) as info:
        parse_config(data, SECRETS if env is None else env)
    return {p.path: f"{p.message}. {p.fix}" for p in info.value.problems}


def test_example_config_is_valid_with_its_variables_set() -> None:
    config = load_config(ROOT / "config.example.yaml", SECRETS)
    assert config.slack.bot_token == SECRETS["SLACK_BOT_TOKEN"]
    assert config.whatsapp.api_key == SECRETS["WHATSAPP_API_KEY"]
    assert config.senders["sales"].number == "15550002222"
    assert config.contacts["acme-ops"] == "+573001234567"
    channel = config.channels["C0123SUPPORT"]
    assert channel.allowed_senders == ("support",)
    assert channel.file_shares is True
    assert channel.default_recipient == "+573001234567"
    assert config.media.link_ttl_hours == 24
    assert config.slack.token_check_seconds == 300
    assert config.callback_url("t0k") == "https://bot.example.com/whatsapp/callbacks/t0k"


def test_variables_are_expanded_inside_strings_with_fallbacks() -> None:
    data = config_dict(public_base_url="https://${HOST}/", database_url="${DB:-sqlite:///x.db}")
    config = parse_config(data, {**SECRETS, "HOST": "bot.acme.io"})
    assert config.public_base_url == "https://bot.acme.io"
    assert config.database_url == "sqlite:///x.db"


def test_five_different_mistakes_are_all_reported_with_their_paths() -> None:
    data = config_dict(
        colour="blue",
        default_sender="marketing",
        contacts={"acme-ops": "+57 300"},
        database_url="not a url at all",
    )
    data["senders"]["sales"]["number"] = "+1 555 000 2222"
    data["channels"]["C0SALES"]["sender"] = "billing"
    env = {k: v for k, v in SECRETS.items() if k != "WHATSAPP_API_KEY"}
    found = problems_of(data, env)
    assert set(found) == {
        "colour",
        "default_sender",
        "contacts.acme-ops",
        "database_url",
        "senders.sales.number",
        "channels.C0SALES.sender",
        "whatsapp.api_key",
    }
    assert "unknown key" in found["colour"]
    assert "WHATSAPP_API_KEY is not set" in found["whatsapp.api_key"]
    assert "`marketing` is not defined" in found["default_sender"]
    assert "digits only" in found["senders.sales.number"]
    assert "not a valid phone number" in found["contacts.acme-ops"]
    assert "cannot be read as a database URL" in found["database_url"]


@pytest.mark.parametrize(
    ("change", "path", "words"),
    [
        ({"slack": {"bot_token": None}}, "slack.bot_token", "missing required key"),
        ({"whatsapp": {"api_url": "ftp://x"}}, "whatsapp.api_url", "not an http(s) URL"),
        ({"whatsapp": {"timeout_seconds": "soon"}}, "whatsapp.timeout_seconds", "number"),
        ({"slack": {"token_check_seconds": 0}}, "slack.token_check_seconds", "above 0"),
        ({"whatsapp": {"recipient_format": "plus"}}, "whatsapp.recipient_format", "e164"),
        ({"media": {"link_secret": "short"}}, "media.link_secret", "too short"),
        ({"media": {"allow_private_hosts": "maybe"}}, "media.allow_private_hosts", "true or"),
        ({"access": {"allowed_users": ["bob"]}}, "access.allowed_users[0]", "Slack user ID"),
        ({"database_url": "mysql://db/x"}, "database_url", "not supported"),
        ({"senders": {}}, "senders", "no sender numbers"),
        ({"public_base_url": None}, "public_base_url", "missing required key"),
    ],
)
def test_each_problem_is_named_with_a_fix(change: dict[str, object], path: str, words: str) -> None:
    assert words in problems_of(config_dict(**change))[path]


def test_channel_rules() -> None:
    data = config_dict()
    data["channels"] = {
        "general": {"sender": "support"},
        "C0AAA": {"sender": "support", "allowed_senders": ["sales", "ghost"]},
        "C0BBB": {"default_recipient": "nobody", "shares": True},
    }
    found = problems_of(data)
    assert "not a Slack channel ID" in found["channels.general"]
    assert "`ghost` is not defined" in found["channels.C0AAA.allowed_senders[1]"]
    assert "does not include the channel's own sender" in found["channels.C0AAA.allowed_senders"]
    assert "neither a contact name nor a valid number" in found["channels.C0BBB.default_recipient"]
    assert "unknown key" in found["channels.C0BBB.shares"]


def test_default_sender_may_be_left_out_with_one_sender_only() -> None:
    data = config_dict(senders={"support": {"number": "15550001111"}})
    del data["default_sender"]
    data["channels"] = {}
    config = parse_config(data, SECRETS)
    assert config.default_sender == "support"
    assert config.senders["support"].label == "support"
    data["senders"]["sales"] = {"number": "15550002222"}
    assert "more than one sender" in problems_of(data)["default_sender"]


def test_default_recipient_may_be_a_contact_name() -> None:
    data = config_dict()
    data["channels"]["C0SALES"]["default_recipient"] = "acme-ops"
    assert parse_config(data, SECRETS).channels["C0SALES"].default_recipient == "+573001234567"


def test_bad_yaml_and_duplicate_keys_are_reported_with_the_line() -> None:
    with pytest.raises(ConfigError) as info:
        parse_config_text("slack: [unclosed\n", SECRETS)
    assert "line" in str(info.value) and "not valid YAML" in str(info.value)
    with pytest.raises(ConfigError) as info:
        parse_config_text("slack: {}\nslack: {}\n", SECRETS)
    assert "found the key 'slack' twice" in str(info.value)


def test_top_level_that_is_not_a_mapping() -> None:
    assert "(top level)" in problems_of(["a", "list"])


def test_summary_reports_the_channel_policy() -> None:
    config = parse_config(config_dict(), SECRETS)
    text = summary(config)
    assert "only in these 2 channel(s)" in text
    assert "C0123SUPPORT: sender support, allowed support, sales" in text
    open_config = parse_config(config_dict(channels={}), SECRETS)
    assert "ANY channel" in summary(open_config)


def test_summary_hides_the_database_password() -> None:
    url = "postgresql+psycopg://bot:hunter2hunter2@db:5432/bot"
    text = summary(parse_config(config_dict(database_url=url), SECRETS))
    assert "hunter2" not in text and "bot:***@db:5432/bot" in text


def run_cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bot", *args],
        capture_output=True,
        text=True,
        env={"PATH": "/usr/bin:/bin", **(env or {})},
        cwd=ROOT,
        timeout=60,
    )


def test_check_config_cli_on_the_example() -> None:
    # --offline: the example points at the real Slack, which would refuse the test token
    result = run_cli("check-config", "--offline", "--config", "config.example.yaml", env=SECRETS)
    assert result.returncode == 0, result.stderr
    assert "Configuration OK." in result.stdout
    assert "C0123SUPPORT" in result.stdout
    assert "Slack:" not in result.stdout


def check_against(tmp_path: Path, api_url: str) -> subprocess.CompletedProcess[str]:
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(config_dict(slack={"api_base_url": api_url})))
    return run_cli("check-config", "--config", str(path), env=SECRETS)


def test_check_config_asks_slack_whether_it_takes_the_token(tmp_path: Path) -> None:
    with SlackStandIn(bot_token=SECRETS["SLACK_BOT_TOKEN"]) as slack:
        result = check_against(tmp_path, slack.api_url)
    assert result.returncode == 0, result.stderr
    assert "Configuration OK." in result.stdout
    assert (
        "Slack: the bot token works (team Stand-in Workspace (T000), bot user U0BOT0001)."
        in result.stdout
    )
    assert [c.method for c in slack.calls] == ["auth.test"]


@pytest.mark.parametrize(
    ("refusal", "fix"),
    [
        ("invalid_auth", "from api.slack.com/apps → your app → OAuth & Permissions into"),
        ("token_revoked", "reinstall the app (api.slack.com/apps → your app → Install App)"),
        ("account_inactive", "deactivated: reinstall the app"),
    ],
)
def test_check_config_names_a_refused_token_and_the_fix(
    tmp_path: Path, refusal: str, fix: str
) -> None:
    with SlackStandIn(bot_token=SECRETS["SLACK_BOT_TOKEN"]) as slack:
        slack.refuse_token(refusal)
        result = check_against(tmp_path, slack.api_url)
    assert result.returncode == 1
    assert "Configuration OK." in result.stdout
    assert f"Error: Slack refused the bot token ({refusal}). Fix: " in result.stderr
    assert fix in result.stderr and "Bot User OAuth Token (xoxb-…)" in result.stderr
    assert "SLACK_BOT_TOKEN" in result.stderr
    assert "Traceback" not in result.stderr
    assert SECRETS["SLACK_BOT_TOKEN"] not in result.stdout + result.stderr


def test_check_config_with_a_token_slack_does_not_know(tmp_path: Path) -> None:
    with SlackStandIn(bot_token="xoxb-another-token") as slack:
        result = check_against(tmp_path, slack.api_url)
    assert result.returncode == 1
    assert "Slack refused the bot token (invalid_auth)" in result.stderr
    assert SECRETS["SLACK_BOT_TOKEN"] not in result.stdout + result.stderr


def test_check_config_when_slack_cannot_be_reached_checks_the_file_only(tmp_path: Path) -> None:
    result = check_against(tmp_path, "http://127.0.0.1:9/api/")
    assert result.returncode == 0, result.stderr
    assert "Configuration OK." in result.stdout
    assert (
        "Slack: could not check the bot token (ConnectionRefusedError from "
        "http://127.0.0.1:9/api/); the configuration itself is fine." in result.stdout
    )
    with SlackStandIn(bot_token=SECRETS["SLACK_BOT_TOKEN"]) as slack:
        slack.fail_next("auth.test", "ratelimited")
        limited = check_against(tmp_path, slack.api_url)
    assert limited.returncode == 0, limited.stderr
    assert "could not check the bot token (ratelimited" in limited.stdout


def test_check_config_cli_lists_every_problem_without_a_traceback(tmp_path: Path) -> None:
    data = config_dict(colour="blue", default_sender="marketing", database_url="::")
    data["senders"]["sales"]["number"] = "12ab"
    data["contacts"]["bob"] = "12"
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(data))
    result = run_cli("check-config", "--config", str(path), env=SECRETS)
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    for where in (
        "colour:",
        "default_sender:",
        "database_url:",
        "senders.sales.number:",
        "contacts.bob:",
    ):
        assert where in result.stderr
    assert "has 5 problem(s)" in result.stderr


def test_check_config_cli_missing_file_names_the_fix(tmp_path: Path) -> None:
    result = run_cli("check-config", "--config", str(tmp_path / "nope.yaml"))
    assert result.returncode == 1
    assert "does not exist" in result.stderr and "config.example.yaml" in result.stderr
    assert "Traceback" not in result.stderr


def test_config_path_comes_from_the_environment(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(config_dict()))
    result = run_cli("check-config", env={**SECRETS, "WHATSAPP_BOT_CONFIG": str(path)})
    assert result.returncode == 0, result.stderr


def test_groups_are_numbers_or_contacts() -> None:
    config = parse_config(
        config_dict(groups={"drivers": ["+573009876543", "acme-ops", "573009876543"]}), SECRETS
    )
    assert config.groups["drivers"] == ("+573009876543", "+573001234567")
    found = problems_of(
        config_dict(
            groups={"drivers": ["+573009876543", "12"], "acme-ops": ["+573009876543"], "xy": []}
        )
    )
    assert "nor a valid number" in found["groups.drivers[1]"]
    assert "also a contact name" in found["groups.acme-ops"]
    assert "non-empty list" in found["groups.xy"]


def test_metrics_and_logging_default_to_open_text() -> None:
    config = parse_config(config_dict(), SECRETS)
    assert config.metrics.token is None and config.logging.format == "text"
    example = load_config(ROOT / "config.example.yaml", SECRETS)
    assert example.metrics.token is None and example.logging.format == "text"


def test_metrics_token_and_json_logs() -> None:
    data = config_dict(metrics={"token": "${METRICS_TOKEN}"}, logging={"format": "json"})
    config = parse_config(data, {**SECRETS, "METRICS_TOKEN": "s3cret-token"})
    assert config.metrics.token == "s3cret-token" and config.logging.format == "json"


def test_metrics_and_logging_mistakes_are_named() -> None:
    found = problems_of(
        config_dict(
            metrics={"token": "two words", "path": "/m"},
            logging={"format": "xml", "level": "debug"},
        )
    )
    assert set(found) == {"metrics.token", "metrics.path", "logging.format", "logging.level"}
    assert "Authorization header" in found["metrics.token"]
    assert "text, json" in found["logging.format"]


def test_version_comes_from_the_package() -> None:
    from importlib.metadata import version

    result = run_cli("--version")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"whatsapp-bot {version('slack-whatsapp-bot')}"
