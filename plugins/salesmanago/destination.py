"""Changes into SALESmanago in the fewest calls: every change of one contact becomes one
``upsertDetails`` item of ``contact/batchupsert`` (tags in ``tags``, removals in
``removeTags``, values in ``properties``, an opt-in as ``forceOptIn``); the upsert creates
contacts (and tags) it does not know, so nothing is created apart. For C contacts the writes
are ``ceil(C / batch_size)``. The synchronous batch upsert is used because its answer
confirms the contacts and names their ids; a change is done only then.

A tag named in the connector's ``tag_events`` also records an external event of its type
when syncd adds it (a segment entry as an event SALESmanago's automation can act on): after
the upserts, every such event of the push (a batch of contacts) in
``contact/batchAddContactExtEvent`` calls of up to 1,000; the tag's change is done once its
event is recorded too. A push whose event call fails is answered by that error and sent
again (the tag again, harmless; the event may then be recorded twice if the first call was
applied and its answer lost: SALESmanago documents no de-duplication by ``externalId``).

syncd never opts anyone out: SALESmanago's opt-out (``forceOptOut``) withdraws a person's
consent to all e-mail, which leaving a segment must never do. A segment mapped to the
subscription opts people in (with consent evidence, never one who opted out) and nothing
more: the destination takes no ``unsubscribe``, so the plan shows them as not supported.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

import structlog

from syncd.connectors import ChangeKind, HttpDestination, by_contact, tag_writes

if TYPE_CHECKING:
    from syncd.connectors import Answers, Change, Write
    from syncd_plugins.salesmanago.connector import SalesmanagoConnector

log = structlog.get_logger("syncd.salesmanago")

NAME_FIELDS = ("first_name", "last_name")
MAX_EVENTS = 1000  # contact/batchAddContactExtEvent's documented maximum a call
CONTACT_FIELDS = {"phone": "phone", "company": "company"}
ADDRESS_FIELDS = {"city": "city", "country": "country", "zip_code": "zipCode"}


NEVER_OPT_OUT = (
    "syncd never opts a contact out at SALESmanago: its opt-out withdraws consent to all "
    "e-mail, which leaving a segment must not do"
)

Events = tuple[list[dict[str, Any]], str | None]  # a contact's events to record, and its id


class SalesmanagoDestination(HttpDestination):
    change_kinds: ClassVar[frozenset[ChangeKind]] = frozenset(ChangeKind) - {ChangeKind.UNSUBSCRIBE}
    # an unsubscribe an earlier syncd planned, still in the outbox
    unsupported = {ChangeKind.UNSUBSCRIBE: NEVER_OPT_OUT}
    connector: SalesmanagoConnector

    def write(self, answers: Answers) -> None:
        consent_list = self.options.consent_list
        subscribes = answers.open({ChangeKind.SUBSCRIBE})
        opted_out: set[str] = set()
        with answers.answering(subscribes):  # a refused look-up answers the opt-ins, not the push
            opted_out = self._opted_out(subscribes)
        for change in answers.open({ChangeKind.SUBSCRIBE}):
            if change.key != consent_list:
                answers.failed(
                    change,
                    f"SALESmanago has no lists: map segments to the list "
                    f"{consent_list!r} (the opt-in), not {change.key!r}",
                )
            elif change.email.strip().lower() in opted_out:
                # syncd never opts in again someone who opted out (DESIGN, safety 4)
                answers.failed(
                    change,
                    f"{change.email} opted out at SALESmanago; syncd does not opt them in again",
                )

        waiting: list[Write[Events]] = []  # upserted, with events to record

        def upsert(contacts: list[Write[dict[str, Any]]]) -> None:
            details = [detail for detail, _ in contacts]
            body = self.api.post("contact/batchupsert", {"upsertDetails": details})
            ids = {
                str(k).strip().lower(): str(v) for k, v in (body.get("contactIds") or {}).items()
            }
            for _, group in contacts:
                found = ids.get(group[0].email.strip().lower())
                if events := self._events(group):
                    waiting.append(((events, found), group))
                else:
                    answers.done(group, external_id=found)
            log.info("batch upsert confirmed", contacts=len(contacts))

        def record(held: list[Write[Events]]) -> None:
            events = [e for (some, _), _ in held for e in some]
            self.api.post("contact/batchAddContactExtEvent", {"events": events})
            for (_, found), group in held:
                answers.done(group, external_id=found)

        contacts = [(_detail(group), group) for group in by_contact(answers.open()).values()]
        # a batch one contact spoilt is sent again a contact at a time: only that one fails
        answers.send(contacts, self.batch_size, upsert, split="singles")
        answers.send(waiting, MAX_EVENTS, record, weight=lambda held: len(held[0][0]))

    def _events(self, group: list[Change]) -> list[dict[str, Any]]:
        """The external events one contact's changes record: one for each tag added that
        ``tag_events`` names, described by the tag, its ``externalId`` the change's id."""
        kinds = self.options.tag_events
        now = int(self.context.clock().timestamp() * 1000)
        return [
            {
                "email": c.email.strip(),
                "contactEvent": {
                    "date": now,
                    "contactExtEventType": kinds[c.key],
                    "description": c.key,
                    "externalId": f"syncd-{c.id}",
                },
            }
            for c in group
            if c.kind is ChangeKind.ADD_TAG and c.key in kinds
        ]

    def _opted_out(self, subscribes: list[Change]) -> set[str]:
        """The e-mails, among contacts to opt in whose id is known, that opted out."""
        ids = list(dict.fromkeys(c.external_id for c in subscribes if c.external_id))
        return {
            str(row["email"]).strip().lower()
            for row in self.connector.contacts(ids)
            if isinstance(row, dict) and row.get("optedOut") and row.get("email")
        }


def _detail(changes: list[Change]) -> dict[str, Any]:
    """One contact's changes as one ``upsertDetails`` item."""
    detail: dict[str, Any] = {"contact": {"email": changes[0].email.strip()}}
    added, removed = tag_writes(changes)  # the last change of a tag wins
    if added:
        detail["tags"] = list(added)
    if removed:
        detail["removeTags"] = list(removed)
    for change in changes:
        _apply(detail, change)
    return detail


def _apply(detail: dict[str, Any], change: Change) -> None:
    """Fold one change other than a tag's into its contact's ``upsertDetails`` item."""
    kind = change.kind
    if kind is ChangeKind.SET_FIELD:
        detail.setdefault("properties", {})[change.key] = change.value
    elif kind is ChangeKind.SUBSCRIBE:
        detail["forceOptIn"] = True
    elif kind is ChangeKind.UPSERT_CONTACT:
        contact, given = detail["contact"], change.attributes
        name = " ".join(str(given[k]) for k in NAME_FIELDS if given.get(k))
        if name:
            contact["name"] = name
        contact.update({sm: str(given[k]) for k, sm in CONTACT_FIELDS.items() if given.get(k)})
        address = {sm: str(given[k]) for k, sm in ADDRESS_FIELDS.items() if given.get(k)}
        if address:
            contact["address"] = address
