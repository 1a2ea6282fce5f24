"""Records and Block Kit builders import nothing of the database, the network or Slack's SDK."""

from __future__ import annotations

import subprocess
import sys


def test_records_import_neither_sqlalchemy_nor_a_driver_nor_the_rest_of_the_bot() -> None:
    script = (
        "import sys, bot.core.records\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in "
        "('bot', 'sqlalchemy', 'psycopg')))"
    )
    loaded = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True
    ).stdout.strip()
    assert loaded == "['bot', 'bot.core', 'bot.core.records']"


def test_block_kit_builders_load_no_database_network_or_slack_library() -> None:
    script = (
        "import sys, bot.blocks\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in "
        "('sqlalchemy', 'psycopg', 'requests', 'urllib3', 'slack_sdk', 'slack_bolt')))"
    )
    loaded = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True
    ).stdout.strip()
    assert loaded == "[]"
