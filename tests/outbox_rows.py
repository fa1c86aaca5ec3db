"""Outbox rows written straight into a test's store, as a plan would have queued them."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa

from syncd.store.schema import outbox


def queued(
    destination: str, contact_id: int, kind: str, key: str, at: datetime, **more: Any
) -> sa.Insert:
    """The insert of one change for ``contact_id`` at ``destination``, made and last touched
    ``at``: pending and never tried unless ``more`` says otherwise (``status``,
    ``attempts``, ``value``, ``last_error``)."""
    row = {"status": "pending", "attempts": 0, **more}
    return outbox.insert().values(
        destination=destination,
        contact_id=contact_id,
        kind=kind,
        key=key,
        created_at=at,
        updated_at=at,
        **row,
    )
