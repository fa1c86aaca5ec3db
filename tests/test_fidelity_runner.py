"""The fidelity suite's runner: a client's verdict per call becomes the table and the exit
code, and ``--prove`` fails a check that passes on a broken emulator."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path
from types import ModuleType

import pytest

from syncd.testing.sample.emulator import DEFAULT_TOKEN

RUNNER = Path(__file__).resolve().parent / "fidelity" / "run.py"

CHECK = """
import json, os, sys, urllib.request
url = os.environ["FIDELITY_URL"]
config = json.loads(os.environ["FIDELITY_CONFIG"])
TOKEN = {token!r}
def say(**row):
    print("FIDELITY " + json.dumps(row), flush=True)
try:
    with urllib.request.urlopen(url + "/_emulator/state") as answer:
        state = json.loads(answer.read())
    auth = {{"Authorization": "Bearer " + TOKEN}}
    ask = urllib.request.Request(url + "/v1/contacts", headers=auth)
    with urllib.request.urlopen(ask) as answer:
        body = answer.read()
    json.loads(body)
    say(call="GET /v1/contacts", ok=True, count=len(state["contacts"]), detail=config["type"])
except Exception as exc:
    say(call="GET /v1/contacts", ok={always!r}, detail=type(exc).__name__)
"""


def runner() -> ModuleType:
    spec = importlib.util.spec_from_file_location("fidelity_run", RUNNER)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def client(root: Path, name: str, *, always: bool = False) -> None:
    folder = root / name
    folder.mkdir(parents=True)
    (folder / "requirements.txt").write_text("")
    emulator = "syncd.testing.sample.emulator:SampleEmulator"
    (folder / "client.json").write_text(json.dumps({"emulator": emulator, "people": 5}))
    (folder / "check.py").write_text(CHECK.format(token=DEFAULT_TOKEN, always=always))


@pytest.fixture
def run(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> ModuleType:
    module = runner()
    monkeypatch.setattr(module, "VENVS", tmp_path / "venvs")
    return module


def test_a_check_that_reports_ok_passes_and_prints_its_row(
    run: ModuleType, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    client(tmp_path / "clients", "plain")
    assert run.main(["--clients-dir", str(tmp_path / "clients"), "--prove"]) == 0
    out = capsys.readouterr().out
    assert "plain" in out and "GET /v1/contacts" in out and "1 passed, 0 failed" in out
    assert "proof: 1 of 1 checks fail on a broken emulator" in out


def test_a_check_that_cannot_fail_is_refused_by_the_proof(
    run: ModuleType, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    client(tmp_path / "clients", "blind", always=True)
    assert run.main(["--clients-dir", str(tmp_path / "clients"), "--prove"]) == 1
    assert "pass on a broken emulator: ['blind']" in capsys.readouterr().err


def test_a_check_that_crashes_is_a_failed_row(
    run: ModuleType, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    client(tmp_path / "clients", "crash")
    (tmp_path / "clients" / "crash" / "check.py").write_text("raise SystemExit('no client')\n")
    assert run.main(["--clients-dir", str(tmp_path / "clients")]) == 1
    assert "(the check itself)" in capsys.readouterr().out
