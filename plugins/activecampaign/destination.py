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
import time
from collections.abc import Callable, Sequence
from typing import Any, ClassVar

import structlog

from syncd.connectors.client import ApiClient
from syncd.connectors.contract import Change, ChangeKind, ChangeResult, Destination, Outcome
from syncd.connectors.paging import OffsetPaginator
from syncd.connectors.ratelimit import RateLimiter
from syncd.errors import AuthError, ConnectorError, RecordError, RetryableError
from syncd_plugins.activecampaign.mapping import parse_id
from syncd_plugins.activecampaign.streams import Catalog

log = structlog.get_logger("syncd.activecampaign")

BULK_SIZE = 250
BULK_KINDS = frozenset({ChangeKind.ADD_TAG, ChangeKind.SET_FIELD})
# AC caps bulk imports at 100 a minute. A bucket of 10 refilled at 90/min never lets more
# than 10 + 90 = 100 through in any 60 seconds, however the calls are spread.
IMPORT_BURST, IMPORT_RATE = 10, 90 / 60
IMPORT_DONE = {"completed", "complete", "done", "success"}
EMAIL = re.compile(r"^[^@\s'\"<>]+@[^@\s'\"<>]+\.[A-Za-z]{2,}$")
CONTACT_FIELDS = {"first_name": "firstName", "last_name": "lastName", "phone": "phone"}


def import_limiter(sleep: Callable[[float], None] = time.sleep, **kw: Any) -> RateLimiter:
    return RateLimiter(IMPORT_RATE, burst=IMPORT_BURST, sleep=sleep, **kw)


class ActiveCampaignDestination(Destination):
    change_kinds: ClassVar[frozenset[ChangeKind]] = frozenset(ChangeKind)

    def __init__(
        self,
        api: ApiClient,
        *,
        batch_size: int,
        page_size: int,
        imports: RateLimiter,
        import_wait: float,
        list_sender_url: str | None,
        list_sender_reminder: str,
        sleep: Callable[[float], None] = time.sleep,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.api = api
        self.batch_size = batch_size  # type: ignore[misc]
        self.page_size, self.imports, self.import_wait = page_size, imports, import_wait
        self.list_sender_url, self.list_sender_reminder = list_sender_url, list_sender_reminder
        self.sleep, self.monotonic = sleep, monotonic

    def push(self, changes: Sequence[Change]) -> list[ChangeResult]:
        # names may have changed at AC since the last push: read the catalogs afresh
        self.tags = Catalog(self.api, "tags", "tag", self.page_size)
        self.lists = Catalog(self.api, "lists", "name", self.page_size)
        self.fields = Catalog(self.api, "fields", "title", self.page_size)
        self.contact_ids: dict[str, str | None] = {}
        results: dict[int, ChangeResult] = {}
        self._bulk([c for c in changes if c.kind in BULK_KINDS], results)
        for change in changes:
            if change.kind not in BULK_KINDS:
                results[change.id] = self._one(change)
        return [results[c.id] for c in changes]

    # --- one change at a time -----------------------------------------------------------

    def _one(self, change: Change) -> ChangeResult:
        try:
            if change.kind is ChangeKind.REMOVE_TAG:
                return self._remove_tag(change)
            if change.kind is ChangeKind.SUBSCRIBE:
                return self._subscribe(change)
            if change.kind is ChangeKind.UNSUBSCRIBE:
                return self._unsubscribe(change)
            if change.kind is ChangeKind.UPSERT_CONTACT:
                contact_id = self._sync_contact(change.email, change.attributes)
                return ChangeResult(change.id, Outcome.DONE, external_id=contact_id)
            raise RecordError(f"{change.kind} is not something ActiveCampaign takes")
        except AuthError:
            raise
        except RetryableError as exc:
            return ChangeResult(change.id, Outcome.RETRYABLE, str(exc))
        except ConnectorError as exc:
            return ChangeResult(change.id, Outcome.FAILED, str(exc))

    def _remove_tag(self, change: Change) -> ChangeResult:
        done = ChangeResult(change.id, Outcome.DONE)
        if change.ref:
            try:
                self.api.delete(f"contactTags/{change.ref}")
                return done
            except RecordError as exc:
                if exc.status != 404:
                    raise
                # the known link is gone; the tag may be there again under another link
        contact_id = self._contact_id(change, create=False)
        tag_id = self.tags.find(change.key)
        if contact_id is None or tag_id is None:
            return done  # nothing to remove
        for link in self._children(contact_id, "contactTags"):
            ref = parse_id(link.get("id"))
            if parse_id(link.get("tag")) == tag_id and ref and ref != change.ref:
                self.api.delete(f"contactTags/{ref}")
        return ChangeResult(change.id, Outcome.DONE, external_id=contact_id)

    def _subscribe(self, change: Change) -> ChangeResult:
        list_id = self._list_id(change.key)
        contact_id = self._contact_id(change, create=True)
        assert contact_id is not None
        status, ref = self._list_status(contact_id, list_id)
        if status == "2":
            # syncd never subscribes again someone who unsubscribed (DESIGN, safety 4)
            raise RecordError(
                f"{change.email} unsubscribed from list {change.key!r} at ActiveCampaign; "
                "syncd does not subscribe them again"
            )
        if status != "1":
            ref = self._set_list_status(contact_id, list_id, 1)
        return ChangeResult(change.id, Outcome.DONE, external_id=contact_id, ref=ref)

    def _unsubscribe(self, change: Change) -> ChangeResult:
        list_id = self.lists.find(change.key)
        contact_id = self._contact_id(change, create=False)
        if list_id is None or contact_id is None:
            return ChangeResult(change.id, Outcome.DONE)  # not subscribed there at all
        ref = self._set_list_status(contact_id, list_id, 2)
        return ChangeResult(change.id, Outcome.DONE, external_id=contact_id, ref=ref)

    def _list_status(self, contact_id: str, list_id: str) -> tuple[str | None, str | None]:
        for row in self._children(contact_id, "contactLists"):
            if parse_id(row.get("list")) == list_id:
                return parse_id(row.get("status")), parse_id(row.get("id"))
        return None, None

    def _children(self, contact_id: str, table: str) -> list[dict[str, Any]]:
        """A contact's tag links or list memberships, every page of them."""
        found: list[dict[str, Any]] = []
        pages = self.api.pages(
            f"contacts/{contact_id}/{table}", OffsetPaginator(100), lambda b: b.get(table) or []
        )
        for items, _ in pages:
            found += [r for r in items if isinstance(r, dict)]
        return found

    def _set_list_status(self, contact_id: str, list_id: str, status: int) -> str | None:
        body = self.api.post(
            "contactLists",
            {"contactList": {"list": list_id, "contact": contact_id, "status": status}},
        )
        return parse_id(((body or {}).get("contactList") or {}).get("id"))

    def _list_id(self, name: str) -> str:
        found = self.lists.find(name)
        if found is not None:
            return found
        if not self.list_sender_url:
            raise RecordError(
                f"list {name!r} does not exist at ActiveCampaign; create it there, or set "
                "list_sender_url so syncd can"
            )
        stringid = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-") or "list"
        body = self.api.post(
            "lists",
            {
                "list": {
                    "name": name,
                    "stringid": stringid,
                    "sender_url": self.list_sender_url,
                    "sender_reminder": self.list_sender_reminder,
                }
            },
        )
        row = (body or {}).get("list") or {}
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
            body = self.api.get("contacts", {"email": email})
            found = [parse_id(c.get("id")) for c in (body or {}).get("contacts") or []]
            self.contact_ids[email] = next((f for f in found if f), None)
            if self.contact_ids[email] is None and create:
                self.contact_ids[email] = self._sync_contact(change.email, {})
        return self.contact_ids[email]

    def _sync_contact(self, email: str, attributes: dict[str, Any]) -> str:
        contact: dict[str, Any] = {"email": email}
        contact.update(
            {ac: str(attributes[ours]) for ours, ac in CONTACT_FIELDS.items() if ours in attributes}
        )
        body = self.api.post("contact/sync", {"contact": contact})
        contact_id = parse_id(((body or {}).get("contact") or {}).get("id"))
        if contact_id is None:
            raise RecordError(f"ActiveCampaign did not say the id of contact {email}")
        self.contact_ids[email.strip().lower()] = contact_id
        return contact_id

    # --- bulk imports -------------------------------------------------------------------

    def _bulk(self, changes: list[Change], results: dict[int, ChangeResult]) -> None:
        rows: dict[str, dict[str, Any]] = {}
        members: dict[str, list[Change]] = {}
        for change in changes:
            email = change.email.strip()
            if not EMAIL.match(email):
                results[change.id] = ChangeResult(
                    change.id, Outcome.FAILED, f"ActiveCampaign would refuse e-mail {email!r}"
                )
                continue
            key = email.lower()
            row = rows.setdefault(key, {"email": email})
            if change.kind is ChangeKind.ADD_TAG:
                if change.key not in row.setdefault("tags", []):
                    row["tags"].append(change.key)
            else:
                field_id = self.fields.find(change.key, "title", "perstag")
                if field_id is None:
                    results[change.id] = ChangeResult(
                        change.id,
                        Outcome.FAILED,
                        f"no custom field {change.key!r} at ActiveCampaign",
                    )
                    continue
                row.setdefault("fields", []).append({"id": field_id, "value": change.value or ""})
            members.setdefault(key, []).append(change)
        keys = [k for k in rows if k in members]
        for start in range(0, len(keys), BULK_SIZE):
            chunk = keys[start : start + BULK_SIZE]
            self._import([rows[k] for k in chunk], [members[k] for k in chunk], results)

    def _import(
        self,
        rows: list[dict[str, Any]],
        members: list[list[Change]],
        results: dict[int, ChangeResult],
    ) -> None:
        def answer(outcome: Outcome, reason: str | None, only: set[int] | None = None) -> None:
            for index, changes in enumerate(members):
                if only is None or index in only:
                    for c in changes:
                        results[c.id] = ChangeResult(c.id, outcome, reason)

        try:
            body = self.api.post("import/bulk_import", {"contacts": rows}, limiters=[self.imports])
        except AuthError:
            raise
        except RetryableError as exc:
            return answer(Outcome.RETRYABLE, str(exc))
        except ConnectorError as exc:
            return answer(Outcome.FAILED, str(exc))
        batch = str((body or {}).get("batchId") or "")
        if not batch or str((body or {}).get("success")) not in ("1", "True", "true"):
            return answer(Outcome.RETRYABLE, f"bulk import not queued: {str(body)[:200]}")
        info = self._wait_for(batch)
        if info is None:
            return answer(
                Outcome.RETRYABLE,
                f"bulk import {batch} not confirmed within {self.import_wait:g}s; "
                "it is sent again next time (adding a tag twice is harmless)",
            )
        failed = {str(e).strip().lower() for e in info.get("failure") or [] if e}
        bad = {i for i, row in enumerate(rows) if row["email"].lower() in failed}
        answer(Outcome.FAILED, f"ActiveCampaign refused the contact in bulk import {batch}", bad)
        # The report's successes are contact ids in no documented order, so they say nothing
        # about who is who: the next pull links each imported contact by its e-mail.
        for index in (i for i in range(len(rows)) if i not in bad):
            for c in members[index]:
                results[c.id] = ChangeResult(c.id, Outcome.DONE)
        log.info(
            "bulk import confirmed", batch=batch, contacts=len(rows) - len(bad), refused=len(bad)
        )

    def _wait_for(self, batch: str) -> dict[str, Any] | None:
        """The import's final report, or None if it is not done within ``import_wait``."""
        deadline = self.monotonic() + self.import_wait
        pause = 0.5
        while True:
            try:
                info = self.api.get("import/info", {"batchId": batch})
            except RetryableError:
                info = None
            except RecordError:  # not known yet: AC may answer before it is recorded
                info = None
            if isinstance(info, dict) and str(info.get("status", "")).lower() in IMPORT_DONE:
                return info
            if self.monotonic() + pause > deadline:
                return None
            self.sleep(pause)
            pause = min(pause * 2, 5.0)
