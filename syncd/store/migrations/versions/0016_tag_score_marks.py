"""A tag's score is read by rules (``{tag: X, score: {gte: 10}}``), so a change of it marks
the contact changed, as a change of the tag's count does: the change trigger on ``tags``
compares ``score`` too.

Create Date: 2026-12-07
"""

from syncd.store.migrations.change_triggers import remake_update_trigger

revision = "0016"
down_revision = "0015"

BEFORE = ("contact_id", "source", "tag", "name", "count")
AFTER = (*BEFORE, "score")


def upgrade() -> None:
    remake_update_trigger("tags", AFTER)


def downgrade() -> None:
    remake_update_trigger("tags", BEFORE)
