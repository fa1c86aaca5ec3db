"""What a connector's author writes so the conformance suite can drive the connector: a
``Harness`` (any vendor double: an emulator, respx routes, a folder of files) or an
``EmulatorHarness`` (a ``syncd.emulator.Emulator`` app). See docs/plugins.md.

Every method the suite may skip without raises NotImplementedError by default; the tests
that need it then skip, saying which method to write.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any, ClassVar, Generic, TypeVar, cast, get_args, get_origin

import httpx

from syncd.connectors.contract import Change, Connector
from syncd.emulator import Emulator, LoggedRequest, ManualClock, transport

WRONG_CREDENTIAL = "wrong-credential-of-the-conformance-suite"


class Harness(ABC):
    """How the suite starts the vendor, configures the connector and looks at the vendor.

    The suite makes a new harness object for each test and calls ``start`` once per run of
    the vendor (a clean run and a faulty one, say); everything else is asked after a start.
    """

    connector: ClassVar[type[Connector]]
    instance: ClassVar[str] = "conformance"  # the connector instance's name
    secrets: ClassVar[Sequence[str]] = ()  # values that must never be logged or raised
    start_time: ClassVar[datetime] = ManualClock.START  # virtual
    vendor_faults: ClassVar[bool] = False  # start() honours a fault spec
    rereads: ClassVar[int] = 0  # records an incremental pull may read again unchanged
    # rows the vendor may answer a pull with nothing new (a table the vendor cannot filter
    # by time is checked by the last row read); any other is read again for nothing
    quiet_rows: ClassVar[int] = 0
    # requests a read resumed in a new process may send besides its pages: a catalog of
    # names the stream reads once a read (a catalog of tag, list or field names)
    lookups: ClassVar[int] = 0
    fault_seed: int = 0  # set by the suite: the seed of the vendor's fault draws

    workdir: Path  # a fresh folder of this test (files, the instance's base_dir)
    clock: ManualClock  # the vendor's clock of the current run

    @abstractmethod
    def start(self, clock: ManualClock, faults: str | None) -> None:
        """Fresh vendor state on ``clock``, the same at every start; with ``faults`` (a
        ``syncd.emulator`` fault spec) when ``vendor_faults`` says it can."""

    @abstractmethod
    def options(self) -> dict[str, Any]:
        """The connector instance's options as the YAML gives them (secrets included)."""

    def wrong_options(self) -> dict[str, Any]:
        """The options with a credential the vendor refuses (default: every secret of
        ``secrets`` replaced by a wrong one)."""

        def swap(value: Any) -> Any:
            if isinstance(value, dict):
                return {k: swap(v) for k, v in value.items()}
            if isinstance(value, list):
                return [swap(v) for v in value]
            return WRONG_CREDENTIAL if value in self.secrets else value

        return dict(swap(self.options()))

    def transport(self) -> httpx.BaseTransport | None:
        """How the connector reaches the vendor double; None: it sends nothing over HTTP
        (or respx routes catch what it sends)."""
        return None

    def external_ids(self) -> set[str]:
        """The external ids (as ``change`` gives them) of everything a full pull reads."""
        raise NotImplementedError

    def change(self) -> set[str]:
        """Make a change at the vendor, through its API; return the external ids of the
        records the next pull must read (a contact's, event's or deal's ``external_id``, a
        tag's or list membership's ``contact_external_id``)."""
        raise NotImplementedError

    def plant_bad_record(self) -> str:
        """Put one record the connector cannot map at the vendor; return a fragment of the
        reason it is expected to be quarantined with."""
        raise NotImplementedError

    def changes(self) -> list[Change]:
        """A plan to push (destinations): the same at every start, with unique ids,
        spanning more contacts than one batch of the destination."""
        raise NotImplementedError

    def remote(self) -> Any:
        """What the vendor holds, comparable across runs: by e-mail and name, not ids."""
        raise NotImplementedError

    def minimum_writes(self, changes: Sequence[Change]) -> int:
        """The fewest write calls the vendor's API allows for ``changes``."""
        raise NotImplementedError

    def writes(self) -> int:
        """Write calls the vendor has served since the start."""
        raise NotImplementedError

    def reads(self) -> int:
        """Read calls the vendor has served since the start."""
        raise NotImplementedError

    def faults_served(self) -> int | None:
        """How many faults the vendor injected since the start; None: it cannot say."""
        return None


E = TypeVar("E", bound=Emulator)


class EmulatorHarness(Harness, Generic[E]):
    """A harness on a ``syncd.emulator.Emulator``: ``start`` builds a fresh one (faults
    included), the transport reaches it in-process, and its request log counts reads and
    writes. A subclass names its emulator as the parameter (``EmulatorHarness[AcmeEmulator]``:
    ``emu`` is typed and ``emulator()`` makes one), gives ``options()``, and what it can of
    the rest."""

    vendor_faults: ClassVar[bool] = True
    emulator_class: ClassVar[type[Emulator]]  # from the parameter; or set, or emulator() written
    seed: ClassVar[int] = 1  # the emulator's sample data
    people: ClassVar[int] = 23  # how many sample people it holds
    emulator_options: ClassVar[dict[str, Any]] = {}  # any other keyword the emulator takes
    emu: E

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        for base in getattr(cls, "__orig_bases__", ()):
            found = get_args(base) if get_origin(base) is EmulatorHarness else ()
            if found and isinstance(found[0], type):
                cls.emulator_class = found[0]

    def emulator(self, clock: ManualClock) -> E:
        """A fresh emulator of the vendor, with its sample data from ``seed``, on ``clock``."""
        made = self.emulator_class
        options = self.emulator_options
        return cast(E, made(seed=self.seed, people=self.people, clock=clock, **options))

    def start(self, clock: ManualClock, faults: str | None) -> None:
        self.clock = clock
        self.emu = self.emulator(clock)
        self.emu.set_faults(faults, seed=self.fault_seed)

    def transport(self) -> httpx.BaseTransport:
        return transport(self.emu)

    def remote(self) -> Any:
        return self.emu.state()

    def is_write(self, request: LoggedRequest) -> bool:
        """Whether a logged request is a write (default: as the emulator marked it, else any
        method but GET, HEAD, OPTIONS; a vendor that searches by POST says otherwise)."""
        return request.is_write

    def writes(self) -> int:
        return sum(1 for r in self.emu.requests() if r.fault is None and self.is_write(r))

    def reads(self) -> int:
        return sum(1 for r in self.emu.requests() if r.fault is None and not self.is_write(r))

    def faults_served(self) -> int:
        return sum(1 for r in self.emu.requests() if r.fault is not None)
