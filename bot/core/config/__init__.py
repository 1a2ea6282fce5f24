"""The YAML configuration: `${VAR}` expanded from the environment, validated into frozen objects.

Every problem in a file is reported at once, each with its YAML path and a fix. The records live
in `model` (importing them loads neither YAML nor the database library), loading in `loading`,
validation in `reading`, and what `check-config` prints in `summary`.
"""

from bot.core.config.loading import load_config, parse_config, parse_config_text
from bot.core.config.model import (
    DEFAULT_DATABASE_URL,
    DEFAULT_SLACK_API_URL,
    AccessConfig,
    CallbacksFormat,
    ChannelPolicy,
    Config,
    ConfigError,
    ConversationsConfig,
    LoggingConfig,
    MediaConfig,
    MetricsConfig,
    Problem,
    RecipientFormat,
    RetentionConfig,
    Sender,
    SlackConfig,
    WhatsAppConfig,
)
from bot.core.config.summary import redact_database_url, summary

__all__ = [
    "DEFAULT_DATABASE_URL",
    "DEFAULT_SLACK_API_URL",
    "AccessConfig",
    "CallbacksFormat",
    "ChannelPolicy",
    "Config",
    "ConfigError",
    "ConversationsConfig",
    "LoggingConfig",
    "MediaConfig",
    "MetricsConfig",
    "Problem",
    "RecipientFormat",
    "RetentionConfig",
    "Sender",
    "SlackConfig",
    "WhatsAppConfig",
    "load_config",
    "parse_config",
    "parse_config_text",
    "redact_database_url",
    "summary",
]
