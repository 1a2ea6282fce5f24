"""The stand-ins' server base (`bot/sandbox/http.py`) keeps connections alive (HTTP/1.1), and
closes them when a request's body was left unread or the stand-in stops."""

from __future__ import annotations

import http.client
import socket

from bot.sandbox.files import FileHost
from bot.sandbox.slack import SlackStandIn


def test_requests_share_one_connection() -> None:
    with SlackStandIn() as slack, FileHost() as files:
        files.add("a.txt", b"hello", "text/plain")
        for standin, path in ((slack, "/api/api.test"), (files, "/a.txt")):
            conn = http.client.HTTPConnection(standin.host, standin.port, timeout=5)
            for _ in range(3):
                conn.request("POST" if standin is slack else "GET", path)
                answer = conn.getresponse()
                answer.read()
                assert answer.version == 11 and not answer.will_close
            conn.close()
            assert standin.connections == 1


def test_stopping_a_stand_in_closes_its_kept_alive_connections() -> None:
    standin = SlackStandIn()
    with socket.create_connection((standin.host, standin.port), timeout=5) as conn:
        conn.sendall(b"GET / HTTP/1.1\r\nHost: slack\r\n\r\n")
        assert conn.recv(65536).startswith(b"HTTP/1.1 200")
        standin.stop()
        while chunk := conn.recv(65536):  # the rest of the answer, then the close
            assert not chunk.startswith(b"HTTP/")


def test_a_request_whose_body_was_not_read_closes_its_connection() -> None:
    with SlackStandIn() as slack, socket.create_connection((slack.host, slack.port), 5) as conn:
        conn.sendall(
            b"POST /nowhere HTTP/1.1\r\nHost: slack\r\nContent-Length: 5\r\n\r\nhello"
            b"GET / HTTP/1.1\r\nHost: slack\r\n\r\n"
        )
        answer = b""
        while chunk := conn.recv(65536):
            answer += chunk
    assert answer.startswith(b"HTTP/1.1 404")
    assert b"Connection: close" in answer
    assert answer.count(b"HTTP/1.1 ") == 1
