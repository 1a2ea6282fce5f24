"""Alembic's environment: the migrations run on the connection `bot.store.migrate` hands over,
inside its transaction and under its lock, never on a connection of their own."""

from __future__ import annotations

from alembic import context

from bot.store.schema import metadata

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError(
        "The migrations run on a connection handed to them: use `whatsapp-bot migrate`."
    )
# One transaction for the whole upgrade, on SQLite too: it is the caller's, already begun.
context.configure(connection=connection, target_metadata=metadata, transactional_ddl=True)
with context.begin_transaction():
    context.run_migrations()
