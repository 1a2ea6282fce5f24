"""Group sends: one confirmation, one message each to many recipients, one progress message.

A group's sends are confirmed together in one statement, then go out with bounded concurrency,
each honouring the provider's rate limits and tracked as a single send would be. Members on the
sender's do-not-send list are skipped: their drafts are cancelled when drafted, and again when
the group is confirmed for those who opted out in between; they are never sent.
"""

from __future__ import annotations

import logging
import secrets
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from bot.blocks.conversations import opted_out_line
from bot.core.config import Sender
from bot.core.errors import SendRefused
from bot.core.logs import log_context
from bot.core.records import ConversationRecord
from bot.core.window import Window
from bot.store import BatchRecord, SendRecord, SendState
from bot.usecases.conversations import Conversations
from bot.usecases.render import ThreadRenderer
from bot.usecases.sending import SendService
from bot.whatsapp.payloads import Message, PayloadError

logger = logging.getLogger(__name__)


class EveryoneOptedOut(SendRefused):
    """Every member of the group is on the sender's do-not-send list: nothing to send."""


@dataclass(frozen=True)
class GroupStanding:
    """What a group's confirmation says: the window of each member to be sent to (in the
    group's order), and the members skipped because they opted out."""

    windows: dict[str, Window]
    opted_out: list[ConversationRecord] = field(default_factory=list)

    @property
    def recipients(self) -> list[str]:
        return list(self.windows)


@dataclass(frozen=True)
class GroupDraft:
    batch: BatchRecord
    members: list[SendRecord]
    standing: GroupStanding = field(default_factory=lambda: GroupStanding({}))


class GroupSends:
    def __init__(
        self, *, sending: SendService, renderer: ThreadRenderer, conversations: Conversations
    ) -> None:
        self.sending = sending
        self.store = sending.store
        self.config = sending.config
        self.renderer = renderer
        self.conversations = conversations

    def members(self, name: str) -> tuple[str, ...] | None:
        return self.config.groups.get(name)

    def standing(self, name: str, sender: Sender) -> GroupStanding:
        """The members' windows with the sender, and who of them opted out (one query)."""
        numbers = self.config.groups[name]
        found = self.conversations.standings(sender.alias, numbers)
        windows: dict[str, Window] = {}
        opted_out: list[ConversationRecord] = []
        for number in numbers:
            standing = found[number]
            if standing.opted_out is not None:
                opted_out.append(standing.opted_out)
            else:
                windows[number] = standing.window
        return GroupStanding(windows=windows, opted_out=opted_out)

    def get(self, batch_id: str) -> BatchRecord | None:
        return self.store.get_batch(batch_id)

    def sends(self, batch_id: str) -> list[SendRecord]:
        return self.store.batch_sends(batch_id)

    def draft(
        self,
        name: str,
        template: Message,
        *,
        sender: Sender,
        team_id: str | None,
        channel_id: str | None,
        user_id: str | None,
        thread_ts: str | None = None,
        media_id: str | None = None,
    ) -> GroupDraft:
        """A draft send per recipient, under one batch; PayloadError if the message is bad,
        EveryoneOptedOut if nobody would be sent to. Members who opted out are drafted and
        skipped at once, so the group's progress counts them."""
        numbers = self.config.groups[name]
        standing = self.standing(name, sender)
        if not standing.windows:
            raise EveryoneOptedOut(
                f"Everyone in the group `{name}` opted out of messages from {sender.label}: "
                "nothing would be sent."
            )
        skipped = {c.customer: c for c in standing.opted_out}
        batch = self.store.add_batch(
            id=secrets.token_hex(16),
            group_name=name,
            total=len(numbers),
            team_id=team_id,
            channel_id=channel_id,
            user_id=user_id,
            thread_ts=thread_ts,
        )
        members = []
        for number in numbers:
            message = Message(
                template.kind, number, template.body, template.caption, template.file_name
            )
            member = self.sending.create_draft(
                message,
                sender=sender,
                source="group",
                team_id=team_id,
                channel_id=channel_id,
                user_id=user_id,
                batch_id=batch.id,
                media_id=media_id,
            )
            if number in skipped:
                member = self._skip(member, skipped[number], sender) or member
            members.append(member)
        return GroupDraft(batch=batch, members=members, standing=standing)

    def confirm(self, batch_id: str) -> BatchRecord | None:
        """Draft → confirmed for the batch and its members, once; then the members who opted out
        since the confirmation was shown are skipped."""
        batch = self.store.move_batch(batch_id, from_state=SendState.DRAFT, to=SendState.CONFIRMED)
        if batch is None:
            return None
        members = [m for m in self.store.batch_sends(batch_id) if m.state is SendState.CONFIRMED]
        if members:
            sender = self.sending.sender_of(members[0])
            found = self.conversations.standings(sender.alias, [m.recipient for m in members])
            for member in members:
                opted_out = found[member.recipient].opted_out
                if opted_out is not None:
                    self._skip(member, opted_out, sender)
        return batch

    def _skip(
        self, member: SendRecord, conversation: ConversationRecord, sender: Sender
    ) -> SendRecord | None:
        """A member who opted out is never sent: cancelled alone, with the reason."""
        skipped = self.store.transition(
            member.id,
            from_states=[SendState.DRAFT, SendState.CONFIRMED],
            to=SendState.CANCELLED,
            error="skipped: " + opted_out_line(conversation, sender),
        )
        if skipped is not None:
            logger.info("Send %s of a group skipped: the customer opted out", member.id)
        return skipped

    def cancel(self, batch_id: str) -> BatchRecord | None:
        return self.store.move_batch(batch_id, from_state=SendState.DRAFT, to=SendState.CANCELLED)

    def deliver_all(self, batch_id: str) -> None:
        """Post the progress message, then send to every member, a few at a time."""
        self.renderer.render_batch(batch_id)
        members = [m for m in self.store.batch_sends(batch_id) if m.state is SendState.CONFIRMED]
        workers = max(1, self.config.whatsapp.max_concurrent_sends)
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="group") as pool:
            for member in members:
                pool.submit(self._deliver_one, member.id, batch_id)
        self.renderer.render_batch(batch_id)

    def _deliver_one(self, send_id: str, batch_id: str) -> None:
        with log_context(send_id=send_id, batch_id=batch_id):
            try:
                self.sending.deliver(send_id)
            except PayloadError as exc:
                logger.error("Send %s of group %s could not be built: %s", send_id, batch_id, exc)
            except Exception:
                logger.exception("Failed to deliver send %s of group %s", send_id, batch_id)
        self.renderer.schedule(send_id)
        self.renderer.schedule_batch(batch_id)
