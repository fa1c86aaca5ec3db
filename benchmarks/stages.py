"""Where a cycle's time goes: wall and CPU seconds per stage, told by the cycle's observer.

A stage is an instance's pull (and, within it, each stream: the time up to a page's write is
the stream's), the compute, the plan (with writing the outbox), or a destination's push. The
seconds each connector instance slept (its rate limiter's pacing, a retry's back-off, a
poll's pause) are summed in the stage that slept them: what is left of a stage's wall time
past its CPU and sleeps is time spent waiting on something else (the machine's other work,
a reply)."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from syncd.sync.compute import SegmentResult
from syncd.sync.progress import Observer


@dataclass
class Stage:
    wall: float = 0.0
    cpu: float = 0.0  # CPU seconds of the process: syncd's, and in-process emulators' too
    slept: float = 0.0  # seconds the connectors slept in it
    sleeps: int = 0


class Stages(Observer):
    """Times the stages of the cycles it observes, adding up over the cycles until cleared."""

    def __init__(self) -> None:
        self.stages: dict[str, Stage] = {}
        self._current: str | None = None
        self._instance: str | None = None
        self._mark = (0.0, 0.0)
        self._page = (0.0, 0.0)

    def clear(self) -> None:
        self.stages = {}
        self._current = self._instance = None

    def _now(self) -> tuple[float, float]:
        return time.perf_counter(), time.process_time()

    def _add(self, name: str, since: tuple[float, float]) -> tuple[float, float]:
        now = self._now()
        stage = self.stages.setdefault(name, Stage())
        stage.wall += now[0] - since[0]
        stage.cpu += now[1] - since[1]
        return now

    def _begin(self, name: str | None) -> None:
        now = self._now()
        if self._current is not None:
            self._add(self._current, self._mark)
        self._current, self._mark = name, now

    def pulling(self, instance: str) -> None:
        self._begin(f"pull {instance}")
        self._instance, self._page = instance, self._mark

    def page_pulled(self, instance: str, stream: str, counts: Counter[str]) -> None:
        self._page = self._add(f"pull {instance}/{stream}", self._page)

    def pulled(self, instance: str, counts: Counter[str]) -> None:
        self._begin("between steps")
        self._instance = None

    def computing(self, segments: int) -> None:
        self._begin("compute")

    def computed(self, results: Sequence[SegmentResult]) -> None:
        self._begin("plan (and write the outbox)")

    def pushing(self, destination: str, planned: int) -> None:
        self._begin(f"push {destination}")

    def pushed(self, destination: str, counts: Counter[str]) -> None:
        self._begin("between steps")

    def end(self) -> None:
        self._begin(None)

    def sleeper(self, instance: str, inner: Callable[[float], None]) -> Callable[[float], None]:
        """How ``instance`` sleeps (``build_runtime(sleep=...)``): its sleeps are counted in
        the stage of the moment."""

        def sleep(seconds: float) -> None:
            inner(seconds)
            stage = self.stages.setdefault(self._current or "between steps", Stage())
            stage.slept += seconds
            stage.sleeps += 1

        return sleep

    def report(self) -> list[str]:
        """One line a stage, in the order they began."""
        out = []
        for name, s in self.stages.items():
            if s.wall < 0.005 and not s.sleeps:
                continue
            rest = max(s.wall - s.cpu - s.slept, 0.0)
            out.append(
                f"{name:<44} {s.wall:8.2f} s wall {s.cpu:7.2f} s CPU "
                f"{s.slept:7.2f} s slept ({s.sleeps} sleeps) {rest:7.2f} s other"
            )
        return out
