"""Forgetting one customer on request (`whatsapp-bot forget NUMBER`): their content and kept
files erased now (`[removed on request]`), their number masked (`+57300•••4567`) in every
stored record, and the Slack messages that show them edited to match.

The Slack side goes through the normal rendering: the store marks the customer's sends and
conversations dirty (and the label of a send's record says its content was removed, so that
its pass edits it), and whoever renders next edits them: `bring_slack_up_to_date` here, from
the command line, or the sweeper of a running app, within seconds. Slack's rate limits are
those of every pass: the Web API client waits out `ratelimited` (`Retry-After`).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from datetime import datetime

from bot.core import phones
from bot.core.retention import REMOVED_ON_REQUEST
from bot.store import Forgotten, Store, utcnow
from bot.usecases.render import ThreadRenderer

logger = logging.getLogger(__name__)


class NothingToForget(Exception):
    """No record has the number, nor its masked form: nothing was changed."""


_LATER = (
    "a running app edits them within seconds (its sweeper), or run this command again to "
    "edit them from here"
)


@dataclass(frozen=True)
class ForgetOutcome:
    """What `forget` did. `already`, when nothing changed: how many records showed the masked
    number before (the customer was forgotten before, or another number that masks alike)."""

    masked: str
    changed: Forgotten
    already: int = 0
    send_ids: tuple[str, ...] = ()
    conversation_ids: tuple[str, ...] = ()

    @property
    def total(self) -> int:
        return self.changed.total

    @property
    def rows_to_edit(self) -> int:
        """The sends and conversations whose Slack messages are to be edited."""
        return len(self.send_ids) + len(self.conversation_ids)

    def describe(self) -> list[str]:
        """How many records changed, table by table, and what an opt-out becomes."""
        if not self.total:
            return [
                f"0 records changed: nothing has that number any more; {self.already} records "
                f"show {self.masked} already (forgotten before)."
            ]
        done = self.changed
        parts = [
            (done.sends, "send"),
            (done.inbound_messages, "customer message"),
            (done.conversations, "conversation"),
            (done.statuses, "status"),
            (done.callbacks, "callback"),
            (done.media, "kept file"),
        ]
        counted = ", ".join(f"{n} {what}{'' if n == 1 else 's'}" for n, what in parts if n)
        lines = [f"{self.total} records changed: forgot {self.masked} ({counted})."]
        if done.opted_out:
            lines.append(
                f"Note: {self.masked} was on {done.opted_out} do-not-send list(s); the entries "
                "now show the masked number, so they no longer stop sends to it."
            )
        return lines


@dataclass
class SlackCatchUp:
    """The rows whose Slack messages were brought up to date, and those left for later."""

    done: int = 0
    left: list[str] = field(default_factory=list)

    def describe(self, waited: float) -> str:
        rows = self.done + len(self.left)
        if not self.left:
            return f"Slack: the {rows} thread(s) that showed the customer now match."
        return (
            f"Slack: {self.done} of {rows} thread(s) now match; {len(self.left)} could not be "
            f"edited within {waited:g} s (Slack did not take the edits, or another instance "
            f"is editing them): {_LATER}."
        )


class Forgetting:
    def __init__(self, *, store: Store, clock: Callable[[], datetime] = utcnow) -> None:
        self.store = store
        self._clock = clock

    def forget(self, number: str) -> ForgetOutcome:
        """Erase the customer with this number (E.164, as `phones.normalize` makes it). Run
        twice, the second run changes nothing; NothingToForget when no record has the number
        or its masked form."""
        masked = phones.mask(number)
        changed = self.store.forget_customer(number, masked, REMOVED_ON_REQUEST, self._clock())
        if changed.total:
            logger.info("Forgot a customer (%s): %d record(s) changed", masked, changed.total)
            return ForgetOutcome(
                masked=masked,
                changed=changed,
                send_ids=tuple(changed.send_ids),
                conversation_ids=tuple(changed.conversation_ids),
            )
        already, sends, conversations = self.store.forgotten_before(masked)
        if not already:
            raise NothingToForget(
                f"No record has that number ({masked}): nothing was changed. Check it, with "
                "its country code, against what /whatsapp history or the Slack threads show."
            )
        return ForgetOutcome(
            masked=masked,
            changed=changed,
            already=already,
            send_ids=tuple(sends),
            conversation_ids=tuple(conversations),
        )

    @staticmethod
    def left_to_the_app(outcome: ForgetOutcome) -> str:
        return f"Slack: {outcome.rows_to_edit} thread(s) marked to be edited to match; {_LATER}."

    def bring_slack_up_to_date(
        self,
        renderer: ThreadRenderer,
        outcome: ForgetOutcome,
        *,
        timeout: float,
        poll: float = 0.5,
    ) -> SlackCatchUp:
        """Run the passes of the customer's conversations and sends until Slack shows what
        is stored, or `timeout` seconds went by; a row another instance is rendering is left
        to it (its lease), and is waited for the same way."""
        conversations = set(outcome.conversation_ids)
        sends = set(outcome.send_ids)
        deadline = time.monotonic() + timeout
        while True:
            for conversation_id in sorted(conversations):
                renderer.render_conversation(conversation_id)
            for send_id in sorted(sends):
                renderer.render(send_id)
            conversations = self._dirty(conversations, self._conversation_dirty)
            sends = self._dirty(sends, self._send_dirty)
            if not (conversations or sends) or time.monotonic() >= deadline:
                break
            time.sleep(poll)
        total = len(outcome.conversation_ids) + len(outcome.send_ids)
        left = sorted(conversations) + sorted(sends)
        return SlackCatchUp(done=total - len(left), left=left)

    @staticmethod
    def _dirty(ids: Collection[str], dirty: Callable[[str], bool]) -> set[str]:
        return {row_id for row_id in ids if dirty(row_id)}

    def _send_dirty(self, send_id: str) -> bool:
        send = self.store.get_send(send_id)
        return send is not None and send.dirty

    def _conversation_dirty(self, conversation_id: str) -> bool:
        conversation = self.store.get_conversation(conversation_id)
        return conversation is not None and conversation.dirty
