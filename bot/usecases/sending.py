"""The use cases: draft a send, confirm it once, deliver it to the provider once."""

from __future__ import annotations

import logging
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from bot.core import phones, tokens
from bot.core.config import Config, Sender
from bot.core.errors import SendRefused as SendRefused
from bot.core.logs import log_context
from bot.store import SendRecord, SendState, SendSummary, StatusRow, Store, utcnow
from bot.usecases.metrics import Metrics
from bot.whatsapp.client import (
    ProviderClient,
    ProviderError,
    ProviderRateLimited,
    SendResult,
)
from bot.whatsapp.payloads import (
    Message,
    MessageKind,
    PayloadError,
    build_request,
    new_external_id,
)

logger = logging.getLogger(__name__)

CALLBACK_PURPOSE = "callback"
CONNECT_RETRY_DELAYS = (0.5, 1.0, 2.0)
HEARTBEAT_SECONDS = 5.0
GROUP_ABANDONED_AFTER = 30 * 60.0
PROVIDER_AUTH_FLAG = "provider_auth_failed"
# The error of a send a stopping app gave back `confirmed`: the provider never had it, so any
# instance may send it at once (`abandoned`), without waiting for it to look forgotten.
HANDED_BACK = "the app stopped before the provider had it; it is sent once the app is back"


@dataclass(frozen=True)
class Delivery:
    """What happened when a confirmed send met the provider."""

    send: SendRecord
    result: SendResult | None = None
    error: ProviderError | None = None
    handed_back: bool = False  # the app is stopping: `confirmed` again, for another to send

    @property
    def ok(self) -> bool:
        return self.result is not None


WaitNotice = Callable[[SendRecord, float], None]


class SendService:
    """Drafts, confirms and delivers sends; the same path for Slack and the command line."""

    def __init__(
        self,
        *,
        config: Config,
        store: Store,
        provider: ProviderClient,
        media_link: Callable[[str], str] | None = None,
        sleep: Callable[[float], object] | None = None,
        metrics: Metrics | None = None,
    ) -> None:
        self.config = config
        self.store = store
        self.provider = provider
        self.metrics = metrics or Metrics()
        self._media_link = media_link
        self._stopping = threading.Event()
        # By default a wait (a 429, a refused connection) ends early when the app stops.
        self._sleep: Callable[[float], object] = sleep or self._stopping.wait

    # drafting

    def resolve_recipient(self, text: str) -> str:
        """A contacts name or a phone number, as E.164; PayloadError if neither."""
        text = text.strip()
        if text in self.config.contacts:
            return self.config.contacts[text]
        if not phones.looks_like_number(text):
            names = ", ".join(sorted(self.config.contacts)) or "none are configured"
            raise PayloadError(
                "to",
                f"`{text}` is not a phone number or a known contact (contacts: {names}). "
                f"Use a number like `{phones.EXAMPLE_NUMBER}`.",
            )
        try:
            return phones.normalize(text)
        except phones.InvalidNumber as exc:
            raise PayloadError("to", str(exc)) from None

    def resolve_sender(self, alias: str | None, channel_id: str | None = None) -> Sender:
        """The sender to use: the one named, else the channel's, else the default."""
        policy = self.config.channels.get(channel_id or "")
        chosen = alias or (policy.sender if policy else self.config.default_sender)
        sender = self.config.senders.get(chosen)
        if sender is None:
            known = ", ".join(self.config.senders)
            raise SendRefused(f"There is no sender called `{chosen}`. Senders: {known}.")
        if policy is not None and chosen not in policy.allowed_senders:
            allowed = ", ".join(f"`{a}`" for a in policy.allowed_senders)
            raise SendRefused(
                f"The sender `{chosen}` may not be used in this channel. Allowed here: {allowed}."
            )
        return sender

    def create_draft(
        self,
        message: Message,
        *,
        sender: Sender,
        source: str,
        team_id: str | None = None,
        channel_id: str | None = None,
        user_id: str | None = None,
        thread_ts: str | None = None,
        batch_id: str | None = None,
        media_id: str | None = None,
    ) -> SendRecord:
        """Check the message fully and record it as a draft with its ids and callback token."""
        return self.store.add_send(
            **self._draft_row(
                message,
                sender=sender,
                source=source,
                team_id=team_id,
                channel_id=channel_id,
                user_id=user_id,
                thread_ts=thread_ts,
                batch_id=batch_id,
                media_id=media_id,
            )
        )

    def create_draft_once(
        self,
        message: Message,
        *,
        origin: str,
        sender: Sender,
        source: str,
        team_id: str | None = None,
        channel_id: str | None = None,
        user_id: str | None = None,
        thread_ts: str | None = None,
    ) -> SendRecord | None:
        """As `create_draft`, unless a send with this `origin` exists already: then None, and
        nothing is recorded (one modal's submission makes one send, however often it comes)."""
        row = self._draft_row(
            message,
            sender=sender,
            source=source,
            team_id=team_id,
            channel_id=channel_id,
            user_id=user_id,
            thread_ts=thread_ts,
        )
        return self.store.add_send_once(**row, origin=origin)

    def _draft_row(
        self,
        message: Message,
        *,
        sender: Sender,
        source: str,
        team_id: str | None,
        channel_id: str | None,
        user_id: str | None,
        thread_ts: str | None,
        batch_id: str | None = None,
        media_id: str | None = None,
    ) -> dict[str, Any]:
        external_id = new_external_id()
        token = tokens.new_token(self.config.media.link_secret, CALLBACK_PURPOSE)
        body = self._request_body(message, sender.number, external_id, token)
        request = body["request"]
        return dict(
            id=secrets.token_hex(16),
            source=source,
            team_id=team_id,
            channel_id=channel_id,
            user_id=user_id,
            thread_ts=thread_ts,
            sender_alias=sender.alias,
            sender_number=sender.number,
            recipient=phones.normalize(request["to"]),
            kind=request["type"],
            body=request["message"],
            caption=request.get("caption"),
            file_name=request.get("fileName"),
            external_id=external_id,
            callback_token=token,
            batch_id=batch_id,
            media_id=media_id,
        )

    def _request_body(
        self, message: Message, sender_number: str, external_id: str, token: str
    ) -> dict[str, Any]:
        whatsapp = self.config.whatsapp
        return build_request(
            message,
            sender_number=sender_number,
            external_id=external_id,
            callback_urls=[self.config.callback_url(token)],
            recipient_format=whatsapp.recipient_format,
            callbacks_format=whatsapp.callbacks_format,
        )

    def request_for(self, send: SendRecord) -> dict[str, Any]:
        """The exact body the provider gets for a recorded send."""
        message = Message(
            kind=MessageKind(send.kind),
            to=send.recipient,
            body=send.body,
            caption=send.caption,
            file_name=send.file_name,
        )
        return self._request_body(
            message, send.sender_number, send.external_id, send.callback_token
        )

    # reading

    def get(self, send_id: str) -> SendRecord | None:
        return self.store.get_send(send_id)

    def find(self, key: str) -> SendRecord | None:
        """A send by the provider's transactionId, or by the bot's own id."""
        return self.store.find_by_transaction_id(key) or self.store.get_send(key)

    def timeline(self, send_id: str) -> list[StatusRow]:
        return self.store.timeline(send_id)

    # confirming

    def confirm(self, send_id: str, *, by: str | None = None) -> SendRecord | None:
        """Draft → confirmed, once; None when it was already confirmed, cancelled or sent.

        `by` records who confirmed, for drafts anyone in the channel may send (shared files).
        """
        changes = {"user_id": by} if by else {}
        return self.store.transition(
            send_id, from_states=[SendState.DRAFT], to=SendState.CONFIRMED, **changes
        )

    def cancel(self, send_id: str) -> SendRecord | None:
        return self.store.transition(send_id, from_states=[SendState.DRAFT], to=SendState.CANCELLED)

    def retry(self, send_id: str) -> SendRecord | None:
        """Unknown → confirmed, once, when a person asks to send it again."""
        return self.store.transition(
            send_id,
            from_states=[SendState.UNKNOWN],
            to=SendState.CONFIRMED,
            error=None,
            outcome_ts=None,
        )

    def sender_of(self, send: SendRecord | SendSummary) -> Sender:
        """The configured sender a send used, or one rebuilt from the record if since removed."""
        configured = self.config.senders.get(send.sender_alias)
        if configured is not None and configured.number == send.sender_number:
            return configured
        return Sender(alias=send.sender_alias, number=send.sender_number, label=send.sender_alias)

    # stopping

    def stop(self) -> None:
        """Send nothing new: a send not yet with the provider (waiting out a 429 or a refused
        connection, or not started) is handed back `confirmed` for another app to send; a
        provider call already made finishes and is recorded as usual."""
        self._stopping.set()

    @property
    def stopping(self) -> bool:
        return self._stopping.is_set()

    # delivering

    def deliver(
        self,
        send_id: str,
        *,
        on_wait: WaitNotice | None = None,
        before_call: Callable[[SendRecord], object] | None = None,
    ) -> Delivery | None:
        """Confirmed → sending → sent/failed/unknown. None if another worker took it first, or
        if this app is stopping (the send stays `confirmed`, handed back at once).

        `before_call` (say, telling Slack it is sending) runs once `sending` is recorded, so a
        crash during it leaves a send that recovery finds; its failure never stops the send.
        """
        with log_context(send_id=send_id):
            return self._deliver(send_id, on_wait, before_call)

    def _deliver(
        self,
        send_id: str,
        on_wait: WaitNotice | None,
        before_call: Callable[[SendRecord], object] | None,
    ) -> Delivery | None:
        if self.stopping:
            self._hand_back_confirmed(send_id)
            return None
        send = self.store.transition(
            send_id, from_states=[SendState.CONFIRMED], to=SendState.SENDING, error=None
        )
        if send is None:
            return None
        if send.media_id is not None and self._media_link is not None:
            # A fresh link, so a draft confirmed late still hands the provider a working URL.
            send = self.store.update_send(send.id, body=self._media_link(send.media_id))
        if before_call is not None:
            try:
                before_call(send)
            except Exception:
                logger.exception("Failed to announce send %s; sending it anyway", send.id)
        return self._attempt(send, on_wait)

    def _attempt(self, send: SendRecord, on_wait: WaitNotice | None) -> Delivery:
        body = self.request_for(send)
        connect_retries = list(CONNECT_RETRY_DELAYS)
        waited = 0.0
        while True:
            if self.stopping:
                return self._hand_back(send)
            try:
                result = self._call_provider(body)
            except ProviderRateLimited as exc:
                wait = exc.retry_after if exc.retry_after is not None else 5.0
                if waited + wait > self.config.whatsapp.max_rate_limit_wait_seconds:
                    return self._failed(send, exc, SendState.FAILED)
                if on_wait is not None:
                    on_wait(send, wait)
                self._wait(send, wait)
                waited += wait
                continue
            except ProviderError as exc:
                if not exc.may_have_been_received and exc.kind == "unavailable" and connect_retries:
                    self._sleep(connect_retries.pop(0))
                    continue
                state = SendState.UNKNOWN if exc.may_have_been_received else SendState.FAILED
                return self._failed(send, exc, state)
            self.store.set_flag(PROVIDER_AUTH_FLAG, None)
            return self._sent(send, result)

    def _call_provider(self, body: dict[str, Any]) -> SendResult:
        started = time.perf_counter()
        try:
            return self.provider.send(body)
        finally:
            self.metrics.provider_request(time.perf_counter() - started)

    def _wait(self, send: SendRecord, seconds: float) -> None:
        """Sleep, touching the send now and then so recovery never takes it for stuck; over
        early when the app stops."""
        while seconds > 0 and not self.stopping:
            step = min(seconds, HEARTBEAT_SECONDS)
            self._sleep(step)
            seconds -= step
            self.store.update_send(send.id)

    def _hand_back(self, send: SendRecord) -> Delivery:
        """Sending → confirmed: the provider never had it, so it is sent again, once."""
        moved = self.store.transition(
            send.id, from_states=[SendState.SENDING], to=SendState.CONFIRMED, error=HANDED_BACK
        )
        if moved is not None:
            logger.info("Send %s handed back: the app stops before the provider had it", send.id)
        return Delivery(send=moved or self._reload(send), handed_back=True)

    def _hand_back_confirmed(self, send_id: str) -> None:
        """A confirmed send this stopping app will not start: marked for others to send now."""
        moved = self.store.transition(
            send_id, from_states=[SendState.CONFIRMED], to=SendState.CONFIRMED, error=HANDED_BACK
        )
        if moved is not None:
            logger.info("Send %s handed back: the app is stopping", send_id)

    @property
    def stuck_after(self) -> float:
        """How long a send may stay `sending` before it must have been abandoned by a crash."""
        whatsapp = self.config.whatsapp
        return whatsapp.connect_timeout_seconds + whatsapp.timeout_seconds + HEARTBEAT_SECONDS + 5

    def abandoned(self) -> list[SendRecord]:
        """Confirmed sends whose worker died before recording `sending`, or that a stopping
        app handed back (at once): never sent, so safe to deliver. A group's members wait
        their turn in a pool, so they get longer."""
        now = utcnow()
        alone = now - timedelta(seconds=self.stuck_after)
        grouped = now - timedelta(seconds=GROUP_ABANDONED_AFTER)
        return [
            send
            for send in self.store.sends_in_state([SendState.CONFIRMED])
            if send.error == HANDED_BACK or send.updated_at < (grouped if send.batch_id else alone)
        ]

    def recover_stuck(self) -> list[SendRecord]:
        """Sends left `sending` by a stopped app become `unknown`: said, never resent."""
        cutoff = utcnow() - timedelta(seconds=self.stuck_after)
        recovered = []
        for send in self.store.sends_in_state([SendState.SENDING]):
            if send.updated_at >= cutoff:
                continue
            moved = self.store.transition(
                send.id,
                from_states=[SendState.SENDING],
                to=SendState.UNKNOWN,
                error="the app stopped while waiting for the provider's answer",
            )
            if moved is not None:
                logger.warning(
                    "Send %s was left sending by a stopped app: now unknown",
                    send.id,
                    extra={"send_id": send.id},
                )
                self.metrics.send_finished(SendState.UNKNOWN.value)
                recovered.append(moved)
        return recovered

    def _sent(self, send: SendRecord, result: SendResult) -> Delivery:
        updated = self.store.transition(
            send.id,
            from_states=[SendState.SENDING],
            to=SendState.SENT,
            transaction_id=result.transaction_id,
            error=None,
        )
        if updated is not None:
            self.metrics.send_finished(SendState.SENT.value)
        return Delivery(send=updated or self._reload(send), result=result)

    def _failed(self, send: SendRecord, error: ProviderError, state: SendState) -> Delivery:
        if error.kind == "unauthorized":
            self.store.set_flag(PROVIDER_AUTH_FLAG, f"HTTP {error.status}: {error.reason}")
        logger.warning(
            "Send %s not delivered: %s (%s, status %s)",
            send.id,
            error.reason,
            error.kind,
            error.status,
        )
        updated = self.store.transition(
            send.id, from_states=[SendState.SENDING], to=state, error=self._explain(error)
        )
        if updated is not None:
            self.metrics.send_finished(state.value)
        return Delivery(send=updated or self._reload(send), error=error)

    def _explain(self, error: ProviderError) -> str:
        """The reason in plain words, for the thread."""
        if error.kind == "unauthorized":
            return (
                f"the provider refused the bot's API key (HTTP {error.status}: {error.reason}); "
                "it is wrong or expired, so an admin must renew `whatsapp.api_key`"
            )
        if isinstance(error, ProviderRateLimited):
            limit = self.config.whatsapp.max_rate_limit_wait_seconds
            after = f" {error.retry_after:.0f} s" if error.retry_after is not None else ""
            return (
                f"the provider is rate limiting ({error.reason}) and asked to wait{after}, "
                f"longer than the bot waits ({limit:.0f} s); try again later"
            )
        return error.reason

    def _reload(self, send: SendRecord) -> SendRecord:
        return self.store.get_send(send.id) or send
