"""End to end through both in-process emulators: SALESmanago behaviour tags (``CHROME``,
``KOSIARKA_AKUMULATOROWA``, the counter in ``CENNIK (3)``) are pulled, the segment of
SEGMENTS.md section 7 is computed from them, and pushed to ActiveCampaign as a tag."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from syncd.cli import main
from syncd.emulator import ManualClock, VirtualTime
from syncd.testing import route_to_emulators
from syncd_plugins.activecampaign.emulator import DEFAULT_TOKEN, ActiveCampaignEmulator
from syncd_plugins.salesmanago.emulator import (
    DEFAULT_CLIENT_ID,
    DEFAULT_OWNER,
    DEFAULT_SECRET,
    SalesmanagoEmulator,
)
from syncd_plugins.salesmanago.test_emulator import START

CONFIG = f"""
store:
  url: sqlite:///{{db}}
connectors:
  sm:
    type: salesmanago
    server: https://app3.salesmanago.com
    client_id: {DEFAULT_CLIENT_ID}
    api_key: ${{{{SM_API_KEY}}}}
    api_secret: ${{{{SM_API_SECRET}}}}
    owner: {DEFAULT_OWNER}
  ac:
    type: activecampaign
    url: https://acme.api-us1.com
    token: ${{{{AC_TOKEN}}}}
segments:
  chrome_mower_pricing:
    all:
      - {{{{tag: CHROME}}}}
      - {{{{tag: KOSIARKA_AKUMULATOROWA}}}}
      - {{{{tag: CENNIK, count: {{{{gte: 3}}}}}}}}
destinations:
  - connector: ac
    mode: managed
    tags:
      chrome_mower_pricing: CHROME_MOWER_PRICING
"""
COUNTER = re.compile(r"^CENNIK \((\d+)\)$")


def expected_members(sm: SalesmanagoEmulator) -> tuple[set[str], set[str]]:
    """Who the segment holds by SALESmanago's tags, and who has two of the three only."""
    members, near = set(), set()
    for contact in sm.state()["contacts"]:
        tags = {t["tag"] for t in contact["contactTags"]}
        counts = [int(m.group(1)) for t in tags if (m := COUNTER.match(t))]
        hits = ["CHROME" in tags, "KOSIARKA_AKUMULATOROWA" in tags, max(counts, default=0) >= 3]
        if all(hits):
            members.add(contact["email"].lower())
        elif sum(hits) == 2:
            near.add(contact["email"].lower())
    return members, near


def ac_tagged(ac: ActiveCampaignEmulator, tag: str) -> set[str]:
    state = ac.state()
    emails = {c["id"]: c["email"].lower() for c in state["contacts"]}
    tag_id = next((t["id"] for t in state["tags"] if t["tag"] == tag), None)
    return {emails[x["contact"]] for x in state["contactTags"] if x["tag"] == tag_id}


@pytest.fixture
def emulators(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> Iterator[tuple[SalesmanagoEmulator, ActiveCampaignEmulator, Path]]:
    clock = ManualClock(START)
    vt = VirtualTime(clock)
    sm = SalesmanagoEmulator(seed=3, people=80, clock=clock)
    ac = ActiveCampaignEmulator(seed=3, people=80, clock=clock)
    config = tmp_path / "syncd.yaml"
    config.write_text(CONFIG.format(db=tmp_path / "store.db"))
    monkeypatch.setenv("SM_API_KEY", "syncd-e2e")
    monkeypatch.setenv("SM_API_SECRET", DEFAULT_SECRET)
    monkeypatch.setenv("AC_TOKEN", DEFAULT_TOKEN)
    monkeypatch.setenv("SYNCD_NOW", START.isoformat())
    monkeypatch.delenv("SYNCD_STORE_URL", raising=False)
    # each instance talks to its own emulator, in virtual time
    route_to_emulators(monkeypatch, {"sm": sm, "ac": ac}, time=vt)
    yield sm, ac, config


def test_salesmanago_behaviour_tags_become_an_activecampaign_tag(
    emulators: tuple[SalesmanagoEmulator, ActiveCampaignEmulator, Path],
) -> None:
    sm, ac, config = emulators
    members, near = expected_members(sm)
    assert members and near  # the rule has to tell them apart
    assert main(["--config", str(config), "sync"]) == 0
    assert ac_tagged(ac, "CHROME_MOWER_PRICING") == members
    assert not [r for r in sm.requests() if r.path.endswith(("upsert", "batchupsert"))]
    ac.clear_requests()
    assert main(["--config", str(config), "sync"]) == 0
    assert [r for r in ac.requests() if r.method != "GET"] == []  # nothing left to do
    assert ac_tagged(ac, "CHROME_MOWER_PRICING") == members
