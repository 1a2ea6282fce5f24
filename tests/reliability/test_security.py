"""Security: Slack signatures, crafted clicks, who may send where, and secrets that never leak."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

import pytest
import sqlalchemy as sa

from bot.core import ids
from bot.store import SendState, metadata
from tests.conftest import SECRETS
from tests.reliability import figures
from tests.reliability.rig import (
    CHANNEL,
    OTHER_USER,
    RECIPIENT,
    USER,
    Instance,
    Rig,
    build,
    command_marker,
    draft_text,
    replay,
    requests_for,
    share_file,
    submission,
    wait_until,
)
from tests.scenarios.harness import text_of

SALES = "C0SALES"


class Refusal:
    """Waits for one more refusal containing `words` than were said when it was made."""

    def __init__(self, rig: Rig, words: str) -> None:
        self.rig = rig
        self.words = words
        self.before = rig.told(words)

    def wait(self, timeout: float = 10, count: int = 1) -> None:
        wait_until(
            lambda: self.rig.told(self.words) >= self.before + count,
            timeout,
            f"{count} more refusals saying {self.words!r}",
        )


def test_slack_signatures_one_byte_or_six_minutes_off_are_401(
    make_rig: Callable[..., Rig],
) -> None:
    rig = make_rig()
    app = rig.add()
    send, confirmation = draft_text(rig, app, "Signatures: a draft")
    requests = {
        "slash": build(
            app.driver,
            app.driver.slash_command,
            f"text {RECIPIENT} Forged",
            user=USER,
            channel=CHANNEL,
        ),
        "click": build(
            app.driver,
            app.driver.click,
            ids.SEND,
            send.id,
            user=USER,
            channel=CHANNEL,
            message=confirmation,
        ),
        "event": build(app.driver, app.driver.message, "hello", user=USER, channel=CHANNEL),
    }
    refused = 0
    for name, built in requests.items():
        # a letter near the middle and the last letter: the body still parses, so only the
        # signature can refuse it (a byte that breaks the syntax is the fuzz run's business)
        letters = [i for i, b in enumerate(built.body) if chr(b).islower()]  # not in %7B
        for at in (letters[len(letters) // 2], letters[-1]):
            changed = bytearray(built.body)
            changed[at] = ord("A") if changed[at] != ord("A") else ord("B")
            answer = app.driver.raw_post(bytes(changed), built.headers)
            assert answer.status == 401, (name, at, answer.status)
            refused += 1
    for skew in (-6 * 60, 6 * 60):
        answer = app.driver.slash_command(
            f"text {RECIPIENT} Stale", user=USER, channel=CHANNEL, timestamp=int(time.time()) + skew
        )
        assert answer.status == 401
        stale_click = app.driver.click(
            ids.SEND,
            send.id,
            user=USER,
            channel=CHANNEL,
            message=confirmation,
            timestamp=int(time.time()) + skew,
        )
        assert stale_click.status == 401
        refused += 2
    for headers in ({"X-Slack-Signature": "v0=" + "0" * 64}, {"X-Slack-Signature": ""}):
        built = requests["click"]
        answer = app.driver.raw_post(built.body, {**built.headers, **headers})
        assert answer.status == 401
        refused += 1
    # A 401 is answered before Bolt sees the request: nothing was handed on to do later. A
    # genuine command sent after them is answered, so the app has taken up all of them.
    command_marker(app)
    assert rig.current(send.id).state is SendState.DRAFT
    assert rig.send_where(body="Forged") is None and rig.send_where(body="Stale") is None
    assert rig.provider.requests == []
    # the untouched request still works: the refusals above were for the change alone
    assert replay(app.driver, requests["click"]).status == 200
    rig.wait_state(send.id, SendState.SENT)
    rig.wait_told("Sent to")  # that click's handler is done
    assert requests_for(rig, send.external_id) == len(rig.provider.requests) == 1
    figures.add(
        "security:signatures",
        "Slack requests one byte changed, 6 min old or unsigned",
        refused,
        "requests",
        0,
        "accepted",
    )


def test_a_crafted_click_on_someone_elses_draft_is_refused(make_rig: Callable[..., Rig]) -> None:
    rig = make_rig()
    app = rig.add()
    mine, confirmation = draft_text(rig, app, "Crafted: Alice's draft")
    for action in (ids.SEND, ids.CANCEL):
        refusal = Refusal(rig, f"Only <@{USER}>")
        answer = app.driver.click(
            action, mine.id, user=OTHER_USER, channel=CHANNEL, message=confirmation
        )
        assert answer.status == 200
        refusal.wait()  # the handler's last word: it refused and stopped there
    assert rig.current(mine.id).state is SendState.DRAFT
    assert rig.provider.requests == []
    # naming a send that does not exist, or whose id is mangled, sends nothing either
    unknown = ("0" * 32, mine.id[:-1], "", "../" + mine.id)
    expired = Refusal(rig, "This confirmation has expired; nothing was sent.")
    for value in unknown:
        app.driver.click(ids.SEND, value, user=USER, channel=CHANNEL, message=confirmation)
    expired.wait(count=len(unknown))  # each click's handler ends saying so
    assert rig.provider.requests == []
    assert rig.current(mine.id).state is SendState.DRAFT
    figures.add(
        "security:crafted",
        "crafted clicks naming others' or unknown drafts",
        6,
        "clicks",
        len(rig.provider.requests),
        "sends",
    )


def test_who_may_send_where_is_enforced_in_command_buttons_and_modal(
    make_rig: Callable[..., Rig],
) -> None:
    rig = make_rig()
    app = rig.add(access={"allowed_users": [USER]})
    refusals = 0

    # a user not in access.allowed_users: the command, the three buttons, the modal
    not_listed = "not on the list of people"
    refusal = Refusal(rig, not_listed)
    app.driver.slash_command(f"text {RECIPIENT} Not allowed", user=OTHER_USER, channel=CHANNEL)
    refusal.wait()
    _, offer_send = share_file(rig, app, "allowed.png")
    offer = rig.message_with_button(CHANNEL, USER, ids.SEND, offer_send.id)
    for action in (ids.SEND, ids.CANCEL, ids.CHOOSE_RECIPIENT):
        refusal = Refusal(rig, not_listed)
        app.driver.click(action, offer_send.id, user=OTHER_USER, channel=CHANNEL, message=offer)
        refusal.wait()
    view = {
        "id": "V0CRAFTED",
        "type": "modal",
        "callback_id": ids.MODAL,
        "private_metadata": json.dumps({"send_id": offer_send.id}),
    }
    assert not_listed in modal_errors(app, view, "acme-ops", "support", user=OTHER_USER)
    refusals += 5
    assert rig.send_where(body="Not allowed") is None

    # a channel that is not configured, a sender not allowed in the channel: the command
    refusal = Refusal(rig, "not set up for this channel")
    app.driver.slash_command(f"text {RECIPIENT} Nowhere", user=USER, channel="C0RANDOM")
    refusal.wait()
    refusal = Refusal(rig, "may not be used in this channel")
    app.driver.slash_command(
        f"text {RECIPIENT} Wrong sender from:support", user=USER, channel=SALES
    )
    refusal.wait()
    refusals += 2

    # drafts made while allowed, then the config changes: buttons and modal refuse them
    slash_draft, confirmation = draft_text(rig, app, "Sales sender", sender="sales")
    assert slash_draft.sender_alias == "sales"
    channels = {
        CHANNEL: {
            "sender": "support",
            "allowed_senders": ["support"],
            "file_shares": True,
            "default_recipient": RECIPIENT,
        },
        SALES: {"sender": "sales"},
    }
    app.write_config(channels=channels)
    app.restart()
    refusal = Refusal(rig, "`sales` may not be used in this channel")
    app.driver.click(ids.SEND, slash_draft.id, user=USER, channel=CHANNEL, message=confirmation)
    refusal.wait()
    assert "may not be used in this channel" in modal_errors(app, view, "acme-ops", "sales")
    refusals += 2
    app.write_config(channels={SALES: {"sender": "sales"}})
    app.restart()
    for action in (ids.SEND, ids.CHOOSE_RECIPIENT):
        refusal = Refusal(rig, "not set up for this channel")
        app.driver.click(action, offer_send.id, user=USER, channel=CHANNEL, message=offer)
        refusal.wait()
    assert "not set up for this channel" in modal_errors(app, view, "acme-ops", "support")
    refusals += 3

    # Every refusal above was waited for, and each is its handler's last word: nothing that
    # was refused is still on its way to the provider.
    assert rig.provider.requests == []
    assert rig.current(slash_draft.id).state is SendState.DRAFT
    assert rig.current(offer_send.id).state is SendState.DRAFT
    figures.add(
        "security:access",
        "refused: user not allowed, channel not configured, "
        "sender not allowed (command, buttons, modal)",
        refusals,
        "attempts",
        len(rig.provider.requests),
        "sends",
    )


def modal_errors(
    app: Instance, view: dict[str, Any], recipient: str, sender: str, user: str = USER
) -> str:
    """Submit the recipient modal as `user`; the errors it is answered with, as text."""
    body = submission(app, view, recipient, sender).replace(USER.encode(), user.encode())
    answer = app.driver.raw_post(
        body, app.driver.signed_headers(body, "application/x-www-form-urlencoded")
    )
    assert answer.status == 200 and answer.json["response_action"] == "errors", answer.body
    return json.dumps(answer.json["errors"])


def secrets_to_find() -> dict[str, str]:
    found = dict(SECRETS)
    found["provider key as a bearer header"] = f"Bearer {SECRETS['WHATSAPP_API_KEY']}"
    return found


def bearer_tokens(rig: Rig) -> dict[str, str]:
    """The secrets in the URLs the bot hands out: every send's callback token, every media
    link's token. They belong in provider requests and the database, never in a log."""
    found = {}
    for send in rig.all_sends():
        found[f"callback token of {send.id}"] = send.callback_token
        if "/media/" in send.body:
            found[f"media token of {send.id}"] = send.body.rsplit("/media/", 1)[1]
    return found


def log_lines(app: Instance, log_format: str) -> list[str]:
    """The server's log; in JSON, every line is checked to be one object with its fields."""
    lines = app.log().splitlines()
    if log_format == "json":
        for line in lines:
            entry = json.loads(line)
            assert isinstance(entry, dict), line
            assert {"time", "level", "logger", "message"} <= entry.keys(), line
        assert any("send_id" in json.loads(line) for line in lines), "no line names a send"
    return lines


@pytest.mark.parametrize("log_format", ["text", "json"])
def test_secrets_never_leak_into_logs_slack_or_answers(
    make_rig: Callable[..., Rig], log_format: str
) -> None:
    rig = make_rig()
    app = rig.add(logging={"format": log_format})
    rig.provider.fetch_media = True
    # a slash send that goes through, and one of each failure
    for fault in (None, "401", "500", "429", "400", "drop"):
        if fault == "429":
            rig.provider.fail_next("429", reset="1s")
        elif fault:
            rig.provider.fail_next(fault)
        send, confirmation = draft_text(rig, app, f"Leak check {fault}: your order")
        app.driver.click(ids.SEND, send.id, user=USER, channel=CHANNEL, message=confirmation)
        rig.wait_state(send.id, SendState.SENT, SendState.FAILED, SendState.UNKNOWN)
        rig.wait_thread(send.id, "Status:" if fault in (None, "429") else "")
    # a shared file sent through its offer, fetched by the provider from /media/
    _, shared = share_file(rig, app, "leak.png")
    offer = rig.message_with_button(CHANNEL, USER, ids.SEND, shared.id)
    app.driver.click(ids.SEND, shared.id, user=USER, channel=CHANNEL, message=offer)
    rig.wait_thread(shared.id, "Status: *READ*")
    assert any(f.accepted for f in rig.provider.fetches)
    # mistakes and refusals
    app.driver.slash_command("image nobody ftp://x", user=USER, channel=CHANNEL)
    app.driver.slash_command("help", user=USER, channel=CHANNEL, corrupt_signature=True)
    app.callback(shared.callback_token, b"not json")
    app.callback("forged.token", b"{}")
    app.health()
    app.call("/media/forged.token")
    # Everything those requests set going has ended before the scan: the mistake's answer
    # (the slash command after it answered too), the provider's callbacks, and every thread.
    wait_until(
        lambda: any("is not a web link" in text_of(m) for m in rig.slack.ephemerals()),
        10,
        "the answer to the mistaken command",
    )
    command_marker(app)
    rig.provider.wait_for_callbacks(timeout=15)
    for made in rig.all_sends():
        rig.wait_shown(made.id)

    artifacts: dict[str, str] = {}
    lines = log_lines(app, log_format)
    artifacts.update({f"log line {i}": line for i, line in enumerate(lines)})
    for i, call in enumerate(rig.slack.calls):
        headers = {k: v for k, v in call.headers.items() if k.lower() != "authorization"}
        artifacts[f"Slack {call.method} #{i}"] = json.dumps(
            [call.params, call.response, headers], default=str
        )
    for i, post in enumerate(rig.slack.response_posts):
        artifacts[f"response_url post #{i}"] = json.dumps(post.body)
    answers = [(a.status, a.text, a.headers) for a in app.answers]
    answers += [(r.status, r.body, r.headers) for r in app.driver.history]
    for i, answer in enumerate(answers):
        artifacts[f"HTTP answer #{i}"] = json.dumps(answer, default=str)
    for i, req in enumerate(rig.provider.requests):
        headers = {k: v for k, v in req.headers.items() if k.lower() != "authorization"}
        artifacts[f"provider request #{i}"] = req.body.decode("utf-8", "replace") + str(headers)
    for i, cb in enumerate(rig.provider.callbacks):
        artifacts[f"callback #{i}"] = cb.body.decode("utf-8", "replace") + cb.url
    with rig.store.engine.connect() as conn:
        for table in metadata.sorted_tables:
            for j, row in enumerate(conn.execute(sa.select(table)).all()):
                artifacts[f"db {table.name} #{j}"] = repr(tuple(row))
    leaks = [
        (where, name)
        for where, text in artifacts.items()
        for name, secret in secrets_to_find().items()
        if secret in text
    ]
    leaks += [
        (f"log line {i}", name)
        for i, line in enumerate(lines)
        for name, token in bearer_tokens(rig).items()
        if token in line
    ]
    # the bot token is sent to Slack, and the provider key to the provider, only as auth
    auth_ok = all(
        c.headers.get("Authorization") == f"Bearer {SECRETS['SLACK_BOT_TOKEN']}"
        for c in rig.slack.calls
    ) and all(
        r.headers.get("Authorization") == f"Bearer {SECRETS['WHATSAPP_API_KEY']}"
        for r in rig.provider.requests
    )
    scanned = len(artifacts) * len(secrets_to_find())
    print(
        f"\n{len(artifacts)} artifacts x {len(secrets_to_find())} secrets scanned; "
        f"leaks {leaks[:5]}"
    )
    figures.add(
        "security:leaks",
        "secret scans: server log lines, Slack calls and "
        "response_url posts, HTTP answers, provider requests, database rows",
        scanned,
        "artifact x secret pairs",
        len(leaks),
        "leaks",
    )
    assert leaks == []
    assert auth_ok
