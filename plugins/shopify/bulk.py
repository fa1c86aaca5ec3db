"""A stream's first full pull through a GraphQL bulk operation, as Shopify documents it for
large backfills:

    mutation bulkOperationRunQuery(query: "{ customers { edges { node { … } } } }")
    query node(id: OPERATION) { … on BulkOperation { status errorCode objectCount url } }
        (0.1 s after it began, then twice as long each time, up to ``bulk_poll``
         seconds, until COMPLETED)
    GET url   → JSONL: one node a line; an order's line items are lines of their own that
                 name their order in ``__parentId``, right after it

The nodes are mapped as a page read's, in pages of ``page_size``; the last page's cursor
holds the newest ``updatedAt`` read (no later than the operation's start), so the next read
goes on by pages. A page before the last holds, as its resume, the first request of a paged
read: a crash while the file is read goes on by pages, dropping what it read already.

Shopify runs one bulk query per shop at a time: when another is running, the stream is read
by pages instead.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import httpx
import structlog

from syncd.connectors import (
    Cursor,
    Page,
    ReadState,
    RetryableError,
    dig,
    error_for_transport,
    one_line,
)
from syncd_plugins.shopify.streams import bulk_document

if TYPE_CHECKING:
    from syncd_plugins.shopify.streams import ShopifyStream

log = structlog.get_logger("syncd.shopify")

RUN = (
    "mutation syncd_bulk($query: String!) { bulkOperationRunQuery(query: $query) "
    "{ bulkOperation { id status } userErrors { field message code } } }"
)
POLL = (
    "query syncd_bulk_status($id: ID!) { node(id: $id) "
    "{ ... on BulkOperation { id status errorCode objectCount url } } }"
)
RUN_COST, POLL_COST = 10, 1
FAILED = ("FAILED", "CANCELED", "EXPIRED")
BULK_WAIT = 3600.0  # seconds a bulk operation may take before the read gives up and retries
# seconds before the first look at a new operation; each next pause doubles, up to bulk_poll:
# a small operation is read as soon as it is done, a long one polled at a point a bulk_poll
FIRST_POLL = 0.1


class BulkRead:
    """One bulk operation for one stream's first pull."""

    def __init__(self, stream: ShopifyStream) -> None:
        self.stream = stream
        self.connector = stream.connector
        self.graphql = stream.connector.graphql

    def pages(self) -> Iterator[Page] | None:
        """The pages of the operation's file once it is complete; None when Shopify runs
        another bulk query now (the stream is then read by pages)."""
        stream = self.stream
        stream.began = stream.field.began(stream.clock())
        query = bulk_document(stream.connection, stream.fields, stream.line_items)
        data, _ = self.graphql.call(RUN, {"query": query}, cost=RUN_COST)
        payload = data.get("bulkOperationRunQuery") or {}
        problems = [e for e in payload.get("userErrors") or [] if isinstance(e, dict)]
        operation = dig(payload, "bulkOperation.id")
        if problems or not operation:
            said = "; ".join(str(e.get("message")) for e in problems) or "no operation"
            log.info("bulk operation refused; reading by pages", stream=stream.name, said=said)
            return None
        url = self._wait(str(operation))
        return self._read(url)

    def _wait(self, operation: str) -> str | None:
        """Poll the operation until it is complete; the URL of its file (None: no rows)."""
        longest = float(self.connector.options.bulk_poll)
        pause = min(FIRST_POLL, longest)
        deadline = self.connector.context.monotonic() + BULK_WAIT
        while True:
            if self.connector.context.monotonic() > deadline:
                raise RetryableError(
                    f"Shopify bulk operation {operation} not complete after {BULK_WAIT:.0f} s"
                )
            self.connector.context.sleep(pause)
            pause = min(pause * 2, longest)
            data, _ = self.graphql.call(POLL, {"id": operation}, cost=POLL_COST)
            node = data.get("node") or {}
            status = node.get("status")
            if status == "COMPLETED":
                log.info(
                    "bulk operation complete",
                    stream=self.stream.name,
                    objects=node.get("objectCount"),
                )
                return node.get("url") or None
            if status is None:
                raise RetryableError(f"Shopify knows no bulk operation {operation}")
            if status in FAILED:
                code = node.get("errorCode") or "no error code"
                raise RetryableError(f"Shopify bulk operation {status.lower()} ({code})")

    def _lines(self, url: str) -> Iterator[dict[str, Any]]:
        """The file's JSON lines (a signed URL of another host: no Shopify token sent)."""
        context = self.connector.context
        try:
            with (
                httpx.Client(transport=context.transport, timeout=60.0) as client,
                client.stream("GET", url) as response,
            ):
                if response.status_code != 200:
                    raise RetryableError(
                        f"Shopify bulk file: HTTP {response.status_code}",
                        status=response.status_code,
                    )
                for line in response.iter_lines():
                    if line.strip():
                        yield json.loads(line)
        except httpx.TransportError as exc:
            raise error_for_transport(exc) from None
        except ValueError as exc:
            raise RetryableError(
                f"Shopify bulk file: a line is not JSON ({one_line(str(exc))})"
            ) from None

    def _nodes(self, url: str | None) -> Iterator[dict[str, Any]]:
        """Each node with its line items, gathered from the lines that follow it."""
        parent: dict[str, Any] | None = None
        for line in self._lines(url) if url else iter(()):
            if "__parentId" in line:
                if parent is not None and line.pop("__parentId") == parent.get("id"):
                    parent.setdefault("lineItems", {"nodes": []})["nodes"].append(line)
                continue
            if parent is not None:
                yield parent
            parent = line
        if parent is not None:
            yield parent

    def _read(self, url: str | None) -> Iterator[Page]:
        stream = self.stream
        state = ReadState.begin(stream.field, Cursor())
        resume = stream.paginator().first(stream.first_request(state)).dump()
        size, rows = stream.page_size, list[dict[str, Any]]()
        for node in self._nodes(url):
            if len(rows) == size:  # a node more: these are not the last page
                yield Page(stream.map_page(stream.news(rows, state)), state.during(resume).dump())
                rows = []
            rows.append(node)
        yield Page(stream.map_page(stream.news(rows, state)), state.done().dump())
