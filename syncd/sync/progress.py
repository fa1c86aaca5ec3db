"""What a cycle tells as it goes: pages pulled, segments computed, batches pushed, waits for a
vendor's rate limit. One observer is handed to the cycle's steps; the shell draws it (rich
progress on a terminal, plain lines elsewhere) and the demo prints it. Every method of
:class:`Observer` does nothing, so an observer says only what it cares for."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Sequence

from syncd.sync.compute import SegmentResult

# a wait shorter than this is the rate limit's ordinary pacing, not worth a word
NOTABLE_WAIT = 1.0


class Observer:
    def pulling(self, instance: str) -> None:
        """An instance's pull begins."""

    def page_pulled(self, instance: str, stream: str, counts: Counter[str]) -> None:
        """A page of ``stream`` was stored; ``counts`` add up over the instance's streams."""

    def pulled(self, instance: str, counts: Counter[str]) -> None:
        """An instance's pull ended (or failed, then ``counts`` is what it stored)."""

    def computing(self, segments: int) -> None:
        """The compute of ``segments`` segments begins."""

    def computed(self, results: Sequence[SegmentResult]) -> None:
        """The compute ended."""

    def pushing(self, destination: str, planned: int) -> None:
        """A destination's push begins with ``planned`` changes waiting in its outbox."""

    def batch_pushed(self, destination: str, counts: Counter[str]) -> None:
        """A batch was answered; ``counts`` (by outcome) add up over the destination's push."""

    def pushed(self, destination: str, counts: Counter[str]) -> None:
        """A destination's push ended."""

    def waiting(self, instance: str, seconds: float) -> None:
        """An instance waits ``seconds`` for its vendor's rate limit or before a retry."""

    def waited(self, instance: str) -> None:
        """The wait ``waiting`` told of is over."""


class Waits:
    """How connector instances sleep (``build_runtime(sleep=waits.sleeper)``): a notable
    wait is told to the observer of the moment, which can be set after the runtime is made."""

    def __init__(self, sleep: Callable[[float], None] = time.sleep) -> None:
        self.observer: Observer | None = None
        self._sleep = sleep

    def sleeper(
        self, instance: str, inner: Callable[[float], None] | None = None
    ) -> Callable[[float], None]:
        """How ``instance`` sleeps: ``inner`` (the instance's own sleep, which may be virtual
        time paired with a virtual monotonic clock), told to the observer when notable."""
        wait = inner or self._sleep

        def sleep(seconds: float) -> None:
            observer = self.observer
            if observer is None or seconds < NOTABLE_WAIT:
                wait(seconds)
                return
            observer.waiting(instance, seconds)
            try:
                wait(seconds)
            finally:
                observer.waited(instance)

        return sleep
