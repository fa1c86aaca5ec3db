"""Changes into SALESmanago in the fewest calls: every change of one contact becomes one
``upsertDetails`` item of ``contact/batchupsert`` (tags in ``tags``, removals in
``removeTags``, values in ``properties``, opt-in and opt-out as ``forceOptIn`` /
``forceOptOut``); the upsert creates contacts it does not know. For C contacts the writes are
``ceil(C / batch_size)``. The synchronous batch upsert is used because its answer confirms
the contacts and names their ids; a change is done only then.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, ClassVar

import structlog

from syncd.connectors import (
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

if TYPE_CHECKING:
    from syncd_plugins.salesmanago.connector import SalesmanagoConnector

log = structlog.get_logger("syncd.salesmanago")

EMAIL = re.compile(r"^[^@\s'\"<>,;]+@[^@\s'\"<>,;]+\.[A-Za-z]{2,}$")
NAME_FIELDS = ("first_name", "last_name")
CONTACT_FIELDS = {"phone": "phone", "company": "company"}
ADDRESS_FIELDS = {"city": "city", "country": "country", "zip_code": "zipCode"}


class SalesmanagoDestination(Destination):
    change_kinds: ClassVar[frozenset[ChangeKind]] = frozenset(ChangeKind)

    def __init__(self, connector: SalesmanagoConnector) -> None:
        self.connector = connector
        self.batch_size = connector.options.batch_size  # type: ignore[misc]
        self.consent_list = connector.options.consent_list

    def push(self, changes: Sequence[Change]) -> list[ChangeResult]:
        results: dict[int, ChangeResult] = {}
        details: dict[str, dict[str, Any]] = {}
        members: dict[str, list[Change]] = {}
        opted_out = self._opted_out([c for c in changes if c.kind is ChangeKind.SUBSCRIBE])
        for change in changes:
            email = change.email.strip()
            problem = self._problem(change, email, opted_out)
            if problem:
                results[change.id] = ChangeResult(change.id, Outcome.FAILED, problem)
                continue
            key = email.lower()
            detail = details.setdefault(key, {"contact": {"email": email}})
            _apply(detail, change)
            members.setdefault(key, []).append(change)
        keys = list(details)
        for at in range(0, len(keys), self.batch_size):
            chunk = keys[at : at + self.batch_size]
            self._send([details[k] for k in chunk], [members[k] for k in chunk], results)
        return [results[c.id] for c in changes]

    def _problem(self, change: Change, email: str, opted_out: set[str]) -> str | None:
        if not EMAIL.match(email):
            return f"SALESmanago would refuse e-mail {email!r}"
        subscription = change.kind in (ChangeKind.SUBSCRIBE, ChangeKind.UNSUBSCRIBE)
        if subscription and change.key != self.consent_list:
            return (
                f"SALESmanago has no lists: map segments to the list {self.consent_list!r} "
                f"(opt-in and opt-out), not {change.key!r}"
            )
        if change.kind is ChangeKind.SUBSCRIBE and email.lower() in opted_out:
            # syncd never opts in again someone who opted out (DESIGN, safety 4)
            return f"{email} opted out at SALESmanago; syncd does not opt them in again"
        return None

    def _opted_out(self, subscribes: list[Change]) -> set[str]:
        """The e-mails, among contacts to opt in whose id is known, that opted out."""
        ids = list(dict.fromkeys(c.external_id for c in subscribes if c.external_id))
        return {
            str(row["email"]).strip().lower()
            for row in self.connector.contacts(ids)
            if isinstance(row, dict) and row.get("optedOut") and row.get("email")
        }

    def _send(
        self,
        details: list[dict[str, Any]],
        members: list[list[Change]],
        results: dict[int, ChangeResult],
    ) -> None:
        def answer(index: int, outcome: Outcome, reason: str | None, cid: str | None) -> None:
            for c in members[index]:
                results[c.id] = ChangeResult(c.id, outcome, reason, external_id=cid)

        try:
            body = self.connector.api.post("contact/batchupsert", {"upsertDetails": details})
        except AuthError:
            raise
        except RecordError as exc:
            if len(details) == 1:
                return answer(0, Outcome.FAILED, str(exc), None)
            # one contact spoilt the batch: send each alone, so only that one fails
            log.info("batch upsert refused; sending its contacts one by one", error=str(exc))
            for index, detail in enumerate(details):
                self._send([detail], [members[index]], results)
            return None
        except ConnectorError as exc:
            outcome = Outcome.RETRYABLE if isinstance(exc, RetryableError) else Outcome.FAILED
            for index in range(len(details)):
                answer(index, outcome, str(exc), None)
            return None
        ids = {str(k).strip().lower(): str(v) for k, v in (body.get("contactIds") or {}).items()}
        for index, detail in enumerate(details):
            email = detail["contact"]["email"].lower()
            answer(index, Outcome.DONE, None, ids.get(email))
        log.info("batch upsert confirmed", contacts=len(details))


def _apply(detail: dict[str, Any], change: Change) -> None:
    """Fold one change into its contact's ``upsertDetails`` item."""
    kind = change.kind
    if kind in (ChangeKind.ADD_TAG, ChangeKind.REMOVE_TAG):
        # the last word on a tag wins: added, it leaves removeTags; removed, it leaves tags
        put, drop = ("tags", "removeTags") if kind is ChangeKind.ADD_TAG else ("removeTags", "tags")
        if change.key not in detail.setdefault(put, []):
            detail[put].append(change.key)
        if change.key in detail.get(drop, []):
            detail[drop].remove(change.key)
    elif kind is ChangeKind.SET_FIELD:
        detail.setdefault("properties", {})[change.key] = change.value
    elif kind in (ChangeKind.SUBSCRIBE, ChangeKind.UNSUBSCRIBE):
        on, off = ("forceOptIn", "forceOptOut")
        if kind is ChangeKind.UNSUBSCRIBE:
            on, off = off, on
        detail.pop(off, None)
        detail[on] = True
    elif kind is ChangeKind.UPSERT_CONTACT:
        contact, given = detail["contact"], change.attributes
        name = " ".join(str(given[k]) for k in NAME_FIELDS if given.get(k))
        if name:
            contact["name"] = name
        contact.update({sm: str(given[k]) for k, sm in CONTACT_FIELDS.items() if given.get(k)})
        address = {sm: str(given[k]) for k, sm in ADDRESS_FIELDS.items() if given.get(k)}
        if address:
            contact["address"] = address
