from __future__ import annotations

import pytest

from bot.core.slacktext import decode, unescape

PEOPLE = {"U0ALICE": "Alice", "W0CAROL": "Carol Díaz"}


def named(text: str) -> str:
    return decode(text, user_name=PEOPLE.get)


@pytest.mark.parametrize(
    ("text", "plain"),
    [
        ("Fish &amp; Chips", "Fish & Chips"),
        ("1 &lt; 2 &gt; 0", "1 < 2 > 0"),
        ("<@U0ALICE>", "@Alice"),
        ("<@W0CAROL>", "@Carol Díaz"),
        ("<@U0ALICE|alice.a>", "@Alice"),
        ("<@U0NOBODY|bob>", "@bob"),
        ("<@U0NOBODY>", "@U0NOBODY"),
        ("<#C0123|support>", "#support"),
        ("<#C0123|>", "#C0123"),
        ("<#C0123>", "#C0123"),
        ("<!here>", "@here"),
        ("<!here|here>", "@here"),
        ("<!channel>", "@channel"),
        ("<!everyone|@everyone>", "@everyone"),
        ("<!subteam^S0TEAM|@sales-team>", "@sales-team"),
        ("<!subteam^S0TEAM>", "@S0TEAM"),
        ("<!date^1700000000^{date_short}|Nov 14, 2023>", "Nov 14, 2023"),
        ("<!date^1700000000^{date_short}>", "2023-11-14 22:13 UTC"),
        ("<http://x.example/a>", "http://x.example/a"),
        ("<http://x.example/a|http://x.example/a>", "http://x.example/a"),
        ("<http://x.example/a|see this>", "see this (http://x.example/a)"),
        ("<http://example.com|example.com>", "example.com"),
        ("<https://www.example.com/|www.example.com>", "www.example.com"),
        ("<http://example.com:8080|example.com:8080>", "example.com:8080"),
        ("<mailto:ana@x.example|ana@x.example>", "ana@x.example"),
        ("<mailto:ana@x.example|Write to Ana>", "Write to Ana (ana@x.example)"),
        ("<mailto:ana@x.example>", "ana@x.example"),
        ("<tel:+573001234567|+57 300 123 4567>", "+57 300 123 4567"),
        ("<tel:+573001234567>", "+573001234567"),
    ],
)
def test_each_token_as_the_author_meant_it(text: str, plain: str) -> None:
    assert named(text) == plain


def test_mixed_text() -> None:
    text = (
        "Hi <@U0ALICE>, fish &amp; chips at <https://x.example/m?a=1&amp;b=2|the menu> "
        "&lt;today&gt; for <!channel> in <#C0123|support>"
    )
    assert named(text) == (
        "Hi @Alice, fish & chips at the menu (https://x.example/m?a=1&b=2) "
        "<today> for @channel in #support"
    )


def test_entities_are_unescaped_exactly_once_after_the_tokens() -> None:
    # a person who typed `&lt;` literally: Slack sends `&amp;lt;`
    assert named("&amp;lt;b&amp;gt; &amp;amp;") == "&lt;b&gt; &amp;"
    assert named("<http://x.example/?q=&amp;lt;|&amp;lt;tag&amp;gt;>") == (
        "&lt;tag&gt; (http://x.example/?q=&lt;)"
    )
    # a decoded name is never decoded again
    assert decode("<@U1>", user_name=lambda _: "&amp; <@U2>") == "@&amp; <@U2>"
    assert unescape("&amp;amp;") == "&amp;"


@pytest.mark.parametrize(
    ("text", "plain"),
    [
        ("a < b", "a < b"),
        ("<@U0ALICE", "<@U0ALICE"),
        ("x <y <@U0ALICE>", "x <y @Alice"),
        ("&amp", "&amp"),
        ("&quot; &#39;", "&quot; &#39;"),
        ("", ""),
    ],
)
def test_what_is_not_slack_markup_stays_as_it_is(text: str, plain: str) -> None:
    assert named(text) == plain


def test_without_a_resolver_mentions_keep_their_label_or_id() -> None:
    assert decode("<@U0ALICE> <@U0BOB|bob>") == "@U0ALICE @bob"
