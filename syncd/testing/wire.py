"""The conformance suite's tap on the wire between a connector and its vendor.

It notes each request with the stream that was reading when it was sent, on the virtual
clock, and it can fail every other request (the first, the third, ...) in one way. A
connector that retries gets through every such fault within one run, whatever its requests
hold; one that does not fails at its first request. Faults happen in virtual time:

    429         answered at once, ``Retry-After: 2``
    5xx         answered at once, 503
    drop        the connection fails before the vendor sees the request
    drop_after  the vendor handles the request, then the connection closes
    timeout     the vendor handles the request, the answer comes after the client's read
                timeout (the virtual clock moves by that timeout)
    malformed   the vendor handles the request, the answer's body is cut off
"""

from __future__ import annotations

from dataclasses import dataclass

import httpx

from syncd.emulator import VirtualTime

WIRE_FAULTS = ("429", "5xx", "drop", "drop_after", "timeout", "malformed")
RETRY_AFTER = 2  # seconds an injected 429 asks for


@dataclass(frozen=True, slots=True)
class Sent:
    """One request the connector sent."""

    method: str
    url: str
    stream: str | None  # the stream reading when it was sent; None outside a read
    at: float  # virtual seconds (the VirtualTime's monotonic)
    fault: str | None  # the fault injected into it


class Wire(httpx.BaseTransport):
    """Passes requests to ``inner``, noting each one, and injects ``fault`` into every other
    request; see the module."""

    def __init__(
        self, inner: httpx.BaseTransport, time: VirtualTime, fault: str | None = None
    ) -> None:
        if fault is not None and fault not in WIRE_FAULTS:
            raise ValueError(f"unknown wire fault {fault!r} (known: {', '.join(WIRE_FAULTS)})")
        self.inner, self.time, self.fault = inner, time, fault
        self.sent: list[Sent] = []
        self.stream: str | None = None

    def requests(self, stream: str | None = None) -> list[Sent]:
        """The requests sent, or those sent while ``stream`` was reading."""
        return [s for s in self.sent if stream is None or s.stream == stream]

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        fault = self.fault if len(self.sent) % 2 == 0 else None
        self.sent.append(
            Sent(request.method, str(request.url), self.stream, self.time.monotonic(), fault)
        )
        if fault == "429":
            return httpx.Response(
                429,
                headers={"Retry-After": str(RETRY_AFTER)},
                json={"message": "Too Many Requests"},
                request=request,
            )
        if fault == "5xx":
            return httpx.Response(503, json={"message": "Service Unavailable"}, request=request)
        if fault == "drop":
            raise httpx.ConnectError("connection refused (injected)", request=request)
        response = self.inner.handle_request(request)
        body = response.read()
        response.close()
        if fault == "drop_after":
            raise httpx.RemoteProtocolError(
                "peer closed connection without sending complete message body (injected)",
                request=request,
            )
        if fault == "timeout":
            waited = request.extensions.get("timeout", {}).get("read")
            self.time.sleep(float(waited) if waited is not None else 30.0)
            raise httpx.ReadTimeout("timed out (injected)", request=request)
        if fault == "malformed":
            body = body[: len(body) // 2] + b"\x00<!-- upstream" if body else b"<html><body>502"
        headers = [
            (k, v)
            for k, v in response.headers.multi_items()
            if k.lower() not in ("content-length", "content-encoding", "transfer-encoding")
        ]
        return httpx.Response(response.status_code, headers=headers, content=body, request=request)

    def close(self) -> None:
        self.inner.close()
