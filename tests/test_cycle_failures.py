"""A destination that fails in the middle of a batch, or a process killed between send and
confirm, loses nothing: the next run re-sends only what is not confirmed and converges."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from syncd.cli import main

from .test_cycle import EXPECTED, change_log, state

PLUGIN = '''
import os, signal
from pathlib import Path
from syncd import hookimpl
from syncd.connectors.contract import ChangeResult, Outcome
from syncd.errors import RetryableError
from syncd_plugins.files.connector import FilesConnector, FilesDestination

class Flaky(FilesDestination):
    """Fails as the environment says: FLAKY=odd answers retryable for every other change of
    the first call; FLAKY=second raises on the second batch; FLAKY=kill applies the first
    batch, then the process dies before syncd can record the confirmation."""

    def push(self, changes):
        mode = os.environ.get("FLAKY", "")
        marker = Path(os.environ["FLAKY_MARKER"])
        calls = int(marker.read_text()) if marker.exists() else 0
        marker.write_text(str(calls + 1))
        if mode == "second" and calls == 1:
            raise RetryableError("HTTP 503 from the destination")
        if mode == "down":
            raise RetryableError("HTTP 503 from the destination, after every retry")
        if mode == "die" and calls == 0:
            os.kill(os.getpid(), signal.SIGKILL)  # claimed, never sent
        if mode == "odd" and calls == 0:
            kept = [c for i, c in enumerate(changes) if i % 2 == 0]
            done = {r.change_id: r for r in super().push(kept)}
            timeout = Outcome.RETRYABLE
            return [done.get(c.id, ChangeResult(c.id, timeout, "timeout")) for c in changes]
        results = super().push(changes)
        if mode == "kill" and calls == 0:
            os.kill(os.getpid(), signal.SIGKILL)
        return results

class FlakyFiles(FilesConnector):
    name = "flaky_files"

    def destination(self):
        real = super().destination()
        return Flaky(real.state, real.log_path, self.options.batch_size, real.clock)

class BrokenStream:
    name = "contacts"

    def read(self, cursor):
        raise RetryableError("HTTP 503 from the source, after every retry")
        yield

class BrokenFiles(FilesConnector):
    """A source whose every read fails, as one down for the whole run."""
    name = "broken_files"

    def streams(self):
        return [BrokenStream()]

@hookimpl
def syncd_connectors():
    return [FlakyFiles, BrokenFiles]
'''


def use_flaky_esp(env: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """The sample config in ``env`` with its e-mail tool a Flaky destination (``FLAKY`` says how
    it fails) in batches of 4; returns ``env``."""
    plugins = env / "plugins.d"
    plugins.mkdir()
    (plugins / "flaky.py").write_text(PLUGIN)
    config = env / "syncd.yaml"
    text = config.read_text().replace(
        "  esp:                        # the e-mail tool receives tags, a list and a field\n"
        "    type: files",
        "  esp:\n    type: flaky_files\n    batch_size: 4",
    )
    config.write_text("plugins_dir: plugins.d\n" + text)
    monkeypatch.setenv("FLAKY_MARKER", str(tmp_path / "calls"))
    return env


@pytest.fixture
def flaky(env: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    return use_flaky_esp(env, monkeypatch, tmp_path)


def sync(config_dir: Path) -> int:
    return main(["--config", str(config_dir / "syncd.yaml"), "sync"])


def sent_once_each(config_dir: Path) -> bool:
    seen = [(c["kind"], c["email"], c["key"]) for c in change_log(config_dir)]
    return len(seen) == len(set(seen))


def test_retryable_answers_in_a_batch_are_sent_again_next_run(flaky: Path, monkeypatch) -> None:
    monkeypatch.setenv("FLAKY", "odd")
    sync(flaky)
    first = len(change_log(flaky))
    assert 0 < first < 15
    sync(flaky)
    assert state(flaky) == EXPECTED
    assert len(change_log(flaky)) == 15 and sent_once_each(flaky)


def test_a_batch_that_raises_is_kept_and_sent_next_run(flaky: Path, monkeypatch) -> None:
    monkeypatch.setenv("FLAKY", "second")
    sync(flaky)
    # a batch holds every change of four contacts: the first was sent, the second failed,
    # and the rest waits for the next run
    first = change_log(flaky)
    assert len({c["email"] for c in first}) == 4 and len(first) < 15
    assert main(["--config", str(flaky / "syncd.yaml"), "status", "--json"]) == 0
    sync(flaky)
    assert state(flaky) == EXPECTED
    assert len(change_log(flaky)) == 15 and sent_once_each(flaky)


def test_killed_between_send_and_confirm_converges_next_run(flaky: Path, store_url: str) -> None:
    env = {**os.environ, "FLAKY": "kill"}
    cmd = [sys.executable, "-m", "syncd", "--config", str(flaky / "syncd.yaml"), "sync"]
    killed = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120)
    assert killed.returncode == -9, killed.stderr
    # the first batch (every change of four contacts) reached the destination, unconfirmed
    first = change_log(flaky)
    assert len({c["email"] for c in first}) == 4 and len(first) < 15
    env["FLAKY"] = ""
    again = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120)
    assert again.returncode == 0, again.stderr
    assert state(flaky) == EXPECTED
    # nothing was sent twice: the next pull saw the unconfirmed batch already applied
    assert len(change_log(flaky)) == 15 and sent_once_each(flaky)
    # and syncd adopted them as its own: managed mode may remove them later
    events = flaky / "samples" / "shop_events.jsonl"
    events.write_text("")
    import sqlalchemy as sa

    engine = sa.create_engine(store_url)
    with engine.begin() as conn:
        conn.execute(sa.text("DELETE FROM events"))
        managed = conn.execute(
            sa.text("SELECT count(*) FROM tags WHERE source = 'esp' AND managed")
        ).scalar()
    engine.dispose()
    assert managed == 7
    sync_out = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120)
    assert sync_out.returncode == 0, sync_out.stdout + sync_out.stderr
    assert json.loads((flaky.parent / "var" / "esp" / "state.json").read_text())["contacts"][
        "ada.lovelace@example.com"
    ]["tags"] == ["VIP"]


def status_runs(config_dir: Path, capsys: pytest.CaptureFixture[str]) -> list[dict]:
    capsys.readouterr()
    assert main(["--config", str(config_dir / "syncd.yaml"), "status", "--json"]) == 0
    return json.loads(capsys.readouterr().out)["one_shot_runs"]


def test_killed_after_claiming_the_next_sync_sends_at_once(
    flaky: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    env = {**os.environ, "FLAKY": "die"}
    cmd = [sys.executable, "-m", "syncd", "--config", str(flaky / "syncd.yaml"), "sync"]
    killed = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120)
    assert killed.returncode == -9, killed.stderr
    assert change_log(flaky) == []  # the first batch was claimed, and the process died
    # the dead run is not shown running for ever
    [run] = status_runs(flaky, capsys)
    assert run["outcome"] == "killed" and "process ended" in run["error"]
    # its claims died with it: the next sync sends every change now, not after the lease
    env["FLAKY"] = ""
    again = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120)
    assert again.returncode == 0, again.stderr
    assert "esp: 15 planned, 15 done, 0 to retry, 0 failed" in again.stdout
    assert state(flaky) == EXPECTED and sent_once_each(flaky)


def test_a_destination_that_keeps_failing_fails_alone(
    flaky: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    config = flaky / "syncd.yaml"
    text = config.read_text()
    # a second e-mail tool with the same mapping, after the failing one
    start = text.index("  - connector: esp")
    end = text.index("\nschedules:")
    mapping = text[start:end].replace("connector: esp", "connector: esp2")
    text = text.replace(
        "precedence:", "  esp2:\n    type: files\n    state: ../var/esp2/state.json\n\nprecedence:"
    )
    config.write_text(
        text[: text.index("\nschedules:")] + "\n" + mapping + text[text.index("\nschedules:") :]
    )
    monkeypatch.setenv("FLAKY", "down")
    capsys.readouterr()
    assert sync(flaky) == 4  # partial
    out = capsys.readouterr().out
    # it says why, as a run with changes to retry does: not only that the tool kept failing
    retry = re.search(r"^esp: 15 planned, 0 done, (\d+) to retry, 0 failed$", out, re.M)
    assert retry, out
    assert (
        "push esp FAILED (the rest of the run went on): the destination kept failing, the rest "
        f"waits; {retry[1]} to retry: HTTP 503 from the destination, after every retry\n"
    ) in out
    assert state(flaky) == {}
    esp2 = json.loads((flaky.parent / "var" / "esp2" / "state.json").read_text())["contacts"]
    assert esp2 == EXPECTED
    [run] = status_runs(flaky, capsys)
    assert run["outcome"] == "partial" and "push esp" in run["error"]
    assert run["error"].endswith(" to retry: HTTP 503 from the destination, after every retry")
    monkeypatch.setenv("FLAKY", "")
    assert sync(flaky) == 0
    assert state(flaky) == EXPECTED


def test_a_source_that_fails_fails_alone(flaky: Path, capsys: pytest.CaptureFixture[str]) -> None:
    env = flaky
    config = env / "syncd.yaml"
    config.write_text(
        config.read_text().replace("  crm:  ", "  crm:\n    type: broken_files\n  old_crm:", 1)
    )
    capsys.readouterr()
    assert sync(env) == 4
    out = capsys.readouterr().out
    assert "pull crm FAILED (the rest of the run went on)" in out
    # the shop was pulled and the e-mail tool pushed all the same
    assert "LOYAL" in state(env)["ada.lovelace@example.com"]["tags"]
    [run] = status_runs(env, capsys)
    assert run["outcome"] == "partial"
    # a pull alone says so too, in JSON as well
    assert main(["--config", str(config), "pull", "--json"]) == 4
    out = json.loads(capsys.readouterr().out)
    assert set(out["pulled"]) == {"shop", "old_crm", "esp"}
    assert list(out["failures"]) == ["pull crm"]


def test_every_source_down_says_each_once(flaky: Path) -> None:
    """When every source fails, the real process says each one, once: its own line per
    source, and no log line of the same failure beside it."""
    config = flaky / "syncd.yaml"
    text = config.read_text()
    for name in ("shop", "crm"):
        start = text.index(f"  {name}:")
        text = text.replace(
            text[start : text.index("\n", start)],
            f"  {name}:\n    type: broken_files\n  old_{name}:",
            1,
        )
    config.write_text(text)
    cmd = [sys.executable, "-m", "syncd", "--config", str(config), "pull", "shop", "crm"]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 1, done.stdout + done.stderr
    lines = done.stderr.splitlines()
    assert lines == [
        "error: pull shop: HTTP 503 from the source, after every retry",
        "error: pull crm: HTTP 503 from the source, after every retry",
    ], done.stderr
