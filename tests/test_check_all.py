"""``syncd check`` says every mistake of a config in one run, each as ``file:line: path:
what``, in the order of the file; a plugin that failed to import is named where its type is
used, and named as failed when nothing uses it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

CRM = "    contacts: samples/crm_contacts.csv\n"
SEVEN = [
    ("  # busy_timeout: 30s ", "  busy_timeout: soon\n  # busy_timeout: 30s "),
    ("    type: files\n    contacts: samples/shop", "    type: filez\n    contacts: samples/shop"),
    (CRM, CRM + "    colour: red\n"),
    ("precedence: [crm, shop]", "precedence: [crm, shop, erp]"),
    ("  vip:              {tag: VIP}", "  vip:              {tagg: VIP}"),
    ("      annas_leads: ANNA\n", "      annas_leads: ANNA\n      loyal: LOYAL2\n"),
    ("{run: sync, every: 15m}", "{run: sync, every: 15 minutes please}"),
]  # fmt: skip


def line_of(text: str, marker: str) -> int:
    return next(i for i, line in enumerate(text.splitlines(), 1) if marker in line)


def check(config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "syncd", "--config", str(config), "check", *args],
        env={"SYNCD_NOW": "2026-11-20T12:00:00Z"},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_seven_mistakes_are_seven_lines_in_one_run(sample_dir: Path) -> None:
    config = sample_dir / "syncd.yaml"
    text = config.read_text()
    for old, new in SEVEN:
        assert old in text, old
        text = text.replace(old, new, 1)
    config.write_text(text)
    done = check(config)
    assert done.returncode == 2, done.stdout
    assert done.stdout == ""
    lines = done.stderr.splitlines()
    at = f"{config}:"
    expected = [
        (line_of(text, "busy_timeout: soon"), "store.busy_timeout: "),
        (line_of(text, "type: filez"), "connectors.shop.type: unknown connector type 'filez'"),
        (line_of(text, "colour: red"), "connectors.crm.colour: unknown key 'colour'"),
        (line_of(text, "precedence:"), "precedence[2]: unknown connector instance 'erp'"),
        (line_of(text, "{tagg: VIP}"), "segments.vip"),
        (line_of(text, "loyal: LOYAL2"), "destinations[0].tags.loyal: unknown segment 'loyal'"),
        (line_of(text, "15 minutes please"), "schedules.every_15_minutes.every: "),
    ]
    assert len(lines) == 7, done.stderr
    for line, (number, start) in zip(lines, sorted(expected), strict=True):
        assert line.startswith(f"{at}{number}: {start}"), (line, number, start)


def test_one_mistake_is_one_line(sample_dir: Path) -> None:
    config = sample_dir / "syncd.yaml"
    config.write_text(config.read_text().replace("precedence: [crm, shop]", "precedence: [crm, x]"))
    done = check(config)
    assert done.returncode == 2
    assert done.stderr == (
        f"{config}:{line_of(config.read_text(), 'precedence:')}: precedence[1]: "
        "unknown connector instance 'x' (known: crm, esp, shop)\n"
    )


BROKEN = "import syncd_no_such_module  # a dependency not installed\n"


@pytest.fixture
def broken_plugin(sample_dir: Path) -> Path:
    (sample_dir / "plugins.d").mkdir()
    (sample_dir / "plugins.d" / "acme.py").write_text(BROKEN)
    config = sample_dir / "syncd.yaml"
    config.write_text("plugins_dir: plugins.d\n" + config.read_text())
    return config


def test_a_plugin_that_failed_to_import_is_named_where_its_type_is_used(
    broken_plugin: Path,
) -> None:
    text = broken_plugin.read_text()
    crm = "  crm:                        # the CRM's export: lifecycle stage, owner, country\n"
    text = text.replace(crm + "    type: files", "  crm:\n    type: acme")
    broken_plugin.write_text(text)
    done = check(broken_plugin)
    assert done.returncode == 2
    # the log says the plugin failed as it loads (a JSON line); check says where it mattered
    [line] = [x for x in done.stderr.splitlines() if not x.startswith("{")]
    assert line.startswith(
        f"{broken_plugin}:{line_of(text, 'type: acme')}: connectors.crm.type: unknown connector "
        "type 'acme' (the plugin 'acme' failed to import: ModuleNotFoundError: No module named "
        "'syncd_no_such_module'; known: "
    ), line


def test_a_plugin_that_failed_to_import_is_said_when_nothing_uses_it(broken_plugin: Path) -> None:
    done = check(broken_plugin)
    assert done.returncode == 0, done.stderr
    assert ": valid — " in done.stdout
    plugin = broken_plugin.parent / "plugins.d" / "acme.py"
    assert (
        f"  the plugin '{plugin}' failed to import (no connector here uses it): "
        "ModuleNotFoundError: No module named 'syncd_no_such_module'"
    ) in done.stdout
