"""``syncd init`` through the real process: a commented config with ${ENV} secrets for the
tools named (by flags or answers to its questions), never over an existing file without
--force, then ``check`` on it (``check --connect`` when asked); the config passes ``check``
and the JSON Schema."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import jsonschema
import yaml

ALL = "shopify,hubspot,activecampaign,salesmanago"


def syncd(*args: str, cwd: Path, stdin: str = "") -> subprocess.CompletedProcess[str]:
    """``syncd`` in an empty environment (no secret set)."""
    return subprocess.run(
        [sys.executable, "-m", "syncd", *args],
        cwd=cwd,
        env={},
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_flags_write_a_commented_config_that_passes_check(tmp_path: Path) -> None:
    out = tmp_path / "etc" / "syncd.yaml"
    done = syncd("init", "--tools", ALL, "--store", "sqlite:///var/syncd.db", "--out", str(out),
                 "--yes", cwd=tmp_path)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
    text = out.read_text()
    assert text.startswith("# yaml-language-server: $schema=syncd.schema.json\n# syncd's config")
    for secret in ("SHOPIFY_ACCESS_TOKEN", "HUBSPOT_TOKEN", "AC_TOKEN", "SM_API_SECRET"):
        assert f"${{{secret}}}" in text
    data = yaml.safe_load(text)
    assert {n: c["type"] for n, c in data["connectors"].items()} == {
        "shop": "shopify", "hubspot": "hubspot", "ac": "activecampaign", "sm": "salesmanago",
    }  # fmt: skip
    assert [d["connector"] for d in data["destinations"]] == ["hubspot", "ac", "sm"]
    assert data["store"]["url"] == "sqlite:///var/syncd.db"
    lines = done.stdout.splitlines()
    assert lines[0] == f"wrote {out} (shopify, hubspot, activecampaign, salesmanago) and " + str(
        out.parent / "syncd.schema.json"
    )
    assert lines[1].startswith("set these in the environment (or an EnvironmentFile): SHOPIFY_SHOP")
    assert lines[2] == f"$ syncd --config {out} check"
    assert (
        lines[3] == f"{out}: valid — 4 connector instances, 3 segments, 3 destinations, 1 schedules"
    )
    # the config passes check on its own, and the schema written beside it
    again = syncd("--config", str(out), "check", cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    schema = json.loads((out.parent / "syncd.schema.json").read_text())
    assert list(jsonschema.Draft202012Validator(schema).iter_errors(data)) == []


def test_an_existing_config_is_kept_without_force(tmp_path: Path) -> None:
    out = tmp_path / "syncd.yaml"
    out.write_text("# mine\n")
    done = syncd("init", "--tools", "hubspot", "--out", str(out), "--yes", cwd=tmp_path)
    assert done.returncode == 2
    assert done.stderr == f"{out} exists; syncd init --force writes over it\n"
    assert out.read_text() == "# mine\n"
    forced = syncd("init", "--tools", "hubspot", "--out", str(out), "--yes", "--force",
                   cwd=tmp_path)  # fmt: skip
    assert forced.returncode == 0, forced.stderr
    assert "type: hubspot" in out.read_text()


def test_it_asks_when_not_told(tmp_path: Path) -> None:
    done = syncd("init", cwd=tmp_path, stdin="activecampaign, shopify\n\nmy.yaml\n")
    assert done.returncode == 0, done.stderr
    assert "Tools to connect (activecampaign, hubspot, salesmanago, shopify)" in done.stdout
    data = yaml.safe_load((tmp_path / "my.yaml").read_text())
    assert list(data["connectors"]) == ["ac", "shop"]
    assert data["store"]["url"] == "sqlite:///syncd.db"


def test_an_unknown_tool_is_one_line(tmp_path: Path) -> None:
    done = syncd("init", "--tools", "hubspt", "--yes", cwd=tmp_path)
    assert (done.returncode, done.stderr) == (
        2,
        "--tools: unknown tool 'hubspt'; did you mean 'hubspot'?\n",
    )
    assert not (tmp_path / "syncd.yaml").exists()


def test_connect_runs_check_connect_which_names_the_secret_missing(tmp_path: Path) -> None:
    done = syncd("init", "--tools", "hubspot", "--yes", "--connect", cwd=tmp_path)
    assert done.returncode == 2
    assert "$ syncd --config syncd.yaml check --connect" in done.stdout
    assert done.stderr == (
        "syncd.yaml:12: connectors.hubspot.token: environment variable HUBSPOT_TOKEN is not set\n"
    )
