"""Benchmark: the share of HubSpot's search limit a rate-bound read uses.

    .venv/bin/python benchmarks/hubspot_search.py [--people 2000] [--page-size 10] [--rates 4 5]

HubSpot's search endpoints take about 5 requests a second per account and send no rate
headers. This serves the HubSpot emulator on 127.0.0.1 (its search limit 5 a second, its
burst limit raised out of the way), and reads the contacts stream whole with small pages,
so that the search limit binds, once for each ``search_rate`` given, side by side. It prints
the search requests answered without a 429 per second, against the emulator's limit.
"""

from __future__ import annotations

import argparse
import time

from syncd.connectors.contract import ConnectorContext
from syncd.emulator import running
from syncd.logs import configure_logging
from syncd_plugins.hubspot.connector import HubSpotConnector, HubSpotOptions
from syncd_plugins.hubspot.emulator import DEFAULT_TOKEN, HubSpotEmulator

LIMIT = 5.0  # the emulator's search limit, requests a second, as HubSpot's


def measure(people: int, page_size: int, rate: float) -> str:
    emu = HubSpotEmulator(seed=3, people=people, burst=100_000, search_rate=LIMIT)
    with running(emu) as url:
        options = HubSpotOptions(
            token=DEFAULT_TOKEN,  # type: ignore[arg-type]
            base_url=url,
            page_size=page_size,
            search_rate=rate,
        )
        connector = HubSpotConnector(options, ConnectorContext("bench"))
        stream = next(s for s in connector.streams() if s.name == "contacts")
        started = time.perf_counter()
        records = sum(len(page.records) for page in stream.read(None))
        seconds = time.perf_counter() - started
        connector.close()
    searches = [r for r in emu.log if r.path.endswith("/search")]
    refused = sum(1 for r in searches if r.status == 429)
    per_second = (len(searches) - refused) / seconds
    return (
        f"search_rate {rate:>4g}/s: {len(searches):4d} searches ({refused} x 429) in "
        f"{seconds:6.2f} s = {per_second:5.2f} requests/s = {per_second / LIMIT:6.1%} of the "
        f"limit ({LIMIT:g}/s); {records} records"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--people", type=int, default=2000)
    parser.add_argument("--page-size", type=int, default=10)
    parser.add_argument("--rates", type=float, nargs="+", default=[4.0, 5.0])
    args = parser.parse_args()
    configure_logging("warning")
    print(f"HubSpot contacts read by search, {args.people} people, pages of {args.page_size}")
    for rate in args.rates:
        print("  " + measure(args.people, args.page_size, rate), flush=True)


if __name__ == "__main__":
    main()
