"""The Mailchimp connector: one audience's members as contacts (their tags and their
subscription to the audience), and the audience as a destination (tags, subscriptions).
Each fact about the Mailchimp Marketing API used here is in API.md, with its source.
"""

from __future__ import annotations

import base64
import hashlib
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import replace
from datetime import timedelta
from typing import Any

from pydantic import AnyHttpUrl, Field, SecretStr, model_validator

from syncd.connectors import (
    AuthError,
    Change,
    ChangeKind,
    ChangeResult,
    ConnectorError,
    ContactRecord,
    Destination,
    HttpConnector,
    HttpOptions,
    OffsetPaginator,
    Outcome,
    PageRequest,
    Paginator,
    ReadState,
    RecordError,
    RestStream,
    RetryableError,
    parse_time,
)

PAGE_MAX = 1000  # members one page holds
BATCH_MAX = 500  # members one batch subscribe takes
# a member's status: its subscription to the audience, and what it says of consent
LISTED = {"subscribed": "subscribed", "unsubscribed": "unsubscribed", "cleaned": "unsubscribed"}
CONSENT = {"subscribed": "granted", "unsubscribed": "revoked"}
TAGS = (ChangeKind.ADD_TAG, ChangeKind.REMOVE_TAG)
SUBSCRIPTIONS = {ChangeKind.SUBSCRIBE: "subscribed", ChangeKind.UNSUBSCRIBE: "unsubscribed"}


def subscriber_hash(email: str) -> str:
    """A member's id: the MD5 hash of its lower-cased e-mail."""
    return hashlib.md5(email.strip().lower().encode()).hexdigest()


class MailchimpOptions(HttpOptions):
    """One audience (``list_id``) of one account; ``api_key: ${MAILCHIMP_API_KEY}`` ends with
    the account's data center (``-us6``), which names the API's root."""

    api_key: SecretStr
    list_id: str
    url: AnyHttpUrl | None = None  # default: https://<dc>.api.mailchimp.com/3.0/
    page_size: int = Field(default=PAGE_MAX, ge=1, le=PAGE_MAX)

    @model_validator(mode="after")
    def _data_center(self) -> MailchimpOptions:
        if self.url is None and "-" not in self.api_key.get_secret_value():
            raise ValueError("api_key ends with the account's data center, such as -us6")
        return self


class Members(RestStream):
    """The audience's members, paged by count and offset, from ``since_last_changed``."""

    name = "members"
    path = "lists/{list_id}/members"
    records = "members"
    cursor_field = "last_changed"
    # pages follow Mailchimp's own order, not last_changed: a member changed during a read,
    # on a page already read, is read by the next one
    hold_at_start = True

    def paginator(self) -> Paginator:
        return OffsetPaginator(
            self.page_size, limit_param="count", total=lambda body: body.get("total_items")
        )

    def first_request(self, state: ReadState, *, seeking: int = 0) -> PageRequest:
        request = super().first_request(state, seeking=seeking)
        return replace(request, url=request.url.format(list_id=self.options.list_id))

    def since(self, value: Any) -> dict[str, Any]:
        # the filter is "changed after": at or after the bound is after a second before it
        at = parse_time(value)
        return {"since_last_changed": (at - timedelta(seconds=1)).isoformat() if at else value}

    def after(self, value: Any) -> dict[str, Any]:
        return {"since_last_changed": value}  # strictly after: the filter's own meaning

    def map(self, row: dict[str, Any]) -> ContactRecord:
        if not row.get("email_address"):
            raise RecordError("a member without an e-mail address")
        status, names = str(row.get("status")), row.get("merge_fields") or {}
        first, last = names.get("FNAME") or None, names.get("LNAME") or None
        tags = [str(tag["name"]) for tag in row.get("tags") or []]  # at most 50 of them
        return ContactRecord(
            external_id=str(row["id"]),
            email=str(row["email_address"]),
            attributes={"first_name": first, "last_name": last},
            tags=tags if len(tags) >= (row.get("tags_count") or 0) else None,
            lists={self.options.list_id: LISTED[status]} if status in LISTED else {},
            consent=CONSENT.get(status),
            updated_at=parse_time(row.get("last_changed")),
        )


class MailchimpDestination(Destination):
    """Subscriptions in one batch subscribe call per batch, then one tags call per member
    for all of its tags (a member subscribed in the batch exists when it is tagged)."""

    batch_size = BATCH_MAX
    change_kinds = frozenset({*TAGS, *SUBSCRIPTIONS})

    def __init__(self, connector: MailchimpConnector) -> None:
        self.api, self.list_id = connector.api, connector.options.list_id

    def push(self, changes: Sequence[Change]) -> list[ChangeResult]:
        results: dict[int, ChangeResult] = {}
        elsewhere = [c for c in changes if c.kind in SUBSCRIPTIONS and c.key != self.list_id]
        for change in elsewhere:
            why = f"this instance writes to audience {self.list_id}, not {change.key}"
            results[change.id] = ChangeResult(change.id, Outcome.FAILED, why)
        subscriptions = [c for c in changes if c.kind in SUBSCRIPTIONS and c.id not in results]
        if subscriptions:
            results.update(self._subscribe(subscriptions))
        tagged: dict[str, list[Change]] = defaultdict(list)
        for change in changes:
            if change.kind in TAGS:
                tagged[change.email.strip().lower()].append(change)
        for email, group in tagged.items():
            results.update(self._tag(email, group))
        return [results[change.id] for change in changes]

    def _subscribe(self, changes: list[Change]) -> dict[int, ChangeResult]:
        members = [
            {"email_address": c.email.strip().lower(), "status": SUBSCRIPTIONS[c.kind]}
            for c in changes
        ]
        try:
            body = self.api.post(
                f"lists/{self.list_id}", {"members": members, "update_existing": True}
            )
        except ConnectorError as exc:
            return failed(changes, exc)
        refused = {
            str(e.get("email_address", "")).lower(): str(e.get("error"))
            for e in (body or {}).get("errors") or []
        }
        return {
            c.id: ChangeResult(c.id, Outcome.FAILED, refused[email])
            if (email := c.email.strip().lower()) in refused
            else ChangeResult(c.id, Outcome.DONE, external_id=subscriber_hash(email))
            for c in changes
        }

    def _tag(self, email: str, changes: list[Change]) -> dict[int, ChangeResult]:
        member = subscriber_hash(email)
        tags = [
            {"name": c.key, "status": "active" if c.kind is ChangeKind.ADD_TAG else "inactive"}
            for c in changes
        ]
        try:
            self.api.post(f"lists/{self.list_id}/members/{member}/tags", {"tags": tags})
        except ConnectorError as exc:
            return failed(changes, exc)
        return {c.id: ChangeResult(c.id, Outcome.DONE, external_id=member) for c in changes}


def failed(changes: Sequence[Change], error: ConnectorError) -> dict[int, ChangeResult]:
    """The same answer for every change of a call that failed; a refused key stops the run."""
    if isinstance(error, AuthError):
        raise error
    outcome = Outcome.RETRYABLE if isinstance(error, RetryableError) else Outcome.FAILED
    return {c.id: ChangeResult(c.id, outcome, str(error)) for c in changes}


class MailchimpConnector(HttpConnector):
    """One audience of a Mailchimp account: its members, read and written."""

    name = "mailchimp"
    vendor = "Mailchimp"
    Options = MailchimpOptions
    stream_classes = (Members,)
    refused = "Mailchimp refused the API key (HTTP {status}); check `api_key` and `list_id`"

    def base_url(self) -> str:
        if self.options.url is not None:
            return str(self.options.url)
        data_center = self.secret("api_key").rsplit("-", 1)[1]
        return f"https://{data_center}.api.mailchimp.com/3.0/"

    def auth_headers(self) -> dict[str, str]:
        # HTTP basic auth: any user name, the API key as the password
        token = base64.b64encode(f"syncd:{self.secret('api_key')}".encode()).decode()
        return {"Authorization": f"Basic {token}"}

    def check(self) -> None:
        self.api.get(f"lists/{self.options.list_id}")  # the key, and the audience it reads

    def build_destination(self) -> Destination:
        return MailchimpDestination(self)
