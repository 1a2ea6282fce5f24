"""Downloading a customer's attachment: the same rules as a media link, the whole file."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from bot.media.download import download_url
from bot.media.refusals import MediaUrlRefused
from bot.sandbox.images import jpeg
from tests.media.test_remote import Reply, Server, answer, serve_file


def refused(url: str, **options: object) -> MediaUrlRefused:
    with pytest.raises(MediaUrlRefused) as caught:
        download_url(url, **options)  # type: ignore[arg-type]
    assert caught.value.reason and caught.value.hint
    return caught.value


def test_the_whole_file_is_downloaded_with_its_type(serve: Callable[..., Server]) -> None:
    photo = jpeg()
    server = serve(serve_file(photo, "image/jpeg"))
    got = download_url(server.url(), allow_private_hosts=True)
    assert got.data == photo and got.content_type == "image/jpeg"


def test_an_undeclared_type_is_judged_from_the_content(serve: Callable[..., Server]) -> None:
    server = serve(serve_file(jpeg(), None))
    assert download_url(server.url(), allow_private_hosts=True).content_type == "image/jpeg"


def test_a_redirect_is_refused_with_where_it_leads(serve: Callable[..., Server]) -> None:
    server = serve(answer(302, [("Location", "https://elsewhere.example/p.jpg")]))
    error = refused(server.url(), allow_private_hosts=True)
    assert "redirects" in error.reason and "elsewhere.example" in error.reason


def test_a_private_address_is_refused_before_connecting(serve: Callable[..., Server]) -> None:
    server = serve(serve_file(jpeg(), "image/jpeg"))
    error = refused(server.url())
    assert "127.0.0.1" in error.reason
    assert server.connections == 0


def test_a_file_over_the_limit_is_refused(serve: Callable[..., Server]) -> None:
    server = serve(serve_file(b"x" * 6_000_000, "image/jpeg"))
    error = refused(server.url(), allow_private_hosts=True)
    assert "MB" in error.reason


def test_a_file_over_the_limit_without_a_length_is_refused_as_measured(
    serve: Callable[..., Server],
) -> None:
    server = serve(serve_file(b"x" * 300_000, "image/jpeg", length=False))
    error = refused(server.url(), allow_private_hosts=True, max_bytes=200_000)
    assert "MB" in error.reason


def test_a_server_that_never_answers_is_given_up_in_time(serve: Callable[..., Server]) -> None:
    server = serve(lambda seen: Reply(hang=True))
    error = refused(server.url(), allow_private_hosts=True, timeout=0.5)
    assert "did not answer within 0.5 seconds" in error.reason


def test_a_missing_file_is_named(serve: Callable[..., Server]) -> None:
    error = refused(serve(answer(404)).url(), allow_private_hosts=True)
    assert "404" in error.reason
