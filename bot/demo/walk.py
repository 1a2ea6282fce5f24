"""The walk-through: three sends driven over HTTP as Slack would, each waited on by its events."""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from bot.core import ids
from bot.demo.feed import Feed
from bot.demo.samples import PARCEL_JPEG, invoice_pdf
from bot.demo.show import Console, Readable
from bot.demo.stage import (
    ALICE,
    BLOCKED_CUSTOMER,
    BOB,
    CUSTOMER,
    CUSTOMER_NAME,
    SALES,
    SUPPORT,
    DemoError,
    Stage,
    inbound_url,
)
from bot.sandbox.driver import DriverResponse
from bot.sandbox.provider import RecordedRequest
from bot.sandbox.slack import find_element

T = TypeVar("T")
Json = dict[str, Any]

STEP_TIMEOUT = 10.0
FAILURE = "BLACKLISTED"
FAILURE_REASON = "The recipient has blocked messages from this business number"


@dataclass(frozen=True)
class Thread:
    """One walked-through send: where its thread is, and what the provider called it."""

    title: str
    channel: str
    ts: str
    transaction_id: str
    final_status: str


class Walk:
    """Plays @alice and @bob in the stand-in Slack: every step is a signed HTTP request to the
    app, and every wait is on what the stand-ins record."""

    def __init__(
        self, *, stage: Stage, console: Console, readable: Readable, deadline: float
    ) -> None:
        self.stage = stage
        self.console = console
        self.readable = readable
        self.deadline = deadline
        self.feed = Feed(stage=stage, console=console, readable=readable)

    def all(self) -> list[Thread]:
        """The three sends, then the customer's answer to the first, each printed as it goes."""
        first = self.slash_image()
        return [first, self.shared_pdf(), self.refused_text(), self.customer_answers(first)]

    # the three sends

    def slash_image(self) -> Thread:
        title = "1. /whatsapp in #support: an image to a customer"
        text = f"image {CUSTOMER} {self.stage.coffee_url} The best coffee in the town!"
        return self._slash(title, user=ALICE, channel=SUPPORT, text=text, final="READ")

    def shared_pdf(self) -> Thread:
        title = "2. A PDF shared in #support, sent from its thread"
        self.console.heading(title)
        slack, name = self.stage.slack, "invoice-1042.pdf"
        self.feed.restart()
        self.feed.say("@bob", f'shares {name} in #support: "Invoice 1042 for October"')
        answer = self.stage.driver.file_share(
            name,
            invoice_pdf("Invoice 1042 - Acme Coffee Roasters"),
            user=BOB,
            channel=SUPPORT,
            text="Invoice 1042 for October",
        )
        _answered(answer, "the file_share event")
        ts = str(answer.sent["event"]["ts"])

        def offer() -> Json | None:
            replies = [m for m in slack.thread(SUPPORT, ts)[1:] if m.get("bot_id")]
            return replies[0] if replies else None

        shown = self.wait("the bot's offer in the file's thread", offer)
        button = find_element(shown.get("blocks"), ids.SEND)
        if button is None:
            raise DemoError(
                f"The app answered the shared PDF without a Send button: "
                f"{' '.join(self.readable.body(shown))}"
            )
        self.console.line()
        self.console.line("  The offer in the file's thread (anyone in #support may click):")
        self.console.lines(self.readable.thread(SUPPORT, slack.thread(SUPPORT, ts)), "    ")
        self.console.line()
        before = len(self.stage.provider.requests)
        self.feed.say("@bob", f"clicks [{_label(button[1])}]")
        click = self.stage.driver.click(ids.SEND, user=BOB, channel=SUPPORT, message=shown)
        _answered(click, "the click on Send")
        request = self._provider_answer(before)
        assert request.transaction_id is not None
        thread = Thread(title, SUPPORT, ts, request.transaction_id, "READ")
        self._settle(thread)
        self._show_thread(thread)
        return thread

    def refused_text(self) -> Thread:
        title = "3. /whatsapp in #sales: a text the provider cannot deliver"
        # Accepted with a transactionId, then the provider's callbacks end in a failure.
        self.stage.provider.set_next_statuses(
            ["QUEUE", {"status": FAILURE, "reason": FAILURE_REASON}]
        )
        text = f"text {BLOCKED_CUSTOMER} Your order 1042 has shipped and arrives tomorrow."
        return self._slash(title, user=BOB, channel=SALES, text=text, final=FAILURE)

    def customer_answers(self, first: Thread) -> Thread:
        """The customer of the first send answers with a text and a photo; @alice replies
        from the thread, and the reply's transactionId and statuses follow there."""
        title = "4. The customer answers the first send; @alice replies from its thread"
        self.console.heading(title)
        slack, provider = self.stage.slack, self.stage.provider
        self.feed.restart()
        photo = provider.host_attachment(PARCEL_JPEG, "parcel.jpg", "image/jpeg")
        said = "Thanks! The coffee arrived, here is the parcel"
        self.feed.say("customer", f'{CUSTOMER} writes on WhatsApp: "{said}", with a photo')
        message = provider.customer_message(
            inbound_url(self.stage, "support"),
            user=CUSTOMER,
            text=said,
            name=CUSTOMER_NAME,
            attachments=[{"url": photo, "fileName": "parcel.jpg", "caption": "the parcel"}],
        )
        if message.http_status != 200:
            raise DemoError(
                f"The app answered the customer's message with HTTP {message.http_status} "
                f"instead of 200 ({message.response_body[:200]!r})."
            )

        def answered() -> Json | None:
            thread = slack.thread(first.channel, first.ts)
            found = next((m for m in thread if said in "\n".join(self.readable.body(m))), None)
            uploaded = any(
                f.get("name") == "parcel.jpg" for m in thread for f in m.get("files", [])
            )
            if (
                found is None
                or not uploaded
                or find_element(found.get("blocks"), ids.REPLY) is None
            ):
                return None
            return found

        shown = self.wait("the customer's message and photo in the first send's thread", answered)
        self._show_thread(first)
        before = len(provider.requests)
        views = set(slack.views)
        self.feed.say("@alice", "clicks [Reply] on the customer's message")
        click = self.stage.driver.click(ids.REPLY, user=ALICE, channel=first.channel, message=shown)
        _answered(click, "the click on Reply")

        def opened() -> Json | None:
            return next(
                (
                    view
                    for view_id, view in slack.views.items()
                    if view_id not in views and view.get("callback_id") == ids.REPLY_MODAL
                ),
                None,
            )

        view = self.wait("the Reply modal", opened)
        self.console.line()
        self.console.line("  The modal @alice sees:")
        self.console.lines(self.readable.view(view), "    ")
        self.console.line()
        answer = "Glad it arrived! Your next order ships on Monday."
        self.feed.say("@alice", f'types "{answer}" and clicks [{view["submit"]["text"]}]')
        submitted = self.stage.driver.submit_view(
            view["id"], {ids.REPLY_TEXT_BLOCK: {ids.REPLY_TEXT_INPUT: answer}}, user=ALICE
        )
        _answered(submitted, "the Reply modal's submission")
        request = self._provider_answer(before)
        assert request.transaction_id is not None
        reply = Thread(title, first.channel, first.ts, request.transaction_id, "READ")

        def settled() -> bool:
            if provider.pending_callbacks:
                return False
            texts = self._bot_texts(first.channel, first.ts)
            at = next((i for i, t in enumerate(texts) if reply.transaction_id in t), None)
            return at is not None and any("READ" in t for t in texts[at + 1 :])

        self.wait("the reply's transactionId and READ in the thread", settled)
        self.feed.flush()
        self._show_thread(reply)
        return reply

    # steps

    def _slash(self, title: str, *, user: str, channel: str, text: str, final: str) -> Thread:
        self.console.heading(title)
        slack, who = self.stage.slack, "@" + self.readable.user_name(user)
        seen = len(slack.ephemerals(channel=channel, user=user))
        tops = {m["ts"] for m in slack.channel_messages(channel)}
        self.feed.restart()
        self.feed.say(who, f"types  /whatsapp {text}")
        _answered(
            self.stage.driver.slash_command(text, user=user, channel=channel), "the slash command"
        )

        def answer() -> Json | None:
            shown = slack.ephemerals(channel=channel, user=user)
            return shown[seen] if len(shown) > seen else None

        confirmation = self.wait("the app's answer to the slash command", answer)
        button = find_element(confirmation.get("blocks"), ids.SEND)
        if button is None:
            raise DemoError(
                "The app answered the slash command without a Send button: "
                f"{' '.join(self.readable.body(confirmation))}"
            )
        self.console.line()
        self.console.line(f"  What {who} sees in #{self.readable.channel_name(channel)}:")
        note = "  (only visible to you)"
        self.console.lines(self.readable.message(confirmation, note=note), "    ")
        self.console.line()
        before = len(self.stage.provider.requests)
        self.feed.say(who, f"clicks [{_label(button[1])}]")
        click = self.stage.driver.click(ids.SEND, user=user, channel=channel, message=confirmation)
        _answered(click, "the click on Send")
        request = self._provider_answer(before)

        def record() -> Json | None:
            found = [m for m in slack.channel_messages(channel) if m.get("bot_id")]
            return next((m for m in found if m["ts"] not in tops), None)

        ts = str(self.wait("the send's record in the channel", record)["ts"])
        assert request.transaction_id is not None
        thread = Thread(title, channel, ts, request.transaction_id, final)
        self._settle(thread)
        closed = slack.find_ephemeral(channel, str(confirmation["ts"]))
        if closed is not None:
            self.console.line()
            self.console.line(f"  {who}'s confirmation now reads:")
            self.console.lines(self.readable.message(closed, note=note), "    ")
        self._show_thread(thread)
        return thread

    def _provider_answer(self, before: int) -> RecordedRequest:
        """The provider's answer to the send the click caused; a refusal ends the demo."""
        provider = self.stage.provider

        def answered() -> RecordedRequest | None:
            requests = provider.requests
            if len(requests) > before and requests[before].response_status:
                return requests[before]
            return None

        request = self.wait("the app's request to the provider", answered)
        if request.transaction_id is None:
            raise DemoError(
                f"The provider answered the app's send with HTTP {request.response_status} "
                "and no transactionId, so nothing was sent."
            )
        return request

    def _settle(self, thread: Thread) -> None:
        """Wait until the thread shows the transactionId and the final status everywhere.

        The final status appears in the record and the status reply; a failure also gets a
        reply of its own. Slack is updated at most once a second per thread, so this waits.
        """
        word = re.compile(rf"\b{re.escape(thread.final_status)}\b")
        needed = 2 if thread.final_status == "READ" else 3
        provider = self.stage.provider

        def settled() -> bool:
            if provider.pending_callbacks:
                return False
            texts = self._bot_texts(thread.channel, thread.ts)
            shows_id = any(thread.transaction_id in t for t in texts)
            return shows_id and sum(bool(word.search(t)) for t in texts) >= needed

        self.wait(f"the thread to show {thread.final_status}", settled)
        self.feed.flush()

    def _bot_texts(self, channel: str, ts: str) -> list[str]:
        """What the bot's messages in a thread say, as a person reads them, oldest first."""
        return [
            "\n".join(self.readable.body(m))
            for m in self.stage.slack.thread(channel, ts)
            if m.get("bot_id")
        ]

    def _show_thread(self, thread: Thread) -> None:
        self.console.line()
        self.console.line("  The thread, as everyone in the channel reads it now:")
        messages = self.stage.slack.thread(thread.channel, thread.ts)
        self.console.lines(self.readable.thread(thread.channel, messages), "    ")

    def wait(self, what: str, found: Callable[[], T | None]) -> T:
        """Poll the stand-ins (printing what happens meanwhile) until `found` returns something."""
        timeout = min(STEP_TIMEOUT, self.deadline - time.monotonic())

        def check() -> T | None:
            self.feed.flush()
            if not self.stage.app_running():
                raise DemoError(
                    f"`whatsapp-bot serve` exited (exit code {self.stage.exit_code()}) while the "
                    f"demo waited for {what}; its log below says why."
                )
            return found()

        try:
            value = self.stage.slack.wait_for(check, timeout=max(timeout, 0.1), interval=0.02)
        except TimeoutError:
            raise DemoError(
                f"Timed out after {max(timeout, 0.1):.1f} s waiting for {what}; the app's log "
                "below may say why."
            ) from None
        assert value is not None  # wait_for returns only a truthy value
        return value


def _answered(response: DriverResponse, what: str) -> None:
    if response.status != 200:
        raise DemoError(
            f"The app answered {what} with HTTP {response.status} instead of 200 "
            f"({response.body.strip()[:200] or 'no body'})."
        )


def _label(button: Json) -> str:
    """A button's words: `Send`, or `Send anyway` to a customer outside WhatsApp's window."""
    return str((button.get("text") or {}).get("text") or "Send")
