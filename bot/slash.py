"""`/whatsapp`: from the command's text to the ephemeral answer (help, a problem, or the
confirmation of a draft)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from bot import access, blocks, commands
from bot.commands import EXAMPLES, STATUS_EXAMPLE, CommandError, SendRequest
from bot.sending import SendRefused, SendService
from bot.whatsapp.payloads import Message, PayloadError


def handle(service: SendService, command: Mapping[str, Any]) -> blocks.SlackMessage:
    """The ephemeral answer to one slash command."""
    channel_id = command.get("channel_id")
    user_id = command.get("user_id")
    try:
        parsed = commands.parse(str(command.get("text") or ""))
    except CommandError as exc:
        return blocks.problem(str(exc), exc.example)
    if isinstance(parsed, commands.HelpRequest):
        return blocks.help_message()
    try:
        access.check(service.config, channel_id=channel_id, user_id=user_id)
    except SendRefused as exc:
        return blocks.problem(str(exc))
    if isinstance(parsed, commands.StatusRequest):
        return status(service, parsed.transaction_id)
    return draft(service, parsed, command)


def status(service: SendService, transaction_id: str) -> blocks.SlackMessage:
    store = service.store
    send = store.find_by_transaction_id(transaction_id) or store.get_send(transaction_id)
    if send is None:
        return blocks.problem(
            f"No send has the transactionId `{transaction_id}`. Copy it from a send's thread.",
            STATUS_EXAMPLE,
        )
    sender = service.sender_of(send)
    return blocks.status_lookup(send, sender, store.timeline(send.id))


def draft(
    service: SendService, request: SendRequest, command: Mapping[str, Any]
) -> blocks.SlackMessage:
    example = EXAMPLES[request.kind]
    try:
        sender = service.resolve_sender(request.sender_alias, command.get("channel_id"))
        recipient = service.resolve_recipient(request.recipient)
        message = Message(
            kind=request.kind,
            to=recipient,
            body=request.body,
            caption=request.caption,
            file_name=request.file_name,
        )
        send = service.create_draft(
            message,
            sender=sender,
            source="slash",
            team_id=command.get("team_id"),
            channel_id=command.get("channel_id"),
            user_id=command.get("user_id"),
        )
    except SendRefused as exc:
        return blocks.problem(str(exc), f"{example} from:{service.config.default_sender}")
    except PayloadError as exc:
        return blocks.problem(str(exc), example)
    label = request.recipient if request.recipient in service.config.contacts else None
    return blocks.confirmation(send, sender, recipient_label=label)
