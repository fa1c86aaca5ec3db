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
import traceback
import urllib.error
import urllib.request
from collections import defaultdict
from collections.abc import Callable
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


def step(call: str, run: Callable[[], tuple[bool, int | None, str]]) -> None:
    """The verdict line of one call: what ``run`` says of it (ok, count, detail), or failed
    with the last line of the exception it raised (the client failed: that is the finding)."""
    try:
        ok, count, detail = run()
    except Exception as exc:
        report(call, False, None, traceback.format_exception_only(type(exc), exc)[-1].strip())
        return
    report(call, ok, count, detail)


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


class Catcher:
    """A loopback HTTP server that keeps every POST it is sent ``(path, headers, body)`` and
    answers 200: the receiving end of an emulator's webhooks, for a check."""

    def __init__(self) -> None:
        import http.server
        import threading

        caught = self.caught = []  # type: list[tuple[str, dict[str, str], bytes]]

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                size = int(self.headers.get("content-length") or 0)
                body = self.rfile.read(size)
                headers = {k.lower(): v for k, v in self.headers.items()}
                caught.append((self.path, headers, body))
                self.send_response(200)
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def wait(self, count: int, seconds: float = 15.0) -> list[tuple[str, dict[str, str], bytes]]:
        """The requests caught, once there are ``count`` of them or ``seconds`` passed."""
        deadline = time.monotonic() + seconds
        while len(self.caught) < count and time.monotonic() < deadline:
            time.sleep(0.05)
        return list(self.caught)

    def close(self) -> None:
        self.server.shutdown()


def call(
    method: str, path: str, body: Any = None, headers: dict[str, str] | None = None
) -> tuple[int, Any]:
    """One JSON request to the emulator: its status and its JSON body (None when empty). A
    429 is waited out as its ``Retry-After`` says, as the vendors ask, up to 10 times."""
    data = json.dumps(body).encode() if body is not None else None
    sent = {"Content-Type": "application/json", **(headers or {})}
    for _ in range(10):
        request = urllib.request.Request(URL + path, data=data, method=method, headers=sent)
        try:
            with urllib.request.urlopen(request, timeout=30) as answer:
                raw, status = answer.read(), answer.status
        except urllib.error.HTTPError as exc:
            raw, status = exc.read(), exc.code
            if status == 429:
                time.sleep(min(float(exc.headers.get("Retry-After") or 1), 10))
                continue
        break
    return status, json.loads(raw) if raw else None
