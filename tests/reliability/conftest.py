"""Fixtures of the reliability suite, and the figures table printed at the end of the run."""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from tests.reliability import figures
from tests.reliability.rig import Rig

PG_SKIP = "PostgreSQL runs need TEST_DATABASE_URL (`.ci/run` sets it)"


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if not figures.rows():
        return
    terminalreporter.section("reliability figures")
    terminalreporter.write_line(figures.table())
    figures.dump()


@pytest.fixture
def make_rig(tmp_path: Path) -> Iterator[Callable[..., Rig]]:
    """Rigs made in a test, each in its own folder, all closed after it."""
    made: list[Rig] = []

    def make(**kwargs: Any) -> Rig:
        folder = tmp_path / f"rig{len(made)}"
        folder.mkdir()
        rig = Rig(folder, **kwargs)
        made.append(rig)
        return rig

    yield make
    for rig in made:
        rig.close()


@contextlib.contextmanager
def fresh_postgres() -> Iterator[str]:
    """A fresh, empty PostgreSQL database of its own (so runs in parallel never collide),
    dropped afterwards; skips the test when no PostgreSQL is configured."""
    base = os.environ.get("TEST_DATABASE_URL")
    if not base:
        pytest.skip(PG_SKIP)
    url = sa.engine.make_url(base)
    name = f"{url.database or 'test'}_rel_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    try:
        yield url.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()


@pytest.fixture
def postgres_url() -> Iterator[str]:
    with fresh_postgres() as url:
        yield url


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A database for the app: a SQLite file, or a fresh PostgreSQL database."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'shared.sqlite3'}"
    url: str = request.getfixturevalue("postgres_url")
    return url
