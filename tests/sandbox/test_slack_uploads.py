"""Uploads to the stand-in Slack through slack_sdk's real ``files_upload_v2``, and by hand."""

from __future__ import annotations

import http.client
import io
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import pytest
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.sandbox.slack import BOT_ID, BOT_USER_ID, DEFAULT_BOT_TOKEN, SlackStandIn, Upload

CHANNEL = "C0123SUPPORT"
OTHER = "C0456SALES"
ALICE = "U0ALICE01"
PHOTO = bytes(range(256)) * 40 + b"\r\n\r\n--\r\n\n\r"  # every byte value, and form-like lines


@pytest.fixture
def slack() -> Iterator[SlackStandIn]:
    with SlackStandIn() as standin:
        standin.add_channel(CHANNEL, "support")
        standin.add_channel(OTHER, "sales")
        standin.add_user(ALICE, "alice", real_name="Alice A.")
        yield standin


@pytest.fixture
def client(slack: SlackStandIn) -> WebClient:
    return WebClient(token=DEFAULT_BOT_TOKEN, base_url=slack.api_url, timeout=5)


def api_error(exc: pytest.ExceptionInfo[SlackApiError]) -> str:
    return str(exc.value.response["error"])


def post(url: str, body: bytes, headers: dict[str, str] | None = None) -> tuple[int, bytes]:
    """A POST as slack_sdk makes it to an upload URL: urllib, no token."""
    request = urllib.request.Request(url, data=body, headers=headers or {}, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=5) as answer:
            return int(answer.status), bytes(answer.read())
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def upload_url(client: WebClient, filename: str, length: int) -> tuple[str, str]:
    answer = client.files_getUploadURLExternal(filename=filename, length=length)
    return str(answer["upload_url"]), str(answer["file_id"])


# ---------------------------------------------------------------- files_upload_v2


def test_files_upload_v2_into_a_thread(slack: SlackStandIn, client: WebClient) -> None:
    parent = client.chat_postMessage(channel=CHANNEL, text="Sent image to +57…")
    answer = client.files_upload_v2(
        channel=CHANNEL,
        thread_ts=parent["ts"],
        file=PHOTO,
        filename="photo.jpg",
        title="The parcel",
        initial_comment="Here is the photo",
    )
    file_id = answer["file"]["id"]
    assert answer["files"] == [{"id": file_id, "title": "The parcel"}]

    parent_msg, reply = slack.thread(CHANNEL, parent["ts"])
    assert parent_msg["reply_count"] == 1
    assert reply["subtype"] == "file_share" and reply["text"] == "Here is the photo"
    assert reply["thread_ts"] == parent["ts"]
    assert (reply["user"], reply["bot_id"]) == (BOT_USER_ID, BOT_ID)
    [shown] = reply["files"]
    assert (shown["id"], shown["name"], shown["title"]) == (file_id, "photo.jpg", "The parcel")
    assert (shown["mimetype"], shown["filetype"], shown["size"]) == (
        "image/jpeg",
        "jpg",
        len(PHOTO),
    )
    replies = client.conversations_replies(channel=CHANNEL, ts=parent["ts"])["messages"]
    assert replies[1]["files"][0]["id"] == file_id
    assert [m["ts"] for m in slack.channel_messages(CHANNEL)] == [parent["ts"]]  # not top level

    info = client.files_info(file=file_id)["file"]
    assert (info["name"], info["title"], info["size"]) == ("photo.jpg", "The parcel", len(PHOTO))
    assert info["user"] == BOT_USER_ID and info["channels"] == [CHANNEL]
    [share] = info["shares"]["public"][CHANNEL]
    assert (share["ts"], share["thread_ts"]) == (reply["ts"], parent["ts"])

    [upload] = slack.uploads
    assert upload == Upload(
        file_id=file_id,
        name="photo.jpg",
        title="The parcel",
        mimetype="image/jpeg",
        content=PHOTO,
        channel=CHANNEL,
        thread_ts=parent["ts"],
        ts=reply["ts"],
        time=upload.time,
    )
    auth = {"Authorization": f"Bearer {DEFAULT_BOT_TOKEN}"}
    download = urllib.request.Request(info["url_private_download"], headers=auth)
    with urllib.request.urlopen(download, timeout=5) as got:
        assert got.read() == PHOTO

    asked = slack.calls_to("files.getUploadURLExternal")[0].params
    assert (asked["filename"], asked["length"]) == ("photo.jpg", str(len(PHOTO)))
    assert [c.method for c in slack.calls] == [
        "chat.postMessage",
        "files.getUploadURLExternal",
        "files.completeUploadExternal",
        "conversations.replies",
        "files.info",
    ]


def test_several_files_share_one_message(slack: SlackStandIn, client: WebClient) -> None:
    answer = client.files_upload_v2(
        channel=CHANNEL,
        initial_comment="Two files",
        file_uploads=[
            {"file": io.BytesIO(b"\x89PNG\r\n\x1a\n" + b"0" * 100), "filename": "a.png"},
            {"content": "hello, world", "filename": "notes.txt", "title": "Notes"},
        ],
    )
    assert [f["title"] for f in answer["files"]] == ["a.png", "Notes"]
    assert "file" not in answer
    [msg] = client.conversations_history(channel=CHANNEL)["messages"]
    assert msg["text"] == "Two files" and "thread_ts" not in msg
    assert [(f["name"], f["mimetype"], f["filetype"]) for f in msg["files"]] == [
        ("a.png", "image/png", "png"),
        ("notes.txt", "text/plain", "text"),
    ]
    assert [(u.name, u.content, u.channel, u.ts) for u in slack.uploads] == [
        ("a.png", b"\x89PNG\r\n\x1a\n" + b"0" * 100, CHANNEL, msg["ts"]),
        ("notes.txt", b"hello, world", CHANNEL, msg["ts"]),
    ]


def test_sharing_in_several_channels_and_nowhere(slack: SlackStandIn, client: WebClient) -> None:
    both = client.files_upload_v2(channels=[CHANNEL, ALICE], file=b"%PDF-1.4", filename="a.pdf")
    info = client.files_info(file=both["file"]["id"])["file"]
    dm = slack.dm_channel(ALICE)
    assert (info["channels"], info["ims"], info["is_public"]) == ([CHANNEL], [dm], True)
    assert set(info["shares"]["public"]) == {CHANNEL}
    assert set(info["shares"]["private"]) == {dm}
    assert slack.channel_messages(dm)[0]["files"][0]["id"] == info["id"]

    kept = client.files_upload_v2(file=b"secret", filename="private.bin", alt_txt="nothing")
    info = client.files_info(file=kept["file"]["id"])["file"]
    assert (info["channels"], info["is_public"], "shares" in info) == ([], False, False)
    assert (info["mimetype"], info["filetype"], info["alt_txt"]) == (
        "application/octet-stream",
        "binary",
        "nothing",
    )
    assert [(u.name, u.channel, u.ts) for u in slack.uploads] == [
        ("a.pdf", CHANNEL, slack.channel_messages(CHANNEL)[0]["ts"]),
        ("a.pdf", dm, slack.channel_messages(dm)[0]["ts"]),
        ("private.bin", None, None),
    ]


# ---------------------------------------------------------------- refusals


def test_the_retired_files_upload_is_refused(slack: SlackStandIn, client: WebClient) -> None:
    with pytest.warns(UserWarning, match="files_upload_v2"):
        with pytest.raises(SlackApiError) as multipart:
            client.files_upload(channels=CHANNEL, file=io.BytesIO(PHOTO), filename="photo.jpg")
        with pytest.raises(SlackApiError) as form:
            client.files_upload(channels=CHANNEL, content="hello", filename="notes.txt")
    for refused in (multipart, form):
        assert refused.value.response.status_code == 200
        assert refused.value.response.data == {"ok": False, "error": "method_deprecated"}
    sent = [c.params for c in slack.calls_to("files.upload")]
    assert sent[0]["file"] == {"filename": "photo.jpg", "length": len(PHOTO)}
    assert (sent[0]["channels"], sent[1]["content"]) == (CHANNEL, "hello")
    assert slack.uploads == [] and slack.channel_messages(CHANNEL) == []

    with pytest.raises(SlackApiError) as stranger:
        WebClient(token="xoxb-wrong", base_url=slack.api_url).api_call("files.upload")
    assert api_error(stranger) == "invalid_auth"


def test_completing_what_was_never_uploaded(slack: SlackStandIn, client: WebClient) -> None:
    with pytest.raises(SlackApiError) as unknown:
        client.files_completeUploadExternal(files=[{"id": "F404", "title": "x"}])
    assert api_error(unknown) == "file_not_found"

    url, file_id = upload_url(client, "a.txt", 5)
    with pytest.raises(SlackApiError) as not_yet:
        client.files_completeUploadExternal(files=[{"id": file_id}], channel_id=CHANNEL)
    assert api_error(not_yet) == "file_not_found"
    with pytest.raises(SlackApiError):
        client.files_info(file=file_id)  # no file until it is completed
    assert post(url, b"hello") == (200, b"OK - 5")
    done = client.files_completeUploadExternal(files=[{"id": file_id}], channel_id=CHANNEL)
    assert done["files"] == [{"id": file_id, "title": "a.txt"}]
    with pytest.raises(SlackApiError) as twice:
        client.files_completeUploadExternal(files=[{"id": file_id}], channel_id=CHANNEL)
    assert api_error(twice) == "file_not_found"
    assert len(slack.channel_messages(CHANNEL)) == 1

    with pytest.raises(SlackApiError) as shared:  # a file someone else shared is no upload
        obj = slack.add_file("b.pdf", b"%PDF", "application/pdf", "pdf", ALICE, CHANNEL)
        client.files_completeUploadExternal(files=[{"id": obj["id"]}], channel_id=CHANNEL)
    assert api_error(shared) == "file_not_found"
    for files in ('[{"title": "no id"}]', "[]", "{not json"):
        with pytest.raises(SlackApiError) as bad:
            client.api_call("files.completeUploadExternal", params={"files": files})
        assert api_error(bad) == "invalid_arguments"


def test_a_thread_in_an_unknown_channel(slack: SlackStandIn, client: WebClient) -> None:
    parent = client.chat_postMessage(channel=CHANNEL, text="Sent image to +57…")
    with pytest.raises(SlackApiError) as elsewhere:
        client.files_upload_v2(
            channel=OTHER, thread_ts=parent["ts"], file=PHOTO, filename="photo.jpg"
        )
    assert api_error(elsewhere) == "thread_not_found"
    with pytest.raises(SlackApiError) as nowhere:
        client.files_upload_v2(
            channel="not-a-channel", thread_ts=parent["ts"], file=PHOTO, filename="photo.jpg"
        )
    assert api_error(nowhere) == "invalid_arguments"
    assert nowhere.value.response["response_metadata"]["messages"] == [
        "[ERROR] input must match regex pattern: ^[CGDZ][A-Z0-9]{8,}$ [json-pointer:/channel_id]"
    ]
    with pytest.raises(SlackApiError) as unknown_name:
        client.files_upload_v2(channels=["#nowhere"], file=PHOTO, filename="photo.jpg")
    assert api_error(unknown_name) == "channel_not_found"
    with pytest.raises(SlackApiError) as two:
        client.files_upload_v2(
            channels=[CHANNEL, OTHER], thread_ts=parent["ts"], file=PHOTO, filename="p.jpg"
        )
    assert api_error(two) == "invalid_arguments"
    assert slack.uploads == [] and slack.thread(CHANNEL, parent["ts"])[0].get("reply_count") is None
    assert slack.channel_messages(OTHER) == []


def test_asking_for_an_upload_url(slack: SlackStandIn, client: WebClient) -> None:
    url, file_id = upload_url(client, "photo.jpg", 10)
    assert url.startswith(f"{slack.url}/upload/v1/") and file_id.startswith("F")
    assert upload_url(client, "photo.jpg", 10) != (url, file_id)

    def error(params: dict[str, Any]) -> tuple[str, Any]:
        with pytest.raises(SlackApiError) as refused:
            client.api_call("files.getUploadURLExternal", params=params)
        body = refused.value.response.data
        assert isinstance(body, dict)
        return body["error"], body.get("response_metadata", {}).get("messages")

    assert error({}) == (
        "invalid_arguments",
        ["[ERROR] missing required field: filename", "[ERROR] missing required field: length"],
    )
    assert error({"filename": "a.jpg"}) == (
        "invalid_arguments",
        ["[ERROR] missing required field: length"],
    )
    for length in ("ten", "-1", "²", "1.5"):
        assert error({"filename": "a.jpg", "length": length})[0] == "invalid_arguments"
    assert error({"filename": "a.jpg", "length": "0"}) == ("missing_argument", None)
    long_alt = {"filename": "a.jpg", "length": "1", "alt_txt": "x" * 1001}
    assert error(long_alt) == ("alt_txt_too_large", None)


# ---------------------------------------------------------------- the upload URL


def test_the_upload_url_takes_exactly_the_bytes_once(
    slack: SlackStandIn, client: WebClient
) -> None:
    url, file_id = upload_url(client, "photo.jpg", len(PHOTO))
    assert post(url, PHOTO[:-1])[0] == 400
    assert post(url, PHOTO + b"x")[0] == 400
    assert post(f"{slack.url}/upload/v1/not-a-key", PHOTO)[0] == 404
    target = urlsplit(url)
    conn = http.client.HTTPConnection(target.netloc, timeout=5)
    conn.request("GET", target.path)
    got = conn.getresponse()
    assert got.status == 405
    got.read()
    conn.close()

    assert post(url, PHOTO) == (200, f"OK - {len(PHOTO)}".encode())
    assert post(url, PHOTO)[0] == 409
    client.files_completeUploadExternal(files=[{"id": file_id, "title": "t"}])
    assert post(url, PHOTO)[0] == 404
    assert slack.uploads[0].content == PHOTO


def test_the_upload_url_takes_a_form_as_curl_sends_it(
    slack: SlackStandIn, client: WebClient
) -> None:
    url, file_id = upload_url(client, "photo.jpg", len(PHOTO))
    boundary = "----stand-in-boundary"
    form = (
        (
            f'--{boundary}\r\nContent-Disposition: form-data; name="filename"; '
            'filename="photo.jpg"\r\nContent-Type: image/jpeg\r\n\r\n'
        ).encode()
        + PHOTO
        + f"\r\n--{boundary}--\r\n".encode()
    )
    multipart = {"Content-Type": f"multipart/form-data; boundary={boundary}"}
    no_file = f'--{boundary}\r\nContent-Disposition: form-data; name="x"\r\n\r\n1\r\n'
    assert post(url, (no_file + f"--{boundary}--\r\n").encode(), multipart)[0] == 400
    assert post(url, form, multipart)[0] == 200
    client.files_completeUploadExternal(files=[{"id": file_id}], channel_id=CHANNEL)
    assert slack.uploads[0].content == PHOTO


def test_faults_on_the_upload_url(slack: SlackStandIn, client: WebClient) -> None:
    slack.fail_next("upload_url", "500")
    with pytest.raises(urllib.error.HTTPError) as broken:
        client.files_upload_v2(channel=CHANNEL, file=PHOTO, filename="photo.jpg")
    assert broken.value.code == 500
    assert slack.uploads == [] and not slack.calls_to("files.completeUploadExternal")
    client.files_upload_v2(channel=CHANNEL, file=PHOTO, filename="photo.jpg")
    assert [u.content for u in slack.uploads] == [PHOTO]


# ---------------------------------------------------------------- files.delete


def test_the_bot_deletes_its_own_upload_and_its_share_keeps_a_tombstone(
    slack: SlackStandIn, client: WebClient
) -> None:
    root = client.chat_postMessage(channel=CHANNEL, text="a thread")["ts"]
    answer = client.files_upload_v2(
        channel=CHANNEL, thread_ts=root, file=PHOTO, filename="id.jpg", title="id"
    )
    file_id = answer["files"][0]["id"]
    assert slack.file(file_id) is not None

    assert client.files_delete(file=file_id)["ok"]

    assert slack.file(file_id) is None
    (share,) = [m for m in slack.thread(CHANNEL, root) if m.get("files")]
    assert share["files"] == [{"id": file_id, "mode": "tombstone"}]
    with pytest.raises(SlackApiError) as gone:
        client.files_delete(file=file_id)
    assert api_error(gone) == "file_not_found"


def test_a_persons_file_is_not_the_bots_to_delete(slack: SlackStandIn, client: WebClient) -> None:
    theirs = slack.add_file("a.png", PHOTO, "image/png", "png", ALICE, CHANNEL)
    with pytest.raises(SlackApiError) as refused:
        client.files_delete(file=theirs["id"])
    assert api_error(refused) == "cant_delete_file"
    assert slack.file(theirs["id"]) is not None
