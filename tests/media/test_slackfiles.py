from __future__ import annotations

import pytest

from bot.media.slackfiles import DownloadFailed, FileTooLarge, download, file_origins
from bot.sandbox.files import FileHost
from bot.sandbox.slack import SlackStandIn


def test_download_with_the_token_and_limits() -> None:
    with SlackStandIn(bot_token="xoxb-t") as slack:
        file = slack.add_file("a.png", b"x" * 1000, "image/png", "png", "U1")
        url = file["url_private_download"]
        slack_only = file_origins(slack.api_url)
        assert download(url, "xoxb-t", max_bytes=1000, allowed=slack_only) == b"x" * 1000
        with pytest.raises(FileTooLarge):
            download(url, "xoxb-t", max_bytes=999, allowed=slack_only)
        with pytest.raises(DownloadFailed, match="HTTP 302"):
            download(url, "wrong-token", max_bytes=1000, allowed=slack_only)
        with pytest.raises(DownloadFailed, match="usable download link"):
            download("", "xoxb-t", max_bytes=10, allowed=slack_only)
    with pytest.raises(DownloadFailed, match="could not be fetched"):
        download(url, "xoxb-t", max_bytes=1000, allowed=slack_only)  # the server is gone


def test_slack_s_file_host_is_files_slack_com_or_the_stand_in_s_own() -> None:
    assert file_origins("https://slack.com/api/") == {("https", "files.slack.com", 443)}
    assert file_origins("https://acme.slack.com/api/") == {("https", "files.slack.com", 443)}
    assert file_origins("http://127.0.0.1:8123/api/") == {("http", "127.0.0.1", 8123)}


@pytest.mark.parametrize(
    "where",
    [
        "{host}/a.png",  # another server on the same machine
        "http://127.0.0.1.nip.io:{slack_port}/a.png",
        "https://files.slack.com.evil.example/a.png",
        "http://localhost:{slack_port}/a.png",  # the same server under another name
        "https://{slack_host}/a.png",  # the same host, another scheme and port
    ],
)
def test_the_token_goes_to_no_host_but_slack_s(where: str) -> None:
    with SlackStandIn(bot_token="xoxb-t") as slack, FileHost() as host:
        host.add("a.png", b"x" * 10, "image/png")
        slack_host = slack.api_url.split("/")[2]
        url = where.format(
            host=host.url, slack_port=slack_host.split(":")[1], slack_host=slack_host
        )
        with pytest.raises(DownloadFailed, match="not to Slack's file host"):
            download(url, "xoxb-t", max_bytes=1000, allowed=file_origins(slack.api_url))
        assert host.requests == []
        assert slack.downloads == []
