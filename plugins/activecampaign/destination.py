"""Changes into ActiveCampaign, in the fewest calls its API allows.

Tag additions and field values go in bulk imports (250 contacts a call, 100 calls a minute;
the import creates missing tags and contacts), each confirmed through ``/import/info``
before its changes count as done. A tag removal is one ``DELETE /contactTags/{link id}``;
subscriptions go through ``/contactLists``, after checking that the contact has not
unsubscribed there. For A additions over C contacts and R removals the writes are
``ceil(C/250) + R`` when the batch holds the whole plan.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, ClassVar

import structlog

from syncd.connectors import (
    Answers,
    Change,
    ChangeKind,
    ChangeResult,
    Destination,
    OffsetPaginator,
    RecordError,
    RetryableError,
    by_contact,
    dig,
    every_row,
    in_batches,
)
from syncd_plugins.activecampaign.streams import CONTACT_ATTRIBUTES, catalog, parse_id

if TYPE_CHECKING:
    from syncd_plugins.activecampaign.connector import ActiveCampaignConnector

log = structlog.get_logger("syncd.activecampaign")

BULK_SIZE = 250
BULK_KINDS = frozenset({ChangeKind.ADD_TAG, ChangeKind.SET_FIELD})
IMPORT_DONE = {"completed", "complete", "done", "success"}
CONTACT_FIELDS = {ours: ac for ac, ours in CONTACT_ATTRIBUTES.items()}

Contact = tuple[dict[str, Any], list[Change]]  # a bulk import row and the changes it carries


class ActiveCampaignDestination(Destination):
    change_kinds: ClassVar[frozenset[ChangeKind]] = frozenset(ChangeKind)

    def __init__(self, connector: ActiveCampaignConnector) -> None:
        self.api, self.options = connector.api, connector.options
        self.sleep, self.monotonic = connector.context.sleep, connector.context.monotonic
        self.batch_size = self.options.batch_size  # type: ignore[misc]
        # AC caps bulk imports at 100 a minute. A bucket of 10 refilled at 90/min never lets
        # more than 10 + 90 = 100 through in any 60 seconds, however the calls are spread.
        self.imports = connector.limiter(90 / 60, burst=10)

    def push(self, changes: Sequence[Change]) -> list[ChangeResult]:
        # names may have changed at AC since the last push: read the catalogs afresh
        self.tags = catalog(self.api, "tags", "tag")
        self.lists = catalog(self.api, "lists", "name")
        self.fields = catalog(self.api, "fields", "title")
        self.contact_ids: dict[str, str | None] = {}
        self.answers = answers = Answers(changes)
        answers.check_emails("ActiveCampaign", BULK_KINDS)
        for batch in in_batches(self._rows(answers.open(BULK_KINDS)), BULK_SIZE):
            with answers.answering(c for _, group in batch for c in group):
                self._import(batch)
        one_by_one: dict[ChangeKind, Callable[[Change], None]] = {
            ChangeKind.REMOVE_TAG: self._remove_tag,
            ChangeKind.SUBSCRIBE: self._subscribe,
            ChangeKind.UNSUBSCRIBE: self._unsubscribe,
            ChangeKind.UPSERT_CONTACT: self._upsert,
        }
        for change in answers.open(one_by_one):
            with answers.answering(change):
                one_by_one[change.kind](change)
        return answers.results()

    # --- one change at a time -----------------------------------------------------------

    def _upsert(self, change: Change) -> None:
        contact_id = self._sync_contact(change.email, change.attributes)
        self.answers.done(change, external_id=contact_id)

    def _remove_tag(self, change: Change) -> None:
        if change.ref:
            try:
                self.api.delete(f"contactTags/{change.ref}")
                self.answers.done(change)
                return
            except RecordError as exc:
                if exc.status != 404:
                    raise
                # the known link is gone; the tag may be there again under another link
        contact_id = self._contact_id(change, create=False)
        tag_id = self.tags.find(change.key)
        if contact_id is None or tag_id is None:
            self.answers.done(change)  # nothing to remove
            return
        for link in self._children(contact_id, "contactTags"):
            ref = parse_id(link.get("id"))
            if parse_id(link.get("tag")) == tag_id and ref and ref != change.ref:
                self.api.delete(f"contactTags/{ref}")
        self.answers.done(change, external_id=contact_id)

    def _subscribe(self, change: Change) -> None:
        list_id = self._list_id(change.key)
        contact_id = self._contact_id(change, create=True)
        assert contact_id is not None
        status, ref = None, None
        for row in self._children(contact_id, "contactLists"):
            if parse_id(row.get("list")) == list_id:
                status, ref = parse_id(row.get("status")), parse_id(row.get("id"))
                break
        if status == "2":
            # syncd never subscribes again someone who unsubscribed (DESIGN, safety 4)
            self.answers.failed(
                change,
                f"{change.email} unsubscribed from list {change.key!r} at ActiveCampaign; "
                "syncd does not subscribe them again",
            )
            return
        if status != "1":
            ref = self._set_list_status(contact_id, list_id, 1)
        self.answers.done(change, external_id=contact_id, ref=ref)

    def _unsubscribe(self, change: Change) -> None:
        list_id = self.lists.find(change.key)
        contact_id = self._contact_id(change, create=False)
        if list_id is None or contact_id is None:
            self.answers.done(change)  # not subscribed there at all
            return
        ref = self._set_list_status(contact_id, list_id, 2)
        self.answers.done(change, external_id=contact_id, ref=ref)

    def _children(self, contact_id: str, table: str) -> list[dict[str, Any]]:
        """A contact's tag links or list memberships."""
        return every_row(self.api, f"contacts/{contact_id}/{table}", OffsetPaginator(100), table)

    def _set_list_status(self, contact_id: str, list_id: str, status: int) -> str | None:
        link = {"list": list_id, "contact": contact_id, "status": status}
        return parse_id(dig(self.api.post("contactLists", {"contactList": link}), "contactList.id"))

    def _list_id(self, name: str) -> str:
        found = self.lists.find(name)
        if found is not None:
            return found
        if not self.options.list_sender_url:
            raise RecordError(
                f"list {name!r} does not exist at ActiveCampaign; create it there, or set "
                "list_sender_url so syncd can"
            )
        made = {
            "name": name,
            "stringid": re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-") or "list",
            "sender_url": self.options.list_sender_url,
            "sender_reminder": self.options.list_sender_reminder,
        }
        row = dig(self.api.post("lists", {"list": made}), "list") or {}
        list_id = parse_id(row.get("id"))
        if list_id is None:
            raise RecordError(f"ActiveCampaign did not say the id of the new list {name!r}")
        self.lists.rows[list_id] = {**row, "name": name}
        return list_id

    def _contact_id(self, change: Change, *, create: bool) -> str | None:
        known = parse_id(change.external_id)
        if known is not None:
            return known
        email = change.email.strip().lower()
        if email not in self.contact_ids or (create and self.contact_ids[email] is None):
            found = dig(self.api.get("contacts", {"email": email}), "contacts") or []
            self.contact_ids[email] = next((i for c in found if (i := parse_id(c.get("id")))), None)
            if self.contact_ids[email] is None and create:
                self.contact_ids[email] = self._sync_contact(change.email, {})
        return self.contact_ids[email]

    def _sync_contact(self, email: str, attributes: dict[str, Any]) -> str:
        contact = {"email": email}
        contact.update(
            {ac: str(attributes[k]) for k, ac in CONTACT_FIELDS.items() if k in attributes}
        )
        contact_id = parse_id(
            dig(self.api.post("contact/sync", {"contact": contact}), "contact.id")
        )
        if contact_id is None:
            raise RecordError(f"ActiveCampaign did not say the id of contact {email}")
        self.contact_ids[email.strip().lower()] = contact_id
        return contact_id

    # --- bulk imports -------------------------------------------------------------------

    def _rows(self, changes: list[Change]) -> list[Contact]:
        """Each contact's tag additions and field values as one import row."""
        contacts: list[Contact] = []
        for group in by_contact(changes).values():
            row: dict[str, Any] = {"email": group[0].email.strip()}
            for change in group:
                if change.kind is ChangeKind.ADD_TAG:
                    if change.key not in row.setdefault("tags", []):
                        row["tags"].append(change.key)
                elif (field_id := self.fields.find(change.key, "title", "perstag")) is not None:
                    row.setdefault("fields", []).append(
                        {"id": field_id, "value": change.value or ""}
                    )
                else:
                    self.answers.failed(change, f"no custom field {change.key!r} at ActiveCampaign")
            if "tags" in row or "fields" in row:
                contacts.append((row, group))
        return contacts

    def _import(self, contacts: list[Contact]) -> None:
        rows = [row for row, _ in contacts]
        every = [c for _, group in contacts for c in group]
        body = self.api.post("import/bulk_import", {"contacts": rows}, limiters=[self.imports])
        batch = str((body or {}).get("batchId") or "")
        if not batch or str((body or {}).get("success")) not in ("1", "True", "true"):
            self.answers.retry(every, f"bulk import not queued: {str(body)[:200]}")
            return
        info = self._wait_for(batch)
        if info is None:
            self.answers.retry(
                every,
                f"bulk import {batch} not confirmed within {self.options.import_wait:g}s; "
                "it is sent again next time (adding a tag twice is harmless)",
            )
            return
        failed = {str(e).strip().lower() for e in info.get("failure") or [] if e}
        for row, group in contacts:
            if row["email"].lower() in failed:
                self.answers.failed(
                    group, f"ActiveCampaign refused the contact in bulk import {batch}"
                )
            else:
                # The report's successes are contact ids in no documented order, so they say
                # nothing about who is who: the next pull links each contact by its e-mail.
                self.answers.done(group)
        refused = sum(row["email"].lower() in failed for row in rows)
        log.info(
            "bulk import confirmed", batch=batch, contacts=len(rows) - refused, refused=refused
        )

    def _wait_for(self, batch: str) -> dict[str, Any] | None:
        """The import's final report, or None if it is not done within ``import_wait``."""
        deadline = self.monotonic() + self.options.import_wait
        pause = 0.5
        while True:
            try:
                info = self.api.get("import/info", {"batchId": batch})
            except (RetryableError, RecordError):  # a 404: AC may answer before it recorded it
                info = None
            if isinstance(info, dict) and str(info.get("status", "")).lower() in IMPORT_DONE:
                return info
            if self.monotonic() + pause > deadline:
                return None
            self.sleep(pause)
            pause = min(pause * 2, 5.0)
