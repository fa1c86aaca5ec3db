"""``syncd schema``: the config's JSON Schema from the pydantic models and each connector's
options; the committed copy is what the models give, the sample config names it and passes
it, and it refuses what ``syncd check`` refuses of the same kind."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from syncd.plugins import get_plugin_manager
from syncd.shell.schema import builtin, schema_text

REPO = Path(__file__).resolve().parents[1]
COMMITTED = REPO / "config" / "syncd.schema.json"
SAMPLE = REPO / "config" / "syncd.yaml"


def validator() -> jsonschema.Draft202012Validator:
    schema = json.loads(COMMITTED.read_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


def test_the_committed_schema_is_what_the_models_give() -> None:
    made = schema_text(builtin(get_plugin_manager().connectors()))
    assert COMMITTED.read_text() == made, (
        "run: syncd schema --builtin --out config/syncd.schema.json"
    )


def test_the_sample_config_names_the_schema_and_passes_it() -> None:
    text = SAMPLE.read_text()
    assert text.splitlines()[0] == "# yaml-language-server: $schema=syncd.schema.json"
    errors = [e.message for e in validator().iter_errors(yaml.safe_load(text))]
    assert errors == []


def mistakes(edit: Any) -> list[str]:
    data = yaml.safe_load(SAMPLE.read_text())
    edit(data)
    return [e.message for e in validator().iter_errors(data)]


@pytest.mark.parametrize(
    ("edit", "said"),
    [
        (lambda d: d["connectors"]["crm"].update(colour="red"), "'colour' was unexpected"),
        (lambda d: d["store"].update(busy_timeout="soon"), "'soon' does not match"),
        (lambda d: d["destinations"][0].update(mode="sometimes"), "'sometimes' is not one of"),
        (lambda d: d.update(schedule={}), "'schedule' was unexpected"),
        (lambda d: d["connectors"]["esp"].update(batch_size=0), "0 is less than the minimum"),
    ],
)
def test_the_schema_refuses_a_mistake(edit: Any, said: str) -> None:
    found = mistakes(edit)
    assert any(said in m for m in found), found


def test_every_section_and_setting_is_described() -> None:
    schema = json.loads(COMMITTED.read_text())
    assert all(p.get("description") for p in schema["properties"].values())
    # a setting added without Field(description=...) in its config model fails here
    for name in (
        "StoreConfig",
        "DestinationConfig",
        "ScheduleConfig",
        "DaemonConfig",
        "UiConfig",
        "PredictConfig",
        "ConnectorInstanceConfig",
    ):
        props = schema["$defs"][name]["properties"]
        missing = [k for k, p in props.items() if not p.get("description")]
        assert not missing, (name, missing)
    # each built-in connector type's options, with the duration syntax people write
    kinds = {
        r["if"]["properties"]["type"]["const"]
        for r in schema["$defs"]["ConnectorInstanceConfig"]["allOf"]
    }
    assert kinds == {"activecampaign", "files", "hubspot", "salesmanago", "shopify"}
    assert schema["$defs"]["StoreConfig"]["properties"]["busy_timeout"]["default"] == "30s"


def test_syncd_schema_prints_and_writes_it(tmp_path: Path) -> None:
    syncd = [sys.executable, "-m", "syncd", "schema"]
    printed = subprocess.run(syncd, capture_output=True, text=True, timeout=60, check=True)
    assert json.loads(printed.stdout)["title"] == "syncd config"
    out = tmp_path / "syncd.schema.json"
    wrote = subprocess.run(
        [*syncd, "--builtin", "--out", str(out)], capture_output=True, text=True, timeout=60
    )
    assert wrote.returncode == 0, wrote.stderr
    assert out.read_text() == COMMITTED.read_text()
