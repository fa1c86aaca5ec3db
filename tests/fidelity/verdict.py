"""What every fidelity check shares: its verdict lines, the emulator's state, and running a
Singer tap and reading its output. Standard library only: a check runs in its client's own
virtualenv, which installs the client and nothing of syncd's (the runner puts this folder on
its ``PYTHONPATH``)."""

from __future__ import annotations

import json
import os
import ssl
import subprocess
import sys
import time
import urllib.request
from collections import defaultdict
from pathlib import Path
from typing import Any

URL = os.environ.get("FIDELITY_URL", "").rstrip("/")
CONFIG: dict[str, Any] = json.loads(os.environ.get("FIDELITY_CONFIG") or "{}")
CA = os.environ.get("FIDELITY_CA", "")  # an emulator served over HTTPS: its throwaway CA
TAP_TIMEOUT = 600


def report(call: str, ok: bool, count: int | None = None, detail: str = "") -> None:
    """One verdict line for the runner's table."""
    row = {"call": call, "ok": bool(ok), "count": count, "detail": detail[:300]}
    print("FIDELITY " + json.dumps(row), flush=True)


def state(url: str = URL) -> dict[str, Any]:
    """What the emulator holds now (``GET /_emulator/state``)."""
    context = ssl.create_default_context(cafile=CA or None)
    where = f"{url.rstrip('/')}/_emulator/state"
    with urllib.request.urlopen(where, timeout=30, context=context) as answer:
        data: dict[str, Any] = json.loads(answer.read())
        return data


def last_line(text: str) -> str:
    """The last line with something on it: a failed process's reason."""
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return lines[-1] if lines else ""


def run_tap(
    launch: str, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """A Singer tap run unchanged in a subprocess of this virtualenv's Python, ``launch``
    being the few lines of Python that start it."""
    return subprocess.run(
        [sys.executable, "-c", launch, *args],
        capture_output=True,
        text=True,
        timeout=TAP_TIMEOUT,
        env=env,
    )


def discover(
    launch: str, work: Path, config: dict[str, Any], env: dict[str, str] | None = None
) -> tuple[subprocess.CompletedProcess[str], dict[str, Any] | None]:
    """``config`` written to ``work/config.json`` and the tap's ``--discover``: its run and its
    catalog, None (with the failed call reported) when the output is no catalog."""
    (work / "config.json").write_text(json.dumps(config))
    found = run_tap(launch, "--config", str(work / "config.json"), "--discover", env=env)
    try:
        catalog = json.loads(found.stdout)
        [s["tap_stream_id"] for s in catalog["streams"]]
    except (ValueError, KeyError, TypeError):
        report("--discover", False, None, f"exit {found.returncode}: {last_line(found.stderr)}")
        return found, None
    return found, catalog


def records(stdout: str) -> defaultdict[str, list[dict[str, Any]]]:
    """The RECORD messages of a tap's output, by stream (any other line passed over)."""
    found: defaultdict[str, list[dict[str, Any]]] = defaultdict(list)
    for line in stdout.splitlines():
        try:
            message = json.loads(line)
        except ValueError:
            continue
        if isinstance(message, dict) and message.get("type") == "RECORD":
            found[message["stream"]].append(message["record"])
    return found


def sync(
    launch: str,
    work: Path,
    catalog: dict[str, Any],
    *,
    env: dict[str, str] | None = None,
    note: str = "",
) -> tuple[subprocess.CompletedProcess[str], defaultdict[str, list[dict[str, Any]]]]:
    """The tap's sync of ``catalog`` (written to ``work/catalog.json``) with the config
    :func:`discover` wrote, reported as one row: its run and its records by stream."""
    (work / "catalog.json").write_text(json.dumps(catalog))
    started = time.monotonic()
    config, selected = str(work / "config.json"), str(work / "catalog.json")
    run = run_tap(launch, "--config", config, "--catalog", selected, env=env)
    seconds = time.monotonic() - started
    read = records(run.stdout)
    report(
        "sync (every stream selected)",
        run.returncode == 0,
        sum(len(rows) for rows in read.values()),
        f"exit {run.returncode} in {seconds:.1f} s{note}"
        + ("" if run.returncode == 0 else f": {last_line(run.stderr)}"),
    )
    return run, read
