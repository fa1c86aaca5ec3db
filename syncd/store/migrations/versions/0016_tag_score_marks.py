"""A tag's score is read by rules (``{tag: X, score: {gte: 10}}``), so a change of it marks
the contact changed, as a change of the tag's count does: the change trigger on ``tags``
compares ``score`` too.

Create Date: 2026-12-07
"""

from alembic import op

revision = "0016"
down_revision = "0015"

BEFORE = ("contact_id", "source", "tag", "name", "count")
AFTER = (*BEFORE, "score")
NAME = "syncd_changed_tags_update"


def upgrade() -> None:
    _trigger(AFTER)


def downgrade() -> None:
    _trigger(BEFORE)


def _trigger(columns: tuple[str, ...]) -> None:
    postgres = op.get_bind().dialect.name == "postgresql"
    distinct = "IS DISTINCT FROM" if postgres else "IS NOT"
    differs = " OR ".join(f"OLD.{c} {distinct} NEW.{c}" for c in columns)
    if postgres:
        op.execute(f"DROP TRIGGER IF EXISTS {NAME} ON tags")
        op.execute(
            f"CREATE TRIGGER {NAME} AFTER UPDATE ON tags FOR EACH ROW WHEN ({differs}) "
            "EXECUTE FUNCTION syncd_mark_changed('contact_id')"
        )
        return
    op.execute(f"DROP TRIGGER IF EXISTS {NAME}")
    mark = (
        "INSERT INTO changed_contacts (contact_id) SELECT {row}.contact_id "
        "WHERE {row}.contact_id IS NOT NULL AND NOT EXISTS (SELECT 1 FROM changed_contacts "
        "WHERE contact_id = {row}.contact_id);"
    )
    op.execute(
        f"CREATE TRIGGER {NAME} AFTER UPDATE ON tags WHEN {differs} "
        f"BEGIN {mark.format(row='OLD')} {mark.format(row='NEW')} END"
    )
