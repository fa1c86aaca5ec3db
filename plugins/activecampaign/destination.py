"""Changes into ActiveCampaign, in the fewest calls its API allows.

Everything a bulk import takes goes in bulk imports (250 contacts a call, 100 calls a
minute): tag additions (by name; the import creates missing tags and contacts), field
values, names and phone, subscriptions and unsubscriptions. Each import is confirmed through
``/import/info`` before its changes count as done. What it cannot do costs one call each: a
tag removal (``DELETE /contactTags/{link id}``) and a missing list (``POST /lists``, made at
most once: see ``create_once``). For C contacts and R removals the writes are
``ceil(C/250) + R`` (plus one per new list) when the batch holds the whole plan.

syncd never subscribes again someone who unsubscribed (DESIGN, safety 4): before an import,
the batch's known contacts are asked in one read per list and 100 contacts whether they are
unsubscribed from it; after it, the rest are (a bulk import does not subscribe again either).
AC has no removal from a list but an unsubscribe (status 2), so syncd's own removals look
the same there; the store tells them apart (``Change.syncd_removed``), and only such a
contact, back in the segment with consent evidence, is subscribed again: one
``POST /contactLists`` with ``sourceid`` 4, AC's documented way to re-subscribe.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any, ClassVar

import structlog

from syncd.connectors import (
    Answers,
    Change,
    ChangeKind,
    HttpDestination,
    OffsetPaginator,
    RateLimiter,
    RecordError,
    RetryableError,
    Write,
    by_contact,
    by_key,
    create_once,
    dig,
    every_row,
    in_batches,
    last_writes,
    poll,
)
from syncd_plugins.activecampaign.streams import catalog, parse_id

if TYPE_CHECKING:
    from syncd_plugins.activecampaign.connector import (
        ActiveCampaignConnector,
        ActiveCampaignOptions,
    )

log = structlog.get_logger("syncd.activecampaign")

BULK_SIZE = 250
IDS_PER_READ = 100  # contact ids one ``GET /contacts?ids[]=...`` names (a page's worth)
LIST_KINDS = frozenset({ChangeKind.SUBSCRIBE, ChangeKind.UNSUBSCRIBE})
BULK_KINDS = LIST_KINDS | {ChangeKind.ADD_TAG, ChangeKind.SET_FIELD, ChangeKind.UPSERT_CONTACT}
IMPORT_DONE = {"completed", "complete", "done", "success"}
#: syncd's contact attributes as a bulk import names them
IMPORT_FIELDS = ("first_name", "last_name", "phone")
UNSUBSCRIBED = "2"

Contact = Write[dict[str, Any]]  # a bulk import row and the changes it carries


def import_pace(connector: ActiveCampaignConnector, per_minute: float) -> RateLimiter:
    """The pace of bulk imports, ``per_minute`` at most (AC caps them at 100 a minute). A bucket
    of a tenth of them refilled at the other nine tenths a minute never lets more than
    ``per_minute`` through in any 60 seconds, however the calls are spread."""
    burst = max(1.0, per_minute / 10)
    return connector.limiter(max(per_minute - burst, per_minute / 10) / 60, burst=burst)


class ActiveCampaignDestination(HttpDestination):
    change_kinds: ClassVar[frozenset[ChangeKind]] = frozenset(ChangeKind)
    email_kinds = BULK_KINDS
    options: ActiveCampaignOptions

    def __init__(self, connector: ActiveCampaignConnector) -> None:
        super().__init__(connector)
        self.imports = import_pace(connector, self.options.import_rate)

    def write(self, answers: Answers) -> None:
        # names may have changed at AC since the last push: read the catalogs afresh
        self.tags = catalog(self.api, "tags", "tag")
        self.lists = catalog(self.api, "lists", "name")
        self.fields = catalog(self.api, "fields", "title")
        self.contact_ids: dict[str, str | None] = {}  # e-mail -> AC's id, read once a push
        self.links: dict[str, list[dict[str, Any]]] = {}  # contact id -> its tag links
        self.answers = answers
        self._name_lists(answers)
        known = [c for c in answers.open({ChangeKind.SUBSCRIBE}) if c.external_id]
        self._refuse_quitters(known, lambda group: (str(c.external_id) for c in group))
        answers.send(self._rows(answers.open(BULK_KINDS)), BULK_SIZE, self._import)
        for change in answers.open({ChangeKind.REMOVE_TAG}):
            with answers.answering(change):
                self._remove_tag(change)

    # --- lists ----------------------------------------------------------------------------

    def _name_lists(self, answers: Answers) -> None:
        """Make each list a subscription names ready (created when missing and allowed); an
        unsubscription from a list AC does not have is done: no one is on it."""
        for name, group in by_key(answers.open({ChangeKind.SUBSCRIBE})).items():
            with answers.answering(group):
                self._list_id(name)
        for change in answers.open({ChangeKind.UNSUBSCRIBE}):
            if self.lists.find(change.key) is None:
                answers.done(change, reason=f"no list {change.key!r} at ActiveCampaign")

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

        def by_name() -> dict[str, Any] | None:
            rows = every_row(
                self.api, "lists", OffsetPaginator(100), "lists", {"filters[name]": name}
            )
            same = [r for r in rows if str(r.get("name") or "").lower() == name.lower()]
            return {"list": same[0]} if same else None

        reply = create_once(self.api, "lists", {"list": made}, by_name, f"list {name!r}")
        row = dig(reply, "list") or {}
        list_id = parse_id(row.get("id"))
        if list_id is None:
            raise RecordError(f"ActiveCampaign did not say the id of the new list {name!r}")
        self.lists.rows[list_id] = {**row, "name": name}
        return list_id

    def _refuse_quitters(
        self, subscribes: list[Change], contact_ids: Callable[[list[Change]], Iterable[str]]
    ) -> None:
        """For each of ``subscribes`` whose contact is unsubscribed from its list at AC (one
        read per list and 100 of the ``contact_ids`` of its subscriptions): subscribe again
        one syncd removed, fail the others."""
        answers = self.answers
        for name, group in by_key(subscribes).items():
            list_id = self.lists.find(name)
            if list_id is None:
                continue
            with answers.answering(group):
                quitters = self._unsubscribed(list_id, contact_ids(group))
            for change in group:
                if change.email.strip().lower() not in quitters:
                    continue
                if change.syncd_removed and change.external_id:
                    with answers.answering(change):
                        self._resubscribe(change, list_id)
                else:
                    answers.failed(
                        change,
                        f"{change.email} unsubscribed from list {name!r} at ActiveCampaign; "
                        "syncd does not subscribe them again",
                    )

    def _resubscribe(self, change: Change, list_id: str) -> None:
        """Subscribe again a contact syncd itself took off the list (``sourceid`` 4: AC's
        value for a re-subscription)."""
        link = {"list": list_id, "contact": change.external_id, "status": 1, "sourceid": 4}
        reply = self.api.post("contactLists", {"contactList": link})
        ref = parse_id(dig(reply, "contactList.id"))
        self.answers.done(change, external_id=change.external_id, ref=ref)

    def _unsubscribed(self, list_id: str, contact_ids: Iterable[str]) -> set[str]:
        """The lower-cased e-mails, among the contacts ``contact_ids``, unsubscribed from the
        list ``list_id``."""
        found: set[str] = set()
        for ids in in_batches(sorted(set(contact_ids)), IDS_PER_READ):
            params = {"ids[]": ids, "listid": list_id, "status": UNSUBSCRIBED}
            rows = every_row(self.api, "contacts", OffsetPaginator(100), "contacts", params)
            found |= {str(r.get("email") or "").strip().lower() for r in rows}
        return found

    # --- tag removals ---------------------------------------------------------------------

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
        contact_id = self._contact_id(change)
        tag_id = self.tags.find(change.key)
        if contact_id is None or tag_id is None:
            self.answers.done(change)  # nothing to remove
            return
        if contact_id not in self.links:  # a contact's links are read once a push
            path = f"contacts/{contact_id}/contactTags"
            self.links[contact_id] = every_row(self.api, path, OffsetPaginator(100), "contactTags")
        for link in self.links[contact_id]:
            ref = parse_id(link.get("id"))
            if parse_id(link.get("tag")) == tag_id and ref and ref != change.ref:
                self.api.delete(f"contactTags/{ref}")
        self.answers.done(change, external_id=contact_id)

    def _contact_id(self, change: Change) -> str | None:
        known = parse_id(change.external_id)
        if known is not None:
            return known
        email = change.email.strip().lower()
        if email not in self.contact_ids:
            found = dig(self.api.get("contacts", {"email": email}), "contacts") or []
            self.contact_ids[email] = next((i for c in found if (i := parse_id(c.get("id")))), None)
        return self.contact_ids[email]

    # --- bulk imports -------------------------------------------------------------------

    def _rows(self, changes: list[Change]) -> list[Contact]:
        """Each contact's changes as one import row."""
        contacts: list[Contact] = []
        for group in by_contact(changes).values():
            if all(c.kind is ChangeKind.UNSUBSCRIBE and not c.external_id for c in group):
                # an import would create a contact AC lacks just to unsubscribe it
                with self.answers.answering(group):
                    if self._contact_id(group[0]) is None:
                        self.answers.done(group, reason="not at ActiveCampaign, so on no list")
                group = [c for c in group if c.id not in self.answers.given]
                if not group:
                    continue
            row: dict[str, Any] = {"email": group[0].email.strip()}
            for change in group:
                self._fold(row, change)
            # each list the contact is to be on or off (its list is there by now): the later
            # change of a list wins
            on, off = last_writes(group, ChangeKind.SUBSCRIBE, ChangeKind.UNSUBSCRIBE)
            for field, names in (("subscribe", on), ("unsubscribe", off)):
                if names:
                    row[field] = [{"listid": self.lists.find(name)} for name in names]
            sent = [c for c in group if c.id not in self.answers.given]
            # an upsert with nothing but the e-mail still creates the contact
            if len(row) > 1 or any(c.kind is ChangeKind.UPSERT_CONTACT for c in sent):
                contacts.append((row, sent))
            else:
                self.answers.done(sent, reason="nothing to write")
        return contacts

    def _fold(self, row: dict[str, Any], change: Change) -> None:
        """Put one change into its contact's import row."""
        kind = change.kind
        if kind is ChangeKind.ADD_TAG:
            if change.key not in row.setdefault("tags", []):
                row["tags"].append(change.key)
        elif kind is ChangeKind.SET_FIELD:
            field_id = self.fields.find(change.key, "title", "perstag")
            if field_id is None:
                self.answers.failed(change, f"no custom field {change.key!r} at ActiveCampaign")
                return
            row.setdefault("fields", []).append({"id": field_id, "value": change.value or ""})
            # the field values stream names a value by the field's title
            title = str(self.fields.rows[field_id].get("title") or "")
            if title:
                self.answers.reads_back(change, title)
        elif kind is ChangeKind.UPSERT_CONTACT:
            given = change.attributes
            row.update({k: str(given[k]) for k in IMPORT_FIELDS if given.get(k) is not None})

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
                "it is sent again next time (importing the same again is harmless)",
            )
            return
        failed = {str(e).strip().lower() for e in info.get("failure") or [] if e}
        # AC keeps an unsubscribed contact unsubscribed: a subscription of one whose id syncd
        # did not know is done only if AC shows it subscribed, so asked now
        unknown = [c for c in every if c.kind is ChangeKind.SUBSCRIBE and not c.external_id]
        imported = [str(i) for i in info.get("success") or [] if i]
        if imported:
            self._refuse_quitters(unknown, lambda group: imported)
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

        def report() -> dict[str, Any] | None:
            try:
                info = self.api.get("import/info", {"batchId": batch})
            except (RetryableError, RecordError):  # a 404: AC may answer before it recorded it
                return None
            done = isinstance(info, dict) and str(info.get("status", "")).lower() in IMPORT_DONE
            return info if done else None

        wait = self.context.sleep, self.context.monotonic
        return poll(report, self.options.import_wait, sleep=wait[0], monotonic=wait[1])
