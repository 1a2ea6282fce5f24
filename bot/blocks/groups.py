"""Group sends: the confirmation for many recipients, the progress message, member failures."""

from __future__ import annotations

from collections.abc import Sequence

from bot.blocks.conversations import window_line
from bot.blocks.sends import KIND_EMOJI, content_lines, outcome_reply, what
from bot.blocks.text import SlackMessage, button, context, esc, mention, section
from bot.core import ids, statuses
from bot.core.config.model import Sender
from bot.core.records import (
    BatchRecord,
    ConversationRecord,
    MessageKind,
    SendRecord,
    SendState,
    StatusRow,
)
from bot.core.window import Window

# --- group sends ------------------------------------------------------------------------------

GROUP_PREVIEW = 5
BAR_WIDTH = 10


def _numbers(numbers: Sequence[str]) -> str:
    shown = ", ".join(esc(n) for n in numbers[:GROUP_PREVIEW])
    more = len(numbers) - GROUP_PREVIEW
    return shown + (f" and {more} more" if more > 0 else "")


def group_window_line(windows: Sequence[Window]) -> str:
    """WhatsApp's window over a group's recipients (mrkdwn): how many are outside it."""
    if not windows:
        return ""
    closed = [w for w in windows if not w.open]
    if closed:
        hours = f"{closed[0].hours:g} h"
        return (
            f":warning: *WhatsApp window:* {len(closed)} of {len(windows)} recipients have not "
            f"written in the last {hours}: WhatsApp may refuse a free-form message to them, and "
            "only a late status would say so"
        )
    soonest = min(windows, key=lambda w: w.left)
    if len(windows) == 1:
        return window_line(soonest)
    return (
        f":large_green_circle: *WhatsApp window:* open for all {len(windows)} recipients; the "
        f"first of their windows is {esc(soonest.line())}"
    )


def skipped_line(opted_out: Sequence[ConversationRecord]) -> str:
    """The members a group send leaves out because they opted out (mrkdwn)."""
    numbers = [c.customer for c in opted_out]
    return (
        f":no_entry: {len(numbers)} skipped: opted out ({_numbers(numbers)}); nothing is sent "
        "to them"
    )


def group_label(windows: Sequence[Window]) -> str:
    """The button that sends to a group: `Send anyway` if anyone is outside the window."""
    verb = "Send" if all(w.open for w in windows) else "Send anyway"
    return f"{verb} to {len(windows)}"


def group_confirmation(
    batch: BatchRecord,
    sample: SendRecord,
    sender: Sender,
    recipients: Sequence[str],
    *,
    windows: Sequence[Window],
    opted_out: Sequence[ConversationRecord] = (),
) -> SlackMessage:
    """The ephemeral question for a group: the count and the first few recipients (the ones
    to be sent to, each with its window in `windows`), those skipped because they opted out."""
    kind = MessageKind(sample.kind)
    summary = [
        f"*Type:* {KIND_EMOJI[kind]} {kind}",
        f"*To:* group *{esc(batch.group_name)}*, {len(recipients)} recipients: "
        + _numbers(recipients),
        f"*From:* {esc(sender.label)} (+{sender.number})",
        *content_lines(sample),
        group_window_line(windows),
    ]
    if opted_out:
        summary.append(skipped_line(opted_out))
    label = group_label(windows)
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
                    button(label, ids.SEND_GROUP, batch.id, "primary"),
                    button("Cancel", ids.CANCEL_GROUP, batch.id),
                ],
            },
            context(
                f"Each recipient gets their own message. Nothing is sent until you click *{label}*."
            ),
        ],
    )


def progress_bar(done: int, total: int, width: int = BAR_WIDTH) -> str:
    filled = round(width * done / total) if total else width
    return "▓" * filled + "░" * (width - filled)


def _member_outcome(send: SendRecord, batch: BatchRecord) -> str:
    if send.state is SendState.CANCELLED and batch.state is not SendState.CANCELLED:
        return "skipped"  # one member cancelled alone: it opted out
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
    counts = {"sent": 0, "failed": 0, "unknown": 0, "pending": 0, "skipped": 0}
    by_status: dict[str, int] = {}
    for member in members:
        counts[_member_outcome(member, batch)] += 1
        if member.provider_status:
            by_status[member.provider_status] = by_status.get(member.provider_status, 0) + 1
    total = len(members) - counts["skipped"]
    done = total - counts["pending"]
    line = (
        f"{progress_bar(done, total)} {done}/{total} · {counts['sent']} sent · "
        f"{counts['failed']} failed"
    )
    if counts["unknown"]:
        line += f" · {counts['unknown']} unknown"
    if counts["skipped"]:
        line += f" · {counts['skipped']} skipped: opted out"
    sample = members[0]
    who = mention(batch.user_id) if batch.user_id else "Someone"
    head = (
        f"{KIND_EMOJI[MessageKind(sample.kind)]} {who} is sending {what(sample)} on WhatsApp to "
        f"group *{esc(batch.group_name)}* ({total} recipient{'' if total == 1 else 's'}) from "
        f"*{esc(sender.label)}* (+{sender.number})"
    )
    if batch.state is SendState.CANCELLED:
        line = "Cancelled; nothing was sent."
    finished = done == total
    state = ":white_check_mark: Done: " if finished else ":outbox_tray: "
    order = sorted(by_status, key=lambda name: (statuses.describe(name).rank, name))
    totals = " · ".join(f"{by_status[name]} {esc(name)}" for name in order)
    parts = [section(head), section(f"{state}`{line}`")]
    skipped = [m.recipient for m in members if _member_outcome(m, batch) == "skipped"]
    if skipped:
        parts.append(context(f":no_entry: Skipped, opted out: {_numbers(skipped)}"))
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
