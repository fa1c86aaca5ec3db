"""The HubSpot destination: segments as MANUAL contact lists (one add-and-remove call per
list), values and new contacts through one batch upsert by e-mail. HubSpot has no tags."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any, ClassVar
from urllib.parse import quote

from syncd.connectors.client import ApiClient
from syncd.connectors.contract import (
    Change,
    ChangeKind,
    ChangeResult,
    Destination,
    Outcome,
)
from syncd.errors import AuthError, ConnectorError, RecordError, RetryableError
from syncd_plugins.hubspot.segment_property import SegmentProperty

CONTACT_FIELDS = {"first_name": "firstname", "last_name": "lastname", "phone": "phone"}
LIST_KINDS = {ChangeKind.SUBSCRIBE, ChangeKind.UNSUBSCRIBE}
WRITE_KINDS = {ChangeKind.SET_FIELD, ChangeKind.UPSERT_CONTACT}
BAD_PROPERTY = re.compile(r'Property "([^"]+)" does not exist')


class HubSpotDestination(Destination):
    batch_size: ClassVar[int] = 100  # the batch upsert takes 100 contacts
    change_kinds: ClassVar[frozenset[ChangeKind]] = frozenset(
        {
            ChangeKind.SUBSCRIBE,
            ChangeKind.UNSUBSCRIBE,
            ChangeKind.SET_FIELD,
            ChangeKind.UPSERT_CONTACT,
        }
    )

    def __init__(self, api: ApiClient, segment_property: str | None = None) -> None:
        self.api = api
        self.list_ids: dict[str, str] = {}  # list name -> listId, as found or created
        # segments as values of this multi-checkbox property instead of list memberships
        self.segments = SegmentProperty(api, segment_property) if segment_property else None

    def push(self, changes: Sequence[Change]) -> list[ChangeResult]:
        answers: dict[int, ChangeResult] = {}
        ids: dict[str, str] = {c.email.lower(): c.external_id for c in changes if c.external_id}
        values = self._segment_values(changes, answers) if self.segments else {}
        self._upsert(changes, ids, answers, values)
        if self.segments:
            return [answers.get(c.id) or _unsupported(c) for c in changes]
        self._find_for_removal(changes, ids, answers)
        by_list: dict[str, list[Change]] = {}
        for change in changes:
            if change.kind in LIST_KINDS and change.id not in answers:
                by_list.setdefault(change.key, []).append(change)
        for name, group in by_list.items():
            self._memberships(name, group, ids, answers)
        return [answers.get(c.id) or _unsupported(c) for c in changes]

    def _segment_values(
        self, changes: Sequence[Change], answers: dict[int, ChangeResult]
    ) -> dict[str, str]:
        """The segment property's new value of each contact; its options made ready."""
        assert self.segments is not None
        group = [c for c in changes if c.kind in LIST_KINDS]
        if not group:
            return {}
        try:
            values, nothing_to_do = self.segments.new_values(group)
            self.segments.ensure_options({c.key for c in group if c.kind is ChangeKind.SUBSCRIBE})
        except AuthError:
            raise
        except ConnectorError as exc:
            outcome = Outcome.RETRYABLE if isinstance(exc, RetryableError) else Outcome.FAILED
            _answer(group, answers, outcome, str(exc))
            return {}
        _answer(nothing_to_do, answers, Outcome.DONE, None)
        return values

    # --- contacts and their properties --------------------------------------------------------

    def _upsert(
        self,
        changes: Sequence[Change],
        ids: dict[str, str],
        answers: dict[int, ChangeResult],
        segment_values: dict[str, str],
    ) -> None:
        """One batch upsert for every contact with values to write or an id to learn; the
        contacts that are not in HubSpot yet are created."""
        wanted: dict[str, dict[str, Any]] = {}
        for email, value in segment_values.items():
            assert self.segments is not None
            wanted.setdefault(email, {})[self.segments.name] = value
        for c in changes:
            if c.id in answers:
                continue
            email = c.email.lower()
            if c.kind is ChangeKind.SET_FIELD:
                wanted.setdefault(email, {})[c.key] = "" if c.value is None else c.value
            elif c.kind is ChangeKind.UPSERT_CONTACT:
                props = wanted.setdefault(email, {})
                for ours, theirs in CONTACT_FIELDS.items():
                    if c.attributes.get(ours) is not None:
                        props[theirs] = str(c.attributes[ours])
            elif c.kind is ChangeKind.SUBSCRIBE and not ids.get(email) and not self.segments:
                wanted.setdefault(email, {})
        if not wanted:
            return
        refused: dict[str, str] = {}  # property -> why
        failed: dict[str, tuple[Outcome, str]] = {}  # e-mail -> outcome and why
        self._send(list(wanted.items()), refused, ids, failed)
        for c in changes:
            email = c.email.lower()
            if email not in wanted or c.id in answers:
                continue
            in_property = self.segments is not None and c.kind in LIST_KINDS
            if in_property and self.segments is not None and self.segments.name in refused:
                reason = f"HubSpot has no contact property {self.segments.name!r}"
                answers[c.id] = ChangeResult(c.id, Outcome.FAILED, reason)
            elif c.kind is ChangeKind.SET_FIELD and c.key in refused:
                reason = f"HubSpot has no contact property {c.key!r}: {refused[c.key]}"
                answers[c.id] = ChangeResult(c.id, Outcome.FAILED, reason)
            elif email in failed:
                answers[c.id] = ChangeResult(c.id, *failed[email])
            elif not ids.get(email):
                answers[c.id] = ChangeResult(c.id, Outcome.RETRYABLE, "no id in HubSpot's reply")
            elif c.kind in WRITE_KINDS or in_property:
                answers[c.id] = ChangeResult(c.id, Outcome.DONE, external_id=ids[email])

    def _send(
        self,
        batch: list[tuple[str, dict[str, Any]]],
        refused: dict[str, str],
        ids: dict[str, str],
        failed: dict[str, tuple[Outcome, str]],
    ) -> None:
        """Upsert ``batch`` in one call. A property HubSpot does not have is left out and the
        call sent again; a contact it refuses is found by halving the batch."""
        while True:
            inputs = [
                {
                    "idProperty": "email",
                    "id": email,
                    "properties": {k: v for k, v in props.items() if k not in refused},
                }
                for email, props in batch
            ]
            try:
                reply = self.api.post("crm/v3/objects/contacts/batch/upsert", {"inputs": inputs})
            except AuthError:
                raise
            except RecordError as exc:
                bad = set(BAD_PROPERTY.findall(str(exc))) - set(refused)
                if bad:
                    refused.update({name: str(exc) for name in bad})
                    continue
                if len(batch) > 1:
                    half = len(batch) // 2
                    self._send(batch[:half], refused, ids, failed)
                    self._send(batch[half:], refused, ids, failed)
                else:
                    failed[batch[0][0]] = (Outcome.FAILED, str(exc))
                return
            except ConnectorError as exc:
                retry = isinstance(exc, RetryableError)
                for email, _ in batch:
                    failed[email] = (Outcome.RETRYABLE if retry else Outcome.FAILED, str(exc))
                return
            for result in reply.get("results") or []:
                email = str((result.get("properties") or {}).get("email") or "").lower()
                if result.get("id"):
                    ids[email] = str(result["id"])
            return

    def _find_for_removal(
        self,
        changes: Sequence[Change],
        ids: dict[str, str],
        answers: dict[int, ChangeResult],
    ) -> None:
        """The ids of contacts to take out of a list whose id syncd does not know; one that
        HubSpot does not have is in no list, so its removal is done."""
        unknown = [
            c for c in changes if c.kind is ChangeKind.UNSUBSCRIBE and not ids.get(c.email.lower())
        ]
        if not unknown:
            return
        emails = sorted({c.email.lower() for c in unknown})
        try:
            reply = self.api.post(
                "crm/v3/objects/contacts/batch/read",
                {
                    "idProperty": "email",
                    "inputs": [{"id": e} for e in emails],
                    "properties": ["email"],
                },
            )
        except AuthError:
            raise
        except ConnectorError as exc:
            outcome = Outcome.RETRYABLE if isinstance(exc, RetryableError) else Outcome.FAILED
            _answer(unknown, answers, outcome, str(exc))
            return
        for result in reply.get("results") or []:
            email = str((result.get("properties") or {}).get("email") or "").lower()
            if result.get("id"):
                ids[email] = str(result["id"])
        gone = [c for c in unknown if not ids.get(c.email.lower())]
        _answer(gone, answers, Outcome.DONE, "not in HubSpot, so in no list")

    # --- lists --------------------------------------------------------------------------------

    def list_id(self, name: str, create: bool) -> str | None:
        """The id of the contact list ``name``; a missing one is created as MANUAL when asked."""
        if name in self.list_ids:
            return self.list_ids[name]
        try:
            found = self.api.get(f"crm/v3/lists/object-type-id/0-1/name/{quote(name, safe='')}")
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
                found = self.api.get(f"crm/v3/lists/object-type-id/0-1/name/{quote(name, safe='')}")
        self.list_ids[name] = str(found["list"]["listId"])
        return self.list_ids[name]

    def _memberships(
        self,
        name: str,
        group: list[Change],
        ids: dict[str, str],
        answers: dict[int, ChangeResult],
    ) -> None:
        adds = [c for c in group if c.kind is ChangeKind.SUBSCRIBE]
        try:
            list_id = self.list_id(name, create=bool(adds))
            if list_id is None:
                _answer(group, answers, Outcome.DONE, f"no list {name!r} in HubSpot")
                return
            body = {
                "recordIdsToAdd": sorted({str(ids[c.email.lower()]) for c in adds}),
                "recordIdsToRemove": sorted(
                    {str(ids[c.email.lower()]) for c in group if c not in adds}
                ),
            }
            reply = self.api.put(f"crm/v3/lists/{list_id}/memberships/add-and-remove", body)
        except AuthError:
            raise
        except RecordError as exc:
            if exc.status == 404:  # the list was deleted since: find or create it again
                self.list_ids.pop(name, None)
                _answer(group, answers, Outcome.RETRYABLE, str(exc))
            else:
                _answer(group, answers, Outcome.FAILED, str(exc))
            return
        except ConnectorError as exc:
            outcome = Outcome.RETRYABLE if isinstance(exc, RetryableError) else Outcome.FAILED
            _answer(group, answers, outcome, str(exc))
            return
        missing = {str(r) for r in reply.get("recordIdsMissing") or []}
        for c in group:
            ref = str(ids[c.email.lower()])
            if ref in missing:
                reason = f"HubSpot has no contact {ref} (deleted or merged?)"
                answers[c.id] = ChangeResult(c.id, Outcome.FAILED, reason)
            else:
                answers[c.id] = ChangeResult(c.id, Outcome.DONE, external_id=ref)


def _answer(
    changes: Sequence[Change],
    answers: dict[int, ChangeResult],
    outcome: Outcome,
    reason: str | None,
) -> None:
    for c in changes:
        answers.setdefault(c.id, ChangeResult(c.id, outcome, reason))


def _unsupported(change: Change) -> ChangeResult:
    return ChangeResult(change.id, Outcome.FAILED, f"{change.kind} is not supported")
