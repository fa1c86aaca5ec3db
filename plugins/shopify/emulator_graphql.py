"""Just enough GraphQL for the emulator: one operation's root fields with their aliases,
arguments (literals or ``$variables``) and selections, as real clients send ``tagsAdd`` and
``tagsRemove`` (one field with variables, or several aliased fields in one document)."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

_NAME = re.compile(r"\s*(?:([A-Za-z_]\w*)\s*:\s*)?([A-Za-z_]\w*)\s*")
_OPERATION = re.compile(r"\s*(query|mutation|subscription)?\s*([A-Za-z_]\w*)?\s*(\([^)]*\))?\s*")
_STRING = re.compile(r'"(?:[^"\\]|\\.)*"')


class GraphQLSyntaxError(ValueError):
    """A document the emulator cannot read; the message is Shopify's ``Parse error`` text."""


@dataclass(frozen=True)
class RootField:
    """One root field of the operation: ``alias: name(args) { selection }``."""

    alias: str
    name: str
    args: dict[str, Any]
    selection: str = ""
    children: tuple[RootField, ...] = ()  # the selection's fields, parsed the same way

    def selects(self, name: str) -> bool:
        return re.search(rf"\b{re.escape(name)}\b", self.selection) is not None

    def child(self, name: str) -> RootField | None:
        """The first selected field named ``name``, or None."""
        return next((c for c in self.children if c.name == name), None)


@dataclass
class Operation:
    kind: str  # "query" or "mutation"
    fields: list[RootField] = field(default_factory=list)


def parse(document: str, variables: dict[str, Any]) -> Operation:
    """The operation of ``document`` with its variables substituted; GraphQLSyntaxError."""
    text = re.sub(r"#[^\n]*", "", document)
    head = _OPERATION.match(text)
    assert head is not None  # every part of the pattern is optional
    kind = head.group(1) or "query"
    start = head.end()
    if start >= len(text) or text[start] != "{":
        raise GraphQLSyntaxError(f'Parse error on "{text[start : start + 20].strip()}"')
    end = _closing(text, start, "{", "}")
    declared = set(re.findall(r"\$(\w+)", head.group(3) or ""))
    variables = _defaults(head.group(3) or "", variables)
    fields = _root_fields(text[start + 1 : end], variables, declared)
    if not fields:
        raise GraphQLSyntaxError('Parse error on "}" (RCURLY)')
    return Operation(kind, fields)


def _root_fields(body: str, variables: dict[str, Any], declared: set[str]) -> list[RootField]:
    fields: list[RootField] = []
    i = 0
    while i < len(body):
        while i < len(body) and body[i] in " \t\r\n,":
            i += 1
        if i >= len(body):
            break
        match = _NAME.match(body, i)
        if match is None:
            raise GraphQLSyntaxError(f'Parse error on "{body[i : i + 20].strip()}"')
        alias, name = match.group(1), match.group(2)
        i = match.end()
        args: dict[str, Any] = {}
        if i < len(body) and body[i] == "(":
            close = _closing(body, i, "(", ")")
            args = _arguments(body[i + 1 : close], variables, declared)
            i = close + 1
            while i < len(body) and body[i].isspace():
                i += 1
        selection = ""
        if i < len(body) and body[i] == "{":
            close = _closing(body, i, "{", "}")
            selection = body[i + 1 : close]
            i = close + 1
        children = tuple(_root_fields(selection, variables, declared)) if selection else ()
        fields.append(RootField(alias or name, name, args, selection, children))
    return fields


def _arguments(text: str, variables: dict[str, Any], declared: set[str]) -> dict[str, Any]:
    args: dict[str, Any] = {}
    for part in _split_top(text):
        name, colon, value = part.partition(":")
        if not colon or not name.strip():
            raise GraphQLSyntaxError(f'Parse error on "{part.strip()[:20]}"')
        args[name.strip()] = _value(value.strip(), variables, declared)
    return args


def _defaults(declarations: str, variables: dict[str, Any]) -> dict[str, Any]:
    """``variables`` with each declared one not given set to its default (or null); a
    non-null one (``Type!``) not given stays missing, and is refused where it is used."""
    out = dict(variables)
    for part in _split_top(declarations.strip()[1:-1]):
        name, _, rest = part.strip().partition(":")
        kind, _, default = rest.partition("=")
        name = name.strip().lstrip("$")
        if name and name not in out and not kind.strip().endswith("!"):
            out[name] = _value(default.strip(), {}, set()) if default.strip() else None
    return out


def _value(text: str, variables: dict[str, Any], declared: set[str]) -> Any:
    if text.startswith("$"):
        name = text[1:]
        if name not in declared:
            raise GraphQLSyntaxError(f"Variable ${name} is used but not declared")
        if name not in variables:
            raise GraphQLSyntaxError(f"Variable ${name} of type was provided invalid value")
        return variables[name]
    if text.startswith('"'):
        return json.loads(text)
    if text.startswith("["):
        inner = text[1:-1].strip()
        if inner.startswith("$"):
            return [_value(p.strip(), variables, declared) for p in _split_top(inner)]
        return [json.loads(s) for s in _STRING.findall(inner)]
    if re.fullmatch(r"-?\d+", text):
        return int(text)
    if text in ("true", "false", "null"):
        return json.loads(text)
    return text  # an enum value


def _split_top(text: str) -> list[str]:
    """``text`` split at commas outside strings and brackets."""
    parts, depth, start, i = [], 0, 0, 0
    while i < len(text):
        ch = text[i]
        if ch == '"':
            i = _string_end(text, i)
        elif ch in "[{(":
            depth += 1
        elif ch in "]})":
            depth -= 1
        elif ch == "," and depth == 0:
            parts.append(text[start:i])
            start = i + 1
        i += 1
    parts.append(text[start:])
    return [p for p in parts if p.strip()]


def _string_end(text: str, i: int) -> int:
    match = _STRING.match(text, i)
    if match is None:
        raise GraphQLSyntaxError("Parse error on bad Unicode escape sequence")
    return match.end() - 1


def _closing(text: str, i: int, opening: str, closing: str) -> int:
    depth = 0
    while i < len(text):
        ch = text[i]
        if ch == '"':
            i = _string_end(text, i)
        elif ch == opening:
            depth += 1
        elif ch == closing:
            depth -= 1
            if depth == 0:
                return i
        i += 1
    raise GraphQLSyntaxError("Parse error on end of file (EOF)")
