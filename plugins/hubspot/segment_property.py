"""Segments as the values of one multi-checkbox contact property (values joined with ``;``),
for accounts that prefer a property to lists: the new value of each contact is its current
value with the additions and without the removals, and every value is an option of the
property before it is written."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any
from urllib.parse import quote

from syncd.connectors import ApiClient, Change, ChangeKind, by_contact, in_batches

READ_MAX = 100  # inputs of one batch read


class SegmentProperty:
    """The multi-checkbox property ``name`` of the account's contacts."""

    def __init__(self, api: ApiClient, name: str) -> None:
        self.api, self.name = api, name
        self.options: list[dict[str, Any]] | None = None

    def ensure_options(self, values: set[str]) -> None:
        """Add the values the property does not offer yet as options, in one call."""
        path = f"crm/v3/properties/contacts/{quote(self.name, safe='')}"
        if self.options is None or values - {o["value"] for o in self.options}:
            self.options = list(self.api.get(path).get("options") or [])
        missing = sorted(values - {o["value"] for o in self.options})
        if not missing:
            return
        start = len(self.options)
        options = [
            *self.options,
            *(
                {"label": v, "value": v, "displayOrder": start + i, "hidden": False}
                for i, v in enumerate(missing)
            ),
        ]
        self.options = list(
            self.api.request_json("PATCH", path, json={"options": options}).get("options")
            or options
        )

    def new_values(self, changes: Sequence[Change]) -> tuple[dict[str, str], list[Change]]:
        """The value to write for each contact, and the removals that need no write (the
        contact is not in HubSpot). One batch read for the current values."""
        contacts = by_contact(changes)
        current = {
            email: {v for v in str(contact["properties"].get(self.name) or "").split(";") if v}
            for email, contact in contacts_by_email(self.api, contacts, self.name).items()
        }
        values: dict[str, str] = {}
        nothing_to_do: list[Change] = []
        for email, mine in sorted(contacts.items()):
            adds = {c.key for c in mine if c.kind is ChangeKind.SUBSCRIBE}
            if email not in current and not adds:
                nothing_to_do += mine  # not in HubSpot: in no segment there
                continue
            removes = {c.key for c in mine if c.kind is ChangeKind.UNSUBSCRIBE}
            wanted = (current.get(email, set()) | adds) - removes
            if email in current and wanted == current[email]:
                nothing_to_do += mine  # already so
                continue
            values[email] = ";".join(sorted(wanted))
        return values, nothing_to_do


def contacts_by_email(api: ApiClient, emails: Iterable[str], *properties: str) -> dict[str, Any]:
    """The contacts HubSpot has of ``emails`` (with ``properties``), by lower-cased e-mail:
    one batch read for every 100."""
    found: dict[str, Any] = {}
    for some in in_batches(sorted({e.lower() for e in emails}), READ_MAX):
        inputs = [{"id": e} for e in some]
        body = {"idProperty": "email", "inputs": inputs, "properties": ["email", *properties]}
        reply = api.post("crm/v3/objects/contacts/batch/read", body)
        for result in reply.get("results") or []:
            props = result.get("properties") or {}
            if result.get("id") and props.get("email"):
                found[str(props["email"]).lower()] = result
    return found
