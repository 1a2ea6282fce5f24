"""The schema's migrations, on SQLite and PostgreSQL: the first revision is exactly 0.1.0's
schema, the newest is exactly the code's; a 0.1.0 database is recognised and keeps every row;
a newer database is refused; a failed upgrade is rolled back whole; several processes
migrating at once upgrade once."""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
import yaml
from alembic import command
from alembic.config import Config as AlembicConfig

from bot.app import create_app
from bot.store import SchemaError, SendState, Store, metadata
from bot.store.migrate import FIRST, MIGRATIONS, Migrations
from tests.conftest import SECRETS, config_dict, make_config
from tests.fixtures import schema_0_1_0

ROOT = Path(__file__).resolve().parents[1]
SECRET = SECRETS["WHATSAPP_BOT_SECRET"]


def catalog(url: str) -> list[tuple[Any, ...]]:
    """The database's own record of its tables, indexes and constraints, as the server
    states them (SQLite's CREATE statements; PostgreSQL's catalog), revision table aside."""
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            if conn.dialect.name == "sqlite":
                rows = conn.exec_driver_sql(
                    "SELECT type, name, tbl_name, sql FROM sqlite_master "
                    "WHERE tbl_name != 'alembic_version'"
                ).all()
            else:
                rows = [*conn.exec_driver_sql(_PG_CATALOG).all()]
            return sorted(tuple(str(value) for value in row) for row in rows)
    finally:
        engine.dispose()


_PG_CATALOG = """
SELECT 'column', table_name, column_name, ordinal_position::text,
       concat_ws(' ', data_type, character_maximum_length, is_nullable, column_default)
  FROM information_schema.columns
 WHERE table_schema = 'public' AND table_name != 'alembic_version'
UNION ALL
SELECT 'constraint', conrelid::regclass::text, conname, contype::text, pg_get_constraintdef(c.oid)
  FROM pg_constraint c JOIN pg_namespace n ON n.oid = c.connamespace
 WHERE n.nspname = 'public' AND conrelid::regclass::text != 'alembic_version'
UNION ALL
SELECT 'index', tablename, indexname, '', indexdef
  FROM pg_indexes WHERE schemaname = 'public' AND tablename != 'alembic_version'
UNION ALL
SELECT 'sequence', sequence_name, data_type, start_value, increment
  FROM information_schema.sequences WHERE sequence_schema = 'public'
"""


def shape(url: str) -> dict[str, Any]:
    """Each table's columns (in any order), keys, indexes and unique constraints, as
    SQLAlchemy reads them back: what a later migration must leave as the code declares it."""
    engine = sa.create_engine(url)
    try:
        inspector = sa.inspect(engine)
        return {
            table: {
                "columns": sorted(
                    (c["name"], str(c["type"]), c["nullable"], str(c.get("default")))
                    for c in inspector.get_columns(table)
                ),
                "primary key": inspector.get_pk_constraint(table)["constrained_columns"],
                "foreign keys": sorted(
                    (fk["constrained_columns"], fk["referred_table"], str(fk["options"]))
                    for fk in inspector.get_foreign_keys(table)
                ),
                "indexes": sorted(
                    (i["name"], i["column_names"], i["unique"])
                    for i in inspector.get_indexes(table)
                ),
                "unique": sorted(
                    u["column_names"] for u in inspector.get_unique_constraints(table)
                ),
            }
            for table in sorted(inspector.get_table_names())
            if table != "alembic_version"
        }
    finally:
        engine.dispose()


def create_all(url: str, tables: sa.MetaData) -> None:
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        tables.create_all(conn)
    engine.dispose()


def upgrade_to(url: str, revision: str) -> None:
    """Alembic itself, to one revision: what the code's own path does on the way to head."""
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        config = AlembicConfig()
        config.set_main_option("script_location", str(MIGRATIONS))
        config.attributes["connection"] = conn
        command.upgrade(config, revision)
    engine.dispose()


def stamp(url: str, revision: str) -> None:
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        config = AlembicConfig()
        config.set_main_option("script_location", str(MIGRATIONS))
        config.attributes["connection"] = conn
        command.stamp(config, revision)
    engine.dispose()


def migrate(url: str, migrations: Migrations | None = None) -> str:
    store = Store.from_url(url)
    try:
        return store.migrate(migrations).describe()
    finally:
        store.close()


def revision_of(url: str) -> str | None:
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            if not sa.inspect(conn).has_table("alembic_version"):
                return None
            return conn.exec_driver_sql("SELECT version_num FROM alembic_version").scalar()
    finally:
        engine.dispose()


def set_revision(url: str, revision: str) -> None:
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        conn.execute(sa.text("UPDATE alembic_version SET version_num = :r"), {"r": revision})
    engine.dispose()


# What each revision creates


def test_the_first_revision_makes_exactly_the_schema_of_0_1_0(
    new_database: Callable[[], str],
) -> None:
    made_by_0_1_0, migrated = new_database(), new_database()
    create_all(made_by_0_1_0, schema_0_1_0.metadata)
    upgrade_to(migrated, FIRST)
    assert catalog(migrated) == catalog(made_by_0_1_0)
    assert set(shape(migrated)) == set(schema_0_1_0.metadata.tables)


def test_the_newest_revision_makes_the_schema_the_code_declares(
    new_database: Callable[[], str],
) -> None:
    """A change to bot/store/schema.py without its migration fails here."""
    declared, migrated = new_database(), new_database()
    create_all(declared, metadata)
    migrate(migrated)
    assert shape(migrated) == shape(declared)
    assert set(shape(migrated)) == set(metadata.tables)


# What an upgrade finds


def test_an_empty_database_is_made_from_the_migrations_and_a_second_run_does_nothing(
    empty_database_url: str,
) -> None:
    assert migrate(empty_database_url) == (
        f"Created the tables in an empty database: now at revision {Migrations().head}."
    )
    assert migrate(empty_database_url) == (
        f"The database is already at revision {Migrations().head}, the newest: nothing to do."
    )
    store = Store.from_url(empty_database_url)
    assert store.schema_status().describe() == "ok"
    store.close()


def test_a_database_made_by_0_1_0_is_recognised_and_keeps_every_row(
    empty_database_url: str,
) -> None:
    old = schema_0_1_0.create(empty_database_url, link_secret=SECRET)
    engine = sa.create_engine(empty_database_url)
    with engine.begin() as conn:  # a refused key, as 0.1.0 kept it
        conn.execute(
            schema_0_1_0.flags.insert(),
            {
                "name": "provider_auth_failed",
                "value": "HTTP 401: no",
                "updated_at": datetime.now(UTC),
            },
        )
    engine.dispose()
    before = schema_0_1_0.read_all(empty_database_url)

    said = migrate(empty_database_url)

    assert said.startswith("Recognised a database made by version 0.1.0 and marked it as")
    assert "every row kept" in said
    assert revision_of(empty_database_url) == Migrations().head
    assert schema_0_1_0.read_all(empty_database_url) == before
    assert {name: len(rows) for name, rows in before.items()} == {
        "batches": 1,
        "callbacks": 8,
        "flags": 1,
        "home_views": 1,
        "media": 2,
        "sends": 7,
        "slack_events": 1,
        "statuses": 7,
    }
    store = Store.from_url(empty_database_url)
    try:  # the code reads them as its own
        sent = store.get_send(old.send_id)
        assert sent is not None
        assert (sent.state, sent.provider_status) == (SendState.SENT, "DELIVERED")
        assert [row.status for row in store.timeline(old.send_id)] == ["SENT", "DELIVERED"]
        assert store.callback_target(old.callback_token) == (old.send_id, old.external_id)
        assert b"".join(store.media_chunks("m" * 32, size=len(old.media_bytes))) == (
            old.media_bytes
        )
        assert [s.state for s in store.batch_sends("b" * 32)] == [SendState.SENT] * 2
    finally:
        store.close()
    assert migrate(empty_database_url).startswith("The database is already at revision")


def test_tables_that_are_not_as_0_1_0_made_them_are_refused_and_left_alone(
    empty_database_url: str,
) -> None:
    engine = sa.create_engine(empty_database_url)
    with engine.begin() as conn:
        conn.execute(sa.text("CREATE TABLE sends (id VARCHAR(32) PRIMARY KEY, colour TEXT)"))
        conn.execute(sa.text("INSERT INTO sends VALUES ('s1', 'blue')"))
    engine.dispose()
    with pytest.raises(SchemaError) as info:
        migrate(empty_database_url)
    said = str(info.value)
    assert "not as version 0.1.0 made them" in said
    assert "no table media" in said and "sends has unknown colour" in said
    assert "left as it is" in said
    assert revision_of(empty_database_url) is None
    engine = sa.create_engine(empty_database_url)
    with engine.connect() as conn:
        assert sa.inspect(conn).get_table_names() == ["sends"]
        assert conn.execute(sa.text("SELECT colour FROM sends")).scalar() == "blue"
    engine.dispose()


def test_a_database_of_someone_else_gets_the_tables_beside_its_own(
    empty_database_url: str,
) -> None:
    engine = sa.create_engine(empty_database_url)
    with engine.begin() as conn:
        conn.execute(sa.text("CREATE TABLE invoices (id INTEGER PRIMARY KEY)"))
    engine.dispose()
    assert migrate(empty_database_url).startswith("Created the tables in an empty database")
    assert "invoices" in shape(empty_database_url)


def test_a_database_from_a_newer_version_is_refused_never_downgraded(
    empty_database_url: str,
) -> None:
    schema_0_1_0.create(empty_database_url, link_secret=SECRET)
    migrate(empty_database_url)
    set_revision(empty_database_url, "0099")
    before = schema_0_1_0.read_all(empty_database_url)

    with pytest.raises(SchemaError) as info:
        migrate(empty_database_url)

    said = str(info.value)
    assert "at revision 0099, which this version of the bot" in said
    assert "Upgrade the bot" in said and "never downgraded" in said
    assert revision_of(empty_database_url) == "0099"
    assert schema_0_1_0.read_all(empty_database_url) == before
    store = Store.from_url(empty_database_url)
    status = store.schema_status()
    store.close()
    assert status.ahead and status.describe().startswith("ahead: database at 0099")


# A migration that fails


BROKEN = '''
"""A migration that fails half-way, after changing the schema and the rows."""

import sqlalchemy as sa
from alembic import op

revision = "9999"
down_revision = "{down}"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table("notes", sa.Column("id", sa.Integer, primary_key=True))
    op.add_column("sends", sa.Column("note", sa.Text))
    op.create_index("ix_sends_recipient", "sends", ["recipient"])
    op.execute("UPDATE sends SET caption = 'changed', body = 'changed'")
    op.execute("DELETE FROM statuses")
    op.execute("SELECT no_such_column FROM sends")


def downgrade() -> None:
    raise NotImplementedError
'''


def broken_migrations(tmp_path: Path) -> Migrations:
    """The package's migrations, then one that fails."""
    folder = tmp_path / "migrations"
    shutil.copytree(MIGRATIONS, folder, ignore=shutil.ignore_patterns("__pycache__"))
    head = Migrations().head
    (folder / "versions" / "9999_broken.py").write_text(BROKEN.replace("{down}", head))
    return Migrations(folder)


@pytest.mark.parametrize("start", ["0.1.0", "first revision"])
def test_a_migration_that_fails_leaves_the_database_as_it_was(
    empty_database_url: str, tmp_path: Path, start: str
) -> None:
    schema_0_1_0.create(empty_database_url, link_secret=SECRET)
    if start == "first revision":
        migrate(empty_database_url)
    revision = revision_of(empty_database_url)
    tables = catalog(empty_database_url)
    rows = schema_0_1_0.read_all(empty_database_url)

    with pytest.raises(SchemaError) as info:
        migrate(empty_database_url, broken_migrations(tmp_path))

    said = str(info.value)
    assert "Upgrading the database to revision 9999 failed" in said
    assert "no_such_column" in said
    assert f"nothing was changed: the database is at revision {revision or 'none'}" in said
    assert revision_of(empty_database_url) == revision
    assert catalog(empty_database_url) == tables
    assert schema_0_1_0.read_all(empty_database_url) == rows
    migrate(empty_database_url)  # the package's own migrations still apply
    assert revision_of(empty_database_url) == Migrations().head


# Several at once


def test_several_processes_migrating_at_once_upgrade_once(
    empty_database_url: str, tmp_path: Path
) -> None:
    config = tmp_path / "config.yaml"
    config.write_text(yaml.safe_dump(config_dict(database_url=empty_database_url)))
    command_line = [sys.executable, "-m", "bot", "migrate", "--config", str(config)]
    runs = [
        subprocess.Popen(
            command_line,
            cwd=ROOT,
            env={**os.environ, **SECRETS},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(4)
    ]
    said = [run.communicate(timeout=60) for run in runs]
    assert [run.returncode for run in runs] == [0] * 4, said
    outs = sorted(out.strip() for out, _ in said)
    assert [out.split(":")[0] for out in outs] == [
        "Created the tables in an empty database",
        *[f"The database is already at revision {Migrations().head}, the newest"] * 3,
    ], said
    assert revision_of(empty_database_url) == Migrations().head


# /healthz


def health(app: Any) -> tuple[int, dict[str, Any]]:
    environ = {"REQUEST_METHOD": "GET", "PATH_INFO": "/healthz", "wsgi.input": io.BytesIO()}
    status: list[str] = []
    body = b"".join(app(environ, lambda s, h: status.append(s)))
    return int(status[0].split()[0]), json.loads(body)


def test_healthz_says_when_the_schema_is_behind_or_ahead_of_the_code() -> None:
    app = create_app(make_config(), sweep_interval=None)
    try:
        status, answer = health(app)
        # Slack is out of reach here: its check may or may not have answered yet.
        slack = answer.pop("slack")
        assert slack == "not checked yet" or slack.startswith("could not check")
        assert (status, answer) == (200, {"ok": True, "database": "ok", "schema": "ok"})
        head = Migrations().head
        with app.services.store.engine.begin() as conn:
            conn.execute(sa.text("DELETE FROM alembic_version"))
        assert health(app) == (
            503,
            {
                "ok": False,
                "database": "ok",
                "schema": f"behind: database at none (empty, or made by 0.1.0), code at {head}; "
                "run whatsapp-bot migrate",
            },
        )
        with app.services.store.engine.begin() as conn:
            conn.execute(sa.text("INSERT INTO alembic_version VALUES ('0099')"))
        status, answer = health(app)
        assert status == 503
        assert answer["schema"] == (
            f"ahead: database at 0099, which this code (at {head}) does not know; upgrade the bot"
        )
    finally:
        app.services.close()


def test_a_database_at_0001_with_rows_gains_conversations_and_keeps_every_row(
    empty_database_url: str,
) -> None:
    """The previous version's database (revision 0001, with its sends, statuses, media and a
    group) upgraded to 0002: every row kept, sends show no reply waiting, and customers'
    messages can be stored beside them."""
    old = schema_0_1_0.create(empty_database_url, link_secret=SECRET)
    stamp(empty_database_url, FIRST)  # 0001 is 0.1.0's tables, exactly (tested above)
    before = schema_0_1_0.read_all(empty_database_url)

    said = migrate(empty_database_url)

    assert said.startswith(f"Upgraded the database from revision {FIRST} to")
    assert revision_of(empty_database_url) == Migrations().head
    assert schema_0_1_0.read_all(empty_database_url) == before
    store = Store.from_url(empty_database_url)
    try:
        sent = store.get_send(old.send_id)
        assert sent is not None and sent.reply_waiting is False
        assert store.callback_target(old.callback_token) == (old.send_id, old.external_id)
        taken = store.take_inbound(
            sender_alias=sent.sender_alias,
            customer=sent.recipient,
            answerable=True,
            message={
                "dedup_key": "id:m1",
                "shape": "json",
                "kind": "text",
                "text": "thanks",
                "attachments": "[]",
                "raw": '{"id": "m1"}',
            },
            optout=None,
        )
        assert taken.new
        found = store.find_conversation(sent.sender_alias, sent.recipient)
        assert found is not None and found.waiting_since is not None
        assert store.newest_send_thread(sent.sender_alias, sent.recipient) is not None
    finally:
        store.close()


def _every_row(url: str) -> dict[str, list[dict[str, Any]]]:
    """Every row of every table, all its columns, by primary key."""
    engine = sa.create_engine(url)
    try:
        tables = sa.MetaData()
        tables.reflect(engine)
        with engine.connect() as conn:
            return {
                table.name: [
                    dict(row)
                    for row in conn.execute(
                        table.select().order_by(*table.primary_key.columns)
                    ).mappings()
                ]
                for table in tables.sorted_tables
                if table.name != "alembic_version"
            }
    finally:
        engine.dispose()


def _customers_at_0002(url: str, customer: str) -> None:
    """A conversation and two customer messages, in the tables as revision 0002 made them
    (read from the database: the migrations are frozen, so this is 0002's shape)."""
    engine = sa.create_engine(url)
    tables = sa.MetaData()
    tables.reflect(engine, only=["conversations", "inbound_messages"])
    now = datetime.now(UTC)
    with engine.begin() as conn:
        conn.execute(
            tables.tables["conversations"].insert(),
            {
                "id": "c" * 32,
                "created_at": now,
                "updated_at": now,
                "sender_alias": "support",
                "customer": customer,
                "customer_name": "Ana",
                "channel_id": "C0123SUPPORT",
                "thread_ts": "1733300000.000100",
                "waiting_since": now,
                "opted_out_at": now,
                "opted_out_why": "the customer wrote STOP",
            },
        )
        for number, text in ((1, "hola"), (2, "STOP")):
            conn.execute(
                tables.tables["inbound_messages"].insert(),
                {
                    "id": f"{number}" * 32,
                    "received_at": now,
                    "conversation_id": "c" * 32,
                    "sender_alias": "support",
                    "customer": customer,
                    "dedup_key": f"id:wamid.{number}",
                    "shape": "json",
                    "kind": "image",
                    "text": text,
                    "customer_name": "Ana",
                    "attachments": json.dumps(
                        [{"url": "https://p.example/1", "file_name": "a.jpg"}]
                    ),
                    "raw": json.dumps({"user": customer.lstrip("+"), "text": text}),
                    "channel_id": "C0123SUPPORT",
                    "message_ts": f"1733300000.00010{number}",
                    "shown_at": now,
                },
            )
    engine.dispose()


def test_a_database_at_0002_with_rows_gains_retention_and_keeps_every_row(
    empty_database_url: str,
) -> None:
    """The previous version's database (revision 0002: sends, statuses, callbacks, kept
    files, a group, conversations and customers' messages) upgraded: every row kept as it was,
    nothing marked as removed or purged, the old links still serve their bytes, and retention
    and forgetting work on the rows."""
    old = schema_0_1_0.create(empty_database_url, link_secret=SECRET)
    stamp(empty_database_url, FIRST)
    upgrade_to(empty_database_url, "0002")
    sent = schema_0_1_0.read_all(empty_database_url)["sends"]
    customer = next(row["recipient"] for row in sent if row["id"] == old.send_id)
    _customers_at_0002(empty_database_url, customer)
    before = _every_row(empty_database_url)

    said = migrate(empty_database_url)

    assert (
        said == f"Upgraded the database from revision 0002 to {Migrations().head}; every row kept."
    )
    after = _every_row(empty_database_url)
    new_columns = {
        "media": {"purged_at"},
        "sends": {"content_removed_at"},
        "inbound_messages": {"content_removed_at"},
        "conversations": {"forgotten_at"},
    }
    assert set(after) == set(before)
    for table, rows in before.items():
        assert len(after[table]) == len(rows), table
        added = new_columns.get(table, set())
        for old_row, new_row in zip(rows, after[table], strict=True):
            assert {k: v for k, v in new_row.items() if k not in added} == old_row, table
            assert all(new_row[column] is None for column in added), table
    assert {name: len(rows) for name, rows in after.items()} == {
        "batches": 1,
        "callbacks": 8,
        "conversations": 1,
        "flags": 0,
        "home_views": 1,
        "inbound_messages": 2,
        "media": 2,
        "sends": 7,
        "slack_events": 1,
        "statuses": 7,
    }
    store = Store.from_url(empty_database_url)
    try:
        kept = store.get_media("m" * 32, with_data=False)
        assert kept is not None and kept.purged_at is None
        assert b"".join(store.media_chunks(kept.id, size=kept.size)) == old.media_bytes
        message = store.get_inbound("1" * 32)
        assert message is not None and message.content_removed_at is None
        conversation = store.get_conversation("c" * 32)
        assert conversation is not None and conversation.forgotten_at is None
        send = store.get_send(old.send_id)
        assert send is not None and send.content_removed_at is None
        done = store.forget_customer(
            customer, "+57300•••4567", "[removed on request]", datetime.now(UTC)
        )
        assert (done.inbound_messages, done.conversations, done.opted_out) == (2, 1, 1)
        assert done.sends >= 1
    finally:
        store.close()
