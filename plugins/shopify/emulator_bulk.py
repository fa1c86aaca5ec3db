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
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from graphql import (
    FieldNode,
    GraphQLNamedType,
    GraphQLObjectType,
    get_named_type,
    is_composite_type,
    value_from_ast_untyped,
)

from syncd_plugins.shopify.emulator_graphql import Prepared, Refused, is_connection
from syncd_plugins.shopify.emulator_graphql_catalog import NOTHING, fallback
from syncd_plugins.shopify.emulator_graphql_read import gid, utc
from syncd_plugins.shopify.emulator_state import stamp

Json = dict[str, Any]
MAX_CONNECTIONS, MAX_DEPTH = 5, 2
BASE = 4_412_110_000
WAIT = 3.0  # seconds a poll waits for a running operation's work before answering RUNNING
Runner = Callable[[Prepared], tuple[list[dict[str, Any]], int]]


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
    error: str | None = None

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
            "errorCode": self.error if self.status == "FAILED" else None,
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
        self.workers: dict[int, threading.Thread] = {}

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

    def begin(self, operation: BulkOperation, run: Runner) -> None:
        """Start the work of ``operation`` in a thread of its own (a poll never waits for a
        large shop): ``run(prepared)`` answers the JSONL lines and how many are roots."""
        prepared = self.prepared.pop(operation.number)

        def work() -> None:
            try:
                lines, roots = run(prepared)
                encode = json.JSONEncoder(separators=(",", ":")).encode  # one for all lines
                text = "".join(encode(line) + "\n" for line in lines)
                operation.lines = text.encode()
                operation.object_count, operation.root_count = len(lines), roots
            except Exception:  # the operation fails as Shopify's would, with its error code
                operation.error = "INTERNAL_SERVER_ERROR"

        worker = threading.Thread(target=work, name=f"bulk-{operation.number}", daemon=True)
        self.workers[operation.number] = worker
        worker.start()

    def advance(self, operation: BulkOperation, now: datetime) -> None:
        """One step on at each read: CREATED → RUNNING → COMPLETED (once its work is done;
        a read waits for it a moment), CANCELING → CANCELED."""
        if operation.status == "CREATED":
            operation.status = "RUNNING"
        elif operation.status == "RUNNING":
            worker = self.workers.get(operation.number)
            if worker is not None:
                worker.join(WAIT)
                if worker.is_alive():
                    return
                del self.workers[operation.number]
            failed = operation.error is not None
            operation.status = "FAILED" if failed else "COMPLETED"
            operation.completed_at = now
        elif operation.status == "CANCELING":
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


class _Info:
    """What the store's resolvers read of graphql-core's ``info``: the context."""

    def __init__(self, context: Any) -> None:
        self.context = context


def collect(prepared: Prepared, roots: Json, context: Any) -> tuple[list[Json], int]:
    """A bulk query run over the store straight from the validated document (graphql-core's
    executor would take minutes for a large shop): the JSONL lines, and how many are roots.
    Each object is a line, its nested connections cut out and their nodes on lines of their
    own after it, with ``__parentId``."""
    info = _Info(context)
    lines: list[Json] = []
    count = 0
    try:
        count = _collect(prepared, roots, info, lines)
    finally:
        _PLANS.pop(id(prepared), None)
    return lines, count


def _collect(prepared: Prepared, roots: Json, info: _Info, lines: list[Json]) -> int:
    count = 0
    for node, _, definition in prepared.fields(prepared.operation.selection_set, prepared.root):
        if definition is None:
            continue
        kind = get_named_type(definition.type)
        if not is_connection(kind):
            continue
        value = roots[node.name.value](info, **_arguments(prepared, node))
        for sel, item_type, item in _items(prepared, node, kind, value):
            count += 1
            _emit(prepared, sel, item_type, item, None, lines, info)
    return count


def _arguments(prepared: Prepared, node: FieldNode) -> Json:
    return {
        a.name.value: value_from_ast_untyped(a.value, prepared.arguments)
        for a in node.arguments or ()
    }


def _items(prepared: Prepared, node: FieldNode, kind: Any, value: Any) -> list:
    if not isinstance(value, dict):
        return []
    edge_type = get_named_type(kind.fields["edges"].type)
    item_type = get_named_type(edge_type.fields["node"].type)
    for f, _, _ in prepared.fields(node.selection_set, kind):
        if f.name.value == "nodes":
            return [(f.selection_set, item_type, n) for n in value["nodes"]]
        if f.name.value == "edges":
            for g, _, _ in prepared.fields(f.selection_set, edge_type):
                if g.name.value == "node":
                    return [(g.selection_set, item_type, e["node"]) for e in value["edges"]]
    return []


def _emit(
    prepared: Prepared,
    selection: Any,
    kind: Any,
    value: Json,
    parent_id: str | None,
    lines: list[Json],
    info: _Info,
) -> None:
    """``value`` as one line, then the lines of the nodes of its connections."""
    nested: list[tuple[FieldNode, Any, Any]] = []
    line = _project(prepared, selection, kind, value, nested, info)
    if parent_id is not None:
        line["__parentId"] = parent_id
    lines.append(line)
    own = value.get("id") if isinstance(value.get("id"), str) else parent_id
    for node, inner, got in nested:
        for sel, item_type, item in _items(prepared, node, inner, got):
            _emit(prepared, sel, item_type, item, own, lines, info)


def _plan(prepared: Prepared, selection: Any, kind: Any) -> list[tuple]:
    """What to do with each selected field of ``kind``, worked out once per selection:
    (owner type name or None, name, key, what, inner type, field node, arguments)."""
    memo = (id(selection), kind.name)
    found = _PLANS.setdefault(id(prepared), {}).get(memo)
    if found is not None:
        return found
    plan: list[tuple[Any, ...]] = []
    for node, owner, definition in prepared.fields(selection, kind):
        only = owner.name if owner is not kind and not _is_abstract(owner) else None
        if definition is None:
            if node.name.value == "__typename":
                plan.append((only, "__typename", _key(node), "typename", None, node, None, None))
            continue
        inner = get_named_type(definition.type)
        what = (
            "connection"
            if is_connection(inner)
            else "object"
            if is_composite_type(inner)
            else "leaf"
        )
        plan.append(
            (
                only,
                node.name.value,
                _key(node),
                what,
                inner,
                node,
                _arguments(prepared, node),
                definition.type,
            )
        )
    _PLANS[id(prepared)][memo] = plan
    return plan


_PLANS: dict[int, dict[tuple[int, str], list[tuple]]] = {}


def _project(
    prepared: Prepared,
    selection: Any,
    kind: Any,
    value: Json,
    nested: list[tuple[FieldNode, Any, Any]],
    info: _Info,
) -> Json:
    """The selected fields of ``value`` (a rendered object), connections set aside."""
    out: Json = {}
    typename = value.get("__typename") or kind.name
    for only, name, key, what, inner, node, args, field_type in _plan(prepared, selection, kind):
        if only is not None and only != typename:
            continue  # a fragment on another type
        if what == "typename":
            out[key] = typename
            continue
        if name in value:
            got = value[name]
            if callable(got):
                got = got(info, **args)
        else:
            got = fallback(field_type)
            got = None if got is NOTHING else got
        if what == "leaf" or got is None:
            out[key] = got
        elif what == "connection":
            nested.append((node, inner, got))
        elif isinstance(got, list):
            sel = node.selection_set
            out[key] = [_project(prepared, sel, inner, g, nested, info) for g in got]
        else:
            out[key] = _project(prepared, node.selection_set, inner, got, nested, info)
    return out


def _is_abstract(kind: Any) -> bool:
    return not isinstance(kind, GraphQLObjectType)


def _key(node: FieldNode) -> str:
    return (node.alias or node.name).value
