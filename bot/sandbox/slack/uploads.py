"""Uploads to the stand-in Slack, Slack's external way: a URL, the bytes, then the completion.

``files.getUploadURLExternal`` hands out a file ID and a single-use upload URL; a POST of the
bytes to that URL (the raw body, as slack_sdk's ``files_upload_v2`` sends it, or a
multipart/form-data file part, as ``curl -F`` does) keeps them if there are exactly ``length``
of them; ``files.completeUploadExternal`` makes the files and shares them in one message per
channel. Until it is completed an upload is no file: ``files.info`` does not know it.
"""

from __future__ import annotations

import mimetypes
import re
import secrets
import time
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any, Final

from bot.sandbox.http import BodyError
from bot.sandbox.slack.common import (
    MAX_BODY,
    MAX_TEXT,
    Json,
    Upload,
    _form_parts,
    _Handler,
    _Reply,
    _SlackError,
)
from bot.sandbox.slack.files import Files
from bot.sandbox.slack.workspace import _CHANNEL_ID

UPLOAD_PATH: Final = "/upload/v1/"
MAX_ALT_TEXT: Final = 1000

# What Slack checks a channel_id against; the stand-in takes its own shorter IDs as well.
_CHANNEL_ID_PATTERN: Final = "^[CGDZ][A-Z0-9]{8,}$"
_DIGITS: Final = re.compile(r"[0-9]+", re.ASCII)

_MIME = mimetypes.MimeTypes()  # Python's own table only, whatever the machine's files say
for _type, _ext in (
    ("image/webp", ".webp"),
    ("audio/ogg", ".ogg"),
    ("audio/amr", ".amr"),
    ("application/vnd.openxmlformats-officedocument.wordprocessingml.document", ".docx"),
    ("application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", ".xlsx"),
    ("application/vnd.openxmlformats-officedocument.presentationml.presentation", ".pptx"),
):
    _MIME.add_type(_type, _ext)
_FILETYPES: Final = {"jpeg": "jpg", "txt": "text", "htm": "html"}


@dataclass
class _Pending:
    file_id: str
    filename: str
    length: int
    key: str
    alt_txt: str
    snippet_type: str
    content: bytes | None = None


def _invalid(*messages: str) -> _SlackError:
    extra = {"response_metadata": {"messages": list(messages)}} if messages else None
    return _SlackError("invalid_arguments", extra=extra)


def file_type(name: str, snippet_type: str = "") -> tuple[str, str]:
    """The (mimetype, filetype) Slack gives a file by its name, or its snippet type."""
    mimetype = _MIME.guess_type(name)[0]
    ext = name.rsplit(".", 1)[1].lower() if "." in name.strip(".") else ""
    if snippet_type:
        return mimetype or "text/plain", snippet_type
    if mimetype is None or mimetype == "application/octet-stream":
        return "application/octet-stream", "binary"
    return mimetype, _FILETYPES.get(ext, ext) or "binary"


class Uploads(Files):
    """``files.getUploadURLExternal``, the upload URLs, ``files.completeUploadExternal``."""

    _pending: dict[str, _Pending]
    _upload_keys: dict[str, str]
    _uploads: list[Upload]

    # ------------------------------------------------------------------ read helpers

    @property
    def uploads(self) -> list[Upload]:
        """Completed uploads, oldest first: one per file and channel it was shared in."""
        with self._lock:
            return list(self._uploads)

    # ------------------------------------------------------------------ Web API methods

    def _m_files_getUploadURLExternal(self, params: Json) -> Json:
        missing = [name for name in ("filename", "length") if params.get(name) in (None, "")]
        if missing:
            raise _invalid(*(f"[ERROR] missing required field: {name}" for name in missing))
        filename = self._str_arg(params, "filename")
        length = _length(params["length"])
        if length == 0:
            raise _SlackError("missing_argument")
        if length > MAX_BODY:
            raise _SlackError("file_upload_size_restricted")
        alt_txt = self._str_arg(params, "alt_txt")
        if len(alt_txt) > MAX_ALT_TEXT:
            raise _SlackError("alt_txt_too_large")
        snippet_type = self._str_arg(params, "snippet_type")
        file_id = self._new_file_id()
        key = secrets.token_urlsafe(24)
        self._pending[file_id] = _Pending(file_id, filename, length, key, alt_txt, snippet_type)
        self._upload_keys[key] = file_id
        return {"upload_url": f"{self.url}{UPLOAD_PATH}{key}", "file_id": file_id}

    def _m_files_completeUploadExternal(self, params: Json) -> Json:
        items = self._complete_items(params)
        chans = self._complete_channels(params)
        thread_ts = self._str_arg(params, "thread_ts") or None
        if thread_ts:
            if len(chans) != 1:
                raise _invalid("[ERROR] thread_ts needs exactly one channel")
            if (chans[0], thread_ts) not in self._index:
                raise _SlackError("thread_not_found")
        text = self._str_arg(params, "initial_comment")
        if len(text) > MAX_TEXT:
            raise _SlackError("msg_too_long")
        blocks = None if text else self._blocks_arg(params)

        objs: list[Json] = []
        for pending, content, title in items:
            mimetype, filetype = file_type(pending.filename, pending.snippet_type)
            obj = self._new_file(
                pending.file_id,
                pending.filename,
                content,
                mimetype,
                filetype,
                self.bot_user_id,
                title=title,
            )
            if pending.alt_txt:
                obj["alt_txt"] = pending.alt_txt
            objs.append(obj)
            del self._pending[pending.file_id]
            self._upload_keys.pop(pending.key, None)
        shares: list[tuple[str | None, str | None, str | None]] = [(None, None, None)]
        if chans:
            shares = []
            for chan in chans:
                msg = self._share_files(
                    chan, objs, user=self.bot_user_id, text=text, thread_ts=thread_ts, blocks=blocks
                )
                shares.append((chan, msg["ts"], msg.get("thread_ts")))
        now = time.time()
        for (_pending, content, _title), obj in zip(items, objs, strict=True):
            for shared_in, ts, root_ts in shares:
                self._uploads.append(
                    Upload(
                        file_id=obj["id"],
                        name=obj["name"],
                        title=obj["title"],
                        mimetype=obj["mimetype"],
                        content=content,
                        channel=shared_in,
                        thread_ts=root_ts,
                        ts=ts,
                        time=now,
                    )
                )
        return {"files": [{"id": obj["id"], "title": obj["title"]} for obj in objs]}

    # ------------------------------------------------------------------ upload URLs

    def _upload_post(self, handler: _Handler, verb: str, key: str) -> None:
        with self._lock:
            fault = self._take_fault("upload_url")
            pending = self._pending.get(self._upload_keys.get(key, ""))
        if fault is not None:
            handler.reply(self._fault_reply(fault))
            return
        if pending is None:
            handler.reply(_text(HTTPStatus.NOT_FOUND))
            return
        if verb != "POST":
            handler.reply(_text(HTTPStatus.METHOD_NOT_ALLOWED))
            return
        try:
            body = handler.read_limited(MAX_BODY)
        except BodyError as exc:
            handler.reply(_text(exc.status))
            return
        ctype = handler.headers.get("Content-Type", "")
        content: bytes | None = body
        if ctype.split(";")[0].strip().lower() == "multipart/form-data":
            try:
                files = [part for part in _form_parts(ctype, body) if part.filename is not None]
            except ValueError:
                files = []
            content = files[0].content if files else None
        with self._lock:
            if self._pending.get(pending.file_id) is not pending:
                handler.reply(_text(HTTPStatus.NOT_FOUND))
            elif pending.content is not None:
                handler.reply(_text(HTTPStatus.CONFLICT, "already uploaded"))
            elif content is None:
                handler.reply(_text(HTTPStatus.BAD_REQUEST, "no file in the form"))
            elif len(content) != pending.length:
                reason = f"{len(content)} bytes, not the {pending.length} announced"
                handler.reply(_text(HTTPStatus.BAD_REQUEST, reason))
            else:
                pending.content = content
                handler.reply(_Reply(200, f"OK - {len(content)}".encode(), "text/plain"))

    # ------------------------------------------------------------------ internals: args

    def _complete_items(self, params: Json) -> list[tuple[_Pending, bytes, str]]:
        """Each (upload, bytes, title) the ``files`` argument names, all of them uploaded."""
        if params.get("files") in (None, ""):
            raise _invalid("[ERROR] missing required field: files")
        files = self._json_arg(params, "files", "invalid_arguments")
        if not isinstance(files, list) or not files:
            raise _invalid("[ERROR] files must be a non-empty array [json-pointer:/files]")
        items: list[tuple[_Pending, bytes, str]] = []
        for index, item in enumerate(files):
            file_id = item.get("id") if isinstance(item, dict) else None
            title = item.get("title") if isinstance(item, dict) else None
            if not isinstance(file_id, str) or not isinstance(title, str | None):
                raise _invalid(f"[ERROR] invalid file [json-pointer:/files/{index}]")
            pending = self._pending.get(file_id)
            if pending is None or pending.content is None:
                raise _SlackError("file_not_found")
            if any(seen is pending for seen, _, _ in items):
                raise _invalid(f"[ERROR] duplicate file [json-pointer:/files/{index}]")
            items.append((pending, pending.content, title or pending.filename))
        return items

    def _complete_channels(self, params: Json) -> list[str]:
        chans: list[str] = []
        channel_id = self._str_arg(params, "channel_id")
        if channel_id:
            if not _CHANNEL_ID.fullmatch(channel_id):
                raise _invalid(
                    f"[ERROR] input must match regex pattern: {_CHANNEL_ID_PATTERN}"
                    " [json-pointer:/channel_id]"
                )
            chans.append(self._known_channel(channel_id))
        for name in self._str_arg(params, "channels").split(","):
            if name.strip():
                chan = self._known_channel(name.strip())
                if chan not in chans:
                    chans.append(chan)
        return chans


def _length(value: Any) -> int:
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value
    if isinstance(value, str) and _DIGITS.fullmatch(value.strip()):
        return int(value.strip())
    raise _invalid("[ERROR] length must be a non-negative integer [json-pointer:/length]")


def _text(status: HTTPStatus, reason: str = "") -> _Reply:
    body = f"{status.value} {status.phrase}" + (f": {reason}" if reason else "")
    return _Reply(int(status), body.encode(), "text/plain; charset=utf-8")
