"""The `Reply` button on a customer's message, and its modal's submission.

The click opens the modal once the clicker is known to be allowed; the submission is checked
inline (what is missing or wrong shows under its input), then sent in the background, where
what only the sending can find out (a URL the provider could not fetch) is told to the person
who replied, in the customer's thread.
"""

from __future__ import annotations

import dataclasses
import logging
import secrets
from collections.abc import Callable, Mapping
from typing import Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot import blocks
from bot.blocks import replies as shown
from bot.core import ids
from bot.usecases.replies import Reply, ReplyRefused
from bot.usecases.services import Services
from bot.whatsapp.payloads import PayloadError, check_media_url

logger = logging.getLogger(__name__)

Respond = Callable[..., Any]

GONE = "This customer message can no longer be answered from here."


def _user(body: Mapping[str, Any]) -> str:
    return str((body.get("user") or {}).get("id") or "")


def _refuse(respond: Respond, text: str) -> None:
    respond(
        text=f":no_entry: {blocks.esc(text)}", response_type="ephemeral", replace_original=False
    )


def open_modal(
    services: Services, body: Mapping[str, Any], respond: Respond, client: WebClient
) -> None:
    """`Reply` clicked: the modal for that customer and sender, if the clicker may send."""
    message_id = str((body.get("actions") or [{}])[0].get("value") or "")
    target = services.replies.target(message_id)
    if target is None:
        _refuse(respond, GONE)
        return
    refusal = services.replies.refusal(target, _user(body))
    if refusal is not None:
        _refuse(respond, refusal)
        return
    opted_out = services.replies.opted_out(target)
    if opted_out is not None:
        view = shown.reply_refused_modal(target.message, target.sender, opted_out)
    else:
        view = shown.reply_modal(target.message, target.sender, target.standing.window)
    client.views_open(trigger_id=body["trigger_id"], view=view)


def _value(values: Mapping[str, Any], block_id: str, action_id: str) -> str:
    return str((values.get(block_id) or {}).get(action_id, {}).get("value") or "").strip()


def check_submission(
    services: Services, body: Mapping[str, Any], view: Mapping[str, Any]
) -> tuple[dict[str, str], Reply | None]:
    """Errors under the inputs they are about, or the reply to send (its text still in
    Slack's format)."""
    values = (view.get("state") or {}).get("values") or {}
    text = _value(values, ids.REPLY_TEXT_BLOCK, ids.REPLY_TEXT_INPUT)
    url = _value(values, ids.REPLY_URL_BLOCK, ids.REPLY_URL_INPUT)
    caption = _value(values, ids.REPLY_CAPTION_BLOCK, ids.REPLY_CAPTION_INPUT)
    errors: dict[str, str] = {}
    if not text and not url:
        errors[ids.REPLY_TEXT_BLOCK] = "Write a message, or give a media URL below."
    elif text and url:
        errors[ids.REPLY_URL_BLOCK] = (
            "Send a message or a media URL, not both: clear one of them (a caption can go "
            "with the media)."
        )
    elif url:
        try:
            check_media_url(url)
        except PayloadError as exc:
            errors[ids.REPLY_URL_BLOCK] = str(exc)
    if caption and not url:
        errors[ids.REPLY_CAPTION_BLOCK] = (
            "A caption goes with a media URL; put these words in the message instead."
        )
    if errors:
        return {block: blocks.plain(error) for block, error in errors.items()}, None
    user = _user(body)
    target = services.replies.target(str(view.get("private_metadata") or ""))
    refusal: str | None = GONE
    if target is not None:
        refusal = services.replies.refusal(target, user) or services.replies.opted_out(target)
    if target is None or refusal is not None or target.message.channel_id is None:
        logger.warning("Refused a reply by %s: %s", user, refusal)
        block = ids.REPLY_URL_BLOCK if url else ids.REPLY_TEXT_BLOCK
        return {block: blocks.plain(f"Not sent: {refusal}")}, None
    return {}, Reply(
        message_id=target.message.id,
        # Slack names every view; the token stands in only so a nameless one is never taken
        # for another's second submission.
        view_id=str(view.get("id") or secrets.token_hex(8)),
        user_id=user,
        customer=target.customer,
        channel_id=target.message.channel_id,
        thread_ts=target.message.thread_ts,
        team_id=(body.get("team") or {}).get("id"),
        text=text or None,
        url=url or None,
        caption=caption or None,
    )


def send(services: Services, reply: Reply) -> None:
    """Send a checked reply once; a refusal is told to the person who replied."""
    decoded = dataclasses.replace(
        reply,
        text=_decoded(services, reply.text),
        caption=_decoded(services, reply.caption),
    )
    try:
        services.replies.send(decoded)
    except ReplyRefused as refused:
        logger.warning("A reply by %s was not sent: %s", reply.user_id, refused)
        _tell(services, reply, str(refused))


def _decoded(services: Services, typed: str | None) -> str | None:
    """What was typed as the customer should read it: Slack's markup decoded, as the slash
    command's text is (mentions by name, links as their URL, entities unescaped)."""
    if not typed:
        return None
    return services.names.decode(typed).strip() or None


def _tell(services: Services, reply: Reply, why: str) -> None:
    try:
        services.client.chat_postEphemeral(
            channel=reply.channel_id,
            user=reply.user_id,
            thread_ts=reply.thread_ts,
            **shown.reply_not_sent(reply.customer, why).as_kwargs(),
        )
    except SlackApiError:
        logger.exception("Failed to tell %s that their reply was not sent", reply.user_id)
