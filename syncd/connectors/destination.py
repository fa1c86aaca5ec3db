"""What every destination does with a push: answer each change exactly once, turn a vendor's
error into the outcome of the changes it concerns, group changes by contact or key, fold a
contact's changes into the keys to turn on and off, send contacts in batches of the vendor's
maximum (by count or weight), find the contacts that spoilt a refused batch, look contacts'
ids up by e-mail, and create a named thing at most once. ``HttpDestination`` is the base of
an HTTP connector's destination: the kit's push, the vendor's ``write``.

    class AcmeDestination(HttpDestination):
        change_kinds = frozenset({ChangeKind.ADD_TAG})

        def write(self, answers: Answers) -> None:
            rows = [(row_of(group), group) for group in by_contact(answers.open()).values()]
            answers.send(rows, 100, self.send, split="halves")  # send answers what it confirms
"""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import replace
from itertools import islice
from typing import TYPE_CHECKING, Any, ClassVar, Literal, TypeVar

import structlog

from syncd.connectors.client import ApiClient
from syncd.connectors.contract import Change, ChangeKind, ChangeResult, Destination, Outcome
from syncd.connectors.email import valid_email
from syncd.errors import (
    AuthError,
    ConnectorError,
    RateLimited,
    RecordError,
    RetryableError,
    first_line,
)

if TYPE_CHECKING:
    from syncd.connectors.base import HttpConnector

log = structlog.get_logger("syncd.destination")

T = TypeVar("T")
Changes = Change | Iterable[Change]  # one change or several
Write = tuple[T, list[Change]]  # what one call carries for one contact, and the changes it answers
ByTag = dict[str, list[Change]]  # tag -> its changes


class Answers:
    """The answers to the changes of one push. The first answer a change gets is its answer,
    so a later, more general one (an error for a whole batch) leaves it as it is."""

    def __init__(
        self,
        changes: Sequence[Change],
        kinds: Collection[ChangeKind] = frozenset(ChangeKind),
        unsupported: Mapping[ChangeKind, str] | None = None,
    ) -> None:
        self.changes = list(changes)
        self.given: dict[int, ChangeResult] = {}  # change id -> its answer
        self.read_as: dict[int, str] = {}  # change id -> the name its field is read back as
        # a change of a kind the destination does not take fails at once, with the reason
        # ``unsupported`` gives for its kind, if any
        for change in self.changes:
            if change.kind not in kinds:
                generic = f"{change.kind} is not supported by this destination"
                self.failed(change, (unsupported or {}).get(change.kind, generic))

    def open(self, kinds: Iterable[ChangeKind] = ChangeKind) -> list[Change]:
        """The changes (of ``kinds``) with no answer yet, in order."""
        wanted = set(kinds)
        return [c for c in self.changes if c.kind in wanted and c.id not in self.given]

    def done(
        self,
        changes: Changes,
        *,
        external_id: str | None = None,
        ref: str | None = None,
        reason: str | None = None,
    ) -> None:
        """The vendor confirmed ``changes``; ``external_id`` and ``ref`` are its ids to remember."""
        self._answer(changes, Outcome.DONE, reason, external_id, ref)

    def reads_back(self, change: Change, name: str) -> None:
        """A pull reads the field ``change`` writes back under ``name`` (see
        ``ChangeResult.read_as``); said before the change is answered."""
        if name != change.key:
            self.read_as[change.id] = name

    def failed(self, changes: Changes, reason: str, *, external_id: str | None = None) -> None:
        """``changes`` cannot be made; trying again would not help."""
        self._answer(changes, Outcome.FAILED, reason, external_id)

    def retry(self, changes: Changes, reason: str, *, external_id: str | None = None) -> None:
        """``changes`` were not confirmed this time; they go again in a later push."""
        self._answer(changes, Outcome.RETRYABLE, reason, external_id)

    def error(self, changes: Changes, exc: ConnectorError) -> None:
        """Answer ``changes`` for the vendor's error: a refused token (AuthError) stops the push,
        a passing error (RetryableError) is retryable, any other fails them; its line is why."""
        if isinstance(exc, AuthError):
            raise exc
        outcome = Outcome.RETRYABLE if isinstance(exc, RetryableError) else Outcome.FAILED
        self._answer(changes, outcome, first_line(exc))

    @contextmanager
    def answering(self, changes: Changes) -> Iterator[None]:
        """A ConnectorError raised inside answers the open ``changes`` (see ``error``) and goes
        no further; the block stops there."""
        try:
            yield
        except ConnectorError as exc:
            self.error(changes, exc)

    def send(
        self,
        items: Iterable[Write[T]],
        size: int,
        send: Callable[[list[Write[T]]], None],
        *,
        split: Literal["halves", "singles"] | None = None,
        weight: Callable[[Write[T]], int] | None = None,
    ) -> None:
        """Send ``items`` (each what one call carries for a contact, and the changes it
        answers) in calls of at most ``size`` items (or of ``weight``, see ``in_batches``).
        ``send`` answers the changes it confirms; a ConnectorError answers those of its call
        (see ``error``). With ``split``, a call the vendor refuses is sent again in halves or
        an item at a time (``split_refused``), so only the refused items fail."""
        for batch in in_batches(items, size, weight):
            if split is None:
                with self.answering(c for _, changes in batch for c in changes):
                    send(batch)
                continue
            for part, exc in split_refused(send, batch, singles=split == "singles"):
                self.error([c for _, changes in part for c in changes], exc)

    def check_emails(self, vendor: str, kinds: Iterable[ChangeKind] = ChangeKind) -> None:
        """Fail each open change (of ``kinds``) whose e-mail ``vendor`` would refuse, before
        anything is sent."""
        for change in self.open(kinds):
            if not valid_email(change.email):
                self.failed(change, f"{vendor} would refuse e-mail {change.email.strip()!r}")

    def results(self) -> list[ChangeResult]:
        """One answer for each change, in order. A change left open was not confirmed, so it is
        retryable, as the core takes a change a destination does not answer for."""
        self.retry(self.open(), "no answer from the destination")
        return [self.given[c.id] for c in self.changes]

    def _answer(
        self,
        changes: Changes,
        outcome: Outcome,
        reason: str | None,
        external_id: str | None = None,
        ref: str | None = None,
    ) -> None:
        for c in [changes] if isinstance(changes, Change) else changes:
            if c.id not in self.given:
                read_as = self.read_as.get(c.id) if outcome is Outcome.DONE else None
                self.given[c.id] = ChangeResult(c.id, outcome, reason, external_id, ref, read_as)


class HttpDestination(Destination):
    """The destination of an HttpConnector: its client, options and context at hand, its
    ``batch_size`` the options' when they have one. ``push`` fails each change of a kind it
    does not take (with ``unsupported``'s reason for its kind, if any) and, of ``email_kinds``,
    each whose e-mail the vendor would refuse; ``write`` answers the others, and one it leaves
    open is retryable."""

    unsupported: ClassVar[Mapping[ChangeKind, str]] = {}  # why a kind is not taken
    email_kinds: ClassVar[frozenset[ChangeKind]] = frozenset(ChangeKind)

    def __init__(self, connector: HttpConnector) -> None:
        self.connector, self.options, self.context = connector, connector.options, connector.context
        size = getattr(self.options, "batch_size", None)
        if size is not None:
            self.batch_size = int(size)  # type: ignore[misc]

    @property
    def api(self) -> ApiClient:
        """The connector's client (one rate limiter for reads and writes)."""
        return self.connector.api

    def push(self, changes: Sequence[Change]) -> list[ChangeResult]:
        answers = Answers(changes, self.change_kinds, self.unsupported)
        answers.check_emails(self.connector.vendor, self.email_kinds)
        self.write(answers)
        return answers.results()

    @abstractmethod
    def write(self, answers: Answers) -> None:
        """Send the open changes of ``answers`` and answer them."""


def by_contact(changes: Iterable[Change]) -> dict[str, list[Change]]:
    """``changes`` grouped by their contact's e-mail (trimmed, lower-cased), in order."""
    groups: dict[str, list[Change]] = {}
    for change in changes:
        groups.setdefault(change.email.strip().lower(), []).append(change)
    return groups


def by_key(changes: Iterable[Change]) -> dict[str, list[Change]]:
    """``changes`` grouped by their key (tag, list or field name), in order."""
    groups: dict[str, list[Change]] = {}
    for change in changes:
        groups.setdefault(change.key, []).append(change)
    return groups


def tag_writes(changes: Iterable[Change]) -> tuple[ByTag, ByTag]:
    """The tags a contact's ``changes`` add and the tags they remove, the last change of a tag
    winning, each with every change of that tag (the write answers them all); in the order the
    tags first come. Changes of other kinds are left out."""
    return last_writes(changes, ChangeKind.ADD_TAG, ChangeKind.REMOVE_TAG)


def last_writes(changes: Iterable[Change], on: ChangeKind, off: ChangeKind) -> tuple[ByTag, ByTag]:
    """The keys a contact's ``changes`` turn ``on`` (a tag added, a list subscribed) and those
    they turn ``off``, the last change of a key winning, each with every change of that key;
    in the order the keys first come. Changes of other kinds are left out."""
    last: dict[str, ChangeKind] = {}
    of_key: ByTag = {}
    for change in changes:
        if change.kind in (on, off):
            last[change.key] = change.kind
            of_key.setdefault(change.key, []).append(change)
    turned_on = {key: of_key[key] for key, kind in last.items() if kind is on}
    turned_off = {key: of_key[key] for key, kind in last.items() if kind is off}
    return turned_on, turned_off


def in_batches(
    items: Iterable[T], size: int, weight: Callable[[T], int] | None = None
) -> Iterator[list[T]]:
    """``items`` in lists of at most ``size``, in order. With ``weight``, a list holds items
    whose weights add up to at most ``size`` (an item heavier than that goes alone): a call
    whose maximum counts what the items hold (events, ids), not the items."""
    if size < 1:
        raise ValueError(f"a batch holds at least one item, not {size}")
    rest = iter(items)
    if weight is None:
        while batch := list(islice(rest, size)):
            yield batch
        return
    batch, held = [], 0
    for item in rest:
        n = weight(item)
        if batch and held + n > size:
            yield batch
            batch, held = [], 0
        batch.append(item)
        held += n
    if batch:
        yield batch


def known_ids(
    answers: Answers,
    groups: Mapping[str, list[Change]],
    find: Callable[[list[str]], Mapping[str, str]],
    size: int,
    known: Callable[[Change], str | None] = lambda change: change.external_id,
) -> dict[str, str]:
    """The vendor's id of each contact of ``groups`` (``by_contact``), by e-mail: the first
    ``known`` of its changes, else looked up by ``find`` (e-mails to ids), ``size`` e-mails a
    call. A look-up that fails answers its contacts' changes; a contact not found has no id."""
    ids: dict[str, str] = {}
    for email, group in groups.items():
        if found := next(filter(None, map(known, group)), None):
            ids[email] = found
    for emails in in_batches([e for e in groups if e not in ids], size):
        with answers.answering(c for e in emails for c in groups[e]):
            ids.update(find(emails))
    return ids


def split_refused(
    send: Callable[[list[T]], None], items: Sequence[T], *, singles: bool = False
) -> list[tuple[list[T], ConnectorError]]:
    """Send ``items`` in one call of ``send``. When the vendor refuses it (a RecordError), send
    its halves, or with ``singles`` each item alone, the same way, so only refused items fail.

    Returns what failed for good with its error: each refused item, and each part that met
    another error (the other parts are still sent). A refused token (AuthError) stops it all.
    """
    if not items:
        return []
    try:
        send(list(items))
        return []
    except AuthError:
        raise
    except RecordError as exc:
        if len(items) == 1:
            return [(list(items), exc)]
        log.info("a batch was refused; sending it in parts", items=len(items), error=str(exc))
        half = len(items) // 2
        parts = [[item] for item in items] if singles else [items[:half], items[half:]]
    except ConnectorError as exc:
        return [(list(items), exc)]
    return [failed for part in parts for failed in split_refused(send, part, singles=singles)]


def create_once(api: ApiClient, url: str, body: Any, find: Callable[[], Any], what: str) -> Any:
    """POST ``body`` to ``url`` to create ``what`` (a list, a tag, a field: a thing with a
    name), so that a lost answer never makes two. Each POST is sent once; when it fails so
    that the vendor may have applied it (the connection dropped after sending, a timeout, a
    500, 502 or 504, an answer cut short), ``find`` looks the thing up by its name before the
    next try, and what it finds (not None, in the shape of the POST's answer) is the answer.
    What was not applied (a 429, a 503, a connection never made) is sent again after the
    wait. A create the vendor refuses (a RecordError: one of that name may have been made
    meanwhile, by another syncd) is answered by ``find`` when it finds it. Tries and waits
    follow ``api.retry``."""
    once = replace(api.retry, attempts=1, rate_limited_attempts=1)
    lost = False

    def attempt() -> Any:
        nonlocal lost
        if lost and (found := find()) is not None:
            log.info("found after a lost answer; not created again", what=what)
            return found
        try:
            return api.post(url, body, retry=once)
        except RetryableError as exc:
            # it may be there now, unless the vendor said it was busy or never saw it
            lost = lost or not (isinstance(exc, RateLimited) or exc.status == 503 or exc.unsent)
            raise

    try:
        return api.retry.call(attempt, what=f"creating {what}")
    except RecordError:
        if (found := find()) is None:
            raise
        log.info("made meanwhile; not created again", what=what)
        return found
