"""structlog, configured once: JSON lines when not on a terminal, console output on one."""

from __future__ import annotations

import logging
import sys
from collections.abc import MutableMapping
from typing import Any

import structlog

from syncd.secrets import redact

_LEVELS = {
    "debug": logging.DEBUG,
    "info": logging.INFO,
    "warning": logging.WARNING,
    "error": logging.ERROR,
}


def _masked(value: Any) -> Any:
    """``value`` with every known secret masked, inside mappings and sequences too."""
    if isinstance(value, str):
        return redact(value)
    if value is None or isinstance(value, bool | int | float):
        return value
    if isinstance(value, dict):
        return {k: _masked(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [_masked(v) for v in value]
    text = str(value)  # an object (an exception, a URL) shows a secret through its text
    masked = redact(text)
    return masked if masked != text else value


def _redact(_logger: Any, _name: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    return {k: _masked(v) for k, v in event.items()}


class _Stderr:
    """``sys.stderr`` as it is when a line is written, not when logging was configured: a
    caller that swaps it (a test capturing output, a service redirecting it) gets the lines,
    and a stream swapped out and closed is never written to again."""

    def write(self, text: str) -> int:
        return sys.stderr.write(text)

    def flush(self) -> None:
        sys.stderr.flush()

    def isatty(self) -> bool:
        return sys.stderr.isatty()


# what a command prints itself, on its own line: a failed source or destination, a plugin
# that did not load. Under a command at the default log level these events are not logged
# too, so each failure is said once (the daemon logs them all).
SAID_BY_COMMANDS = frozenset(
    {
        "part failed; the rest of the run goes on",
        "destination is failing; the rest waits for the next run",
        "plugin failed to load; skipped",
    }
)


def _not_said(said: frozenset[str]) -> Any:
    def drop(_logger: Any, _name: str, event: MutableMapping[str, Any]) -> Any:
        if event.get("event") in said:
            raise structlog.DropEvent
        return event

    return drop


def configure_logging(
    level: str = "info", fmt: str = "auto", stream: Any = None, said: frozenset[str] = frozenset()
) -> None:
    """Send log lines to ``stream`` (stderr) at ``level``, as JSON or for a person; events
    named in ``said`` are left to the command that prints them."""
    stream = stream or _Stderr()
    console = fmt == "console" or (fmt == "auto" and getattr(stream, "isatty", lambda: False)())
    renderer: Any = (
        structlog.dev.ConsoleRenderer(colors=False)
        if console
        else structlog.processors.JSONRenderer()
    )
    structlog.configure(
        processors=[
            _not_said(said),
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            _redact,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(_LEVELS[level]),
        logger_factory=structlog.PrintLoggerFactory(stream),
        cache_logger_on_first_use=False,
    )
