"""The HubSpot emulator's part in ``syncd demo``: the CRM of the demo's shop. It is trusted
first on a contact's attributes, receives the top leads as a list, adds the demo's
``in_negotiation`` segment (its deals make it possible), and later wins a deal."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

from syncd.emulator import Activity, ActivityPlan, DemoPart, Emulator, Held, tool_call
from syncd_plugins.hubspot.emulator_state import Portal

NEGOTIATION = "negotiation"  # the sample pipeline's stage of open deals being negotiated


class PortalDemo(Emulator):
    """The emulator's base: what ``syncd demo`` asks of it."""

    portal: Portal
    token: str

    demo: ClassVar[DemoPart | None] = DemoPart(
        title="HubSpot",
        order=2,
        precedence=1,
        destination={"lists": {"top_leads": "Top leads"}},
        push_order=3,
        segments={
            "in_negotiation": {
                "description": "An open deal in the negotiation stage in the CRM.",
                "deal": {"stage": NEGOTIATION, "status": "open"},
            },
        },
        # a deal won: its contacts leave the segment
        activity=ActivityPlan("in_negotiation", joins=False),
    )

    def connector_config(self, url: str) -> dict[str, Any]:
        return {"type": "hubspot", "base_url": url, "token": self.token}

    def holds(self) -> dict[str, Held]:
        state = self.state()
        emails = {c["id"]: c["properties"].get("email", "").lower() for c in state["contacts"]}
        lists: dict[str, set[str]] = {email: set() for email in emails.values()}
        for found in state["lists"]:
            for member in found["members"]:
                lists[emails[member]].add(found["name"])
        return {email: Held(lists=frozenset(names)) for email, names in lists.items()}

    def make_activity(self, url: str, candidates: Sequence[str]) -> Activity | None:
        """Move one open deal in negotiation to closed-won, through ``PATCH`` of the deal.

        The deal is one whose contacts have no other deal in negotiation, one of them among
        ``candidates``, so the changes it implies are exactly theirs."""
        state = self.state()
        wanted = set(candidates)
        emails = {c["id"]: c["properties"].get("email", "").lower() for c in state["contacts"]}
        open_deals = [d for d in state["deals"] if d["properties"].get("dealstage") == NEGOTIATION]
        deals_of: dict[str, int] = {}
        for deal in open_deals:
            for cid in deal["contacts"]:
                deals_of[cid] = deals_of.get(cid, 0) + 1
        for deal in sorted(open_deals, key=lambda d: int(d["id"])):
            people = tuple(emails.get(cid, "") for cid in deal["contacts"])
            alone = all(deals_of[cid] == 1 for cid in deal["contacts"])
            if alone and wanted.intersection(people):
                path = f"/crm/v3/objects/deals/{deal['id']}"
                won = {"properties": {"dealstage": "closedwon"}}
                tool_call("PATCH", url, path, won, {"Authorization": f"Bearer {self.token}"})
                name = deal["properties"].get("dealname") or f"deal {deal['id']}"
                return Activity(people, f"won the deal {name!r}", f"PATCH {path}")
        return None
