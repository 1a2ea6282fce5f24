"""`whatsapp-bot demo`: the real app between a stand-in Slack and a stand-in provider on loopback,
walked through three sends and shown as people in Slack would read them."""

from bot.demo.run import run

__all__ = ["run"]
