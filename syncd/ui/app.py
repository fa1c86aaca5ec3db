"""The status page as an ASGI app: the daemon mounts it beside its health endpoints, and
``syncd ui`` serves it alone. Views are plain functions run in starlette's thread pool, each
with one read-only connection to the store."""

from __future__ import annotations

from collections.abc import Callable
from importlib.resources import files
from typing import Any

import structlog
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp

from syncd.errors import first_line
from syncd.runtime import Runtime
from syncd.secrets import redact
from syncd.ui import views
from syncd.ui.data import mask_emails_in
from syncd.ui.html import page

log = structlog.get_logger("syncd.ui")

NO_STORE = {"Cache-Control": "no-store"}


def pages_app(runtime: Callable[[], Runtime]) -> ASGIApp:
    """The pages of the runtime ``runtime()`` returns at each request (the daemon's, which a
    reload may replace)."""
    css = files("syncd.ui").joinpath("static/ui.css").read_bytes()

    def render(view: Callable[..., str], *args: Any) -> Response:
        rt = runtime()
        now = rt.clock()
        try:
            with rt.engine.connect() as conn:
                html = view(rt, conn, now, *args)
        except views.NotFound as exc:
            html = page("Not found", f"<p>{views.escape(str(exc))}</p>", now=now, current="")
            return HTMLResponse(redact(html), 404, NO_STORE)
        except Exception as exc:  # one broken view is that request's problem only
            log.warning("status page failed", error=redact(first_line(exc)))
            body = f"<p>this page failed: {views.escape(redact(first_line(exc)))}</p>"
            return HTMLResponse(page("Error", body, now=now, current=""), 500, NO_STORE)
        if rt.config.ui.mask_emails:
            html = mask_emails_in(html)
        return HTMLResponse(redact(html), 200, NO_STORE)

    def overview(request: Request) -> Response:
        return render(views.overview)

    def segments(request: Request) -> Response:
        return render(views.segments_page)

    def segment(request: Request) -> Response:
        masked = runtime().config.ui.mask_emails
        contact = request.query_params.get("contact") or None
        given = request.query_params.get("id", "")
        contact_id = int(given) if given.isdigit() else None
        name = request.path_params["name"]
        return render(views.segment_page, name, contact, masked, contact_id)

    def runs(request: Request) -> Response:
        return render(views.runs_page)

    def stylesheet(request: Request) -> Response:
        return Response(css, 200, {"Cache-Control": "max-age=300"}, media_type="text/css")

    async def not_found(request: Request, exc: Exception) -> Response:
        return Response(
            "not found: try /, /segments, /runs, /healthz, /readyz or /metrics\n",
            404,
            NO_STORE,
            media_type="text/plain; charset=utf-8",
        )

    return Starlette(
        routes=[
            Route("/", overview),
            Route("/segments", segments),
            Route("/segments/{name}", segment),
            Route("/runs", runs),
            Route("/static/ui.css", stylesheet),
        ],
        exception_handlers={404: not_found},
    )
