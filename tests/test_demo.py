"""`whatsapp-bot demo`: the real app between the stand-ins, run as a person runs it."""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import queue
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from bot.demo.show import Readable
from bot.sandbox.slack import SlackStandIn

ROOT = Path(__file__).resolve().parents[1]
TRANSACTION_ID = re.compile(r"transactionId ([0-9a-f]{8}-[0-9a-f-]{27})")
READY = "What Slack and the provider see from now on"


def demo_command(secrets_file: Path, *args: str) -> list[str]:
    return [sys.executable, "-m", "bot", "demo", "--secrets-file", str(secrets_file), *args]


def sections(output: str) -> dict[str, str]:
    """The demo's output by heading (`== 1. /whatsapp in #support… ==`), without the `==`."""
    found: dict[str, str] = {}
    title = ""
    for line in output.splitlines():
        if line.startswith("== "):
            title = line.strip("= ")
            found[title] = ""
        else:
            found[title] = found.get(title, "") + line + "\n"
    return found


def section(found: dict[str, str], prefix: str) -> str:
    matches = [text for title, text in found.items() if title.startswith(prefix)]
    assert len(matches) == 1, f"no single section {prefix!r} in {list(found)}"
    return matches[0]


def thread_part(text: str) -> str:
    """What follows "The thread, as everyone in the channel reads it now"."""
    _, marker, rest = text.partition("The thread, as everyone")
    assert marker, text
    return rest


def status_of(url: str, method: str = "GET", body: bytes | None = None) -> tuple[int, Any]:
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=5)
    try:
        headers = {"Content-Type": "application/json"} if body is not None else {}
        conn.request(method, parts.path or "/", body=body, headers=headers)
        answer = conn.getresponse()
        data = answer.read()
        return answer.status, json.loads(data) if data.strip() else None
    finally:
        conn.close()


def test_the_demo_walks_three_sends_and_a_conversation_and_shows_their_threads(
    tmp_path: Path,
) -> None:
    secrets_file = tmp_path / "secrets.json"
    started = time.monotonic()
    result = subprocess.run(
        demo_command(secrets_file),
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=90,
    )
    elapsed = time.monotonic() - started
    assert result.returncode == 0, result.stderr
    assert elapsed < 30, f"took {elapsed:.1f} s"
    assert result.stderr.strip() == "" or "Traceback" not in result.stderr
    out = result.stdout
    assert re.search(r"Done in \d+\.\d s\.", out)

    found = sections(out)
    provider = section(found, "What the provider received")
    issued = TRANSACTION_ID.findall(provider)
    assert len(set(issued)) == 4, provider
    assert provider.count("Authorization: Bearer [redacted") == 4

    # the demo's customers have not written: each confirmation says so, its button `Send anyway`
    image = section(found, "1. ")
    assert "[Send anyway] [Cancel]" in image and "clicks [Send anyway]" in image
    assert "no message from this customer in the last 24 h" in image
    assert "The best coffee in the town!" in image
    first = thread_part(image)
    assert issued[0] in first
    assert "@alice sent an image" in first and "+573001234567" in first
    assert all(status in first for status in ("QUEUE", "DELIVERED", "READ"))

    pdf = section(found, "2. ")
    assert "invoice-1042.pdf" in pdf and "[Send anyway]" in pdf
    second = thread_part(pdf)
    assert issued[1] in second
    assert "@bob sent a document" in second and "READ" in second

    failure = section(found, "3. ")
    assert "[Send anyway] [Cancel]" in failure
    third = thread_part(failure)
    assert issued[2] in third
    # the failure in plain words, and the provider's own reason
    assert "BLACKLISTED" in third and "block list" in third
    assert "The recipient has blocked messages from this business number" in third

    # the first send's customer answers with a text and a photo; @alice replies from the thread
    answer = section(found, "4. ")
    assert 'writes on WhatsApp: "Thanks! The coffee arrived' in answer
    assert "clicks [Reply]" in answer
    modal = answer.split("The modal @alice sees:", 1)[1].split("clicks [Send]", 1)[0]
    assert "Reply on WhatsApp" in modal and "open until" in modal and "23 h left" in modal
    assert "[Cancel]  [Send]" in modal
    conversation = thread_part(answer)
    assert issued[0] in conversation and issued[3] in conversation  # one thread, both sends
    assert "*Ana Gómez* (+573001234567) wrote to *Support*" in conversation
    assert "parcel.jpg (JPG" in conversation and "[Reply]" in conversation
    assert "Glad it arrived! Your next order ships on Monday." in conversation
    assert conversation.index(issued[3]) > conversation.index("parcel.jpg")
    assert "READ" in conversation.split(issued[3], 1)[1]

    # mrkdwn is made readable: no raw mentions, dates or escapes reach the reader
    for raw in ("<@U0", "<!date", "&lt;", "&gt;", "&amp;"):
        assert raw not in out

    made_up = json.loads(secrets_file.read_text())
    assert set(made_up) == {
        "SLACK_BOT_TOKEN",
        "SLACK_SIGNING_SECRET",
        "WHATSAPP_API_KEY",
        "WHATSAPP_BOT_SECRET",
    }
    for value in made_up.values():
        assert len(value) >= 16
        assert value not in out and value not in result.stderr
    # the last-resort redaction never had anything to hide
    assert "[redacted]" not in out


def _lines(stream: Any, into: queue.Queue[str]) -> None:
    for line in stream:
        into.put(line)


def test_keep_running_serves_until_ctrl_c_then_stops_everything(tmp_path: Path) -> None:
    process = subprocess.Popen(
        demo_command(tmp_path / "secrets.json", "--keep-running"),
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    lines: queue.Queue[str] = queue.Queue()
    reader = threading.Thread(target=_lines, args=(process.stdout, lines), daemon=True)
    reader.start()
    seen: list[str] = []
    deadline = time.monotonic() + 60
    try:
        while not any(READY in line for line in seen):
            assert time.monotonic() < deadline, "".join(seen)
            try:
                seen.append(lines.get(timeout=1))
            except queue.Empty:
                assert process.poll() is None, "".join(seen) + process.stderr.read()  # type: ignore[union-attr]
        text = "".join(seen)
        urls = {
            name: re.search(rf"{re.escape(name)}\s+(http://127\.0\.0\.1:\d+\S*)", text)
            for name in ("app (whatsapp-bot serve)", "stand-in Slack", "stand-in provider")
        }
        assert all(urls.values()), text
        app = urls["app (whatsapp-bot serve)"].group(1)  # type: ignore[union-attr]
        assert f"curl -s {app}/healthz" in text
        assert status_of(f"{app}/healthz")[0] == 200
        callback = re.search(r"curl -s -H .* '(http://\S+/whatsapp/callbacks/\S+)'", text)
        assert callback, text
        status, answer = status_of(callback.group(1), "POST", b'{"status": "DELIVERED"}')
        assert status == 200 and answer["duplicate"] is True and answer["shown"] == "READ"
        customer = re.search(
            r"curl -s -d '(\{.*\})' '(http://\S+/_standin/customer-message)'", text
        )
        assert customer, text
        status, answer = status_of(customer.group(2), "POST", customer.group(1).encode())
        assert status == 200 and answer["status"] == 200 and answer["shape"] == "json"
        while not any("wrote: Is it still on time?" in line for line in seen):
            assert time.monotonic() < deadline, "".join(seen)
            with contextlib.suppress(queue.Empty):
                seen.append(lines.get(timeout=1))

        process.send_signal(signal.SIGINT)
        process.wait(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    reader.join(10)  # it ends at the end of the demo's output
    assert not reader.is_alive()
    rest = "".join(seen) + "".join(iter_queue(lines))
    assert process.returncode == 0, process.stderr.read()  # type: ignore[union-attr]
    assert "Stopping the app and the stand-ins" in rest and "Done in" in rest
    for match in urls.values():
        assert match is not None
        with pytest.raises(OSError):
            status_of(match.group(1).rstrip("/") + "/healthz")


def iter_queue(lines: queue.Queue[str]) -> list[str]:
    found = []
    while not lines.empty():
        found.append(lines.get_nowait())
    return found


def test_a_failure_is_one_paragraph_and_the_app_log(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from bot.demo import run, stage

    real = stage.config_for

    def broken(**kwargs: Any) -> dict[str, Any]:
        return {**real(**kwargs), "colour": "blue"}

    monkeypatch.setattr(stage, "config_for", broken)
    code = run(env=os.environ, out=sys.stdout, err=sys.stderr)
    captured = capsys.readouterr()
    assert code == 1
    assert "Traceback" not in captured.err + captured.out
    first, _, log = captured.err.partition("Last lines of the app's log:")
    assert first.startswith("Error: the demo failed.") and "exited during start-up" in first
    assert first.strip().count("\n") == 0
    assert "colour: unknown key" in log
    kept = re.search(r"kept in (\S+)\.", first)
    assert kept and Path(kept.group(1)).is_dir()
    shutil.rmtree(kept.group(1))


def test_mrkdwn_reads_as_slack_shows_it() -> None:
    with SlackStandIn() as slack:
        slack.add_user("U0ALICE", "alice")
        slack.add_channel("C0123SUPPORT", "support")
        readable = Readable(slack=slack, emoji=False)
        text = (
            "<@U0ALICE> in <#C0123SUPPORT>: *READ* <!date^0^{bogus}|1970-01-01 00:00:00 UTC> "
            "<https://example.com|the site> &lt;b&gt; &amp; :eyes:"
        )
        assert readable.mrkdwn(text) == (
            "@alice in #support: *READ* 1970-01-01 00:00:00 UTC "
            "the site (https://example.com) <b> & :eyes:"
        )
        assert Readable(slack=slack, emoji=True).mrkdwn(":eyes: :nope:") == "👀 :nope:"
