"""``syncd schema``: a JSON Schema of the config, generated from its pydantic models and each
connector type's options model, with a description for each section and setting. Editors with
a YAML language server complete and validate a config that names it on its first line::

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

# (model, field) -> what it means; a model's own docstring describes the model
DESCRIPTIONS: dict[tuple[str, str], str] = {
    ("Config", "store"): "Where syncd keeps its copy of the data, the outbox and its runs.",
    ("Config", "plugins_dir"): "A folder of plugin files (*.py) loaded beside the installed ones, "
    "relative to this file.",
    ("Config", "precedence"): "Source instances, strongest first: when two know a field, the "
    "first wins.",
    ("Config", "connectors"): "Connector instances by name: each a `type` and that connector's "
    "options. Secrets as ${ENV_VAR}.",
    ("Config", "include"): "Files or folders of segments, scores and fields merged into this "
    "config (relative to this file).",
    ("Config", "fields"): "Contact fields beyond the connectors' own, with their type.",
    ("Config", "event_types"): "Event types beyond the built-in ones.",
    ("Config", "segments"): "Segments by name: each a rule (see docs/segments.md).",
    ("Config", "scores"): "Scores by name: points per event or field, with a decay.",
    ("Config", "destinations"): "The connector instances that receive tags, lists and fields "
    "computed from the segments.",
    ("Config", "schedules"): "The jobs `syncd run` runs, by name: `every:` an interval or "
    "`cron:` times.",
    ("Config", "daemon"): "How `syncd run` serves health, catches up, stops and judges readiness.",
    ("Config", "ui"): "The status page.",
    ("Config", "predict"): "Predicted orders and value per contact (the `predicted:` rule).",
    ("PredictConfig", "horizon"): "The window expected orders and predicted value are counted "
    "over, from now.",
    ("PredictConfig", "every"): "The model is fitted again once this long has passed since the "
    "last fit (or with --full).",
    ("StoreConfig", "url"): "An SQLAlchemy URL: sqlite:///relative/path.db (from this file's "
    "folder) or postgresql+psycopg://user@host/db. SYNCD_STORE_URL overrides it.",
    ("StoreConfig", "busy_timeout"): "On SQLite, how long a command waits for another syncd "
    "writing the same file (at most 1h).",
    ("StoreConfig", "outbox_retention"): "How long the outbox keeps a change done or superseded "
    "(one failed for good stays).",
    ("StoreConfig", "history_retention"): "How long each compute's segment sizes are kept.",
    ("ConnectorInstanceConfig", "type"): "The connector type (`syncd plugins` lists them).",
    ("ConnectorInstanceConfig", "skip_events"): "Event types this instance reports that syncd "
    "should not count (copies of another source's).",
    ("DestinationConfig", "connector"): "The connector instance that receives the changes.",
    ("DestinationConfig", "mode"): "managed: syncd adds and removes what it manages; mirror: "
    "the destination is made to match; add_only: never removes.",
    ("DestinationConfig", "max_removals"): "At most this many removals a cycle before the plan "
    'is held for `syncd push --confirm`: a number, or a share such as "10%".',
    ("DestinationConfig", "min_removals"): "A share never holds fewer removals than this.",
    ("DestinationConfig", "tags"): "segment -> the tag its members get.",
    ("DestinationConfig", "lists"): "segment -> the list its members are subscribed to.",
    ("DestinationConfig", "fields"): "remote field -> a contact field, {score: NAME} or "
    "{rfm: class|r|f|m|score}.",
    ("ScheduleConfig", "run"): "sync (a whole cycle), pull, compute or push.",
    ("ScheduleConfig", "every"): "Runs at start and then at this interval.",
    ("ScheduleConfig", "cron"): "Runs at these times (five crontab fields) in `timezone`.",
    ("ScheduleConfig", "timezone"): "The time zone of `cron`, e.g. Europe/Warsaw.",
    ("ScheduleConfig", "jitter"): "A random delay of up to this, so replicas do not fire together.",
    ("ScheduleConfig", "connectors"): "For run: pull, the instances to pull (all when none).",
    ("ScheduleConfig", "destinations"): "For run: push, the destinations to push (all when none).",
    ("DaemonConfig", "health"): "HOST:PORT of /healthz, /readyz and /metrics; port 0 takes a "
    "free port; off serves none.",
    ("DaemonConfig", "misfire_grace"): "A run missed by less than this (syncd was busy) still "
    "runs, once.",
    ("DaemonConfig", "shutdown_timeout"): "On SIGTERM, how long the batch in flight may take.",
    ("DaemonConfig", "ready_within"): "/readyz fails when no schedule finished ok for this long.",
    ("DaemonConfig", "ui_token"): "The status page's token, needed when daemon.health listens "
    "off loopback (docs/ui.md). Write it as ${ENV_VAR}.",
    ("UiConfig", "enabled"): "Serve the status page beside the health endpoints.",
    ("UiConfig", "mask_emails"): "Show contacts' e-mail addresses masked on the status page.",
}


def config_schema(connectors: dict[str, type[Connector]]) -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of a config, with ``connectors``' options."""
    schema = Config.model_json_schema(mode="validation")
    defs: dict[str, Any] = schema.setdefault("$defs", {})
    _describe("Config", schema)
    for name, model in defs.items():
        _describe(name, model)
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


def _describe(model: str, schema: dict[str, Any]) -> None:
    for field, prop in schema.get("properties", {}).items():
        text = DESCRIPTIONS.get((model, field))
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
