"""Modals and Home tabs in the stand-in Slack, and the ``views.*`` methods that show them."""

from __future__ import annotations

import copy
import secrets
import time

from bot.sandbox.slack.blockkit import _problem, _view_problem
from bot.sandbox.slack.calls import Calls
from bot.sandbox.slack.common import (
    Json,
    _SlackError,
)


class Views(Calls):
    """Modals (opened, pushed, updated, closed) and Home tabs; trigger IDs for opening them."""

    _views: dict[str, Json]
    _closed_views: set[str]
    _home: dict[str, str]
    _triggers: dict[str, tuple[float, bool]]

    def new_trigger_id(self) -> str:
        """A fresh trigger_id, usable once for ``views.open`` within ``trigger_ttl`` seconds."""
        with self._lock:
            self._ids["T"] += 1
            trigger = f"{int(time.time())}.{self._ids['T']}.{secrets.token_hex(16)}"
            self._triggers[trigger] = (time.monotonic(), False)
            return trigger

    # ------------------------------------------------------------------ read helpers

    def home_view(self, user: str) -> Json | None:
        """The Home tab last published for ``user``."""
        with self._lock:
            view_id = self._home.get(user)
            return copy.deepcopy(self._views[view_id]) if view_id else None

    @property
    def views(self) -> dict[str, Json]:
        """Every modal and Home view by ID, as last opened, pushed, updated or published."""
        with self._lock:
            return copy.deepcopy(self._views)

    def is_view_open(self, view_id: str) -> bool:
        with self._lock:
            return view_id in self._views and view_id not in self._closed_views

    # ------------------------------------------------------------------ driver hooks

    def apply_view_response(self, view_id: str, answer: Json | None) -> None:
        """Applies an app's answer to a ``view_submission`` (close, update, push, clear)."""
        answer = answer or {}
        action = answer.get("response_action")
        spec = answer.get("view")
        with self._lock:
            if action == "errors" or view_id not in self._views:
                return
            if action == "update" and isinstance(spec, dict):
                old = self._views[view_id]
                self._views[view_id] = self._make_view(spec, view_id=view_id, previous=old)
            elif action == "push" and isinstance(spec, dict):
                new = self._make_view(spec, view_id=self._next_view_id())
                new["previous_view_id"] = view_id
                new["root_view_id"] = self._views[view_id].get("root_view_id", view_id)
                self._views[new["id"]] = new
            elif action == "clear":
                root = self._views[view_id].get("root_view_id", view_id)
                for vid, view in self._views.items():
                    if view.get("root_view_id") == root:
                        self._closed_views.add(vid)
            else:
                self._closed_views.add(view_id)

    def close_view(self, view_id: str) -> None:
        with self._lock:
            self._closed_views.add(view_id)

    # ------------------------------------------------------------------ views.* methods

    def _next_view_id(self) -> str:
        self._ids["V"] += 1
        return f"V{self._ids['V']:08d}"

    def _take_trigger(self, params: Json) -> None:
        trigger = self._str_arg(params, "trigger_id", required=True, error="invalid_trigger_id")
        issued = self._triggers.get(trigger)
        if issued is None:
            raise _SlackError("invalid_trigger_id")
        at, used = issued
        if used:
            raise _SlackError("exchanged_trigger_id")
        if time.monotonic() - at > self.trigger_ttl:
            raise _SlackError("expired_trigger_id")
        self._triggers[trigger] = (at, True)

    def _view_arg(self, params: Json, *, home: bool) -> Json:
        view = self._json_arg(params, "view", "invalid_arguments")
        problem = _view_problem(view, home=home)
        if problem:
            raise _SlackError("invalid_arguments", extra=_problem(problem))
        assert isinstance(view, dict)
        return view

    def _make_view(self, spec: Json, *, view_id: str, previous: Json | None = None) -> Json:
        view: Json = {
            "id": view_id,
            "team_id": self.team_id,
            "type": spec.get("type", "modal"),
            "blocks": copy.deepcopy(spec.get("blocks", [])),
            "private_metadata": spec.get("private_metadata", ""),
            "callback_id": spec.get("callback_id", ""),
            "state": {"values": {}},
            "hash": f"{int(time.time())}.{secrets.token_hex(4)}",
            "clear_on_close": bool(spec.get("clear_on_close", False)),
            "notify_on_close": bool(spec.get("notify_on_close", False)),
            "previous_view_id": None,
            "root_view_id": view_id,
            "app_id": self.app_id,
            "external_id": spec.get("external_id", ""),
            "app_installed_team_id": self.team_id,
            "bot_id": self.bot_id,
        }
        for key in ("title", "close", "submit"):
            if key in spec:
                view[key] = copy.deepcopy(spec[key])
        if previous is not None:
            view["previous_view_id"] = previous.get("previous_view_id")
            view["root_view_id"] = previous.get("root_view_id", view_id)
            if not view["external_id"]:
                view["external_id"] = previous.get("external_id", "")
        return view

    def _check_external_id(self, spec: Json, *, own: str | None) -> None:
        ext = spec.get("external_id")
        if ext:
            for vid, view in self._views.items():
                if view.get("external_id") == ext and vid != own:
                    raise _SlackError("duplicate_external_id")

    def _m_views_open(self, params: Json) -> Json:
        spec = self._view_arg(params, home=False)
        self._take_trigger(params)
        self._check_external_id(spec, own=None)
        view = self._make_view(spec, view_id=self._next_view_id())
        self._views[view["id"]] = view
        return {"view": copy.deepcopy(view)}

    def _m_views_push(self, params: Json) -> Json:
        spec = self._view_arg(params, home=False)
        self._take_trigger(params)
        self._check_external_id(spec, own=None)
        open_views = [v for v in self._views if v not in self._closed_views]
        view = self._make_view(spec, view_id=self._next_view_id())
        if open_views:
            below = self._views[open_views[-1]]
            view["previous_view_id"] = below["id"]
            view["root_view_id"] = below.get("root_view_id", below["id"])
        self._views[view["id"]] = view
        return {"view": copy.deepcopy(view)}

    def _m_views_update(self, params: Json) -> Json:
        view_id = self._str_arg(params, "view_id")
        external_id = self._str_arg(params, "external_id")
        if not view_id and not external_id:
            raise _SlackError("invalid_arguments", extra=_problem("view_id or external_id"))
        if not view_id:
            view_id = next(
                (v for v, obj in self._views.items() if obj.get("external_id") == external_id), ""
            )
        old = self._views.get(view_id)
        if old is None:
            raise _SlackError("not_found")
        spec = self._view_arg(params, home=old["type"] == "home")
        given_hash = self._str_arg(params, "hash")
        if given_hash and given_hash != old["hash"]:
            raise _SlackError("hash_conflict")
        self._check_external_id(spec, own=view_id)
        view = self._make_view(spec, view_id=view_id, previous=old)
        self._views[view_id] = view
        return {"view": copy.deepcopy(view)}

    def _m_views_publish(self, params: Json) -> Json:
        user = self._str_arg(params, "user_id", required=True, error="user_not_found")
        self._user_obj(user)
        spec = self._view_arg(params, home=True)
        old_id = self._home.get(user)
        if old_id is not None:
            given_hash = self._str_arg(params, "hash")
            if given_hash and given_hash != self._views[old_id]["hash"]:
                raise _SlackError("hash_conflict")
        view_id = old_id or self._next_view_id()
        view = self._make_view(spec, view_id=view_id)
        self._views[view_id] = view
        self._home[user] = view_id
        return {"view": copy.deepcopy(view)}
