"""The layers read one way: every import in `bot/` goes down, never up (docs/architecture.md).

    slack, web        the surfaces: Slack's requests, the HTTP routes
    usecases          what the bot does
    blocks, store, whatsapp, media    Block Kit, the database, the provider, media checks
    core              records, rules and config: import nothing else of the bot

The wiring (`app`, `server`, `__main__`, and `slack_client`, the Web API client `app` builds)
and the stand-ins (`sandbox`, `demo`) may import anything.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

BOT = Path(__file__).resolve().parents[1] / "bot"

# What each layer may import, besides itself.
ALLOWED = {
    "core": set(),
    "blocks": {"core"},
    "store": {"core"},
    "whatsapp": {"core"},
    "media": {"core"},
    "usecases": {"blocks", "store", "whatsapp", "media", "core"},
    "slack": {"usecases", "blocks", "whatsapp", "media", "core"},
    "web": {"usecases", "core"},
}
WIRING = {"app", "slack_client", "server", "__main__", "sandbox", "demo", "__init__"}


def layer_of(module: str) -> str:
    """`bot.usecases.render` → `usecases`; `bot.web` → `web`."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def modules() -> list[tuple[str, Path]]:
    found = []
    for path in sorted(BOT.rglob("*.py")):
        relative = path.relative_to(BOT.parent).with_suffix("")
        name = ".".join(relative.parts).removesuffix(".__init__")
        found.append((name, path))
    return found


def imports_of(path: Path, module: str) -> set[str]:
    """Every `bot.…` module the file imports, TYPE_CHECKING imports included."""
    tree = ast.parse(path.read_text(), filename=str(path))
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names if alias.name.startswith("bot.")}
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.rsplit(".", node.level - 1)[0]
                target = f"{base}.{node.module}" if node.module else base
            else:
                target = node.module or ""
            if target == "bot":
                found |= {f"bot.{alias.name}" for alias in node.names}
            elif target.startswith("bot."):
                found.add(target)
    return found


def test_every_layer_imports_only_what_is_below_it() -> None:
    wrong = []
    for module, path in modules():
        layer = layer_of(module)
        if layer in WIRING or layer not in ALLOWED:
            continue
        for target in sorted(imports_of(path, module)):
            other = layer_of(target)
            if other != layer and other not in ALLOWED[layer]:
                wrong.append(f"{module} imports {target} ({layer} → {other})")
    assert wrong == []


def test_every_module_of_the_bot_is_in_a_known_layer() -> None:
    unknown = {
        layer_of(m)
        for m, _ in modules()
        if layer_of(m) not in ALLOWED and layer_of(m) not in WIRING
    }
    assert unknown == {""}  # only the package itself


@pytest.mark.parametrize("module", ["bot.usecases.render", "bot.web"])
def test_the_check_sees_an_upward_import(module: str, tmp_path: Path) -> None:
    path = tmp_path / "x.py"
    path.write_text("from bot.slack import clicks\nfrom bot import app\n")
    found = imports_of(path, module)
    assert found == {"bot.slack", "bot.app"}
    assert layer_of("bot.slack") not in ALLOWED[layer_of(module)]
