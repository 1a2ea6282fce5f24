"""`whatsapp-bot export`: every send and customer message of a time range, for an audit, as
CSV or JSON Lines, written as the rows are read (`bot.store.export_rows`), in constant memory.

One record per send (`direction` `sent`) or customer message (`received`), oldest first, the
two merged in time order. Times are UTC, ISO 8601 with microseconds and `Z`. CSV: UTF-8, a
header row, RFC 4180 quoting (CRLF line ends; a field with a comma, quote or line break is
quoted), statuses as `STATUS@time` joined by spaces. JSON Lines: one object a line, with the
same keys (`statuses` last) and `attachments`: statuses as a list of `{status, at, detail}`, a
customer message's attachments as a list of `{url, file_name, caption}` (in CSV: their URLs,
file names and captions, one a line in the `url`, `file_name` and `caption` cells).

Written to a file, the export goes to a hidden temporary file beside it, renamed onto the
path once complete; a failed or interrupted export removes it (`replacing`).
"""

from __future__ import annotations

import csv
import io
import json
import os
import tempfile
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any, Literal, TextIO

from bot.store.export_rows import (
    Exported,
    ExportedMessage,
    ExportedSend,
    Timeline,
    export_rows,
)
from bot.store.store import Store

Format = Literal["csv", "jsonl"]

FIELDS = (
    "time",
    "direction",
    "id",
    "sender",
    "sender_number",
    "customer",
    "customer_name",
    "user",
    "channel",
    "type",
    "text",
    "caption",
    "url",
    "file_name",
    "transaction_id",
    "state",
    "latest_status",
    "statuses",
    "error",
    "batch",
)
SENT, RECEIVED = "sent", "received"


class ExportError(Exception):
    """Bad input, or an output that cannot be written: one line for the terminal."""


# ---------------------------------------------------------------------------- the range


@dataclass(frozen=True)
class Period:
    """From `since` (inclusive) to `until` (exclusive); None is open."""

    since: datetime | None = None
    until: datetime | None = None

    @classmethod
    def parse(cls, since: str | None, until: str | None) -> Period:
        period = cls(parse_moment(since, "--since"), parse_moment(until, "--until"))
        if period.since and period.until and period.since >= period.until:
            raise ExportError(
                f"--since ({utc_text(period.since)}) must be before --until "
                f"({utc_text(period.until)}): --since is included, --until is not."
            )
        return period


def parse_moment(text: str | None, option: str) -> datetime | None:
    """`YYYY-MM-DD` (midnight UTC) or an ISO 8601 timestamp (UTC unless it has an offset)."""
    if text is None:
        return None
    value = text.strip()
    try:
        if len(value) == 10:
            day = date.fromisoformat(value)
            return datetime(day.year, day.month, day.day, tzinfo=UTC)
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise ExportError(
            f"{option} {text!r} is neither a date (YYYY-MM-DD) nor an ISO 8601 timestamp "
            "(e.g. 2026-01-31T14:30:00Z; UTC unless it has an offset)."
        ) from None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def utc_text(moment: datetime) -> str:
    """`2026-01-31T14:30:00.000000Z`: UTC, always with microseconds, so that texts sort."""
    if moment.tzinfo is not None and moment.utcoffset():
        moment = moment.astimezone(UTC)
    return moment.replace(tzinfo=None).isoformat(timespec="microseconds") + "Z"


# ---------------------------------------------------------------------------- the records


@dataclass
class Counts:
    sends: int = 0
    messages: int = 0

    def describe(self) -> str:
        def plural(count: int, one: str, many: str) -> str:
            return f"{count:,} {one if count == 1 else many}"

        return (
            f"{plural(self.sends, 'send', 'sends')} and "
            f"{plural(self.messages, 'customer message', 'customer messages')}"
        )


class Rows:
    """Each record as the values of FIELDS, in order (a send's `statuses` as the store gave
    them) and, for a customer message, its attachments beside (a list, or None), for the
    writer to shape. Counts what it gave."""

    def __init__(self, sender_numbers: Mapping[str, str]) -> None:
        self._sender_numbers = sender_numbers
        self.counts = Counts()

    def send(self, send: ExportedSend) -> list[Any]:
        self.counts.sends += 1
        text = send.kind == "text"
        return [
            send.at,
            SENT,
            send.id,
            send.sender_alias,
            send.sender_number,
            send.recipient,
            send.customer_name,
            send.user_id,
            send.channel_id,
            send.kind,
            send.body if text else None,
            send.caption,
            None if text else send.body,
            send.file_name,
            send.transaction_id,
            send.state,
            send.provider_status,
            send.statuses,
            send.error,
            send.batch_id,
        ]

    def message(self, message: ExportedMessage) -> tuple[list[Any], list[Attachment] | None]:
        self.counts.messages += 1
        values = [
            message.at,
            RECEIVED,
            message.id,
            message.sender_alias,
            self._sender_numbers.get(message.sender_alias),
            message.customer,
            message.customer_name,
            None,
            message.channel_id,
            message.kind,
            message.text,
            None,
            None,
            None,
            None,
            None,
            None,
            None,
            None,
            None,
        ]
        return values, _attachments(message.attachments)


Attachment = dict[str, str | None]
_URL, _CAPTION, _FILE_NAME, _STATUSES = (
    FIELDS.index("url"),
    FIELDS.index("caption"),
    FIELDS.index("file_name"),
    FIELDS.index("statuses"),
)


def _attachments(stored: str) -> list[Attachment] | None:
    """A customer message's attachments as stored (JSON), None when it has none."""
    if stored in ("", "[]"):
        return None
    try:
        items = json.loads(stored)
    except ValueError:
        return None
    return [
        {key: item.get(key) for key in ("url", "file_name", "caption")}
        for item in items
        if isinstance(item, dict)
    ] or None


# ---------------------------------------------------------------------------- the writers


def write_csv(records: Iterable[Exported], stream: TextIO, rows: Rows) -> None:
    """The statuses as the store wrote them (`STATUS@time STATUS@time`); a customer
    message's attachments' URLs, file names and captions one a line in their cells."""
    writer = csv.writer(stream, lineterminator="\r\n")
    writerow = writer.writerow
    writerow(FIELDS)
    send, message = rows.send, rows.message
    for record in records:
        if type(record) is ExportedSend:
            writerow(send(record))
            continue
        values, attachments = message(record)  # type: ignore[arg-type]
        if attachments:
            for index, key in ((_URL, "url"), (_FILE_NAME, "file_name"), (_CAPTION, "caption")):
                cells = [item[key] or "" for item in attachments]
                values[index] = "\n".join(cells) if any(cells) else None
        writerow(values)


def write_jsonl(records: Iterable[Exported], stream: TextIO, rows: Rows) -> None:
    """Each object's last two keys are `statuses` (the JSON the store made) and
    `attachments`, spliced in as JSON text: decoding the statuses to encode them again would
    cost more than the rest of the line."""
    encode = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode
    write = stream.write
    send, message = rows.send, rows.message
    for record in records:
        if type(record) is ExportedSend:
            values = send(record)
            attachments = "[]"
        else:
            values, found = message(record)  # type: ignore[arg-type]
            attachments = encode(found) if found else "[]"
        timeline = values.pop(_STATUSES) or "[]"
        head = encode(dict(zip(_JSON_HEAD, values, strict=True)))
        write(f'{head[:-1]},"statuses":{timeline},"attachments":{attachments}}}\n')


_JSON_HEAD = tuple(field for field in FIELDS if field != "statuses")
WRITERS: dict[Format, tuple[Timeline, Callable[[Iterable[Exported], TextIO, Rows], None]]] = {
    "csv": ("text", write_csv),
    "jsonl": ("json", write_jsonl),
}


def export(
    store: Store,
    stream: TextIO,
    *,
    period: Period = Period(),
    format: Format = "csv",
    sender_numbers: Mapping[str, str] | None = None,
) -> Counts:
    """Write every confirmed send and customer message of `period` to `stream`; how many.
    `sender_numbers` (alias → number, from the config) fills in the number of the sender a
    customer wrote to, which customer messages do not store."""
    statuses, write = WRITERS[format]
    rows = Rows(sender_numbers or {})
    records = export_rows(store, since=period.since, until=period.until, statuses=statuses)
    try:
        write(records, stream, rows)
    finally:
        records.close()
    return rows.counts


# ---------------------------------------------------------------------------- the file


def check_output(path: Path) -> None:
    """Refuse, before anything is read, an output that cannot be written."""
    if path.is_dir():
        raise ExportError(f"--output {path} is a folder: give a file name, e.g. {path / 'x.csv'}.")
    folder = path.parent
    if not folder.is_dir():
        missing = "is not a folder" if folder.exists() else "does not exist"
        raise ExportError(f"Cannot write {path}: {folder} {missing}. Give another --output.")
    if path.exists() and not os.access(path, os.W_OK):
        raise ExportError(f"Cannot write {path}: it is read-only. Give another --output.")


@contextmanager
def replacing(path: Path) -> Iterator[TextIO]:
    """A UTF-8 text file written beside `path` (hidden, named `.NAME.*.partial`, readable by
    its owner only) and renamed onto `path` once the block finishes; removed instead if the
    block fails or is interrupted, so that `path` is only ever a complete export."""
    check_output(path)
    try:
        descriptor, temporary = tempfile.mkstemp(
            prefix=f".{path.name}.", suffix=".partial", dir=path.parent
        )
    except OSError as exc:
        raise ExportError(
            f"Cannot write {path}: {_reason(exc)}. Give another --output, in a folder you can "
            "write to."
        ) from None
    try:
        with open(descriptor, "w", encoding="utf-8", newline="") as stream:
            yield stream
            stream.flush()
            os.fsync(stream.fileno())
        os.replace(temporary, path)
    except OSError as exc:
        _remove(temporary)
        raise ExportError(f"Writing {path} failed ({_reason(exc)}): nothing was written.") from exc
    except BaseException:
        _remove(temporary)
        raise


@contextmanager
def destination(output: str | None, stdout: TextIO) -> Iterator[TextIO]:
    """The file at `output` (see `replacing`), or `stdout` in UTF-8 whatever the locale,
    where a reader that stops early (`| head`) ends the export quietly."""
    if output is not None:
        with replacing(Path(output)) as stream:
            yield stream
        return
    binary = getattr(stdout, "buffer", None)
    if binary is None:  # already text only (a StringIO)
        yield stdout
        return
    stream = io.TextIOWrapper(binary, encoding="utf-8", newline="")
    try:
        yield stream
        stream.flush()
    except BrokenPipeError:
        # Nothing more can reach the reader; and nothing must fail as Python exits.
        os.dup2(os.open(os.devnull, os.O_WRONLY), stdout.fileno())
    finally:
        stream.detach()


def _remove(path: str) -> None:
    with suppress(FileNotFoundError):
        os.unlink(path)


def _reason(exc: OSError) -> str:
    return (exc.strerror or str(exc)).lower()
