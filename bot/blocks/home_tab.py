"""The App Home tab: where the viewer may send, the conversations waiting for a reply, "Find a
customer", and the viewer's recent sends."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from bot.blocks.conversations import customer_line
from bot.blocks.history import status_label
from bot.blocks.text import Block, context, esc, section, slack_date
from bot.core.config.model import Sender
from bot.core.records import ConversationRecord, SendSummary
from bot.core.window import Window, time_left

# --- App Home --------------------------------------------------------------------------------

MAX_VIEW_BLOCKS = 100


def _send_line(send: SendSummary, sender_label: str) -> str:
    status = status_label(send.provider_status, send.state)
    return (
        f"{status} · {slack_date(send.created_at)} · {send.kind} to *{esc(send.recipient)}* "
        f"from {esc(sender_label)}\n`{esc(send.transaction_id or 'no transactionId')}`"
    )


@dataclass(frozen=True)
class WaitingReply:
    """A conversation whose customer waits for a reply, as the Home tab lists it: `link` opens
    its thread (None when it cannot be made)."""

    conversation: ConversationRecord
    sender: Sender
    window: Window
    link: str | None = None


def _waiting_line(item: WaitingReply) -> str:
    conversation = item.conversation
    who = customer_line(conversation.customer, conversation.customer_name)
    icon = ":large_green_circle:" if item.window.open else ":warning:"
    notes = []
    if conversation.last_customer_at is not None:
        notes.append(f"wrote {slack_date(conversation.last_customer_at)}")
    notes.append(f"{icon} {time_left(item.window)}")
    if item.link:
        notes.append(f"<{item.link}|open the thread>")
    elif conversation.channel_id:
        notes.append(f"in <#{conversation.channel_id}>")
    return f":hourglass: {who} to *{esc(item.sender.label)}*\n" + " · ".join(notes)


def _waiting_blocks(waiting: Sequence[WaitingReply], more: bool) -> list[Block]:
    found: list[Block] = [
        {"type": "header", "text": {"type": "plain_text", "text": "Waiting for a reply"}}
    ]
    found += [section(_waiting_line(item)) for item in waiting]
    if more:
        found.append(context(f"Only the newest {len(waiting)} are shown."))
    elif not waiting:
        found.append(context("No customer is waiting for a reply."))
    found.append({"type": "divider"})
    return found


def home(
    *,
    channels: Sequence[tuple[str, Sequence[Sender], bool]],
    anywhere: Sequence[Sender] | None,
    may_send: bool,
    sends: Sequence[tuple[SendSummary, str]],
    total: int,
    waiting: Sequence[WaitingReply] | None = None,
    more_waiting: bool = False,
    find: Sequence[Block] = (),
) -> Block:
    """The Home tab: where the viewer may send and from which numbers, the conversations
    waiting for a reply in those channels (newest first; None leaves the list out), "Find a
    customer" (`find`, the blocks of `history.find_customer`), then the viewer's sends."""
    where: list[str] = []
    if not may_send:
        where.append("You are not on the list of people who may send; ask an admin to add you.")
    elif anywhere is not None:
        names = ", ".join(f"{esc(s.label)} (+{s.number})" for s in anywhere)
        where.append(f"Any channel: {names}")
    for channel_id, senders, file_shares in channels if may_send else ():
        names = ", ".join(f"{esc(s.label)} (+{s.number})" for s in senders)
        extra = " · :paperclip: shared files are offered" if file_shares else ""
        where.append(f"<#{channel_id}>: {names}{extra}")
    view_blocks: list[Block] = [
        {"type": "header", "text": {"type": "plain_text", "text": "WhatsApp sends"}},
        section("*Where you can send*\n" + ("\n".join(where) or "No channel is set up yet.")),
        {"type": "divider"},
        *(_waiting_blocks(waiting, more_waiting) if waiting is not None else []),
        *find,
        {"type": "header", "text": {"type": "plain_text", "text": "Your recent sends"}},
    ]
    room = MAX_VIEW_BLOCKS - len(view_blocks) - 1
    for send, label in list(sends)[:room]:
        view_blocks.append(section(_send_line(send, label)))
    shown = min(len(sends), room)
    if total > shown:
        view_blocks.append(
            context(
                f"…and {total - shown} more. `/whatsapp status <transactionId>` shows any of them."
            )
        )
    elif not sends:
        view_blocks.append(context("Nothing sent yet. Try `/whatsapp help` in a channel."))
    return {"type": "home", "blocks": view_blocks}
