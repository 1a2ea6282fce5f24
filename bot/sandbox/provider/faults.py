"""Faults the stand-in provider answers the next sends with: 429, 5xx, hangs, drops, garbage."""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass
from http import HTTPStatus
from typing import Final, Protocol

from bot.sandbox.provider.records import ProviderState, RecordedRequest, _reason


class _Handler(Protocol):
    """The request handler a fault answers through (`api._Handler`)."""

    close_connection: bool

    def respond(
        self,
        record: RecordedRequest,
        status: int,
        payload: object,
        *,
        headers: Mapping[str, str] | None = None,
        content_type: str = "application/json",
    ) -> None: ...


FAULT_KINDS: Final = frozenset(
    {"429", "500", "503", "400", "401", "403", "hang", "drop", "garbage", "no_transaction_id"}
)

_FAULT_OPTIONS: Final[Mapping[str, frozenset[str]]] = {
    "429": frozenset({"limit", "policy", "reset", "retry_after", "reason"}),
    "500": frozenset({"reason"}),
    "503": frozenset({"reason", "retry_after"}),
    "400": frozenset({"reason"}),
    "401": frozenset({"reason"}),
    "403": frozenset({"reason"}),
    "hang": frozenset({"seconds"}),
    "drop": frozenset(),
    "garbage": frozenset({"body", "content_type", "status"}),
    "no_transaction_id": frozenset(),
}


@dataclass(frozen=True)
class _Fault:
    kind: str
    options: Mapping[str, object]


class Faults(ProviderState):
    """Faults queued with :meth:`fail_next`, used by the next sends in order."""

    _faults: deque[_Fault]

    def fail_next(self, kind: str, count: int = 1, **options: object) -> None:
        """Answer the next ``count`` sends with the fault ``kind`` (see FAULT_KINDS).

        Options: 429: limit, policy, reset ("2s"), retry_after, reason; 500/503/400/401/403:
        reason (503 also retry_after); hang: seconds (None waits until stop, then the
        connection is closed unanswered); garbage: body, content_type, status.
        """
        if kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault kind {kind!r}; choose from {sorted(FAULT_KINDS)}")
        unknown = set(options) - _FAULT_OPTIONS[kind]
        if unknown:
            raise ValueError(f"fault {kind!r} does not take {sorted(unknown)}")
        if count < 1:
            raise ValueError("count must be at least 1")
        for name in ("seconds", "status"):
            if options.get(name) is not None:
                _number(options[name])
        fault = _Fault(kind, dict(options))
        with self._cond:
            self._faults.extend([fault] * count)

    def clear_faults(self) -> None:
        """Forget faults queued and not used yet."""
        with self._cond:
            self._faults.clear()

    def _take_fault(self) -> _Fault | None:
        with self._cond:
            return self._faults.popleft() if self._faults else None

    def _answer_fault(self, handler: _Handler, record: RecordedRequest, fault: _Fault) -> None:
        opts = fault.options
        kind = fault.kind
        if kind == "429":
            limit = _opt(opts, "limit", 100)
            headers = {
                "ratelimit-limit": str(limit),
                "ratelimit-policy": str(_opt(opts, "policy", f"{limit};w=60")),
                "ratelimit-remaining": "0",
                "ratelimit-reset": str(_opt(opts, "reset", "2s")),
            }
            retry_after = opts.get("retry_after")
            if retry_after is not None:
                headers["Retry-After"] = str(retry_after)
            reason = str(_opt(opts, "reason", "Too Many Requests"))
            handler.respond(record, 429, _reason(reason), headers=headers)
        elif kind in {"500", "503", "400", "401", "403"}:
            status = HTTPStatus(int(kind))
            headers = {}
            if opts.get("retry_after") is not None:
                headers["Retry-After"] = str(opts["retry_after"])
            reason = str(_opt(opts, "reason", status.phrase))
            handler.respond(record, status, _reason(reason), headers=headers)
        elif kind == "hang":
            seconds = opts.get("seconds")
            self._stopping.wait(None if seconds is None else _number(seconds))
            handler.close_connection = True
        elif kind == "drop":
            handler.close_connection = True
        elif kind == "garbage":
            raw = _opt(opts, "body", b"<html><body>Bad Gateway</body></html>")
            data = raw if isinstance(raw, bytes) else str(raw).encode()
            handler.respond(
                record,
                int(_number(_opt(opts, "status", 200))),
                data,
                content_type=str(_opt(opts, "content_type", "text/html")),
            )
        else:  # no_transaction_id
            handler.respond(record, 200, {"meta": {}})


def _opt(options: Mapping[str, object], name: str, default: object) -> object:
    value = options.get(name)
    return default if value is None else value


def _number(value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(f"expected a number, got {value!r}")
    return float(value)
