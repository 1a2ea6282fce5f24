"""The suite's figures: what was tried, and how much of it went wrong.

Tests add to named rows; `conftest.py` prints the table at the end of the run (and writes it as
JSON to `$RELIABILITY_FIGURES` when that is set), so `docs/reliability.md` can quote a real run.
"""

from __future__ import annotations

import json
import os
import threading
from dataclasses import asdict, dataclass

_LOCK = threading.Lock()


@dataclass
class Row:
    what: str
    tried_label: str
    bad_label: str
    made_label: str = ""
    tried: int = 0
    made: int = 0
    bad: int = 0


_ROWS: dict[str, Row] = {}


def add(
    key: str,
    what: str,
    tried: int,
    tried_label: str,
    bad: int,
    bad_label: str,
    *,
    made: int = 0,
    made_label: str = "",
) -> None:
    """Add `tried` attempts, what they `made` (provider requests, say) and how many went
    wrong (`bad`) to the row `key`."""
    with _LOCK:
        row = _ROWS.setdefault(key, Row(what, tried_label, bad_label, made_label))
        row.tried += tried
        row.made += made
        row.bad += bad


def rows() -> list[Row]:
    """Rows grouped by key prefix in the order first added; totals (`...:all`) last in a group."""
    with _LOCK:
        order = {key: i for i, key in enumerate(_ROWS)}
        first: dict[str, int] = {}
        for key in _ROWS:
            first.setdefault(key.split(":")[0], order[key])
        keys = sorted(_ROWS, key=lambda k: (first[k.split(":")[0]], k.endswith(":all"), order[k]))
        return [Row(**asdict(_ROWS[k])) for k in keys]


def table() -> str:
    lines = [
        "| what was tried | tried | which made | went wrong |",
        "| --- | --- | --- | --- |",
    ]
    for row in rows():
        made = f"{row.made} {row.made_label}" if row.made_label else ""
        lines.append(
            f"| {row.what} | {row.tried} {row.tried_label} | {made} | {row.bad} {row.bad_label} |"
        )
    return "\n".join(lines)


def dump() -> None:
    path = os.environ.get("RELIABILITY_FIGURES")
    if path:
        with open(path, "w", encoding="utf-8") as out:
            json.dump([asdict(r) for r in rows()], out, indent=2)
