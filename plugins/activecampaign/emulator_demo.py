"""The ActiveCampaign emulator's part in ``syncd demo``: the e-mail tool of the demo's shop that
receives the most, as tags, a list and two custom fields (the lead score and the RFM class),
and that keeps copies of the shop's orders and carts."""

from __future__ import annotations

from typing import Any, ClassVar

from syncd.emulator import DemoPart, Emulator, Held
from syncd_plugins.activecampaign.emulator_state import AccountState

#: the custom fields the demo's account has for the computed values: (title, perstag)
DEMO_FIELDS = (("Lead score", "LEAD_SCORE"), ("RFM class", "RFM_CLASS"))


class AccountDemo(Emulator):
    """The emulator's base: what ``syncd demo`` asks of it."""

    account: AccountState
    token: str

    demo: ClassVar[DemoPart | None] = DemoPart(
        title="ActiveCampaign",
        order=3,
        precedence=3,
        destination={
            "tags": {
                "loyal_customers": "LOYAL",
                "cart_abandoners": "CART_ABANDONED",
                "lapsed_customers": "WIN_BACK",
                "in_negotiation": "IN_NEGOTIATION",
            },
            "lists": {"recent_customers": "Onboarding"},
            "fields": {"LEAD_SCORE": {"score": "lead_score"}, "RFM_CLASS": {"rfm": "class"}},
        },
        push_order=1,
        # the shop's orders and carts count from the shop; these copies would count twice
        options={"skip_events": ["order_placed", "checkout_abandoned"]},
    )

    def connector_config(self, url: str) -> dict[str, Any]:
        return {
            "type": "activecampaign",
            "url": url,
            "token": self.token,
            "list_sender_url": "https://shop.example.com",  # lets syncd create a missing list
        }

    def prepare_demo(self) -> None:
        """Give the account the custom fields the demo writes the score and RFM class to."""
        start = min(f["cdate"] for f in self.account.rows("fields"))
        for title, perstag in DEMO_FIELDS:
            self.account.insert(
                "fields",
                {
                    "title": title,
                    "type": "text",
                    "perstag": perstag,
                    "descript": "written by syncd",
                    "isrequired": "0",
                    "cdate": start,
                    "udate": start,
                },
            )

    def holds(self) -> dict[str, Held]:
        state = self.state()
        emails = {c["id"]: c["email"].lower() for c in state["contacts"]}
        tag_names = {t["id"]: t["tag"] for t in state["tags"]}
        list_names = {x["id"]: x["name"] for x in state["lists"]}
        field_names = {f["id"]: f["perstag"] for f in state["fields"]}
        tags: dict[str, set[str]] = {email: set() for email in emails.values()}
        lists: dict[str, set[str]] = {email: set() for email in emails.values()}
        fields: dict[str, dict[str, str]] = {email: {} for email in emails.values()}
        for x in state["contactTags"]:
            if x["tag"] in tag_names:
                tags[emails[x["contact"]]].add(tag_names[x["tag"]])
        for x in state["contactLists"]:
            if x["list"] in list_names and str(x["status"]) == "1":  # subscribed
                lists[emails[x["contact"]]].add(list_names[x["list"]])
        for v in state["fieldValues"]:
            if v["field"] in field_names and v["value"]:
                fields[emails[v["contact"]]][field_names[v["field"]]] = str(v["value"])
        return {
            email: Held(frozenset(tags[email]), frozenset(lists[email]), fields[email])
            for email in emails.values()
        }
