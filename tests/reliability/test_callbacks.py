"""Status callbacks over HTTP: out of order, duplicated, early, across a restart, malformed,
oversized, forged. The right status code, never a 5xx, and everything stored kept verbatim."""

from __future__ import annotations

import contextlib
import http.client
import json
from collections.abc import Callable, Iterator
from urllib.parse import quote

import pytest

from bot.core import ids, tokens
from bot.store import SendRecord, SendState
from bot.usecases.sending import CALLBACK_PURPOSE
from tests.conftest import SECRETS
from tests.reliability import figures
from tests.reliability.conftest import fresh_postgres
from tests.reliability.rig import (
    CHANNEL,
    USER,
    Answer,
    Instance,
    Rig,
    draft_text,
)

TEN_MB = 10 * 1024 * 1024


def sent_send(rig: Rig, app: Instance, body: str) -> SendRecord:
    send, confirmation = draft_text(rig, app, body)
    app.driver.click(ids.SEND, send.id, user=USER, channel=CHANNEL, message=confirmation)
    sent = rig.wait_state(send.id, SendState.SENT)
    rig.wait_thread(send.id, "transactionId")
    return sent


def body_of(rig: Rig, send: SendRecord, name: str | None, **extra: object) -> bytes:
    """A callback as the provider sends it, with the status `name` (left out when None)."""
    assert send.transaction_id is not None
    payload = rig.provider.callback_payload(send.transaction_id, name or "X")
    if name is None:
        payload.pop("status")
    payload.update(extra)
    return json.dumps(payload).encode()


def oversized(app: Instance, path: str, *, chunked: bool) -> int:
    """POST 10 MB; the status, even if the server answered before reading it all."""
    conn = http.client.HTTPConnection("127.0.0.1", app.port, timeout=20)
    try:
        if chunked:
            conn.putrequest("POST", path)
            conn.putheader("Content-Type", "application/json")
            conn.putheader("Transfer-Encoding", "chunked")
            conn.endheaders()
            chunk = b"x" * 65536
            with contextlib.suppress(OSError):  # the server answered early: read its answer
                for _ in range(TEN_MB // len(chunk)):
                    conn.send(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                conn.send(b"0\r\n\r\n")
        else:
            with contextlib.suppress(OSError):
                conn.request(
                    "POST",
                    path,
                    body=b"{" + b" " * (TEN_MB - 2) + b"}",
                    headers={"Content-Type": "application/json"},
                )
        response = conn.getresponse()
        body = response.read()
        app.answers.append(Answer(response.status, dict(response.getheaders()), body))
        return response.status
    finally:
        conn.close()


def test_callbacks_in_every_shape_get_the_right_answer_and_are_kept_raw(
    make_rig: Callable[..., Rig],
) -> None:
    rig = make_rig()
    app = rig.add()
    rig.provider.auto_callbacks = False
    send = sent_send(rig, app, "Callbacks: your parcel")
    token = send.callback_token
    answers: list[tuple[str, int, int, bytes]] = []  # (case, expected, got, body)

    def post(
        case: str,
        expected: int,
        body: bytes,
        content_type: str = "application/json",
        to: str | None = None,
    ) -> Answer:
        answer = app.callback(token if to is None else to, body, content_type)
        answers.append((case, expected, answer.status, body))
        return answer

    rows_before = len(rig.stored_callbacks())
    # refused before anything is stored
    forged = token[:-2] + ("AA" if not token.endswith("AA") else "BB")
    stranger = tokens.new_token("another-secret", CALLBACK_PURPOSE)
    unissued = tokens.new_token(SECRETS["WHATSAPP_BOT_SECRET"], CALLBACK_PURPOSE)
    for case, bad in [
        ("forged", forged),
        ("other secret", stranger),
        ("signed, never issued", unissued),
        ("garbage", "x" * 300),
        ("empty", ""),
        ("unicode", quote("ünïcode.tøken")),
    ]:
        post(f"unknown token: {case}", 404, body_of(rig, send, "READ"), to=bad)
    for case, bad_body in [
        ("not JSON", b"status=READ"),
        ("not UTF-8", b"\xff\xfe\x00{"),
        ("empty", b""),
        ("truncated", b'{"status": "RE'),
        ("array", b'["READ"]'),
        ("string", b'"READ"'),
        ("number", b"42"),
        ("null", b"null"),
        ("true", b"true"),
    ]:
        post(f"body {case}", 400, bad_body)
    post("another send's externalId", 400, body_of(rig, send, "READ", externalId="Other1"))
    assert len(rig.stored_callbacks()) == rows_before, [(c, e, g) for c, e, g, _ in answers]
    for chunked in (False, True):
        got = oversized(app, f"/whatsapp/callbacks/{token}", chunked=chunked)
        answers.append((f"10 MB body, chunked={chunked}", 413, got, b""))
    assert len(rig.stored_callbacks()) == rows_before

    # accepted and stored: out of order, duplicated, odd shapes
    post("out of order", 200, body_of(rig, send, "DELIVERED"))
    post("out of order", 200, body_of(rig, send, "QUEUE"))
    post("duplicate", 200, body_of(rig, send, "DELIVERED"))
    post("missing status", 202, body_of(rig, send, None))
    post("missing everything", 202, b"{}")
    post(
        "extra fields",
        200,
        body_of(rig, send, "SENT", extra={"nested": [1, {"a": None}]}, price=0.005, tags=["x"]),
    )
    post("never-seen status", 200, body_of(rig, send, "WAITING_FOR_WINDOW"))
    post("lower case", 200, body_of(rig, send, "dequeued"))
    post("status as a number", 200, body_of(rig, send, None, status=7))
    post("status not a string", 202, body_of(rig, send, None, status={"name": "READ"}))
    post("text/plain JSON", 200, body_of(rig, send, "QUEUED"), "text/plain")

    app.restart()
    post("after restart, duplicate", 200, body_of(rig, send, "QUEUE"))
    post("after restart, late", 200, body_of(rig, send, "SENT"))
    post("after restart, new", 200, body_of(rig, send, "READ"))
    post("after restart, after READ", 200, body_of(rig, send, "DELIVERED"))

    wrong = [(c, e, g) for c, e, g, _ in answers if e != g]
    five = [(c, g) for c, _, g, _ in answers if g >= 500]
    stored = [body for _, _, body in rig.stored_callbacks()][rows_before:]
    accepted = [body.decode() for _, _, got, body in answers if 200 <= got < 300]
    figures.add(
        "callbacks:http",
        "callbacks: malformed, forged, oversized, out of order, duplicated, across a restart",
        len(answers),
        "requests",
        len(wrong) + len(five) + (stored != accepted),
        "wrong answers, 5xx or callbacks not kept raw",
    )
    assert wrong == [] and five == []
    assert stored == accepted  # every accepted callback, byte for byte, in order
    final = rig.current(send.id)
    assert final.provider_status == "READ"
    texts = rig.wait_thread(send.id, "Status: *READ*")
    assert sum("Status:" in t for t in texts) == 1
    assert any("WAITING_FOR_WINDOW" in t for t in texts)
    assert any("`7`" in t or "*7*" in t or " 7" in t for t in texts)


def test_a_status_that_arrives_before_the_send_is_recorded_is_not_lost(
    make_rig: Callable[..., Rig],
) -> None:
    rig = make_rig()
    app = rig.add()
    rig.provider.auto_callbacks = False
    rig.provider.latency = 0.7  # the provider answers after the app's first callback arrives
    send, confirmation = draft_text(rig, app, "Early status: your invoice")
    app.driver.click(ids.SEND, send.id, user=USER, channel=CHANNEL, message=confirmation)
    rig.wait_state(send.id, SendState.SENDING, timeout=5)
    early = {"status": "QUEUE", "externalId": send.external_id, "date": "2030-01-01T00:00:00Z"}
    answer = app.callback(send.callback_token, json.dumps(early).encode())
    assert answer.status == 200, answer
    assert rig.current(send.id).transaction_id is None  # really before the send was recorded
    sent = rig.wait_state(send.id, SendState.SENT)
    assert sent.provider_status == "QUEUE"
    texts = rig.wait_thread(send.id, "Status: *QUEUE*")
    assert any(f"`{sent.transaction_id}`" in t for t in texts)
    assert [row.status for row in rig.store.timeline(send.id)] == ["QUEUE"]


# Valid JSON, small, with a good token, that the app should answer with 2xx or 4xx.
HOSTILE = {
    "lone surrogate in the status": b'{"status": "\\ud800"}',
    "lone surrogate in the reason": b'{"status": "FAILED", "reason": "bad \\udfff"}',
    "NUL in the status": b'{"status": "RE\\u0000AD"}',
    "NUL in the date": b'{"status": "READ", "date": "2030\\u0000"}',
    "nested 20000 deep": b'{"status": "READ", "x": ' + b"[" * 20_000 + b"]" * 20_000 + b"}",
    "huge number": b'{"status": 1' + b"0" * 5000 + b"}",
    "NaN status": b'{"status": NaN}',
    "long status": b'{"status": "' + b"S" * 10_000 + b'"}',
}
# Each of these got HTTP 500 before dd56b8d (found by this suite): lone surrogates and, on
# PostgreSQL, NUL could not be stored; deep nesting let RecursionError out of parse_callback.
CASES = [
    pytest.param(case, backend, id=f"{backend}-{case}")
    for backend in ("sqlite", "postgresql")
    for case in HOSTILE
]


@pytest.fixture(scope="module")
def hostile_rigs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HostileRigs]:
    """One running app per backend, started on first use and shared by the cases below."""
    with contextlib.ExitStack() as stack:
        yield HostileRigs(stack, tmp_path_factory)


class HostileRigs:
    def __init__(self, stack: contextlib.ExitStack, folders: pytest.TempPathFactory) -> None:
        self.stack = stack
        self.folders = folders
        self.apps: dict[str, tuple[Rig, Instance, SendRecord]] = {}

    def get(self, backend: str) -> tuple[Rig, Instance, SendRecord]:
        if backend not in self.apps:
            url = self.stack.enter_context(fresh_postgres()) if backend == "postgresql" else None
            rig = Rig(self.folders.mktemp(f"hostile-{backend}"), database_url=url)
            self.stack.callback(rig.close)
            app = rig.add()
            rig.provider.auto_callbacks = False
            self.apps[backend] = (rig, app, sent_send(rig, app, f"Hostile callbacks, {backend}"))
        return self.apps[backend]


@pytest.mark.parametrize(("case", "backend"), CASES)
def test_hostile_but_valid_json_callbacks_never_get_a_5xx(
    case: str, backend: str, hostile_rigs: HostileRigs
) -> None:
    rig, app, send = hostile_rigs.get(backend)
    before = len(rig.stored_callbacks())
    answer = app.callback(send.callback_token, HOSTILE[case])
    stored = len(rig.stored_callbacks()) - before
    figures.add(
        f"callbacks:hostile:{backend}",
        f"hostile but well-formed callbacks ({backend})",
        1,
        "requests",
        int(answer.status >= 500),
        "5xx",
    )
    assert answer.status < 500, (answer.status, answer.text)
    assert "Traceback" not in answer.text and 'File "' not in answer.text
    assert stored == (1 if 200 <= answer.status < 300 else 0)
