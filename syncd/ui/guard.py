"""What stands in front of every page: read-only methods, the token off loopback, and the
security headers a browser is told to enforce.

The token is taken from ``Authorization: Bearer`` (scripts) or once from ``?token=``, which
answers with a cookie (HttpOnly, SameSite=Strict) and a redirect to the same page without it,
so the token leaves the address bar and the history.
"""

from __future__ import annotations

import hmac
from http.cookies import SimpleCookie
from urllib.parse import parse_qsl, urlencode

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

COOKIE = "syncd_ui"
READ_ONLY = ("GET", "HEAD")
# no script at all: the page works with JavaScript off, so none is allowed to run
CSP = (
    "default-src 'none'; style-src 'self'; img-src 'self' data:; script-src 'none'; "
    "form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
)
HEADERS = {
    "content-security-policy": CSP,
    "referrer-policy": "no-referrer",
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
    "cross-origin-opener-policy": "same-origin",
}


class Guard:
    """ASGI middleware: 405 for anything but GET and HEAD, 401 without the token (when one is
    set) outside ``open_paths``, and the security headers on every answer."""

    def __init__(
        self, app: ASGIApp, *, token: str | None, open_paths: frozenset[str] = frozenset()
    ) -> None:
        self.app = app
        self.token = token
        self.open_paths = open_paths

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in HEADERS.items():
                    headers.setdefault(name, value)
            await send(message)

        if scope["method"] not in READ_ONLY:
            await _answer(
                send_with_headers, 405, "read-only: only GET and HEAD\n", [(b"allow", b"GET, HEAD")]
            )
            return
        if self.token and scope["path"] not in self.open_paths:
            given = _query_token(scope)
            if given is not None and _same(given, self.token):
                await _redirect_with_cookie(send_with_headers, scope, self.token)
                return
            if not (_same(_bearer(scope), self.token) or _same(_cookie(scope), self.token)):
                await _answer(
                    send_with_headers,
                    401,
                    "this page needs its token: open it once with ?token=... "
                    "or send Authorization: Bearer ...\n",
                    [(b"www-authenticate", b"Bearer")],
                )
                return
        await self.app(scope, receive, send_with_headers)


def _same(given: str | None, token: str) -> bool:
    return given is not None and hmac.compare_digest(given.encode(), token.encode())


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope["headers"]:
        if key == name:
            return bytes(value).decode("latin-1")
    return None


def _bearer(scope: Scope) -> str | None:
    value = _header(scope, b"authorization") or ""
    kind, _, credential = value.partition(" ")
    return credential.strip() if kind.lower() == "bearer" else None


def _cookie(scope: Scope) -> str | None:
    jar: SimpleCookie = SimpleCookie()
    try:
        jar.load(_header(scope, b"cookie") or "")
    except Exception:  # a malformed cookie header is no token
        return None
    morsel = jar.get(COOKIE)
    return morsel.value if morsel else None


def _query_token(scope: Scope) -> str | None:
    pairs = parse_qsl(bytes(scope.get("query_string", b"")).decode("latin-1"))
    found = [v for k, v in pairs if k == "token"]
    return found[0] if found else None


async def _redirect_with_cookie(send: Send, scope: Scope, token: str) -> None:
    pairs = parse_qsl(bytes(scope.get("query_string", b"")).decode("latin-1"))
    rest = urlencode([(k, v) for k, v in pairs if k != "token"])
    location = scope.get("root_path", "") + scope["path"] + (f"?{rest}" if rest else "")
    cookie = f"{COOKIE}={token}; Path=/; HttpOnly; SameSite=Strict"
    await _answer(
        send, 303, "", [(b"location", location.encode()), (b"set-cookie", cookie.encode())]
    )


async def _answer(
    send: Send, status: int, body: str, headers: list[tuple[bytes, bytes]] | None = None
) -> None:
    data = body.encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"text/plain; charset=utf-8"),
                (b"content-length", str(len(data)).encode()),
                (b"cache-control", b"no-store"),
                *(headers or []),
            ],
        }
    )
    await send({"type": "http.response.body", "body": data})
