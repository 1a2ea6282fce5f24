"""Group sends: the confirmation for many recipients, the progress message, member failures."""

from __future__ import annotations

from collections.abc import Sequence

from bot.blocks.sends import KIND_EMOJI, content_lines, outcome_reply, what
from bot.blocks.text import SlackMessage, button, context, esc, mention, section
from bot.core import ids, statuses
from bot.core.config.model import Sender
from bot.core.records import BatchRecord, MessageKind, SendRecord, SendState, StatusRow

# --- group sends ------------------------------------------------------------------------------

GROUP_PREVIEW = 5
BAR_WIDTH = 10


def group_confirmation(
    batch: BatchRecord, sample: SendRecord, sender: Sender, recipients: Sequence[str]
) -> SlackMessage:
    """The ephemeral question for a group: the count and the first few recipients."""
    kind = MessageKind(sample.kind)
    shown = ", ".join(esc(r) for r in recipients[:GROUP_PREVIEW])
    more = len(recipients) - GROUP_PREVIEW
    if more > 0:
        shown += f" and {more} more"
    summary = [
        f"*Type:* {KIND_EMOJI[kind]} {kind}",
        f"*To:* group *{esc(batch.group_name)}*, {len(recipients)} recipients: {shown}",
        f"*From:* {esc(sender.label)} (+{sender.number})",
        *content_lines(sample),
    ]
    text = (
        f"Send {what(sample)} on WhatsApp to {len(recipients)} recipients "
        f"({esc(batch.group_name)})?"
    )
    return SlackMessage(
        text=text,
        blocks=[
            section(f"*Send {what(sample)} on WhatsApp to {len(recipients)} recipients?*"),
            section("\n".join(summary)),
            {
                "type": "actions",
                "block_id": ids.CONFIRM_BLOCK,
                "elements": [
                    button(f"Send to {len(recipients)}", ids.SEND_GROUP, batch.id, "primary"),
                    button("Cancel", ids.CANCEL_GROUP, batch.id),
                ],
            },
            context(
                "Each recipient gets their own message. Nothing is sent until you click *Send*."
            ),
        ],
    )


def progress_bar(done: int, total: int, width: int = BAR_WIDTH) -> str:
    filled = round(width * done / total) if total else width
    return "▓" * filled + "░" * (width - filled)


def _member_outcome(send: SendRecord) -> str:
    if send.provider_status and statuses.describe(send.provider_status).is_failure:
        return "failed"
    if send.state is SendState.FAILED:
        return "failed"
    if send.state is SendState.UNKNOWN and not send.provider_status:
        return "unknown"
    if send.state in (SendState.SENT, SendState.UNKNOWN):
        return "sent"
    return "pending"


def group_progress(
    batch: BatchRecord, members: Sequence[SendRecord], sender: Sender
) -> SlackMessage:
    """`▓▓▓▓░░░░ 52/120 sent · 2 failed`, then the totals per status."""
    counts = {"sent": 0, "failed": 0, "unknown": 0, "pending": 0}
    by_status: dict[str, int] = {}
    for member in members:
        counts[_member_outcome(member)] += 1
        if member.provider_status:
            by_status[member.provider_status] = by_status.get(member.provider_status, 0) + 1
    total = len(members)
    done = total - counts["pending"]
    line = (
        f"{progress_bar(done, total)} {done}/{total} · {counts['sent']} sent · "
        f"{counts['failed']} failed"
    )
    if counts["unknown"]:
        line += f" · {counts['unknown']} unknown"
    sample = members[0]
    who = mention(batch.user_id) if batch.user_id else "Someone"
    head = (
        f"{KIND_EMOJI[MessageKind(sample.kind)]} {who} is sending {what(sample)} on WhatsApp to "
        f"group *{esc(batch.group_name)}* ({total} recipients) from *{esc(sender.label)}* "
        f"(+{sender.number})"
    )
    if batch.state is SendState.CANCELLED:
        line = "Cancelled; nothing was sent."
    finished = done == total
    state = ":white_check_mark: Done: " if finished else ":outbox_tray: "
    order = sorted(by_status, key=lambda name: (statuses.describe(name).rank, name))
    totals = " · ".join(f"{by_status[name]} {esc(name)}" for name in order)
    parts = [section(head), section(f"{state}`{line}`")]
    if totals:
        parts.append(context(f"Statuses: {totals}"))
    if counts["failed"] or counts["unknown"]:
        parts.append(context("Each failure is explained in the thread."))
    return SlackMessage(
        text=f"{esc(batch.group_name)}: {line}" + (f" · {totals}" if totals else ""), blocks=parts
    )


def member_outcome(send: SendRecord) -> SlackMessage:
    """One member of a group was refused, or its outcome is unknown."""
    message = outcome_reply(send)
    prefix = f"*{esc(send.recipient)}*: "
    blocks_ = [dict(b) for b in message.blocks]
    first = blocks_[0]
    first["text"] = {"type": "mrkdwn", "text": prefix + first["text"]["text"]}
    return SlackMessage(text=f"{esc(send.recipient)}: {message.text}", blocks=blocks_)


def member_failure(send: SendRecord, row: StatusRow) -> SlackMessage:
    info = statuses.describe(row.status)
    detail = f" The provider said: {esc(row.detail)}" if row.detail else ""
    text = f":x: *{esc(send.recipient)}*: *{esc(row.status)}*, {info.meaning}.{detail}"
    return SlackMessage(
        text=f"{esc(send.recipient)}: {esc(row.status)} ({info.meaning})", blocks=[section(text)]
    )
