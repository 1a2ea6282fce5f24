from __future__ import annotations

from bot.core.config import ConversationsConfig
from tests.conftest import config_dict, make_config
from tests.test_config import problems_of


def test_conversations_keys_have_the_spec_defaults() -> None:
    config = make_config()
    assert config.conversations == ConversationsConfig()
    assert config.conversations.thread_idle_hours == 72
    assert "STOP" in config.conversations.opt_out_words
    assert config.conversations.window_hours == 24


def test_conversations_keys_are_read() -> None:
    config = make_config(
        conversations={
            "thread_idle_hours": 12,
            "opt_out_words": ["Halt"],
            "opt_in_words": ["resume"],
            "window_hours": 20,
        }
    )
    words = config.conversations
    assert words.thread_idle_hours == 12 and words.window_hours == 20
    assert words.is_opt_out("  halt! ") and not words.is_opt_out("STOP")
    assert words.is_opt_in("RESUME") and not words.is_opt_in("please resume")


def test_opt_out_is_the_whole_message_in_any_case() -> None:
    words = ConversationsConfig()
    assert words.is_opt_out("stop") and words.is_opt_out("Baja.")
    assert not words.is_opt_out("please stop sending") and not words.is_opt_out("")


def test_bad_conversations_keys_are_named_with_a_fix() -> None:
    found = problems_of(
        config_dict(
            conversations={
                "thread_idle_hours": "soon",
                "opt_out_words": "STOP",
                "opt_in_words": ["stop"],
                "colour": 1,
            }
        )
    )
    assert "number" in found["conversations.thread_idle_hours"]
    assert "list of words" in found["conversations.opt_out_words"]
    assert "unknown key" in found["conversations.colour"]
    found = problems_of(config_dict(conversations={"opt_in_words": ["stop"]}))
    assert "also an opt-out word" in found["conversations.opt_in_words"]


def test_inbox_channel_defaults_to_the_first_channel_of_the_sender() -> None:
    config = make_config()
    assert config.inbox_channel("support") == "C0123SUPPORT"
    assert config.inbox_channel("sales") == "C0SALES"
    data = config_dict()
    data["senders"]["sales"]["inbox_channel"] = "C0123SUPPORT"
    assert make_config(**data).inbox_channel("sales") == "C0123SUPPORT"


def test_inbox_channel_must_be_a_channel_where_the_sender_may_be_used() -> None:
    data = config_dict()
    data["senders"]["support"]["inbox_channel"] = "C0NOWHERE"
    data["senders"]["sales"]["inbox_channel"] = "C0123SUPPORT"
    data["channels"]["C0123SUPPORT"]["allowed_senders"] = ["support"]
    found = problems_of(data)
    assert "not configured under `channels`" in found["senders.support.inbox_channel"]
    assert "may not be used in `C0123SUPPORT`" in found["senders.sales.inbox_channel"]
