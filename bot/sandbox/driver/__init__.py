"""Plays Slack's side towards the app: signed requests to ``/slack/events`` as Slack sends them.

Slash commands and interactivity go form-encoded (interactivity as ``payload=<json>``),
events as JSON in an ``event_callback`` envelope, each signed with the signing secret
(``v0=`` HMAC-SHA256 over ``v0:{timestamp}:{body}``). With a :class:`SlackStandIn`, response
URLs and trigger IDs come from it, clicks find their button in what it shows the user, file
shares upload there first, and what Slack would do with the app's HTTP answer (a slash
command's message, a modal's ``response_action``) is applied to it.

Every sending method takes ``timestamp=``, ``signature=``, ``corrupt_signature=`` and
``headers=`` to build negative cases; :meth:`SlackDriver.raw_post` sends anything at all.
"""

from bot.sandbox.driver.events import Events
from bot.sandbox.driver.interactions import Interactions
from bot.sandbox.driver.transport import DriverResponse, SendOptions, sign

__all__ = ["DriverResponse", "SendOptions", "SlackDriver", "sign"]


class SlackDriver(Interactions, Events):
    """Sends the app at ``app_url`` the requests Slack would, signed with ``signing_secret``."""
