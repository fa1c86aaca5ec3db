"""``syncd schema``: a JSON Schema of the config, generated from its pydantic models and each
connector type's options model; each section and setting is described by its model's
``Field(description=...)``. Editors with a YAML language server complete and validate a config
that names it on its first line::

    # yaml-language-server: $schema=syncd.schema.json

The committed copy (config/syncd.schema.json) is made with the built-in connectors only
(``syncd schema --builtin``); a test keeps it equal to what the models give.
"""

from __future__ import annotations

import json
from typing import Any

from syncd.config import Config
from syncd.connectors.contract import Connector

SCHEMA_ID = "https://syncd.invalid/syncd.schema.json"  # a name, never fetched
# the duration syntax of syncd.duration (90s, 15m, 6h, 30d, 2w)
DURATION = {
    "type": "string",
    "pattern": r"^\s*\d{1,12}(\.\d{1,9})?\s*[smhdw]\s*$",
    "examples": ["90s", "15m", "6h", "30d", "2w"],
}
UNITS = (("w", 604800), ("d", 86400), ("h", 3600), ("m", 60), ("s", 1))


def config_schema(connectors: dict[str, type[Connector]]) -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of a config, with ``connectors``' options."""
    schema = Config.model_json_schema(mode="validation")
    defs: dict[str, Any] = schema.setdefault("$defs", {})
    _describe(schema)
    for model in defs.values():
        _describe(model)
    _durations(schema)
    instance = defs["ConnectorInstanceConfig"]
    instance["properties"]["type"]["examples"] = sorted(connectors)
    rules = []
    for kind, cls in sorted(connectors.items()):
        options = _options(kind, cls, defs)
        rules.append({"if": {"properties": {"type": {"const": kind}}}, "then": options})
    if rules:
        instance["allOf"] = rules
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": SCHEMA_ID,
        **schema,
        "title": "syncd config",
        "description": "The YAML config of syncd (the README § Configuration): connectors, "
        "segments, destinations and schedules.",
    }


def _options(kind: str, cls: type[Connector], defs: dict[str, Any]) -> dict[str, Any]:
    """The options of connector type ``kind``, beside ``type`` and ``skip_events``; the
    models it refers to go to ``defs`` under a name of their own."""
    prefix = f"{kind}_"
    options = cls.Options.model_json_schema(
        mode="validation", ref_template="#/$defs/" + prefix + "{model}"
    )
    for name, model in options.pop("$defs", {}).items():
        defs[prefix + name] = model
    options["properties"] = {
        "type": {"const": kind},
        "skip_events": {"type": "array", "items": {"type": "string"}},
        **options.get("properties", {}),
    }
    options["additionalProperties"] = False
    doc = (cls.__doc__ or "").strip().split("\n\n")[0]
    options["description"] = " ".join(doc.split()) or f"The {kind} connector's options."
    options.pop("title", None)
    return options


def _describe(schema: dict[str, Any]) -> None:
    """Each setting's ``Field(description=...)`` last among its keys, and no title."""
    for prop in schema.get("properties", {}).values():
        text = prop.pop("description", None)
        if text:
            prop["description"] = text
        prop.pop("title", None)
    if "description" in schema:
        schema["description"] = " ".join(schema["description"].replace("``", "`").split())


def _durations(node: Any) -> None:
    """pydantic writes a timedelta as an ISO 8601 duration; syncd's config writes ``15m``."""
    if isinstance(node, dict):
        for key, value in list(node.items()):
            if isinstance(value, dict) and value.get("format") == "duration":
                node[key] = _duration(value)
            else:
                _durations(value)
    elif isinstance(node, list):
        for i, value in enumerate(node):
            if isinstance(value, dict) and value.get("format") == "duration":
                node[i] = _duration(value)
            else:
                _durations(value)


def _duration(prop: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {**DURATION}
    if "description" in prop:
        out["description"] = prop["description"]
    if isinstance(prop.get("default"), str):
        out["default"] = _text(prop["default"])
    return out


def _text(iso: str) -> str:
    """``PT30S`` → ``30s``, ``P7D`` → ``7d``: pydantic's default in syncd's words."""
    from datetime import timedelta

    from pydantic import TypeAdapter

    seconds = int(TypeAdapter(timedelta).validate_python(iso).total_seconds())
    for unit, size in UNITS:
        if seconds and seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def builtin(connectors: dict[str, type[Connector]]) -> dict[str, type[Connector]]:
    """The connectors syncd ships (syncd_plugins), as the committed schema has them."""
    return {k: c for k, c in connectors.items() if c.__module__.startswith("syncd_plugins.")}


def schema_text(connectors: dict[str, type[Connector]]) -> str:
    return json.dumps(config_schema(connectors), indent=2, sort_keys=False) + "\n"
