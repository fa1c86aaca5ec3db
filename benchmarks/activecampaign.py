"""Benchmark: the ActiveCampaign connector against its emulator served on loopback.

    .venv/bin/python benchmarks/activecampaign.py [--people 1000] [--raised 20] [--removals 20]

For the vendor's 5 requests a second, then a raised limit, it serves a fresh emulator on
127.0.0.1, runs a full pull of every stream and a push (a tag for every contact, in bulk
imports, and some removals), and prints the throughput and the share of the rate limit the
connector achieved (requests answered without a 429, per second, over the limit).
"""

from __future__ import annotations

import argparse
import math
import time
from dataclasses import dataclass

from syncd.connectors.contract import Change, ChangeKind, ConnectorContext, Outcome
from syncd.emulator import running
from syncd_plugins.activecampaign.connector import ActiveCampaignConnector, ActiveCampaignOptions
from syncd_plugins.activecampaign.emulator import DEFAULT_TOKEN, ActiveCampaignEmulator


@dataclass
class Figures:
    what: str
    limit: float
    seconds: float
    requests: int
    refused: int  # 429s
    items: int  # records pulled or changes pushed
    writes: int  # accepted writes (not refused with a 429)
    waited: float  # seconds the connector held back for the limit or between retries

    def line(self) -> str:
        rate = (self.requests - self.refused) / self.seconds
        return (
            f"{self.what:<5} limit {self.limit:>5g}/s  {self.seconds:7.2f}s  "
            f"{self.requests:5d} requests ({self.refused} x 429, {self.writes} writes)  "
            f"{rate:6.2f} req/s = {rate / self.limit:6.1%} of the limit  "
            f"(waited {self.waited / self.seconds:4.0%} of the time)  "
            f"{self.items / self.seconds:8.1f} {'records' if self.what == 'pull' else 'changes'}/s"
        )


def connector_for(base_url: str, limit: float) -> ActiveCampaignConnector:
    options = ActiveCampaignOptions(url=base_url, token=DEFAULT_TOKEN)  # type: ignore[arg-type]
    if limit != options.rate_limit:
        # the option stops at AC's documented 5/s; an account with a raised limit is emulated
        options = options.model_copy(update={"rate_limit": limit})
    return ActiveCampaignConnector(options, ConnectorContext("bench"))


def measure(
    emu: ActiveCampaignEmulator, what: str, limit: float, started: float, items: int, waited: float
) -> Figures:
    seconds = time.perf_counter() - started
    log = emu.requests()
    writes = sum(1 for r in log if r.method != "GET" and r.status != 429)
    refused = len(emu.requests(status=429))
    return Figures(what, limit, seconds, len(log), refused, items, writes, waited)


def run(limit: float, people: int, removals: int, seed: int) -> list[Figures]:
    emu = ActiveCampaignEmulator(seed=seed, people=people, rate_limit=limit)
    state = emu.state()
    with running(emu) as base_url:
        connector = connector_for(base_url, limit)
        time.sleep(1.0)  # a full bucket at the emulator, as for a client that was idle
        emu.clear_requests()
        started, waited = time.perf_counter(), connector.api.waited
        pulled = 0
        for stream in connector.streams():
            for page in stream.read(None):
                pulled += len(page.records)
        pull = measure(emu, "pull", limit, started, pulled, connector.api.waited - waited)

        customer = next(t["id"] for t in state["tags"] if t["tag"] == "customer")
        links = [t for t in state["contactTags"] if t["tag"] == customer][:removals]
        emails = {c["id"]: c["email"] for c in state["contacts"]}
        changes = [Change(i, ChangeKind.ADD_TAG, e, "BENCH") for i, e in enumerate(emails.values())]
        changes += [
            Change(len(changes) + i, ChangeKind.REMOVE_TAG, emails[t["contact"]], "customer",
                   external_id=t["contact"], ref=t["id"])
            for i, t in enumerate(links)
        ]  # fmt: skip
        destination = connector.destination()
        assert destination is not None
        time.sleep(1.0)
        emu.clear_requests()
        started, waited = time.perf_counter(), connector.api.waited
        results = []
        for at in range(0, len(changes), destination.batch_size):
            results += destination.push(changes[at : at + destination.batch_size])
        push = measure(emu, "push", limit, started, len(changes), connector.api.waited - waited)
        done = sum(1 for r in results if r.outcome is Outcome.DONE)
        expected_writes = math.ceil(len(emails) / 250) + len(links)
        print(
            f"  push: {done}/{len(changes)} changes done; writes {push.writes} "
            f"(the minimum ceil(C/250)+R is {expected_writes})"
        )
        connector.close()
    return [pull, push]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--people", type=int, default=1000, help="people in the sample crowd")
    parser.add_argument("--raised", type=float, default=20.0, help="the raised limit, req/s")
    parser.add_argument("--removals", type=int, default=20, help="tag removals in the push")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    figures: list[Figures] = []
    for limit in (5.0, args.raised):
        print(f"limit {limit:g} requests/s, {args.people} people:")
        figures += run(limit, args.people, args.removals, args.seed)
    print()
    for f in figures:
        print(f.line())


if __name__ == "__main__":
    main()
