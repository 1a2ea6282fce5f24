"""Delivering confirmed sends: the one path the buttons, the recipient modal and recovery share.

A send is confirmed by one atomic transition, then delivered: one provider call, then its thread
brought up to date. A file whose recipient was chosen in the modal goes the same way, to one
number or to every member of a group.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

from slack_sdk.errors import SlackClientError

from bot.core.config import Sender
from bot.core.logs import log_context
from bot.store import SendRecord
from bot.usecases.fileshare import GROUP_PREFIX
from bot.usecases.groups import EveryoneOptedOut, GroupSends
from bot.usecases.render import ThreadRenderer
from bot.usecases.sending import SendService
from bot.whatsapp.payloads import Message, MessageKind

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Choice:
    """A shared file's recipient and sender, as chosen in the modal by `user_id`."""

    send_id: str
    recipient: str  # E.164, or GROUP_PREFIX + a group's name
    sender: Sender
    user_id: str


class Deliveries:
    def __init__(
        self, *, sending: SendService, groups: GroupSends, renderer: ThreadRenderer
    ) -> None:
        self.sending = sending
        self.groups = groups
        self.renderer = renderer
        self.store = sending.store
        # Told of every send that reached the provider (a conversation's reply is no longer
        # waiting): `Conversations.answered`.
        self.on_sent: Callable[[SendRecord], None] | None = None

    def deliver(
        self, send_id: str, *, before_call: Callable[[SendRecord], object] | None = None
    ) -> None:
        """Call the provider once for a confirmed send, then show the outcome in the thread."""
        with log_context(send_id=send_id):
            delivery = self.sending.deliver(
                send_id,
                on_wait=lambda send, seconds: self.renderer.show_wait(send.id, seconds),
                before_call=before_call,
            )
            if delivery is not None and delivery.ok and self.on_sent is not None:
                try:
                    self.on_sent(delivery.send)
                except Exception:
                    logger.exception("Failed to note that send %s answered a customer", send_id)
            try:
                self.renderer.render(send_id)
            except SlackClientError:
                logger.exception("Failed to post send %s in Slack; the sweeper will retry", send_id)

    def send_draft(self, send_id: str, user: str) -> None:
        """Confirm a shared file's draft once; its offer message becomes the send's record."""
        if self.sending.confirm(send_id, by=user) is None:
            return
        self.deliver(send_id, before_call=lambda send: self.renderer.render(send.id))

    def send_choice(self, choice: Choice) -> None:
        """Send a shared file to the recipient chosen in the modal, once."""
        if choice.recipient.startswith(GROUP_PREFIX):
            self._send_to_group(choice, choice.recipient.removeprefix(GROUP_PREFIX))
            return
        updated = self.store.update_draft(
            choice.send_id,
            recipient=choice.recipient,
            sender_alias=choice.sender.alias,
            sender_number=choice.sender.number,
        )
        if updated is None:
            return  # a second submission, or a click on the offer, got there first
        if updated.message_ts is not None:
            # the offer in the thread loses its buttons: it becomes the send's record
            self.store.update_send(updated.id, message_status="chosen")
        self.send_draft(choice.send_id, choice.user_id)

    def _send_to_group(self, choice: Choice, name: str) -> None:
        """The shared file goes to every member of a group; its offer becomes the progress."""
        single = self.sending.cancel(choice.send_id)
        if single is None:
            return  # a second submission, or a click on the offer, got there first
        template = Message(
            MessageKind(single.kind), "", single.body, single.caption, single.file_name
        )
        try:
            drafted = self.groups.draft(
                name,
                template,
                sender=choice.sender,
                team_id=single.team_id,
                channel_id=single.channel_id,
                user_id=choice.user_id,
                thread_ts=single.thread_ts,
                media_id=single.media_id,
            )
        except EveryoneOptedOut as exc:  # since the modal was checked: nothing is sent
            logger.warning("A shared file for group %s was not sent: %s", name, exc)
            return
        if single.message_ts is not None:
            self.store.update_batch(drafted.batch.id, message_ts=single.message_ts)
        if self.groups.confirm(drafted.batch.id) is not None:
            self.groups.deliver_all(drafted.batch.id)
