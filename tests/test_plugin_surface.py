"""Built-in plugins reach syncd only through its public surfaces, as a third party would:
``syncd.connectors`` for a connector, ``syncd.emulator`` for an emulator, and ``hookimpl``.
(Their tests may use more of syncd: they test it together with the core.)"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PLUGINS = Path(__file__).resolve().parent.parent / "plugins"
CONNECTOR = {"syncd.connectors"}
EMULATOR = CONNECTOR | {"syncd.emulator"}


def allowed(path: Path) -> set[str]:
    if path.name.startswith("emulator"):
        return EMULATOR
    return CONNECTOR


def offences(source: str, allowed: set[str]) -> list[str]:
    """Each import from syncd outside ``allowed`` (``from syncd import hookimpl`` is fine)."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module]
            if node.module == "syncd" and {a.name for a in node.names} <= {"hookimpl"}:
                continue
        elif isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        else:
            continue
        for name in names:
            inside = name == "syncd" or name.startswith("syncd.")
            if inside and not any(name == a or name.startswith(a + ".") for a in allowed):
                found.append(f"line {node.lineno}: {name}")
    return found


MODULES = sorted(p for p in PLUGINS.rglob("*.py") if not p.name.startswith("test_"))


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(PLUGINS)))
def test_a_built_in_plugin_module_imports_only_the_public_surface(path: Path) -> None:
    assert offences(path.read_text(encoding="utf-8"), allowed(path)) == []


def test_the_check_finds_a_reach_into_the_core() -> None:
    source = (
        "from syncd.connectors import Page\n"
        "from syncd import hookimpl\n"
        "from syncd.errors import FatalError\n"
        "import syncd.store.schema\n"
        "from syncd import config\n"
    )
    assert offences(source, CONNECTOR) == [
        "line 3: syncd.errors",
        "line 4: syncd.store.schema",
        "line 5: syncd",
    ]
    assert offences("from syncd.emulator import Emulator\n", EMULATOR) == []
    assert offences("from syncd.emulator import Emulator\n", CONNECTOR) == [
        "line 1: syncd.emulator"
    ]
