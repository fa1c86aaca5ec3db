"""Secrets known to this process, so no log line, error or plan output shows them.

Every value the config reads from the environment (``${NAME}``), every secret option of a
connector and every auth header is registered here. A secret is masked in each form text
can carry it in: as it is, escaped as Python writes it in a repr, escaped as in JSON,
URL-encoded (``quote`` and ``quote_plus``), base64 (a basic auth header), and one of those
inside another (a repr inside JSON, an escaped value inside a URL).
"""

from __future__ import annotations

import base64
import contextlib
import json
import re
import threading
from collections.abc import Callable, Iterable, Iterator
from urllib.parse import quote, quote_plus

_lock = threading.Lock()
_secrets: set[str] = set()
_pattern: re.Pattern[str] | None = None
MASK = "***"


def _repr_escaped(text: str) -> str:
    return repr(text)[1:-1]


def _repr_double_quoted(text: str) -> str:
    # repr picks double quotes for a text with a single quote and none of its own
    return repr(text + "'")[1:-2] if '"' not in text else repr(text)[1:-1]


def _json_escaped(text: str) -> str:
    return json.dumps(text)[1:-1]


def _json_unicode(text: str) -> str:
    return json.dumps(text, ensure_ascii=False)[1:-1]


def _url(text: str) -> str:
    return quote(text, safe="")


def _url_path(text: str) -> str:
    return quote(text)


def _base64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


ENCODINGS: tuple[Callable[[str], str], ...] = (
    _repr_escaped,
    _repr_double_quoted,
    _json_escaped,
    _json_unicode,
    _url,
    _url_path,
    quote_plus,
    _base64,
)


def forms(secret: str) -> set[str]:
    """``secret`` in every form it can take in text: each encoding, and each of two."""
    found = {secret}
    for outer in ENCODINGS:
        found.add(outer(secret))
        for inner in ENCODINGS:
            found.add(outer(inner(secret)))
    scheme, _, token = secret.partition(" ")
    if scheme.lower() in ("basic", "bearer", "token") and len(token) >= 4:
        found |= forms(token)  # an auth header's value: its credential alone, too
    return {f for f in found if len(f) >= 4}


def register_secret(value: str) -> None:
    """Treat ``value`` as secret from now on (values shorter than 4 characters are ignored)."""
    global _pattern
    if value and len(value) >= 4 and value not in _secrets:
        with _lock:
            _secrets.add(value)
            _pattern = None


@contextlib.contextmanager
def kept_apart() -> Iterator[None]:
    """The secrets registered inside forgotten when it ends: a test's secrets do not mask
    another test's output (syncd's pytest plugin wraps every test in it)."""
    global _pattern
    with _lock:
        before = set(_secrets)
    try:
        yield
    finally:
        with _lock:
            _secrets.intersection_update(before)
            _pattern = None


def _known() -> re.Pattern[str] | None:
    global _pattern
    with _lock:
        if _pattern is None and _secrets:
            every: set[str] = set()
            for secret in _secrets:
                every |= forms(secret)
            # the longest first: a form that contains another is masked whole
            alternatives = sorted(every, key=len, reverse=True)
            _pattern = re.compile("|".join(re.escape(f) for f in alternatives))
        return _pattern


def redact(text: str) -> str:
    """``text`` with every known secret masked, in every form."""
    pattern = _known()
    return pattern.sub(MASK, text) if pattern is not None else text


def mask(text: str, values: Iterable[str]) -> str:
    """``text`` with ``values`` masked in every form, whether registered or not."""
    every = sorted({f for v in values if v for f in forms(v)}, key=len, reverse=True)
    if not every:
        return text
    return re.sub("|".join(re.escape(f) for f in every), MASK, text)


def showing(text: str, secrets: Iterable[str]) -> list[str]:
    """The secrets of ``secrets`` that ``text`` shows, in any form (for tests and scans)."""
    return [s for s in secrets if any(f in text for f in forms(s))]
