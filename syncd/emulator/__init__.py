"""The toolkit for local vendor emulators: a stateful ASGI base with a request log, fault
injection and the vendor's rate limit; an in-process sync httpx transport; a loopback server;
and seeded sample people. Vendor emulators live with their connector under ``plugins/``."""

from syncd.emulator.base import CONTROL_PREFIX, ConnectionDropped, Emulator, LoggedRequest
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
    "ConnectionDropped",
    "Decision",
    "Emulator",
    "FaultPlan",
    "FaultSpecError",
    "Faults",
    "LoggedRequest",
    "ManualClock",
    "RateLimit",
    "TokenBucket",
    "VirtualTime",
    "bind",
    "retry_after_header",
    "running",
    "serve",
    "transport",
]
