from __future__ import annotations

import pytest

from bot.whatsapp.payloads import (
    Message,
    MessageKind,
    PayloadError,
    build_request,
    new_external_id,
)

EXT = "abc123"


def build(message: Message, **options: object) -> dict[str, object]:
    return build_request(
        message,
        sender_number="1000000001",
        external_id=EXT,
        **options,  # type: ignore[arg-type]
    )


def test_image_with_caption_is_the_documented_body() -> None:
    body = build(
        Message(MessageKind.IMAGE, "+57 300 123 4567", "https://x.example/c.jpg", caption="Hi"),
        callback_urls=["https://bot.example.com/whatsapp/callbacks/t1"],
    )
    assert body == {
        "channel": "WHATSAPP",
        "request": {
            "from": "1000000001",
            "to": "+573001234567",
            "message": "https://x.example/c.jpg",
            "type": "image",
            "caption": "Hi",
            "externalId": EXT,
        },
        "callbacks": "https://bot.example.com/whatsapp/callbacks/t1",
    }


@pytest.mark.parametrize("kind", [MessageKind.VIDEO, MessageKind.AUDIO])
def test_video_and_audio_carry_only_the_url(kind: MessageKind) -> None:
    body = build(Message(kind, "573001234567", "http://x.example/f"))
    assert body["request"] == {
        "from": "1000000001",
        "to": "+573001234567",
        "message": "http://x.example/f",
        "type": str(kind),
        "externalId": EXT,
    }
    assert "callbacks" not in body


def test_document_with_file_name() -> None:
    body = build(
        Message(MessageKind.DOCUMENT, "+573001234567", "https://x/i.pdf", file_name="Inv.PDF")
    )
    assert body["request"]["fileName"] == "Inv.PDF"  # type: ignore[index]


def test_text_message() -> None:
    body = build(Message(MessageKind.TEXT, "+573001234567", "Your parcel is on its way"))
    assert body["request"]["message"] == "Your parcel is on its way"  # type: ignore[index]
    assert body["request"]["type"] == "text"  # type: ignore[index]


def test_recipient_digits_and_callback_list_are_configurable() -> None:
    body = build(
        Message(MessageKind.TEXT, "+573001234567", "hi"),
        recipient_format="digits",
        callbacks_format="list",
        callback_urls=["https://a/1", "https://b/2"],
    )
    assert body["request"]["to"] == "573001234567"  # type: ignore[index]
    assert body["callbacks"] == ["https://a/1", "https://b/2"]
    joined = build(Message(MessageKind.TEXT, "+573001234567", "hi"), callback_urls=["a", "b"])
    assert joined["callbacks"] == "a,b"


@pytest.mark.parametrize(
    ("message", "field", "words"),
    [
        (Message(MessageKind.TEXT, "+5730012", "hi"), "to", "not a valid phone number"),
        (Message(MessageKind.TEXT, "call me", "hi"), "to", "only digits"),
        (Message(MessageKind.TEXT, "+999123456789", "hi"), "to", "country code"),
        (Message(MessageKind.TEXT, "+573001234567", "x" * 1025), "message", "at most 1024"),
        (Message(MessageKind.TEXT, "+573001234567", "   "), "message", "empty"),
        (Message(MessageKind.IMAGE, "+573001234567", "ftp://x/a.png"), "message", "http"),
        (Message(MessageKind.IMAGE, "+573001234567", "https:///a.png"), "message", "valid URL"),
        (
            Message(MessageKind.VIDEO, "+573001234567", "https://x/v.mp4", caption="c"),
            "caption",
            "only go with an image",
        ),
        (
            Message(MessageKind.DOCUMENT, "+573001234567", "https://x/d", file_name="a.docx"),
            "fileName",
            "end in `.pdf`",
        ),
        (
            Message(MessageKind.IMAGE, "+573001234567", "https://x/i.png", file_name="a.pdf"),
            "fileName",
            "only be given for a document",
        ),
    ],
)
def test_bad_values_never_reach_the_wire(message: Message, field: str, words: str) -> None:
    with pytest.raises(PayloadError) as info:
        build(message)
    assert info.value.field == field
    assert words in str(info.value)


def test_text_of_exactly_1024_characters_is_accepted() -> None:
    build(Message(MessageKind.TEXT, "+573001234567", "é" * 1024))


def test_sender_number_and_external_id_are_checked() -> None:
    message = Message(MessageKind.TEXT, "+573001234567", "hi")
    with pytest.raises(PayloadError, match="digits only"):
        build_request(message, sender_number="+1555", external_id=EXT)
    with pytest.raises(PayloadError, match="alphanumeric"):
        build_request(message, sender_number="15550001111", external_id="a-b")


def test_external_ids_are_alphanumeric_and_unique() -> None:
    ids = {new_external_id() for _ in range(1000)}
    assert len(ids) == 1000
    assert all(i.isalnum() and len(i) == 32 for i in ids)
