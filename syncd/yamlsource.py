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
    # ${NAME}s not set in the environment, left as written (read lazily: a command that opens
    # no connector needs none of their secrets); each is an error where a connector is opened
    unset: dict[Loc, str] = field(default_factory=dict)

    def unset_errors(self, under: Loc = ()) -> list[ConfigError]:
        """One error per variable not set, at its place (only those under ``under``)."""
        return [
            self.error(loc, f"environment variable {name} is not set")
            for loc, name in self.unset.items()
            if loc[: len(under)] == under
        ]

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


# A config is a few hundred values a few levels deep; far beyond that is a mistake, or an
# attack on the reader (aliases within aliases that expand exponentially, a "billion laughs")
MAX_DEPTH = 64
MAX_VALUES = 100_000


class _Loader(yaml.SafeLoader):
    """PyYAML's safe loader, refusing a document nested deeper than MAX_DEPTH (its composer
    recurses once a level, so a deep one would end in RecursionError)."""

    def __init__(self, text: str, file: str) -> None:
        super().__init__(text)
        self.file = file
        self.depth = 0

    def compose_node(self, parent: Any, index: Any) -> Any:
        self.depth += 1
        try:
            if self.depth > MAX_DEPTH:
                line = self.peek_event().start_mark.line + 1
                raise ConfigError(
                    f"the YAML nests deeper than {MAX_DEPTH} levels", file=self.file, line=line
                )
            return super().compose_node(parent, index)
        finally:
            self.depth -= 1


def load_yaml(
    path: Path, environ: dict[str, str] | None = None, *, lazy: bool = False
) -> tuple[Any, SourceMap]:
    """Read ``path``; ``${NAME}`` and ``${NAME:-default}`` are taken from the environment.
    A ``${NAME}`` not set is an error, or with ``lazy`` is kept as written and noted in the
    source map's ``unset``."""
    shown = str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError("config file not found", file=shown) from None
    except (OSError, UnicodeDecodeError) as exc:
        reason = getattr(exc, "strerror", None) or exc
        raise ConfigError(f"cannot read config file: {reason}", file=shown) from None
    source = SourceMap(shown)
    loader: _Loader | None = None
    try:
        loader = _Loader(text, shown)  # it refuses control characters here, before parsing
        node = loader.get_single_node()
        if node is None:
            return {}, source
        env = os.environ if environ is None else environ
        return _Builder(source, loader, env, lazy).build(node, ()), source
    except yaml.MarkedYAMLError as exc:
        raise _syntax_error(exc, shown) from None
    except yaml.reader.ReaderError as exc:
        line = text[: exc.position].count("\n") + 1
        raise ConfigError(
            f"invalid YAML: the character #x{exc.character:04x} is not allowed in YAML",
            file=shown,
            line=line,
        ) from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"invalid YAML: {_first_line(exc)}", file=shown) from None
    finally:
        if loader is not None:
            loader.dispose()


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _syntax_error(exc: yaml.MarkedYAMLError, file: str) -> ConfigError:
    """One line for a YAML syntax error: where the parser stopped, and what it was in."""
    mark = exc.problem_mark or exc.context_mark
    line = mark.line + 1 if mark else None
    message = " ".join((exc.problem or exc.context or "not valid YAML").split())
    started = exc.context_mark.line + 1 if exc.context_mark else None
    if exc.context and exc.problem and started is not None and started != line:
        message += f" ({exc.context} started on line {started})"
    return ConfigError(f"invalid YAML: {message}", file=file, line=line)


class _Builder:
    """Python values from the composed nodes, with the line of each; an alias is followed
    where it is used, so one that contains itself, or aliases that multiply past MAX_VALUES
    values, are refused here."""

    def __init__(self, source: SourceMap, loader: _Loader, env: Any, lazy: bool = False) -> None:
        self.source = source
        self.loader = loader
        self.env = env
        self.lazy = lazy
        self.values = 0
        self.open: set[int] = set()  # the collections being built, to catch a cycle

    def error(self, node: yaml.Node, loc: Loc, message: str) -> ConfigError:
        # the line of the key when there is one: an alias's node is where its anchor was
        line = self.source.lines.get(loc, node.start_mark.line + 1)
        return ConfigError(message, file=self.source.file, line=line, path=format_path(loc))

    def build(self, node: yaml.Node, loc: Loc) -> Any:
        self.source.lines.setdefault(loc, node.start_mark.line + 1)
        self.values += 1
        if self.values > MAX_VALUES:
            raise self.error(
                node,
                loc,
                f"the YAML expands to more than {MAX_VALUES:,} values (aliases of aliases?)",
            )
        if isinstance(node, yaml.ScalarNode):
            return self._scalar(node, loc)
        if id(node) in self.open:
            raise self.error(node, loc, "an alias refers to the value that contains it")
        self.open.add(id(node))
        try:
            if isinstance(node, yaml.MappingNode):
                return self._mapping(node, loc)
            return [self.build(item, (*loc, i)) for i, item in enumerate(node.value)]
        finally:
            self.open.discard(id(node))

    def _mapping(self, node: yaml.MappingNode, loc: Loc) -> dict[str, Any]:
        try:
            self.loader.flatten_mapping(node)  # merge keys (<<)
        except RecursionError:
            raise self.error(node, loc, "a merge key (<<) brings in the mapping itself") from None
        out: dict[str, Any] = {}
        for key_node, value_node in node.value:
            key = self._scalar(key_node, loc) if isinstance(key_node, yaml.ScalarNode) else None
            if not isinstance(key, str | int | float | bool):
                shown = key_node.tag.rsplit(":", 1)[-1] if key is None else repr(key)
                raise self.error(key_node, loc, f"a key must be a plain value, not {shown[:60]}")
            key = str(key)
            child = (*loc, key)
            self.source.lines[child] = key_node.start_mark.line + 1
            if key in out:
                raise self.error(key_node, child, f"duplicate key {key[:60]!r}")
            out[key] = self.build(value_node, child)
        return out

    def _scalar(self, node: yaml.ScalarNode, loc: Loc) -> Any:
        try:
            value = self.loader.construct_object(node, deep=True)
        except (ValueError, OverflowError) as exc:  # 2026-02-30: a date that does not exist
            raise self.error(node, loc, f"bad value {node.value[:60]!r}: {exc}") from None
        if isinstance(value, str) and "${" in value:
            value = _substitute(value, loc, self.source, self.env, self.lazy)
        return value


def _substitute(text: str, loc: Loc, source: SourceMap, env: Any, lazy: bool = False) -> str:
    def replace(match: re.Match[str]) -> str:
        name, default = match.group(1), match.group(2)
        if name in env:
            register_secret(str(env[name]))
            return str(env[name])
        if default is not None:
            return default
        if lazy:
            source.unset[loc] = name
            return match.group(0)
        raise source.error(loc, f"environment variable {name} is not set")

    return _VARIABLE.sub(replace, text)
