"""Slash commands, clicks, modal submissions and shortcuts, as Slack posts them."""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any, Unpack

from bot.sandbox.driver.transport import (
    VERIFICATION_TOKEN,
    DriverResponse,
    Json,
    SendOptions,
    SignedPoster,
)
from bot.sandbox.slack import find_element

# Inputs that dispatch a `block_actions` of their own (`dispatch_action_config`).
_TEXT_INPUTS = frozenset({"plain_text_input", "email_text_input", "number_input", "url_text_input"})


class Interactions(SignedPoster):
    """Slash commands and interactivity, form-encoded as Slack posts them."""

    # ------------------------------------------------------------------ slash commands

    def slash_command(
        self,
        text: str,
        *,
        user: str,
        channel: str,
        command: str = "/whatsapp",
        **options: Unpack[SendOptions],
    ) -> DriverResponse:
        """Someone typed ``{command} {text}`` in ``channel``.

        With a stand-in, the app's immediate answer (JSON message or plain text) is shown as
        Slack would: ephemeral to the user unless ``response_type`` is ``in_channel``.
        """
        response_url = self._response_url(channel, user)
        fields = {
            "token": VERIFICATION_TOKEN,
            "team_id": self.team_id,
            "team_domain": self.team_domain,
            "channel_id": channel,
            "channel_name": self._channel_name(channel),
            "user_id": user,
            "user_name": self._user_name(user),
            "command": command,
            "text": text,
            "api_app_id": self.api_app_id,
            "is_enterprise_install": "false",
            "response_url": response_url,
            "trigger_id": self._trigger_id(),
        }
        result = self.post_form(fields, **options)
        if self.slack is not None and result.status == 200 and result.body.strip():
            if isinstance(result.json, dict):
                answer: Json = result.json
            else:
                answer = {"text": result.body}
            if answer.get("text") or answer.get("blocks") or answer.get("attachments"):
                self.slack.apply_response(response_url, answer, count_use=False)
        return result

    # ------------------------------------------------------------------ interactivity

    def click(
        self,
        action_id: str,
        value: str | None = None,
        *,
        user: str,
        channel: str | None = None,
        message: Json | None = None,
        container: Json | None = None,
        response_url: str | None = None,
        view: Json | str | None = None,
        block_id: str | None = None,
        **options: Unpack[SendOptions],
    ) -> DriverResponse:
        """``user`` clicks (or picks) ``action_id``: a ``block_actions`` payload.

        Without ``message`` or ``view``, the stand-in finds the newest message the user
        sees in ``channel`` with that element (ephemeral ones first). ``value`` defaults to
        the element's own value. In a ``view`` (a modal, or a Home tab: ``home_view(user)``),
        ``action_id`` may be a text input that dispatches actions: ``value`` is then what was
        typed before Enter, also in the view's state.
        """
        if view is not None:
            return self._click_in_view(action_id, value, user=user, view=view, **options)
        if channel is None:
            raise ValueError("click needs a channel (or a view)")
        is_ephemeral = False
        if message is None and self.slack is not None:
            found = self.slack.message_with_action(channel, user, action_id)
            if found is None:
                raise LookupError(f"no message in {channel} shows {user} an action {action_id!r}")
            message, is_ephemeral = found
        elif message is not None and self.slack is not None:
            is_ephemeral = self.slack.find_ephemeral(channel, str(message.get("ts"))) is not None
        blocks = message.get("blocks") if message else None
        action = self._action(action_id, value, blocks, block_id)
        message_ts = str(message["ts"]) if message else self._ts()
        if container is None:
            container = {
                "type": "message",
                "message_ts": message_ts,
                "channel_id": channel,
                "is_ephemeral": is_ephemeral,
            }
            if message and message.get("thread_ts") and message["thread_ts"] != message_ts:
                container["thread_ts"] = message["thread_ts"]
        if response_url is None:
            response_url = self._response_url(
                channel, user, message_ts=message_ts, ephemeral=is_ephemeral
            )
        payload: Json = {
            "type": "block_actions",
            "user": self._user_obj(user),
            "api_app_id": self.api_app_id,
            "token": VERIFICATION_TOKEN,
            "container": container,
            "trigger_id": self._trigger_id(),
            "team": self._team(),
            "enterprise": None,
            "is_enterprise_install": False,
            "channel": {"id": channel, "name": self._channel_name(channel)},
            "state": {"values": {}},
            "response_url": response_url,
            "actions": [action],
        }
        if message is not None and not is_ephemeral:
            shown = {k: v for k, v in message.items() if k not in {"channel", "recipient"}}
            payload["message"] = shown
        return self.post_interaction(payload, **options)

    def _action(self, action_id: str, value: str | None, blocks: Any, block_id: str | None) -> Json:
        found = find_element(blocks, action_id)
        element: Json = found[1] if found else {"type": "button", "action_id": action_id}
        action: Json = {
            "action_id": action_id,
            "block_id": block_id or (found[0] if found and found[0] else "actions"),
            "type": element.get("type", "button"),
            "action_ts": f"{self.clock():.6f}",
        }
        if action["type"] == "button":
            action["text"] = element.get("text", {"type": "plain_text", "text": action_id})
            action["value"] = value if value is not None else element.get("value", "")
            if "style" in element:
                action["style"] = element["style"]
        elif action["type"] in {"static_select", "radio_buttons", "overflow"}:
            option = _option(element, value)
            key = "selected_option"
            action[key] = option
        else:
            action["value"] = value
        return action

    def _view_obj(self, view: Json | str) -> Json:
        if isinstance(view, str):
            if self.slack is None or view not in self.slack.views:
                raise LookupError(f"no view {view!r} in the stand-in")
            return self.slack.views[view]
        if self.slack is not None and view.get("id") in self.slack.views:
            return self.slack.views[str(view["id"])]
        return copy.deepcopy(view)

    def _click_in_view(
        self,
        action_id: str,
        value: str | None,
        *,
        user: str,
        view: Json | str,
        **options: Unpack[SendOptions],
    ) -> DriverResponse:
        shown = self._view_obj(view)
        action = self._action(action_id, value, shown.get("blocks"), None)
        if action["type"] in _TEXT_INPUTS:
            # Enter pressed in an input that dispatches: the view's state holds what was typed.
            values = shown.setdefault("state", {}).setdefault("values", {})
            entered = {"type": action["type"], "value": value}
            values.setdefault(action["block_id"], {})[action_id] = entered
        payload: Json = {
            "type": "block_actions",
            "user": self._user_obj(user),
            "api_app_id": self.api_app_id,
            "token": VERIFICATION_TOKEN,
            "container": {"type": "view", "view_id": shown.get("id", "")},
            "trigger_id": self._trigger_id(),
            "team": self._team(),
            "enterprise": None,
            "is_enterprise_install": False,
            "view": shown,
            "actions": [action],
        }
        return self.post_interaction(payload, **options)

    def submit_view(
        self,
        view: Json | str,
        values: Mapping[str, Mapping[str, Any]],
        *,
        user: str,
        **options: Unpack[SendOptions],
    ) -> DriverResponse:
        """``user`` submits the modal ``view`` (a view or its ID) with ``values``.

        ``values`` maps block_id → action_id → either Slack's state value object or a plain
        value (a string, or a list for multi-selects) that is wrapped as the element's type.
        With a stand-in, the app's ``response_action`` is applied to the view.
        """
        shown = self._view_obj(view)
        state: Json = {}
        for block_id, actions in values.items():
            state[block_id] = {}
            for action_id, raw in actions.items():
                found = find_element(
                    [b for b in shown.get("blocks", []) if b.get("block_id") == block_id],
                    action_id,
                )
                element = found[1] if found else {"type": "plain_text_input"}
                state[block_id][action_id] = _state_value(element, raw)
        shown["state"] = {"values": state}
        payload: Json = {
            "type": "view_submission",
            "team": self._team(),
            "user": self._user_obj(user),
            "api_app_id": self.api_app_id,
            "token": VERIFICATION_TOKEN,
            "trigger_id": self._trigger_id(),
            "view": shown,
            "response_urls": [],
            "is_enterprise_install": False,
            "enterprise": None,
        }
        result = self.post_interaction(payload, **options)
        if self.slack is not None and result.status == 200 and shown.get("id"):
            answer = result.json if isinstance(result.json, dict) else None
            self.slack.apply_view_response(str(shown["id"]), answer)
        return result

    def close_view(
        self, view: Json | str, *, user: str, **options: Unpack[SendOptions]
    ) -> DriverResponse:
        """``user`` closes the modal: a ``view_closed`` payload (sent only if it asked)."""
        shown = self._view_obj(view)
        payload: Json = {
            "type": "view_closed",
            "team": self._team(),
            "user": self._user_obj(user),
            "api_app_id": self.api_app_id,
            "token": VERIFICATION_TOKEN,
            "view": shown,
            "is_cleared": False,
            "is_enterprise_install": False,
            "enterprise": None,
        }
        if self.slack is not None and shown.get("id"):
            self.slack.close_view(str(shown["id"]))
        return self.post_interaction(payload, **options)

    def message_shortcut(
        self,
        callback_id: str,
        message: Json,
        *,
        user: str,
        channel: str,
        **options: Unpack[SendOptions],
    ) -> DriverResponse:
        """``user`` runs the message shortcut ``callback_id`` on ``message``."""
        message_ts = str(message["ts"])
        payload: Json = {
            "type": "message_action",
            "token": VERIFICATION_TOKEN,
            "action_ts": f"{self.clock():.6f}",
            "team": self._team(),
            "user": self._user_obj(user),
            "channel": {"id": channel, "name": self._channel_name(channel)},
            "is_enterprise_install": False,
            "enterprise": None,
            "callback_id": callback_id,
            "trigger_id": self._trigger_id(),
            "response_url": self._response_url(channel, user),
            "message_ts": message_ts,
            "message": message,
        }
        return self.post_interaction(payload, **options)


def _option(element: Json, value: Any) -> Json | None:
    if value is None:
        return None
    options = list(element.get("options", []))
    for group in element.get("option_groups", []):
        options.extend(group.get("options", []))
    for option in options:
        if isinstance(option, dict) and option.get("value") == value:
            return dict(option)
    return {"text": {"type": "plain_text", "text": str(value)}, "value": str(value)}


def _state_value(element: Json, raw: Any) -> Json:
    """Slack's ``view.state.values`` entry for ``raw`` entered into ``element``."""
    kind = str(element.get("type", "plain_text_input"))
    if isinstance(raw, dict):
        return {"type": kind, **raw}
    if kind in {"static_select", "external_select", "radio_buttons"}:
        return {"type": kind, "selected_option": _option(element, raw)}
    if kind in {"multi_static_select", "checkboxes"}:
        values = raw if isinstance(raw, list) else [raw]
        return {"type": kind, "selected_options": [_option(element, v) for v in values]}
    if kind == "conversations_select":
        return {"type": kind, "selected_conversation": raw}
    if kind == "channels_select":
        return {"type": kind, "selected_channel": raw}
    if kind == "users_select":
        return {"type": kind, "selected_user": raw}
    if kind == "datepicker":
        return {"type": kind, "selected_date": raw}
    return {"type": kind, "value": raw}
