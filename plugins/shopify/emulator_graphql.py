"""The emulator's GraphQL Admin API endpoint: a request is parsed and validated against the
schema of ``emulator_graphql_schema`` by graphql-core (the reference implementation, so
introspection, fragments, variables and validation behave as in any GraphQL server), its
cost counted as Shopify documents it, checked against the store's cost bucket, and executed
against the store. Errors are answered in Shopify's (graphql-ruby's) wording and shape.

Cost (https://shopify.dev/docs/api/usage/rate-limits#graphql-admin-api-rate-limits): a scalar
or enum 0, an object 1, a connection 2 plus ``first`` / ``last`` times the cost of one node,
a mutation 10. ``requestedQueryCost`` is counted from the arguments before execution and must
fit the bucket (else ``Throttled``, HTTP 200); ``actualQueryCost`` from what came back, and
that is what the bucket is charged."""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from typing import Any

from graphql import (
    DocumentNode,
    ExecutionResult,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    GraphQLNamedType,
    GraphQLObjectType,
    GraphQLSchema,
    GraphQLSyntaxError,
    InlineFragmentNode,
    OperationDefinitionNode,
    OperationType,
    SelectionSetNode,
    execute,
    get_named_type,
    is_composite_type,
    parse,
    validate,
    value_from_ast_untyped,
)

from syncd_plugins.shopify.emulator_graphql_catalog import resolve
from syncd_plugins.shopify.emulator_graphql_schema import schema

MUTATION_COST, MAX_QUERY_COST = 10, 1000
Json = dict[str, Any]


class Refused(Exception):
    """A request-wide answer in place of ``data``: ``errors`` as Shopify words them."""

    def __init__(self, errors: list[Json]) -> None:
        super().__init__(errors[0]["message"] if errors else "refused")
        self.errors = errors


@functools.lru_cache(maxsize=256)
def checked(query: str) -> DocumentNode:
    """``query`` parsed and validated against the schema, once for each text a client sends
    (a client pages with the same document): Refused when it is not a valid request."""
    try:
        document = parse(query)
    except GraphQLSyntaxError as exc:
        where = exc.locations[0] if exc.locations else None
        at = f" at [{where.line}, {where.column}]" if where else ""
        said = exc.message.removeprefix("Syntax Error: ")
        raise Refused([{"message": f"Parse error{at}: {said}", **_locations(exc)}]) from None
    errors = validate(schema(), document)
    if errors:
        raise Refused([shopify_error(e) for e in errors])
    return document


class Prepared:
    """A parsed, validated request: the operation to run and its requested cost."""

    def __init__(
        self, query: str, variables: Json, operation_name: str | None, *, bulk: bool = False
    ) -> None:
        self.schema: GraphQLSchema = schema()
        self._fields: dict[tuple[int, str], list[tuple[FieldNode, GraphQLNamedType, Any]]] = {}
        self.document: DocumentNode = checked(query)
        operations = [
            d for d in self.document.definitions if isinstance(d, OperationDefinitionNode)
        ]
        named = [o for o in operations if o.name and o.name.value == operation_name]
        if operation_name and not named:
            raise Refused([{"message": f'No operation named "{operation_name}"'}])
        if not operation_name and len(operations) > 1:
            message = "An operation name is required when sending multiple operations."
            raise Refused([{"message": message}])
        self.operation = named[0] if operation_name else operations[0]
        self.operation_name = operation_name
        self.fragments = {
            d.name.value: d
            for d in self.document.definitions
            if isinstance(d, FragmentDefinitionNode)
        }
        self.variables = dict(variables)
        self.arguments = self._defaults(variables)
        self.is_mutation = self.operation.operation == OperationType.MUTATION
        root = self.schema.mutation_type if self.is_mutation else self.schema.query_type
        assert root is not None
        self.root: GraphQLObjectType = root
        self.bulk = bulk
        self.requested = self.cost(self.operation.selection_set, root, None)

    def _defaults(self, given: Json) -> Json:
        """The variables with the operation's defaults filled in (for counting the cost)."""
        out = dict(given)
        for definition in self.operation.variable_definitions or ():
            name = definition.variable.name.value
            if out.get(name) is None and definition.default_value is not None:
                out[name] = value_from_ast_untyped(definition.default_value)
        return out

    def run(self, root_value: Json, context: Any) -> ExecutionResult:
        result = execute(
            self.schema,
            self.document,
            root_value=root_value,
            context_value=context,
            variable_values=self.variables,
            operation_name=self.operation_name,
            field_resolver=resolve,
        )
        assert isinstance(result, ExecutionResult)
        return result

    # --- cost ---------------------------------------------------------------------------

    def fields(
        self, selection: SelectionSetNode | None, parent: GraphQLNamedType
    ) -> list[tuple[FieldNode, GraphQLNamedType, Any]]:
        """The fields of ``selection`` as (node, parent type, field definition), fragments
        whose type condition is another type than ``parent`` taken too (for an interface)."""
        memo = (id(selection), parent.name)
        if memo in self._fields:
            return self._fields[memo]
        found: list[tuple[FieldNode, GraphQLNamedType, Any]] = []
        for part in selection.selections if selection else ():
            if isinstance(part, FieldNode):
                definition = getattr(parent, "fields", {}).get(part.name.value)
                found.append((part, parent, definition))
                continue
            fragment: Any = part
            if isinstance(part, FragmentSpreadNode):
                fragment = self.fragments.get(part.name.value)
                if fragment is None:
                    continue
            condition = getattr(fragment, "type_condition", None)
            kind = self.schema.get_type(condition.name.value) if condition else parent
            if kind is not None and isinstance(
                fragment, InlineFragmentNode | FragmentDefinitionNode
            ):
                found += self.fields(fragment.selection_set, kind)
        self._fields[memo] = found
        return found

    def argument(self, node: FieldNode, name: str) -> Any:
        for argument in node.arguments or ():
            if argument.name.value == name:
                return value_from_ast_untyped(argument.value, self.arguments)
        return None

    def cost(self, selection: SelectionSetNode | None, parent: GraphQLNamedType, data: Any) -> int:
        """The cost of ``selection`` on ``parent``: requested when ``data`` is None, else
        actual, from the ``data`` that came back."""
        if parent is self.root and self.is_mutation:
            return MUTATION_COST * sum(1 for _ in self.fields(selection, parent))
        by_type: dict[str, int] = {}
        for node, owner, definition in self.fields(selection, parent):
            if definition is None:
                continue  # __typename and the introspection fields cost nothing
            kind = get_named_type(definition.type)
            key = (node.alias or node.name).value
            if isinstance(data, dict) and key not in data:
                continue  # a fragment for another type than the object returned
            value = data.get(key) if isinstance(data, dict) else None
            one = self._field_cost(node, kind, definition, value, data is not None)
            by_type[owner.name] = by_type.get(owner.name, 0) + one
        common = by_type.pop(parent.name, 0)
        return common + max(by_type.values(), default=0)

    def _field_cost(
        self, node: FieldNode, kind: GraphQLNamedType, definition: Any, value: Any, actual: bool
    ) -> int:
        if not is_composite_type(kind):
            return 0
        if is_connection(kind):
            edges: Any = get_named_type(kind.fields["edges"].type)  # type: ignore[union-attr]
            item = get_named_type(edges.fields["node"].type)
            parts = {
                (f.alias or f.name).value: f for f, _, _ in self.fields(node.selection_set, kind)
            }
            if actual:
                items = _connection_items(value, parts)
                return 2 + sum(1 + self.cost(sel, item, one) for sel, one in items)
            size = self.argument(node, "first")
            size = self.argument(node, "last") if size is None else size
            each = 0
            for f in parts.values():
                if f.name.value == "nodes":
                    each = max(each, 1 + self.cost(f.selection_set, item, None))
                elif f.name.value == "edges":
                    for g, _, _ in self.fields(f.selection_set, edges):
                        if g.name.value == "node":
                            each = max(each, 1 + self.cost(g.selection_set, item, None))
            return 2 + int(size or 0) * each
        if actual and value is None:
            return 1
        if actual and isinstance(value, list):  # a list of objects: each what it holds
            return 1 + sum(self.cost(node.selection_set, kind, v) for v in value)
        return 1 + self.cost(node.selection_set, kind, value if actual else None)


def is_connection(kind: Any) -> bool:
    return isinstance(kind, GraphQLObjectType) and kind.name.endswith("Connection")


def _connection_items(value: Any, parts: dict[str, FieldNode]) -> list[tuple[Any, Any]]:
    """(selection, object) for each node a connection returned (edges or nodes, the longer)."""
    if not isinstance(value, dict):
        return []
    best: list[tuple[Any, Any]] = []
    for key, f in parts.items():
        listed = value.get(key)
        if not isinstance(listed, list):
            continue
        if f.name.value == "nodes":
            items = [(f.selection_set, n) for n in listed]
        elif f.name.value == "edges":
            inner = [g for g in (f.selection_set.selections if f.selection_set else ())]
            node = next(
                (g for g in inner if isinstance(g, FieldNode) and g.name.value == "node"), None
            )
            if node is None:
                items = [(None, None) for _ in listed]
            else:
                key_ = (node.alias or node.name).value
                items = [(node.selection_set, e.get(key_)) for e in listed if isinstance(e, dict)]
        else:
            continue
        if len(items) > len(best):
            best = items
    return best


# --- errors in Shopify's words --------------------------------------------------------------

_RULES: list[tuple[re.Pattern[str], Callable[[re.Match[str]], Json]]] = [
    (
        re.compile(r"Cannot query field '(\w+)' on type '(\w+)'"),
        lambda m: {
            "message": f"Field '{m[1]}' doesn't exist on type '{m[2]}'",
            "extensions": {"code": "undefinedField", "typeName": m[2], "fieldName": m[1]},
        },
    ),
    (
        re.compile(r"Unknown argument '(\w+)' on field '\w+\.(\w+)'"),
        lambda m: {
            "message": f"Field '{m[2]}' doesn't accept argument '{m[1]}'",
            "extensions": {
                "code": "argumentNotAccepted",
                "name": m[2],
                "typeName": "Field",
                "argumentName": m[1],
            },
        },
    ),
    (  # graphql-core 3.2, then 3.3
        re.compile(
            r"Field '(\w+)' argument '(\w+)' of type '.*' is required"
            r"|Argument '\w+\.(\w+)\((\w+):\)' of type '.*' is required"
        ),
        lambda m: {
            "message": f"Field '{m[1] or m[3]}' is missing required arguments: {m[2] or m[4]}",
            "extensions": {
                "code": "missingRequiredArguments",
                "className": "Field",
                "name": m[1] or m[3],
                "arguments": m[2] or m[4],
            },
        },
    ),
    (
        re.compile(r"Variable '\$(\w+)' is not defined(?: by operation '(\w+)')?"),
        lambda m: {
            "message": f"Variable ${m[1]} is used by {m[2] or 'anonymous query'} but not declared",
            "extensions": {"code": "variableNotDefined", "variableName": m[1]},
        },
    ),
    (
        re.compile(r"Field '(\w+)' of type '(.+)' must have a selection of subfields"),
        lambda m: {
            "message": f"Field must have selections (field '{m[1]}' returns "
            f"{m[2].strip('[]!')} but has no selections. Did you mean '{m[1]} {{ ... }}'?)",
            "extensions": {"code": "selectionMismatch", "nodeName": f"field '{m[1]}'"},
        },
    ),
    (
        re.compile(r"Variable '\$(\w+)' of (?:required )?type '([^']+)'"),
        lambda m: {
            "message": f"Variable ${m[1]} of type {m[2]} was provided invalid value",
            "extensions": {"value": None, "problems": [{"path": [], "explanation": m[0]}]},
        },
    ),
]


def shopify_error(error: GraphQLError) -> Json:
    """A graphql-core error as graphql-ruby (so Shopify) words and shapes it."""
    out: Json = {"message": error.message}
    for pattern, shape in _RULES:
        match = pattern.search(error.message)
        if match:
            out = shape(match)
            break
    out.update(_locations(error))
    if error.path:
        out["path"] = list(error.path)
    if error.extensions and "extensions" not in out:
        out["extensions"] = dict(error.extensions)
    return {k: out[k] for k in ("message", "locations", "path", "extensions") if k in out}


def _locations(error: GraphQLError) -> Json:
    if not error.locations:
        return {}
    return {"locations": [{"line": loc.line, "column": loc.column} for loc in error.locations]}
