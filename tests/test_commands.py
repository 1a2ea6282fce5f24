from __future__ import annotations

import pytest

from bot.core.slacktext import decode
from bot.slack.commands import (
    CommandError,
    HelpRequest,
    HistoryRequest,
    OptOutsRequest,
    SendRequest,
    StatusRequest,
    kind_from_url,
    parse,
)
from bot.whatsapp.payloads import MessageKind


@pytest.mark.parametrize("text", ["", "help", "  HELP  ", "?"])
def test_help(text: str) -> None:
    assert parse(text) == HelpRequest()


def test_image_with_caption() -> None:
    parsed = parse("image +573001234567 https://x.example/c.jpg The best coffee in the town!")
    assert parsed == SendRequest(
        kind=MessageKind.IMAGE,
        recipient="+573001234567",
        body="https://x.example/c.jpg",
        caption="The best coffee in the town!",
    )


def test_type_guessed_from_the_url() -> None:
    parsed = parse("573001234567 https://x.example/files/Report%20Q3.PDF")
    assert isinstance(parsed, SendRequest)
    assert parsed.kind is MessageKind.DOCUMENT and parsed.kind_was_guessed


def test_document_file_name_and_sender_anywhere() -> None:
    parsed = parse("from:sales document acme-ops https://x.example/d/9 invoice-9.pdf")
    assert parsed == SendRequest(
        kind=MessageKind.DOCUMENT,
        recipient="acme-ops",
        body="https://x.example/d/9",
        file_name="invoice-9.pdf",
        sender_alias="sales",
    )
    middle = parse("image +573001234567 from:sales https://x.example/a.png hi there")
    assert isinstance(middle, SendRequest)
    assert middle.sender_alias == "sales" and middle.caption == "hi there"


def test_without_type_or_extension_the_served_file_decides_later() -> None:
    parsed = parse("+573001234567 https://x.example/download statement.pdf")
    assert isinstance(parsed, SendRequest)
    assert parsed.kind is None and parsed.rest == "statement.pdf" and parsed.caption is None


def test_text_keeps_the_whole_message() -> None:
    parsed = parse("text +573001234567   Hello,  your order   is ready")
    assert isinstance(parsed, SendRequest)
    assert parsed.body == "Hello,  your order   is ready"
    assert parsed.kind is MessageKind.TEXT


def test_slack_escaped_links_and_phone_numbers_are_unwrapped() -> None:
    parsed = parse("image <tel:+573001234567|+573001234567> <https://x.example/a.png> Hi")
    assert isinstance(parsed, SendRequest)
    assert (parsed.recipient, parsed.body) == ("+573001234567", "https://x.example/a.png")


def test_status() -> None:
    assert parse("status 077da1d0-e089") == StatusRequest("077da1d0-e089")


def test_history_of_a_number_or_a_contact() -> None:
    assert parse("history +573001234567") == HistoryRequest("+573001234567")
    assert parse("  HISTORY acme-ops ") == HistoryRequest("acme-ops")
    # a number may be written with spaces, as it often is copied
    assert parse("history +57 300 123 4567") == HistoryRequest("+57 300 123 4567")
    # Slack's autolinked number, and a sender anywhere
    assert parse("history <tel:+573001234567|+573001234567> from:sales") == HistoryRequest(
        "+573001234567", sender_alias="sales"
    )
    assert parse("from:sales history 573001234567") == HistoryRequest("573001234567", "sales")
    # checked later, like a send's recipient: the grammar keeps what was typed
    assert parse("history +57300") == HistoryRequest("+57300")


@pytest.mark.parametrize("text", ["optouts", "OPTOUTS", " opt-outs ", "optout"])
def test_optouts(text: str) -> None:
    assert parse(text) == OptOutsRequest()


def test_optouts_of_one_sender() -> None:
    assert parse("optouts from:sales") == OptOutsRequest(sender_alias="sales")
    assert parse("from:sales optouts") == OptOutsRequest(sender_alias="sales")


def test_an_unknown_first_word_names_optouts_among_the_commands() -> None:
    with pytest.raises(CommandError) as info:
        parse("unsubscribed")
    assert "status, history, optouts or help" in str(info.value)


@pytest.mark.parametrize(
    ("text", "words", "example_word"),
    [
        ("gif +573001234567 https://x/a.gif", "`gif` is not something I can send", "image"),
        ("image", "Say who to send it to", "image"),
        ("image +573001234567", "media URL is missing", "image"),
        ("image https://x/a.png +573001234567", "recipient comes before the URL", "image"),
        ("image +573001234567 ftp://x/a.png", "not a web link", "image"),
        ("video +573001234567 https://x/v.mp4 look at this", "cannot have a caption", "video"),
        ("audio +573001234567 https://x/v.mp3 hi", "cannot have a caption", "audio"),
        ("document +573001234567 https://x/d invoice.docx", "not a PDF file name", "document"),
        ("text +573001234567", "message is missing", "text"),
        ("text", "Say who to send the text to", "text"),
        ("status", "one transactionId", "status"),
        ("history", "Say whose history to show", "history +573001234567"),
        ("history from:sales", "Say whose history to show", "history"),
        ("optouts +573001234567", "takes nothing after it", "optouts"),
        ("image +573001234567 https://x/a.png from:", "must be followed", "from:"),
        ("from:a from:b image 1 https://x/a.png", "one sender only", "from:"),
    ],
)
def test_each_mistake_has_its_own_message_and_an_example(
    text: str, words: str, example_word: str
) -> None:
    with pytest.raises(CommandError) as info:
        parse(text)
    assert words in str(info.value)
    assert example_word in info.value.example
    assert info.value.example.startswith("/whatsapp ")


@pytest.mark.parametrize(
    ("url", "kind"),
    [
        ("https://x/a.JPG", MessageKind.IMAGE),
        ("https://x/a.jpeg?sig=1", MessageKind.IMAGE),
        ("https://x/v.3gpp", MessageKind.VIDEO),
        ("https://x/v.mp4#t=3", MessageKind.VIDEO),
        ("https://x/n.amr", MessageKind.AUDIO),
        ("https://x/d.pdf", MessageKind.DOCUMENT),
        ("https://x/page.html", None),
        ("https://x/", None),
    ],
)
def test_kind_from_url(url: str, kind: MessageKind | None) -> None:
    assert kind_from_url(url) == kind


def bob(user_id: str) -> str | None:
    return "Bob" if user_id == "U0BOB" else None


def test_a_caption_reaches_the_customer_as_typed_and_the_url_as_the_provider_fetches_it() -> None:
    parsed = parse(
        "image +573001234567 <https://x.example/c.jpg?size=l&amp;v=2> Fish &amp; Chips  <@U0BOB>",
        decode=lambda text: decode(text, user_name=bob),
    )
    assert parsed == SendRequest(
        kind=MessageKind.IMAGE,
        recipient="+573001234567",
        body="https://x.example/c.jpg?size=l&v=2",
        caption="Fish & Chips @Bob",
    )


def test_a_text_message_is_decoded_and_keeps_its_spacing() -> None:
    parsed = parse("text +573001234567 Look:  <http://x.example/a|see this> &lt;3 from:sales")
    assert parsed == SendRequest(
        kind=MessageKind.TEXT,
        recipient="+573001234567",
        body="Look:  see this (http://x.example/a) <3",
        sender_alias="sales",
    )


def test_a_link_label_with_spaces_is_one_word() -> None:
    parsed = parse("+573001234567 <https://x.example/menu|the menu, today> <!here>")
    assert isinstance(parsed, SendRequest)
    assert (parsed.body, parsed.rest) == ("https://x.example/menu", "@here")
    text = parse("text <tel:+573001234567|+57 300 123 4567> <@U0BOB|bob> hi")
    assert isinstance(text, SendRequest)
    assert (text.recipient, text.body) == ("+573001234567", "@bob hi")


def test_a_document_file_name_is_checked_as_the_customer_gets_it() -> None:
    parsed = parse("document acme-ops https://x.example/d/9 Fish&amp;Chips.pdf")
    assert isinstance(parsed, SendRequest) and parsed.file_name == "Fish&Chips.pdf"
    with pytest.raises(CommandError, match="not a PDF file name"):
        parse(
            "document acme-ops https://x.example/d/9 <@U0BOB>.pdf",
            decode=lambda text: decode(text, user_name=lambda _: "Bob Baker"),
        )


def test_a_message_of_only_markup_that_decodes_to_nothing_is_missing() -> None:
    with pytest.raises(CommandError, match="message is missing"):
        parse("text +573001234567 <!date^x| >")
