"""Bulk query operations of the emulator's GraphQL Admin API
(https://shopify.dev/docs/api/usage/bulk-operations/queries): ``bulkOperationRunQuery`` checks
the query (valid against the schema, at least one connection, at most five, nested at most two
deep, one bulk query at a time), the operation moves CREATED → RUNNING → COMPLETED one step
each time it is read (``currentBulkOperation``, ``node(id:)``), and when it completes the query
has run over the whole store (``first`` ignored) into a JSONL file served on the emulator's own
host at ``/_bulk/{id}.jsonl``: one object per line, the nodes of a nested connection on lines
of their own after their parent, with ``__parentId``."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from graphql import FieldNode, GraphQLNamedType, get_named_type, is_composite_type

from syncd_plugins.shopify.emulator_graphql import Prepared, Refused, is_connection
from syncd_plugins.shopify.emulator_graphql_read import gid, utc
from syncd_plugins.shopify.emulator_state import stamp

Json = dict[str, Any]
MAX_CONNECTIONS, MAX_DEPTH = 5, 2
BASE = 4_412_110_000


@dataclass
class BulkOperation:
    number: int
    query: str
    created_at: datetime
    base_url: str
    status: str = "CREATED"
    completed_at: datetime | None = None
    lines: bytes = b""
    object_count: int = 0
    root_count: int = 0

    @property
    def id(self) -> str:
        return gid("BulkOperation", self.number)

    def render(self) -> Json:
        done = self.status == "COMPLETED"
        return {
            "__typename": "BulkOperation",
            "id": self.id,
            "type": "QUERY",
            "status": self.status,
            "errorCode": None,
            "query": self.query,
            "createdAt": utc(stamp(self.created_at)),
            "completedAt": utc(stamp(self.completed_at)) if self.completed_at else None,
            "objectCount": str(self.object_count),
            "rootObjectCount": str(self.root_count),
            "fileSize": str(len(self.lines)) if done and self.lines else None,
            "url": f"{self.base_url}/_bulk/{self.number}.jsonl" if done and self.lines else None,
            "partialDataUrl": None,
        }


class BulkOperations:
    """The store's bulk operations; ``run`` the work when one completes."""

    def __init__(self) -> None:
        self.operations: dict[int, BulkOperation] = {}
        self.prepared: dict[int, Prepared] = {}

    def current(self) -> BulkOperation | None:
        return self.operations[max(self.operations)] if self.operations else None

    def get(self, number: int) -> BulkOperation | None:
        return self.operations.get(number)

    def file(self, number: int) -> bytes | None:
        found = self.operations.get(number)
        return found.lines if found and found.status == "COMPLETED" else None

    def start(self, query: str, now: datetime, base_url: str) -> tuple[BulkOperation | None, list]:
        """A new operation, or the user errors that refuse it."""
        running = self.current()
        if running is not None and running.status in ("CREATED", "RUNNING", "CANCELING"):
            message = (
                "A bulk query operation for this app and shop is already in progress: "
                f"{running.id}."
            )
            return None, [{"field": None, "message": message, "code": "OPERATION_IN_PROGRESS"}]
        try:
            prepared = Prepared(query, {}, None, bulk=True)
            problem = _shape_problem(prepared)
        except Refused as exc:
            problem = "; ".join(e["message"] for e in exc.errors)
        if problem:
            return None, [{"field": ["query"], "message": problem, "code": "INVALID"}]
        number = BASE + len(self.operations) + 1
        operation = BulkOperation(number, query, now, base_url)
        self.operations[number] = operation
        self.prepared[number] = prepared
        return operation, []

    def cancel(self, number: int) -> tuple[BulkOperation | None, list]:
        found = self.operations.get(number)
        if found is None:
            return None, [{"field": ["id"], "message": "Bulk operation does not exist"}]
        if found.status not in ("CREATED", "RUNNING"):
            said = f"A bulk operation cannot be canceled when it is {found.status.lower()}"
            return found, [{"field": None, "message": said}]
        found.status = "CANCELING"
        return found, []

    def advance(self, operation: BulkOperation, now: datetime, run: Any) -> None:
        """One step on: CREATED → RUNNING → COMPLETED (the query runs then), CANCELING →
        CANCELED. ``run(prepared)`` executes the query over the store and answers its data."""
        if operation.status == "CREATED":
            operation.status = "RUNNING"
        elif operation.status == "RUNNING":
            prepared = self.prepared.pop(operation.number)
            lines, roots = flatten(prepared, run(prepared))
            operation.lines = "".join(json.dumps(line) + "\n" for line in lines).encode()
            operation.object_count, operation.root_count = len(lines), roots
            operation.status, operation.completed_at = "COMPLETED", now
        elif operation.status == "CANCELING":
            self.prepared.pop(operation.number, None)
            operation.status, operation.completed_at = "CANCELED", now


def _connections(prepared: Prepared, selection: Any, parent: GraphQLNamedType, depth: int) -> list:
    """(depth, field, parent type has an ``id`` selected) of every connection selected."""
    found = []
    for node, _, definition in prepared.fields(selection, parent):
        if definition is None:
            continue
        kind = get_named_type(definition.type)
        if is_connection(kind):
            found.append((depth + 1, node, kind))
            for item_sel, item_type in _item_selections(prepared, node, kind):
                found += _connections(prepared, item_sel, item_type, depth + 1)
        elif is_composite_type(kind):
            found += _connections(prepared, node.selection_set, kind, depth)
    return found


def _item_selections(prepared: Prepared, node: FieldNode, kind: Any) -> list:
    edge_type = get_named_type(kind.fields["edges"].type)
    item_type = get_named_type(edge_type.fields["node"].type)
    out = []
    for f, _, _ in prepared.fields(node.selection_set, kind):
        if f.name.value == "nodes":
            out.append((f.selection_set, item_type))
        elif f.name.value == "edges":
            for g, _, _ in prepared.fields(f.selection_set, edge_type):
                if g.name.value == "node":
                    out.append((g.selection_set, item_type))
    return out


def _shape_problem(prepared: Prepared) -> str | None:
    if prepared.is_mutation:
        return "Bulk queries cannot contain mutations."
    found = _connections(prepared, prepared.operation.selection_set, prepared.root, 0)
    if not found:
        return "Bulk queries must contain at least one connection."
    if len(found) > MAX_CONNECTIONS:
        return f"Bulk queries cannot contain more than {MAX_CONNECTIONS} connections."
    if max(depth for depth, _, _ in found) > MAX_DEPTH:
        return (
            "Bulk queries cannot contain connections with a nesting depth greater than "
            f"{MAX_DEPTH}."
        )
    for depth, node, kind in found:
        if depth > 1:
            continue
        for sel, item_type in _item_selections(prepared, node, kind):
            nested = _connections(prepared, sel, item_type, 0)
            names = {f.name.value for f, _, _ in prepared.fields(sel, item_type)}
            if nested and "id" not in names:
                return (
                    "The parent 'node' field for a nested connection must select the 'id' "
                    "field without an alias and must be of 'ID' return type. Connection fields "
                    f"without 'id': {node.name.value}."
                )
    return None


def flatten(prepared: Prepared, data: Json | None) -> tuple[list[Json], int]:
    """The JSONL lines of a bulk query's result, and how many of them are root objects."""
    lines: list[Json] = []
    roots = 0
    for node, _, definition in prepared.fields(prepared.operation.selection_set, prepared.root):
        if definition is None:
            continue
        kind = get_named_type(definition.type)
        value = (data or {}).get((node.alias or node.name).value)
        if is_connection(kind):
            for sel, item_type, item in _items(prepared, node, kind, value):
                roots += 1
                _object(prepared, sel, item_type, item, None, lines)
    return lines, roots


def _items(prepared: Prepared, node: FieldNode, kind: Any, value: Any) -> list:
    if not isinstance(value, dict):
        return []
    edge_type = get_named_type(kind.fields["edges"].type)
    item_type = get_named_type(edge_type.fields["node"].type)
    for f, _, _ in prepared.fields(node.selection_set, kind):
        listed = value.get((f.alias or f.name).value)
        if f.name.value == "nodes" and isinstance(listed, list):
            return [(f.selection_set, item_type, n) for n in listed]
        if f.name.value == "edges" and isinstance(listed, list):
            for g, _, _ in prepared.fields(f.selection_set, edge_type):
                if g.name.value == "node":
                    key = (g.alias or g.name).value
                    return [(g.selection_set, item_type, e[key]) for e in listed]
    return []


def _object(
    prepared: Prepared,
    selection: Any,
    kind: Any,
    value: Json,
    parent_id: str | None,
    lines: list[Json],
) -> None:
    """``value`` as one line (nested connections cut out), then the lines of its
    connections' nodes, each with ``__parentId``."""
    line = _inline(prepared, selection, kind, value)
    if parent_id is not None:
        line["__parentId"] = parent_id
    lines.append(line)
    own_id = value.get("id") if isinstance(value.get("id"), str) else parent_id
    for node, _, definition in prepared.fields(selection, kind):
        if definition is None:
            continue
        inner = get_named_type(definition.type)
        if is_connection(inner):
            for sel, item_type, item in _items(prepared, node, inner, value.get(_key(node))):
                _object(prepared, sel, item_type, item, own_id, lines)


def _inline(prepared: Prepared, selection: Any, kind: Any, value: Any) -> Any:
    """``value`` without its connections (which become lines of their own)."""
    if not isinstance(value, dict):
        return value
    out: Json = {}
    for node, _, definition in prepared.fields(selection, kind):
        key = _key(node)
        if key not in value:
            continue
        inner = get_named_type(definition.type) if definition is not None else None
        if inner is not None and is_connection(inner):
            continue
        got = value[key]
        if inner is not None and is_composite_type(inner) and got is not None:
            if isinstance(got, list):
                got = [_inline(prepared, node.selection_set, inner, g) for g in got]
            else:
                got = _inline(prepared, node.selection_set, inner, got)
        out[key] = got
    return out


def _key(node: FieldNode) -> str:
    return (node.alias or node.name).value
