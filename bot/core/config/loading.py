"""Loading a config file: YAML without duplicate keys, `${VAR}` expanded from the environment."""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from bot.core.config.model import Config, ConfigError, Problem
from bot.core.config.reading import Reader, join

_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


class _Loader(yaml.SafeLoader):
    """SafeLoader that refuses duplicate keys, which PyYAML would silently overwrite."""


def _construct_mapping(loader: _Loader, node: yaml.MappingNode) -> dict[Any, Any]:
    mapping: dict[Any, Any] = {}
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        if key in mapping:
            raise yaml.constructor.ConstructorError(
                "while reading a mapping",
                node.start_mark,
                f"found the key {key!r} twice",
                key_node.start_mark,
            )
        mapping[key] = loader.construct_object(value_node, deep=True)
    return mapping


_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def _expand(value: Any, env: Mapping[str, str], path: str, problems: list[Problem]) -> Any:
    """Replace `${VAR}` (or `${VAR:-default}`) in every string of the tree."""
    if isinstance(value, dict):
        return {k: _expand(v, env, join(path, k), problems) for k, v in value.items()}
    if isinstance(value, list):
        return [_expand(v, env, f"{path}[{i}]", problems) for i, v in enumerate(value)]
    if not isinstance(value, str):
        return value

    def substitute(match: re.Match[str]) -> str:
        name, default = match.group(1), match.group(2)
        if name in env:
            return env[name]
        if default is not None:
            return default
        problems.append(
            Problem(path, f"the environment variable {name} is not set", f"Set {name}.")
        )
        return ""

    return _VAR.sub(substitute, value)


def load_config(path: str | Path, env: Mapping[str, str]) -> Config:
    """Read, expand and validate a config file; raise ConfigError with every problem."""
    source = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(
            [
                Problem(
                    source,
                    "the file does not exist",
                    "Copy config.example.yaml to config.yaml and edit it, "
                    "or pass --config PATH (or set WHATSAPP_BOT_CONFIG)",
                )
            ],
            source,
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(
            [Problem(source, f"the file cannot be read ({exc})", "Check its permissions")],
            source,
        ) from None
    return parse_config_text(text, env, source=source)


def parse_config_text(text: str, env: Mapping[str, str], *, source: str = "config") -> Config:
    try:
        data = yaml.load(text, Loader=_Loader)  # _Loader is a SafeLoader
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else "somewhere"
        what = getattr(exc, "problem", None) or str(exc)
        raise ConfigError(
            [Problem(f"(YAML {where})", f"the file is not valid YAML: {what}", "Fix the syntax")],
            source,
        ) from None
    return parse_config(data, env, source=source)


def parse_config(data: Any, env: Mapping[str, str], *, source: str = "config") -> Config:
    problems: list[Problem] = []
    data = _expand(data, env, "", problems)
    config = Reader(problems).config(data)
    if problems or config is None:
        raise ConfigError(problems, source)
    return config
