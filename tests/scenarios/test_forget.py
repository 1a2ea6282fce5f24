"""Retention and forgetting, end to end over HTTP: the real app on gunicorn between the stand-in
Slack and provider, `whatsapp-bot forget` run as a command. The Slack threads that showed the
customer are edited to match (by the command itself when the app is down, by the running app's
sweeper otherwise), and a kept file's link answers 410 once its bytes are deleted."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from datetime import timedelta

from bot.core import ids
from bot.core.config import load_config
from bot.core.records import utcnow
from bot.core.retention import REMOVED_ON_REQUEST
from bot.usecases.retention import Retention
from tests.conftest import SECRETS
from tests.scenarios.harness import CHANNEL, OTHER_USER, ROOT, Harness
from tests.scenarios.test_conversations import customer_json
from tests.scenarios.test_file_share import fetch, png, share, wait_in_thread
from tests.scenarios.test_slash_send import confirm_and_send

CUSTOMER = "+573001234567"
DIGITS = CUSTOMER.lstrip("+")
MASKED = "+57300•••4567"


def everything(bot: Harness) -> str:
    """Every message in the channel, with its thread and files, as one text."""
    found = []
    for top in bot.slack.channel_messages(CHANNEL):
        found.extend(bot.slack.thread(CHANNEL, str(top["ts"])) or [top])
    return json.dumps(found, ensure_ascii=False)


def forget(bot: Harness, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bot", "forget", CUSTOMER, "--config", str(bot.config_path), *args],
        capture_output=True,
        text=True,
        env={**os.environ, **SECRETS},
        cwd=ROOT,
        timeout=120,
    )


def a_send_and_a_reply_with_a_photo(bot: Harness) -> str:
    confirm_and_send(bot)
    bot.wait_shown()
    bot.wait_thread("Status: *READ*")
    photo = bot.provider.host_attachment(png(), "cedula.png", "image/png")
    attachment = {"url": photo, "fileName": "cedula.png", "caption": "mi cédula"}
    answer = customer_json(bot, "wamid.1", "Mi dirección: Calle 10", attachments=[attachment])
    assert answer.status_code == 200
    bot.slack.wait_for(lambda: len(bot.slack.uploads) == 1, timeout=15)
    bot.slack.wait_for(lambda: "Calle 10" in everything(bot), timeout=15)
    shown = everything(bot)
    assert DIGITS in shown and "The best coffee" in shown and "Ana Gómez" in shown
    return bot.slack.uploads[0].file_id


def test_forget_edits_the_threads_itself_while_the_app_is_down(bot: Harness) -> None:
    file_id = a_send_and_a_reply_with_a_photo(bot)
    bot.stop()

    run = forget(bot)

    assert run.returncode == 0 and run.stderr == "", run.stderr
    first, slack = run.stdout.splitlines()
    assert re.fullmatch(
        r"\d+ records changed: forgot \+57300•••4567 \(1 send, 1 customer message, "
        r"1 conversation, \d+ callbacks\)\.",
        first,
    ), first
    assert slack == "Slack: the 2 thread(s) that showed the customer now match."
    shown = everything(bot)
    assert DIGITS not in shown
    for private in ("The best coffee", "Calle 10", "Ana Gómez", "cédula", "cedula.png"):
        assert private not in shown, private
    assert MASKED in shown and REMOVED_ON_REQUEST in shown
    assert bot.slack.file(file_id) is None
    edits = len(bot.slack.calls_to("chat.update"))

    again = forget(bot)
    assert again.returncode == 0
    assert again.stdout.startswith("0 records changed: nothing has that number any more;")
    assert len(bot.slack.calls_to("chat.update")) == edits


def test_a_running_app_edits_what_forget_leaves_to_it(bot: Harness) -> None:
    a_send_and_a_reply_with_a_photo(bot)

    run = forget(bot, "--wait", "0")

    assert run.returncode == 0, run.stderr
    assert run.stdout.splitlines()[1].startswith("Slack: 2 thread(s) marked to be edited")
    bot.slack.wait_for(lambda: DIGITS not in everything(bot), timeout=20)
    shown = everything(bot)
    assert MASKED in shown and "The best coffee" not in shown and "Calle 10" not in shown


def test_a_kept_files_link_answers_410_once_its_bytes_are_deleted(bot: Harness) -> None:
    ts = share(bot, "parcel.png", png())
    wait_in_thread(bot, ts, "Send *parcel.png*")
    bot.driver.click(ids.SEND, user=OTHER_USER, channel=CHANNEL)
    (request,) = bot.provider.wait_for_requests(1)
    url = request.json["request"]["message"]  # type: ignore[index]
    assert fetch(url)[0] == 200
    config = load_config(bot.config_path, SECRETS)
    later = Retention(
        config=config, store=bot.store, clock=lambda: utcnow() + timedelta(days=31), pause=0.0
    )

    assert later.purge().media == 1

    status, headers, body = fetch(url)
    assert status == 410
    assert headers["Content-Type"] == "text/plain; charset=utf-8"
    assert body.startswith(b"gone: this file was deleted")
    assert fetch(url, "HEAD")[0] == 410
    kept = bot.store.get_media(bot.only_send().media_id or "")
    assert kept is not None and kept.size > 0 and kept.purged_at is not None
