"""Replies from Slack: a customer's message answered through its `Reply` button's modal.

Submitting the modal is the confirmation: the reply becomes a send like any other (drafted,
confirmed once, delivered by `Deliveries`), recorded in the customer's thread with its
transactionId and statuses. The send's `origin` is the modal's view id, so a view submitted
twice, or delivered again by Slack, makes one send and one provider request.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

from bot.blocks.conversations import opted_out_line
from bot.core import access, phones
from bot.core.config import Config, Sender
from bot.core.errors import SendRefused
from bot.core.records import InboundRecord, SendRecord
from bot.media import remote
from bot.media.refusals import MediaUrlRefused
from bot.media.remote import RemoteMedia
from bot.store import Store
from bot.usecases.conversations import Conversations, Standing
from bot.usecases.delivery import Deliveries
from bot.usecases.sending import SendService
from bot.whatsapp.payloads import Message, MessageKind, PayloadError

logger = logging.getLogger(__name__)

SOURCE = "reply"
ORIGIN_PREFIX = "reply:"

CheckUrl = Callable[[str], RemoteMedia]


@dataclass(frozen=True)
class ReplyTarget:
    """The customer's message a reply answers: from which sender, and the customer's standing
    (WhatsApp's window, an opt-out)."""

    message: InboundRecord
    sender: Sender
    standing: Standing

    @property
    def customer(self) -> str:
        return self.message.customer


@dataclass(frozen=True)
class Reply:
    """One submission of the modal: a message, or a media URL with an optional caption, as the
    customer should read them (Slack's markup already decoded)."""

    message_id: str
    view_id: str
    user_id: str
    customer: str  # as the modal showed it; the message's own is what the send uses
    channel_id: str
    thread_ts: str | None
    team_id: str | None = None
    text: str | None = None
    url: str | None = None
    caption: str | None = None

    @property
    def origin(self) -> str:
        return ORIGIN_PREFIX + self.view_id


class ReplyRefused(Exception):
    """Nothing was sent; the words say why (plain text, for the person who replied)."""


class Replies:
    def __init__(
        self,
        *,
        config: Config,
        store: Store,
        sending: SendService,
        conversations: Conversations,
        deliveries: Deliveries,
        check_url: CheckUrl | None = None,
    ) -> None:
        self.config = config
        self.store = store
        self.sending = sending
        self.conversations = conversations
        self.deliveries = deliveries
        self._check_url = check_url or self._ask_url

    def target(self, message_id: str) -> ReplyTarget | None:
        """The message a `Reply` button names, if it can be answered: shown in Slack, from a
        readable number, to a sender still configured."""
        message = self.store.get_inbound(message_id)
        if message is None or message.channel_id is None or message.number_problem is not None:
            return None
        if phones.is_masked(message.customer):  # a forgotten customer: no number to write to
            return None
        sender = self.config.senders.get(message.sender_alias)
        if sender is None:
            return None
        standing = self.conversations.standing(sender.alias, message.customer)
        return ReplyTarget(message=message, sender=sender, standing=standing)

    def refusal(self, target: ReplyTarget, user_id: str) -> str | None:
        """Why `user_id` may not answer this customer from the message's channel with its
        sender; None when they may."""
        try:
            access.check(self.config, channel_id=target.message.channel_id, user_id=user_id)
            self.sending.resolve_sender(target.sender.alias, target.message.channel_id)
        except SendRefused as exc:
            return str(exc)
        return None

    def opted_out(self, target: ReplyTarget) -> str | None:
        conversation = target.standing.opted_out
        return opted_out_line(conversation, target.sender) if conversation else None

    def send(self, reply: Reply) -> SendRecord | None:
        """Check, record, confirm and deliver one reply; the send, or None when this view was
        submitted before (nothing new is sent). Raises ReplyRefused when nothing may be sent."""
        if self.store.send_with_origin(reply.origin) is not None:
            logger.info("A reply modal submitted again was sent once (%s)", reply.origin)
            return None
        target = self.target(reply.message_id)
        if target is None:
            raise ReplyRefused("This customer message can no longer be answered from here.")
        refused = self.refusal(target, reply.user_id) or self.opted_out(target)
        if refused is not None:
            raise ReplyRefused(refused)
        message = self._message(target, reply)
        try:
            send = self.sending.create_draft_once(
                message,
                origin=reply.origin,
                sender=target.sender,
                source=SOURCE,
                team_id=reply.team_id,
                channel_id=target.message.channel_id,
                user_id=reply.user_id,
                thread_ts=target.message.thread_ts,
            )
        except PayloadError as exc:
            raise ReplyRefused(str(exc)) from None
        if send is None or self.sending.confirm(send.id) is None:
            return None  # another submission of the same view got there first
        self.deliveries.deliver(send.id)
        return self.sending.get(send.id) or send

    def _message(self, target: ReplyTarget, reply: Reply) -> Message:
        if reply.url is None:
            return Message(MessageKind.TEXT, target.customer, reply.text or "")
        try:
            checked = self._check_url(reply.url)
        except MediaUrlRefused as exc:
            raise ReplyRefused(f"{exc.reason} {exc.hint}".strip()) from None
        if checked.kind is None:
            raise ReplyRefused(
                f"I can't tell whether {reply.url} is an image, video, audio or document: it "
                f"serves {checked.content_type}. Link to the file itself."
            )
        kind = MessageKind(str(checked.kind))
        caption, file_name = reply.caption, None
        if kind is MessageKind.DOCUMENT and caption and _is_pdf_name(caption):
            caption, file_name = None, caption
        return Message(kind, target.customer, reply.url, caption, file_name)

    def _ask_url(self, url: str) -> RemoteMedia:
        """What the URL serves, asked as the provider will fetch it; the content says the kind."""
        return remote.check_url(
            url,
            expected_kind=None,
            allow_private_hosts=self.config.media.allow_private_hosts,
        )


def _is_pdf_name(text: str) -> bool:
    """A document's caption that is a file name (`invoice.pdf`) names the file instead."""
    return " " not in text and text.lower().endswith(".pdf") and len(text) > 4
