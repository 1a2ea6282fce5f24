"""Block Kit as the stand-in Slack checks it: the documented limits, and finding elements."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, Final

from bot.sandbox.slack.common import Json

_TRIGGERS: Final = frozenset({"on_enter_pressed", "on_character_entered"})
# Elements that only an input block holds.
_INPUT_ONLY: Final = frozenset(
    {"plain_text_input", "email_text_input", "number_input", "url_text_input"}
)

_BLOCK_TYPES: Final = frozenset(
    {
        "actions",
        "context",
        "context_actions",
        "divider",
        "file",
        "header",
        "image",
        "input",
        "markdown",
        "rich_text",
        "section",
        "table",
        "video",
    }
)


def _text_of(obj: object) -> str:
    if isinstance(obj, dict):
        text = obj.get("text")
        return text if isinstance(text, str) else ""
    return ""


def _problem(message: str) -> Json:
    return {"errors": [message], "response_metadata": {"messages": [f"[ERROR] {message}"]}}


def _blocks_problem(blocks: object, *, limit: int, where: str = "/blocks") -> str | None:
    """The first way ``blocks`` breaks Block Kit's documented rules, or None."""
    if not isinstance(blocks, list):
        return f"must be an array [json-pointer:{where}]"
    if len(blocks) > limit:
        return f"no more than {limit} items allowed [json-pointer:{where}]"
    block_ids: set[str] = set()
    for i, block in enumerate(blocks):
        at = f"{where}/{i}"
        if not isinstance(block, dict) or not isinstance(block.get("type"), str):
            return f"must be an object with a type [json-pointer:{at}]"
        kind = block["type"]
        if kind not in _BLOCK_TYPES:
            return f"unsupported type: {kind} [json-pointer:{at}/type]"
        block_id = block.get("block_id")
        if block_id is not None:
            if not isinstance(block_id, str) or not 0 < len(block_id) <= 255:
                return f"must be a string of 1 to 255 characters [json-pointer:{at}/block_id]"
            if block_id in block_ids:
                return f"duplicate block_id {block_id} [json-pointer:{at}/block_id]"
            block_ids.add(block_id)
        problem = _block_problem(block, at)
        if problem:
            return problem
    return None


def _block_problem(block: Json, at: str) -> str | None:
    kind = block["type"]
    if kind == "section":
        if "text" not in block and "fields" not in block and "expand" not in block:
            return f"must provide text or fields [json-pointer:{at}]"
        if len(_text_of(block.get("text"))) > 3000:
            return f"must be less than 3001 characters [json-pointer:{at}/text/text]"
        fields = block.get("fields", [])
        if not isinstance(fields, list) or len(fields) > 10:
            return f"no more than 10 items allowed [json-pointer:{at}/fields]"
    if kind == "header" and not 0 < len(_text_of(block.get("text"))) <= 150:
        return f"must be 1 to 150 characters [json-pointer:{at}/text/text]"
    if kind == "input":
        if not isinstance(block.get("element"), dict) or not isinstance(block.get("label"), dict):
            return f"must provide label and element [json-pointer:{at}]"
        if len(_text_of(block["label"])) > 2000:
            return f"must be less than 2001 characters [json-pointer:{at}/label/text]"
        for key in ("dispatch_action", "optional"):
            if key in block and not isinstance(block[key], bool):
                return f"must be a boolean [json-pointer:{at}/{key}]"
        if "hint" in block and len(_text_of(block["hint"])) > 2000:
            return f"must be less than 2001 characters [json-pointer:{at}/hint/text]"
        if block["element"].get("type") == "plain_text_input":
            problem = _text_input_problem(block["element"], f"{at}/element")
            if problem:
                return problem
    elements: list[Any] = []
    if kind in {"actions", "context"}:
        if not isinstance(block.get("elements"), list):
            return f"must provide elements [json-pointer:{at}/elements]"
        elements = block["elements"]
        limit = 25 if kind == "actions" else 10
        if not elements or len(elements) > limit:
            return f"must have 1 to {limit} items [json-pointer:{at}/elements]"
        for j, element in enumerate(elements):
            if isinstance(element, dict) and element.get("type") in _INPUT_ONLY:
                return f"unsupported type: {element['type']} [json-pointer:{at}/elements/{j}/type]"
    elif isinstance(block.get("accessory"), dict):
        elements = [block["accessory"]]
    elif isinstance(block.get("element"), dict):
        elements = [block["element"]]
    action_ids: set[str] = set()
    for j, element in enumerate(elements):
        if not isinstance(element, dict) or not isinstance(element.get("type"), str):
            return f"must be an object with a type [json-pointer:{at}/elements/{j}]"
        action_id = element.get("action_id")
        if action_id is not None:
            if not isinstance(action_id, str) or not 0 < len(action_id) <= 255:
                return f"must be 1 to 255 characters [json-pointer:{at}/elements/{j}/action_id]"
            if action_id in action_ids:
                return f"duplicate action_id {action_id} [json-pointer:{at}/elements/{j}]"
            action_ids.add(action_id)
        if element["type"] == "button":
            if not 0 < len(_text_of(element.get("text"))) <= 75:
                return f"must be 1 to 75 characters [json-pointer:{at}/elements/{j}/text/text]"
            value = element.get("value", "")
            if not isinstance(value, str) or len(value) > 2000:
                return f"must be at most 2000 characters [json-pointer:{at}/elements/{j}/value]"
            if element.get("style") not in {None, "primary", "danger"}:
                return f"must be primary or danger [json-pointer:{at}/elements/{j}/style]"
    return None


def _text_input_problem(element: Json, at: str) -> str | None:
    """A plain_text_input's documented limits, and when it dispatches actions."""
    if len(_text_of(element.get("placeholder"))) > 150:
        return f"must be less than 151 characters [json-pointer:{at}/placeholder/text]"
    bounds = {"min_length": (0, 3000), "max_length": (1, 3000)}
    for key, (low, high) in bounds.items():
        value = element.get(key)
        if value is not None and (
            not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high
        ):
            return f"must be an integer from {low} to {high} [json-pointer:{at}/{key}]"
    initial = element.get("initial_value")
    if initial is not None:
        if not isinstance(initial, str):
            return f"must be a string [json-pointer:{at}/initial_value]"
        if len(initial) > element.get("max_length", 3000):
            return f"must be no longer than max_length [json-pointer:{at}/initial_value]"
    config = element.get("dispatch_action_config")
    if config is not None:
        triggers = config.get("trigger_actions_on") if isinstance(config, dict) else None
        if (
            not isinstance(triggers, list)
            or not triggers
            or len(set(map(str, triggers))) != len(triggers)
            or not set(triggers) <= _TRIGGERS
        ):
            return (
                "must be on_enter_pressed and/or on_character_entered "
                f"[json-pointer:{at}/dispatch_action_config/trigger_actions_on]"
            )
    return None


def _view_problem(view: object, *, home: bool) -> str | None:
    if not isinstance(view, dict):
        return "must be an object [json-pointer:/view]"
    kind = view.get("type")
    if home and kind != "home":
        return "type must be home [json-pointer:/view/type]"
    if not home and kind != "modal":
        return "type must be modal [json-pointer:/view/type]"
    if kind == "modal":
        for key, required in (("title", True), ("submit", False), ("close", False)):
            if key not in view:
                if required:
                    return f"must provide {key} [json-pointer:/view/{key}]"
                continue
            value = view[key]
            if not isinstance(value, dict) or value.get("type") != "plain_text":
                return f"must be a plain_text object [json-pointer:/view/{key}]"
            if not 0 < len(_text_of(value)) <= 24:
                return f"must be 1 to 24 characters [json-pointer:/view/{key}/text]"
        blocks = view.get("blocks", [])
        if (
            isinstance(blocks, list)
            and any(isinstance(b, dict) and b.get("type") == "input" for b in blocks)
            and "submit" not in view
        ):
            return "must provide submit when an input block is present [json-pointer:/view]"
    if len(str(view.get("private_metadata", ""))) > 3000:
        return "must be at most 3000 characters [json-pointer:/view/private_metadata]"
    if len(str(view.get("callback_id", ""))) > 255:
        return "must be at most 255 characters [json-pointer:/view/callback_id]"
    return _blocks_problem(view.get("blocks", []), limit=100, where="/view/blocks")


def _iter_elements(blocks: object) -> Iterator[tuple[str, Json]]:
    """Yields (block_id, element) for every interactive element in ``blocks``."""
    if not isinstance(blocks, list):
        return
    for block in blocks:
        if not isinstance(block, dict):
            continue
        block_id = str(block.get("block_id", ""))
        candidates: list[Any] = []
        if isinstance(block.get("elements"), list):
            candidates.extend(block["elements"])
        for key in ("accessory", "element"):
            if isinstance(block.get(key), dict):
                candidates.append(block[key])
        for element in candidates:
            if isinstance(element, dict) and "action_id" in element:
                yield block_id, element


def find_element(blocks: object, action_id: str) -> tuple[str, Json] | None:
    """The (block_id, element) with ``action_id`` in ``blocks``, or None."""
    for block_id, element in _iter_elements(blocks):
        if element.get("action_id") == action_id:
            return block_id, element
    return None
