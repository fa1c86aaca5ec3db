"""``syncd init``: a first config for the tools a user connects, written with comments and
``${ENV}`` secrets, never over an existing file without ``--force``; ``syncd check`` then
reads it (``check --connect`` when asked, or when the environment has every secret it names).
"""

from __future__ import annotations

import difflib
import os
import re
from pathlib import Path
from typing import Any

from syncd.errors import ConfigError


def _tools() -> dict[str, Any]:
    """What each connector type that offers one (a class attribute ``init``) writes."""
    from syncd.plugins import get_plugin_manager

    found = get_plugin_manager().connectors()
    offered = {k: getattr(c, "init", None) for k, c in sorted(found.items())}
    return {k: tool for k, tool in offered.items() if tool is not None}


TOOLS = _tools()
DEFAULT_TOOLS = ",".join(list(TOOLS)[:2])

DEFAULT_STORE = "sqlite:///syncd.db"
_VARIABLE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


def parse_tools(text: str) -> list[str]:
    """``"a, b"`` → the tools, in order, each once; ConfigError for a name
    syncd has no connector for (with the nearest one)."""
    tools: list[str] = []
    for name in (t.strip().lower() for t in text.split(",")):
        if not name:
            continue
        if name not in TOOLS:
            close = difflib.get_close_matches(name, TOOLS, n=1, cutoff=0.6)
            hint = f"did you mean {close[0]!r}?" if close else f"known: {', '.join(TOOLS)}"
            raise ConfigError(f"--tools: unknown tool {name!r}; {hint}")
        if name not in tools:
            tools.append(name)
    if not tools:
        raise ConfigError(f"--tools: name at least one of {', '.join(TOOLS)}")
    return tools


def config_text(tools: list[str], store: str) -> str:
    """The config for ``tools``, with a comment on every section."""
    chosen = [TOOLS[t] for t in tools]
    out = [
        "# yaml-language-server: $schema=syncd.schema.json",
        "# syncd's config, written by `syncd init`. Secrets are read from the environment",
        "# (${NAME}); `syncd check` validates this file, `syncd check --connect` reaches each",
        "# tool, `syncd plan` shows what a sync would change. Reference: README § Configuration.",
        "",
        "store:",
        f"  url: {store}" + "   # SQLite beside this file, or postgresql+psycopg://..."
        if store.startswith("sqlite")
        else f"  url: {store}",
        "",
        "connectors:",
    ]
    for name, tool in zip(tools, chosen, strict=True):
        out.append(f"  {tool.instance}:{' ' * max(1, 26 - len(tool.instance))}# {tool.about}")
        out.append(f"    type: {name}")
        out.append(tool.options.rstrip("\n"))
    out += [
        "",
        "# when two tools know a field, the first named here wins",
        f"precedence: [{', '.join(t.instance for t in chosen)}]",
        "",
        "# who is in each segment is computed here from every tool's data (docs/segments.md)",
        "segments:",
        "  customers:        {event: order_placed}",
        "  loyal_customers:  {event: order_placed, count: {gte: 2}}",
        "  cart_abandoners:",
        "    all:",
        "      - {event: checkout_abandoned, within: 30d}",
        "      - {not: {event: order_placed, within: 30d}}",
        "",
        "# what each receiving tool is told: a tag (or list) per segment; managed: syncd adds",
        "# and removes only what it manages, and holds a plan that would remove too many",
        "destinations:",
    ]
    receiving = [t for t in chosen if t.receives]
    for tool in receiving:
        out += [
            f"  - connector: {tool.instance}",
            "    mode: managed",
            "    tags:",
            "      loyal_customers: LOYAL",
            "      cart_abandoners: CART_ABANDONED",
        ]
    if not receiving:
        out[-1] = "destinations: []   # none of the tools chosen receives changes"
    out += [
        "",
        "# syncd run: each schedule is a job (syncd status shows their runs)",
        "schedules:",
        "  every_15_minutes: {run: sync, every: 15m}",
        "",
    ]
    return "\n".join(out)


def write_config(path: Path, text: str, *, force: bool) -> None:
    """Write ``text`` to ``path`` (and the schema it names beside it); an existing config is
    kept unless ``force``."""
    if path.exists() and not force:
        raise ConfigError(f"{path} exists; syncd init --force writes over it")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot write {path}: {exc.strerror or exc}") from None
    from syncd.plugins import get_plugin_manager
    from syncd.shell.schema import schema_text

    schema = path.parent / "syncd.schema.json"
    schema.write_text(schema_text(get_plugin_manager().connectors()), encoding="utf-8")


def secrets_named(text: str) -> list[str]:
    """The environment variables ``text`` names, in order, once each."""
    code = "\n".join(line.split("#", 1)[0] for line in text.splitlines())  # not comments
    return list(dict.fromkeys(_VARIABLE.findall(code)))


def missing(names: list[str]) -> list[str]:
    return [n for n in names if not os.environ.get(n)]
