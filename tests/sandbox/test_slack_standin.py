"""The stand-in Slack, through slack_sdk's real clients, and the driver, through a real Bolt app."""

from __future__ import annotations

import http.client
import json
import re
import socketserver
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

import pytest
from slack_bolt import App
from slack_bolt.adapter.wsgi import SlackRequestHandler
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.signature import Clock, SignatureVerifier
from slack_sdk.webhook import WebhookClient

from bot.sandbox.driver import SlackDriver, sign
from bot.sandbox.slack import BOT_USER_ID, DEFAULT_BOT_TOKEN, SlackStandIn

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "slack"
SECRET = "test-signing-secret-0123456789"
CHANNEL = "C0123SUPPORT"
ALICE = "U0ALICE01"
TS = re.compile(r"\d{10}\.\d{6}")

# Slack's worked example on "Verifying requests from Slack".
DOC_SECRET = "8f742231b10e8888abcd99yyyzzz85a5"
DOC_TS = "1531420618"
DOC_BODY = (
    "token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow"
    "&channel_id=G8PSS9T3V&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner"
    "&command=%2Fwebhook-collect&text=&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands"
    "%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN"
    "&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c"
)
DOC_SIG = "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503"


def fixture(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((FIXTURES / f"{name}.json").read_text())
    assert data.pop("_source").startswith("https://")
    return data


@pytest.fixture
def slack() -> Iterator[SlackStandIn]:
    with SlackStandIn() as standin:
        standin.add_channel(CHANNEL, "support")
        standin.add_user(ALICE, "alice", real_name="Alice A.")
        yield standin


@pytest.fixture
def client(slack: SlackStandIn) -> WebClient:
    return WebClient(token=DEFAULT_BOT_TOKEN, base_url=slack.api_url, timeout=5)


def api_error(exc: pytest.ExceptionInfo[SlackApiError]) -> str:
    return str(exc.value.response["error"])


# ---------------------------------------------------------------- Web API


def test_auth(slack: SlackStandIn, client: WebClient) -> None:
    me = client.auth_test()
    assert me["user_id"] == BOT_USER_ID and me["team_id"] == "T000"

    with pytest.raises(SlackApiError) as wrong:
        WebClient(token="xoxb-wrong", base_url=slack.api_url).auth_test()
    assert api_error(wrong) == "invalid_auth"
    assert wrong.value.response.status_code == 200

    with pytest.raises(SlackApiError) as missing:
        WebClient(base_url=slack.api_url).auth_test()
    assert api_error(missing) == "not_authed"

    with pytest.raises(SlackApiError) as unknown:
        client.api_call("chat.frobnicate")
    assert api_error(unknown) == "unknown_method"


def test_messages_threads_and_broadcast(slack: SlackStandIn, client: WebClient) -> None:
    parent = client.chat_postMessage(channel=CHANNEL, text="Sent image to +57…")
    assert TS.fullmatch(parent["ts"]) and parent["channel"] == CHANNEL
    assert parent["message"]["text"] == "Sent image to +57…"
    first = client.chat_postMessage(channel=CHANNEL, thread_ts=parent["ts"], text="tx-1")
    second = client.chat_postMessage(
        channel=CHANNEL, thread_ts=first["ts"], text="DELIVERED", reply_broadcast=True
    )
    assert parent["ts"] < first["ts"] < second["ts"]

    top = slack.channel_messages(CHANNEL)
    assert [m["text"] for m in top] == ["Sent image to +57…", "DELIVERED"]
    assert top[1]["subtype"] == "thread_broadcast"
    assert top[0]["reply_count"] == 2
    assert top[0]["reply_users"] == [BOT_USER_ID]
    assert top[0]["latest_reply"] == second["ts"]

    thread = slack.thread(CHANNEL, parent["ts"])
    assert [m["text"] for m in thread] == ["Sent image to +57…", "tx-1", "DELIVERED"]
    assert all(m["thread_ts"] == parent["ts"] for m in thread)
    assert slack.thread(CHANNEL, first["ts"]) == thread

    with pytest.raises(SlackApiError) as orphan:
        client.chat_postMessage(channel=CHANNEL, thread_ts="1.000100", text="x")
    assert api_error(orphan) == "thread_not_found"
    with pytest.raises(SlackApiError) as empty:
        client.api_call("chat.postMessage", json={"channel": CHANNEL})
    assert api_error(empty) == "no_text"
    with pytest.raises(SlackApiError) as nowhere:
        client.chat_postMessage(channel="not-a-channel", text="x")
    assert api_error(nowhere) == "channel_not_found"


def test_form_encoded_and_json_bodies(slack: SlackStandIn, client: WebClient) -> None:
    blocks = [{"type": "section", "text": {"type": "mrkdwn", "text": "*hi*"}}]
    client.api_call(
        "chat.postMessage", params={"channel": CHANNEL, "text": "hi", "blocks": json.dumps(blocks)}
    )
    client.api_call("chat.postMessage", json={"channel": CHANNEL, "text": "hi", "blocks": blocks})
    first, second = slack.channel_messages(CHANNEL)
    assert first["blocks"] == second["blocks"] == blocks
    calls = slack.calls_to("chat.postMessage")
    assert [c.params["channel"] for c in calls] == [CHANNEL, CHANNEL]
    assert calls[0].headers["Authorization"] == f"Bearer {DEFAULT_BOT_TOKEN}"
    assert calls[0].ok and calls[0].time <= time.time()


def test_update_delete_and_edit_history(slack: SlackStandIn, client: WebClient) -> None:
    msg = client.chat_postMessage(channel=CHANNEL, text="QUEUE")
    client.chat_update(channel=CHANNEL, ts=msg["ts"], text="SENT")
    updated = client.chat_update(
        channel=CHANNEL,
        ts=msg["ts"],
        text="DELIVERED",
        blocks=[{"type": "section", "text": {"type": "mrkdwn", "text": "*DELIVERED*"}}],
    )
    assert updated["message"]["text"] == "DELIVERED"
    shown = slack.channel_messages(CHANNEL)
    assert len(shown) == 1 and shown[0]["text"] == "DELIVERED" and "edited" in shown[0]
    assert [m["text"] for m in slack.edit_history(CHANNEL, msg["ts"])] == ["QUEUE", "SENT"]

    with pytest.raises(SlackApiError) as missing:
        client.chat_update(channel=CHANNEL, ts="1700000000.000001", text="x")
    assert api_error(missing) == "message_not_found"

    human = slack.add_message(CHANNEL, user=ALICE, text="parcel.jpg")
    with pytest.raises(SlackApiError) as theirs:
        client.chat_update(channel=CHANNEL, ts=human["ts"], text="mine now")
    assert api_error(theirs) == "cant_update_message"

    reply = client.chat_postMessage(channel=CHANNEL, thread_ts=human["ts"], text="offer")
    assert slack.message(CHANNEL, human["ts"])["reply_count"] == 1  # type: ignore[index]
    client.chat_delete(channel=CHANNEL, ts=reply["ts"])
    assert "reply_count" not in slack.message(CHANNEL, human["ts"])  # type: ignore[operator]
    client.chat_delete(channel=CHANNEL, ts=msg["ts"])
    assert [m["ts"] for m in slack.channel_messages(CHANNEL)] == [human["ts"]]

    parent = client.chat_postMessage(channel=CHANNEL, text="parent")
    client.chat_postMessage(channel=CHANNEL, thread_ts=parent["ts"], text="child")
    client.chat_delete(channel=CHANNEL, ts=parent["ts"])
    tombstone = slack.message(CHANNEL, parent["ts"])
    assert tombstone is not None and tombstone["subtype"] == "tombstone"
    assert len(slack.thread(CHANNEL, parent["ts"])) == 2


def test_reactions(slack: SlackStandIn, client: WebClient) -> None:
    msg = client.chat_postMessage(channel=CHANNEL, text="sent")
    client.reactions_add(channel=CHANNEL, timestamp=msg["ts"], name="white_check_mark")
    with pytest.raises(SlackApiError) as again:
        client.reactions_add(channel=CHANNEL, timestamp=msg["ts"], name="white_check_mark")
    assert api_error(again) == "already_reacted"
    assert slack.channel_messages(CHANNEL)[0]["reactions"] == [
        {"name": "white_check_mark", "users": [BOT_USER_ID], "count": 1}
    ]
    client.reactions_remove(channel=CHANNEL, timestamp=msg["ts"], name="white_check_mark")
    assert "reactions" not in slack.channel_messages(CHANNEL)[0]
    with pytest.raises(SlackApiError) as gone:
        client.reactions_remove(channel=CHANNEL, timestamp=msg["ts"], name="white_check_mark")
    assert api_error(gone) == "no_reaction"
    with pytest.raises(SlackApiError) as nowhere:
        client.reactions_add(channel=CHANNEL, timestamp="1.000001", name="eyes")
    assert api_error(nowhere) == "message_not_found"


def test_ephemeral(slack: SlackStandIn, client: WebClient) -> None:
    sent = client.chat_postEphemeral(channel=CHANNEL, user=ALICE, text="Confirm?")
    assert TS.fullmatch(sent["message_ts"])
    client.chat_postEphemeral(channel=CHANNEL, user="U0BOB0001", text="For Bob")
    assert [m["text"] for m in slack.ephemerals(CHANNEL, ALICE)] == ["Confirm?"]
    assert len(slack.ephemerals(CHANNEL)) == 2
    assert slack.ephemerals(user=ALICE)[0]["recipient"] == ALICE
    assert slack.channel_messages(CHANNEL) == []


def test_blocks_are_checked(client: WebClient) -> None:
    button = {"type": "button", "text": {"type": "plain_text", "text": "x" * 76}, "value": "1"}
    with pytest.raises(SlackApiError) as bad:
        client.chat_postMessage(
            channel=CHANNEL, text="t", blocks=[{"type": "actions", "elements": [button]}]
        )
    assert api_error(bad) == "invalid_blocks"
    assert "75" in bad.value.response["response_metadata"]["messages"][0]


def test_views(slack: SlackStandIn, client: WebClient) -> None:
    modal = {
        "type": "modal",
        "callback_id": "pick",
        "title": {"type": "plain_text", "text": "Send on WhatsApp"},
        "submit": {"type": "plain_text", "text": "Send"},
        "blocks": [
            {
                "type": "input",
                "block_id": "to",
                "label": {"type": "plain_text", "text": "To"},
                "element": {"type": "plain_text_input", "action_id": "to_input"},
            }
        ],
    }
    trigger = slack.new_trigger_id()
    opened = client.views_open(trigger_id=trigger, view={**modal, "external_id": "send-1"})
    view_id = opened["view"]["id"]
    assert view_id.startswith("V") and slack.is_view_open(view_id)
    with pytest.raises(SlackApiError) as reused:
        client.views_open(trigger_id=trigger, view=modal)
    assert api_error(reused) == "exchanged_trigger_id"
    with pytest.raises(SlackApiError) as made_up:
        client.views_open(trigger_id="111.222.abc", view=modal)
    assert api_error(made_up) == "invalid_trigger_id"
    slack.trigger_ttl = 0.0
    late = slack.new_trigger_id()
    time.sleep(0.01)
    with pytest.raises(SlackApiError) as expired:
        client.views_open(trigger_id=late, view=modal)
    assert api_error(expired) == "expired_trigger_id"

    title2 = {"type": "plain_text", "text": "Sending…"}
    client.views_update(view_id=view_id, view={**modal, "title": title2})
    client.views_update(external_id="send-1", view={**modal, "title": title2, "blocks": []})
    assert slack.views[view_id]["title"]["text"] == "Sending…"
    assert slack.views[view_id]["blocks"] == []
    with pytest.raises(SlackApiError) as conflict:
        client.views_update(view_id=view_id, view=modal, hash="stale")
    assert api_error(conflict) == "hash_conflict"
    with pytest.raises(SlackApiError) as too_long:
        client.views_update(
            view_id=view_id, view={**modal, "title": {"type": "plain_text", "text": "x" * 25}}
        )
    assert api_error(too_long) == "invalid_arguments"

    home = {
        "type": "home",
        "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": "h"}}],
    }
    client.views_publish(user_id=ALICE, view=home)
    shown = slack.home_view(ALICE)
    assert shown is not None and shown["type"] == "home" and shown["blocks"] == home["blocks"]
    assert slack.home_view("U0NOBODY1") is None


def test_users_and_conversations(client: WebClient) -> None:
    assert client.users_info(user=ALICE)["user"]["real_name"] == "Alice A."
    assert client.conversations_info(channel=CHANNEL)["channel"]["name"] == "support"
    with pytest.raises(SlackApiError) as nobody:
        client.users_info(user="nobody")
    assert api_error(nobody) == "user_not_found"


def test_files_info_and_downloads(slack: SlackStandIn, client: WebClient) -> None:
    content = bytes(range(256)) * 1024
    obj = slack.add_file("parcel.jpg", content, "image/jpeg", "jpg", ALICE, CHANNEL, text="Hi")
    assert re.fullmatch(r"F[0-9A-Z]+", obj["id"]) and obj["size"] == len(content)
    assert obj["url_private_download"].startswith(f"{slack.url}/files-pri/T000-{obj['id']}/")
    info = client.files_info(file=obj["id"])
    assert info["file"]["url_private"] == obj["url_private"]
    shared = slack.channel_messages(CHANNEL)[0]
    assert shared["subtype"] == "file_share" and shared["files"][0]["id"] == obj["id"]
    with pytest.raises(SlackApiError) as missing:
        client.files_info(file="F404")
    assert api_error(missing) == "file_not_found"

    auth = {"Authorization": f"Bearer {DEFAULT_BOT_TOKEN}"}
    req = urllib.request.Request(obj["url_private_download"], headers=auth)
    with urllib.request.urlopen(req, timeout=5) as resp:
        assert resp.headers["Content-Type"] == "image/jpeg"
        assert int(resp.headers["Content-Length"]) == len(content)
        assert resp.read() == content

    target = urlsplit(obj["url_private"])
    conn = http.client.HTTPConnection(target.netloc, timeout=5)
    conn.request("GET", target.path)
    anonymous = conn.getresponse()
    anonymous.read()
    assert anonymous.status == 302
    assert anonymous.headers["Location"].startswith(f"{slack.url}/?redirect=")
    conn.close()

    conn = http.client.HTTPConnection(target.netloc, timeout=5)
    conn.request("GET", target.path, headers={"Authorization": "Bearer xoxb-wrong"})
    wrong = conn.getresponse()
    wrong.read()
    assert wrong.status == 302
    conn.close()

    conn = http.client.HTTPConnection(target.netloc, timeout=5)
    conn.request("HEAD", target.path, headers=auth)
    head = conn.getresponse()
    assert head.status == 200 and head.read() == b""
    assert int(head.headers["Content-Length"]) == len(content)
    conn.close()

    conn = http.client.HTTPConnection(target.netloc, timeout=5)
    conn.request("GET", target.path, headers={**auth, "Range": "bytes=10-19"})
    part = conn.getresponse()
    assert part.status == 206 and part.read() == content[10:20]
    conn.close()

    assert [(d.status, d.authorized) for d in slack.downloads] == [
        (200, True),
        (302, False),
        (302, False),
        (200, True),
        (206, True),
    ]


def test_unauthorized_downloads_can_be_forbidden() -> None:
    with SlackStandIn(files_unauthorized="forbidden") as slack:
        obj = slack.add_file("a.pdf", b"%PDF-1.4", "application/pdf", "pdf", ALICE)
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(obj["url_private"], timeout=5)
        assert refused.value.code == 403


def test_fault_injection(slack: SlackStandIn, client: WebClient) -> None:
    slack.fail_next("chat.postMessage", retry_after=7)
    with pytest.raises(SlackApiError) as limited:
        client.chat_postMessage(channel=CHANNEL, text="x")
    assert limited.value.response.status_code == 429
    assert limited.value.response.headers["Retry-After"] == "7"
    assert api_error(limited) == "ratelimited"
    client.chat_postMessage(channel=CHANNEL, text="x")

    slack.fail_next("chat.update", "channel_not_found", count=2)
    for _ in range(2):
        with pytest.raises(SlackApiError) as failed:
            client.chat_update(channel=CHANNEL, ts="1.1", text="x")
        assert failed.value.response.status_code == 200
        assert api_error(failed) == "channel_not_found"

    slack.fail_next("*", "500")
    with pytest.raises(SlackApiError) as broken:
        client.auth_test()
    assert broken.value.response.status_code == 500
    assert client.auth_test()["ok"]


def test_a_refused_token_is_refused_everywhere_until_accepted(
    slack: SlackStandIn, client: WebClient
) -> None:
    obj = slack.add_file("a.pdf", b"%PDF-1.4", "application/pdf", "pdf", ALICE, CHANNEL)
    auth = {"Authorization": f"Bearer {DEFAULT_BOT_TOKEN}"}

    def download() -> int:
        request = urllib.request.Request(obj["url_private_download"], headers=auth)
        try:
            with urllib.request.urlopen(request, timeout=5) as answer:
                return int(answer.status)
        except urllib.error.HTTPError as exc:
            return exc.code

    slack.refuse_token("token_revoked")
    calls = (
        client.auth_test,
        lambda: client.chat_postMessage(channel=CHANNEL, text="x"),
        lambda: client.users_info(user=ALICE),
        lambda: client.files_info(file=obj["id"]),
    )
    for _ in range(2):  # it lasts: not a fault used up by one call
        for call in calls:
            with pytest.raises(SlackApiError) as refused:
                call()
            assert refused.value.response.status_code == 200
            assert api_error(refused) == "token_revoked"
    slack.refuse_token("account_inactive")
    with pytest.raises(SlackApiError) as inactive:
        client.auth_test()
    assert api_error(inactive) == "account_inactive"
    assert slack.channel_messages(CHANNEL)[-1]["files"][0]["id"] == obj["id"]  # nothing posted
    assert [d.authorized for d in slack.downloads] == []
    assert download() == 200  # urllib follows the redirect to the sign-in page
    assert [(d.status, d.authorized) for d in slack.downloads] == [(302, False)]
    with pytest.raises(ValueError):
        slack.refuse_token("")

    slack.accept_token()
    assert client.auth_test()["ok"]
    client.chat_postMessage(channel=CHANNEL, text="back")
    assert download() == 200
    assert slack.downloads[-1].authorized
    errors = [c.response.get("error") for c in slack.calls if not c.ok]
    assert errors == ["token_revoked"] * 8 + ["account_inactive"]


def _raw(slack: SlackStandIn, path: str, body: bytes, ctype: str) -> tuple[int, dict[str, Any]]:
    conn = http.client.HTTPConnection(slack.host, slack.port, timeout=5)
    headers = {"Content-Type": ctype, "Authorization": f"Bearer {DEFAULT_BOT_TOKEN}"}
    conn.request("POST", path, body=body, headers=headers)
    resp = conn.getresponse()
    data: dict[str, Any] = json.loads(resp.read())
    conn.close()
    return resp.status, data


def test_garbage_gets_slack_like_errors(slack: SlackStandIn) -> None:
    path = "/api/chat.postMessage"
    assert _raw(slack, path, b"{not json", "application/json") == (
        200,
        {"ok": False, "error": "invalid_json"},
    )
    assert _raw(slack, path, b"[1, 2]", "application/json")[1]["error"] == "invalid_json"
    assert _raw(slack, path, b"\xff\xfe", "application/x-www-form-urlencoded")[1] == {
        "ok": False,
        "error": "invalid_form_data",
    }
    assert _raw(slack, path, b"x", "image/png")[1]["error"] == "invalid_form_data"
    assert _raw(slack, path, b'{"channel": ["C1"]}', "application/json")[1]["ok"] is False
    blocks = b'{"channel": "C0123SUPPORT", "text": "t", "blocks": "{{"}'
    assert _raw(slack, path, blocks, "application/json")[1]["error"] == "invalid_blocks"
    status, body = _raw(slack, "/response/nope", b"<<<", "application/json")
    assert status == 400 and body["error"] == "invalid_payload"


# ---------------------------------------------------------------- response URLs


def test_response_url_for_a_slash_command(slack: SlackStandIn) -> None:
    hook = WebhookClient(slack.new_response_url(CHANNEL, ALICE), timeout=5)
    assert hook.send(text="Confirm: image to +573001234567?").status_code == 200
    assert [m["text"] for m in slack.ephemerals(CHANNEL, ALICE)] == [
        "Confirm: image to +573001234567?"
    ]
    hook.send(text="Sending…", replace_original=True)
    assert [m["text"] for m in slack.ephemerals(CHANNEL, ALICE)] == ["Sending…"]
    hook.send(text="Posted.", response_type="in_channel")
    assert [m["text"] for m in slack.channel_messages(CHANNEL)] == ["Posted."]
    hook.send_dict({"delete_original": True})
    assert slack.ephemerals(CHANNEL, ALICE) == []
    assert hook.send(text="fifth").status_code == 200
    used = hook.send(text="sixth")
    assert used.status_code == 404 and json.loads(used.body)["error"] == "used_url"
    assert [p.result for p in slack.response_posts] == [
        "ephemeral",
        "replaced",
        "in_channel",
        "deleted",
        "ephemeral",
        "used_url",
    ]


def test_response_url_for_a_channel_message(slack: SlackStandIn, client: WebClient) -> None:
    offer = client.chat_postMessage(channel=CHANNEL, text="Send parcel.jpg?")
    hook = WebhookClient(slack.new_response_url(CHANNEL, ALICE, message_ts=offer["ts"]))
    hook.send(text="Sent: tx-1", replace_original=True)
    assert slack.message(CHANNEL, offer["ts"])["text"] == "Sent: tx-1"  # type: ignore[index]
    assert slack.edit_history(CHANNEL, offer["ts"])[0]["text"] == "Send parcel.jpg?"
    hook.send_dict({"text": "In thread", "response_type": "in_channel", "thread_ts": offer["ts"]})
    assert [m["text"] for m in slack.thread(CHANNEL, offer["ts"])] == ["Sent: tx-1", "In thread"]
    assert hook.send_dict({"text": ""}).status_code == 400
    hook.send_dict({"delete_original": "true"})
    assert [m["text"] for m in slack.channel_messages(CHANNEL)] == ["This message was deleted."]


def test_response_url_for_an_ephemeral_message(slack: SlackStandIn, client: WebClient) -> None:
    confirm = client.chat_postEphemeral(channel=CHANNEL, user=ALICE, text="Send?")
    url = slack.new_response_url(CHANNEL, ALICE, message_ts=confirm["message_ts"], ephemeral=True)
    WebhookClient(url).send(text="Cancelled.", replace_original=True)
    assert [m["text"] for m in slack.ephemerals(CHANNEL, ALICE)] == ["Cancelled."]


# ---------------------------------------------------------------- lifecycle


def test_wait_for_and_prompt_stop() -> None:
    slack = SlackStandIn()
    port = slack.port
    assert slack.wait_for(lambda: 42, timeout=0.1) == 42
    with pytest.raises(TimeoutError):
        slack.wait_for(lambda: [], timeout=0.05)
    started = time.monotonic()
    slack.stop()
    slack.stop()
    assert time.monotonic() - started < 1.0
    with pytest.raises(OSError):
        http.client.HTTPConnection("127.0.0.1", port, timeout=1).request("GET", "/")


def test_deterministic_timestamps() -> None:
    with SlackStandIn(start_ts=1700000000) as slack:
        client = WebClient(token=DEFAULT_BOT_TOKEN, base_url=slack.api_url)
        assert client.chat_postMessage(channel=CHANNEL, text="a")["ts"] == "1700000000.000000"
        assert client.chat_postMessage(channel=CHANNEL, text="b")["ts"] == "1700000000.000100"


# ---------------------------------------------------------------- driver: signatures


class _FixedClock(Clock):
    def __init__(self, now: float) -> None:
        self._now = now

    def now(self) -> float:
        return self._now


class _Capture(socketserver.ThreadingMixIn, WSGIServer):
    daemon_threads = True
    block_on_close = False


class _Quiet(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        return


class _Recorder:
    """A fake app on loopback that records what it is sent and answers ``answer``."""

    def __init__(self) -> None:
        self.requests: list[tuple[dict[str, str], bytes]] = []
        self.answer: tuple[str, bytes] = ("application/json", b"")
        self.server = make_server("127.0.0.1", 0, self, server_class=_Capture, handler_class=_Quiet)
        threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_port}"

    def __call__(self, environ: dict[str, Any], start_response: Any) -> list[bytes]:
        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = environ["wsgi.input"].read(length)
        headers = {
            key[5:].replace("_", "-").title(): str(value)
            for key, value in environ.items()
            if key.startswith("HTTP_")
        }
        headers["Content-Type"] = environ.get("CONTENT_TYPE", "")
        self.requests.append((headers, body))
        ctype, answer = self.answer
        start_response("200 OK", [("Content-Type", ctype), ("Content-Length", str(len(answer)))])
        return [answer]

    def last(self) -> tuple[dict[str, str], bytes]:
        return self.requests[-1]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def recorder() -> Iterator[_Recorder]:
    rec = _Recorder()
    yield rec
    rec.close()


def test_documented_signature_vector(recorder: _Recorder) -> None:
    assert sign(DOC_SECRET, DOC_TS, DOC_BODY) == DOC_SIG
    driver = SlackDriver(recorder.url, DOC_SECRET, clock=lambda: float(DOC_TS))
    assert driver.sign(DOC_BODY, DOC_TS) == DOC_SIG
    driver.post(DOC_BODY, "application/x-www-form-urlencoded")
    headers, body = recorder.last()
    assert body == DOC_BODY.encode()
    assert headers["X-Slack-Request-Timestamp"] == DOC_TS
    assert headers["X-Slack-Signature"] == DOC_SIG
    verifier = SignatureVerifier(DOC_SECRET, clock=_FixedClock(int(DOC_TS) + 10))
    assert verifier.is_valid_request(body, headers)
    assert not SignatureVerifier(DOC_SECRET).is_valid_request(body, headers)  # 2018 is stale


def _payload(body: bytes) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(parse_qs(body.decode())["payload"][0])
    return data


def _same_keys(sent: dict[str, Any], expected: dict[str, Any], optional: set[str]) -> None:
    assert set(expected) - optional <= set(sent), set(expected) - set(sent)
    assert set(sent) - set(expected) <= optional, set(sent) - set(expected)


def test_driver_signs_like_slack(slack: SlackStandIn, recorder: _Recorder) -> None:
    driver = SlackDriver(recorder.url, SECRET, slack=slack)
    verifier = SignatureVerifier(SECRET)
    recorder.answer = ("application/json", b'{"text": "Checking\\u2026"}')

    answer = driver.slash_command("help", user=ALICE, channel=CHANNEL)
    assert answer.status == 200 and answer.json == {"text": "Checking…"} and answer.elapsed < 5
    headers, body = recorder.last()
    assert recorder.requests[-1][0]["Content-Type"] == "application/x-www-form-urlencoded"
    assert verifier.is_valid_request(body, headers)
    fields = {k: v[0] for k, v in parse_qs(body.decode(), keep_blank_values=True).items()}
    _same_keys(fields, fixture("slash_command"), {"enterprise_id", "enterprise_name"})
    assert fields["command"] == "/whatsapp" and fields["text"] == "help"
    assert fields["response_url"].startswith(f"{slack.url}/response/")
    assert [m["text"] for m in slack.ephemerals(CHANNEL, ALICE)] == ["Checking…"]

    stale = int(time.time()) - 600
    driver.slash_command("help", user=ALICE, channel=CHANNEL, timestamp=stale)
    headers, body = recorder.last()
    assert headers["X-Slack-Request-Timestamp"] == str(stale)
    assert not verifier.is_valid_request(body, headers)
    assert SignatureVerifier(SECRET, clock=_FixedClock(stale)).is_valid_request(body, headers)

    driver.slash_command("help", user=ALICE, channel=CHANNEL, corrupt_signature=True)
    headers, body = recorder.last()
    assert not verifier.is_valid_request(body, headers)

    answer = driver.raw_post(b"token=x", {"Content-Type": "application/x-www-form-urlencoded"})
    assert answer.status == 200 and "X-Slack-Signature" not in recorder.last()[0]

    recorder.answer = ("application/json", b"")
    driver.event({"type": "app_mention", "text": "hi"}, event_id="Ev1", retry_num=2)
    headers, body = recorder.last()
    assert verifier.is_valid_request(body, headers)
    assert headers["X-Slack-Retry-Num"] == "2" and headers["X-Slack-Retry-Reason"] == "http_timeout"
    assert json.loads(body)["event_id"] == "Ev1"
    assert headers["Content-Type"] == "application/json"


def test_driver_payloads_match_slack_fixtures(slack: SlackStandIn, recorder: _Recorder) -> None:
    driver = SlackDriver(recorder.url, SECRET, slack=slack)
    verifier = SignatureVerifier(SECRET)
    client = WebClient(token=DEFAULT_BOT_TOKEN, base_url=slack.api_url)
    actions = {
        "type": "actions",
        "block_id": "confirm_actions",
        "elements": [
            {
                "type": "button",
                "action_id": "send_confirm",
                "text": {"type": "plain_text", "text": "Send"},
                "value": "pending-42",
                "style": "primary",
            }
        ],
    }
    client.chat_postEphemeral(channel=CHANNEL, user=ALICE, text="Send?", blocks=[actions])
    driver.click("send_confirm", user=ALICE, channel=CHANNEL)
    headers, body = recorder.last()
    assert verifier.is_valid_request(body, headers)
    clicked = _payload(body)
    expected = fixture("block_actions")
    _same_keys(clicked, expected, set())
    assert clicked["container"]["is_ephemeral"] is True
    assert set(clicked["actions"][0]) == set(expected["actions"][0]) - {"text"} | {"text"}
    assert clicked["actions"][0]["value"] == "pending-42"
    assert clicked["actions"][0]["block_id"] == "confirm_actions"

    parent = slack.add_message(CHANNEL, user=ALICE, text="invoice")
    client.chat_postMessage(channel=CHANNEL, thread_ts=parent["ts"], text="Send?", blocks=[actions])
    driver.click("send_confirm", "other", user=ALICE, channel=CHANNEL)
    on_message = _payload(recorder.last()[1])
    _same_keys(on_message, fixture("block_actions_message"), set())
    assert on_message["container"]["thread_ts"] == parent["ts"]
    assert on_message["actions"][0]["value"] == "other"

    trigger = slack.new_trigger_id()
    view = fixture("view_submission")["view"]
    spec = {k: view[k] for k in ("type", "title", "submit", "close", "blocks", "callback_id")}
    opened = client.views_open(trigger_id=trigger, view=spec)["view"]
    driver.submit_view(
        opened["id"],
        {"recipient": {"recipient_input": "+573001234567"}, "sender": {"sender_select": "support"}},
        user=ALICE,
    )
    submitted = _payload(recorder.last()[1])
    expected = fixture("view_submission")
    _same_keys(submitted, expected, set())
    _same_keys(submitted["view"], expected["view"], set())
    assert submitted["view"]["state"] == expected["view"]["state"]
    assert not slack.is_view_open(opened["id"])

    driver.message_shortcut("send_on_whatsapp", parent, user=ALICE, channel=CHANNEL)
    _same_keys(_payload(recorder.last()[1]), fixture("message_action"), set())

    driver.file_share("parcel.jpg", b"\xff\xd8\xff", user=ALICE, channel=CHANNEL, text="Hi")
    envelope = json.loads(recorder.last()[1])
    expected = fixture("event_message_file_share")
    _same_keys(envelope, expected, set())
    _same_keys(envelope["event"], expected["event"], {"team"})
    file_obj = envelope["event"]["files"][0]
    thumbs = {k for k in expected["event"]["files"][0] if k.startswith(("thumb", "original"))}
    assert set(expected["event"]["files"][0]) - thumbs <= set(file_obj)
    assert slack.file(file_obj["id"]) == file_obj

    driver.file_shared(file_obj["id"], user=ALICE, channel=CHANNEL)
    envelope = json.loads(recorder.last()[1])
    expected = fixture("event_file_shared")
    _same_keys(envelope["event"], expected["event"], set())

    client.views_publish(user_id=ALICE, view={"type": "home", "blocks": []})
    driver.app_home_opened(ALICE)
    envelope = json.loads(recorder.last()[1])
    expected = fixture("event_app_home_opened")
    _same_keys(envelope, expected, set())
    _same_keys(envelope["event"], expected["event"], set())
    _same_keys(envelope["event"]["view"], expected["event"]["view"], {"title", "close", "submit"})

    driver.url_verification("abc")
    _same_keys(json.loads(recorder.last()[1]), fixture("url_verification"), set())
    for headers, body in recorder.requests:
        assert verifier.is_valid_request(body, headers)


# ---------------------------------------------------------------- driver + stand-in + real Bolt


def test_driver_through_a_bolt_app(slack: SlackStandIn) -> None:
    web = WebClient(token=DEFAULT_BOT_TOKEN, base_url=slack.api_url)
    app = App(signing_secret=SECRET, client=web)
    confirm: list[dict[str, Any]] = [
        {"type": "section", "text": {"type": "mrkdwn", "text": "Send?"}},
        {
            "type": "actions",
            "block_id": "confirm",
            "elements": [
                {
                    "type": "button",
                    "action_id": "send",
                    "text": {"type": "plain_text", "text": "Send"},
                    "value": "42",
                }
            ],
        },
    ]

    @app.command("/whatsapp")
    def command(ack: Any, command: dict[str, Any], client: WebClient) -> None:
        ack()
        client.chat_postEphemeral(
            channel=command["channel_id"], user=command["user_id"], text="Send?", blocks=confirm
        )

    @app.action("send")
    def send(ack: Any, body: dict[str, Any], respond: Any, client: WebClient) -> None:
        ack()
        respond(text="Sending…", replace_original=True)
        posted = client.chat_postMessage(channel=body["channel"]["id"], text="Sent image")
        client.chat_postMessage(
            channel=body["channel"]["id"], thread_ts=posted["ts"], text="transactionId: tx-1"
        )

    @app.event("message")
    def shared(event: dict[str, Any], client: WebClient) -> None:
        if event.get("subtype") == "file_share":
            client.chat_postMessage(
                channel=event["channel"], thread_ts=event["ts"], text="Send this on WhatsApp?"
            )

    @app.event("app_home_opened")
    def home(event: dict[str, Any], client: WebClient) -> None:
        client.views_publish(user_id=event["user"], view={"type": "home", "blocks": confirm})

    server = make_server(
        "127.0.0.1", 0, SlackRequestHandler(app), server_class=_Capture, handler_class=_Quiet
    )
    threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
    try:
        driver = SlackDriver(f"http://127.0.0.1:{server.server_port}", SECRET, slack=slack)
        assert driver.slash_command("image +57300 https://x/y.jpg", user=ALICE, channel=CHANNEL).ok
        slack.wait_for(lambda: slack.ephemerals(CHANNEL, ALICE))
        assert driver.click("send", user=ALICE, channel=CHANNEL).status == 200
        slack.wait_for(lambda: len(slack.calls_to("chat.postMessage")) == 2)
        assert [m["text"] for m in slack.ephemerals(CHANNEL, ALICE)] == ["Sending…"]
        root = slack.channel_messages(CHANNEL)[0]
        texts = [m["text"] for m in slack.thread(CHANNEL, root["ts"])]
        assert texts == ["Sent image", "transactionId: tx-1"]

        assert driver.file_share("a.png", b"\x89PNG", user=ALICE, channel=CHANNEL).ok
        shared_ts = slack.channel_messages(CHANNEL)[-1]["ts"]
        slack.wait_for(lambda: len(slack.thread(CHANNEL, shared_ts)) == 2)

        assert driver.app_home_opened(ALICE).ok
        slack.wait_for(lambda: slack.home_view(ALICE))

        bad = driver.slash_command("help", user=ALICE, channel=CHANNEL, corrupt_signature=True)
        assert bad.status == 401
    finally:
        server.shutdown()
        server.server_close()
