"""The schema's history as Alembic migrations, shipped in the package and run by
`bot.store.migrate` (`whatsapp-bot migrate`, and `serve` on start).

`env.py` runs them on the connection it is handed, inside that connection's transaction and
under its lock. `versions/` holds one file per revision; the first, `0001`, is the schema as
version 0.1.0 created it. A schema change is a new file whose `down_revision` is the newest
one, written by hand for SQLite and PostgreSQL alike, with a test that builds the previous
version's database, rows and all, and upgrades it (see `tests/test_migrations.py`).

Every upgrade runs in one transaction, on SQLite too (its DDL is transactional): a migration
that fails leaves the database as it was. A migration must therefore not need what SQLite
refuses inside a transaction (`PRAGMA foreign_keys`, `VACUUM`).
"""
