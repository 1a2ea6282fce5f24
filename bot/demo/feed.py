"""What Slack and the provider see, printed as it happens: posts, edits, sends, callbacks."""

from __future__ import annotations

import time

from bot.demo.show import Console, Readable
from bot.demo.stage import Stage
from bot.sandbox.slack import ApiCall, ResponseUrlPost

# Reads (users.info, files.info, ...) are left out: the feed shows what people would notice.
_WRITES = {
    "chat.postMessage",
    "chat.update",
    "chat.postEphemeral",
    "chat.delete",
    "views.open",
    "views.update",
    "views.push",
}
_WIDTH = 110


class Feed:
    """Prints each new event once, in the order it happened, with the time since `restart`."""

    def __init__(self, *, stage: Stage, console: Console, readable: Readable) -> None:
        self.stage = stage
        self.console = console
        self.readable = readable
        self._offset = time.time() - time.monotonic()  # provider times are monotonic
        self._start = time.time()
        self._calls = 0
        self._responses = 0
        self._requests = 0
        self._fetches = 0
        self._callbacks = 0

    def restart(self) -> None:
        self.flush()
        self._start = time.time()

    def say(self, who: str, text: str) -> None:
        """Something a person does, printed now."""
        self.flush()
        self._print(time.time(), who, text)

    def flush(self) -> None:
        events = [*self._slack_events(), *self._provider_events()]
        for at, who, text in sorted(events, key=lambda e: e[0]):
            self._print(at, who, text)

    def _print(self, at: float, who: str, text: str) -> None:
        line = f"  {at - self._start:6.2f}s  {who:<9} {text}"
        self.console.line(line if len(line) <= _WIDTH else line[: _WIDTH - 1] + "…")

    def _short(self, text: object) -> str:
        lines = self.readable.mrkdwn(str(text or "")).splitlines()
        return lines[0] if lines else ""

    def _slack_events(self) -> list[tuple[float, str, str]]:
        slack = self.stage.slack
        calls = slack.calls[self._calls :]
        self._calls += len(calls)
        events = [(c.time, "Slack", self._call(c)) for c in calls if c.method in _WRITES]
        posts = slack.response_posts[self._responses :]
        self._responses += len(posts)
        events += [(p.time, "Slack", self._response(p)) for p in posts]
        return events

    def _call(self, call: ApiCall) -> str:
        params = call.params
        where = "#" + self.readable.channel_name(str(params.get("channel", "")))
        text = self._short(params.get("text"))
        if call.method == "chat.postMessage":
            what = f"reply in a thread in {where}" if params.get("thread_ts") else f"new in {where}"
        elif call.method == "chat.update":
            what = f"edit in {where}"
        elif call.method == "chat.postEphemeral":
            what = f"only @{self.readable.user_name(str(params.get('user', '')))} sees"
        else:
            what, text = call.method, ""
        failed = "" if call.ok else f"  (refused: {call.response.get('error', call.status)})"
        return f"{what}: {text}{failed}"

    def _response(self, post: ResponseUrlPost) -> str:
        text = self._short((post.body or {}).get("text"))
        what = {
            "ephemeral": "only the person sees",
            "replaced": "replaces the clicked message",
            "in_channel": "new in the channel",
            "deleted": "deletes the clicked message",
        }.get(post.result, f"response URL refused ({post.result})")
        return f"{what}: {text}"

    def _provider_events(self) -> list[tuple[float, str, str]]:
        provider = self.stage.provider
        events: list[tuple[float, str, str]] = []
        requests = provider.requests
        # A request is shown once answered, so its answer is on the same line.
        while self._requests < len(requests) and requests[self._requests].response_status:
            request = requests[self._requests]
            self._requests += 1
            body = request.json if isinstance(request.json, dict) else {}
            inner = body.get("request")
            if not isinstance(inner, dict):
                inner = {}
            what = f"{inner.get('type', '?')} to {inner.get('to', '?')}"
            answer = f"HTTP {request.response_status}"
            if request.transaction_id:
                answer += f", transactionId {request.transaction_id}"
            at = request.received_at + self._offset
            events.append(
                (at, "provider", f"got {request.method} {request.path} ({what}): {answer}")
            )
        fetches = provider.fetches[self._fetches :]
        self._fetches += len(fetches)
        for fetch in fetches:
            got = f"HTTP {fetch.http_status} {fetch.content_type}, {fetch.length} bytes"
            verdict = "" if fetch.accepted else f", refused: {fetch.reason}"
            events.append((time.time(), "provider", f"fetched the media: {got}{verdict}"))
        callbacks = provider.callbacks[self._callbacks :]
        self._callbacks += len(callbacks)
        for callback in callbacks:
            answer = callback.error or f"HTTP {callback.http_status}"
            text = f"status callback {callback.status} to the app: {answer}"
            events.append((callback.sent_at + self._offset, "provider", text))
        return events
