"""`whatsapp-bot export`: the file or stdout, and bad input as one line, a non-zero exit and no
file left behind."""

from __future__ import annotations

import csv
import io
import json
import os
import secrets
import signal
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
import yaml

import bot.usecases.export as export_module
from bot.__main__ import main
from bot.store import SendState, Store
from tests.conftest import SECRETS, config_dict

ROOT = Path(__file__).resolve().parents[1]
T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
CAPTION = 'Entrega, "hoy"\nsegunda línea ✓'


def write_config(tmp_path: Path, database_url: str) -> Path:
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(config_dict(database_url=database_url)))
    return path


def fill(database_url: str, sends: int = 2, caption: str = CAPTION) -> list[str]:
    """`sends` image sends a minute apart from T0 (each with SENT and READ), a customer's
    message after the first, and a draft; the ids in time order."""
    store = Store.from_url(database_url)
    store.migrate()
    ids = []
    try:
        for number in range(sends):
            send_id = secrets.token_hex(16)
            store.add_send(
                id=send_id,
                created_at=T0 + timedelta(minutes=number),
                source="slash",
                sender_alias="support",
                sender_number="15550001111",
                recipient="+573001234567",
                kind="image",
                body="https://files.example/a.png",
                caption=caption,
                external_id=secrets.token_hex(16),
                callback_token=secrets.token_urlsafe(24),
                state=SendState.SENT,
                transaction_id=f"tx-{number}",
            )
            store.add_status(send_id, "SENT", rank=30, at=T0 + timedelta(minutes=number, seconds=1))
            store.add_status(send_id, "READ", rank=50, at=T0 + timedelta(minutes=number, seconds=9))
            ids.append(send_id)
            if number == 0:
                ids.append(
                    store.take_inbound(
                        sender_alias="support",
                        customer="+573001234567",
                        answerable=True,
                        message={
                            "dedup_key": "m1",
                            "shape": "json",
                            "kind": "text",
                            "text": "¡Gracias!",
                            "customer_name": "Ana",
                            "attachments": "[]",
                            "raw": "{}",
                        },
                        optout=None,
                        at=T0 + timedelta(seconds=30),
                    ).message_id
                )
        store.add_send(
            id=secrets.token_hex(16),
            source="slash",
            sender_alias="support",
            sender_number="15550001111",
            recipient="+573001234567",
            kind="text",
            body="a draft nobody sent",
            external_id=secrets.token_hex(16),
            callback_token=secrets.token_urlsafe(24),
        )
    finally:
        store.close()
    return ids


@pytest.fixture
def filled(tmp_path: Path) -> tuple[Path, list[str]]:
    url = f"sqlite:///{tmp_path / 'bot.sqlite3'}"
    return write_config(tmp_path, url), fill(url)


def export(config: Path, *args: str) -> tuple[int, str, str]:
    out, err = io.StringIO(newline=""), io.StringIO()
    old_err, sys.stderr = sys.stderr, err
    try:
        code = main(["export", "--config", str(config), *args], env=SECRETS, out=out)
    finally:
        sys.stderr = old_err
    return code, out.getvalue(), err.getvalue()


def files_in(folder: Path) -> list[str]:
    return sorted(path.name for path in folder.iterdir())


def test_csv_to_stdout_by_default(filled: tuple[Path, list[str]]) -> None:
    config, ids = filled
    code, out, err = export(config)
    assert (code, err) == (0, "")
    rows = list(csv.DictReader(io.StringIO(out, newline="")))
    assert [row["id"] for row in rows] == ids
    assert [row["direction"] for row in rows] == ["sent", "received", "sent"]
    assert rows[0]["caption"] == CAPTION
    assert rows[0]["statuses"] == (
        "SENT@2026-03-01T12:00:01.000000Z READ@2026-03-01T12:00:09.000000Z"
    )
    assert (rows[1]["text"], rows[1]["sender_number"]) == ("¡Gracias!", "15550001111")


def test_jsonl_to_a_file(filled: tuple[Path, list[str]], tmp_path: Path) -> None:
    config, ids = filled
    target = tmp_path / "audit.jsonl"
    code, out, err = export(config, "--format", "jsonl", "--output", str(target))
    assert (code, err) == (0, "")
    assert out == f"Wrote 2 sends and 1 customer message to {target}.\n"
    records = [json.loads(line) for line in target.read_text(encoding="utf-8").splitlines()]
    assert [record["id"] for record in records] == ids
    assert records[2]["statuses"] == [
        {"status": "SENT", "at": "2026-03-01T12:01:01.000000Z", "detail": None},
        {"status": "READ", "at": "2026-03-01T12:01:09.000000Z", "detail": None},
    ]
    assert ".partial" not in " ".join(files_in(tmp_path))


def test_the_range(filled: tuple[Path, list[str]]) -> None:
    config, ids = filled

    def exported(*args: str) -> list[str]:
        code, out, err = export(config, *args)
        assert (code, err) == (0, "")
        return [row["id"] for row in csv.DictReader(io.StringIO(out, newline=""))]

    assert exported("--since", "2026-03-01", "--until", "2026-03-02") == ids
    assert exported("--since", "2026-03-02") == []
    assert exported("--until", "2026-03-01T12:00:30Z") == ids[:1]
    assert exported("--since", "2026-03-01T12:00:30", "--until", "2026-03-01T12:01") == ids[1:2]
    assert exported("--since", "2026-03-01T07:01:00-05:00") == ids[2:]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--since", "2026-02-30"], "Error: --since '2026-02-30' is neither a date (YYYY-MM-DD)"),
        (["--until", "last week"], "Error: --until 'last week' is neither a date (YYYY-MM-DD)"),
        (
            ["--since", "2026-04-01", "--until", "2026-01-01"],
            "Error: --since (2026-04-01T00:00:00.000000Z) must be before --until "
            "(2026-01-01T00:00:00.000000Z): --since is included, --until is not.",
        ),
    ],
)
def test_bad_dates_are_one_line_and_exit_2_with_no_file(
    filled: tuple[Path, list[str]], tmp_path: Path, args: list[str], message: str
) -> None:
    config, _ = filled
    before = files_in(tmp_path)
    code, out, err = export(config, *args, "--output", str(tmp_path / "out.csv"))
    assert (code, out) == (2, "")
    assert err.startswith(message) and err.count("\n") == 1 and "Traceback" not in err
    assert files_in(tmp_path) == before


def test_an_output_folder_that_does_not_exist(
    filled: tuple[Path, list[str]], tmp_path: Path
) -> None:
    config, _ = filled
    target = tmp_path / "reports" / "q1.csv"
    code, out, err = export(config, "--output", str(target))
    assert (code, out) == (1, "")
    assert err == (
        f"Error: Cannot write {target}: {target.parent} does not exist. Give another --output.\n"
    )
    assert not target.parent.exists()


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes in any folder")
def test_a_folder_without_permission(filled: tuple[Path, list[str]], tmp_path: Path) -> None:
    config, _ = filled
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o500)
    code, out, err = export(config, "--output", str(locked / "q1.csv"))
    assert (code, out) == (1, "")
    assert err.startswith(f"Error: Cannot write {locked / 'q1.csv'}: permission denied.")
    assert err.count("\n") == 1 and files_in(locked) == []


def test_a_failure_midway_leaves_the_previous_file_and_no_partial_one(
    filled: tuple[Path, list[str]], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config, _ = filled
    target = tmp_path / "q1.csv"
    target.write_text("the last complete export\n")
    real = export_module.export_rows

    def failing(*args: Any, **kwargs: Any) -> Iterator[Any]:
        rows = real(*args, **kwargs)
        yield next(rows)
        rows.close()
        raise RuntimeError("the database went away")

    monkeypatch.setattr(export_module, "export_rows", failing)
    before = files_in(tmp_path)
    code, out, err = export(config, "--output", str(target))
    assert (code, out) == (1, "")
    assert err.startswith("Error: export failed unexpectedly (RuntimeError: the database went")
    assert files_in(tmp_path) == before
    assert target.read_text() == "the last complete export\n"


def test_sigterm_midway_removes_the_partial_file(
    filled: tuple[Path, list[str]], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config, _ = filled
    real = export_module.export_rows

    def stopped(*args: Any, **kwargs: Any) -> Iterator[Any]:
        rows = real(*args, **kwargs)
        yield next(rows)
        os.kill(os.getpid(), signal.SIGTERM)
        yield from rows

    monkeypatch.setattr(export_module, "export_rows", stopped)
    with pytest.raises(SystemExit) as stopped_with:
        export(config, "--output", str(tmp_path / "q1.csv"))
    assert stopped_with.value.code == 143
    assert [name for name in files_in(tmp_path) if "q1" in name] == []
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL


def test_a_database_that_is_missing_or_not_migrated(tmp_path: Path) -> None:
    missing = tmp_path / "nope.sqlite3"
    code, out, err = export(write_config(tmp_path, f"sqlite:///{missing}"))
    assert (code, out) == (1, "")
    assert err == f"Error: There is no database at {missing}: check database_url.\n"
    assert not missing.exists()  # not created by looking

    empty = tmp_path / "empty.sqlite3"
    empty.touch()
    code, out, err = export(write_config(tmp_path, f"sqlite:///{empty}"))
    assert (code, out) == (1, "")
    assert err.startswith("Error: The database's schema is behind: database at none")
    assert "run whatsapp-bot migrate" in err and err.count("\n") == 1


@pytest.mark.timeout(30)
def test_a_database_that_cannot_be_reached(tmp_path: Path) -> None:
    url = "postgresql+psycopg://bot:hunter2@127.0.0.1:9/bot?connect_timeout=2"
    code, out, err = export(write_config(tmp_path, url), "--output", str(tmp_path / "x.csv"))
    assert (code, out) == (1, "")
    assert err.startswith("Error: Could not reach the database at postgresql+psycopg://bot:***@")
    assert "hunter2" not in err and err.count("\n") == 1
    assert files_in(tmp_path) == ["config.yaml"]


def test_both_databases(database_url: str, tmp_path: Path) -> None:
    ids = fill(database_url, sends=3)
    config = write_config(tmp_path, database_url)
    code, out, err = export(config, "--format", "jsonl", "--since", "2026-03-01T12:00:30Z")
    assert (code, err) == (0, "")
    assert [json.loads(line)["id"] for line in out.splitlines()] == ids[1:]


def run_command(config: Path, *args: str, **options: Any) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "bot", "export", "--config", str(config), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        cwd=ROOT,
        env={**os.environ, **SECRETS, "LANG": "C", "LC_ALL": "C", "PYTHONIOENCODING": ""},
        **options,
    )


def test_in_a_subprocess_stdout_is_utf_8_with_crlf(filled: tuple[Path, list[str]]) -> None:
    config, ids = filled
    process = run_command(config)
    out, err = process.communicate(timeout=60)
    assert (process.returncode, err) == (0, b"")
    text = out.decode("utf-8")  # even under the C locale
    # Records end in CRLF; a line break inside a (quoted) field is kept as it was.
    assert text.count("\r\n") == len(ids) + 1
    assert text.count('"Entrega, ""hoy""\nsegunda línea ✓"') == 2
    assert [row["id"] for row in csv.DictReader(io.StringIO(text, newline=""))] == ids

    bad = run_command(config, "--since", "soon")
    _, err = bad.communicate(timeout=60)
    assert bad.returncode == 2
    assert err.decode().count("\n") == 1 and b"Traceback" not in err


def test_a_reader_that_stops_early_ends_it_quietly(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'bot.sqlite3'}"
    fill(url, sends=300, caption="x" * 1000)  # more than a pipe holds
    process = run_command(write_config(tmp_path, url))
    assert process.stdout is not None and process.stderr is not None
    assert process.stdout.readline().startswith(b"time,direction,id,")
    process.stdout.close()
    assert process.wait(timeout=60) == 0
    assert process.stderr.read() == b""


def test_the_database_failing_midway(
    filled: tuple[Path, list[str]], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config, _ = filled
    real = export_module.export_rows

    def failing(*args: Any, **kwargs: Any) -> Iterator[Any]:
        rows = real(*args, **kwargs)
        yield next(rows)
        rows.close()
        raise sa.exc.OperationalError("SELECT", {}, Exception("server closed the connection"))

    monkeypatch.setattr(export_module, "export_rows", failing)
    target = tmp_path / "q1.csv"
    code, out, err = export(config, "--output", str(target))
    assert (code, out) == (1, "")
    assert err == (
        f"Error: Reading the database failed (server closed the connection): {target} was not "
        "written.\n"
    )
    assert not target.exists() and ".partial" not in " ".join(files_in(tmp_path))
