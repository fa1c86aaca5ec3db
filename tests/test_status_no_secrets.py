"""Commands that open no connector need no secret: ``status``, ``errors``, ``segments
list/show/explain``, ``plan --no-pull`` and ``check`` run, through the real process with an
empty environment, on a config whose connectors name ``${...}`` secrets not set; a command that
opens a connector says which variable it lacks, where, in one line."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from syncd.cli import main

from .conftest import SAMPLE_NOW

VENDORS = """
  ac:                         # a tool whose token is not in this environment
    type: activecampaign
    url: https://example.api-us1.com
    token: ${AC_TOKEN}
  shopify:                    # even its shop's name comes from the environment
    type: shopify
    shop: ${SHOPIFY_SHOP}
    access_token: ${SHOPIFY_ACCESS_TOKEN}
"""


@pytest.fixture
def synced(sample_dir: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """The sample config synced into a SQLite store, then given two vendor instances whose
    secrets are not set."""
    config = sample_dir / "syncd.yaml"
    monkeypatch.setenv("SYNCD_NOW", SAMPLE_NOW)
    monkeypatch.delenv("SYNCD_STORE_URL", raising=False)
    monkeypatch.delenv("SYNCD_CONFIG", raising=False)
    assert main(["--config", str(config), "sync"]) == 0
    text = config.read_text().replace("\nconnectors:\n", "\nconnectors:" + VENDORS, 1)
    config.write_text(text)
    return config


def bare(config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """``syncd`` in an environment with nothing but the clock it is told."""
    return subprocess.run(
        [sys.executable, "-m", "syncd", "--config", str(config), *args],
        env={"SYNCD_NOW": SAMPLE_NOW},
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.parametrize(
    "args",
    [
        ["status"],
        ["status", "--json"],
        ["errors"],
        ["segments", "list"],
        ["segments", "show", "loyal_customers"],
        ["segments", "explain", "loyal_customers", "--contact", "ada.lovelace@example.com"],
        ["plan", "--no-pull"],
    ],
)
def test_read_only_commands_run_without_the_connectors_secrets(
    synced: Path, args: list[str]
) -> None:
    done = bare(synced, *args)
    assert done.returncode == 0, done.stderr
    # nothing asked for: no error line (a compute's progress lines may come on stderr)
    assert "not set" not in done.stderr and "error" not in done.stderr.lower()
    assert "AC_TOKEN" not in done.stdout


def test_the_read_only_answers_are_the_real_ones(synced: Path) -> None:
    listed = json.loads(bare(synced, "--json", "segments", "list").stdout)
    sizes = {s["name"]: s["size"] for s in listed["segments"]}
    assert sizes["loyal_customers"] and sizes["loyal_customers"] > 0
    explained = bare(
        synced, "segments", "explain", "loyal_customers", "--contact", "ada.lovelace@example.com"
    )
    assert explained.stdout.startswith("ada.lovelace@example.com is in segment loyal_customers")
    planned = bare(synced, "plan", "--no-pull")
    assert "planned on the stored data: last pulled" in planned.stdout


def test_check_says_valid_and_names_what_is_not_set(synced: Path) -> None:
    done = bare(synced, "check")
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].startswith(f"{synced}: valid — 5 connector instances, ")
    text = synced.read_text().splitlines()
    line = next(i for i, t in enumerate(text, 1) if "${AC_TOKEN}" in t)
    assert (
        f"  not set here (needed when the connector opens): {synced}:{line}: "
        "connectors.ac.token: environment variable AC_TOKEN is not set"
    ) in lines
    assert sum("not set here" in x for x in lines) == 3


@pytest.mark.parametrize("args", [["check", "--connect"], ["pull"], ["plan"], ["sync"]])
def test_a_command_that_opens_connectors_names_the_variable_it_lacks(
    synced: Path, args: list[str]
) -> None:
    done = bare(synced, *args)
    assert done.returncode == 2, done.stdout
    line = next(i for i, t in enumerate(synced.read_text().splitlines(), 1) if "${AC_TOKEN}" in t)
    assert done.stderr == (
        f"{synced}:{line}: connectors.ac.token: environment variable AC_TOKEN is not set\n"
    )


def test_plan_on_stored_data_needs_no_secret_of_a_destination(synced: Path) -> None:
    # a destination whose every option comes from the environment: its options cannot even
    # be read here, yet what it takes (tags) is known and the plan is made on the store
    text = synced.read_text().replace("url: https://example.api-us1.com", "url: ${AC_URL}")
    text = text.replace(
        "\ndestinations:\n",
        "\ndestinations:\n  - connector: ac\n    tags:\n      loyal_customers: LOYAL\n",
        1,
    )
    synced.write_text(text)
    done = bare(synced, "plan", "--no-pull")
    assert done.returncode == 0, done.stderr
    assert "not set" not in done.stderr
    out = done.stdout
    assert "ac: 2 changes — +2\n  tag LOYAL  (+2)\n" in out
    assert "    + ada.lovelace@example.com\n    + alan@example.net\n" in out
    assert "esp: no changes" in out
    sent = bare(synced, "push")  # sending to it still needs what it lacks, said in one line
    assert sent.returncode == 2
    assert sent.stderr.count("\n") == 1 and sent.stderr.endswith(" is not set\n")
