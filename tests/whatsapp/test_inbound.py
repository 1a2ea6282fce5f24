"""Customer messages in the provider's two shapes, parsed without I/O."""

from __future__ import annotations

import json

import pytest

from bot.whatsapp.inbound import InboundInvalid, parse_inbound

JSON = "application/json"


def body(**fields: object) -> bytes:
    payload: dict[str, object] = {
        "id": "wamid.1",
        "user": "573001234567",
        "text": "Hola",
        "date": "2026-12-04T12:00:00Z",
        "owner": "15550001111",
        "processId": "p-1",
        "extraInfo": {"type": "text"},
    }
    payload.update(fields)
    return json.dumps(payload).encode()


def test_the_json_shape() -> None:
    message = parse_inbound(
        body(
            extraInfo={
                "type": "image",
                "attachments": [
                    {"url": "https://p.example/a.jpg", "fileName": "a.jpg", "caption": "box"}
                ],
                "contacts": [{"profile": {"name": "Ana"}, "wa_id": "573001234567"}],
            }
        ),
        JSON,
        "",
    )
    assert message.shape == "json" and message.dedup_key == "id:wamid.1"
    assert message.customer == "+573001234567" and message.number_problem is None
    assert (message.text, message.kind, message.name) == ("Hola", "image", "Ana")
    assert message.attachments[0].url == "https://p.example/a.jpg"
    assert message.attachments[0].file_name == "a.jpg"
    assert message.provider_date == "2026-12-04T12:00:00Z"


def test_json_without_a_content_type_is_still_json() -> None:
    assert parse_inbound(body(), "", "").shape == "json"


def test_attachments_without_text_or_type_are_a_media_message() -> None:
    message = parse_inbound(
        body(text="", extraInfo={"attachments": [{"url": "https://p.example/f"}]}), JSON, ""
    )
    assert message.kind == "document" and message.text == ""


def test_the_same_message_has_the_same_key_and_another_has_another() -> None:
    assert parse_inbound(body(), JSON, "").dedup_key == parse_inbound(body(), JSON, "").dedup_key
    assert parse_inbound(body(id="wamid.2"), JSON, "").dedup_key == "id:wamid.2"


def test_a_message_without_an_id_is_keyed_by_its_body() -> None:
    one = parse_inbound(body(id=None), JSON, "")
    assert one.dedup_key.startswith("body:")
    assert one.dedup_key != parse_inbound(body(id=None, text="other"), JSON, "").dedup_key


def test_the_query_shape_by_get_and_by_form() -> None:
    query = "mobile=573001234567&mo=hello+there&ts=1733300000&shortcode=12345"
    by_get = parse_inbound(b"", "", query)
    by_form = parse_inbound(query.encode(), "application/x-www-form-urlencoded", "")
    assert by_get == by_form
    assert by_get.shape == "query" and by_get.text == "hello there"
    assert by_get.customer == "+573001234567"
    assert by_get.dedup_key.startswith("mo:+573001234567:")


def test_the_query_shape_without_a_time_is_never_taken_for_a_replay() -> None:
    query = "mobile=573001234567&mo=ok"
    assert parse_inbound(b"", "", query).dedup_key != parse_inbound(b"", "", query).dedup_key


def test_a_number_that_cannot_be_read_is_kept_with_the_reason() -> None:
    message = parse_inbound(body(user="12"), JSON, "")
    assert message.customer is None and message.customer_raw == "12"
    assert message.number_problem and message.number == "12"


@pytest.mark.parametrize(
    ("raw", "content_type", "query", "words"),
    [
        (b"<xml/>", "text/xml", "", "neither"),
        (b"{not json", JSON, "", "not JSON"),
        (b"[1, 2]", JSON, "", "not an object"),
        (b'{"text": "hi"}', JSON, "", "no `user`"),
        (b"", "", "mo=hi", "neither"),
        (b"", "", "mobile=&mo=hi", "`mobile`"),
        (b"\xff\xfe", "application/x-www-form-urlencoded", "", "UTF-8"),
        (b"[" * 100_000, JSON, "", "nested"),
    ],
)
def test_bodies_that_are_neither_shape_are_refused_with_words(
    raw: bytes, content_type: str, query: str, words: str
) -> None:
    with pytest.raises(InboundInvalid) as caught:
        parse_inbound(raw, content_type, query)
    assert words in str(caught.value)


def test_hostile_values_are_cleaned_and_clipped() -> None:
    message = parse_inbound(body(text="a\x00b" + "x" * 50_000, id="i" * 10_000), JSON, "")
    assert "\x00" not in message.text and len(message.text) == 20_000
    assert message.provider_id is not None and len(message.provider_id) <= 500
    assert len(message.dedup_key) <= 200
