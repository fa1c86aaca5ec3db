"""Benchmark: a webhook from a source emulator to a tag visible in the destination emulator.

    .venv/bin/python benchmarks/webhooks.py [--contacts 100000] [--rates 1 10 100]
                                            [--seconds 10] [--vendor-limits] [--store URL]
                                            [--stages] [--scheduled] [--webhook-workers 16]

A store of ``--contacts`` generated contacts (as benchmarks/segments.py makes them), the
Shopify emulator as the source and the ActiveCampaign emulator as the destination, served on
127.0.0.1 by a process of their own (benchmarks/webhook_vendors.py: the emulators, the orders'
client threads and the watch for the tags), so that this process runs the daemon's side
alone, as in production where the vendors are other machines: the webhook ingest
(``POST /webhooks/NAME``) and its micro-cycles, as ``syncd run`` runs them, with the default
``debounce`` (2 s). The
subscriptions are made by ``syncd webhooks register``'s code. Then, at each rate, orders are
created in the shop (``POST orders.json``, open loop: one every 1/rate s for ``--seconds``),
each for a contact of the store with none; Shopify's emulator posts ``orders/create``, the
ingest stores it, a micro-cycle applies it, ``buyers: {event: order_placed}`` takes the
contact in, and the destination is tagged ``BUYER``. The latency of an event is from the
answer of its order to the tag being in the destination emulator's state. It prints p50,
p95 and the slowest per rate. The accounts' rate limits are raised unless
``--vendor-limits`` (at ActiveCampaign's 5 requests a second a burst of 100 orders a second
waits for the vendor, not for syncd).
With ``--stages`` it also prints, per rate, where the time went: the micro-cycles (how many,
deliveries each, seconds in apply, compute + plan and push) and the ingest's stores
(``store``: each request's, waiting for its group commit included; ``commit``: the
transactions, each storing the deliveries that waited together).
With ``--scheduled``, a scheduled cycle (``syncd sync`` under the run lock the micro-cycles
share) is timed in three arms, side by side: no order made; orders at the highest rate made
during it with the shop delivering no webhook (its subscriptions off, so the cycle pulls,
plans and pushes them itself); and the same orders at the same rate with the webhooks
flowing, the only difference from the arm before. Each arm's wall and CPU seconds (its
thread's, and the process's: the ingest and micro-cycles included), records pulled and
contacts planned; the webhook arm's orders are a row of their own (p50, p95). Each order arm
is followed by the cycles that bring the store back to quiet (the orders made after its pull,
then its pushes read back), and each arm's cycles are summed: the same orders, so the same
work, wherever the webhooks move it.
The shop posts ``--webhook-workers`` deliveries at once (16; its emulator's default is 4): an
order makes two deliveries (``orders/create``, ``customers/create``), and four posts at a time
delivered some 75 a second (when the emulators shared the daemon's process), under the 200 a
second that 100 orders a second make, so the latency measured was the shop's queue.
"""

from __future__ import annotations

import argparse
import faulthandler
import signal
import statistics
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import structlog
from segments import generate
from webhook_vendors import RAISED, Vendors

from syncd import metrics
from syncd.clock import system_clock
from syncd.config import load_config
from syncd.daemon.jobs import Lending
from syncd.daemon.run_lock import RunLock
from syncd.daemon.service import scheduled as job_runtime
from syncd.emulator import running
from syncd.logs import configure_logging
from syncd.runtime import Runtime, build_runtime
from syncd.settings import Settings
from syncd.sync import cycle
from syncd.webhooks import inbox as inbox_module
from syncd.webhooks import micro as micro_module
from syncd.webhooks.group_commit import GroupCommit
from syncd.webhooks.ingest import Backlog, Ingest, Receivers
from syncd.webhooks.micro import MicroCycles
from syncd.webhooks.register import each

SECRET = "bench-shopify-client-secret"
CONFIG = """
store:
  url: "{db}"
connectors:
  shop: {{type: shopify, shop: "{shop}", access_token: "{shop_token}"}}
  esp: {{type: activecampaign, url: "{esp}", token: "{esp_token}"}}
segments:
  buyers: {{event: order_placed}}
destinations:
  - connector: esp
    tags: {{buyers: BUYER}}
webhooks:
  connectors:
    shop: {{secret: {secret}}}
"""


class Stages:
    """Seconds spent in each stage of the ingest and the micro-cycles, wrapped around the
    functions that do them, and the mean lag from a delivery's arrival at the ingest to the
    end of the micro-cycle that pushed it (``--stages``)."""

    WRAPPED = (
        (micro_module, "micro_cycle", "cycle"),
        (micro_module, "apply_inbox", "apply"),
        (micro_module, "plan_contacts", "plan"),
        (cycle, "push", "push"),
        (GroupCommit, "store", "store"),
        (inbox_module, "store_deliveries", "commit"),
    )

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.times: dict[str, list[float]] = {}
        self.failed = 0
        self.deliveries: list[int] = []
        self.lag = (0.0, 0.0)  # the ingest-to-push lag's sum and count when last taken

    def install(self) -> None:
        for module, name, stage in self.WRAPPED:
            setattr(module, name, self._wrap(getattr(module, name), stage))

    def _wrap(self, function: Any, stage: str) -> Any:
        def timed(*args: Any, **kwargs: Any) -> Any:
            begun = time.monotonic()
            try:
                out = function(*args, **kwargs)
            except Exception:
                if stage == "cycle":
                    with self.lock:
                        self.failed += 1
                raise
            finally:
                with self.lock:
                    self.times.setdefault(stage, []).append(time.monotonic() - begun)
            if stage == "cycle" and out is not None:
                with self.lock:
                    self.deliveries.append(int(out.counts.get("deliveries", 0)))
            return out

        return timed

    def take(self) -> str:
        with self.lock:
            times, self.times = self.times, {}
            failed, self.failed = self.failed, 0
            deliveries, self.deliveries = self.deliveries, []
        parts = [f"micro-cycles {len(deliveries)} ({failed} failed)"]
        shop = {"instance": "shop"}
        lag = tuple(
            metrics.REGISTRY.get_sample_value(f"syncd_webhook_lag_seconds_{k}", shop) or 0.0
            for k in ("sum", "count")
        )
        (total, count), self.lag = (lag[0] - self.lag[0], lag[1] - self.lag[1]), (lag[0], lag[1])
        if count:
            parts.append(f"stored-to-pushed mean {total / count:.2f} s")
        if deliveries:
            parts.append(f"deliveries each {statistics.mean(deliveries):.1f} max {max(deliveries)}")
        for stage in ("cycle", "apply", "plan", "push", "store", "commit"):
            values = times.get(stage, [])
            if values:
                parts.append(
                    f"{stage} n={len(values)} mean {statistics.mean(values):.3f} s "
                    f"max {max(values):.3f} s"
                )
        return "; ".join(parts)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--contacts", type=int, default=100_000)
    parser.add_argument("--rates", type=float, nargs="+", default=[1, 10, 100])
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--vendor-limits", action="store_true")
    parser.add_argument("--stages", action="store_true", help="print where the time went")
    parser.add_argument(
        "--webhook-workers", type=int, default=16, help="deliveries the shop posts at once"
    )
    parser.add_argument(
        "--scheduled",
        action="store_true",
        help="also time a scheduled cycle with no webhooks and with the highest rate flowing",
    )
    parser.add_argument(
        "--store",
        help="the URL of an empty store (default: a new SQLite file in a temporary folder)",
    )
    args = parser.parse_args()
    faulthandler.register(signal.SIGUSR1)  # kill -USR1 PID: every thread's stack, to stderr
    configure_logging("warning")
    work = Path(tempfile.mkdtemp(prefix="syncd-bench-webhooks-"))
    db = args.store or f"sqlite:///{work / 'store.db'}"
    started = time.monotonic()
    generate(db, args.contacts, 0, seed=1)
    print(f"store: {args.contacts} contacts generated in {time.monotonic() - started:.1f} s")
    vendors = Vendors(SECRET, args.vendor_limits, args.webhook_workers)
    try:
        (work / "syncd.yaml").write_text(
            CONFIG.format(
                db=db,
                shop=vendors.shop_url,
                shop_token=vendors.shop_token,
                esp=vendors.esp_url,
                esp_token=vendors.esp_token,
                secret=SECRET,
            )
        )
        config = load_config(work / "syncd.yaml", settings=Settings.model_construct())
        rt = build_runtime(config, clock=system_clock)
        if not args.vendor_limits:  # as for accounts whose limits were raised
            for connector in rt.connectors.values():
                options = connector.options
                if "rate_limit" in type(options).model_fields:
                    connector.options = options.model_copy(update={"rate_limit": RAISED})
        begun = time.monotonic()
        cycle.compute(rt)
        print(f"first compute of the store: {time.monotonic() - begun:.1f} s")
        run(rt, vendors, args)
        rt.close()
    finally:
        vendors.close()


def run(rt: Runtime, vendors: Vendors, args: Any) -> None:
    stages = Stages() if args.stages else None
    if stages is not None:
        stages.install()
    backlog, receivers, stop = Backlog(), Receivers(), threading.Event()
    lock = RunLock()  # the daemon's run lock: a micro-cycle or a scheduled job
    micro = MicroCycles(lambda: rt, receivers, backlog, lock, stop)
    micro.start()
    with running(Ingest(lambda: rt, backlog, receivers)) as daemon_url:
        rt.config.webhooks.public_url = daemon_url
        made = each(rt, register=True)
        topics = sorted(s.topic for o in made for s in o.subscriptions)
        print(f"subscriptions: {', '.join(topics)} → {daemon_url}/webhooks/shop")
        bench = Orders(vendors, args.seconds, stages)
        rows = [(f"{rate:g}", *bench.measure(rate)) for rate in args.rates]
        if args.scheduled:
            rows += scheduled(rt, lock, bench, max(args.rates))
    stop.set()
    micro.join(10)
    print()
    print(f"{'events/s':>9} {'events':>7} {'tagged':>7} {'p50 s':>7} {'p95 s':>7} {'max s':>7}")
    for label, count, latencies in rows:
        failed = f"  ({count - len(latencies)} not tagged)" if len(latencies) < count else ""
        if latencies:
            p50, p95 = statistics.median(latencies), percentile(latencies, 0.95)
            print(
                f"{label:>9} {count:>7} {len(latencies):>7} {p50:>7.2f} {p95:>7.2f} "
                f"{max(latencies):>7.2f}{failed}"
            )
        else:
            print(f"{label:>9} {count:>7} {0:>7}       -       -       -")


class Orders:
    """Orders at a rate for ``seconds``, each for a contact of the store with none yet."""

    def __init__(self, vendors: Vendors, seconds: float, stages: Stages | None) -> None:
        self.vendors, self.seconds, self.stages = vendors, seconds, stages
        self.next_contact = 1

    def measure(self, rate: float, hooks: bool = True) -> tuple[int, list[float]]:
        """Fire the orders, wait for their tags (2 minutes at most); how many orders were
        answered, and the latency of each tagged. Unless ``hooks``, the shop delivers no
        webhook for them and their tags are not waited for."""
        count = max(1, int(rate * self.seconds))
        first, self.next_contact = self.next_contact, self.next_contact + count
        emails = [f"person{i}@example.com" for i in range(first, first + count)]
        cpu = time.process_time()
        got = self.vendors.measure(emails, rate, hooks)
        if not hooks:
            return got.sent, got.latencies
        time.sleep(3)  # the last micro-cycle of this rate ends before the next rate
        cpu = time.process_time() - cpu  # this process: the ingest and the micro-cycles
        if self.stages is not None:
            unanswered = count - got.sent
            print(
                f"{rate:g}/s: the daemon's side used {cpu:.1f} CPU s; "
                f"the shop posted {got.posts} webhooks ({got.refused} refused), "
                f"the last answered {got.answered:.1f} s after the first order"
                f"{f' ({unanswered} orders unanswered)' if unanswered else ''}; "
                f"{self.stages.take()}",
                flush=True,
            )
        return got.sent, got.latencies


def scheduled(
    rt: Runtime, lock: RunLock, bench: Orders, rate: float
) -> list[tuple[str, int, list[float]]]:
    """A scheduled cycle (``syncd sync``, under the run lock as the daemon runs it) in three
    arms, side by side: no order made; begun 3 s into orders at ``rate`` with the shop
    delivering no webhook (its subscriptions off: the cycle pulls the orders, and plans and
    pushes their contacts, itself); and begun 3 s into orders at ``rate`` with the webhooks
    flowing (the ingest and the micro-cycles beside it). The last two make the same orders
    at the same rate and differ only in the webhooks. For each: how long it waited for the
    lock and ran, its CPU seconds (its own thread's, and this process's while it ran:
    the ingest and the micro-cycles included), the seconds it lent the run lock to
    micro-cycles (in its wall time), what it pulled and planned; the orders of
    the webhook arm are returned as a row ``RATE+sync``."""
    job_log = structlog.get_logger("syncd.daemon")  # its progress lines: under --log warning

    lent = [0.0, 0]  # the seconds the cycle lent the run lock to micro-cycles, and how often

    def lend() -> bool:
        begun = time.monotonic()
        if not lock.lend():
            return False
        lent[0], lent[1] = lent[0] + time.monotonic() - begun, lent[1] + 1
        return True

    def one() -> Cycle:
        asked = time.monotonic()
        lent[:] = [0.0, 0]
        with lock:
            began, cpu, own = time.monotonic(), time.process_time(), time.thread_time()
            try:
                # as the daemon runs a job: lending the run lock between the pages it pulls
                report = cycle.sync(job_runtime(rt), observer=Lending(job_log, lend))
            except Exception as error:  # e.g. SQLite's "database is locked": the run goes on
                said = str(error).splitlines()[0][:200]
                return Cycle(began - asked, raised=f"{type(error).__name__}: {said}")
        return Cycle(
            began - asked,
            wall=time.monotonic() - began,
            lent=lent[0],
            loans=int(lent[1]),
            cpu=time.thread_time() - own,
            process_cpu=time.process_time() - cpu,
            pulled={n: sum(c.values()) for n, c in report.pulled.items()},
            planned=sum(len(p.changes) for p in report.plans),
            failures=str(report.failures) if report.failures else "",
        )

    def during_orders(hooks: bool) -> tuple[Cycle, tuple[int, list[float]]]:
        out: list[tuple[int, list[float]]] = []
        orders = threading.Thread(target=lambda: out.append(bench.measure(rate, hooks)))
        orders.start()
        time.sleep(3)  # the orders (and the micro-cycles, with webhooks) are under way
        timed = one()
        orders.join()
        return timed, out[0]

    first = one()  # the first pull reads both emulators whole: not compared
    quiet = one()
    unhooked, (made, _) = during_orders(hooks=False)
    settled = one()  # the orders made after that cycle's pull
    # the destination's contacts that cycle pushed, read back (not left to the webhook arm)
    read_back = one()
    busy, (count, latencies) = during_orders(hooks=True)
    # as for the arm without webhooks: the orders made after its pull, then its push read
    # back; each arm's cycles until the store is quiet again do the same work in all
    settled_hooked, read_back_hooked = one(), one()
    print(
        f"\nscheduled cycle, {'arm':<36} {'waited':>7} {'wall s':>7} {'lent s':>7} "
        f"{'loans':>5} {'CPU s':>6} {'proc CPU':>9} {'pulled':>7} {'planned':>8}"
    )
    for label, timed in (
        ("first (not compared)", first),
        ("no orders", quiet),
        (f"{made} orders at {rate:g}/s, no webhooks", unhooked),
        ("the rest of them", settled),
        ("their push read back", read_back),
        (f"{count} orders at {rate:g}/s, webhooks", busy),
        ("the rest of them", settled_hooked),
        ("the micro-cycles' pushes read back", read_back_hooked),
    ):
        print(f"scheduled cycle, {label:<36} {timed}", flush=True)
    for label, cycles in (
        ("no webhooks", (unhooked, settled, read_back)),
        ("webhooks", (busy, settled_hooked, read_back_hooked)),
    ):
        print(f"scheduled cycles until quiet, {label:<12} {_totals(cycles)}", flush=True)
    if latencies:
        print(
            f"scheduled cycle, webhooks: the {len(latencies)} orders tagged of {count}: "
            f"p50 {statistics.median(latencies):.2f} s, p95 {percentile(latencies, 0.95):.2f} s",
            flush=True,
        )
    return [(f"{rate:g}+sync", count, latencies)]


@dataclass
class Cycle:
    """One scheduled cycle as ``scheduled`` timed it (``raised``: what it raised instead)."""

    waited: float
    wall: float = 0.0
    lent: float = 0.0  # seconds the run lock was lent to micro-cycles, in ``wall``
    loans: int = 0
    cpu: float = 0.0  # its own thread's
    process_cpu: float = 0.0  # the process's while it ran: the ingest and micro-cycles too
    pulled: dict[str, int] = field(default_factory=dict)  # records, by connector instance
    planned: int = 0
    failures: str = ""
    raised: str = ""

    def __str__(self) -> str:
        if self.raised:
            return f"waited {self.waited:5.2f} s, raised {self.raised}"
        each = ", ".join(f"{n} {c}" for n, c in self.pulled.items())
        failed = f"  failed: {self.failures}" if self.failures else ""
        return (
            f"{self.waited:>7.2f} {self.wall:>7.2f} {self.lent:>7.2f} {self.loans:>5} "
            f"{self.cpu:>6.2f} {self.process_cpu:>9.2f} {sum(self.pulled.values()):>7} "
            f"{self.planned:>8}  ({each}){failed}"
        )


def _totals(cycles: tuple[Cycle, ...]) -> str:
    """The wall, lent and own CPU seconds, records pulled and contacts planned of
    ``cycles``, summed."""
    if any(c.raised for c in cycles):
        return "(a cycle raised: no sum)"
    wall, lent, cpu = (sum(getattr(c, k) for c in cycles) for k in ("wall", "lent", "cpu"))
    pulled = sum(sum(c.pulled.values()) for c in cycles)
    planned = sum(c.planned for c in cycles)
    return (
        f"wall {wall:.2f} s (lent {lent:.2f} s), CPU {cpu:.2f} s, pulled {pulled}, "
        f"planned {planned}"
    )


if __name__ == "__main__":
    main()
