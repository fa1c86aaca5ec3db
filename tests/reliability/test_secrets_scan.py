"""The secrets scan: every command run as a real process, with a distinctive secret in every
connector's config (and in the store's URL), on SQLite and PostgreSQL, errors provoked (a
refused credential, answers garbled or failing, a vendor that cannot be reached); no secret
shows, in any encoding, on stdout, on stderr (the logs at debug level), or in any column of
the store. And the proof that the scan finds a leak planted in the output and in the store.
"""

from __future__ import annotations

import base64
import json
import os
import secrets
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote_plus

import pytest
import sqlalchemy as sa

from syncd.demo import shop
from syncd.secrets import redact, register_secret

pytestmark = [pytest.mark.e2e, pytest.mark.usefixtures("clean_env")]
NOW = "2026-11-20T12:00:00Z"
# the option of each emulator that holds the credential it checks, and its config option
CREDENTIALS = {
    "activecampaign": [("token", "token")],
    "hubspot": [("token", "token")],
    "shopify": [("access_token", "access_token")],
    "salesmanago": [("api_secret", "api_secret")],
}


def distinctive(label: str) -> str:
    """A secret no text holds by chance, with characters every encoding escapes."""
    return f"SEKRET{label}{secrets.token_hex(6)}q\"uo\\te+%/&= ~'"


def _core(secret: str) -> str:
    return secret[6:30].split("q", 1)[0]  # the label and the random hex: unescaped anywhere


class Leaks:
    """Finds a secret in text in any form: its distinctive core survives every escaping
    (repr, JSON, URL-encoding, truncation, any nesting of them) since it is letters and
    digits; base64 is looked for at each of the three alignments. Written apart from
    syncd.secrets, so a form syncd forgets to mask is still found."""

    def __init__(self, secrets_: dict[str, str]) -> None:
        self.secrets = secrets_
        self.looked_for: dict[str, list[tuple[str, str]]] = {}
        for name, secret in secrets_.items():
            core = _core(secret)
            forms = [("as it is or escaped", core)]
            for shift in range(3):
                encoded = base64.b64encode(b"x" * shift + core.encode()).decode()
                # the characters made of the core's bits alone, wherever it starts
                start, end = -(-shift * 8 // 6), (shift + len(core)) * 8 // 6
                forms.append((f"base64 (at {shift})", encoded[start:end]))
            self.looked_for[name] = forms

    def found(self, where: str, text: str) -> list[str]:
        hits = []
        for name, forms in self.looked_for.items():
            for encoding, form in forms:
                at = text.find(form)
                if at >= 0:
                    around = text[max(0, at - 60) : at + 60].replace(form, "<SECRET>")
                    hits.append(f"{where}: {name} ({encoding}): ...{around}...")
        return hits


@dataclass
class Scene:
    """The emulators served with distinctive credentials, and a config that reaches them."""

    folder: Path
    store_url: str
    tools: list[shop.Tool]
    env: dict[str, str] = field(default_factory=dict)
    secrets: dict[str, str] = field(default_factory=dict)
    transcripts: list[tuple[str, str]] = field(default_factory=list)  # (where, text)

    def write_config(self, name: str, wrong: bool = False, unreachable: str = "") -> Path:
        """A config at the tools; with ``wrong``, every credential is another distinctive
        secret (the vendor refuses it); ``unreachable`` names a tool served nowhere."""
        library = shop.library_path()
        assert library is not None
        text = shop.config_text(self.tools, library)
        for tool in self.tools:
            for attribute, _option in CREDENTIALS.get(tool.name, []):
                value = getattr(tool.app, attribute)
                variable = f"SCAN_{tool.name}_{attribute}".upper() + ("_WRONG" if wrong else "")
                if wrong:
                    self.secrets[variable] = self.env[variable] = distinctive(f"w{tool.name[:2]}")
                text = text.replace(json.dumps(value), f'"${{{variable}}}"')
            if tool.name == unreachable:
                text = text.replace(tool.url, "http://127.0.0.1:1")
        path = self.folder / name
        path.write_text(text)
        return path

    def run(self, config: Path, *command: str) -> int:
        proc = subprocess.run(
            [sys.executable, "-m", "syncd", "--config", str(config), *command],
            env={**os.environ, **self.env},
            capture_output=True,
            text=True,
            timeout=600,
        )
        label = f"{config.name} {' '.join(command)}"
        self.transcripts.append((f"{label} stdout", proc.stdout))
        self.transcripts.append((f"{label} stderr", proc.stderr))
        assert "Traceback" not in proc.stderr, f"{label}:\n{proc.stderr[-3000:]}"
        return proc.returncode

    def store_texts(self) -> Iterator[tuple[str, str]]:
        """Every row of every table of the store, as text."""
        engine = sa.create_engine(self.store_url)
        try:
            meta = sa.MetaData()
            meta.reflect(engine)
            with engine.connect() as conn:
                for table in meta.sorted_tables:
                    for row in conn.execute(sa.select(table)):
                        yield f"store {table.name}", " | ".join(map(str, row))
        finally:
            engine.dispose()


@pytest.fixture
def scene(store_url: str, tmp_path: Path) -> Iterator[Scene]:
    tools = shop.make_tools(seed=7, people=10)
    secrets_: dict[str, str] = {}
    env = {"SYNCD_NOW": NOW, "SYNCD_LOG_LEVEL": "debug", "SYNCD_LOG_FORMAT": "json"}
    for tool in tools:
        for attribute, _option in CREDENTIALS.get(tool.name, []):
            secret = distinctive(tool.name[:2])
            setattr(tool.app, attribute, secret)
            variable = f"SCAN_{tool.name}_{attribute}".upper()
            secrets_[variable] = env[variable] = secret
    if store_url.startswith("postgresql"):
        # trust authentication takes any password: one more secret, in the store's URL
        password = distinctive("pg")
        url = sa.make_url(store_url).set(password=password)
        secrets_["SYNCD_STORE_URL"] = password
        env["SYNCD_STORE_URL"] = url.render_as_string(hide_password=False)
    else:
        env["SYNCD_STORE_URL"] = store_url
    folder = tmp_path / "scan"
    folder.mkdir()
    with shop.serving(tools):
        yield Scene(folder, store_url, tools, env, secrets_)


@pytest.mark.postgres
def test_no_secret_shows_anywhere(scene: Scene) -> None:
    assert len(scene.secrets) >= 4
    good = scene.write_config("syncd.yaml")
    codes = {}
    for command in (
        ["check"],
        ["check", "--connect"],
        ["sync"],
        ["sync", "--json"],
        ["plan"],
        ["plan", "--json"],
        ["status"],
        ["status", "--json"],
        ["segments", "list"],
        ["segments", "show", "loyal_customers", "--sql"],
        ["segments", "list", "--json"],
    ):
        codes[" ".join(command)] = scene.run(good, *command)
    assert codes["check --connect"] == 0 and codes["sync"] in (0, 3), codes
    refused = scene.write_config("refused.yaml", wrong=True)
    assert scene.run(refused, "check", "--connect") == 1  # each vendor refuses its credential
    assert scene.run(refused, "sync") == 1
    for tool in scene.tools:
        tool.app.set_faults("malformed=0.3,5xx=0.2")
    scene.run(good, "sync")  # whatever it makes of it, it says no secret
    for tool in scene.tools:
        tool.app.set_faults(None)
    gone = next(t.name for t in scene.tools if t.name in CREDENTIALS)
    # the vendor that cannot be reached fails; the others go on (partial) or fail too
    assert scene.run(scene.write_config("gone.yaml", unreachable=gone), "sync") in (1, 4)
    assert scene.run(good, "status", "--json") == 0  # the failed runs, as status tells them

    leaks = Leaks(scene.secrets)
    found = [hit for where, text in scene.transcripts for hit in leaks.found(where, text)]
    found += [hit for where, text in scene.store_texts() for hit in leaks.found(where, text)]
    runs = len([w for w, _ in scene.transcripts if w.endswith("stdout")])
    print(f"\n{runs} commands, {len(scene.secrets)} secrets: {len(found)} found")
    assert not found, f"{len(found)} leaks:\n" + "\n".join(found[:10])


def test_the_scan_finds_a_planted_leak(scene: Scene) -> None:
    """A secret written into the store and into the output, in forms syncd would mask and
    forms it cannot know (a secret's base64 inside a basic auth of another user), is found."""
    good = scene.write_config("syncd.yaml")
    assert scene.run(good, "sync") in (0, 3)
    name, secret = next(iter(scene.secrets.items()))
    engine = sa.create_engine(scene.store_url)
    with engine.begin() as conn:
        conn.execute(
            sa.text("UPDATE runs SET error = :e"), {"e": f"refused: {json.dumps(repr(secret))}"}
        )
    engine.dispose()
    basic = base64.b64encode(f"user:{secret}".encode()).decode()
    planted = [
        ("stdout", f"GET /x?token={quote_plus(secret)}"),
        ("stderr", f"Authorization: Basic {basic}"),
        ("stderr", secret[:20] + "…"),  # cut short: the start of a secret is a leak too
    ]
    leaks = Leaks({name: secret})
    store_hits = [hit for w, t in scene.store_texts() for hit in leaks.found(w, t)]
    assert any(hit.startswith("store runs") for hit in store_hits), store_hits
    for where, text in planted:
        assert leaks.found(where, text), (where, text)
    register_secret(secret)  # and what syncd masks, the scan no longer finds
    assert not leaks.found("masked", redact(f"{secret!r} {json.dumps(secret)}"))
