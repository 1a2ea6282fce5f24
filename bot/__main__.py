"""The `whatsapp-bot` command line; the only place that reads the environment."""

from __future__ import annotations

import argparse
import importlib.metadata
import logging
import os
import signal
import sys
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, TextIO

import sqlalchemy as sa

from bot.core import config as config_module
from bot.core import phones, tokens
from bot.core.config import Config, ConfigError
from bot.core.logs import LOG_FORMATS, LogFormat, use_format
from bot.server import DEFAULT_THREADS, DEFAULT_WORKERS
from bot.store import SchemaError, SendRecord, Store
from bot.usecases.sending import SendRefused, SendService
from bot.whatsapp.client import ProviderClient
from bot.whatsapp.payloads import Message, MessageKind, PayloadError

if TYPE_CHECKING:
    from bot.web import WebApp

logger = logging.getLogger("bot")

EXIT_OK = 0
EXIT_PROBLEM = 1
EXIT_USAGE = 2
EXIT_NOT_SENT = 3
EXIT_UNCERTAIN = 4


class CommandLineError(Exception):
    """A one-paragraph message for the terminal, and the exit code that goes with it."""

    def __init__(self, message: str, code: int = EXIT_PROBLEM) -> None:
        self.code = code
        super().__init__(message)


def _config_path(args: argparse.Namespace, env: Mapping[str, str]) -> str:
    return str(args.config or env.get("WHATSAPP_BOT_CONFIG") or "config.yaml")


def _load(args: argparse.Namespace, env: Mapping[str, str]) -> Config:
    return config_module.load_config(_config_path(args, env), env)


def cmd_check_config(args: argparse.Namespace, env: Mapping[str, str], out: TextIO) -> int:
    config = _load(args, env)
    print(config_module.summary(config), file=out)
    if not args.offline:
        _check_slack_token(config, out)
    return EXIT_OK


def _check_slack_token(config: Config, out: TextIO) -> None:
    """`auth.test` with the configured token: a refusal is a problem, no answer is not."""
    from bot.app import token_check_client
    from bot.usecases.slack_health import auth_test, fix_for

    check = auth_test(token_check_client(config.slack.bot_token, config.slack.api_base_url))
    if check.outcome == "refused":
        raise CommandLineError(
            f"Slack refused the bot token ({check.error}). Fix: {fix_for(check.error)}."
        )
    if check.outcome == "unreachable":
        print(
            f"Slack: could not check the bot token ({check.error} from "
            f"{config.slack.api_base_url}); the configuration itself is fine.",
            file=out,
        )
        return
    print(f"Slack: the bot token works ({check.describe()}).", file=out)


_KINDS = ("image", "video", "audio", "document", "text")


def cmd_send(args: argparse.Namespace, env: Mapping[str, str], out: TextIO) -> int:
    chosen = [kind for kind in _KINDS if getattr(args, kind) is not None]
    if len(chosen) != 1:
        raise CommandLineError(
            "Give exactly one of --image, --video, --audio, --document or --text, e.g. "
            "`whatsapp-bot send --to +573001234567 --image https://example.com/photo.jpg`.",
            EXIT_USAGE,
        )
    kind = MessageKind(chosen[0])
    config = _load(args, env)
    store = Store.from_url(config.database_url, pool_size=1)
    provider = ProviderClient(
        api_url=config.whatsapp.api_url,
        api_key=config.whatsapp.api_key,
        timeout_seconds=config.whatsapp.timeout_seconds,
        connect_timeout_seconds=config.whatsapp.connect_timeout_seconds,
    )
    try:
        store.migrate()
        service = SendService(config=config, store=store, provider=provider)
        return _send_once(service, args, kind, out)
    finally:
        provider.close()
        store.close()


def _send_once(
    service: SendService, args: argparse.Namespace, kind: MessageKind, out: TextIO
) -> int:
    try:
        sender = service.resolve_sender(args.sender)
        message = Message(
            kind=kind,
            to=service.resolve_recipient(args.to),
            body=getattr(args, kind.value),
            caption=args.caption,
            file_name=args.file_name,
        )
        draft = service.create_draft(message, sender=sender, source="cli")
    except (PayloadError, SendRefused) as exc:
        raise CommandLineError(str(exc), EXIT_USAGE) from None
    service.confirm(draft.id)

    def on_wait(_send: SendRecord, seconds: float) -> None:
        print(f"The provider is rate limiting; trying again in {seconds:.0f} s.", file=sys.stderr)

    delivery = service.deliver(draft.id, on_wait=on_wait)
    if delivery is None:  # pragma: no cover - nobody else can hold a fresh draft
        raise CommandLineError("The send was taken by another process.")
    if delivery.result is not None:
        print(delivery.result.transaction_id, file=out)
        return EXIT_OK
    error = delivery.error
    assert error is not None
    if error.may_have_been_received:
        raise CommandLineError(
            f"Not sure whether the message was sent: {error.reason}. It was NOT sent again "
            f"automatically, to avoid a duplicate. Check with the provider before retrying "
            f"(send id {draft.id}, externalId {draft.external_id}).",
            EXIT_UNCERTAIN,
        )
    advice = {
        "unauthorized": " Check whatsapp.api_key: it is wrong, expired or lacks the right to send.",
        "rate_limited": " Try again later.",
    }.get(error.kind, "")
    raise CommandLineError(f"The provider did not send it: {error.reason}.{advice}", EXIT_NOT_SENT)


def cmd_migrate(args: argparse.Namespace, env: Mapping[str, str], out: TextIO) -> int:
    print(_migrate(_load(args, env).database_url), file=out)
    return EXIT_OK


def _migrate(database_url: str) -> str:
    """Create or upgrade the tables; what was done, in a sentence."""
    store = Store.from_url(database_url, pool_size=1)
    try:
        return store.migrate().describe()
    except SchemaError as exc:
        raise CommandLineError(str(exc)) from None
    except sa.exc.DBAPIError as exc:
        raise _unreachable(database_url, exc) from None
    finally:
        store.close()


def cmd_inbound_url(args: argparse.Namespace, env: Mapping[str, str], out: TextIO) -> int:
    config = _load(args, env)
    aliases = list(config.senders)
    if args.sender is not None:
        if args.sender not in config.senders:
            known = ", ".join(aliases)
            raise CommandLineError(
                f"There is no sender called `{args.sender}` in {_config_path(args, env)}. "
                f"Senders: {known}. Give one of them with --sender, or leave --sender out to "
                "print every sender's URL.",
                EXIT_USAGE,
            )
        aliases = [args.sender]
    for alias in aliases:
        token = tokens.sender_token(config.media.link_secret, alias)
        print(f"{alias} {config.inbound_url(token)}", file=out)
    return EXIT_OK


def cmd_export(args: argparse.Namespace, env: Mapping[str, str], out: TextIO) -> int:
    from bot.usecases import export

    try:
        period = export.Period.parse(args.since, args.until)
    except export.ExportError as exc:
        raise CommandLineError(str(exc), EXIT_USAGE) from None
    config = _load(args, env)
    numbers = {alias: sender.number for alias, sender in config.senders.items()}
    store = _existing_store(config.database_url)
    try:
        with _stopped_by_sigterm(), export.destination(args.output, out) as stream:
            counts = export.export(
                store, stream, period=period, format=args.format, sender_numbers=numbers
            )
    except export.ExportError as exc:
        raise CommandLineError(str(exc)) from None
    except sa.exc.DBAPIError as exc:
        reason = " ".join(str(exc.orig).split())
        lost = f"{args.output} was not written" if args.output else "the output is incomplete"
        raise CommandLineError(f"Reading the database failed ({reason}): {lost}.") from None
    finally:
        store.close()
    if args.output is not None:
        print(f"Wrote {counts.describe()} to {args.output}.", file=out)
    return EXIT_OK


def _existing_store(database_url: str) -> Store:
    """The database, which must exist and be at this version's schema (nothing is created)."""
    url = sa.engine.make_url(database_url)
    file = url.database if url.get_backend_name() == "sqlite" else None
    if file and file != ":memory:" and not file.startswith("file:") and not os.path.isfile(file):
        raise CommandLineError(f"There is no database at {file}: check database_url.")
    store = Store.from_url(database_url, pool_size=1)
    try:
        schema = store.schema_status()
    except sa.exc.DBAPIError as exc:
        store.close()
        raise _unreachable(database_url, exc) from None
    if not schema.current:
        store.close()
        raise CommandLineError(f"The database's schema is {schema.describe()}.")
    return store


@contextmanager
def _stopped_by_sigterm() -> Iterator[None]:
    """SIGTERM ends the command as Ctrl-C does (exit 143), so a partial file is removed."""

    def stop(_signum: int, _frame: object) -> None:
        raise SystemExit(128 + signal.SIGTERM)

    main_thread = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGTERM, stop) if main_thread else None
    try:
        yield
    finally:
        if main_thread:
            signal.signal(signal.SIGTERM, previous)


def _unreachable(database_url: str, exc: sa.exc.DBAPIError) -> CommandLineError:
    where = sa.engine.make_url(database_url).render_as_string(hide_password=True)
    reason = " ".join(str(exc.orig).split())
    return CommandLineError(
        f"Could not reach the database at {where} ({reason}). Check database_url, and "
        "that the database is up."
    )


def cmd_forget(args: argparse.Namespace, env: Mapping[str, str], out: TextIO) -> int:
    from bot.usecases.forget import Forgetting, NothingToForget

    try:
        number = phones.normalize(args.number)
    except phones.InvalidNumber as exc:
        raise CommandLineError(str(exc), EXIT_USAGE) from None
    config = _load(args, env)
    _migrate(config.database_url)
    store = Store.from_url(config.database_url, pool_size=2)
    try:
        forgetting = Forgetting(store=store)
        try:
            outcome = forgetting.forget(number)
        except NothingToForget as exc:
            raise CommandLineError(str(exc)) from None
        print("\n".join(outcome.describe()), file=out)
        if not outcome.rows_to_edit:
            return EXIT_OK
        if args.wait <= 0:
            print(forgetting.left_to_the_app(outcome), file=out)
            return EXIT_OK
        # What failed is said in a line, not as the passes' and the client's tracebacks.
        quiet = [] if logger.isEnabledFor(logging.DEBUG) else ["bot.usecases", "slack_sdk"]
        levels = {name: logging.getLogger(name).level for name in quiet}
        for name in quiet:
            logging.getLogger(name).setLevel(logging.CRITICAL)
        from bot.app import build_services

        services = build_services(config, store=store)
        try:
            done = forgetting.bring_slack_up_to_date(services.renderer, outcome, timeout=args.wait)
        finally:
            services.renderer.close()
            services.executor.shutdown(wait=True)
            services.provider.close()
            for name, level in levels.items():
                logging.getLogger(name).setLevel(level)
        print(done.describe(args.wait), file=out)
    finally:
        store.close()
    return EXIT_OK


def cmd_serve(args: argparse.Namespace, env: Mapping[str, str], out: TextIO) -> int:
    from bot.app import create_app
    from bot.server import graceful_timeout, metrics_directory, serve, use_log_format
    from bot.usecases.metrics import Metrics

    path = _config_path(args, env)
    config = config_module.load_config(path, env)  # fail here, once, with every problem listed
    log_level = "debug" if args.debug else "info"
    log_format: LogFormat = args.log_format or config.logging.format
    use_log_format(log_format)
    logging.getLogger("bot").setLevel(logging.DEBUG if args.debug else logging.INFO)
    # Before any worker starts: several instances starting at once upgrade the schema once.
    migrated = f"Database: {_migrate(config.database_url)}"
    serving = f"Serving on http://{args.host}:{args.port} (config: {path})"
    for line in (migrated, serving):
        if log_format == "json":
            logger.info("%s", line)  # every line of the log is JSON
        else:
            print(line, file=out, flush=True)

    with metrics_directory() as metrics_dir:

        def factory() -> WebApp:
            metrics = Metrics(multiprocess_dir=metrics_dir)
            app = create_app(config_module.load_config(path, env), metrics=metrics)
            app.services.slack_health.check_at_start()
            return app

        serve(
            factory,
            host=args.host,
            port=args.port,
            workers=args.workers,
            threads=args.threads,
            log_level=log_level,
            log_format=log_format,
            metrics_dir=metrics_dir,
            graceful_timeout=graceful_timeout(config.whatsapp.timeout_seconds),
        )
    return EXIT_OK


def cmd_manifest(args: argparse.Namespace, env: Mapping[str, str], out: TextIO) -> int:
    from bot.slack.manifest import EXAMPLE_BASE_URL, render

    base = args.base_url or EXAMPLE_BASE_URL
    if not base.startswith(("https://", "http://")):
        raise CommandLineError(f"--base-url must start with https://, e.g. {EXAMPLE_BASE_URL}", 2)
    out.write(render(base))
    return EXIT_OK


def cmd_demo(args: argparse.Namespace, env: Mapping[str, str], out: TextIO) -> int:
    from bot.demo import run

    return run(
        env=env,
        out=out,
        err=sys.stderr,
        keep_running=args.keep_running,
        secrets_file=args.secrets_file,
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="whatsapp-bot", description="Send WhatsApp media to customers from Slack."
    )
    parser.add_argument("--debug", action="store_true", help="show tracebacks and debug logs")
    parser.add_argument("--version", action="version", version=f"%(prog)s {version()}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def add(name: str, handler: Handler, help_text: str) -> argparse.ArgumentParser:
        sub = commands.add_parser(name, help=help_text, description=help_text)
        sub.set_defaults(handler=handler)
        sub.add_argument(
            "--config", help="config file (default: $WHATSAPP_BOT_CONFIG, config.yaml)"
        )
        return sub

    check = add(
        "check-config",
        cmd_check_config,
        "validate the config, print a summary and ask Slack whether it takes the bot token",
    )
    check.add_argument(
        "--offline", action="store_true", help="check the file only, without asking Slack"
    )
    add("migrate", cmd_migrate, "create or upgrade the database's tables, keeping every row")

    inbound = add(
        "inbound-url",
        cmd_inbound_url,
        "print each sender's URL for customer messages (`ALIAS URL`, one a line), to give the "
        "provider",
    )
    inbound.add_argument(
        "--sender", metavar="ALIAS", help="only this sender's URL (a sender alias from config)"
    )

    exporting = add(
        "export",
        cmd_export,
        "write every send (with its statuses) and every customer message, oldest first, as "
        "CSV or JSON Lines, for an audit",
    )
    exporting.add_argument(
        "--since", metavar="DATE", help="from this date or ISO timestamp, included (UTC)"
    )
    exporting.add_argument(
        "--until", metavar="DATE", help="up to this date or ISO timestamp, not included (UTC)"
    )
    exporting.add_argument("--format", choices=("csv", "jsonl"), default="csv", help="(csv)")
    exporting.add_argument(
        "--output", metavar="PATH", help="file to write, replaced once complete (stdout)"
    )

    forget = add(
        "forget",
        cmd_forget,
        "erase one customer's content and kept files now, mask their number in every record, "
        "edit the Slack messages that show them, and print how many records changed",
    )
    forget.add_argument(
        "number", metavar="NUMBER", help="the customer's number, e.g. +573001234567"
    )
    forget.add_argument(
        "--wait",
        type=float,
        default=300.0,
        metavar="SECONDS",
        help="how long to edit Slack from here before leaving the rest to a running app "
        "(default 300; 0 leaves it all to the app)",
    )

    serve = add("serve", cmd_serve, "run the HTTP app on gunicorn")
    serve.add_argument("--host", default="0.0.0.0", help="address to listen on (default 0.0.0.0)")
    serve.add_argument("--port", type=int, default=3000, help="port (default 3000)")
    serve.add_argument(
        "--workers", type=int, default=DEFAULT_WORKERS, help="worker processes (one per core)"
    )
    serve.add_argument("--threads", type=int, default=DEFAULT_THREADS, help="threads per worker")
    serve.add_argument(
        "--log-format",
        choices=LOG_FORMATS,
        help="text, or json: one object a line (default: logging.format from the config)",
    )

    manifest = commands.add_parser(
        "manifest", help="print manifest.yml with the request URLs filled in"
    )
    manifest.set_defaults(handler=cmd_manifest)
    manifest.add_argument("--base-url", help="the app's public URL, e.g. https://bot.example.com")

    demo_help = (
        "run the real app against a stand-in Slack and provider on loopback and walk through "
        "three sends and a customer's conversation; needs no credentials and no network"
    )
    demo = commands.add_parser("demo", help=demo_help, description=demo_help)
    demo.set_defaults(handler=cmd_demo)
    demo.add_argument(
        "--keep-running",
        action="store_true",
        help="leave the app and the stand-ins running afterwards, until Ctrl-C",
    )
    # For tests: where to write the run's made-up secrets, to check none is printed.
    demo.add_argument("--secrets-file", help=argparse.SUPPRESS)

    send = add("send", cmd_send, "send one WhatsApp message and print its transactionId")
    send.add_argument("--to", required=True, help="recipient: E.164 number or contact name")
    media = send.add_mutually_exclusive_group(required=True)
    for kind in _KINDS:
        what = "the message text" if kind == "text" else f"URL of the {kind}"
        media.add_argument(f"--{kind}", metavar="TEXT" if kind == "text" else "URL", help=what)
    send.add_argument("--caption", help="caption (images only)")
    send.add_argument("--file-name", dest="file_name", help="file name ending in .pdf (documents)")
    send.add_argument("--from", dest="sender", metavar="ALIAS", help="sender alias from config")
    return parser


Handler = Callable[[argparse.Namespace, Mapping[str, str], TextIO], int]


def version() -> str:
    """This installation's version, from the package's metadata."""
    try:
        return importlib.metadata.version("slack-whatsapp-bot")
    except importlib.metadata.PackageNotFoundError:  # run from a tree that was never installed
        return "unknown"


def main(
    argv: Sequence[str] | None = None,
    *,
    env: Mapping[str, str] | None = None,
    out: TextIO | None = None,
) -> int:
    env = os.environ if env is None else env
    out = out or sys.stdout
    args = build_parser().parse_args(argv)
    stderr = logging.StreamHandler(sys.stderr)
    use_format(stderr, "text")
    logging.basicConfig(level=logging.DEBUG if args.debug else logging.WARNING, handlers=[stderr])
    handler: Handler = args.handler
    try:
        return handler(args, env, out)
    except ConfigError as exc:
        print(f"{exc}\nRun `whatsapp-bot check-config` after fixing it.", file=sys.stderr)
        return EXIT_PROBLEM
    except CommandLineError as exc:
        print(f"Error: {exc}", file=sys.stderr)
        return exc.code
    except KeyboardInterrupt:
        return 130
    except Exception as exc:
        if args.debug:
            raise
        logger.debug("Failed to run %s", args.command, exc_info=True)
        print(
            f"Error: {args.command} failed unexpectedly ({type(exc).__name__}: {exc}). "
            "Run again with --debug for details.",
            file=sys.stderr,
        )
        return EXIT_PROBLEM


if __name__ == "__main__":
    sys.exit(main())
