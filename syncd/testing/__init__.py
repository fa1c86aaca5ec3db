"""Testing a connector: the conformance suite every connector passes, and helpers.

    from syncd.testing import EmulatorHarness, conformance_suite

    class AcmeHarness(EmulatorHarness[AcmeEmulator]):
        connector = AcmeConnector
        ...

    TestAcmeConformance = conformance_suite(AcmeHarness)

The suite, its harness and the sample connector it is proven on are described in
docs/plugins.md. ``syncd.testing.plugin`` is registered with pytest as ``syncd``; names are
imported on first use, so loading the plugin costs every test run nothing.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from syncd.testing.bench import Bench, PullRun, PushRun
    from syncd.testing.harness import WRONG_CREDENTIAL, EmulatorHarness, Harness
    from syncd.testing.rounds import pull, pull_valid, push_until_done
    from syncd.testing.routing import (
        Pipeline,
        emulator_context,
        ready_pipeline,
        route_to_emulators,
    )
    from syncd.testing.store import (
        content_diff,
        migrated_cursor,
        store_content,
        temporary_store,
    )
    from syncd.testing.suite import conformance_suite
    from syncd.testing.webhooks import WEBHOOK_NOW, received, webhook_receiver
    from syncd.testing.wire import WIRE_FAULTS, Wire

_HOMES = {
    "Bench": "bench",
    "PullRun": "bench",
    "PushRun": "bench",
    "WRONG_CREDENTIAL": "harness",
    "EmulatorHarness": "harness",
    "Harness": "harness",
    "pull": "rounds",
    "pull_valid": "rounds",
    "push_until_done": "rounds",
    "Pipeline": "routing",
    "emulator_context": "routing",
    "ready_pipeline": "routing",
    "route_to_emulators": "routing",
    "content_diff": "store",
    "migrated_cursor": "store",
    "store_content": "store",
    "temporary_store": "store",
    "conformance_suite": "suite",
    "WEBHOOK_NOW": "webhooks",
    "received": "webhooks",
    "webhook_receiver": "webhooks",
    "WIRE_FAULTS": "wire",
    "Wire": "wire",
}

__all__ = [
    "WEBHOOK_NOW",
    "WIRE_FAULTS",
    "WRONG_CREDENTIAL",
    "Bench",
    "EmulatorHarness",
    "Harness",
    "Pipeline",
    "PullRun",
    "PushRun",
    "Wire",
    "conformance_suite",
    "content_diff",
    "emulator_context",
    "migrated_cursor",
    "pull",
    "pull_valid",
    "push_until_done",
    "ready_pipeline",
    "received",
    "route_to_emulators",
    "store_content",
    "temporary_store",
    "webhook_receiver",
]


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module 'syncd.testing' has no attribute {name!r}")
    return getattr(importlib.import_module(f"syncd.testing.{home}"), name)
