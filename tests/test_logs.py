"""Log lines: JSON one object a line with the send id, text as before; never a bearer secret."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest

from bot.core.logs import REDACTED, log_context, redact, use_format

CALLBACK = "/whatsapp/callbacks/AbC_d-12.XyZ"
MEDIA = "/media/Q1w2e3.r4t5"


@pytest.fixture
def lines() -> Iterator[tuple[logging.Logger, io.StringIO, logging.Handler]]:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    logger = logging.getLogger("tests.logs")
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    logger.propagate = False
    yield logger, stream, handler
    logger.removeHandler(handler)


def test_bearer_urls_and_credentials_are_redacted() -> None:
    text = (
        f"POST https://bot.example.com{CALLBACK}?x=1 and {MEDIA}, "
        "/whatsapp/inbound/tok3n; Authorization: Bearer abc.def xoxb-123-456-abc"
    )
    redacted = redact(text)
    for secret in ("AbC_d-12.XyZ", "Q1w2e3.r4t5", "tok3n", "abc.def", "123-456-abc"):
        assert secret not in redacted
    assert f"https://bot.example.com/whatsapp/callbacks/{REDACTED}?x=1" in redacted
    assert f"/media/{REDACTED}," in redacted
    assert f"Bearer {REDACTED}" in redacted and f"xoxb-{REDACTED}" in redacted
    assert redact("Send 1234 not delivered: HTTP 500") == "Send 1234 not delivered: HTTP 500"


def test_json_lines_have_time_level_logger_message_and_the_send_id(
    lines: tuple[logging.Logger, io.StringIO, logging.Handler],
) -> None:
    logger, stream, handler = lines
    use_format(handler, "json")
    logger.info("plain")
    with log_context(send_id="s1"):
        logger.warning("within a send, at %s", CALLBACK)
        with log_context(batch_id="b1"):
            logger.info("and its group")
    logger.error("named", extra={"send_id": "s2"})
    try:
        raise ValueError(f"boom at {MEDIA}")
    except ValueError:
        logger.exception("Failed to do a thing")
    entries = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert [e["message"] for e in entries] == [
        "plain",
        f"within a send, at /whatsapp/callbacks/{REDACTED}",
        "and its group",
        "named",
        "Failed to do a thing",
    ]
    assert [e.get("send_id") for e in entries] == [None, "s1", "s1", "s2", None]
    assert entries[2]["batch_id"] == "b1"
    first = entries[0]
    assert first["level"] == "INFO" and first["logger"] == "tests.logs"
    assert first["time"].endswith("+00:00") and "T" in first["time"]
    assert "ValueError" in entries[4]["exception"] and "Q1w2e3" not in entries[4]["exception"]


def test_text_lines_keep_their_shape_redacted(
    lines: tuple[logging.Logger, io.StringIO, logging.Handler],
) -> None:
    logger, stream, handler = lines
    use_format(handler, "text")
    logger.warning("Failed to handle POST %s", CALLBACK)
    line = stream.getvalue().strip()
    assert line.endswith(
        f"WARNING tests.logs: Failed to handle POST /whatsapp/callbacks/{REDACTED}"
    )
