"""Serving an emulator on loopback with uvicorn: blocking (the CLI) or in a thread (tests,
benchmarks, the demo)."""

from __future__ import annotations

import logging
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from email.utils import formatdate

import uvicorn
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from syncd.clock import Clock, system_clock
from syncd.emulator.base import ConnectionDropped

LOOPBACK = "127.0.0.1"


class _HideDrops(logging.Filter):
    """A dropped connection is a fault we asked for, not an error worth a traceback."""

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        while exc is not None:
            if isinstance(exc, ConnectionDropped):
                return False
            exc = exc.__cause__ or exc.__context__
        return True


def dated(app: ASGIApp) -> ASGIApp:
    """``app`` answering with ``Date`` as a vendor's server writes it: the vendor's time when
    it answers, from the emulator's clock (``app.clock``; the machine's for another app).
    uvicorn's own is the machine's, refreshed once a second: up to a second behind, which a
    client reading the vendor's clock from it takes for a vendor a second late."""
    clock: Clock = getattr(app, "clock", system_clock)

    async def answer(scope: Scope, receive: Receive, send: Send) -> None:
        async def send_dated(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [(k, v) for k, v in message.get("headers", []) if k.lower() != b"date"]
                now = formatdate(clock().timestamp(), usegmt=True).encode()
                message = {**message, "headers": [*headers, (b"date", now)]}
            await send(message)

        await app(scope, receive, send_dated if scope["type"] == "http" else send)

    return answer


def _config(app: ASGIApp, log_level: str) -> uvicorn.Config:
    logging.getLogger("uvicorn.error").addFilter(_HideDrops())
    return uvicorn.Config(
        dated(app),
        lifespan="off",
        log_level=log_level,
        access_log=False,
        timeout_keep_alive=30,
        date_header=False,  # ``dated`` writes it
    )


def bind(port: int = 0, host: str = LOOPBACK) -> socket.socket:
    """A listening socket on ``host:port`` (port 0: a free one).

    Made as a TCP socket by name (``IPPROTO_TCP``), with ``TCP_NODELAY``: asyncio turns
    Nagle's algorithm off only on a connection whose socket says it is TCP, and one accepted
    from a socket made with protocol 0 does not. With Nagle on, an answer's body waited for
    the client's delayed ACK of its headers: about 45 ms a request on loopback."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(128)
    return sock


def serve(app: ASGIApp, sock: socket.socket, log_level: str = "warning") -> None:
    """Serve ``app`` on ``sock`` until interrupted."""
    uvicorn.Server(_config(app, log_level)).run(sockets=[sock])


@contextmanager
def running(
    app: ASGIApp, port: int = 0, *, start_timeout: float = 10.0, log_level: str = "error"
) -> Iterator[str]:
    """Serve ``app`` on loopback in a thread; yield its base URL; stop it on exit."""
    sock = bind(port)
    server = uvicorn.Server(_config(app, log_level))
    thread = threading.Thread(
        target=server.run, kwargs={"sockets": [sock]}, name="syncd-emulator-server", daemon=True
    )
    thread.start()
    deadline = time.monotonic() + start_timeout
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            server.should_exit = True
            sock.close()
            raise RuntimeError("the emulator server did not start")
        time.sleep(0.01)
    try:
        yield f"http://{LOOPBACK}:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(timeout=start_timeout)
        sock.close()
