"""The connector contract and the HTTP toolkit every vendor connector uses."""

from syncd.connectors.classify import ErrorRules, error_for_response, error_for_transport
from syncd.connectors.client import USER_AGENT, ApiClient, build_client
from syncd.connectors.contract import (
    Change,
    ChangeKind,
    ChangeResult,
    Connector,
    ConnectorContext,
    ConnectorOptions,
    ContactRecord,
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
from syncd.connectors.paging import (
    CursorPaginator,
    KeysetPaginator,
    LinkHeaderPaginator,
    OffsetPaginator,
    PageRequest,
    PaginationLoop,
    Paginator,
)
from syncd.connectors.ratelimit import RateHeaders, RateLimiter, standard_rate_headers
from syncd.connectors.redaction import safe_url
from syncd.connectors.retrying import RetryPolicy, parse_retry_after

__all__ = [
    "USER_AGENT",
    "ApiClient",
    "Change",
    "ChangeKind",
    "ChangeResult",
    "Connector",
    "ConnectorContext",
    "ConnectorOptions",
    "ContactRecord",
    "CursorPaginator",
    "Destination",
    "ErrorRules",
    "EventRecord",
    "InvalidRecord",
    "KeysetPaginator",
    "LinkHeaderPaginator",
    "ListRecord",
    "OffsetPaginator",
    "Outcome",
    "Page",
    "PageRequest",
    "PaginationLoop",
    "Paginator",
    "RateHeaders",
    "RateLimiter",
    "Record",
    "RetryPolicy",
    "Stream",
    "TagRecord",
    "build_client",
    "error_for_response",
    "error_for_transport",
    "parse_retry_after",
    "safe_url",
    "standard_rate_headers",
]
