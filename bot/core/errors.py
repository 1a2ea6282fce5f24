"""Refusals a person is told about, in their words."""


class SendRefused(ValueError):
    """A send that may not be made, with the reason for the person asking."""
