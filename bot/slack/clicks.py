"""The buttons: `Send` and `Cancel` on a confirmation, `Retry` on an uncertain send.

Each click moves the send by one atomic transition, so a double click, a click replayed by
Slack, or two instances receiving the same click lead to exactly one provider request. A click
on `Send` asks again whether the customer opted out since the confirmation was shown: if so,
nothing is sent.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from bot import blocks
from bot.blocks.conversations import opted_out_line
from bot.core import access
from bot.core.records import BatchRecord, SendRecord, SendState
from bot.usecases.sending import SendRefused

if TYPE_CHECKING:
    from bot.usecases.services import Services

logger = logging.getLogger(__name__)

Respond = Callable[..., Any]


def _action_value(body: Mapping[str, Any]) -> str:
    actions = body.get("actions") or [{}]
    return str(actions[0].get("value") or "")


def _user(body: Mapping[str, Any]) -> str:
    return str((body.get("user") or {}).get("id") or "")


def _refuse(respond: Respond, text: str) -> None:
    """An ephemeral note (mrkdwn) to the clicker that leaves the message they clicked as it is."""
    respond(text=f":no_entry: {text}", response_type="ephemeral", replace_original=False)


def _close(respond: Respond, text: str) -> None:
    respond(replace_original=True, **blocks.confirmation_closed(text).as_kwargs())


def _clickable_draft(
    services: Services, body: Mapping[str, Any], respond: Respond
) -> SendRecord | None:
    """The clicked send, if the clicker may act on it; otherwise say why and return None.

    A confirmation is its asker's alone; an offer on a shared file is anyone's who may send in
    that channel.
    """
    service = services.sending
    send = service.get(_action_value(body))
    if send is None:
        _close(respond, "This confirmation has expired; nothing was sent.")
        return None
    user = _user(body)
    refusal = access.draft_refusal(send, user)
    if refusal is access.DraftRefusal.GROUP_MEMBER:
        _refuse(respond, "This message is part of a group send; use the group's confirmation.")
        return None
    if refusal is access.DraftRefusal.NOT_THE_ASKER:
        _refuse(respond, f"Only {_who(send.user_id)}, who asked for this send, can confirm it.")
        return None
    if not _may_send(services, respond, user, send.channel_id, send.sender_alias):
        return None
    return send


def _may_send(
    services: Services,
    respond: Respond,
    user: str,
    channel_id: str | None,
    sender_alias: str | None,
) -> bool:
    """Whether `user` may send in the channel with the sender (if any); if not, say why."""
    try:
        access.check(services.config, channel_id=channel_id, user_id=user)
        if sender_alias is not None:
            services.sending.resolve_sender(sender_alias, channel_id)
    except SendRefused as exc:
        _refuse(respond, blocks.esc(str(exc)))
        return False
    return True


def _who(user_id: str | None) -> str:
    return blocks.mention(user_id) if user_id else "the person who asked"


def _already(send: SendRecord) -> str:
    if send.state is SendState.CANCELLED:
        return "This send was cancelled; nothing was sent."
    return "This was already confirmed; it is sent only once. Its record is in the channel."


def _opted_out(services: Services, send: SendRecord) -> str | None:
    """Why the send's customer gets nothing from its sender now (plain words), if they opted
    out."""
    if not send.recipient:
        return None
    standing = services.conversations.standing(send.sender_alias, send.recipient)
    if standing.opted_out is None:
        return None
    return opted_out_line(standing.opted_out, services.sending.sender_of(send))


def on_send(services: Services, body: Mapping[str, Any], respond: Respond) -> None:
    send = _clickable_draft(services, body, respond)
    if send is None:
        return
    refusal = _opted_out(services, send)
    if refusal is not None:
        _refuse_opted_out(services, send, refusal, respond)
        return
    if send.source != "slash":
        services.deliveries.send_draft(send.id, _user(body))
        return
    if services.sending.confirm(send.id) is None:
        current = services.sending.get(send.id) or send
        _close(respond, _already(current))
        return
    services.deliveries.deliver(
        send.id,
        before_call=lambda _: _close(
            respond, f":outbox_tray: Sending to {blocks.esc(send.recipient)}…"
        ),
    )
    final = services.sending.get(send.id) or send
    _close(respond, _done_text(final))


def _refuse_opted_out(services: Services, send: SendRecord, refusal: str, respond: Respond) -> None:
    """A slash command's draft is cancelled and its confirmation says why; a shared file's
    offer stays, for another recipient to be chosen."""
    text = f"Not sent: {blocks.esc(refusal)}"
    if send.source != "slash":
        _refuse(respond, text)
        return
    if services.sending.cancel(send.id) is None:
        current = services.sending.get(send.id) or send
        _close(respond, _already(current))
        return
    _close(respond, f":no_entry: {text}")


def _done_text(send: SendRecord) -> str:
    if send.state is SendState.SENT:
        return (
            f":white_check_mark: Sent to {blocks.esc(send.recipient)}. transactionId "
            f"`{blocks.esc(send.transaction_id or '')}`; statuses follow in the record's thread."
        )
    if send.state is SendState.UNKNOWN:
        return ":warning: Not sure whether it was sent; see the record's thread."
    if send.state is SendState.CONFIRMED:  # handed back: the app stopped before sending it
        return (
            f":hourglass_flowing_sand: Not sent yet: {blocks.esc(send.error or 'waiting')}. "
            "It is sent once; its record in the channel shows when."
        )
    return f":x: Not sent: {blocks.esc(send.error or 'no reason given')}. See the record's thread."


def on_cancel(services: Services, body: Mapping[str, Any], respond: Respond) -> None:
    send = _clickable_draft(services, body, respond)
    if send is None:
        return
    if services.sending.cancel(send.id) is None:
        current = services.sending.get(send.id) or send
        _close(respond, _already(current))
        return
    if send.source == "slash":
        _close(respond, ":wastebasket: Cancelled; nothing was sent.")
    else:
        name = send.file_name or f"the {send.kind}"
        respond(replace_original=True, **blocks.offer_cancelled(name, _user(body)).as_kwargs())


def on_retry(services: Services, body: Mapping[str, Any], respond: Respond) -> None:
    """Send an uncertain message once more, because a person decided to."""
    service = services.sending
    send = service.get(_action_value(body))
    user = _user(body)
    if send is None:
        _refuse(respond, "This send no longer exists.")
        return
    if not _may_send(services, respond, user, send.channel_id, send.sender_alias):
        return
    retried = service.retry(send.id)
    if retried is None:
        _refuse(respond, "This send was already retried or has a result; it is not sent again.")
        return
    _close(respond, f":repeat: {blocks.mention(user)} chose to send it again.")
    services.deliveries.deliver(send.id)


def on_send_group(services: Services, body: Mapping[str, Any], respond: Respond) -> None:
    batch = _owned_batch(services, body, respond)
    if batch is None:
        return
    if services.groups.confirm(batch.id) is None:
        current = services.groups.get(batch.id) or batch
        _close(respond, _already_batch(current))
        return
    members = services.groups.sends(batch.id)
    going = sum(m.state is SendState.CONFIRMED for m in members)
    skipped = sum(m.state is SendState.CANCELLED for m in members)
    whom = f"{going} recipient" + ("" if going == 1 else "s")
    also = f" ({skipped} skipped: opted out)" if skipped else ""
    _close(respond, f":outbox_tray: Sending to {whom}{also}; progress in the channel…")
    services.groups.deliver_all(batch.id)
    final = services.groups.get(batch.id)
    _close(respond, f":white_check_mark: {final.shown if final and final.shown else 'Done.'}")


def on_cancel_group(services: Services, body: Mapping[str, Any], respond: Respond) -> None:
    batch = _owned_batch(services, body, respond)
    if batch is None:
        return
    if services.groups.cancel(batch.id) is None:
        current = services.groups.get(batch.id) or batch
        _close(respond, _already_batch(current))
        return
    _close(respond, ":wastebasket: Cancelled; nothing was sent.")


def _owned_batch(
    services: Services, body: Mapping[str, Any], respond: Respond
) -> BatchRecord | None:
    batch = services.groups.get(_action_value(body))
    if batch is None:
        _close(respond, "This confirmation has expired; nothing was sent.")
        return None
    user = _user(body)
    if batch.user_id != user:
        _refuse(respond, f"Only {_who(batch.user_id)}, who asked for this send, can confirm it.")
        return None
    members = services.groups.sends(batch.id)
    sender = members[0].sender_alias if members else None
    if not _may_send(services, respond, user, batch.channel_id, sender):
        return None
    return batch


def _already_batch(batch: BatchRecord) -> str:
    if batch.state is SendState.CANCELLED:
        return "This group send was cancelled; nothing was sent."
    return "This group send was already confirmed; each recipient gets one message."
