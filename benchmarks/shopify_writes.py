"""Benchmark: Shopify write calls against the fewest the GraphQL Admin API allows.

    .venv/bin/python benchmarks/shopify_writes.py [--people 2000] [--batch-size 500]

Seeds the Shopify emulator, then pushes two plans through syncd's destination as the outbox
does (``batch_size`` contacts a batch): every customer gains ``syncd-vip`` (a third also
``syncd-lapsed``), then a third swap ``syncd-lapsed`` for ``syncd-winback`` (a tagsAdd and a
tagsRemove each) and a few lose ``syncd-vip``; one customer in ten is known by e-mail only.
Prints, per plan, the mutations, the write calls the emulator served (its request log, where
mutations are marked writes), the fewest the API allows (10 points a mutation, 1,000 a
document) for those batches and for the whole plan, and the e-mail searches made.
"""

from __future__ import annotations

import argparse

from syncd.connectors import by_contact, tag_writes
from syncd.emulator import ManualClock, VirtualTime
from syncd.testing import emulator_context, push_until_done
from syncd_plugins.shopify.connector import ShopifyConnector, ShopifyOptions
from syncd_plugins.shopify.emulator import DEFAULT_TOKEN, ShopifyEmulator
from syncd_plugins.shopify.test_against_emulator import fewest_writes, plan, reads, then, writes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--people", type=int, default=2000)
    parser.add_argument("--batch-size", type=int, default=500)
    args = parser.parse_args()
    clock = ManualClock()
    emu = ShopifyEmulator(seed=5, people=args.people, clock=clock)
    options = ShopifyOptions(
        shop="emulated",
        access_token=DEFAULT_TOKEN,  # type: ignore[arg-type]
        batch_size=args.batch_size,
    )
    connector = ShopifyConnector(options, emulator_context("shop", emu, time=VirtualTime(clock)))
    customers = len(emu.state()["customers"])
    print(f"{customers} customers, batches of {args.batch_size} contacts")
    print(f"{'plan':<8} {'mutations':>9} {'writes':>6} {'fewest':>6} {'whole':>6} "
          f"{'ratio':>5} {'searches':>8}")  # fmt: skip
    for name, changes in (("first", plan(emu)), ("then", then(emu))):
        emu.clear_requests()
        push_until_done(connector, changes)
        made = writes(emu)
        fewest = fewest_writes(changes, args.batch_size)
        whole = fewest_writes(changes, 10**9)
        groups = by_contact(changes).values()
        mutations = sum(sum(bool(tags) for tags in tag_writes(group)) for group in groups)
        print(f"{name:<8} {mutations:>9} {made:>6} {fewest:>6} {whole:>6} "
              f"{made / fewest:>5.2f} {reads(emu):>8}")  # fmt: skip


if __name__ == "__main__":
    main()
