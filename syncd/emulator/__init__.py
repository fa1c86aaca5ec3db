"""The toolkit for local vendor emulators: a stateful ASGI base with a request log, fault
injection and the vendor's rate limit; an in-process sync httpx transport; a loopback server;
seeded sample people; what an emulator gives ``syncd demo``; and the courier that sends an
emulator's webhooks. Vendor emulators live with their connector under ``plugins/``."""

from syncd.clock import Clock, system_clock
from syncd.emulator.base import (
    CONTROL_PREFIX,
    ConnectionDropped,
    Emulator,
    EmulatorOptions,
    LoggedRequest,
    mark_write,
)
from syncd.emulator.demo import Activity, ActivityPlan, DemoPart, Held, tool_call
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
from syncd.emulator.webhooks import Attempt, Catcher, Courier, RetryPolicy

__all__ = [
    "CONTROL_PREFIX",
    "LOOPBACK",
    "ASGIBridgeTransport",
    "Activity",
    "ActivityPlan",
    "Attempt",
    "Catcher",
    "Clock",
    "ConnectionDropped",
    "Courier",
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
    "RetryPolicy",
    "TokenBucket",
    "VirtualTime",
    "bind",
    "mark_write",
    "retry_after_header",
    "running",
    "serve",
    "system_clock",
    "tool_call",
    "transport",
]
