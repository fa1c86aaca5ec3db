"""Logging: JSON lines off a terminal, console lines on one, run ids on every line of a run."""

from __future__ import annotations

import io
import json
import os
from pathlib import Path

import pytest
import structlog

from syncd.cli import main
from syncd.logs import configure_logging
from syncd.secrets import register_secret


class Terminal(io.StringIO):
    """A stream that says it is a terminal."""

    def isatty(self) -> bool:
        return True


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith("SYNCD_"):
            monkeypatch.delenv(name)


def test_json_lines_when_not_on_a_terminal() -> None:
    stream = io.StringIO()
    configure_logging("info", "auto", stream=stream)
    structlog.get_logger("t").info("pulled", connector="shop", records=3)
    structlog.get_logger("t").debug("not shown at info")
    lines = stream.getvalue().splitlines()
    assert len(lines) == 1
    entry = json.loads(lines[0])
    assert entry["event"] == "pulled"
    assert entry["connector"] == "shop" and entry["records"] == 3
    assert entry["level"] == "info"
    assert entry["timestamp"].endswith("Z")


def test_console_lines_on_a_terminal_and_formats_can_be_forced() -> None:
    terminal = Terminal()
    configure_logging("info", "auto", stream=terminal)
    structlog.get_logger("t").info("pulled", connector="shop")
    text = terminal.getvalue()
    assert "pulled" in text and "connector=shop" in text
    with pytest.raises(json.JSONDecodeError):
        json.loads(text.splitlines()[0])

    forced = Terminal()
    configure_logging("info", "json", stream=forced)
    structlog.get_logger("t").info("pulled")
    assert json.loads(forced.getvalue())["event"] == "pulled"

    plain = io.StringIO()
    configure_logging("info", "console", stream=plain)
    structlog.get_logger("t").info("pulled")
    assert "pulled" in plain.getvalue() and not plain.getvalue().startswith("{")


def test_secrets_are_masked_in_log_lines_also_inside_values() -> None:
    register_secret("tok-1234567890-secret")
    stream = io.StringIO()
    configure_logging("info", "json", stream=stream)
    structlog.get_logger("t").info(
        "calling https://x.example/?key=tok-1234567890-secret",
        headers={"Authorization": "Bearer tok-1234567890-secret"},
        tried=["tok-1234567890-secret"],
        error=ValueError("refused tok-1234567890-secret"),
    )
    text = stream.getvalue()
    assert "tok-1234567890-secret" not in text
    entry = json.loads(text)
    assert entry["event"] == "calling https://x.example/?key=***"
    assert entry["headers"] == {"Authorization": "Bearer ***"}
    assert entry["tried"] == ["***"]
    assert entry["error"] == "refused ***"


def test_every_line_of_a_run_carries_its_run_id(
    sample_dir: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("SYNCD_STORE_URL", f"sqlite:///{tmp_path / 'store.db'}")
    monkeypatch.setenv("SYNCD_NOW", "2026-11-20T12:00:00Z")
    monkeypatch.setenv("SYNCD_LOG_LEVEL", "debug")
    config = str(sample_dir / "syncd.yaml")
    run_ids = []
    for _ in range(2):
        assert main(["--config", config, "sync", "--json"]) == 0
        captured = capsys.readouterr()
        run_id = json.loads(captured.out)["run_id"]
        run_ids.append(run_id)
        entries = [json.loads(line) for line in captured.err.splitlines()]
        events = [e["event"] for e in entries]
        assert events[0] == "run started" and events[-1] == "run finished"
        assert all(e.get("run_id") == run_id and e.get("job") == "sync" for e in entries), entries
        pulled = [e for e in entries if e["event"] == "stream pulled"]
        assert {e["connector"] for e in pulled} == {"shop", "crm", "esp"}
    assert run_ids[0] != run_ids[1]

    # nothing of a run stays bound after it
    stream = io.StringIO()
    configure_logging("info", "json", stream=stream)
    structlog.get_logger("t").info("after the runs")
    assert "run_id" not in json.loads(stream.getvalue())


def test_lines_go_to_stderr_as_it_is_when_they_are_written(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    first, second = io.StringIO(), io.StringIO()
    monkeypatch.setattr("sys.stderr", first)
    configure_logging("info", "json")
    structlog.get_logger("t").info("one")
    monkeypatch.setattr("sys.stderr", second)  # as pytest does between tests
    first.close()
    structlog.get_logger("t").info("two")
    assert [json.loads(line)["event"] for line in second.getvalue().splitlines()] == ["two"]
