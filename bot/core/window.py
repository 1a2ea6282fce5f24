"""WhatsApp's customer-care window: free-form messages only within a time after the
customer's last message (24 hours, `conversations.window_hours`)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from bot.core.records import utcnow


@dataclass(frozen=True)
class Window:
    """Whether the window is open now, and until when."""

    last_customer_at: datetime | None
    hours: float = 24.0
    now: datetime | None = None

    @property
    def until(self) -> datetime | None:
        if self.last_customer_at is None:
            return None
        return self.last_customer_at + timedelta(hours=self.hours)

    @property
    def open(self) -> bool:
        until = self.until
        return until is not None and until > (self.now or utcnow())

    @property
    def left(self) -> timedelta:
        until = self.until
        if until is None:
            return timedelta(0)
        return max(timedelta(0), until - (self.now or utcnow()))

    def line(self) -> str:
        """The confirmation's words, plain text (the spec's)."""
        if self.open and self.until is not None:
            return f"open until {self.until:%H:%M} UTC, {_duration(self.left)} left"
        hours = f"{self.hours:g} h"
        return (
            f"no message from this customer in the last {hours}: WhatsApp may refuse a "
            "free-form message, and only a late status would say so"
        )


def _duration(left: timedelta) -> str:
    minutes = int(left.total_seconds() // 60)
    if minutes >= 60:
        return f"{minutes // 60} h"
    return f"{max(1, minutes)} min"


def time_left(window: Window) -> str:
    """What the App Home says of a conversation's window: `3 h left`, or `window closed`."""
    return f"{_duration(window.left)} left" if window.open else "window closed"
