"""Text about a request that is safe to log or raise: no secret in a URL, header or body."""

from __future__ import annotations

import re
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import httpx

from syncd.secrets import MASK, mask, redact

# query parameters whose value is a credential in some vendor's API
SECRET_PARAMS = re.compile(
    r"(token|key|secret|password|passwd|signature|sig|auth|credential|session)", re.IGNORECASE
)


def safe_url(url: httpx.URL | str) -> str:
    """``url`` with credentials in its user part and its query masked, and known secrets too."""
    parts = urlsplit(str(url))
    netloc = parts.netloc
    if "@" in netloc:
        netloc = f"{MASK}@{netloc.rsplit('@', 1)[1]}"
    query = urlencode(
        [
            (k, MASK if SECRET_PARAMS.search(k) else v)
            for k, v in parse_qsl(parts.query, keep_blank_values=True)
        ],
        safe="[]*",
    )
    return redact(urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment)))


def mask_url_secrets(text: str, url: httpx.URL) -> str:
    """``text`` with the credential values of ``url``'s query and user part masked wherever
    they appear, in any form (URL-encoded, escaped)."""
    values = [v for k, v in url.params.multi_items() if SECRET_PARAMS.search(k)]
    return mask(text, [*values, url.password or ""])


def one_line(text: str, limit: int = 300) -> str:
    """``text`` on one line, shortened, with known secrets masked."""
    flat = " ".join(redact(text).split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"
