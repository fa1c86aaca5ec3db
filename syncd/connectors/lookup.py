"""A vendor's table of names by id (tags, lists, custom fields, owners), read whole from its
paged list endpoint when first needed, and read again when a row names an id it lacks.

    owners = Lookup(api, "v1/users", OffsetPaginator(100), "users", value="email")
    owners.name("12")              # "ann@example.com", or None
    tags.cover(ids_on_this_page)   # one read again when one of them is new to the table
    lists.find("Newsletter")       # the id of the row so named, in any case

A stream declares the tables its rows name (``catalogs``), and the kit covers each page:

    class ContactTags(RestStream):
        catalogs = {"tag": Catalog("tags", "tags", link="tag")}   # self.names["tag"]
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from syncd.connectors.paging import OffsetPaginator, Paginator, dig
from syncd.connectors.rows import text_id

if TYPE_CHECKING:
    from syncd.connectors.client import ApiClient


def every_row(
    api: ApiClient,
    path: str,
    paginator: Paginator,
    records: str = "",
    params: Mapping[str, Any] | None = None,
    keys: Sequence[str] | None = None,
) -> list[dict[str, Any]]:
    """Every row of a list endpoint, page after page; ``records`` is the dotted path of the
    rows in a reply ("" = the reply). What is not an object is left out. With ``keys``, a row
    keeps only those (as each page is read: a long listing held in less memory)."""
    pages = api.pages(path, paginator, lambda body: dig(body, records) or [], params)
    rows = (row for items, _ in pages for row in items if isinstance(row, dict))
    if keys is None:
        return list(rows)
    return [{key: row.get(key) for key in keys} for row in rows]


class Lookup:
    """One table of rows by id, each naming something by its ``value`` path; see the module.
    ``rows`` holds the rows read (a destination may add one it made)."""

    def __init__(
        self,
        api: ApiClient,
        path: str,
        paginator: Paginator,
        records: str = "",
        *,
        key: str = "id",
        value: str = "name",
        params: Mapping[str, Any] | None = None,
    ) -> None:
        self.api, self.path, self.paginator, self.records = api, path, paginator, records
        self.key, self.value, self.params = key, value, dict(params or {})
        self.rows: dict[str, dict[str, Any]] = {}
        self.loaded = False
        self.missed: set[str] = set()  # ids not there even after reading again

    def load(self) -> dict[str, dict[str, Any]]:
        """Read the whole table (again)."""
        rows = every_row(self.api, self.path, self.paginator, self.records, self.params)
        self.rows = {i: row for row in rows if (i := text_id(dig(row, self.key))) is not None}
        self.loaded = True
        return self.rows

    def cover(self, ids: Iterable[Any]) -> None:
        """Read the table again when it lacks one of ``ids``: once for them all, and not for
        an id that was missing the last time too."""
        wanted = {i for i in map(text_id, ids) if i is not None} - self.missed
        if wanted - self.rows.keys():  # (empty until read)
            self.missed |= wanted - self.load().keys()

    def name(self, row_id: Any) -> str | None:
        """The name of the row ``row_id``, as text; None for an unknown row or one without a
        name. The table is read the first time (``cover`` reads it again)."""
        found = text_id(row_id)
        if found is None:
            return None
        row = (self.rows if self.loaded else self.load()).get(found)
        name = dig(row, self.value) if row else None
        return str(name) if name else None

    def find(self, name: str, *paths: str) -> str | None:
        """The id of the first row whose ``paths`` (default: the name) hold ``name``, in any
        case and trimmed; the table is read the first time."""
        wanted = name.strip().lower()
        for row_id, row in (self.rows if self.loaded else self.load()).items():
            if any(str(dig(row, p) or "").strip().lower() == wanted for p in paths or [self.value]):
                return row_id
        return None


@dataclass(frozen=True)
class Catalog:
    """A table of names by id a stream's rows name, declared on the stream; see the module.
    Before a page is mapped the kit covers the ids its rows hold at ``link`` (but ``no_id``,
    what the vendor writes for none); with ``fresh`` the table is read afresh each read, for
    names that change between reads (owners' e-mails)."""

    path: str
    records: str = ""
    value: str = "name"
    link: str | None = None
    paginator: Callable[[], Paginator] = lambda: OffsetPaginator(100)
    params: Mapping[str, Any] = field(default_factory=dict)
    no_id: tuple[str, ...] = ()
    fresh: bool = False

    def lookup(self, api: ApiClient) -> Lookup:
        """The table, for one stream (read when first needed)."""
        return Lookup(
            api, self.path, self.paginator(), self.records, value=self.value, params=self.params
        )

    def cover(self, lookup: Lookup, rows: Iterable[dict[str, Any]]) -> None:
        """Read ``lookup`` again when ``rows`` name an id it lacks (see ``Lookup.cover``)."""
        if self.link is not None:
            link, no_id = self.link, self.no_id
            lookup.cover(i for row in rows if (i := text_id(dig(row, link))) not in no_id)
