"""What rules may name: fields with their types, event types, connector instances."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

FIELD_TYPES = ("text", "number", "date", "bool")

BUILTIN_FIELDS: dict[str, str] = {
    "first_name": "text",
    "last_name": "text",
    "phone": "text",
    "company": "text",
    "city": "text",
    "country": "text",
    "lifecycle_stage": "text",
    "lead_status": "text",
    "owner_email": "text",
    "birthday": "date",
    "signup_date": "date",
}

BUILTIN_EVENT_TYPES = frozenset(
    {
        "order_placed",
        "checkout_abandoned",
        "email_sent",
        "email_opened",
        "email_clicked",
        "email_bounced_hard",
        "email_bounced_soft",
        "email_unsubscribed",
        "page_visited",
        "form_submitted",
        "file_downloaded",
        "deal_stage_changed",
        "meeting_booked",
        "purchase_refunded",
    }
)


@dataclass
class Catalog:
    """Known names; ``open`` accepts any name (for tests and ad-hoc evaluation)."""

    fields: dict[str, str] = field(default_factory=lambda: dict(BUILTIN_FIELDS))
    event_types: set[str] = field(default_factory=lambda: set(BUILTIN_EVENT_TYPES))
    instances: set[str] = field(default_factory=set)
    open: bool = False

    @classmethod
    def permissive(cls) -> Catalog:
        return cls(open=True)

    def add_fields(self, declared: Mapping[str, str]) -> None:
        self.fields.update(declared)

    def add_event_types(self, declared: Iterable[str]) -> None:
        self.event_types.update(declared)

    def field_type(self, name: str) -> str | None:
        """The declared type, or None when the field is unknown (or the catalog is open)."""
        return self.fields.get(name)
