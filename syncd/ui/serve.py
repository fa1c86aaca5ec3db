"""``syncd ui`` and ``syncd demo --ui``: the status page of a store, served until Ctrl-C
(or SIGTERM) with no daemon running."""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable
from types import FrameType
from typing import TYPE_CHECKING

from syncd.runtime import Runtime

if TYPE_CHECKING:
    from syncd.daemon.health import HealthServer

DEFAULT_PORT = 9781  # beside the daemon's 9780, so both can run on one machine


def page_server(
    rt: Runtime, address: str, token: str | None = None, where: str = "daemon.health"
) -> HealthServer:
    """The health endpoints and the pages of ``rt`` on ``address`` (not started yet); a bind
    error names ``where`` the address came from."""
    from syncd.daemon.health import HealthServer, readiness
    from syncd.ui.app import pages_app

    cfg = rt.config

    def ready() -> tuple[bool, str]:
        return readiness(rt.engine, cfg.daemon.ready_within, rt.clock, list(cfg.schedules))

    return HealthServer(address, ready, pages=pages_app(lambda: rt), token=token, where=where)


def serve_until_stopped(
    rt: Runtime,
    address: str,
    say: Callable[[str], None],
    token: str | None = None,
    where: str = "daemon.health",
) -> int:
    """Serve the page, print its address, and return 0 at Ctrl-C (SIGINT) or SIGTERM.

    Both signals are handled here, as the daemon handles them: a process started with SIGINT
    ignored (a shell's background job without job control) still stops at one."""
    server = page_server(rt, address, token, where)
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    before = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    with server:
        host = f"[{server.host}]" if ":" in server.host else server.host
        say(f"status page: http://{host}:{server.port}/  (Ctrl-C stops it)")
        try:
            while not stop.wait(0.5):
                pass
        except KeyboardInterrupt:
            pass
        finally:
            for sig, handler in before.items():
                signal.signal(sig, handler)
    say("status page stopped")
    return 0
