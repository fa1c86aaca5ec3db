"""The demo's small shop: the four bundled emulators filled from one seed (the same people in
each), started on loopback, and the config that points syncd at them.

The emulators are found through the ``syncd_emulators`` hook like any plugin's; what this
module knows of each vendor is only what a config for it needs and where its state keeps
tags and lists, to show what each tool holds after a sync.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from syncd.emulator import running
from syncd.errors import ConfigError
from syncd.plugins import get_plugin_manager

#: the tools of the shop, by the connector instance name the config gives each
TOOLS = {
    "shopify": "Shopify",
    "hubspot": "HubSpot",
    "activecampaign": "ActiveCampaign",
    "salesmanago": "SALESmanago",
}
#: what each tool receives: segment -> tag or list, and computed fields
DESTINATIONS: dict[str, dict[str, dict[str, Any]]] = {
    "activecampaign": {
        "tags": {
            "loyal_customers": "LOYAL",
            "cart_abandoners": "CART_ABANDONED",
            "lapsed_customers": "WIN_BACK",
            "in_negotiation": "IN_NEGOTIATION",
        },
        "lists": {"recent_customers": "Onboarding"},
        "fields": {"LEAD_SCORE": {"score": "lead_score"}, "RFM_CLASS": {"rfm": "class"}},
    },
    "salesmanago": {
        "tags": {
            "loyal_customers": "LOYAL",
            "cart_abandoners": "CART_ABANDONED",
            "top_leads": "HOT_LEAD",
        },
    },
    "hubspot": {"lists": {"top_leads": "Top leads"}},
    "shopify": {
        "tags": {
            "loyal_customers": "loyal",
            "lapsed_customers": "win-back",
            "cart_abandoners": "abandoned-cart",
            "rfm_champions": "champion",
        },
    },
}
#: the demo's own segments, beside the library's
SEGMENTS = {
    "in_negotiation": {
        "description": "An open deal in the negotiation stage in the CRM.",
        "deal": {"stage": "negotiation", "status": "open"},
    },
}
#: the custom fields the demo's ActiveCampaign account has, for the computed values
AC_FIELDS = (("Lead score", "LEAD_SCORE"), ("RFM class", "RFM_CLASS"))
SM_API_KEY = "syncd-demo"


def library_path() -> Path | None:
    """The prebuilt segment library beside the installed package (an editable install of a
    checkout has it in ``config/segments``), or None."""
    import syncd

    path = Path(syncd.__file__).resolve().parent.parent / "config" / "segments"
    return path if path.is_dir() and any(path.glob("*.yaml")) else None


def make_emulators(seed: int, people: int) -> dict[str, Any]:
    """The four emulators, each with the vendor's own rate limit and the same crowd."""
    factories = get_plugin_manager(None).emulators()
    missing = sorted(set(TOOLS) - set(factories))
    if missing:
        raise ConfigError(
            f"the demo needs the bundled emulators; not found: {', '.join(missing)} "
            "(is syncd installed with its plugins? pip install -e .)"
        )
    apps = {name: factories[name](seed=seed, people=people) for name in TOOLS}
    _one_shop(apps)
    return apps


def _one_shop(apps: dict[str, Any]) -> None:
    """Give the e-mail tool fields for the score and the RFM class. (Orders count from the
    shop alone: the config skips the e-mail tools' copies of them.)"""
    account = apps["activecampaign"].account
    start = min(f["cdate"] for f in account.rows("fields"))
    for title, perstag in AC_FIELDS:
        account.insert(
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


@contextlib.contextmanager
def serving(apps: dict[str, Any]) -> Iterator[dict[str, str]]:
    """Serve every emulator on loopback; yield their base URLs by tool; stop them on exit."""
    with contextlib.ExitStack() as stack:
        yield {name: stack.enter_context(running(app)) for name, app in apps.items()}


def config_text(apps: dict[str, Any], urls: dict[str, str], library: Path) -> str:
    """The demo's YAML: four instances at the emulators, SQLite beside it, the library."""
    ac, sm = apps["activecampaign"], apps["salesmanago"]
    connectors = {
        "shopify": {
            "type": "shopify",
            "shop": urls["shopify"],
            "access_token": apps["shopify"].access_token,
        },
        "hubspot": {"type": "hubspot", "base_url": urls["hubspot"], "token": apps["hubspot"].token},
        "activecampaign": {
            "type": "activecampaign",
            "url": urls["activecampaign"],
            "token": ac.token,
            # the shop's orders and carts count from Shopify; AC's copies would count twice
            "skip_events": ["order_placed", "checkout_abandoned"],
            "list_sender_url": "https://shop.example.com",
        },
        "salesmanago": {
            "type": "salesmanago",
            "server": urls["salesmanago"],
            "client_id": sm.client_id,
            "api_key": SM_API_KEY,
            "api_secret": sm.api_secret,
            "owner": sm.owner,
            # SALESmanago keeps a copy of each purchase; the shop's own count once
            "skip_events": ["order_placed"],
            "rate_limit": sm.rate_limit.rate if sm.rate_limit else 5.0,
        },
    }
    lines = [
        "# Written by `syncd demo`: the bundled emulators on loopback as four tools of one",
        "# small shop. The emulators stop when the demo ends; this store and config stay, for",
        "# `syncd status`, `syncd segments show NAME` and `syncd plan` (sync needs them running).",
        "store:",
        "  url: sqlite:///syncd.db",
        f"include: [{_json(str(library))}]   # the prebuilt segment library",
        "precedence: [hubspot, shopify, activecampaign, salesmanago]",
        "connectors:",
    ]
    for name, options in connectors.items():
        lines.append(f"  {name}:")
        lines += [f"    {key}: {_json(value)}" for key, value in options.items()]
    lines.append("segments:")
    for name, body in SEGMENTS.items():
        lines.append(f"  {name}: {_json(body)}")
    lines.append("destinations:")
    for name, mapping in DESTINATIONS.items():
        lines.append(f"  - connector: {name}")
        for section, entries in mapping.items():
            lines.append(f"    {section}: {_json(entries)}")
    return "\n".join(lines) + "\n"


def _json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)  # JSON is YAML's flow style


@dataclass(frozen=True)
class Holding:
    """One tag, list or field a destination maps to, and who holds it at the tool."""

    tool: str
    kind: str  # "tag", "list" or "field"
    name: str
    emails: frozenset[str]


def holdings(apps: dict[str, Any]) -> list[Holding]:
    """What each tool holds of what the demo maps to it, read from the emulators' state."""
    out: list[Holding] = []
    for tool, mapping in DESTINATIONS.items():
        state = apps[tool].state()
        for tag in mapping.get("tags", {}).values():
            out.append(Holding(tool, "tag", tag, frozenset(_tagged(tool, state, tag))))
        for name in mapping.get("lists", {}).values():
            out.append(Holding(tool, "list", name, frozenset(_listed(tool, state, name))))
        for field in mapping.get("fields", {}):
            out.append(Holding(tool, "field", field, frozenset(_with_field(state, field))))
    return out


def _tagged(tool: str, state: dict[str, Any], tag: str) -> set[str]:
    if tool == "activecampaign":
        emails = {c["id"]: c["email"].lower() for c in state["contacts"]}
        ids = {t["id"] for t in state["tags"] if t["tag"] == tag}
        return {emails[x["contact"]] for x in state["contactTags"] if x["tag"] in ids}
    if tool == "salesmanago":
        return {
            c["email"].lower()
            for c in state["contacts"]
            if any(t["tag"] == tag for t in c["contactTags"])
        }
    if tool == "shopify":
        return {
            c["email"].lower()
            for c in state["customers"]
            if c.get("email") and tag in [t.strip() for t in (c.get("tags") or "").split(",")]
        }
    return set()


def _listed(tool: str, state: dict[str, Any], name: str) -> set[str]:
    if tool == "activecampaign":
        emails = {c["id"]: c["email"].lower() for c in state["contacts"]}
        ids = {x["id"] for x in state["lists"] if x["name"] == name}
        return {
            emails[x["contact"]]
            for x in state["contactLists"]
            if x["list"] in ids and str(x["status"]) == "1"
        }
    if tool == "hubspot":
        emails = {c["id"]: c["properties"].get("email", "").lower() for c in state["contacts"]}
        return {emails[m] for lst in state["lists"] if lst["name"] == name for m in lst["members"]}
    return set()


def _with_field(state: dict[str, Any], perstag: str) -> set[str]:
    emails = {c["id"]: c["email"].lower() for c in state["contacts"]}
    ids = {f["id"] for f in state["fields"] if f["perstag"] == perstag}
    return {emails[v["contact"]] for v in state["fieldValues"] if v["field"] in ids and v["value"]}
