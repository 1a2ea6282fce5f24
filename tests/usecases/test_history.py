"""A customer's history in process: who sees which items (the rule of sending, per channel and
sender), the links to their threads, numbers and contacts; and the App Home's "Find a
customer" publishing it."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from bot.core import access
from bot.core.access import SeenWith
from bot.core.history import Direction
from bot.core.records import utcnow
from bot.usecases.history import Found, HistoryRefused
from tests.conftest import make_config
from tests.inprocess import CHANNEL, OTHER_USER, USER, Stage, staged
from tests.scenarios.harness import text_of
from tests.test_store_history import ANA
from tests.test_store_history import received as received_in
from tests.test_store_history import sent as sent_in
from tests.usecases.test_home_waiting import customer_writes, waiting_texts

WORKSPACE = "https://standin.slack.com"


def sent(store: Any, minutes: int, **values: Any) -> str:
    """A send stored as made in the support channel, unless told otherwise."""
    return sent_in(store, minutes, **{"channel_id": CHANNEL, **values})


def received(store: Any, minutes: int, **values: Any) -> str:
    """A customer's message stored as shown in the support channel, unless told otherwise."""
    return received_in(store, minutes, **{"channel_id": CHANNEL, **values})


def find(stage: Stage, text: str = ANA, user: str = USER, **options: Any) -> Found:
    return stage.services.home.history.find(text, user, **options)


def ids(found: Found) -> list[str]:
    return [shown.item.id for shown in found.items]


# --- who may see what: the rule of sending --------------------------------------------------


def test_the_scope_is_where_each_sender_may_be_used() -> None:
    config = make_config()  # C0123SUPPORT: support (default) and sales; C0SALES: sales
    assert access.history_scope(config, USER) == [
        SeenWith("support", frozenset({"C0123SUPPORT"}), unplaced=True),
        SeenWith("sales", frozenset({"C0123SUPPORT", "C0SALES"}), unplaced=True),
    ]
    only = make_config(access={"allowed_users": [OTHER_USER]})
    assert access.history_scope(only, USER) == [] and access.history_scope(only, None) == []
    assert len(access.history_scope(only, OTHER_USER)) == 2
    # without channels, anywhere (and in no channel)
    anywhere = make_config(channels={})
    assert access.history_scope(anywhere, USER) == [
        SeenWith("support", None, True),
        SeenWith("sales", None, True),
    ]
    # a sender that is no channel's and has no inbox: its unplaced items are nobody's to see
    channels = {"C0123SUPPORT": {"sender": "support", "allowed_senders": ["support", "sales"]}}
    no_inbox = make_config(channels=channels)
    assert access.history_scope(no_inbox, USER)[1] == SeenWith(
        "sales", frozenset({"C0123SUPPORT"}), unplaced=False
    )
    seen = SeenWith("sales", frozenset({"C1"}), unplaced=False)
    assert seen.covers("C1") and not seen.covers("C2") and not seen.covers(None)


def test_items_of_a_channel_where_one_may_not_send_are_not_shown(stage: Stage) -> None:
    store = stage.store
    here = sent(store, 1, channel_id=CHANNEL, user_id=OTHER_USER)
    sales_there = sent(
        store, 2, channel_id="C0SALES", sender_alias="sales", sender_number="15550002222"
    )
    support_there = sent(store, 3, channel_id="C0SALES", user_id=OTHER_USER)  # not allowed there
    elsewhere = sent(store, 4, channel_id="C0ELSEWHERE", user_id=OTHER_USER)  # not configured
    heard_there = received(store, 5, channel_id="C0ELSEWHERE")
    heard_here = received(store, 6, channel_id=CHANNEL)

    found = ids(find(stage))

    assert found == [heard_here, sales_there, here]
    for hidden in (support_there, elsewhere, heard_there):
        assert hidden not in found
    # the person who made them sees their own sends, wherever made
    assert ids(find(stage, user=OTHER_USER)) == [
        heard_here,
        elsewhere,
        support_there,
        sales_there,
        here,
    ]


def test_someone_who_may_not_send_sees_nothing(tmp_path: Path) -> None:
    with staged(tmp_path, access={"allowed_users": [OTHER_USER]}) as stage:
        sent(stage.store, 1, user_id=USER)  # made while they still could
        received(stage.store, 2)
        assert find(stage).items == []
        assert len(find(stage, user=OTHER_USER).items) == 2


def test_without_channels_everything_is_seen(tmp_path: Path) -> None:
    with staged(tmp_path, channels={}) as stage:
        sent(stage.store, 1, channel_id="C0ANY", user_id=OTHER_USER)
        sent(stage.store, 2, channel_id=None, user_id=None, message_ts=None, source="cli")
        received(stage.store, 3, sender="sales", channel_id=None, thread_ts=None, message_ts=None)
        assert len(find(stage).items) == 3


def test_one_senders_items_with_from(stage: Stage) -> None:
    sent(stage.store, 1)
    sales = sent(stage.store, 2, sender_alias="sales", sender_number="15550002222")
    assert ids(find(stage, sender_alias="sales")) == [sales]
    with pytest.raises(HistoryRefused, match="no sender called `ghost`"):
        find(stage, sender_alias="ghost")


# --- what is shown ---------------------------------------------------------------------------


def test_each_item_links_its_thread_and_names_its_sender(stage: Stage) -> None:
    send = sent(stage.store, 1, message_ts="1700000001.000100")
    sales = sent(
        stage.store,
        2,
        sender_alias="sales",
        sender_number="15550009999",  # the sender's number changed since
        message_ts="1700000002.000100",
    )
    message = received(stage.store, 3, thread_ts="1700000001.000100")
    cli = sent(stage.store, 4, channel_id=None, user_id=None, message_ts=None, source="cli")

    found = find(stage)

    shown = {s.item.id: s for s in found.items}
    assert shown[send].link == f"{WORKSPACE}/archives/{CHANNEL}/p1700000001000100"
    assert shown[message].link == shown[send].link  # the same thread
    assert shown[cli].link is None
    assert (shown[send].sender_label, shown[sales].sender_label) == ("Support", "sales")
    assert shown[message].item.direction is Direction.RECEIVED
    assert len(stage.slack.calls_to("auth.test")) == 1
    assert stage.slack.calls_to("chat.getPermalink") == []


def test_without_the_workspaces_url_slack_is_asked_for_each_thread_once(stage: Stage) -> None:
    customer_writes(stage, "wamid.1", "hola")
    customer_writes(stage, "wamid.2", "¿sigue ahí?")
    links = stage.services.home.links
    links._workspace_asked = 1e18  # as after auth.test failed a moment ago

    found = find(stage)

    assert len(found.items) == 2
    conversation = stage.store.find_conversation("support", ANA)
    assert conversation is not None and conversation.thread_ts
    expected = stage.services.client.chat_getPermalink(
        channel=conversation.channel_id, message_ts=conversation.thread_ts
    )["permalink"]
    assert [s.link for s in found.items] == [expected, expected]
    assert len(stage.slack.calls_to("chat.getPermalink")) == 2  # one for both, one here


def test_a_contact_or_a_number_in_any_form(stage: Stage) -> None:
    send = sent(stage.store, 1)
    for text in (ANA, "573001234567", "+57 300 123 4567", "acme-ops"):
        found = find(stage, text)
        assert found.number == ANA and ids(found) == [send], text
    assert find(stage, "acme-ops").label == "acme-ops" and find(stage, ANA).label is None


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("+57300", "`+57300` is not a valid phone number: it is too short"),
        ("nobody", "`nobody` is not a phone number or a known contact"),
        ("   ", "Say whose history to show"),
    ],
)
def test_a_number_that_cannot_be_looked_up_says_why(stage: Stage, text: str, words: str) -> None:
    with pytest.raises(HistoryRefused) as info:
        find(stage, text)
    assert words in str(info.value)


def test_the_newest_twenty_and_whether_there_are_more(stage: Stage) -> None:
    for minute in range(15):
        sent(stage.store, 2 * minute)
        received(stage.store, 2 * minute + 1)
    found = find(stage)
    assert len(found.items) == 20 and found.more
    assert found.items[0].item.direction is Direction.RECEIVED
    assert not find(stage, "+573009876543").more


# --- the App Home ----------------------------------------------------------------------------


def home_texts(stage: Stage, user: str = USER) -> list[str]:
    view = stage.slack.home_view(user)
    assert view is not None
    return [text_of({"blocks": [b]}) for b in view["blocks"]]


def test_find_a_customer_publishes_the_tab_with_their_history(stage: Stage) -> None:
    home = stage.services.home
    home.opened(USER)
    assert "Find a customer" in home_texts(stage)
    an_hour_ago = utcnow() - timedelta(hours=1)
    sent(stage.store, 1, created_at=an_hour_ago, transaction_id="tx-ana", message_ts=None)
    customer_writes(stage, "wamid.1", "¿Llegó mi pedido?")
    # the tab is republished as the customer waits for a reply (on a timer): let it pass
    stage.slack.wait_for(lambda: waiting_texts(stage.slack.home_view(USER)), timeout=10)

    home.look_up(USER, "acme-ops")

    texts = home_texts(stage)
    start = texts.index("Find a customer")
    assert texts[start + 2].startswith(":mag: *History of* *+573001234567* (acme-ops): 2 messages")
    assert texts[start + 3].startswith(":inbox_tray: *Received*") and "¿Llegó" in texts[start + 3]
    assert texts[start + 4].startswith(":outbox_tray: *Sent*") and "`tx-ana`" in texts[start + 4]
    view = stage.slack.home_view(USER)
    assert view is not None
    assert view["blocks"][start + 1]["element"]["initial_value"] == "acme-ops"
    # kept as the tab is republished for other reasons, until cleared
    home.publish(USER)
    assert any(t.startswith(":mag: *History of*") for t in home_texts(stage))
    home.look_up(USER, "")
    assert not any(t.startswith(":mag:") for t in home_texts(stage))


def test_a_bad_number_in_the_tab_says_why(stage: Stage) -> None:
    stage.services.home.look_up(USER, "+57300")
    texts = home_texts(stage)
    assert any(
        t.startswith(":warning: `+57300` is not a valid phone number: it is too short")
        for t in texts
    )
    assert "For example: `+573001234567`, or a name from the contacts." in texts


def test_the_tab_finds_only_what_one_may_see(tmp_path: Path) -> None:
    with staged(tmp_path, access={"allowed_users": [OTHER_USER]}) as stage:
        sent(stage.store, 1)
        stage.services.home.look_up(USER, ANA)
        view = json.dumps(stage.slack.home_view(USER))
        assert "Find a customer" not in view and "tx-" not in view
        stage.services.home.look_up(OTHER_USER, ANA)
        assert "1 message sent to and received" in json.dumps(stage.slack.home_view(OTHER_USER))
