"""Group sends: one confirmation, one message each to many recipients, one progress message.

A group's sends are confirmed together in one statement, then go out with bounded concurrency,
each honouring the provider's rate limits and tracked as a single send would be.
"""

from __future__ import annotations

import logging
import secrets
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from bot.core.config import Sender
from bot.core.logs import log_context
from bot.store import BatchRecord, SendRecord, SendState
from bot.usecases.render import ThreadRenderer
from bot.usecases.sending import SendService
from bot.whatsapp.payloads import Message, PayloadError

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class GroupDraft:
    batch: BatchRecord
    members: list[SendRecord]


class GroupSends:
    def __init__(self, *, sending: SendService, renderer: ThreadRenderer) -> None:
        self.sending = sending
        self.store = sending.store
        self.config = sending.config
        self.renderer = renderer

    def members(self, name: str) -> tuple[str, ...] | None:
        return self.config.groups.get(name)

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
        """A draft send per recipient, under one batch; PayloadError if the message is bad."""
        numbers = self.config.groups[name]
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
            members.append(
                self.sending.create_draft(
                    message,
                    sender=sender,
                    source="group",
                    team_id=team_id,
                    channel_id=channel_id,
                    user_id=user_id,
                    batch_id=batch.id,
                    media_id=media_id,
                )
            )
        return GroupDraft(batch=batch, members=members)

    def confirm(self, batch_id: str) -> BatchRecord | None:
        return self.store.move_batch(batch_id, from_state=SendState.DRAFT, to=SendState.CONFIRMED)

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
