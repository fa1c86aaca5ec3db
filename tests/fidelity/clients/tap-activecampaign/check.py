"""Singer's tap-activecampaign (1.3.1) against the ActiveCampaign emulator: discovery, then a
sync of every stream it offers with all of them selected, each stream's records compared with
the emulator's state. A tap only reads: it offers no writes.

The tap is run unchanged as a subprocess (``tap-activecampaign --config --catalog``), its
RECORD messages read from stdout. One thing stands between it and a loopback emulator: its
guard against server-side request forgery refuses an ``api_url`` that is not HTTPS or that
resolves to a private address. The launcher below replaces that one check and nothing else.
"""

from __future__ import annotations

import sys
import tempfile
from collections import Counter
from pathlib import Path
from typing import Any

from verdict import CONFIG, URL, discover, report, state, sync

LAUNCH = (
    "import sys, tap_activecampaign, tap_activecampaign.client as c\n"
    "c.is_api_url_valid = lambda url: True  # the emulator is on loopback, over HTTP\n"
    "sys.argv[0] = 'tap-activecampaign'\n"
    "tap_activecampaign.main()\n"
)

#: stream → the emulator's table it reads (every other stream: a collection the account has
#: none of, which must come back empty without an error)
TABLES = {
    "users": "users",
    "ecommerce_connections": "connections",
    "contacts": "contacts",
    "tags": "tags",
    "contact_tags": "contactTags",
    "lists": "lists",
    "contact_lists": "contactLists",
    "contact_custom_fields": "fields",
    "contact_custom_field_values": "fieldValues",
    "email_activities": "emailActivities",
    "bounce_logs": "bounceLogs",
    "ecommerce_customers": "ecomCustomers",
    "ecommerce_orders": "ecomOrders",
    "ecommerce_order_products": "ecomOrderProducts",
    "forms": "forms",
}


def select_all(catalog: dict[str, Any]) -> None:
    for stream in catalog["streams"]:
        for entry in stream["metadata"]:
            if entry["breadcrumb"] == []:
                entry["metadata"]["selected"] = True


def main() -> int:
    work = Path(tempfile.mkdtemp(prefix="tap-activecampaign-"))
    config = {
        "api_url": URL,
        "api_token": CONFIG["token"],
        "start_date": "2000-01-01T00:00:00Z",
        "user_agent": "syncd-fidelity (tap-activecampaign)",
        "request_timeout": 30,
    }
    found, catalog = discover(LAUNCH, work, config)
    if catalog is None:
        return 0
    names = sorted(s["tap_stream_id"] for s in catalog["streams"])
    ok = found.returncode == 0 and set(TABLES) <= set(names)
    report("--discover", ok, len(names), "streams in the catalog (token checked: GET /api/3/)")
    if not ok:
        return 0
    select_all(catalog)
    run, read = sync(LAUNCH, work, catalog)
    ids = {name: [r.get("id") for r in rows] for name, rows in read.items()}
    held = state()
    if "contacts" in held:
        held["contacts"] = [c for c in held["contacts"] if str(c.get("deleted")) == "0"]
    empty = Counter()
    for name in names:
        got = ids.get(name, [])
        table = TABLES.get(name)
        if table is None:  # a collection the emulator's account has none of
            if got:
                report(f"sync {name}", False, len(got), "records where the account has none")
            else:
                empty[name] += 1
            continue
        want = sorted(int(r["id"]) for r in held.get(table, []))
        seen = sorted(int(i) for i in got if i is not None)
        same = seen == want and len(got) == len(want)
        detail = f"= {table} in the emulator" if same else f"emulator {table}: {len(want)}"
        report(f"sync {name}", same and run.returncode == 0, len(got), detail)
    report(
        "sync of the other streams",
        run.returncode == 0 and len(empty) == len(names) - len(TABLES),
        0,
        f"{len(empty)} documented collections the account has none of, each empty",
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
