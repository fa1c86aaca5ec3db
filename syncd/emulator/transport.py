"""A synchronous httpx transport over an ASGI app: ``httpx.Client(transport=transport(app))``
talks to an emulator in the same process, with no socket.

httpx's own ASGITransport is async-only; this one runs the app on an event loop in a daemon
thread shared by every such transport, and waits for the answer from the calling thread.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
from typing import Any

import httpx
from starlette.types import ASGIApp, Message

from syncd.emulator.base import ConnectionDropped, whole_answer

_loop: asyncio.AbstractEventLoop | None = None
_loop_lock = threading.Lock()


def _background_loop() -> asyncio.AbstractEventLoop:
    global _loop
    with _loop_lock:
        if _loop is None or _loop.is_closed():
            loop = asyncio.new_event_loop()
            threading.Thread(
                target=loop.run_forever, name="syncd-emulator-loop", daemon=True
            ).start()
            _loop = loop
        return _loop


class ASGIBridgeTransport(httpx.BaseTransport):
    """Sends each request to ``app`` on the background loop; honours the read timeout."""

    def __init__(self, app: ASGIApp, client: tuple[str, int] = ("127.0.0.1", 50000)) -> None:
        self.app = app
        self.client = client

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        body = request.read()
        timeout = request.extensions.get("timeout", {}).get("read")
        future = asyncio.run_coroutine_threadsafe(self._call(request, body), _background_loop())
        try:
            status, headers, content = future.result(timeout=timeout)
        except concurrent.futures.TimeoutError:
            # like a real server, the emulator goes on handling what the client gave up on
            raise httpx.ReadTimeout("timed out waiting for the emulator", request=request) from None
        except ConnectionDropped as exc:
            raise httpx.RemoteProtocolError(
                "peer closed connection without sending complete message body", request=request
            ) from exc
        return httpx.Response(status, headers=headers, content=content, request=request)

    async def _call(self, request: httpx.Request, body: bytes) -> tuple[int, Any, bytes]:
        url = request.url
        scope = {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": request.method,
            "scheme": url.scheme,
            "path": url.path,
            "raw_path": url.raw_path.split(b"?")[0],
            "query_string": url.query,
            "root_path": "",
            "headers": [(k.lower(), v) for k, v in request.headers.raw],
            "client": self.client,
            "server": (url.host, url.port or (443 if url.scheme == "https" else 80)),
        }
        sent = False

        async def receive() -> Message:
            nonlocal sent
            if not sent:
                sent = True
                return {"type": "http.request", "body": body, "more_body": False}
            await asyncio.Event().wait()  # the client never disconnects early
            raise AssertionError("unreachable")

        return await whole_answer(self.app, scope, receive)


def transport(app: ASGIApp) -> httpx.BaseTransport:
    """A sync httpx transport that serves requests from ``app`` in-process."""
    return ASGIBridgeTransport(app)
