"""The connector kit: everything a connector plugin imports from syncd.

    from syncd.connectors import HttpConnector, HttpOptions, RestStream, OffsetPaginator, ...

The contract (records, changes, streams, destinations), what a destination's push does with
its changes (answers, contacts, the tags to write, batches), the HTTP connector base with its
API URL option and its declarative streams, the one cursor model, paginators, the client with
its rate limit and retries, reading a vendor's rows (ids, numbers, a contact map, lookup tables
of names by id), the errors a connector raises, and the hook marker (or ``plugin_hooks``, both
hooks from the dotted names of a plugin's classes), and webhooks: the request, how a
receiver verifies it (signatures, tokens and Basic authorization declared as the vendor documents
them) and reads it, reshaping a payload for a stream's mapping, and the vendor's subscription
API it reconciles (``receivers_hook`` declares a plugin's receivers). Emulators
build on ``syncd.emulator``; a connector's tests on ``syncd.testing`` (a pytest plugin).
"""

from syncd import hookimpl
from syncd.clock import Clock, as_utc, epoch_time, parse_time
from syncd.connectors.base import ApiUrl, HttpConnector, HttpOptions, secrets_of
from syncd.connectors.classify import (
    ErrorRules,
    body_message,
    connection_check,
    error_for_response,
    error_for_transport,
)
from syncd.connectors.client import USER_AGENT, ApiClient, build_client
from syncd.connectors.contract import (
    Change,
    ChangeKind,
    ChangeResult,
    Connector,
    ConnectorContext,
    ConnectorOptions,
    ContactRecord,
    DealRecord,
    Destination,
    EventRecord,
    InvalidRecord,
    ListRecord,
    Outcome,
    Page,
    Record,
    Stream,
    TagRecord,
)
from syncd.connectors.cursor import (
    Cursor,
    CursorError,
    CursorField,
    CursorType,
    ReadState,
    SeenKeys,
)
from syncd.connectors.destination import (
    Answers,
    HttpDestination,
    Write,
    by_contact,
    by_key,
    create_once,
    in_batches,
    known_ids,
    last_writes,
    split_refused,
    tag_writes,
)
from syncd.connectors.email import valid_email
from syncd.connectors.hooks import plugin_hooks, receivers_hook, vendor_hooks
from syncd.connectors.lookup import Catalog, Lookup, every_row
from syncd.connectors.paging import (
    CursorPaginator,
    KeysetPaginator,
    LinkHeaderPaginator,
    OffsetPaginator,
    PageNumberPaginator,
    PageRequest,
    PaginationLoop,
    Paginator,
    Reply,
    SinglePage,
    dig,
)
from syncd.connectors.ratelimit import (
    RateHeaderReader,
    RateHeaders,
    RateLimiter,
    standard_rate_headers,
)
from syncd.connectors.redaction import one_line, safe_url
from syncd.connectors.retrying import RetryPolicy, parse_retry_after, poll
from syncd.connectors.rows import (
    ContactMap,
    EventMap,
    Reshape,
    as_number,
    as_text,
    line_item,
    number_at,
    text_id,
    values_of,
)
from syncd.connectors.streams import CappedQuery, RestStream
from syncd.connectors.webhook_auth import (
    BasicAuth,
    FirstConfigured,
    HmacSignature,
    SignedTimestamp,
    UrlToken,
)
from syncd.connectors.webhooks import (
    SubscribedByHand,
    Verifier,
    WebhookDelivery,
    WebhookReceiver,
    WebhookRefused,
    WebhookRequest,
    WebhookSecrets,
    WebhookSubscription,
    WebhookSubscriptions,
    digest_of,
    form_body,
    hmac_base64,
    json_body,
    same_secret,
)
from syncd.errors import (
    AuthError,
    ConnectorError,
    FatalError,
    RateLimited,
    RecordError,
    RetryableError,
)
from syncd.secrets import register_secret

__all__ = [
    "USER_AGENT",
    "Answers",
    "ApiClient",
    "ApiUrl",
    "AuthError",
    "BasicAuth",
    "CappedQuery",
    "Catalog",
    "Change",
    "ChangeKind",
    "ChangeResult",
    "Clock",
    "Connector",
    "ConnectorContext",
    "ConnectorError",
    "ConnectorOptions",
    "ContactMap",
    "ContactRecord",
    "Cursor",
    "CursorError",
    "CursorField",
    "CursorPaginator",
    "CursorType",
    "DealRecord",
    "Destination",
    "ErrorRules",
    "EventMap",
    "EventRecord",
    "FatalError",
    "FirstConfigured",
    "HmacSignature",
    "HttpConnector",
    "HttpDestination",
    "HttpOptions",
    "InvalidRecord",
    "KeysetPaginator",
    "LinkHeaderPaginator",
    "ListRecord",
    "Lookup",
    "OffsetPaginator",
    "Outcome",
    "Page",
    "PageNumberPaginator",
    "PageRequest",
    "PaginationLoop",
    "Paginator",
    "RateHeaderReader",
    "RateHeaders",
    "RateLimited",
    "RateLimiter",
    "ReadState",
    "Record",
    "RecordError",
    "Reply",
    "Reshape",
    "RestStream",
    "RetryPolicy",
    "RetryableError",
    "SeenKeys",
    "SignedTimestamp",
    "SinglePage",
    "Stream",
    "SubscribedByHand",
    "TagRecord",
    "UrlToken",
    "Verifier",
    "WebhookDelivery",
    "WebhookReceiver",
    "WebhookRefused",
    "WebhookRequest",
    "WebhookSecrets",
    "WebhookSubscription",
    "WebhookSubscriptions",
    "Write",
    "as_number",
    "as_text",
    "as_utc",
    "body_message",
    "build_client",
    "by_contact",
    "by_key",
    "connection_check",
    "create_once",
    "dig",
    "digest_of",
    "epoch_time",
    "error_for_response",
    "error_for_transport",
    "every_row",
    "form_body",
    "hmac_base64",
    "hookimpl",
    "in_batches",
    "json_body",
    "known_ids",
    "last_writes",
    "line_item",
    "number_at",
    "one_line",
    "parse_retry_after",
    "parse_time",
    "plugin_hooks",
    "poll",
    "receivers_hook",
    "register_secret",
    "safe_url",
    "same_secret",
    "secrets_of",
    "split_refused",
    "standard_rate_headers",
    "tag_writes",
    "text_id",
    "valid_email",
    "values_of",
    "vendor_hooks",
]
