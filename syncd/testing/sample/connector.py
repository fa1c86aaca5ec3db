"""The sample connector: the Sample CRM's contacts as a source (one declared stream, read by
keyset from an ``updated_since`` bound) and as a destination (one bulk upsert call for up
to 50 contacts). It is the template of a new HTTP connector: an options model, streams,
a destination and the connector class that ties them together.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from typing import Any

from pydantic import AnyHttpUrl, SecretStr

from syncd.connectors import (
    Change,
    ChangeKind,
    ChangeResult,
    ContactRecord,
    Destination,
    FatalError,
    HttpConnector,
    HttpOptions,
    KeysetPaginator,
    Outcome,
    Paginator,
    RecordError,
    RestStream,
    RetryableError,
    parse_time,
)

BULK_MAX = 50  # contacts one bulk call takes
NAMES = ("first_name", "last_name")  # what an upsert_contact change may set


class SampleOptions(HttpOptions):
    """The account's API root and its token (``token: ${SAMPLE_TOKEN}`` in the YAML)."""

    url: AnyHttpUrl = AnyHttpUrl("https://api.sample.test")
    token: SecretStr


class Contacts(RestStream):
    """Every contact, by id, from the last bound of ``updated_at`` (strictly after it when it
    is a contact's own time)."""

    name = "contacts"
    path = "v1/contacts"
    records = "contacts"
    cursor_field = "updated_at"
    cursor_type = "datetime"

    def paginator(self) -> Paginator:
        return KeysetPaginator(self.page_size, key=lambda row: row["id"], param="after_id")

    def since(self, value: Any) -> dict[str, Any]:
        return {"updated_since": value}

    def after(self, value: Any) -> dict[str, Any]:
        return {"updated_after": value}

    def map(self, row: dict[str, Any]) -> ContactRecord:
        if not row.get("email"):
            raise RecordError("a contact without an e-mail")
        return ContactRecord(
            external_id=str(row["id"]),
            email=str(row["email"]),
            attributes={
                "first_name": row.get("first_name") or None,
                "last_name": row.get("last_name") or None,
                **dict(row.get("fields") or {}),
            },
            tags=list(row.get("tags") or []),
            updated_at=parse_time(row.get("updated_at")),
        )


class SampleDestination(Destination):
    """Tags, fields and names, one bulk call per batch of contacts."""

    batch_size = BULK_MAX
    change_kinds = frozenset(
        {ChangeKind.ADD_TAG, ChangeKind.REMOVE_TAG, ChangeKind.SET_FIELD, ChangeKind.UPSERT_CONTACT}
    )

    def __init__(self, connector: SampleConnector) -> None:
        self.api = connector.api

    def push(self, changes: Sequence[Change]) -> list[ChangeResult]:
        if not changes:
            return []
        rows: dict[str, dict[str, Any]] = defaultdict(dict)
        for change in changes:
            row = rows[change.email.strip().lower()]
            row["email"] = change.email.strip().lower()
            if change.kind is ChangeKind.ADD_TAG:
                row.setdefault("tags_add", []).append(change.key)
            elif change.kind is ChangeKind.REMOVE_TAG:
                row.setdefault("tags_remove", []).append(change.key)
            elif change.kind is ChangeKind.SET_FIELD:
                row.setdefault("fields", {})[change.key] = change.value
            else:
                row.update({k: v for k, v in change.attributes.items() if k in NAMES})
        try:
            body = self.api.post("v1/contacts/bulk", {"contacts": list(rows.values())})
        except RetryableError as exc:
            return [ChangeResult(c.id, Outcome.RETRYABLE, str(exc)) for c in changes]
        except (RecordError, FatalError) as exc:
            return [ChangeResult(c.id, Outcome.FAILED, str(exc)) for c in changes]
        answers = {str(a.get("email", "")).lower(): a for a in (body or {}).get("results", [])}
        return [
            self._result(change, answers.get(change.email.strip().lower())) for change in changes
        ]

    @staticmethod
    def _result(change: Change, answer: dict[str, Any] | None) -> ChangeResult:
        if answer is None:
            return ChangeResult(change.id, Outcome.RETRYABLE, "the vendor did not answer for it")
        if answer.get("status") != "ok":
            return ChangeResult(change.id, Outcome.FAILED, str(answer.get("error") or answer))
        return ChangeResult(change.id, Outcome.DONE, external_id=str(answer["id"]))


class SampleConnector(HttpConnector):
    """One Sample CRM account: its contacts, read and written."""

    name = "sample"
    vendor = "Sample CRM"
    Options = SampleOptions
    stream_classes = (Contacts,)
    probe = "v1/me"
    refused = "Sample CRM refused the API token (HTTP {status}); check `token`"

    def auth_headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.secret('token')}"}

    def build_destination(self) -> Destination:
        return SampleDestination(self)
