"""Every error syncd raises on purpose.

    SyncdError
    ├── ConfigError            invalid configuration: file, line, YAML path, message (exit 2)
    ├── StoreError             the store cannot be used (unreachable, schema too new)
    ├── PluginError            a plugin could not be loaded or misbehaves
    ├── GuardHeld              a safety guard held a plan (exit 3)
    └── ConnectorError         something went wrong talking to a vendor
        ├── AuthError          bad credentials: stop the run (fatal)
        ├── FatalError         any other error that retrying cannot fix
        ├── RetryableError     transport errors, 429, 5xx: try again later
        │   └── RateLimited    the vendor said slow down (may carry retry_after)
        └── RecordError        one record was refused: quarantine it and go on

Messages are one line and never contain a secret.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable

from syncd.secrets import redact


class SyncdError(Exception):
    """Base of every error syncd raises on purpose."""


class ConfigError(SyncdError):
    """Invalid configuration, reported as ``file:line: path: message``."""

    def __init__(
        self, message: str, *, file: str | None = None, line: int | None = None, path: str = ""
    ) -> None:
        self.message = message
        self.file = file
        self.line = line
        self.path = path
        super().__init__(str(self))

    def __str__(self) -> str:
        where = ""
        if self.file:
            where = f"{self.file}:{self.line}: " if self.line else f"{self.file}: "
        path = f"{self.path}: " if self.path else ""
        return f"{where}{path}{self.message}"


class StoreError(SyncdError):
    """The store cannot be used as it is."""


class PluginError(SyncdError):
    """A plugin could not be loaded, or broke its contract."""


class GuardHeld(SyncdError):
    """A safety guard held a plan instead of pushing it."""


class ConnectorError(SyncdError):
    """Something went wrong talking to a vendor."""

    def __init__(self, message: str, *, status: int | None = None) -> None:
        self.status = status
        super().__init__(message)


class AuthError(ConnectorError):
    """The vendor refused the credentials: the run stops."""


class FatalError(ConnectorError):
    """An error that retrying cannot fix."""


class RetryableError(ConnectorError):
    """A passing failure: transport error, 429 or 5xx. ``unsent``: the request never reached
    the vendor (the connection could not be made), so it changed nothing there."""

    def __init__(self, message: str, *, status: int | None = None, unsent: bool = False) -> None:
        self.unsent = unsent
        super().__init__(message, status=status)


class RateLimited(RetryableError):
    """The vendor asked to slow down; ``retry_after`` is in seconds when it said."""

    def __init__(
        self, message: str, *, status: int | None = 429, retry_after: float | None = None
    ) -> None:
        self.retry_after = retry_after
        super().__init__(message, status=status)


class RecordError(ConnectorError):
    """The vendor refused one record; the rest of the batch goes on."""


def first_line(exc: BaseException) -> str:
    """The first line of what ``exc`` says (a database driver's own words, not the wrapping
    around them), or its type's name if it says nothing."""
    text = str(getattr(exc, "orig", None) or exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def error_line(exc: BaseException) -> str:
    """One line for a log or a run's record: a SyncdError's message, which says what and
    where; any other error's type, then its first line; known secrets masked."""
    line = redact(first_line(exc))
    if isinstance(exc, SyncdError) or line == type(exc).__name__:
        return line
    return f"{type(exc).__name__}: {line}"


def did_you_mean(what: str, name: str, known: Iterable[str]) -> str:
    """``unknown segment 'loyal_customer'; did you mean 'loyal_customers'?`` (or the names
    known, when none is close)."""
    names = list(known)
    close = difflib.get_close_matches(name, names, n=1, cutoff=0.6)
    if close:
        return f"unknown {what} {name!r}; did you mean {close[0]!r}?"
    return f"unknown {what} {name!r} (known: {', '.join(names) or 'none'})"
