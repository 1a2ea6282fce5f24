"""`whatsapp-bot serve` on a database made by an earlier version, on SQLite and PostgreSQL: it
upgrades it on start, keeps every row, and the URLs that version gave the provider (status
callbacks, media links) keep working; several instances starting at once upgrade once; a
database from a newer version stops it from starting."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from pathlib import Path

import pytest
import sqlalchemy as sa

from bot.sandbox.launch import StartError
from bot.store.migrate import Migrations
from tests.conftest import SECRETS
from tests.fixtures import schema_0_1_0
from tests.scenarios.harness import CHANNEL, Harness, text_of

SECRET = SECRETS["WHATSAPP_BOT_SECRET"]


def post_json(url: str, body: dict[str, str]) -> tuple[int, dict[str, object]]:
    request = urllib.request.Request(
        url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=10) as answer:
        return answer.status, json.loads(answer.read())


def get(url: str) -> tuple[int, str, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=10) as answer:
            return answer.status, answer.headers["Content-Type"], answer.read()
    except urllib.error.HTTPError as error:
        return error.code, error.headers["Content-Type"], error.read()


def status_shown(bot: Harness, record: str, contains: str) -> str | None:
    """The thread's status reply (edited in place), once it contains `contains`."""
    for message in bot.slack.thread(CHANNEL, record):
        if contains in text_of(message):
            return text_of(message)
    return None


def test_a_0_1_0_database_is_upgraded_on_start_and_its_urls_keep_working(
    empty_database_url: str, tmp_path: Path
) -> None:
    old = schema_0_1_0.create(empty_database_url, link_secret=SECRET)
    bot = Harness(tmp_path, database_url=empty_database_url)
    # The thread 0.1.0 posted for the delivered send: its record, transactionId and status.
    record = old.thread[0]
    for ts in old.thread:
        bot.slack.add_message(
            CHANNEL,
            user=bot.slack.bot_user_id,
            ts=ts,
            thread_ts=None if ts == record else record,
            text="as 0.1.0 posted it",
        )
    bot.start()
    try:
        assert "Database: Recognised a database made by version 0.1.0" in bot.log()
        status, _, body = get(bot.url + "/healthz")
        assert (status, json.loads(body)) == (
            200,
            {"ok": True, "database": "ok", "schema": "ok", "slack": "ok"},
        )

        status, answer = post_json(
            f"{bot.url}/whatsapp/callbacks/{old.callback_token}",
            {"status": "READ", "externalId": old.external_id, "id": "txn-0002"},
        )
        assert status == 200, answer
        assert answer["status"] == "READ" and answer["duplicate"] is False
        send = bot.store.get_send(old.send_id)
        assert send is not None and send.provider_status == "READ"
        assert [row.status for row in bot.store.timeline(old.send_id)] == [
            "SENT",
            "DELIVERED",
            "READ",
        ]

        shown = bot.slack.wait_for(lambda: status_shown(bot, record, "Status: *READ*"), timeout=15)
        assert "SENT" in shown and "DELIVERED" in shown and "read by the customer" in shown

        status, content_type, data = get(f"{bot.url}/media/{old.media_link}")
        assert (status, content_type) == (200, old.media_type)
        assert data == old.media_bytes
    finally:
        bot.close()


def test_instances_starting_at_once_upgrade_the_database_once(
    empty_database_url: str, tmp_path: Path
) -> None:
    bots = []
    for number in range(3):
        folder = tmp_path / f"instance-{number}"
        folder.mkdir()
        bots.append(Harness(folder, database_url=empty_database_url))
    try:
        for bot in bots:
            bot.app.start(wait=False)
        for bot in bots:
            bot.app.wait_healthy(60)
        said = sorted(
            line.removeprefix("Database: ").split(":")[0]
            for bot in bots
            for line in bot.log().splitlines()
            if line.startswith("Database: ")
        )
        assert said == [
            "Created the tables in an empty database",
            *[f"The database is already at revision {Migrations().head}, the newest"] * 2,
        ], [bot.log() for bot in bots]
    finally:
        for bot in bots:
            bot.close()


def test_serve_refuses_a_database_from_a_newer_version(
    empty_database_url: str, tmp_path: Path
) -> None:
    engine = sa.create_engine(empty_database_url)
    with engine.begin() as conn:
        conn.execute(sa.text("CREATE TABLE alembic_version (version_num VARCHAR(32) NOT NULL)"))
        conn.execute(sa.text("INSERT INTO alembic_version VALUES ('0099')"))
    engine.dispose()
    bot = Harness(tmp_path, database_url=empty_database_url)
    try:
        with pytest.raises(StartError) as info:
            bot.start()
        assert info.value.exit_code == 1
        log = bot.log()
        assert "Error: The database's schema is at revision 0099" in log
        assert "Upgrade the bot" in log and "never downgraded" in log
        assert "Serving on" not in log
    finally:
        bot.close()
    engine = sa.create_engine(empty_database_url)
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT version_num FROM alembic_version")).all() == [("0099",)]
        assert sa.inspect(conn).get_table_names() == ["alembic_version"]
    engine.dispose()
    assert Migrations().head != "0099"
