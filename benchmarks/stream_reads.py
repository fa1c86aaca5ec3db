"""Benchmark: the connectors' own CPU, each stream of the demo's shop read whole with nothing
stored, the vendors served by a process of their own.

    .venv/bin/python benchmarks/stream_reads.py [--people 2000] [--only salesmanago/contacts]
                                                [--profile out.prof]

Each stream is read from no cursor, as a first pull reads it, its pages mapped to records and
dropped: what is left is the HTTP exchange, the JSON parsing, the mapping, the catalogs and
the follow-up reads, and each page's cursor. It prints, per stream, the CPU seconds of this
process, the wall seconds, the pages, rows and records; the vendors' CPU is printed apart.
``--profile`` writes a cProfile of the reads to a file (pstats).
"""

from __future__ import annotations

import argparse
import cProfile
import sys
import tempfile
import time
from pathlib import Path

from syncd.clock import system_clock
from syncd.config import load_config
from syncd.demo import shop
from syncd.logs import configure_logging
from syncd.runtime import build_runtime
from syncd.settings import Settings

sys.path.insert(0, str(Path(__file__).parent))
from e2e import raise_limits, vendors_apart


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--people", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--only", nargs="*", default=[], help="instance/stream or instance")
    parser.add_argument("--profile", type=Path, help="write a cProfile of the reads here")
    args = parser.parse_args()
    configure_logging("warning")
    library = shop.library_path()
    if library is None:
        sys.exit("the segment library was not found: run from a checkout installed with -e")
    profile = cProfile.Profile() if args.profile else None
    with (
        tempfile.TemporaryDirectory(prefix="syncd-reads-") as folder,
        vendors_apart(args.people, args.seed, True, library) as vendors,
    ):
        path = Path(folder) / "syncd.yaml"
        path.write_text(vendors.config)
        rt = build_runtime(
            load_config(path, settings=Settings.model_construct()), clock=system_clock
        )
        raise_limits(rt)
        total = vendors_total = 0.0
        print(f"stream reads, {args.people} people (CPU s of syncd, wall s, pages, rows, records)")
        try:
            for instance, connector in rt.connectors.items():
                for stream in connector.streams():
                    name = f"{instance}/{stream.name}"
                    if args.only and not {instance, name} & set(args.only):
                        continue
                    _, vendors_before = vendors.poll()
                    wall, cpu = time.perf_counter(), time.process_time()
                    pages = records = 0
                    if profile is not None:
                        profile.enable()
                    for page in stream.read(None):
                        pages += 1
                        records += len(page.records)
                    if profile is not None:
                        profile.disable()
                    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
                    _, vendors_after = vendors.poll()
                    vendor = (vendors_after or 0.0) - (vendors_before or 0.0)
                    total, vendors_total = total + cpu, vendors_total + vendor
                    rows = getattr(stream, "rows_answered", 0)
                    print(
                        f"  {name:36} {cpu:7.3f} s CPU {wall:7.2f} s wall {pages:5d} pages "
                        f"{rows:7d} rows {records:7d} records; vendors {vendor:6.3f} s CPU",
                        flush=True,
                    )
        finally:
            rt.close()
        print(f"  {'all':36} {total:7.2f} s CPU; vendors {vendors_total:.2f} s CPU")
    if profile is not None and args.profile:
        profile.dump_stats(args.profile)


if __name__ == "__main__":
    main()
