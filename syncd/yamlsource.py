"""YAML read with the line of every value, so each config error can name file:line: path."""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from syncd.errors import ConfigError
from syncd.secrets import register_secret

Loc = tuple[str | int, ...]

_VARIABLE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-(.*?))?\}")


def format_path(loc: Sequence[str | int]) -> str:
    """``("destinations", 0, "tags")`` → ``destinations[0].tags``."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out


@dataclass
class SourceMap:
    """The file a config came from and the line of each value in it."""

    file: str
    lines: dict[Loc, int] = field(default_factory=dict)
    # values that came from another file (an include): their location there
    included: dict[Loc, SourceMap] = field(default_factory=dict)

    def _owner(self, loc: Loc) -> SourceMap:
        for depth in range(len(loc), 0, -1):
            other = self.included.get(loc[:depth])
            if other is not None:
                return other
        return self

    def line(self, loc: Sequence[str | int]) -> int | None:
        """The line of ``loc``, or of its nearest parent that has one."""
        loc = tuple(loc)
        owner = self._owner(loc)
        if owner is not self:
            return owner.line(loc)
        while loc:
            if loc in self.lines:
                return self.lines[loc]
            loc = loc[:-1]
        return self.lines.get((), None)

    def error(self, loc: Sequence[str | int], message: str) -> ConfigError:
        file = self._owner(tuple(loc)).file
        return ConfigError(message, file=file, line=self.line(loc), path=format_path(loc))


def load_yaml(path: Path, environ: dict[str, str] | None = None) -> tuple[Any, SourceMap]:
    """Read ``path``; ``${NAME}`` and ``${NAME:-default}`` are taken from the environment."""
    shown = str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError("config file not found", file=shown) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read config file: {exc}", file=shown) from None
    source = SourceMap(shown)
    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
    except yaml.MarkedYAMLError as exc:
        raise _syntax_error(exc, shown) from None
    finally:
        loader.dispose()
    if node is None:
        return {}, source
    env = os.environ if environ is None else environ
    return _build(node, (), source, loader, env), source


def _syntax_error(exc: yaml.MarkedYAMLError, file: str) -> ConfigError:
    """One line for a YAML syntax error: where the parser stopped, and what it was in."""
    mark = exc.problem_mark or exc.context_mark
    line = mark.line + 1 if mark else None
    message = " ".join((exc.problem or exc.context or "not valid YAML").split())
    started = exc.context_mark.line + 1 if exc.context_mark else None
    if exc.context and exc.problem and started is not None and started != line:
        message += f" ({exc.context} started on line {started})"
    return ConfigError(f"invalid YAML: {message}", file=file, line=line)


def _build(node: yaml.Node, loc: Loc, source: SourceMap, loader: yaml.SafeLoader, env: Any) -> Any:
    source.lines.setdefault(loc, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        loader.flatten_mapping(node)  # merge keys (<<)
        out: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            key = loader.construct_object(key_node, deep=True)
            if not isinstance(key, str | int | float | bool) or key is None:
                raise source.error(loc, f"a key must be a plain value, not {key!r}")
            key = str(key)
            child = (*loc, key)
            source.lines[child] = key_node.start_mark.line + 1
            if key in out:
                raise ConfigError(
                    f"duplicate key {key!r}",
                    file=source.file,
                    line=key_node.start_mark.line + 1,
                    path=format_path(child),
                )
            out[key] = _build(value_node, child, source, loader, env)
        return out
    if isinstance(node, yaml.SequenceNode):
        return [_build(item, (*loc, i), source, loader, env) for i, item in enumerate(node.value)]
    value = loader.construct_object(node, deep=True)
    if isinstance(value, str) and "${" in value:
        value = _substitute(value, loc, source, env)
    return value


def _substitute(text: str, loc: Loc, source: SourceMap, env: Any) -> str:
    def replace(match: re.Match[str]) -> str:
        name, default = match.group(1), match.group(2)
        if name in env:
            register_secret(str(env[name]))
            return str(env[name])
        if default is not None:
            return default
        raise source.error(loc, f"environment variable {name} is not set")

    return _VARIABLE.sub(replace, text)
