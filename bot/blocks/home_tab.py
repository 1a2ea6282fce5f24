"""The App Home tab: where the viewer may send, and their recent sends."""

from __future__ import annotations

from collections.abc import Sequence

from bot.blocks.text import Block, context, esc, section, slack_date
from bot.core import statuses
from bot.core.config.model import Sender
from bot.core.records import SendState, SendSummary

# --- App Home --------------------------------------------------------------------------------

MAX_VIEW_BLOCKS = 100


def _send_line(send: SendSummary, sender_label: str) -> str:
    if send.provider_status:
        info = statuses.describe(send.provider_status)
        status = f"{info.emoji} *{esc(info.name)}*"
    else:
        status = {
            SendState.SENDING: ":hourglass_flowing_sand: *sending*",
            SendState.SENT: ":outbox_tray: *accepted*",
            SendState.FAILED: ":x: *not sent*",
            SendState.UNKNOWN: ":warning: *unknown*",
        }.get(send.state, esc(str(send.state)))
    return (
        f"{status} · {slack_date(send.created_at)} · {send.kind} to *{esc(send.recipient)}* "
        f"from {esc(sender_label)}\n`{esc(send.transaction_id or 'no transactionId')}`"
    )


def home(
    *,
    channels: Sequence[tuple[str, Sequence[Sender], bool]],
    anywhere: Sequence[Sender] | None,
    may_send: bool,
    sends: Sequence[tuple[SendSummary, str]],
    total: int,
) -> Block:
    """The Home tab: where the viewer may send and from which numbers, then their sends."""
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
