"""The toolkit for local vendor emulators: a stateful ASGI base with a request log, fault
injection and the vendor's rate limit; an in-process sync httpx transport; a loopback server;
seeded sample people; and what an emulator gives ``syncd demo``. Vendor emulators live with
their connector under ``plugins/``."""

from syncd.clock import Clock, system_clock
from syncd.emulator.base import (
    CONTROL_PREFIX,
    ConnectionDropped,
    Emulator,
    EmulatorOptions,
    LoggedRequest,
    mark_write,
)
from syncd.emulator.demo import Activity, ActivityPlan, DemoPart, Held
from syncd.emulator.faults import Decision, FaultPlan, Faults, FaultSpecError
from syncd.emulator.ratelimit import (
    ManualClock,
    RateLimit,
    TokenBucket,
    VirtualTime,
    retry_after_header,
)
from syncd.emulator.server import LOOPBACK, bind, running, serve
from syncd.emulator.transport import ASGIBridgeTransport, transport

__all__ = [
    "CONTROL_PREFIX",
    "LOOPBACK",
    "ASGIBridgeTransport",
    "Activity",
    "ActivityPlan",
    "Clock",
    "ConnectionDropped",
    "Decision",
    "DemoPart",
    "Emulator",
    "EmulatorOptions",
    "FaultPlan",
    "FaultSpecError",
    "Faults",
    "Held",
    "LoggedRequest",
    "ManualClock",
    "RateLimit",
    "TokenBucket",
    "VirtualTime",
    "bind",
    "mark_write",
    "retry_after_header",
    "running",
    "serve",
    "system_clock",
    "transport",
]
