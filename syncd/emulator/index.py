"""An emulator's index of rows by a key (a contact by its e-mail), checked when used: a
vendor's look-up by key must stay fast at tens of thousands of rows, while the rows it points
at may since have been deleted or have taken another key."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Generic, TypeVar

Row = TypeVar("Row")


class CheckedIndex(Generic[Row]):
    """Rows by key, the first noted for each key that still holds it. ``holds(row, key)``
    says whether ``row`` is still there with ``key``; ``every()`` gives all rows in the order
    they were made, searched when the row noted for a key no longer holds it."""

    def __init__(
        self, holds: Callable[[Row, str], bool], every: Callable[[], Iterable[Row]]
    ) -> None:
        self._rows: dict[str, Row] = {}
        self._holds = holds
        self._every = every

    def note(self, key: str, row: Row) -> None:
        """``row`` now holds ``key``: it is the one found by it unless an earlier one still
        holds it."""
        held = self._rows.get(key)
        if held is None or not self._holds(held, key):
            self._rows[key] = row

    def find(self, key: str) -> Row | None:
        """The first row that holds ``key``, or None."""
        row = self._rows.get(key)
        if row is None or self._holds(row, key):
            return row
        del self._rows[key]
        found = next((r for r in self._every() if self._holds(r, key)), None)
        if found is not None:
            self._rows[key] = found
        return found
