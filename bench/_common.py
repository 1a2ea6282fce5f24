"""Shared helpers for the benchmarks (`make bench` runs `bench/[!_]*.py`, never this file).

* :class:`StandInsProcess`: the stand-in Slack, provider and file host, run in a process of
  their own (a multiprocessing manager) so that their work never competes with the load
  generator for the benchmark process's GIL; the benchmark reaches them through a proxy.
* :class:`Server`: `whatsapp-bot serve`, or a bare app under the same gunicorn settings
  (`python bench/_common.py serve-bare ...`), in a subprocess, with its workers' pids.
* :class:`BenchDriver`: signed Slack requests whose response URLs come from the stand-in.
* percentiles, tables, the machine's description, and PostgreSQL for the benchmarks.

What the load benchmarks do alike with these (run the app and a bare one, make requests from
client threads, measure each party's CPU, print their figures) is in `_load.py`.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import http.client
import json
import os
import platform
import re
import signal
import subprocess
import sys
import time
import urllib.parse
from collections.abc import Callable, Iterable, Iterator, Sequence
from multiprocessing.managers import BaseManager
from pathlib import Path
from typing import Any

import sqlalchemy as sa
import yaml

from bot.sandbox.driver import SlackDriver
from bot.sandbox.images import jpeg
from bot.sandbox.launch import AppProcess, serve_command
from bot.sandbox.launch import free_port as free_port  # the benchmarks' too
from bot.sandbox.launch import wait_until as wait_until  # the benchmarks' too
from bot.server import DEFAULT_THREADS, DEFAULT_WORKERS  # every benchmark's, unless told

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # `tests.media.builders` builds the media files
    sys.path.insert(0, str(ROOT))

SECRETS = {
    "SLACK_BOT_TOKEN": "xoxb-bench-token",
    "SLACK_SIGNING_SECRET": "bench-signing-secret-0123456789",
    "WHATSAPP_API_KEY": "bench-provider-key",
    "WHATSAPP_BOT_SECRET": "bench-link-secret-0123456789abcdef",
}
CHANNEL = "C0123SUPPORT"
RECIPIENT = "+573001234567"
PG_ENV = "BENCH_DATABASE_URL"
DEFAULT_PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/whatsapp_bot_bench"

Json = dict[str, Any]


# ---------------------------------------------------------------------------- stand-ins


class StandInsProcess:
    """Slack, the provider and a file host on loopback; lives in the manager's process.

    Only plain data crosses the process boundary: every method returns JSON-like values.
    """

    def __init__(
        self,
        *,
        latency: float = 0.0,
        auto_callbacks: bool = True,
        callback_delay: float = 0.05,
    ) -> None:
        from bot.sandbox.files import FileHost
        from bot.sandbox.provider import ProviderStandIn
        from bot.sandbox.slack import SlackStandIn

        self.slack = SlackStandIn(bot_token=SECRETS["SLACK_BOT_TOKEN"])
        self.provider = ProviderStandIn(
            api_key=SECRETS["WHATSAPP_API_KEY"],
            latency=latency,
            auto_callbacks=auto_callbacks,
            callback_delay=callback_delay,
        ).start()
        self.files = FileHost()
        self.coffee_url = self.files.add("coffee.jpg", jpeg(), "image/jpeg")

    def pid(self) -> int:
        """The stand-ins' process, whose CPU time the benchmarks report."""
        return os.getpid()

    def urls(self) -> dict[str, str]:
        return {
            "slack_api": self.slack.api_url,
            "provider": self.provider.notification_url,
            "coffee": self.coffee_url,
            "team_id": self.slack.team_id,
            "app_id": self.slack.app_id,
        }

    def set_latency(self, seconds: float) -> None:
        self.provider.latency = seconds

    def set_auto_callbacks(self, value: bool) -> None:
        self.provider.auto_callbacks = value

    def new_response_url(
        self, channel: str, user: str, message_ts: str | None, ephemeral: bool
    ) -> str:
        return self.slack.new_response_url(
            channel, user, message_ts=message_ts, ephemeral=ephemeral
        )

    def latest_button(
        self, channel: str, user: str, action_id: str, exclude: Sequence[str]
    ) -> dict[str, str] | None:
        """The newest ephemeral message to `user` with button `action_id` not yet clicked."""
        from bot.sandbox.slack import find_element

        for message in reversed(self.slack.ephemerals(channel=channel, user=user)):
            found = find_element(message.get("blocks"), action_id)
            if found is None:
                continue
            value = str(found[1].get("value", ""))
            if value in exclude:
                continue
            return {"ts": str(message["ts"]), "block_id": str(found[0]), "value": value}
        return None

    def provider_counts(self) -> dict[str, int]:
        return {
            "requests": len(self.provider.requests),
            "sends": len(self.provider.sends),
            "callbacks": len(self.provider.callbacks),
            "callbacks_failed": sum(
                1
                for c in self.provider.callbacks
                if c.http_status is None or not 200 <= c.http_status < 300
            ),
            "pending": self.provider.pending_callbacks,
        }

    def provider_sends(self) -> list[dict[str, Any]]:
        return [
            {"transaction_id": s.transaction_id, "external_id": s.external_id, "to": s.to}
            for s in self.provider.sends
        ]

    def slack_calls(self, method: str) -> list[dict[str, Any]]:
        """Web API calls to `method`: time (epoch s), channel, ts, thread root, text."""
        found = []
        for call in self.slack.calls_to(method):
            channel = str(call.params.get("channel", ""))
            ts = str(call.params.get("ts") or call.response.get("ts") or "")
            message = self.slack.message(channel, ts) if channel and ts else None
            root = str((message or {}).get("thread_ts") or ts)
            text = str(call.params.get("text", ""))
            blocks = call.params.get("blocks")
            if isinstance(blocks, str):
                text += "\n" + blocks
            elif blocks is not None:
                text += "\n" + json.dumps(blocks)
            found.append(
                {"time": call.time, "channel": channel, "ts": ts, "root": root, "text": text}
            )
        return found

    def message_texts(self, channel: str, timestamps: Sequence[str]) -> dict[str, str]:
        """The text (fallback text and blocks as JSON) of each message now, by ts."""
        texts = {}
        for ts in timestamps:
            message = self.slack.message(channel, ts)
            if message is not None:
                texts[ts] = str(message.get("text", "")) + "\n" + json.dumps(message.get("blocks"))
        return texts

    def threads(self, channel: str) -> list[dict[str, Any]]:
        """Each top-level bot message of `channel`: its ts, fallback text and its replies'."""
        found = []
        for message in self.slack.channel_messages(channel):
            if not message.get("bot_id"):
                continue
            replies = self.slack.thread(channel, str(message["ts"]))[1:]
            found.append(
                {
                    "ts": str(message["ts"]),
                    "text": str(message.get("text", "")),
                    "replies": [str(r.get("text", "")) for r in replies],
                }
            )
        return found

    def fail_next(self, method: str, error: str, retry_after: int = 1, count: int = 1) -> None:
        self.slack.fail_next(method, error, retry_after=retry_after, count=count)

    def clear_faults(self) -> None:
        self.slack.clear_faults()

    def slack_call_count(self) -> int:
        return len(self.slack.calls)

    def host_attachment(self, data: bytes, file_name: str, content_type: str) -> str:
        """Bytes the provider serves at a `/_media/<id>` URL, as a customer's attachment."""
        return str(self.provider.host_attachment(data, file_name, content_type))

    def attachment_downloads(self) -> int:
        """Requests for the provider's hosted attachments so far."""
        return len(self.provider.attachment_downloads)

    def shown_count(self) -> tuple[int, int]:
        """(chat.postMessage calls answered ok, uploads completed) so far; cheap to poll."""
        posts = sum(1 for call in self.slack.calls_to("chat.postMessage") if call.ok)
        return posts, len(self.slack.uploads)

    def bot_messages(self, channel: str) -> list[dict[str, Any]]:
        """Every bot message of `channel`, top-level ones and thread replies: ts, thread root,
        whether it is top-level, text (fallback text and blocks as JSON), the names of its
        files, and the time (epoch s) the stand-in received the chat.postMessage that posted
        it (None for a file share or a message posted otherwise)."""
        received = {
            str(call.response.get("ts")): call.time
            for call in self.slack.calls_to("chat.postMessage")
            if call.ok
        }
        found = []
        for top in self.slack.channel_messages(channel):
            if top.get("thread_ts") not in (None, top["ts"]):
                continue  # a reply also sent to the channel: listed with its thread
            for index, message in enumerate(self.slack.thread(channel, str(top["ts"])) or [top]):
                if not message.get("bot_id"):
                    continue
                ts = str(message["ts"])
                found.append(
                    {
                        "ts": ts,
                        "root": str(top["ts"]),
                        "top": index == 0,
                        "text": str(message.get("text", ""))
                        + "\n"
                        + json.dumps(message.get("blocks")),
                        "files": [str(f.get("name", "")) for f in message.get("files") or []],
                        "time": received.get(ts),
                    }
                )
        return found

    def uploads(self) -> list[dict[str, Any]]:
        """Completed uploads: file name, channel, thread, share message's ts, the time (epoch s)
        the stand-in completed it, and its bytes' SHA-256."""
        return [
            {
                "name": u.name,
                "channel": u.channel,
                "thread_ts": u.thread_ts,
                "ts": u.ts,
                "time": u.time,
                "sha256": hashlib.sha256(u.content).hexdigest(),
            }
            for u in self.slack.uploads
        ]

    def stop(self) -> None:
        self.provider.stop()
        self.slack.stop()
        self.files.stop()


class _Manager(BaseManager):
    pass


_Manager.register("StandInsProcess", StandInsProcess)


@contextlib.contextmanager
def stands(**options: Any) -> Iterator[Any]:
    """A proxy to :class:`StandInsProcess` running in a process of its own."""
    manager = _Manager()
    manager.start()
    try:
        proxy = manager.StandInsProcess(**options)  # type: ignore[attr-defined]
        try:
            yield proxy
        finally:
            with contextlib.suppress(Exception):
                proxy.stop()
    finally:
        manager.shutdown()


# ---------------------------------------------------------------------------- config, servers


def write_config(
    path: Path,
    *,
    urls: dict[str, str],
    public_base_url: str,
    database_url: str,
    timeout_seconds: float = 10,
) -> Path:
    """A config like config.example.yaml, pointed at the stand-ins."""
    data = {
        "slack": {
            "bot_token": "${SLACK_BOT_TOKEN}",
            "signing_secret": "${SLACK_SIGNING_SECRET}",
            "api_base_url": urls["slack_api"],
        },
        "whatsapp": {
            "api_url": urls["provider"],
            "api_key": "${WHATSAPP_API_KEY}",
            "timeout_seconds": timeout_seconds,
        },
        "public_base_url": public_base_url,
        "database_url": database_url,
        "senders": {
            "support": {"number": "15550001111", "label": "Support"},
            "sales": {"number": "15550002222", "label": "Sales"},
        },
        "default_sender": "support",
        "contacts": {"acme-ops": RECIPIENT},
        "channels": {
            CHANNEL: {
                "sender": "support",
                "allowed_senders": ["support", "sales"],
                "file_shares": True,
                "default_recipient": RECIPIENT,
            }
        },
        "access": {"allowed_users": []},
        "media": {
            "link_secret": "${WHATSAPP_BOT_SECRET}",
            "link_ttl_hours": 24,
            "allow_private_hosts": True,
        },
    }
    path.write_text(yaml.safe_dump(data))
    return path


def load_config(path: Path) -> Any:
    from bot.core.config import load_config as load

    return load(path, SECRETS)


class Server(AppProcess):
    """A gunicorn server in a subprocess: the app, or a bare app under the same settings."""

    def __init__(self, argv: list[str], port: int, log_path: Path, name: str) -> None:
        super().__init__(
            log_path=log_path,
            env={**os.environ, **SECRETS},
            cwd=ROOT,
            port=port,
            name=name,
            command=argv,
        )
        self.argv = argv

    @classmethod
    def app(
        cls,
        config_path: Path,
        *,
        port: int,
        workers: int = DEFAULT_WORKERS,
        threads: int = DEFAULT_THREADS,
        log_path: Path,
        name: str = "app",
    ) -> Server:
        argv = serve_command(config_path, port, workers=workers, threads=threads)
        return cls(argv, port, log_path, name)

    @classmethod
    def bare(
        cls,
        kind: str,
        *,
        port: int,
        workers: int = DEFAULT_WORKERS,
        threads: int = DEFAULT_THREADS,
        log_path: Path,
        slack_api: str = "http://127.0.0.1:9/api/",
        name: str = "bare",
    ) -> Server:
        argv = [
            sys.executable,
            str(Path(__file__).resolve()),
            "serve-bare",
            kind,
            "--port",
            str(port),
            "--workers",
            str(workers),
            "--threads",
            str(threads),
            "--slack-api",
            slack_api,
        ]
        return cls(argv, port, log_path, name)

    def ready(self) -> bool:
        """Healthy is not enough: a worker must be up, whose pid the benchmark reports."""
        return len(self.worker_pids()) >= 1

    def wait_workers(self, count: int, timeout: float = 20) -> list[int]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            pids = self.worker_pids()
            if len(pids) >= count:
                return pids
            time.sleep(0.05)
        return self.worker_pids()

    def worker_pids(self) -> list[int]:
        return [] if self.process is None else children(self.process.pid)

    def pids(self) -> list[int]:
        return [] if self.process is None else [self.process.pid, *self.worker_pids()]

    def stop(
        self, sig: int = signal.SIGINT, *, timeout: float = 10, group: bool | None = None
    ) -> None:
        """SIGINT: gunicorn's quick shutdown."""
        super().stop(sig, timeout=timeout, group=group)

    def error_lines(self) -> list[str]:
        """Lines of the log that report errors or tracebacks."""
        return [
            line
            for line in self.log().splitlines()
            if re.search(r"ERROR|CRITICAL|Traceback|WORKER TIMEOUT", line)
        ]


def children(pid: int) -> list[int]:
    try:
        text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
        return [int(p) for p in text.split()]
    except OSError:
        found = []
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit():
                with contextlib.suppress(OSError, IndexError, ValueError):
                    stat = (entry / "stat").read_text()
                    if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                        found.append(int(entry.name))
        return found


def proc_status_kb(pid: int, field: str) -> int:
    """A `kB` field of /proc/<pid>/status (VmHWM: peak RSS; VmRSS: RSS now); 0 if gone."""
    with contextlib.suppress(OSError):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


_TICKS = os.sysconf("SC_CLK_TCK")


def _cpu_fields() -> list[int]:
    """The whole machine's CPU ticks so far by kind (user, nice, system, idle, iowait, irq,
    softirq, steal, …), from /proc/stat."""
    return [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]


def machine_ticks() -> tuple[int, int]:
    """(busy, total) CPU ticks of the whole machine so far."""
    fields = _cpu_fields()
    idle = fields[3] + fields[4]  # idle + iowait
    return sum(fields) - idle, sum(fields)


def database_server_pids() -> list[int]:
    """The PostgreSQL server's processes on this machine (whoever they serve)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError):
                if (entry / "comm").read_text().strip() in ("postgres", "postmaster"):
                    found.append(int(entry.name))
    return found


def steal_ticks() -> tuple[int, int]:
    """(steal, total) CPU ticks of the whole machine so far: the time the hypervisor gave to
    others; `machine_busy` of two samples is its share."""
    fields = _cpu_fields()
    return (fields[7] if len(fields) > 7 else 0), sum(fields)


def machine_busy(before: tuple[int, int], after: tuple[int, int]) -> float:
    """Share of the machine's CPU time (all cores) that was busy between two samples (of
    `machine_ticks`, or of `steal_ticks`: stolen)."""
    total = after[1] - before[1]
    return (after[0] - before[0]) / total if total else 0.0


def cpu_seconds(pids: Iterable[int]) -> float:
    """User + system CPU time of processes (not of their children)."""
    total = 0.0
    for pid in pids:
        with contextlib.suppress(OSError, IndexError, ValueError):
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / _TICKS
    return total


@contextlib.contextmanager
def profiled(pids: Sequence[int], out_dir: str | None, name: str) -> Iterator[None]:
    """With `out_dir`, sample `pids` with py-spy (not a dependency: install it into the venv
    yourself) while the block runs, writing collapsed stacks `<name>-<pid>.txt` there.

    Only threads holding the GIL are sampled (`--gil`), so the stacks show where CPU goes;
    set BENCH_PYSPY_IDLE=1 to sample every thread, waiting ones too.
    """
    if not out_dir:
        yield
        return
    spy = Path(sys.executable).with_name("py-spy")
    Path(out_dir).mkdir(parents=True, exist_ok=True)
    recorders = [
        subprocess.Popen(
            [
                str(spy),
                "record",
                "--pid",
                str(pid),
                "--rate",
                "250",
                "--format",
                "raw",
                "--nonblocking",
                *(["--idle"] if os.environ.get("BENCH_PYSPY_IDLE") else ["--gil"]),
                "--output",
                str(Path(out_dir) / f"{name}-{pid}.txt"),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for pid in pids
    ]
    try:
        yield
    finally:
        for recorder in recorders:
            recorder.send_signal(signal.SIGINT)
        for recorder in recorders:
            try:
                recorder.wait(30)
            except subprocess.TimeoutExpired:
                recorder.kill()


# ---------------------------------------------------------------------------- requests


class BenchDriver(SlackDriver):
    """Signed Slack requests; response URLs are made by the stand-in Slack behind `stands`."""

    def __init__(self, app_url: str, stands: Any, urls: dict[str, str]) -> None:
        super().__init__(
            app_url,
            SECRETS["SLACK_SIGNING_SECRET"],
            team_id=urls["team_id"],
            api_app_id=urls["app_id"],
            timeout=30,
        )
        self.stands = stands

    def _response_url(
        self, channel: str, user: str, *, message_ts: str | None = None, ephemeral: bool = False
    ) -> str:
        return str(self.stands.new_response_url(channel, user, message_ts, ephemeral))

    def raw_post(self, *args: Any, **kwargs: Any) -> Any:
        answer = super().raw_post(*args, **kwargs)
        self.history.clear()  # nothing reads it; keep memory flat
        return answer

    def click_ephemeral(
        self, action_id: str, button: dict[str, str], *, user: str, channel: str
    ) -> Any:
        """Click `button` (from StandInsProcess.latest_button) in an ephemeral message, as Slack
        does."""
        message = {
            "ts": button["ts"],
            "blocks": [
                {
                    "type": "actions",
                    "block_id": button["block_id"],
                    "elements": [
                        {
                            "type": "button",
                            "action_id": action_id,
                            "value": button["value"],
                            "text": {"type": "plain_text", "text": "Send"},
                        }
                    ],
                }
            ],
        }
        container = {
            "type": "message",
            "message_ts": button["ts"],
            "channel_id": channel,
            "is_ephemeral": True,
        }
        response_url = self._response_url(channel, user, message_ts=button["ts"], ephemeral=True)
        return self.click(
            action_id,
            user=user,
            channel=channel,
            message=message,
            container=container,
            response_url=response_url,
        )


def http_request(
    method: str, url: str, body: bytes | None = None, *, timeout: float = 30
) -> tuple[int, bytes, float]:
    """One request on a fresh connection, as the provider makes them: (status, body, seconds)."""
    parts = urllib.parse.urlsplit(url)
    started = time.perf_counter()
    conn = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port, timeout=timeout)
    try:
        headers = {"Content-Type": "application/json"} if body is not None else {}
        conn.request(method, parts.path or "/", body=body, headers=headers)
        answer = conn.getresponse()
        data = answer.read()
        return answer.status, data, time.perf_counter() - started
    finally:
        conn.close()


# ---------------------------------------------------------------------------- figures


def percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100); 0.0 for no values."""
    if not values:
        return 0.0
    ordered = sorted(values)
    rank = max(1, min(len(ordered), round(q / 100 * len(ordered) + 0.5)))
    return ordered[rank - 1]


def table(headers: Sequence[str], rows: Iterable[Sequence[object]]) -> str:
    cells = [[str(h) for h in headers], *[[_cell(v) for v in row] for row in rows]]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    lines = []
    for index, row in enumerate(cells):
        lines.append(
            "  ".join(
                c.rjust(w) if i else c.ljust(w)
                for i, (c, w) in enumerate(zip(row, widths, strict=True))
            )
        )
        if index == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)


def _cell(value: object) -> str:
    if isinstance(value, float):
        if abs(value) >= 10:
            return f"{value:.1f}"
        return f"{value:.2f}" if abs(value) >= 0.1 or value == 0 else f"{value:.3f}"
    return str(value)


def verdict(ok: bool) -> str:
    return "MET" if ok else "MISSED"


def machine() -> str:
    model = ""
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    return (
        f"{os.cpu_count()} cores ({model or platform.machine()}), "
        f"Python {platform.python_version()}, {platform.system()} {platform.release()}; "
        f"load average before the run {load}"
    )


def header(title: str, details: str) -> None:
    print(f"== {title}")
    print(f"   {details}")
    print(f"   machine: {machine()}", flush=True)


# ---------------------------------------------------------------------------- databases


def postgres_url(url: str | None) -> tuple[str | None, str]:
    """A reachable, empty PostgreSQL database for a benchmark, or (None, why not).

    The default database (`whatsapp_bot_bench`) is created when missing, so that a benchmark
    never drops the tables of the test database another run may be using.
    """
    url = url or os.environ.get(PG_ENV) or DEFAULT_PG_URL
    try:
        parsed = sa.engine.make_url(url)
        engine = sa.create_engine(url)
        try:
            with engine.connect() as conn:
                conn.execute(sa.text("SELECT 1"))
        except sa.exc.OperationalError as exc:
            if "does not exist" not in str(exc) or parsed.database is None:
                raise
            admin = sa.create_engine(parsed.set(database="postgres"), isolation_level="AUTOCOMMIT")
            with admin.connect() as conn:
                conn.execute(sa.text(f'CREATE DATABASE "{parsed.database}"'))
            admin.dispose()
        engine.dispose()
        reset_database(url)
    except Exception as exc:  # unreachable, no rights, no driver: say so and skip
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        return None, f"PostgreSQL at {url} is not usable ({first})"
    return url, ""


def reset_database(url: str) -> None:
    """Drop the app's tables and the schema's revision, as tests/conftest.py's reset_postgres
    does."""
    from bot.store import metadata

    engine = sa.create_engine(url)
    with engine.begin() as conn:
        metadata.drop_all(conn)
        conn.execute(sa.text("DROP TABLE IF EXISTS alembic_version"))
    engine.dispose()


# ---------------------------------------------------------------------------- bare servers


def _bare_bolt(slack_api: str, *, sync: bool = False) -> Callable[..., Iterable[bytes]]:
    """A Bolt app configured like bot/app.py's whose listeners only acknowledge.

    Like the app, it answers Slack once a listener acks (process_before_response=False: the
    listener runs on the executor, the request thread polls for the ack every 10 ms); `sync`
    runs listeners on the request thread instead (process_before_response=True).
    """
    import logging
    from concurrent.futures import ThreadPoolExecutor

    from slack_bolt import Ack, App
    from slack_bolt.request import BoltRequest
    from slack_sdk import WebClient

    from bot.core import ids
    from bot.web import MAX_SLACK_BODY, read_body

    bolt = App(
        client=WebClient(token=SECRETS["SLACK_BOT_TOKEN"], base_url=slack_api, timeout=10),
        signing_secret=SECRETS["SLACK_SIGNING_SECRET"],
        token_verification_enabled=False,
        process_before_response=sync,
        listener_executor=ThreadPoolExecutor(max_workers=16, thread_name_prefix="bolt"),
        logger=logging.getLogger("bare.slack"),
    )

    @bolt.command(ids.COMMAND)
    def on_command(ack: Ack) -> None:
        ack()

    @bolt.action(re.compile(".*"))
    def on_action(ack: Ack) -> None:
        ack()

    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        if environ.get("PATH_INFO") != "/slack/events":
            start_response("200 OK", [("Content-Type", "application/json")])
            return [b'{"ok": true}']
        body = read_body(environ, MAX_SLACK_BODY).decode("utf-8")
        headers: dict[str, str | Sequence[str]] = {
            key[5:].replace("_", "-").lower(): str(value)
            for key, value in environ.items()
            if key.startswith("HTTP_")
        }
        headers["content-type"] = str(environ.get("CONTENT_TYPE", ""))
        answer = bolt.dispatch(BoltRequest(body=body, query="", headers=headers))
        data = answer.body.encode()
        start_response(f"{answer.status} OK", [("Content-Length", str(len(data)))])
        return [data]

    return app


def _bare_json() -> Callable[..., Iterable[bytes]]:
    """A route that only reads and parses the JSON body, as bot/web.py reads callbacks."""
    from bot.web import MAX_CALLBACK_BODY, read_body

    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        if environ.get("REQUEST_METHOD") == "POST":
            payload = json.loads(read_body(environ, MAX_CALLBACK_BODY))
            data = json.dumps({"ok": True, "status": payload.get("status")}).encode()
        else:
            data = b'{"ok": true}'
        start_response(
            "200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(data)))]
        )
        return [data]

    return app


def _bare_inbound() -> Callable[..., Iterable[bytes]]:
    """A route that only reads a customer message and parses it (the JSON body, or the query
    and form parameters), as bot/web.py reads inbound messages, and answers an empty 200."""
    from bot.core.config.model import ConversationsConfig
    from bot.web import read_body

    limit = ConversationsConfig().max_inbound_bytes

    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        raw = read_body(environ, limit)
        if raw.lstrip().startswith(b"{"):
            json.loads(raw)
        else:
            urllib.parse.parse_qsl(str(environ.get("QUERY_STRING") or ""))
            urllib.parse.parse_qsl(raw.decode("utf-8"))
        start_response(
            "200 OK", [("Content-Type", "text/plain; charset=utf-8"), ("Content-Length", "0")]
        )
        return [b""]

    return app


def _serve_bare(argv: Sequence[str]) -> None:
    from bot.server import serve

    parser = argparse.ArgumentParser(prog="_common.py serve-bare")
    parser.add_argument("kind", choices=["bolt", "bolt-sync", "json", "inbound"])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--workers", type=int, default=DEFAULT_WORKERS)
    parser.add_argument("--threads", type=int, default=DEFAULT_THREADS)
    parser.add_argument("--slack-api", default="http://127.0.0.1:9/api/")
    args = parser.parse_args(argv)

    def factory() -> Any:
        if args.kind == "json":
            return _bare_json()
        if args.kind == "inbound":
            return _bare_inbound()
        return _bare_bolt(args.slack_api, sync=args.kind == "bolt-sync")

    serve(
        factory,
        host="127.0.0.1",
        port=args.port,
        workers=args.workers,
        threads=args.threads,
        log_level="warning",
    )


if __name__ == "__main__":
    # The bare servers' entry point; without arguments this helper does nothing.
    if sys.argv[1:2] == ["serve-bare"]:
        _serve_bare(sys.argv[2:])
