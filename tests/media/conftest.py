"""Fixtures shared by the media tests."""

from tests.media.test_remote import serve  # noqa: F401  (a loopback HTTP server per test)
