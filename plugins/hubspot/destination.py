"""The HubSpot destination: segments as MANUAL contact lists, values and new contacts through
batch upserts by e-mail (100 contacts a call). HubSpot has no tags.

A push holds ``batch_size`` contacts (10,000 by default), so each list's memberships of a
whole plan go in one ``add-and-remove`` call (up to 100,000 record ids a call); a missing list
is created at most once (``create_once``). For U contacts to upsert and L lists the writes are
``ceil(U / 100) + L`` (plus one per new list) when the batch holds the whole plan."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any, ClassVar
from urllib.parse import quote

from syncd.connectors import (
    ChangeKind,
    HttpDestination,
    RecordError,
    by_contact,
    by_key,
    create_once,
    in_batches,
    known_ids,
)
from syncd_plugins.hubspot.segment_property import READ_MAX, SegmentProperty, contacts_by_email

CONTACT_FIELDS = {"first_name": "firstname", "last_name": "lastname", "phone": "phone"}
LIST_KINDS = frozenset({ChangeKind.SUBSCRIBE, ChangeKind.UNSUBSCRIBE})
WRITE_KINDS = frozenset({ChangeKind.SET_FIELD, ChangeKind.UPSERT_CONTACT})
BAD_PROPERTY = re.compile(r'Property "([^"]+)" does not exist')
UPSERT_MAX = 100  # inputs of one batch upsert
MEMBERSHIP_MAX = 100_000  # record ids (to add and to remove) of one add-and-remove call

if TYPE_CHECKING:
    from syncd.connectors import Answers, Change, Write
    from syncd_plugins.hubspot.connector import HubSpotConnector


class HubSpotDestination(HttpDestination):
    change_kinds: ClassVar[frozenset[ChangeKind]] = LIST_KINDS | WRITE_KINDS
    email_kinds = frozenset()  # HubSpot's own check answers for an address it refuses

    def __init__(self, connector: HubSpotConnector) -> None:
        super().__init__(connector)
        self.list_ids: dict[str, str] = {}  # list name -> listId, as found or created
        # segments as values of this multi-checkbox property instead of list memberships
        name = connector.options.segment_property
        self.segments = SegmentProperty(connector.api, name) if name else None

    def write(self, answers: Answers) -> None:
        # e-mail -> HubSpot's contact id, as known or learnt in this push
        ids = {c.email.lower(): c.external_id for c in answers.changes if c.external_id}
        if not self.segments:
            self._find_ids(answers, ids)
        self._upsert(answers, ids, self._segment_values(answers) if self.segments else {})
        if not self.segments:
            for name, group in by_key(answers.open(LIST_KINDS)).items():
                self._memberships(name, group, answers, ids)

    def _segment_values(self, answers: Answers) -> dict[str, dict[str, Any]]:
        """The segment property's new value of each contact; its options made ready."""
        assert self.segments is not None
        group = answers.open(LIST_KINDS)
        if not group:
            return {}
        with answers.answering(group):
            values, nothing_to_do = self.segments.new_values(group)
            self.segments.ensure_options({c.key for c in group if c.kind is ChangeKind.SUBSCRIBE})
            answers.done(nothing_to_do)
            return {email: {self.segments.name: value} for email, value in values.items()}
        return {}

    # --- contacts and their properties --------------------------------------------------------

    def _upsert(
        self, answers: Answers, ids: dict[str, str], wanted: dict[str, dict[str, Any]]
    ) -> None:
        """One batch upsert for every contact with values to write or an id to learn; the
        contacts that are not in HubSpot yet are created."""
        of_contact: dict[str, list[Change]] = {}
        for c in answers.open():
            email = c.email.lower()
            of_contact.setdefault(email, []).append(c)
            if c.kind is ChangeKind.SET_FIELD:
                wanted.setdefault(email, {})[c.key] = "" if c.value is None else c.value
            elif c.kind is ChangeKind.UPSERT_CONTACT:
                props = wanted.setdefault(email, {})
                for ours, theirs in CONTACT_FIELDS.items():
                    if c.attributes.get(ours) is not None:
                        props[theirs] = str(c.attributes[ours])
            elif c.kind is ChangeKind.SUBSCRIBE and not ids.get(email) and not self.segments:
                wanted.setdefault(email, {})
        refused: dict[str, str] = {}  # property -> why HubSpot refused it
        segment = self.segments.name if self.segments else None

        def refuse(changes: list[Change]) -> None:
            """Fail the changes that write a property HubSpot does not have."""
            for c in changes:
                if segment in refused and c.kind in LIST_KINDS:
                    answers.failed(c, f"HubSpot has no contact property {segment!r}")
                elif c.kind is ChangeKind.SET_FIELD and c.key in refused:
                    answers.failed(
                        c, f"HubSpot has no contact property {c.key!r}: {refused[c.key]}"
                    )

        def send(rows: list[Write[tuple[str, dict[str, Any]]]]) -> None:
            """Upsert ``rows`` in one call; a property HubSpot does not have is left out and the
            call sent again. Each contact of HubSpot's answer is done with its id."""
            while True:
                refuse([c for _, changes in rows for c in changes])
                inputs = [
                    {
                        "idProperty": "email",
                        "id": email,
                        "properties": {k: v for k, v in props.items() if k not in refused},
                    }
                    for (email, props), _ in rows
                ]
                try:
                    reply = self.api.post(
                        "crm/v3/objects/contacts/batch/upsert", {"inputs": inputs}
                    )
                    break
                except RecordError as exc:
                    bad = set(BAD_PROPERTY.findall(str(exc))) - set(refused)
                    if not bad:
                        raise
                    refused.update({name: str(exc) for name in bad})
            for result in reply.get("results") or []:
                email = str((result.get("properties") or {}).get("email") or "").lower()
                if result.get("id"):
                    ids[email] = str(result["id"])
            for c in (c for _, changes in rows for c in changes):
                if not ids.get(email := c.email.lower()):
                    answers.retry(c, "no id in HubSpot's reply")
                elif c.kind in WRITE_KINDS or (segment is not None and c.kind in LIST_KINDS):
                    answers.done(c, external_id=ids[email])

        # a contact HubSpot refuses is found by halving the rows
        rows = [(row, of_contact.get(row[0], [])) for row in wanted.items()]
        answers.send(rows, UPSERT_MAX, send, split="halves")

    def _find_ids(self, answers: Answers, ids: dict[str, str]) -> None:
        """The ids of contacts to put in or take out of a list whose id syncd does not know,
        read (not upserted: a write, and one the next pull would read back); only those
        HubSpot lacks are created by the upsert. One it lacks is in no list, so its removal
        is done."""
        unknown = [c for c in answers.open(LIST_KINDS) if c.email.lower() not in ids]

        def find(emails: list[str]) -> dict[str, str]:
            return {e: str(row["id"]) for e, row in contacts_by_email(self.api, emails).items()}

        ids.update(known_ids(answers, by_contact(unknown), find, READ_MAX))
        gone = [
            c for c in unknown if c.kind is ChangeKind.UNSUBSCRIBE and c.email.lower() not in ids
        ]
        answers.done(gone, reason="not in HubSpot, so in no list")

    # --- lists --------------------------------------------------------------------------------

    def list_id(self, name: str, create: bool) -> str | None:
        """The id of the contact list ``name``; a missing one is created as MANUAL when asked."""
        if name in self.list_ids:
            return self.list_ids[name]
        by_name = f"crm/v3/lists/object-type-id/0-1/name/{quote(name, safe='')}"
        found = self.api.find(by_name)  # HubSpot's ``{"list": {...}}``, or None
        if found is None:
            if not create:
                return None
            body = {"name": name, "objectTypeId": "0-1", "processingType": "MANUAL"}
            # (HubSpot refuses a second list of one name: create_once then finds it)
            found = create_once(
                self.api, "crm/v3/lists", body, lambda: self.api.find(by_name), f"list {name!r}"
            )
        self.list_ids[name] = str(found["list"]["listId"])
        return self.list_ids[name]

    def _memberships(
        self, name: str, group: list[Change], answers: Answers, ids: dict[str, str]
    ) -> None:
        adds = [c for c in group if c.kind is ChangeKind.SUBSCRIBE]
        member = {c.id: ids[c.email.lower()] for c in group}
        with answers.answering(group):
            try:
                list_id = self.list_id(name, create=bool(adds))
                if list_id is None:
                    answers.done(group, reason=f"no list {name!r} in HubSpot")
                    return
                to_add = sorted({member[c.id] for c in adds})
                to_remove = sorted({member[c.id] for c in group if c not in adds})
                missing: set[str] = set()
                path = f"crm/v3/lists/{list_id}/memberships/add-and-remove"
                # the ids to add, then those to remove, 100,000 a call
                every = [*((i, True) for i in to_add), *((i, False) for i in to_remove)]
                for part in in_batches(every, MEMBERSHIP_MAX):
                    body = {
                        "recordIdsToAdd": [i for i, add in part if add],
                        "recordIdsToRemove": [i for i, add in part if not add],
                    }
                    reply = self.api.put(path, body)
                    missing |= {str(r) for r in reply.get("recordIdsMissing") or []}
            except RecordError as exc:
                if exc.status != 404:
                    raise
                self.list_ids.pop(name, None)  # deleted since: found or created again next time
                answers.retry(group, str(exc))
                return
            for c in group:
                if member[c.id] in missing:
                    reason = f"HubSpot has no contact {member[c.id]} (deleted or merged?)"
                    answers.failed(c, reason)
                else:
                    answers.done(c, external_id=member[c.id])
