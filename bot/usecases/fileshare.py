"""Files shared in Slack: checked by content, kept for the provider, offered in their thread.

A shared file (or a message shortcut on one) becomes a draft send whose media the bot keeps in
the database and hands to the provider as a signed, expiring /media/ link. The same confirm-once
path as the slash command then sends it.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from slack_sdk import WebClient

from bot import blocks
from bot.blocks.conversations import opted_out_line
from bot.core import access, tokens
from bot.core.config import ChannelPolicy, Config, Sender
from bot.core.records import ConversationRecord
from bot.core.window import Window
from bot.media import slackfiles
from bot.media.checks import MAX_MEDIA_BYTES, MediaInfo, MediaKind, MediaRefused, inspect_media
from bot.store import MediaRecord, SendRecord, Store
from bot.usecases.conversations import Conversations
from bot.usecases.media import MediaService
from bot.usecases.sending import CALLBACK_PURPOSE, SendRefused, SendService
from bot.usecases.usernames import UserNames
from bot.whatsapp.payloads import MAX_CAPTION_CHARS, PayloadError, new_external_id

logger = logging.getLogger(__name__)

GROUP_PREFIX = "group:"


@dataclass(frozen=True)
class FileDraft:
    """A checked file, kept, with its draft send."""

    send: SendRecord
    info: MediaInfo
    file_name: str
    dropped_text: bool


@dataclass(frozen=True)
class ChoiceStanding:
    """WhatsApp's window for a chosen recipient (or each member of a chosen group who has not
    opted out), and who of them opted out."""

    windows: list[Window]
    opted_out: list[ConversationRecord]
    group: str | None = None

    @property
    def all_open(self) -> bool:
        return all(w.open for w in self.windows)


class Refusal(Exception):
    def __init__(self, file_name: str, reason: str, hint: str = "") -> None:
        self.file_name = file_name
        self.reason = reason
        self.hint = hint
        super().__init__(reason)


class FileShares:
    def __init__(
        self,
        *,
        config: Config,
        store: Store,
        client: WebClient,
        sending: SendService,
        media: MediaService,
        names: UserNames,
        conversations: Conversations,
    ) -> None:
        self.config = config
        self.conversations = conversations
        self.store = store
        self.client = client
        self.sending = sending
        self.media = media
        self.names = names
        self._file_origins = slackfiles.file_origins(config.slack.api_base_url)

    # the message event

    def offer_policy(self, event: Mapping[str, Any]) -> ChannelPolicy | None:
        """The channel's policy when this event is a person sharing files where offers are on."""
        if event.get("subtype") != "file_share" or event.get("bot_id"):
            return None
        policy = self.config.channels.get(str(event.get("channel") or ""))
        if policy is None or not policy.file_shares or not event.get("files"):
            return None
        return policy

    def on_file_share(
        self, event: Mapping[str, Any], team_id: str | None, *, event_id: str = ""
    ) -> None:
        """Offer each file of a share once, whatever Slack retries."""
        policy = self.offer_policy(event)
        if policy is None:
            return
        if event_id and not self.store.claim_event(event_id):
            return  # Slack's retry of an event already taken by this or another instance
        channel = policy.channel_id
        thread_ts = str(event.get("thread_ts") or event["ts"])
        for file in event.get("files") or []:
            key = f"offer:{channel}:{event['ts']}:{file.get('id')}"
            if not self.store.claim_event(key):
                continue  # offered already: a retried event, or file_shared after message
            self._offer_one(file, event, policy, thread_ts, team_id)

    def _offer_one(
        self,
        file: Mapping[str, Any],
        event: Mapping[str, Any],
        policy: ChannelPolicy,
        thread_ts: str,
        team_id: str | None,
    ) -> None:
        channel = policy.channel_id
        sender = self.sending.resolve_sender(None, channel)
        recipient = policy.default_recipient or ""
        window, opted_out = None, None
        if recipient:
            standing = self.conversations.standing(sender.alias, recipient)
            window, opted_out = standing.window, standing.opted_out
            if opted_out is not None:
                recipient = ""  # only another recipient can be chosen
        try:
            draft = self.draft_from_file(
                file,
                text=str(event.get("text") or ""),
                channel_id=channel,
                user_id=str(event.get("user") or ""),
                team_id=team_id,
                thread_ts=thread_ts,
                sender=sender,
                recipient=recipient,
            )
        except Refusal as refusal:
            message = blocks.file_refused(refusal.file_name, refusal.reason, refusal.hint)
            self.client.chat_postMessage(
                channel=channel, thread_ts=thread_ts, **message.as_kwargs()
            )
            return
        offer = blocks.file_offer(
            draft.send,
            self.sending.sender_of(draft.send),
            file_name=draft.file_name,
            format_name=draft.info.format_name,
            size=draft.info.size,
            dropped_text=draft.dropped_text,
            window=window,
            opted_out=opted_out,
        )
        posted = self.client.chat_postMessage(
            channel=channel, thread_ts=thread_ts, unfurl_links=False, **offer.as_kwargs()
        )
        self.store.update_send(draft.send.id, message_ts=str(posted["ts"]), message_status="draft")

    # checking and keeping a file

    def kept_media(self, send: SendRecord) -> MediaRecord | None:
        """What is kept of a draft's file (without its bytes), if still kept."""
        return self.store.get_media(send.media_id, with_data=False) if send.media_id else None

    def draft_from_file(
        self,
        file: Mapping[str, Any],
        *,
        text: str,
        channel_id: str,
        user_id: str,
        team_id: str | None,
        thread_ts: str,
        sender: Sender,
        recipient: str,
        origin: str | None = None,
        source: str = access.OFFERED_FILE,
    ) -> FileDraft:
        """Download, check and keep a Slack file, and record a draft send of it.

        `text` is the message's, in Slack's format; an image's caption is that text as the
        customer should read it."""
        name = str(file.get("name") or file.get("title") or "file")
        data = self._download(file, name)
        try:
            info = inspect_media(data, file_name=name, expected_kind=_declared_kind(file))
        except MediaRefused as refused:
            raise Refusal(name, refused.reason, refused.hint) from None
        kept = self.media.keep(data, info, file_name=name, slack_file_id=file.get("id"))
        dropped_text = bool(text.strip()) and info.kind is not MediaKind.IMAGE
        caption = None
        if info.kind is MediaKind.IMAGE:
            caption = self.names.decode(text).strip()[:MAX_CAPTION_CHARS] or None
        file_name = None
        if info.kind is MediaKind.DOCUMENT:
            file_name = name if name.lower().endswith(".pdf") else f"{name}.pdf"
        send = self.store.add_send(
            id=new_external_id(),
            source=source,
            team_id=team_id,
            channel_id=channel_id,
            user_id=user_id,
            thread_ts=thread_ts,
            sender_alias=sender.alias,
            sender_number=sender.number,
            recipient=recipient,
            kind=str(info.kind),
            body=self.media.link(kept.id),
            caption=caption,
            file_name=file_name,
            external_id=new_external_id(),
            callback_token=tokens.new_token(self.config.media.link_secret, CALLBACK_PURPOSE),
            media_id=kept.id,
            origin=origin,
        )
        return FileDraft(send=send, info=info, file_name=name, dropped_text=dropped_text)

    def _download(self, file: Mapping[str, Any], name: str) -> bytes:
        if file.get("mode") == "external" or file.get("is_external"):
            raise Refusal(
                name,
                "it is a link to a file kept outside Slack"
                + (f" ({file['external_type']})" if file.get("external_type") else "")
                + ", and the bot sends only files uploaded to Slack",
                "Download the file and share it in Slack itself.",
            )
        size = file.get("size")
        if isinstance(size, int) and size >= MAX_MEDIA_BYTES:
            raise Refusal(
                name,
                f"it is {size / 1_000_000:.1f} MB and WhatsApp media must be under "
                f"{MAX_MEDIA_BYTES / 1_000_000:.0f} MB",
                "Compress it or send a smaller version.",
            )
        url = file.get("url_private_download") or file.get("url_private")
        if not url and file.get("id"):
            info = self.client.files_info(file=str(file["id"]))
            details = info.get("file") or {}
            url = details.get("url_private_download") or details.get("url_private")
        try:
            return slackfiles.download(
                str(url or ""),
                self.config.slack.bot_token,
                max_bytes=MAX_MEDIA_BYTES - 1,
                allowed=self._file_origins,
            )
        except slackfiles.FileTooLarge:
            raise Refusal(
                name,
                f"it is over {MAX_MEDIA_BYTES / 1_000_000:.0f} MB, the most WhatsApp media may be",
                "Compress it or send a smaller version.",
            ) from None
        except slackfiles.DownloadFailed as exc:
            raise Refusal(name, str(exc), "Share the file again, or try later.") from None

    # choosing the recipient

    def check_choice(
        self, send: SendRecord, recipient_text: str, sender_alias: str, user_id: str
    ) -> tuple[dict[str, str], str, Sender]:
        """Validate a modal's choice: (errors by block id, recipient, sender)."""
        errors: dict[str, str] = {}
        recipient = ""
        sender = self.sending.sender_of(send)
        try:
            access.check(self.config, channel_id=send.channel_id, user_id=user_id)
        except SendRefused as exc:
            errors["recipient"] = str(exc)[:150]
            return errors, recipient, sender
        try:
            name = recipient_text.strip()
            if name in self.config.groups:
                recipient = GROUP_PREFIX + name
            else:
                recipient = self.sending.resolve_recipient(recipient_text)
        except PayloadError as exc:
            errors["recipient"] = _short(str(exc))
        try:
            sender = self.sending.resolve_sender(sender_alias or None, send.channel_id)
        except SendRefused as exc:
            errors["sender"] = _short(str(exc))
        return errors, recipient, sender

    def choice_standing(self, recipient: str, sender: Sender) -> ChoiceStanding:
        """The window and opt-outs for a recipient checked by `check_choice`."""
        if recipient.startswith(GROUP_PREFIX):
            name = recipient.removeprefix(GROUP_PREFIX)
            numbers = self.config.groups.get(name, ())
        else:
            name, numbers = None, (recipient,)
        found = self.conversations.standings(sender.alias, numbers)
        windows = [found[n].window for n in numbers if found[n].opted_out is None]
        opted_out = [c for c in (found[n].opted_out for n in numbers) if c is not None]
        return ChoiceStanding(windows=windows, opted_out=opted_out, group=name)

    def opted_out_error(self, standing: ChoiceStanding, sender: Sender) -> str | None:
        """Why a choice cannot be sent at all: the recipient (or every member) opted out."""
        if standing.windows or not standing.opted_out:
            return None
        if standing.group is not None:
            return (
                f"Everyone in the group {standing.group} opted out of messages from "
                f"{sender.label}: nothing would be sent."
            )
        return opted_out_line(standing.opted_out[0], sender)


def _declared_kind(file: Mapping[str, Any]) -> MediaKind | None:
    """What Slack says the file is (from its name): content that says otherwise is refused."""
    mimetype = str(file.get("mimetype") or "")
    family = mimetype.split("/", 1)[0]
    if family in ("image", "video", "audio"):
        return MediaKind(family)
    if mimetype == "application/pdf":
        return MediaKind.DOCUMENT
    return None


def _short(text: str) -> str:
    """Slack shows at most 150 characters under an input."""
    return text if len(text) <= 150 else text[:149] + "…"


def modal_metadata(send_id: str, *, recipient: str | None = None, sender: str = "") -> str:
    """The modal's private_metadata: the draft, and once a choice was made that WhatsApp may
    refuse, the choice (as typed) that `Send anyway` sends."""
    if recipient is None:
        return json.dumps({"send_id": send_id})
    return json.dumps({"send_id": send_id, "recipient": recipient, "sender": sender})


def read_metadata(metadata: str) -> dict[str, str]:
    try:
        value = json.loads(metadata or "{}")
    except ValueError:
        return {}
    if not isinstance(value, dict):
        return {}
    return {str(k): str(v) for k, v in value.items() if isinstance(v, str)}


def send_id_from_metadata(metadata: str) -> str:
    return read_metadata(metadata).get("send_id", "")
