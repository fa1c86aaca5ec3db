"""The HubSpot destination: segments as MANUAL contact lists (one add-and-remove call per
list), values and new contacts through one batch upsert by e-mail. HubSpot has no tags."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar
from urllib.parse import quote

from syncd.connectors import (
    ApiClient,
    AuthError,
    Change,
    ChangeKind,
    ChangeResult,
    ConnectorError,
    Destination,
    Outcome,
    RecordError,
    RetryableError,
)
from syncd_plugins.hubspot.segment_property import SegmentProperty, contacts_by_email

CONTACT_FIELDS = {"first_name": "firstname", "last_name": "lastname", "phone": "phone"}
LIST_KINDS = frozenset({ChangeKind.SUBSCRIBE, ChangeKind.UNSUBSCRIBE})
WRITE_KINDS = frozenset({ChangeKind.SET_FIELD, ChangeKind.UPSERT_CONTACT})
BAD_PROPERTY = re.compile(r'Property "([^"]+)" does not exist')


@dataclass
class Batch:
    """The changes of one push, what is known of their contacts, and the answers so far."""

    changes: Sequence[Change]
    answers: dict[int, ChangeResult] = field(default_factory=dict)
    ids: dict[str, str] = field(default_factory=dict)  # e-mail -> HubSpot's contact id
    refused: dict[str, str] = field(default_factory=dict)  # property -> why
    failed: dict[str, tuple[Outcome, str]] = field(default_factory=dict)  # e-mail -> why

    def __post_init__(self) -> None:
        self.ids = {c.email.lower(): c.external_id for c in self.changes if c.external_id}

    def open(self, kinds: Iterable[ChangeKind] = ChangeKind) -> list[Change]:
        """The changes of ``kinds`` not answered yet."""
        wanted = set(kinds)
        return [c for c in self.changes if c.kind in wanted and c.id not in self.answers]

    def answer(
        self,
        changes: Iterable[Change],
        outcome: Outcome,
        reason: str | None = None,
        external_id: str | None = None,
    ) -> None:
        for c in changes:
            self.answers.setdefault(c.id, ChangeResult(c.id, outcome, reason, external_id))

    def fail(self, changes: Iterable[Change], exc: ConnectorError) -> None:
        """A vendor's error answers each of ``changes``; a refused token stops the push."""
        if isinstance(exc, AuthError):
            raise exc
        self.answer(changes, outcome(exc), str(exc))

    def results(self) -> list[ChangeResult]:
        """One answer for each change, in order."""
        for c in self.open():
            self.answer([c], Outcome.FAILED, f"{c.kind} is not supported")
        return [self.answers[c.id] for c in self.changes]


def outcome(exc: ConnectorError) -> Outcome:
    return Outcome.RETRYABLE if isinstance(exc, RetryableError) else Outcome.FAILED


class HubSpotDestination(Destination):
    batch_size: ClassVar[int] = 100  # the batch upsert takes 100 contacts
    change_kinds: ClassVar[frozenset[ChangeKind]] = LIST_KINDS | WRITE_KINDS

    def __init__(self, api: ApiClient, segment_property: str | None = None) -> None:
        self.api = api
        self.list_ids: dict[str, str] = {}  # list name -> listId, as found or created
        # segments as values of this multi-checkbox property instead of list memberships
        self.segments = SegmentProperty(api, segment_property) if segment_property else None

    def push(self, changes: Sequence[Change]) -> list[ChangeResult]:
        batch = Batch(changes)
        self._upsert(batch, self._segment_values(batch) if self.segments else {})
        if self.segments:
            return batch.results()
        self._find_for_removal(batch)
        by_list: dict[str, list[Change]] = {}
        for change in batch.open(LIST_KINDS):
            by_list.setdefault(change.key, []).append(change)
        for name, group in by_list.items():
            self._memberships(name, group, batch)
        return batch.results()

    def _segment_values(self, batch: Batch) -> dict[str, dict[str, Any]]:
        """The segment property's new value of each contact; its options made ready."""
        assert self.segments is not None
        group = batch.open(LIST_KINDS)
        if not group:
            return {}
        try:
            values, nothing_to_do = self.segments.new_values(group)
            self.segments.ensure_options({c.key for c in group if c.kind is ChangeKind.SUBSCRIBE})
        except ConnectorError as exc:
            batch.fail(group, exc)
            return {}
        batch.answer(nothing_to_do, Outcome.DONE)
        return {email: {self.segments.name: value} for email, value in values.items()}

    # --- contacts and their properties --------------------------------------------------------

    def _upsert(self, batch: Batch, wanted: dict[str, dict[str, Any]]) -> None:
        """One batch upsert for every contact with values to write or an id to learn; the
        contacts that are not in HubSpot yet are created."""
        for c in batch.open():
            email = c.email.lower()
            if c.kind is ChangeKind.SET_FIELD:
                wanted.setdefault(email, {})[c.key] = "" if c.value is None else c.value
            elif c.kind is ChangeKind.UPSERT_CONTACT:
                props = wanted.setdefault(email, {})
                for ours, theirs in CONTACT_FIELDS.items():
                    if c.attributes.get(ours) is not None:
                        props[theirs] = str(c.attributes[ours])
            elif c.kind is ChangeKind.SUBSCRIBE and not batch.ids.get(email) and not self.segments:
                wanted.setdefault(email, {})
        if not wanted:
            return
        self._send(batch, list(wanted.items()))
        segment = self.segments.name if self.segments else None
        for c in batch.open():
            email = c.email.lower()
            if email not in wanted:
                continue
            in_property = segment is not None and c.kind in LIST_KINDS
            if in_property and segment in batch.refused:
                reason = f"HubSpot has no contact property {segment!r}"
                batch.answer([c], Outcome.FAILED, reason)
            elif c.kind is ChangeKind.SET_FIELD and c.key in batch.refused:
                reason = f"HubSpot has no contact property {c.key!r}: {batch.refused[c.key]}"
                batch.answer([c], Outcome.FAILED, reason)
            elif email in batch.failed:
                batch.answer([c], *batch.failed[email])
            elif not batch.ids.get(email):
                batch.answer([c], Outcome.RETRYABLE, "no id in HubSpot's reply")
            elif c.kind in WRITE_KINDS or in_property:
                batch.answer([c], Outcome.DONE, external_id=batch.ids[email])

    def _send(self, batch: Batch, rows: list[tuple[str, dict[str, Any]]]) -> None:
        """Upsert ``rows`` in one call. A property HubSpot does not have is left out and the
        call sent again; a contact it refuses is found by halving the rows."""
        while True:
            inputs = [
                {
                    "idProperty": "email",
                    "id": email,
                    "properties": {k: v for k, v in props.items() if k not in batch.refused},
                }
                for email, props in rows
            ]
            try:
                reply = self.api.post("crm/v3/objects/contacts/batch/upsert", {"inputs": inputs})
            except RecordError as exc:
                bad = set(BAD_PROPERTY.findall(str(exc))) - set(batch.refused)
                if bad:
                    batch.refused.update({name: str(exc) for name in bad})
                    continue
                if len(rows) > 1:
                    self._send(batch, rows[: len(rows) // 2])
                    self._send(batch, rows[len(rows) // 2 :])
                else:
                    batch.failed[rows[0][0]] = (Outcome.FAILED, str(exc))
                return
            except AuthError:
                raise
            except ConnectorError as exc:
                batch.failed.update({email: (outcome(exc), str(exc)) for email, _ in rows})
                return
            for result in reply.get("results") or []:
                email = str((result.get("properties") or {}).get("email") or "").lower()
                if result.get("id"):
                    batch.ids[email] = str(result["id"])
            return

    def _find_for_removal(self, batch: Batch) -> None:
        """The ids of contacts to take out of a list whose id syncd does not know; one that
        HubSpot does not have is in no list, so its removal is done."""
        removals = batch.open({ChangeKind.UNSUBSCRIBE})
        unknown = [c for c in removals if c.email.lower() not in batch.ids]
        if not unknown:
            return
        try:
            found = contacts_by_email(self.api, {c.email for c in unknown})
        except ConnectorError as exc:
            batch.fail(unknown, exc)
            return
        batch.ids.update({email: str(contact["id"]) for email, contact in found.items()})
        gone = [c for c in unknown if c.email.lower() not in batch.ids]
        batch.answer(gone, Outcome.DONE, "not in HubSpot, so in no list")

    # --- lists --------------------------------------------------------------------------------

    def list_id(self, name: str, create: bool) -> str | None:
        """The id of the contact list ``name``; a missing one is created as MANUAL when asked."""
        if name in self.list_ids:
            return self.list_ids[name]
        by_name = f"crm/v3/lists/object-type-id/0-1/name/{quote(name, safe='')}"
        try:
            found = self.api.get(by_name)
        except RecordError as exc:
            if exc.status != 404:
                raise
            if not create:
                return None
            body = {"name": name, "objectTypeId": "0-1", "processingType": "MANUAL"}
            try:
                found = self.api.post("crm/v3/lists", body)
            except RecordError:
                # created by an earlier try whose answer was lost: it is there now
                found = self.api.get(by_name)
        self.list_ids[name] = str(found["list"]["listId"])
        return self.list_ids[name]

    def _memberships(self, name: str, group: list[Change], batch: Batch) -> None:
        adds = [c for c in group if c.kind is ChangeKind.SUBSCRIBE]
        ids = {c.id: batch.ids[c.email.lower()] for c in group}
        try:
            list_id = self.list_id(name, create=bool(adds))
            if list_id is None:
                batch.answer(group, Outcome.DONE, f"no list {name!r} in HubSpot")
                return
            body = {
                "recordIdsToAdd": sorted({ids[c.id] for c in adds}),
                "recordIdsToRemove": sorted({ids[c.id] for c in group if c not in adds}),
            }
            reply = self.api.put(f"crm/v3/lists/{list_id}/memberships/add-and-remove", body)
        except RecordError as exc:
            if exc.status == 404:  # the list was deleted since: find or create it again
                self.list_ids.pop(name, None)
            batch.answer(
                group, Outcome.RETRYABLE if exc.status == 404 else Outcome.FAILED, str(exc)
            )
            return
        except ConnectorError as exc:
            batch.fail(group, exc)
            return
        missing = {str(r) for r in reply.get("recordIdsMissing") or []}
        for c in group:
            if ids[c.id] in missing:
                reason = f"HubSpot has no contact {ids[c.id]} (deleted or merged?)"
                batch.answer([c], Outcome.FAILED, reason)
            else:
                batch.answer([c], Outcome.DONE, external_id=ids[c.id])
