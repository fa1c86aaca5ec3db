"""Benchmark: a first pull of N contacts from the ActiveCampaign emulator, by syncd into its
SQLite store and by dlt into duckdb, side by side in one run, in records a second.

    .venv/bin/python benchmarks/pull.py [--people 10000] [--store URL] [--no-dlt]

The emulator is served on loopback by a process of its own (no rate limit), so the client's
work and the emulator's do not share one interpreter. Both read the same endpoint the same
way (``GET /api/3/contacts?limit=100&orders[id]=ASC&id_greater=LAST``, keyset paging as AC
advises). Lines:

- syncd read: the HTTP reads and the mapping to records alone, nothing stored;
- syncd pull: ``pull_instance`` into a fresh store, every page committed with its cursor;
- syncd store writes: the same pages written again into a fresh store from memory
  (PageWriter, resolve and the cursor, one transaction a page): what the store takes a second;
  then once more over themselves (every value already stored, as a re-read echo is);
- dlt merge / dlt append: a dlt resource over the same endpoint, ``pipeline.run`` into a
  fresh duckdb file, merged on the contact id (as syncd upserts) and appended.

dlt and duckdb are installed into ``benchmarks/.venv-dlt`` on first use (never a dependency
of syncd); their versions are printed.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from syncd.clock import system_clock
from syncd.connectors import ConnectorContext, Page, Stream
from syncd.store import open_store
from syncd.sync.pull import pull_instance
from syncd_plugins.activecampaign.connector import ActiveCampaignConnector, ActiveCampaignOptions
from syncd_plugins.activecampaign.emulator import DEFAULT_TOKEN

HERE = Path(__file__).resolve().parent
DLT_VENV = HERE / ".venv-dlt"
DLT = "dlt[duckdb]==1.31.0"

# The dlt side, run by the dlt venv's Python: argv = base URL, token, duckdb file, disposition.
DLT_SCRIPT = """
import json, sys, time
import dlt
from dlt.sources.helpers import requests

url, token, database, disposition = sys.argv[1:5]

@dlt.resource(name="contacts", primary_key="id", write_disposition=disposition)
def contacts():
    last = 0
    while True:
        answer = requests.get(
            f"{url}/api/3/contacts",
            params={"limit": 100, "orders[id]": "ASC", "id_greater": last},
            headers={"Api-Token": token},
        )
        answer.raise_for_status()
        rows = answer.json()["contacts"]
        if not rows:
            return
        yield rows
        last = rows[-1]["id"]

pipeline = dlt.pipeline(
    pipeline_name="bench_" + disposition,
    destination=dlt.destinations.duckdb(database),
    dataset_name="ac",
    pipelines_dir=database + ".pipelines",
)
started, cpu = time.perf_counter(), time.process_time()
pipeline.run(contacts())
seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
with pipeline.sql_client() as client:
    rows = client.execute_sql("select count(*) from contacts")[0][0]
print(json.dumps({"seconds": seconds, "cpu": cpu, "rows": rows, "dlt": dlt.__version__}))
"""

# The emulator's process: argv = people; prints its base URL, serves until stdin closes.
SERVE_SCRIPT = """
import sys
from syncd.emulator import running
from syncd_plugins.activecampaign.emulator import ActiveCampaignEmulator

emulator = ActiveCampaignEmulator(seed=1, people=int(sys.argv[1]), rate_limit=0)
with running(emulator) as url:
    print(url, flush=True)
    sys.stdin.read()
"""


class ContactsOnly(ActiveCampaignConnector):
    """The ActiveCampaign connector reading its contacts stream alone."""

    def streams(self) -> list[Stream]:
        return [s for s in super().streams() if s.name == "contacts"]


class Replay(Stream):
    """Pages read before, read again from memory."""

    name = "contacts"

    def __init__(self, pages: list[Page]) -> None:
        self.pages = pages

    def read(self, cursor: str | None) -> Iterator[Page]:
        yield from self.pages


class Replaying(ContactsOnly):
    pages: list[Page] = []

    def streams(self) -> list[Stream]:
        return [Replay(self.pages)]


def connector(cls: type[ContactsOnly], url: str) -> ContactsOnly:
    options = ActiveCampaignOptions(url=url, token=DEFAULT_TOKEN)  # type: ignore[arg-type]
    # the option stops at AC's 5 requests a second; the emulator here has no limit
    options = options.model_copy(update={"rate_limit": 10_000.0})
    return cls(options, ConnectorContext("bench"))


class Clock:
    """Wall and CPU seconds (this process's) since it was made."""

    def __init__(self) -> None:
        self.wall, self.cpu = time.perf_counter(), time.process_time()

    def seconds(self) -> tuple[float, float]:
        return time.perf_counter() - self.wall, time.process_time() - self.cpu


def line(what: str, records: int, seconds: tuple[float, float]) -> None:
    wall, cpu = seconds
    print(
        f"{what:<32} {records:>7,} records  {wall:7.2f} s {records / wall:>8,.0f}/s wall  "
        f"{cpu:7.2f} s {records / max(cpu, 1e-9):>8,.0f}/s CPU",
        flush=True,
    )


def store_url(folder: Path, name: str, postgres: str | None) -> str:
    if postgres is None:
        return f"sqlite:///{folder / name}"
    import uuid

    import sqlalchemy as sa

    schema = f"syncd_pull_{uuid.uuid4().hex[:8]}"
    with sa.create_engine(postgres).begin() as conn:
        conn.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
    sep = "&" if "?" in postgres else "?"
    return f"{postgres}{sep}options=-csearch_path%3D{schema}"


def syncd_side(url: str, folder: Path, postgres: str | None) -> None:
    reader = connector(ContactsOnly, url)
    clock = Clock()
    pages = [page for stream in reader.streams() for page in stream.read(None)]
    read = clock.seconds()
    reader.close()
    records = sum(len(p.records) for p in pages)
    line("syncd read (HTTP + map)", records, read)

    engine = open_store(store_url(folder, "pull.db", postgres))
    puller = connector(ContactsOnly, url)
    clock = Clock()
    counts = pull_instance(engine, "ac", puller, precedence=[], run_id=None, clock=system_clock)
    line(f"syncd pull into {engine.dialect.name}", counts["contacts"], clock.seconds())
    puller.close()
    engine.dispose()

    engine = open_store(store_url(folder, "replay.db", postgres))
    Replaying.pages = pages
    replay = connector(Replaying, url)
    for label in ("store writes", "again, unchanged"):
        clock = Clock()
        counts = pull_instance(engine, "ac", replay, precedence=[], run_id=None, clock=system_clock)
        line(f"syncd {label} ({engine.dialect.name})", counts["contacts"], clock.seconds())
    engine.dispose()


def dlt_python() -> Path:
    """The dlt venv's Python, made on first use."""
    python = DLT_VENV / "bin" / "python"
    if not python.exists():
        print(f"installing {DLT} into {DLT_VENV} ...", flush=True)
        subprocess.run([sys.executable, "-m", "venv", str(DLT_VENV)], check=True)
        subprocess.run([str(python), "-m", "pip", "install", "-q", DLT], check=True)
    return python


def dlt_side(url: str, folder: Path) -> None:
    python = dlt_python()
    env = {**os.environ, "RUNTIME__DLTHUB_TELEMETRY": "false"}
    for disposition in ("merge", "append"):
        database = str(folder / f"dlt_{disposition}.duckdb")
        done = subprocess.run(
            [str(python), "-c", DLT_SCRIPT, url, DEFAULT_TOKEN, database, disposition],
            capture_output=True,
            text=True,
            env=env,
            cwd=folder,
        )
        if done.returncode != 0:
            print(f"dlt {disposition} failed: {done.stderr.strip().splitlines()[-1:]}")
            continue
        figures = json.loads(done.stdout.strip().splitlines()[-1])
        seconds = (figures["seconds"], figures["cpu"])
        line(f"dlt {figures['dlt']} {disposition} into duckdb", figures["rows"], seconds)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--people", type=int, default=10_000)
    parser.add_argument("--store", help="a PostgreSQL URL for syncd (default: a SQLite file)")
    parser.add_argument("--no-dlt", action="store_true", help="syncd's lines only")
    args = parser.parse_args()
    server = subprocess.Popen(
        [sys.executable, "-c", SERVE_SCRIPT, str(args.people)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert server.stdout is not None
        url = server.stdout.readline().strip()
        print(f"ActiveCampaign emulator at {url}, {args.people:,} people; contacts, 100 a page")
        with tempfile.TemporaryDirectory(dir=os.environ.get("SYNCD_BENCH_DIR")) as tmp:
            folder = Path(tmp)
            syncd_side(url, folder, args.store)
            if not args.no_dlt:
                dlt_side(url, folder)
    finally:
        if server.stdin is not None:
            server.stdin.close()
        server.wait(timeout=30)


if __name__ == "__main__":
    main()
