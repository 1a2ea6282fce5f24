"""The schema's version: which revision a database is at, and its upgrade to the newest one.

The revisions are the Alembic migrations in `bot/store/migrations/`. A database made by
version 0.1.0, before there were migrations, has the tables and no `alembic_version`: it is
recognised (its tables are checked against what the first revision creates), marked as being
at the first revision, and upgraded from there. A database at a revision this code does not
know was upgraded by a newer version of the bot: it is refused, never downgraded.

`Migrations.upgrade` runs on a connection whose transaction and lock the caller holds
(`Database.migrate`), so a failed upgrade is rolled back whole and instances starting at
once upgrade a database once.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Literal

import sqlalchemy as sa
from alembic import command
from alembic.config import Config as AlembicConfig
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Connection

MIGRATIONS = Path(__file__).with_name("migrations")
FIRST = "0001"
# The version of the bot whose databases have no revision, only the tables.
UNVERSIONED = "0.1.0"
VERSION_TABLE = "alembic_version"

# Alembic's `context` and `op` are module globals: one run at a time in a process.
_ALEMBIC = threading.Lock()


class SchemaError(Exception):
    """A database this code will not upgrade, or an upgrade that failed: one paragraph that
    says what was found, what was done (nothing, or rolled back) and what to do."""


@dataclass(frozen=True)
class SchemaStatus:
    """A database's revision (None: no revision, an empty database or one made by 0.1.0)
    beside the newest this code knows."""

    database: str | None
    code: str
    known: bool

    @property
    def current(self) -> bool:
        return self.database == self.code

    @property
    def ahead(self) -> bool:
        return self.database is not None and not self.known

    def describe(self) -> str:
        """`ok`, or what is wrong and what to do, as /healthz says it."""
        if self.current:
            return "ok"
        at = self.database or f"none (empty, or made by {UNVERSIONED})"
        if self.ahead:
            return (
                f"ahead: database at {at}, which this code (at {self.code}) does not know; "
                "upgrade the bot"
            )
        return f"behind: database at {at}, code at {self.code}; run whatsapp-bot migrate"


@dataclass(frozen=True)
class Migration:
    """What an upgrade did: the database was `found` empty, made by 0.1.0, or at `before`."""

    found: Literal["empty", "unversioned", "versioned"]
    before: str | None
    after: str

    @property
    def changed(self) -> bool:
        return self.before != self.after

    def describe(self) -> str:
        if self.found == "empty":
            return f"Created the tables in an empty database: now at revision {self.after}."
        if self.found == "unversioned":
            upgraded = "" if self.after == FIRST else f" and upgraded it to {self.after}"
            return (
                f"Recognised a database made by version {UNVERSIONED} and marked it as "
                f"revision {FIRST}{upgraded}; every row kept. Now at revision {self.after}."
            )
        if not self.changed:
            return f"The database is already at revision {self.after}, the newest: nothing to do."
        return f"Upgraded the database from revision {self.before} to {self.after}; every row kept."


class Migrations:
    """The revisions in one folder (the package's, or a test's)."""

    def __init__(self, location: Path = MIGRATIONS) -> None:
        self.location = location

    @cached_property
    def script(self) -> ScriptDirectory:
        return ScriptDirectory.from_config(self._config())

    @cached_property
    def head(self) -> str:
        head = self.script.get_current_head()
        assert head is not None, f"no revisions in {self.location}"
        return head

    @cached_property
    def known(self) -> frozenset[str]:
        return frozenset(script.revision for script in self.script.walk_revisions())

    def status(self, conn: Connection) -> SchemaStatus:
        revision = MigrationContext.configure(conn).get_current_revision()
        return SchemaStatus(database=revision, code=self.head, known=revision in self.known)

    def upgrade(self, conn: Connection) -> Migration:
        """Bring the database on `conn` to the newest revision. The caller holds the lock
        and the transaction: nothing here commits."""
        status = self.status(conn)
        if status.ahead:
            raise SchemaError(
                f"The database's schema is at revision {status.database}, which this version "
                f"of the bot (schema revision {self.head}) does not know: a newer version of "
                "the bot has upgraded it. Upgrade the bot to that version or later. A database "
                "is never downgraded; this one was left as it is."
            )
        found: Literal["empty", "unversioned", "versioned"] = "versioned"
        if status.database is None:
            found = "unversioned" if self._has_first_tables(conn) else "empty"
        if found == "unversioned":
            self._run(conn, command.stamp, FIRST)
        if self.status(conn).database != self.head:
            self._run(conn, command.upgrade, "head")
        after = self.status(conn).database
        assert after == self.head, (after, self.head)
        return Migration(found=found, before=status.database, after=after)

    def _has_first_tables(self, conn: Connection) -> bool:
        """Whether the database holds the tables 0.1.0 made (False: none of them); a
        SchemaError when it holds some of them, or not as 0.1.0 made them."""
        inspector = sa.inspect(conn)
        present = set(inspector.get_table_names())
        if not present:
            return False
        expected = self._first_tables
        if not present & set(expected):
            return False
        problems = [f"no table {name}" for name in sorted(set(expected) - present)]
        for name in sorted(set(expected) & present):
            columns = {column["name"] for column in inspector.get_columns(name)}
            missing = sorted(expected[name] - columns)
            extra = sorted(columns - expected[name])
            if missing:
                problems.append(f"{name} lacks {', '.join(missing)}")
            if extra:
                problems.append(f"{name} has unknown {', '.join(extra)}")
        if problems:
            raise SchemaError(
                "The database has some of the bot's tables but no schema revision, and they "
                f"are not as version {UNVERSIONED} made them ({'; '.join(problems)}). It was "
                "left as it is: point database_url at the bot's own database, or at an empty "
                "one."
            )
        return True

    @cached_property
    def _first_tables(self) -> dict[str, frozenset[str]]:
        """The tables the first revision creates, with their columns: made once in a scratch
        in-memory database, so that the migration itself is the one description of 0.1.0."""
        engine = sa.create_engine("sqlite://")
        try:
            with engine.begin() as conn:
                self._run(conn, command.upgrade, FIRST)
                inspector = sa.inspect(conn)
                return {
                    name: frozenset(column["name"] for column in inspector.get_columns(name))
                    for name in inspector.get_table_names()
                    if name != VERSION_TABLE
                }
        finally:
            engine.dispose()

    def _config(self, conn: Connection | None = None) -> AlembicConfig:
        config = AlembicConfig()
        config.set_main_option("script_location", str(self.location).replace("%", "%%"))
        if conn is not None:
            config.attributes["connection"] = conn
        return config

    def _run(
        self, conn: Connection, step: Callable[[AlembicConfig, str], None], revision: str
    ) -> None:
        with _ALEMBIC:
            step(self._config(conn), revision)
