"""`bot.usecases.export`: the CSV and JSON Lines of an export, its range, and its file."""

from __future__ import annotations

import csv
import io
import json
import os
import secrets
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from bot.store import SendState, Store
from bot.usecases import export as export_module
from bot.usecases.export import FIELDS, ExportError, Period, export, parse_moment, replacing

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
AWKWARD = 'Factura, "urgente"\nsegunda línea, 日本語 ✓ =1+1\r\nfin'


def add_send(store: Store, minutes: float, **values: Any) -> str:
    send_id = secrets.token_hex(16)
    row: dict[str, Any] = {
        "id": send_id,
        "created_at": T0 + timedelta(minutes=minutes),
        "source": "slash",
        "user_id": "U0ANA",
        "channel_id": "C0123SUPPORT",
        "sender_alias": "support",
        "sender_number": "15550001111",
        "recipient": "+573001234567",
        "kind": "image",
        "body": "https://files.example/a.png",
        "external_id": secrets.token_hex(16),
        "callback_token": secrets.token_urlsafe(24),
        "state": SendState.SENT,
        **values,
    }
    store.add_send(**row)
    return send_id


def customer_wrote(store: Store, minutes: float, text: str, attachments: Any = ()) -> str:
    return store.take_inbound(
        sender_alias="support",
        customer="+573001234567",
        answerable=True,
        message={
            "dedup_key": secrets.token_hex(8),
            "shape": "json",
            "kind": "document" if attachments else "text",
            "text": text,
            "customer_name": "Ana María",
            "attachments": json.dumps(list(attachments)),
            "raw": "{}",
            "channel_id": "C0INBOX",
        },
        optout=None,
        at=T0 + timedelta(minutes=minutes),
    ).message_id


@pytest.fixture
def filled(store: Store) -> dict[str, str]:
    """An image send with three statuses, a customer's answer with a PDF, a failed text."""
    image = add_send(
        store, 1, caption=AWKWARD, transaction_id="tx-1", provider_status="READ", batch_id=None
    )
    store.add_status(image, "SENT", rank=30, at=T0 + timedelta(minutes=1, seconds=2))
    store.add_status(
        image, "DELIVERED", rank=40, at=T0 + timedelta(minutes=1, seconds=3), detail="phone"
    )
    store.add_status(image, "READ", rank=50, at=T0 + timedelta(minutes=2, microseconds=7))
    answer = customer_wrote(
        store,
        3,
        AWKWARD,
        [
            {"url": "https://p.example/1.pdf", "file_name": "a, b.pdf", "caption": None},
            {"url": "https://p.example/2.jpg", "file_name": None, "caption": "foto"},
        ],
    )
    text = add_send(
        store,
        4,
        kind="text",
        body="Hola Ana",
        state=SendState.FAILED,
        error="The provider refused it: outside the 24-hour window.",
        sender_alias="sales",
        sender_number="15550002222",
        user_id=None,
        channel_id=None,
        source="cli",
    )
    add_send(store, 5, state=SendState.DRAFT)
    return {"image": image, "answer": answer, "text": text}


def run(store: Store, format: Any = "csv", **period: Any) -> tuple[str, export_module.Counts]:
    stream = io.StringIO(newline="")
    counts = export(
        store,
        stream,
        period=Period(**period),
        format=format,
        sender_numbers={"support": "15550001111", "sales": "15550002222"},
    )
    return stream.getvalue(), counts


def test_csv_survives_a_round_trip_through_python_s_csv(
    store: Store, filled: dict[str, str]
) -> None:
    text, counts = run(store)
    assert (counts.sends, counts.messages) == (2, 1)
    assert text.startswith(",".join(FIELDS) + "\r\n")

    rows = list(csv.DictReader(io.StringIO(text, newline="")))

    assert [row["id"] for row in rows] == [filled["image"], filled["answer"], filled["text"]]
    image, answer, failed = rows
    assert image == {
        "time": "2026-03-01T12:01:00.000000Z",
        "direction": "sent",
        "id": filled["image"],
        "sender": "support",
        "sender_number": "15550001111",
        "customer": "+573001234567",
        "customer_name": "Ana María",
        "user": "U0ANA",
        "channel": "C0123SUPPORT",
        "type": "image",
        "text": "",
        "caption": AWKWARD,
        "url": "https://files.example/a.png",
        "file_name": "",
        "transaction_id": "tx-1",
        "state": "sent",
        "latest_status": "READ",
        "statuses": "SENT@2026-03-01T12:01:02.000000Z DELIVERED@2026-03-01T12:01:03.000000Z "
        "READ@2026-03-01T12:02:00.000007Z",
        "error": "",
        "batch": "",
    }
    assert answer["direction"] == "received"
    assert answer["text"] == AWKWARD
    assert (answer["sender"], answer["sender_number"]) == ("support", "15550001111")
    assert (answer["customer"], answer["customer_name"]) == ("+573001234567", "Ana María")
    assert answer["url"] == "https://p.example/1.pdf\nhttps://p.example/2.jpg"
    assert answer["file_name"] == "a, b.pdf\n"
    assert answer["caption"] == "\nfoto"
    assert (answer["statuses"], answer["user"], answer["channel"]) == ("", "", "C0INBOX")
    assert (failed["type"], failed["text"], failed["url"]) == ("text", "Hola Ana", "")
    assert (failed["state"], failed["statuses"], failed["latest_status"]) == ("failed", "", "")
    assert failed["error"] == "The provider refused it: outside the 24-hour window."
    assert (failed["sender"], failed["sender_number"], failed["user"]) == (
        "sales",
        "15550002222",
        "",
    )


def test_csv_is_rfc_4180(store: Store, filled: dict[str, str]) -> None:
    text, _ = run(store)
    raw = text.encode("utf-8")
    assert raw.count(b"\r\n") >= 4  # every record ends in CRLF
    # A field with a comma, a quote or a line break is quoted, its quotes doubled.
    assert '"Factura, ""urgente""\nsegunda línea, 日本語 ✓ =1+1\r\nfin"' in text
    assert f"{filled['text']},sales,15550002222," in text  # plain fields are not quoted


def test_jsonl_is_one_object_a_line(store: Store, filled: dict[str, str]) -> None:
    text, _ = run(store, "jsonl")
    lines = text.split("\n")
    assert lines[-1] == "" and len(lines) == 4
    image, answer, failed = (json.loads(line) for line in lines[:3])
    assert list(image) == [*(f for f in FIELDS if f != "statuses"), "statuses", "attachments"]
    assert image["caption"] == AWKWARD and "日本語" in lines[0]  # UTF-8, not \\u escapes
    assert image["statuses"] == [
        {"status": "SENT", "at": "2026-03-01T12:01:02.000000Z", "detail": None},
        {"status": "DELIVERED", "at": "2026-03-01T12:01:03.000000Z", "detail": "phone"},
        {"status": "READ", "at": "2026-03-01T12:02:00.000007Z", "detail": None},
    ]
    assert (image["direction"], image["url"], image["attachments"]) == (
        "sent",
        "https://files.example/a.png",
        [],
    )
    assert answer["direction"] == "received" and answer["text"] == AWKWARD
    assert answer["attachments"] == [
        {"url": "https://p.example/1.pdf", "file_name": "a, b.pdf", "caption": None},
        {"url": "https://p.example/2.jpg", "file_name": None, "caption": "foto"},
    ]
    assert (answer["url"], answer["statuses"], answer["user"]) == (None, [], None)
    assert (failed["text"], failed["url"], failed["state"]) == ("Hola Ana", None, "failed")


def test_the_range_with_dates_and_timestamps(store: Store, filled: dict[str, str]) -> None:
    def ids(**period: Any) -> list[str]:
        text, _ = run(store, **period)
        return [row["id"] for row in csv.DictReader(io.StringIO(text, newline=""))]

    everything = [filled["image"], filled["answer"], filled["text"]]
    assert ids(since=parse_moment("2026-03-01", "--since")) == everything
    assert ids(until=parse_moment("2026-03-01", "--until")) == []
    assert ids(since=parse_moment("2026-03-02", "--since")) == []
    assert ids(since=parse_moment("2026-03-01T12:03:00Z", "--since")) == everything[1:]
    assert ids(until=parse_moment("2026-03-01T12:03:00", "--until")) == everything[:1]
    assert (
        ids(
            since=parse_moment("2026-03-01T07:02-05:00", "--since"),
            until=parse_moment("2026-03-01T12:04:00.000001+00:00", "--until"),
        )
        == everything[1:]
    )


def test_empty_export_is_the_header_alone(store: Store) -> None:
    assert run(store)[0] == ",".join(FIELDS) + "\r\n"
    assert run(store, "jsonl")[0] == ""


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-01-31", datetime(2026, 1, 31, tzinfo=UTC)),
        (" 2026-01-31 ", datetime(2026, 1, 31, tzinfo=UTC)),
        ("2026-01-31T14:30:00Z", datetime(2026, 1, 31, 14, 30, tzinfo=UTC)),
        ("2026-01-31T14:30", datetime(2026, 1, 31, 14, 30, tzinfo=UTC)),
        ("2026-01-31 14:30:00.25", datetime(2026, 1, 31, 14, 30, 0, 250000, tzinfo=UTC)),
        ("2026-01-31T09:30:00-05:00", datetime(2026, 1, 31, 14, 30, tzinfo=UTC)),
        ("20260131", datetime(2026, 1, 31, tzinfo=UTC)),
    ],
)
def test_dates_and_timestamps_are_utc_unless_they_say_otherwise(
    text: str, expected: datetime
) -> None:
    moment = parse_moment(text, "--since")
    assert moment == expected and moment is not None and moment.tzinfo is UTC


@pytest.mark.parametrize("text", ["2026-13-01", "yesterday", "31/01/2026", "", "2026-01-31T25:00"])
def test_a_date_that_does_not_parse_says_what_would(text: str) -> None:
    with pytest.raises(ExportError) as caught:
        parse_moment(text, "--until")
    message = str(caught.value)
    assert message.startswith(f"--until {text!r} is neither a date (YYYY-MM-DD)")
    assert "\n" not in message


def test_since_must_come_before_until() -> None:
    assert Period.parse("2026-01-01", "2026-04-01").until == datetime(2026, 4, 1, tzinfo=UTC)
    for since, until in [("2026-04-01", "2026-01-01"), ("2026-01-01", "2026-01-01T00:00Z")]:
        with pytest.raises(ExportError, match=r"^--since \(2026-0.-01T00:00:00.000000Z\) must"):
            Period.parse(since, until)
    offset = timezone(timedelta(hours=2))
    assert Period.parse("2026-01-01T01:00+02:00", None).since == datetime(
        2026, 1, 1, 1, tzinfo=offset
    )


# ---------------------------------------------------------------------------- the file


def test_the_file_appears_only_once_complete(tmp_path: Path) -> None:
    target = tmp_path / "out.csv"
    with replacing(target) as stream:
        stream.write("a,b\r\n")
        assert not target.exists()
        (partial,) = tmp_path.iterdir()
        assert partial.name.startswith(".out.csv.") and partial.name.endswith(".partial")
    assert target.read_bytes() == b"a,b\r\n"
    assert os.stat(target).st_mode & 0o777 == 0o600  # customers' data: its owner's alone
    assert list(tmp_path.iterdir()) == [target]


@pytest.mark.parametrize("error", [RuntimeError("database gone"), KeyboardInterrupt()])
def test_a_failed_or_interrupted_export_leaves_no_file(
    tmp_path: Path, error: BaseException
) -> None:
    target = tmp_path / "out.csv"
    target.write_text("the previous export\n")
    with pytest.raises(type(error)), replacing(target) as stream:
        stream.write("half")
        raise error
    assert list(tmp_path.iterdir()) == [target]
    assert target.read_text() == "the previous export\n"


def test_an_output_that_cannot_be_written_is_refused_before_reading(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cases = {
        tmp_path / "missing" / "out.csv": "missing does not exist. Give another --output.",
        tmp_path: "is a folder: give a file name",
    }
    (tmp_path / "a-file").write_text("")
    cases[tmp_path / "a-file" / "out.csv"] = "a-file is not a folder"
    for path, words in cases.items():
        with pytest.raises(ExportError, match=words), replacing(path):
            pytest.fail("nothing should be written")

    def refuse(**_kwargs: Any) -> Any:
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(export_module.tempfile, "mkstemp", refuse)
    with pytest.raises(ExportError) as caught, replacing(tmp_path / "out.csv"):
        pytest.fail("nothing should be written")
    assert str(caught.value) == (
        f"Cannot write {tmp_path / 'out.csv'}: permission denied. Give another --output, in a "
        "folder you can write to."
    )


def test_a_write_that_fails_midway_says_so_and_leaves_nothing(tmp_path: Path) -> None:
    target = tmp_path / "out.csv"
    with pytest.raises(ExportError) as caught, replacing(target):
        raise OSError(28, "No space left on device")
    assert str(caught.value) == (
        f"Writing {target} failed (no space left on device): nothing was written."
    )
    assert list(tmp_path.iterdir()) == []
