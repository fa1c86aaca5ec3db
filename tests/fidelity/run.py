"""The fidelity suite: real clients of each vendor's API, installed from the package registry
into virtualenvs of their own, run unchanged against syncd's emulators on loopback.

    .venv/bin/python tests/fidelity/run.py [CLIENT ...] [--prove]

Each folder of ``tests/fidelity/clients/`` is one client:

- ``client.json``: ``{"emulator": NAME, "seed": N, "people": N, "prove": FAULTS}`` (NAME as
  a plugin registers it, or ``module:Class``), optionally ``"options": {...}`` (more keyword
  arguments of the emulator) and ``"tls": true``: the emulator then serves HTTPS on loopback
  with a throwaway certificate made for the run (a CA of its own and a leaf for
  ``*.myshopify.com``, ``localhost`` and ``127.0.0.1``), whose CA file the check finds in
  ``FIDELITY_CA``, for a client that builds its own ``https://`` URL;
- ``requirements.txt``: what its virtualenv installs (``.fidelity/CLIENT``, made again only
  when the file changes);
- ``check.py``: run with that virtualenv's Python, ``verdict.py`` (what every check shares:
  its verdict lines, one call's verdict, the emulator's state, a Singer tap's run) importable
  beside it. It reads ``FIDELITY_URL`` (the emulator's base URL) and ``FIDELITY_CONFIG`` (JSON: the
  emulator's own credentials, as its ``connector_config`` gives them), drives the client as
  real use does, compares what the client got with ``GET /_emulator/state``, and prints one
  line per call:
  ``FIDELITY {"call": ..., "ok": true, "count": 12, "detail": ...}``.

The table of each client's calls is printed at the end; the exit code is 1 when a row is not ok or
a check ends without reporting. ``--prove`` runs each client once more on an emulator that
injects its ``prove`` faults (default: every answer malformed) and fails unless the check
then reports a failure: a check that cannot fail proves nothing.
"""

from __future__ import annotations

import argparse
import hashlib
import importlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import venv
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
CLIENTS = Path(__file__).resolve().parent / "clients"
VENVS = ROOT / ".fidelity"
MARK = "FIDELITY "
TIMEOUT = 900  # seconds one check may take


@dataclass
class Outcome:
    client: str
    rows: list[dict[str, Any]] = field(default_factory=list)
    error: str | None = None  # the check ended without a verdict

    @property
    def ok(self) -> bool:
        return self.error is None and bool(self.rows) and all(r.get("ok") for r in self.rows)


def python_of(client: Path) -> Path:
    """The client's virtualenv, made or remade when its requirements changed."""
    requirements = client / "requirements.txt"
    digest = hashlib.sha256(requirements.read_bytes()).hexdigest()
    home = VENVS / client.name
    stamp = home / ".requirements-sha256"
    python = home / "bin" / "python"
    if not (stamp.exists() and stamp.read_text() == digest and python.exists()):
        venv.create(home, with_pip=True, clear=True)
        subprocess.run(
            [str(python), "-m", "pip", "install", "-q", "-r", str(requirements)],
            check=True,
        )
        stamp.write_text(digest)
    return python


def make_certificate(folder: Path) -> tuple[Path, Path, Path]:
    """A throwaway CA and a leaf it signed for the Shopify hosts and loopback: (CA file, leaf
    certificate, leaf key), made with the ``openssl`` command."""

    def openssl(*args: str) -> None:
        subprocess.run(["openssl", *args], check=True, capture_output=True, cwd=folder)

    (folder / "leaf.ext").write_text(
        "basicConstraints=critical,CA:FALSE\n"
        "keyUsage=critical,digitalSignature,keyEncipherment\n"
        "extendedKeyUsage=serverAuth\n"
        "subjectAltName=DNS:*.myshopify.com,DNS:localhost,IP:127.0.0.1\n"
        "authorityKeyIdentifier=keyid\n"
        "subjectKeyIdentifier=hash\n"
    )
    openssl(
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-days",
        "2",
        "-subj",
        "/CN=syncd fidelity throwaway CA",
        "-keyout",
        "ca.key",
        "-out",
        "ca.pem",
        "-addext",
        "basicConstraints=critical,CA:TRUE",
        "-addext",
        "keyUsage=critical,keyCertSign,cRLSign",
    )
    openssl(
        "req",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-subj",
        "/CN=localhost",
        "-keyout",
        "leaf.key",
        "-out",
        "leaf.csr",
    )
    openssl(
        "x509",
        "-req",
        "-in",
        "leaf.csr",
        "-CA",
        "ca.pem",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-days",
        "2",
        "-extfile",
        "leaf.ext",
        "-out",
        "leaf.pem",
    )
    return folder / "ca.pem", folder / "leaf.pem", folder / "leaf.key"


@contextmanager
def serving(app: Any, tls: bool) -> Iterator[tuple[str, dict[str, str]]]:
    """The emulator on loopback: its base URL and what the check's environment adds."""
    from syncd.emulator.server import running

    if not tls:
        with running(app) as url:
            yield url, {}
        return
    import uvicorn

    from syncd.emulator.server import LOOPBACK, bind

    folder = Path(tempfile.mkdtemp(prefix="fidelity-tls-"))
    try:
        ca, certificate, key = make_certificate(folder)
        sock = bind(0)
        config = uvicorn.Config(
            app,
            lifespan="off",
            log_level="error",
            access_log=False,
            ssl_certfile=str(certificate),
            ssl_keyfile=str(key),
        )
        server = uvicorn.Server(config)
        thread = threading.Thread(
            target=server.run, kwargs={"sockets": [sock]}, name="fidelity-tls", daemon=True
        )
        thread.start()
        deadline = time.monotonic() + 10
        while not server.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                server.should_exit = True
                raise RuntimeError("the emulator's TLS server did not start")
            time.sleep(0.01)
        try:
            port = sock.getsockname()[1]
            yield f"https://{LOOPBACK}:{port}", {"FIDELITY_CA": str(ca)}
        finally:
            server.should_exit = True
            thread.join(timeout=10)
            sock.close()
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def run_check(client: Path, python: Path, faults: str | None) -> Outcome:
    from syncd.plugins import get_plugin_manager

    spec = json.loads((client / "client.json").read_text())
    name = str(spec["emulator"])
    if ":" in name:  # an emulator class by its dotted name, not one a plugin registers
        module, _, attribute = name.partition(":")
        factory = getattr(importlib.import_module(module), attribute)
    else:
        factory = get_plugin_manager().emulators()[name]
    options = {"people": int(spec["people"])} if "people" in spec else {}
    options.update(spec.get("options") or {})
    app = factory(seed=int(spec.get("seed", 1)), faults=faults, rate_limit=None, **options)
    outcome = Outcome(client.name)
    with ExitStack() as stack:
        try:
            url, extra = stack.enter_context(serving(app, bool(spec.get("tls"))))
        except (OSError, RuntimeError, subprocess.CalledProcessError) as exc:
            outcome.error = f"cannot serve the emulator: {exc}"
            return outcome
        env = {
            **os.environ,
            **extra,
            "FIDELITY_URL": url,
            "FIDELITY_CONFIG": json.dumps(app.connector_config(url)),
            # the checks' shared verdict module (verdict.py beside this file)
            "PYTHONPATH": os.pathsep.join(
                filter(None, [str(Path(__file__).resolve().parent), os.environ.get("PYTHONPATH")])
            ),
        }
        try:
            done = subprocess.run(
                [str(python), str(client / "check.py")],
                env=env,
                cwd=client,
                capture_output=True,
                text=True,
                timeout=TIMEOUT,
            )
        except subprocess.TimeoutExpired:
            outcome.error = f"no verdict within {TIMEOUT} s"
            return outcome
    for line in done.stdout.splitlines():
        if line.startswith(MARK):
            try:
                outcome.rows.append(json.loads(line[len(MARK) :]))
            except ValueError:
                outcome.error = f"an unreadable verdict line: {line[:100]}"
    if outcome.error is None and (done.returncode != 0 or not outcome.rows):
        tail = (done.stderr.strip().splitlines() or ["(nothing on stderr)"])[-1]
        outcome.error = f"exit {done.returncode}: {tail[:300]}"
    return outcome


def table(outcomes: list[Outcome]) -> str:
    lines = [f"{'client':<24} {'call':<52} {'result':<6} {'count':>7}  detail"]
    for outcome in outcomes:
        for row in outcome.rows:
            result = "ok" if row.get("ok") else "FAIL"
            count = "" if row.get("count") is None else str(row["count"])
            lines.append(
                f"{outcome.client:<24} {row.get('call')!s:<52} {result:<6} {count:>7}  "
                f"{row.get('detail') or ''}"
            )
        if outcome.error:
            lines.append(
                f"{outcome.client:<24} {'(the check itself)':<52} {'FAIL':<6}"
                f" {'':>7}  {outcome.error}"
            )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("clients", nargs="*", help="the clients to run (default: all)")
    parser.add_argument("--prove", action="store_true", help="also prove each check can fail")
    parser.add_argument("--clients-dir", type=Path, default=CLIENTS, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    folders = args.clients_dir.iterdir() if args.clients_dir.is_dir() else ()
    found = sorted(p for p in folders if (p / "check.py").exists())
    chosen = [p for p in found if not args.clients or p.name in args.clients]
    unknown = set(args.clients) - {p.name for p in found}
    if unknown:
        print(f"fidelity: unknown clients {sorted(unknown)}", file=sys.stderr)
        return 2
    outcomes, proofs = [], []
    for client in chosen:
        try:
            python = python_of(client)
        except (OSError, subprocess.CalledProcessError) as exc:
            outcomes.append(Outcome(client.name, error=f"cannot install the client: {exc}"))
            continue
        outcomes.append(run_check(client, python, None))
        if args.prove:
            spec = json.loads((client / "client.json").read_text())
            proofs.append(run_check(client, python, spec.get("prove", "malformed=1")))
    print(table(outcomes))
    failed = [o.client for o in outcomes if not o.ok]
    cannot_fail = [p.client for p in proofs if p.ok]
    if args.prove:
        print(
            f"\nproof: {len(proofs) - len(cannot_fail)} of {len(proofs)} checks fail on a "
            "broken emulator"
        )
        for proof in proofs:  # what each check said on the broken emulator
            failed_row = next((r for r in proof.rows if not r.get("ok")), None)
            said = (
                f"{failed_row.get('call')}: {failed_row.get('detail') or ''}"
                if failed_row
                else proof.error or "every row ok"
            )
            print(f"  {proof.client:<24} {said[:120]}")
    rows = sum(len(o.rows) for o in outcomes)
    bad = sum(1 for o in outcomes for r in o.rows if not r.get("ok")) + sum(
        1 for o in outcomes if o.error
    )
    print(f"{rows - bad} passed, {bad} failed")
    if cannot_fail:
        print(f"fidelity: these checks pass on a broken emulator: {cannot_fail}", file=sys.stderr)
    return 1 if failed or cannot_fail else 0


if __name__ == "__main__":
    sys.exit(main())
