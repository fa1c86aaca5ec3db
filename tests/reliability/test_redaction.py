"""A secret is masked in every form text can carry it in: as it is, in a repr, in JSON, in a
URL (quote and quote_plus), in base64 (a basic auth header), and one of those in another."""

from __future__ import annotations

import base64
import io
import json
from urllib.parse import quote, quote_plus

import httpx
import pytest
import structlog

from syncd.cli import _fail
from syncd.connectors.redaction import mask_url_secrets
from syncd.logs import configure_logging
from syncd.output import emit_json
from syncd.secrets import MASK, forms, redact, register_secret

SECRET = 'SEKRETq"uo\\te'  # a quote and a backslash: escaped differently by each encoding

ENCODED = {
    "as it is": SECRET,
    "repr": repr(SECRET),
    "str of a list": str([SECRET]),
    "repr of an error": repr(ValueError(SECRET)),
    "JSON": json.dumps(SECRET),
    "JSON of a repr": json.dumps(repr(SECRET)),
    "repr of JSON": repr(json.dumps(SECRET)),
    "quote": quote(SECRET, safe=""),
    "quote, / kept": quote(SECRET),
    "quote_plus": quote_plus(SECRET),
    "quote of JSON": quote(json.dumps(SECRET)),
    "base64": base64.b64encode(SECRET.encode()).decode(),
}


@pytest.fixture(autouse=True)
def secret() -> None:
    register_secret(SECRET)


@pytest.mark.parametrize("encoding", sorted(ENCODED))
def test_every_form_of_a_secret_is_masked(encoding: str) -> None:
    text = f"refused: {ENCODED[encoding]} (try again)"
    masked = redact(text)
    assert MASK in masked
    assert not [f for f in forms(SECRET) if f in masked], masked
    assert "SEKRET" not in masked


def test_a_basic_auth_header_is_masked_whole_and_alone() -> None:
    header = "Basic " + base64.b64encode(b"user:pa55word-xyz").decode()
    register_secret(header)  # as the HTTP client registers its auth headers
    token = header.split()[1]
    assert redact(f"sent {header}") == f"sent {MASK}"
    assert redact(f"token {token}") == f"token {MASK}"


def test_the_issue_example_is_one_masked_line(capsys: pytest.CaptureFixture[str]) -> None:
    """The error that once printed the secret: a repr inside the message."""
    assert _fail(f"error: refused {ValueError(SECRET)!r}", 1) == 1
    assert capsys.readouterr().err == f"error: refused ValueError('{MASK}')\n"


def test_logs_mask_an_escaped_secret() -> None:
    out = io.StringIO()
    configure_logging("debug", "json", stream=out)
    structlog.get_logger("test").error(
        "failed", error=ValueError(SECRET), url=f"https://x/?t={quote_plus(SECRET)}"
    )
    line = out.getvalue()
    assert "SEKRET" not in line and MASK in line, line


def test_json_output_masks_an_escaped_secret() -> None:
    out = io.StringIO()
    emit_json({"error": repr(ValueError(SECRET)), "nested": {"v": [SECRET]}}, out)
    assert "SEKRET" not in out.getvalue(), out.getvalue()


def test_a_url_credential_is_masked_in_each_of_its_forms() -> None:
    value = "p@ss w/rd+%"
    url = httpx.URL("https://vendor.example/api", params={"api_key": value})
    text = f"{url} said no to {value} ({quote(value)})"
    masked = mask_url_secrets(text, url)
    assert value not in masked and quote_plus(value) not in masked and quote(value) not in masked
