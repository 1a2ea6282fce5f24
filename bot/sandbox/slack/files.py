"""Files in the stand-in Slack: uploads shared in channels, and their private downloads."""

from __future__ import annotations

import copy
import re
import time
from urllib.parse import quote, unquote

from bot.sandbox.slack.calls import Calls
from bot.sandbox.slack.common import (
    _LOGIN_PAGE,
    Download,
    Json,
    _as_value_error,
    _Handler,
    _Reply,
    _SlackError,
)
from bot.sandbox.slack.workspace import _StoredFile

_FILE_PATH = re.compile(r"/files-pri/([A-Z0-9]+)-([A-Z0-9]+)/(download/)?([^/]+)", re.ASCII)


_RANGE = re.compile(r"bytes=(\d*)-(\d*)", re.ASCII)


class Files(Calls):
    """Files uploaded to the workspace, downloadable only with the bot token."""

    _downloads: list[Download]

    def add_file(
        self,
        name: str,
        content: bytes,
        mimetype: str,
        filetype: str,
        user: str,
        channel: str | None = None,
        *,
        title: str | None = None,
        text: str = "",
        thread_ts: str | None = None,
    ) -> Json:
        """Uploads a file as ``user``; with ``channel`` it is shared there in a message."""
        with self._lock, _as_value_error():
            chan = self._known_channel(channel) if channel is not None else None
            if thread_ts and chan and (chan, thread_ts) not in self._index:
                raise _SlackError("thread_not_found")
            obj = self._new_file(
                self._new_file_id(), name, content, mimetype, filetype, user, title=title
            )
            if chan is not None:
                self._share_files(chan, [obj], user=user, text=text, thread_ts=thread_ts)
            return copy.deepcopy(obj)

    # ------------------------------------------------------------------ read helpers

    @property
    def downloads(self) -> list[Download]:
        with self._lock:
            return list(self._downloads)

    def file(self, file_id: str) -> Json | None:
        with self._lock:
            stored = self._files.get(file_id)
            return copy.deepcopy(stored.obj) if stored else None

    # ------------------------------------------------------------------ Web API methods

    def _m_files_delete(self, params: Json) -> Json:
        """Only the uploader deletes a file (the bot, its own uploads); the messages that
        shared it keep a tombstone in its place, as Slack shows "This file was deleted"."""
        file_id = self._str_arg(params, "file", required=True, error="file_not_found")
        stored = self._files.get(file_id)
        if stored is None:
            raise _SlackError("file_not_found")
        if stored.obj.get("user") != self.bot_user_id:
            raise _SlackError("cant_delete_file")
        del self._files[file_id]
        for msg in self._index.values():
            files = msg.get("files")
            if files and any(f.get("id") == file_id for f in files):
                msg["files"] = [
                    {"id": file_id, "mode": "tombstone"} if f.get("id") == file_id else f
                    for f in files
                ]
        return {}

    # ------------------------------------------------------------------ internals: state

    def _new_file_id(self) -> str:
        self._ids["F"] += 1
        return f"F{self._ids['F']:08d}"

    def _new_file(
        self,
        file_id: str,
        name: str,
        content: bytes,
        mimetype: str,
        filetype: str,
        user: str,
        *,
        title: str | None,
    ) -> Json:
        """Keeps a file, shared nowhere yet; returns its object (kept, not a copy)."""
        now = int(time.time())
        safe = quote(name, safe="")
        base = f"{self.url}/files-pri/{self.team_id}-{file_id}"
        obj: Json = {
            "id": file_id,
            "created": now,
            "timestamp": now,
            "name": name,
            "title": title if title is not None else name,
            "mimetype": mimetype,
            "filetype": filetype,
            "pretty_type": filetype.upper(),
            "user": user,
            "user_team": self.team_id,
            "editable": False,
            "size": len(content),
            "mode": "hosted",
            "is_external": False,
            "external_type": "",
            "is_public": False,
            "public_url_shared": False,
            "display_as_bot": False,
            "username": "",
            "url_private": f"{base}/{safe}",
            "url_private_download": f"{base}/download/{safe}",
            "media_display_type": "unknown",
            "permalink": f"https://{self.team_domain}.slack.com/files/{user}/{file_id}/{safe}",
            "permalink_public": f"https://slack-files.com/{self.team_id}-{file_id}-0000000000",
            "has_rich_preview": False,
            "file_access": "visible",
            "channels": [],
            "groups": [],
            "ims": [],
            "comments_count": 0,
        }
        if mimetype.startswith("video/"):
            obj["media_display_type"] = "video"
        self._files[file_id] = _StoredFile(obj, bytes(content))
        return obj

    def _share_files(
        self,
        chan: str,
        objs: list[Json],
        *,
        user: str,
        text: str,
        thread_ts: str | None,
        blocks: list[Json] | None = None,
    ) -> Json:
        """Posts ``objs`` in one message in ``chan`` (a thread when ``thread_ts``) as ``user``,
        as a person's file share appears; each file then lists the share. Returns the message
        (kept, not a copy)."""
        msg: Json = {
            "type": "message",
            "text": text,
            "user": user,
            "ts": self._next_ts(),
            "team": self.team_id,
            "subtype": "file_share",
        }
        if user == self.bot_user_id:
            msg["bot_id"] = self.bot_id
            msg["app_id"] = self.app_id
        if blocks is not None:
            msg["blocks"] = copy.deepcopy(blocks)
        msg["upload"] = False
        msg["display_as_bot"] = False
        self._insert(chan, msg, thread_ts=thread_ts, broadcast=False)
        kind = {"C": "public", "G": "private", "D": "private"}[chan[0]]
        where = {"C": "channels", "G": "groups", "D": "ims"}[chan[0]]
        for obj in objs:
            obj[where].append(chan)
            obj["is_public"] = obj["is_public"] or chan[0] == "C"
            share: Json = {
                "reply_users": [],
                "reply_users_count": 0,
                "reply_count": 0,
                "ts": msg["ts"],
                "channel_name": self._channel_obj(chan)["name"],
                "team_id": self.team_id,
                "share_user_id": user,
            }
            if thread_ts:
                share["thread_ts"] = msg["thread_ts"]
            obj.setdefault("shares", {}).setdefault(kind, {}).setdefault(chan, []).append(share)
        msg["files"] = copy.deepcopy(objs)
        return msg

    # ------------------------------------------------------------------ downloads

    def _download(self, handler: _Handler, verb: str, path: str) -> None:
        match = _FILE_PATH.fullmatch(path)
        with self._lock:
            stored = self._files.get(match.group(2)) if match else None
            if (
                match is None
                or stored is None
                or match.group(1) != self.team_id
                or unquote(match.group(4)) != stored.obj["name"]
            ):
                handler.reply(_Reply(404, b"Not Found", "text/plain; charset=utf-8"))
                return
            file_id = stored.obj["id"]
            if verb not in {"GET", "HEAD"}:
                handler.reply(_Reply(405, b"Method Not Allowed", "text/plain; charset=utf-8"))
                return
            auth = handler.headers.get("Authorization", "")
            authorized = (
                auth.lower().startswith("bearer ")
                and auth[7:].strip() == self.bot_token
                and self._token_refusal is None
            )
            fault = self._take_fault("files.download")
        range_header = handler.headers.get("Range")

        def log(status: int) -> None:
            with self._lock:
                self._downloads.append(
                    Download(file_id, verb, authorized, status, time.time(), range_header)
                )

        if fault is not None:
            reply = self._fault_reply(fault)
            log(reply.status)
            handler.reply(reply, head=verb == "HEAD")
            return
        if not authorized:
            if self.files_unauthorized == "forbidden":
                log(403)
                handler.reply(_Reply(403, b"Forbidden", "text/plain; charset=utf-8"))
                return
            location = f"{self.url}/?redirect={quote(path, safe='')}"
            log(302)
            handler.reply(
                _Reply(302, _LOGIN_PAGE, "text/html; charset=utf-8", (("Location", location),)),
                head=verb == "HEAD",
            )
            return
        content = stored.content
        start, end = 0, len(content) - 1
        status = 200
        extra: list[tuple[str, str]] = [("Accept-Ranges", "bytes"), ("Cache-Control", "private")]
        if "/download/" in path:
            extra.append(("Content-Disposition", f'attachment; filename="{stored.obj["name"]}"'))
        if range_header:
            found = _RANGE.fullmatch(range_header.strip())
            parsed = _parse_range(found, len(content)) if found else None
            if parsed is None:
                log(416)
                handler.reply(
                    _Reply(416, b"", "text/plain", (("Content-Range", f"bytes */{len(content)}"),))
                )
                return
            start, end = parsed
            status = 206
            extra.append(("Content-Range", f"bytes {start}-{end}/{len(content)}"))
        log(status)
        handler.stream(
            status, stored.obj["mimetype"], content[start : end + 1], extra, head=verb == "HEAD"
        )


def _parse_range(found: re.Match[str], size: int) -> tuple[int, int] | None:
    first, last = found.group(1), found.group(2)
    if not first and not last:
        return None
    if not first:
        length = int(last)
        if length == 0:
            return None
        return max(size - length, 0), size - 1
    start = int(first)
    end = int(last) if last else size - 1
    if start >= size or end < start:
        return None
    return start, min(end, size - 1)
