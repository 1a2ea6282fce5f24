"""`/whatsapp`: from the command's text to the ephemeral answer (help, a problem, a lookup, or
the confirmation of a draft)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from bot import blocks
from bot.blocks.conversations import opt_out_list, opted_out_line
from bot.blocks.examples import EXAMPLES, OPTOUTS_EXAMPLE, STATUS_EXAMPLE
from bot.core import access
from bot.media import remote
from bot.media.checks import MediaKind
from bot.media.remote import MediaUrlRefused, RemoteMedia
from bot.slack import commands, history
from bot.slack.commands import (
    UNKNOWN_KIND,
    CommandError,
    SendRequest,
    place_rest,
)
from bot.usecases.groups import EveryoneOptedOut
from bot.usecases.sending import SendRefused, SendService
from bot.usecases.services import Services
from bot.whatsapp.payloads import Message, MessageKind, PayloadError


def handle(services: Services, command: Mapping[str, Any]) -> blocks.SlackMessage:
    """The ephemeral answer to one slash command."""
    service = services.sending
    channel_id = command.get("channel_id")
    user_id = command.get("user_id")
    try:
        parsed = commands.parse(str(command.get("text") or ""), decode=services.names.decode)
    except CommandError as exc:
        return blocks.problem(str(exc), exc.example)
    if isinstance(parsed, commands.HelpRequest):
        return blocks.help_message()
    try:
        access.check(service.config, channel_id=channel_id, user_id=user_id)
    except SendRefused as exc:
        return blocks.problem(str(exc))
    if isinstance(parsed, commands.StatusRequest):
        return status(service, parsed.transaction_id, channel_id=channel_id, user_id=user_id)
    if isinstance(parsed, commands.HistoryRequest):
        return history.answer(services, parsed, user_id=user_id, channel_id=channel_id)
    if isinstance(parsed, commands.OptOutsRequest):
        return opt_outs(services, parsed, channel_id)
    return draft(services, parsed, command)


def opt_outs(
    services: Services, request: commands.OptOutsRequest, channel_id: str | None
) -> blocks.SlackMessage:
    """The do-not-send lists of the senders allowed in the channel, or of the one named."""
    try:
        if request.sender_alias is None:
            senders = services.conversations.senders_in(channel_id)
        else:
            senders = [services.sending.resolve_sender(request.sender_alias, channel_id)]
    except SendRefused as exc:
        return blocks.problem(str(exc), OPTOUTS_EXAMPLE)
    return opt_out_list(senders, services.conversations.opt_outs(senders))


def status(
    service: SendService, transaction_id: str, *, channel_id: str | None, user_id: str | None
) -> blocks.SlackMessage:
    send = service.find(transaction_id)
    if send is None:
        return blocks.problem(
            f"No send has the transactionId `{transaction_id}`. Copy it from a send's thread.",
            STATUS_EXAMPLE,
        )
    if not access.may_see(send, channel_id=channel_id, user_id=user_id):
        return blocks.problem(
            "I can't show that send here: it was made in another channel. Ask in the channel "
            "it was sent from, or ask the person who sent it."
        )
    sender = service.sender_of(send)
    return blocks.status_lookup(send, sender, service.timeline(send.id))


def draft(
    services: Services, request: SendRequest, command: Mapping[str, Any]
) -> blocks.SlackMessage:
    service = services.sending
    example = EXAMPLES[request.kind or MessageKind.IMAGE]
    group = services.groups.members(request.recipient)
    try:
        sender = service.resolve_sender(request.sender_alias, command.get("channel_id"))
        recipient = "" if group else service.resolve_recipient(request.recipient)
        standing = None
        if not group:
            standing = services.conversations.standing(sender.alias, recipient)
            if standing.opted_out is not None:  # refused before any draft exists
                return blocks.problem(opted_out_line(standing.opted_out, sender))
        kind, checked = request.kind, None
        if kind is not MessageKind.TEXT:
            checked = _check_url(service, request)
            kind = kind or (MessageKind(str(checked.kind)) if checked.kind else None)
        if kind is None:
            return blocks.problem(
                UNKNOWN_KIND.format(url=request.body), EXAMPLES[MessageKind.DOCUMENT]
            )
        caption, file_name = request.caption, request.file_name
        if request.kind is None and request.rest:
            caption, file_name = place_rest(kind, request.rest)
        message = Message(
            kind=kind, to=recipient, body=request.body, caption=caption, file_name=file_name
        )
        where = {
            "team_id": command.get("team_id"),
            "channel_id": command.get("channel_id"),
            "user_id": command.get("user_id"),
        }
        if group:
            drafted = services.groups.draft(request.recipient, message, sender=sender, **where)
            return blocks.group_confirmation(
                drafted.batch,
                drafted.members[0],
                sender,
                drafted.standing.recipients,
                windows=list(drafted.standing.windows.values()),
                opted_out=drafted.standing.opted_out,
            )
        send = service.create_draft(message, sender=sender, source="slash", **where)
    except EveryoneOptedOut as exc:
        return blocks.problem(str(exc))
    except SendRefused as exc:
        return blocks.problem(str(exc), f"{example} from:{service.config.default_sender}")
    except (PayloadError, CommandError) as exc:
        return blocks.problem(str(exc), getattr(exc, "example", example))
    except MediaUrlRefused as exc:
        return blocks.problem(f"{exc.reason} {exc.hint}".strip(), example)
    label = request.recipient if request.recipient in service.config.contacts else None
    assert standing is not None
    return blocks.confirmation(
        send, sender, window=standing.window, recipient_label=label, checked=checked
    )


def _check_url(service: SendService, request: SendRequest) -> RemoteMedia:
    """Ask the URL what it serves, as the provider will fetch it (no redirects, under 5 MB)."""
    expected = MediaKind(str(request.kind)) if request.kind else None
    return remote.check_url(
        request.body,
        expected_kind=expected,
        allow_private_hosts=service.config.media.allow_private_hosts,
    )
