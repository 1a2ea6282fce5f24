"""Shared fixtures: a valid config, and a store on SQLite and (when configured) PostgreSQL."""

from __future__ import annotations

import copy
import os
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from bot.core.config import Config, parse_config
from bot.store import Store, metadata

SECRETS = {
    "SLACK_BOT_TOKEN": "xoxb-test-token",
    "SLACK_SIGNING_SECRET": "test-signing-secret-0123456789",
    "WHATSAPP_API_KEY": "test-provider-key",
    "WHATSAPP_BOT_SECRET": "test-link-secret-0123456789abcdef",
}

BASE_CONFIG: dict[str, Any] = {
    "slack": {
        "bot_token": "${SLACK_BOT_TOKEN}",
        "signing_secret": "${SLACK_SIGNING_SECRET}",
        "api_base_url": "http://127.0.0.1:9/api/",
    },
    "whatsapp": {
        "api_url": "http://127.0.0.1:9/notification",
        "api_key": "${WHATSAPP_API_KEY}",
        "timeout_seconds": 2,
    },
    "public_base_url": "https://bot.example.com",
    "database_url": "sqlite:///:memory:",
    "senders": {
        "support": {"number": "15550001111", "label": "Support"},
        "sales": {"number": "15550002222", "label": "Sales"},
    },
    "default_sender": "support",
    "contacts": {"acme-ops": "+573001234567"},
    "channels": {
        "C0123SUPPORT": {
            "sender": "support",
            "allowed_senders": ["support", "sales"],
            "file_shares": True,
            "default_recipient": "+573001234567",
        },
        "C0SALES": {"sender": "sales"},
    },
    "access": {"allowed_users": []},
    "media": {"link_secret": "${WHATSAPP_BOT_SECRET}", "link_ttl_hours": 24},
}


def config_dict(**overrides: Any) -> dict[str, Any]:
    """The base config with top-level keys replaced; the four settings sections are merged."""
    data = copy.deepcopy(BASE_CONFIG)
    for key, value in overrides.items():
        if key in ("slack", "whatsapp", "media", "access") and isinstance(value, dict):
            data[key] = {**data[key], **value}
        else:
            data[key] = value
    return data


def make_config(**overrides: Any) -> Config:
    return parse_config(config_dict(**overrides), SECRETS)


@pytest.fixture
def config() -> Config:
    return make_config()


def _postgres_url() -> str | None:
    return os.environ.get("TEST_DATABASE_URL") or None


def reset_postgres(url: str) -> None:
    """Drop the app's tables and the schema's revision so each PostgreSQL test starts empty."""
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        metadata.drop_all(conn)
        conn.execute(sa.text("DROP TABLE IF EXISTS alembic_version"))
    engine.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / f'test-{uuid.uuid4().hex[:8]}.sqlite3'}"
    url = _postgres_url()
    if url is None:
        pytest.skip("PostgreSQL tests need TEST_DATABASE_URL (`.ci/run` sets it)")
    reset_postgres(url)
    return url


@pytest.fixture(params=["sqlite", "postgresql"])
def new_database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Callable[[], str]]:
    """Makes databases of the test's own, empty: new files on SQLite; on PostgreSQL new
    databases on TEST_DATABASE_URL's server, dropped afterwards."""
    if request.param == "sqlite":
        yield lambda: f"sqlite:///{tmp_path / f'db-{uuid.uuid4().hex[:8]}.sqlite3'}"
        return
    url = _postgres_url()
    if url is None:
        pytest.skip("PostgreSQL tests need TEST_DATABASE_URL (`.ci/run` sets it)")
    server = sa.create_engine(url, isolation_level="AUTOCOMMIT")
    made: list[str] = []

    def make() -> str:
        name = f"test_{uuid.uuid4().hex[:12]}"
        with server.connect() as conn:
            conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
        made.append(name)
        return sa.engine.make_url(url).set(database=name).render_as_string(hide_password=False)

    try:
        yield make
    finally:
        with server.connect() as conn:
            for name in made:
                conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        server.dispose()


@pytest.fixture
def empty_database_url(new_database: Callable[[], str]) -> str:
    """An empty database of the test's own, on SQLite and on PostgreSQL."""
    return new_database()


@pytest.fixture
def store(database_url: str) -> Iterator[Store]:
    store = Store.from_url(database_url)
    store.migrate()
    yield store
    store.close()
