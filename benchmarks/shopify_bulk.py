"""Benchmark: a first pull of a large shop through a GraphQL bulk operation.

    .venv/bin/python benchmarks/shopify_bulk.py [--customers 50000] [--poll 0.2]

Seeds the Shopify emulator with ``--customers`` customers, serves it on 127.0.0.1, and reads
the ``customers`` stream once with no cursor through syncd's connector:
the count, ``bulkOperationRunQuery``, the polls until COMPLETED and the JSONL download.
Prints the records read, the requests the emulator served and the seconds taken, and the
same for a paged read of the same shop for comparison (``--no-paged`` skips it).
"""

from __future__ import annotations

import argparse
import time

from syncd.connectors import ConnectorContext, ContactRecord
from syncd.emulator import running
from syncd_plugins.shopify.connector import ShopifyConnector, ShopifyOptions
from syncd_plugins.shopify.emulator import DEFAULT_TOKEN, ShopifyEmulator


def first_pull(emu: ShopifyEmulator, url: str, *, poll: float, bulk: bool) -> tuple[int, float]:
    options = ShopifyOptions(
        shop=url,
        access_token=DEFAULT_TOKEN,  # type: ignore[arg-type]
        bulk_poll=poll,
        bulk_threshold=1 if bulk else 10**9,
        streams=["customers"],
        graphql_restore_rate=1000,
    )
    connector = ShopifyConnector(options, ConnectorContext("shop"))
    emu.clear_requests()
    began = time.perf_counter()
    read = 0
    for stream in connector.streams():
        for page in stream.read(None):
            read += sum(isinstance(r, ContactRecord) for r in page.records)
    connector.close()
    return read, time.perf_counter() - began


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=50_000)
    parser.add_argument("--poll", type=float, default=0.2, help="seconds between polls")
    parser.add_argument("--no-paged", action="store_true", help="skip the paged comparison")
    args = parser.parse_args()
    seeded = time.perf_counter()
    # a Plus shop's GraphQL budget (1,000 points a second), no REST limit
    # not every person the emulator makes is a customer: make enough, keep exactly the number
    people = args.customers * 3 // 2 + 100
    emu = ShopifyEmulator(seed=7, people=people, rate_limit=0, cost_restore=1000)
    for extra in sorted(emu.shop.customers)[args.customers :]:
        del emu.shop.customers[extra]
    customers = len(emu.shop.customers)
    print(f"seeded {customers} customers in {time.perf_counter() - seeded:.1f}s")
    with running(emu) as url:
        runs = [("bulk", True)] + ([] if args.no_paged else [("paged", False)])
        for what, bulk in runs:
            read, seconds = first_pull(emu, url, poll=args.poll, bulk=bulk)
            requests = len(emu.requests())
            print(
                f"{what:<5} first pull: {read} customers, {requests} requests, {seconds:.2f}s"
                f" ({read / seconds:,.0f} customers/s)"
            )
            assert read == customers, f"{what}: read {read} of {customers}"


if __name__ == "__main__":
    main()
