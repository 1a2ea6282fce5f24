"""A customer's history: the sends to a number and the messages from it, newest first, each
with its time, sender, type, status, transactionId, who sent it and a link to its thread; as
`/whatsapp history` answers, and under the App Home's "Find a customer"."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from bot.blocks.conversations import RECEIVED_KIND_EMOJI
from bot.blocks.examples import HISTORY_EXAMPLE
from bot.blocks.sends import KIND_EMOJI
from bot.blocks.text import (
    Block,
    SlackMessage,
    clip,
    context,
    esc,
    mention,
    plain,
    section,
    slack_date,
)
from bot.core import ids, statuses
from bot.core.history import Direction, HistoryItem
from bot.core.phones import EXAMPLE_NUMBER
from bot.core.records import MessageKind, SendState

PREVIEW_CHARS = 150
QUERY_CHARS = 100

# A link is only made of a URL that cannot end the link early or carry a label of its own.
_LINK = re.compile(r"https://[^\s<>|]+")
_CHANNEL_ID = re.compile(r"[A-Z0-9]{2,32}")

_STATES = {
    SendState.CONFIRMED: ":hourglass_flowing_sand: *waiting to be sent*",
    SendState.SENDING: ":hourglass_flowing_sand: *sending*",
    SendState.SENT: ":outbox_tray: *accepted*",
    SendState.FAILED: ":x: *not sent*",
    SendState.UNKNOWN: ":warning: *unknown*",
}


def status_label(provider_status: str | None, state: SendState | None) -> str:
    """A send's latest status: the provider's, else what the bot knows of it."""
    if provider_status:
        info = statuses.describe(provider_status)
        return f"{info.emoji} *{esc(info.name)}*"
    if state is None:
        return ""
    return _STATES.get(state, esc(str(state)))


@dataclass(frozen=True)
class ShownItem:
    """One item as listed: its sender's label, and the link to its thread (None when there is
    no thread, or no link could be made)."""

    item: HistoryItem
    sender_label: str
    link: str | None = None


def _where(shown: ShownItem) -> str:
    item = shown.item
    if shown.link and _LINK.fullmatch(shown.link):
        return f"<{shown.link}|open the thread>"
    if item.channel_id and _CHANNEL_ID.fullmatch(item.channel_id):
        return f"in <#{item.channel_id}>"
    if item.direction is Direction.RECEIVED:
        return "not shown in Slack yet"
    return "no thread in Slack"


def _is_kind(kind: str) -> bool:
    return kind in {str(k) for k in MessageKind}


def _preview(item: HistoryItem) -> str | None:
    if not item.text:
        return None
    return ">" + esc(clip(plain(item.text).strip(), PREVIEW_CHARS))


def item_text(shown: ShownItem) -> str:
    """One item's lines (mrkdwn): what, when, from and to whom; its status and transactionId
    (a send's); its thread; what it said, quoted on one line."""
    item = shown.item
    when = slack_date(item.at)
    sender = f"*{esc(shown.sender_label)}*"
    if item.direction is Direction.SENT:
        emoji = KIND_EMOJI.get(MessageKind(item.kind), "") if _is_kind(item.kind) else ""
        who = mention(item.user_id) if item.user_id else "the command line"
        head = f":outbox_tray: *Sent* {when} · {emoji} {esc(item.kind)} · from {sender} by {who}"
        transaction = esc(item.transaction_id or "no transactionId")
        details = [status_label(item.status, item.state), f"`{transaction}`", _where(shown)]
    else:
        emoji = RECEIVED_KIND_EMOJI.get(item.kind, ":speech_balloon:")
        customer = f"*{esc(item.customer_name)}*" if item.customer_name else "the customer"
        head = (
            f":inbox_tray: *Received* {when} · {emoji} {esc(item.kind)} · to {sender} "
            f"from {customer}"
        )
        details = [_where(shown)]
    lines = [head, " · ".join(part for part in details if part)]
    preview = _preview(item)
    if preview:
        lines.append(preview)
    return "\n".join(lines)


def _headline(number: str, label: str | None, count: int) -> str:
    who = f"*{esc(number)}*" + (f" ({esc(label)})" if label else "")
    what = "1 message" if count == 1 else f"{count} messages"
    return f":mag: *History of* {who}: {what} sent to and received from this number, newest first"


def nothing_line(number: str) -> str:
    return f":mag: Nothing sent to or received from *{esc(number)}* that you can see."


SCOPE_NOTE = (
    "You see what was sent or received where you may send with its sender (asked in a "
    "channel: in that channel), and your own sends."
)


def history_blocks(
    number: str, label: str | None, items: Sequence[ShownItem], *, more: bool = False
) -> list[Block]:
    """The headline, one section per item, and what is left out."""
    if not items:
        return [section(nothing_line(number)), context(SCOPE_NOTE)]
    found = [section(_headline(number, label, len(items)))]
    found += [section(item_text(shown)) for shown in items]
    note = f"Only the newest {len(items)} are shown. " if more else ""
    found.append(context(note + SCOPE_NOTE))
    return found


def history_message(
    number: str, label: str | None, items: Sequence[ShownItem], *, more: bool = False
) -> SlackMessage:
    """`/whatsapp history`'s answer, to the person who asked only."""
    blocks = history_blocks(number, label, items, more=more)
    if not items:
        text = f"Nothing sent to or received from {esc(number)} that you can see."
    else:
        text = f"History of {esc(number)}: {len(items)} messages, newest first"
    return SlackMessage(text=text, blocks=blocks)


def find_problem_blocks(message: str) -> list[Block]:
    """A number or name that cannot be looked up, in the Home tab: why, and what works."""
    return [
        section(f":warning: {esc(message)}"),
        context(f"For example: `{EXAMPLE_NUMBER}`, or a name from the contacts."),
    ]


def find_customer(query: str | None, results: Sequence[Block] = ()) -> list[Block]:
    """The App Home's "Find a customer": an input that shows the history of the number or
    contact entered (on Enter), and under it what was found."""
    element: Block = {
        "type": "plain_text_input",
        "action_id": ids.FIND_INPUT,
        "placeholder": {"type": "plain_text", "text": f"{EXAMPLE_NUMBER} or a contact name"},
        "dispatch_action_config": {"trigger_actions_on": ["on_enter_pressed"]},
        "max_length": QUERY_CHARS,
    }
    if query:
        element["initial_value"] = plain(query)[:QUERY_CHARS]
    return [
        {"type": "header", "text": {"type": "plain_text", "text": "Find a customer"}},
        {
            "type": "input",
            "block_id": ids.FIND_BLOCK,
            "dispatch_action": True,
            "optional": True,
            "label": {"type": "plain_text", "text": "Number or contact"},
            "hint": {
                "type": "plain_text",
                "text": "A number or contact's last 20 messages, sent and received, as "
                f"{HISTORY_EXAMPLE} shows them.",
            },
            "element": element,
        },
        *results,
        {"type": "divider"},
    ]
