"""`whatsapp-bot migrate`: what it did in a sentence, or one clear paragraph and exit 1."""

from __future__ import annotations

import io
import sys
from pathlib import Path

import pytest
import sqlalchemy as sa
import yaml

from bot.__main__ import main
from tests.conftest import SECRETS, config_dict
from tests.fixtures import schema_0_1_0


def migrate(tmp_path: Path, database_url: str) -> tuple[int, str, str]:
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(config_dict(database_url=database_url)))
    out, err = io.StringIO(), io.StringIO()
    old_err, sys.stderr = sys.stderr, err
    try:
        code = main(["migrate", "--config", str(path)], env=SECRETS, out=out)
    finally:
        sys.stderr = old_err
    return code, out.getvalue(), err.getvalue()


def test_migrate_creates_the_tables_then_has_nothing_to_do(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'bot.sqlite3'}"
    assert migrate(tmp_path, url) == (
        0,
        "Created the tables in an empty database: now at revision 0003.\n",
        "",
    )
    assert migrate(tmp_path, url) == (
        0,
        "The database is already at revision 0003, the newest: nothing to do.\n",
        "",
    )


def test_migrate_recognises_a_database_made_by_0_1_0(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'bot.sqlite3'}"
    schema_0_1_0.create(url, link_secret=SECRETS["WHATSAPP_BOT_SECRET"])
    code, out, _ = migrate(tmp_path, url)
    assert code == 0
    assert out == (
        "Recognised a database made by version 0.1.0 and marked it as revision 0001 "
        "and upgraded it to 0003; every row kept. Now at revision 0003.\n"
    )


def test_migrate_refuses_a_database_from_a_newer_version(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'bot.sqlite3'}"
    migrate(tmp_path, url)
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        conn.execute(sa.text("UPDATE alembic_version SET version_num = '0042'"))
    engine.dispose()
    code, out, err = migrate(tmp_path, url)
    assert (code, out) == (1, "")
    assert err.startswith("Error: The database's schema is at revision 0042, which this version")
    assert "Upgrade the bot to that version or later" in err
    assert err.count("\n") == 1


@pytest.mark.timeout(30)
def test_migrate_says_when_the_database_cannot_be_reached(tmp_path: Path) -> None:
    url = "postgresql+psycopg://bot:hunter2@127.0.0.1:9/bot?connect_timeout=2"
    code, out, err = migrate(tmp_path, url)
    assert (code, out) == (1, "")
    assert err.startswith("Error: Could not reach the database at postgresql+psycopg://bot:***@")
    assert "Check database_url" in err
    assert "hunter2" not in err
    assert err.count("\n") == 1
