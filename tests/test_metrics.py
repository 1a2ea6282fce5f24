"""The metrics: what each use case counts, and worker processes adding up in one directory."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import tempfile
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from bot.app import create_app
from bot.sandbox.provider import ProviderStandIn
from bot.server import MULTIPROCESS_ENV, metrics_directory
from bot.store import Store
from bot.usecases.metrics import Metrics, MultiprocessNotReady
from bot.usecases.sending import SendService
from bot.web import WebApp
from bot.whatsapp.client import ProviderClient
from bot.whatsapp.payloads import Message, MessageKind
from tests.conftest import SECRETS, make_config

ROOT = Path(__file__).resolve().parents[1]


def samples(text: bytes) -> dict[str, float]:
    """`name{a="1",b="2"}` → value, labels sorted by name."""
    found = {}
    for family in text_string_to_metric_families(text.decode("utf-8")):
        for sample in family.samples:
            labels = ",".join(f'{k}="{v}"' for k, v in sorted(sample.labels.items()))
            found[f"{sample.name}{{{labels}}}" if labels else sample.name] = sample.value
    return found


def wsgi(app: WebApp, method: str, path: str, body: bytes = b"", **headers: str) -> Any:
    environ = {
        "REQUEST_METHOD": method,
        "PATH_INFO": path,
        "QUERY_STRING": "",
        "CONTENT_TYPE": "application/json",
        "CONTENT_LENGTH": str(len(body)),
        "wsgi.input": io.BytesIO(body),
        **{f"HTTP_{k.upper()}": v for k, v in headers.items()},
    }
    status: list[str] = []
    chunks = app(environ, lambda s, h: status.append(s))
    return int(status[0].split()[0]), b"".join(chunks)


@pytest.fixture
def app(tmp_path: Path) -> Iterator[WebApp]:
    config = make_config(
        database_url=f"sqlite:///{tmp_path / 'm.sqlite3'}", metrics={"token": "t0ken"}
    )
    web = create_app(config, sweep_interval=None)
    yield web
    web.services.close()


def test_callbacks_are_counted_by_status_and_refused_ones_apart(app: WebApp) -> None:
    sending = app.services.sending
    send = sending.create_draft(
        Message(MessageKind.TEXT, "+573001234567", "hello"),
        sender=sending.resolve_sender(None),
        source="cli",
    )
    url = f"/whatsapp/callbacks/{send.callback_token}"
    bodies: list[dict[str, str]] = [
        {"status": "QUEUE", "externalId": send.external_id},
        {"status": "QUEUE", "externalId": send.external_id},  # a duplicate is a callback too
        {"status": "DELIVERED", "externalId": send.external_id},
        {"status": "SOMETHING_NEW", "externalId": send.external_id},
        {"status": "x" * 50 + " y", "externalId": send.external_id},
        {"externalId": send.external_id},
    ]
    for body in bodies:
        assert wsgi(app, "POST", url, json.dumps(body).encode())[0] in (200, 202)
    assert wsgi(app, "POST", url, b"not json")[0] == 400
    assert wsgi(app, "POST", url, b'{"status": "READ", "externalId": "other"}')[0] == 400
    assert wsgi(app, "POST", "/whatsapp/callbacks/forged.token", b"{}")[0] == 404

    assert wsgi(app, "GET", "/metrics")[0] == 401
    status, text = wsgi(app, "GET", "/metrics", AUTHORIZATION="Bearer t0ken")
    assert status == 200
    counted = {k: v for k, v in samples(text).items() if k.startswith("whatsapp_callbacks_total")}
    assert counted == {
        'whatsapp_callbacks_total{status="QUEUE"}': 2,
        'whatsapp_callbacks_total{status="DELIVERED"}': 1,
        'whatsapp_callbacks_total{status="other"}': 2,
        'whatsapp_callbacks_total{status="none"}': 1,
        'whatsapp_callbacks_total{status="refused"}': 3,
    }


def test_a_delivery_counts_its_provider_request_and_final_state(tmp_path: Path) -> None:
    metrics = Metrics()
    store = Store.from_url(f"sqlite:///{tmp_path / 's.sqlite3'}")
    store.migrate()
    with ProviderStandIn(api_key=SECRETS["WHATSAPP_API_KEY"], auto_callbacks=False) as standin:
        config = make_config(whatsapp={"api_url": standin.notification_url})
        client = ProviderClient(
            api_url=standin.notification_url, api_key=SECRETS["WHATSAPP_API_KEY"]
        )
        service = SendService(config=config, store=store, provider=client, metrics=metrics)
        for fault in (None, "400", None):
            if fault:
                standin.fail_next(fault)
            send = service.create_draft(
                Message(MessageKind.TEXT, "+573001234567", "hello"),
                sender=service.resolve_sender(None),
                source="cli",
            )
            service.confirm(send.id)
            service.deliver(send.id)
        client.close()
    store.close()
    found = samples(metrics.exposition())
    assert found['whatsapp_sends_total{state="sent"}'] == 2
    assert found['whatsapp_sends_total{state="failed"}'] == 1
    assert found['whatsapp_sends_total{state="unknown"}'] == 0
    assert found["whatsapp_provider_request_seconds_count"] == 3
    assert 0 < found["whatsapp_provider_request_seconds_sum"] < 10


def test_label_values_from_outside_cannot_be_made_up() -> None:
    metrics = Metrics()
    metrics.slack_error("chat.update", "ratelimited")
    metrics.slack_error("chat.update", 'bad"\nlabel')
    metrics.slack_error("chat.update", "")
    metrics.callback("WHATEVER", known=False)
    found = samples(metrics.exposition())
    assert found['slack_api_errors_total{error="ratelimited",method="chat.update"}'] == 1
    assert found['slack_api_errors_total{error="other",method="chat.update"}'] == 1
    assert found['slack_api_errors_total{error="none",method="chat.update"}'] == 1
    assert found['whatsapp_callbacks_total{status="other"}'] == 1


COUNT = """
import sys
from bot.usecases.metrics import Metrics
metrics = Metrics(multiprocess_dir=sys.argv[1])
for _ in range(int(sys.argv[2])):
    metrics.send_finished("sent")
    metrics.callback("READ")
    metrics.provider_request(0.2)
    metrics.shown(1.5)
metrics.slack_error("chat.update", "ratelimited")
"""

READ = """
import sys
from bot.usecases.metrics import Metrics
sys.stdout.write(Metrics(multiprocess_dir=sys.argv[1]).exposition().decode())
"""


def run_python(code: str, *args: str, env: dict[str, str] | None = None) -> str:
    result = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code), *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_processes_sharing_a_directory_add_up(tmp_path: Path) -> None:
    """As gunicorn's workers do: each counts into its own files, any one reads the sum."""
    env = {**os.environ, MULTIPROCESS_ENV: str(tmp_path)}
    run_python(COUNT, str(tmp_path), "2", env=env)
    run_python(COUNT, str(tmp_path), "3", env=env)
    assert len(list(tmp_path.glob("*.db"))) >= 2
    found = samples(run_python(READ, str(tmp_path), env=env).encode())
    assert found['whatsapp_sends_total{state="sent"}'] == 5
    assert found['whatsapp_sends_total{state="failed"}'] == 0
    assert found['whatsapp_callbacks_total{status="READ"}'] == 5
    assert found['slack_api_errors_total{error="ratelimited",method="chat.update"}'] == 2
    assert found["whatsapp_provider_request_seconds_count"] == 5
    assert found['whatsapp_provider_request_seconds_bucket{le="0.25"}'] == 5
    assert found["whatsapp_thread_lag_seconds_count"] == 5
    assert found["whatsapp_thread_lag_seconds_sum"] == pytest.approx(7.5)
    assert found["whatsapp_inbound_messages_total"] == 0


def test_the_server_never_imports_prometheus_client_before_its_directory_is_set() -> None:
    """prometheus_client picks its mode when first imported: in the master, that must come
    after `metrics_directory`, so no module the command line loads may import it."""
    code = """
    import sys
    import bot.__main__, bot.app, bot.server, bot.web
    print("prometheus_client" in sys.modules)
    """
    env = {k: v for k, v in os.environ.items() if k != MULTIPROCESS_ENV}
    assert run_python(code, env=env).strip() == "False"


def test_a_directory_given_too_late_is_refused(tmp_path: Path) -> None:
    import prometheus_client  # noqa: F401  (as here: imported before the variable was set)

    if os.environ.get(MULTIPROCESS_ENV):
        pytest.skip(f"{MULTIPROCESS_ENV} is set for the whole test run")
    with pytest.raises(MultiprocessNotReady):
        Metrics(multiprocess_dir=str(tmp_path))


def test_each_start_gets_a_fresh_directory_removed_after(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(MULTIPROCESS_ENV, "/somewhere/else")
    with metrics_directory() as first:
        assert os.environ[MULTIPROCESS_ENV] == first
        assert os.listdir(first) == []
        Path(first, "counter_1.db").write_bytes(b"x")
    with metrics_directory() as second:
        assert second != first and os.listdir(second) == []
    assert not os.path.exists(first) and not os.path.exists(second)
    assert os.environ[MULTIPROCESS_ENV] == "/somewhere/else"


def test_a_worker_leaving_through_the_block_leaves_the_directory_to_the_master() -> None:
    """gunicorn's workers are forked inside `metrics_directory` and exit by SystemExit."""
    code = """
    import os, sys
    from bot.server import metrics_directory
    with metrics_directory() as path:
        pid = os.fork()
        if pid == 0:
            sys.exit(0)
        os.waitpid(pid, 0)
        print(os.path.isdir(path))
    print(os.path.isdir(path))
    """
    assert run_python(code).split() == ["True", "False"]


def test_a_start_removes_the_directories_of_killed_masters(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    orphan = tmp_path / f"whatsapp-bot-metrics-{gone.pid}-abc"
    running = tmp_path / f"whatsapp-bot-metrics-{os.getpid()}-def"
    other = tmp_path / "whatsapp-bot-metrics-notapid"
    for folder in (orphan, running, other):
        folder.mkdir()
        (folder / "counter_1.db").write_bytes(b"x")
    with metrics_directory() as path:
        assert Path(path).parent == tmp_path
        assert Path(path).name.startswith(f"whatsapp-bot-metrics-{os.getpid()}-")
    assert not orphan.exists() and running.exists() and other.exists()
