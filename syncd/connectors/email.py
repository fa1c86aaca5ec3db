"""One rule for an e-mail address: what the store keeps as a contact's key is what a
destination sends, so a contact syncd stored is never one a vendor's API refuses."""

from __future__ import annotations

import re
from typing import Any

# characters no address syncd keeps may hold: control characters, spaces, quotes, angle
# brackets, commas, semicolons, backslashes and parentheses
_BANNED = r"\x00-\x20\x7f\s\"'<>,;\\()\[\]"
ADDRESS = re.compile(
    rf"^[^@{_BANNED}]+@(?:[^@.{_BANNED}]+\.)+(?:[^\W\d_]{{2,}}|xn--[a-z0-9-]+)$", re.IGNORECASE
)
MAX_LENGTH = 254  # the longest address SMTP carries (RFC 5321's path, less its brackets)


def email_problem(address: Any) -> str | None:
    """Why ``address`` (trimmed) is not an e-mail address syncd keeps or sends, or None.

    One @, a local part and dotted domain labels without spaces, control characters, quotes,
    angle brackets, commas or semicolons, and a top-level domain of letters (or punycode)."""
    if not isinstance(address, str):
        return f"an e-mail must be text, not {type(address).__name__}"
    text = address.strip()
    if not text:
        return "no e-mail"
    if len(text) > MAX_LENGTH:
        return f"an e-mail of {len(text)} characters is longer than {MAX_LENGTH}"
    if ADDRESS.match(text) is None:
        return f"malformed e-mail {address!r}"
    return None


def valid_email(address: str) -> bool:
    """Whether ``address`` (trimmed) is an e-mail address syncd keeps and vendors take."""
    return email_problem(address) is None
