"""The app factory: wires config, database, provider and Slack into one WSGI application."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from slack_bolt import App, BoltContext, BoltResponse
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_handlers import (
    ConnectionErrorRetryHandler,
    RateLimitErrorRetryHandler,
)
from slack_sdk.web import SlackResponse

from bot.core.config import Config
from bot.slack.listeners import actions, commands, events, views
from bot.slack_client import PooledWebClient
from bot.store import Store
from bot.usecases.conversations import Conversations
from bot.usecases.delivery import Deliveries
from bot.usecases.fileshare import FileShares
from bot.usecases.groups import GroupSends
from bot.usecases.home import HomeTabs
from bot.usecases.inbound import InboundIntake
from bot.usecases.intake import StatusIntake
from bot.usecases.media import MediaService
from bot.usecases.metrics import Metrics
from bot.usecases.render import ThreadRenderer
from bot.usecases.replies import Replies
from bot.usecases.retention import Retention
from bot.usecases.sending import SendService
from bot.usecases.services import Services
from bot.usecases.slack_health import SlackTokenHealth
from bot.usecases.usernames import UserNames
from bot.web import WebApp
from bot.whatsapp.client import ProviderClient

logger = logging.getLogger(__name__)

# `auth.test` for the token's health: short, and never retried, so a check holds no thread long.
TOKEN_CHECK_TIMEOUT = 5


class CountingWebClient(PooledWebClient):
    """A Web API client that counts every failed call, whoever makes it
    (`slack_api_errors_total`): every method of `WebClient` goes through `api_call`."""

    def __init__(self, *, metrics: Metrics, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.metrics = metrics

    def api_call(self, api_method: str, **kwargs: Any) -> SlackResponse:
        try:
            return super().api_call(api_method, **kwargs)
        except SlackApiError as exc:
            self.metrics.slack_error(api_method, str(exc.response.get("error", "")))
            raise
        except Exception as exc:  # no answer at all: a timeout, a refused connection
            self.metrics.slack_error(api_method, type(exc).__name__)
            raise


def slack_client(config: Config, *, metrics: Metrics | None = None) -> PooledWebClient:
    """The Web API client, over kept-alive connections; `Retry-After` on `ratelimited` is
    honoured by slack-sdk."""
    options: dict[str, Any] = {
        "token": config.slack.bot_token,
        "base_url": config.slack.api_base_url,
        "timeout": 10,
    }
    client = (
        PooledWebClient(**options)
        if metrics is None
        else CountingWebClient(metrics=metrics, **options)
    )
    client.retry_handlers = [
        ConnectionErrorRetryHandler(max_retry_count=2),
        RateLimitErrorRetryHandler(max_retry_count=3),
    ]
    return client


def token_check_client(token: str | None, base_url: str) -> WebClient:
    """A client for `auth.test` alone: a short timeout and no retries."""
    return PooledWebClient(
        token=token,
        base_url=base_url,
        timeout=TOKEN_CHECK_TIMEOUT,
        retry_handlers=[],
        pool_size=1,
    )


def build_services(
    config: Config,
    *,
    store: Store | None = None,
    provider: ProviderClient | None = None,
    client: WebClient | None = None,
    render_interval: float = 1.0,
    metrics: Metrics | None = None,
) -> Services:
    metrics = metrics or Metrics()
    store = store or Store.from_url(config.database_url)
    store.migrate()
    provider = provider or ProviderClient(
        api_url=config.whatsapp.api_url,
        api_key=config.whatsapp.api_key,
        timeout_seconds=config.whatsapp.timeout_seconds,
        connect_timeout_seconds=config.whatsapp.connect_timeout_seconds,
    )
    client = client or slack_client(config, metrics=metrics)
    media = MediaService(config=config, store=store)
    sending = SendService(
        config=config, store=store, provider=provider, media_link=media.link, metrics=metrics
    )
    renderer = ThreadRenderer(
        config=config,
        store=store,
        client=client,
        senders=sending.sender_of,
        min_interval=render_interval,
        metrics=metrics,
    )
    intake = StatusIntake(config=config, store=store, renderer=renderer, metrics=metrics)
    names = UserNames(client=client)
    conversations = Conversations(config=config, store=store, renderer=renderer, metrics=metrics)
    files = FileShares(
        config=config,
        store=store,
        client=client,
        sending=sending,
        media=media,
        names=names,
        conversations=conversations,
    )
    home = HomeTabs(config=config, store=store, client=client, sending=sending)
    renderer.on_change = lambda send: home.refresh(send.user_id)
    groups = GroupSends(sending=sending, renderer=renderer, conversations=conversations)
    conversations.on_conversation_change = home.conversation_changed
    deliveries = Deliveries(sending=sending, groups=groups, renderer=renderer)
    deliveries.on_sent = lambda send: conversations.answered(send.sender_alias, send.recipient)
    return Services(
        config=config,
        store=store,
        provider=provider,
        client=client,
        sending=sending,
        renderer=renderer,
        intake=intake,
        media=media,
        files=files,
        groups=groups,
        deliveries=deliveries,
        home=home,
        names=names,
        slack_health=SlackTokenHealth(
            store=store,
            client=token_check_client(client.token, client.base_url),
            interval=config.slack.token_check_seconds,
        ),
        metrics=metrics,
        conversations=conversations,
        inbound=InboundIntake(config=config, store=store, renderer=renderer, metrics=metrics),
        replies=Replies(
            config=config,
            store=store,
            sending=sending,
            conversations=conversations,
            deliveries=deliveries,
        ),
        retention=Retention(config=config, store=store),
    )


def create_bolt_app(services: Services) -> App:
    bolt = App(
        client=services.client,
        signing_secret=services.config.slack.signing_secret,
        token_verification_enabled=False,
        # Acks go out from the request thread as soon as a listener returns; every listener
        # only acks and hands its work to Services.background.
        process_before_response=True,
        logger=logging.getLogger("bot.slack"),
    )
    if isinstance(services.client, PooledWebClient):
        bolt.use(_listeners_share_connections(services.client))
    commands.register(bolt, services)
    actions.register(bolt, services)
    events.register(bolt, services)
    views.register(bolt, services)
    return bolt


def _listeners_share_connections(
    client: PooledWebClient,
) -> Callable[[BoltContext, Callable[[], BoltResponse]], BoltResponse]:
    """Bolt's middleware that gives each request's listeners (their `client`, `say`) a copy of
    `client`: its connections and its counting, not a `WebClient` of Bolt's own making."""

    def share(context: BoltContext, next: Callable[[], BoltResponse]) -> BoltResponse:
        context["client"] = client.sharing_connections(team_id=context.team_id)
        return next()

    return share


def create_app(
    config: Config,
    *,
    store: Store | None = None,
    provider: ProviderClient | None = None,
    slack: WebClient | None = None,
    sweep_interval: float | None = 5.0,
    metrics: Metrics | None = None,
) -> WebApp:
    """The whole app, ready to serve; `sweep_interval=None` leaves maintenance off."""
    services = build_services(config, store=store, provider=provider, client=slack, metrics=metrics)
    app = WebApp(bolt=create_bolt_app(services), services=services)
    if sweep_interval is not None:
        services.start_maintenance(sweep_interval)
    return app
