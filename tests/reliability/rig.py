"""A test rig for the reliability suite: real `whatsapp-bot serve` processes between one stand-in
Slack and one stand-in provider, with what the scenario harness lacks for fault tests:

- several app instances on one database (each its own `serve`, its own port);
- each instance in its own process group, so SIGKILL takes the gunicorn master *and* its
  worker at once, as a crash or an OOM kill would;
- a config rewritten between restarts, and small provider timeouts so recovery is quick;
- requests built by the driver but posted later (all at once from many threads, or replayed
  byte for byte with Slack's retry headers).
"""

from __future__ import annotations

import http.client
import json
import os
import secrets
import threading
import urllib.parse
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlencode

import sqlalchemy as sa

import bot
from bot.core import ids
from bot.sandbox.driver import DriverResponse, SlackDriver
from bot.sandbox.images import png
from bot.sandbox.launch import AppProcess, wait_until
from bot.sandbox.provider import ProviderStandIn
from bot.sandbox.slack import SlackStandIn
from bot.store import SendRecord, SendState, Store, callbacks, sends
from tests.conftest import SECRETS, config_dict
from tests.scenarios.harness import buttons, text_of

# The tree whose `bot` package this process imported: the subprocesses run the same code.
ROOT = Path(bot.__file__).resolve().parent.parent
CHANNEL = "C0123SUPPORT"
USER = "U0ALICE"
OTHER_USER = "U0BOB"
RECIPIENT = "+573001234567"

# Small provider timeouts: a hang is `unknown` after 1 s, a crash is recovered within
# SendService.stuck_after (0.5 + 1 + 5 + 5 = 11.5 s) plus one maintenance interval (5 s).
FAST_WHATSAPP: dict[str, Any] = {
    "timeout_seconds": 1,
    "connect_timeout_seconds": 0.5,
    "max_rate_limit_wait_seconds": 10,
}

T = TypeVar("T")


@dataclass(frozen=True)
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", errors="replace")

    def json(self) -> Any:
        return json.loads(self.body)


def request(
    url: str,
    method: str = "GET",
    body: bytes | None = None,
    headers: Mapping[str, str] | None = None,
    timeout: float = 10.0,
) -> Answer:
    """One HTTP request, whatever the status; a new connection each time."""
    parts = urllib.parse.urlsplit(url)
    conn = http.client.HTTPConnection(parts.netloc, timeout=timeout)
    path = parts.path + (f"?{parts.query}" if parts.query else "")
    try:
        conn.request(method, path or "/", body=body, headers=dict(headers or {}))
        response = conn.getresponse()
        data = response.read()
        return Answer(response.status, dict(response.getheaders()), data)
    finally:
        conn.close()


def fire_together(calls: list[Callable[[], T]]) -> list[T]:
    """Run every call in its own thread, released at the same instant; results in order."""
    barrier = threading.Barrier(len(calls))
    results: list[Any] = [None] * len(calls)
    errors: list[BaseException] = []

    def run(i: int, call: Callable[[], T]) -> None:
        try:
            barrier.wait(10)
            results[i] = call()
        except BaseException as exc:  # reported below, in the test's thread
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(i, c)) for i, c in enumerate(calls)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    if errors:
        raise errors[0]
    return results


@dataclass(frozen=True)
class Built:
    """A request the driver built and signed, not sent yet."""

    body: bytes
    headers: dict[str, str]
    sent: dict[str, Any]


def build(driver: SlackDriver, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Built:
    """What `driver.fn(*args, **kwargs)` would POST, without posting it."""
    captured: dict[str, Any] = {}

    def capture(
        body: bytes | str,
        headers: Mapping[str, str],
        *,
        url: str | None = None,
        sent: dict[str, Any] | None = None,
    ) -> DriverResponse:
        raw = body.encode() if isinstance(body, str) else body
        captured.update(body=raw, headers=dict(headers), sent=sent or {})
        return DriverResponse(status=0, headers={}, body="", json=None, elapsed=0.0)

    driver.raw_post = capture  # type: ignore[method-assign]
    try:
        fn(*args, **kwargs)
    finally:
        del driver.raw_post
    return Built(captured["body"], captured["headers"], captured["sent"])


def replay(driver: SlackDriver, built: Built, retry_num: int | None = None) -> DriverResponse:
    """POST a built request again, byte for byte; with Slack's retry headers if `retry_num`."""
    headers = dict(built.headers)
    if retry_num is not None:
        headers["X-Slack-Retry-Num"] = str(retry_num)
        headers["X-Slack-Retry-Reason"] = "http_timeout"
    return driver.raw_post(built.body, headers, sent=built.sent)


class Instance(AppProcess):
    """One `whatsapp-bot serve` process (gunicorn master and worker in one process group)."""

    def __init__(self, rig: Rig, name: str, config: dict[str, Any]) -> None:
        super().__init__(
            config_path=rig.tmp_path / f"config-{name}.yaml",
            log_path=rig.tmp_path / f"serve-{name}.log",
            env={**os.environ, **SECRETS},
            cwd=ROOT,
            name=name,
            own_group=True,
            healthy=(200, 503),
        )
        self.rig = rig
        self.overrides = config
        self.write_config()
        self.driver = SlackDriver(self.url, SECRETS["SLACK_SIGNING_SECRET"], slack=rig.slack)
        self.answers: list[Answer] = []

    def write_config(self, **changes: Any) -> None:
        """(Re)write the config file; `changes` replace top-level keys or merge sections."""
        self.overrides = {**self.overrides, **changes}
        overrides = dict(self.overrides)
        whatsapp = {**FAST_WHATSAPP, **overrides.pop("whatsapp", {})}
        media = {"allow_private_hosts": True, **overrides.pop("media", {})}
        self.configure(
            config_dict(whatsapp=whatsapp, media=media, **overrides),
            slack_api_url=self.rig.slack.api_url,
            provider_url=self.rig.provider_url,
            database_url=self.rig.database_url,
        )

    def call(
        self,
        path: str,
        method: str = "GET",
        body: bytes | None = None,
        headers: Mapping[str, str] | None = None,
        timeout: float = 10.0,
    ) -> Answer:
        """A request to this instance; every answer is kept for the leak and traceback scans."""
        answer = request(self.url + path, method, body, headers, timeout)
        self.answers.append(answer)
        return answer

    def callback(self, token: str, body: bytes, content_type: str = "application/json") -> Answer:
        return self.call(
            f"/whatsapp/callbacks/{token}", "POST", body, {"Content-Type": content_type}
        )

    def health(self) -> Answer:
        return self.call("/healthz")


class Rig:
    """Stand-in Slack and provider, a database, and one or more app instances."""

    def __init__(
        self,
        tmp_path: Path,
        *,
        database_url: str | None = None,
        provider_url: str | None = None,
        callback_delay: float = 0.02,
    ) -> None:
        self.tmp_path = tmp_path
        self.slack = SlackStandIn(bot_token=SECRETS["SLACK_BOT_TOKEN"])
        self.provider = ProviderStandIn(
            api_key=SECRETS["WHATSAPP_API_KEY"], callback_delay=callback_delay
        ).start()
        self.provider_url = provider_url or self.provider.notification_url
        self.database_url = database_url or f"sqlite:///{tmp_path / 'bot.sqlite3'}"
        self.instances: list[Instance] = []
        self._store: Store | None = None

    def add(self, name: str = "a", *, start: bool = True, **config: Any) -> Instance:
        instance = Instance(self, name, config)
        self.instances.append(instance)
        if start:
            instance.start()
        return instance

    def close(self) -> None:
        for instance in self.instances:
            instance.stop()
        if self._store is not None:
            self._store.close()
        self.slack.stop()
        self.provider.stop()

    # the database, read directly

    @property
    def store(self) -> Store:
        if self._store is None:
            self._store = Store.from_url(self.database_url)
        return self._store

    def all_sends(self) -> list[SendRecord]:
        with self.store.engine.connect() as conn:
            rows = conn.execute(sa.select(sends).order_by(sends.c.created_at)).mappings().all()
        return [SendRecord.from_row(r) for r in rows]

    def send_where(self, **fields: Any) -> SendRecord | None:
        for send in self.all_sends():
            if all(getattr(send, k) == v for k, v in fields.items()):
                return send
        return None

    def stored_callbacks(self) -> list[tuple[str | None, str | None, str]]:
        """Every row of the `callbacks` table: (send_id, status, raw body)."""
        with self.store.engine.connect() as conn:
            rows = conn.execute(
                sa.select(callbacks.c.send_id, callbacks.c.status, callbacks.c.body).order_by(
                    callbacks.c.id
                )
            ).all()
        return [(r[0], r[1], r[2]) for r in rows]

    # Slack, as people see it

    def current(self, send_id: str) -> SendRecord:
        send = self.store.get_send(send_id)
        assert send is not None, send_id
        return send

    def thread(self, send: SendRecord | str) -> list[dict[str, Any]]:
        """The send's record and its thread (for a shared file: the file's whole thread),
        as the database says now."""
        send = self.current(send if isinstance(send, str) else send.id)
        assert send.channel_id is not None
        anchor = send.thread_ts or send.message_ts
        if anchor is None:
            return []
        return self.slack.thread(send.channel_id, anchor)

    def thread_texts(self, send_id: str) -> list[str]:
        send = self.store.get_send(send_id)
        assert send is not None
        return [text_of(m) for m in self.thread(send)]

    def wait_thread(self, send_id: str, contains: str, timeout: float = 15) -> list[str]:
        def match() -> list[str] | None:
            texts = self.thread_texts(send_id)
            return texts if any(contains in t for t in texts) else None

        try:
            return wait_until(match, timeout, f"thread of {send_id} shows {contains!r}")
        except AssertionError:
            raise AssertionError(
                f"thread never showed {contains!r}: {self.thread_texts(send_id)}\n"
                + "\n".join(i.log()[-2000:] for i in self.instances)
            ) from None

    def wait_state(self, send_id: str, *states: SendState, timeout: float = 15) -> SendRecord:
        def reached() -> SendRecord | None:
            send = self.store.get_send(send_id)
            return send if send is not None and send.state in states else None

        return wait_until(reached, timeout, f"send {send_id} in {states}")

    def wait_shown(self, send_id: str, timeout: float = 15) -> SendRecord:
        """Until Slack shows the send's latest change (not dirty, nobody rendering it): every
        render pass its changes called for has ended."""

        def shown() -> SendRecord | None:
            send = self.store.get_send(send_id)
            return send if send is not None and not send.dirty and not send.render_owner else None

        return wait_until(shown, timeout, f"send {send_id} shown as stored")

    def wait_maintenance(self, send_id: str, timeout: float = 20) -> None:
        """A change to a shown send that no app is told of (its state as it is, marked dirty):
        only a maintenance round's sweep takes it up, and the round runs recovery just before
        the sweep. Once the send is shown again, a whole round came after this call."""
        send = self.wait_shown(send_id)
        # a state recovery leaves alone: the touch must not make the send look stuck or fresh
        assert send.state in (SendState.SENT, SendState.FAILED, SendState.UNKNOWN), send.state
        touched = self.store.transition(send_id, from_states=[send.state], to=send.state)
        assert touched is not None and touched.dirty
        self.wait_shown(send_id, timeout)

    def told(self, words: str) -> int:
        """How many things the app said (response_url posts, modals) containing `words`."""
        texts = [text_of(p.body or {}) for p in self.slack.response_posts]
        texts += [text_of(v) for v in self.slack.views.values()]
        return sum(words in t for t in texts)

    def wait_told(self, words: str, count: int = 1, timeout: float = 10) -> None:
        """Until the app said `words` `count` times: a click's handler says how it ended last,
        so each one counted has finished."""
        wait_until(lambda: self.told(words) >= count, timeout, f"{count} times {words!r}")

    def message_with_button(
        self, channel: str, user: str, action_id: str, value: str
    ) -> dict[str, Any]:
        """The message (ephemeral to `user`, or in the channel) with that button and value."""

        def find() -> dict[str, Any] | None:
            candidates = list(reversed(self.slack.ephemerals(channel=channel, user=user)))
            for top in self.slack.channel_messages(channel):
                candidates.extend(self.slack.thread(channel, top["ts"]))
            for message in candidates:
                for element in _elements(message.get("blocks") or []):
                    if element.get("action_id") == action_id and element.get("value") == value:
                        return message
            return None

        return wait_until(find, 10, f"a {action_id} button for {value} shown to {user}")


def _elements(node: Any) -> Iterator[dict[str, Any]]:
    if isinstance(node, dict):
        if "action_id" in node:
            yield node
        for value in node.values():
            yield from _elements(value)
    elif isinstance(node, list):
        for item in node:
            yield from _elements(item)


def draft_text(
    rig: Rig,
    app: Instance,
    body: str,
    *,
    user: str = USER,
    channel: str = CHANNEL,
    sender: str | None = None,
) -> tuple[SendRecord, dict[str, Any]]:
    """`/whatsapp text <recipient> <body>`: the draft and the confirmation shown to `user`."""
    text = f"text {RECIPIENT} {body}" + (f" from:{sender}" if sender else "")
    answer = app.driver.slash_command(text, user=user, channel=channel)
    assert answer.status == 200, answer
    send = wait_until(lambda: rig.send_where(body=body), 10, f"a draft of {body!r}")
    confirmation = rig.message_with_button(channel, user, ids.SEND, send.id)
    assert buttons(confirmation) == ["Send anyway", "Cancel"]  # the customer never wrote
    return send, confirmation


def share_file(
    rig: Rig,
    app: Instance,
    name: str = "parcel.png",
    content: bytes | None = None,
    *,
    text: str = "Your parcel arrived",
    user: str = USER,
    channel: str = CHANNEL,
    event_id: str | None = None,
) -> tuple[DriverResponse, SendRecord]:
    """Share a file in a channel with offers on; the event's answer and the offer's draft."""
    answer = app.driver.file_share(
        name, content or png(), user=user, channel=channel, text=text, event_id=event_id
    )
    assert answer.status == 200, answer
    ts = str(answer.sent["event"]["ts"])
    send = wait_until(
        lambda: (s := rig.send_where(thread_ts=ts)) and s.message_ts and s,
        15,
        f"an offer for {name}",
    )
    return answer, send


def command_marker(app: Instance, user: str = USER, channel: str = CHANNEL) -> None:
    """A harmless `/whatsapp status` through the slash path, and its answer: the app has
    taken up what was sent to it before."""
    key = f"marker-{secrets.token_hex(4)}"
    app.driver.slash_command(f"status {key}", user=user, channel=channel)
    words = f"No send has the transactionId `{key}`"
    wait_until(
        lambda: any(words in text_of(m) for m in app.rig.slack.ephemerals(channel, user)),
        10,
        f"the answer to `status {key}`",
    )


def requests_for(rig: Rig, external_id: str) -> int:
    """Provider requests that carried this send's externalId."""
    return sum(
        1
        for r in rig.provider.requests
        if isinstance(r.json, dict)
        and (r.json.get("request") or {}).get("externalId") == external_id
    )


def submission(app: Instance, view: dict[str, Any], recipient: str, sender: str) -> bytes:
    """The `view_submission` body Slack sends for this modal with these values."""
    state = {
        ids.RECIPIENT_BLOCK: {
            ids.RECIPIENT_INPUT: {"type": "plain_text_input", "value": recipient}
        },
        ids.SENDER_BLOCK: {
            ids.SENDER_INPUT: {
                "type": "static_select",
                "selected_option": {
                    "text": {"type": "plain_text", "text": sender},
                    "value": sender,
                },
            }
        },
    }
    payload = {
        "type": "view_submission",
        "team": {"id": app.driver.team_id, "domain": app.driver.team_domain},
        "user": {"id": USER, "username": "alice", "name": "alice", "team_id": "T000"},
        "api_app_id": app.driver.api_app_id,
        "token": "verification-token-deprecated",
        "trigger_id": "1.2.3",
        "view": {**view, "state": {"values": state}},
        "response_urls": [],
        "is_enterprise_install": False,
        "enterprise": None,
    }
    return urlencode({"payload": json.dumps(payload)}).encode()
