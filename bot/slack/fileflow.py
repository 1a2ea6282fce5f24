"""The recipient modal's steps: open it for an offer or a shortcut, check it, send once.

A choice WhatsApp may refuse (a recipient outside its window, or a group with members outside
it or skipped because they opted out) is not sent at once: the modal is updated to say so, with
`Send anyway`; submitting that sends. A recipient who opted out is an error under the input.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from bot import blocks
from bot.blocks.files import send_anyway_modal
from bot.core import access, ids
from bot.core.config import Sender
from bot.core.records import SendRecord, SendState
from bot.usecases.delivery import Choice
from bot.usecases.fileshare import Refusal, modal_metadata, read_metadata
from bot.usecases.sending import SendRefused
from bot.usecases.services import Services

logger = logging.getLogger(__name__)


def _senders_for(services: Services, send: SendRecord) -> list[Sender]:
    policy = services.config.channels.get(send.channel_id or "")
    aliases = policy.allowed_senders if policy else tuple(services.config.senders)
    return [services.config.senders[a] for a in aliases if a in services.config.senders]


def _modal(services: Services, send: SendRecord) -> dict[str, Any]:
    media = services.files.kept_media(send)
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
    send = services.sending.get(send_id)
    if send is None or send.state is not SendState.DRAFT:
        return blocks.modal_problem("This file was already sent or cancelled.")
    if not access.is_channel_offer(send):
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
            source=access.SHORTCUT_FILE,
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


@dataclass(frozen=True)
class Answer:
    """The answer to a modal's submission: inline errors, a view to show instead (`update`),
    or nothing but closing it, with the choice to send if any."""

    errors: dict[str, str] = field(default_factory=dict)
    view: dict[str, Any] | None = None
    choice: Choice | None = None


def answer_submission(
    services: Services, body: Mapping[str, Any], view: Mapping[str, Any]
) -> Answer:
    """What the modal's submission gets: errors, `Send anyway` first, or the choice to send."""
    metadata = read_metadata(str(view.get("private_metadata") or ""))
    anyway = "recipient" in metadata  # the `Send anyway` view: the choice was made before
    errors, choice = check_submission(services, body, view)
    if errors:
        if anyway:  # no input to show them under: the reason in the modal
            return Answer(view=blocks.modal_problem("Not sent: " + " ".join(errors.values())))
        return Answer(errors=errors)
    if choice is None or anyway:
        return Answer(choice=choice)
    standing = services.files.choice_standing(choice.recipient, choice.sender)
    if standing.all_open and not standing.opted_out:
        return Answer(choice=choice)
    send = services.sending.get(choice.send_id)
    media = services.files.kept_media(send) if send is not None else None
    if media is None:
        return Answer(choice=choice)
    typed = standing.group or choice.recipient
    return Answer(
        view=send_anyway_modal(
            choice.sender,
            to=choice.recipient,
            windows=standing.windows,
            opted_out=standing.opted_out,
            group=standing.group,
            file_name=media.file_name or "file",
            format_name=media.content_type,
            size=media.size,
            metadata=modal_metadata(choice.send_id, recipient=typed, sender=choice.sender.alias),
        )
    )


def check_submission(
    services: Services, body: Mapping[str, Any], view: Mapping[str, Any]
) -> tuple[dict[str, str], Choice | None]:
    """Inline errors for the modal, or the checked choice to send. A recipient who opted out
    (or a group whose members all did) is an error."""
    metadata = read_metadata(str(view.get("private_metadata") or ""))
    send = services.sending.get(metadata.get("send_id", ""))
    if send is None or send.state is not SendState.DRAFT:
        return {}, None  # sent or cancelled meanwhile: just close the modal
    user = _user(body)
    refusal = access.modal_refusal(send, user)
    if refusal is not None:
        logger.warning("Refused a modal submission by %s for send %s", user, send.id)
        return {ids.RECIPIENT_BLOCK: f"Not sent: {refusal.value}."}, None
    if "recipient" in metadata:  # `Send anyway`: the choice made before, checked again
        recipient_text, sender_alias = metadata["recipient"], metadata.get("sender", "")
    else:
        values = (view.get("state") or {}).get("values") or {}
        recipient_text = str(
            (values.get(ids.RECIPIENT_BLOCK) or {}).get(ids.RECIPIENT_INPUT, {}).get("value") or ""
        )
        selected = (values.get(ids.SENDER_BLOCK) or {}).get(ids.SENDER_INPUT, {}).get(
            "selected_option"
        ) or {}
        sender_alias = str(selected.get("value") or "")
    errors, recipient, sender = services.files.check_choice(
        send, recipient_text, sender_alias, user
    )
    if not errors:
        standing = services.files.choice_standing(recipient, sender)
        opted_out = services.files.opted_out_error(standing, sender)
        if opted_out is not None:
            errors[ids.RECIPIENT_BLOCK] = _short(opted_out)
    if errors:
        return {block: blocks.plain(error) for block, error in errors.items()}, None
    return {}, Choice(send_id=send.id, recipient=recipient, sender=sender, user_id=user)


def _short(text: str) -> str:
    """Slack shows at most 150 characters under an input."""
    return text if len(text) <= 150 else text[:149] + "…"


def _user(body: Mapping[str, Any]) -> str:
    return str((body.get("user") or {}).get("id") or "")
