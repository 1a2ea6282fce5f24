"""The recipient modal's steps: open it for an offer or a shortcut, check it, send once."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from bot import access, blocks, clicks, ids
from bot.config import Sender
from bot.fileshare import GROUP_PREFIX, Refusal, modal_metadata, send_id_from_metadata
from bot.sending import SendRefused
from bot.services import Services
from bot.store import SendRecord, SendState
from bot.whatsapp.payloads import Message, MessageKind

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Choice:
    send_id: str
    recipient: str
    sender: Sender
    user_id: str


def _senders_for(services: Services, send: SendRecord) -> list[Sender]:
    policy = services.config.channels.get(send.channel_id or "")
    aliases = policy.allowed_senders if policy else tuple(services.config.senders)
    return [services.config.senders[a] for a in aliases if a in services.config.senders]


def _modal(services: Services, send: SendRecord) -> dict[str, Any]:
    media = services.store.get_media(send.media_id, with_data=False) if send.media_id else None
    if media is None:
        return blocks.modal_problem("This file is no longer kept; share it again.")
    return blocks.recipient_modal(
        send,
        _senders_for(services, send),
        chosen_sender=send.sender_alias,
        file_name=media.file_name or "file",
        format_name=media.content_type,
        size=media.size,
        metadata=modal_metadata(send.id),
    )


def modal_for_offer(services: Services, body: Mapping[str, Any]) -> dict[str, Any]:
    """The modal for an offer's `Choose recipient…` button."""
    send_id = str((body.get("actions") or [{}])[0].get("value") or "")
    send = services.store.get_send(send_id)
    if send is None or send.state is not SendState.DRAFT:
        return blocks.modal_problem("This file was already sent or cancelled.")
    if send.source != "file" or not access.is_channel_offer(send):
        return blocks.modal_problem("Only a file offered in a channel can be sent from here.")
    try:
        access.check(services.config, channel_id=send.channel_id, user_id=_user(body))
    except SendRefused as exc:
        return blocks.modal_problem(str(exc))
    return _modal(services, send)


def prepare_shortcut(services: Services, body: Mapping[str, Any], view_id: str) -> None:
    """Check the message's file, keep it, and turn the loading modal into the choice."""
    view = _shortcut_view(services, body)
    services.client.views_update(view_id=view_id, view=view)


def _shortcut_view(services: Services, body: Mapping[str, Any]) -> dict[str, Any]:
    message = body.get("message") or {}
    channel = str((body.get("channel") or {}).get("id") or "")
    user = _user(body)
    files = [f for f in message.get("files") or [] if f.get("mode") != "tombstone"]
    if not files:
        return blocks.modal_problem(
            "This message has no file to send.",
            "Use `Send to WhatsApp` on a message with an image, video, audio or PDF.",
        )
    try:
        access.check(services.config, channel_id=channel, user_id=user)
        sender = services.sending.resolve_sender(None, channel)
    except SendRefused as exc:
        return blocks.modal_problem(str(exc))
    policy = services.config.channels.get(channel)
    try:
        draft = services.files.draft_from_file(
            files[0],
            text=str(message.get("text") or ""),
            channel_id=channel,
            user_id=user,
            team_id=(body.get("team") or {}).get("id"),
            thread_ts=str(message.get("thread_ts") or message.get("ts") or ""),
            sender=sender,
            recipient=policy.default_recipient or "" if policy else "",
        )
    except Refusal as refusal:
        return blocks.modal_problem(
            f"{refusal.file_name} can't be sent on WhatsApp: {refusal.reason}", refusal.hint
        )
    return _modal(services, draft.send)


def check_submission(
    services: Services, body: Mapping[str, Any], view: Mapping[str, Any]
) -> tuple[dict[str, str], Choice | None]:
    """Inline errors for the modal, or the checked choice to send."""
    send = services.store.get_send(send_id_from_metadata(str(view.get("private_metadata") or "")))
    if send is None or send.state is not SendState.DRAFT:
        return {}, None  # sent or cancelled meanwhile: just close the modal
    user = _user(body)
    refusal = access.modal_refusal(send, user)
    if refusal is not None:
        logger.warning("Refused a modal submission by %s for send %s", user, send.id)
        return {ids.RECIPIENT_BLOCK: f"Not sent: {refusal.value}."}, None
    values = (view.get("state") or {}).get("values") or {}
    recipient_text = str(
        (values.get(ids.RECIPIENT_BLOCK) or {}).get(ids.RECIPIENT_INPUT, {}).get("value") or ""
    )
    selected = (values.get(ids.SENDER_BLOCK) or {}).get(ids.SENDER_INPUT, {}).get(
        "selected_option"
    ) or {}
    errors, recipient, sender = services.files.check_choice(
        send, recipient_text, str(selected.get("value") or ""), user
    )
    if errors:
        return {block: blocks.plain(error) for block, error in errors.items()}, None
    return {}, Choice(send_id=send.id, recipient=recipient, sender=sender, user_id=user)


def send_choice(services: Services, choice: Choice) -> None:
    if choice.recipient.startswith(GROUP_PREFIX):
        send_to_group(services, choice, choice.recipient.removeprefix(GROUP_PREFIX))
        return
    updated = services.store.update_draft(
        choice.send_id,
        recipient=choice.recipient,
        sender_alias=choice.sender.alias,
        sender_number=choice.sender.number,
    )
    if updated is None:
        return  # a second submission, or a click on the offer, got there first
    if updated.message_ts is not None:
        # the offer in the thread loses its buttons: it becomes the send's record
        services.store.update_send(updated.id, message_status="chosen")
    clicks.send_draft(services.sending, services.renderer, choice.send_id, choice.user_id)


def send_to_group(services: Services, choice: Choice, name: str) -> None:
    """The shared file goes to every member of a group; its offer becomes the progress."""
    single = services.sending.cancel(choice.send_id)
    if single is None:
        return  # a second submission, or a click on the offer, got there first
    template = Message(MessageKind(single.kind), "", single.body, single.caption, single.file_name)
    drafted = services.groups.draft(
        name,
        template,
        sender=choice.sender,
        team_id=single.team_id,
        channel_id=single.channel_id,
        user_id=choice.user_id,
        thread_ts=single.thread_ts,
        media_id=single.media_id,
    )
    if single.message_ts is not None:
        services.store.update_batch(drafted.batch.id, message_ts=single.message_ts)
    if services.groups.confirm(drafted.batch.id) is not None:
        services.groups.deliver_all(drafted.batch.id)


def _user(body: Mapping[str, Any]) -> str:
    return str((body.get("user") or {}).get("id") or "")
