from __future__ import annotations

import pytest

from bot.media.slackfiles import DownloadFailed, FileTooLarge, download
from bot.sandbox.slack import SlackStandIn


def test_download_with_the_token_and_limits() -> None:
    with SlackStandIn(bot_token="xoxb-t") as slack:
        file = slack.add_file("a.png", b"x" * 1000, "image/png", "png", "U1")
        url = file["url_private_download"]
        assert download(url, "xoxb-t", max_bytes=1000) == b"x" * 1000
        with pytest.raises(FileTooLarge):
            download(url, "xoxb-t", max_bytes=999)
        with pytest.raises(DownloadFailed, match="HTTP 302"):
            download(url, "wrong-token", max_bytes=1000)
        with pytest.raises(DownloadFailed, match="usable download link"):
            download("", "xoxb-t", max_bytes=10)
    with pytest.raises(DownloadFailed, match="could not be fetched"):
        download(url, "xoxb-t", max_bytes=1000)  # the server is gone
