"""Stand-in for Slack's Web API, response URLs and private file downloads, on loopback.

The app talks to it through ``slack_sdk.WebClient(base_url=standin.api_url)``. It keeps a
workspace the way Slack would show it to people: each channel's top-level messages, threads
(replies keyed by ``thread_ts``, with ``reply_count`` on the parent), edits applied in place
(with their history), reactions, ephemeral messages per (channel, user), published Home tabs,
opened modals, and files served only to the bot token. Files are uploaded Slack's external way
(``files.getUploadURLExternal``, a POST of the bytes, ``files.completeUploadExternal``); the
retired ``files.upload`` is refused. Every call is recorded, and faults can be queued per method
with :meth:`SlackStandIn.fail_next`.

Where Slack is strict, so is the stand-in: bots cannot edit or delete people's messages,
replies need an existing parent, trigger IDs are single-use and expire, blocks and views are
checked against Block Kit's documented limits, a response URL works 5 times in 30 minutes.

``workspace`` keeps users, channels, messages and threads; ``webapi`` answers the Web API
(``views`` the ``views.*`` methods); ``response_urls`` and ``files`` serve response URLs and
private downloads; ``uploads`` takes uploads; ``blockkit`` checks blocks and views;
``standin`` puts them on one server.
"""

from bot.sandbox.slack.blockkit import find_element
from bot.sandbox.slack.common import (
    BOT_ID,
    BOT_USER_ID,
    DEFAULT_APP_ID,
    DEFAULT_BOT_TOKEN,
    DEFAULT_TEAM_ID,
    MAX_BODY,
    MAX_TEXT,
    ApiCall,
    Download,
    Json,
    ResponseUrlPost,
    Upload,
)
from bot.sandbox.slack.response_urls import RESPONSE_URL_TTL, RESPONSE_URL_USES
from bot.sandbox.slack.standin import SlackStandIn

__all__ = [
    "BOT_ID",
    "BOT_USER_ID",
    "DEFAULT_APP_ID",
    "DEFAULT_BOT_TOKEN",
    "DEFAULT_TEAM_ID",
    "MAX_BODY",
    "MAX_TEXT",
    "RESPONSE_URL_TTL",
    "RESPONSE_URL_USES",
    "ApiCall",
    "Download",
    "Json",
    "ResponseUrlPost",
    "SlackStandIn",
    "Upload",
    "find_element",
]
