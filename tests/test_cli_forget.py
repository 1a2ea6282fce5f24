"""`whatsapp-bot forget NUMBER`: how many records changed, 0 the second time; a number that
matches nothing or that is not a number is one clear line and a non-zero exit; the Slack
messages are edited from the command line, or left to a running app when Slack cannot be
reached or `--wait 0` says so."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from bot.__main__ import main
from bot.sandbox.slack import SlackStandIn
from bot.store import SendState, Store
from tests.conftest import SECRETS, config_dict

ROOT = Path(__file__).resolve().parent.parent
CUSTOMER = "+573001234567"


def write_config(tmp_path: Path, database_url: str, **overrides: object) -> Path:
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(config_dict(database_url=database_url, **overrides)))
    return path


def forget(config_path: Path, *args: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    old_err, sys.stderr = sys.stderr, err
    try:
        code = main(["forget", *args, "--config", str(config_path)], env=SECRETS, out=out)
    finally:
        sys.stderr = old_err
    return code, out.getvalue(), err.getvalue()


def some_records(database_url: str, *, shown: bool = False) -> str:
    store = Store.from_url(database_url)
    try:
        store.migrate()
        send = store.add_send(
            id="s" * 32,
            source="slash",
            sender_alias="support",
            sender_number="15550001111",
            recipient=CUSTOMER,
            kind="text",
            body="Hola Ana",
            external_id="e" * 32,
            callback_token="t" * 32,
            state=SendState.SENT,
            channel_id="C0123SUPPORT" if shown else None,
        )
        store.record_callback(send.id, json.dumps({"to": CUSTOMER, "status": "SENT"}), "SENT")
        store.take_inbound(
            sender_alias="support",
            customer=CUSTOMER,
            answerable=True,
            message={
                "dedup_key": "id:1",
                "shape": "json",
                "kind": "text",
                "text": "gracias",
                "attachments": "[]",
                "raw": "{}",
            },
            optout=None,
        )
        return send.id
    finally:
        store.close()


def test_forget_says_how_many_records_changed_and_then_zero(
    tmp_path: Path, database_url: str
) -> None:
    some_records(database_url)
    config = write_config(tmp_path, database_url)

    code, out, err = forget(config, CUSTOMER, "--wait", "0")

    assert (code, err) == (0, "")
    first, slack = out.splitlines()
    assert first == (
        "4 records changed: forgot +57300•••4567 (1 send, 1 customer message, "
        "1 conversation, 1 callback)."
    )
    assert slack.startswith("Slack: 2 thread(s) marked to be edited to match; a running app")
    assert "573001234567" not in out

    code, out, err = forget(config, "573001234567", "--wait", "0")  # the same number, written so
    assert (code, err) == (0, "")
    assert out.splitlines()[0] == (
        "0 records changed: nothing has that number any more; 3 records show +57300•••4567 "
        "already (forgotten before)."
    )


def test_a_number_that_matches_nothing_is_one_line_and_exit_1(
    tmp_path: Path, database_url: str
) -> None:
    some_records(database_url)
    config = write_config(tmp_path, database_url)
    code, out, err = forget(config, "+447911123456")
    assert (code, out) == (1, "")
    assert err.count("\n") == 1 and err.startswith("Error: No record has that number")
    assert "+44791•••3456" in err and "nothing was changed" in err


@pytest.mark.parametrize("number", ["12", "abc", "+57 300 123", "+999123456789"])
def test_a_bad_number_is_one_line_and_exit_2(tmp_path: Path, number: str) -> None:
    config = write_config(tmp_path, f"sqlite:///{tmp_path / 'bot.sqlite3'}")
    code, out, err = forget(config, number)
    assert (code, out) == (2, "")
    assert err.count("\n") == 1 and "is not a valid phone number" in err
    assert not (tmp_path / "bot.sqlite3").exists()  # nothing was opened, nothing made


def test_slack_out_of_reach_leaves_the_edits_to_the_running_app(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'bot.sqlite3'}"
    send_id = some_records(url, shown=True)
    config = write_config(tmp_path, url)  # Slack at 127.0.0.1:9: nobody answers
    code, out, err = forget(config, CUSTOMER, "--wait", "1")
    assert (code, err) == (0, "")
    assert out.splitlines()[1].startswith("Slack: 0 of 2 thread(s) now match; 2 could not be")
    assert "a running app edits them within seconds" in out
    store = Store.from_url(url)
    try:
        send = store.get_send(send_id)
        assert send is not None and send.dirty  # for the app's sweeper
    finally:
        store.close()


def test_the_slack_messages_are_edited_from_the_command_line(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'bot.sqlite3'}"
    with SlackStandIn(bot_token=SECRETS["SLACK_BOT_TOKEN"]) as slack:
        posted = slack.add_message(
            "C0123SUPPORT", text="+573001234567: Hola Ana", user=slack.bot_user_id
        )
        send_id = some_records(url, shown=True)
        store = Store.from_url(url)
        store.set_send_fields(send_id, message_ts=posted["ts"], message_status="SENT")
        store.close()
        config = write_config(tmp_path, url, slack={"api_base_url": slack.api_url})
        code, out, err = forget(config, CUSTOMER)
        assert (code, err) == (0, "")
        assert out.splitlines()[1] == "Slack: the 2 thread(s) that showed the customer now match."
        record = slack.message("C0123SUPPORT", posted["ts"])
        assert record is not None and "+57300•••4567" in json.dumps(record, ensure_ascii=False)
        assert "Hola Ana" not in json.dumps(record)


def test_forget_runs_as_a_command(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'bot.sqlite3'}"
    some_records(url)
    config = write_config(tmp_path, url)
    run = subprocess.run(
        [sys.executable, "-m", "bot", "forget", CUSTOMER, "--config", str(config), "--wait", "0"],
        capture_output=True,
        text=True,
        env={"PATH": "/usr/bin:/bin", **SECRETS},
        cwd=ROOT,
        timeout=60,
    )
    assert run.returncode == 0, run.stderr
    assert run.stdout.startswith("4 records changed: forgot +57300•••4567")
