"""The whole reliability harness, with its figures (pytest runs a sample of it).

    .venv/bin/python tests/reliability/run.py kill [--points 200] [--store sqlite|postgresql]
    .venv/bin/python tests/reliability/run.py soak [--store sqlite|postgresql] [--cycles 4]

``kill``: an uninterrupted reference, then each kill point (three fifths spread over the
store statements of a sync, a fifth before a request is sent, a fifth after its answer
came) killed and followed by one normal sync; a line per point that failed, and a table by
the stage the kill landed in. ``soak``: each kind of fault at 20 % and 50 %, and every kind
at once, on every emulator for ``--cycles`` syncs, then one without faults; and one sync
with a destination's writes all failing. Exit status 1 when a rule was broken.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from tests.reliability import harness


def kill(args: argparse.Namespace, folder: Path) -> int:
    started = time.perf_counter()
    ref = harness.reference(folder / "reference", args.store)
    points = harness.kill_points(ref.counts, args.points)
    print(
        f"reference: {ref.counts.get('store', 0)} store statements, {ref.counts.get('http', 0)} "
        f"requests per sync; {len(points)} kill points on {args.store}",
        flush=True,
    )
    by_stage: dict[str, list[harness.KillResult]] = defaultdict(list)
    for n, point in enumerate(points, 1):
        result = harness.kill_and_recover(folder / "kill", ref, point, args.store)
        by_stage[result.stage or "not killed"].append(result)
        if n % 25 == 0:
            so_far = harness.summarize({r.point: r.outcome for rs in by_stage.values() for r in rs})
            print(f"  {n} points, {time.perf_counter() - started:.0f} s: {so_far}", flush=True)
        if not result.outcome.ok or not result.killed:
            print(f"  {point} ({result.stage}): killed {result.killed}, "
                  f"{result.outcome.details} {result.outcome.stuck}", flush=True)  # fmt: skip
    print(f"{'stage':<12}{'points':>7}{'killed':>7}{'lost':>6}{'extra':>6}{'dup':>5}"
          f"{'stuck':>6}{'resent':>7}")  # fmt: skip
    total = []
    for stage in ("start", "run", "pull", "compute", "plan", "queue", "push", "not killed"):
        rows = by_stage.get(stage, [])
        if not rows:
            continue
        total += rows
        s = harness.summarize({r.point: r.outcome for r in rows})
        killed = sum(r.killed for r in rows)
        print(f"{stage:<12}{len(rows):>7}{killed:>7}{s['lost']:>6}{s['extra']:>6}"
              f"{s['duplicated']:>5}{s['stuck']:>6}{s['resent']:>7}")  # fmt: skip
    s = harness.summarize({r.point: r.outcome for r in total})
    killed = sum(r.killed for r in total)
    print(f"{'all':<12}{len(total):>7}{killed:>7}{s['lost']:>6}{s['extra']:>6}"
          f"{s['duplicated']:>5}{s['stuck']:>6}{s['resent']:>7}")  # fmt: skip
    print(f"{time.perf_counter() - started:.0f} s")
    broken = s["lost"] or s["extra"] or s["duplicated"] or s["stuck"] or killed < len(total)
    return 1 if broken else 0


def soak(args: argparse.Namespace, folder: Path) -> int:
    started = time.perf_counter()
    ref = harness.soak_reference(folder / "reference", args.store)
    specs = [f"{k}={share}" for share in (0.2, 0.5) for k in harness.FAULT_KINDS]
    specs.append(",".join(f"{k}=0.2" for k in harness.FAULT_KINDS))
    print(f"{'faults':<58}{'faulted':>9}{'partial':>8}{'lost':>6}{'extra':>6}{'dup':>5}"
          f"{'stuck':>6}")  # fmt: skip
    broken = 0
    for spec in specs:
        r = harness.soak(folder / "soak", ref, spec, dialect=args.store, cycles=args.cycles)
        o = r.outcome
        share = f"{r.faults}/{r.requests}"
        partial = sum(1 for c in r.codes if c == 4)
        print(f"{spec:<58}{share:>9}{partial:>5}/{len(r.codes)}{o.lost:>6}{o.extra:>6}"
              f"{o.duplicated:>5}{len(o.stuck):>6}", flush=True)  # fmt: skip
        if not o.ok:
            broken += 1
            print(f"  {o.details[:4]} {o.stuck}", flush=True)
    code, outcome = harness.one_down(folder / "down", ref, "activecampaign", args.store)
    print(
        f"activecampaign's writes all failing: exit {code}; the other destinations: "
        f"lost {outcome.lost}, extra {outcome.extra}, duplicated {outcome.duplicated}"
    )
    print(f"{time.perf_counter() - started:.0f} s")
    return 1 if broken or not outcome.ok or code != 4 else 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("what", choices=("kill", "soak"))
    parser.add_argument("--points", type=int, default=200)
    parser.add_argument("--cycles", type=int, default=4)
    parser.add_argument("--store", choices=("sqlite", "postgresql"), default="sqlite")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="syncd-reliability-") as tmp:
        return (kill if args.what == "kill" else soak)(args, Path(tmp))


if __name__ == "__main__":
    sys.exit(main())
